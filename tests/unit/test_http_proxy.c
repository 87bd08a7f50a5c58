// SPDX-License-Identifier: MIT
/* The HTTP proxy over real loopback sockets: the listener, the HTTP state
 * machine and the splice, in one loop, against a FAKE engine defined here
 * (static linking lets it stand in for core/engine/engine.c).
 *
 * The fake engine answers an open (never from inside nt_engine_open_tcp)
 * with a socket connected to an ORIGIN: a small HTTP/1.1 server on its own
 * thread, with blocking sockets and one thread per connection, that records
 * the request heads it receives. Or it answers with a chosen nt_fail, or
 * not at all (to let the client leave first).
 *
 * Test clients are blocking sockets; every wait for the proxy runs the loop
 * with a deadline (WAIT_MS), so a broken proxy fails, never hangs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/engine/engine.h"
#include "netstack/splice.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "proxy/http_conn.h"
#include "proxy/proxy.h"

#define WAIT_MS	     3000
#define MAX_ORIGIN   48 /* connections the origin serves in a test: > NT_HTTP_UP_POOL */
#define HEAD_MAX     16384
#define ORIGIN_BODY  (8u << 20)
#define CLIENT_BUF   (8u << 20)
#define SLOW_SEND_MS 2
#define DRIP_MS	     50

/* ---- the origin: a blocking HTTP/1.1 server on its own threads ---- */

struct origin_conn {
	struct origin *o;
	int fd;
	pthread_t thr;
	bool ended; /* served until EOF (or dropped): its thread is done */
};

struct origin {
	int lfd;
	uint16_t port;
	pthread_t thr;
	pthread_mutex_t mu;
	struct origin_conn conns[MAX_ORIGIN];
	int nconns;
	int ended; /* connections whose thread is done */
	int requests;
	char last_head[HEAD_MAX]; /* the last request head, as received */
	bool drop_next;		  /* close without answering the next request */
	bool bye_close;		  /* /bye may close now: the test saw it pooled */
};

/* Bounded: a test that failed before it let go must not hang the origin. */
static void o_wait_bye(struct origin *o)
{
	bool go = false;

	for (int i = 0; i < WAIT_MS && !go; i++) {
		pthread_mutex_lock(&o->mu);
		go = o->bye_close;
		pthread_mutex_unlock(&o->mu);
		if (!go)
			usleep(1000);
	}
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + i / 251);
}

static bool o_read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = recv(fd, buf + got, len - got, 0);
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

static bool o_write(int fd, const void *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = send(fd, (const uint8_t *)buf + off, len - off, MSG_NOSIGNAL);
		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return true;
}

static bool o_printf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool o_printf(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return n > 0 && o_write(fd, buf, (size_t)n);
}

/* Reads one line (CRLF) from a byte-at-a-time source; false at EOF. */
static bool o_line(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	char ch;

	while (recv(fd, &ch, 1, 0) == 1) {
		if (len + 1 < cap)
			buf[len++] = ch;
		if (ch == '\n') {
			buf[len] = '\0';
			return true;
		}
	}
	return false;
}

static const char *o_field(const char *head, const char *name)
{
	const char *p = head;
	size_t n = strlen(name);

	while ((p = strchr(p, '\n')) != NULL) {
		p++;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':')
			return p + n + 1 + strspn(p + n + 1, " ");
	}
	return NULL;
}

/* The body as the request framed it; returns its length and FNV-1a hash. */
static bool o_body(int fd, const char *head, size_t *len, uint32_t *hash)
{
	const char *cl = o_field(head, "Content-Length"), *te = o_field(head, "Transfer-Encoding");
	uint8_t *buf = malloc(65536);
	char line[256];
	size_t left = 0, n;
	bool chunked = te && strncasecmp(te, "chunked", 7) == 0, ok = true;

	*len = 0;
	*hash = 2166136261u;
	if (!buf)
		return false;
	if (cl)
		left = strtoull(cl, NULL, 10);
	for (;;) {
		if (chunked) {
			if (!o_line(fd, line, sizeof(line))) {
				ok = false;
				break;
			}
			left = strtoull(line, NULL, 16);
			if (left == 0) { /* trailers up to the empty line */
				while ((ok = o_line(fd, line, sizeof(line))) &&
				       strcmp(line, "\r\n"))
					;
				break;
			}
		}
		while (left > 0) {
			n = left < 65536 ? left : 65536;
			if (!o_read_full(fd, buf, n)) {
				free(buf);
				return false;
			}
			for (size_t i = 0; i < n; i++)
				*hash = (*hash ^ buf[i]) * 16777619u;
			*len += n;
			left -= n;
		}
		if (!chunked)
			break;
		if (!o_line(fd, line, sizeof(line)) || strcmp(line, "\r\n") != 0) {
			ok = false;
			break;
		}
	}
	free(buf);
	return ok;
}

static void o_big(int fd, size_t n, bool head_only)
{
	uint8_t *buf = malloc(n ? n : 1);

	for (size_t i = 0; buf && i < n; i++)
		buf[i] = pattern(i);
	o_printf(fd, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
	if (buf && !head_only)
		o_write(fd, buf, n);
	free(buf);
}

/* Chunks of growing sizes, an extension and a trailer. */
static void o_chunked(int fd, size_t n)
{
	static const size_t sizes[] = {1, 10, 100, 1000, 4096, 30000};
	size_t sent = 0, k = 0, part;
	uint8_t *buf = malloc(30000);

	o_printf(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n");
	while (buf && sent < n) {
		part = sizes[k++ % 6];
		part = part < n - sent ? part : n - sent;
		for (size_t i = 0; i < part; i++)
			buf[i] = pattern(sent + i);
		o_printf(fd, k == 3 ? "%zx;ext=\"v\"\r\n" : "%zx\r\n", part);
		o_write(fd, buf, part);
		o_write(fd, "\r\n", 2);
		sent += part;
	}
	o_printf(fd, "0\r\nX-Sum: %zu\r\n\r\n", n);
	free(buf);
}

/* One connection: requests in turn until EOF. Returns to close. */
static void o_serve(struct origin *o, int fd)
{
	char head[HEAD_MAX], path[512], method[16];
	size_t hlen, blen;
	uint32_t hash;
	bool drop;

	for (;;) {
		for (hlen = 0;;) {
			if (!o_line(fd, head + hlen, sizeof(head) - hlen))
				return;
			if (strcmp(head + hlen, "\r\n") == 0)
				break;
			hlen += strlen(head + hlen);
		}
		pthread_mutex_lock(&o->mu);
		snprintf(o->last_head, sizeof(o->last_head), "%s", head);
		o->requests++;
		drop = o->drop_next;
		o->drop_next = false;
		pthread_mutex_unlock(&o->mu);
		if (drop || sscanf(head, "%15s %511s", method, path) != 2)
			return;
		if (strcmp(path, "/hello") == 0) {
			o_printf(fd,
				 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Origin: yes\r\n\r\n%s",
				 strcmp(method, "HEAD") ? "hello" : "");
		} else if (strncmp(path, "/big/", 5) == 0) {
			o_big(fd, strtoull(path + 5, NULL, 10), strcmp(method, "HEAD") == 0);
		} else if (strncmp(path, "/chunked/", 9) == 0) {
			o_chunked(fd, strtoull(path + 9, NULL, 10));
		} else if (strncmp(path, "/close/", 7) == 0) {
			size_t n = strtoull(path + 7, NULL, 10);
			uint8_t *buf = malloc(n ? n : 1);

			for (size_t i = 0; buf && i < n; i++)
				buf[i] = pattern(i);
			o_printf(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
			if (buf)
				o_write(fd, buf, n);
			free(buf);
			return;
		} else if (strcmp(path, "/sum") == 0) {
			const char *expect = o_field(head, "Expect");

			if (expect && strncasecmp(expect, "100-continue", 12) == 0)
				o_printf(fd, "HTTP/1.1 100 Continue\r\n\r\n");
			if (!o_body(fd, head, &blen, &hash))
				return;
			o_printf(
			    fd, "HTTP/1.1 200 OK\r\nContent-Length: 26\r\n\r\nlen=%08zx fnv=%08x\n",
			    blen, hash);
		} else if (strcmp(path, "/drop-next") == 0) {
			pthread_mutex_lock(&o->mu);
			o->drop_next = true;
			pthread_mutex_unlock(&o->mu);
			o_printf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
		} else if (strcmp(path, "/garbage") == 0) {
			o_printf(fd, "NOT HTTP AT ALL\r\n\r\n");
			return;
		} else if (strcmp(path, "/silent") == 0) {
			return;
		} else if (strcmp(path, "/bye") == 0) {
			/* A whole answer that allows keep-alive, then a close
			 * once the test saw the proxy park the connection:
			 * ordered by the test, not by a delay a slow machine
			 * may outlast. */
			o_printf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbye");
			o_wait_bye(o);
			return;
		} else if (strcmp(path, "/hang") == 0) {
			/* No answer: waits for another request or the proxy's close. */
		} else if (strcmp(path, "/stall") == 0) {
			o_printf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart");
		} else if (strncmp(path, "/drip/", 6) == 0) {
			/* A byte every DRIP_MS: slow in all, never idle for long. */
			size_t n = strtoull(path + 6, NULL, 10);

			o_printf(fd, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
			for (size_t i = 0; i < n; i++) {
				usleep(DRIP_MS * 1000);
				o_write(fd, "d", 1);
			}
		} else if (strcmp(path, "/bad-chunks") == 0) {
			o_printf(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				     "5\r\nhello\r\nzz\r\n");
		} else {
			o_printf(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
		}
	}
}

static void *o_conn_main(void *arg)
{
	struct origin_conn *oc = arg;

	o_serve(oc->o, oc->fd);
	shutdown(oc->fd, SHUT_RDWR);
	pthread_mutex_lock(&oc->o->mu);
	oc->ended = true;
	oc->o->ended++;
	pthread_mutex_unlock(&oc->o->mu);
	return NULL;
}

static void *o_main(void *arg)
{
	struct origin *o = arg;
	struct origin_conn *oc;
	int fd;

	while ((fd = accept4(o->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		pthread_mutex_lock(&o->mu);
		if (o->nconns == MAX_ORIGIN) {
			pthread_mutex_unlock(&o->mu);
			close(fd);
			continue;
		}
		oc = &o->conns[o->nconns++];
		oc->o = o;
		oc->fd = fd;
		if (pthread_create(&oc->thr, NULL, o_conn_main, oc) != 0) {
			o->nconns--;
			close(fd);
		}
		pthread_mutex_unlock(&o->mu);
	}
	return NULL;
}

static void origin_start(struct origin *o)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);

	memset(o, 0, sizeof(*o));
	pthread_mutex_init(&o->mu, NULL);
	o->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(o->lfd >= 0);
	assert_int_equal(bind(o->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(o->lfd, 64), 0);
	assert_int_equal(getsockname(o->lfd, (struct sockaddr *)&sa, &len), 0);
	o->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&o->thr, NULL, o_main, o), 0);
}

static void origin_stop(struct origin *o)
{
	int i;

	shutdown(o->lfd, SHUT_RDWR);
	pthread_join(o->thr, NULL);
	close(o->lfd);
	for (i = 0; i < o->nconns; i++) {
		shutdown(o->conns[i].fd, SHUT_RDWR);
		pthread_join(o->conns[i].thr, NULL);
		close(o->conns[i].fd);
	}
	pthread_mutex_destroy(&o->mu);
}

static void origin_last_head(struct origin *o, char *out, size_t cap)
{
	pthread_mutex_lock(&o->mu);
	snprintf(out, cap, "%s", o->last_head);
	pthread_mutex_unlock(&o->mu);
}

/* ---- the fake engine ---- */

enum fake_mode { FAKE_ORIGIN, FAKE_FAIL, FAKE_HOLD };

struct nt_engine_req {
	struct nt_engine *e;
	nt_engine_open_cb cb;
	void *arg;
	struct nt_timer timer;
};

struct nt_engine {
	struct nt_loop *loop;
	enum fake_mode mode;
	enum nt_fail fail;
	uint16_t origin_port;
	int opens, answers, cancels;
	struct nt_engine_req *held;
	struct nt_target last_target;
};

static void fake_answer(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct nt_engine_req *req = arg;
	struct nt_engine *e = req->e;
	struct nt_open_result res = {.fail = NT_FAIL_NONE, .fd = -1};
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(e->origin_port)};
	nt_engine_open_cb cb = req->cb;
	void *cb_arg = req->arg;

	(void)loop;
	(void)timer;
	if (e->mode == FAKE_FAIL) {
		res.fail = e->fail;
	} else {
		to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		res.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(res.fd >= 0);
		assert_int_equal(connect(res.fd, (struct sockaddr *)&to, sizeof(to)), 0);
		assert_int_equal(fcntl(res.fd, F_SETFL, O_NONBLOCK), 0);
	}
	free(req);
	e->answers++;
	cb(cb_arg, &res);
}

int nt_engine_open_tcp(struct nt_engine *e, const struct nt_target *target, nt_engine_open_cb cb,
		       void *arg, struct nt_engine_req **out)
{
	struct nt_engine_req *req = calloc(1, sizeof(*req));

	assert_non_null(req);
	e->opens++;
	e->last_target = *target;
	req->e = e;
	req->cb = cb;
	req->arg = arg;
	nt_timer_init(&req->timer, fake_answer, req);
	if (e->mode == FAKE_HOLD)
		e->held = req;
	else
		assert_int_equal(nt_timer_arm(e->loop, &req->timer, 0), 0);
	*out = req;
	return 0;
}

uint64_t nt_engine_req_id(const struct nt_engine_req *req)
{
	(void)req;
	return 0;
}

void nt_engine_cancel(struct nt_engine_req *req)
{
	req->e->cancels++;
	if (req->e->held == req)
		req->e->held = NULL;
	nt_timer_cancel(req->e->loop, &req->timer);
	free(req);
}

int nt_engine_udp_open(struct nt_engine *e, const struct nt_engine_udp_ops *ops, void *arg,
		       struct nt_engine_udp **out)
{
	(void)e;
	(void)ops;
	(void)arg;
	(void)out;
	return -ENOTSUP;
}

int nt_engine_udp_send(struct nt_engine_udp *u, const struct nt_target *to, const uint8_t *buf,
		       size_t len)
{
	(void)u;
	(void)to;
	(void)buf;
	(void)len;
	return -ENOTSUP;
}

void nt_engine_udp_close(struct nt_engine_udp *u)
{
	(void)u;
}

struct nt_loop *nt_engine_loop(const struct nt_engine *e)
{
	return e->loop;
}

/* ---- the world ---- */

struct world {
	struct nt_loop *loop;
	struct nt_engine engine;
	struct origin origin;
	struct nt_proxy *proxy;
	uint16_t port;
};

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	if (!w || nt_loop_new(&w->loop))
		return -1;
	nt_log_set_level(NT_LOG_OFF);
	origin_start(&w->origin);
	w->engine.loop = w->loop;
	w->engine.origin_port = w->origin.port;
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;

	nt_proxy_free(w->proxy);
	nt_splice_close_all();
	for (int i = 0; i < 5; i++)
		nt_loop_run_once(w->loop, 1);
	origin_stop(&w->origin);
	nt_loop_free(w->loop);
	free(w);
	return 0;
}

static void proxy_up_cfg(struct world *w, struct nt_proxy_config *cfg)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

	s4->sin_family = AF_INET;
	s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cfg->listen = &ss;
	cfg->listen_count = 1;
	assert_int_equal(nt_proxy_new(w->loop, &w->engine, cfg, &w->proxy), 0);
	w->port = nt_proxy_bound_port(w->proxy, 0);
	assert_int_not_equal(w->port, 0);
}

static void proxy_up(struct world *w)
{
	struct nt_proxy_config cfg;

	nt_proxy_config_init(&cfg);
	proxy_up_cfg(w, &cfg);
}

static struct nt_http_counters hc(struct world *w)
{
	struct nt_http_counters c;

	nt_proxy_http_counters(w->proxy, &c);
	return c;
}

static bool proxy_idle(struct world *w)
{
	struct nt_proxy_counters c;

	nt_proxy_counters(w->proxy, &c);
	return c.active == 0;
}

typedef bool (*cond_fn)(struct world *w);

static bool run_until(struct world *w, cond_fn cond, int ms)
{
	uint64_t end = nt_clock_mono_ns() + (uint64_t)ms * NT_NS_PER_MS;

	while (!cond(w) && nt_clock_mono_ns() < end)
		assert_true(nt_loop_run_once(w->loop, 5) >= 0);
	return cond(w);
}

/* ---- test clients ---- */

struct cli {
	int fd;
	uint8_t *buf;
	size_t len;
	bool eof;
};

struct resp {
	int status;
	char head[HEAD_MAX];
	uint8_t *body;
	size_t body_len;
	bool chunked;
};

static void cli_open(struct world *w, struct cli *c)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(w->port)};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	c->buf = malloc(CLIENT_BUF);
	assert_non_null(c->buf);
	c->len = 0;
	c->eof = false;
}

static void cli_close(struct cli *c)
{
	close(c->fd);
	free(c->buf);
	c->buf = NULL;
}

/* Sends all of it, running the loop while the socket is full. */
static void cli_send(struct world *w, struct cli *c, const void *data, size_t len)
{
	uint64_t end = nt_clock_mono_ns() + WAIT_MS * NT_NS_PER_MS;
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = send(c->fd, (const uint8_t *)data + off, len - off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		assert_true(n < 0 && errno == EAGAIN);
		assert_true(nt_clock_mono_ns() < end);
		nt_loop_run_once(w->loop, 1);
	}
}

static void cli_sends(struct world *w, struct cli *c, const char *s)
{
	cli_send(w, c, s, strlen(s));
}

/* Reads more, running the loop; false at EOF or reset. */
static bool cli_more(struct world *w, struct cli *c)
{
	uint64_t end = nt_clock_mono_ns() + WAIT_MS * NT_NS_PER_MS;
	ssize_t n;

	assert_true(c->len < CLIENT_BUF);
	for (;;) {
		n = recv(c->fd, c->buf + c->len, CLIENT_BUF - c->len, MSG_DONTWAIT);
		if (n > 0) {
			c->len += (size_t)n;
			return true;
		}
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			c->eof = true;
			return false;
		}
		assert_int_equal(errno, EAGAIN);
		assert_true(nt_clock_mono_ns() < end);
		assert_true(nt_loop_run_once(w->loop, 5) >= 0);
	}
}

static void cli_take(struct cli *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static size_t cli_line(struct world *w, struct cli *c, size_t from)
{
	uint8_t *nl;

	while (!(nl = memchr(c->buf + from, '\n', c->len - from)))
		assert_true(cli_more(w, c));
	return (size_t)(nl - c->buf) + 1;
}

/* One response, body decoded; head_req: a response to HEAD. Independent of
 * the proxy's parser on purpose. */
static void read_response(struct world *w, struct cli *c, bool head_req, struct resp *r)
{
	uint8_t *end;
	const char *cl, *te;
	size_t hlen, n, at;

	memset(r, 0, sizeof(*r));
	while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
		assert_true(cli_more(w, c));
	hlen = (size_t)(end - c->buf) + 4;
	assert_true(hlen < sizeof(r->head));
	memcpy(r->head, c->buf, hlen);
	r->head[hlen] = '\0';
	cli_take(c, hlen);
	assert_int_equal(sscanf(r->head, "HTTP/1.1 %d", &r->status), 1);
	r->body = malloc(CLIENT_BUF);
	assert_non_null(r->body);
	cl = o_field(r->head, "Content-Length");
	te = o_field(r->head, "Transfer-Encoding");
	if (head_req || r->status < 200 || r->status == 204 || r->status == 304)
		return;
	if (te && strncasecmp(te, "chunked", 7) == 0) {
		r->chunked = true;
		for (;;) {
			at = cli_line(w, c, 0);
			n = strtoull((char *)c->buf, NULL, 16);
			cli_take(c, at);
			if (n == 0)
				break;
			while (c->len < n + 2)
				assert_true(cli_more(w, c));
			memcpy(r->body + r->body_len, c->buf, n);
			assert_memory_equal(c->buf + n, "\r\n", 2);
			r->body_len += n;
			cli_take(c, n + 2);
		}
		while ((at = cli_line(w, c, 0)) != 2)
			cli_take(c, at);
		cli_take(c, 2);
		return;
	}
	if (cl) {
		n = strtoull(cl, NULL, 10);
		while (c->len < n)
			assert_true(cli_more(w, c));
	} else {
		while (cli_more(w, c))
			;
		n = c->len;
	}
	memcpy(r->body, c->buf, n);
	r->body_len = n;
	cli_take(c, n);
}

static void resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

static void expect_body(const struct resp *r, const char *want)
{
	assert_int_equal(r->body_len, strlen(want));
	assert_memory_equal(r->body, want, r->body_len);
}

static void expect_pattern(const struct resp *r, size_t n)
{
	assert_int_equal(r->body_len, n);
	for (size_t i = 0; i < n; i++)
		if (r->body[i] != pattern(i))
			fail_msg("byte %zu differs", i);
}

static void expect_closed(struct world *w, struct cli *c)
{
	while (cli_more(w, c))
		;
	assert_true(c->eof);
}

/* A request, its answer: the status (and the body in r). */
static int exchange(struct world *w, struct cli *c, const char *req, struct resp *r)
{
	cli_sends(w, c, req);
	read_response(w, c, strncmp(req, "HEAD ", 5) == 0 || strncmp(req, "CONNECT ", 8) == 0, r);
	return r->status;
}

static uint32_t fnv(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* ---- forwarding ---- */

static void test_http_get_absolute_form_reaches_origin_in_origin_form(void **state)
{
	struct world *w = *state;
	char head[HEAD_MAX];
	struct resp r;
	struct cli c;

	proxy_up(w);
	cli_open(w, &c);
	assert_int_equal(exchange(w, &c,
				  "GET http://origin.test:8080/hello HTTP/1.1\r\n"
				  "Host: origin.test:8080\r\nProxy-Connection: keep-alive\r\n"
				  "Connection: X-Hop\r\nX-Hop: 1\r\nAccept: */*\r\n\r\n",
				  &r),
			 200);
	expect_body(&r, "hello");
	assert_non_null(strstr(r.head, "X-Origin: yes\r\n"));
	assert_non_null(strstr(r.head, "Via: 1.1 notun\r\n"));
	assert_null(strstr(r.head, "Connection: close"));
	origin_last_head(&w->origin, head, sizeof(head));
	assert_memory_equal(head, "GET /hello HTTP/1.1\r\nHost: origin.test:8080\r\n", 44);
	assert_non_null(strstr(head, "Accept: */*\r\n"));
	assert_null(strcasestr(head, "Proxy-Connection"));
	assert_null(strcasestr(head, "X-Hop"));
	assert_null(strcasestr(head, "Connection:"));
	assert_int_equal(w->engine.last_target.kind, NT_TARGET_NAME);
	assert_string_equal(w->engine.last_target.name, "origin.test");
	assert_int_equal(w->engine.last_target.port, 8080);
	resp_free(&r);
	cli_close(&c);
}

static void test_http_keep_alive_serves_several_requests_on_one_upstream(void **state)
{
	struct world *w = *state;
	char req[256], want[64];
	uint8_t body[3000];
	struct resp r;
	struct cli c;
	int i;

	proxy_up(w);
	cli_open(w, &c);
	for (i = 0; i < 4; i++) {
		assert_int_equal(
		    exchange(w, &c, "GET http://10.0.0.1:80/hello HTTP/1.1\r\n\r\n", &r), 200);
		expect_body(&r, "hello");
		resp_free(&r);
		assert_int_equal(
		    exchange(w, &c, "GET http://10.0.0.1/big/100000 HTTP/1.1\r\n\r\n", &r), 200);
		expect_pattern(&r, 100000);
		resp_free(&r);
	}
	memset(body, 'b', sizeof(body));
	snprintf(req, sizeof(req),
		 "POST http://10.0.0.1/sum HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", sizeof(body));
	cli_sends(w, &c, req);
	cli_send(w, &c, body, sizeof(body));
	read_response(w, &c, false, &r);
	snprintf(want, sizeof(want), "len=%08zx fnv=%08x\n", sizeof(body), fnv(body, sizeof(body)));
	expect_body(&r, want);
	resp_free(&r);
	assert_int_equal(exchange(w, &c, "HEAD http://10.0.0.1/big/777 HTTP/1.1\r\n\r\n", &r), 200);
	assert_non_null(strstr(r.head, "Content-Length: 777\r\n"));
	assert_int_equal(r.body_len, 0);
	resp_free(&r);
	assert_int_equal(exchange(w, &c, "GET http://10.0.0.1/hello HTTP/1.1\r\n\r\n", &r), 200);
	resp_free(&r);
	/* One upstream connection for all eleven. */
	assert_int_equal(w->engine.opens, 1);
	assert_int_equal(hc(w).upstream_reused, 10);
	assert_int_equal(hc(w).forwarded, 11);
	/* Another host:port: a new connection. */
	assert_int_equal(exchange(w, &c, "GET http://10.0.0.2/hello HTTP/1.1\r\n\r\n", &r), 200);
	resp_free(&r);
	assert_int_equal(w->engine.opens, 2);
	cli_close(&c);
	assert_true(run_until(w, proxy_idle, WAIT_MS));
}

static void test_http_next_request_sent_early_is_kept(void **state)
{
	struct world *w = *state;
	struct resp r;
	struct cli c;

	proxy_up(w);
	cli_open(w, &c);
	/* Three requests in one write, the last with a body. */
	cli_sends(
	    w, &c,
	    "GET http://o/hello HTTP/1.1\r\n\r\n"
	    "GET http://o/big/5000 HTTP/1.1\r\n\r\n"
	    "POST http://o/sum HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
	read_response(w, &c, false, &r);
	expect_body(&r, "hello");
	resp_free(&r);
	read_response(w, &c, false, &r);
	expect_pattern(&r, 5000);
	resp_free(&r);
	read_response(w, &c, false, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.head, "Connection: close\r\n"));
	expect_body(&r, "len=00000003 fnv=1a47e90b\n");
	resp_free(&r);
	expect_closed(w, &c);
	cli_close(&c);
}

static void test_http_request_split_across_many_writes(void **state)
{
	static const char req[] =
	    "POST http://o/sum HTTP/1.1\r\nHost: o\r\nContent-Length: 11\r\n\r\n"
	    "hello world";
	struct world *w = *state;
	struct resp r;
	struct cli c;
	char want[64];

	proxy_up(w);
	cli_open(w, &c);
	for (size_t i = 0; i < sizeof(req) - 1; i++) {
		cli_send(w, &c, req + i, 1);
		nt_loop_run_once(w->loop, 0);
	}
	read_response(w, &c, false, &r);
	snprintf(want, sizeof(want), "len=0000000b fnv=%08x\n",
		 fnv((const uint8_t *)"hello world", 11));
	expect_body(&r, want);
	resp_free(&r);
	cli_close(&c);
}

static void test_http_post_large_body_by_content_length(void **state)
{
	struct world *w = *state;
	size_t n = 3u << 20;
	uint8_t *body = malloc(n);
	char req[128], want[64];
	struct resp r;
	struct cli c;

	assert_non_null(body);
	for (size_t i = 0; i < n; i++)
		body[i] = (uint8_t)(i * 13 + 5);
	proxy_up(w);
	cli_open(w, &c);
	snprintf(req, sizeof(req), "PUT http://o/sum HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
	cli_sends(w, &c, req);
	cli_send(w, &c, body, n);
	read_response(w, &c, false, &r);
	snprintf(want, sizeof(want), "len=%08zx fnv=%08x\n", n, fnv(body, n));
	expect_body(&r, want);
	resp_free(&r);
	free(body);
	cli_close(&c);
}

static void test_http_chunked_upload_and_download(void **state)
{
	struct world *w = *state;
	uint8_t data[70000];
	char line[32], want[64];
	struct resp r;
	struct cli c;
	size_t off = 0, part;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	proxy_up(w);
	cli_open(w, &c);
	/* Upload: chunks of several sizes, sent piecemeal, with a trailer;
	 * 100 Continue comes back first and is relayed. */
	cli_sends(w, &c,
		  "POST http://o/sum HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
		  "Expect: 100-continue\r\n\r\n");
	read_response(w, &c, false, &r);
	assert_int_equal(r.status, 100);
	resp_free(&r);
	for (int k = 0; off < sizeof(data); k++) {
		part = (size_t)(k * 997 % 20000) + 1;
		part = part < sizeof(data) - off ? part : sizeof(data) - off;
		snprintf(line, sizeof(line), "%zX\r\n", part);
		cli_sends(w, &c, line);
		cli_send(w, &c, data + off, part);
		cli_sends(w, &c, "\r\n");
		off += part;
	}
	cli_sends(w, &c, "0\r\nX-Check: 1\r\n\r\n");
	read_response(w, &c, false, &r);
	snprintf(want, sizeof(want), "len=%08zx fnv=%08x\n", sizeof(data), fnv(data, sizeof(data)));
	expect_body(&r, want);
	resp_free(&r);
	/* Download: relayed in chunks (not buffered), trailer included. */
	assert_int_equal(exchange(w, &c, "GET http://o/chunked/200000 HTTP/1.1\r\n\r\n", &r), 200);
	assert_true(r.chunked);
	expect_pattern(&r, 200000);
	resp_free(&r);
	/* And the connection goes on. */
	assert_int_equal(exchange(w, &c, "GET http://o/hello HTTP/1.1\r\n\r\n", &r), 200);
	resp_free(&r);
	assert_int_equal(w->engine.opens, 1);
	cli_close(&c);
}

static void test_http_response_until_close_closes_client(void **state)
{
	struct world *w = *state;
	struct resp r;
	struct cli c;

	proxy_up(w);
	cli_open(w, &c);
	assert_int_equal(exchange(w, &c, "GET http://o/close/300000 HTTP/1.1\r\n\r\n", &r), 200);
	assert_non_null(strstr(r.head, "Connection: close\r\n"));
	expect_pattern(&r, 300000);
	assert_true(c.eof);
	resp_free(&r);
	cli_close(&c);
	assert_true(run_until(w, proxy_idle, WAIT_MS));
}

/* A client that said close and sent nothing more is closed as soon as the
 * answer is out, not lingered on for LINGER_MS (2 s) waiting for its FIN;
 * one that did not say so is lingered on until it closes. */
static void test_http_client_that_said_close_is_not_lingered_on(void **state)
{
	struct world *w = *state;
	struct resp r;
	struct cli c, k;

	proxy_up(w);
	cli_open(w, &c);
	assert_int_equal(
	    exchange(w, &c, "GET http://o/hello HTTP/1.1\r\nConnection: close\r\n\r\n", &r), 200);
	resp_free(&r);
	expect_closed(w, &c);
	/* The client has not closed: only the proxy's own close ends it. */
	assert_true(run_until(w, proxy_idle, 1000));

	cli_open(w, &k);
	assert_int_equal(exchange(w, &k, "GET http://o/close/10 HTTP/1.1\r\n\r\n", &r), 200);
	assert_true(k.eof);
	resp_free(&r);
	assert_false(run_until(w, proxy_idle, 300));
	cli_close(&k);
	assert_true(run_until(w, proxy_idle, WAIT_MS));
	cli_close(&c);
}

static void test_http_slow_reader_gets_every_byte(void **state)
{
	struct world *w = *state;
	struct resp r;
	struct cli c;

	proxy_up(w);
	cli_open(w, &c);
	cli_sends(w, &c, "GET http://o/big/4194304 HTTP/1.1\r\n\r\n");
	/* Not read for a while: the proxy stops reading the origin once the
	 * client's socket and its own buffer are full, then resumes. */
	for (int i = 0; i < 100; i++)
		nt_loop_run_once(w->loop, 1);
	read_response(w, &c, false, &r);
	expect_pattern(&r, 4u << 20);
	resp_free(&r);
	assert_int_equal(exchange(w, &c, "GET http://o/hello HTTP/1.1\r\n\r\n", &r), 200);
	resp_free(&r);
	cli_close(&c);
}

/* ---- CONNECT ---- */

static void test_http_connect_tunnels_bytes_both_ways(void **state)
{
	struct world *w = *state;
	struct resp r;
	struct cli c;

	proxy_up(w);
	cli_open(w, &c);
	/* The first bytes through the tunnel come right behind the request. */
	cli_sends(w, &c,
		  "CONNECT internal.corp:8443 HTTP/1.1\r\nHost: internal.corp:8443\r\n\r\n"
		  "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	read_response(w, &c, true, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.head, "HTTP/1.1 200 Connection established\r\n\r\n");
	resp_free(&r);
	read_response(w, &c, false, &r);
	expect_body(&r, "hello");
	resp_free(&r);
	/* The origin sees what the client wrote, untouched. */
	assert_int_equal(exchange(w, &c, "GET /big/250000 HTTP/1.1\r\n\r\n", &r), 200);
	expect_pattern(&r, 250000);
	resp_free(&r);
	assert_string_equal(w->engine.last_target.name, "internal.corp");
	assert_int_equal(w->engine.last_target.port, 8443);
	assert_int_equal(hc(w).connects, 1);
	assert_true(proxy_idle(w)); /* the splice has it */
	cli_close(&c);
}

static void test_http_connect_after_forwarded_requests(void **state)
{
	struct world *w = *state;
	struct resp r;
	struct cli c;

	proxy_up(w);
	cli_open(w, &c);
	assert_int_equal(exchange(w, &c, "GET http://o/hello HTTP/1.1\r\n\r\n", &r), 200);
	resp_free(&r);
	assert_int_equal(exchange(w, &c, "CONNECT [2001:db8::5]:443 HTTP/1.1\r\n\r\n", &r), 200);
	resp_free(&r);
	assert_int_equal(w->engine.last_target.kind, NT_TARGET_IPV6);
	assert_int_equal(exchange(w, &c, "GET /hello HTTP/1.1\r\n\r\n", &r), 200);
	expect_body(&r, "hello");
	resp_free(&r);
	cli_close(&c);
}

/* ---- refusals ---- */

static void expect_error(struct world *w, const char *req, size_t len, int status,
			 const char *reason)
{
	struct resp r;
	struct cli c;
	char body[256];

	cli_open(w, &c);
	cli_send(w, &c, req, len);
	read_response(w, &c, false, &r);
	assert_int_equal(r.status, status);
	assert_non_null(strstr(r.head, "Connection: close\r\n"));
	assert_non_null(strstr(r.head, "Content-Type: text/plain\r\n"));
	assert_true(r.body_len > 8 && r.body_len < sizeof(body));
	memcpy(body, r.body, r.body_len);
	body[r.body_len] = '\0';
	assert_memory_equal(body, "notun: ", 7);
	assert_non_null(strchr(body, '\n'));
	assert_true(strchr(body, '\n') == body + r.body_len - 1); /* one line */
	if (reason)
		assert_non_null(strstr(body, reason));
	expect_closed(w, &c);
	resp_free(&r);
	cli_close(&c);
}

static void test_http_oversized_head_gets_431(void **state)
{
	struct world *w = *state;
	size_t cap = NT_HTTP_HEAD_MAX_DEFAULT + 4096, len;
	char *req = malloc(cap);

	assert_non_null(req);
	proxy_up(w);
	len = (size_t)sprintf(req, "GET http://o/hello HTTP/1.1\r\n");
	for (int i = 0; len < NT_HTTP_HEAD_MAX_DEFAULT + 100; i++)
		len += (size_t)sprintf(req + len, "X-Filler-%d: %01000d\r\n", i, 0);
	len += (size_t)sprintf(req + len, "\r\n");
	expect_error(w, req, len, 431, "too large");
	/* Too many fields, also 431. */
	len = (size_t)sprintf(req, "GET http://o/hello HTTP/1.1\r\n");
	for (unsigned i = 0; i <= NT_HTTP_FIELDS_MAX_DEFAULT; i++)
		len += (size_t)sprintf(req + len, "X-%u: 1\r\n", i);
	len += (size_t)sprintf(req + len, "\r\n");
	expect_error(w, req, len, 431, "too many");
	assert_int_equal(hc(w).head_too_large, 2);
	assert_int_equal(w->engine.opens, 0);
	free(req);
}

static void test_http_long_request_line_gets_414(void **state)
{
	struct world *w = *state;
	size_t len = NT_HTTP_LINE_MAX_DEFAULT + 100;
	char *req = malloc(len + 64);

	assert_non_null(req);
	proxy_up(w);
	strcpy(req, "GET http://o/");
	memset(req + 13, 'a', len);
	strcpy(req + 13 + len, " HTTP/1.1\r\n\r\n");
	expect_error(w, req, strlen(req), 414, "request line");
	assert_int_equal(hc(w).line_too_long, 1);
	free(req);
}

static void test_http_malformed_requests_get_400(void **state)
{
	static const char *const reqs[] = {
	    "GET /origin-form HTTP/1.1\r\nHost: o\r\n\r\n",
	    "GET http://o/ HTTP/2.0\r\n\r\n",
	    "GET http://o/ HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n",
	    "POST http://o/sum HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
	    "GET https://o/ HTTP/1.1\r\n\r\n",
	    "BREW http://o/ HTCPCP/1.0\r\n\r\n",
	};
	struct world *w = *state;

	proxy_up(w);
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
		expect_error(w, reqs[i], strlen(reqs[i]), 400, NULL);
	assert_int_equal(hc(w).bad_request, sizeof(reqs) / sizeof(reqs[0]));
	assert_int_equal(w->engine.opens, 0);
}

static void test_http_bad_chunk_size_in_upload_gets_400(void **state)
{
	static const char req[] = "POST http://o/sum HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				  "5\r\nhello\r\nZZ\r\n";
	struct world *w = *state;

	proxy_up(w);
	expect_error(w, req, sizeof(req) - 1, 400, "chunked");
	assert_true(run_until(w, proxy_idle, WAIT_MS));
}

static void test_http_proxy_credentials_required(void **state)
{
	struct world *w = *state;
	struct nt_proxy_config cfg;
	struct resp r;
	struct cli c;
	const char *req;

	nt_proxy_config_init(&cfg);
	cfg.username = "alice";
	cfg.password = "s3cret";
	proxy_up_cfg(w, &cfg);
	req = "GET http://o/hello HTTP/1.1\r\n\r\n";
	expect_error(w, req, strlen(req), 407, "authentication");
	req = "GET http://o/hello HTTP/1.1\r\nProxy-Authorization: Basic YWxpY2U6czNjcmVU\r\n\r\n";
	expect_error(w, req, strlen(req), 407, NULL);
	req = "CONNECT o:443 HTTP/1.1\r\n\r\n";
	expect_error(w, req, strlen(req), 407, NULL);
	assert_int_equal(hc(w).auth_missing, 2);
	assert_int_equal(hc(w).auth_failed, 1);
	assert_int_equal(w->engine.opens, 0);
	/* The challenge names the scheme. */
	cli_open(w, &c);
	assert_int_equal(exchange(w, &c, "GET http://o/hello HTTP/1.1\r\n\r\n", &r), 407);
	assert_non_null(strstr(r.head, "Proxy-Authenticate: Basic realm=\"notun\"\r\n"));
	resp_free(&r);
	cli_close(&c);
	/* Right credentials, on every request of a kept connection. */
	cli_open(w, &c);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(exchange(w, &c,
					  "GET http://o/hello HTTP/1.1\r\n"
					  "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n",
					  &r),
				 200);
		resp_free(&r);
	}
	assert_int_equal(exchange(w, &c, "GET http://o/hello HTTP/1.1\r\n\r\n", &r), 407);
	resp_free(&r);
	cli_close(&c);
}

static void test_http_engine_failures_get_status_and_reason(void **state)
{
	static const struct {
		enum nt_fail fail;
		int status;
	} cases[] = {
	    {NT_FAIL_GENERAL, 502},	 {NT_FAIL_NOT_ALLOWED, 403}, {NT_FAIL_NET_UNREACH, 502},
	    {NT_FAIL_HOST_UNREACH, 502}, {NT_FAIL_REFUSED, 502},     {NT_FAIL_TIMEOUT, 504},
	    {NT_FAIL_NAME, 502},	 {NT_FAIL_ADDR_TYPE, 400},   {NT_FAIL_LOOP, 403},
	    {NT_FAIL_FORBIDDEN, 403},	 {NT_FAIL_OFFLINE, 502},
	};
	struct world *w = *state;
	const char *get = "GET http://o/hello HTTP/1.1\r\n\r\n",
		   *con = "CONNECT o:22 HTTP/1.1\r\n\r\n";

	proxy_up(w);
	w->engine.mode = FAKE_FAIL;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		w->engine.fail = cases[i].fail;
		assert_int_equal(nt_fail_http(cases[i].fail), cases[i].status);
		expect_error(w, get, strlen(get), cases[i].status, nt_fail_text(cases[i].fail));
		expect_error(w, con, strlen(con), cases[i].status, nt_fail_text(cases[i].fail));
		assert_int_equal(hc(w).connect_failed[cases[i].fail], 2);
	}
	assert_true(run_until(w, proxy_idle, WAIT_MS));
}

/* A 200 that starts, then ends early: the client reads to its end (reset
 * or closed) and never gets absent, which would pass for a last piece. */
static void expect_cut_response(struct world *w, const char *req, const char *absent)
{
	struct cli c;

	cli_open(w, &c);
	cli_sends(w, &c, req);
	while (cli_more(w, &c))
		;
	assert_non_null(memmem(c.buf, c.len, "HTTP/1.1 200 OK", 15));
	assert_null(memmem(c.buf, c.len, absent, strlen(absent)));
	cli_close(&c);
}

static void test_http_bad_answers_from_origin_get_502(void **state)
{
	struct world *w = *state;
	const char *req;

	proxy_up(w);
	req = "GET http://o/garbage HTTP/1.1\r\n\r\n";
	expect_error(w, req, strlen(req), 502, "malformed response");
	req = "GET http://o/silent HTTP/1.1\r\n\r\n";
	expect_error(w, req, strlen(req), 502, "without an answer");
	assert_int_equal(hc(w).bad_response, 1);
	assert_int_equal(hc(w).upstream_failed, 1);
	/* Bad framing once the response started: the client is reset, it
	 * must not take a cut body for a whole one. */
	expect_cut_response(w, "GET http://o/bad-chunks HTTP/1.1\r\n\r\n", "0\r\n\r\n");
	assert_int_equal(hc(w).upstream_aborts, 1);
}

static void test_http_kept_connection_closed_by_origin_is_retried(void **state)
{
	struct world *w = *state;
	struct resp r;
	struct cli c;

	proxy_up(w);
	cli_open(w, &c);
	/* The origin answers, then closes the next request unanswered: the
	 * proxy meets that on the kept connection and sends it once more. */
	assert_int_equal(exchange(w, &c, "GET http://o/drop-next HTTP/1.1\r\n\r\n", &r), 200);
	resp_free(&r);
	assert_int_equal(exchange(w, &c, "GET http://o/hello HTTP/1.1\r\n\r\n", &r), 200);
	expect_body(&r, "hello");
	resp_free(&r);
	assert_int_equal(hc(w).retries, 1);
	assert_int_equal(w->engine.opens, 2);
	/* Not for a request with a body: that one gets the 502. */
	assert_int_equal(exchange(w, &c, "GET http://o/drop-next HTTP/1.1\r\n\r\n", &r), 200);
	resp_free(&r);
	assert_int_equal(
	    exchange(w, &c, "POST http://o/sum HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", &r), 502);
	resp_free(&r);
	assert_int_equal(hc(w).retries, 1);
	cli_close(&c);
}

/* ---- clients that leave, timeouts ---- */

static bool one_abort(struct world *w)
{
	return hc(w).client_aborts == 1;
}

static void test_http_client_leaving_mid_body_harms_no_other(void **state)
{
	struct world *w = *state;
	uint8_t part[100000];
	struct resp r;
	struct cli a, b;

	memset(part, 'x', sizeof(part));
	proxy_up(w);
	cli_open(w, &a);
	cli_open(w, &b);
	cli_sends(w, &a, "POST http://o/sum HTTP/1.1\r\nContent-Length: 5000000\r\n\r\n");
	cli_send(w, &a, part, sizeof(part));
	cli_sends(w, &b, "GET http://o/big/2000000 HTTP/1.1\r\n\r\n");
	for (int i = 0; i < 20; i++)
		nt_loop_run_once(w->loop, 1);
	cli_close(&a);
	assert_true(run_until(w, one_abort, WAIT_MS));
	read_response(w, &b, false, &r);
	expect_pattern(&r, 2000000);
	resp_free(&r);
	assert_int_equal(exchange(w, &b, "GET http://o/hello HTTP/1.1\r\n\r\n", &r), 200);
	resp_free(&r);
	cli_close(&b);
	assert_true(run_until(w, proxy_idle, WAIT_MS));
}

static bool engine_opened(struct world *w)
{
	return w->engine.opens == 1;
}

static bool engine_canceled(struct world *w)
{
	return w->engine.cancels == 1;
}

static void test_http_client_leaving_while_engine_opens_cancels(void **state)
{
	struct world *w = *state;
	struct cli c;

	proxy_up(w);
	w->engine.mode = FAKE_HOLD;
	cli_open(w, &c);
	cli_sends(w, &c, "POST http://o/sum HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial");
	assert_true(run_until(w, engine_opened, WAIT_MS));
	cli_close(&c);
	assert_true(run_until(w, engine_canceled, WAIT_MS));
	assert_null(w->engine.held);
	assert_int_equal(hc(w).client_aborts, 1);
	assert_true(run_until(w, proxy_idle, WAIT_MS));
}

static void test_http_header_and_idle_timeouts(void **state)
{
	struct world *w = *state;
	struct nt_http_config hcfg;
	struct nt_proxy_config cfg;
	uint64_t start;
	struct resp r;
	struct cli slow, idle;

	nt_proxy_config_init(&cfg);
	cfg.handshake_timeout_ms = 150;
	proxy_up_cfg(w, &cfg);
	nt_http_config_init(&hcfg);
	hcfg.idle_timeout_ms = 200;
	hcfg.header_timeout_ms = 150;
	assert_int_equal(nt_proxy_http_configure(w->proxy, &hcfg), 0);
	hcfg.idle_timeout_ms = 0;
	assert_int_equal(nt_proxy_http_configure(w->proxy, &hcfg), -EINVAL);
	start = nt_clock_mono_ns();
	cli_open(w, &slow);
	cli_sends(w, &slow, "GET http://o/hello HTTP/1.1\r\nX-Never: ends");
	read_response(w, &slow, false, &r);
	assert_int_equal(r.status, 408);
	assert_true(nt_clock_mono_ns() - start >= 150 * NT_NS_PER_MS);
	resp_free(&r);
	expect_closed(w, &slow);
	cli_close(&slow);
	/* A kept connection that says nothing more is closed, quietly. */
	cli_open(w, &idle);
	assert_int_equal(exchange(w, &idle, "GET http://o/hello HTTP/1.1\r\n\r\n", &r), 200);
	resp_free(&r);
	start = nt_clock_mono_ns();
	expect_closed(w, &idle);
	assert_int_equal(idle.len, 0);
	assert_true(nt_clock_mono_ns() - start >= 150 * NT_NS_PER_MS);
	assert_int_equal(hc(w).header_timeouts, 1);
	assert_int_equal(hc(w).idle_timeouts, 1);
	cli_close(&idle);
}

/* proxy/README.md: "HTTP idle timeout while forwarding: nothing moved
 * either way | 60 s | 504, or a reset once the response started;
 * forward_timeouts". The 60 s is idle_timeout_ms of nt_http_config (no
 * configuration key sets it): 400 ms here. */
static void test_http_forward_idle_timeout_gives_504_or_a_reset(void **state)
{
	struct world *w = *state;
	struct nt_http_config hcfg;
	const char *req = "GET http://o/hang HTTP/1.1\r\n\r\n";
	uint64_t start;
	struct resp r;
	struct cli c;

	proxy_up(w);
	nt_http_config_init(&hcfg);
	hcfg.idle_timeout_ms = 400;
	assert_int_equal(nt_proxy_http_configure(w->proxy, &hcfg), 0);
	start = nt_clock_mono_ns();
	expect_error(w, req, strlen(req), 504, "no answer from the destination in time");
	assert_true(nt_clock_mono_ns() - start >= 400 * NT_NS_PER_MS);
	assert_int_equal(hc(w).forward_timeouts, 1);
	/* Once the head went out, a 504 cannot follow: the client is reset
	 * and must not take 4 bytes for the 10 announced. */
	expect_cut_response(w, "GET http://o/stall HTTP/1.1\r\n\r\n", " 504 ");
	assert_int_equal(hc(w).forward_timeouts, 2);
	/* Idle means nothing moving: a response slower in all than the
	 * timeout, a byte every DRIP_MS, is whole. */
	cli_open(w, &c);
	assert_int_equal(exchange(w, &c, "GET http://o/drip/16 HTTP/1.1\r\n\r\n", &r), 200);
	expect_body(&r, "dddddddddddddddd");
	resp_free(&r);
	cli_close(&c);
	assert_int_equal(hc(w).forward_timeouts, 2);
}

static void test_http_proxy_free_closes_clients_in_progress(void **state)
{
	struct world *w = *state;
	struct cli waiting, kept;
	struct resp r;

	proxy_up(w);
	cli_open(w, &kept);
	assert_int_equal(exchange(w, &kept, "GET http://o/hello HTTP/1.1\r\n\r\n", &r), 200);
	resp_free(&r);
	w->engine.mode = FAKE_HOLD;
	cli_open(w, &waiting);
	cli_sends(w, &waiting, "GET http://p/hello HTTP/1.1\r\n\r\n");
	for (int i = 0; i < 20 && !w->engine.held; i++)
		nt_loop_run_once(w->loop, 1);
	assert_non_null(w->engine.held);
	nt_proxy_free(w->proxy);
	w->proxy = NULL;
	assert_int_equal(w->engine.cancels, 1);
	expect_closed(w, &waiting);
	expect_closed(w, &kept);
	cli_close(&waiting);
	cli_close(&kept);
}

/* ---- the pool of idle upstream connections ---- */

static int origin_ended(struct world *w)
{
	int n;

	pthread_mutex_lock(&w->origin.mu);
	n = w->origin.ended;
	pthread_mutex_unlock(&w->origin.mu);
	return n;
}

static bool origin_conn_ended(struct world *w, int i)
{
	bool ended;

	pthread_mutex_lock(&w->origin.mu);
	ended = w->origin.conns[i].ended;
	pthread_mutex_unlock(&w->origin.mu);
	return ended;
}

static size_t pooled_now(struct world *w)
{
	return nt_proxy_http(w->proxy)->pool.n;
}

static bool pool_empty(struct world *w)
{
	return pooled_now(w) == 0;
}

static bool one_origin_conn_ended(struct world *w)
{
	return origin_ended(w) == 1;
}

/* One client, one request, the proxy's answer, the proxy's close. */
static void one_shot(struct world *w, const char *req, int status, const char *body)
{
	struct resp r;
	struct cli c;

	cli_open(w, &c);
	assert_int_equal(exchange(w, &c, req, &r), status);
	if (body)
		expect_body(&r, body);
	assert_non_null(strstr(r.head, "Connection: close\r\n"));
	resp_free(&r);
	expect_closed(w, &c);
	cli_close(&c);
}

static void test_http_pool_serves_clients_one_after_another_on_one_upstream(void **state)
{
	struct world *w = *state;
	char head[HEAD_MAX];
	struct resp r;
	struct cli c;

	proxy_up(w);
	/* ab, or curl once per request: each client says close, or is
	 * HTTP/1.0 without keep-alive. Each is told close, and closed, as
	 * before; the origin's connection outlives them. */
	one_shot(w, "GET http://o/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200, "hello");
	origin_last_head(&w->origin, head, sizeof(head));
	assert_null(strcasestr(head, "Connection"));
	one_shot(w, "GET http://o/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200, "hello");
	cli_open(w, &c);
	assert_int_equal(exchange(w, &c, "GET http://o/big/3000 HTTP/1.0\r\n\r\n", &r), 200);
	assert_non_null(strstr(r.head, "Connection: close\r\n"));
	expect_pattern(&r, 3000);
	resp_free(&r);
	expect_closed(w, &c);
	cli_close(&c);
	origin_last_head(&w->origin, head, sizeof(head));
	assert_memory_equal(head, "GET /big/3000 HTTP/1.1\r\n", 24);
	assert_null(strcasestr(head, "Connection"));
	assert_int_equal(w->engine.opens, 1);
	assert_int_equal(hc(w).upstream_opened, 1);
	assert_int_equal(hc(w).upstream_pooled, 3);
	assert_int_equal(hc(w).upstream_pooled_hits, 2);
	assert_int_equal(hc(w).retries, 0);
	assert_int_equal(pooled_now(w), 1);
	assert_int_equal(origin_ended(w), 0);
	/* A client that keeps its connection hands the upstream over when
	 * it leaves between requests. */
	cli_open(w, &c);
	assert_int_equal(exchange(w, &c, "GET http://o/hello HTTP/1.1\r\n\r\n", &r), 200);
	assert_null(strstr(r.head, "Connection: close"));
	resp_free(&r);
	assert_int_equal(pooled_now(w), 0);
	cli_close(&c);
	assert_true(run_until(w, proxy_idle, WAIT_MS));
	assert_int_equal(pooled_now(w), 1);
	one_shot(w, "HEAD http://o/hello HTTP/1.0\r\n\r\n", 200, NULL);
	assert_int_equal(w->engine.opens, 1);
	assert_int_equal(hc(w).upstream_pooled_hits, 4);
}

static void test_http_pool_not_taken_for_a_request_with_a_body(void **state)
{
	struct world *w = *state;

	proxy_up(w);
	one_shot(w, "GET http://o/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200, "hello");
	assert_int_equal(pooled_now(w), 1);
	/* Should the parked connection have closed meanwhile, a POST could
	 * not be sent again: it gets a fresh one. */
	one_shot(w,
		 "POST http://o/sum HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
		 200, "len=00000003 fnv=1a47e90b\n");
	assert_int_equal(w->engine.opens, 2);
	assert_int_equal(hc(w).upstream_pooled_hits, 0);
	/* Both are parked now; a GET takes one. */
	assert_int_equal(pooled_now(w), 2);
	one_shot(w, "GET http://o/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200, "hello");
	assert_int_equal(w->engine.opens, 2);
	assert_int_equal(hc(w).upstream_pooled_hits, 1);
}

static bool pooled_one_dropped(struct world *w)
{
	return hc(w).upstream_pool_dropped == 1 && pooled_now(w) == 0;
}

static void test_http_pool_drops_a_connection_the_origin_closes(void **state)
{
	struct world *w = *state;

	proxy_up(w);
	/* Closed while parked: the pool sees it go and drops it. */
	one_shot(w, "GET http://o/bye HTTP/1.1\r\nConnection: close\r\n\r\n", 200, "bye");
	assert_int_equal(hc(w).upstream_pooled, 1);
	assert_int_equal(pooled_now(w), 1);
	pthread_mutex_lock(&w->origin.mu);
	w->origin.bye_close = true;
	pthread_mutex_unlock(&w->origin.mu);
	assert_true(run_until(w, pooled_one_dropped, WAIT_MS));
	one_shot(w, "GET http://o/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200, "hello");
	assert_int_equal(w->engine.opens, 2);
	assert_int_equal(hc(w).upstream_pooled_hits, 0);
	/* Closed as the request goes out on it (the origin drops the next
	 * request it reads): a GET is sent once more on a fresh one, and
	 * the client never knows. */
	one_shot(w, "GET http://o/drop-next HTTP/1.1\r\nConnection: close\r\n\r\n", 200, "ok");
	one_shot(w, "GET http://o/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200, "hello");
	assert_int_equal(hc(w).upstream_pooled_hits, 2);
	assert_int_equal(hc(w).retries, 1);
	assert_int_equal(w->engine.opens, 3);
}

static void test_http_pool_idle_timeout_closes_the_upstream(void **state)
{
	struct world *w = *state;
	struct nt_http_config hcfg;
	uint64_t start;

	proxy_up(w);
	nt_http_config_init(&hcfg);
	assert_int_equal(hcfg.pool_idle_ms, NT_HTTP_POOL_IDLE_MS_DEFAULT);
	hcfg.pool_idle_ms = 100;
	assert_int_equal(nt_proxy_http_configure(w->proxy, &hcfg), 0);
	one_shot(w, "GET http://o/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200, "hello");
	start = nt_clock_mono_ns();
	assert_int_equal(pooled_now(w), 1);
	/* The origin sees its connection closed: by the pool's timer. */
	assert_true(run_until(w, one_origin_conn_ended, WAIT_MS));
	assert_true(nt_clock_mono_ns() - start >= 80 * NT_NS_PER_MS);
	assert_int_equal(hc(w).upstream_pool_expired, 1);
	assert_int_equal(pooled_now(w), 0);
	one_shot(w, "GET http://o/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200, "hello");
	assert_int_equal(w->engine.opens, 2);
	/* 0: nothing outlives its client. */
	hcfg.pool_idle_ms = 0;
	assert_int_equal(nt_proxy_http_configure(w->proxy, &hcfg), 0);
	one_shot(w, "GET http://o/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200, "hello");
	assert_true(run_until(w, pool_empty, WAIT_MS));
	assert_int_equal(w->engine.opens, 3);
}

static size_t pool_target;

static bool pooled_reached(struct world *w)
{
	return hc(w).upstream_pooled == pool_target;
}

static bool first_origin_conn_ended(struct world *w)
{
	return origin_conn_ended(w, 0);
}

static void test_http_pool_full_closes_the_oldest(void **state)
{
	struct world *w = *state;
	struct cli c[NT_HTTP_UP_POOL + 1];
	struct resp r;
	size_t i;

	proxy_up(w);
	/* Kept-alive clients, each holding its own upstream. */
	for (i = 0; i < NT_HTTP_UP_POOL + 1; i++) {
		cli_open(w, &c[i]);
		assert_int_equal(exchange(w, &c[i], "GET http://o/hello HTTP/1.1\r\n\r\n", &r),
				 200);
		resp_free(&r);
	}
	assert_int_equal(w->engine.opens, NT_HTTP_UP_POOL + 1);
	/* They leave one by one: each upstream parked, in that order. */
	for (i = 0; i < NT_HTTP_UP_POOL + 1; i++) {
		cli_close(&c[i]);
		pool_target = i + 1;
		assert_true(run_until(w, pooled_reached, WAIT_MS));
	}
	assert_int_equal(pooled_now(w), NT_HTTP_UP_POOL);
	assert_int_equal(hc(w).upstream_pool_evicted, 1);
	/* The first client's upstream (the origin's first connection) went. */
	assert_true(run_until(w, first_origin_conn_ended, WAIT_MS));
	assert_true(run_until(w, proxy_idle, WAIT_MS));
	assert_int_equal(origin_ended(w), 1);
}

static void test_http_pool_never_shares_between_targets(void **state)
{
	struct world *w = *state;
	struct resp r;
	struct cli c;

	proxy_up(w);
	one_shot(w, "GET http://a.test/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200, "hello");
	one_shot(w, "GET http://b.test/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200, "hello");
	one_shot(w, "GET http://a.test:8080/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200,
		 "hello");
	one_shot(w, "GET http://10.0.0.1/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200,
		 "hello");
	one_shot(w, "GET http://10.0.0.2/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200,
		 "hello");
	one_shot(w, "GET http://[2001:db8::1]/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200,
		 "hello");
	assert_int_equal(w->engine.opens, 6);
	assert_int_equal(hc(w).upstream_pooled_hits, 0);
	assert_int_equal(pooled_now(w), 6);
	/* Each one to its own. */
	one_shot(w, "GET http://a.test:80/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200,
		 "hello");
	one_shot(w, "GET http://10.0.0.2:80/hello HTTP/1.1\r\nConnection: close\r\n\r\n", 200,
		 "hello");
	assert_int_equal(w->engine.opens, 6);
	assert_int_equal(hc(w).upstream_pooled_hits, 2);
	/* A client moving to another host:port leaves its upstream to others. */
	cli_open(w, &c);
	assert_int_equal(exchange(w, &c, "GET http://b.test/hello HTTP/1.1\r\n\r\n", &r), 200);
	resp_free(&r);
	assert_int_equal(exchange(w, &c, "GET http://a.test/hello HTTP/1.1\r\n\r\n", &r), 200);
	resp_free(&r);
	cli_close(&c);
	assert_int_equal(w->engine.opens, 6);
	assert_int_equal(hc(w).upstream_pooled_hits, 4);
	assert_true(run_until(w, proxy_idle, WAIT_MS));
	assert_int_equal(pooled_now(w), 6);
}

#define T(name) cmocka_unit_test_setup_teardown(name, world_setup, world_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_http_get_absolute_form_reaches_origin_in_origin_form),
	    T(test_http_keep_alive_serves_several_requests_on_one_upstream),
	    T(test_http_next_request_sent_early_is_kept),
	    T(test_http_request_split_across_many_writes),
	    T(test_http_post_large_body_by_content_length),
	    T(test_http_chunked_upload_and_download),
	    T(test_http_response_until_close_closes_client),
	    T(test_http_client_that_said_close_is_not_lingered_on),
	    T(test_http_slow_reader_gets_every_byte),
	    T(test_http_connect_tunnels_bytes_both_ways),
	    T(test_http_connect_after_forwarded_requests),
	    T(test_http_oversized_head_gets_431),
	    T(test_http_long_request_line_gets_414),
	    T(test_http_malformed_requests_get_400),
	    T(test_http_bad_chunk_size_in_upload_gets_400),
	    T(test_http_proxy_credentials_required),
	    T(test_http_engine_failures_get_status_and_reason),
	    T(test_http_bad_answers_from_origin_get_502),
	    T(test_http_kept_connection_closed_by_origin_is_retried),
	    T(test_http_client_leaving_mid_body_harms_no_other),
	    T(test_http_client_leaving_while_engine_opens_cancels),
	    T(test_http_header_and_idle_timeouts),
	    T(test_http_forward_idle_timeout_gives_504_or_a_reset),
	    T(test_http_proxy_free_closes_clients_in_progress),
	    T(test_http_pool_serves_clients_one_after_another_on_one_upstream),
	    T(test_http_pool_not_taken_for_a_request_with_a_body),
	    T(test_http_pool_drops_a_connection_the_origin_closes),
	    T(test_http_pool_idle_timeout_closes_the_upstream),
	    T(test_http_pool_full_closes_the_oldest),
	    T(test_http_pool_never_shares_between_targets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
