// SPDX-License-Identifier: MIT
/* The receiver-index table: random unique indexes, lookups, removal without
 * breaking probe runs, and the bound on entries. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/wg/index.h"
#include "platform/random.h"

/* Draws from a fixed list, then repeats the last value. */
struct scripted {
	const uint32_t *values;
	size_t count, next;
};

static uint32_t scripted_draw(void *ctx)
{
	struct scripted *s = ctx;
	uint32_t v = s->values[s->next < s->count ? s->next : s->count - 1];

	if (s->next < s->count)
		s->next++;
	return v;
}

static int setup(void **state)
{
	(void)state;
	return nt_platform_init();
}

static void test_indexes_are_unique_nonzero_and_found(void **state)
{
	enum { N = 2000 };
	static uint32_t ids[N];
	static int tags[N];
	struct wg_index *t;
	(void)state;

	assert_int_equal(wg_index_new(&t, N), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(wg_index_insert(t, WG_INDEX_KEYPAIR, &tags[i], &ids[i]), 0);
		assert_int_not_equal(ids[i], 0);
	}
	assert_int_equal(wg_index_count(t), N);
	for (int i = 0; i < N; i++) {
		void *ptr = NULL;

		for (int j = 0; j < i; j++)
			assert_int_not_equal(ids[i], ids[j]);
		assert_int_equal(wg_index_lookup(t, ids[i], &ptr), WG_INDEX_KEYPAIR);
		assert_ptr_equal(ptr, &tags[i]);
	}
	wg_index_free(t);
}

static void test_lookup_of_unknown_index_finds_nothing(void **state)
{
	struct wg_index *t;
	uint32_t id;
	int tag;
	void *ptr = &tag;
	(void)state;

	assert_int_equal(wg_index_new(&t, 8), 0);
	assert_int_equal(wg_index_lookup(t, 1234, &ptr), WG_INDEX_NONE);
	assert_ptr_equal(ptr, &tag); /* untouched */
	assert_int_equal(wg_index_insert(t, WG_INDEX_HANDSHAKE, &tag, &id), 0);
	assert_int_equal(wg_index_lookup(t, id + 1, NULL), WG_INDEX_NONE);
	assert_int_equal(wg_index_lookup(t, id, NULL), WG_INDEX_HANDSHAKE);
	wg_index_free(t);
}

static void test_colliding_draws_are_redrawn(void **state)
{
	static const uint32_t draws[] = {0, 7, 7, 0, 7, 9};
	struct scripted s = {draws, sizeof(draws) / sizeof(draws[0]), 0};
	struct wg_index *t;
	uint32_t a, b;
	int x, y;
	(void)state;

	assert_int_equal(wg_index_new(&t, 4), 0);
	wg_index_set_rand(t, scripted_draw, &s);
	assert_int_equal(wg_index_insert(t, WG_INDEX_HANDSHAKE, &x, &a), 0);
	assert_int_equal(a, 7); /* 0 is never handed out */
	assert_int_equal(wg_index_insert(t, WG_INDEX_HANDSHAKE, &y, &b), 0);
	assert_int_equal(b, 9); /* 7, 0, 7 refused */
	wg_index_free(t);
}

static void test_generator_stuck_on_used_values_fails_cleanly(void **state)
{
	static const uint32_t draws[] = {5};
	struct scripted s = {draws, 1, 0};
	struct wg_index *t;
	uint32_t a, b;
	int x;
	(void)state;

	assert_int_equal(wg_index_new(&t, 4), 0);
	wg_index_set_rand(t, scripted_draw, &s);
	assert_int_equal(wg_index_insert(t, WG_INDEX_HANDSHAKE, &x, &a), 0);
	assert_int_equal(wg_index_insert(t, WG_INDEX_HANDSHAKE, &x, &b), -ENOSPC);
	assert_int_equal(wg_index_count(t), 1);
	wg_index_free(t);
}

static void test_remove_keeps_the_rest_of_a_probe_run_reachable(void **state)
{
	/* Sequential ids spread by the hash still collide in a tiny table;
	 * removing from the middle of runs must not hide later members. */
	enum { N = 64 };
	static uint32_t seq[N];
	struct scripted s = {seq, N, 0};
	struct wg_index *t;
	uint32_t ids[N];
	int tags[N];
	(void)state;

	for (uint32_t i = 0; i < N; i++)
		seq[i] = i + 1;
	assert_int_equal(wg_index_new(&t, N), 0);
	wg_index_set_rand(t, scripted_draw, &s);
	for (int i = 0; i < N; i++)
		assert_int_equal(wg_index_insert(t, WG_INDEX_KEYPAIR, &tags[i], &ids[i]), 0);
	for (int i = 0; i < N; i += 2)
		assert_int_equal(wg_index_remove(t, ids[i]), 0);
	assert_int_equal(wg_index_count(t), N / 2);
	for (int i = 0; i < N; i++) {
		void *ptr = NULL;

		if (i % 2 == 0) {
			assert_int_equal(wg_index_lookup(t, ids[i], NULL), WG_INDEX_NONE);
			assert_int_equal(wg_index_remove(t, ids[i]), -ENOENT);
		} else {
			assert_int_equal(wg_index_lookup(t, ids[i], &ptr), WG_INDEX_KEYPAIR);
			assert_ptr_equal(ptr, &tags[i]);
		}
	}
	wg_index_free(t);
}

static void test_random_churn_matches_a_reference(void **state)
{
	enum { CAP = 256, ROUNDS = 20000 };
	static uint32_t live[CAP];
	struct wg_index *t;
	size_t n = 0;
	int tag;
	(void)state;

	assert_int_equal(wg_index_new(&t, CAP), 0);
	for (int r = 0; r < ROUNDS; r++) {
		if (n < CAP && (n == 0 || nt_random_u32_uniform(3) != 0)) {
			assert_int_equal(wg_index_insert(t, WG_INDEX_KEYPAIR, &tag, &live[n]), 0);
			n++;
		} else {
			size_t k = nt_random_u32_uniform((uint32_t)n);

			assert_int_equal(wg_index_remove(t, live[k]), 0);
			live[k] = live[--n];
		}
		assert_int_equal(wg_index_count(t), n);
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(wg_index_lookup(t, live[i], NULL), WG_INDEX_KEYPAIR);
	wg_index_free(t);
}

static void test_full_table_refuses_and_counts(void **state)
{
	struct wg_index *t;
	uint32_t ids[3], extra;
	int tag;
	(void)state;

	assert_int_equal(wg_index_new(&t, 3), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(wg_index_insert(t, WG_INDEX_HANDSHAKE, &tag, &ids[i]), 0);
	assert_int_equal(wg_index_insert(t, WG_INDEX_HANDSHAKE, &tag, &extra), -ENOSPC);
	assert_int_equal(wg_index_refused(t), 1);
	assert_int_equal(wg_index_remove(t, ids[1]), 0);
	assert_int_equal(wg_index_insert(t, WG_INDEX_HANDSHAKE, &tag, &extra), 0);
	wg_index_free(t);
}

static void test_replace_repoints_an_index(void **state)
{
	struct wg_index *t;
	uint32_t id;
	int peer, keypair;
	void *ptr = NULL;
	(void)state;

	assert_int_equal(wg_index_new(&t, 4), 0);
	assert_int_equal(wg_index_insert(t, WG_INDEX_HANDSHAKE, &peer, &id), 0);
	assert_int_equal(wg_index_replace(t, id, WG_INDEX_KEYPAIR, &keypair), 0);
	assert_int_equal(wg_index_lookup(t, id, &ptr), WG_INDEX_KEYPAIR);
	assert_ptr_equal(ptr, &keypair);
	assert_int_equal(wg_index_count(t), 1);
	assert_int_equal(wg_index_replace(t, id + 1, WG_INDEX_KEYPAIR, &keypair), -ENOENT);
	assert_int_equal(wg_index_replace(t, id, WG_INDEX_NONE, &keypair), -EINVAL);
	wg_index_free(t);
}

static void test_bad_arguments_are_refused(void **state)
{
	struct wg_index *t;
	uint32_t id;
	int tag;
	(void)state;

	assert_int_equal(wg_index_new(&t, 0), -EINVAL);
	assert_int_equal(wg_index_new(&t, 2), 0);
	assert_int_equal(wg_index_insert(t, WG_INDEX_NONE, &tag, &id), -EINVAL);
	assert_int_equal(wg_index_insert(t, WG_INDEX_KEYPAIR, NULL, &id), -EINVAL);
	assert_int_equal(wg_index_count(t), 0);
	wg_index_free(t);
	wg_index_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_indexes_are_unique_nonzero_and_found),
	    cmocka_unit_test(test_lookup_of_unknown_index_finds_nothing),
	    cmocka_unit_test(test_colliding_draws_are_redrawn),
	    cmocka_unit_test(test_generator_stuck_on_used_values_fails_cleanly),
	    cmocka_unit_test(test_remove_keeps_the_rest_of_a_probe_run_reachable),
	    cmocka_unit_test(test_random_churn_matches_a_reference),
	    cmocka_unit_test(test_full_table_refuses_and_counts),
	    cmocka_unit_test(test_replace_repoints_an_index),
	    cmocka_unit_test(test_bad_arguments_are_refused),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
