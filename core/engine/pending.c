#include <string.h>

#include "core/engine/pending.h"

#define TCP_PROTO 6
#define TCP_SYN 0x02
#define TCP_ACK 0x10

/* The connection a bare SYN opens: addresses and ports as raw bytes, so two
 * SYNs compare with memcmp. Returns the key's length, or 0 when pkt is not
 * a SYN without ACK in an unfragmented IPv4 or IPv6 packet. */
static size_t syn_key(const uint8_t *pkt, size_t len, uint8_t key[36])
{
	size_t tcp, alen;
	const uint8_t *addrs;

	if (len >= 20 && pkt[0] >> 4 == 4) {
		size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;

		/* Fragments (MF set or an offset) carry no whole TCP header. */
		if (ihl < 20 || pkt[9] != TCP_PROTO || (pkt[6] & 0x3f) || pkt[7])
			return 0;
		tcp = ihl;
		addrs = pkt + 12;
		alen = 8;
	} else if (len >= 40 && pkt[0] >> 4 == 6) {
		/* lwIP sends TCP right after the fixed header. */
		if (pkt[6] != TCP_PROTO)
			return 0;
		tcp = 40;
		addrs = pkt + 8;
		alen = 32;
	} else {
		return 0;
	}
	if (len < tcp + 20 || (pkt[tcp + 13] & (TCP_SYN | TCP_ACK)) != TCP_SYN)
		return 0;
	memcpy(key, addrs, alen);
	memcpy(key + alen, pkt + tcp, 4);
	return alen + 4;
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
