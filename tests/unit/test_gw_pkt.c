// SPDX-License-Identifier: MIT
/* The gateway's own packets: parsing what a peer sends, the ICMP
 * unreachable it answers a refused destination with (checked by the
 * client's own ICMP parser, which must read it as the right failure) and
 * the RST that refuses a SYN. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/gateway/gw_pkt.h"
#include "netstack/flow.h"
#include "tests/unit/pkt_bytes.h"

#define CLIENT4 "10.9.0.2"
#define DEST4	"10.9.0.1"
#define GW4	"10.9.0.1"
#define CLIENT6 "fd00:9::2"
#define DEST6	"fd00:9::80"
#define GW6	"fd00:9::1"

#define ISN 0x01020304u

static void addr(int family, const char *text, uint8_t *out)
{
	assert_int_equal(inet_pton(family, text, out), 1);
}

/* A TCP segment (flags, payload_len bytes of 'x') or, with tcp false, a UDP
 * datagram, from CLIENT to DEST port 8080 from port 40000. */
static size_t build(uint8_t *pkt, int family, bool tcp, uint8_t flags, size_t payload_len)
{
	size_t hdr = family == AF_INET ? 20 : 40, l4 = tcp ? 20 : 8, tot = hdr + l4 + payload_len;
	uint8_t src[16], dst[16], *h = pkt + hdr;
	size_t alen = family == AF_INET ? 4 : 16;
	uint32_t acc;

	memset(pkt, 0, tot);
	addr(family, family == AF_INET ? CLIENT4 : CLIENT6, src);
	addr(family, family == AF_INET ? DEST4 : DEST6, dst);
	if (family == AF_INET) {
		pkt[0] = 0x45;
		wr16(pkt + 2, (uint16_t)tot);
		pkt[8] = 64;
		pkt[9] = tcp ? 6 : 17;
		memcpy(pkt + 12, src, 4);
		memcpy(pkt + 16, dst, 4);
		wr16(pkt + 10, fold(sum16(pkt, 20, 0)));
	} else {
		pkt[0] = 0x60;
		wr16(pkt + 4, (uint16_t)(l4 + payload_len));
		pkt[6] = tcp ? 6 : 17;
		pkt[7] = 64;
		memcpy(pkt + 8, src, 16);
		memcpy(pkt + 24, dst, 16);
	}
	wr16(h, 40000);
	wr16(h + 2, 8080);
	if (tcp) {
		wr32(h + 4, ISN);
		h[12] = 5 << 4;
		h[13] = flags;
		wr16(h + 14, 65535);
	} else {
		wr16(h + 4, (uint16_t)(l4 + payload_len));
	}
	memset(h + l4, 'x', payload_len);
	acc = sum16(src, alen, 0) + sum16(dst, alen, 0) + (tcp ? 6 : 17) +
	      (uint32_t)(l4 + payload_len);
	wr16(h + (tcp ? 16 : 6), fold(sum16(h, l4 + payload_len, acc)));
	return tot;
}

static void test_gw_pkt_parses_tcp_syn_v4_and_v6(void **state)
{
	uint8_t pkt[200], want[16];
	struct nt_gw_pkt p;
	(void)state;

	for (int family = AF_INET; family != -1; family = family == AF_INET ? AF_INET6 : -1) {
		size_t len = build(pkt, family, true, 0x02, 0);

		/* Trailing padding (WireGuard's) is not part of the datagram. */
		assert_int_equal(nt_gw_pkt_parse(pkt, len + 12, &p), 0);
		assert_int_equal(p.family, family);
		assert_int_equal(p.len, len);
		assert_int_equal(p.proto, 6);
		assert_true(p.has_ports);
		assert_false(p.fragment);
		assert_int_equal(p.sport, 40000);
		assert_int_equal(p.dport, 8080);
		assert_int_equal(p.tcp_seq, ISN);
		assert_true(nt_gw_pkt_is_syn(&p));
		addr(family, family == AF_INET ? DEST4 : DEST6, want);
		assert_memory_equal(p.dst, want, family == AF_INET ? 4 : 16);
		addr(family, family == AF_INET ? CLIENT4 : CLIENT6, want);
		assert_memory_equal(p.src, want, family == AF_INET ? 4 : 16);
	}
}

static void test_gw_pkt_syn_means_syn_without_ack_or_rst(void **state)
{
	uint8_t pkt[100];
	struct nt_gw_pkt p;
	(void)state;

	assert_int_equal(nt_gw_pkt_parse(pkt, build(pkt, AF_INET, true, 0x12, 0), &p), 0);
	assert_false(nt_gw_pkt_is_syn(&p)); /* SYN-ACK */
	assert_int_equal(nt_gw_pkt_parse(pkt, build(pkt, AF_INET, true, 0x06, 0), &p), 0);
	assert_false(nt_gw_pkt_is_syn(&p)); /* SYN-RST */
	assert_int_equal(nt_gw_pkt_parse(pkt, build(pkt, AF_INET, true, 0x10, 5), &p), 0);
	assert_false(nt_gw_pkt_is_syn(&p));
	assert_int_equal(p.tcp_payload, 5);
	assert_int_equal(nt_gw_pkt_parse(pkt, build(pkt, AF_INET6, false, 0, 3), &p), 0);
	assert_false(nt_gw_pkt_is_syn(&p));
	assert_int_equal(p.proto, 17);
	assert_int_equal(p.dport, 8080);
}

static void test_gw_pkt_rejects_truncated_and_malformed(void **state)
{
	uint8_t pkt[200];
	struct nt_gw_pkt p;
	size_t len;
	(void)state;

	len = build(pkt, AF_INET, true, 0x02, 0);
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(nt_gw_pkt_parse(pkt, cut, &p), -EINVAL);
	pkt[0] = 0x44; /* IHL 16 bytes */
	assert_int_equal(nt_gw_pkt_parse(pkt, len, &p), -EINVAL);
	len = build(pkt, AF_INET, true, 0x02, 0);
	pkt[20 + 12] = 4 << 4; /* TCP data offset below 20 */
	assert_int_equal(nt_gw_pkt_parse(pkt, len, &p), -EINVAL);
	len = build(pkt, AF_INET6, false, 0, 0);
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(nt_gw_pkt_parse(pkt, cut, &p), -EINVAL);
	pkt[0] = 0x50;
	assert_int_equal(nt_gw_pkt_parse(pkt, len, &p), -EINVAL);
}

static void test_gw_pkt_later_fragments_have_no_ports(void **state)
{
	uint8_t pkt[200];
	struct nt_gw_pkt p;
	size_t len;
	(void)state;

	len = build(pkt, AF_INET, false, 0, 16);
	wr16(pkt + 6, 0x2000); /* MF, offset 0: the first fragment */
	assert_int_equal(nt_gw_pkt_parse(pkt, len, &p), 0);
	assert_true(p.fragment);
	assert_true(p.has_ports);
	wr16(pkt + 6, 3); /* offset 24 bytes */
	assert_int_equal(nt_gw_pkt_parse(pkt, len, &p), 0);
	assert_true(p.fragment);
	assert_false(p.has_ports);
	assert_int_equal(p.proto, 17);

	/* IPv6: a fragment header at offset 8 bytes. */
	len = build(pkt, AF_INET6, false, 0, 16);
	memmove(pkt + 48, pkt + 40, len - 40);
	memset(pkt + 40, 0, 8);
	pkt[40] = 17;
	pkt[6] = 44;
	wr16(pkt + 42, 8);
	wr16(pkt + 4, (uint16_t)(len - 40 + 8));
	assert_int_equal(nt_gw_pkt_parse(pkt, len + 8, &p), 0);
	assert_true(p.fragment);
	assert_false(p.has_ports);
	assert_int_equal(p.proto, 17);
}

/* RFC 792 (net 0, host 1, port 3), RFC 1812 (administratively prohibited 13);
 * RFC 4443 (no route 0, administratively prohibited 1, address 3, port 4). */
static const uint8_t V4_CODE[] = {
    [NT_GW_UNREACH_NET] = 0,
    [NT_GW_UNREACH_HOST] = 1,
    [NT_GW_UNREACH_PORT] = 3,
    [NT_GW_UNREACH_PROHIBITED] = 13,
};
static const uint8_t V6_CODE[] = {
    [NT_GW_UNREACH_NET] = 0,
    [NT_GW_UNREACH_HOST] = 3,
    [NT_GW_UNREACH_PORT] = 4,
    [NT_GW_UNREACH_PROHIBITED] = 1,
};

/* The answer must read, to the client's flow layer, as the failure meant. */
static void check_unreach(int family, bool tcp, enum nt_gw_unreach why, enum nt_fail want)
{
	uint8_t pkt[1500], out[NT_GW_ANSWER_MAX], gw[16], client[16], dest[16];
	struct nt_icmp_err e;
	struct nt_gw_pkt p;
	size_t len = build(pkt, family, tcp, 0x02, tcp ? 0 : 1400);
	size_t hdr = family == AF_INET ? 20 : 40, max;
	int n;

	assert_int_equal(nt_gw_pkt_parse(pkt, len, &p), 0);
	addr(family, family == AF_INET ? GW4 : GW6, gw);
	addr(family, family == AF_INET ? CLIENT4 : CLIENT6, client);
	addr(family, family == AF_INET ? DEST4 : DEST6, dest);
	n = nt_gw_icmp_unreach(out, sizeof(out), pkt, &p, gw, why);
	assert_true(n > 0);
	/* RFC 1812 / RFC 4443 size limits, quoting as much as fits. */
	max = family == AF_INET ? 576 : 1280;
	assert_int_equal(n, (int)(len + hdr + 8 > max ? max : len + hdr + 8));
	assert_int_equal(nt_icmp_err_parse(out, (size_t)n, &e), 1);
	assert_int_equal(e.family, family);
	assert_int_equal(e.fail, want);
	assert_int_equal(e.proto, tcp ? 6 : 17);
	assert_int_equal(e.q_sport, 40000);
	assert_int_equal(e.q_dport, 8080);
	if (tcp)
		assert_int_equal(e.q_tcp_seq, ISN);
	assert_memory_equal(e.dst, client, family == AF_INET ? 4 : 16);
	assert_memory_equal(e.q_src, client, family == AF_INET ? 4 : 16);
	assert_memory_equal(e.q_dst, dest, family == AF_INET ? 4 : 16);
	/* The wire values, written out from the RFCs (not from gw_pkt.h): a peer
	 * that is not notun reads these, not nt_fail. */
	if (family == AF_INET) {
		assert_int_equal(out[20], 3); /* RFC 792 destination unreachable */
		assert_int_equal(out[21], V4_CODE[why]);
		assert_memory_equal(out + 12, gw, 4);
	} else {
		assert_int_equal(out[40], 1); /* RFC 4443 destination unreachable */
		assert_int_equal(out[41], V6_CODE[why]);
		assert_memory_equal(out + 8, gw, 16);
	}
}

static void test_gw_icmp_prohibited_reads_as_not_allowed(void **state)
{
	(void)state;
	check_unreach(AF_INET, true, NT_GW_UNREACH_PROHIBITED, NT_FAIL_NOT_ALLOWED);
	check_unreach(AF_INET, false, NT_GW_UNREACH_PROHIBITED, NT_FAIL_NOT_ALLOWED);
	check_unreach(AF_INET6, true, NT_GW_UNREACH_PROHIBITED, NT_FAIL_NOT_ALLOWED);
	check_unreach(AF_INET6, false, NT_GW_UNREACH_PROHIBITED, NT_FAIL_NOT_ALLOWED);
}

static void test_gw_icmp_unreachable_codes(void **state)
{
	(void)state;
	check_unreach(AF_INET, true, NT_GW_UNREACH_NET, NT_FAIL_NET_UNREACH);
	check_unreach(AF_INET, true, NT_GW_UNREACH_HOST, NT_FAIL_HOST_UNREACH);
	check_unreach(AF_INET, false, NT_GW_UNREACH_PORT, NT_FAIL_REFUSED);
	check_unreach(AF_INET6, true, NT_GW_UNREACH_NET, NT_FAIL_NET_UNREACH);
	check_unreach(AF_INET6, true, NT_GW_UNREACH_HOST, NT_FAIL_HOST_UNREACH);
	check_unreach(AF_INET6, false, NT_GW_UNREACH_PORT, NT_FAIL_REFUSED);
}

static void test_gw_icmp_never_answers_an_icmp_error(void **state)
{
	uint8_t pkt[1500], err[NT_GW_ANSWER_MAX], out[NT_GW_ANSWER_MAX], gw[16];
	struct nt_gw_pkt p, pe;
	int n;
	(void)state;

	for (int family = AF_INET; family != -1; family = family == AF_INET ? AF_INET6 : -1) {
		size_t hdr = family == AF_INET ? 20 : 40;

		addr(family, family == AF_INET ? GW4 : GW6, gw);
		assert_int_equal(nt_gw_pkt_parse(pkt, build(pkt, family, true, 0x02, 0), &p), 0);
		n = nt_gw_icmp_unreach(err, sizeof(err), pkt, &p, gw, NT_GW_UNREACH_HOST);
		assert_true(n > 0);
		assert_int_equal(nt_gw_pkt_parse(err, (size_t)n, &pe), 0);
		assert_int_equal(
		    nt_gw_icmp_unreach(out, sizeof(out), err, &pe, gw, NT_GW_UNREACH_HOST),
		    -EINVAL);
		/* An echo request is no error: it may be answered. */
		err[hdr] = family == AF_INET ? 8 : 128;
		assert_true(nt_gw_icmp_unreach(out, sizeof(out), err, &pe, gw, NT_GW_UNREACH_HOST) >
			    0);
	}
	addr(AF_INET, GW4, gw);
	assert_int_equal(nt_gw_pkt_parse(pkt, build(pkt, AF_INET, true, 0x02, 0), &p), 0);
	assert_int_equal(nt_gw_icmp_unreach(out, 60, pkt, &p, gw, NT_GW_UNREACH_HOST), -ENOSPC);
}

static void check_rst(int family, size_t payload)
{
	uint8_t pkt[200], out[100], client[16], dest[16];
	size_t hdr = family == AF_INET ? 20 : 40, alen = family == AF_INET ? 4 : 16;
	struct nt_gw_pkt p, r;
	uint32_t acc;
	int n;

	assert_int_equal(nt_gw_pkt_parse(pkt, build(pkt, family, true, 0x02, payload), &p), 0);
	n = nt_gw_tcp_rst(out, sizeof(out), &p);
	assert_int_equal(n, (int)hdr + 20);
	assert_int_equal(nt_gw_pkt_parse(out, (size_t)n, &r), 0);
	addr(family, family == AF_INET ? CLIENT4 : CLIENT6, client);
	addr(family, family == AF_INET ? DEST4 : DEST6, dest);
	assert_memory_equal(r.src, dest, alen);
	assert_memory_equal(r.dst, client, alen);
	assert_int_equal(r.sport, 8080);
	assert_int_equal(r.dport, 40000);
	assert_int_equal(r.tcp_flags, 0x14);
	assert_int_equal(r.tcp_seq, 0);
	assert_int_equal(rd32(out + hdr + 8), ISN + 1 + payload);
	if (family == AF_INET)
		assert_int_equal(fold(sum16(out, 20, 0)), 0);
	acc = sum16(dest, alen, 0) + sum16(client, alen, 0) + 6 + 20;
	assert_int_equal(fold(sum16(out + hdr, 20, acc)), 0);
}

static void test_gw_rst_refuses_a_syn(void **state)
{
	uint8_t pkt[100], out[100];
	struct nt_gw_pkt p;
	(void)state;

	check_rst(AF_INET, 0);
	check_rst(AF_INET6, 0);
	check_rst(AF_INET, 7); /* data on the SYN is acknowledged too */
	assert_int_equal(nt_gw_pkt_parse(pkt, build(pkt, AF_INET, true, 0x10, 0), &p), 0);
	assert_int_equal(nt_gw_tcp_rst(out, sizeof(out), &p), -EINVAL);
	assert_int_equal(nt_gw_pkt_parse(pkt, build(pkt, AF_INET, true, 0x02, 0), &p), 0);
	assert_int_equal(nt_gw_tcp_rst(out, 39, &p), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gw_pkt_parses_tcp_syn_v4_and_v6),
	    cmocka_unit_test(test_gw_pkt_syn_means_syn_without_ack_or_rst),
	    cmocka_unit_test(test_gw_pkt_rejects_truncated_and_malformed),
	    cmocka_unit_test(test_gw_pkt_later_fragments_have_no_ports),
	    cmocka_unit_test(test_gw_icmp_prohibited_reads_as_not_allowed),
	    cmocka_unit_test(test_gw_icmp_unreachable_codes),
	    cmocka_unit_test(test_gw_icmp_never_answers_an_icmp_error),
	    cmocka_unit_test(test_gw_rst_refuses_a_syn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
