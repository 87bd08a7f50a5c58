// SPDX-License-Identifier: MIT
/* Inner packets at the gateway: parsing, ICMP unreachable and RST (see
 * gw_pkt.h). */
#include "core/gateway/gw_pkt.h"

#include "netstack/ippkt.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define TTL	  64
#define ICMP4_MAX 576 /* RFC 1812 4.3.2.3: an error fits in 576 bytes */
#define ICMP6_MAX 1280
#define ICMP_HDR  8

/* ---- parsing ---- */

static int parse_l4(const uint8_t *l4, size_t l4_len, struct nt_gw_pkt *out)
{
	if (out->proto == IPPROTO_UDP) {
		if (l4_len < 8)
			return -EINVAL;
	} else if (out->proto == IPPROTO_TCP) {
		size_t off;

		if (l4_len < 20)
			return -EINVAL;
		off = (size_t)(l4[12] >> 4) * 4;
		if (off < 20 || off > l4_len)
			return -EINVAL;
		out->tcp_seq = nt_ippkt_get32(l4 + 4);
		out->tcp_flags = l4[13];
		out->tcp_payload = l4_len - off;
	} else {
		return 0;
	}
	out->sport = nt_ippkt_get16(l4);
	out->dport = nt_ippkt_get16(l4 + 2);
	out->has_ports = true;
	return 0;
}

int nt_gw_pkt_parse(const uint8_t *pkt, size_t len, struct nt_gw_pkt *out)
{
	struct nt_ippkt ip;

	memset(out, 0, sizeof(*out));
	if (nt_ippkt_parse(pkt, len, &ip) != 0)
		return -EINVAL;
	out->family = ip.family;
	memcpy(out->src, ip.src, ip.family == AF_INET ? 4 : 16);
	memcpy(out->dst, ip.dst, ip.family == AF_INET ? 4 : 16);
	out->proto = ip.proto;
	out->fragment = ip.fragment;
	out->len = ip.len;
	if (ip.has_l4 && parse_l4(pkt + ip.l4, ip.l4_len, out) != 0) {
		memset(out, 0, sizeof(*out));
		return -EINVAL;
	}
	return 0;
}

bool nt_gw_pkt_is_syn(const struct nt_gw_pkt *p)
{
	return p->proto == IPPROTO_TCP && p->has_ports &&
	       (p->tcp_flags & (NT_GW_TCP_SYN | NT_GW_TCP_ACK | NT_GW_TCP_RST)) == NT_GW_TCP_SYN;
}

/* ---- answers ---- */

static void ip4_header(uint8_t *out, size_t tot, uint8_t proto, bool df, const uint8_t *src,
		       const uint8_t *dst)
{
	memset(out, 0, 20);
	out[0] = 0x45;
	nt_ippkt_put16(out + 2, (uint16_t)tot);
	if (df)
		nt_ippkt_put16(out + 6, 0x4000);
	out[8] = TTL;
	out[9] = proto;
	memcpy(out + 12, src, 4);
	memcpy(out + 16, dst, 4);
	nt_ippkt_put16(out + 10, nt_ippkt_csum(nt_ippkt_sum(out, 20, 0)));
}

static void ip6_header(uint8_t *out, size_t payload, uint8_t proto, const uint8_t *src,
		       const uint8_t *dst)
{
	memset(out, 0, 40);
	out[0] = 0x60;
	nt_ippkt_put16(out + 4, (uint16_t)payload);
	out[6] = proto;
	out[7] = TTL;
	memcpy(out + 8, src, 16);
	memcpy(out + 24, dst, 16);
}

static uint8_t unreach_code(int family, enum nt_gw_unreach why)
{
	static const uint8_t v4[] = {0, 1, 3, 13}, v6[] = {0, 3, 4, 1};

	return family == AF_INET ? v4[why] : v6[why];
}

/* Never answer an ICMP error with one (RFC 1122 3.2.2, RFC 4443 2.4). */
static bool is_icmp_error(const uint8_t *pkt, const struct nt_gw_pkt *p)
{
	struct nt_ippkt_head h;
	uint8_t type;

	if (p->proto != (p->family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6))
		return false;
	/* ICMPv6 behind extension headers is not looked for, and a message
	 * without a type byte is not read: neither is answered. */
	if (nt_ippkt_head(pkt, p->len, &h) != 0 || h.next != p->proto || h.hdr_len >= p->len)
		return true;
	type = pkt[h.hdr_len];
	if (p->family == AF_INET6)
		return type < 128;
	return type != 0 && type != 8 && type != 13 && type != 15 && type != 17;
}

int nt_gw_icmp_unreach(uint8_t *out, size_t cap, const uint8_t *pkt, const struct nt_gw_pkt *p,
		       const uint8_t *src, enum nt_gw_unreach why)
{
	size_t hdr = p->family == AF_INET ? 20 : 40;
	size_t max = p->family == AF_INET ? ICMP4_MAX : ICMP6_MAX;
	size_t quote = p->len, tot, icmp_len;
	uint8_t *icmp = out + hdr;
	uint32_t acc;

	if ((p->family != AF_INET && p->family != AF_INET6) ||
	    (unsigned)why > NT_GW_UNREACH_PROHIBITED)
		return -EINVAL;
	if ((p->fragment && !p->has_ports &&
	     (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP)) ||
	    is_icmp_error(pkt, p))
		return -EINVAL;
	if (quote > max - hdr - ICMP_HDR)
		quote = max - hdr - ICMP_HDR;
	icmp_len = ICMP_HDR + quote;
	tot = hdr + icmp_len;
	if (tot > cap)
		return -ENOSPC;
	memset(icmp, 0, ICMP_HDR);
	icmp[0] = p->family == AF_INET ? 3 : 1;
	icmp[1] = unreach_code(p->family, why);
	memcpy(icmp + ICMP_HDR, pkt, quote);
	if (p->family == AF_INET) {
		ip4_header(out, tot, IPPROTO_ICMP, false, src, p->src);
		acc = 0;
	} else {
		ip6_header(out, icmp_len, IPPROTO_ICMPV6, src, p->src);
		acc = nt_ippkt_pseudo_sum(AF_INET6, src, p->src, IPPROTO_ICMPV6, icmp_len);
	}
	nt_ippkt_put16(icmp + 2, nt_ippkt_csum(nt_ippkt_sum(icmp, icmp_len, acc)));
	return (int)tot;
}

int nt_gw_tcp_rst(uint8_t *out, size_t cap, const struct nt_gw_pkt *p)
{
	size_t hdr = p->family == AF_INET ? 20 : 40, tot = hdr + 20;
	uint8_t *tcp = out + hdr;
	uint32_t acc;

	if (!nt_gw_pkt_is_syn(p))
		return -EINVAL;
	if (tot > cap)
		return -ENOSPC;
	if (p->family == AF_INET)
		ip4_header(out, tot, IPPROTO_TCP, true, p->dst, p->src);
	else
		ip6_header(out, 20, IPPROTO_TCP, p->dst, p->src);
	memset(tcp, 0, 20);
	nt_ippkt_put16(tcp, p->dport);
	nt_ippkt_put16(tcp + 2, p->sport);
	/* The SYN and its data (a TCP Fast Open SYN may carry some). */
	nt_ippkt_put32(tcp + 8, p->tcp_seq + 1 + (uint32_t)p->tcp_payload);
	tcp[12] = 5 << 4;
	tcp[13] = NT_GW_TCP_RST | NT_GW_TCP_ACK;
	acc = nt_ippkt_pseudo_sum(p->family, p->dst, p->src, IPPROTO_TCP, 20);
	nt_ippkt_put16(tcp + 16, nt_ippkt_csum(nt_ippkt_sum(tcp, 20, acc)));
	return (int)tot;
}
