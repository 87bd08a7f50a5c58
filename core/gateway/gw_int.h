/* SPDX-License-Identifier: MIT */
/* The gateway's state, shared by gateway.c (packets, peers, construction),
 * gw_flow.c (the flow table and limits), gw_tcp.c and gw_udp.c. Not for
 * other modules. */
#ifndef NT_CORE_GW_INT_H
#define NT_CORE_GW_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/gateway/gateway.h"
#include "core/gateway/gw_dns.h"
#include "core/gateway/gw_grants.h"
#include "core/gateway/gw_pkt.h"
#include "core/gateway/gw_rules.h"
#include "netstack/gw_accept.h"
#include "platform/loop.h"

struct gw_lookup;
struct nt_config;
struct nt_flow;
struct nt_resolver;
struct nt_tunnel;
struct wg_peer;

/* Lines a peer's packets cause (denials, dns answers), per peer per second;
 * the rest are counted. */
#define GW_DENY_LOG_PER_SEC 10

struct gw_peer {
	struct nt_gateway *gw;
	struct wg_peer *peer;
	const char *id;		      /* short key id, for logs */
	struct nt_gw_rules rules;     /* into the gateway's config copy; none for portal clients */
	char cid[NT_PMSG_ID_MAX + 1]; /* a portal client's id; "" for a [Peer] */
	struct gw_peer *pnext;	      /* portal clients (gw_portal.c) */
	struct nt_gateway_peer_counters c;
	uint64_t deny_log_sec; /* the second deny_log_count counts in */
	unsigned deny_log_count;
};

enum gw_flow_state {
	GW_TCP_CONNECTING, /* OS connect() in progress, the client's SYN held */
	GW_TCP_READY,	   /* OS connected; lwIP did not take the SYN: feed the next one */
	GW_TCP_HALF_OPEN,  /* SYN fed, SYN-ACK sent, waiting for the client's ACK */
	GW_TCP_STARTING,   /* an nt_flow, waiting for the loop to start its splice */
	GW_TCP_SPLICED,	   /* the splice owns the socket and the flow */
	GW_UDP_OPEN,
};

/* The flow's identity: the client's source and the destination it asked for. */
struct gw_key {
	int family;
	uint8_t proto;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
};

struct gw_flow {
	struct gw_flow *hnext;	     /* hash chain */
	struct gw_flow *prev, *next; /* all flows */
	struct nt_gateway *gw;
	struct gw_peer *peer;
	struct gw_key key;
	enum gw_flow_state state;
	int fd; /* the OS socket, -1 once the splice owns it */
	struct nt_timer timer;
	uint64_t opened_ns, last_ns;
	uint64_t bytes_up, bytes_down; /* client -> destination, destination -> client */
	/* TCP */
	uint8_t *syn; /* the newest SYN, until fed */
	size_t syn_len;
	struct nt_gw_half *half;
	struct nt_flow *flow;
	/* UDP: the last datagram's start, for an ICMP port unreachable */
	uint8_t quote[NT_GW_QUOTE_MAX];
	size_t quote_len;
};

struct nt_gateway {
	struct nt_loop *loop;
	struct nt_tunnel *tunnel;
	const struct nt_config *cfg; /* the caller's; rules point into it */
	struct gw_peer *peers;	     /* the [Peer]s */
	size_t peer_count;
	struct gw_peer *portal_peers; /* added at runtime (gw_portal.c) */
	struct nt_gw_grants grants;
	struct nt_gw_rules publish; /* [Gateway]: what grants may reach on the host */
	struct nt_gw_dns dns;
	struct nt_resolver *resolver; /* made at the first lookup */
	struct gw_lookup *lookups;
	size_t n_lookups;
	struct nt_timer expiry; /* the earliest grant's expires_at */
	int64_t (*clock)(void); /* Unix seconds */
	bool has4, has6;
	uint8_t addr4[4], addr6[16]; /* our tunnel addresses */
	struct nt_gateway_limits limits;
	bool stack_up, flows_up, accept_up;
	struct gw_flow **buckets;
	size_t nbuckets;
	uint8_t hash_key[16];  /* crypto_shorthash_KEYBYTES */
	struct gw_flow *flows; /* every flow, newest first */
	uint8_t *rx_buf;       /* UDP datagrams from the OS sockets */
	struct nt_gateway_counters c;
};

/* ---- gateway.c ---- */

/* Sends an answer the gateway built (ICMP error, RST) to the peer. */
void nt_gw_send(struct nt_gateway *gw, struct gw_peer *gp, const uint8_t *pkt, size_t len);
/* ICMP destination unreachable to the sender of pkt (parsed as p). */
void nt_gw_send_unreach(struct nt_gateway *gw, struct gw_peer *gp, const uint8_t *pkt,
			const struct nt_gw_pkt *p, enum nt_gw_unreach why);
/* The flow a TCP or UDP packet (with ports) belongs to. */
void nt_gw_key_of(const struct nt_gw_pkt *p, struct gw_key *k);
/* The peer whose AllowedIPs hold the (already checked) inner source. */
struct gw_peer *nt_gw_peer_of_src(struct nt_gateway *gw, int family, const uint8_t *src);
/* Where the OS socket of gp's flow k connects: the destination, the real
 * address of a proxy address (gw_dns.h), and loopback for our own tunnel
 * address (gw_allowed let it through only for a rule naming it). Returns
 * the sockaddr length, 0 when a proxy address has no mapping. */
socklen_t nt_gw_os_dest(const struct nt_gateway *gw, const struct gw_peer *gp,
			const struct gw_key *k, struct sockaddr_storage *ss);
/* "10.0.0.1:80" / "[fd00::1]:80" */
void nt_gw_format_ep(int family, const uint8_t *addr, uint16_t port, char *out, size_t size);
/* The decision for flow k of gp now: rules and portal grants. */
enum nt_gw_verdict nt_gw_verdict_of(struct nt_gateway *gw, struct gw_peer *gp,
				    const struct gw_key *k);
/* Whether a line a peer's packets cause may be logged now: at most
 * GW_DENY_LOG_PER_SEC a second per peer, the rest counted in
 * deny_logs_dropped (denials, dns answers: a peer chooses how many). */
bool nt_gw_log_ok(struct nt_gateway *gw, struct gw_peer *gp);
/* The Allow decision, logged (rate-limited) and counted when it is no. */
bool nt_gw_allowed(struct nt_gateway *gw, struct gw_peer *gp, const struct gw_key *k);

/* A [Peer]'s tunnel settings (pc, its endpoint in ss) and Allow rules (into
 * cfg, which gp then points into). */
struct nt_tunnel_peer_config;
struct nt_config_peer;
void nt_gw_peer_config(const struct nt_config *cfg, const struct nt_config_peer *p,
		       struct gw_peer *gp, struct nt_tunnel_peer_config *pc,
		       struct sockaddr_storage *ss);
/* p as a tunnel peer in gp (zeroed by the caller). 0 or the tunnel's error
 * (logged). */
int nt_gw_peer_add(struct nt_gateway *gw, const struct nt_config *cfg,
		   const struct nt_config_peer *p, struct gw_peer *gp);

/* ---- gw_flow.c ---- */

int nt_gw_flows_init(struct nt_gateway *gw);
void nt_gw_flows_fini(struct nt_gateway *gw);
struct gw_flow *nt_gw_flow_find(struct nt_gateway *gw, const struct gw_key *k);
/* A new flow in the table, counted against the limits: NULL with *err
 * -EMFILE (total limit), -EDQUOT (the peer's limit) or -ENOMEM. */
struct gw_flow *nt_gw_flow_new(struct nt_gateway *gw, struct gw_peer *gp, const struct gw_key *k,
			       nt_timer_cb timer_cb, int *err);
/* Out of the table, counted, logged, freed; the caller released the rest. */
void nt_gw_flow_free(struct gw_flow *f, const char *how);
/* Ends a flow its grant no longer allows: TCP reset both ways, UDP closed. */
void nt_gw_flow_reset(struct gw_flow *f);
enum nt_gw_recheck { NT_GW_RECHECK_PORTAL, NT_GW_RECHECK_ALL };
/* Resets the flows that nothing allows any more (all of them when all is
 * set): gp's, or with gp NULL every portal client's (RECHECK_PORTAL: a grant
 * or resource changed) or every peer's (RECHECK_ALL: a reload). */
void nt_gw_flows_recheck(struct nt_gateway *gw, const struct gw_peer *gp,
			 enum nt_gw_recheck scope, bool all);

/* ---- gw_dnsctl.c ---- */

/* The tunnel's ops.control: a section 7 control packet from peer. */
void nt_gw_dnsctl_packet(void *arg, struct wg_peer *peer, const uint8_t *pkt, size_t len);
/* cid's mappings of rid (all of cid's, and its lookups, when rid is NULL) go. */
void nt_gw_dnsctl_forget(struct nt_gateway *gw, const char *cid, const char *rid);
/* Mappings no live grant matches any more go (a resource changed). */
void nt_gw_dnsctl_prune(struct nt_gateway *gw);
void nt_gw_dnsctl_fini(struct nt_gateway *gw);

/* ---- gw_portal.c ---- */

/* The portal client cid's peer, or NULL. */
struct gw_peer *nt_gw_portal_peer(struct nt_gateway *gw, const char *cid);
void nt_gw_portal_init(struct nt_gateway *gw);
/* After the tunnel is gone: the portal clients' structs. */
void nt_gw_portal_fini(struct nt_gateway *gw);

/* ---- gw_tcp.c ---- */

/* A SYN from gp (parsed as p). */
void nt_gw_tcp_syn(struct nt_gateway *gw, struct gw_peer *gp, const uint8_t *pkt, size_t len,
		   const struct nt_gw_pkt *p);
/* netstack/gw_accept.h's TCP callbacks; arg is the flow. */
int nt_gw_tcp_established(void *arg, struct nt_flow *flow);
void nt_gw_tcp_failed(void *arg, enum nt_fail why);
void nt_gw_tcp_close(struct gw_flow *f); /* teardown: every resource, no answer */
void nt_gw_tcp_reset(struct gw_flow *f); /* RST to the client, the OS socket reset */

/* ---- gw_udp.c ---- */

void nt_gw_udp_datagram(void *ctx, const struct nt_gw_udp_addrs *a, const uint8_t *buf, size_t len,
			const uint8_t *quote, size_t quote_len);
void nt_gw_udp_close(struct gw_flow *f, const char *how);

#endif
