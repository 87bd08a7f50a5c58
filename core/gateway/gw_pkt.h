/* SPDX-License-Identifier: MIT */
/* The gateway's packet work done outside lwIP: reading what an inner packet
 * asks for (family, addresses, protocol, ports, TCP flags), and building the
 * answers the gateway gives before lwIP owns a connection: ICMP destination
 * unreachable (a prohibited or unreachable destination) and the RST that
 * refuses a SYN.
 *
 * Bytes in, bytes out: no I/O, no allocation. The input is a packet that
 * came through the tunnel (authenticated, but written by a peer that may
 * be hostile), so every length is checked before it is read.
 */
#ifndef NT_CORE_GW_PKT_H
#define NT_CORE_GW_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NT_GW_TCP_SYN 0x02
#define NT_GW_TCP_RST 0x04
#define NT_GW_TCP_ACK 0x10

/* Largest answer built here: an ICMPv6 error is at most 1280 bytes (RFC
 * 4443), an ICMPv4 one 576 (RFC 1812). */
#define NT_GW_ANSWER_MAX 1280

struct nt_gw_pkt {
	int family; /* AF_INET or AF_INET6 */
	uint8_t src[16], dst[16];
	uint8_t proto;	/* upper-layer protocol (after IPv6 extension headers) */
	bool fragment;	/* one fragment of a larger datagram */
	bool has_ports; /* TCP or UDP header present (an unfragmented packet or the
			 * first fragment): sport, dport and, for TCP, the rest */
	uint16_t sport; /* host order */
	uint16_t dport; /* host order */
	uint8_t tcp_flags;
	uint32_t tcp_seq;   /* host order */
	size_t tcp_payload; /* bytes of TCP payload */
	size_t len;	    /* the datagram, from its header (padding after it excluded) */
};

/* 0 with *out filled, or -EINVAL (not IPv4/IPv6, inconsistent or truncated
 * headers, more than 8 IPv6 extension headers, a TCP/UDP header cut short). */
int nt_gw_pkt_parse(const uint8_t *pkt, size_t len, struct nt_gw_pkt *out);

/* True for a SYN without ACK, RST: the first segment of a connection. */
bool nt_gw_pkt_is_syn(const struct nt_gw_pkt *p);

enum nt_gw_unreach {
	NT_GW_UNREACH_NET,	  /* v4 code 0, v6 code 0 (no route) */
	NT_GW_UNREACH_HOST,	  /* v4 code 1, v6 code 3 (address unreachable) */
	NT_GW_UNREACH_PORT,	  /* v4 code 3, v6 code 4 */
	NT_GW_UNREACH_PROHIBITED, /* v4 code 13, v6 code 1 (administratively prohibited) */
};

/* An ICMP (IPv4) or ICMPv6 destination unreachable answering pkt (parsed as
 * p), from src (our address, 4 or 16 bytes as p->family) to p->src, quoting
 * as much of pkt as fits the RFC limits. Returns its length, or -EINVAL
 * (pkt is itself an ICMP error or a later fragment, which never get an
 * answer) or -ENOSPC (cap too small; NT_GW_ANSWER_MAX always fits). */
int nt_gw_icmp_unreach(uint8_t *out, size_t cap, const uint8_t *pkt, const struct nt_gw_pkt *p,
		       const uint8_t *src, enum nt_gw_unreach why);

/* The RST|ACK that refuses the SYN pkt (parsed as p): from its destination
 * to its source, sequence 0, acknowledging the SYN and any data in it
 * (RFC 9293 3.10.7.1). Returns its length, or -EINVAL (not a SYN) or
 * -ENOSPC. */
int nt_gw_tcp_rst(uint8_t *out, size_t cap, const struct nt_gw_pkt *p);

#endif
