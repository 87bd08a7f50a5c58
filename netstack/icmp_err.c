/* ICMP and ICMPv6 "destination unreachable" errors: which flow they are about
 * and why it failed. Bytes in, a result out; the input is untrusted, so every
 * length is checked before it is read and both checksums are verified.
 *
 *   outer IP header (to us) | ICMP type, code, checksum, 4 unused |
 *   quoted IP header (from us) | first 8 bytes of the quoted TCP/UDP header
 *
 * Only a quote without IPv6 extension headers and of a first (or only)
 * IPv4 fragment has ports to match; anything else is malformed for us.
 */
#include "netstack/flow.h"

#include <errno.h>
#include <string.h>

#define ICMP4_UNREACH 3
#define ICMP6_UNREACH 1
#define PROTO_ICMP4   1
#define PROTO_ICMP6   58
#define PROTO_TCP     6
#define PROTO_UDP     17
#define ICMP_HDR      8
#define L4_QUOTE      8 /* ports, and TCP's sequence number */

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t acc)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		acc += be16(p + i);
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	return acc;
}

static bool csum_ok(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return acc == 0xffff;
}

static enum nt_fail fail_v4(uint8_t code)
{
	switch (code) {
	case 0:	 /* net unreachable */
	case 6:	 /* destination network unknown */
	case 11: /* net unreachable for TOS */
		return NT_FAIL_NET_UNREACH;
	case 1:	 /* host unreachable */
	case 7:	 /* destination host unknown */
	case 12: /* host unreachable for TOS */
		return NT_FAIL_HOST_UNREACH;
	case 3: /* port unreachable */
		return NT_FAIL_REFUSED;
	case 9:	 /* network administratively prohibited */
	case 10: /* host administratively prohibited */
	case 13: /* communication administratively prohibited */
		return NT_FAIL_NOT_ALLOWED;
	default: /* 4 (fragmentation needed) is path MTU discovery, not a failure */
		return NT_FAIL_NONE;
	}
}

static enum nt_fail fail_v6(uint8_t code)
{
	switch (code) {
	case 0: /* no route to destination */
		return NT_FAIL_NET_UNREACH;
	case 1: /* administratively prohibited */
		return NT_FAIL_NOT_ALLOWED;
	case 3: /* address unreachable */
		return NT_FAIL_HOST_UNREACH;
	case 4: /* port unreachable */
		return NT_FAIL_REFUSED;
	default:
		return NT_FAIL_NONE;
	}
}

static int quote_l4(const uint8_t *l4, uint8_t proto, struct nt_icmp_err *out)
{
	if (proto != PROTO_TCP && proto != PROTO_UDP)
		return -EINVAL;
	out->proto = proto;
	out->q_sport = be16(l4);
	out->q_dport = be16(l4 + 2);
	out->q_tcp_seq = proto == PROTO_TCP ? be32(l4 + 4) : 0;
	return 1;
}

static int parse_v4(const uint8_t *pkt, size_t len, struct nt_icmp_err *out)
{
	size_t ihl = (size_t)(pkt[0] & 0x0f) * 4, tot = be16(pkt + 2), qihl, qtot;
	const uint8_t *icmp, *q;
	size_t icmp_len;

	if (ihl < 20 || tot < ihl || tot > len)
		return -EINVAL;
	if ((be16(pkt + 6) & 0x3fff) != 0)
		return -EINVAL; /* a fragment: errors are small, and are never fragmented */
	if (!csum_ok(sum16(pkt, ihl, 0)))
		return -EINVAL;
	icmp = pkt + ihl;
	icmp_len = tot - ihl;
	if (icmp_len < ICMP_HDR + 20 + L4_QUOTE)
		return -EINVAL;
	if (!csum_ok(sum16(icmp, icmp_len, 0)))
		return -EINVAL;
	q = icmp + ICMP_HDR;
	qihl = (size_t)(q[0] & 0x0f) * 4;
	qtot = be16(q + 2);
	if ((q[0] >> 4) != 4 || qihl < 20 || ICMP_HDR + qihl + L4_QUOTE > icmp_len ||
	    qtot < qihl + L4_QUOTE)
		return -EINVAL;
	if ((be16(q + 6) & 0x1fff) != 0)
		return -EINVAL; /* not a first fragment: no ports */
	out->family = AF_INET;
	out->fail = fail_v4(icmp[1]);
	memcpy(out->dst, pkt + 16, 4);
	memcpy(out->q_src, q + 12, 4);
	memcpy(out->q_dst, q + 16, 4);
	return quote_l4(q + qihl, q[9], out);
}

static int parse_v6(const uint8_t *pkt, size_t len, struct nt_icmp_err *out)
{
	size_t icmp_len = be16(pkt + 4);
	const uint8_t *icmp = pkt + 40, *q;
	uint32_t acc;

	if (40 + icmp_len > len || icmp_len < ICMP_HDR + 40 + L4_QUOTE)
		return -EINVAL;
	/* Pseudo-header: source, destination, length, next header. */
	acc = sum16(pkt + 8, 32, 0) + (uint32_t)icmp_len + PROTO_ICMP6;
	if (!csum_ok(sum16(icmp, icmp_len, acc)))
		return -EINVAL;
	q = icmp + ICMP_HDR;
	if ((q[0] >> 4) != 6)
		return -EINVAL;
	out->family = AF_INET6;
	out->fail = fail_v6(icmp[1]);
	memcpy(out->dst, pkt + 24, 16);
	memcpy(out->q_src, q + 8, 16);
	memcpy(out->q_dst, q + 24, 16);
	return quote_l4(q + 40, q[6], out);
}

int nt_icmp_err_parse(const uint8_t *pkt, size_t len, struct nt_icmp_err *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	/* The quick test: everything else is "not ours" at once. */
	if (len >= 21 && pkt[0] >> 4 == 4 && pkt[9] == PROTO_ICMP4) {
		size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;

		if (ihl < 20 || len < ihl + 2 || pkt[ihl] != ICMP4_UNREACH)
			return 0;
		if (fail_v4(pkt[ihl + 1]) == NT_FAIL_NONE)
			return 0;
		rc = parse_v4(pkt, len, out);
	} else if (len >= 42 && pkt[0] >> 4 == 6 && pkt[6] == PROTO_ICMP6) {
		if (pkt[40] != ICMP6_UNREACH || fail_v6(pkt[41]) == NT_FAIL_NONE)
			return 0;
		rc = parse_v6(pkt, len, out);
	} else {
		return 0;
	}
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}
