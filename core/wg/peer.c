// SPDX-License-Identifier: MIT
/* One WireGuard peer: handshake, keypairs, endpoint, staged packets (no I/O). */
#include "core/wg/peer.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/wg/key.h"
#include "core/wg/tai64n.h"

/* wg_tai64n_encode rounds nanoseconds down to this step. */
#define TS_STEP (UINT32_C(1) << 24)

int wg_peer_init(struct wg_peer *p, const struct wg_noise_static *local,
		 const uint8_t remote_public[WG_KEY_LEN], const uint8_t *psk,
		 struct wg_index *index, const struct wg_timers_params *params,
		 wg_timers_rand_fn rand, void *rand_ctx)
{
	char b64[NT_KEY_B64_LEN + 1];
	int ret;

	memset(p, 0, sizeof(*p));
	ret = wg_noise_handshake_init(&p->hs, local, remote_public, psk);
	if (ret)
		return ret;
	wg_cookie_maker_init(&p->cookie, remote_public);
	wg_timers_init(&p->timers, params, rand, rand_ctx);
	p->index = index;
	p->endpoint.ss_family = AF_UNSPEC;
	for (size_t i = 0; i < sizeof(p->slots) / sizeof(p->slots[0]); i++)
		p->slots[i].peer = p;
	nt_key_to_base64(b64, remote_public);
	memcpy(p->short_id, b64, WG_PEER_SHORT_ID_LEN);
	p->short_id[WG_PEER_SHORT_ID_LEN] = '\0';
	return 0;
}

void wg_peer_uninit(struct wg_peer *p)
{
	wg_peer_keys_zero(p);
	while (p->staged.count)
		wg_peer_staged_pop(p);
	wg_noise_handshake_wipe(&p->hs);
	wg_cookie_maker_clear(&p->cookie);
}

/* ---- handshake index ---- */

static void release_hs_index(struct wg_peer *p)
{
	if (p->hs_index) {
		wg_index_remove(p->index, p->hs_index);
		p->hs_index = 0;
	}
}

int wg_peer_handshake_index_new(struct wg_peer *p, uint32_t *id)
{
	int ret;

	release_hs_index(p);
	ret = wg_index_insert(p->index, WG_INDEX_HANDSHAKE, p, &p->hs_index);
	if (ret) {
		p->hs_index = 0;
		return ret;
	}
	*id = p->hs_index;
	return 0;
}

void wg_peer_handshake_clear(struct wg_peer *p)
{
	release_hs_index(p);
	wg_noise_handshake_clear(&p->hs);
}

/* ---- keypairs ---- */

static void keypair_wipe(struct wg_peer *p, struct wg_keypair *kp)
{
	if (!kp || !kp->in_use)
		return;
	wg_index_remove(p->index, kp->tr.local_index);
	wg_transport_clear(&kp->tr);
	kp->created_ns = 0;
	kp->initiator = false;
	kp->in_use = false;
}

static struct wg_keypair *keypair_alloc(struct wg_peer *p)
{
	for (size_t i = 0; i < sizeof(p->slots) / sizeof(p->slots[0]); i++)
		if (!p->slots[i].in_use)
			return &p->slots[i];
	return NULL; /* cannot happen: at most three are referenced */
}

int wg_peer_keys_install(struct wg_peer *p, const struct wg_noise_keys *keys, uint64_t now,
			 struct wg_keypair **out)
{
	struct wg_keypair *kp;

	if (!p->hs_index || keys->local_index != p->hs_index)
		return -EINVAL;
	kp = keypair_alloc(p);
	if (!kp)
		return -EINVAL;
	if (wg_index_replace(p->index, keys->local_index, WG_INDEX_KEYPAIR, kp) != 0)
		return -EINVAL;
	p->hs_index = 0; /* the keypair owns that index now */
	wg_transport_init(&kp->tr, keys->send, keys->recv, keys->local_index, keys->remote_index);
	kp->created_ns = now;
	kp->initiator = keys->initiator;
	kp->in_use = true;

	if (keys->initiator) {
		/* An unconfirmed next was the peer's latest session: keep it to
		 * decrypt what the peer may already send under it. */
		if (p->next) {
			keypair_wipe(p, p->previous);
			p->previous = p->next;
			p->next = NULL;
			keypair_wipe(p, p->current);
		} else {
			keypair_wipe(p, p->previous);
			p->previous = p->current;
		}
		p->current = kp;
	} else {
		keypair_wipe(p, p->next);
		p->next = kp;
		keypair_wipe(p, p->previous);
		p->previous = NULL;
	}
	if (out)
		*out = kp;
	return 0;
}

bool wg_peer_keypair_received(struct wg_peer *p, struct wg_keypair *kp)
{
	if (!kp || kp != p->next)
		return false;
	keypair_wipe(p, p->previous);
	p->previous = p->current;
	p->current = kp;
	p->next = NULL;
	return true;
}

struct wg_keypair *wg_peer_send_keypair(const struct wg_peer *p, uint64_t now)
{
	struct wg_keypair *kp = p->current;

	if (!kp || !kp->in_use)
		return NULL;
	if (wg_timers_keypair_expired(&p->timers.params, now, kp->created_ns, kp->tr.send_counter))
		return NULL;
	return kp;
}

bool wg_peer_keypair_may_receive(const struct wg_peer *p, const struct wg_keypair *kp, uint64_t now)
{
	return kp && kp->in_use &&
	       !wg_timers_keypair_expired(&p->timers.params, now, kp->created_ns, 0);
}

void wg_peer_keys_zero(struct wg_peer *p)
{
	keypair_wipe(p, p->previous);
	keypair_wipe(p, p->current);
	keypair_wipe(p, p->next);
	p->previous = p->current = p->next = NULL;
	wg_peer_handshake_clear(p);
}

/* ---- staged packets ---- */

/* A retransmission replaces what it repeats, in its place: the buffer holds
 * one copy per flow however long the handshake takes. */
static int stage_replace(struct wg_peer *p, const void *pkt, size_t len,
			 wg_peer_supersedes_fn supersedes)
{
	struct wg_staged *q = &p->staged;

	for (unsigned int i = 0; i < q->count; i++) {
		unsigned int at = (q->head + i) % WG_PEER_STAGED_MAX;
		uint8_t *copy;

		if (!supersedes(q->pkt[at], q->len[at], pkt, len))
			continue;
		if (q->bytes - q->len[at] + len > WG_PEER_STAGED_MAX_BYTES)
			return -ENOBUFS;
		copy = malloc(len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, pkt, len);
		free(q->pkt[at]);
		q->bytes = q->bytes - q->len[at] + len;
		q->pkt[at] = copy;
		q->len[at] = (uint32_t)len;
		p->counters.staged_collapsed++;
		return 0;
	}
	return -ENOENT;
}

int wg_peer_stage(struct wg_peer *p, const void *pkt, size_t len, wg_peer_supersedes_fn supersedes)
{
	struct wg_staged *q = &p->staged;
	unsigned int tail;
	uint8_t *copy;
	int ret;

	if (len == 0 || len > WG_PEER_PACKET_MAX)
		return -EMSGSIZE;
	if (supersedes && (ret = stage_replace(p, pkt, len, supersedes)) != -ENOENT)
		return ret;
	if (q->count >= WG_PEER_STAGED_MAX || q->bytes + len > WG_PEER_STAGED_MAX_BYTES) {
		p->counters.drop_queue_full++;
		return -ENOBUFS;
	}
	copy = malloc(len);
	if (!copy) {
		p->counters.drop_queue_full++;
		return -ENOMEM;
	}
	memcpy(copy, pkt, len);
	tail = (q->head + q->count) % WG_PEER_STAGED_MAX;
	q->pkt[tail] = copy;
	q->len[tail] = (uint32_t)len;
	q->count++;
	q->bytes += len;
	return 0;
}

size_t wg_peer_staged_count(const struct wg_peer *p)
{
	return p->staged.count;
}

const uint8_t *wg_peer_staged_peek(const struct wg_peer *p, size_t *len)
{
	const struct wg_staged *q = &p->staged;

	if (!q->count)
		return NULL;
	*len = q->len[q->head];
	return q->pkt[q->head];
}

void wg_peer_staged_pop(struct wg_peer *p)
{
	struct wg_staged *q = &p->staged;

	if (!q->count)
		return;
	q->bytes -= q->len[q->head];
	free(q->pkt[q->head]);
	q->pkt[q->head] = NULL;
	q->len[q->head] = 0;
	q->head = (q->head + 1) % WG_PEER_STAGED_MAX;
	q->count--;
}

size_t wg_peer_staged_drop(struct wg_peer *p)
{
	size_t n = p->staged.count;

	while (p->staged.count)
		wg_peer_staged_pop(p);
	p->counters.drop_give_up += n;
	return n;
}

/* ---- endpoint ---- */

/* Normalises sa into out (v4-mapped IPv6 -> IPv4); false if unusable. */
static bool normalise(const struct sockaddr *sa, socklen_t len, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		memcpy(out, sa, sizeof(struct sockaddr_in));
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)out;

			s4->sin_family = AF_INET;
			s4->sin_port = s6->sin6_port;
			memcpy(&s4->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
			return true;
		}
		struct sockaddr_in6 *o6 = (struct sockaddr_in6 *)out;

		o6->sin6_family = AF_INET6;
		o6->sin6_port = s6->sin6_port;
		o6->sin6_addr = s6->sin6_addr;
		o6->sin6_scope_id = s6->sin6_scope_id;
		return true;
	}
	return false;
}

bool wg_endpoint_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

bool wg_peer_set_endpoint(struct wg_peer *p, const struct sockaddr *sa, socklen_t len)
{
	struct sockaddr_storage ss;

	if (!sa || !normalise(sa, len, &ss))
		return false;
	if (wg_endpoint_equal((const struct sockaddr *)&ss, (const struct sockaddr *)&p->endpoint))
		return false;
	p->endpoint = ss;
	return true;
}

bool wg_peer_has_endpoint(const struct wg_peer *p)
{
	return p->endpoint.ss_family == AF_INET || p->endpoint.ss_family == AF_INET6;
}

/* ---- timestamps ---- */

void wg_peer_next_timestamp(struct wg_peer *p, uint64_t realtime_ns, uint8_t out[WG_TAI64N_LEN])
{
	uint64_t sec = realtime_ns / 1000000000u;
	uint32_t nsec = (uint32_t)(realtime_ns % 1000000000u) & ~(TS_STEP - 1);

	/* The peer drops an initiation whose timestamp is not newer than the
	 * last it accepted; a clock step back or two initiations within one
	 * step must still go through, so move one step past the last one. */
	if (sec < p->ts_sec || (sec == p->ts_sec && nsec <= p->ts_nsec)) {
		sec = p->ts_sec;
		nsec = p->ts_nsec + TS_STEP;
		if (nsec >= 1000000000u) {
			sec++;
			nsec = 0;
		}
	}
	p->ts_sec = sec;
	p->ts_nsec = nsec;
	wg_tai64n_encode(out, sec, nsec);
}
