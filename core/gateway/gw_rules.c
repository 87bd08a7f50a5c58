// SPDX-License-Identifier: MIT
/* Gateway Allow rules: matching a destination (see gw_rules.h). */
#include "core/gateway/gw_rules.h"

#include <sys/socket.h>

bool nt_gw_cidr_contains(const struct wg_cidr *c, const struct nt_gw_dest *d)
{
	size_t bytes = d->family == AF_INET ? 4 : 16;
	unsigned int len = c->prefix_len, full = len / 8, rest = len % 8;

	if (c->family != d->family || len > bytes * 8)
		return false;
	for (size_t i = 0; i < full; i++)
		if (c->addr[i] != d->addr[i])
			return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		if ((c->addr[full] ^ d->addr[full]) & mask)
			return false;
	}
	return true;
}

static bool port_listed(const struct nt_config_allow *rule, uint16_t port)
{
	for (unsigned int i = 0; i < rule->nports && i < NT_CONFIG_MAX_ALLOW_PORTS; i++)
		if (port >= rule->ports[i].first && port <= rule->ports[i].last)
			return true;
	return false;
}

bool nt_gw_rule_broad(const struct nt_config_allow *rule)
{
	return rule->cidr.prefix_len < (rule->cidr.family == AF_INET ? 8 : 32);
}

bool nt_gw_rule_matches(const struct nt_config_allow *rule, const struct nt_gw_dest *d)
{
	if (!nt_gw_cidr_contains(&rule->cidr, d))
		return false;
	switch (rule->proto) {
	case NT_CONFIG_PROTO_TCP:
		if (d->proto != NT_GW_PROTO_TCP)
			return false;
		break;
	case NT_CONFIG_PROTO_UDP:
		if (d->proto != NT_GW_PROTO_UDP)
			return false;
		break;
	case NT_CONFIG_PROTO_ANY:
		if (rule->nports == 0)
			return true;
		if (d->proto != NT_GW_PROTO_TCP && d->proto != NT_GW_PROTO_UDP)
			return false;
		break;
	default:
		return false;
	}
	return rule->nports == 0 || port_listed(rule, d->port);
}

static bool any_matches(const struct nt_config_allow *rules, size_t n, const struct nt_gw_dest *d,
			unsigned min_prefix)
{
	for (size_t i = 0; i < n; i++)
		if (rules[i].cidr.prefix_len >= min_prefix && nt_gw_rule_matches(&rules[i], d))
			return true;
	return false;
}

enum nt_gw_verdict nt_gw_rules_decide(const struct nt_gw_rules *r, const struct nt_gw_dest *d)
{
	enum nt_ippkt_scope scope;
	unsigned range = 0;

	if (d->family != AF_INET && d->family != AF_INET6)
		return NT_GW_DENY;
	scope = nt_ippkt_scope_of(d->family, d->addr, &range);
	if (!nt_ippkt_scope_unicast(scope))
		return NT_GW_DENY_MARTIAN;
	if (d->self)
		range = d->family == AF_INET ? 32 : 128;
	/* A matching rule at least as long as the range lies inside it. */
	if (range && !any_matches(r->global, r->global_count, d, range))
		return NT_GW_DENY_MARTIAN;
	if (!any_matches(r->global, r->global_count, d, 0))
		return NT_GW_DENY;
	return r->peer_count == 0 || any_matches(r->peer, r->peer_count, d, 0) ? NT_GW_ALLOW
									       : NT_GW_DENY;
}
