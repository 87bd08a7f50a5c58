/* One HTTP proxy client, from its first byte to its close (or to the splice,
 * for CONNECT).
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
 * FORWARD moves both directions at once (a server may answer before the
 * request body ends, or send 100 Continue first):
 *   up:   the rebuilt request head, then the body as framed by the client
 *         (Content-Length, chunked: chunk sizes followed, bytes verbatim);
 *   down: response heads (1xx relayed, then the final one, rebuilt without
 *         hop-by-hop fields), then the body by its framing (none for HEAD,
 *         1xx, 204, 304; Content-Length; chunked; until close).
 * The exchange is done when both are; the client connection stays open
 * when both it and the response allow, the upstream connection is kept
 * (for a next request to the same host:port) when the response allows and
 * both bodies ended exactly. A kept connection found closed or reset
 * before any byte of an answer, for a request without body and with an
 * idempotent method, is replaced once by a fresh one (RFC 9110, 9.2.2).
 *
 * Kept connections outlive their client (http_pool.c): one this client no
 * longer needs (it ends: said close, HTTP/1.0, EOF, gone or timed out in
 * HEAD; or its next request goes elsewhere) is parked in the proxy's pool
 * if still alive, and a request from any client without a connection to
 * its host:port takes the most recent one parked there, but only a request
 * that may be sent again (c->retryable: the rule above turns a connection
 * the server closed meanwhile into a transparent retry; a POST always gets
 * a fresh connection). The request to the server never says close on its
 * client's behalf; what the client is told is decided as before.
 *
 * Timer (one per client): HEAD between requests: idle_timeout (closed);
 * HEAD from a request's first byte: header_timeout (408; the first request
 * is bound by the proxy's handshake deadline); OPENING: none (the engine
 * answers within its ConnectTimeout); FORWARD: idle_timeout without
 * progress (504, or a reset once the response started); CLOSING: one
 * handshake timeout for the client to take its answer, then LINGER_MS.
 *
 * Buffers, bounded: one per direction (the head limit, at least 16 KiB);
 * the client is read only while the request needs bytes and its buffer has
 * room, the upstream only while the client took what came before. Bytes of
 * a next request that came early wait in the client's buffer. A tunnel
 * flow is read through a pipe (the flow hands its data to descriptors
 * only; an emptied pipe is kept for the next flow, NT_HTTP_PIPE_POOL of
 * them), except for body bytes that are all the response's: those go from
 * the flow to the client's socket directly.
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

#include "netstack/flow.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "platform/sockaddr.h"
#include "proxy/socks5_conn.h"
#include "proxy/splice.h"

#define MOD "http"

#define BUF_MIN	     (16u * 1024) /* per direction */
#define UP_PIECE     (16u * 1024) /* one nt_flow_write */
#define DRIVE_ROUNDS 64		  /* steps per event before yielding to others */
#define LINGER_MS    2000	  /* reading what a closed client still sends ... */
#define LINGER_MAX   (1u << 20)	  /* ... so that our last answer is not lost to a RST */

enum phase { P_HEAD, P_OPENING, P_FORWARD, P_CLOSING };
enum rstate { R_HEAD, R_BODY, R_DONE };
enum fin { FIN_NONE, FIN_QUIET, FIN_RESET };

/* Data in [off, len); nothing was ever written past hw (a wipe stops there:
 * wiping the whole capacity, 16 KiB or more, was a memset per connection). */
struct buf {
	uint8_t *p;
	size_t cap, off, len, hw;
};

struct conn {
	struct nt_proxy_client link; /* first: the proxy's list holds &link */
	struct nt_proxy *p;
	struct nt_http_proxy *hp;
	struct nt_http_counters *st;
	struct nt_loop *loop;
	int fd;
	uint32_t events;    /* as registered with the loop */
	uint32_t want;	    /* what the state needs; reading is dropped lazily */
	bool read_unwanted; /* readable while not wanted: stop watching it now */
	enum phase phase;
	enum fin fin;
	struct nt_timer timer, kick;
	uint64_t deadline, first_deadline, progress_ns;
	struct nt_engine_req *req;
	bool in_eof, client_blocked;
	bool lingering; /* CLOSING: answer sent, our side shut, input dropped */
	bool no_linger; /* CLOSING: the client sends nothing more, all it sent was read */
	size_t lingered;

	struct buf in; /* from the client */
	struct nt_http_request rq;
	bool rq_started;

	bool has_up;
	struct nt_http_up up;

	/* the exchange */
	struct nt_target target;
	bool is_connect, is_head, keep_client, retryable, reused;
	uint8_t *uphead;
	size_t uphead_off, uphead_len;
	enum nt_http_body req_body;
	uint64_t req_left;
	struct nt_http_chunked req_chunk;
	size_t req_ready; /* scanned body bytes at in.off, not sent yet */
	bool req_end, req_done;

	struct buf uin; /* from the upstream */
	struct nt_http_response rs;
	enum rstate rstate;
	enum nt_http_body resp_body;
	uint64_t resp_left;
	struct nt_http_chunked resp_chunk;
	size_t resp_ready; /* body bytes at uin.off for the client */
	bool resp_end, resp_keep, resp_sent, got_bytes, close_after;
	bool up_wdead; /* the upstream took no more: its answer may still come */
	uint8_t *out;  /* a head (or an error) for the client */
	size_t out_off, out_len;
};

static void drive(struct conn *c);

void nt_http_config_init(struct nt_http_config *cfg)
{
	nt_http_limits_init(&cfg->limits);
	cfg->idle_timeout_ms = NT_HTTP_IDLE_TIMEOUT_MS_DEFAULT;
	cfg->header_timeout_ms = NT_HTTP_HEADER_TIMEOUT_MS_DEFAULT;
	cfg->pool_idle_ms = NT_HTTP_POOL_IDLE_MS_DEFAULT;
}

static size_t buf_cap(const struct conn *c)
{
	size_t cap = (size_t)c->hp->cfg.limits.head_max + 2;

	return cap < BUF_MIN ? BUF_MIN : cap;
}

static bool buf_ensure(struct conn *c, struct buf *b)
{
	if (b->p)
		return true;
	b->cap = buf_cap(c);
	b->off = b->len = b->hw = 0;
	b->p = malloc(b->cap);
	return b->p != NULL;
}

static void buf_free(struct buf *b, bool wipe)
{
	if (b->p && wipe)
		sodium_memzero(b->p, b->hw);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static size_t buf_avail(const struct buf *b)
{
	return b->len - b->off;
}

/* Room once compacted. */
static size_t buf_room(const struct conn *c, const struct buf *b)
{
	return b->p ? b->cap - buf_avail(b) : buf_cap(c);
}

static void buf_consume(struct buf *b, size_t n, bool wipe)
{
	if (wipe)
		sodium_memzero(b->p + b->off, n);
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

/* Makes room at the tail; offsets relative to b->off stay valid. */
static void buf_compact(struct buf *b)
{
	if (b->off == 0 || b->len < b->cap)
		return;
	memmove(b->p, b->p + b->off, b->len - b->off);
	b->len -= b->off;
	b->off = 0;
}

static int fin(struct conn *c, enum fin how)
{
	if (c->fin == FIN_NONE)
		c->fin = how;
	return -1;
}

static void set_deadline(struct conn *c, uint64_t deadline)
{
	if (deadline == c->deadline)
		return;
	c->deadline = deadline;
	if (deadline)
		(void)nt_timer_arm_at(c->loop, &c->timer, deadline);
	else
		nt_timer_cancel(c->loop, &c->timer);
}

static uint64_t ms_from_now(const struct conn *c, uint32_t ms)
{
	return nt_loop_now(c->loop) + (uint64_t)ms * 1000000u;
}

/* For logs: the parser let only [A-Za-z0-9._-] into a name. */
static const char *target_str(const struct nt_target *t, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (t->kind == NT_TARGET_IPV4)
		inet_ntop(AF_INET, t->addr, ip, sizeof(ip));
	else if (t->kind == NT_TARGET_IPV6)
		inet_ntop(AF_INET6, t->addr, ip, sizeof(ip));
	snprintf(buf, len, "%s port=%u", t->kind == NT_TARGET_NAME ? t->name : ip, t->port);
	return buf;
}

/* ---- the upstream connection ---- */

static void on_up_fd(struct nt_loop *loop, int fd, uint32_t events, void *arg);
static void on_up_flow(void *arg, struct nt_flow *f, enum nt_flow_event ev);
static const struct nt_flow_ops up_flow_ops = {.event = on_up_flow};

static void up_watch(struct conn *c, uint32_t want)
{
	struct nt_http_up *u = &c->up;

	if (!c->has_up || u->fd < 0)
		return;
	if (u->hup)
		want = 0; /* it would keep firing: read when the pumps ask */
	if (want == 0) {
		if (u->watched)
			nt_loop_del_fd(c->loop, u->fd);
		u->watched = false;
		return;
	}
	if (!u->watched) {
		/* The engine may hand the socket over still registered. */
		u->watched = nt_loop_take_fd(c->loop, u->fd, want, on_up_fd, c) == 0;
		u->events = want;
	} else if (u->events != want && nt_loop_mod_fd(c->loop, u->fd, want) == 0) {
		u->events = want;
	}
}

static void up_close(struct conn *c, bool abort)
{
	if (!c->has_up)
		return;
	nt_http_up_close(c->hp, c->loop, &c->up, abort);
	c->has_up = false;
}

static int up_install(struct conn *c, const struct nt_open_result *res)
{
	struct nt_http_up *u = &c->up;

	memset(u, 0, sizeof(*u));
	u->fd = -1;
	u->target = c->target;
	if (res->flow) {
		int rc = nt_http_pipe_get(c->hp, u->pipe);

		if (rc < 0) {
			nt_flow_abort(res->flow);
			return rc;
		}
		u->flow = res->flow;
		nt_flow_set_ops(u->flow, &up_flow_ops, c);
	} else {
		u->fd = res->fd;
	}
	c->has_up = true;
	return 0;
}

/* Still usable for another request: no error, no EOF, nothing unasked. */
static bool up_alive(struct conn *c)
{
	uint8_t b;
	ssize_t n;

	if (c->up.flow)
		return nt_flow_error(c->up.flow) == NT_FAIL_NONE && !nt_flow_rx_eof(c->up.flow) &&
		       nt_flow_rx_queued(c->up.flow) == 0 && c->up.piped == 0;
	n = recv(c->up.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Idle and alive (up_alive), its last response ended exactly: for the next
 * client that wants its host:port. */
static void up_park(struct conn *c)
{
	nt_http_pool_put(c->hp, c->loop, &c->up);
	c->has_up = false;
}

/* An idle kept connection this client no longer needs. */
static void up_release(struct conn *c)
{
	if (c->has_up && up_alive(c))
		up_park(c);
	else
		up_close(c, false);
}

/* A connection another client left, taken for a request that can be sent
 * once more should it turn out closed meanwhile (c->retryable). */
static bool up_from_pool(struct conn *c)
{
	int tries;

	for (tries = 0; tries < NT_HTTP_UP_POOL; tries++) {
		if (!nt_http_pool_take(c->hp, &c->target, &c->up))
			return false;
		c->has_up = true;
		if (c->up.flow)
			nt_flow_set_ops(c->up.flow, &up_flow_ops, c);
		else if (c->up.watched &&
			 nt_loop_take_fd(c->loop, c->up.fd, c->up.events, on_up_fd, c) < 0)
			c->up.hup = true; /* cannot be watched: not used */
		if (!c->up.hup && up_alive(c))
			return true;
		c->st->upstream_pool_dropped++;
		up_close(c, false);
	}
	return false;
}

/* Bytes taken, -EAGAIN (wait: WRITABLE or EPOLLOUT), or an error. */
static ssize_t up_send(struct conn *c, const uint8_t *buf, size_t len)
{
	struct nt_http_up *u = &c->up;
	ssize_t n;
	int rc;

	if (u->write_blocked)
		return -EAGAIN;
	if (u->flow) {
		len = len < UP_PIECE ? len : UP_PIECE;
		for (;;) {
			rc = nt_flow_write(u->flow, buf, len);
			if (rc == -EMSGSIZE && len > 512) {
				len /= 2; /* a flow layer configured with small chunks */
				continue;
			}
			break;
		}
		if (rc == -ENOBUFS) {
			u->write_blocked = true;
			return -EAGAIN;
		}
		return rc < 0 ? rc : (ssize_t)len;
	}
	do {
		n = send(u->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		u->write_blocked = true;
		return -EAGAIN;
	}
	return -errno;
}

/* Bytes read, 0 at EOF, -EAGAIN, or an error. */
static ssize_t up_recv(struct conn *c, uint8_t *buf, size_t cap)
{
	struct nt_http_up *u = &c->up;
	ssize_t n;

	if (u->flow) {
		if (u->piped == 0) {
			if (nt_flow_error(u->flow) != NT_FAIL_NONE)
				return -ECONNRESET;
			n = nt_flow_read_to_fd(u->flow, u->pipe[1]);
			if (n == 0)
				return nt_flow_rx_eof(u->flow) ? 0 : -EAGAIN;
			if (n < 0)
				return n;
			u->piped += (size_t)n;
		}
		do {
			n = read(u->pipe[0], buf, cap < u->piped ? cap : u->piped);
		} while (n < 0 && errno == EINTR);
		if (n <= 0)
			return n < 0 ? -errno : -EIO; /* the pipe lost what we put in */
		u->piped -= (size_t)n;
		return n;
	}
	do {
		n = recv(u->fd, buf, cap, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

/* Why the upstream failed, for a 502 body. */
static const char *up_error_text(struct conn *c, ssize_t err)
{
	if (c->up.flow && nt_flow_error(c->up.flow) != NT_FAIL_NONE)
		return nt_fail_text(nt_flow_error(c->up.flow));
	if (err == 0)
		return "the destination closed the connection without an answer";
	if (err == -ECONNREFUSED)
		return nt_fail_text(NT_FAIL_REFUSED);
	return "connection to the destination lost";
}

/* ---- the client ---- */

/* Bytes taken, -EAGAIN (then EPOLLOUT is watched), or an error. */
static ssize_t client_send(struct conn *c, const uint8_t *buf, size_t len)
{
	ssize_t n;

	do {
		n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		c->client_blocked = true;
		return -EAGAIN;
	}
	return -errno;
}

/* client_send of a then b, in one system call. */
static ssize_t client_send2(struct conn *c, const uint8_t *a, size_t alen, const uint8_t *b,
			    size_t blen)
{
	struct iovec iov[2] = {{.iov_base = (void *)a, .iov_len = alen},
			       {.iov_base = (void *)b, .iov_len = blen}};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = blen ? 2 : 1};
	ssize_t n;

	do {
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		c->client_blocked = true;
		return -EAGAIN;
	}
	return -errno;
}

/* Bytes read, 0 at EOF (in_eof set), -EAGAIN, -ENOBUFS (no room), or an
 * error. */
static ssize_t client_read(struct conn *c)
{
	struct buf *b = &c->in;
	ssize_t n;

	if (!buf_ensure(c, b))
		return -ENOMEM;
	buf_compact(b);
	if (b->len == b->cap)
		return -ENOBUFS;
	do {
		n = recv(c->fd, b->p + b->len, b->cap - b->len, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n > 0) {
		b->len += (size_t)n;
		if (b->len > b->hw)
			b->hw = b->len;
		return n;
	}
	if (n == 0) {
		c->in_eof = true;
		return 0;
	}
	return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

static int client_gone(struct conn *c)
{
	if (c->phase == P_OPENING || c->phase == P_FORWARD || (c->phase == P_HEAD && c->rq_started))
		c->st->client_aborts++;
	nt_debug(MOD, "event=client_gone phase=%d", c->phase);
	return fin(c, FIN_QUIET);
}

/* ---- ending ---- */

static void release_result(const struct nt_open_result *res)
{
	if (res->flow)
		nt_flow_abort(res->flow);
	else if (res->fd >= 0)
		close(res->fd);
}

static void exchange_clear(struct conn *c)
{
	free(c->uphead);
	free(c->out);
	c->uphead = c->out = NULL;
	c->uphead_off = c->uphead_len = c->out_off = c->out_len = 0;
	buf_free(&c->uin, false);
	c->req_ready = c->resp_ready = 0;
	c->req_end = c->req_done = c->resp_end = c->resp_sent = c->got_bytes = false;
	c->up_wdead = false;
	c->is_connect = c->is_head = c->reused = c->retryable = false;
}

static void finish(struct conn *c)
{
	bool mid = c->phase == P_FORWARD || c->phase == P_OPENING;

	nt_timer_cancel(c->loop, &c->timer);
	nt_timer_cancel(c->loop, &c->kick);
	if (c->req) {
		nt_engine_cancel(c->req);
		c->req = NULL;
		nt_proxy_stats(c->p)->engine_canceled++;
	}
	if (mid)
		up_close(c, true);
	else
		up_release(c);
	if (c->fd >= 0) {
		nt_loop_forget_fd(c->loop, c->fd); /* no dup of it: close suffices */
		if (c->fin == FIN_RESET)
			nt_socket_reset_close(c->fd);
		else
			close(c->fd);
	}
	exchange_clear(c);
	buf_free(&c->in, true); /* it may hold a next request's credentials */
	nt_proxy_client_remove(c->p, &c->link);
	free(c);
}

static void conn_destroy(struct nt_proxy_client *link)
{
	struct conn *c = (struct conn *)link;

	(void)fin(c, FIN_QUIET);
	finish(c);
}

/* The last answer (if any) goes out, then the connection ends. */
static int start_closing(struct conn *c)
{
	c->phase = P_CLOSING;
	c->lingering = c->no_linger = false;
	set_deadline(c, nt_loop_now(c->loop) + nt_proxy_handshake_timeout_ns(c->p));
	return 1;
}

/* An answer of our own, then close. Once part of a response went to the
 * client nothing can be said any more: the client is reset instead, so
 * that it cannot take a cut response for a whole one. */
static int reply_error(struct conn *c, int status, const char *why)
{
	char msg[NT_HTTP_ERROR_MAX];
	size_t len;

	nt_debug(MOD, "event=error status=%d reason=\"%s\"", status, why);
	if (c->resp_sent)
		return fin(c, FIN_RESET);
	if (c->req) {
		nt_engine_cancel(c->req);
		c->req = NULL;
	}
	if (c->phase == P_HEAD)
		up_release(c); /* a kept one, idle: another client may use it */
	else
		up_close(c, true);
	exchange_clear(c);
	len = nt_http_build_error(msg, status, why, c->rq.is_head);
	c->out = malloc(len);
	if (!c->out)
		return fin(c, FIN_QUIET);
	memcpy(c->out, msg, len);
	c->out_len = len;
	c->resp_sent = true;
	return start_closing(c);
}

/* ---- opening ---- */

static void on_open(void *arg, const struct nt_open_result *res);

static int open_upstream(struct conn *c)
{
	int rc = nt_engine_open_tcp(nt_proxy_engine(c->p), &c->target, on_open, c, &c->req);

	if (rc < 0) {
		c->req = NULL;
		c->st->connect_failed[NT_FAIL_GENERAL]++;
		return reply_error(c, 502, nt_fail_text(NT_FAIL_GENERAL));
	}
	c->phase = P_OPENING;
	set_deadline(c, 0);
	return 1;
}

static int start_forward(struct conn *c)
{
	if (!buf_ensure(c, &c->uin)) {
		c->st->internal_errors++;
		return reply_error(c, 502, nt_fail_text(NT_FAIL_GENERAL));
	}
	c->phase = P_FORWARD;
	c->rstate = R_HEAD;
	nt_http_response_init(&c->rs, c->is_head);
	c->progress_ns = nt_loop_now(c->loop);
	set_deadline(c, ms_from_now(c, c->hp->cfg.idle_timeout_ms));
	return 1;
}

static int retry(struct conn *c)
{
	nt_debug(MOD, "event=retry reason=\"kept connection closed\"");
	c->st->retries++;
	up_close(c, true);
	c->reused = c->retryable = false;
	c->uphead_off = 0;
	c->uin.off = c->uin.len = 0;
	return open_upstream(c);
}

/* The tunnel is the splice's from here: the 200 goes first (a fresh socket
 * buffer always has room for it: every answer before it was flushed). */
static void connect_established(struct conn *c, const struct nt_open_result *res)
{
	static const char ok[] = NT_HTTP_CONNECT_OK;
	const uint8_t *pending = c->in.p ? c->in.p + c->in.off : NULL;
	size_t plen = buf_avail(&c->in);
	int fd = c->fd, rc;

	if (client_send(c, (const uint8_t *)ok, sizeof(ok) - 1) != (ssize_t)(sizeof(ok) - 1)) {
		release_result(res);
		(void)client_gone(c);
		finish(c);
		return;
	}
	c->st->connects++;
	c->st->bytes_down += sizeof(ok) - 1;
	c->fd = -1; /* with its registration: the splice takes both over */
	if (res->flow)
		rc = nt_splice_start_flow(c->loop, fd, res->flow, pending, plen);
	else
		rc = nt_splice_start_fd(c->loop, fd, res->fd, pending, plen);
	if (rc < 0) {
		nt_proxy_stats(c->p)->splice_failed++;
		nt_warn(MOD, "event=splice_failed err=\"%s\"", strerror(-rc));
	}
	(void)fin(c, FIN_QUIET);
	finish(c);
}

static void on_open(void *arg, const struct nt_open_result *res)
{
	struct conn *c = arg;
	enum nt_fail fail = res->fail;
	int rc;

	c->req = NULL;
	if (fail == NT_FAIL_NONE && !res->flow && res->fd < 0)
		fail = NT_FAIL_GENERAL; /* nothing to talk to: not a success */
	if (fail != NT_FAIL_NONE) {
		if ((unsigned)fail <= NT_FAIL_ADDR_TYPE)
			c->st->connect_failed[fail]++;
		(void)reply_error(c, nt_fail_http(fail), nt_fail_text(fail));
	} else if (c->is_connect) {
		connect_established(c, res);
		return;
	} else {
		rc = up_install(c, res);
		if (rc < 0) {
			c->st->internal_errors++;
			nt_warn(MOD, "event=upstream_failed err=\"%s\"", strerror(-rc));
			(void)reply_error(c, 502, nt_fail_text(NT_FAIL_GENERAL));
		} else {
			c->st->upstream_opened++;
			(void)start_forward(c);
		}
	}
	drive(c);
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
	char name[NT_TARGET_NAME_MAX + 16];
	size_t cap;
	int n;

	c->st->requests++;
	if (!auth_ok(c, head))
		return reply_error(c, 407, "proxy authentication required");
	c->target = r->target;
	c->is_head = r->is_head;
	nt_debug(MOD, "event=request method=%.*s target=%s", (int)r->method_len, head + r->method,
		 target_str(&c->target, name, sizeof(name)));
	if (r->is_connect) {
		buf_consume(&c->in, head_len, true);
		up_release(c);
		c->is_connect = true;
		return open_upstream(c);
	}
	cap = nt_http_request_out_max(r, head_len);
	c->uphead = malloc(cap);
	n = c->uphead ? nt_http_build_request(r, head, c->uphead, cap) : -ENOMEM;
	if (n < 0) {
		c->st->internal_errors++;
		return reply_error(c, 502, nt_fail_text(NT_FAIL_GENERAL));
	}
	c->uphead_len = (size_t)n;
	c->uphead_off = 0;
	c->req_body = r->h.body;
	c->req_left = r->h.content_length;
	nt_http_chunked_init(&c->req_chunk);
	c->req_ready = 0;
	c->req_end = r->h.body == NT_HTTP_BODY_NONE;
	c->req_done = false;
	c->keep_client = r->h.keep_alive;
	c->retryable = r->idempotent && r->h.body == NT_HTTP_BODY_NONE;
	c->close_after = false;
	buf_consume(&c->in, head_len, true);
	if (c->has_up && nt_http_same_target(&c->up.target, &c->target) && up_alive(c)) {
		c->reused = true;
		c->st->upstream_reused++;
		return start_forward(c);
	}
	up_release(c);
	c->reused = c->retryable && up_from_pool(c);
	if (c->reused) {
		c->st->upstream_pooled_hits++;
		return start_forward(c);
	}
	return open_upstream(c);
}

static int step_head(struct conn *c)
{
	size_t avail = buf_avail(&c->in);
	ssize_t n;
	int rc;

	if (avail > 0) {
		if (!c->rq_started) {
			c->rq_started = true;
			set_deadline(c, c->first_deadline
					    ? c->first_deadline
					    : ms_from_now(c, c->hp->cfg.header_timeout_ms));
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
			return reply_error(c, c->rq.h.status, c->rq.h.why);
		}
	}
	if (c->in_eof) {
		if (avail > 0)
			c->st->client_aborts++;
		return fin(c, FIN_QUIET);
	}
	n = client_read(c);
	if (n == -EAGAIN)
		return 0;
	if (n == -ENOBUFS) { /* cannot be: the buffer holds a head at its limit */
		c->st->head_too_large++;
		return reply_error(c, 431, "request header section too large");
	}
	if (n < 0)
		return client_gone(c);
	return 1; /* data, or EOF: seen on the next round */
}

/* ---- request body: client -> upstream ---- */

static int bad_request_body(struct conn *c)
{
	c->st->bad_request++;
	return reply_error(c, 400, "bad chunked framing in the request body");
}

/* Follows the framing over bytes received and not yet looked at. */
static int scan_request_body(struct conn *c)
{
	size_t avail = buf_avail(&c->in) - c->req_ready;
	ssize_t n;
	bool done = false;

	if (c->req_end || avail == 0)
		return 0;
	if (c->req_body == NT_HTTP_BODY_LENGTH) {
		n = (ssize_t)(avail < c->req_left ? avail : c->req_left);
		c->req_left -= (uint64_t)n;
		done = c->req_left == 0;
	} else {
		n = nt_http_chunked_scan(&c->req_chunk, c->in.p + c->in.off + c->req_ready, avail,
					 &done);
		if (n < 0)
			return bad_request_body(c);
	}
	c->req_ready += (size_t)n;
	c->req_end = done;
	return 1;
}

static int upstream_failed(struct conn *c, ssize_t err)
{
	if (c->reused && c->retryable && !c->got_bytes && !c->resp_sent)
		return retry(c);
	if (c->resp_sent) {
		c->st->upstream_aborts++;
		return fin(c, FIN_RESET);
	}
	c->st->upstream_failed++;
	return reply_error(c, 502, up_error_text(c, err));
}

/* The upstream takes no more (closed, reset): what it answered, if
 * anything, is still to be read; the reading side decides. */
static int up_write_failed(struct conn *c)
{
	nt_debug(MOD, "event=upstream_write_failed");
	c->up_wdead = true;
	return 1;
}

static int pump_up(struct conn *c)
{
	int progress = 0, round;
	ssize_t n;

	for (round = 0; round < DRIVE_ROUNDS && !c->up_wdead; round++) {
		if (c->fin || c->phase != P_FORWARD)
			return 1; /* answered or ended on the way */
		if (c->uphead_off < c->uphead_len) {
			n = up_send(c, c->uphead + c->uphead_off, c->uphead_len - c->uphead_off);
			if (n == -EAGAIN)
				return progress;
			if (n < 0)
				return up_write_failed(c);
			c->uphead_off += (size_t)n;
			c->st->bytes_up += (uint64_t)n;
			progress = 1;
			continue;
		}
		if (c->req_done)
			return progress;
		if (scan_request_body(c) < 0)
			return -1;
		if (c->req_ready > 0) {
			n = up_send(c, c->in.p + c->in.off, c->req_ready);
			if (n == -EAGAIN)
				return progress;
			if (n < 0)
				return up_write_failed(c);
			buf_consume(&c->in, (size_t)n, false);
			c->req_ready -= (size_t)n;
			c->st->bytes_up += (uint64_t)n;
			progress = 1;
			continue;
		}
		if (c->req_end) {
			c->req_done = true;
			return 1;
		}
		if (c->in_eof) {
			nt_debug(MOD, "event=client_gone_mid_body");
			return client_gone(c);
		}
		n = client_read(c);
		if (n == -EAGAIN || n == -ENOBUFS)
			return progress;
		if (n < 0)
			return client_gone(c);
		progress = 1;
	}
	return progress;
}

/* ---- response: upstream -> client ---- */

static int bad_response(struct conn *c, const char *why)
{
	c->st->bad_response++;
	if (c->resp_sent) {
		c->st->upstream_aborts++;
		return fin(c, FIN_RESET);
	}
	return reply_error(c, 502, why);
}

static int on_response_head(struct conn *c, size_t head_len)
{
	struct nt_http_response *r = &c->rs;
	bool interim = r->code < 200, close;
	size_t cap;
	int n;

	if (r->code == 101)
		return bad_response(c,
				    "the destination switched protocols (Upgrade is not relayed)");
	/* An answer came: a retry is out of the question. */
	free(c->uphead);
	c->uphead = NULL;
	c->uphead_len = c->uphead_off = 0;
	close = !interim && (!c->keep_client || r->h.body == NT_HTTP_BODY_CLOSE || c->in_eof);
	cap = nt_http_response_out_max(r, head_len);
	c->out = malloc(cap);
	n = c->out ? nt_http_build_response(r, c->uin.p + c->uin.off, close, c->out, cap) : -ENOMEM;
	if (n < 0) {
		c->st->internal_errors++;
		return bad_response(c, nt_fail_text(NT_FAIL_GENERAL));
	}
	c->out_len = (size_t)n;
	c->out_off = 0;
	c->resp_sent = true;
	buf_consume(&c->uin, head_len, false);
	if (interim) {
		nt_http_response_init(&c->rs, c->is_head);
		return 1;
	}
	c->close_after = close;
	c->resp_body = r->h.body;
	c->resp_left = r->h.content_length;
	c->resp_keep = r->h.keep_alive;
	nt_http_chunked_init(&c->resp_chunk);
	c->resp_end = r->h.body == NT_HTTP_BODY_NONE;
	c->rstate = c->resp_end ? R_DONE : R_BODY;
	return 1;
}

static int scan_response_body(struct conn *c)
{
	size_t avail = buf_avail(&c->uin) - c->resp_ready;
	ssize_t n;
	bool done = false;

	if (c->resp_end || avail == 0)
		return 0;
	if (c->resp_body == NT_HTTP_BODY_CLOSE) {
		n = (ssize_t)avail;
	} else if (c->resp_body == NT_HTTP_BODY_LENGTH) {
		n = (ssize_t)(avail < c->resp_left ? avail : c->resp_left);
		c->resp_left -= (uint64_t)n;
		done = c->resp_left == 0;
	} else {
		n = nt_http_chunked_scan(&c->resp_chunk, c->uin.p + c->uin.off + c->resp_ready,
					 avail, &done);
		if (n < 0)
			return bad_response(c, "bad chunked framing from the destination");
	}
	c->resp_ready += (size_t)n;
	c->resp_end = done;
	return 1;
}

/* Flow to client socket, no copy: every queued byte is the response's. */
static int fast_down(struct conn *c)
{
	struct nt_flow *f = c->up.flow;
	size_t queued;
	ssize_t n;

	if (!f || c->up.piped || buf_avail(&c->uin) || c->resp_body == NT_HTTP_BODY_CHUNKED)
		return 0;
	queued = nt_flow_rx_queued(f);
	if (queued == 0 || (c->resp_body == NT_HTTP_BODY_LENGTH && queued > c->resp_left))
		return 0;
	n = nt_flow_read_to_fd(f, c->fd);
	if (n == -EAGAIN) {
		c->client_blocked = true;
		return -EAGAIN;
	}
	if (n < 0)
		return client_gone(c);
	c->got_bytes = true;
	c->st->bytes_down += (uint64_t)n;
	if (c->resp_body == NT_HTTP_BODY_LENGTH) {
		c->resp_left -= (uint64_t)n;
		c->resp_end = c->resp_left == 0;
	}
	return n > 0;
}

static int up_eof(struct conn *c)
{
	if (c->rstate == R_HEAD) {
		if (buf_avail(&c->uin) == 0 && !c->resp_sent && c->reused && c->retryable)
			return retry(c);
		if (buf_avail(&c->uin) > 0)
			return bad_response(c, "the destination closed the connection mid-answer");
		return upstream_failed(c, 0);
	}
	if (c->resp_body == NT_HTTP_BODY_CLOSE) {
		c->resp_end = true;
		c->resp_keep = false;
		return 1;
	}
	nt_debug(MOD, "event=response_cut");
	c->st->upstream_aborts++;
	return fin(c, FIN_RESET);
}

static int pump_down(struct conn *c)
{
	int progress = 0, round, rc;
	struct buf *b = &c->uin;
	ssize_t n;

	for (round = 0; round < DRIVE_ROUNDS; round++) {
		if (c->fin || c->phase != P_FORWARD)
			return 1; /* answered or ended on the way */
		if (c->out_off < c->out_len) {
			size_t head = c->out_len - c->out_off, body = 0;

			/* The head and the body bytes already here leave together.
			 * Only framings whose scan cannot fail: a chunked body is
			 * checked after its head went out, as before. */
			if (c->rstate == R_BODY && c->resp_body != NT_HTTP_BODY_CHUNKED) {
				(void)scan_response_body(c);
				body = c->resp_ready;
			}
			n = client_send2(c, c->out + c->out_off, head, b->p + b->off, body);
			if (n == -EAGAIN)
				return progress;
			if (n < 0)
				return client_gone(c);
			c->st->bytes_down += (uint64_t)n;
			if ((size_t)n > head) {
				buf_consume(b, (size_t)n - head, false);
				c->resp_ready -= (size_t)n - head;
				n = (ssize_t)head;
			}
			c->out_off += (size_t)n;
			if (c->out_off == c->out_len) {
				free(c->out);
				c->out = NULL;
				c->out_off = c->out_len = 0;
			}
			progress = 1;
			continue;
		}
		if (c->resp_ready > 0) {
			n = client_send(c, b->p + b->off, c->resp_ready);
			if (n == -EAGAIN)
				return progress;
			if (n < 0)
				return client_gone(c);
			buf_consume(b, (size_t)n, false);
			c->resp_ready -= (size_t)n;
			c->st->bytes_down += (uint64_t)n;
			progress = 1;
			continue;
		}
		if (c->rstate == R_DONE)
			return progress;
		if (c->rstate == R_HEAD && buf_avail(b) > 0) {
			rc = nt_http_parse_response(&c->rs, b->p + b->off, buf_avail(b),
						    &c->hp->cfg.limits);
			if (rc < 0)
				return bad_response(c, c->rs.h.why);
			if (rc > 0) {
				if (on_response_head(c, (size_t)rc) < 0)
					return -1;
				progress = 1;
				continue;
			}
		} else if (c->rstate == R_BODY) {
			if (scan_response_body(c) < 0)
				return -1;
			if (c->resp_ready > 0)
				continue;
			if (c->resp_end) {
				c->rstate = R_DONE;
				progress = 1;
				continue;
			}
			rc = fast_down(c);
			if (rc < 0)
				return rc == -EAGAIN ? progress : -1;
			if (rc > 0) {
				progress = 1;
				continue;
			}
		}
		buf_compact(b);
		if (b->len == b->cap)
			return bad_response(c, "response header section too large");
		n = up_recv(c, b->p + b->len, b->cap - b->len);
		if (n == -EAGAIN)
			return progress;
		if (n == 0)
			return up_eof(c) < 0 ? -1 : 1;
		if (n < 0)
			return upstream_failed(c, n);
		b->len += (size_t)n;
		if (b->len > b->hw)
			b->hw = b->len;
		c->got_bytes = true;
		progress = 1;
	}
	return progress;
}

/* ---- the exchange ---- */

static int exchange_end(struct conn *c)
{
	bool keep_up = c->req_done && c->resp_keep && c->resp_body != NT_HTTP_BODY_CLOSE &&
		       buf_avail(&c->uin) == 0 && c->has_up && up_alive(c);

	c->st->forwarded++;
	if (!c->req_done || c->close_after || c->in_eof) {
		/* The server answered before the body ended, or the client
		 * will not send another request. */
		/* A client that said close (RFC 9112 9.6: it sends no further
		 * request) or shut its side, with every byte read: a plain close
		 * sends FIN, and lingering would cost a round trip of syscalls. */
		bool quiet =
		    c->req_done && buf_avail(&c->in) == 0 && (c->in_eof || !c->keep_client);

		if (keep_up) {
			c->up.idle_since = nt_loop_now(c->loop);
			up_park(c);
		} else {
			up_close(c, !c->req_done);
		}
		exchange_clear(c);
		start_closing(c);
		c->no_linger = quiet;
		return 1;
	}
	if (!keep_up) {
		up_close(c, false);
	} else {
		c->up.idle_since = nt_loop_now(c->loop);
		up_watch(c, 0);
	}
	exchange_clear(c);
	c->phase = P_HEAD;
	nt_http_request_init(&c->rq);
	c->rq_started = false;
	set_deadline(c, ms_from_now(c, c->hp->cfg.idle_timeout_ms));
	if (buf_avail(&c->in) == 0)
		buf_free(&c->in, true); /* an idle client holds no buffer */
	return 1;
}

static int step_forward(struct conn *c)
{
	int up, down;

	up = pump_up(c);
	if (c->fin || c->phase != P_FORWARD)
		return up < 0 ? -1 : 1;
	down = pump_down(c);
	if (c->fin || c->phase != P_FORWARD)
		return down < 0 ? -1 : 1;
	if (up || down)
		c->progress_ns = nt_loop_now(c->loop);
	if (c->rstate == R_DONE && c->out_len == 0 && c->resp_ready == 0)
		return exchange_end(c);
	return up || down;
}

static int step_opening(struct conn *c)
{
	ssize_t n;

	if (!c->is_connect && (scan_request_body(c) < 0 || c->phase != P_OPENING))
		return c->fin ? -1 : 1;
	if (c->in_eof) {
		/* A request that is all here may still be answered; a tunnel
		 * or a body cut short is over. */
		if (c->is_connect || !c->req_end)
			return client_gone(c);
		return 0;
	}
	n = client_read(c);
	if (n == -EAGAIN || n == -ENOBUFS)
		return 0;
	if (n < 0)
		return client_gone(c);
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
		n = client_send(c, c->out + c->out_off, c->out_len - c->out_off);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return fin(c, FIN_QUIET);
		c->out_off += (size_t)n;
	}
	if (c->no_linger)
		return fin(c, FIN_QUIET);
	if (!c->lingering) {
		c->lingering = true;
		(void)shutdown(c->fd, SHUT_WR);
		set_deadline(c, ms_from_now(c, LINGER_MS));
	}
	for (;;) {
		n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0 || (c->lingered += (size_t)n) > LINGER_MAX)
			return fin(c, FIN_QUIET);
	}
}

/* ---- events ---- */

static void update_events(struct conn *c)
{
	bool room = buf_room(c, &c->in) > 0 && !c->in_eof;
	uint32_t ev = 0, up = 0;

	switch (c->phase) {
	case P_HEAD:
	case P_OPENING:
		ev = room ? NT_EV_READ : 0;
		break;
	case P_FORWARD:
		ev = room && !c->req_end ? NT_EV_READ : 0;
		if (c->rstate != R_DONE && c->out_len == 0 && c->resp_ready == 0 &&
		    buf_room(c, &c->uin) > 0)
			up |= NT_EV_READ;
		if (c->up.write_blocked)
			up |= NT_EV_WRITE;
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
		up_watch(c, up);
}

static void drive(struct conn *c)
{
	int round, rc = 0;

	for (round = 0; round < DRIVE_ROUNDS && c->fin == FIN_NONE; round++) {
		switch (c->phase) {
		case P_HEAD:
			rc = step_head(c);
			break;
		case P_OPENING:
			rc = step_opening(c);
			break;
		case P_FORWARD:
			rc = step_forward(c);
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
	if (round == DRIVE_ROUNDS)
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
		(void)client_gone(c);
		finish(c);
		return;
	}
	if (events & NT_EV_WRITE)
		c->client_blocked = false;
	if ((events & NT_EV_READ) && !(c->want & NT_EV_READ))
		c->read_unwanted = true;
	drive(c);
}

static void on_up_fd(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	(void)fd;
	if (events & NT_EV_ERROR)
		c->up.hup = true;
	if (events & (NT_EV_WRITE | NT_EV_ERROR))
		c->up.write_blocked = false;
	drive(c);
}

static void on_up_flow(void *arg, struct nt_flow *f, enum nt_flow_event ev)
{
	struct conn *c = arg;

	(void)f;
	if (ev == NT_FLOW_WRITABLE)
		c->up.write_blocked = false;
	if (c->phase != P_FORWARD) {
		/* A kept connection between requests: anything but room to
		 * write means it is of no more use. */
		if (ev != NT_FLOW_WRITABLE && ev != NT_FLOW_CONNECTED)
			up_close(c, false);
		return;
	}
	drive(c);
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
			(void)reply_error(c, 408, "request head not complete in time");
		} else {
			c->st->idle_timeouts++;
			(void)fin(c, FIN_QUIET);
		}
		break;
	case P_FORWARD:
		until = c->progress_ns + (uint64_t)c->hp->cfg.idle_timeout_ms * 1000000u;
		if (nt_loop_now(c->loop) < until) {
			set_deadline(c, until);
			return;
		}
		c->st->forward_timeouts++;
		(void)reply_error(c, 504, "no answer from the destination in time");
		break;
	case P_OPENING:
		return;
	case P_CLOSING:
		(void)fin(c, FIN_QUIET);
		break;
	}
	drive(c);
}

static void on_kick(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	(void)loop;
	(void)timer;
	drive(arg);
}

int nt_http_conn_start(struct nt_proxy *p, int fd, uint64_t deadline_ns)
{
	struct conn *c = calloc(1, sizeof(*c));
	int rc = -ENOMEM;

	if (!c)
		goto err_close;
	c->p = p;
	c->hp = nt_proxy_http(p);
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
	drive(c);
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
