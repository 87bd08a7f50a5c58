// SPDX-License-Identifier: MIT
/* platform/random.c: uniform draws below a bound, from buffered output. */
#include "platform/random.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define DRAWS 200000

static void test_uniform_stays_below_the_bound(void **state)
{
	static const uint32_t bounds[] = {2, 3, 7, 1000, 333333334u, 0x80000001u, UINT32_MAX};

	(void)state;
	assert_int_equal(nt_random_u32_uniform(0), 0);
	assert_int_equal(nt_random_u32_uniform(1), 0);
	for (size_t b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++)
		for (int i = 0; i < 1000; i++)
			assert_true(nt_random_u32_uniform(bounds[b]) < bounds[b]);
}

/* 200000 draws over 10 values: each count within 6 standard deviations
 * (about 800) of 20000; a bias of the kind modulo reduction gives (2^32 mod
 * bound) would not show at this bound, but a broken buffer would (repeats,
 * a stuck value, values outside). */
static void test_uniform_is_spread_evenly(void **state)
{
	unsigned int count[10] = {0};

	(void)state;
	for (int i = 0; i < DRAWS; i++)
		count[nt_random_u32_uniform(10)]++;
	for (int v = 0; v < 10; v++) {
		assert_true(count[v] > DRAWS / 10 - 800);
		assert_true(count[v] < DRAWS / 10 + 800);
	}
}

/* 0x80000001: half of all 32-bit values must be rejected, or the lower half
 * of the range would come up twice as often as the upper. */
static void test_uniform_rejects_the_biased_values(void **state)
{
	unsigned int low = 0;

	(void)state;
	for (int i = 0; i < DRAWS; i++)
		low += nt_random_u32_uniform(0x80000001u) < 0x40000000u;
	/* Expected DRAWS / 2; modulo alone would give 3 / 4. */
	assert_true(low > DRAWS / 2 - 1400);
	assert_true(low < DRAWS / 2 + 1400);
}

/* Consecutive draws across many refills of the buffer are not repeats. */
static void test_consecutive_draws_differ(void **state)
{
	uint32_t prev = nt_random_u32_uniform(UINT32_MAX);
	int same = 0;

	(void)state;
	for (int i = 0; i < 10000; i++) {
		uint32_t r = nt_random_u32_uniform(UINT32_MAX);

		same += r == prev;
		prev = r;
	}
	assert_true(same <= 1);
}

static int setup(void **state)
{
	(void)state;
	return nt_platform_init();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uniform_stays_below_the_bound),
	    cmocka_unit_test(test_uniform_is_spread_evenly),
	    cmocka_unit_test(test_uniform_rejects_the_biased_values),
	    cmocka_unit_test(test_consecutive_draws_differ),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
