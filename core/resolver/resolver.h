/* SPDX-License-Identifier: MIT */
/* Name resolution for the client, without ever blocking the engine thread.
 *
 * Two backends, chosen by the configuration:
 * - tunnel DNS (servers listed, from wg-quick's [Interface] DNS=): A and
 *   AAAA queries go as UDP datagrams through lwIP, hence through the
 *   WireGuard tunnel, to those servers. There is no fallback to the system
 *   resolver. Answers are cached (TTL-bounded, LRU), concurrent lookups of a
 *   name share their queries, and single-label names are tried with each
 *   search domain first, then alone, as resolv.conf does.
 * - system resolver (no servers): getaddrinfo on a small pool of worker
 *   threads; requests and results travel through platform/queue.h queues
 *   and results are delivered on the loop's thread.
 *
 * IP literals resolve to themselves without any query. Every callback runs
 * on the loop's thread, never from inside nt_resolver_lookup().
 *
 * Single-threaded API: every function runs on the loop's thread, which for
 * the tunnel backend is also the thread that called nt_flow_init() (the
 * flow layer must be up before the first lookup, and the resolver freed
 * before nt_flow_fini()).
 */
#ifndef NT_CORE_RESOLVER_H
#define NT_CORE_RESOLVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/resolver/dns_msg.h"

struct nt_loop;
struct nt_resolver;
struct nt_resolver_req;

#define NT_RESOLVER_MAX_SERVERS 8
#define NT_RESOLVER_MAX_SEARCH	8
#define NT_RESOLVER_MAX_ADDRS	8 /* per family; a lookup yields up to twice that */

#define NT_RESOLVER_TIMEOUT_MS_DEFAULT	 1000 /* per try */
#define NT_RESOLVER_TRIES_DEFAULT	 3    /* each to the next server in turn */
#define NT_RESOLVER_MAX_INFLIGHT_DEFAULT 64
#define NT_RESOLVER_CACHE_SIZE_DEFAULT	 256 /* entries, one per name and type */
#define NT_RESOLVER_TTL_MAX_DEFAULT	 300 /* seconds; the floor is 1 s */
#define NT_RESOLVER_NEG_TTL_DEFAULT	 5   /* seconds, for "no such name/data" */
#define NT_RESOLVER_THREADS_DEFAULT	 2

struct nt_resolver_addr {
	int family;	  /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order; AF_INET uses the first 4 bytes */
};

enum nt_resolver_family {
	NT_RESOLVER_V4_FIRST, /* A and AAAA, IPv4 addresses first */
	NT_RESOLVER_V6_FIRST, /* A and AAAA, IPv6 addresses first */
	NT_RESOLVER_V4_ONLY,
	NT_RESOLVER_V6_ONLY,
};

/* For tests: the clock that ages the cache, in ns. */
typedef uint64_t (*nt_resolver_clock_fn)(void *arg);

/* Zero means the default for every number. */
struct nt_resolver_config {
	size_t n_servers; /* 0: the system resolver */
	struct nt_resolver_addr servers[NT_RESOLVER_MAX_SERVERS];
	size_t n_search;
	char search[NT_RESOLVER_MAX_SEARCH][NT_DNS_NAME_MAX + 2];
	uint32_t timeout_ms;
	uint32_t tries;
	uint32_t max_inflight; /* lookups waiting for their callback */
	uint32_t cache_size;
	uint32_t ttl_max;
	uint32_t neg_ttl;
	uint32_t threads;	    /* system backend */
	nt_resolver_clock_fn clock; /* NULL: the loop's monotonic clock */
	void *clock_arg;
};

/* status: 0 with n >= 1 addresses (preferred family first); -ENOENT (no such
 * name, or no address of the families asked for); -ETIMEDOUT (no answer);
 * -EIO (the servers answered with errors: SERVFAIL, REFUSED, ...);
 * -ENETUNREACH (no query could be sent); -ENOMEM. addrs is valid during
 * the call only. */
typedef void (*nt_resolver_cb)(void *arg, int status, const struct nt_resolver_addr *addrs,
			       size_t n);

struct nt_resolver_stats {
	uint64_t lookups;    /* accepted by nt_resolver_lookup */
	uint64_t literals;   /* of which IP literals */
	uint64_t cache_hits; /* answers (per name and type) taken from the cache */
	uint64_t coalesced;  /* answers shared with a query already in flight */
	uint64_t queries;    /* datagrams sent, retries included */
	uint64_t retries;
	uint64_t timeouts;	     /* lookups that ended with -ETIMEDOUT */
	uint64_t not_found;	     /* ... with -ENOENT */
	uint64_t failures;	     /* ... with any other error */
	uint64_t busy;		     /* refused with -EAGAIN */
	uint64_t answers_mismatched; /* not for a query of ours: wrong id, question, source */
	uint64_t answers_malformed;
	uint64_t send_errors;	  /* lwIP refused a datagram (no route, no memory) */
	uint64_t results_dropped; /* system backend: a result queue was full */
	uint64_t cache_evictions; /* live entries pushed out by the LRU bound */
};

/* Returns 0, -EINVAL (bad config: too many servers, a bad search domain,
 * an unknown family), -ENOMEM, or a thread/queue creation error. */
int nt_resolver_new(struct nt_loop *loop, const struct nt_resolver_config *cfg,
		    struct nt_resolver **out);
/* Outstanding lookups are cancelled: their callbacks never run. Safe from
 * inside a resolver callback. */
void nt_resolver_free(struct nt_resolver *r);

/* Starts resolving name (a host name or an IP literal; a trailing dot
 * makes it absolute). cb runs exactly once, later, unless the request is
 * cancelled first. *req (optional) identifies the request until then.
 * Returns 0, -EINVAL (not a valid name, unknown family) or -EAGAIN (too
 * many lookups in flight); cb never runs after an error. */
int nt_resolver_lookup(struct nt_resolver *r, const char *name, enum nt_resolver_family family,
		       nt_resolver_cb cb, void *arg, struct nt_resolver_req **req);
/* The callback will not run. Only before the callback has run. */
void nt_resolver_cancel(struct nt_resolver_req *req);

void nt_resolver_get_stats(const struct nt_resolver *r, struct nt_resolver_stats *out);

#endif
