/* SPDX-License-Identifier: MIT */
/* A portal client's names of dns resources (portal-protocol.md section 7):
 * each name the proxy was asked for that matched a dns resource gets a
 * stable pair of proxy addresses (one from 100.96.0.0/11, one from
 * fd00:2021:1111:8000::/107, the same index in both) for the whole session;
 * lwIP's flows go to them, and the gateway maps them to the name's real
 * addresses once it has resolved it. Entries carry the engine's state of
 * the name (engine_portal.c drives it) and are never reused for another
 * name, so an address a flow used keeps its meaning.
 *
 * Pure: no I/O, no clock.
 */
#ifndef NT_CORE_ENGINE_RNAMES_H
#define NT_CORE_ENGINE_RNAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/engine/pending.h"
#include "core/phx/pmsg.h"

#define NT_RNAMES_MAX 4096u /* names of one client session */

struct nt_rentry;

enum nt_rname_state {
	NT_RNAME_IDLE,	    /* no assignment at the gateway asked for */
	NT_RNAME_ASSIGNING, /* assigned_ips sent to the resource's gateway */
	NT_RNAME_ACTIVE,    /* the gateway answered active: routed to it */
};

struct nt_rname {
	struct nt_rname *next;
	char name[NT_PMSG_DOMAIN_MAX + 1]; /* lower case, no trailing dot */
	uint8_t v4[4], v6[16];		   /* its proxy addresses */
	/* the engine's, for this name */
	struct nt_rentry *re; /* the resource it matched, or NULL */
	enum nt_rname_state st;
	struct nt_pending_q q;	  /* its packets until ACTIVE */
	uint64_t last_sent_ns;	  /* monotonic: the last assigned_ips */
	unsigned waiting;	  /* connections waiting for it */
};

struct nt_rnames {
	struct nt_rname *head;
	struct nt_rname **by_index; /* [max]: the proxy addresses' index */
	size_t n, max;
	struct nt_pending_counters *pending_c; /* handed to each entry's queue */
};

/* 0 or -ENOMEM. max 0: NT_RNAMES_MAX. */
int nt_rnames_init(struct nt_rnames *t, size_t max, struct nt_pending_counters *pc);
/* Frees every entry (their queues dropped). */
void nt_rnames_fini(struct nt_rnames *t);

/* Whether name may be one (letters, digits, '-', '_' in labels of 1-63,
 * at most 253 without a trailing dot); writes its lower-case form, without
 * the trailing dot, to out. */
bool nt_rnames_normalize(const char *name, char out[NT_PMSG_DOMAIN_MAX + 1]);
/* The entry of a normalized name, made when there is none (with its proxy
 * addresses): 0 (found), 1 (made), -ENOSPC (max), -ENOMEM. */
int nt_rnames_get(struct nt_rnames *t, const char *name, struct nt_rname **out);
struct nt_rname *nt_rnames_find(const struct nt_rnames *t, const char *name);
/* The entry whose proxy address addr is, or NULL. */
struct nt_rname *nt_rnames_by_addr(const struct nt_rnames *t, int family, const uint8_t *addr);

#endif
