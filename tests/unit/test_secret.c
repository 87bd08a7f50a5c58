// SPDX-License-Identifier: MIT
/* platform/secret.c: equality that does not depend on which length is
 * whose, and a process that keeps its memory to itself. */
#include "platform/secret.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>

#include <cmocka.h>

#include "platform/random.h"

static void test_secret_equal_same_bytes(void **state)
{
	(void)state;
	assert_true(nt_secret_equal("hunter2", 7, "hunter2", 7));
	assert_true(nt_secret_equal("", 0, "", 0));
}

static void test_secret_equal_differs_in_one_byte(void **state)
{
	char a[255], b[255];

	(void)state;
	memset(a, 'x', sizeof(a));
	for (size_t i = 0; i < sizeof(b); i++) {
		memcpy(b, a, sizeof(b));
		b[i] ^= 1;
		assert_false(nt_secret_equal(a, sizeof(a), b, sizeof(b)));
	}
}

/* A guess that is a prefix of the secret, or the secret with more behind
 * it, is not the secret: the comparison sees every byte of both. */
static void test_secret_equal_prefix_is_not_equal(void **state)
{
	(void)state;
	assert_false(nt_secret_equal("hunter2", 7, "hunter", 6));
	assert_false(nt_secret_equal("hunter", 6, "hunter2", 7));
	assert_false(nt_secret_equal("", 0, "h", 1));
	assert_false(nt_secret_equal("a\0", 2, "a", 1));
}

static void test_protect_process_makes_it_non_dumpable(void **state)
{
	(void)state;
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
	assert_int_equal(nt_secret_protect_process(), 0);
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_secret_equal_same_bytes),
	    cmocka_unit_test(test_secret_equal_differs_in_one_byte),
	    cmocka_unit_test(test_secret_equal_prefix_is_not_equal),
	    cmocka_unit_test(test_protect_process_makes_it_non_dumpable),
	};

	if (nt_platform_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
