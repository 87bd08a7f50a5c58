// SPDX-License-Identifier: MIT
/* notun status [--json] [--control PATH | -c FILE]: asks a running role's
 * control socket (core/ctl/ctl.h) and prints its answer. Exit 0, 1 (no
 * such socket, refused, no answer in time), 2 (usage). */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/cli/cli.h"
#include "core/ctl/ask.h"
#include "core/ctl/ctl.h"
#include "core/ctl/render.h"

#define CMD	   "status"
#define ANSWER_MAX (NT_CTL_OUT_MAX + 64)

int nt_cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"control", required_argument, NULL, 'C'},
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *control = NULL;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool json = false;
	char *buf;
	size_t len = 0;
	int opt, ret, code = NT_EXIT_FAIL;

	nt_cli_getopt_start();
	while ((opt = getopt_long(argc, argv, ":c:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'C':
			control = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return nt_cli_option_error(CMD, opt, argv);
		}
	}
	if (optind < argc)
		return nt_cli_unexpected_arg(CMD, argv[optind]);
	if (!config == !control)
		return nt_cli_usage_error(CMD, "needs -c FILE or --control PATH (one of them)");
	ret = nt_ctl_socket_path(config, control, path, sizeof(path));
	if (ret == -ENOENT)
		return nt_cli_usage_error(CMD, "--control none: no socket to ask");
	if (ret != 0)
		return nt_cli_usage_error(CMD, "the control socket's path is too long: use "
					       "--control PATH");
	buf = malloc(ANSWER_MAX);
	if (!buf) {
		fprintf(stderr, "notun status: out of memory\n");
		return NT_EXIT_FAIL;
	}
	ret = nt_ctl_ask(path, json ? "status json\n" : "status text\n", buf, ANSWER_MAX, &len);
	if (ret != 0)
		fprintf(stderr, "notun status: %s: %s\n", path, strerror(-ret));
	else if (strncmp(buf, "ok\n", 3) == 0) {
		fwrite(buf + 3, 1, len - 3, stdout);
		if (json)
			putchar('\n');
		code = fflush(stdout) == 0 ? NT_EXIT_OK : NT_EXIT_FAIL;
	} else if (strncmp(buf, "error ", 6) == 0)
		fprintf(stderr, "notun status: %s: %s", path, buf + 6);
	else
		fprintf(stderr,
			"notun status: %s: no answer (refused or not a notun control "
			"socket)\n",
			path);
	free(buf);
	return code;
}
