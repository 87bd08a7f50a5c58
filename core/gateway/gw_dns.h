/* SPDX-License-Identifier: MIT */
/* dns resources at the gateway (portal-protocol.md section 7): the portal
 * clients' proxy addresses and the real addresses they stand for.
 *
 * A client names a proxy address per family for each name of a dns
 * resource it holds a grant of (assigned_ips); the gateway resolves the
 * name and maps each proxy address to a real one. A flow to a proxy address
 * goes to its real address while the mapping exists and the grant lives
 * (gw_grants.h's nt_gw_decide_dns). One entry per (client, proxy address);
 * a client's repeated or changed assigned_ips replaces its entries.
 *
 * Bounded: at most max_per_client entries for one client and max in all;
 * refusals are counted. Entries of (client, resource) go when that grant
 * ends, all of a client's with its peer.
 *
 * Pure: no I/O; the table grows on the heap up to its limit. Times are the
 * caller's (seconds). Lookups scan: they follow a new flow or a control
 * packet, never a packet of an open flow.
 */
#ifndef NT_CORE_GW_DNS_H
#define NT_CORE_GW_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/gateway/gw_grants.h"
#include "core/phx/pmsg.h"
#include "core/resolver/resolver.h"

#define NT_GW_DNS_DEFAULT_MAX_PER_CLIENT 512u	/* proxy addresses: 256 names of two */
#define NT_GW_DNS_DEFAULT_MAX		 16384u /* proxy addresses, all clients */

struct nt_gw_dns_entry {
	char cid[NT_PMSG_ID_MAX + 1];
	char rid[NT_PMSG_ID_MAX + 1];
	char domain[NT_PMSG_DOMAIN_MAX + 1];
	int family; /* the proxy address's */
	uint8_t proxy[16];
	struct nt_resolver_addr real;
	int64_t mapped_at;
};

struct nt_gw_dns_counters {
	uint64_t limit_client; /* names refused by max_per_client */
	uint64_t limit_total;  /* names refused by max */
};

struct nt_gw_dns {
	struct nt_gw_dns_entry *v;
	size_t n, cap, max, max_per_client;
	struct nt_gw_dns_counters c;
};

/* 0 means the default. */
void nt_gw_dns_init(struct nt_gw_dns *t, size_t max, size_t max_per_client);
void nt_gw_dns_fini(struct nt_gw_dns *t);

/* Whether cid may have m resolved now: 0; -EINVAL (no proxy address, or one
 * outside the proxy ranges); -EPERM (cid holds no live grant of a dns
 * resource m->resource_id whose pattern matches m->domain). */
int nt_gw_dns_check(const struct nt_gw_grants *g, const char *cid,
		    const struct nt_pmsg_assigned_ips *m, int64_t now);

/* Names answered without a query (RFC 6761). */
enum nt_gw_dns_special {
	NT_GW_DNS_ORDINARY,  /* resolve it */
	NT_GW_DNS_LOCALHOST, /* "localhost" and below: 127.0.0.1 and ::1 */
	NT_GW_DNS_INVALID,   /* "invalid" and below: no such name */
};
enum nt_gw_dns_special nt_gw_dns_special_of(const char *name);
/* The loopback addresses a localhost name resolves to: 2 into out[2]. */
size_t nt_gw_dns_localhost(struct nt_resolver_addr out[2]);

/* The real address for a proxy address of family: the first of addrs[0..n)
 * of that family, else the first (the OS socket may cross families). NULL
 * when n is 0. */
const struct nt_resolver_addr *nt_gw_dns_pick(int family, const struct nt_resolver_addr *addrs,
					      size_t n);

/* Maps each proxy address of m, for cid, to its pick from addrs, all or
 * none. 0; -ENOENT (n is 0); -ENOSPC (a limit, counted); -ENOMEM. */
int nt_gw_dns_map(struct nt_gw_dns *t, const char *cid, const struct nt_pmsg_assigned_ips *m,
		  const struct nt_resolver_addr *addrs, size_t n, int64_t now);
/* Every proxy address of m is mapped for cid to m's name, since
 * now - max_age or later: the answer may come from the table. */
bool nt_gw_dns_fresh(const struct nt_gw_dns *t, const char *cid,
		     const struct nt_pmsg_assigned_ips *m, int64_t now, int64_t max_age);
/* The entry of cid's proxy address, or NULL. */
const struct nt_gw_dns_entry *nt_gw_dns_find(const struct nt_gw_dns *t, const char *cid, int family,
					     const uint8_t *proxy);

/* Removes cid's entries of rid (every one of cid's when rid is NULL).
 * Returns how many. */
size_t nt_gw_dns_remove(struct nt_gw_dns *t, const char *cid, const char *rid);
/* Removes the entries whose name no live dns grant of theirs matches any
 * more (a resource's pattern or type changed). Returns how many. */
size_t nt_gw_dns_retain(struct nt_gw_dns *t, const struct nt_gw_grants *g, int64_t now);

#endif
