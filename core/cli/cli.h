/* SPDX-License-Identifier: MIT */
/* The notun command line: main.c dispatches, one file per subcommand. */
#ifndef NT_CORE_CLI_H
#define NT_CORE_CLI_H

#include <stdio.h>

/* Exit codes shared by every subcommand. */
#define NT_EXIT_OK    0
#define NT_EXIT_FAIL  1 /* the work itself failed */
#define NT_EXIT_USAGE 2 /* bad arguments, bad input or bad configuration */

struct nt_cmd {
	const char *name;
	const char *args;
	const char *summary;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand */
};

/* `notun CMD --help`: usage, description, every option with its default. */
int nt_cli_help(const struct nt_cmd *cmd, FILE *out);

int nt_cmd_genkey(int argc, char **argv);
int nt_cmd_genpsk(int argc, char **argv);
int nt_cmd_pubkey(int argc, char **argv);
int nt_cmd_up(int argc, char **argv);
int nt_cmd_run(int argc, char **argv);
int nt_cmd_env(int argc, char **argv);
int nt_cmd_connect(int argc, char **argv);
int nt_cmd_gateway(int argc, char **argv);
int nt_cmd_portal(int argc, char **argv);
int nt_cmd_status(int argc, char **argv);

/* One-line error on stderr, prefixed "notun CMD: ". Returns NT_EXIT_USAGE. */
int nt_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Option parsing, the same for every subcommand (cli.c). The optstring
 * starts with ':' so that a missing value is told from an unknown option. */
struct nt_config_listen;
/* Before a subcommand's getopt_long loop: from argv[1], getopt silent. */
void nt_cli_getopt_start(void);
/* The usage error for what getopt_long returned instead of a known option:
 * ':' a missing value, anything else an unknown option. Returns NT_EXIT_USAGE. */
int nt_cli_option_error(const char *cmd, int opt, char **argv);
/* The usage error for an operand where none is taken. Returns NT_EXIT_USAGE. */
int nt_cli_unexpected_arg(const char *cmd, const char *arg);
/* --listen ADDR:PORT into out: NT_EXIT_OK, or the usage error. */
int nt_cli_listen_arg(const char *cmd, const char *arg, struct nt_config_listen *out);

/* Linked library versions, one "name version" per line. */
void nt_version_print(FILE *out);

/* The exit code for a portal channel's fatal end (enum nt_chan_fatal), with
 * its one line on stderr: NT_EXIT_USAGE for a token a person must fix,
 * NT_EXIT_FAIL when reconnecting gave up. role: "gateway", "client". */
struct nt_config;
int nt_cli_portal_fatal(const struct nt_config *cfg, const char *role, int fatal);

#endif
