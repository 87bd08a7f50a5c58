/* SPDX-License-Identifier: MIT */
/* A portal client's routing table: the resources the portal listed (init,
 * resource_created_or_updated, resource_deleted), each with the engine's
 * state of its access (rtable entries carry it; engine_portal.c drives it).
 * cidr resources are found by longest prefix (core/wg/allowedips.c's trie):
 * two with the same prefix, the one put last is found; when it goes, the
 * other is found again. dns resources are found by name: the most specific
 * pattern that matches (an exact name first, then the highest sum over the
 * pattern's labels of 4 for a literal, 3 with a "?", 2 for "*" and 1 for
 * "**"; a tie goes to the one put last, as for prefixes). Resources of unknown
 * type are not held.
 *
 * Pure: no I/O, no clock.
 */
#ifndef NT_CORE_ENGINE_RTABLE_H
#define NT_CORE_ENGINE_RTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/engine/pending.h"
#include "core/phx/pmsg.h"
#include "core/wg/allowedips.h"

#define NT_RTABLE_MAX 1024u /* resources of one client */

enum nt_raccess {
	NT_RACCESS_NONE,    /* nobody asked */
	NT_RACCESS_PENDING, /* requested, flows wait in q */
	NT_RACCESS_GRANTED, /* routed to gw */
};

struct nt_rentry {
	struct nt_rentry *next;
	struct nt_pmsg_resource res;
	/* the engine's, for this resource */
	enum nt_raccess access;
	struct nt_pending_q q;
	void *gw;		  /* GRANTED: the engine's gateway */
	int64_t granted_at;	  /* Unix seconds */
	int64_t expires_at;	  /* Unix seconds */
	uint64_t last_request_ns; /* monotonic: the last request_authorization */
	bool renewing;		  /* GRANTED: a renewal was requested */
	unsigned waiting;	  /* connections waiting for access */
	bool disabled;		  /* by the host (the library): refused, never requested */
};

struct nt_rtable {
	struct nt_rentry *head;
	size_t n, max;
	struct wg_allowedips trie;
	struct nt_pending_counters *pending_c; /* handed to each entry's queue */
};

void nt_rtable_init(struct nt_rtable *t, size_t max, struct nt_pending_counters *pc);
/* Frees every entry (their queues dropped). */
void nt_rtable_fini(struct nt_rtable *t);

/* Adds res or replaces the resource of the entry with its id (its state
 * kept: the caller ends a grant whose address or type changed first). 0
 * (added), 1 (replaced), -EINVAL (neither cidr nor dns), -ENOSPC (max),
 * -ENOMEM. */
int nt_rtable_put(struct nt_rtable *t, const struct nt_pmsg_resource *res, struct nt_rentry **out);
struct nt_rentry *nt_rtable_find(const struct nt_rtable *t, const char *id);
/* The entry of the longest prefix holding addr, or NULL. */
struct nt_rentry *nt_rtable_lookup(const struct nt_rtable *t, int family, const uint8_t *addr);
/* The dns resource whose pattern matches name best (above), or NULL. */
struct nt_rentry *nt_rtable_match_name(const struct nt_rtable *t, const char *name);
/* Unlinks and frees e (its queue dropped). */
void nt_rtable_del(struct nt_rtable *t, struct nt_rentry *e);
/* Whether two cidr resources route the same addresses. */
bool nt_rtable_same_prefix(const struct wg_cidr *a, const struct wg_cidr *b);

#endif
