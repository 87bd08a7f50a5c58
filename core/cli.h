/* The notun command line: main.c dispatches, one file per subcommand. */
#ifndef NT_CORE_CLI_H
#define NT_CORE_CLI_H

#include <stdio.h>

/* Exit codes shared by every subcommand. */
#define NT_EXIT_OK 0
#define NT_EXIT_FAIL 1  /* the work itself failed */
#define NT_EXIT_USAGE 2 /* bad arguments, bad input or bad configuration */

struct nt_cmd {
	const char *name;
	const char *args;
	const char *summary;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand */
};

int nt_cmd_genkey(int argc, char **argv);
int nt_cmd_genpsk(int argc, char **argv);
int nt_cmd_pubkey(int argc, char **argv);
int nt_cmd_up(int argc, char **argv);
int nt_cmd_run(int argc, char **argv);
int nt_cmd_env(int argc, char **argv);
int nt_cmd_connect(int argc, char **argv);
int nt_cmd_gateway(int argc, char **argv);

/* One-line error on stderr, prefixed "notun CMD: ". Returns NT_EXIT_USAGE. */
int nt_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Linked library versions, one "name version" per line. */
void nt_version_print(FILE *out);

#endif
