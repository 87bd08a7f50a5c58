// SPDX-License-Identifier: MIT
/* The replay window for transport counters. */
#include "core/wg/replay.h"

#include <errno.h>
#include <string.h>

#define WORD_MASK (WG_REPLAY_WORDS - 1)

void wg_replay_init(struct wg_replay_window *win)
{
	memset(win, 0, sizeof(*win));
}

int wg_replay_check_and_update(struct wg_replay_window *win, uint64_t counter, uint64_t limit)
{
	uint64_t word = counter >> 6, bit = UINT64_C(1) << (counter & 63);
	uint64_t *slot;

	if (counter >= limit)
		return -ERANGE;

	if (counter >= win->next) {
		/* Forward: clear the words after the old top word, up to the new
		 * one. Before the first counter all words are clean already. */
		uint64_t top = win->next ? (win->next - 1) >> 6 : 0;
		uint64_t skip = word - top, i;

		if (skip > WG_REPLAY_WORDS)
			skip = WG_REPLAY_WORDS;
		for (i = 1; i <= skip; i++)
			win->bitmap[(top + i) & WORD_MASK] = 0;
		win->next = counter + 1;
	} else if (win->next - 1 - counter > WG_REPLAY_WINDOW) {
		return -ESTALE;
	}

	slot = &win->bitmap[word & WORD_MASK];
	if (*slot & bit)
		return -EALREADY;
	*slot |= bit;
	return 0;
}
