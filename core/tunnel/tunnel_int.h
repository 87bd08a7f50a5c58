/* SPDX-License-Identifier: MIT */
/* Inside the tunnel: the state shared by tunnel.c (set-up, peers),
 * tunnel_tx.c (output queue, sending, peer timers) and tunnel_rx.c (the
 * receive path). Nothing outside core/tunnel*.c includes this. */
#ifndef NT_CORE_TUNNEL_INT_H
#define NT_CORE_TUNNEL_INT_H

#include <stddef.h>
#include <sys/socket.h>

#include "core/tunnel/tunnel.h"
#include "core/wg/flap.h"

#define NT_TUNNEL_RX_BATCH	32
#define NT_TUNNEL_RX_BUDGET	8     /* batches per readiness callback, for fairness */
#define NT_TUNNEL_RX_BUF_LEN	65536 /* a datagram, or a UDP_GRO run, at most */
#define NT_TUNNEL_RX_BUFS_BYTES ((size_t)NT_TUNNEL_RX_BATCH * NT_TUNNEL_RX_BUF_LEN)
#define NT_TUNNEL_TX_BATCH	32 /* messages per sendmmsg */
/* UDP segmentation offload: datagrams in one message, at most the kernel's
 * UDP_MAX_SEGMENTS (64 before Linux 6.x) and, headers included, one IP
 * datagram's 64 KiB. */
#define NT_TUNNEL_GSO_SEGS	 64
#define NT_TUNNEL_GSO_BYTES	 65000
#define NT_TUNNEL_TX_CALL_DGRAMS 256 /* datagrams per sendmmsg */

struct nt_tunnel_peer {
	struct wg_peer wg; /* what callers see */
	struct nt_tunnel *tun;
	struct nt_timer timer;
	struct nt_tunnel_peer *next_peer;
	void *user;
	/* The first initiation of a series still unanswered (0: none), and
	 * whether its one warning was given. */
	uint64_t unanswered_since;
	bool unanswered_warned;
	struct wg_flap flap; /* its key in two processes? */
};

struct nt_tunnel_txslot {
	uint8_t *buf;
	size_t cap;
	size_t len;
	struct sockaddr_storage dst;
	socklen_t dst_len;
};

struct nt_tunnel {
	struct nt_loop *loop;
	struct nt_tunnel_ops ops;
	struct wg_noise_static local;
	struct wg_noise_upcalls up;
	struct wg_cookie_checker checker;
	struct wg_index *index;
	struct wg_allowedips aips;
	struct wg_timers_params tparams;
	int fd;
	int family; /* of the socket */
	bool gso;   /* the socket takes UDP_SEGMENT (tunnel_tx.c) */
	bool gro;   /* the socket hands us UDP_GRO runs (tunnel_rx.c) */
	uint16_t port;
	uint32_t mtu;
	size_t max_peers;
	struct nt_tunnel_peer *peers;
	size_t npeers;
	/* Load: handshake messages in the current window. */
	uint32_t load_threshold;
	uint64_t load_window_start;
	uint32_t load_count;
	uint64_t under_load_until;
	/* Receive batch. */
	uint8_t *rx_bufs;
	struct mmsghdr rx_msgs[NT_TUNNEL_RX_BATCH];
	struct iovec rx_iov[NT_TUNNEL_RX_BATCH];
	struct sockaddr_storage rx_src[NT_TUNNEL_RX_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} rx_ctrl[NT_TUNNEL_RX_BATCH]; /* UDP_GRO: the segment size of a run */
	/* Output queue. */
	struct nt_tunnel_txslot *txq;
	size_t txq_cap, txq_head, txq_count;
	bool tx_blocked;
	wg_peer_supersedes_fn stage_supersedes;
	int (*send_hook)(void *arg, int fd, struct mmsghdr *msgs, unsigned int n);
	void *send_hook_arg;
	bool staged_waiting;	     /* some peer kept staged packets for lack of room */
	struct nt_timer flush_timer; /* end of the loop iteration, or the pacer's wait */
	/* Pacer (tunnel_tx.c): the arrival rate into the queue, and the bytes
	 * that may leave now (a token bucket refilled at twice that rate). */
	uint64_t pace_in_rate; /* bytes/s, averaged over PACE_TAU_NS */
	uint64_t pace_in_ns;   /* last arrival */
	int64_t pace_tokens;   /* below 0 by what the last batch overdrew */
	uint64_t pace_fill_ns; /* last refill */
	bool pace_waiting;     /* flush_timer is armed for the pacer */
	struct nt_tunnel_counters c;
};

static inline struct nt_tunnel_peer *tp_of(struct wg_peer *p)
{
	return (struct nt_tunnel_peer *)((char *)p - offsetof(struct nt_tunnel_peer, wg));
}

static inline const struct nt_tunnel_peer *tp_of_const(const struct wg_peer *p)
{
	return (const struct nt_tunnel_peer *)((const char *)p -
					       offsetof(struct nt_tunnel_peer, wg));
}

/* tunnel.c */
void nt_tunnel_emit(struct nt_tunnel *t, struct nt_tunnel_peer *tp, enum nt_tunnel_peer_event ev);

/* tunnel_tx.c */
/* Re-arms the peer's nt_timer at its wg_timers deadline. */
void nt_tunnel_peer_timer_sync(struct nt_tunnel_peer *tp);
void nt_tunnel_peer_timer_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg);
void nt_tunnel_flush_timer_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg);
/* A slot for a datagram of need bytes, or NULL (queue full: the caller counts). */
struct nt_tunnel_txslot *nt_tunnel_tx_reserve(struct nt_tunnel *t, size_t need);
/* Queues the reserved slot s, len bytes, for ep. 0 or -EAFNOSUPPORT. */
int nt_tunnel_tx_commit(struct nt_tunnel *t, struct nt_tunnel_txslot *s, size_t len,
			const struct sockaddr_storage *ep);
void nt_tunnel_tx_flush(struct nt_tunnel *t);
/* Sends what is queued, waiting for the socket at most NT_TUNNEL_DRAIN_MS. */
void nt_tunnel_tx_drain(struct nt_tunnel *t);
/* The socket is writable again. */
void nt_tunnel_tx_writable(struct nt_tunnel *t);
/* A handshake completed, or was given up on: a next series may warn again. */
void nt_tunnel_unanswered_clear(struct nt_tunnel_peer *tp);
void nt_tunnel_maybe_initiate(struct nt_tunnel *t, struct nt_tunnel_peer *tp, uint64_t now);
void nt_tunnel_send_keepalive(struct nt_tunnel *t, struct nt_tunnel_peer *tp, uint64_t now);
/* Sends staged packets in order while a session and room allow; returns
 * how many were sent. Without room the rest wait for the socket. */
size_t nt_tunnel_flush_staged(struct nt_tunnel *t, struct nt_tunnel_peer *tp, uint64_t now);

/* tunnel_rx.c */
void nt_tunnel_on_socket(struct nt_loop *loop, int fd, uint32_t events, void *arg);
struct wg_noise_handshake *nt_tunnel_up_peer_by_static(void *arg, const uint8_t remote[32]);
struct wg_noise_handshake *nt_tunnel_up_handshake_by_index(void *arg, uint32_t local_index);

#endif
