// SPDX-License-Identifier: MIT
/* core/engine/rnames: names of dns resources and their stable proxy addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/engine/rnames.h"

static void test_rnames_normalize(void **state)
{
	char out[NT_PMSG_DOMAIN_MAX + 1];
	char long_label[80], long_name[300];
	(void)state;

	assert_true(nt_rnames_normalize("Web.Corp.Internal.", out));
	assert_string_equal(out, "web.corp.internal");
	assert_true(nt_rnames_normalize("_srv.x-1", out));
	assert_string_equal(out, "_srv.x-1");
	static const char *const bad[] = {"", ".", "a..b", ".a", "a b", "a/b", "*.x", "d?.x", "a.."};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(nt_rnames_normalize(bad[i], out));
	memset(long_label, 'a', 64);
	long_label[64] = '\0';
	assert_false(nt_rnames_normalize(long_label, out));
	long_label[63] = '\0';
	assert_true(nt_rnames_normalize(long_label, out));
	/* 254 bytes without the trailing dot is one too many. */
	memset(long_name, 'b', 254);
	for (size_t i = 50; i < 254; i += 50)
		long_name[i] = '.';
	long_name[254] = '\0';
	assert_false(nt_rnames_normalize(long_name, out));
	long_name[253] = '\0';
	assert_true(nt_rnames_normalize(long_name, out));
}

static void expect_ip(int family, const char *text, const uint8_t *got)
{
	uint8_t want[16];

	assert_int_equal(inet_pton(family, text, want), 1);
	assert_memory_equal(got, want, family == AF_INET ? 4 : 16);
}

/* Each new name gets the next pair of proxy addresses and keeps it; an
 * address finds its name; the table stops at its bound. */
static void test_rnames_stable_addresses_and_bound(void **state)
{
	struct nt_pending_counters pc = {0};
	struct nt_rnames t;
	struct nt_rname *a, *b, *again;
	uint8_t stray[4];
	(void)state;

	assert_int_equal(nt_rnames_init(&t, 3, &pc), 0);
	assert_int_equal(nt_rnames_get(&t, "a.example", &a), 1);
	assert_int_equal(nt_rnames_get(&t, "b.example", &b), 1);
	expect_ip(AF_INET, "100.96.0.1", a->v4);
	expect_ip(AF_INET6, "fd00:2021:1111:8000::1", a->v6);
	expect_ip(AF_INET, "100.96.0.2", b->v4);
	expect_ip(AF_INET6, "fd00:2021:1111:8000::2", b->v6);
	assert_int_equal(nt_rnames_get(&t, "a.example", &again), 0);
	assert_ptr_equal(again, a);
	assert_ptr_equal(nt_rnames_find(&t, "b.example"), b);
	assert_null(nt_rnames_find(&t, "c.example"));
	assert_ptr_equal(nt_rnames_by_addr(&t, AF_INET, b->v4), b);
	assert_ptr_equal(nt_rnames_by_addr(&t, AF_INET6, a->v6), a);
	/* A proxy address no name holds yet, and one outside the range. */
	assert_int_equal(inet_pton(AF_INET, "100.96.0.3", stray), 1);
	assert_null(nt_rnames_by_addr(&t, AF_INET, stray));
	assert_int_equal(inet_pton(AF_INET, "10.96.0.1", stray), 1);
	assert_null(nt_rnames_by_addr(&t, AF_INET, stray));
	assert_int_equal(nt_rnames_get(&t, "c.example", &again), 1);
	assert_int_equal(nt_rnames_get(&t, "d.example", &again), -ENOSPC);
	assert_int_equal(t.n, 3);
	nt_rnames_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rnames_normalize),
	    cmocka_unit_test(test_rnames_stable_addresses_and_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
