// SPDX-License-Identifier: MIT
/* core/wg/replay.c: the window's edges. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/wg/replay.h"
#include "core/wg/wg_constants.h"

#define LIMIT WG_REJECT_AFTER_MESSAGES

static int check(struct wg_replay_window *w, uint64_t c)
{
	return wg_replay_check_and_update(w, c, LIMIT);
}

static void test_window_constants(void **state)
{
	(void)state;
	assert_int_equal(WG_REPLAY_BITS, 8192);
	assert_int_equal(WG_REPLAY_WINDOW, 8128);
	assert_true(WG_REJECT_AFTER_MESSAGES == UINT64_C(18446744073709543423));
	assert_true(WG_REKEY_AFTER_MESSAGES == UINT64_C(1152921504606846976));
}

static void test_in_order_counters_accepted_once(void **state)
{
	struct wg_replay_window w;
	uint64_t c;
	(void)state;

	wg_replay_init(&w);
	for (c = 0; c < 20000; c++)
		assert_int_equal(check(&w, c), 0);
	for (c = 20000 - 8129; c < 20000; c++)
		assert_int_equal(check(&w, c), -EALREADY);
}

static void test_out_of_order_within_window_accepted(void **state)
{
	struct wg_replay_window w;
	uint64_t c;
	(void)state;

	wg_replay_init(&w);
	assert_int_equal(check(&w, 5000), 0);
	/* Every counter below, in descending order, once each. */
	for (c = 5000; c-- > 0;)
		assert_int_equal(check(&w, c), 0);
	for (c = 0; c <= 5000; c++)
		assert_int_equal(check(&w, c), -EALREADY);
	/* Even and odd interleaved further on. */
	for (c = 6000; c < 7000; c += 2)
		assert_int_equal(check(&w, c + 1), 0);
	for (c = 6000; c < 7000; c += 2)
		assert_int_equal(check(&w, c), 0);
	for (c = 6000; c < 7000; c++)
		assert_int_equal(check(&w, c), -EALREADY);
}

static void test_duplicates_rejected(void **state)
{
	struct wg_replay_window w;
	(void)state;

	wg_replay_init(&w);
	assert_int_equal(check(&w, 0), 0);
	assert_int_equal(check(&w, 0), -EALREADY);
	assert_int_equal(check(&w, 10), 0);
	assert_int_equal(check(&w, 10), -EALREADY);
	assert_int_equal(check(&w, 3), 0);
	assert_int_equal(check(&w, 3), -EALREADY);
	assert_int_equal(check(&w, 0), -EALREADY);
}

static void test_window_edge_is_exactly_8128_back(void **state)
{
	struct wg_replay_window w;
	uint64_t top;
	int k;
	(void)state;

	/* The edge at every position of the top counter within its word. */
	for (k = 0; k < 64; k++) {
		top = 100000 + (uint64_t)k;
		wg_replay_init(&w);
		assert_int_equal(check(&w, top), 0);
		assert_int_equal(check(&w, top - 8129), -ESTALE);
		assert_int_equal(check(&w, top - 8128), 0);
		assert_int_equal(check(&w, top - 8128), -EALREADY);
		assert_int_equal(check(&w, top - 8127), 0);
		assert_int_equal(check(&w, top - 1), 0);
	}
}

static void test_older_than_window_rejected(void **state)
{
	struct wg_replay_window w;
	(void)state;

	wg_replay_init(&w);
	assert_int_equal(check(&w, 10000), 0);
	assert_int_equal(check(&w, 0), -ESTALE);
	assert_int_equal(check(&w, 1871), -ESTALE);
	assert_int_equal(check(&w, 1872), 0);
}

static void test_big_jumps_forget_the_old_window(void **state)
{
	struct wg_replay_window w;
	uint64_t base = UINT64_C(1) << 40;
	uint64_t c;
	(void)state;

	wg_replay_init(&w);
	for (c = 0; c < 200; c++)
		assert_int_equal(check(&w, c), 0);
	/* A jump of exactly the ring size lands on the same slots: they must be clean. */
	assert_int_equal(check(&w, 8192 + 5), 0);
	for (c = 8192 + 6; c < 8192 + 200; c++)
		assert_int_equal(check(&w, c), 0);
	assert_int_equal(check(&w, 8192 + 4), 0);
	assert_int_equal(check(&w, 150), -ESTALE);

	assert_int_equal(check(&w, base), 0);
	assert_int_equal(check(&w, base - 1), 0);
	assert_int_equal(check(&w, base - 8128), 0);
	assert_int_equal(check(&w, base - 8129), -ESTALE);
	assert_int_equal(check(&w, base + 64 * 200), 0);
	/* Counters that were never seen in the newly covered range are all fresh. */
	for (c = base + 64 * 200 - 8128; c < base + 64 * 200; c++)
		assert_int_equal(check(&w, c), 0);
}

static void test_partial_advance_clears_only_skipped_words(void **state)
{
	struct wg_replay_window w;
	uint64_t c;
	(void)state;

	wg_replay_init(&w);
	for (c = 0; c < 8192; c++)
		assert_int_equal(check(&w, c), 0);
	/* Advance by 3 words: the 3 oldest words leave the window, the rest keep their bits. */
	assert_int_equal(check(&w, 8192 + 3 * 64), 0);
	for (c = 8192 + 3 * 64 - 8128; c < 8192; c++)
		assert_int_equal(check(&w, c), -EALREADY);
	for (c = 8192; c < 8192 + 3 * 64; c++)
		assert_int_equal(check(&w, c), 0);
}

static void test_counters_at_or_above_limit_rejected(void **state)
{
	struct wg_replay_window w;
	(void)state;

	wg_replay_init(&w);
	assert_int_equal(check(&w, LIMIT), -ERANGE);
	assert_int_equal(check(&w, LIMIT + 1), -ERANGE);
	assert_int_equal(check(&w, UINT64_MAX), -ERANGE);
	assert_int_equal(check(&w, LIMIT - 1), 0);
	assert_int_equal(check(&w, LIMIT - 1), -EALREADY);
	assert_int_equal(check(&w, LIMIT - 1 - 8128), 0);
	assert_int_equal(check(&w, LIMIT - 1 - 8129), -ESTALE);
	/* A rejected counter does not move the window. */
	wg_replay_init(&w);
	assert_int_equal(wg_replay_check_and_update(&w, 100, 50), -ERANGE);
	assert_int_equal(w.next, 0);
	assert_int_equal(wg_replay_check_and_update(&w, 49, 50), 0);
}

/* Random counters in a small range against a plain model: accept a counter
 * once, unless it is more than 8128 below the greatest accepted. */
static void test_matches_reference_model(void **state)
{
	enum { RANGE = 40000, OPS = 50000 };
	static uint8_t seen[RANGE];
	struct wg_replay_window w;
	uint64_t top = 0, rng = 0x9e3779b97f4a7c15u;
	int have_top = 0, i, outcomes[3] = {0};
	(void)state;

	memset(seen, 0, sizeof(seen));
	wg_replay_init(&w);
	for (i = 0; i < OPS; i++) {
		uint64_t c;
		int want;

		rng = rng * 6364136223846793005u + 1442695040888963407u;
		/* Mostly near the top, sometimes far behind or far ahead. */
		c = (rng >> 33) % 9000;
		c = have_top && top > c ? top - c + (rng >> 20) % 200 : c;
		if ((rng >> 60) == 0)
			c = (rng >> 24) % RANGE;
		if (c >= RANGE)
			c = RANGE - 1;
		if (have_top && c < top && top - c > 8128)
			want = -ESTALE;
		else if (seen[c])
			want = -EALREADY;
		else
			want = 0;
		assert_int_equal(check(&w, c), want);
		outcomes[want == 0 ? 0 : want == -EALREADY ? 1 : 2]++;
		if (want == 0) {
			seen[c] = 1;
			if (!have_top || c > top)
				top = c;
			have_top = 1;
		}
	}
	/* The mix must exercise all three outcomes. */
	assert_true(outcomes[0] > 1000 && outcomes[1] > 1000 && outcomes[2] > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_window_constants),
	    cmocka_unit_test(test_in_order_counters_accepted_once),
	    cmocka_unit_test(test_out_of_order_within_window_accepted),
	    cmocka_unit_test(test_duplicates_rejected),
	    cmocka_unit_test(test_window_edge_is_exactly_8128_back),
	    cmocka_unit_test(test_older_than_window_rejected),
	    cmocka_unit_test(test_big_jumps_forget_the_old_window),
	    cmocka_unit_test(test_partial_advance_clears_only_skipped_words),
	    cmocka_unit_test(test_counters_at_or_above_limit_rejected),
	    cmocka_unit_test(test_matches_reference_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
