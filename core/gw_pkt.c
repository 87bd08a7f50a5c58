/* Inner packets at the gateway: parsing, ICMP unreachable and RST (see
 * gw_pkt.h). */
#include "core/gw_pkt.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define PROTO_ICMP4 1
#define PROTO_TCP   6
#define PROTO_UDP   17
#define PROTO_ICMP6 58
#define V6_EXT_MAX  8
#define TTL	    64
#define ICMP4_MAX   576 /* RFC 1812 4.3.2.3: an error fits in 576 bytes */
#define ICMP6_MAX   1280
#define ICMP_HDR    8

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t acc)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		acc += be16(p + i);
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	return acc;
}

static uint16_t csum_fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)~acc;
}

/* The pseudo-header sum of TCP, UDP and ICMPv6 checksums. */
static uint32_t pseudo_sum(int family, const uint8_t *src, const uint8_t *dst, uint8_t proto,
			   size_t len)
{
	size_t alen = family == AF_INET ? 4 : 16;

	return sum16(src, alen, 0) + sum16(dst, alen, 0) + proto + (uint32_t)(len >> 16) +
	       (uint32_t)(len & 0xffff);
}

/* ---- parsing ---- */

static int parse_l4(const uint8_t *l4, size_t l4_len, struct nt_gw_pkt *out)
{
	if (out->proto == PROTO_UDP) {
		if (l4_len < 8)
			return -EINVAL;
	} else if (out->proto == PROTO_TCP) {
		size_t off;

		if (l4_len < 20)
			return -EINVAL;
		off = (size_t)(l4[12] >> 4) * 4;
		if (off < 20 || off > l4_len)
			return -EINVAL;
		out->tcp_seq = be32(l4 + 4);
		out->tcp_flags = l4[13];
		out->tcp_payload = l4_len - off;
	} else {
		return 0;
	}
	out->sport = be16(l4);
	out->dport = be16(l4 + 2);
	out->has_ports = true;
	return 0;
}

static int parse_v4(const uint8_t *pkt, size_t len, struct nt_gw_pkt *out)
{
	size_t ihl, tot;
	uint16_t frag;

	if (len < 20)
		return -EINVAL;
	ihl = (size_t)(pkt[0] & 0x0f) * 4;
	tot = be16(pkt + 2);
	if (ihl < 20 || tot < ihl || tot > len)
		return -EINVAL;
	frag = be16(pkt + 6);
	out->family = AF_INET;
	out->len = tot;
	out->proto = pkt[9];
	out->fragment = (frag & 0x3fff) != 0; /* MF or an offset */
	memcpy(out->src, pkt + 12, 4);
	memcpy(out->dst, pkt + 16, 4);
	if ((frag & 0x1fff) != 0)
		return 0; /* a later fragment: no upper-layer header */
	return parse_l4(pkt + ihl, tot - ihl, out);
}

static int parse_v6(const uint8_t *pkt, size_t len, struct nt_gw_pkt *out)
{
	size_t tot, off = 40;
	uint8_t nh;

	if (len < 40)
		return -EINVAL;
	tot = 40 + (size_t)be16(pkt + 4);
	if (tot > len || (tot == 40 && pkt[6] == 0))
		return -EINVAL; /* truncated, or a jumbogram */
	out->family = AF_INET6;
	out->len = tot;
	memcpy(out->src, pkt + 8, 16);
	memcpy(out->dst, pkt + 24, 16);
	nh = pkt[6];
	for (int i = 0; nh == 0 || nh == 43 || nh == 44 || nh == 60; i++) {
		if (i == V6_EXT_MAX || off + 8 > tot)
			return -EINVAL;
		if (nh == 44) {
			out->fragment = true;
			nh = pkt[off];
			if ((be16(pkt + off + 2) & 0xfff8) != 0) {
				out->proto = nh;
				return 0; /* a later fragment */
			}
			off += 8;
			continue;
		}
		nh = pkt[off];
		off += ((size_t)pkt[off + 1] + 1) * 8;
		if (off > tot)
			return -EINVAL;
	}
	out->proto = nh;
	return parse_l4(pkt + off, tot - off, out);
}

int nt_gw_pkt_parse(const uint8_t *pkt, size_t len, struct nt_gw_pkt *out)
{
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (len > 0 && pkt[0] >> 4 == 4)
		rc = parse_v4(pkt, len, out);
	else if (len > 0 && pkt[0] >> 4 == 6)
		rc = parse_v6(pkt, len, out);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

bool nt_gw_pkt_is_syn(const struct nt_gw_pkt *p)
{
	return p->proto == PROTO_TCP && p->has_ports &&
	       (p->tcp_flags & (NT_GW_TCP_SYN | NT_GW_TCP_ACK | NT_GW_TCP_RST)) == NT_GW_TCP_SYN;
}

/* ---- answers ---- */

static void ip4_header(uint8_t *out, size_t tot, uint8_t proto, bool df, const uint8_t *src,
		       const uint8_t *dst)
{
	memset(out, 0, 20);
	out[0] = 0x45;
	put16(out + 2, (uint16_t)tot);
	if (df)
		put16(out + 6, 0x4000);
	out[8] = TTL;
	out[9] = proto;
	memcpy(out + 12, src, 4);
	memcpy(out + 16, dst, 4);
	put16(out + 10, csum_fold(sum16(out, 20, 0)));
}

static void ip6_header(uint8_t *out, size_t payload, uint8_t proto, const uint8_t *src,
		       const uint8_t *dst)
{
	memset(out, 0, 40);
	out[0] = 0x60;
	put16(out + 4, (uint16_t)payload);
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
	size_t off;

	if (p->family == AF_INET && p->proto == PROTO_ICMP4) {
		off = (size_t)(pkt[0] & 0x0f) * 4;
		if (off >= p->len)
			return true; /* no type to read: do not answer */
		return pkt[off] != 0 && pkt[off] != 8 && pkt[off] != 13 && pkt[off] != 15 &&
		       pkt[off] != 17;
	}
	if (p->family == AF_INET6 && p->proto == PROTO_ICMP6) {
		/* Only reachable without extension headers; else do not answer. */
		if (pkt[6] != PROTO_ICMP6 || p->len < 41)
			return true;
		return pkt[40] < 128;
	}
	return false;
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
	if ((p->fragment && !p->has_ports && (p->proto == PROTO_TCP || p->proto == PROTO_UDP)) ||
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
		ip4_header(out, tot, PROTO_ICMP4, false, src, p->src);
		acc = 0;
	} else {
		ip6_header(out, icmp_len, PROTO_ICMP6, src, p->src);
		acc = pseudo_sum(AF_INET6, src, p->src, PROTO_ICMP6, icmp_len);
	}
	put16(icmp + 2, csum_fold(sum16(icmp, icmp_len, acc)));
	return (int)tot;
}

int nt_gw_tcp_rst(uint8_t *out, size_t cap, const struct nt_gw_pkt *p)
{
	size_t hdr = p->family == AF_INET ? 20 : 40, tot = hdr + 20;
	uint8_t *tcp = out + hdr;

	if (!nt_gw_pkt_is_syn(p))
		return -EINVAL;
	if (tot > cap)
		return -ENOSPC;
	if (p->family == AF_INET)
		ip4_header(out, tot, PROTO_TCP, true, p->dst, p->src);
	else
		ip6_header(out, 20, PROTO_TCP, p->dst, p->src);
	memset(tcp, 0, 20);
	put16(tcp, p->dport);
	put16(tcp + 2, p->sport);
	/* The SYN and its data (a TCP Fast Open SYN may carry some). */
	put32(tcp + 8, p->tcp_seq + 1 + (uint32_t)p->tcp_payload);
	tcp[12] = 5 << 4;
	tcp[13] = NT_GW_TCP_RST | NT_GW_TCP_ACK;
	put16(tcp + 16,
	      csum_fold(sum16(tcp, 20, pseudo_sum(p->family, p->dst, p->src, PROTO_TCP, 20))));
	return (int)tot;
}
