// SPDX-License-Identifier: MIT
/* notun up -c FILE [--listen ADDR:PORT]... [--control PATH|none]: the client
 * in the foreground. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "core/cli/cli.h"
#include "core/cli/client.h"
#include "core/cli/running.h"
#include "platform/log.h"

int nt_cmd_up(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"listen", required_argument, NULL, 'l'},
	    {"control", required_argument, NULL, 'C'},
	    {NULL, 0, NULL, 0},
	};
	struct nt_config_listen listen[NT_CONFIG_MAX_LISTEN];
	struct nt_client_options opts = {.listen = listen, .command = "up"};
	struct nt_running running;
	int opt;

	nt_cli_getopt_start();
	while ((opt = getopt_long(argc, argv, ":c:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			opts.config_path = optarg;
			break;
		case 'l':
			if (opts.listen_count == NT_CONFIG_MAX_LISTEN)
				return nt_cli_usage_error("up", "at most %d --listen",
							  NT_CONFIG_MAX_LISTEN);
			if (nt_cli_listen_arg("up", optarg, &listen[opts.listen_count]))
				return NT_EXIT_USAGE;
			opts.listen_count++;
			break;
		case 'C':
			opts.control = optarg;
			break;
		default:
			return nt_cli_option_error("up", opt, argv);
		}
	}
	if (optind < argc)
		return nt_cli_unexpected_arg("up", argv[optind]);
	if (!opts.config_path)
		return nt_cli_usage_error("up", "needs -c FILE (a wg-quick configuration)");
	/* It starts anyway (a person may mean it), but the two will take the
	 * session from each other: say why before it hurts. */
	if (nt_running_find("up", opts.config_path, opts.control, &running))
		nt_warn("up",
			"event=client_already_running pid=%lld proxy=%s:%u control=%s "
			"hint=\"two clients with one key take the session from each other; "
			"notun run, connect and env use the running one\"",
			(long long)running.up.pid, running.host, running.up.listen.port,
			running.path);
	return nt_client_run(&opts);
}
