// SPDX-License-Identifier: MIT
/* notun: one binary, one table of subcommands (as wg(8) does). Global
 * options come before the subcommand: notun [--log-level L] CMD [ARGS]. */
#include <stdio.h>
#include <string.h>

#include "core/cli/cli.h"
#include "platform/log.h"
#include "platform/random.h"
#include "platform/secret.h"

static const struct nt_cmd commands[] = {
    {"up", "-c FILE [--listen ADDR:PORT] [--control PATH|none]", "run the client: SOCKS5 and HTTP proxy into the WireGuard tunnel",
     nt_cmd_up},
    {"run", "-c FILE [OPTIONS] -- CMD ARGS",
     "run CMD with proxy variables set, through a client of its own", nt_cmd_run},
    {"env", "-c FILE", "print export lines that point a shell at notun up -c FILE", nt_cmd_env},
    {"connect", "[-c FILE] HOST PORT", "join stdin/stdout to one TCP connection (ProxyCommand)",
     nt_cmd_connect},
    {"gateway", "-c FILE [--max-flows N ...]",
     "run the gateway: clients' flows out to the destinations its Allow rules permit",
     nt_cmd_gateway},
    {"portal", "token client|gateway | -c FILE",
     "the control plane: print a new token and its TokenHash line, or run the portal",
     nt_cmd_portal},
    {"status", "[--json] -c FILE | --control PATH",
     "show a running up, run or gateway: peers, resources, flows, counters", nt_cmd_status},
    {"genkey", "", "print a new private key (base64), as wg genkey", nt_cmd_genkey},
    {"pubkey", "< PRIVATE", "print the public key of the private key on stdin", nt_cmd_pubkey},
    {"genpsk", "", "print a new pre-shared key, as wg genpsk", nt_cmd_genpsk},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: notun [--log-level LEVEL] COMMAND [ARGS]\n\n"
		     "A userspace WireGuard access client: no TUN device, no root.\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nOptions:\n"
		     "  --log-level LEVEL  trace, debug, info, warn, error, off (default info;\n"
		     "                     warn for run and connect, whose stderr is the user's)\n"
		     "  -V, --version      print notun's version and its libraries'\n"
		     "  -h, --help         this help\n\n"
		     "notun COMMAND --help lists the command's options with their defaults.\n"
		     "Files: notun.conf(5). Sample configurations: share/doc/notun/examples.\n");
}

static const struct nt_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	bool level_given = false;
	int i = 1, ret;

	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *opt = argv[i];

		if (!strcmp(opt, "-h") || !strcmp(opt, "--help")) {
			usage(stdout);
			return NT_EXIT_OK;
		} else if (!strcmp(opt, "-V") || !strcmp(opt, "--version")) {
			nt_version_print(stdout);
			return NT_EXIT_OK;
		} else if (!strcmp(opt, "--log-level")) {
			enum nt_log_level level;

			if (i + 1 >= argc || nt_log_parse_level(argv[i + 1], &level) != 0) {
				fprintf(stderr, "notun: --log-level takes trace, debug, info, "
						"warn, error or off\n");
				return NT_EXIT_USAGE;
			}
			nt_log_set_level(level);
			level_given = true;
			i++;
		} else {
			fprintf(stderr, "notun: unknown option '%s' (see notun --help)\n", opt);
			return NT_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return NT_EXIT_USAGE;
	}

	const struct nt_cmd *cmd = find_command(argv[i]);
	if (!cmd) {
		fprintf(stderr, "notun: unknown command '%s' (see notun --help)\n", argv[i]);
		return NT_EXIT_USAGE;
	}
	if (i + 1 < argc && (!strcmp(argv[i + 1], "-h") || !strcmp(argv[i + 1], "--help"))) {
		return nt_cli_help(cmd, stdout);
	}
	/* notun run shares its stderr with CMD: only what needs attention. */
	if (cmd->run == nt_cmd_run && !level_given)
		nt_log_set_level(NT_LOG_WARN);
	if (nt_platform_init() != 0) {
		fprintf(stderr, "notun: cannot initialise libsodium\n");
		return NT_EXIT_FAIL;
	}
	/* Every command holds a key or credentials at some point. */
	ret = nt_secret_protect_process();
	if (ret != 0) {
		fprintf(stderr, "notun: cannot make the process non-dumpable: %s\n",
			strerror(-ret));
		return NT_EXIT_FAIL;
	}
	return cmd->run(argc - i, argv + i);
}
