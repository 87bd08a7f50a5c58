/* SPDX-License-Identifier: MIT */
/* The engine's state, shared by engine.c (TCP, packets, construction) and
 * engine_udp.c (UDP associations). Not for other modules. */
#ifndef NT_CORE_ENGINE_INT_H
#define NT_CORE_ENGINE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/config/config.h"
#include "core/engine/engine.h"
#include "core/wg/allowedips.h"

struct engine_portal;
struct nt_rentry;
struct nt_rname;
struct nt_resolver;
struct nt_resolver_req;
struct nt_tunnel;
struct wg_peer;

struct engine_peer {
	struct nt_engine *e;
	struct wg_peer *peer;
	const struct nt_config_endpoint *endpoint; /* into the engine's config copy */
	struct nt_resolver_req *resolving;
	bool lookup_due; /* a reload: its endpoint's name to look up */
};

struct nt_engine {
	struct nt_loop *loop;
	struct nt_tunnel *tunnel;
	struct nt_resolver *resolver;	       /* targets: the tunnel's DNS, or the system's */
	struct nt_resolver *endpoint_resolver; /* peer endpoints: always the system's */
	struct engine_peer *peers;
	size_t peer_count;
	struct nt_config_endpoint *endpoints;
	enum nt_config_bypass bypass;
	uint64_t connect_timeout_ns;
	bool stack_up, flows_up;
	struct nt_engine_req *reqs;			/* open requests, for teardown */
	struct sockaddr_storage own[NT_ENGINE_OWN_MAX]; /* the proxy's listeners */
	size_t own_count;
	struct nt_engine_counters counters;
	struct engine_portal *portal;	 /* NULL without [Portal] */
	struct wg_allowedips static_ips; /* under a portal: the static peers' AllowedIPs */
	struct nt_engine_observer obs;	 /* all NULL without a host */
};

/* Tells the observer about peer (a tunnel event). */
void nt_engine_observe_peer(struct nt_engine *e, struct wg_peer *peer, bool up);

/* Ends every request waiting for re (through name rn only, when rn is set)
 * with fail (detail: the line naming the resource, for the HTTP body). */
void nt_engine_fail_waiting(struct nt_engine *e, const struct nt_rentry *re,
			    const struct nt_rname *rn, enum nt_fail fail, const char *detail);
/* re was granted: its waiting requests now go through peer. */
void nt_engine_granted(struct nt_engine *e, const struct nt_rentry *re, struct wg_peer *peer);

#endif
