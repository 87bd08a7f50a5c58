/* SPDX-License-Identifier: MIT */
/* The splice: joins a proxy client's socket to the remote end of its
 * connection, a TCP flow in lwIP (tunnel) or a plain socket (direct), and
 * moves bytes both ways until both directions are closed.
 *
 * Event-driven, no timers: the client socket is watched for reading only
 * while the remote can take more, for writing only while data for it waits.
 * Half-close passes through in each direction (EOF -> FIN). A reset or an
 * error on one end resets the other: a dead flow closes the client with
 * SO_LINGER 0 so the application sees a reset, not a clean EOF.
 *
 * The number of splices is bounded by the proxy's client limit; a splice
 * that idles holds its struct, no buffer.
 */
#ifndef NT_NETSTACK_SPLICE_H
#define NT_NETSTACK_SPLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nt_loop;
struct nt_flow;

/* Bytes per direction held between two sockets (direct splices). */
#define NT_SPLICE_FD_BUF (64u * 1024)

/* Both take ownership of both ends in all cases: on error they are closed
 * (the flow aborted) before the call returns. pending: bytes already read
 * from the client that must reach the remote before anything else. The
 * flow must be connected, or dead (then the client is reset at once).
 * Returns 0, -ENOMEM, or the loop's error. */
int nt_splice_start_flow(struct nt_loop *loop, int client_fd, struct nt_flow *flow,
			 const uint8_t *pending, size_t pending_len);
int nt_splice_start_fd(struct nt_loop *loop, int client_fd, int remote_fd, const uint8_t *pending,
		       size_t pending_len);

/* What a splice moved, told when it ends. up is client -> remote. reset:
 * it ended with an error or a reset passed on, not with both EOFs (or a
 * hang-up after one). */
struct nt_splice_result {
	uint64_t bytes_up, bytes_down;
	bool reset;
};
typedef void (*nt_splice_done_fn)(void *arg, const struct nt_splice_result *res);

/* nt_splice_start_flow, and done(done_arg) runs exactly once when the
 * splice ends, whatever the return value: possibly before this returns (a
 * flow already dead, no memory), at the latest from nt_splice_close_all().
 * For owners that count their flows (the gateway) or tell their end
 * (the proxy). */
int nt_splice_start_flow_notify(struct nt_loop *loop, int client_fd, struct nt_flow *flow,
				const uint8_t *pending, size_t pending_len, nt_splice_done_fn done,
				void *done_arg);

/* The same for a socket-to-socket splice (the proxy's connection lines). */
int nt_splice_start_fd_notify(struct nt_loop *loop, int client_fd, int remote_fd,
			      const uint8_t *pending, size_t pending_len, nt_splice_done_fn done,
			      void *done_arg);

/* Resets both ends of every splice (shutdown). */
void nt_splice_close_all(void);
/* Resets both ends of the splice started with done_arg (its owner ended
 * it: the gateway's grant ended); done runs before this returns. */
void nt_splice_reset_notified(void *done_arg);

struct nt_splice_stats {
	uint64_t active; /* gauge */
	uint64_t started;
	uint64_t bytes_up;	     /* client -> remote */
	uint64_t bytes_down;	     /* remote -> client */
	uint64_t closed_normal;	     /* both directions finished with EOF */
	uint64_t closed_client_err;  /* the client reset or failed: remote reset */
	uint64_t closed_remote_err;  /* the remote reset or failed: client reset */
	uint64_t closed_client_gone; /* the client can no longer receive: remote closed */
	uint64_t closed_remote_gone; /* the remote can no longer receive: client closed */
	uint64_t closed_nomem;
	uint64_t closed_shutdown; /* nt_splice_close_all */
	uint64_t closed_owner;	  /* nt_splice_reset_notified */
};

void nt_splice_get_stats(struct nt_splice_stats *out);

#endif
