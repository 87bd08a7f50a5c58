// SPDX-License-Identifier: MIT
/* notun env -c FILE: the proxy environment of `notun run` (core/cli/runenv.h),
 * as shell `export` lines, for a `notun up -c FILE` running elsewhere:
 *
 *   eval "$(notun env -c client.conf)"
 *
 * The proxy is the file's first Listen address (0.0.0.0 and :: become the
 * loopback address), with the file's Username and Password. NO_PROXY and
 * JAVA_TOOL_OPTIONS build on the values of the shell that runs this.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli/cli.h"
#include "core/cli/client.h"
#include "core/cli/runenv.h"

static int print_exports(const struct nt_config *cfg)
{
	char host[INET6_ADDRSTRLEN];
	struct nt_runenv env;
	struct nt_runenv_in in = {
	    .host = host,
	    .port = cfg->listen[0].port,
	    .username = cfg->username[0] ? cfg->username : NULL,
	    .password = cfg->username[0] ? cfg->password : NULL,
	    .no_proxy = getenv("NO_PROXY"),
	    .no_proxy_lower = getenv("no_proxy"),
	    .java_tool_options = getenv("JAVA_TOOL_OPTIONS"),
	};
	char *text = NULL;
	int ret, code = NT_EXIT_FAIL;

	nt_runenv_dial_host(&cfg->listen[0], host, sizeof(host));
	ret = nt_runenv_build(&in, &env);
	if (ret == 0)
		ret = nt_runenv_exports(&env, &text);
	if (ret != 0) {
		fprintf(stderr, "notun env: %s\n", strerror(-ret));
		goto out;
	}
	if (env.no_proxy_dropped)
		fprintf(stderr,
			"notun env: warning: NO_PROXY holds more than %d entries; %zu left "
			"out\n",
			NT_RUNENV_NO_PROXY_MAX, env.no_proxy_dropped);
	if (fputs(text, stdout) < 0 || fflush(stdout) != 0) {
		perror("notun env: stdout");
		goto out;
	}
	code = NT_EXIT_OK;
out:
	nt_runenv_text_free(text);
	nt_runenv_free(&env);
	return code;
}

int nt_cmd_env(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	struct nt_client_options opts = {0};
	struct nt_config cfg;
	int opt, code;

	nt_cli_getopt_start();
	while ((opt = getopt_long(argc, argv, ":c:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			opts.config_path = optarg;
			break;
		default:
			return nt_cli_option_error("env", opt, argv);
		}
	}
	if (optind < argc)
		return nt_cli_unexpected_arg("env", argv[optind]);
	if (!opts.config_path)
		return nt_cli_usage_error("env", "needs -c FILE (the configuration of notun up)");
	code = nt_client_load_config(&opts, &cfg);
	if (code != NT_EXIT_OK)
		return code;
	if (cfg.listen[0].port == 0)
		code = nt_cli_usage_error("env",
					  "%s: the first Listen has port 0, which notun up "
					  "replaces with a free port of its choice: give a "
					  "fixed port",
					  opts.config_path);
	else
		code = print_exports(&cfg);
	nt_config_free(&cfg);
	return code;
}
