/* SPDX-License-Identifier: MIT */
/* IPv4 and IPv6 headers, read and checksummed without I/O: the one place
 * that knows their layout, for the stack's input checks (stack.c), the
 * client's ICMP error parser (icmp_err.c), the gateway's packet work
 * (gw_accept.c, core/gateway/gw_pkt.c), the tunnel's routing and inner
 * packet checks (core/tunnel), the engine's pending SYNs and the test tools.
 *
 * The input is untrusted (a packet from the tunnel, or the quote inside an
 * ICMP error), so every length is checked before it is read.
 */
#ifndef NT_NETSTACK_IPPKT_H
#define NT_NETSTACK_IPPKT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NT_IPPKT_V4_HDR 20 /* without options */
#define NT_IPPKT_V6_HDR 40 /* the fixed header */

/* A datagram's headers; src and dst point into the parsed bytes. */
struct nt_ippkt {
	int family;	    /* AF_INET or AF_INET6 */
	const uint8_t *src; /* 4 or 16 bytes, network order */
	const uint8_t *dst;
	uint8_t proto; /* upper-layer protocol (after IPv6 extension headers) */
	bool fragment; /* one fragment of a larger datagram */
	bool has_l4;   /* the upper-layer header follows (not a later fragment) */
	size_t len;    /* the datagram, from its header (padding after it excluded) */
	size_t l4;     /* offset of what follows the IP headers */
	size_t l4_len; /* bytes of it at hand: up to the datagram's end, or the quote's */
};

/* A whole datagram (len bytes; padding may follow it). 0 with *out filled,
 * -EMSGSIZE (cut short: fewer bytes than a header says) or -EINVAL (not
 * IPv4/IPv6, an impossible header length, a jumbogram, more than 8 IPv6
 * extension headers); *out is zeroed on failure. */
int nt_ippkt_parse(const uint8_t *pkt, size_t len, struct nt_ippkt *out);

/* The same for the packet an ICMP error quotes: its headers must be there,
 * the rest may be cut off (then out->len exceeds len). */
int nt_ippkt_parse_quote(const uint8_t *pkt, size_t len, struct nt_ippkt *out);

/* What kind of address a destination is, for the gateway, which must not
 * connect to its own host, its link or to addresses no connection can go to
 * on behalf of a client (core/gateway/gateway.md). */
enum nt_ippkt_scope {
	NT_IPPKT_GLOBAL = 0,  /* anything else: Allow rules decide */
	NT_IPPKT_LOOPBACK,    /* 127.0.0.0/8, ::1 */
	NT_IPPKT_LINK_LOCAL,  /* 169.254.0.0/16, fe80::/10 */
	NT_IPPKT_UNSPECIFIED, /* 0.0.0.0/8, :: (connect() reaches the local host) */
	NT_IPPKT_MULTICAST,   /* 224.0.0.0/4, ff00::/8 */
	NT_IPPKT_BROADCAST,   /* 255.255.255.255 */
	NT_IPPKT_RESERVED,    /* the rest of 240.0.0.0/4 */
	NT_IPPKT_V4_IN_V6,    /* ::ffff:0:0/96 (mapped), ::/96 (compatible) but :: and ::1 */
};

/* addr: 4 or 16 bytes in network order. *prefix_len (may be NULL) gets the
 * length of the range that made the verdict (0 for NT_IPPKT_GLOBAL). */
enum nt_ippkt_scope nt_ippkt_scope_of(int family, const uint8_t *addr, unsigned *prefix_len);
/* "loopback", "link_local", ... for logs. */
const char *nt_ippkt_scope_name(enum nt_ippkt_scope s);

/* Unicast addresses a connection can be made to: global, or of the host or
 * the link (which only an explicit rule opens). The others never. */
static inline bool nt_ippkt_scope_unicast(enum nt_ippkt_scope s)
{
	return s <= NT_IPPKT_LINK_LOCAL;
}

/* The Internet checksum (RFC 1071): add up every covered part, then take
 * nt_ippkt_csum() of the total. An odd last byte is padded with zero. */
uint32_t nt_ippkt_sum(const uint8_t *p, size_t len, uint32_t acc);
/* The checksum field for a total; 0 when the total covered a correct one. */
uint16_t nt_ippkt_csum(uint32_t acc);
/* The pseudo-header's part, for TCP, UDP and ICMPv6 (len: of that layer). */
uint32_t nt_ippkt_pseudo_sum(int family, const uint8_t *src, const uint8_t *dst, uint8_t proto,
			     size_t len);

/* Big-endian fields. */
static inline uint16_t nt_ippkt_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The fixed header alone, for per-packet paths that need no more (the
 * destination to route by, the source to check): no option or extension
 * header is read, and the fields are not checked against each other or
 * against the bytes at hand. */
struct nt_ippkt_head {
	int family;	    /* AF_INET or AF_INET6 */
	const uint8_t *src; /* 4 or 16 bytes, network order */
	const uint8_t *dst;
	uint8_t next;	/* IPv4: the protocol; IPv6: the fixed header's next header */
	size_t hdr_len; /* IPv4: from IHL (below NT_IPPKT_V4_HDR is malformed); IPv6: 40 */
	size_t len;	/* the datagram's length, from its header */
};

/* 0, or -EINVAL: not IPv4/IPv6, or fewer than its fixed header's bytes. */
static inline int nt_ippkt_head(const uint8_t *pkt, size_t len, struct nt_ippkt_head *out)
{
	if (len >= NT_IPPKT_V4_HDR && pkt[0] >> 4 == 4) {
		out->family = AF_INET;
		out->src = pkt + 12;
		out->dst = pkt + 16;
		out->next = pkt[9];
		out->hdr_len = (size_t)(pkt[0] & 0x0f) * 4;
		out->len = nt_ippkt_get16(pkt + 2);
		return 0;
	}
	if (len >= NT_IPPKT_V6_HDR && pkt[0] >> 4 == 6) {
		out->family = AF_INET6;
		out->src = pkt + 8;
		out->dst = pkt + 24;
		out->next = pkt[6];
		out->hdr_len = NT_IPPKT_V6_HDR;
		out->len = NT_IPPKT_V6_HDR + (size_t)nt_ippkt_get16(pkt + 4);
		return 0;
	}
	return -EINVAL;
}

static inline uint32_t nt_ippkt_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void nt_ippkt_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void nt_ippkt_put32(uint8_t *p, uint32_t v)
{
	nt_ippkt_put16(p, (uint16_t)(v >> 16));
	nt_ippkt_put16(p + 2, (uint16_t)v);
}

#endif
