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
#include "core/ctl/ctl.h"
#include "core/ctl/render.h"

#define CMD	   "status"
#define ANSWER_MAX (NT_CTL_OUT_MAX + 64)

static int ask(const char *path, const char *request, char *buf, size_t cap, size_t *len)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = NT_CTL_TIMEOUT_MS / 1000};
	size_t rlen = strlen(request);
	ssize_t n;
	int fd, ret = 0;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		ret = -errno;
		goto out;
	}
	/* A refused peer may find the socket closed before it sends. */
	(void)send(fd, request, rlen, MSG_NOSIGNAL);
	*len = 0;
	while (*len < cap - 1 && (n = recv(fd, buf + *len, cap - 1 - *len, 0)) > 0)
		*len += (size_t)n;
	if (n < 0 && *len == 0)
		ret = -errno;
	buf[*len] = '\0';
out:
	close(fd);
	return ret;
}

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
	if (control)
		snprintf(path, sizeof(path), "%s", control);
	else if (nt_ctl_default_path(config, path, sizeof(path)) != 0)
		return nt_cli_usage_error(CMD, "the control socket's path is too long: use "
					       "--control PATH");
	buf = malloc(ANSWER_MAX);
	if (!buf) {
		fprintf(stderr, "notun status: out of memory\n");
		return NT_EXIT_FAIL;
	}
	ret = ask(path, json ? "status json\n" : "status text\n", buf, ANSWER_MAX, &len);
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
