// SPDX-License-Identifier: MIT
/* IP headers and the Internet checksum (see ippkt.h). */
#include "netstack/ippkt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "netstack/arch/chksum.h"

#define V6_EXT_MAX 8 /* extension headers walked before giving up */
#define SUM_PIECE  65536

static bool v6_ext(uint8_t nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_FRAGMENT ||
	       nh == IPPROTO_DSTOPTS;
}

static int parse_v4(const uint8_t *pkt, size_t len, bool quote, const struct nt_ippkt_head *h,
		    struct nt_ippkt *out)
{
	size_t ihl = h->hdr_len, tot = h->len;
	uint16_t frag;

	if (ihl < NT_IPPKT_V4_HDR || tot < ihl)
		return -EINVAL;
	if ((quote ? ihl : tot) > len)
		return -EMSGSIZE;
	frag = nt_ippkt_get16(pkt + 6);
	out->proto = h->next;
	out->fragment = (frag & 0x3fff) != 0; /* MF or an offset */
	out->has_l4 = (frag & 0x1fff) == 0;
	out->l4 = ihl;
	return 0;
}

static int parse_v6(const uint8_t *pkt, size_t len, bool quote, const struct nt_ippkt_head *h,
		    struct nt_ippkt *out)
{
	size_t tot = h->len, end, off = NT_IPPKT_V6_HDR;
	uint8_t nh = h->next;

	if (tot == NT_IPPKT_V6_HDR && nh == IPPROTO_HOPOPTS)
		return -EINVAL; /* a jumbogram */
	if (tot > len && !quote)
		return -EMSGSIZE;
	end = tot < len ? tot : len;
	out->fragment = false;
	out->has_l4 = true;
	out->len = tot;
	for (int i = 0; v6_ext(nh); i++) {
		if (i == V6_EXT_MAX)
			return -EINVAL;
		if (off + 8 > end)
			return -EMSGSIZE;
		if (nh == IPPROTO_FRAGMENT) {
			out->fragment = true;
			out->has_l4 = (nt_ippkt_get16(pkt + off + 2) & 0xfff8) == 0;
			nh = pkt[off];
			off += 8;
			if (!out->has_l4)
				break; /* a later fragment: its next header is the datagram's */
			continue;
		}
		nh = pkt[off];
		off += ((size_t)pkt[off + 1] + 1) * 8;
		if (off > end)
			return -EMSGSIZE;
	}
	out->proto = nh;
	out->l4 = off;
	return 0;
}

static int parse(const uint8_t *pkt, size_t len, bool quote, struct nt_ippkt *out)
{
	struct nt_ippkt_head h;
	int rc = -EINVAL;

	/* Every field is set on success (no memset: this runs per packet). */
	if (len == 0 || (pkt[0] >> 4 != 4 && pkt[0] >> 4 != 6))
		goto err;
	rc = -EMSGSIZE; /* shorter than the fixed header */
	if (nt_ippkt_head(pkt, len, &h) != 0)
		goto err;
	out->family = h.family;
	out->src = h.src;
	out->dst = h.dst;
	out->len = h.len;
	rc = h.family == AF_INET ? parse_v4(pkt, len, quote, &h, out)
				 : parse_v6(pkt, len, quote, &h, out);
	if (rc < 0)
		goto err;
	out->l4_len = (out->len < len ? out->len : len) - out->l4;
	return 0;

err:
	memset(out, 0, sizeof(*out));
	return rc;
}

int nt_ippkt_parse(const uint8_t *pkt, size_t len, struct nt_ippkt *out)
{
	return parse(pkt, len, false, out);
}

int nt_ippkt_parse_quote(const uint8_t *pkt, size_t len, struct nt_ippkt *out)
{
	return parse(pkt, len, true, out);
}

/* First match wins: broadcast before the rest of 240/4, :: and ::1 before ::/96. */
static const struct {
	int family;
	uint8_t prefix[16];
	uint8_t len;
	enum nt_ippkt_scope scope;
} scope_ranges[] = {
    {AF_INET, {0}, 8, NT_IPPKT_UNSPECIFIED},
    {AF_INET, {127}, 8, NT_IPPKT_LOOPBACK},
    {AF_INET, {169, 254}, 16, NT_IPPKT_LINK_LOCAL},
    {AF_INET, {224}, 4, NT_IPPKT_MULTICAST},
    {AF_INET, {255, 255, 255, 255}, 32, NT_IPPKT_BROADCAST},
    {AF_INET, {240}, 4, NT_IPPKT_RESERVED},
    {AF_INET6, {0}, 128, NT_IPPKT_UNSPECIFIED},
    {AF_INET6, {[15] = 1}, 128, NT_IPPKT_LOOPBACK},
    {AF_INET6, {0xfe, 0x80}, 10, NT_IPPKT_LINK_LOCAL},
    {AF_INET6, {0xff}, 8, NT_IPPKT_MULTICAST},
    /* An IPv6 socket connects to ::ffff:a.b.c.d over IPv4, past the rules
     * written for a.b.c.d: no form of it is reached. */
    {AF_INET6, {[10] = 0xff, [11] = 0xff}, 96, NT_IPPKT_V4_IN_V6},
    {AF_INET6, {0}, 96, NT_IPPKT_V4_IN_V6},
};

static bool prefix_match(const uint8_t *a, const uint8_t *prefix, unsigned len)
{
	unsigned full = len / 8, rest = len % 8;

	if (memcmp(a, prefix, full) != 0)
		return false;
	return !rest || ((a[full] ^ prefix[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

enum nt_ippkt_scope nt_ippkt_scope_of(int family, const uint8_t *addr, unsigned *prefix_len)
{
	for (size_t i = 0; i < sizeof(scope_ranges) / sizeof(scope_ranges[0]); i++) {
		if (scope_ranges[i].family != family ||
		    !prefix_match(addr, scope_ranges[i].prefix, scope_ranges[i].len))
			continue;
		if (prefix_len)
			*prefix_len = scope_ranges[i].len;
		return scope_ranges[i].scope;
	}
	if (prefix_len)
		*prefix_len = 0;
	return NT_IPPKT_GLOBAL;
}

const char *nt_ippkt_scope_name(enum nt_ippkt_scope s)
{
	static const char *const names[] = {
	    [NT_IPPKT_GLOBAL] = "global",	  [NT_IPPKT_LOOPBACK] = "loopback",
	    [NT_IPPKT_LINK_LOCAL] = "link_local", [NT_IPPKT_UNSPECIFIED] = "unspecified",
	    [NT_IPPKT_MULTICAST] = "multicast",	  [NT_IPPKT_BROADCAST] = "broadcast",
	    [NT_IPPKT_RESERVED] = "reserved",	  [NT_IPPKT_V4_IN_V6] = "v4_in_v6",
	};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

uint32_t nt_ippkt_sum(const uint8_t *p, size_t len, uint32_t acc)
{
	/* The sum is byte-order independent (RFC 1071 2.(B)): lwIP's
	 * host-order one, swapped to network order; in even-sized pieces
	 * that an int holds (callers sum packets, far shorter). */
	for (; len > SUM_PIECE; p += SUM_PIECE, len -= SUM_PIECE)
		acc += ntohs(nt_lwip_chksum(p, SUM_PIECE));
	return acc + ntohs(nt_lwip_chksum(p, (int)len));
}

uint16_t nt_ippkt_csum(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)~acc;
}

uint32_t nt_ippkt_pseudo_sum(int family, const uint8_t *src, const uint8_t *dst, uint8_t proto,
			     size_t len)
{
	size_t alen = family == AF_INET ? 4 : 16;

	return nt_ippkt_sum(src, alen, 0) + nt_ippkt_sum(dst, alen, 0) + proto +
	       (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff);
}
