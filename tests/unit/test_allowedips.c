// SPDX-License-Identifier: MIT
/* core/wg/allowedips.c: longest-prefix matches, removal, limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/wg/allowedips.h"

/* Owners are only compared, never dereferenced. */
static int peer_a, peer_b, peer_c, peer_d, peer_e;
#define A ((void *)&peer_a)
#define B ((void *)&peer_b)
#define C ((void *)&peer_c)
#define D ((void *)&peer_d)
#define E ((void *)&peer_e)

static struct wg_cidr cidr_of(const char *text)
{
	struct wg_cidr c;

	assert_int_equal(wg_allowedips_parse_cidr(text, &c), 0);
	return c;
}

static void insert(struct wg_allowedips *t, const char *text, void *owner)
{
	struct wg_cidr c = cidr_of(text);

	assert_int_equal(wg_allowedips_insert(t, &c, owner), 0);
}

static int remove_prefix(struct wg_allowedips *t, const char *text)
{
	struct wg_cidr c = cidr_of(text);

	return wg_allowedips_remove(t, &c);
}

/* Lookup of a bare address given as text. */
static void *lookup(const struct wg_allowedips *t, const char *addr)
{
	struct wg_cidr c = cidr_of(addr);

	assert_int_equal(c.prefix_len, c.family == AF_INET ? 32 : 128);
	return wg_allowedips_lookup(t, c.family, c.addr);
}

static bool owns(const struct wg_allowedips *t, const char *addr, void *owner)
{
	struct wg_cidr c = cidr_of(addr);

	return wg_allowedips_owner_matches(t, c.family, c.addr, owner);
}

static void test_v4_longest_prefix_wins_over_overlaps(void **state)
{
	struct wg_allowedips t;
	(void)state;

	wg_allowedips_init(&t, 0);
	insert(&t, "10.1.2.0/24", C);
	insert(&t, "0.0.0.0/0", E);
	insert(&t, "10.1.2.3/32", D);
	insert(&t, "10.0.0.0/8", A);
	insert(&t, "10.1.0.0/16", B);
	assert_int_equal(t.prefixes, 5);

	assert_ptr_equal(lookup(&t, "10.1.2.3"), D);
	assert_ptr_equal(lookup(&t, "10.1.2.4"), C);
	assert_ptr_equal(lookup(&t, "10.1.2.255"), C);
	assert_ptr_equal(lookup(&t, "10.1.3.3"), B);
	assert_ptr_equal(lookup(&t, "10.1.255.255"), B);
	assert_ptr_equal(lookup(&t, "10.2.2.3"), A);
	assert_ptr_equal(lookup(&t, "10.255.255.255"), A);
	assert_ptr_equal(lookup(&t, "11.1.2.3"), E);
	assert_ptr_equal(lookup(&t, "9.255.255.255"), E);
	assert_ptr_equal(lookup(&t, "255.255.255.255"), E);
	assert_ptr_equal(lookup(&t, "0.0.0.0"), E);
	/* The families are separate tables. */
	assert_null(lookup(&t, "::a01:203"));
	wg_allowedips_clear(&t);
	assert_int_equal(t.nodes, 0);
}

static void test_v6_longest_prefix_wins_over_overlaps(void **state)
{
	struct wg_allowedips t;
	(void)state;

	wg_allowedips_init(&t, 0);
	insert(&t, "fd00:1:2::/48", C);
	insert(&t, "fd00::/8", A);
	insert(&t, "fd00:1:2::3/128", D);
	insert(&t, "fd00:1::/32", B);
	insert(&t, "fd00:1:2:3::/64", E);

	assert_ptr_equal(lookup(&t, "fd00:1:2::3"), D);
	assert_ptr_equal(lookup(&t, "fd00:1:2::4"), C);
	assert_ptr_equal(lookup(&t, "fd00:1:2:3::1"), E);
	assert_ptr_equal(lookup(&t, "fd00:1:2:4::1"), C);
	assert_ptr_equal(lookup(&t, "fd00:1:3::1"), B);
	assert_ptr_equal(lookup(&t, "fd00:2::1"), A);
	assert_ptr_equal(lookup(&t, "fdff:ffff::1"), A);
	assert_null(lookup(&t, "fe00::1"));
	assert_null(lookup(&t, "::"));
	assert_null(lookup(&t, "10.1.2.3"));
	wg_allowedips_clear(&t);
}

static void test_catch_all_prefixes_match_everything(void **state)
{
	struct wg_allowedips t;
	(void)state;

	wg_allowedips_init(&t, 0);
	insert(&t, "0.0.0.0/0", A);
	insert(&t, "::/0", B);
	assert_ptr_equal(lookup(&t, "1.2.3.4"), A);
	assert_ptr_equal(lookup(&t, "255.255.255.255"), A);
	assert_ptr_equal(lookup(&t, "2001:db8::1"), B);
	assert_ptr_equal(lookup(&t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), B);
	/* A more specific prefix under the catch-all still wins. */
	insert(&t, "192.168.0.0/16", C);
	insert(&t, "2001:db8::/32", C);
	assert_ptr_equal(lookup(&t, "192.168.7.7"), C);
	assert_ptr_equal(lookup(&t, "192.169.7.7"), A);
	assert_ptr_equal(lookup(&t, "2001:db8:5::5"), C);
	assert_ptr_equal(lookup(&t, "2001:db9::5"), B);
	assert_int_equal(remove_prefix(&t, "0.0.0.0/0"), 0);
	assert_null(lookup(&t, "1.2.3.4"));
	assert_ptr_equal(lookup(&t, "192.168.7.7"), C);
	wg_allowedips_clear(&t);
}

static void test_reinsert_moves_prefix_to_new_owner(void **state)
{
	struct wg_allowedips t;
	size_t nodes;
	(void)state;

	wg_allowedips_init(&t, 0);
	insert(&t, "10.0.0.0/8", A);
	insert(&t, "10.1.0.0/16", A);
	insert(&t, "fd00::/64", A);
	nodes = t.nodes;
	insert(&t, "10.0.0.0/8", B);
	insert(&t, "fd00::/64", B);
	assert_int_equal(t.nodes, nodes);
	assert_int_equal(t.prefixes, 3);
	assert_ptr_equal(lookup(&t, "10.2.0.1"), B);
	assert_ptr_equal(lookup(&t, "10.1.0.1"), A);
	assert_ptr_equal(lookup(&t, "fd00::1"), B);
	/* Removing A's prefixes leaves the moved ones with B. */
	assert_int_equal(wg_allowedips_remove_owner(&t, A), 1);
	assert_ptr_equal(lookup(&t, "10.1.0.1"), B);
	assert_ptr_equal(lookup(&t, "fd00::1"), B);
	wg_allowedips_clear(&t);
}

static void test_host_bits_are_masked_on_insert_and_remove(void **state)
{
	struct wg_allowedips t;
	struct wg_cidr c;
	(void)state;

	wg_allowedips_init(&t, 0);
	insert(&t, "10.0.0.1/8", A);
	insert(&t, "fd00::1:2:3:4/64", B);
	insert(&t, "192.168.1.77/0", C);
	assert_ptr_equal(lookup(&t, "10.200.3.4"), A);
	assert_ptr_equal(lookup(&t, "10.0.0.0"), A);
	assert_ptr_equal(lookup(&t, "fd00::ffff"), B);
	assert_ptr_equal(lookup(&t, "99.1.1.1"), C);
	/* Same prefix, other host bits: the same entry. */
	insert(&t, "10.9.9.9/8", D);
	assert_int_equal(t.prefixes, 3);
	assert_ptr_equal(lookup(&t, "10.0.0.1"), D);
	assert_int_equal(remove_prefix(&t, "10.255.0.0/8"), 0);
	assert_ptr_equal(lookup(&t, "10.0.0.1"), C);
	assert_int_equal(remove_prefix(&t, "fd00::abcd/64"), 0);
	assert_null(lookup(&t, "fd00::ffff"));
	/* A length that is not a byte boundary. */
	insert(&t, "172.16.99.1/12", E);
	assert_ptr_equal(lookup(&t, "172.31.255.255"), E);
	assert_ptr_equal(lookup(&t, "172.15.255.255"), C);
	assert_ptr_equal(lookup(&t, "172.32.0.0"), C);
	c = cidr_of("172.31.0.0/12");
	assert_int_equal(wg_allowedips_remove(&t, &c), 0);
	assert_ptr_equal(lookup(&t, "172.16.0.1"), C);
	wg_allowedips_clear(&t);
}

static void test_remove_prefix_falls_back_to_shorter_match(void **state)
{
	struct wg_allowedips t;
	(void)state;

	wg_allowedips_init(&t, 0);
	insert(&t, "10.0.0.0/8", A);
	insert(&t, "10.1.0.0/16", B);
	insert(&t, "10.1.2.0/24", C);
	insert(&t, "10.1.2.3/32", D);

	assert_int_equal(remove_prefix(&t, "10.1.2.3/32"), 0);
	assert_ptr_equal(lookup(&t, "10.1.2.3"), C);
	assert_int_equal(remove_prefix(&t, "10.1.0.0/16"), 0);
	assert_ptr_equal(lookup(&t, "10.1.3.3"), A);
	assert_ptr_equal(lookup(&t, "10.1.2.3"), C);
	/* Missing prefixes, including lengths that exist only as branches. */
	assert_int_equal(remove_prefix(&t, "10.1.0.0/16"), -ENOENT);
	assert_int_equal(remove_prefix(&t, "10.1.2.3/32"), -ENOENT);
	assert_int_equal(remove_prefix(&t, "10.0.0.0/9"), -ENOENT);
	assert_int_equal(remove_prefix(&t, "11.0.0.0/8"), -ENOENT);
	assert_int_equal(remove_prefix(&t, "fd00::/8"), -ENOENT);
	assert_int_equal(t.prefixes, 2);

	assert_int_equal(remove_prefix(&t, "10.0.0.0/8"), 0);
	assert_int_equal(remove_prefix(&t, "10.1.2.0/24"), 0);
	assert_null(lookup(&t, "10.1.2.3"));
	assert_int_equal(t.prefixes, 0);
	assert_int_equal(t.nodes, 0);
	assert_null(t.root4);
	wg_allowedips_clear(&t);
}

static void test_remove_drops_branch_nodes_left_with_one_child(void **state)
{
	struct wg_allowedips t;
	(void)state;

	wg_allowedips_init(&t, 0);
	insert(&t, "10.0.0.0/24", A);
	insert(&t, "10.0.1.0/24", B);
	assert_int_equal(t.nodes, 3); /* two prefixes under a /23 branch */
	assert_int_equal(remove_prefix(&t, "10.0.1.0/24"), 0);
	assert_int_equal(t.nodes, 1);
	insert(&t, "fd00:1::/32", A);
	insert(&t, "fd00:2::/32", B);
	insert(&t, "fd00:3::/32", C);
	assert_int_equal(wg_allowedips_remove_owner(&t, B), 1);
	assert_int_equal(wg_allowedips_remove_owner(&t, C), 1);
	assert_int_equal(t.nodes, 2);
	assert_ptr_equal(lookup(&t, "fd00:1::1"), A);
	assert_ptr_equal(lookup(&t, "10.0.0.1"), A);
	wg_allowedips_clear(&t);
}

static void test_remove_owner_removes_only_that_owner(void **state)
{
	struct wg_allowedips t;
	(void)state;

	wg_allowedips_init(&t, 0);
	insert(&t, "10.0.0.0/8", A);
	insert(&t, "10.1.0.0/16", B);
	insert(&t, "10.1.2.0/24", A);
	insert(&t, "10.1.2.128/25", B);
	insert(&t, "192.168.0.0/24", A);
	insert(&t, "fd00::/8", A);
	insert(&t, "fd00:1::/32", B);

	assert_int_equal(wg_allowedips_remove_owner(&t, A), 4);
	assert_int_equal(t.prefixes, 3);
	assert_null(lookup(&t, "10.2.0.1"));
	assert_ptr_equal(lookup(&t, "10.1.2.3"), B);
	assert_ptr_equal(lookup(&t, "10.1.2.200"), B);
	assert_null(lookup(&t, "192.168.0.1"));
	assert_null(lookup(&t, "fd00:2::1"));
	assert_ptr_equal(lookup(&t, "fd00:1::1"), B);
	assert_int_equal(wg_allowedips_remove_owner(&t, A), 0);
	assert_int_equal(wg_allowedips_remove_owner(&t, B), 3);
	assert_int_equal(t.prefixes, 0);
	assert_int_equal(t.nodes, 0);
	assert_null(t.root4);
	assert_null(t.root6);
	assert_int_equal(wg_allowedips_remove_owner(&t, NULL), 0);
	wg_allowedips_clear(&t);
}

static void test_lookup_misses_return_null(void **state)
{
	struct wg_allowedips t;
	uint8_t any[16] = {0};
	(void)state;

	wg_allowedips_init(&t, 0);
	assert_null(lookup(&t, "10.0.0.1"));
	assert_null(lookup(&t, "::1"));
	insert(&t, "10.0.0.0/24", A);
	insert(&t, "10.0.2.0/24", A);
	insert(&t, "10.0.0.7/32", B);
	assert_null(lookup(&t, "10.0.1.1"));
	assert_null(lookup(&t, "10.0.3.1"));
	assert_null(lookup(&t, "9.0.0.7"));
	assert_null(lookup(&t, "138.0.0.7"));
	assert_null(wg_allowedips_lookup(&t, AF_UNIX, any));
	assert_null(wg_allowedips_lookup(&t, AF_INET, NULL));
	wg_allowedips_clear(&t);
}

static void test_source_check_requires_owner_of_longest_match(void **state)
{
	struct wg_allowedips t;
	(void)state;

	wg_allowedips_init(&t, 0);
	insert(&t, "10.0.0.0/8", A);
	insert(&t, "10.1.0.0/16", B);
	insert(&t, "fd00::/16", A);

	assert_true(owns(&t, "10.2.3.4", A));
	assert_false(owns(&t, "10.2.3.4", B));
	/* A's /8 holds 10.1.x too, but B's /16 is longer: only B may send from it. */
	assert_true(owns(&t, "10.1.3.4", B));
	assert_false(owns(&t, "10.1.3.4", A));
	assert_false(owns(&t, "11.1.3.4", A));
	assert_false(owns(&t, "11.1.3.4", NULL));
	assert_true(owns(&t, "fd00::5", A));
	assert_false(owns(&t, "fd01::5", A));
	assert_false(owns(&t, "fd00::5", C));
	wg_allowedips_clear(&t);
}

static void test_node_limit_refuses_with_enospc(void **state)
{
	struct wg_allowedips t;
	struct wg_cidr c;
	size_t nodes;
	(void)state;

	wg_allowedips_init(&t, 3);
	assert_int_equal(t.max_nodes, 3);
	insert(&t, "10.0.0.0/24", A);
	/* Diverging from 10.0.0.0/24 needs a branch node as well: 3 in all. */
	insert(&t, "10.0.1.0/24", B);
	assert_int_equal(t.nodes, 3);
	c = cidr_of("10.0.2.0/24");
	assert_int_equal(wg_allowedips_insert(&t, &c, C), -ENOSPC);
	c = cidr_of("fd00::/8");
	assert_int_equal(wg_allowedips_insert(&t, &c, C), -ENOSPC);
	assert_int_equal(t.refused_nospc, 2);
	nodes = t.nodes;
	/* Refused inserts change nothing; an existing prefix can still move. */
	assert_int_equal(t.prefixes, 2);
	assert_null(lookup(&t, "10.0.2.1"));
	insert(&t, "10.0.0.0/24", C);
	assert_int_equal(t.nodes, nodes);
	assert_ptr_equal(lookup(&t, "10.0.0.1"), C);
	/* The branch node becomes a prefix at no cost. */
	insert(&t, "10.0.0.0/23", D);
	assert_int_equal(t.nodes, 3);
	assert_ptr_equal(lookup(&t, "10.0.1.1"), B);
	/* Room again after a removal. */
	assert_int_equal(remove_prefix(&t, "10.0.1.0/24"), 0);
	insert(&t, "fd00::/8", E);
	assert_ptr_equal(lookup(&t, "fd00::1"), E);
	wg_allowedips_clear(&t);

	wg_allowedips_init(&t, 0);
	assert_int_equal(t.max_nodes, WG_ALLOWEDIPS_DEFAULT_MAX_NODES);
}

static void test_insert_rejects_bad_arguments(void **state)
{
	struct wg_allowedips t;
	struct wg_cidr c;
	(void)state;

	wg_allowedips_init(&t, 0);
	c = cidr_of("10.0.0.0/8");
	assert_int_equal(wg_allowedips_insert(&t, &c, NULL), -EINVAL);
	assert_int_equal(wg_allowedips_insert(&t, NULL, A), -EINVAL);
	c.prefix_len = 33;
	assert_int_equal(wg_allowedips_insert(&t, &c, A), -EINVAL);
	c.prefix_len = 8;
	c.family = AF_UNIX;
	assert_int_equal(wg_allowedips_insert(&t, &c, A), -EINVAL);
	c = cidr_of("fd00::/8");
	c.prefix_len = 129;
	assert_int_equal(wg_allowedips_insert(&t, &c, A), -EINVAL);
	assert_int_equal(wg_allowedips_remove(&t, &c), -ENOENT);
	assert_int_equal(t.nodes, 0);
	wg_allowedips_clear(&t);
}

struct walk_ctx {
	char seen[8][WG_CIDR_STRLEN];
	int count;
	int stop_after;
};

static int collect(const struct wg_cidr *cidr, void *arg)
{
	struct walk_ctx *w = arg;

	assert_true(w->count < 8);
	assert_int_equal(wg_allowedips_format_cidr(cidr, w->seen[w->count]), 0);
	w->count++;
	return w->count == w->stop_after ? 42 : 0;
}

static void test_walk_lists_an_owners_masked_prefixes(void **state)
{
	struct wg_allowedips t;
	struct walk_ctx w;
	(void)state;

	wg_allowedips_init(&t, 0);
	insert(&t, "fd00::1/64", A);
	insert(&t, "10.1.0.0/16", B);
	insert(&t, "10.0.0.9/8", A);
	insert(&t, "192.168.1.1", A);

	memset(&w, 0, sizeof(w));
	assert_int_equal(wg_allowedips_walk_owner(&t, A, collect, &w), 0);
	assert_int_equal(w.count, 3);
	assert_string_equal(w.seen[0], "10.0.0.0/8");
	assert_string_equal(w.seen[1], "192.168.1.1/32");
	assert_string_equal(w.seen[2], "fd00::/64");

	memset(&w, 0, sizeof(w));
	w.stop_after = 2;
	assert_int_equal(wg_allowedips_walk_owner(&t, A, collect, &w), 42);
	assert_int_equal(w.count, 2);
	wg_allowedips_clear(&t);
}

struct parse_case {
	const char *text;
	int ret;
	int family;
	unsigned int prefix_len;
};

static void test_parse_cidr_accepts_and_rejects(void **state)
{
	static const struct parse_case cases[] = {
	    {"10.0.0.0/8", 0, AF_INET, 8},
	    {"10.0.0.1/8", 0, AF_INET, 8},
	    {"0.0.0.0/0", 0, AF_INET, 0},
	    {"255.255.255.255/32", 0, AF_INET, 32},
	    {"192.168.1.1", 0, AF_INET, 32},
	    {"fd00::/64", 0, AF_INET6, 64},
	    {"::/0", 0, AF_INET6, 0},
	    {"::1", 0, AF_INET6, 128},
	    {"2001:db8::1/128", 0, AF_INET6, 128},
	    {"::ffff:10.0.0.1/96", 0, AF_INET6, 96},
	    {"FD00:ABCD::/32", 0, AF_INET6, 32},
	    {"", -EINVAL, 0, 0},
	    {"/8", -EINVAL, 0, 0},
	    {"10.0.0.0/", -EINVAL, 0, 0},
	    {"10.0.0.0/33", -EINVAL, 0, 0},
	    {"10.0.0.0/-1", -EINVAL, 0, 0},
	    {"10.0.0.0/+8", -EINVAL, 0, 0},
	    {"10.0.0.0/08", -EINVAL, 0, 0},
	    {"10.0.0.0/8x", -EINVAL, 0, 0},
	    {"10.0.0.0/8 ", -EINVAL, 0, 0},
	    {" 10.0.0.0/8", -EINVAL, 0, 0},
	    {"10.0.0.0/8/8", -EINVAL, 0, 0},
	    {"10.0.0.0/0008", -EINVAL, 0, 0},
	    {"10.0.0.0/4294967304", -EINVAL, 0, 0},
	    {"10.0.0/8", -EINVAL, 0, 0},
	    {"10.0.0.256/32", -EINVAL, 0, 0},
	    {"10.0.0.0.0", -EINVAL, 0, 0},
	    {"010.0.0.1", -EINVAL, 0, 0},
	    {"10.0.0.x", -EINVAL, 0, 0},
	    {"fd00::/129", -EINVAL, 0, 0},
	    {"fd00::/1280", -EINVAL, 0, 0},
	    {"fd00:::/64", -EINVAL, 0, 0},
	    {"fe80::1%eth0/64", -EINVAL, 0, 0},
	    {"fd00::g/64", -EINVAL, 0, 0},
	    {"1:2:3:4:5:6:7:8:9", -EINVAL, 0, 0},
	    {"[fd00::1]", -EINVAL, 0, 0},
	    {"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255:1/1", -EINVAL, 0, 0},
	    {"example.com/8", -EINVAL, 0, 0},
	};
	struct wg_cidr c;
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = wg_allowedips_parse_cidr(cases[i].text, &c);

		if (ret != cases[i].ret)
			fail_msg("\"%s\": got %d, want %d", cases[i].text, ret, cases[i].ret);
		if (ret == 0) {
			assert_int_equal(c.family, cases[i].family);
			assert_int_equal(c.prefix_len, cases[i].prefix_len);
		}
	}
	assert_int_equal(wg_allowedips_parse_cidr(NULL, &c), -EINVAL);
	assert_int_equal(wg_allowedips_parse_cidr("10.0.0.0/8", NULL), -EINVAL);

	/* The address is kept as written, host bits included. */
	c = cidr_of("10.1.2.3/8");
	assert_memory_equal(c.addr, ((uint8_t[]){10, 1, 2, 3}), 4);
	c = cidr_of("fd00::1/64");
	assert_int_equal(c.addr[0], 0xfd);
	assert_int_equal(c.addr[15], 1);
}

static void test_format_cidr_round_trips(void **state)
{
	static const char *const texts[] = {"10.0.0.0/8", "0.0.0.0/0", "1.2.3.4/32",
					    "fd00::/64",  "::/0",      "2001:db8::1/128"};
	char out[WG_CIDR_STRLEN];
	struct wg_cidr c;
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		c = cidr_of(texts[i]);
		assert_int_equal(wg_allowedips_format_cidr(&c, out), 0);
		assert_string_equal(out, texts[i]);
	}
	c.family = AF_UNIX;
	assert_int_equal(wg_allowedips_format_cidr(&c, out), -EINVAL);
}

/* The randomized comparison: a linear table as the reference. */

#define REF_MAX	 4096
#define N_OWNERS 7

struct ref_entry {
	struct wg_cidr cidr; /* masked */
	void *owner;
};

struct ref_table {
	struct ref_entry e[REF_MAX];
	size_t n;
};

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	/* splitmix64: deterministic and good enough to spread prefixes. */
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static unsigned int rng_below(unsigned int bound)
{
	return (unsigned int)(rng_next() % bound);
}

static unsigned int ref_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

static void ref_mask(struct wg_cidr *c)
{
	unsigned int i, bits = ref_bits(c->family);

	for (i = 0; i < 16; i++) {
		unsigned int lo = 8 * i;

		if (lo >= bits || c->prefix_len <= lo)
			c->addr[i] = 0;
		else if (c->prefix_len < lo + 8)
			c->addr[i] &= (uint8_t)(0xff << (lo + 8 - c->prefix_len));
	}
}

static bool ref_holds(const struct wg_cidr *c, int family, const uint8_t *addr)
{
	unsigned int i;

	if (c->family != family)
		return false;
	for (i = 0; i < c->prefix_len; i++) {
		unsigned int bit = 7 - (i & 7);

		if (((c->addr[i >> 3] >> bit) & 1) != ((addr[i >> 3] >> bit) & 1))
			return false;
	}
	return true;
}

static struct ref_entry *ref_find(struct ref_table *r, const struct wg_cidr *c)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->e[i].cidr.family == c->family && r->e[i].cidr.prefix_len == c->prefix_len &&
		    memcmp(r->e[i].cidr.addr, c->addr, 16) == 0)
			return &r->e[i];
	return NULL;
}

static void *ref_lookup(const struct ref_table *r, int family, const uint8_t *addr)
{
	int best_len = -1;
	void *best = NULL;
	size_t i;

	for (i = 0; i < r->n; i++)
		if ((int)r->e[i].cidr.prefix_len > best_len &&
		    ref_holds(&r->e[i].cidr, family, addr)) {
			best_len = r->e[i].cidr.prefix_len;
			best = r->e[i].owner;
		}
	return best;
}

/* Addresses drawn from a few clustered bases so prefixes overlap a lot. */
static void random_addr(int family, uint8_t addr[16])
{
	static const uint8_t bases[4][16] = {
	    {10, 0, 0, 0},
	    {10, 1, 0, 0},
	    {192, 168, 0, 0},
	    {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	};
	unsigned int i, n = ref_bits(family) / 8, keep = rng_below(n + 1);

	memcpy(addr, bases[rng_below(4)], 16);
	for (i = keep; i < n; i++)
		addr[i] = (uint8_t)rng_next();
	/* Sometimes a lone random flip deep inside. */
	if (rng_below(4) == 0)
		addr[rng_below(n)] ^= (uint8_t)(1u << rng_below(8));
	for (i = n; i < 16; i++)
		addr[i] = 0;
}

static void random_cidr(struct wg_cidr *c)
{
	memset(c, 0, sizeof(*c));
	c->family = rng_below(2) ? AF_INET : AF_INET6;
	random_addr(c->family, c->addr);
	/* Short prefixes are rare, or they would cover every lookup. */
	if (rng_below(32) == 0)
		c->prefix_len = (uint8_t)rng_below(ref_bits(c->family) + 1);
	else
		c->prefix_len = (uint8_t)(12 + rng_below(ref_bits(c->family) - 11));
}

static size_t ref_remove_owner(struct ref_table *r, void *owner)
{
	size_t i = 0, removed = 0;

	while (i < r->n) {
		if (r->e[i].owner == owner) {
			r->e[i] = r->e[--r->n];
			removed++;
		} else {
			i++;
		}
	}
	return removed;
}

static void compare_lookups(const struct wg_allowedips *t, const struct ref_table *r,
			    unsigned int count)
{
	uint8_t addr[16];
	unsigned int i;

	for (i = 0; i < count; i++) {
		int family = rng_below(2) ? AF_INET : AF_INET6;

		if (r->n && rng_below(2)) {
			/* An address inside (or next to) a stored prefix. */
			const struct ref_entry *e = &r->e[rng_below((unsigned int)r->n)];
			unsigned int j, n = ref_bits(e->cidr.family) / 8;

			family = e->cidr.family;
			memcpy(addr, e->cidr.addr, 16);
			for (j = e->cidr.prefix_len / 8; j < n; j++)
				addr[j] ^= (uint8_t)rng_next() &
					   (j == e->cidr.prefix_len / 8 ? 0x0f : 0xff);
		} else {
			random_addr(family, addr);
		}
		assert_ptr_equal(wg_allowedips_lookup(t, family, addr),
				 ref_lookup(r, family, addr));
	}
}

static void test_random_trie_matches_linear_reference(void **state)
{
	static struct ref_table ref;
	static int owners[N_OWNERS];
	struct wg_allowedips t;
	struct wg_cidr c, masked;
	struct ref_entry *e;
	unsigned int round, i;
	(void)state;

	rng_state = UINT64_C(0x6e6f74756e); /* fixed seed: reproducible */
	ref.n = 0;
	wg_allowedips_init(&t, 4 * REF_MAX);

	for (round = 0; round < 6; round++) {
		for (i = 0; i < 600; i++) {
			void *owner = &owners[rng_below(N_OWNERS)];

			random_cidr(&c);
			assert_int_equal(wg_allowedips_insert(&t, &c, owner), 0);
			ref_mask(&c);
			e = ref_find(&ref, &c);
			if (e) {
				e->owner = owner;
			} else {
				assert_true(ref.n < REF_MAX);
				ref.e[ref.n].cidr = c;
				ref.e[ref.n++].owner = owner;
			}
		}
		assert_int_equal(t.prefixes, ref.n);
		assert_true(t.nodes < 2 * ref.n);
		compare_lookups(&t, &ref, 2000);

		/* Remove some stored prefixes (host bits set on purpose) and some absent ones. */
		for (i = 0; i < 150 && ref.n; i++) {
			size_t k = rng_below((unsigned int)ref.n);

			c = ref.e[k].cidr;
			if (c.prefix_len < ref_bits(c.family))
				c.addr[ref_bits(c.family) / 8 - 1] |= 1;
			assert_int_equal(wg_allowedips_remove(&t, &c), 0);
			ref.e[k] = ref.e[--ref.n];
			random_cidr(&c);
			masked = c;
			ref_mask(&masked);
			e = ref_find(&ref, &masked);
			assert_int_equal(wg_allowedips_remove(&t, &c), e ? 0 : -ENOENT);
			if (e)
				*e = ref.e[--ref.n];
		}
		if (round % 2 == 1) {
			void *owner = &owners[rng_below(N_OWNERS)];

			assert_int_equal(wg_allowedips_remove_owner(&t, owner),
					 ref_remove_owner(&ref, owner));
		}
		assert_int_equal(t.prefixes, ref.n);
		/* Only prefixes and two-way branches remain after removals. */
		assert_true(t.nodes < 2 * ref.n || (t.nodes == 0 && ref.n == 0));
		compare_lookups(&t, &ref, 2000);
	}

	wg_allowedips_clear(&t);
	assert_int_equal(t.nodes, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v4_longest_prefix_wins_over_overlaps),
	    cmocka_unit_test(test_v6_longest_prefix_wins_over_overlaps),
	    cmocka_unit_test(test_catch_all_prefixes_match_everything),
	    cmocka_unit_test(test_reinsert_moves_prefix_to_new_owner),
	    cmocka_unit_test(test_host_bits_are_masked_on_insert_and_remove),
	    cmocka_unit_test(test_remove_prefix_falls_back_to_shorter_match),
	    cmocka_unit_test(test_remove_drops_branch_nodes_left_with_one_child),
	    cmocka_unit_test(test_remove_owner_removes_only_that_owner),
	    cmocka_unit_test(test_lookup_misses_return_null),
	    cmocka_unit_test(test_source_check_requires_owner_of_longest_match),
	    cmocka_unit_test(test_node_limit_refuses_with_enospc),
	    cmocka_unit_test(test_insert_rejects_bad_arguments),
	    cmocka_unit_test(test_walk_lists_an_owners_masked_prefixes),
	    cmocka_unit_test(test_parse_cidr_accepts_and_rejects),
	    cmocka_unit_test(test_format_cidr_round_trips),
	    cmocka_unit_test(test_random_trie_matches_linear_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
