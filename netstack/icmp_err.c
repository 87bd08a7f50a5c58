// SPDX-License-Identifier: MIT
/* ICMP and ICMPv6 "destination unreachable" errors: which flow they are about
 * and why it failed. Bytes in, a result out; the input is untrusted, so every
 * length is checked before it is read (netstack/ippkt.c) and both checksums
 * are verified.
 *
 *   outer IP header (to us) | ICMP type, code, checksum, 4 unused |
 *   quoted IP header (from us) | first 8 bytes of the quoted TCP/UDP header
 *
 * Only a quote of a first (or only) fragment has ports to match, past any
 * IPv6 extension headers (lwIP fragments large UDP datagrams, and routers
 * quote what they got); anything else is malformed for us.
 */
#include "netstack/flow.h"
#include "netstack/ippkt.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#define ICMP4_UNREACH 3
#define ICMP6_UNREACH 1
#define ICMP_HDR      8
#define L4_QUOTE      8 /* ports, and TCP's sequence number */

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

static enum nt_fail fail_of(int family, uint8_t code)
{
	return family == AF_INET ? fail_v4(code) : fail_v6(code);
}

/* Past the quick test: the outer header, the ICMP checksum, the quote. */
static int parse_err(const uint8_t *pkt, size_t len, struct nt_icmp_err *out)
{
	struct nt_ippkt ip, q;
	const uint8_t *icmp, *l4;
	size_t alen;
	uint32_t acc = 0;

	if (nt_ippkt_parse(pkt, len, &ip) != 0 || ip.fragment || ip.l4_len < ICMP_HDR)
		return -EINVAL; /* errors are small, and are never fragmented */
	icmp = pkt + ip.l4;
	if (ip.family == AF_INET) {
		if (nt_ippkt_csum(nt_ippkt_sum(pkt, ip.l4, 0)) != 0)
			return -EINVAL;
	} else {
		acc = nt_ippkt_pseudo_sum(AF_INET6, ip.src, ip.dst, IPPROTO_ICMPV6, ip.l4_len);
	}
	if (nt_ippkt_csum(nt_ippkt_sum(icmp, ip.l4_len, acc)) != 0)
		return -EINVAL;
	if (nt_ippkt_parse_quote(icmp + ICMP_HDR, ip.l4_len - ICMP_HDR, &q) != 0 ||
	    q.family != ip.family || !q.has_l4 || q.l4_len < L4_QUOTE ||
	    (q.proto != IPPROTO_TCP && q.proto != IPPROTO_UDP))
		return -EINVAL;
	alen = ip.family == AF_INET ? 4 : 16;
	l4 = icmp + ICMP_HDR + q.l4;
	out->family = ip.family;
	out->fail = fail_of(ip.family, icmp[1]);
	memcpy(out->dst, ip.dst, alen);
	out->proto = q.proto;
	memcpy(out->q_src, q.src, alen);
	memcpy(out->q_dst, q.dst, alen);
	out->q_sport = nt_ippkt_get16(l4);
	out->q_dport = nt_ippkt_get16(l4 + 2);
	out->q_tcp_seq = q.proto == IPPROTO_TCP ? nt_ippkt_get32(l4 + 4) : 0;
	return 1;
}

int nt_icmp_err_parse(const uint8_t *pkt, size_t len, struct nt_icmp_err *out)
{
	struct nt_ippkt_head h;
	const uint8_t *icmp;
	bool v4;
	int rc;

	memset(out, 0, sizeof(*out));
	/* The quick test, from the fixed header and the ICMP type and code:
	 * everything else is "not ours" at once. */
	if (nt_ippkt_head(pkt, len, &h) != 0)
		return 0;
	v4 = h.family == AF_INET;
	if (h.next != (v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6) || h.hdr_len < NT_IPPKT_V4_HDR ||
	    len < h.hdr_len + 2)
		return 0;
	icmp = pkt + h.hdr_len;
	if (icmp[0] != (v4 ? ICMP4_UNREACH : ICMP6_UNREACH) ||
	    fail_of(h.family, icmp[1]) == NT_FAIL_NONE)
		return 0;
	rc = parse_err(pkt, len, out);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}
