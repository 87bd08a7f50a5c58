/* Name resolution: tunnel DNS through lwIP, or getaddrinfo on worker threads.
 *
 * A lookup (struct nt_resolver_req) lives on one of three lists:
 *
 *   active   waiting for answers
 *   done     finished; its callback runs on the next dispatch
 *   batch    being dispatched now (the done list is moved here first, so a
 *            callback that starts a lookup cannot keep a dispatch going)
 *
 * Dispatch is triggered through an eventfd registered once at creation, so
 * finishing a lookup never needs memory and callbacks never run inside
 * nt_resolver_lookup() or inside lwIP.
 *
 * Tunnel backend. A lookup walks its candidate names (for a single-label
 * name: name.search[0], ..., name.search[n-1], then name; otherwise the name
 * alone). For each candidate it fills one slot per wanted type (A, AAAA)
 * from the cache, or by waiting on the transaction (txn) for that name and
 * type, which it shares with every other lookup of the same name. Each txn
 * has its own UDP pcb (so its own source port) and one timer:
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
 *
 * System backend: each worker thread owns a job queue (it is its single
 * consumer) and all of them push into one result queue that the loop
 * watches. A job is given to the worker with the fewest outstanding jobs;
 * results of cancelled lookups are discarded. The pool is reference counted
 * and its threads detached, so freeing the resolver never waits for a
 * getaddrinfo() stuck on a slow name server.
 */
#include "core/resolver.h"

#include "core/dns_msg.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "platform/queue.h"
#include "platform/random.h"

#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define PAIR_WAIT_MS	 250
#define TRIES_MAX	 16
#define THREADS_MAX	 16
#define RESULTS_PER_WAKE 64
#define MSG_MAX		 4096 /* plain DNS answers are 512 bytes; EDNS ones stay below this */
#define DNS_PORT	 53

enum { SLOT_A, SLOT_AAAA, SLOT_N };

static const uint16_t slot_qtype[SLOT_N] = {NT_DNS_TYPE_A, NT_DNS_TYPE_AAAA};

struct list {
	struct list *prev, *next;
};

#define list_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct txn;

struct slot {
	struct nt_resolver_req *req;
	struct txn *txn;	  /* the query this slot waits on */
	struct slot *next_waiter; /* in txn->waiters */
	bool wanted;
	bool done;
	int status;
	size_t n;
	uint8_t addrs[NT_RESOLVER_MAX_ADDRS][16];
};

struct nt_resolver_req {
	struct nt_resolver *r;
	struct list link; /* active, done or batch */
	nt_resolver_cb cb;
	void *arg;
	enum nt_resolver_family family;
	bool delivering;
	char name[NT_DNS_NAME_MAX + 1]; /* lowercase, no trailing dot */
	unsigned cand, n_cand;
	struct slot slot[SLOT_N];
	struct nt_timer pair_timer;
	uint64_t job; /* system backend */
	int status;
	size_t n;
	struct nt_resolver_addr addrs[2 * NT_RESOLVER_MAX_ADDRS];
};

struct txn {
	struct list link; /* r->txns */
	struct nt_resolver *r;
	char qname[NT_DNS_NAME_MAX + 1];
	uint16_t qtype;
	uint8_t query[NT_DNS_QUERY_MAX];
	size_t query_len;
	struct udp_pcb *pcb;
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

/* ---- system backend: messages between the loop and the workers ---- */

struct job {
	uint64_t seq;
	bool quit;
	int family; /* AF_UNSPEC, AF_INET or AF_INET6 */
	char name[NT_DNS_NAME_MAX + 2];
};

struct result {
	uint64_t seq;
	unsigned worker;
	int status;
	size_t n[SLOT_N];
	uint8_t addrs[SLOT_N][NT_RESOLVER_MAX_ADDRS][16];
};

struct worker {
	struct pool *pool;
	unsigned index;
	struct nt_queue *jobs;
	size_t outstanding; /* loop thread only */
	bool started;
};

struct pool {
	atomic_uint refs;
	atomic_bool stopping;
	atomic_ullong dropped; /* results refused by a full queue */
	struct nt_queue *results;
	size_t per_worker; /* outstanding jobs allowed per worker */
	size_t n_workers;
	struct worker workers[];
};

struct nt_resolver {
	struct nt_loop *loop;
	struct nt_resolver_config cfg; /* defaults applied */
	bool tunnel;
	struct list active, done, batch;
	size_t n_reqs; /* on any of the three */
	struct list txns;
	struct list lru, cache_free;
	struct cache_entry *cache;
	unsigned next_server;
	int wake_fd;
	bool wake_pending;
	bool dispatching;
	bool free_requested;
	struct pool *pool;
	uint64_t next_job;
	struct nt_resolver_stats stats;
	uint8_t rx[MSG_MAX];
};

/* ---- lists ---- */

static void list_init(struct list *h)
{
	h->prev = h->next = h;
}

static bool list_empty(const struct list *h)
{
	return h->next == h;
}

static void list_add_tail(struct list *h, struct list *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static void list_add_head(struct list *h, struct list *n)
{
	list_add_tail(h->next, n);
}

static void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

/* Moves every node of from to the tail of to. */
static void list_splice(struct list *from, struct list *to)
{
	if (list_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	list_init(from);
}

/* ---- helpers ---- */

static uint64_t now_ns(const struct nt_resolver *r)
{
	return r->cfg.clock ? r->cfg.clock(r->cfg.clock_arg) : nt_loop_now(r->loop);
}

static void lowercase_copy(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] + 32) : src[i];
	dst[n] = '\0';
}

/* Copies a name that passed nt_dns_name_check without its trailing dot. */
static bool name_normalize(char dst[NT_DNS_NAME_MAX + 1], const char *src)
{
	size_t n = strlen(src);
	bool absolute = n > 0 && src[n - 1] == '.';

	lowercase_copy(dst, src, absolute ? n - 1 : n);
	return absolute;
}

static void wake(struct nt_resolver *r)
{
	uint64_t one = 1;

	if (r->wake_pending)
		return;
	/* An eventfd write fails only when the counter would overflow. */
	if (write(r->wake_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
		r->wake_pending = true;
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

/* ---- lookups ---- */

static void req_check(struct nt_resolver_req *q);

static void req_merge(struct nt_resolver_req *q)
{
	static const int order[2][SLOT_N] = {{SLOT_A, SLOT_AAAA}, {SLOT_AAAA, SLOT_A}};
	const int *o = order[q->family == NT_RESOLVER_V6_FIRST || q->family == NT_RESOLVER_V6_ONLY];

	q->n = 0;
	for (int k = 0; k < SLOT_N; k++) {
		const struct slot *s = &q->slot[o[k]];

		if (!s->wanted || s->status != 0)
			continue;
		for (size_t i = 0; i < s->n; i++) {
			struct nt_resolver_addr *a = &q->addrs[q->n++];

			a->family = o[k] == SLOT_A ? AF_INET : AF_INET6;
			memcpy(a->addr, s->addrs[i], 16);
		}
	}
}

/* The lookup is over: its callback runs on the next dispatch. */
static void req_finish(struct nt_resolver_req *q, int status)
{
	struct nt_resolver *r = q->r;

	nt_timer_cancel(r->loop, &q->pair_timer);
	q->status = status;
	if (status == 0)
		req_merge(q);
	if (status == 0 && q->n == 0)
		q->status = -ENOENT;
	list_del(&q->link);
	list_add_tail(&r->done, &q->link);
	wake(r);
}

/* ---- transactions (tunnel backend) ---- */

static void txn_free(struct txn *t)
{
	nt_timer_cancel(t->r->loop, &t->timer);
	if (t->pcb)
		udp_remove(t->pcb);
	list_del(&t->link);
	free(t);
}

/* Stops waiting; a txn nobody waits for is closed. */
static void slot_detach(struct slot *s)
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

static void slot_set(struct slot *s, int status, uint8_t (*addrs)[16], size_t n)
{
	if (n > NT_RESOLVER_MAX_ADDRS)
		n = NT_RESOLVER_MAX_ADDRS;
	s->done = true;
	s->status = status;
	s->n = status == 0 ? n : 0;
	if (s->n)
		memcpy(s->addrs, addrs, s->n * 16);
}

static void addr_to_lwip(const struct nt_resolver_addr *a, ip_addr_t *out)
{
	memset(out, 0, sizeof(*out));
	if (a->family == AF_INET) {
		uint32_t v;

		memcpy(&v, a->addr, 4);
		ip_addr_set_ip4_u32_val(*out, v); /* both in network order */
		return;
	}
	IP_SET_TYPE_VAL(*out, IPADDR_TYPE_V6);
	memcpy(ip_2_ip6(out)->addr, a->addr, 16);
	ip6_addr_clear_zone(ip_2_ip6(out));
}

static bool from_server(const struct nt_resolver *r, const ip_addr_t *addr, u16_t port)
{
	ip_addr_t srv;

	if (port != DNS_PORT)
		return false;
	for (size_t i = 0; i < r->cfg.n_servers; i++) {
		addr_to_lwip(&r->cfg.servers[i], &srv);
		if (ip_addr_cmp(&srv, addr))
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
	nt_debug("resolver", "event=answer name=%s type=%s status=%d addrs=%zu ttl=%u", t->qname,
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
		slot_set(w, status, addrs, n);
		req_check(w->req);
	}
}

static int txn_fail_status(const struct txn *t)
{
	if (t->server_error)
		return -EIO;
	return t->sent_any ? -ETIMEDOUT : -ENETUNREACH;
}

static int txn_sendto(struct txn *t, const struct nt_resolver_addr *srv)
{
	ip_addr_t dst;
	struct pbuf *p;
	err_t err;

	addr_to_lwip(srv, &dst);
	p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)t->query_len, PBUF_RAM);
	if (!p)
		return -ENOMEM;
	memcpy(p->payload, t->query, t->query_len);
	err = udp_sendto(t->pcb, p, &dst, DNS_PORT);
	pbuf_free(p);
	return err == ERR_OK ? 0 : -EHOSTUNREACH;
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
	err = txn_sendto(t, srv);
	if (err) {
		r->stats.send_errors++;
		nt_debug("resolver", "event=send_failed name=%s err=%d", t->qname, err);
		(void)nt_timer_arm(r->loop, &t->timer, 0);
		return 0;
	}
	r->stats.queries++;
	t->sent_any = true;
	nt_trace("resolver", "event=query name=%s type=%s try=%u", t->qname,
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

static void txn_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
		     u16_t port)
{
	struct txn *t = arg;
	struct nt_resolver *r = t->r;
	uint8_t addrs[NT_RESOLVER_MAX_ADDRS][16];
	struct nt_dns_answer ans;
	size_t len;
	int err;

	(void)pcb;
	if (!from_server(r, addr, port)) {
		r->stats.answers_mismatched++;
		pbuf_free(p);
		return;
	}
	if (p->tot_len > sizeof(r->rx)) {
		r->stats.answers_malformed++;
		pbuf_free(p);
		return;
	}
	len = pbuf_copy_partial(p, r->rx, p->tot_len, 0);
	pbuf_free(p);
	err = nt_dns_response_parse(t->query, t->query_len, r->rx, len, addrs,
				    NT_RESOLVER_MAX_ADDRS, &ans);
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
	nt_debug("resolver", "event=server_error name=%s rcode=%u tc=%d", t->qname,
		 (unsigned)ans.rcode, ans.truncated);
	t->server_error = true;
	nt_timer_cancel(r->loop, &t->timer);
	txn_next(t);
}

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
	t->pcb = udp_new_ip_type(IPADDR_TYPE_ANY);
	if (!t->pcb)
		goto err_txn;
	if (udp_bind(t->pcb, IP_ANY_TYPE, 0) != ERR_OK)
		goto err_pcb;
	udp_recv(t->pcb, txn_recv, t);
	t->first_server = r->next_server++ % r->cfg.n_servers;
	list_add_tail(&r->txns, &t->link);
	if (txn_send(t) < 0)
		goto err_list;
	return t;

err_list:
	list_del(&t->link);
err_pcb:
	udp_remove(t->pcb);
err_txn:
	free(t);
	return NULL;
}

/* ---- lookups (tunnel backend) ---- */

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
		slot_set(s, e->status, e->addrs, e->n);
		return;
	}
	t = txn_find(r, qname, qtype);
	if (t) {
		r->stats.coalesced++;
	} else {
		t = txn_new(r, qname, qtype);
		if (!t) {
			slot_set(s, -ENOMEM, NULL, 0);
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
		else
			slot_set(&q->slot[i], -ENOENT, NULL, 0); /* too long with this suffix */
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
			req_finish(q, 0);
			return;
		}
		if (!all_enoent || q->cand + 1 >= q->n_cand) {
			req_finish(q, all_enoent ? -ENOENT : err);
			return;
		}
		q->cand++;
		req_start_candidate(q);
	}
}

/* One family answered; the other had its chance. */
static void pair_timer_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct nt_resolver_req *q = arg;

	(void)loop;
	(void)timer;
	for (int i = 0; i < SLOT_N; i++) {
		struct slot *s = &q->slot[i];

		if (s->wanted && !s->done) {
			slot_detach(s);
			slot_set(s, -ETIMEDOUT, NULL, 0);
		}
	}
	req_check(q);
}

/* ---- system backend: getaddrinfo on worker threads ---- */

static int eai_errno(int rc, int saved_errno)
{
	switch (rc) {
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY:
#endif
		return -ENOENT;
	case EAI_AGAIN:
		return -ETIMEDOUT;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return saved_errno > 0 ? -saved_errno : -EIO;
	default:
		return -EIO;
	}
}

static void system_resolve(const struct job *job, struct result *res)
{
	struct addrinfo hints, *list, *ai;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = job->family;
	hints.ai_socktype = SOCK_STREAM; /* one entry per address, not per socket type */
	rc = getaddrinfo(job->name, NULL, &hints, &list);
	if (rc) {
		res->status = eai_errno(rc, errno);
		return;
	}
	for (ai = list; ai; ai = ai->ai_next) {
		uint8_t addr[16] = {0};
		int s;
		bool dup = false;

		if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(struct sockaddr_in)) {
			s = SLOT_A;
			memcpy(addr, &((const struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
		} else if (ai->ai_family == AF_INET6 &&
			   ai->ai_addrlen >= sizeof(struct sockaddr_in6)) {
			s = SLOT_AAAA;
			memcpy(addr, &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		for (size_t i = 0; i < res->n[s] && !dup; i++)
			dup = memcmp(res->addrs[s][i], addr, 16) == 0;
		if (!dup && res->n[s] < NT_RESOLVER_MAX_ADDRS)
			memcpy(res->addrs[s][res->n[s]++], addr, 16);
	}
	freeaddrinfo(list);
	res->status = res->n[SLOT_A] + res->n[SLOT_AAAA] ? 0 : -ENOENT;
}

static void pool_unref(struct pool *p)
{
	if (atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	for (size_t i = 0; i < p->n_workers; i++)
		nt_queue_free(p->workers[i].jobs);
	nt_queue_free(p->results);
	free(p);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;
	struct job job;
	struct result res;

	for (;;) {
		if (nt_queue_pop(w->jobs, &job) != 0) {
			/* Readable exactly while the queue holds a job. */
			struct pollfd pfd = {.fd = nt_queue_fd(w->jobs), .events = POLLIN};

			(void)poll(&pfd, 1, -1);
			continue;
		}
		if (job.quit)
			break;
		if (atomic_load(&p->stopping))
			continue;
		memset(&res, 0, sizeof(res));
		res.seq = job.seq;
		res.worker = w->index;
		system_resolve(&job, &res);
		if (nt_queue_push(p->results, &res) != 0)
			atomic_fetch_add(&p->dropped, 1);
	}
	pool_unref(p);
	return NULL;
}

/* Tells the workers to exit and drops the loop's reference: the last
 * thread out frees the pool, so nothing here waits for getaddrinfo(). */
static void pool_stop(struct pool *p)
{
	struct job quit;

	memset(&quit, 0, sizeof(quit));
	quit.quit = true;
	atomic_store(&p->stopping, true);
	for (size_t i = 0; i < p->n_workers; i++) {
		/* Never full: a worker holds at most per_worker jobs and its
		 * queue has room for one more. */
		if (p->workers[i].started)
			(void)nt_queue_push(p->workers[i].jobs, &quit);
	}
	pool_unref(p);
}

static int pool_start_threads(struct pool *p)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int err;

	err = -pthread_attr_init(&attr);
	if (err)
		return err;
	err = -pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Workers inherit a full mask: signals belong to the loop's signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (size_t i = 0; i < p->n_workers && !err; i++) {
		pthread_t tid;

		atomic_fetch_add(&p->refs, 1);
		err = -pthread_create(&tid, &attr, worker_main, &p->workers[i]);
		if (err)
			atomic_fetch_sub(&p->refs, 1);
		else
			p->workers[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return err;
}

static int pool_new(size_t n_workers, size_t per_worker, struct pool **out)
{
	struct pool *p;
	int err;

	p = calloc(1, sizeof(*p) + n_workers * sizeof(p->workers[0]));
	if (!p)
		return -ENOMEM;
	atomic_init(&p->refs, 1);
	atomic_init(&p->stopping, false);
	atomic_init(&p->dropped, 0);
	p->n_workers = n_workers;
	p->per_worker = per_worker;
	err = nt_queue_new(&p->results, n_workers * per_worker, sizeof(struct result));
	if (err)
		goto err_pool;
	for (size_t i = 0; i < n_workers; i++) {
		p->workers[i].pool = p;
		p->workers[i].index = (unsigned)i;
		err = nt_queue_new(&p->workers[i].jobs, per_worker + 1, sizeof(struct job));
		if (err)
			goto err_queues;
	}
	err = pool_start_threads(p);
	if (err) {
		pool_stop(p);
		return err;
	}
	*out = p;
	return 0;

err_queues:
	for (size_t i = 0; i < n_workers; i++)
		nt_queue_free(p->workers[i].jobs);
	nt_queue_free(p->results);
err_pool:
	free(p);
	return err;
}

static int system_submit(struct nt_resolver *r, struct nt_resolver_req *q, bool absolute)
{
	struct pool *p = r->pool;
	struct worker *best = NULL;
	struct job job;

	for (size_t i = 0; i < p->n_workers; i++) {
		struct worker *w = &p->workers[i];

		if (w->started && (!best || w->outstanding < best->outstanding))
			best = w;
	}
	if (!best || best->outstanding >= p->per_worker)
		return -EAGAIN; /* every worker is stuck on earlier names */
	memset(&job, 0, sizeof(job));
	job.seq = ++r->next_job;
	job.family = q->family == NT_RESOLVER_V4_ONLY	? AF_INET
		     : q->family == NT_RESOLVER_V6_ONLY ? AF_INET6
							: AF_UNSPEC;
	snprintf(job.name, sizeof(job.name), "%s%s", q->name, absolute ? "." : "");
	if (nt_queue_push(best->jobs, &job) != 0)
		return -EAGAIN;
	best->outstanding++;
	q->job = job.seq;
	return 0;
}

static struct nt_resolver_req *req_by_job(struct nt_resolver *r, uint64_t seq)
{
	for (struct list *it = r->active.next; it != &r->active; it = it->next) {
		struct nt_resolver_req *q = list_entry(it, struct nt_resolver_req, link);

		if (q->job == seq)
			return q;
	}
	return NULL;
}

static void results_cb(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct nt_resolver *r = arg;
	struct pool *p = r->pool;
	struct result res;

	(void)loop;
	(void)fd;
	(void)events;
	/* Bounded per wake-up; the fd stays readable while results remain. */
	for (int k = 0; k < RESULTS_PER_WAKE && nt_queue_pop(p->results, &res) == 0; k++) {
		struct nt_resolver_req *q;

		if (res.worker < p->n_workers && p->workers[res.worker].outstanding > 0)
			p->workers[res.worker].outstanding--;
		q = req_by_job(r, res.seq);
		if (!q)
			continue; /* cancelled */
		for (int i = 0; i < SLOT_N; i++) {
			if (q->slot[i].wanted)
				slot_set(&q->slot[i], res.n[i] ? 0 : -ENOENT, res.addrs[i],
					 res.n[i]);
		}
		req_finish(q, res.status);
	}
}

/* ---- dispatch ---- */

static void req_release(struct nt_resolver_req *q)
{
	struct nt_resolver *r = q->r;

	for (int i = 0; i < SLOT_N; i++)
		slot_detach(&q->slot[i]);
	nt_timer_cancel(r->loop, &q->pair_timer);
	list_del(&q->link);
	r->n_reqs--;
	free(q);
}

static void resolver_destroy(struct nt_resolver *r);

static void dispatch(struct nt_resolver *r)
{
	r->dispatching = true;
	list_splice(&r->done, &r->batch);
	while (!list_empty(&r->batch) && !r->free_requested) {
		struct nt_resolver_req *q = list_entry(r->batch.next, struct nt_resolver_req, link);

		if (q->status == -ETIMEDOUT)
			r->stats.timeouts++;
		else if (q->status == -ENOENT)
			r->stats.not_found++;
		else if (q->status < 0)
			r->stats.failures++;
		q->delivering = true;
		q->cb(q->arg, q->status, q->n ? q->addrs : NULL, q->n);
		req_release(q);
	}
	r->dispatching = false;
	if (r->free_requested)
		resolver_destroy(r);
}

static void wake_cb(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct nt_resolver *r = arg;
	uint64_t v;

	(void)loop;
	(void)events;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		nt_warn("resolver", "event=wake_read_failed errno=%d", errno);
	r->wake_pending = false;
	dispatch(r);
}

/* ---- public API ---- */

static int config_apply(const struct nt_resolver_config *in, struct nt_resolver_config *c)
{
	if (in)
		*c = *in;
	else
		memset(c, 0, sizeof(*c));
	if (c->n_servers > NT_RESOLVER_MAX_SERVERS || c->n_search > NT_RESOLVER_MAX_SEARCH)
		return -EINVAL;
	for (size_t i = 0; i < c->n_servers; i++) {
		if (c->servers[i].family != AF_INET && c->servers[i].family != AF_INET6)
			return -EINVAL;
	}
	for (size_t i = 0; i < c->n_search; i++) {
		char *s = c->search[i];

		if (!memchr(s, '\0', sizeof(c->search[i])) || nt_dns_name_check(s) != 0)
			return -EINVAL;
		(void)name_normalize(s, s);
	}
	if (c->tries > TRIES_MAX || c->threads > THREADS_MAX)
		return -EINVAL;
	c->timeout_ms = c->timeout_ms ? c->timeout_ms : NT_RESOLVER_TIMEOUT_MS_DEFAULT;
	c->tries = c->tries ? c->tries : NT_RESOLVER_TRIES_DEFAULT;
	c->max_inflight = c->max_inflight ? c->max_inflight : NT_RESOLVER_MAX_INFLIGHT_DEFAULT;
	c->cache_size = c->cache_size ? c->cache_size : NT_RESOLVER_CACHE_SIZE_DEFAULT;
	c->ttl_max = c->ttl_max ? c->ttl_max : NT_RESOLVER_TTL_MAX_DEFAULT;
	c->neg_ttl = c->neg_ttl ? c->neg_ttl : NT_RESOLVER_NEG_TTL_DEFAULT;
	c->threads = c->threads ? c->threads : NT_RESOLVER_THREADS_DEFAULT;
	return 0;
}

int nt_resolver_new(struct nt_loop *loop, const struct nt_resolver_config *cfg,
		    struct nt_resolver **out)
{
	struct nt_resolver *r;
	int err;

	if (!loop || !out)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	err = config_apply(cfg, &r->cfg);
	if (err)
		goto err_r;
	r->loop = loop;
	r->tunnel = r->cfg.n_servers > 0;
	list_init(&r->active);
	list_init(&r->done);
	list_init(&r->batch);
	list_init(&r->txns);
	list_init(&r->lru);
	list_init(&r->cache_free);
	if (r->tunnel) {
		if (nt_platform_init() < 0) { /* query ids come from libsodium */
			err = -EIO;
			goto err_r;
		}
		r->cache = calloc(r->cfg.cache_size, sizeof(*r->cache));
		if (!r->cache) {
			err = -ENOMEM;
			goto err_r;
		}
		for (size_t i = 0; i < r->cfg.cache_size; i++)
			list_add_tail(&r->cache_free, &r->cache[i].link);
	}
	r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->wake_fd < 0) {
		err = -errno;
		goto err_cache;
	}
	err = nt_loop_add_fd(loop, r->wake_fd, NT_EV_READ, wake_cb, r);
	if (err)
		goto err_wake;
	if (!r->tunnel) {
		err = pool_new(r->cfg.threads, r->cfg.max_inflight, &r->pool);
		if (err)
			goto err_wake_fd;
		err =
		    nt_loop_add_fd(loop, nt_queue_fd(r->pool->results), NT_EV_READ, results_cb, r);
		if (err)
			goto err_pool;
	}
	nt_info("resolver", "event=up backend=%s servers=%zu search=%zu",
		r->tunnel ? "tunnel" : "system", r->cfg.n_servers, r->cfg.n_search);
	*out = r;
	return 0;

err_pool:
	pool_stop(r->pool);
err_wake_fd:
	nt_loop_del_fd(loop, r->wake_fd);
err_wake:
	close(r->wake_fd);
err_cache:
	free(r->cache);
err_r:
	free(r);
	return err;
}

static void release_all(struct list *h)
{
	while (!list_empty(h))
		req_release(list_entry(h->next, struct nt_resolver_req, link));
}

static void resolver_destroy(struct nt_resolver *r)
{
	release_all(&r->active);
	release_all(&r->done);
	release_all(&r->batch);
	/* Releasing the lookups closed every txn; this is belt and braces. */
	while (!list_empty(&r->txns))
		txn_free(list_entry(r->txns.next, struct txn, link));
	if (r->pool) {
		nt_loop_del_fd(r->loop, nt_queue_fd(r->pool->results));
		pool_stop(r->pool);
	}
	nt_loop_del_fd(r->loop, r->wake_fd);
	close(r->wake_fd);
	free(r->cache);
	free(r);
}

void nt_resolver_free(struct nt_resolver *r)
{
	if (!r)
		return;
	if (r->dispatching) {
		r->free_requested = true; /* dispatch() finishes the job */
		return;
	}
	resolver_destroy(r);
}

int nt_resolver_lookup(struct nt_resolver *r, const char *name, enum nt_resolver_family family,
		       nt_resolver_cb cb, void *arg, struct nt_resolver_req **out)
{
	struct nt_resolver_req *q;
	uint8_t lit[1][16] = {{0}};
	int lit_family = 0, err;
	bool absolute;

	if (!r || !name || !cb || (unsigned)family > NT_RESOLVER_V6_ONLY)
		return -EINVAL;
	if (inet_pton(AF_INET, name, lit[0]) == 1)
		lit_family = AF_INET;
	else if (inet_pton(AF_INET6, name, lit[0]) == 1)
		lit_family = AF_INET6;
	else if (nt_dns_name_check(name) != 0)
		return -EINVAL;
	if (r->n_reqs >= r->cfg.max_inflight || r->free_requested) {
		r->stats.busy++;
		return -EAGAIN;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->family = family;
	list_init(&q->link);
	nt_timer_init(&q->pair_timer, pair_timer_cb, q);
	for (int i = 0; i < SLOT_N; i++) {
		q->slot[i].req = q;
		q->slot[i].wanted =
		    i == SLOT_A ? family != NT_RESOLVER_V6_ONLY : family != NT_RESOLVER_V4_ONLY;
	}

	if (lit_family) {
		int hit = lit_family == AF_INET ? SLOT_A : SLOT_AAAA;

		for (int i = 0; i < SLOT_N; i++)
			slot_set(&q->slot[i], i == hit ? 0 : -ENOENT, lit, 1);
		list_add_tail(&r->active, &q->link);
		r->n_reqs++;
		r->stats.lookups++;
		r->stats.literals++;
		req_finish(q, 0);
		goto out;
	}

	absolute = name_normalize(q->name, name);
	if (!r->tunnel) {
		err = system_submit(r, q, absolute);
		if (err) {
			r->stats.busy++;
			free(q);
			return err;
		}
		list_add_tail(&r->active, &q->link);
		r->n_reqs++;
		r->stats.lookups++;
		goto out;
	}
	q->n_cand = absolute || strchr(q->name, '.') ? 1 : (unsigned)r->cfg.n_search + 1;
	list_add_tail(&r->active, &q->link);
	r->n_reqs++;
	r->stats.lookups++;
	req_start_candidate(q);
	req_check(q);
out:
	if (out)
		*out = q;
	return 0;
}

void nt_resolver_cancel(struct nt_resolver_req *q)
{
	if (!q || q->delivering)
		return;
	req_release(q);
}

void nt_resolver_get_stats(const struct nt_resolver *r, struct nt_resolver_stats *out)
{
	*out = r->stats;
	if (r->pool)
		out->results_dropped = atomic_load(&r->pool->dropped);
}
