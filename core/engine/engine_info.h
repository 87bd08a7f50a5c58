/* SPDX-License-Identifier: MIT */
/* The client engine's state copied out for `notun status` and the metrics
 * page (core/ctl/): its peers, the portal's resources with their access,
 * and the portal's counters. Loop thread only; nothing is kept. */
#ifndef NT_CORE_ENGINE_INFO_H
#define NT_CORE_ENGINE_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/engine/pending.h"

struct nt_engine;
struct nt_tunnel;
struct wg_peer;

struct nt_engine_resource_info {
	const char *id, *name, *type, *address; /* type "cidr" or "dns"; address as sent */
	const char *access;			/* "none", "pending" or "granted" */
	int64_t granted_at, expires_at;		/* Unix seconds; 0 unless granted */
	const char *gateway_id;			/* "" unless granted */
	size_t pending_packets, pending_bytes;	/* held while access is requested */
	unsigned waiting;			/* connections waiting for access */
	bool renewing;
};

struct nt_engine_portal_info {
	bool joined; /* joined, and the portal's init taken since the start */
	uint64_t resources, gateways, names; /* uint64_t: read as counters (core/ctl) */
	uint64_t requests, unrequested, invalid;
	uint64_t names_refused, assigns, names_active, names_failed, status_unexpected;
	struct nt_pending_counters pending;
};

struct nt_engine_view_ops {
	/* gateway_id: "" for a [Peer] of the file, else the portal's gateway. */
	void (*peer)(void *arg, const struct wg_peer *peer, const char *gateway_id);
	void (*resource)(void *arg, const struct nt_engine_resource_info *r);
};

/* Calls ops for every peer (the file's, then the portal's gateways) and
 * every resource. Returns true and fills *portal under a portal; false
 * (portal untouched) without one. */
bool nt_engine_view(const struct nt_engine *e, const struct nt_engine_view_ops *ops, void *arg,
		    struct nt_engine_portal_info *portal);
/* The engine's WireGuard device, for its counters. */
const struct nt_tunnel *nt_engine_tunnel(const struct nt_engine *e);
/* engine_portal.c's half of nt_engine_view: gateways and resources. */
bool nt_engine_portal_view(const struct nt_engine *e, const struct nt_engine_view_ops *ops,
			   void *arg, struct nt_engine_portal_info *portal);

#endif
