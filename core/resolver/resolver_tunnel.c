// SPDX-License-Identifier: MIT
/* The tunnel backend: A and AAAA queries as UDP datagrams through lwIP (the
 * flow layer's UDP sockets), so through the WireGuard tunnel, to the
 * configured servers.
 *
 * A lookup walks its candidate names (for a single-label name:
 * name.search[0], ..., name.search[n-1], then name; otherwise the name
 * alone). For each candidate it fills one slot per wanted type (A, AAAA)
 * from the cache, or by waiting on the transaction (txn) for that name and
 * type, which it shares with every other lookup of the same name. Each txn
 * has its own UDP socket (so its own source port) and one timer:
 *
 *   txn timer   timeout_ms after each datagram: send the next try to the
 *               next server; after `tries` tries the txn fails with
 *               -ETIMEDOUT (-EIO if a server answered with an error,
 *               -ENETUNREACH if nothing could be sent). A server error
 *               (SERVFAIL, REFUSED, ...) moves to the next try at once; a
 *               refused send re-arms the timer at 0.
 *   pair timer  per lookup, armed when one family has addresses while the
 *               other is still pending: after PAIR_WAIT_MS the lookup stops
 *               waiting and succeeds with what it has.
 *
 * When a txn ends, its answer goes to the cache (positive: TTL clamped to
 * 1..ttl_max; "no such name/data": neg_ttl) and to every waiting slot. A
 * lookup whose slots are all done succeeds if any has addresses, moves on to
 * its next candidate if all said -ENOENT, and fails otherwise. A txn left
 * without waiters (cancel, pair timer) is closed at once.
 */
#include "core/resolver/resolver_int.h"

#include "core/resolver/dns_msg.h"
#include "netstack/flow.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "platform/random.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MOD "resolver"

#define PAIR_WAIT_MS 250
#define DNS_PORT     53

static const uint16_t slot_qtype[SLOT_N] = {NT_DNS_TYPE_A, NT_DNS_TYPE_AAAA};

struct txn {
	struct list link; /* r->txns */
	struct nt_resolver *r;
	char qname[NT_DNS_NAME_MAX + 1];
	uint16_t qtype;
	uint8_t query[NT_DNS_QUERY_MAX];
	size_t query_len;
	struct nt_flow_udp *sock;
	struct nt_timer timer;
	unsigned tries;
	unsigned first_server;
	bool sent_any;
	bool server_error;
	struct slot *waiters;
};

struct cache_entry {
	struct list link; /* r->lru (most recent first) or r->cache_free */
	char name[NT_DNS_NAME_MAX + 1];
	uint16_t qtype;
	int status; /* 0 or -ENOENT */
	size_t n;
	uint8_t addrs[NT_RESOLVER_MAX_ADDRS][16];
	uint64_t expires_ns;
};

static uint64_t now_ns(const struct nt_resolver *r)
{
	return r->cfg.clock ? r->cfg.clock(r->cfg.clock_arg) : nt_loop_now(r->loop);
}

/* ---- cache ---- */

static struct cache_entry *cache_get(struct nt_resolver *r, const char *name, uint16_t qtype)
{
	uint64_t now = now_ns(r);

	for (struct list *it = r->lru.next; it != &r->lru; it = it->next) {
		struct cache_entry *e = list_entry(it, struct cache_entry, link);

		if (e->qtype != qtype || strcmp(e->name, name) != 0)
			continue;
		list_del(&e->link);
		if (now >= e->expires_ns) {
			list_add_tail(&r->cache_free, &e->link);
			return NULL;
		}
		list_add_head(&r->lru, &e->link);
		return e;
	}
	return NULL;
}

static void cache_put(struct nt_resolver *r, const char *name, uint16_t qtype, int status,
		      uint8_t (*addrs)[16], size_t n, uint32_t ttl)
{
	struct cache_entry *e = cache_get(r, name, qtype);
	uint64_t now = now_ns(r);

	if (!e && !list_empty(&r->cache_free)) {
		e = list_entry(r->cache_free.next, struct cache_entry, link);
	} else if (!e) {
		e = list_entry(r->lru.prev, struct cache_entry, link);
		if (now < e->expires_ns)
			r->stats.cache_evictions++;
	}
	list_del(&e->link);
	list_add_head(&r->lru, &e->link);
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->qtype = qtype;
	e->status = status;
	e->n = n;
	if (n)
		memcpy(e->addrs, addrs, n * 16);
	if (status == 0) {
		if (ttl < 1)
			ttl = 1;
		if (ttl > r->cfg.ttl_max)
			ttl = r->cfg.ttl_max;
	} else {
		ttl = r->cfg.neg_ttl;
	}
	e->expires_ns = now + (uint64_t)ttl * NT_NS_PER_SEC;
}

/* ---- transactions ---- */

static void req_check(struct nt_resolver_req *q);

static void txn_free(struct txn *t)
{
	nt_timer_cancel(t->r->loop, &t->timer);
	nt_flow_udp_close(t->sock);
	list_del(&t->link);
	free(t);
}

/* Stops waiting; a txn nobody waits for is closed. */
void nt_resolver_slot_detach(struct slot *s)
{
	struct txn *t = s->txn;

	if (!t)
		return;
	for (struct slot **pp = &t->waiters; *pp; pp = &(*pp)->next_waiter) {
		if (*pp == s) {
			*pp = s->next_waiter;
			break;
		}
	}
	s->txn = NULL;
	s->next_waiter = NULL;
	if (!t->waiters)
		txn_free(t);
}

static bool from_server(const struct nt_resolver *r, int family, const uint8_t *addr, uint16_t port)
{
	size_t alen = family == AF_INET ? 4 : 16;

	if (port != DNS_PORT)
		return false;
	for (size_t i = 0; i < r->cfg.n_servers; i++) {
		const struct nt_resolver_addr *srv = &r->cfg.servers[i];

		if (srv->family == family && memcmp(srv->addr, addr, alen) == 0)
			return true;
	}
	return false;
}

/* The txn's answer goes to the cache and to every waiting lookup. */
static void txn_finish(struct txn *t, int status, uint8_t (*addrs)[16], size_t n, uint32_t ttl)
{
	struct nt_resolver *r = t->r;
	struct slot *w = t->waiters, *next;

	if (n > NT_RESOLVER_MAX_ADDRS)
		n = NT_RESOLVER_MAX_ADDRS;
	if (status == 0 || status == -ENOENT)
		cache_put(r, t->qname, t->qtype, status, addrs, n, ttl);
	nt_debug(MOD, "event=answer name=%s type=%s status=%d addrs=%zu ttl=%u", t->qname,
		 t->qtype == NT_DNS_TYPE_A ? "A" : "AAAA", status, n, ttl);
	t->waiters = NULL;
	txn_free(t);
	/* A waiter's lookup may move on to its next candidate and attach its
	 * slots to new txns; this list was detached first, and each lookup has
	 * at most one slot in it. */
	for (; w; w = next) {
		next = w->next_waiter;
		w->txn = NULL;
		w->next_waiter = NULL;
		nt_resolver_slot_set(w, status, addrs, n);
		req_check(w->req);
	}
}

static int txn_fail_status(const struct txn *t)
{
	if (t->server_error)
		return -EIO;
	return t->sent_any ? -ETIMEDOUT : -ENETUNREACH;
}

/* Sends the next try. Returns 0, 1 when the tries are used up, or -ENOMEM
 * when the timer could not be armed. The timer is armed before sending:
 * re-arming an armed timer cannot fail. */
static int txn_send(struct txn *t)
{
	struct nt_resolver *r = t->r;
	const struct nt_resolver_addr *srv;
	int err;

	if (t->tries >= r->cfg.tries)
		return 1;
	srv = &r->cfg.servers[(t->first_server + t->tries) % r->cfg.n_servers];
	if (t->tries > 0)
		r->stats.retries++;
	t->tries++;
	err = nt_timer_arm(r->loop, &t->timer, (uint64_t)r->cfg.timeout_ms * NT_NS_PER_MS);
	if (err)
		return err;
	err = nt_flow_udp_sendto(t->sock, srv->family, srv->addr, DNS_PORT, t->query, t->query_len);
	if (err) {
		r->stats.send_errors++;
		nt_debug(MOD, "event=send_failed name=%s err=%d", t->qname, err);
		(void)nt_timer_arm(r->loop, &t->timer, 0);
		return 0;
	}
	r->stats.queries++;
	t->sent_any = true;
	nt_trace(MOD, "event=query name=%s type=%s try=%u", t->qname,
		 t->qtype == NT_DNS_TYPE_A ? "A" : "AAAA", t->tries);
	return 0;
}

static void txn_next(struct txn *t)
{
	int rc = txn_send(t);

	if (rc)
		txn_finish(t, rc > 0 ? txn_fail_status(t) : rc, NULL, 0, 0);
}

static void txn_timer_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	(void)loop;
	(void)timer;
	txn_next(arg);
}

static void txn_recv(void *arg, struct nt_flow_udp *sock, int family, const uint8_t *addr,
		     uint16_t port, const uint8_t *buf, size_t len)
{
	struct txn *t = arg;
	struct nt_resolver *r = t->r;
	uint8_t addrs[NT_RESOLVER_MAX_ADDRS][16];
	struct nt_dns_answer ans;
	int err;

	(void)sock;
	if (!from_server(r, family, addr, port)) {
		r->stats.answers_mismatched++;
		return;
	}
	if (len > NT_RESOLVER_MSG_MAX) {
		r->stats.answers_malformed++;
		return;
	}
	err = nt_dns_response_parse(t->query, t->query_len, buf, len, addrs, NT_RESOLVER_MAX_ADDRS,
				    &ans);
	if (err) {
		if (err == -EPROTO)
			r->stats.answers_mismatched++;
		else
			r->stats.answers_malformed++;
		return; /* keep waiting for the real answer */
	}
	if (ans.rcode == NT_DNS_RCODE_NXDOMAIN ||
	    (ans.rcode == NT_DNS_RCODE_NOERROR && ans.n_addrs == 0 && !ans.truncated)) {
		txn_finish(t, -ENOENT, NULL, 0, 0);
		return;
	}
	if (ans.rcode == NT_DNS_RCODE_NOERROR && ans.n_addrs > 0) {
		txn_finish(t, 0, addrs, ans.n_addrs, ans.ttl);
		return;
	}
	/* SERVFAIL, REFUSED, ..., or truncated to nothing: the next server. */
	nt_debug(MOD, "event=server_error name=%s rcode=%u tc=%d", t->qname, (unsigned)ans.rcode,
		 ans.truncated);
	t->server_error = true;
	nt_timer_cancel(r->loop, &t->timer);
	txn_next(t);
}

static const struct nt_flow_udp_ops txn_ops = {.recv = txn_recv};

static struct txn *txn_find(struct nt_resolver *r, const char *qname, uint16_t qtype)
{
	for (struct list *it = r->txns.next; it != &r->txns; it = it->next) {
		struct txn *t = list_entry(it, struct txn, link);

		if (t->qtype == qtype && strcmp(t->qname, qname) == 0)
			return t;
	}
	return NULL;
}

/* Opens a txn and sends its first datagram; NULL when out of memory. */
static struct txn *txn_new(struct nt_resolver *r, const char *qname, uint16_t qtype)
{
	uint16_t id;
	struct txn *t;

	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->r = r;
	list_init(&t->link);
	snprintf(t->qname, sizeof(t->qname), "%s", qname);
	t->qtype = qtype;
	nt_timer_init(&t->timer, txn_timer_cb, t);
	nt_random_bytes(&id, sizeof(id));
	if (nt_dns_query_build(id, qname, qtype, t->query, sizeof(t->query), &t->query_len) != 0)
		goto err_txn;
	if (nt_flow_udp_open(&txn_ops, t, &t->sock) != 0)
		goto err_txn;
	t->first_server = r->next_server++ % r->cfg.n_servers;
	list_add_tail(&r->txns, &t->link);
	if (txn_send(t) < 0)
		goto err_list;
	return t;

err_list:
	list_del(&t->link);
	nt_flow_udp_close(t->sock);
err_txn:
	free(t);
	return NULL;
}

/* ---- lookups ---- */

static void slot_start(struct nt_resolver_req *q, struct slot *s, const char *qname)
{
	struct nt_resolver *r = q->r;
	uint16_t qtype = slot_qtype[s - q->slot];
	struct cache_entry *e;
	struct txn *t;

	s->done = false;
	s->status = 0;
	s->n = 0;
	e = cache_get(r, qname, qtype);
	if (e) {
		r->stats.cache_hits++;
		nt_resolver_slot_set(s, e->status, e->addrs, e->n);
		return;
	}
	t = txn_find(r, qname, qtype);
	if (t) {
		r->stats.coalesced++;
	} else {
		t = txn_new(r, qname, qtype);
		if (!t) {
			nt_resolver_slot_set(s, -ENOMEM, NULL, 0);
			return;
		}
	}
	s->txn = t;
	s->next_waiter = t->waiters;
	t->waiters = s;
}

/* Candidate i: name.search[i] for i < n_search when searching, else name. */
static bool candidate(const struct nt_resolver_req *q, char out[NT_DNS_NAME_MAX + 1])
{
	const struct nt_resolver *r = q->r;
	int n;

	if (q->n_cand == 1 || q->cand >= r->cfg.n_search) {
		snprintf(out, NT_DNS_NAME_MAX + 1, "%s", q->name);
		return true;
	}
	n = snprintf(out, NT_DNS_NAME_MAX + 1, "%s.%s", q->name, r->cfg.search[q->cand]);
	return n > 0 && n <= NT_DNS_NAME_MAX;
}

static void req_start_candidate(struct nt_resolver_req *q)
{
	char qname[NT_DNS_NAME_MAX + 1];
	bool ok = candidate(q, qname);

	for (int i = 0; i < SLOT_N; i++) {
		if (!q->slot[i].wanted)
			continue;
		if (ok)
			slot_start(q, &q->slot[i], qname);
		else /* too long with this suffix */
			nt_resolver_slot_set(&q->slot[i], -ENOENT, NULL, 0);
	}
}

/* Runs after any slot of q completes (and once after the lookup starts). */
static void req_check(struct nt_resolver_req *q)
{
	for (;;) {
		bool pending = false, addrs = false, all_enoent = true;
		int err = 0;

		for (int i = 0; i < SLOT_N; i++) {
			const struct slot *s = &q->slot[i];

			if (!s->wanted)
				continue;
			if (!s->done) {
				pending = true;
				continue;
			}
			if (s->status == 0)
				addrs = true;
			else if (s->status != -ENOENT && !err)
				err = s->status;
			if (s->status != -ENOENT)
				all_enoent = false;
		}
		if (pending) {
			if (addrs && !nt_timer_armed(&q->pair_timer))
				(void)nt_timer_arm(q->r->loop, &q->pair_timer,
						   PAIR_WAIT_MS * NT_NS_PER_MS);
			return;
		}
		if (addrs) {
			nt_resolver_req_finish(q, 0);
			return;
		}
		if (!all_enoent || q->cand + 1 >= q->n_cand) {
			nt_resolver_req_finish(q, all_enoent ? -ENOENT : err);
			return;
		}
		q->cand++;
		req_start_candidate(q);
	}
}

/* One family answered; the other had its chance. */
void nt_resolver_pair_timer_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct nt_resolver_req *q = arg;

	(void)loop;
	(void)timer;
	for (int i = 0; i < SLOT_N; i++) {
		struct slot *s = &q->slot[i];

		if (s->wanted && !s->done) {
			nt_resolver_slot_detach(s);
			nt_resolver_slot_set(s, -ETIMEDOUT, NULL, 0);
		}
	}
	req_check(q);
}

/* ---- for resolver.c ---- */

int nt_resolver_tunnel_init(struct nt_resolver *r)
{
	if (nt_platform_init() < 0) /* query ids come from libsodium */
		return -EIO;
	r->cache = calloc(r->cfg.cache_size, sizeof(*r->cache));
	if (!r->cache)
		return -ENOMEM;
	for (size_t i = 0; i < r->cfg.cache_size; i++)
		list_add_tail(&r->cache_free, &r->cache[i].link);
	return 0;
}

void nt_resolver_tunnel_fini(struct nt_resolver *r)
{
	/* Releasing the lookups closed every txn; this is belt and braces. */
	while (!list_empty(&r->txns))
		txn_free(list_entry(r->txns.next, struct txn, link));
	free(r->cache);
	r->cache = NULL;
}

void nt_resolver_tunnel_start(struct nt_resolver_req *q)
{
	req_start_candidate(q);
	req_check(q);
}
