/* SPDX-License-Identifier: MIT */
/* The HTTP/1.1 proxy (RFC 9110, RFC 9112) on the proxy's listeners: what
 * proxy.c hands over and keeps for it, and what callers of the proxy may
 * read or tune. The per-client state machine is in http_conn.c, the
 * exchange with a destination in http_relay.c, the messages in
 * http_parse.c.
 */
#ifndef NT_PROXY_HTTP_CONN_H
#define NT_PROXY_HTTP_CONN_H

#include <stdint.h>

#include "platform/fail.h"
#include "proxy/http_parse.h"
#include "proxy/http_pool.h"

struct nt_proxy;

#define NT_HTTP_IDLE_TIMEOUT_MS_DEFAULT	  60000
#define NT_HTTP_HEADER_TIMEOUT_MS_DEFAULT 10000
/* Below common servers' keep-alive timeouts (Apache's 5 s): a server
 * rarely closes a connection just as it is taken. */
#define NT_HTTP_POOL_IDLE_MS_DEFAULT 4000

struct nt_http_config {
	struct nt_http_limits limits; /* head (431), request line (414), fields (431) */
	/* Between requests on a connection; and, while forwarding, without a
	 * byte moving either way (then 504, or a reset once the response
	 * started). */
	uint32_t idle_timeout_ms;
	/* From the first byte of a request (the accept, for the first one:
	 * then it is the proxy's handshake timeout) to the end of its head:
	 * 408. */
	uint32_t header_timeout_ms;
	/* An idle connection to a destination kept for any client's next
	 * request to the same host:port: closed after this long without an
	 * exchange. 0: none kept once its client ends. */
	uint32_t pool_idle_ms;
};

struct nt_http_counters {
	uint64_t clients;	  /* connections that spoke HTTP */
	uint64_t requests;	  /* request heads parsed */
	uint64_t connects;	  /* CONNECT tunnels handed to the splice */
	uint64_t forwarded;	  /* absolute-form exchanges completed */
	uint64_t upstream_opened; /* connections opened for forwarding */
	uint64_t upstream_reused; /* requests sent on a kept connection */
	uint64_t retries;	  /* a kept connection closed unanswered: sent again */
	uint64_t bad_request;	  /* 400: malformed head or chunked framing */
	uint64_t line_too_long;	  /* 414 */
	uint64_t head_too_large;  /* 431: head size or number of fields */
	uint64_t auth_missing;	  /* 407: no Proxy-Authorization */
	uint64_t auth_failed;	  /* 407: wrong or malformed credentials */
	uint64_t connect_failed[NT_FAIL_COUNT];		/* by enum nt_fail: 403/502/504/400 */
	uint64_t bad_response;				/* 502: a malformed answer */
	uint64_t upstream_failed;			/* 502: closed or reset before answering */
	uint64_t upstream_aborts;  /* the destination failed mid-response: client reset */
	uint64_t header_timeouts;  /* 408 */
	uint64_t idle_timeouts;	   /* closed between requests */
	uint64_t forward_timeouts; /* nothing moved for idle_timeout_ms */
	uint64_t client_aborts;	   /* the client left mid-request or mid-response */
	uint64_t internal_errors;  /* out of memory, descriptors: 502 */
	uint64_t bytes_up;	   /* client -> destination, heads included */
	uint64_t bytes_down;	   /* destination -> client, heads included */

	/* The pool of idle connections shared by all clients: */
	uint64_t upstream_pooled;	/* parked when their client ended */
	uint64_t upstream_pooled_hits;	/* requests sent on one taken from the pool */
	uint64_t upstream_pool_expired; /* closed after pool_idle_ms */
	uint64_t upstream_pool_evicted; /* closed to make room (NT_HTTP_UP_POOL) */
	uint64_t upstream_pool_dropped; /* closed by the destination (or found dead) */
};

void nt_http_config_init(struct nt_http_config *cfg);

/* ---- for callers of the proxy (defined in proxy.c) ---- */

void nt_proxy_http_counters(const struct nt_proxy *p, struct nt_http_counters *out);
/* Applies to requests that start after the call. 0 or -EINVAL. */
int nt_proxy_http_configure(struct nt_proxy *p, const struct nt_http_config *cfg);

/* ---- inside proxy/ ---- */

/* What the proxy keeps for HTTP: one per proxy. */
struct nt_http_proxy {
	struct nt_http_config cfg;
	struct nt_http_counters c;
	struct nt_http_pool pool; /* http_pool.c */
};

/* proxy.c */
struct nt_http_proxy *nt_proxy_http(struct nt_proxy *p);
/* http_conn.c: takes fd, whose unread first byte is an uppercase letter;
 * its first head must be complete by deadline_ns. fd may be watched by the
 * proxy's loop: the registration is taken over (nt_loop_take_fd). Reads at
 * once: the client may be served or closed before this returns. Closes fd
 * on failure. */
int nt_http_conn_start(struct nt_proxy *p, int fd, uint64_t deadline_ns);
/* http_pool.c: closes the pooled connections and the kept pipes; after
 * every client is gone. */
void nt_http_proxy_fini(struct nt_http_proxy *hp);

#endif
