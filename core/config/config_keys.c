// SPDX-License-Identifier: MIT
/* The configuration keys: one handler per key, by section, and the table
 * the parser (config.c) dispatches through. A handler gets the trimmed value
 * and the parser's state (the open [Peer], the line) and stops the parse
 * with an error naming the key. config.h has the grammar. */
#include "core/config/config_parse_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* [Interface] */

static int k_private_key(struct parser *p, char *v)
{
	if (nt_key_from_base64(p->cfg->private_key, v, strlen(v)) != 0)
		return nt_config_fail_key(p, "not a base64 WireGuard key (44 characters)");
	return 0;
}

static int address_item(struct parser *p, char *v)
{
	struct nt_config *cfg = p->cfg;

	if (cfg->address_count == NT_CONFIG_MAX_ADDRESSES)
		return nt_config_fail_key(p, "more than %d addresses", NT_CONFIG_MAX_ADDRESSES);
	if (wg_allowedips_parse_cidr(v, &cfg->addresses[cfg->address_count]) != 0)
		return nt_config_fail_key(p, Q " is not an IP prefix", QA(v));
	cfg->address_count++;
	return 0;
}

static int k_address(struct parser *p, char *v)
{
	return nt_config_for_each_item(p, v, address_item);
}

static int dns_item(struct parser *p, char *v)
{
	struct nt_config *cfg = p->cfg;

	if (nt_config_looks_like_ip(v)) {
		if (cfg->dns_server_count == NT_CONFIG_MAX_DNS_SERVERS)
			return nt_config_fail_key(p, "more than %d servers",
						  NT_CONFIG_MAX_DNS_SERVERS);
		if (nt_config_parse_ip(v, &cfg->dns_servers[cfg->dns_server_count]) != 0)
			return nt_config_fail_key(p, Q " is not an IP address", QA(v));
		cfg->dns_server_count++;
		return 0;
	}
	if (!nt_config_is_host_name(v))
		return nt_config_fail_key(p, Q " is not an IP address or a domain name", QA(v));
	if (cfg->dns_search_count == NT_CONFIG_MAX_DNS_SEARCH)
		return nt_config_fail_key(p, "more than %d search domains",
					  NT_CONFIG_MAX_DNS_SEARCH);
	snprintf(cfg->dns_search[cfg->dns_search_count++], NT_CONFIG_HOST_MAX + 1, "%s", v);
	return 0;
}

static int k_dns(struct parser *p, char *v)
{
	return nt_config_for_each_item(p, v, dns_item);
}

static int k_mtu(struct parser *p, char *v)
{
	uint32_t n;
	int ret = nt_config_number_in(p, v, NT_CONFIG_MTU_MIN, 65535, &n);

	if (ret)
		return ret;
	p->cfg->mtu = (uint16_t)n;
	return 0;
}

static int k_listen_port(struct parser *p, char *v)
{
	uint32_t n;
	int ret = nt_config_number_in(p, v, 0, 65535, &n);

	if (ret)
		return ret;
	p->cfg->listen_port = (uint16_t)n;
	p->cfg->has_listen_port = true;
	return 0;
}

static int k_ignored(struct parser *p, char *v)
{
	(void)v;
	nt_config_add_warning(p->cfg, p->line, p->key->name,
			      "ignored (wg-quick key; notun creates no network interface)");
	return 0;
}

/* [Peer] */

static int k_public_key(struct parser *p, char *v)
{
	struct nt_config *cfg = p->cfg;
	struct nt_config_peer *peer = p->peer;
	size_t i;

	if (nt_key_from_base64(peer->public_key, v, strlen(v)) != 0)
		return nt_config_fail_key(p, Q " is not a base64 WireGuard key (44 characters)",
					  QA(v));
	peer->public_key_line = p->line;
	for (i = 0; i + 1 < cfg->peer_count; i++) {
		if (memcmp(cfg->peers[i].public_key, peer->public_key, NT_KEY_LEN) == 0)
			return nt_config_fail_key(p, "the same key as the [Peer] at line %u",
						  cfg->peers[i].line);
	}
	return 0;
}

static int k_preshared_key(struct parser *p, char *v)
{
	if (nt_key_from_base64(p->peer->preshared_key, v, strlen(v)) != 0)
		return nt_config_fail_key(p, "not a base64 WireGuard key (44 characters)");
	p->peer->has_preshared_key = true;
	return 0;
}

int nt_config_parse_endpoint(struct parser *p, char *v, struct nt_config_endpoint *ep)
{
	char *host, *port;
	uint32_t n;
	int ret;

	ret = nt_config_split_host_port(p, v, &host, &port);
	if (ret)
		return ret;
	if (nt_config_parse_uint(port, 65535, &n) != 0 || n == 0) {
		nt_config_join_host_port(v, host, port);
		return nt_config_fail_key(p, Q " has no valid port (1..65535)", QA(v));
	}
	ep->port = (uint16_t)n;
	if (nt_config_parse_ip(host, &ep->ip) == 0) {
		ep->is_literal = true;
	} else if (nt_config_looks_like_ip(host) || !nt_config_is_host_name(host)) {
		nt_config_join_host_port(v, host, port);
		return nt_config_fail_key(p, Q " is not HOST:PORT with a host name or IP address",
					  QA(v));
	}
	snprintf(ep->host, sizeof(ep->host), "%s", host);
	return 0;
}

static int k_endpoint(struct parser *p, char *v)
{
	int ret = nt_config_parse_endpoint(p, v, &p->peer->endpoint);

	if (ret == 0)
		p->peer->has_endpoint = true;
	return ret;
}

int nt_config_parse_path(struct parser *p, const char *v, char out[NT_CONFIG_PATH_MAX + 1])
{
	if (strlen(v) > NT_CONFIG_PATH_MAX)
		return nt_config_fail_key(p, "a file name longer than %d bytes",
					  NT_CONFIG_PATH_MAX);
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

static int allowed_ip_item(struct parser *p, char *v)
{
	struct nt_config_peer *peer = p->peer;
	struct wg_cidr c;

	if (wg_allowedips_parse_cidr(v, &c) != 0)
		return nt_config_fail_key(p, Q " is not an IP prefix", QA(v));
	if (peer->allowed_ips_count == NT_CONFIG_MAX_ALLOWED_IPS)
		return nt_config_fail_key(p, "more than %d prefixes in one [Peer]",
					  NT_CONFIG_MAX_ALLOWED_IPS);
	if (nt_config_grow((void **)&peer->allowed_ips, &peer->allowed_ips_cap,
			   peer->allowed_ips_count, sizeof(c)) != 0)
		return nt_config_fail_nomem(p);
	peer->allowed_ips[peer->allowed_ips_count++] = c;
	return 0;
}

static int k_allowed_ips(struct parser *p, char *v)
{
	return nt_config_for_each_item(p, v, allowed_ip_item);
}

static int k_persistent_keepalive(struct parser *p, char *v)
{
	uint32_t n;
	int ret;

	if (strcasecmp(v, "off") == 0) {
		p->peer->persistent_keepalive = 0;
		return 0;
	}
	ret = nt_config_parse_uint(v, 65535, &n);
	if (ret == -EINVAL)
		return nt_config_fail_key(p, Q " is not a number of seconds or 'off'", QA(v));
	if (ret)
		return nt_config_fail_key(p, Q " is out of range (0..65535)", QA(v));
	p->peer->persistent_keepalive = (uint16_t)n;
	return 0;
}

/* Allow (both sections): "CIDR[,CIDR...] [PROTO][:PORTS]", see config.h. */

int nt_config_parse_port_range(struct parser *p, char *v, struct nt_config_port_range *r)
{
	char *dash = strchr(v, '-');
	uint32_t first, last;

	if (dash)
		*dash = '\0';
	if (nt_config_parse_uint(v, 65535, &first) != 0 || first == 0 ||
	    (dash && (nt_config_parse_uint(dash + 1, 65535, &last) != 0 || last == 0))) {
		if (dash)
			*dash = '-';
		return nt_config_fail_key(p, Q " is not a port or port range (1..65535)", QA(v));
	}
	if (!dash)
		last = first;
	if (last < first) {
		*dash = '-';
		return nt_config_fail_key(p, Q " is an empty port range", QA(v));
	}
	r->first = (uint16_t)first;
	r->last = (uint16_t)last;
	return 0;
}

static int parse_allow_spec(struct parser *p, char *spec, struct nt_config_allow *rule)
{
	char *ports = strchr(spec, ':'), *item, *comma;
	int ret;

	if (ports)
		*ports++ = '\0';
	spec = nt_config_trim(spec);
	if (*spec == '\0' && ports)
		rule->proto = NT_CONFIG_PROTO_ANY;
	else if (strcasecmp(spec, "tcp") == 0)
		rule->proto = NT_CONFIG_PROTO_TCP;
	else if (strcasecmp(spec, "udp") == 0)
		rule->proto = NT_CONFIG_PROTO_UDP;
	else if (strcasecmp(spec, "any") == 0)
		rule->proto = NT_CONFIG_PROTO_ANY;
	else
		return nt_config_fail_key(p, Q " is not tcp, udp or any", QA(spec));
	if (!ports)
		return 0;
	for (item = ports;; item = comma + 1) {
		comma = strchr(item, ',');
		if (comma)
			*comma = '\0';
		item = nt_config_trim(item);
		if (*item == '\0')
			return nt_config_fail_key(p, "empty entry in the port list");
		if (rule->nports == NT_CONFIG_MAX_ALLOW_PORTS)
			return nt_config_fail_key(p, "more than %d port ranges in one rule",
						  NT_CONFIG_MAX_ALLOW_PORTS);
		ret = nt_config_parse_port_range(p, item, &rule->ports[rule->nports]);
		if (ret)
			return ret;
		rule->nports++;
		if (!comma)
			return 0;
	}
}

static int k_allow(struct parser *p, char *v)
{
	struct nt_config *cfg = p->cfg;
	struct nt_config_allow **rules = p->peer ? &p->peer->allow : &cfg->gateway_allow;
	size_t *count = p->peer ? &p->peer->allow_count : &cfg->gateway_allow_count;
	size_t *cap = p->peer ? &p->peer->allow_cap : &cfg->gateway_allow_cap;
	size_t first = *count, i;
	struct nt_config_allow spec;
	struct wg_cidr cidr;
	char *s = v, *end, save;
	int ret;

	/* The CIDR list: one rule each, its items up to the first blank that
	 * is not next to a comma. */
	for (;;) {
		while (nt_config_is_blank(*s))
			s++;
		end = s + strcspn(s, ", \t");
		if (end == s)
			return nt_config_fail_key(p, "empty entry in the list");
		save = *end;
		*end = '\0';
		if (*count == NT_CONFIG_MAX_ALLOW)
			return nt_config_fail_key(p, "more than %d rules in one section",
						  NT_CONFIG_MAX_ALLOW);
		if (wg_allowedips_parse_cidr(s, &cidr) != 0)
			return nt_config_fail_key(p, Q " is not an IP prefix", QA(s));
		if (nt_config_grow((void **)rules, cap, *count, sizeof(**rules)) != 0)
			return nt_config_fail_nomem(p);
		(*rules)[(*count)++].cidr = cidr;
		*end = save;
		s = end;
		while (nt_config_is_blank(*s))
			s++;
		if (*s != ',')
			break;
		s++;
	}
	/* The protocol and ports, shared by the line's rules. */
	memset(&spec, 0, sizeof(spec));
	spec.line = p->line;
	if (*s != '\0') {
		ret = parse_allow_spec(p, s, &spec);
		if (ret)
			return ret;
	}
	for (i = first; i < *count; i++) {
		spec.cidr = (*rules)[i].cidr;
		(*rules)[i] = spec;
	}
	return 0;
}

/* [Proxy] */

/* A literal address and a port 0..65535. p as for split_host_port. */
static int listen_parse(struct parser *p, char *v, struct nt_config_listen *l)
{
	char *host, *port;
	uint32_t n;
	bool ok;
	int ret;

	ret = nt_config_split_host_port(p, v, &host, &port);
	if (ret)
		return ret;
	memset(l, 0, sizeof(*l));
	ok = nt_config_parse_ip(host, &l->ip) == 0 && nt_config_parse_uint(port, 65535, &n) == 0;
	nt_config_join_host_port(v, host, port);
	if (!ok)
		return p ? nt_config_fail_key(p, Q " is not ADDRESS:PORT or [IPv6]:PORT", QA(v))
			 : -EINVAL;
	l->port = (uint16_t)n;
	return 0;
}

int nt_config_parse_listen(const char *text, struct nt_config_listen *out)
{
	char buf[64]; /* "[" IPv6 "]:" port */
	size_t n = text ? strlen(text) : 0;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, text, n + 1);
	return listen_parse(NULL, buf, out);
}

static int listen_item(struct parser *p, char *v)
{
	struct nt_config *cfg = p->cfg;
	struct nt_config_listen l;
	size_t i;
	int ret;

	if (cfg->listen_count == NT_CONFIG_MAX_LISTEN)
		return nt_config_fail_key(p, "more than %d addresses", NT_CONFIG_MAX_LISTEN);
	ret = listen_parse(p, v, &l);
	if (ret)
		return ret;
	for (i = 0; i < cfg->listen_count; i++) {
		if (memcmp(&cfg->listen[i], &l, sizeof(l)) == 0)
			return nt_config_fail_key(p, Q " is listed twice", QA(v));
	}
	cfg->listen[cfg->listen_count++] = l;
	return 0;
}

static int k_listen(struct parser *p, char *v)
{
	return nt_config_for_each_item(p, v, listen_item);
}

/* RFC 1929 allows 1..255 bytes; printable ASCII because SOCKS and HTTP
 * clients disagree on how to encode anything else. */
static int credential(struct parser *p, const char *v, char out[NT_CONFIG_CREDENTIAL_MAX + 1],
		      bool quote)
{
	size_t n = strlen(v), i;

	if (n > NT_CONFIG_CREDENTIAL_MAX)
		return nt_config_fail_key(p, "longer than %d bytes", NT_CONFIG_CREDENTIAL_MAX);
	for (i = 0; i < n; i++) {
		if (v[i] < 0x20 || v[i] > 0x7e) {
			if (quote)
				return nt_config_fail_key(p, Q " is not printable ASCII", QA(v));
			return nt_config_fail_key(p, "not printable ASCII");
		}
	}
	memcpy(out, v, n + 1);
	return 0;
}

static int k_username(struct parser *p, char *v)
{
	return credential(p, v, p->cfg->username, true);
}

static int k_password(struct parser *p, char *v)
{
	return credential(p, v, p->cfg->password, false);
}

static int k_bypass(struct parser *p, char *v)
{
	if (strcasecmp(v, "direct") == 0)
		p->cfg->bypass = NT_CONFIG_BYPASS_DIRECT;
	else if (strcasecmp(v, "reject") == 0)
		p->cfg->bypass = NT_CONFIG_BYPASS_REJECT;
	else
		return nt_config_fail_key(p, Q " is not direct or reject", QA(v));
	return 0;
}

/* "15", "15s" or "1500ms". */
static int k_connect_timeout(struct parser *p, char *v)
{
	size_t n = strlen(v);
	uint32_t unit = 1000, t;
	char num[16];

	if (n > 2 && strcasecmp(v + n - 2, "ms") == 0) {
		unit = 1;
		n -= 2;
	} else if (n > 1 && (v[n - 1] == 's' || v[n - 1] == 'S')) {
		n -= 1;
	}
	if (n == 0 || n >= sizeof(num))
		goto bad;
	memcpy(num, v, n);
	num[n] = '\0';
	switch (nt_config_parse_uint(num, UINT32_MAX / 1000, &t)) {
	case 0:
		break;
	case -ERANGE:
		goto range;
	default:
		goto bad;
	}
	t *= unit;
	if (t < NT_CONFIG_MIN_TIMEOUT_MS || t > NT_CONFIG_MAX_TIMEOUT_MS)
		goto range;
	p->cfg->connect_timeout_ms = t;
	return 0;
bad:
	return nt_config_fail_key(p, Q " is not a duration (15, 15s or 1500ms)", QA(v));
range:
	return nt_config_fail_key(p, Q " is out of range (%ds..%ds)", QA(v),
				  NT_CONFIG_MIN_TIMEOUT_MS / 1000, NT_CONFIG_MAX_TIMEOUT_MS / 1000);
}

static int k_max_connections(struct parser *p, char *v)
{
	return nt_config_number_in(p, v, 1, NT_CONFIG_MAX_CONNS_LIMIT, &p->cfg->max_connections);
}

const struct key_def nt_config_keys[] = {
    {"PrivateKey", SEC_INTERFACE, 0, k_private_key},
    {"Address", SEC_INTERFACE, KEY_LIST, k_address},
    {"DNS", SEC_INTERFACE, KEY_LIST, k_dns},
    {"MTU", SEC_INTERFACE, 0, k_mtu},
    {"ListenPort", SEC_INTERFACE, 0, k_listen_port},
    {"Table", SEC_INTERFACE, KEY_IGNORED, k_ignored},
    {"PreUp", SEC_INTERFACE, KEY_IGNORED, k_ignored},
    {"PostUp", SEC_INTERFACE, KEY_IGNORED, k_ignored},
    {"PreDown", SEC_INTERFACE, KEY_IGNORED, k_ignored},
    {"PostDown", SEC_INTERFACE, KEY_IGNORED, k_ignored},
    {"SaveConfig", SEC_INTERFACE, KEY_IGNORED, k_ignored},
    {"FwMark", SEC_INTERFACE, KEY_IGNORED, k_ignored},
    {"PublicKey", SEC_PEER, 0, k_public_key},
    {"PresharedKey", SEC_PEER, 0, k_preshared_key},
    {"Endpoint", SEC_PEER, 0, k_endpoint},
    {"AllowedIPs", SEC_PEER, KEY_LIST, k_allowed_ips},
    {"PersistentKeepalive", SEC_PEER, 0, k_persistent_keepalive},
    {"Allow", SEC_PEER, KEY_REPEAT, k_allow},
    {"Listen", SEC_PROXY, KEY_LIST, k_listen},
    {"Username", SEC_PROXY, 0, k_username},
    {"Password", SEC_PROXY, 0, k_password},
    {"Bypass", SEC_PROXY, 0, k_bypass},
    {"ConnectTimeout", SEC_PROXY, 0, k_connect_timeout},
    {"MaxConnections", SEC_PROXY, 0, k_max_connections},
    {"Allow", SEC_GATEWAY, KEY_REPEAT, k_allow},
    {"URL", SEC_PORTAL, 0, nt_config_k_url},
    {"Token", SEC_PORTAL, 0, nt_config_k_token},
    {"TokenFile", SEC_PORTAL, 0, nt_config_k_token_file},
    {"CA", SEC_PORTAL, 0, nt_config_k_ca},
    {"Fingerprint", SEC_PORTAL, 0, nt_config_k_fingerprint},
    {"Advertise", SEC_PORTAL, 0, nt_config_k_advertise},
    {"GiveUpAfter", SEC_PORTAL, 0, nt_config_k_give_up_after},
    {"Listen", SEC_METRICS, 0, nt_config_k_metrics_listen},
    {"AllowRemote", SEC_METRICS, 0, nt_config_k_metrics_allow_remote},
};

_Static_assert(ARRAY_SIZE(nt_config_keys) <= ARRAY_SIZE(((struct parser *)0)->seen),
	       "seen[] too small");

const size_t nt_config_key_count = ARRAY_SIZE(nt_config_keys);
