// SPDX-License-Identifier: MIT
/* notun env -c FILE [--control PATH]: the proxy environment of `notun run`
 * (core/cli/runenv.h), as shell `export` lines, for a `notun up -c FILE`
 * running elsewhere:
 *
 *   eval "$(notun env -c client.conf)"
 *
 * The proxy is the first listener of that notun up as its control socket
 * tells it (core/cli/running.h), else the file's first Listen address
 * (0.0.0.0 and :: become the loopback address); the credentials are the
 * file's Username and Password. A first comment line says which: whether
 * a client of FILE runs now. NO_PROXY and JAVA_TOOL_OPTIONS build on the
 * values of the shell that runs this.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli/cli.h"
#include "core/cli/client.h"
#include "core/cli/runenv.h"
#include "core/cli/running.h"

static int print_exports(const struct nt_config *cfg, const struct nt_config_listen *l,
			 const char *note)
{
	char host[INET6_ADDRSTRLEN];
	struct nt_runenv env;
	struct nt_runenv_in in = {
	    .host = host,
	    .port = l->port,
	    .username = cfg->username[0] ? cfg->username : NULL,
	    .password = cfg->username[0] ? cfg->password : NULL,
	    .no_proxy = getenv("NO_PROXY"),
	    .no_proxy_lower = getenv("no_proxy"),
	    .java_tool_options = getenv("JAVA_TOOL_OPTIONS"),
	};
	char *text = NULL;
	int ret, code = NT_EXIT_FAIL;

	nt_runenv_dial_host(l, host, sizeof(host));
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
	if (fputs(note, stdout) < 0 || fputs(text, stdout) < 0 || fflush(stdout) != 0) {
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
	    {"control", required_argument, NULL, 'C'},
	    {NULL, 0, NULL, 0},
	};
	struct nt_client_options opts = {0};
	const char *control = NULL;
	struct nt_running up;
	struct nt_config cfg;
	char note[512];
	int opt, code;

	nt_cli_getopt_start();
	while ((opt = getopt_long(argc, argv, ":c:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			opts.config_path = optarg;
			break;
		case 'C':
			control = optarg;
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
	if (nt_running_find("env", opts.config_path, control, &up)) {
		/* No file name here: a line break in it would end the comment
		 * in the shell that evaluates this. */
		snprintf(note, sizeof(note),
			 "# a notun up of this file runs (pid %lld): its proxy %s:%u\n",
			 (long long)up.up.pid, up.host, up.up.listen.port);
		code = print_exports(&cfg, &up.up.listen, note);
	} else if (cfg.listen[0].port == 0) {
		code = nt_cli_usage_error("env",
					  "%s: the first Listen has port 0, which notun up "
					  "replaces with a free port of its choice: give a "
					  "fixed port",
					  opts.config_path);
	} else {
		snprintf(note, sizeof(note),
			 "# no notun up of this file runs now: start one (notun up -c FILE)\n");
		code = print_exports(&cfg, &cfg.listen[0], note);
	}
	nt_config_free(&cfg);
	return code;
}
