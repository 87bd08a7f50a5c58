// SPDX-License-Identifier: MIT
/* netstack/ippkt: IPv4/IPv6 headers of whole packets and of ICMP quotes,
 * truncated versus malformed input, IPv6 extension headers and fragments,
 * the fixed header alone,
 * and the Internet checksum against RFC 1071's worked example. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "netstack/ippkt.h"

#define SRC4 "10.9.0.2"
#define DST4 "10.9.0.1"
#define SRC6 "fd00:9::2"
#define DST6 "fd00:9::80"

/* A UDP datagram with payload bytes of 'x', from SRC to DST; its checksum
 * is left 0 (nothing here reads it). Returns the datagram's length. */
static size_t build_udp(uint8_t *pkt, int family, size_t payload)
{
	size_t hdr = family == AF_INET ? 20 : 40, tot = hdr + 8 + payload;

	memset(pkt, 0, tot);
	if (family == AF_INET) {
		pkt[0] = 0x45;
		nt_ippkt_put16(pkt + 2, (uint16_t)tot);
		pkt[8] = 64;
		pkt[9] = 17;
		assert_int_equal(inet_pton(AF_INET, SRC4, pkt + 12), 1);
		assert_int_equal(inet_pton(AF_INET, DST4, pkt + 16), 1);
	} else {
		pkt[0] = 0x60;
		nt_ippkt_put16(pkt + 4, (uint16_t)(tot - 40));
		pkt[6] = 17;
		pkt[7] = 64;
		assert_int_equal(inet_pton(AF_INET6, SRC6, pkt + 8), 1);
		assert_int_equal(inet_pton(AF_INET6, DST6, pkt + 24), 1);
	}
	nt_ippkt_put16(pkt + hdr, 40000);
	nt_ippkt_put16(pkt + hdr + 2, 53);
	nt_ippkt_put16(pkt + hdr + 4, (uint16_t)(8 + payload));
	memset(pkt + hdr + 8, 'x', payload);
	return tot;
}

/* Inserts an 8-byte IPv6 extension header of type `type` (carrying
 * frag_field at its bytes 2-3, for a fragment header) before the upper
 * layer of the IPv6 packet pkt; returns the new length. */
static size_t insert_ext6(uint8_t *pkt, size_t len, uint8_t type, uint16_t frag_field)
{
	memmove(pkt + 48, pkt + 40, len - 40);
	memset(pkt + 40, 0, 8);
	pkt[40] = pkt[6];
	pkt[6] = type;
	nt_ippkt_put16(pkt + 42, frag_field);
	nt_ippkt_put16(pkt + 4, (uint16_t)(len + 8 - 40));
	return len + 8;
}

static void test_ippkt_reads_v4_and_v6_headers(void **state)
{
	uint8_t pkt[200], want[16];
	struct nt_ippkt ip;
	(void)state;

	for (int family = AF_INET; family != -1; family = family == AF_INET ? AF_INET6 : -1) {
		size_t len = build_udp(pkt, family, 10), hdr = family == AF_INET ? 20 : 40;
		size_t alen = family == AF_INET ? 4 : 16;

		/* Trailing padding (WireGuard's) is not part of the datagram. */
		assert_int_equal(nt_ippkt_parse(pkt, len + 12, &ip), 0);
		assert_int_equal(ip.family, family);
		assert_int_equal(ip.proto, 17);
		assert_int_equal(ip.len, len);
		assert_int_equal(ip.l4, hdr);
		assert_int_equal(ip.l4_len, 18);
		assert_true(ip.has_l4);
		assert_false(ip.fragment);
		assert_int_equal(inet_pton(family, family == AF_INET ? SRC4 : SRC6, want), 1);
		assert_memory_equal(ip.src, want, alen);
		assert_int_equal(inet_pton(family, family == AF_INET ? DST4 : DST6, want), 1);
		assert_memory_equal(ip.dst, want, alen);
	}
}

static void test_ippkt_tells_truncated_from_malformed(void **state)
{
	uint8_t pkt[200];
	struct nt_ippkt ip;
	size_t len;
	(void)state;

	len = build_udp(pkt, AF_INET, 4);
	assert_int_equal(nt_ippkt_parse(pkt, 0, &ip), -EINVAL);
	for (size_t cut = 1; cut < len; cut++)
		assert_int_equal(nt_ippkt_parse(pkt, cut, &ip), -EMSGSIZE);
	pkt[0] = 0x44; /* IHL 16 bytes */
	assert_int_equal(nt_ippkt_parse(pkt, len, &ip), -EINVAL);
	pkt[0] = 0x45;
	nt_ippkt_put16(pkt + 2, 19); /* shorter than its own header */
	assert_int_equal(nt_ippkt_parse(pkt, len, &ip), -EINVAL);
	pkt[0] = 0x55;
	assert_int_equal(nt_ippkt_parse(pkt, len, &ip), -EINVAL);
	assert_int_equal(ip.family, 0); /* zeroed on failure */

	len = build_udp(pkt, AF_INET6, 4);
	for (size_t cut = 1; cut < len; cut++)
		assert_int_equal(nt_ippkt_parse(pkt, cut, &ip), -EMSGSIZE);
	nt_ippkt_put16(pkt + 4, 0);
	pkt[6] = 0; /* hop-by-hop with payload length 0: a jumbogram */
	assert_int_equal(nt_ippkt_parse(pkt, len, &ip), -EINVAL);

	/* Nine extension headers are more than we walk; one that runs past
	 * the datagram's end is a cut. */
	len = build_udp(pkt, AF_INET6, 4);
	for (int i = 0; i < 9; i++)
		len = insert_ext6(pkt, len, 60, 0);
	assert_int_equal(nt_ippkt_parse(pkt, len, &ip), -EINVAL);
	len = insert_ext6(pkt, build_udp(pkt, AF_INET6, 4), 60, 0);
	pkt[41] = 2; /* 24 bytes long */
	assert_int_equal(nt_ippkt_parse(pkt, len, &ip), -EMSGSIZE);
}

static void test_ippkt_walks_v6_extension_headers_to_the_upper_layer(void **state)
{
	uint8_t pkt[200];
	struct nt_ippkt ip;
	size_t len;
	(void)state;

	/* Fragment header (first fragment, more follow), then hop-by-hop
	 * in front of it. */
	len = insert_ext6(pkt, build_udp(pkt, AF_INET6, 4), 44, 1);
	len = insert_ext6(pkt, len, 0, 0);
	assert_int_equal(nt_ippkt_parse(pkt, len, &ip), 0);
	assert_int_equal(ip.proto, 17);
	assert_int_equal(ip.l4, 56);
	assert_int_equal(ip.l4_len, 12);
	assert_true(ip.fragment);
	assert_true(ip.has_l4);

	/* A later fragment: the datagram's protocol, but no header of it. */
	len = insert_ext6(pkt, build_udp(pkt, AF_INET6, 4), 44, 3 << 3);
	assert_int_equal(nt_ippkt_parse(pkt, len, &ip), 0);
	assert_int_equal(ip.proto, 17);
	assert_true(ip.fragment);
	assert_false(ip.has_l4);

	/* Nothing is left over from an earlier parse into the same struct. */
	len = build_udp(pkt, AF_INET6, 4);
	assert_int_equal(nt_ippkt_parse(pkt, len, &ip), 0);
	assert_false(ip.fragment);
	assert_true(ip.has_l4);
}

static void test_ippkt_v4_fragments(void **state)
{
	uint8_t pkt[200];
	struct nt_ippkt ip;
	size_t len;
	(void)state;

	len = build_udp(pkt, AF_INET, 16);
	nt_ippkt_put16(pkt + 6, 0x4000); /* DF: not a fragment */
	assert_int_equal(nt_ippkt_parse(pkt, len, &ip), 0);
	assert_false(ip.fragment);
	nt_ippkt_put16(pkt + 6, 0x2000); /* MF, offset 0: the first fragment */
	assert_int_equal(nt_ippkt_parse(pkt, len, &ip), 0);
	assert_true(ip.fragment);
	assert_true(ip.has_l4);
	nt_ippkt_put16(pkt + 6, 3); /* offset 24 bytes, the last fragment */
	assert_int_equal(nt_ippkt_parse(pkt, len, &ip), 0);
	assert_true(ip.fragment);
	assert_false(ip.has_l4);
	assert_int_equal(ip.proto, 17);
}

static void test_ippkt_quote_may_be_cut_after_its_headers(void **state)
{
	uint8_t pkt[200];
	struct nt_ippkt ip;
	size_t len;
	(void)state;

	/* IPv4 routers quote the header and 8 bytes. */
	len = build_udp(pkt, AF_INET, 100);
	assert_int_equal(nt_ippkt_parse(pkt, 28, &ip), -EMSGSIZE);
	assert_int_equal(nt_ippkt_parse_quote(pkt, 28, &ip), 0);
	assert_int_equal(ip.len, len);
	assert_int_equal(ip.l4, 20);
	assert_int_equal(ip.l4_len, 8);
	assert_int_equal(nt_ippkt_parse_quote(pkt, 19, &ip), -EMSGSIZE);
	/* ... and no more than the datagram's own length. */
	len = build_udp(pkt, AF_INET, 0);
	assert_int_equal(nt_ippkt_parse_quote(pkt, len + 12, &ip), 0);
	assert_int_equal(ip.l4_len, 8);

	/* An IPv6 quote's extension headers must be there in full. */
	len = insert_ext6(pkt, build_udp(pkt, AF_INET6, 100), 44, 1);
	assert_int_equal(nt_ippkt_parse_quote(pkt, 56, &ip), 0);
	assert_int_equal(ip.l4, 48);
	assert_int_equal(ip.l4_len, 8);
	assert_int_equal(nt_ippkt_parse_quote(pkt, 47, &ip), -EMSGSIZE);
	assert_true(len > 56);
}

/* The fixed header alone: what the per-packet paths (routing, the inner
 * packet check, the ICMP quick test) read, and nothing past it. */
static void test_ippkt_head_reads_the_fixed_header_only(void **state)
{
	uint8_t pkt[200], want[16];
	struct nt_ippkt_head h;
	size_t len;
	(void)state;

	for (int family = AF_INET; family != -1; family = family == AF_INET ? AF_INET6 : -1) {
		size_t hdr = family == AF_INET ? 20 : 40, alen = family == AF_INET ? 4 : 16;

		len = build_udp(pkt, family, 10);
		/* Exactly the fixed header at hand is enough; one byte less is not. */
		assert_int_equal(nt_ippkt_head(pkt, hdr, &h), 0);
		assert_int_equal(h.family, family);
		assert_int_equal(h.next, 17);
		assert_int_equal(h.hdr_len, hdr);
		assert_int_equal(h.len, len); /* from the header, not from the bytes at hand */
		assert_int_equal(inet_pton(family, family == AF_INET ? SRC4 : SRC6, want), 1);
		assert_memory_equal(h.src, want, alen);
		assert_int_equal(inet_pton(family, family == AF_INET ? DST4 : DST6, want), 1);
		assert_memory_equal(h.dst, want, alen);
		assert_int_equal(nt_ippkt_head(pkt, hdr - 1, &h), -EINVAL);
	}

	/* IPv4 options: IHL says where the upper layer starts; unchecked. */
	len = build_udp(pkt, AF_INET, 4);
	pkt[0] = 0x46;
	assert_int_equal(nt_ippkt_head(pkt, len, &h), 0);
	assert_int_equal(h.hdr_len, 24);
	pkt[0] = 0x41; /* impossible, left to the caller */
	assert_int_equal(nt_ippkt_head(pkt, len, &h), 0);
	assert_int_equal(h.hdr_len, 4);

	/* IPv6: the first next header, no extension header walked. */
	len = insert_ext6(pkt, build_udp(pkt, AF_INET6, 4), 44, 1);
	assert_int_equal(nt_ippkt_head(pkt, len, &h), 0);
	assert_int_equal(h.next, 44);
	assert_int_equal(h.hdr_len, 40);
	assert_int_equal(h.len, len);

	/* Neither IPv4 nor IPv6; nothing at all. */
	len = build_udp(pkt, AF_INET6, 4);
	pkt[0] = 0x50;
	assert_int_equal(nt_ippkt_head(pkt, len, &h), -EINVAL);
	assert_int_equal(nt_ippkt_head(pkt, 0, &h), -EINVAL);
}

static void test_ippkt_checksum_matches_rfc1071_example(void **state)
{
	/* RFC 1071 section 3: the sum of these is ddf2 (after the carry). */
	static const uint8_t words[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	uint8_t with_sum[10], src[4] = {10, 0, 0, 1}, dst[4] = {10, 0, 0, 2};
	(void)state;

	assert_int_equal(nt_ippkt_sum(words, sizeof(words), 0), 0xddf2);
	assert_int_equal(nt_ippkt_csum(nt_ippkt_sum(words, sizeof(words), 0)), 0x220d);
	/* The checksum field makes the total check out as 0. */
	memcpy(with_sum, words, sizeof(words));
	nt_ippkt_put16(with_sum + 8, 0x220d);
	assert_int_equal(nt_ippkt_csum(nt_ippkt_sum(with_sum, sizeof(with_sum), 0)), 0);
	/* An odd last byte counts as the high half of a word. */
	assert_int_equal(nt_ippkt_sum(words, 3, 0), 0x0001 + 0xf200);
	/* Pseudo-header: addresses, protocol, length. */
	assert_int_equal(nt_ippkt_pseudo_sum(AF_INET, src, dst, 17, 8),
			 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 17 + 8);
	assert_int_equal(nt_ippkt_pseudo_sum(AF_INET, src, dst, 17, 0x12345),
			 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 17 + 0x1 + 0x2345);
}

/* RFC 1071 word by word, as the RFC writes it. */
static uint16_t sum_by_words(const uint8_t *p, size_t len)
{
	uint32_t acc = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		acc += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/* The 8-bytes-at-a-time sum lwIP and ippkt share (netstack/arch/chksum.h)
 * against the plain one: every length to 300 at every alignment, on
 * random bytes and on all-ones (the carries). */
static void test_ippkt_fast_sum_matches_word_by_word(void **state)
{
	uint8_t buf[320];
	(void)state;

	for (int fill = 0; fill < 2; fill++) {
		if (fill)
			memset(buf, 0xff, sizeof(buf));
		else
			randombytes_buf(buf, sizeof(buf));
		for (size_t off = 0; off < 8; off++) {
			for (size_t len = 0; len <= 300; len++) {
				uint32_t got = nt_ippkt_sum(buf + off, len, 0);

				while (got >> 16)
					got = (got & 0xffff) + (got >> 16);
				/* 0 and 0xffff are the same number in one's complement. */
				if (got == 0xffff)
					got = 0;
				uint16_t want = sum_by_words(buf + off, len);

				assert_int_equal(got, want == 0xffff ? 0 : want);
			}
		}
	}
}

static void test_ippkt_big_endian_fields(void **state)
{
	uint8_t b[4];
	(void)state;

	nt_ippkt_put32(b, 0x01020304u);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[3], 4);
	assert_int_equal(nt_ippkt_get32(b), 0x01020304u);
	assert_int_equal(nt_ippkt_get16(b + 2), 0x0304);
}

static void test_ippkt_scope_of_special_addresses(void **state)
{
	static const struct {
		const char *addr;
		enum nt_ippkt_scope scope;
		unsigned len;
	} cases[] = {
	    {"127.0.0.1", NT_IPPKT_LOOPBACK, 8},
	    {"127.200.1.1", NT_IPPKT_LOOPBACK, 8},
	    {"0.0.0.0", NT_IPPKT_UNSPECIFIED, 8},
	    {"0.255.0.1", NT_IPPKT_UNSPECIFIED, 8},
	    {"169.254.169.254", NT_IPPKT_LINK_LOCAL, 16},
	    {"224.0.0.1", NT_IPPKT_MULTICAST, 4},
	    {"239.1.2.3", NT_IPPKT_MULTICAST, 4},
	    {"255.255.255.255", NT_IPPKT_BROADCAST, 32},
	    {"255.255.255.254", NT_IPPKT_RESERVED, 4},
	    {"240.0.0.1", NT_IPPKT_RESERVED, 4},
	    {"::1", NT_IPPKT_LOOPBACK, 128},
	    {"::", NT_IPPKT_UNSPECIFIED, 128},
	    {"fe80::1", NT_IPPKT_LINK_LOCAL, 10},
	    {"febf:ffff::1", NT_IPPKT_LINK_LOCAL, 10},
	    {"ff02::1", NT_IPPKT_MULTICAST, 8},
	    {"::ffff:127.0.0.1", NT_IPPKT_V4_IN_V6, 96},
	    {"::ffff:0.0.0.0", NT_IPPKT_V4_IN_V6, 96},
	    {"::ffff:169.254.169.254", NT_IPPKT_V4_IN_V6, 96},
	    {"::ffff:8.8.8.8", NT_IPPKT_V4_IN_V6, 96},
	    {"::127.0.0.1", NT_IPPKT_V4_IN_V6, 96},
	    {"::2", NT_IPPKT_V4_IN_V6, 96},
	    /* Ordinary: next to the special ranges, not in them. */
	    {"1.0.0.0", NT_IPPKT_GLOBAL, 0},
	    {"126.255.255.255", NT_IPPKT_GLOBAL, 0},
	    {"128.0.0.0", NT_IPPKT_GLOBAL, 0},
	    {"169.253.255.255", NT_IPPKT_GLOBAL, 0},
	    {"169.255.0.0", NT_IPPKT_GLOBAL, 0},
	    {"223.255.255.255", NT_IPPKT_GLOBAL, 0},
	    {"10.0.0.1", NT_IPPKT_GLOBAL, 0},
	    {"fec0::1", NT_IPPKT_GLOBAL, 0},
	    {"fe7f::1", NT_IPPKT_GLOBAL, 0},
	    {"fd00::1", NT_IPPKT_GLOBAL, 0},
	    {"2001:db8::1", NT_IPPKT_GLOBAL, 0},
	    {"::1:0:0:1", NT_IPPKT_GLOBAL, 0},
	    {"::fffe:7f00:1", NT_IPPKT_GLOBAL, 0},
	    {"64:ff9b::7f00:1", NT_IPPKT_GLOBAL, 0},
	};
	uint8_t a[16];
	unsigned len;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int family = strchr(cases[i].addr, ':') ? AF_INET6 : AF_INET;

		assert_int_equal(inet_pton(family, cases[i].addr, a), 1);
		len = 99;
		if (nt_ippkt_scope_of(family, a, &len) != cases[i].scope || len != cases[i].len)
			fail_msg("%s: scope %s/%u, want %s/%u", cases[i].addr,
				 nt_ippkt_scope_name(nt_ippkt_scope_of(family, a, NULL)), len,
				 nt_ippkt_scope_name(cases[i].scope), cases[i].len);
		assert_int_equal(nt_ippkt_scope_unicast(cases[i].scope),
				 cases[i].scope <= NT_IPPKT_LINK_LOCAL);
	}
	assert_string_equal(nt_ippkt_scope_name(NT_IPPKT_LINK_LOCAL), "link_local");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ippkt_reads_v4_and_v6_headers),
	    cmocka_unit_test(test_ippkt_tells_truncated_from_malformed),
	    cmocka_unit_test(test_ippkt_walks_v6_extension_headers_to_the_upper_layer),
	    cmocka_unit_test(test_ippkt_v4_fragments),
	    cmocka_unit_test(test_ippkt_quote_may_be_cut_after_its_headers),
	    cmocka_unit_test(test_ippkt_head_reads_the_fixed_header_only),
	    cmocka_unit_test(test_ippkt_checksum_matches_rfc1071_example),
	    cmocka_unit_test(test_ippkt_fast_sum_matches_word_by_word),
	    cmocka_unit_test(test_ippkt_big_endian_fields),
	    cmocka_unit_test(test_ippkt_scope_of_special_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
