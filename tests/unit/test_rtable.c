// SPDX-License-Identifier: MIT
/* core/engine/rtable: the portal client's routing table of cidr and dns resources. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/engine/rtable.h"

static struct nt_pmsg_resource res(const char *id, const char *addr)
{
	struct nt_pmsg_resource r;

	memset(&r, 0, sizeof(r));
	strcpy(r.id, id);
	strcpy(r.address, addr);
	r.type = NT_PMSG_RES_CIDR;
	assert_int_equal(wg_allowedips_parse_cidr(addr, &r.cidr), 0);
	return r;
}

static const char *at(struct nt_rtable *t, const char *ip)
{
	uint8_t a[4] = {0};
	unsigned b[4];
	struct nt_rentry *e;

	assert_int_equal(sscanf(ip, "%u.%u.%u.%u", &b[0], &b[1], &b[2], &b[3]), 4);
	for (int i = 0; i < 4; i++)
		a[i] = (uint8_t)b[i];
	e = nt_rtable_lookup(t, AF_INET, a);
	return e ? e->res.id : "-";
}

static void test_rtable_longest_prefix_wins(void **state)
{
	struct nt_pending_counters pc = {0};
	struct nt_rtable t;
	struct nt_pmsg_resource r;
	(void)state;

	nt_rtable_init(&t, 0, &pc);
	r = res("net", "10.20.0.0/16");
	assert_int_equal(nt_rtable_put(&t, &r, NULL), 0);
	r = res("db", "10.20.0.5/32");
	assert_int_equal(nt_rtable_put(&t, &r, NULL), 0);
	assert_string_equal(at(&t, "10.20.0.5"), "db");
	assert_string_equal(at(&t, "10.20.9.9"), "net");
	assert_string_equal(at(&t, "10.21.0.1"), "-");
	/* An update that moves db: its old address is the network's again. */
	r = res("db", "10.30.0.5/32");
	assert_int_equal(nt_rtable_put(&t, &r, NULL), 1);
	assert_string_equal(at(&t, "10.20.0.5"), "net");
	assert_string_equal(at(&t, "10.30.0.5"), "db");
	nt_rtable_del(&t, nt_rtable_find(&t, "net"));
	assert_string_equal(at(&t, "10.20.9.9"), "-");
	assert_null(nt_rtable_find(&t, "net"));
	nt_rtable_fini(&t);
}

static void test_rtable_same_prefix_twice_and_other_types(void **state)
{
	struct nt_pending_counters pc = {0};
	struct nt_rtable t;
	struct nt_pmsg_resource r;
	(void)state;

	nt_rtable_init(&t, 2, &pc);
	r = res("a", "10.1.0.0/24");
	assert_int_equal(nt_rtable_put(&t, &r, NULL), 0);
	r = res("b", "10.1.0.7/24"); /* host bits do not count */
	assert_int_equal(nt_rtable_put(&t, &r, NULL), 0);
	assert_string_equal(at(&t, "10.1.0.1"), "b");
	nt_rtable_del(&t, nt_rtable_find(&t, "b"));
	assert_string_equal(at(&t, "10.1.0.1"), "a");
	r = res("c", "10.2.0.0/24");
	assert_int_equal(nt_rtable_put(&t, &r, NULL), 0);
	r = res("d", "10.3.0.0/24");
	assert_int_equal(nt_rtable_put(&t, &r, NULL), -ENOSPC);
	r.type = NT_PMSG_RES_UNKNOWN;
	assert_int_equal(nt_rtable_put(&t, &r, NULL), -EINVAL);
	nt_rtable_fini(&t);
}

static struct nt_pmsg_resource dns(const char *id, const char *pattern)
{
	struct nt_pmsg_resource r;

	memset(&r, 0, sizeof(r));
	strcpy(r.id, id);
	strcpy(r.address, pattern);
	r.type = NT_PMSG_RES_DNS;
	return r;
}

static const char *named(struct nt_rtable *t, const char *name)
{
	struct nt_rentry *e = nt_rtable_match_name(t, name);

	return e ? e->res.id : "-";
}

/* dns resources are found by name, the most specific pattern first, and
 * never by address; a resource that changes type moves between the two. */
static void test_rtable_dns_most_specific_pattern(void **state)
{
	static const char *const order[][2] = {
	    {"deep", "**.corp.internal"}, {"one", "*.corp.internal"},
	    {"q", "d?.corp.internal"},	  {"exact", "db.corp.internal"},
	    {"sub", "*.eu.corp.internal"},
	};
	struct nt_pending_counters pc = {0};
	struct nt_rtable t;
	struct nt_pmsg_resource r;
	(void)state;

	nt_rtable_init(&t, 0, &pc);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		r = dns(order[i][0], order[i][1]);
		assert_int_equal(nt_rtable_put(&t, &r, NULL), 0);
	}
	assert_string_equal(named(&t, "db.corp.internal"), "exact");
	assert_string_equal(named(&t, "DB.Corp.Internal."), "exact");
	assert_string_equal(named(&t, "dx.corp.internal"), "q");
	assert_string_equal(named(&t, "web.corp.internal"), "one");
	assert_string_equal(named(&t, "corp.internal"), "deep");
	assert_string_equal(named(&t, "a.b.corp.internal"), "deep");
	assert_string_equal(named(&t, "x.eu.corp.internal"), "sub");
	assert_string_equal(named(&t, "corp.internal.evil"), "-");
	assert_string_equal(at(&t, "10.1.0.1"), "-");
	/* exact becomes a cidr resource: found by address, no longer by name. */
	r = res("exact", "10.9.0.0/16");
	assert_int_equal(nt_rtable_put(&t, &r, NULL), 1);
	assert_string_equal(named(&t, "db.corp.internal"), "q");
	assert_string_equal(at(&t, "10.9.1.1"), "exact");
	/* ... and back: its prefix leaves the trie. */
	r = dns("exact", "db.corp.internal");
	assert_int_equal(nt_rtable_put(&t, &r, NULL), 1);
	assert_string_equal(at(&t, "10.9.1.1"), "-");
	assert_string_equal(named(&t, "db.corp.internal"), "exact");
	nt_rtable_del(&t, nt_rtable_find(&t, "exact"));
	assert_string_equal(named(&t, "db.corp.internal"), "q");
	nt_rtable_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rtable_longest_prefix_wins),
	    cmocka_unit_test(test_rtable_same_prefix_twice_and_other_types),
	    cmocka_unit_test(test_rtable_dns_most_specific_pattern),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
