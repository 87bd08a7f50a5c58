// SPDX-License-Identifier: MIT
/* The pending buffer's rule (which packet a held one replaces) and the
 * per-resource buffer of a portal client. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
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

int nt_pending_push(struct nt_pending_q *q, const uint8_t *pkt, size_t len)
{
	uint8_t *copy;

	for (size_t i = 0; i < q->n; i++) {
		if (!nt_pending_supersedes(q->pkt[i], q->len[i], pkt, len))
			continue;
		if (q->bytes - q->len[i] + len > NT_PENDING_MAX_BYTES)
			break;
		copy = malloc(len);
		if (!copy) {
			q->c->dropped_nomem++;
			return -ENOMEM;
		}
		memcpy(copy, pkt, len);
		q->bytes = q->bytes - q->len[i] + len;
		free(q->pkt[i]);
		q->pkt[i] = copy;
		q->len[i] = len;
		q->c->replaced++;
		return 1;
	}
	if (q->n == NT_PENDING_MAX_PKTS || q->bytes + len > NT_PENDING_MAX_BYTES) {
		q->c->dropped_full++;
		return -ENOBUFS;
	}
	copy = malloc(len);
	if (!copy) {
		q->c->dropped_nomem++;
		return -ENOMEM;
	}
	memcpy(copy, pkt, len);
	q->pkt[q->n] = copy;
	q->len[q->n++] = len;
	q->bytes += len;
	q->c->held++;
	return 0;
}

void nt_pending_flush(struct nt_pending_q *q, void (*fn)(void *arg, const uint8_t *pkt, size_t len),
		      void *arg)
{
	uint8_t *pkt[NT_PENDING_MAX_PKTS];
	size_t len[NT_PENDING_MAX_PKTS], n = q->n;

	/* Taken out first: fn may push again, into an empty queue. */
	memcpy(pkt, q->pkt, n * sizeof(pkt[0]));
	memcpy(len, q->len, n * sizeof(len[0]));
	q->n = 0;
	q->bytes = 0;
	for (size_t i = 0; i < n; i++) {
		q->c->flushed++;
		fn(arg, pkt[i], len[i]);
		free(pkt[i]);
	}
}

void nt_pending_clear(struct nt_pending_q *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->pkt[i]);
	q->c->dropped_ended += q->n;
	q->n = 0;
	q->bytes = 0;
}
