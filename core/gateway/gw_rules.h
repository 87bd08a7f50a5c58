/* SPDX-License-Identifier: MIT */
/* Gateway access control: may a peer open a flow to this destination?
 *
 * Default deny. A flow (destination address, protocol, port) is allowed when
 * one of the [Gateway] Allow rules matches it and, if the peer has Allow
 * rules of its own, one of those matches it too: per-peer rules narrow the
 * global ones, they never widen them. A peer without rules of its own gets
 * exactly the global rules.
 *
 * A rule matches when the address is inside its CIDR (host bits of the rule
 * as written are ignored) and its protocol and ports accept the flow: "any"
 * without ports accepts every protocol and port, "any" with ports accepts
 * TCP and UDP on those ports, "tcp"/"udp" accept that protocol only (on any
 * port, or on the listed ones).
 *
 * Special destinations come first (netstack/ippkt.h's scopes): the
 * gateway's own tunnel address (it stands for the gateway host), loopback
 * and link-local addresses are refused unless a [Gateway] rule that matches
 * lies inside their range: the tunnel address as a /32 or /128, a prefix
 * within 127.0.0.0/8 or 169.254.0.0/16 and so on; a wider rule such as
 * 0.0.0.0/0 covering them does not count. Unspecified, multicast,
 * broadcast, reserved and IPv4-in-IPv6 destinations are refused always.
 *
 * Pure: no I/O, no allocation. The rules are core/config/config.h's.
 */
#ifndef NT_CORE_GW_RULES_H
#define NT_CORE_GW_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config/config.h"
#include "netstack/ippkt.h"

#define NT_GW_PROTO_TCP 6
#define NT_GW_PROTO_UDP 17

/* What a flow asks for: family AF_INET or AF_INET6, addr 4 or 16 bytes in
 * network order, proto an IP protocol number, port in host order (0 for
 * protocols without ports); self: addr is the gateway's own tunnel address. */
struct nt_gw_dest {
	int family;
	uint8_t addr[16];
	uint8_t proto;
	uint16_t port;
	bool self;
};

struct nt_gw_rules {
	const struct nt_config_allow *global; /* [Gateway] */
	size_t global_count;
	const struct nt_config_allow *peer; /* the peer's [Peer] Allow, may be empty */
	size_t peer_count;
};

/* d's address lies inside c (host bits of c ignored). */
bool nt_gw_cidr_contains(const struct wg_cidr *c, const struct nt_gw_dest *d);
/* Broader than a /8 (IPv4) or a /32 (IPv6): worth a warning at start. */
bool nt_gw_rule_broad(const struct nt_config_allow *rule);
bool nt_gw_rule_matches(const struct nt_config_allow *rule, const struct nt_gw_dest *d);
enum nt_gw_verdict {
	NT_GW_ALLOW,
	NT_GW_DENY,	    /* no rule allows it */
	NT_GW_DENY_MARTIAN, /* a special destination no rule names (above) */
};

/* The decision above. */
enum nt_gw_verdict nt_gw_rules_decide(const struct nt_gw_rules *r, const struct nt_gw_dest *d);
static inline bool nt_gw_rules_allow(const struct nt_gw_rules *r, const struct nt_gw_dest *d)
{
	return nt_gw_rules_decide(r, d) == NT_GW_ALLOW;
}

#endif
