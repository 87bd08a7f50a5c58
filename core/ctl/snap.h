/* SPDX-License-Identifier: MIT */
/* One snapshot of a role's state, the single source of `notun status`
 * (JSON and text) and of the metrics page: collected on the loop's thread
 * from what the engine, the gateway, the tunnel, the proxy and the flow
 * layer copy out, then rendered anywhere (render.h). Bounded: at most
 * NT_CTL_PEERS_MAX peers and NT_CTL_RESOURCES_MAX resources are listed,
 * the rest only counted (peers_omitted, resources_omitted), which also
 * bounds the metrics page's label values. */
#ifndef NT_CORE_CTL_SNAP_H
#define NT_CORE_CTL_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/engine/engine.h"
#include "core/engine/engine_info.h"
#include "core/gateway/gateway.h"
#include "core/gateway/gw_link.h"
#include "core/tunnel/tunnel.h"
#include "netstack/flow.h"
#include "proxy/proxy.h"

#define NT_CTL_PEERS_MAX     256u  /* peers listed in one snapshot */
#define NT_CTL_RESOURCES_MAX 1024u /* resources listed (NT_RTABLE_MAX) */
#define NT_CTL_ID_MAX	     64u   /* ids and names, as the portal protocol's */
#define NT_CTL_ADDR_MAX	     256u  /* a resource's address or pattern */

enum nt_ctl_role { NT_CTL_CLIENT, NT_CTL_GATEWAY };

struct nt_ctl_peer {
	char public_key[45];	      /* base64 */
	char name[NT_CTL_ID_MAX + 1]; /* the gateway's id (client) or the portal
				       * client's (gateway); "" for a [Peer] */
	char endpoint[64];	      /* "1.2.3.4:51820", "[v6]:port"; "" unknown */
	bool has_session;
	int64_t last_handshake; /* Unix seconds; 0: never */
	struct nt_tunnel_peer_info info;
	bool has_gw; /* gateway role: gw holds its flows' counters */
	struct nt_gateway_peer_counters gw;
};

struct nt_ctl_resource {
	char id[NT_CTL_ID_MAX + 1];
	char name[NT_CTL_ID_MAX + 1];
	char type[8];
	char address[NT_CTL_ADDR_MAX + 1];
	char access[8];
	char gateway[NT_CTL_ID_MAX + 1];
	int64_t granted_at, expires_at; /* Unix seconds; 0 unless granted */
	uint64_t pending_packets, pending_bytes, waiting;
	bool renewing;
};

struct nt_ctl_snap {
	enum nt_ctl_role role;
	char command[16];	      /* "up", "run", "gateway"; "" unknown */
	char name[NT_CTL_ID_MAX + 1]; /* the configuration's name (client.conf: client) */
	int64_t pid;
	int64_t now;	    /* Unix seconds, when collected */
	int64_t started_at; /* Unix seconds */
	bool ready;	    /* listeners up and, under a portal, joined */
	bool has_portal;
	bool portal_joined;
	size_t n_peers, peers_omitted;
	struct nt_ctl_peer *peers; /* NT_CTL_PEERS_MAX */
	size_t n_resources, resources_omitted;
	struct nt_ctl_resource *resources; /* NT_CTL_RESOURCES_MAX */
	struct nt_flow_stats flow;
	struct nt_tunnel_counters tunnel;
	/* client */
	struct nt_engine_counters engine;
	bool has_proxy;
	struct nt_proxy_counters proxy;
	size_t n_listen; /* the proxy's bound listeners, as "ADDR:PORT" */
	char listen[NT_PROXY_MAX_LISTEN][64];
	struct nt_engine_portal_info portal;
	/* gateway */
	struct nt_gateway_counters gateway;
};

/* What a role hands the collector; the pointers outlive the snapshots. */
struct nt_ctl_source {
	enum nt_ctl_role role;
	const char *command; /* "up", "run"; NULL: unknown (a gateway's is "gateway") */
	const char *name;
	struct nt_engine *engine;      /* client */
	const struct nt_proxy *proxy;  /* client; NULL: none */
	const struct nt_gateway *gw;   /* gateway */
	const struct nt_gw_link *link; /* gateway under a portal; NULL: none */
	int64_t started_at;
};

/* A snapshot with room for the lists, or NULL (out of memory). */
struct nt_ctl_snap *nt_ctl_snap_new(void);
void nt_ctl_snap_free(struct nt_ctl_snap *s);
/* Fills s from src now (loop thread). */
void nt_ctl_snap_collect(struct nt_ctl_snap *s, const struct nt_ctl_source *src);

#endif
