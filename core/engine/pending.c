// SPDX-License-Identifier: MIT
/* The pending buffer's rule: which packet a held one replaces. */
#include <netinet/in.h>
#include <string.h>

#include "core/engine/pending.h"
#include "netstack/ippkt.h"

#define TCP_SYN 0x02
#define TCP_ACK 0x10

/* The connection a bare SYN opens: addresses and ports as raw bytes, so two
 * SYNs compare with memcmp. Returns the key's length, or 0 when pkt is not
 * a SYN without ACK in an unfragmented IPv4 or IPv6 packet. */
static size_t syn_key(const uint8_t *pkt, size_t len, uint8_t key[36])
{
	struct nt_ippkt_head h;
	const uint8_t *tcp;
	size_t alen;

	/* The fixed header only: lwIP sends TCP right after it in IPv6, and
	 * fragments (MF set or an offset) carry no whole TCP header. */
	if (nt_ippkt_head(pkt, len, &h) != 0 || h.next != IPPROTO_TCP)
		return 0;
	if (h.family == AF_INET &&
	    (h.hdr_len < NT_IPPKT_V4_HDR || (nt_ippkt_get16(pkt + 6) & 0x3fff) != 0))
		return 0;
	if (len < h.hdr_len + 20)
		return 0;
	tcp = pkt + h.hdr_len;
	if ((tcp[13] & (TCP_SYN | TCP_ACK)) != TCP_SYN)
		return 0;
	alen = h.family == AF_INET ? 4 : 16;
	memcpy(key, h.src, alen);
	memcpy(key + alen, h.dst, alen);
	memcpy(key + 2 * alen, tcp, 4);
	return 2 * alen + 4;
}

bool nt_pending_supersedes(const uint8_t *old, size_t old_len, const uint8_t *new_pkt,
			   size_t new_len)
{
	uint8_t a[36], b[36];
	size_t alen, blen;

	if (old_len == new_len && memcmp(old, new_pkt, old_len) == 0)
		return true;
	alen = syn_key(old, old_len, a);
	blen = syn_key(new_pkt, new_len, b);
	return alen && alen == blen && memcmp(a, b, alen) == 0;
}
