/* SPDX-License-Identifier: MIT */
/* The gateway role: a WireGuard listener whose clients reach destinations
 * behind it. lwIP terminates their TCP and UDP flows (addressed to anyone:
 * netstack/gw_accept.h) and the gateway re-opens each one as an ordinary OS
 * socket, after checking it against the Allow rules (core/gateway/gw_rules.h).
 *
 *   tunnel -> packet from peer P
 *     TCP SYN     allowed?  no  -> ICMP prohibited (v4 3/13, v6 1/1), logged
 *                           yes -> OS connect(); the SYN waits (a
 *                                  retransmission replaces it)
 *                 connected      -> the SYN to lwIP: SYN-ACK; at the ACK a
 *                                   flow, spliced to the socket
 *                 refused        -> RST
 *                 unreachable, ConnectTimeout -> ICMP host/net unreachable
 *     UDP         allowed?  no  -> ICMP prohibited, logged
 *                           yes -> a connected OS UDP socket per (source,
 *                                  destination), closed when idle
 *     ICMP echo to our tunnel address -> lwIP answers
 *     anything else -> lwIP (segments of open connections, fragments)
 *
 * A portal client's flow to one of its proxy addresses of a dns resource
 * (gw_dns.h) is connected to the real address the name resolved to.
 *
 * Our own tunnel address stands for the gateway host: a flow to it is
 * connected to loopback (127.0.0.1 or ::1) on the same port, so a service
 * listening on the gateway's loopback is reachable as
 * <gateway tunnel address>:<port> (when a rule names that address as a /32
 * or /128; a wider rule does not open the host).
 *
 * Single-threaded: everything runs on the loop's thread.
 */
#ifndef NT_CORE_GATEWAY_H
#define NT_CORE_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

struct nt_config;
struct nt_gateway;
struct nt_pmsg_gateway_init;
struct nt_pmsg_grant;
struct nt_pmsg_reject_access;
struct nt_pmsg_resource;
struct nt_loop;
struct nt_tunnel;
struct wg_timers_params;

#define NT_GATEWAY_DEFAULT_MAX_FLOWS	      8192u /* TCP and UDP, all peers */
#define NT_GATEWAY_DEFAULT_MAX_FLOWS_PER_PEER 1024u
#define NT_GATEWAY_DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define NT_GATEWAY_DEFAULT_UDP_IDLE_MS	      60000u
#define NT_GATEWAY_DEFAULT_MAX_PORTAL_PEERS   1024u /* portal clients that are peers */
#define NT_GATEWAY_DEFAULT_MAX_DNS_LOOKUPS    32u   /* names of dns resources resolving */
#define NT_GATEWAY_DNS_LOOKUP_TIMEOUT_MS      5000u /* then domain_status failed timeout */
#define NT_GATEWAY_DNS_FRESH_S		      60    /* a mapping answers a resend this long */

/* 0 in any field means its default. */
struct nt_gateway_limits {
	unsigned max_flows;
	unsigned max_flows_per_peer;
	uint32_t connect_timeout_ms; /* the OS connect() to a destination */
	uint32_t udp_idle_ms;	     /* a UDP flow with no datagram either way is closed */
	unsigned max_portal_peers;   /* portal clients added as peers */
	unsigned max_grants;	     /* portal grants, all clients (gw_grants.h) */
	unsigned max_dns_lookups;    /* name lookups in flight, all clients */
};

struct nt_gateway_counters {
	uint64_t flows_open; /* gauge, TCP and UDP */
	uint64_t tcp_flows;  /* opened: the destination accepted */
	uint64_t udp_flows;
	uint64_t denied;	    /* flows no Allow rule permits (ICMP prohibited) */
	uint64_t denied_martian;    /* of those, to a special destination (gw_rules.h) */
	uint64_t os_connects;	    /* connect() calls for flows, TCP and UDP */
	uint64_t refused;	    /* the destination refused (RST) */
	uint64_t unreachable;	    /* unreachable or ConnectTimeout (ICMP unreachable) */
	uint64_t limit_total;	    /* flows refused by max_flows */
	uint64_t limit_peer;	    /* flows refused by max_flows_per_peer */
	uint64_t syn_collapsed;	    /* retransmitted SYNs that replaced a held one */
	uint64_t handshake_failed;  /* the client vanished between SYN-ACK and ACK */
	uint64_t deny_logs_dropped; /* deny lines over GW_DENY_LOG_PER_SEC */
	uint64_t bytes_up;	    /* client -> destination, over closed and open UDP flows */
	uint64_t bytes_down;
	uint64_t udp_dropped;	  /* datagrams not sent on: socket full or failed */
	uint64_t in_malformed;	  /* tunnel packets that do not parse, TCP fragments */
	uint64_t in_icmp_foreign; /* ICMP not for our address: dropped */
	uint64_t in_dropped;	  /* packets lwIP refused */
	uint64_t out_no_route;	  /* lwIP output for no peer */
	uint64_t out_dropped;	  /* the tunnel refused (queue full, too big) */
	/* Portal (gw_portal.c) */
	uint64_t portal_peers;	     /* gauge: portal clients that are peers now */
	uint64_t grants;	     /* gauge */
	uint64_t grants_added;	     /* new grants installed */
	uint64_t grants_ended;	     /* by init, reject_access, a resource change or expiry */
	uint64_t grants_expired;     /* of those, at expires_at */
	uint64_t grants_refused;     /* not installed: a limit, a bad key, an unknown type */
	uint64_t limit_portal_peers; /* grants refused by max_portal_peers */
	uint64_t limit_grants;	     /* grants refused by max_grants */
	uint64_t flows_revoked;	     /* flows reset because their grant ended */
	/* dns resources (gw_dnsctl.c) */
	uint64_t dns_requests;	    /* assigned_ips from portal clients, decoded */
	uint64_t dns_refused;	    /* of those, no live grant matching (failed forbidden) */
	uint64_t dns_lookups;	    /* names handed to the resolver */
	uint64_t dns_busy;	    /* refused by max_dns_lookups (failed busy) */
	uint64_t dns_active;	    /* domain_status active sent */
	uint64_t dns_failed;	    /* domain_status failed sent, forbidden included */
	uint64_t dns_limit_names;   /* refused by gw_dns.h's table limits (failed limit) */
	uint64_t dns_ctl_dropped;   /* control packets from [Peer]s, or not assigned_ips */
	uint64_t dns_ctl_malformed; /* control packets that do not parse or decode */
	uint64_t dns_mappings;	    /* gauge: proxy addresses mapped */
};

struct nt_gateway_peer_counters {
	uint64_t flows_open; /* gauge */
	uint64_t tcp_flows, udp_flows;
	uint64_t denied, refused, unreachable, limit_hits;
	uint64_t bytes_up, bytes_down; /* over closed flows, and open UDP ones */
};

/* Brings up lwIP (accept-any) with cfg's addresses (at least one), the
 * tunnel on cfg's ListenPort (0: any free port) with cfg's peers, and the
 * flow machinery. cfg must pass nt_config_validate_gateway and outlive the
 * gateway (its Allow rules are used in place).
 * limits and timers (shortened WireGuard timers, tests) may be NULL.
 * 0 or a negative errno (logged). */
int nt_gateway_new(struct nt_loop *loop, const struct nt_config *cfg,
		   const struct nt_gateway_limits *limits, const struct wg_timers_params *timers,
		   struct nt_gateway **out);
/* Open flows are reset. */
void nt_gateway_free(struct nt_gateway *gw);
/* A configuration reload (SIGHUP; gw_reload.c): run is the configuration
 * running, next the file's (validated as a gateway's). [Peer]s next drops
 * are removed (their flows reset), new ones added, changed ones updated in
 * place (an unchanged peer's session untouched); the [Gateway] and [Peer]
 * Allow rules become next's, and every flow they no longer allow is reset,
 * as when a grant ends. next's [Peer]s and rules are used in place: the
 * caller moves them into run (nt_config_take_reloadable), which outlives
 * the gateway. 0 or -ENOMEM (nothing changed). */
int nt_gateway_reload(struct nt_gateway *gw, const struct nt_config *run,
		      const struct nt_config *next);

/* The bound UDP port. */
uint16_t nt_gateway_port(const struct nt_gateway *gw);
void nt_gateway_get_counters(const struct nt_gateway *gw, struct nt_gateway_counters *out);
/* Peers in config order; 0 or -ENOENT. */
int nt_gateway_peer_counters(const struct nt_gateway *gw, size_t i,
			     struct nt_gateway_peer_counters *out);
/* One log line for the gateway and one per peer with the counters. */
void nt_gateway_log_counters(const struct nt_gateway *gw);
/* Every peer, for `notun status` and the metrics page (gw_info.c): the
 * [Peer]s in file order (client_id ""), then the portal's clients. */
struct wg_peer;
typedef void (*nt_gateway_peer_fn)(void *arg, const struct wg_peer *peer, const char *client_id,
				   const struct nt_gateway_peer_counters *c);
void nt_gateway_each_peer(const struct nt_gateway *gw, nt_gateway_peer_fn fn, void *arg);
/* The gateway's WireGuard device, for its counters. */
const struct nt_tunnel *nt_gateway_tunnel(const struct nt_gateway *gw);

/* Portal grants (portal-protocol.md section 6; gateway.md "Under a
 * portal"), on the loop's thread. A portal client is a peer while it holds
 * a grant: added with its first, removed with its last, its flows reset.
 * Only flows no remaining grant (or rule) allows are reset when a grant
 * ends or its resource changes. Grants end by themselves at expires_at. */

/* init: the portal grants become exactly m's. 0, or the first error of an
 * entry that could not be installed (the others are). */
int nt_gateway_portal_init(struct nt_gateway *gw, const struct nt_pmsg_gateway_init *m);
/* create_authorization: peer and grant installed. 0 (then acknowledge),
 * -ENOSPC (a limit), -EINVAL (a resource of unknown type), -EEXIST (the key
 * is a [Peer]'s) or the tunnel's error. */
int nt_gateway_portal_grant(struct nt_gateway *gw, const struct nt_pmsg_grant *g);
/* reject_access: 0 or -ENOENT (no such grant). */
int nt_gateway_portal_reject(struct nt_gateway *gw, const struct nt_pmsg_reject_access *m);
/* resource_updated. */
void nt_gateway_portal_resource(struct nt_gateway *gw, const struct nt_pmsg_resource *r);
/* One gateway-topic push (event, payload JSON) decoded and applied. Returns
 * the length of the acknowledgement's payload written to ack[cap] when one
 * is due (create_authorization: event authorization_created), 0 when none,
 * -ENOTSUP (an unknown event), or a decoder's or the above's error. */
int nt_gateway_portal_message(struct nt_gateway *gw, const char *event, const char *payload,
			      size_t len, char *ack, size_t cap);
/* Tests: the clock that expires_at is read against (Unix seconds). */
void nt_gateway_portal_clock(struct nt_gateway *gw, int64_t (*now)(void));

#endif
