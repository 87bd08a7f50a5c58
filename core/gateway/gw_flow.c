// SPDX-License-Identifier: MIT
/* The gateway's flow table: one entry per (protocol, client address and
 * port, destination address and port), from the first packet until the
 * flow ends, whatever its state (gw_int.h). Chained hashing with a fixed
 * bucket array sized from max_flows; a keyed hash, so a peer cannot aim its
 * flows at one chain. Limits are counted here: max_flows over all peers,
 * max_flows_per_peer for each.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "core/gateway/gw_int.h"
#include "netstack/splice.h"
#include "platform/log.h"

#define MOD "gateway"

_Static_assert(sizeof(((struct nt_gateway *)0)->hash_key) == crypto_shorthash_KEYBYTES,
	       "the flow hash key is SipHash's");

static size_t bucket_of(const struct nt_gateway *gw, const struct gw_key *k)
{
	uint8_t in[2 + 32 + 4], h[crypto_shorthash_BYTES];
	size_t alen = k->family == AF_INET ? 4 : 16, n = 0;
	uint64_t v;

	in[n++] = (uint8_t)k->family;
	in[n++] = k->proto;
	memcpy(in + n, k->src, alen);
	n += alen;
	memcpy(in + n, k->dst, alen);
	n += alen;
	memcpy(in + n, &k->sport, 2);
	memcpy(in + n + 2, &k->dport, 2);
	n += 4;
	crypto_shorthash(h, in, n, gw->hash_key);
	memcpy(&v, h, sizeof(v));
	return (size_t)(v & (gw->nbuckets - 1));
}

static bool key_eq(const struct gw_key *a, const struct gw_key *b)
{
	size_t alen = a->family == AF_INET ? 4 : 16;

	return a->family == b->family && a->proto == b->proto && a->sport == b->sport &&
	       a->dport == b->dport && memcmp(a->src, b->src, alen) == 0 &&
	       memcmp(a->dst, b->dst, alen) == 0;
}

int nt_gw_flows_init(struct nt_gateway *gw)
{
	size_t n = 64;

	while (n < gw->limits.max_flows && n < (1u << 20))
		n <<= 1;
	gw->buckets = calloc(n, sizeof(*gw->buckets));
	gw->rx_buf = malloc(0x10000);
	if (!gw->buckets || !gw->rx_buf)
		return -ENOMEM;
	gw->nbuckets = n;
	randombytes_buf(gw->hash_key, sizeof(gw->hash_key));
	return 0;
}

void nt_gw_flows_fini(struct nt_gateway *gw)
{
	/* Spliced flows end through the splice's end callback. */
	nt_splice_close_all();
	while (gw->flows) {
		struct gw_flow *f = gw->flows;

		if (f->key.proto == NT_GW_PROTO_TCP)
			nt_gw_tcp_close(f);
		else
			nt_gw_udp_close(f, "shutdown");
	}
	free(gw->buckets);
	free(gw->rx_buf);
	gw->buckets = NULL;
	gw->rx_buf = NULL;
}

void nt_gw_flow_reset(struct gw_flow *f)
{
	f->gw->c.flows_revoked++;
	if (f->key.proto == NT_GW_PROTO_TCP)
		nt_gw_tcp_reset(f);
	else
		nt_gw_udp_close(f, "revoked");
}

void nt_gw_flows_recheck(struct nt_gateway *gw, const struct gw_peer *gp,
			 enum nt_gw_recheck scope, bool all)
{
	struct gw_flow *f = gw->flows, *next;

	for (; f; f = next) {
		next = f->next;
		if (gp ? f->peer != gp : scope == NT_GW_RECHECK_PORTAL && !f->peer->cid[0])
			continue;
		if (all || nt_gw_verdict_of(gw, f->peer, &f->key) != NT_GW_ALLOW)
			nt_gw_flow_reset(f);
	}
}

struct gw_flow *nt_gw_flow_find(struct nt_gateway *gw, const struct gw_key *k)
{
	for (struct gw_flow *f = gw->buckets[bucket_of(gw, k)]; f; f = f->hnext)
		if (key_eq(&f->key, k))
			return f;
	return NULL;
}

struct gw_flow *nt_gw_flow_new(struct nt_gateway *gw, struct gw_peer *gp, const struct gw_key *k,
			       nt_timer_cb timer_cb, int *err)
{
	struct gw_flow *f;
	size_t b;

	if (gw->c.flows_open >= gw->limits.max_flows) {
		gw->c.limit_total++;
		gp->c.limit_hits++;
		*err = -EMFILE;
		return NULL;
	}
	if (gp->c.flows_open >= gw->limits.max_flows_per_peer) {
		gw->c.limit_peer++;
		gp->c.limit_hits++;
		*err = -EDQUOT;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		*err = -ENOMEM;
		return NULL;
	}
	f->gw = gw;
	f->peer = gp;
	f->key = *k;
	f->fd = -1;
	nt_timer_init(&f->timer, timer_cb, f);
	f->opened_ns = f->last_ns = nt_loop_now(gw->loop);
	b = bucket_of(gw, k);
	f->hnext = gw->buckets[b];
	gw->buckets[b] = f;
	f->next = gw->flows;
	if (gw->flows)
		gw->flows->prev = f;
	gw->flows = f;
	gw->c.flows_open++;
	gp->c.flows_open++;
	return f;
}

void nt_gw_flow_free(struct gw_flow *f, const char *how)
{
	struct nt_gateway *gw = f->gw;
	struct gw_flow **pp = &gw->buckets[bucket_of(gw, &f->key)];
	char src[64], dst[64];

	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	if (f->prev)
		f->prev->next = f->next;
	else
		gw->flows = f->next;
	if (f->next)
		f->next->prev = f->prev;
	gw->c.flows_open--;
	f->peer->c.flows_open--;
	if (how) {
		nt_gw_format_ep(f->key.family, f->key.src, f->key.sport, src, sizeof(src));
		nt_gw_format_ep(f->key.family, f->key.dst, f->key.dport, dst, sizeof(dst));
		nt_info(MOD,
			"event=flow_closed peer=%s proto=%s src=%s dst=%s how=%s bytes_up=%" PRIu64
			" bytes_down=%" PRIu64 " ms=%" PRIu64,
			f->peer->id, f->key.proto == NT_GW_PROTO_TCP ? "tcp" : "udp", src, dst, how,
			f->bytes_up, f->bytes_down,
			(nt_loop_now(gw->loop) - f->opened_ns) / 1000000u);
	}
	nt_timer_cancel(gw->loop, &f->timer);
	free(f->syn);
	free(f);
}
