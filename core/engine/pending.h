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

#endif
