// SPDX-License-Identifier: MIT
/* The exchange of one HTTP client's request with its destination (the
 * client's FORWARD phase, http_conn.c), and the connection it goes on.
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
 * Buffers, bounded: one per direction (the head limit, at least 16 KiB);
 * the client is read only while the request needs bytes and its buffer has
 * room, the upstream only while the client took what came before. A tunnel
 * flow is read through a pipe (the flow hands its data to descriptors
 * only; an emptied pipe is kept for the next flow, NT_HTTP_PIPE_POOL of
 * them), except for body bytes that are all the response's: those go from
 * the flow to the client's socket directly.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "netstack/flow.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "proxy/http_conn_int.h"

#define MOD "http"

#define UP_PIECE (16u * 1024) /* one nt_flow_write */

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

void nt_http_relay_watch(struct conn *c)
{
	uint32_t want = 0;

	if (c->rstate != R_DONE && c->out_len == 0 && c->resp_ready == 0 &&
	    nt_http_buf_room(&c->uin, c->buf_cap) > 0)
		want |= NT_EV_READ;
	if (c->up.write_blocked)
		want |= NT_EV_WRITE;
	up_watch(c, want);
}

void nt_http_relay_close(struct conn *c, bool abort)
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
	u->route = c->life.r;
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
void nt_http_relay_release(struct conn *c)
{
	if (c->has_up && up_alive(c))
		up_park(c);
	else
		nt_http_relay_close(c, false);
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
		nt_http_relay_close(c, false);
	}
	return false;
}

/* Bytes taken, -EAGAIN (wait: WRITABLE or EPOLLOUT), or an error. */
static ssize_t up_send(struct conn *c, const uint8_t *buf, size_t len)
{
	struct nt_http_up *u = &c->up;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
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
	return nt_http_send(u->fd, &iov, 1, &u->write_blocked);
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
	return nt_http_recv(u->fd, buf, cap);
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

/* ---- the exchange ---- */

void nt_http_relay_clear(struct conn *c)
{
	free(c->uphead);
	free(c->out);
	c->uphead = c->out = NULL;
	c->uphead_off = c->uphead_len = c->out_off = c->out_len = 0;
	nt_http_buf_free(&c->uin, false);
	c->req_ready = c->resp_ready = 0;
	c->req_end = c->req_done = c->resp_end = c->resp_sent = c->got_bytes = false;
	c->up_wdead = false;
	c->is_connect = c->is_head = c->reused = c->retryable = false;
}

static int start_forward(struct conn *c)
{
	if (!nt_http_buf_ensure(&c->uin, c->buf_cap)) {
		c->st->internal_errors++;
		return nt_http_reply_error(c, 502, nt_fail_text(NT_FAIL_GENERAL));
	}
	c->phase = P_FORWARD;
	c->rstate = R_HEAD;
	nt_http_response_init(&c->rs, c->is_head);
	c->progress_ns = nt_loop_now(c->loop);
	nt_http_set_deadline(c, nt_http_ms_from_now(c, c->hp->cfg.idle_timeout_ms));
	return 1;
}

static int retry(struct conn *c)
{
	nt_debug(MOD, "event=retry reason=\"kept connection closed\"");
	c->st->retries++;
	nt_http_relay_close(c, true);
	c->reused = c->retryable = false;
	c->uphead_off = 0;
	c->uin.off = c->uin.len = 0;
	return nt_http_open_upstream(c);
}

/* ---- a request and the connection it goes on ---- */

void nt_http_relay_opened(struct conn *c, const struct nt_open_result *res)
{
	int rc = up_install(c, res);

	if (rc < 0) {
		c->st->internal_errors++;
		nt_warn(MOD, "event=upstream_failed err=\"%s\"", strerror(-rc));
		(void)nt_http_reply_error(c, 502, nt_fail_text(NT_FAIL_GENERAL));
	} else {
		c->st->upstream_opened++;
		(void)start_forward(c);
	}
}

int nt_http_relay_request(struct conn *c, size_t head_len)
{
	struct nt_http_request *r = &c->rq;
	const uint8_t *head = c->in.p + c->in.off;
	size_t cap;
	int n;

	cap = nt_http_request_out_max(r, head_len);
	c->uphead = malloc(cap);
	n = c->uphead ? nt_http_build_request(r, head, c->uphead, cap) : -ENOMEM;
	if (n < 0) {
		c->st->internal_errors++;
		return nt_http_reply_error(c, 502, nt_fail_text(NT_FAIL_GENERAL));
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
	nt_http_buf_consume(&c->in, head_len, true);
	if (!c->life.active || !nt_http_same_target(&c->life.target, &c->target)) {
		nt_conn_life_end(&c->life, NULL);
		nt_conn_life_begin(&c->life, c->loop, c->fd, &c->target);
	}
	c->life.requests++;
	if (c->has_up && nt_http_same_target(&c->up.target, &c->target) && up_alive(c)) {
		c->reused = true;
		c->st->upstream_reused++;
		return start_forward(c);
	}
	nt_http_relay_release(c);
	c->reused = c->retryable && up_from_pool(c);
	if (c->reused) {
		c->life.r = c->up.route;
		c->st->upstream_pooled_hits++;
		return start_forward(c);
	}
	return nt_http_open_upstream(c);
}

/* ---- request body: client -> upstream ---- */

static int bad_request_body(struct conn *c)
{
	c->st->bad_request++;
	return nt_http_reply_error(c, 400, "bad chunked framing in the request body");
}

/* Follows the framing over bytes received and not yet looked at. */
int nt_http_relay_scan_request(struct conn *c)
{
	size_t avail = nt_http_buf_avail(&c->in) - c->req_ready;
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
		return nt_http_fin(c, FIN_RESET);
	}
	c->st->upstream_failed++;
	return nt_http_reply_error(c, 502, up_error_text(c, err));
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

	for (round = 0; round < NT_HTTP_DRIVE_ROUNDS && !c->up_wdead; round++) {
		if (c->fin || c->phase != P_FORWARD)
			return 1; /* answered or ended on the way */
		if (c->uphead_off < c->uphead_len) {
			n = up_send(c, c->uphead + c->uphead_off, c->uphead_len - c->uphead_off);
			if (n == -EAGAIN)
				return progress;
			if (n < 0)
				return up_write_failed(c);
			c->uphead_off += (size_t)n;
			nt_http_count(c, (uint64_t)n, 0);
			progress = 1;
			continue;
		}
		if (c->req_done)
			return progress;
		if (nt_http_relay_scan_request(c) < 0)
			return -1;
		if (c->req_ready > 0) {
			n = up_send(c, c->in.p + c->in.off, c->req_ready);
			if (n == -EAGAIN)
				return progress;
			if (n < 0)
				return up_write_failed(c);
			nt_http_buf_consume(&c->in, (size_t)n, false);
			c->req_ready -= (size_t)n;
			nt_http_count(c, (uint64_t)n, 0);
			progress = 1;
			continue;
		}
		if (c->req_end) {
			c->req_done = true;
			return 1;
		}
		if (c->in_eof) {
			nt_debug(MOD, "event=client_gone_mid_body");
			return nt_http_client_gone(c);
		}
		n = nt_http_client_read(c);
		if (n == -EAGAIN || n == -ENOBUFS)
			return progress;
		if (n < 0)
			return nt_http_client_gone(c);
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
		return nt_http_fin(c, FIN_RESET);
	}
	return nt_http_reply_error(c, 502, why);
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
	nt_http_buf_consume(&c->uin, head_len, false);
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
	size_t avail = nt_http_buf_avail(&c->uin) - c->resp_ready;
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

	if (!f || c->up.piped || nt_http_buf_avail(&c->uin) || c->resp_body == NT_HTTP_BODY_CHUNKED)
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
		return nt_http_client_gone(c);
	c->got_bytes = true;
	nt_http_count(c, 0, (uint64_t)n);
	if (c->resp_body == NT_HTTP_BODY_LENGTH) {
		c->resp_left -= (uint64_t)n;
		c->resp_end = c->resp_left == 0;
	}
	return n > 0;
}

static int up_eof(struct conn *c)
{
	if (c->rstate == R_HEAD) {
		if (nt_http_buf_avail(&c->uin) == 0 && !c->resp_sent && c->reused && c->retryable)
			return retry(c);
		if (nt_http_buf_avail(&c->uin) > 0)
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
	return nt_http_fin(c, FIN_RESET);
}

static int pump_down(struct conn *c)
{
	int progress = 0, round, rc;
	struct nt_http_buf *b = &c->uin;
	ssize_t n;

	for (round = 0; round < NT_HTTP_DRIVE_ROUNDS; round++) {
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
			n = nt_http_client_send2(c, c->out + c->out_off, head, b->p + b->off, body);
			if (n == -EAGAIN)
				return progress;
			if (n < 0)
				return nt_http_client_gone(c);
			nt_http_count(c, 0, (uint64_t)n);
			if ((size_t)n > head) {
				nt_http_buf_consume(b, (size_t)n - head, false);
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
			n = nt_http_client_send(c, b->p + b->off, c->resp_ready);
			if (n == -EAGAIN)
				return progress;
			if (n < 0)
				return nt_http_client_gone(c);
			nt_http_buf_consume(b, (size_t)n, false);
			c->resp_ready -= (size_t)n;
			nt_http_count(c, 0, (uint64_t)n);
			progress = 1;
			continue;
		}
		if (c->rstate == R_DONE)
			return progress;
		if (c->rstate == R_HEAD && nt_http_buf_avail(b) > 0) {
			rc = nt_http_parse_response(&c->rs, b->p + b->off, nt_http_buf_avail(b),
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
		nt_http_buf_compact(b);
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

/* ---- its end; upstream events ---- */

static int exchange_end(struct conn *c)
{
	bool keep_up = c->req_done && c->resp_keep && c->resp_body != NT_HTTP_BODY_CLOSE &&
		       nt_http_buf_avail(&c->uin) == 0 && c->has_up && up_alive(c);

	c->st->forwarded++;
	if (!c->req_done || c->close_after || c->in_eof) {
		/* The server answered before the body ended, or the client
		 * will not send another request. */
		/* A client that said close (RFC 9112 9.6: it sends no further
		 * request) or shut its side, with every byte read: a plain close
		 * sends FIN, and lingering would cost a round trip of syscalls. */
		bool quiet =
		    c->req_done && nt_http_buf_avail(&c->in) == 0 && (c->in_eof || !c->keep_client);

		if (keep_up) {
			c->up.idle_since = nt_loop_now(c->loop);
			up_park(c);
		} else {
			nt_http_relay_close(c, !c->req_done);
		}
		nt_http_relay_clear(c);
		nt_http_start_closing(c);
		c->no_linger = quiet;
		return 1;
	}
	if (!keep_up) {
		nt_http_relay_close(c, false);
	} else {
		c->up.idle_since = nt_loop_now(c->loop);
		up_watch(c, 0);
	}
	nt_http_relay_clear(c);
	return nt_http_next_request(c);
}

int nt_http_relay_step(struct conn *c)
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

static void on_up_fd(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	(void)fd;
	if (events & NT_EV_ERROR)
		c->up.hup = true;
	if (events & (NT_EV_WRITE | NT_EV_ERROR))
		c->up.write_blocked = false;
	nt_http_drive(c);
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
			nt_http_relay_close(c, false);
		return;
	}
	nt_http_drive(c);
}
