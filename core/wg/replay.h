/* SPDX-License-Identifier: MIT */
/* Sliding-window replay protection for transport counters (RFC 6479 style).
 *
 * 8192 bits in a ring of 128 words. The word holding the greatest counter
 * seen may be only partly used, so the window that is always tracked is
 * 8192 - 64 = 8128 counters below the greatest: a counter that many behind
 * is still accepted once, one further is rejected as too old. Moving the
 * window forward clears the words it skips, at most the whole ring.
 */
#ifndef NT_CORE_REPLAY_H
#define NT_CORE_REPLAY_H

#include <stdint.h>

#define WG_REPLAY_WORDS	 128
#define WG_REPLAY_BITS	 (WG_REPLAY_WORDS * 64)
#define WG_REPLAY_WINDOW (WG_REPLAY_BITS - 64)

struct wg_replay_window {
	uint64_t next; /* greatest counter accepted + 1; 0 before the first */
	uint64_t bitmap[WG_REPLAY_WORDS];
};

void wg_replay_init(struct wg_replay_window *win);

/* Accepts counter once: call it only after the packet has authenticated.
 * limit is the first counter never accepted (WG_REJECT_AFTER_MESSAGES).
 * Returns 0, -EALREADY (seen before), -ESTALE (older than the window) or
 * -ERANGE (at or above limit). The window is updated only on 0. */
int wg_replay_check_and_update(struct wg_replay_window *win, uint64_t counter, uint64_t limit);

#endif
