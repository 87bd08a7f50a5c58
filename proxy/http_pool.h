/* SPDX-License-Identifier: MIT */
/* Inside proxy/: what the HTTP proxy keeps across its clients, in
 * http_pool.c. Idle connections to destinations (persistent server
 * connections): one a client's exchange left reusable is parked here when
 * that client ends (or moves to another host:port), and a later client's
 * request to the same host:port takes it instead of opening a new one.
 * Also the empty pipes that tunnel flows are read through.
 *
 * A parked connection is watched: data, EOF or an error on it closes it
 * (a direct socket through the loop, a tunnel flow through pool flow ops).
 * At most NT_HTTP_UP_POOL are parked, the oldest closed to make room; each
 * is closed pool_idle_ms after its last exchange ended, by one timer for
 * the whole pool.
 */
#ifndef NT_PROXY_HTTP_POOL_H
#define NT_PROXY_HTTP_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/engine/engine.h"
#include "platform/loop.h"
#include "proxy/conn_life.h"

struct nt_http_proxy;
struct nt_flow;

/* Idle connections to destinations kept at most, for all clients. */
#define NT_HTTP_UP_POOL 32
/* Empty pipes kept for the next tunnel flow (http_conn.c reads flows
 * through one): pipe2 and two closes per request cost the client more than
 * the proxied connection's own close. */
#define NT_HTTP_PIPE_POOL 16

/* A connection to a destination, for forwarded requests. */
struct nt_http_up {
	struct nt_flow *flow; /* tunnel, or */
	int fd;		      /* direct (else -1) */
	int pipe[2];	      /* flow -> pipe -> us; empty while parked */
	size_t piped;
	bool watched, hup, write_blocked;
	uint32_t events;     /* as registered with the loop, when watched */
	uint64_t idle_since; /* when its last exchange ended (0: never) */
	struct nt_target target;
	struct nt_conn_route route; /* the engine's answer when it was opened */
};

struct nt_http_pool_slot {
	struct nt_http_proxy *hp; /* for the flow's and the socket's events */
	uint64_t seq;		  /* order of parking: 0 for a free slot */
	struct nt_http_up up;
};

struct nt_http_pool {
	struct nt_loop *loop; /* NULL until the first connection is parked */
	struct nt_timer timer;
	uint64_t deadline; /* the timer's, 0 when not armed */
	uint64_t seq;
	size_t n;
	struct nt_http_pool_slot slots[NT_HTTP_UP_POOL];
	int pipes[NT_HTTP_PIPE_POOL][2];
	size_t npipes;
};

bool nt_http_same_target(const struct nt_target *a, const struct nt_target *b);

/* A pipe for a tunnel flow: a kept one, or a new one. 0 or -errno. */
int nt_http_pipe_get(struct nt_http_proxy *hp, int fds[2]);
/* Kept for the next flow if empty and there is room, closed otherwise. */
void nt_http_pipe_put(struct nt_http_proxy *hp, const int fds[2], bool empty);

/* Closes u (with a reset when abort) and returns its pipe; u is left
 * empty (fd -1). */
void nt_http_up_close(struct nt_http_proxy *hp, struct nt_loop *loop, struct nt_http_up *u,
		      bool abort);

/* Takes u over (u is left empty): an idle connection, checked alive, whose
 * last response ended exactly. Parked, or closed when the pool is off
 * (pool_idle_ms 0) or u was idle that long already; the oldest parked one
 * is closed if the pool is full. */
void nt_http_pool_put(struct nt_http_proxy *hp, struct nt_loop *loop, struct nt_http_up *u);
/* The most recently parked connection to target, moved to out (the caller
 * owns it from there: its flow ops and its socket's registration still
 * name the pool, to be taken over at once). false if none. */
bool nt_http_pool_take(struct nt_http_proxy *hp, const struct nt_target *target,
		       struct nt_http_up *out);

#endif
