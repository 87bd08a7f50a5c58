/* SPDX-License-Identifier: MIT */
/* Inside the resolver: what resolver.c (the API, lookups, dispatch),
 * resolver_tunnel.c (DNS through lwIP: transactions, retries, the cache) and
 * resolver_sys.c (getaddrinfo on worker threads) share. Nothing outside
 * core/resolver*.c includes this. */
#ifndef NT_CORE_RESOLVER_INT_H
#define NT_CORE_RESOLVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/resolver/resolver.h"
#include "platform/loop.h"

#define NT_RESOLVER_MSG_MAX 4096 /* plain DNS answers are 512 bytes; EDNS ones stay below this */

enum { SLOT_A, SLOT_AAAA, SLOT_N };

/* ---- lists ---- */

struct list {
	struct list *prev, *next;
};

#define list_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void list_init(struct list *h)
{
	h->prev = h->next = h;
}

static inline bool list_empty(const struct list *h)
{
	return h->next == h;
}

static inline void list_add_tail(struct list *h, struct list *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static inline void list_add_head(struct list *h, struct list *n)
{
	list_add_tail(h->next, n);
}

static inline void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

/* Moves every node of from to the tail of to. */
static inline void list_splice(struct list *from, struct list *to)
{
	if (list_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	list_init(from);
}

/* ---- lookups ---- */

struct txn;
struct cache_entry;
struct pool;

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
};

/* resolver.c */

/* A slot is answered: status 0 with addrs (at most NT_RESOLVER_MAX_ADDRS
 * kept), or an error. */
void nt_resolver_slot_set(struct slot *s, int status, uint8_t (*addrs)[16], size_t n);
/* The lookup is over: its callback runs on the next dispatch. */
void nt_resolver_req_finish(struct nt_resolver_req *q, int status);

/* resolver_tunnel.c */

/* The cache, and randomness for query ids. 0, -EIO or -ENOMEM. */
int nt_resolver_tunnel_init(struct nt_resolver *r);
/* Closes transactions still open and frees the cache. */
void nt_resolver_tunnel_fini(struct nt_resolver *r);
/* Starts a lookup on its first candidate name (q->n_cand set). */
void nt_resolver_tunnel_start(struct nt_resolver_req *q);
/* Stops waiting on the slot's transaction, if any. */
void nt_resolver_slot_detach(struct slot *s);
/* q->pair_timer's callback. */
void nt_resolver_pair_timer_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg);

/* resolver_sys.c */

/* Starts the worker threads and watches their results. 0 or an error. */
int nt_resolver_sys_start(struct nt_resolver *r);
/* Stops watching; the threads exit on their own (never waited for). */
void nt_resolver_sys_stop(struct nt_resolver *r);
/* Hands q to a worker. 0 or -EAGAIN (every worker is busy). */
int nt_resolver_sys_submit(struct nt_resolver *r, struct nt_resolver_req *q, bool absolute);
/* Results a full queue refused. */
uint64_t nt_resolver_sys_dropped(const struct nt_resolver *r);

#endif
