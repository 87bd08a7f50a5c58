// SPDX-License-Identifier: MIT
/* Writing a config back as text: nt_config_format(). The output parses to
 * the same config, keys included, so it is as secret as the file. */
#include "core/config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>

#include <sodium.h>

struct out {
	char *buf;
	size_t size, len;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	size_t room = o->len < o->size ? o->size - o->len : 0;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

int nt_config_endpoint_format(const struct nt_config_endpoint *ep, char *buf, size_t size)
{
	return snprintf(buf, size,
			ep->is_literal && ep->ip.family == AF_INET6 ? "[%s]:%u" : "%s:%u", ep->host,
			ep->port);
}

static void put_endpoint(struct out *o, const char *key, const struct nt_config_endpoint *ep)
{
	char text[NT_CONFIG_HOST_MAX + 16];

	nt_config_endpoint_format(ep, text, sizeof(text));
	put(o, "%s = %s\n", key, text);
}

static void put_ip(struct out *o, const struct nt_config_ip *ip, bool brackets)
{
	char text[INET6_ADDRSTRLEN];

	inet_ntop(ip->family, ip->addr, text, sizeof(text));
	if (brackets && ip->family == AF_INET6)
		put(o, "[%s]", text);
	else
		put(o, "%s", text);
}

static void put_cidr(struct out *o, const struct wg_cidr *c)
{
	char text[WG_CIDR_STRLEN];

	if (wg_allowedips_format_cidr(c, text) == 0)
		put(o, "%s", text);
}

/* Long lists go 8 to a line to stay far below NT_CONFIG_MAX_LINE. */
#define PER_LINE 8

static void put_cidrs(struct out *o, const char *key, const struct wg_cidr *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		put(o, i % PER_LINE ? ", " : "%s = ", key);
		put_cidr(o, &c[i]);
		if (i % PER_LINE == PER_LINE - 1 || i + 1 == n)
			put(o, "\n");
	}
}

static void put_key(struct out *o, const char *name, const uint8_t key[NT_KEY_LEN])
{
	char text[NT_KEY_B64_LEN + 1];

	nt_key_to_base64(text, key);
	put(o, "%s = %s\n", name, text);
	sodium_memzero(text, sizeof(text));
}

static void put_allow(struct out *o, const struct nt_config_allow *rules, size_t n)
{
	static const char *const proto[] = {"any", "tcp", "udp"};

	for (size_t i = 0; i < n; i++) {
		const struct nt_config_allow *r = &rules[i];

		put(o, "Allow = ");
		put_cidr(o, &r->cidr);
		if (r->proto != NT_CONFIG_PROTO_ANY || r->nports)
			put(o, " %s", proto[r->proto]);
		for (unsigned int k = 0; k < r->nports; k++) {
			put(o, k ? "," : ":");
			if (r->ports[k].first == r->ports[k].last)
				put(o, "%u", r->ports[k].first);
			else
				put(o, "%u-%u", r->ports[k].first, r->ports[k].last);
		}
		put(o, "\n");
	}
}

static void put_peer(struct out *o, const struct nt_config_peer *peer)
{
	put(o, "\n[Peer]\n");
	put_key(o, "PublicKey", peer->public_key);
	if (peer->has_preshared_key)
		put_key(o, "PresharedKey", peer->preshared_key);
	if (peer->has_endpoint)
		put_endpoint(o, "Endpoint", &peer->endpoint);
	put_cidrs(o, "AllowedIPs", peer->allowed_ips, peer->allowed_ips_count);
	if (peer->persistent_keepalive)
		put(o, "PersistentKeepalive = %u\n", peer->persistent_keepalive);
	put_allow(o, peer->allow, peer->allow_count);
}

static void put_proxy(struct out *o, const struct nt_config *cfg)
{
	size_t i;

	put(o, "\n[Proxy]\n");
	for (i = 0; i < cfg->listen_count; i++) {
		put(o, i % PER_LINE ? ", " : "Listen = ");
		put_ip(o, &cfg->listen[i].ip, true);
		put(o, ":%u", cfg->listen[i].port);
		if (i % PER_LINE == PER_LINE - 1 || i + 1 == cfg->listen_count)
			put(o, "\n");
	}
	if (cfg->username[0])
		put(o, "Username = %s\n", cfg->username);
	if (cfg->password[0])
		put(o, "Password = %s\n", cfg->password);
	put(o, "Bypass = %s\n", cfg->bypass == NT_CONFIG_BYPASS_REJECT ? "reject" : "direct");
	if (cfg->connect_timeout_ms % 1000)
		put(o, "ConnectTimeout = %ums\n", (unsigned)cfg->connect_timeout_ms);
	else
		put(o, "ConnectTimeout = %us\n", (unsigned)(cfg->connect_timeout_ms / 1000));
	put(o, "MaxConnections = %u\n", (unsigned)cfg->max_connections);
}

static void put_portal(struct out *o, const struct nt_config_portal *pt)
{
	char fp[sodium_base64_ENCODED_LEN(sizeof(pt->fingerprint), sodium_base64_VARIANT_ORIGINAL)];

	put(o, "\n[Portal]\nURL = %s\n", pt->url);
	if (pt->token_file[0])
		put(o, "TokenFile = %s\n", pt->token_file);
	else
		put(o, "Token = %s\n", pt->token);
	if (pt->ca_file[0])
		put(o, "CA = %s\n", pt->ca_file);
	if (pt->has_fingerprint) {
		sodium_bin2base64(fp, sizeof(fp), pt->fingerprint, sizeof(pt->fingerprint),
				  sodium_base64_VARIANT_ORIGINAL);
		put(o, "Fingerprint = SHA256:%s\n", fp);
	}
	if (pt->has_advertise)
		put_endpoint(o, "Advertise", &pt->advertise);
	if (pt->give_up_after_s)
		put(o, "GiveUpAfter = %us\n", (unsigned)pt->give_up_after_s);
}

int nt_config_format(const struct nt_config *cfg, char *buf, size_t size, size_t *needed)
{
	struct out o = {buf, size, 0};
	size_t i;

	put(&o, "[Interface]\n");
	if (cfg->has_private_key)
		put_key(&o, "PrivateKey", cfg->private_key);
	put_cidrs(&o, "Address", cfg->addresses, cfg->address_count);
	for (i = 0; i < cfg->dns_server_count; i++) {
		put(&o, i ? ", " : "DNS = ");
		put_ip(&o, &cfg->dns_servers[i], false);
	}
	if (cfg->dns_server_count)
		put(&o, "\n");
	for (i = 0; i < cfg->dns_search_count; i++)
		put(&o, "%s%s", i ? ", " : "DNS = ", cfg->dns_search[i]);
	if (cfg->dns_search_count)
		put(&o, "\n");
	if (cfg->mtu)
		put(&o, "MTU = %u\n", cfg->mtu);
	if (cfg->has_listen_port)
		put(&o, "ListenPort = %u\n", cfg->listen_port);
	for (i = 0; i < cfg->peer_count; i++)
		put_peer(&o, &cfg->peers[i]);
	if (cfg->proxy_line)
		put_proxy(&o, cfg);
	if (cfg->gateway_line || cfg->gateway_allow_count) {
		put(&o, "\n[Gateway]\n");
		put_allow(&o, cfg->gateway_allow, cfg->gateway_allow_count);
	}
	if (cfg->portal.line)
		put_portal(&o, &cfg->portal);
	if (cfg->metrics_line) {
		put(&o, "\n[Metrics]\nListen = ");
		put_ip(&o, &cfg->metrics_listen.ip, true);
		put(&o, ":%u\nAllowRemote = %s\n", cfg->metrics_listen.port,
		    cfg->metrics_allow_remote ? "yes" : "no");
	}
	if (needed)
		*needed = o.len;
	if (o.len >= size) {
		if (size)
			buf[size - 1] = '\0';
		return -ENOSPC;
	}
	return 0;
}
