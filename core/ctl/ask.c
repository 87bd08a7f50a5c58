// SPDX-License-Identifier: MIT
/* The control socket's client side (ask.h). */
#include "core/ctl/ask.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/ctl/ctl.h"
#include "core/ctl/render.h"
#include "core/phx/json_r.h"

int nt_ctl_ask(const char *path, const char *request, char *buf, size_t cap, size_t *len)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = NT_CTL_TIMEOUT_MS / 1000};
	size_t rlen = strlen(request);
	ssize_t n = 0;
	int fd, ret = 0;

	*len = 0;
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
	while (*len < cap - 1 && (n = recv(fd, buf + *len, cap - 1 - *len, 0)) > 0)
		*len += (size_t)n;
	if (n < 0 && *len == 0)
		ret = -errno;
	buf[*len] = '\0';
out:
	close(fd);
	return ret;
}

int nt_ctl_running_parse(const char *json, size_t len, struct nt_ctl_running *out)
{
	struct nt_json j;
	char text[64];
	int t, ret;

	memset(out, 0, sizeof(*out));
	ret = nt_json_parse_alloc(&j, json, len);
	if (ret != 0)
		return -EINVAL;
	ret = -EINVAL;
	if (nt_json_get_i64(&j, 0, "pid", &out->pid) != 0)
		goto out;
	t = nt_json_get(&j, 0, "command");
	if (t >= 0 && !nt_json_is_null(&j, t) &&
	    nt_json_str(&j, t, out->command, sizeof(out->command)) < 0)
		goto out;
	t = nt_json_get(&j, 0, "listen");
	if (t < 0 || !nt_json_is(&j, t, JSMN_ARRAY))
		goto out;
	out->n_listen = (size_t)j.tok[t].size;
	if (out->n_listen) {
		t = nt_json_arr_first(&j, t);
		if (nt_json_str(&j, t, text, sizeof(text)) < 0 ||
		    nt_config_parse_listen(text, &out->listen) != 0)
			goto out;
	}
	ret = 0;
out:
	nt_json_free(&j);
	return ret;
}

int nt_ctl_find_up(const char *config_path, const char *control, struct nt_ctl_running *out,
		   char *path, size_t cap)
{
	char *buf;
	size_t len;
	int ret;

	ret = nt_ctl_socket_path(config_path, control, path, cap);
	if (ret != 0)
		return ret;
	buf = malloc(NT_CTL_OUT_MAX + 64);
	if (!buf)
		return -ENOMEM;
	ret = nt_ctl_ask(path, "status json\n", buf, NT_CTL_OUT_MAX + 64, &len);
	if (ret == -ECONNREFUSED)
		ret = -ENOENT;
	if (ret == 0 && (len < 3 || memcmp(buf, "ok\n", 3) != 0))
		ret = -EPROTO;
	if (ret == 0)
		ret = nt_ctl_running_parse(buf + 3, len - 3, out);
	if (ret == 0 && (strcmp(out->command, "up") != 0 || out->n_listen == 0))
		ret = -EPERM;
	free(buf);
	return ret;
}
