// SPDX-License-Identifier: MIT
/* The counter tables (fields.h). */
#include "core/ctl/fields.h"

#include "platform/fail.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define C(type, field, metric, help)                                                               \
	{                                                                                          \
#field, metric, false, offsetof(type, field), help                                 \
	}
#define G(type, field, metric, help)                                                               \
	{                                                                                          \
#field, metric, true, offsetof(type, field), help                                  \
	}

#define E(f, h) C(struct nt_engine_counters, f, NULL, h)
static const struct nt_ctl_field engine[] = {
    E(opens, "connections asked of the engine"),
    E(via_tunnel, "routed to a peer of the file"),
    E(via_portal, "routed to a portal resource"),
    E(portal_refused, "outside a resource's filters: refused"),
    E(via_direct, "bypass direct"),
    E(rejected, "bypass reject"),
    E(own_refused, "to one of our own listeners: refused"),
    E(connected, "connections that succeeded"),
    E(failed, "connections that failed"),
    E(timeouts, "of which ConnectTimeout"),
    E(canceled, "the client left first"),
    E(out_no_route, "packets from lwIP no peer holds"),
    E(out_dropped, "packets the tunnel refused"),
    E(in_icmp_errors, "ICMP errors from the tunnel that ended a flow"),
    E(in_dropped, "packets from the tunnel lwIP refused"),
    E(udp_dropped, "datagrams not sent"),
};

#define P(f, h) C(struct nt_proxy_counters, f, NULL, h)
static const struct nt_ctl_field proxy[] = {
    P(accepted, "connections accepted"),
    G(struct nt_proxy_counters, active, NULL, "clients held now"),
    P(rejected_full, "closed at accept: MaxConnections"),
    P(accept_errors, "accept() failed"),
    P(rejected_no_fd, "closed at accept: out of descriptors"),
    P(socks4_refused, "SOCKS4 requests"),
    P(garbage, "a first byte of no protocol"),
    P(handshake_timeouts, "negotiation not done in time"),
    P(closed_early, "the client left before its reply"),
    P(no_acceptable_method, "no SOCKS5 method in common"),
    P(auth_failed, "wrong credentials"),
    P(malformed, "malformed requests"),
    P(cmd_unsupported, "BIND and unknown commands"),
    P(atyp_unsupported, "unknown address types"),
    P(connect_ok, "connections made"),
    P(engine_canceled, "requests canceled: the client left"),
    P(splice_failed, "connected, but the splice could not start"),
    P(udp_associations, "UDP associations"),
    G(struct nt_proxy_counters, udp_active, NULL, "UDP associations now"),
    P(udp_rx, "datagrams client to engine"),
    P(udp_tx, "datagrams engine to client"),
    P(udp_frag_dropped, "fragmented datagrams dropped"),
    P(udp_foreign_dropped, "datagrams from another address"),
    P(udp_foreign_owner, "first datagrams from another user's socket"),
    P(udp_malformed, "bad UDP headers"),
    P(udp_send_failed, "datagrams the engine refused"),
    P(udp_tx_dropped, "datagrams not sent to the client"),
};

#define T(f, m, h) C(struct nt_tunnel_counters, f, m, h)
static const struct nt_ctl_field tunnel[] = {
    T(rx_datagrams, NULL, "UDP datagrams received"),
    T(tx_datagrams, NULL, "UDP datagrams sent"),
    T(rx_malformed, NULL, "datagrams that do not parse"),
    T(rx_bad_mac1, NULL, "handshake messages not for us"),
    T(rx_unknown_index, NULL, "messages for no session"),
    T(hs_unknown_key, "handshake_unknown_key", "initiations from unknown keys"),
    T(hs_bad_auth, "handshake_bad_auth", "handshakes that did not authenticate"),
    T(hs_stale, "handshake_stale", "replayed initiations"),
    T(hs_rate_limited, "handshake_rate_limited", "initiations over 50/s from a peer"),
    T(hs_no_pending, "handshake_no_pending", "responses to no initiation"),
    T(cookie_replies_sent, NULL, "cookie replies sent"),
    T(under_load_msgs, NULL, "handshake messages while under load"),
    T(tx_queue_full, NULL, "datagrams dropped: output queue full"),
    T(tx_blocked, NULL, "times the socket was full"),
    T(tx_errors, NULL, "datagrams the socket refused"),
    T(tx_no_endpoint, NULL, "handshakes not sent: no endpoint"),
    T(tx_gso_batches, NULL, "messages that carried several datagrams (UDP_SEGMENT)"),
    T(rx_gro_batches, NULL, "received runs of several datagrams (UDP_GRO)"),
    T(key_twice, NULL, "episodes of a peer's endpoint swinging between two addresses"),
};

#define FL(f, m, h)  C(struct nt_flow_stats, f, m, h)
#define FLG(f, m, h) G(struct nt_flow_stats, f, m, h)
static const struct nt_ctl_field flow[] = {
    FLG(tcp_open, NULL, "TCP flows open in lwIP"),
    FLG(tcp_lingering, NULL, "closed TCP flows with data unacknowledged"),
    FL(connects, NULL, "TCP connections started"),
    FL(connected, NULL, "TCP connections made"),
    FL(connect_errors, NULL, "TCP connections that could not start"),
    FL(resets, NULL, "RSTs from the far side"),
    FL(aborts, NULL, "TCP connections given up: retransmissions or keepalives unanswered"),
    FL(bytes_in, "in_bytes", "bytes far side to local"),
    FL(bytes_out, "out_bytes", "bytes local to far side"),
    FLG(mem_total, "memory_bytes", "bytes the flows hold"),
    FL(flow_cap_hits, NULL, "writes refused: a flow's send cap"),
    FL(total_cap_hits, NULL, "writes refused: the total send cap"),
    FL(max_flows_hits, NULL, "flows refused: the flow limit"),
    FLG(udp_open, NULL, "UDP flows open in lwIP"),
    FL(udp_tx_bytes, "udp_tx_bytes", "UDP bytes sent"),
    FL(udp_rx_bytes, "udp_rx_bytes", "UDP bytes received"),
};

#define PO(f, h) C(struct nt_engine_portal_info, f, NULL, h)
static const struct nt_ctl_field portal[] = {
    G(struct nt_engine_portal_info, resources, NULL, "resources the portal listed"),
    G(struct nt_engine_portal_info, gateways, NULL, "gateways with a peer"),
    G(struct nt_engine_portal_info, names, NULL, "names of dns resources with addresses"),
    PO(requests, "request_authorization sent"),
    PO(unrequested, "grants nobody asked for"),
    PO(invalid, "portal messages that did not decode"),
    PO(names_refused, "names over the limit"),
    PO(assigns, "assigned_ips sent"),
    PO(names_active, "names the gateway mapped"),
    PO(names_failed, "names the gateway could not map"),
    PO(status_unexpected, "control packets answering nothing of ours"),
};

#define PE(f, h)                                                                                   \
	{                                                                                          \
#f, NULL, false, offsetof(struct nt_engine_portal_info, pending.f), h              \
	}
static const struct nt_ctl_field pending[] = {
    PE(held, "packets held while access was requested"),
    PE(replaced, "retransmissions that replaced a held copy"),
    PE(dropped_full, "dropped: a resource's buffer was full"),
    PE(dropped_nomem, "dropped: out of memory"),
    PE(dropped_ended, "dropped: access refused or abandoned"),
    PE(flushed, "handed on at the grant"),
};

#define GC(f, m, h) C(struct nt_gateway_counters, f, m, h)
#define GG(f, h)    G(struct nt_gateway_counters, f, NULL, h)
static const struct nt_ctl_field gateway[] = {
    GG(flows_open, "flows open, TCP and UDP"),
    GC(tcp_flows, NULL, "TCP flows opened"),
    GC(udp_flows, NULL, "UDP flows opened"),
    GC(denied, NULL, "flows no rule allows"),
    GC(denied_martian, NULL, "of those, to a special destination"),
    GC(os_connects, NULL, "connect() calls"),
    GC(refused, NULL, "destinations that refused"),
    GC(unreachable, NULL, "destinations unreachable or silent"),
    GC(limit_total, NULL, "flows refused: max-flows"),
    GC(limit_peer, NULL, "flows refused: max-flows-per-peer"),
    GC(syn_collapsed, NULL, "retransmitted SYNs that replaced a held one"),
    GC(handshake_failed, NULL, "clients gone between SYN-ACK and ACK"),
    GC(deny_logs_dropped, NULL, "deny lines not logged"),
    GC(bytes_up, "up_bytes", "bytes client to destination"),
    GC(bytes_down, "down_bytes", "bytes destination to client"),
    GC(udp_dropped, NULL, "datagrams not sent on"),
    GC(in_malformed, NULL, "tunnel packets that do not parse"),
    GC(in_icmp_foreign, NULL, "ICMP not for our address"),
    GC(in_dropped, NULL, "packets lwIP refused"),
    GC(out_no_route, NULL, "lwIP output for no peer"),
    GC(out_dropped, NULL, "packets the tunnel refused"),
    GG(portal_peers, "portal clients that are peers"),
    GG(grants, "portal grants"),
    GC(grants_added, NULL, "grants installed"),
    GC(grants_ended, NULL, "grants ended"),
    GC(grants_expired, NULL, "grants ended at their expiry"),
    GC(grants_refused, NULL, "grants not installed"),
    GC(limit_portal_peers, NULL, "grants refused: portal peers limit"),
    GC(limit_grants, NULL, "grants refused: grants limit"),
    GC(flows_revoked, NULL, "flows reset: their grant ended"),
    GC(dns_requests, NULL, "assigned_ips taken"),
    GC(dns_refused, NULL, "assigned_ips without a grant"),
    GC(dns_lookups, NULL, "names resolved"),
    GC(dns_busy, NULL, "lookups refused: too many in flight"),
    GC(dns_active, NULL, "domain_status active sent"),
    GC(dns_failed, NULL, "domain_status failed sent"),
    GC(dns_limit_names, NULL, "names refused: table limits"),
    GC(dns_ctl_dropped, NULL, "control packets dropped"),
    GC(dns_ctl_malformed, NULL, "control packets that do not parse"),
    GG(dns_mappings, "proxy addresses mapped"),
};

#define GP(f, m, h) C(struct nt_gateway_peer_counters, f, m, h)
const struct nt_ctl_field nt_ctl_gw_peer_fields[] = {
    G(struct nt_gateway_peer_counters, flows_open, NULL, "the peer's flows open"),
    GP(tcp_flows, NULL, "the peer's TCP flows opened"),
    GP(udp_flows, NULL, "the peer's UDP flows opened"),
    GP(denied, NULL, "the peer's flows denied"),
    GP(refused, NULL, "the peer's flows refused by the destination"),
    GP(unreachable, NULL, "the peer's flows to unreachable destinations"),
    GP(limit_hits, NULL, "the peer's flows refused by a limit"),
    GP(bytes_up, "up_bytes", "bytes from the peer to destinations"),
    GP(bytes_down, "down_bytes", "bytes from destinations to the peer"),
};
const size_t nt_ctl_gw_peer_field_count = ARRAY_SIZE(nt_ctl_gw_peer_fields);

#define SET(n, t, member)                                                                          \
	{                                                                                          \
		n, t, ARRAY_SIZE(t), offsetof(struct nt_ctl_snap, member)                          \
	}
static const struct nt_ctl_set set_engine = SET("engine", engine, engine);
static const struct nt_ctl_set set_proxy = SET("proxy", proxy, proxy);
static const struct nt_ctl_set set_portal = SET("portal", portal, portal);
static const struct nt_ctl_set set_pending = SET("pending", pending, portal);
static const struct nt_ctl_set set_gateway = SET("gateway", gateway, gateway);
static const struct nt_ctl_set set_tunnel = SET("tunnel", tunnel, tunnel);
static const struct nt_ctl_set set_flow = SET("flow", flow, flow);

size_t nt_ctl_sets(const struct nt_ctl_snap *s, const struct nt_ctl_set **out, size_t cap)
{
	size_t n = 0;

#define ADD(x)                                                                                     \
	do {                                                                                       \
		if (n < cap)                                                                       \
			out[n++] = &(x);                                                           \
	} while (0)
	if (s->role == NT_CTL_CLIENT) {
		ADD(set_engine);
		if (s->has_proxy)
			ADD(set_proxy);
		if (s->has_portal) {
			ADD(set_portal);
			ADD(set_pending);
		}
	} else {
		ADD(set_gateway);
	}
	ADD(set_tunnel);
	ADD(set_flow);
#undef ADD
	return n;
}

static const char *const fail_labels[NT_FAIL_COUNT] = {
    [NT_FAIL_NONE] = "none",
    [NT_FAIL_GENERAL] = "general",
    [NT_FAIL_NOT_ALLOWED] = "not_allowed",
    [NT_FAIL_NET_UNREACH] = "net_unreachable",
    [NT_FAIL_HOST_UNREACH] = "host_unreachable",
    [NT_FAIL_REFUSED] = "refused",
    [NT_FAIL_TIMEOUT] = "timeout",
    [NT_FAIL_NAME] = "name",
    [NT_FAIL_ADDR_TYPE] = "address_type",
    [NT_FAIL_LOOP] = "loop",
    [NT_FAIL_FORBIDDEN] = "forbidden",
    [NT_FAIL_OFFLINE] = "offline",
    [NT_FAIL_TUNNEL_DOWN] = "tunnel_down",
};

const char *nt_ctl_fail_label(int fail)
{
	return fail >= 0 && fail < NT_FAIL_COUNT && fail_labels[fail] ? fail_labels[fail] : "other";
}
