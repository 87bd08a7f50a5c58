/* SPDX-License-Identifier: MIT */
/* Private to the HTTP proxy: what its two halves share. http_conn.c holds
 * the client (life cycle, phases, events, deadlines, closing, our own
 * answers); http_relay.c the exchange with the destination (the request up,
 * the response down, the upstream connection and its reuse). Not for the
 * rest of proxy/: it uses proxy/http_conn.h.
 */
#ifndef NT_PROXY_HTTP_CONN_INT_H
#define NT_PROXY_HTTP_CONN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/engine/engine.h"
#include "platform/loop.h"
#include "proxy/conn_life.h"
#include "proxy/http_buf.h"
#include "proxy/http_conn.h"
#include "proxy/socks5_conn.h"

#define NT_HTTP_DRIVE_ROUNDS 64 /* steps per event before yielding to others */

enum phase { P_HEAD, P_OPENING, P_FORWARD, P_CLOSING };
enum rstate { R_HEAD, R_BODY, R_DONE };
enum fin { FIN_NONE, FIN_QUIET, FIN_RESET };

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
	struct nt_conn_life life; /* the current run of requests to one host:port, or a CONNECT */
	uint64_t deadline, first_deadline, progress_ns;
	struct nt_engine_req *req;
	bool in_eof, client_blocked;
	bool lingering; /* CLOSING: answer sent, our side shut, input dropped */
	bool no_linger; /* CLOSING: the client sends nothing more, all it sent was read */
	size_t lingered;

	size_t buf_cap;	       /* of in and uin */
	struct nt_http_buf in; /* from the client */
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

	struct nt_http_buf uin; /* from the upstream */
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

/* The step functions return 1 (progress: step again), 0 (wait for an
 * event) or -1 (c->fin is set: the client ends). */

/* Bytes of the exchange, client -> destination and back: the proxy's
 * counters and the connection's line. */
static inline void nt_http_count(struct conn *c, uint64_t up, uint64_t down)
{
	c->st->bytes_up += up;
	c->st->bytes_down += down;
	c->life.bytes_up += up;
	c->life.bytes_down += down;
}

/* ---- http_conn.c ---- */

/* Non-blocking socket I/O. send: bytes taken, -EAGAIN (*blocked set), or
 * -errno; recv: bytes read, 0 at EOF, -EAGAIN, or -errno. */
ssize_t nt_http_send(int fd, const struct iovec *iov, int iovcnt, bool *blocked);
ssize_t nt_http_recv(int fd, uint8_t *buf, size_t cap);

/* Bytes taken, -EAGAIN (then EPOLLOUT is watched), or an error. */
ssize_t nt_http_client_send(struct conn *c, const uint8_t *buf, size_t len);
/* nt_http_client_send of a then b, in one system call. */
ssize_t nt_http_client_send2(struct conn *c, const uint8_t *a, size_t alen, const uint8_t *b,
			     size_t blen);
/* Bytes read, 0 at EOF (in_eof set), -EAGAIN, -ENOBUFS (no room), or an
 * error. */
ssize_t nt_http_client_read(struct conn *c);
/* The client left (counted when mid-request); returns -1. */
int nt_http_client_gone(struct conn *c);

/* Marks how the client ends (the first call wins); returns -1. */
int nt_http_fin(struct conn *c, enum fin how);
/* 0: none. */
void nt_http_set_deadline(struct conn *c, uint64_t deadline);
uint64_t nt_http_ms_from_now(const struct conn *c, uint32_t ms);

/* Asks the engine for a connection to c->target: OPENING. */
int nt_http_open_upstream(struct conn *c);
/* The exchange is over, both sides keep-alive: HEAD again. */
int nt_http_next_request(struct conn *c);
/* The last answer (if any) goes out, then the connection ends: CLOSING. */
int nt_http_start_closing(struct conn *c);
/* An answer of our own, then CLOSING; or a reset once part of a response
 * went to the client. */
int nt_http_reply_error(struct conn *c, int status, const char *why);
/* Runs the steps until they wait; may free c. */
void nt_http_drive(struct conn *c);

/* ---- http_relay.c ---- */

/* A request head of absolute form at c->in.off, authorized: sent on the
 * kept connection, one from the pool, or a new one (OPENING). */
int nt_http_relay_request(struct conn *c, size_t head_len);
/* The engine's connection for the request is here: FORWARD. */
void nt_http_relay_opened(struct conn *c, const struct nt_open_result *res);
/* Follows the request body's framing over bytes not yet looked at. */
int nt_http_relay_scan_request(struct conn *c);
/* FORWARD: both directions, then the end of the exchange. */
int nt_http_relay_step(struct conn *c);
/* FORWARD: watches the upstream for what the pumps wait for. */
void nt_http_relay_watch(struct conn *c);
/* Frees what the exchange holds (heads, the upstream buffer). */
void nt_http_relay_clear(struct conn *c);
/* The upstream connection: closed (reset if abort), or, when it is idle
 * and still alive, released to the proxy's pool. */
void nt_http_relay_close(struct conn *c, bool abort);
void nt_http_relay_release(struct conn *c);

#endif
