// SPDX-License-Identifier: MIT
/* A running process reading its file again (config.h, "Reloading"): what
 * differs and needs a restart, and the settings it takes in place. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/config/config.h"

static bool ip_same(const struct nt_config_ip *a, const struct nt_config_ip *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* Field by field: a --listen override is not zeroed around its fields. */
static bool listen_same(const struct nt_config_listen *a, const struct nt_config_listen *b)
{
	return ip_same(&a->ip, &b->ip) && a->port == b->port;
}

static bool listens_same(const struct nt_config *a, const struct nt_config *b)
{
	if (a->listen_count != b->listen_count)
		return false;
	for (size_t i = 0; i < a->listen_count; i++)
		if (!listen_same(&a->listen[i], &b->listen[i]))
			return false;
	return true;
}

static bool cidrs_same(const struct wg_cidr *a, size_t na, const struct wg_cidr *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i].family != b[i].family || a[i].prefix_len != b[i].prefix_len ||
		    memcmp(a[i].addr, b[i].addr, sizeof(a[i].addr)) != 0)
			return false;
	return true;
}

static bool dns_same(const struct nt_config *a, const struct nt_config *b)
{
	if (a->dns_server_count != b->dns_server_count ||
	    a->dns_search_count != b->dns_search_count)
		return false;
	for (size_t i = 0; i < a->dns_server_count; i++)
		if (!ip_same(&a->dns_servers[i], &b->dns_servers[i]))
			return false;
	for (size_t i = 0; i < a->dns_search_count; i++)
		if (strcmp(a->dns_search[i], b->dns_search[i]) != 0)
			return false;
	return true;
}

bool nt_config_endpoint_same(const struct nt_config_endpoint *a, const struct nt_config_endpoint *b)
{
	return strcmp(a->host, b->host) == 0 && a->port == b->port;
}

static bool portal_same(const struct nt_config_portal *a, const struct nt_config_portal *b)
{
	return !a->line == !b->line && strcmp(a->url, b->url) == 0 &&
	       strcmp(a->token, b->token) == 0 && strcmp(a->ca_file, b->ca_file) == 0 &&
	       a->has_fingerprint == b->has_fingerprint &&
	       memcmp(a->fingerprint, b->fingerprint, sizeof(a->fingerprint)) == 0 &&
	       a->has_advertise == b->has_advertise &&
	       (!a->has_advertise || nt_config_endpoint_same(&a->advertise, &b->advertise)) &&
	       a->give_up_after_s == b->give_up_after_s;
}

static bool metrics_same(const struct nt_config *a, const struct nt_config *b)
{
	return !a->metrics_line == !b->metrics_line &&
	       listen_same(&a->metrics_listen, &b->metrics_listen) &&
	       a->metrics_allow_remote == b->metrics_allow_remote;
}

static void add_key(char *buf, size_t cap, size_t *n, bool same, const char *key)
{
	size_t len = strlen(buf);

	if (same)
		return;
	snprintf(buf + len, cap - len, "%s%s", len ? "," : "", key);
	(*n)++;
}

size_t nt_config_restart_keys(const struct nt_config *run, const struct nt_config *next, char *buf,
			      size_t cap)
{
	size_t n = 0;

	if (cap)
		buf[0] = '\0';
	/* Without a PrivateKey (a portal client) each start makes one. */
	add_key(buf, cap, &n,
		run->has_private_key == next->has_private_key &&
		    (!next->has_private_key ||
		     memcmp(run->private_key, next->private_key, NT_KEY_LEN) == 0),
		"PrivateKey");
	add_key(
	    buf, cap, &n,
	    cidrs_same(run->addresses, run->address_count, next->addresses, next->address_count),
	    "Address");
	add_key(buf, cap, &n, dns_same(run, next), "DNS");
	add_key(buf, cap, &n, run->mtu == next->mtu, "MTU");
	add_key(buf, cap, &n,
		run->has_listen_port == next->has_listen_port &&
		    run->listen_port == next->listen_port,
		"ListenPort");
	add_key(buf, cap, &n, listens_same(run, next), "Listen");
	add_key(buf, cap, &n, run->connect_timeout_ms == next->connect_timeout_ms,
		"ConnectTimeout");
	add_key(buf, cap, &n, run->max_connections == next->max_connections, "MaxConnections");
	add_key(buf, cap, &n, portal_same(&run->portal, &next->portal), "[Portal]");
	add_key(buf, cap, &n, metrics_same(run, next), "[Metrics]");
	return n;
}

bool nt_config_peer_same_tunnel(const struct nt_config_peer *a, const struct nt_config_peer *b)
{
	return a->has_preshared_key == b->has_preshared_key &&
	       memcmp(a->preshared_key, b->preshared_key, NT_KEY_LEN) == 0 &&
	       a->has_endpoint == b->has_endpoint &&
	       (!a->has_endpoint || nt_config_endpoint_same(&a->endpoint, &b->endpoint)) &&
	       a->persistent_keepalive == b->persistent_keepalive &&
	       cidrs_same(a->allowed_ips, a->allowed_ips_count, b->allowed_ips,
			  b->allowed_ips_count);
}

const struct nt_config_peer *nt_config_peer_find(const struct nt_config *cfg,
						 const uint8_t key[NT_KEY_LEN])
{
	for (size_t i = 0; i < cfg->peer_count; i++)
		if (memcmp(cfg->peers[i].public_key, key, NT_KEY_LEN) == 0)
			return &cfg->peers[i];
	return NULL;
}

#define SWAP(a, b)                                                                                 \
	do {                                                                                       \
		__typeof__(a) tmp_ = (a);                                                          \
		(a) = (b);                                                                         \
		(b) = tmp_;                                                                        \
	} while (0)

void nt_config_take_reloadable(struct nt_config *run, struct nt_config *next)
{
	char cred[NT_CONFIG_CREDENTIAL_MAX + 1];

	SWAP(run->peers, next->peers);
	SWAP(run->peer_count, next->peer_count);
	SWAP(run->peer_cap, next->peer_cap);
	SWAP(run->gateway_allow, next->gateway_allow);
	SWAP(run->gateway_allow_count, next->gateway_allow_count);
	SWAP(run->gateway_allow_cap, next->gateway_allow_cap);
	SWAP(run->gateway_line, next->gateway_line);
	SWAP(run->bypass, next->bypass);
	memcpy(cred, run->username, sizeof(cred));
	memcpy(run->username, next->username, sizeof(cred));
	memcpy(next->username, cred, sizeof(cred));
	memcpy(cred, run->password, sizeof(cred));
	memcpy(run->password, next->password, sizeof(cred));
	memcpy(next->password, cred, sizeof(cred));
	sodium_memzero(cred, sizeof(cred));
}
