// SPDX-License-Identifier: MIT
/* The control socket and the metrics endpoint (ctl.h).
 *
 * Control protocol: one request line, "status json" or "status text"; the
 * answer is "ok\n" and the rendering, or "error REASON\n"; then the server
 * closes. A peer whose SO_PEERCRED uid is not the server's effective uid
 * (root included) gets "error refused ..." and is closed: the socket's
 * mode is the first fence, the credential check the second (a socket file
 * a user chmods, a descriptor passed on). */
#include "core/ctl/ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/config/config.h"
#include "core/ctl/http_req.h"
#include "core/ctl/render.h"
#include "core/ctl/srv.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/sockaddr.h"

#define MOD "ctl"

struct nt_ctl {
	struct nt_loop *loop;
	struct nt_ctl_source src;
	char name[NT_CTL_ID_MAX + 1];
	struct nt_ctl_srv *control;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct nt_ctl_srv *metrics;
	struct nt_ctl_snap *snap;
};

/* ---- answers ---- */

static int render(struct nt_ctl *c, nt_ctl_render_fn fn, const char *prefix, char **out,
		  size_t *len)
{
	size_t plen = strlen(prefix), n;
	char *body, *all;
	int ret;

	nt_ctl_snap_collect(c->snap, &c->src);
	ret = nt_ctl_render_alloc(fn, c->snap, &body, &n);
	if (ret)
		return ret;
	all = malloc(plen + n);
	if (!all) {
		free(body);
		return -ENOMEM;
	}
	memcpy(all, prefix, plen);
	memcpy(all + plen, body, n);
	free(body);
	*out = all;
	*len = plen + n;
	return 0;
}

static int answer_text(const char *text, char **out, size_t *len)
{
	*out = strdup(text);
	if (!*out)
		return -ENOMEM;
	*len = strlen(text);
	return 1;
}

static int control_request(void *arg, const char *buf, size_t len, bool full, char **out,
			   size_t *out_len)
{
	struct nt_ctl *c = arg;
	nt_ctl_render_fn fn;

	(void)len;
	if (!strchr(buf, '\n'))
		return full ? answer_text("error request too long\n", out, out_len) : 0;
	if (strcmp(buf, "status json\n") == 0)
		fn = nt_ctl_render_json;
	else if (strcmp(buf, "status text\n") == 0)
		fn = nt_ctl_render_text;
	else
		return answer_text("error unknown request\n", out, out_len);
	if (render(c, fn, "ok\n", out, out_len) != 0)
		return answer_text("error out of memory\n", out, out_len);
	return 1;
}

static bool control_admit(void *arg, int fd)
{
	static const char refused[] = "error refused: not the server's user\n";
	struct ucred cred;
	socklen_t clen = sizeof(cred);

	(void)arg;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
		nt_warn(MOD, "event=control_refused reason=\"no peer credentials\" err=\"%s\"",
			strerror(errno));
		return false;
	}
	if (cred.uid == geteuid())
		return true;
	nt_warn(MOD, "event=control_refused uid=%u pid=%d reason=\"not the server's user\"",
		(unsigned)cred.uid, (int)cred.pid);
	(void)send(fd, refused, sizeof(refused) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	return false;
}

static const char *reason_of(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Internal Server Error";
	}
}

static int http_answer(int status, const char *type, const char *body, size_t blen, bool head,
		       char **out, size_t *len)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
			 status, reason_of(status), type, blen);
	size_t total = (size_t)n + (head ? 0 : blen);

	*out = malloc(total);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, hdr, (size_t)n);
	if (!head)
		memcpy(*out + n, body, blen);
	*len = total;
	return 1;
}

#define PLAIN "text/plain; charset=utf-8"

static int metrics_request(void *arg, const char *buf, size_t len, bool full, char **out,
			   size_t *out_len)
{
	struct nt_ctl *c = arg;
	struct nt_ctl_http_req req;
	int status = nt_ctl_http_parse(buf, len, full, &req), ret;
	char *body;
	size_t blen;

	if (status == 0)
		return 0;
	if (status != 200) {
		const char *line = reason_of(status);

		return http_answer(status, PLAIN, line, strlen(line), false, out, out_len);
	}
	if (strcmp(req.path, "/healthz") == 0)
		return http_answer(200, PLAIN, "ok\n", 3, req.head, out, out_len);
	if (strcmp(req.path, "/readyz") == 0) {
		nt_ctl_snap_collect(c->snap, &c->src);
		if (c->snap->ready)
			return http_answer(200, PLAIN, "ready\n", 6, req.head, out, out_len);
		return http_answer(503, PLAIN, "not ready\n", 10, req.head, out, out_len);
	}
	if (strcmp(req.path, "/metrics") != 0)
		return http_answer(404, PLAIN, "not found\n", 10, req.head, out, out_len);
	nt_ctl_snap_collect(c->snap, &c->src);
	if (nt_ctl_render_alloc(nt_ctl_render_prom, c->snap, &body, &blen) != 0)
		return http_answer(500, PLAIN, "error\n", 6, false, out, out_len);
	ret = http_answer(200, "text/plain; version=0.0.4; charset=utf-8", body, blen, req.head,
			  out, out_len);
	free(body);
	return ret;
}

/* ---- the control socket ---- */

/* A socket file at path: 0 when it is gone or was stale (removed), -EADDRINUSE
 * when a live server answers there, -ENOTSOCK when it is something else. */
static int clear_stale(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ? -EADDRINUSE
	      : errno == ECONNREFUSED					   ? 0
									   : -errno;
	close(fd);
	if (ret == 0 && unlink(path) != 0 && errno != ENOENT)
		return -errno;
	return ret;
}

static int control_listen(struct nt_ctl *c, const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char dir[sizeof(sun.sun_path)];
	char *slash;
	int fd, ret;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* $XDG_RUNTIME_DIR/notun: ours alone. */
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -errno;
	}
	ret = clear_stale(path, &sun);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Mode 0600 before listen(): nobody can connect in between. */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (chmod(path, 0600) != 0 || listen(fd, NT_CTL_MAX_CONNS) != 0) {
		ret = -errno;
		unlink(path);
		close(fd);
		return ret;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	return fd;
}

static void control_start(struct nt_ctl *c, const struct nt_ctl_config *cfg)
{
	static const struct nt_ctl_srv_ops ops = {.admit = control_admit,
						  .request = control_request};
	const struct nt_ctl_srv_config sc = {.mod = MOD,
					     .max_conns = NT_CTL_MAX_CONNS,
					     .req_max = NT_CTL_REQ_MAX,
					     .timeout_ms = NT_CTL_TIMEOUT_MS};
	char path[sizeof(c->path)];
	int fd;

	if (cfg->control && strcmp(cfg->control, NT_CTL_NONE) == 0)
		return;
	if (cfg->control)
		snprintf(path, sizeof(path), "%s", cfg->control);
	else if (nt_ctl_default_path(cfg->config_path, path, sizeof(path)) != 0) {
		nt_warn(MOD, "event=control_unavailable reason=\"path too long\" hint=\"use "
			     "--control PATH\"");
		return;
	}
	fd = control_listen(c, path);
	if (fd < 0) {
		nt_warn(MOD, "event=control_unavailable path=%s err=\"%s\"%s", path, strerror(-fd),
			fd == -EADDRINUSE ? " hint=\"another notun serves it; use --control PATH\""
					  : "");
		return;
	}
	if (nt_ctl_srv_new(c->loop, fd, &sc, &ops, c, &c->control) != 0) {
		unlink(c->path);
		c->path[0] = '\0';
		return;
	}
	nt_info(MOD, "event=control_listening path=%s", c->path);
}

/* ---- the metrics endpoint ---- */

static int metrics_start(struct nt_ctl *c, const struct nt_config *cfg)
{
	static const struct nt_ctl_srv_ops ops = {.request = metrics_request};
	const struct nt_ctl_srv_config sc = {.mod = MOD,
					     .max_conns = NT_CTL_METRICS_CONNS,
					     .req_max = NT_CTL_HTTP_HEAD_MAX,
					     .timeout_ms = NT_CTL_TIMEOUT_MS};
	const struct nt_config_listen *l = &cfg->metrics_listen;
	struct sockaddr_storage ss;
	socklen_t slen = nt_sockaddr_set(&ss, l->ip.family, l->ip.addr, l->port);
	char addr[INET6_ADDRSTRLEN];
	int fd, one = 1, ret;

	inet_ntop(l->ip.family, l->ip.addr, addr, sizeof(addr));
	fd = socket(l->ip.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, slen) != 0 || listen(fd, 64) != 0) {
		ret = -errno;
		close(fd);
		nt_error(MOD, "event=metrics_listen_failed addr=%s port=%u err=\"%s\"", addr,
			 l->port, strerror(-ret));
		return ret;
	}
	ret = nt_ctl_srv_new(c->loop, fd, &sc, &ops, c, &c->metrics);
	if (ret == 0)
		nt_info(MOD, "event=metrics_listening addr=%s port=%u", addr, l->port);
	return ret;
}

int nt_ctl_start(struct nt_loop *loop, const struct nt_ctl_config *cfg, struct nt_ctl **out)
{
	struct nt_ctl *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->src = cfg->src;
	nt_ctl_config_name(cfg->config_path, c->name, sizeof(c->name));
	c->src.name = c->name;
	c->src.started_at = (int64_t)(nt_clock_real_ns() / NT_NS_PER_SEC);
	c->snap = nt_ctl_snap_new();
	if (!c->snap) {
		free(c);
		return -ENOMEM;
	}
	if (cfg->cfg->metrics_line) {
		ret = metrics_start(c, cfg->cfg);
		if (ret) {
			nt_ctl_stop(c);
			return ret;
		}
	}
	control_start(c, cfg);
	*out = c;
	return 0;
}

void nt_ctl_stop(struct nt_ctl *c)
{
	if (!c)
		return;
	nt_ctl_srv_free(c->control);
	if (c->path[0])
		unlink(c->path);
	nt_ctl_srv_free(c->metrics);
	nt_ctl_snap_free(c->snap);
	free(c);
}

void nt_ctl_log_counters(struct nt_ctl *c)
{
	nt_ctl_snap_collect(c->snap, &c->src);
	nt_ctl_log_snap(c->snap, c->src.role == NT_CTL_CLIENT ? "client" : "gateway");
}
