// SPDX-License-Identifier: MIT
/* The gateway: packets between the tunnel and lwIP, the decisions taken on
 * them before lwIP sees them (see gateway.h), peers, and construction.
 * Flows live in gw_flow.c (table, limits), gw_tcp.c and gw_udp.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "core/config/config.h"
#include "core/gateway/gateway.h"
#include "core/gateway/gw_int.h"
#include "core/tunnel/tunnel.h"
#include "netstack/flow.h"
#include "netstack/gw_accept.h"
#include "netstack/stack.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "platform/sockaddr.h"

#define MOD "gateway"

#define PROTO_ICMP4 1
#define PROTO_ICMP6 58

/* ---- helpers for the flow files ---- */

void nt_gw_format_ep(int family, const uint8_t *addr, uint16_t port, char *out, size_t size)
{
	char text[INET6_ADDRSTRLEN];

	if (!inet_ntop(family, addr, text, sizeof(text)))
		snprintf(text, sizeof(text), "?");
	snprintf(out, size, family == AF_INET6 ? "[%s]:%u" : "%s:%u", text, port);
}

static bool is_ours(const struct nt_gateway *gw, int family, const uint8_t *addr)
{
	if (family == AF_INET)
		return gw->has4 && memcmp(addr, gw->addr4, 4) == 0;
	return gw->has6 && memcmp(addr, gw->addr6, 16) == 0;
}

socklen_t nt_gw_os_dest(const struct nt_gateway *gw, const struct gw_peer *gp,
			const struct gw_key *k, struct sockaddr_storage *ss)
{
	static const uint8_t lo4[4] = {127, 0, 0, 1};
	static const uint8_t lo6[16] = {[15] = 1};
	const uint8_t *addr = k->dst;
	int family = k->family;

	if (gp->cid[0] && nt_pmsg_is_proxy_ip(k->family, k->dst)) {
		const struct nt_gw_dns_entry *e =
		    nt_gw_dns_find(&gw->dns, gp->cid, k->family, k->dst);

		if (!e)
			return 0;
		family = e->real.family;
		addr = e->real.addr;
	}
	if (is_ours(gw, family, addr))
		addr = family == AF_INET ? lo4 : lo6;
	return nt_sockaddr_set(ss, family, addr, k->dport);
}

void nt_gw_key_of(const struct nt_gw_pkt *p, struct gw_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = p->family;
	k->proto = p->proto;
	memcpy(k->src, p->src, sizeof(k->src));
	memcpy(k->dst, p->dst, sizeof(k->dst));
	k->sport = p->sport;
	k->dport = p->dport;
}

struct gw_peer *nt_gw_peer_of_src(struct nt_gateway *gw, int family, const uint8_t *src)
{
	struct wg_peer *wp = nt_tunnel_peer_for_dst(gw->tunnel, family, src);

	return wp ? nt_tunnel_peer_user(wp) : NULL;
}

enum nt_gw_verdict nt_gw_verdict_of(struct nt_gateway *gw, struct gw_peer *gp,
				    const struct gw_key *k)
{
	struct nt_gw_dest d = {.family = k->family, .proto = k->proto, .port = k->dport};
	const struct nt_gw_dns_entry *e;

	if (gp->cid[0] && nt_pmsg_is_proxy_ip(k->family, k->dst)) {
		e = nt_gw_dns_find(&gw->dns, gp->cid, k->family, k->dst);
		if (!e)
			return NT_GW_DENY;
		d.family = e->real.family;
		memcpy(d.addr, e->real.addr, sizeof(d.addr));
		d.self = is_ours(gw, d.family, d.addr);
		return nt_gw_decide_dns(&gw->publish, &gw->grants, gp->cid, e->rid, &d,
					gw->clock());
	}
	memcpy(d.addr, k->dst, sizeof(d.addr));
	d.self = is_ours(gw, k->family, k->dst);
	return nt_gw_decide(&gp->rules, &gw->publish, &gw->grants, gp->cid, &d, gw->clock());
}

bool nt_gw_log_ok(struct nt_gateway *gw, struct gw_peer *gp)
{
	uint64_t sec = nt_loop_now(gw->loop) / 1000000000u;

	if (sec != gp->deny_log_sec) {
		gp->deny_log_sec = sec;
		gp->deny_log_count = 0;
	}
	if (gp->deny_log_count++ >= GW_DENY_LOG_PER_SEC) {
		gw->c.deny_logs_dropped++;
		return false;
	}
	return true;
}

bool nt_gw_allowed(struct nt_gateway *gw, struct gw_peer *gp, const struct gw_key *k)
{
	enum nt_gw_verdict v = nt_gw_verdict_of(gw, gp, k);
	const char *reason = gp->cid[0] ? "no_grant" : "rules";
	bool self = is_ours(gw, k->family, k->dst);
	char src[64], dst[64];

	if (v == NT_GW_ALLOW)
		return true;
	gw->c.denied++;
	gp->c.denied++;
	if (v == NT_GW_DENY_MARTIAN) {
		gw->c.denied_martian++;
		reason = self ? "gateway_host"
			 : nt_pmsg_is_proxy_ip(k->family, k->dst)
			     ? "unpublished"
			     : nt_ippkt_scope_name(nt_ippkt_scope_of(k->family, k->dst, NULL));
	}
	if (!nt_gw_log_ok(gw, gp))
		return false;
	nt_gw_format_ep(k->family, k->src, k->sport, src, sizeof(src));
	nt_gw_format_ep(k->family, k->dst, k->dport, dst, sizeof(dst));
	nt_info(MOD, "event=flow_denied peer=%s%s%s proto=%s src=%s dst=%s reason=%s", gp->id,
		gp->cid[0] ? " cid=" : "", gp->cid, k->proto == NT_GW_PROTO_TCP ? "tcp" : "udp",
		src, dst, reason);
	return false;
}

/* ---- answers and packets ---- */

void nt_gw_send(struct nt_gateway *gw, struct gw_peer *gp, const uint8_t *pkt, size_t len)
{
	if (nt_tunnel_send(gw->tunnel, gp->peer, pkt, len) != 0)
		gw->c.out_dropped++;
}

void nt_gw_send_unreach(struct nt_gateway *gw, struct gw_peer *gp, const uint8_t *pkt,
			const struct nt_gw_pkt *p, enum nt_gw_unreach why)
{
	uint8_t out[NT_GW_ANSWER_MAX];
	const uint8_t *src;
	int n;

	/* From our own address, as a router would; without one of that
	 * family, or to a portal client, from the destination itself: a portal
	 * client's peer for us holds its resources' addresses in AllowedIPs,
	 * not our tunnel address, and would drop the answer unread. */
	if (gp->cid[0])
		src = p->dst;
	else if (p->family == AF_INET)
		src = gw->has4 ? gw->addr4 : p->dst;
	else
		src = gw->has6 ? gw->addr6 : p->dst;
	n = nt_gw_icmp_unreach(out, sizeof(out), pkt, p, src, why);
	if (n > 0)
		nt_gw_send(gw, gp, out, (size_t)n);
}

/* lwIP's output: to the peer whose AllowedIPs hold the destination. */
static int stack_output(void *arg, const uint8_t *pkt, size_t len)
{
	struct nt_gateway *gw = arg;
	int ret = gw->tunnel ? nt_tunnel_xmit(gw->tunnel, pkt, len) : -EHOSTUNREACH;

	if (ret == -EHOSTUNREACH)
		gw->c.out_no_route++;
	else if (ret != 0)
		gw->c.out_dropped++;
	return ret;
}

/* UDP to the gateway host, to a host- or link-scoped address, or to one lwIP
 * would take as its own (multicast, broadcast) is decided before lwIP sees
 * it, as a SYN is. True when it was refused (and answered). */
static bool udp_refused_early(struct nt_gateway *gw, struct gw_peer *gp, const uint8_t *pkt,
			      const struct nt_gw_pkt *p)
{
	struct gw_key k;

	if (nt_ippkt_scope_of(p->family, p->dst, NULL) == NT_IPPKT_GLOBAL &&
	    !is_ours(gw, p->family, p->dst))
		return false;
	nt_gw_key_of(p, &k);
	if (nt_gw_allowed(gw, gp, &k))
		return false;
	nt_gw_send_unreach(gw, gp, pkt, p, NT_GW_UNREACH_PROHIBITED);
	return true;
}

/* An authenticated inner packet whose source the peer may use. */
static void tunnel_deliver(void *arg, struct wg_peer *wp, const uint8_t *pkt, size_t len)
{
	struct nt_gateway *gw = arg;
	struct gw_peer *gp = nt_tunnel_peer_user(wp);
	struct nt_gw_pkt p;

	if (!gp || nt_gw_pkt_parse(pkt, len, &p) != 0) {
		gw->c.in_malformed++;
		return;
	}
	/* Every new connection starts here, checked: a SYN that reached
	 * lwIP's listener directly would be answered unchecked. TCP is never
	 * fragmented by its senders (MSS), so a fragment is dropped rather
	 * than reassembled into one. */
	if (p.proto == NT_GW_PROTO_TCP && p.fragment) {
		gw->c.in_malformed++;
		return;
	}
	if (nt_gw_pkt_is_syn(&p)) {
		nt_gw_tcp_syn(gw, gp, pkt, p.len, &p);
		return;
	}
	if (p.proto == NT_GW_PROTO_UDP && p.has_ports && udp_refused_early(gw, gp, pkt, &p))
		return;
	/* ICMP is lwIP's for our own address only (echo); we open no flows
	 * for it, so errors about other addresses concern nothing of ours. */
	if ((p.proto == PROTO_ICMP4 || p.proto == PROTO_ICMP6) && !is_ours(gw, p.family, p.dst)) {
		gw->c.in_icmp_foreign++;
		return;
	}
	if (nt_stack_input(pkt, p.len) != 0)
		gw->c.in_dropped++;
}

/* ---- counters ---- */

void nt_gateway_get_counters(const struct nt_gateway *gw, struct nt_gateway_counters *out)
{
	*out = gw->c;
}

int nt_gateway_peer_counters(const struct nt_gateway *gw, size_t i,
			     struct nt_gateway_peer_counters *out)
{
	if (i >= gw->peer_count)
		return -ENOENT;
	*out = gw->peers[i].c;
	return 0;
}

uint16_t nt_gateway_port(const struct nt_gateway *gw)
{
	return nt_tunnel_port(gw->tunnel);
}

static void log_peer_counters(const struct gw_peer *gp)
{
	nt_info(MOD,
		"event=peer_counters peer=%s%s%s flows_open=%" PRIu64 " tcp=%" PRIu64
		" udp=%" PRIu64 " denied=%" PRIu64 " refused=%" PRIu64 " unreachable=%" PRIu64
		" limit_hits=%" PRIu64 " bytes_up=%" PRIu64 " bytes_down=%" PRIu64,
		gp->id, gp->cid[0] ? " cid=" : "", gp->cid, gp->c.flows_open, gp->c.tcp_flows,
		gp->c.udp_flows, gp->c.denied, gp->c.refused, gp->c.unreachable, gp->c.limit_hits,
		gp->c.bytes_up, gp->c.bytes_down);
}

void nt_gateway_log_counters(const struct nt_gateway *gw)
{
	const struct nt_gateway_counters *c = &gw->c;

	nt_info(MOD,
		"event=counters flows_open=%" PRIu64 " tcp=%" PRIu64 " udp=%" PRIu64
		" denied=%" PRIu64 " denied_martian=%" PRIu64 " os_connects=%" PRIu64
		" refused=%" PRIu64 " unreachable=%" PRIu64 " limit_total=%" PRIu64
		" limit_peer=%" PRIu64 " syn_collapsed=%" PRIu64 " handshake_failed=%" PRIu64
		" deny_logs_dropped=%" PRIu64 " bytes_up=%" PRIu64 " bytes_down=%" PRIu64
		" udp_dropped=%" PRIu64 " in_malformed=%" PRIu64 " in_icmp_foreign=%" PRIu64
		" in_dropped=%" PRIu64 " out_no_route=%" PRIu64 " out_dropped=%" PRIu64,
		c->flows_open, c->tcp_flows, c->udp_flows, c->denied, c->denied_martian,
		c->os_connects, c->refused, c->unreachable, c->limit_total, c->limit_peer,
		c->syn_collapsed, c->handshake_failed, c->deny_logs_dropped, c->bytes_up,
		c->bytes_down, c->udp_dropped, c->in_malformed, c->in_icmp_foreign, c->in_dropped,
		c->out_no_route, c->out_dropped);
	nt_info(MOD,
		"event=portal_counters portal_peers=%" PRIu64 " grants=%" PRIu64
		" grants_added=%" PRIu64 " grants_ended=%" PRIu64 " grants_expired=%" PRIu64
		" grants_refused=%" PRIu64 " limit_portal_peers=%" PRIu64 " limit_grants=%" PRIu64
		" flows_revoked=%" PRIu64 " dns_requests=%" PRIu64 " dns_refused=%" PRIu64
		" dns_lookups=%" PRIu64 " dns_busy=%" PRIu64 " dns_active=%" PRIu64
		" dns_failed=%" PRIu64 " dns_limit_names=%" PRIu64 " dns_ctl_dropped=%" PRIu64
		" dns_ctl_malformed=%" PRIu64 " dns_mappings=%" PRIu64,
		c->portal_peers, c->grants, c->grants_added, c->grants_ended, c->grants_expired,
		c->grants_refused, c->limit_portal_peers, c->limit_grants, c->flows_revoked,
		c->dns_requests, c->dns_refused, c->dns_lookups, c->dns_busy, c->dns_active,
		c->dns_failed, c->dns_limit_names, c->dns_ctl_dropped, c->dns_ctl_malformed,
		c->dns_mappings);
	for (size_t i = 0; i < gw->peer_count; i++)
		log_peer_counters(&gw->peers[i]);
	for (const struct gw_peer *gp = gw->portal_peers; gp; gp = gp->pnext)
		log_peer_counters(gp);
}

/* ---- construction ---- */

static int stack_up(struct nt_gateway *gw, const struct nt_config *cfg)
{
	struct nt_stack_config sc = {.mtu = cfg->mtu, .output = stack_output, .output_arg = gw};
	const uint8_t *a4 = nt_config_address(cfg, AF_INET), *a6 = nt_config_address(cfg, AF_INET6);

	if ((gw->has4 = sc.has_ipv4 = a4 != NULL)) {
		memcpy(gw->addr4, a4, 4);
		memcpy(&sc.ipv4, a4, 4);
	}
	if ((gw->has6 = sc.has_ipv6 = a6 != NULL)) {
		memcpy(gw->addr6, a6, 16);
		memcpy(&sc.ipv6, a6, 16);
	}
	return nt_stack_init(gw->loop, &sc);
}

static int tunnel_up(struct nt_gateway *gw, const struct nt_config *cfg,
		     const struct wg_timers_params *timers)
{
	static const struct nt_tunnel_ops ops_template = {.deliver = tunnel_deliver,
							  .control = nt_gw_dnsctl_packet};
	struct nt_tunnel_ops ops = ops_template;
	struct nt_tunnel_config tc;
	int ret;

	nt_tunnel_config_init(&tc);
	memcpy(tc.private_key, cfg->private_key, sizeof(tc.private_key));
	tc.listen_port = cfg->listen_port;
	if (cfg->mtu)
		tc.mtu = cfg->mtu;
	tc.timers = timers;
	/* Every static peer a configuration (or a reload) may hold, and every
	 * portal client max_portal_peers allows, side by side. */
	tc.max_peers = NT_CONFIG_MAX_PEERS + gw->limits.max_portal_peers;
	ops.arg = gw;
	ret = nt_tunnel_new(gw->loop, &tc, &ops, &gw->tunnel);
	sodium_memzero(tc.private_key, sizeof(tc.private_key));
	return ret;
}

void nt_gw_peer_config(const struct nt_config *cfg, const struct nt_config_peer *p,
		       struct gw_peer *gp, struct nt_tunnel_peer_config *pc,
		       struct sockaddr_storage *ss)
{
	*pc = (struct nt_tunnel_peer_config){
	    .psk = p->has_preshared_key ? p->preshared_key : NULL,
	    .allowed_ips = p->allowed_ips,
	    .allowed_ips_count = p->allowed_ips_count,
	    .persistent_keepalive_s = p->persistent_keepalive,
	    .user = gp,
	};
	memcpy(pc->public_key, p->public_key, sizeof(pc->public_key));
	/* Clients roam; an Endpoint given as an address is a first guess. */
	if (p->has_endpoint && p->endpoint.is_literal) {
		pc->endpoint = (struct sockaddr *)ss;
		pc->endpoint_len = nt_sockaddr_set(ss, p->endpoint.ip.family, p->endpoint.ip.addr,
						   p->endpoint.port);
	}
	gp->rules.global = cfg->gateway_allow;
	gp->rules.global_count = cfg->gateway_allow_count;
	gp->rules.peer = p->allow;
	gp->rules.peer_count = p->allow_count;
}

int nt_gw_peer_add(struct nt_gateway *gw, const struct nt_config *cfg,
		   const struct nt_config_peer *p, struct gw_peer *gp)
{
	struct nt_tunnel_peer_config pc;
	struct sockaddr_storage ss;
	int ret;

	nt_gw_peer_config(cfg, p, gp, &pc, &ss);
	gp->gw = gw;
	ret = nt_tunnel_add_peer(gw->tunnel, &pc, &gp->peer);
	if (ret != 0) {
		nt_error(MOD, "event=peer_rejected line=%u err=\"%s\"", p->line, strerror(-ret));
		return ret;
	}
	gp->id = nt_tunnel_peer_id(gp->peer);
	return 0;
}

static int peers_up(struct nt_gateway *gw, const struct nt_config *cfg)
{
	gw->peers = calloc(cfg->peer_count ? cfg->peer_count : 1, sizeof(*gw->peers));
	if (!gw->peers)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->peer_count; i++) {
		int ret = nt_gw_peer_add(gw, cfg, &cfg->peers[i], &gw->peers[i]);

		if (ret != 0)
			return ret;
		gw->peer_count++;
	}
	return 0;
}

static void limits_set(struct nt_gateway_limits *l, const struct nt_gateway_limits *in)
{
	if (in)
		*l = *in;
	if (!l->max_flows)
		l->max_flows = NT_GATEWAY_DEFAULT_MAX_FLOWS;
	if (!l->max_flows_per_peer)
		l->max_flows_per_peer = NT_GATEWAY_DEFAULT_MAX_FLOWS_PER_PEER;
	if (!l->connect_timeout_ms)
		l->connect_timeout_ms = NT_GATEWAY_DEFAULT_CONNECT_TIMEOUT_MS;
	if (!l->udp_idle_ms)
		l->udp_idle_ms = NT_GATEWAY_DEFAULT_UDP_IDLE_MS;
	if (!l->max_portal_peers)
		l->max_portal_peers = NT_GATEWAY_DEFAULT_MAX_PORTAL_PEERS;
	if (!l->max_grants)
		l->max_grants = NT_GW_DEFAULT_MAX_GRANTS;
	if (!l->max_dns_lookups)
		l->max_dns_lookups = NT_GATEWAY_DEFAULT_MAX_DNS_LOOKUPS;
}

int nt_gateway_new(struct nt_loop *loop, const struct nt_config *cfg,
		   const struct nt_gateway_limits *limits, const struct wg_timers_params *timers,
		   struct nt_gateway **out)
{
	struct nt_flow_config fc = {0};
	struct nt_gateway *gw;
	struct nt_gw_accept_ops aops = {
	    .tcp_established = nt_gw_tcp_established,
	    .tcp_failed = nt_gw_tcp_failed,
	    .udp_datagram = nt_gw_udp_datagram,
	};
	int ret;

	gw = calloc(1, sizeof(*gw));
	if (!gw)
		return -ENOMEM;
	gw->loop = loop;
	gw->cfg = cfg;
	gw->publish.global = cfg->gateway_allow;
	gw->publish.global_count = cfg->gateway_allow_count;
	limits_set(&gw->limits, limits);
	nt_gw_portal_init(gw);
	ret = nt_gw_flows_init(gw);
	if (ret != 0)
		goto err;
	ret = stack_up(gw, cfg);
	if (ret != 0) {
		nt_error(MOD, "event=stack_failed err=\"%s\"", strerror(-ret));
		goto err;
	}
	gw->stack_up = true;
	fc.max_flows = gw->limits.max_flows;
	fc.trim = nt_tunnel_trim_hook;
	fc.trim_arg = &gw->tunnel;
	ret = nt_flow_init(loop, &fc);
	if (ret != 0)
		goto err;
	gw->flows_up = true;
	aops.ctx = gw;
	ret = nt_gw_accept_enable(&aops);
	if (ret != 0)
		goto err;
	gw->accept_up = true;
	ret = tunnel_up(gw, cfg, timers);
	if (ret != 0) {
		nt_error(MOD, "event=tunnel_failed err=\"%s\"", strerror(-ret));
		goto err;
	}
	ret = peers_up(gw, cfg);
	if (ret != 0)
		goto err;
	nt_info(MOD,
		"event=gateway_up port=%u peers=%zu rules=%zu max_flows=%u max_flows_per_peer=%u "
		"connect_timeout_ms=%u udp_idle_ms=%u",
		nt_tunnel_port(gw->tunnel), gw->peer_count, cfg->gateway_allow_count,
		gw->limits.max_flows, gw->limits.max_flows_per_peer, gw->limits.connect_timeout_ms,
		gw->limits.udp_idle_ms);
	*out = gw;
	return 0;
err:
	nt_gateway_free(gw);
	return ret;
}

void nt_gateway_free(struct nt_gateway *gw)
{
	if (!gw)
		return;
	nt_timer_cancel(gw->loop, &gw->expiry);
	nt_gw_dnsctl_fini(gw);
	nt_gw_flows_fini(gw);
	/* lwIP's last words (RSTs of aborted connections) still go out. */
	if (gw->accept_up)
		nt_gw_accept_disable();
	if (gw->flows_up)
		nt_flow_fini();
	if (gw->stack_up)
		nt_stack_shutdown();
	nt_tunnel_free(gw->tunnel);
	nt_gw_portal_fini(gw);
	free(gw->peers);
	free(gw);
}
