// SPDX-License-Identifier: MIT
/* One HTTP proxy client, from its first byte to its close (or to the splice,
 * for CONNECT). The exchange with the destination (FORWARD, and which
 * connection a request goes on) is http_relay.c's.
 *
 *   HEAD ---head complete, CONNECT------------> OPENING --ok--> "200" --> splice
 *    ^  \--head complete, absolute-form--+       |  \--failed--> CLOSING (403/502/504)
 *    |    same host:port kept alive, or  |       |
 *    |    one in the pool (retryable)?   |       |
 *    |        yes -----------------------+-------+--ok--> FORWARD
 *    |                                                      |
 *    +---response done, both sides keep-alive---------------+
 *   HEAD --malformed (400), limits (414, 431), 407, timeout (408)--> CLOSING
 *   FORWARD --no answer yet: upstream closed, reset, malformed (502)--> CLOSING
 *           --after the response started: any failure--> closed with a reset
 *   CLOSING: the last answer is flushed, our side shut, and what the client
 *   still sends read and dropped until it closes (or LINGER_MS, LINGER_MAX).
 *
 * Timer (one per client): HEAD between requests: idle_timeout (closed);
 * HEAD from a request's first byte: header_timeout (408; the first request
 * is bound by the proxy's handshake deadline); OPENING: none (the engine
 * answers within its ConnectTimeout); FORWARD: idle_timeout without
 * progress (504, or a reset once the response started); CLOSING: one
 * handshake timeout for the client to take its answer, then LINGER_MS.
 *
 * The client is read only while the request needs bytes and its buffer has
 * room (the head limit, at least 16 KiB). Bytes of a next request that came
 * early wait in that buffer; an idle client holds none.
 */
#include "proxy/http_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "netstack/splice.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "platform/sockaddr.h"
#include "proxy/http_conn_int.h"
#include "proxy/socks5_conn.h"

#define MOD "http"

#define BUF_MIN	   (16u * 1024) /* per direction */
#define LINGER_MS  2000		/* reading what a closed client still sends ... */
#define LINGER_MAX (1u << 20)	/* ... so that our last answer is not lost to a RST */

void nt_http_config_init(struct nt_http_config *cfg)
{
	nt_http_limits_init(&cfg->limits);
	cfg->idle_timeout_ms = NT_HTTP_IDLE_TIMEOUT_MS_DEFAULT;
	cfg->header_timeout_ms = NT_HTTP_HEADER_TIMEOUT_MS_DEFAULT;
	cfg->pool_idle_ms = NT_HTTP_POOL_IDLE_MS_DEFAULT;
}

/* ---- deadlines ---- */

int nt_http_fin(struct conn *c, enum fin how)
{
	if (c->fin == FIN_NONE)
		c->fin = how;
	return -1;
}

void nt_http_set_deadline(struct conn *c, uint64_t deadline)
{
	if (deadline == c->deadline)
		return;
	c->deadline = deadline;
	if (deadline)
		(void)nt_timer_arm_at(c->loop, &c->timer, deadline);
	else
		nt_timer_cancel(c->loop, &c->timer);
}

uint64_t nt_http_ms_from_now(const struct conn *c, uint32_t ms)
{
	return nt_loop_now(c->loop) + (uint64_t)ms * 1000000u;
}

/* ---- the client ---- */

ssize_t nt_http_send(int fd, const struct iovec *iov, int iovcnt, bool *blocked)
{
	struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
	ssize_t n;

	do {
		n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		*blocked = true;
		return -EAGAIN;
	}
	return -errno;
}

ssize_t nt_http_recv(int fd, uint8_t *buf, size_t cap)
{
	ssize_t n;

	do {
		n = recv(fd, buf, cap, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

ssize_t nt_http_client_send(struct conn *c, const uint8_t *buf, size_t len)
{
	return nt_http_client_send2(c, buf, len, NULL, 0);
}

ssize_t nt_http_client_send2(struct conn *c, const uint8_t *a, size_t alen, const uint8_t *b,
			     size_t blen)
{
	struct iovec iov[2] = {{.iov_base = (void *)a, .iov_len = alen},
			       {.iov_base = (void *)b, .iov_len = blen}};

	return nt_http_send(c->fd, iov, blen ? 2 : 1, &c->client_blocked);
}

ssize_t nt_http_client_read(struct conn *c)
{
	struct nt_http_buf *b = &c->in;
	ssize_t n;

	if (!nt_http_buf_ensure(b, c->buf_cap))
		return -ENOMEM;
	nt_http_buf_compact(b);
	if (b->len == b->cap)
		return -ENOBUFS;
	n = nt_http_recv(c->fd, b->p + b->len, b->cap - b->len);
	if (n > 0) {
		b->len += (size_t)n;
		if (b->len > b->hw)
			b->hw = b->len;
		return n;
	}
	if (n == 0)
		c->in_eof = true;
	return n;
}

int nt_http_client_gone(struct conn *c)
{
	if (c->phase == P_OPENING || c->phase == P_FORWARD || (c->phase == P_HEAD && c->rq_started))
		c->st->client_aborts++;
	nt_debug(MOD, "event=client_gone phase=%d", c->phase);
	return nt_http_fin(c, FIN_QUIET);
}

/* ---- ending, and between requests ---- */

static void finish(struct conn *c)
{
	bool mid = c->phase == P_FORWARD || c->phase == P_OPENING;

	nt_timer_cancel(c->loop, &c->timer);
	nt_timer_cancel(c->loop, &c->kick);
	if (c->fin == FIN_RESET)
		nt_conn_life_fail(&c->life, "reset after the response started");
	nt_conn_life_end(&c->life, mid ? "the client left mid-request" : NULL);
	if (c->req) {
		nt_engine_cancel(c->req);
		c->req = NULL;
		nt_proxy_stats(c->p)->engine_canceled++;
	}
	if (mid)
		nt_http_relay_close(c, true);
	else
		nt_http_relay_release(c);
	if (c->fd >= 0) {
		nt_loop_forget_fd(c->loop, c->fd); /* no dup of it: close suffices */
		if (c->fin == FIN_RESET)
			nt_socket_reset_close(c->fd);
		else
			close(c->fd);
	}
	nt_http_relay_clear(c);
	nt_http_buf_free(&c->in, true); /* it may hold a next request's credentials */
	nt_proxy_client_remove(c->p, &c->link);
	free(c);
}

static void conn_destroy(struct nt_proxy_client *link)
{
	struct conn *c = (struct conn *)link;

	(void)nt_http_fin(c, FIN_QUIET);
	finish(c);
}

int nt_http_next_request(struct conn *c)
{
	c->phase = P_HEAD;
	nt_http_request_init(&c->rq);
	c->rq_started = false;
	nt_http_set_deadline(c, nt_http_ms_from_now(c, c->hp->cfg.idle_timeout_ms));
	if (nt_http_buf_avail(&c->in) == 0)
		nt_http_buf_free(&c->in, true); /* an idle client holds no buffer */
	return 1;
}

int nt_http_start_closing(struct conn *c)
{
	c->phase = P_CLOSING;
	c->lingering = c->no_linger = false;
	nt_http_set_deadline(c, nt_loop_now(c->loop) + nt_proxy_handshake_timeout_ns(c->p));
	return 1;
}

/* An answer of our own, then close. Once part of a response went to the
 * client nothing can be said any more: the client is reset instead, so
 * that it cannot take a cut response for a whole one. */
int nt_http_reply_error(struct conn *c, int status, const char *why)
{
	char msg[NT_HTTP_ERROR_MAX];
	size_t len;

	nt_debug(MOD, "event=error status=%d reason=\"%s\"", status, why);
	if (c->phase == P_OPENING || c->phase == P_FORWARD)
		nt_conn_life_fail(&c->life, why);
	if (c->resp_sent)
		return nt_http_fin(c, FIN_RESET);
	if (c->req) {
		nt_engine_cancel(c->req);
		c->req = NULL;
	}
	if (c->phase == P_HEAD)
		nt_http_relay_release(c); /* a kept one, idle: another client may use it */
	else
		nt_http_relay_close(c, true);
	nt_http_relay_clear(c);
	len = nt_http_build_error(msg, status, why, c->rq.is_head);
	c->out = malloc(len);
	if (!c->out)
		return nt_http_fin(c, FIN_QUIET);
	memcpy(c->out, msg, len);
	c->out_len = len;
	c->resp_sent = true;
	return nt_http_start_closing(c);
}

/* ---- opening ---- */

static void on_open(void *arg, const struct nt_open_result *res);

int nt_http_open_upstream(struct conn *c)
{
	int rc = nt_engine_open_tcp(nt_proxy_engine(c->p), &c->target, on_open, c, &c->req);

	if (rc < 0) {
		c->req = NULL;
		c->st->connect_failed[NT_FAIL_GENERAL]++;
		nt_conn_life_fail(&c->life, nt_fail_text(NT_FAIL_GENERAL));
		return nt_http_reply_error(c, 502, nt_fail_text(NT_FAIL_GENERAL));
	}
	c->life.r.cid = nt_engine_req_id(c->req);
	c->phase = P_OPENING;
	nt_http_set_deadline(c, 0);
	return 1;
}

/* The tunnel is the splice's from here: the 200 goes first (a fresh socket
 * buffer always has room for it: every answer before it was flushed). */
static void connect_established(struct conn *c, const struct nt_open_result *res)
{
	static const char ok[] = NT_HTTP_CONNECT_OK;
	const uint8_t *pending = c->in.p ? c->in.p + c->in.off : NULL;
	size_t plen = nt_http_buf_avail(&c->in);
	int fd = c->fd, rc;

	if (nt_http_client_send(c, (const uint8_t *)ok, sizeof(ok) - 1) !=
	    (ssize_t)(sizeof(ok) - 1)) {
		nt_proxy_release_result(res);
		(void)nt_http_client_gone(c);
		finish(c);
		return;
	}
	c->st->connects++;
	c->st->bytes_down += sizeof(ok) - 1;
	c->fd = -1; /* with its registration: the splice takes both over */
	rc = nt_conn_life_splice(&c->life, fd, res, pending, plen);
	if (rc < 0) {
		nt_proxy_stats(c->p)->splice_failed++;
		nt_warn(MOD, "event=splice_failed err=\"%s\"", strerror(-rc));
	}
	(void)nt_http_fin(c, FIN_QUIET);
	finish(c);
}

static void on_open(void *arg, const struct nt_open_result *res)
{
	struct conn *c = arg;
	enum nt_fail fail = res->fail;

	c->req = NULL;
	nt_conn_life_opened(&c->life, res);
	if (fail == NT_FAIL_NONE && !res->flow && res->fd < 0)
		fail = NT_FAIL_GENERAL; /* nothing to talk to: not a success */
	if (fail != NT_FAIL_NONE) {
		if ((unsigned)fail < NT_FAIL_COUNT)
			c->st->connect_failed[fail]++;
		(void)nt_http_reply_error(c, nt_fail_http(fail),
					  res->detail ? res->detail : nt_fail_text(fail));
	} else if (c->is_connect) {
		connect_established(c, res);
		return;
	} else {
		nt_http_relay_opened(c, res);
	}
	nt_http_drive(c);
}

/* ---- a request head ---- */

static bool auth_ok(struct conn *c, const uint8_t *head)
{
	const char *user = nt_proxy_username(c->p);
	const struct nt_http_field *f;

	if (!user)
		return true;
	if (c->rq.auth < 0) {
		c->st->auth_missing++;
		return false;
	}
	f = &c->rq.h.fields[c->rq.auth];
	if (nt_http_basic_auth_ok(head + f->value, f->value_len, user, nt_proxy_password(c->p)))
		return true;
	c->st->auth_failed++;
	nt_info(MOD, "event=auth_failed");
	return false;
}

static int on_request(struct conn *c, size_t head_len)
{
	struct nt_http_request *r = &c->rq;
	const uint8_t *head = c->in.p + c->in.off;
	char host[NT_TARGET_NAME_MAX + 1];

	c->st->requests++;
	if (!auth_ok(c, head))
		return nt_http_reply_error(c, 407, "proxy authentication required");
	c->target = r->target;
	c->is_head = r->is_head;
	nt_debug(MOD, "event=request method=%.*s target=%s port=%u", (int)r->method_len,
		 head + r->method, nt_target_host(&c->target, host, sizeof(host)), c->target.port);
	if (r->is_connect) {
		nt_conn_life_end(&c->life, NULL);
		nt_conn_life_begin(&c->life, c->loop, c->fd, &c->target);
		nt_http_buf_consume(&c->in, head_len, true);
		nt_http_relay_release(c);
		c->is_connect = true;
		return nt_http_open_upstream(c);
	}
	return nt_http_relay_request(c, head_len);
}

static int step_head(struct conn *c)
{
	size_t avail = nt_http_buf_avail(&c->in);
	ssize_t n;
	int rc;

	if (avail > 0) {
		if (!c->rq_started) {
			c->rq_started = true;
			nt_http_set_deadline(
			    c, c->first_deadline
				   ? c->first_deadline
				   : nt_http_ms_from_now(c, c->hp->cfg.header_timeout_ms));
			c->first_deadline = 0;
		}
		rc = nt_http_parse_request(&c->rq, c->in.p + c->in.off, avail, &c->hp->cfg.limits);
		if (rc > 0)
			return on_request(c, (size_t)rc);
		if (rc < 0) {
			if (c->rq.h.status == 414)
				c->st->line_too_long++;
			else if (c->rq.h.status == 431)
				c->st->head_too_large++;
			else
				c->st->bad_request++;
			return nt_http_reply_error(c, c->rq.h.status, c->rq.h.why);
		}
	}
	if (c->in_eof) {
		if (avail > 0)
			c->st->client_aborts++;
		return nt_http_fin(c, FIN_QUIET);
	}
	n = nt_http_client_read(c);
	if (n == -EAGAIN)
		return 0;
	if (n == -ENOBUFS) { /* cannot be: the buffer holds a head at its limit */
		c->st->head_too_large++;
		return nt_http_reply_error(c, 431, "request header section too large");
	}
	if (n < 0)
		return nt_http_client_gone(c);
	return 1; /* data, or EOF: seen on the next round */
}

static int step_opening(struct conn *c)
{
	ssize_t n;

	if (!c->is_connect && (nt_http_relay_scan_request(c) < 0 || c->phase != P_OPENING))
		return c->fin ? -1 : 1;
	if (c->in_eof) {
		/* A request that is all here may still be answered; a tunnel
		 * or a body cut short is over. */
		if (c->is_connect || !c->req_end)
			return nt_http_client_gone(c);
		return 0;
	}
	n = nt_http_client_read(c);
	if (n == -EAGAIN || n == -ENOBUFS)
		return 0;
	if (n < 0)
		return nt_http_client_gone(c);
	return 1;
}

/* The answer is flushed, then our side shut; what the client still sends
 * (a body we will not forward) is read and dropped until it closes, for a
 * while: closing with unread input would reset the connection and could
 * destroy the answer before the client read it. */
static int step_closing(struct conn *c)
{
	uint8_t scratch[4096];
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = nt_http_client_send(c, c->out + c->out_off, c->out_len - c->out_off);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return nt_http_fin(c, FIN_QUIET);
		c->out_off += (size_t)n;
	}
	if (c->no_linger)
		return nt_http_fin(c, FIN_QUIET);
	if (!c->lingering) {
		c->lingering = true;
		(void)shutdown(c->fd, SHUT_WR);
		nt_http_set_deadline(c, nt_http_ms_from_now(c, LINGER_MS));
	}
	for (;;) {
		n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0 || (c->lingered += (size_t)n) > LINGER_MAX)
			return nt_http_fin(c, FIN_QUIET);
	}
}

/* ---- events ---- */

static void update_events(struct conn *c)
{
	bool room = nt_http_buf_room(&c->in, c->buf_cap) > 0 && !c->in_eof;
	uint32_t ev = 0;

	switch (c->phase) {
	case P_HEAD:
	case P_OPENING:
		ev = room ? NT_EV_READ : 0;
		break;
	case P_FORWARD:
		ev = room && !c->req_end ? NT_EV_READ : 0;
		break;
	case P_CLOSING:
		ev = c->lingering ? NT_EV_READ : 0;
		break;
	}
	if (c->client_blocked)
		ev |= NT_EV_WRITE;
	/* A client that is not to be read is usually silent (its request is
	 * all here): reading stays watched until it proves otherwise, which
	 * saves two epoll_ctl per exchange. Nothing is read meanwhile: the
	 * steps read only what their state allows. */
	c->want = ev;
	if (ev & NT_EV_READ)
		c->read_unwanted = false;
	else if ((c->events & NT_EV_READ) && !c->read_unwanted)
		ev |= NT_EV_READ;
	if (ev != c->events && nt_loop_mod_fd(c->loop, c->fd, ev) == 0)
		c->events = ev;
	if (c->phase == P_FORWARD)
		nt_http_relay_watch(c);
}

void nt_http_drive(struct conn *c)
{
	int round, rc = 0;

	for (round = 0; round < NT_HTTP_DRIVE_ROUNDS && c->fin == FIN_NONE; round++) {
		switch (c->phase) {
		case P_HEAD:
			rc = step_head(c);
			break;
		case P_OPENING:
			rc = step_opening(c);
			break;
		case P_FORWARD:
			rc = nt_http_relay_step(c);
			break;
		case P_CLOSING:
			rc = step_closing(c);
			break;
		}
		if (rc <= 0)
			break;
	}
	if (c->fin != FIN_NONE) {
		finish(c);
		return;
	}
	if (round == NT_HTTP_DRIVE_ROUNDS)
		(void)nt_timer_arm(c->loop, &c->kick, 0); /* more to do: after the others */
	update_events(c);
}

static void on_client_fd(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	(void)fd;
	if (events & NT_EV_ERROR) {
		/* Reset, or both directions shut: nobody to answer. */
		(void)nt_http_client_gone(c);
		finish(c);
		return;
	}
	if (events & NT_EV_WRITE)
		c->client_blocked = false;
	if ((events & NT_EV_READ) && !(c->want & NT_EV_READ))
		c->read_unwanted = true;
	nt_http_drive(c);
}

static void on_timer(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct conn *c = arg;
	uint64_t until;

	(void)loop;
	(void)timer;
	c->deadline = 0;
	switch (c->phase) {
	case P_HEAD:
		if (c->rq_started) {
			c->st->header_timeouts++;
			(void)nt_http_reply_error(c, 408, "request head not complete in time");
		} else {
			c->st->idle_timeouts++;
			(void)nt_http_fin(c, FIN_QUIET);
		}
		break;
	case P_FORWARD:
		until = c->progress_ns + (uint64_t)c->hp->cfg.idle_timeout_ms * 1000000u;
		if (nt_loop_now(c->loop) < until) {
			nt_http_set_deadline(c, until);
			return;
		}
		c->st->forward_timeouts++;
		(void)nt_http_reply_error(c, 504, "no answer from the destination in time");
		break;
	case P_OPENING:
		return;
	case P_CLOSING:
		(void)nt_http_fin(c, FIN_QUIET);
		break;
	}
	nt_http_drive(c);
}

static void on_kick(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	(void)loop;
	(void)timer;
	nt_http_drive(arg);
}

int nt_http_conn_start(struct nt_proxy *p, int fd, uint64_t deadline_ns)
{
	struct conn *c = calloc(1, sizeof(*c));
	int rc = -ENOMEM;

	if (!c)
		goto err_close;
	c->p = p;
	c->hp = nt_proxy_http(p);
	/* The head limit's size, at least 16 KiB. */
	c->buf_cap = (size_t)c->hp->cfg.limits.head_max + 2;
	if (c->buf_cap < BUF_MIN)
		c->buf_cap = BUF_MIN;
	c->st = &c->hp->c;
	c->loop = nt_proxy_loop(p);
	c->fd = fd;
	c->up.fd = -1;
	c->phase = P_HEAD;
	c->first_deadline = deadline_ns;
	c->link.destroy = conn_destroy;
	nt_http_request_init(&c->rq);
	nt_timer_init(&c->timer, on_timer, c);
	nt_timer_init(&c->kick, on_kick, c);
	rc = nt_timer_arm_at(c->loop, &c->timer, deadline_ns);
	if (rc < 0)
		goto err_free;
	c->deadline = deadline_ns;
	rc = nt_loop_take_fd(c->loop, fd, NT_EV_READ, on_client_fd, c);
	if (rc < 0)
		goto err_timer;
	c->events = c->want = NT_EV_READ;
	c->st->clients++;
	nt_proxy_client_add(p, &c->link);
	/* The request is usually here already: no need to wait for the loop. */
	nt_http_drive(c);
	return 0;

err_timer:
	nt_timer_cancel(c->loop, &c->timer);
err_free:
	free(c);
err_close:
	nt_loop_forget_fd(nt_proxy_loop(p), fd);
	close(fd);
	return rc;
}
