/* SPDX-License-Identifier: MIT */
/* Portal grants at the gateway: which client may reach which resource, until
 * when (portal-protocol.md section 6). A grant is (client id, resource,
 * expires_at); one per client and resource, a repeated one replaces the
 * resource and the expiry.
 *
 * A grant covers a destination when the address lies inside the resource's
 * prefix, its filters let the protocol and port through (none: everything;
 * core/phx's nt_pmsg_filters_allow) and it has not expired. Grants open
 * ordinary (global scope) destinations by themselves. A special one (the
 * gateway host: its tunnel address, loopback; link-local) a grant reaches
 * only when the gateway's own [Gateway] rules also allow it, by a rule that
 * names its range explicitly (gw_rules.h): the operator publishes a host
 * service in the gateway's file, the portal alone never opens the host.
 * Unspecified, multicast, broadcast, reserved and IPv4-in-IPv6 destinations
 * stay refused. A dns resource's grant covers no address by itself: flows
 * to its names go through gw_dns.h's mapping (nt_gw_decide_dns).
 *
 * Pure: no I/O; the table grows on the heap up to its limit. Times are Unix
 * seconds, given by the caller.
 */
#ifndef NT_CORE_GW_GRANTS_H
#define NT_CORE_GW_GRANTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/gateway/gw_rules.h"
#include "core/phx/pmsg.h"

#define NT_GW_DEFAULT_MAX_GRANTS 4096u /* all clients together */

struct nt_gw_grant {
	char cid[NT_PMSG_ID_MAX + 1];
	struct nt_pmsg_resource res;
	int64_t expires_at;
};

struct nt_gw_grants {
	struct nt_gw_grant *v;
	size_t n, cap, max;
};

void nt_gw_grants_init(struct nt_gw_grants *g, size_t max);
void nt_gw_grants_fini(struct nt_gw_grants *g);

/* Adds (cid, res) or refreshes it. 0 (new), 1 (replaced), -EINVAL (neither
 * a cidr nor a dns resource, empty cid), -ENOSPC (max), -ENOMEM. */
int nt_gw_grants_put(struct nt_gw_grants *g, const char *cid, const struct nt_pmsg_resource *res,
		     int64_t expires_at);
/* Ends (cid, rid), copied to *out when out is set. 0 or -ENOENT. */
int nt_gw_grants_del(struct nt_gw_grants *g, const char *cid, const char *rid,
		     struct nt_gw_grant *out);
/* The number of grants cid holds. */
size_t nt_gw_grants_count(const struct nt_gw_grants *g, const char *cid);
/* resource_updated: every grant of res->id gets res. Returns how many. */
size_t nt_gw_grants_update(struct nt_gw_grants *g, const struct nt_pmsg_resource *res);

/* init: ends every grant that list[0..n) does not name (the listed ones are
 * the caller's to put). ended(arg, grant) is told each one before it goes. */
void nt_gw_grants_retain(struct nt_gw_grants *g, const struct nt_pmsg_grant *list, size_t n,
			 void (*ended)(void *arg, const struct nt_gw_grant *gr), void *arg);

/* The earliest expires_at, INT64_MAX when there is no grant. */
int64_t nt_gw_grants_next_expiry(const struct nt_gw_grants *g);
/* Removes the earliest grant expired at now into *out: false when none. */
bool nt_gw_grants_pop_expired(struct nt_gw_grants *g, int64_t now, struct nt_gw_grant *out);

/* cid's grant of rid when it is live at now, else NULL. */
const struct nt_gw_grant *nt_gw_grants_find(const struct nt_gw_grants *g, const char *cid,
					    const char *rid, int64_t now);
/* Whether one grant covers d's address and protocol (above), expiry and
 * the special destinations aside. */
bool nt_gw_grant_covers(const struct nt_gw_grant *gr, const struct nt_gw_dest *d);
/* A live grant of cid covers d. */
bool nt_gw_grants_allow(const struct nt_gw_grants *g, const char *cid, const struct nt_gw_dest *d,
			int64_t now);

/* The decision for a peer: its static rules (nt_gw_rules_decide) or, for a
 * portal client (cid set), a live grant, on a special destination only when
 * publish (the [Gateway] rules, may be NULL) allows it too; otherwise a
 * special destination stays refused (NT_GW_DENY_MARTIAN). */
enum nt_gw_verdict nt_gw_decide(const struct nt_gw_rules *r, const struct nt_gw_rules *publish,
				const struct nt_gw_grants *g, const char *cid,
				const struct nt_gw_dest *d, int64_t now);
/* A portal client's flow to a name of dns resource rid, mapped to the real
 * address d: cid's live dns grant of rid whose filters let d's protocol and
 * port through, and d ordinary or published as above. */
enum nt_gw_verdict nt_gw_decide_dns(const struct nt_gw_rules *publish, const struct nt_gw_grants *g,
				    const char *cid, const char *rid, const struct nt_gw_dest *d,
				    int64_t now);

#endif
