/* SPDX-License-Identifier: MIT */
/* The pending buffer's rule for what waits while a peer's handshake runs:
 * packets are held in the peer's staged queue (bounded, flushed in order),
 * and a retransmitted SYN, or an exact duplicate, replaces the copy already
 * held instead of queueing behind it. I/O free. */
#ifndef NT_CORE_PENDING_H
#define NT_CORE_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Matches wg_peer_supersedes_fn: true when new_pkt repeats old (the same
 * bytes, or a SYN without ACK of the same TCP connection). */
bool nt_pending_supersedes(const uint8_t *old, size_t old_len, const uint8_t *new_pkt,
			   size_t new_len);

/* A portal resource's pending buffer: packets of flows opened while access
 * is requested, held until the grant (flushed in order) or its refusal
 * (dropped). Bounded in packets and bytes; a packet that repeats a held one
 * (nt_pending_supersedes) replaces it in place. */
#define NT_PENDING_MAX_PKTS  128u
#define NT_PENDING_MAX_BYTES (1u << 20)

struct nt_pending_counters {
	uint64_t held;	       /* packets queued */
	uint64_t replaced;     /* retransmissions that replaced their first copy */
	uint64_t dropped_full; /* over NT_PENDING_MAX_PKTS or NT_PENDING_MAX_BYTES */
	uint64_t dropped_nomem;
	uint64_t dropped_ended; /* still held when access was refused or abandoned */
	uint64_t flushed;	/* handed on at the grant */
};

struct nt_pending_q {
	uint8_t *pkt[NT_PENDING_MAX_PKTS];
	size_t len[NT_PENDING_MAX_PKTS];
	size_t n, bytes;
	struct nt_pending_counters *c; /* shared by every queue of an engine */
};

/* 0 (held), 1 (replaced a held copy), -ENOBUFS (full: dropped), -ENOMEM. */
int nt_pending_push(struct nt_pending_q *q, const uint8_t *pkt, size_t len);
/* Hands every packet to fn in arrival order, then empties q. */
void nt_pending_flush(struct nt_pending_q *q, void (*fn)(void *arg, const uint8_t *pkt, size_t len),
		      void *arg);
/* Drops what q holds (counted as dropped_ended). */
void nt_pending_clear(struct nt_pending_q *q);

#endif
