// SPDX-License-Identifier: MIT
/* core/resolver/dns_msg: query bytes, and responses built by hand, good and hostile. */
#include "core/resolver/dns_msg.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAXA 8

/* ---- a small message builder ---- */

struct msg {
	uint8_t b[2048];
	size_t len;
};

static void put8(struct msg *m, uint8_t v)
{
	assert_true(m->len < sizeof(m->b));
	m->b[m->len++] = v;
}

static void put16(struct msg *m, uint16_t v)
{
	put8(m, (uint8_t)(v >> 8));
	put8(m, (uint8_t)v);
}

static void put32(struct msg *m, uint32_t v)
{
	put16(m, (uint16_t)(v >> 16));
	put16(m, (uint16_t)v);
}

static void set16(struct msg *m, size_t off, uint16_t v)
{
	m->b[off] = (uint8_t)(v >> 8);
	m->b[off + 1] = (uint8_t)v;
}

/* Labels of text, without the root label (a pointer or put8(0) follows). */
static void put_labels(struct msg *m, const char *text)
{
	while (*text) {
		const char *dot = strchr(text, '.');
		size_t n = dot ? (size_t)(dot - text) : strlen(text);

		put8(m, (uint8_t)n);
		for (size_t i = 0; i < n; i++)
			put8(m, (uint8_t)text[i]);
		text += n + (dot ? 1 : 0);
	}
}

static void put_name(struct msg *m, const char *text)
{
	put_labels(m, text);
	put8(m, 0);
}

static void put_ptr(struct msg *m, size_t off)
{
	put16(m, (uint16_t)(0xc000 | off));
}

/* Type, class IN, TTL and RDLENGTH, after the owner name. */
static void put_rr_head(struct msg *m, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	put16(m, type);
	put16(m, NT_DNS_CLASS_IN);
	put32(m, ttl);
	put16(m, rdlen);
}

static void put_a(struct msg *m, uint32_t ttl, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	put_rr_head(m, NT_DNS_TYPE_A, ttl, 4);
	put8(m, a);
	put8(m, b);
	put8(m, c);
	put8(m, d);
}

/* A response starts as the query echoed, as servers do. */
static void begin_response(struct msg *m, const uint8_t *q, size_t qlen, uint16_t flags,
			   uint16_t ancount)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->b, q, qlen);
	m->len = qlen;
	set16(m, 2, flags);
	set16(m, 6, ancount);
}

#define RESP_OK 0x8180 /* QR, RD, RA, NOERROR */

static uint8_t query[NT_DNS_QUERY_MAX];
static size_t query_len;

static void make_query(uint16_t id, const char *name, uint16_t qtype)
{
	assert_int_equal(nt_dns_query_build(id, name, qtype, query, sizeof(query), &query_len), 0);
}

/* Parses from an exactly sized heap copy, so ASan sees any overread. */
static int parse(const struct msg *m, size_t len, uint8_t (*addrs)[16], size_t max,
		 struct nt_dns_answer *ans)
{
	uint8_t *copy = malloc(len ? len : 1);
	int err;

	assert_non_null(copy);
	memcpy(copy, m->b, len);
	err = nt_dns_response_parse(query, query_len, copy, len, addrs, max, ans);
	free(copy);
	return err;
}

/* ---- names and queries ---- */

static void test_name_check_accepts_ldh_and_underscore(void **state)
{
	char name[300];

	(void)state;
	assert_int_equal(nt_dns_name_check("example.com"), 0);
	assert_int_equal(nt_dns_name_check("example.com."), 0);
	assert_int_equal(nt_dns_name_check("_sip._tcp.Example-1.COM"), 0);
	assert_int_equal(nt_dns_name_check("localhost"), 0);
	assert_int_equal(nt_dns_name_check(""), -EINVAL);
	assert_int_equal(nt_dns_name_check("."), -EINVAL);
	assert_int_equal(nt_dns_name_check("a..b"), -EINVAL);
	assert_int_equal(nt_dns_name_check(".a"), -EINVAL);
	assert_int_equal(nt_dns_name_check("a.b.."), -EINVAL);
	assert_int_equal(nt_dns_name_check("a b"), -EINVAL);
	assert_int_equal(nt_dns_name_check("a/b"), -EINVAL);
	assert_int_equal(nt_dns_name_check("caf\xc3\xa9"), -EINVAL);
	assert_int_equal(nt_dns_name_check(NULL), -EINVAL);

	/* A label of 63 is fine, 64 is not. */
	memset(name, 'a', 64);
	name[63] = '\0';
	assert_int_equal(nt_dns_name_check(name), 0);
	name[63] = 'a';
	name[64] = '\0';
	assert_int_equal(nt_dns_name_check(name), -EINVAL);

	/* 253 characters in all (labels of 49 and dots), then 254. */
	memset(name, 'b', 253);
	for (size_t i = 49; i < 253; i += 50)
		name[i] = '.';
	name[253] = '\0';
	assert_int_equal(nt_dns_name_check(name), 0);
	name[253] = '.';
	name[254] = '\0';
	assert_int_equal(nt_dns_name_check(name), 0); /* the trailing dot does not count */
	name[253] = 'b';
	assert_int_equal(nt_dns_name_check(name), -EINVAL);
}

static void test_query_for_example_com_a_is_exact(void **state)
{
	static const uint8_t want[] = {
	    0x12, 0x34,		    /* id */
	    0x01, 0x00,		    /* RD */
	    0x00, 0x01,		    /* QDCOUNT */
	    0x00, 0x00, 0x00, 0x00, /* AN, NS */
	    0x00, 0x00,		    /* AR */
	    7,	  'e',	'x',  'a',  'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0x00, 0x01, /* A */
	    0x00, 0x01,									 /* IN */
	};
	uint8_t buf[NT_DNS_QUERY_MAX];
	size_t len = 0;

	(void)state;
	assert_int_equal(
	    nt_dns_query_build(0x1234, "example.com", NT_DNS_TYPE_A, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));

	/* The trailing dot changes nothing; AAAA changes only the type. */
	assert_int_equal(
	    nt_dns_query_build(0x1234, "example.com.", NT_DNS_TYPE_A, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(
	    nt_dns_query_build(0x1234, "example.com", NT_DNS_TYPE_AAAA, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, want, sizeof(want) - 4);
	assert_int_equal(buf[len - 3], 28);
}

static void test_query_build_rejects_bad_input(void **state)
{
	uint8_t buf[NT_DNS_QUERY_MAX];
	size_t len;

	(void)state;
	assert_int_equal(nt_dns_query_build(1, "a..b", NT_DNS_TYPE_A, buf, sizeof(buf), &len),
			 -EINVAL);
	assert_int_equal(nt_dns_query_build(1, "a.b", NT_DNS_TYPE_CNAME, buf, sizeof(buf), &len),
			 -EINVAL);
	/* 12 + 5 + 4 = 21 bytes needed for "a.b". */
	assert_int_equal(nt_dns_query_build(1, "a.b", NT_DNS_TYPE_A, buf, 20, &len), -ENOSPC);
	assert_int_equal(nt_dns_query_build(1, "a.b", NT_DNS_TYPE_A, buf, 21, &len), 0);
	assert_int_equal(len, 21);
}

/* ---- well-formed responses ---- */

static void test_response_single_a(void **state)
{
	uint8_t addrs[MAXA][16];
	struct nt_dns_answer ans;
	struct msg m;

	(void)state;
	make_query(0xbeef, "example.com", NT_DNS_TYPE_A);
	begin_response(&m, query, query_len, RESP_OK, 1);
	put_ptr(&m, 12);
	put_a(&m, 300, 93, 184, 216, 34);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), 0);
	assert_int_equal(ans.rcode, NT_DNS_RCODE_NOERROR);
	assert_false(ans.truncated);
	assert_int_equal(ans.n_addrs, 1);
	assert_int_equal(ans.ttl, 300);
	assert_memory_equal(addrs[0], ((uint8_t[16]){93, 184, 216, 34}), 16);
}

static void test_response_aaaa_takes_minimum_ttl(void **state)
{
	static const uint8_t v6a[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	static const uint8_t v6b[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
	uint8_t addrs[MAXA][16];
	struct nt_dns_answer ans;
	struct msg m;

	(void)state;
	make_query(7, "Host.Example.org", NT_DNS_TYPE_AAAA);
	begin_response(&m, query, query_len, RESP_OK, 3);
	put_ptr(&m, 12);
	put_rr_head(&m, NT_DNS_TYPE_AAAA, 120, 16);
	memcpy(m.b + m.len, v6a, 16);
	m.len += 16;
	/* An A record for the same name is not what was asked: ignored. */
	put_ptr(&m, 12);
	put_a(&m, 5, 1, 2, 3, 4);
	/* The owner spelled out, in another case. */
	put_name(&m, "HOST.example.ORG");
	put_rr_head(&m, NT_DNS_TYPE_AAAA, 90, 16);
	memcpy(m.b + m.len, v6b, 16);
	m.len += 16;
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), 0);
	assert_int_equal(ans.n_addrs, 2);
	assert_int_equal(ans.n_found, 2);
	assert_int_equal(ans.ttl, 90);
	assert_memory_equal(addrs[0], v6a, 16);
	assert_memory_equal(addrs[1], v6b, 16);
}

static void test_response_stores_at_most_max_addrs(void **state)
{
	uint8_t addrs[3][16];
	struct nt_dns_answer ans;
	struct msg m;

	(void)state;
	make_query(9, "many.example", NT_DNS_TYPE_A);
	begin_response(&m, query, query_len, RESP_OK, 5);
	for (uint8_t i = 0; i < 5; i++) {
		put_ptr(&m, 12);
		put_a(&m, 60, 10, 0, 0, i);
	}
	assert_int_equal(parse(&m, m.len, addrs, 3, &ans), 0);
	assert_int_equal(ans.n_addrs, 3);
	assert_int_equal(ans.n_found, 5);
	assert_int_equal(addrs[2][3], 2);
}

/* www.example.com -> a.example.net -> b.example.org -> 192.0.2.7, records
 * in the wrong order, names compressed through pointers into the question
 * and into earlier CNAME data, and a decoy A for another name. */
static void test_response_follows_cname_chain_with_compression(void **state)
{
	uint8_t addrs[MAXA][16];
	struct nt_dns_answer ans;
	struct msg m;
	size_t rdlen_at, rd_start, a_net, b_org;

	(void)state;
	make_query(0x4242, "www.example.com", NT_DNS_TYPE_A);
	begin_response(&m, query, query_len, RESP_OK, 5);

	/* www.example.com CNAME a.example.net, TTL 600 */
	put_ptr(&m, 12);
	put_rr_head(&m, NT_DNS_TYPE_CNAME, 600, 0);
	rdlen_at = m.len - 2;
	rd_start = m.len;
	a_net = m.len;
	put_name(&m, "a.example.net");
	set16(&m, rdlen_at, (uint16_t)(m.len - rd_start));

	/* decoy: example.com A 6.6.6.6 (a pointer into the question's middle) */
	put_ptr(&m, 12 + 4);
	put_a(&m, 1, 6, 6, 6, 6);

	/* b.example.org A 192.0.2.7, TTL 300: before the CNAME that leads to it */
	b_org = m.len;
	put_name(&m, "b.example.org");
	put_a(&m, 300, 192, 0, 2, 7);

	/* a.example.net CNAME b.example.org, TTL 60; both names compressed */
	put_ptr(&m, a_net);
	put_rr_head(&m, NT_DNS_TYPE_CNAME, 60, 2);
	put_ptr(&m, b_org);

	/* an unrelated AAAA */
	put_labels(&m, "c");
	put_ptr(&m, a_net);
	put_rr_head(&m, NT_DNS_TYPE_AAAA, 10, 16);
	memset(m.b + m.len, 0, 16);
	m.len += 16;

	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), 0);
	assert_int_equal(ans.n_addrs, 1);
	assert_int_equal(ans.cnames, 2);
	assert_int_equal(ans.ttl, 60);
	assert_memory_equal(addrs[0], ((uint8_t[16]){192, 0, 2, 7}), 16);
}

static void test_response_cname_loop_is_bounded(void **state)
{
	uint8_t addrs[MAXA][16];
	struct nt_dns_answer ans;
	struct msg m;
	size_t x_name;

	(void)state;
	make_query(1, "loop.example", NT_DNS_TYPE_A);
	begin_response(&m, query, query_len, RESP_OK, 2);
	/* loop.example CNAME x.example; x.example CNAME loop.example */
	put_ptr(&m, 12);
	put_rr_head(&m, NT_DNS_TYPE_CNAME, 60, 11);
	x_name = m.len;
	put_name(&m, "x.example");
	put_ptr(&m, x_name);
	put_rr_head(&m, NT_DNS_TYPE_CNAME, 60, 2);
	put_ptr(&m, 12);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), 0);
	assert_int_equal(ans.n_addrs, 0);
	assert_int_equal(ans.cnames, NT_DNS_MAX_CNAME);
	assert_int_equal(ans.ttl, 0);
}

static void test_response_nodata_cname_without_address(void **state)
{
	uint8_t addrs[MAXA][16];
	struct nt_dns_answer ans;
	struct msg m;

	(void)state;
	make_query(1, "alias.example", NT_DNS_TYPE_AAAA);
	begin_response(&m, query, query_len, RESP_OK, 2);
	put_ptr(&m, 12);
	put_rr_head(&m, NT_DNS_TYPE_CNAME, 60, 16);
	put_name(&m, "target.example");
	/* An address in class CH is not an Internet address. */
	put_name(&m, "target.example");
	put16(&m, NT_DNS_TYPE_AAAA);
	put16(&m, 3);
	put32(&m, 60);
	put16(&m, 16);
	memset(m.b + m.len, 1, 16);
	m.len += 16;
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), 0);
	assert_int_equal(ans.rcode, NT_DNS_RCODE_NOERROR);
	assert_int_equal(ans.n_addrs, 0);
	assert_int_equal(ans.cnames, 1);
}

static void test_response_nxdomain_and_servfail_report_rcode(void **state)
{
	uint8_t addrs[MAXA][16];
	struct nt_dns_answer ans;
	struct msg m;

	(void)state;
	make_query(5, "nope.example", NT_DNS_TYPE_A);
	begin_response(&m, query, query_len, RESP_OK | NT_DNS_RCODE_NXDOMAIN, 0);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), 0);
	assert_int_equal(ans.rcode, NT_DNS_RCODE_NXDOMAIN);
	assert_int_equal(ans.n_addrs, 0);

	begin_response(&m, query, query_len, RESP_OK | NT_DNS_RCODE_SERVFAIL, 0);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), 0);
	assert_int_equal(ans.rcode, NT_DNS_RCODE_SERVFAIL);

	/* An error rcode yields no address even if records follow. */
	begin_response(&m, query, query_len, RESP_OK | NT_DNS_RCODE_REFUSED, 1);
	put_ptr(&m, 12);
	put_a(&m, 60, 1, 1, 1, 1);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), 0);
	assert_int_equal(ans.rcode, NT_DNS_RCODE_REFUSED);
	assert_int_equal(ans.n_addrs, 0);
}

static void test_response_tc_flag_keeps_whole_records(void **state)
{
	uint8_t addrs[MAXA][16];
	struct nt_dns_answer ans;
	struct msg m;

	(void)state;
	make_query(5, "big.example", NT_DNS_TYPE_A);
	/* Three answers announced, one and a half present. */
	begin_response(&m, query, query_len, RESP_OK | 0x0200, 3);
	put_ptr(&m, 12);
	put_a(&m, 60, 10, 0, 0, 1);
	put_ptr(&m, 12);
	put16(&m, NT_DNS_TYPE_A);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), 0);
	assert_true(ans.truncated);
	assert_int_equal(ans.n_addrs, 1);

	/* Without TC the same bytes are malformed. */
	set16(&m, 2, RESP_OK);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EBADMSG);

	/* TC with an empty answer section. */
	begin_response(&m, query, query_len, RESP_OK | 0x0200, 0);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), 0);
	assert_true(ans.truncated);
	assert_int_equal(ans.n_addrs, 0);
}

/* ---- responses that are not ours ---- */

static void test_response_for_another_query_is_rejected(void **state)
{
	uint8_t addrs[MAXA][16];
	struct nt_dns_answer ans;
	struct msg m, good;

	(void)state;
	make_query(0x1111, "example.com", NT_DNS_TYPE_A);
	begin_response(&good, query, query_len, RESP_OK, 1);
	put_ptr(&good, 12);
	put_a(&good, 60, 1, 2, 3, 4);
	assert_int_equal(parse(&good, good.len, addrs, MAXA, &ans), 0);

	m = good;
	set16(&m, 0, 0x1112); /* id */
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EPROTO);
	m = good;
	set16(&m, 2, 0x0180); /* QR clear: a query, not a response */
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EPROTO);
	m = good;
	set16(&m, 2, RESP_OK | 0x2000); /* opcode 4 (NOTIFY) */
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EPROTO);
	m = good;
	set16(&m, 4, 0); /* no question */
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EPROTO);
	m = good;
	m.b[12 + 1] = 'f'; /* fxample.com */
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EPROTO);
	m = good;
	m.b[query_len - 3] = 28; /* question type AAAA */
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EPROTO);
	m = good;
	m.b[query_len - 1] = 3; /* class CH */
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EPROTO);
	/* Case differences are not differences. */
	m = good;
	m.b[12 + 1] = 'E';
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), 0);
	assert_int_equal(ans.n_addrs, 1);
}

/* ---- hostile responses ---- */

static void test_response_pointer_loops_are_rejected(void **state)
{
	uint8_t addrs[MAXA][16];
	struct nt_dns_answer ans;
	struct msg m;
	size_t at;

	(void)state;
	make_query(3, "example.com", NT_DNS_TYPE_A);

	/* A pointer to itself. */
	begin_response(&m, query, query_len, RESP_OK, 1);
	put_ptr(&m, m.len);
	put_a(&m, 60, 1, 2, 3, 4);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EBADMSG);

	/* A label, then a pointer back to that label: a -> a -> ... */
	begin_response(&m, query, query_len, RESP_OK, 1);
	at = m.len;
	put_labels(&m, "a");
	put_ptr(&m, at);
	put_a(&m, 60, 1, 2, 3, 4);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EBADMSG);

	/* Two names pointing at each other: the first points forward. */
	begin_response(&m, query, query_len, RESP_OK, 2);
	at = m.len;
	put_labels(&m, "x");
	put_ptr(&m, at + 4 + 14); /* the next owner */
	put_a(&m, 60, 1, 2, 3, 4);
	put_labels(&m, "yyyy");
	put_ptr(&m, at);
	put_a(&m, 60, 1, 2, 3, 4);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EBADMSG);

	/* A CNAME whose target points at its own rdata. */
	begin_response(&m, query, query_len, RESP_OK, 1);
	put_ptr(&m, 12);
	put_rr_head(&m, NT_DNS_TYPE_CNAME, 60, 2);
	put_ptr(&m, m.len);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EBADMSG);
}

static void test_response_out_of_bounds_fields_are_rejected(void **state)
{
	uint8_t addrs[MAXA][16];
	struct nt_dns_answer ans;
	struct msg m;

	(void)state;
	make_query(3, "example.com", NT_DNS_TYPE_A);

	/* A pointer beyond the end of the message. */
	begin_response(&m, query, query_len, RESP_OK, 1);
	put_ptr(&m, 0x3fff);
	put_a(&m, 60, 1, 2, 3, 4);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EBADMSG);

	/* A pointer into the header. */
	begin_response(&m, query, query_len, RESP_OK, 1);
	put_ptr(&m, 2);
	put_a(&m, 60, 1, 2, 3, 4);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EBADMSG);

	/* RDLENGTH past the end. */
	begin_response(&m, query, query_len, RESP_OK, 1);
	put_ptr(&m, 12);
	put_rr_head(&m, NT_DNS_TYPE_A, 60, 40);
	put32(&m, 0x01020304);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EBADMSG);

	/* An A record of 5 bytes. */
	begin_response(&m, query, query_len, RESP_OK, 1);
	put_ptr(&m, 12);
	put_rr_head(&m, NT_DNS_TYPE_A, 60, 5);
	put32(&m, 0x01020304);
	put8(&m, 5);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EBADMSG);

	/* Extended label type 0x40. */
	begin_response(&m, query, query_len, RESP_OK, 1);
	put8(&m, 0x41);
	put8(&m, 'a');
	put8(&m, 0);
	put_a(&m, 60, 1, 2, 3, 4);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EBADMSG);

	/* A name longer than 255 bytes built from pointers to long labels,
	 * hidden in the data of a TXT record that precedes it. */
	begin_response(&m, query, query_len, RESP_OK, 2);
	put_ptr(&m, 12);
	put_rr_head(&m, 16, 60, 65 + 4 * 66);
	{
		size_t prev = 0;

		for (int i = 0; i < 5; i++) {
			size_t at = m.len;

			put8(&m, 63);
			memset(m.b + m.len, 'z', 63);
			m.len += 63;
			if (prev)
				put_ptr(&m, prev);
			else
				put8(&m, 0);
			prev = at;
		}
		put_ptr(&m, prev);
	}
	put_a(&m, 60, 1, 2, 3, 4);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EBADMSG);

	/* Shorter than a header. */
	assert_int_equal(parse(&m, 11, addrs, MAXA, &ans), -EBADMSG);
	assert_int_equal(nt_dns_response_parse(query, query_len, NULL, 0, addrs, MAXA, &ans),
			 -EBADMSG);
}

static void test_response_truncated_at_every_byte_is_rejected(void **state)
{
	uint8_t addrs[MAXA][16];
	struct nt_dns_answer ans;
	struct msg m;
	size_t a_net;

	(void)state;
	make_query(0x7777, "www.example.com", NT_DNS_TYPE_A);
	begin_response(&m, query, query_len, RESP_OK, 3);
	put_ptr(&m, 12);
	put_rr_head(&m, NT_DNS_TYPE_CNAME, 600, 15);
	a_net = m.len;
	put_name(&m, "a.example.net");
	put_ptr(&m, a_net);
	put_a(&m, 300, 192, 0, 2, 7);
	put_ptr(&m, a_net);
	put_a(&m, 300, 192, 0, 2, 8);
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), 0);
	assert_int_equal(ans.n_addrs, 2);

	for (size_t len = 0; len < m.len; len++) {
		int err = parse(&m, len, addrs, MAXA, &ans);

		assert_int_equal(err, -EBADMSG);
		assert_int_equal(ans.n_addrs, 0);
	}
}

static void test_response_parse_rejects_foreign_query(void **state)
{
	uint8_t addrs[MAXA][16];
	struct nt_dns_answer ans;
	struct msg m;

	(void)state;
	make_query(3, "example.com", NT_DNS_TYPE_A);
	begin_response(&m, query, query_len, RESP_OK, 0);
	query[query_len - 3] = NT_DNS_TYPE_CNAME;
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EINVAL);
	query_len = 11;
	assert_int_equal(parse(&m, m.len, addrs, MAXA, &ans), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_check_accepts_ldh_and_underscore),
	    cmocka_unit_test(test_query_for_example_com_a_is_exact),
	    cmocka_unit_test(test_query_build_rejects_bad_input),
	    cmocka_unit_test(test_response_single_a),
	    cmocka_unit_test(test_response_aaaa_takes_minimum_ttl),
	    cmocka_unit_test(test_response_stores_at_most_max_addrs),
	    cmocka_unit_test(test_response_follows_cname_chain_with_compression),
	    cmocka_unit_test(test_response_cname_loop_is_bounded),
	    cmocka_unit_test(test_response_nodata_cname_without_address),
	    cmocka_unit_test(test_response_nxdomain_and_servfail_report_rcode),
	    cmocka_unit_test(test_response_tc_flag_keeps_whole_records),
	    cmocka_unit_test(test_response_for_another_query_is_rejected),
	    cmocka_unit_test(test_response_pointer_loops_are_rejected),
	    cmocka_unit_test(test_response_out_of_bounds_fields_are_rejected),
	    cmocka_unit_test(test_response_truncated_at_every_byte_is_rejected),
	    cmocka_unit_test(test_response_parse_rejects_foreign_query),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
