/* SPDX-License-Identifier: MIT */
/* A proxied connection's life, told in one info line when it ends:
 *
 *   event=conn_closed cid=7 client=127.0.0.1:40312 target=db.internal port=5432
 *   route=tunnel peer=AbCdEfGh bytes_up=120 bytes_down=4096 duration_ms=812
 *
 * with rid= gid= for a portal resource, requests=N for HTTP forwarding (one
 * line per run of requests to one host:port on a client connection) and
 * reason="..." when it failed. Fields: proxy/README.md.
 */
#ifndef NT_PROXY_CONN_LIFE_H
#define NT_PROXY_CONN_LIFE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/engine/engine.h"

struct nt_loop;
struct nt_splice_result;

#define NT_CONN_ID_MAX	   64  /* a resource's or a gateway's id, as logged */
#define NT_CONN_REASON_MAX 200 /* a failure's text, as logged */

/* What the engine said about the connection a request went on: kept with
 * an HTTP connection to a destination for the requests that reuse it. */
struct nt_conn_route {
	uint64_t cid;
	enum nt_route route;
	char peer[16], rid[NT_CONN_ID_MAX + 1], gid[NT_CONN_ID_MAX + 1];
};

struct nt_conn_life {
	bool active; /* begun, not yet told */
	struct nt_loop *loop;
	uint64_t start_ns;
	uint64_t bytes_up, bytes_down; /* up: client -> destination */
	unsigned requests;	       /* HTTP forwarding only */
	struct nt_target target;
	struct nt_conn_route r;
	char client[INET6_ADDRSTRLEN + 8];
	char reason[NT_CONN_REASON_MAX];
};

/* A new life: the client at the other end of client_fd asked for t. */
void nt_conn_life_begin(struct nt_conn_life *l, struct nt_loop *loop, int client_fd,
			const struct nt_target *t);
/* The engine's answer: the route, and the reason when it failed. */
void nt_conn_life_opened(struct nt_conn_life *l, const struct nt_open_result *res);
/* Notes why it failed, unless a reason is known already. */
void nt_conn_life_fail(struct nt_conn_life *l, const char *reason);
/* Logs the line once (reason: as nt_conn_life_fail, or NULL); then inactive. */
void nt_conn_life_end(struct nt_conn_life *l, const char *reason);

/* The connection goes to the splice (res: a connected flow or socket;
 * pending: the client's bytes for the destination first); the line is
 * logged when the splice ends, with its byte counts. l is inactive after. */
int nt_conn_life_splice(struct nt_conn_life *l, int client_fd, const struct nt_open_result *res,
			const uint8_t *pending, size_t pending_len);

#endif
