// SPDX-License-Identifier: MIT
/* The portal's configuration grammar (portal_config.h): its sections and
 * keys, run by the line loop of config.c. Names that Site, Sites and Allow
 * give are kept as references and resolved after the last line, so a
 * section may name one defined below it. */
#include "core/config/portal_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <sodium.h>

#include "core/config/config_parse_int.h"

enum ref_kind { REF_GATEWAY_SITE, REF_RESOURCE_SITE, REF_RESOURCE_ALLOW };

/* A name that must be resolved once the whole file is in. */
struct nt_portal_ref {
	enum ref_kind kind;
	size_t item; /* the gateway or resource */
	unsigned int line;
	const char *key;
	nt_portal_name name;
};

static const struct section_def sections[] = {
    {"Portal", SEC_P_PORTAL, false},	{"Site", SEC_P_SITE, true},
    {"Gateway", SEC_P_GATEWAY, true},	{"Client", SEC_P_CLIENT, true},
    {"Resource", SEC_P_RESOURCE, true},
};

static bool is_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NT_PORTAL_NAME_MAX)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static int bad_name(struct parser *p, const char *what, const char *v)
{
	return nt_config_fail_key(p, Q " is not a %s name (1..%d of A-Z a-z 0-9 . _ -)", QA(v),
				  what, NT_PORTAL_NAME_MAX);
}

/* ---- [Portal] ---- */

static int k_listen(struct parser *p, char *v)
{
	if (nt_config_parse_listen(v, &p->portal->listen) != 0)
		return nt_config_fail_key(p, Q " is not ADDRESS:PORT or [IPv6]:PORT", QA(v));
	return 0;
}

static int k_certificate(struct parser *p, char *v)
{
	return nt_config_parse_path(p, v, p->portal->certificate);
}

static int k_key(struct parser *p, char *v)
{
	return nt_config_parse_path(p, v, p->portal->key);
}

static int k_state(struct parser *p, char *v)
{
	return nt_config_parse_path(p, v, p->portal->state);
}

static bool host_bits_zero(const struct wg_cidr *c)
{
	unsigned int bytes = c->family == AF_INET ? 4 : 16;

	for (unsigned int i = 0; i < bytes; i++) {
		unsigned int keep = c->prefix_len > i * 8 ? c->prefix_len - i * 8 : 0;
		uint8_t mask = keep >= 8 ? 0xff : (uint8_t)(0xff00 >> keep);

		if (c->addr[i] & ~mask)
			return false;
	}
	return true;
}

/* A prefix with its host bits zero, or an error about the current key. */
static int prefix(struct parser *p, const char *v, struct wg_cidr *c)
{
	if (wg_allowedips_parse_cidr(v, c) != 0)
		return nt_config_fail_key(p, Q " is not an IP prefix", QA(v));
	if (!host_bits_zero(c))
		return nt_config_fail_key(p,
					  Q " has host bits set (the prefix's own address "
					    "ends in zeros)",
					  QA(v));
	return 0;
}

static int client_address_item(struct parser *p, char *v)
{
	struct nt_portal_config *cfg = p->portal;
	struct wg_cidr c;
	int ret = prefix(p, v, &c);

	if (ret)
		return ret;
	if (c.family == AF_INET && c.prefix_len > NT_PORTAL_CLIENT_V4_MAX_PREFIX)
		return nt_config_fail_key(p, Q " is too small: /%d at most", QA(v),
					  NT_PORTAL_CLIENT_V4_MAX_PREFIX);
	if (c.family == AF_INET6 && c.prefix_len > NT_PORTAL_CLIENT_V6_MAX_PREFIX)
		return nt_config_fail_key(p, Q " is too small: /%d at most", QA(v),
					  NT_PORTAL_CLIENT_V6_MAX_PREFIX);
	/* The defaults are filled in only after the last line. */
	if ((c.family == AF_INET ? cfg->client_v4 : cfg->client_v6).family)
		return nt_config_fail_key(p, "more than one IPv%d prefix",
					  c.family == AF_INET ? 4 : 6);
	if (c.family == AF_INET)
		cfg->client_v4 = c;
	else
		cfg->client_v6 = c;
	return 0;
}

static int k_client_addresses(struct parser *p, char *v)
{
	return nt_config_for_each_item(p, v, client_address_item);
}

static int k_access_ttl(struct parser *p, char *v)
{
	uint32_t t;

	switch (nt_config_parse_duration(v, NT_PORTAL_MAX_ACCESS_TTL, &t)) {
	case 0:
		break;
	case -ERANGE:
		goto range;
	default:
		goto bad;
	}
	if (t < NT_PORTAL_MIN_ACCESS_TTL)
		goto range;
	p->portal->access_ttl = t;
	return 0;
bad:
	return nt_config_fail_key(p, Q " is not a duration (30s, 15m, 8h, 1d)", QA(v));
range:
	return nt_config_fail_key(p, Q " is out of range (1s..30d)", QA(v));
}

/* ---- references, resolved in finish() ---- */

static int add_ref(struct parser *p, enum ref_kind kind, const char *v)
{
	struct nt_portal_config *cfg = p->portal;
	struct nt_portal_ref *r;

	if (nt_config_grow((void **)&cfg->refs, &cfg->ref_cap, cfg->ref_count, sizeof(*r)) != 0)
		return nt_config_fail_nomem(p);
	r = &cfg->refs[cfg->ref_count++];
	r->kind = kind;
	r->item = p->item;
	r->line = p->line;
	r->key = p->key->name;
	memcpy(r->name, v, strlen(v) + 1);
	return 0;
}

/* ---- [Gateway NAME] and [Client NAME] ---- */

static int k_gateway_site(struct parser *p, char *v)
{
	if (!is_name(v))
		return bad_name(p, "site", v);
	return add_ref(p, REF_GATEWAY_SITE, v);
}

static int token_hash(struct parser *p, const char *v, uint8_t out[NT_TOKEN_HASH_LEN])
{
	if (nt_token_hash_from_base64(out, v, strlen(v)) != 0)
		return nt_config_fail_key(p,
					  Q " is not a TokenHash (44 base64 characters, as "
					    "notun portal token prints)",
					  QA(v));
	return 0;
}

static int k_gateway_token_hash(struct parser *p, char *v)
{
	return token_hash(p, v, p->portal->gateways[p->item].token_hash);
}

static int k_client_token_hash(struct parser *p, char *v)
{
	return token_hash(p, v, p->portal->clients[p->item].token_hash);
}

static long find_name(const void *arr, size_t count, size_t stride, const char *name)
{
	for (size_t i = 0; i < count; i++) {
		if (strcmp((const char *)arr + i * stride, name) == 0)
			return (long)i;
	}
	return -1;
}

static int group_item(struct parser *p, char *v)
{
	struct nt_portal_config *cfg = p->portal;
	struct nt_portal_cfg_client *c = &cfg->clients[p->item];
	long g;

	if (!is_name(v))
		return bad_name(p, "group", v);
	if (c->group_count == NT_PORTAL_MAX_CLIENT_GROUPS)
		return nt_config_fail_key(p, "more than %d groups", NT_PORTAL_MAX_CLIENT_GROUPS);
	g = find_name(cfg->groups, cfg->group_count, sizeof(*cfg->groups), v);
	if (g < 0) {
		if (cfg->group_count == NT_PORTAL_MAX_GROUPS)
			return nt_config_fail_key(p, "more than %d groups in the file",
						  NT_PORTAL_MAX_GROUPS);
		if (nt_config_grow((void **)&cfg->groups, &cfg->group_cap, cfg->group_count,
				   sizeof(*cfg->groups)) != 0)
			return nt_config_fail_nomem(p);
		g = (long)cfg->group_count++;
		memcpy(cfg->groups[g], v, strlen(v) + 1);
	}
	for (size_t i = 0; i < c->group_count; i++) {
		if (c->groups[i] == (uint16_t)g)
			return nt_config_fail_key(p, Q " is listed twice", QA(v));
	}
	c->groups[c->group_count++] = (uint16_t)g;
	return 0;
}

static int k_groups(struct parser *p, char *v)
{
	return nt_config_for_each_item(p, v, group_item);
}

/* ---- [Resource NAME] ---- */

/* Labels of [A-Za-z0-9_-] and '?' (one character), 1..63 bytes, dot
 * separated; the first label may be "*" (one label) or "**" (any depth,
 * none included), and a wildcard needs a plain suffix after it. */
static bool is_pattern(const char *s)
{
	size_t n = strlen(s), label = 0, labels = 0, i = 0;

	if (n > NT_PORTAL_PATTERN_MAX)
		return false;
	if (strncmp(s, "**.", 3) == 0)
		i = 3;
	else if (strncmp(s, "*.", 2) == 0)
		i = 2;
	for (; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '?'))
			return false;
		if (label++ == 0)
			labels++;
		if (label > 63)
			return false;
	}
	return label > 0 && labels > 0;
}

static int k_address(struct parser *p, char *v)
{
	struct nt_portal_cfg_resource *r = &p->portal->resources[p->item];
	size_t n = strlen(v);

	if (strchr(v, '/') || nt_config_looks_like_ip(v)) {
		r->type = NT_PORTAL_RESOURCE_CIDR;
		return prefix(p, v, &r->cidr);
	}
	if (n > 1 && v[n - 1] == '.')
		v[--n] = '\0';
	if (!is_pattern(v))
		return nt_config_fail_key(p,
					  Q " is not an IP prefix or a DNS name pattern "
					    "(db.corp.internal, *.corp.internal, "
					    "**.corp.internal, db?.corp.internal)",
					  QA(v));
	r->type = NT_PORTAL_RESOURCE_DNS;
	for (size_t i = 0; i <= n; i++)
		r->pattern[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] | 0x20 : v[i]);
	return 0;
}

/* "tcp", "udp", "icmp", "tcp:PORT", "udp:FIRST-LAST". */
static int filter_item(struct parser *p, char *v)
{
	struct nt_portal_cfg_resource *r = &p->portal->resources[p->item];
	struct nt_portal_filter *f = &r->filters[r->filter_count];
	struct nt_config_port_range range = {0, 65535};
	char *ports = strchr(v, ':');
	int ret;

	if (r->filter_count == NT_PORTAL_MAX_FILTERS)
		return nt_config_fail_key(p, "more than %d filters", NT_PORTAL_MAX_FILTERS);
	if (ports)
		*ports++ = '\0';
	if (strcasecmp(v, "tcp") == 0) {
		f->proto = NT_PORTAL_PROTO_TCP;
	} else if (strcasecmp(v, "udp") == 0) {
		f->proto = NT_PORTAL_PROTO_UDP;
	} else if (strcasecmp(v, "icmp") == 0 && !ports) {
		f->proto = NT_PORTAL_PROTO_ICMP;
		range.last = 0;
	} else {
		if (ports)
			ports[-1] = ':';
		return nt_config_fail_key(p, Q " is not tcp[:PORTS], udp[:PORTS] or icmp", QA(v));
	}
	if (ports) {
		ret = nt_config_parse_port_range(p, nt_config_trim(ports), &range);
		if (ret)
			return ret;
	}
	f->first = range.first;
	f->last = range.last;
	r->filter_count++;
	return 0;
}

static int k_filters(struct parser *p, char *v)
{
	return nt_config_for_each_item(p, v, filter_item);
}

static int site_item(struct parser *p, char *v)
{
	if (!is_name(v))
		return bad_name(p, "site", v);
	return add_ref(p, REF_RESOURCE_SITE, v);
}

static int k_sites(struct parser *p, char *v)
{
	return nt_config_for_each_item(p, v, site_item);
}

static int allow_item(struct parser *p, char *v)
{
	if (!is_name(v))
		return bad_name(p, "client or group", v);
	return add_ref(p, REF_RESOURCE_ALLOW, v);
}

static int k_allow(struct parser *p, char *v)
{
	return nt_config_for_each_item(p, v, allow_item);
}

static const struct key_def keys[] = {
    {"Listen", SEC_P_PORTAL, 0, k_listen},
    {"Certificate", SEC_P_PORTAL, 0, k_certificate},
    {"Key", SEC_P_PORTAL, 0, k_key},
    {"State", SEC_P_PORTAL, 0, k_state},
    {"ClientAddresses", SEC_P_PORTAL, KEY_LIST, k_client_addresses},
    {"AccessTTL", SEC_P_PORTAL, 0, k_access_ttl},
    {"Site", SEC_P_GATEWAY, 0, k_gateway_site},
    {"TokenHash", SEC_P_GATEWAY, 0, k_gateway_token_hash},
    {"TokenHash", SEC_P_CLIENT, 0, k_client_token_hash},
    {"Groups", SEC_P_CLIENT, KEY_LIST, k_groups},
    {"Address", SEC_P_RESOURCE, 0, k_address},
    {"Filters", SEC_P_RESOURCE, KEY_LIST, k_filters},
    {"Sites", SEC_P_RESOURCE, KEY_LIST, k_sites},
    {"Allow", SEC_P_RESOURCE, KEY_LIST, k_allow},
};

_Static_assert(ARRAY_SIZE(keys) <= ARRAY_SIZE(((struct parser *)0)->seen), "seen[] too small");

/* ---- sections ---- */

struct kind {
	const char *name;
	size_t limit;
	size_t elem;
	size_t offset_arr, offset_count, offset_cap;
};

#define KIND(sec, field, one, lim)                                                                 \
	[sec] = {#field,                                                                           \
		 lim,                                                                              \
		 sizeof(*((struct nt_portal_config *)0)->field),                                   \
		 offsetof(struct nt_portal_config, field),                                         \
		 offsetof(struct nt_portal_config, one##_count),                                   \
		 offsetof(struct nt_portal_config, one##_cap)}

static const struct kind kinds[] = {
    KIND(SEC_P_SITE, sites, site, NT_PORTAL_MAX_SITES),
    KIND(SEC_P_GATEWAY, gateways, gateway, NT_PORTAL_MAX_GATEWAYS),
    KIND(SEC_P_CLIENT, clients, client, NT_PORTAL_MAX_CLIENTS),
    KIND(SEC_P_RESOURCE, resources, resource, NT_PORTAL_MAX_RESOURCES),
};

/* Every record starts with its name; the line follows it. */
struct record {
	nt_portal_name name;
	unsigned int line;
};

_Static_assert(offsetof(struct nt_portal_cfg_site, line) == offsetof(struct record, line) &&
		   offsetof(struct nt_portal_cfg_gateway, line) == offsetof(struct record, line) &&
		   offsetof(struct nt_portal_cfg_client, line) == offsetof(struct record, line) &&
		   offsetof(struct nt_portal_cfg_resource, line) == offsetof(struct record, line),
	       "records start with name and line");

static int section_open(struct parser *p, const char *name)
{
	const struct kind *k;
	char *base = (char *)p->portal;
	void **arr;
	size_t *count;
	struct record *rec;
	long dup;

	if (p->sec == SEC_P_PORTAL)
		return 0;
	k = &kinds[p->sec];
	arr = (void **)(base + k->offset_arr);
	count = (size_t *)(base + k->offset_count);
	if (!is_name(name))
		return nt_config_fail_at(p, p->line, NULL,
					 "'%.*s%s' is not a name (1..%d of A-Z a-z 0-9 . _ -)",
					 QA(name), NT_PORTAL_NAME_MAX);
	dup = find_name(*arr, *count, k->elem, name);
	if (dup >= 0)
		return nt_config_fail_at(
		    p, p->line, NULL, "a second [%s %s] (the first is at line %u)",
		    sections[p->sec - SEC_P_PORTAL].name, name,
		    ((struct record *)((char *)*arr + (size_t)dup * k->elem))->line);
	if (*count == k->limit)
		return nt_config_fail_at(p, p->line, NULL, "more than %zu %s", k->limit, k->name);
	if (nt_config_grow(arr, (size_t *)(base + k->offset_cap), *count, k->elem) != 0)
		return nt_config_fail_nomem(p);
	p->item = (*count)++;
	rec = (struct record *)((char *)*arr + p->item * k->elem);
	memcpy(rec->name, name, strlen(name) + 1);
	rec->line = p->line;
	nt_config_keys_reset(p, p->sec);
	return 0;
}

static int require(struct parser *p, const char *key, const char *kind, const char *name,
		   unsigned int line)
{
	if (nt_config_key_line(p, p->sec, key))
		return 0;
	return nt_config_fail_at(p, line, key, "[%s %s] has no %s", kind, name, key);
}

static int section_close(struct parser *p)
{
	struct nt_portal_config *cfg = p->portal;
	const struct nt_portal_cfg_gateway *gw;
	const struct nt_portal_cfg_client *cl;
	const struct nt_portal_cfg_resource *r;
	int ret = 0;

	switch (p->sec) {
	case SEC_P_GATEWAY:
		gw = &cfg->gateways[p->item];
		ret = require(p, "Site", "Gateway", gw->name, gw->line);
		if (!ret)
			ret = require(p, "TokenHash", "Gateway", gw->name, gw->line);
		break;
	case SEC_P_CLIENT:
		cl = &cfg->clients[p->item];
		ret = require(p, "TokenHash", "Client", cl->name, cl->line);
		break;
	case SEC_P_RESOURCE:
		r = &cfg->resources[p->item];
		/* Sites and Allow are checked once their names resolve: a list
		 * key may be set to nothing. */
		ret = require(p, "Address", "Resource", r->name, r->line);
		break;
	default:
		break;
	}
	return ret;
}

/* ---- after the last line ---- */

static int resolve_ref(struct parser *p, const struct nt_portal_ref *ref)
{
	struct nt_portal_config *cfg = p->portal;
	struct nt_portal_cfg_resource *r = &cfg->resources[ref->item];
	struct nt_portal_principal who = {false, 0};
	long i;

	switch (ref->kind) {
	case REF_GATEWAY_SITE:
		i = nt_portal_config_find_site(cfg, ref->name);
		if (i < 0)
			break;
		cfg->gateways[ref->item].site = (size_t)i;
		return 0;
	case REF_RESOURCE_SITE:
		i = nt_portal_config_find_site(cfg, ref->name);
		if (i < 0)
			break;
		for (size_t k = 0; k < r->site_count; k++) {
			if (r->sites[k] == (size_t)i)
				return nt_config_fail_at(p, ref->line, ref->key,
							 "'%s' is listed twice", ref->name);
		}
		if (r->site_count == NT_PORTAL_MAX_RESOURCE_SITES)
			return nt_config_fail_at(p, ref->line, ref->key, "more than %d sites",
						 NT_PORTAL_MAX_RESOURCE_SITES);
		r->sites[r->site_count++] = (size_t)i;
		return 0;
	case REF_RESOURCE_ALLOW:
		i = nt_portal_config_find_client(cfg, ref->name);
		if (i < 0) {
			i = find_name(cfg->groups, cfg->group_count, sizeof(*cfg->groups),
				      ref->name);
			who.is_group = true;
		}
		if (i < 0)
			return nt_config_fail_at(p, ref->line, ref->key,
						 "'%s' is neither a [Client] nor a group of one",
						 ref->name);
		who.index = (size_t)i;
		for (size_t k = 0; k < r->allow_count; k++) {
			if (r->allow[k].is_group == who.is_group && r->allow[k].index == who.index)
				return nt_config_fail_at(p, ref->line, ref->key,
							 "'%s' is listed twice", ref->name);
		}
		if (r->allow_count == NT_PORTAL_MAX_ALLOW)
			return nt_config_fail_at(p, ref->line, ref->key, "more than %d names",
						 NT_PORTAL_MAX_ALLOW);
		r->allow[r->allow_count++] = who;
		return 0;
	}
	return nt_config_fail_at(p, ref->line, ref->key, "'%s' is not a [Site]", ref->name);
}

/* One hash, one credential: a TokenHash given twice would let one token
 * stand for two names. */
static int unique_token_hashes(struct parser *p)
{
	const struct nt_portal_config *cfg = p->portal;
	size_t n = cfg->gateway_count + cfg->client_count;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *a = i < cfg->gateway_count
				       ? cfg->gateways[i].token_hash
				       : cfg->clients[i - cfg->gateway_count].token_hash;

		for (size_t k = i + 1; k < n; k++) {
			bool gw = k < cfg->gateway_count;
			const uint8_t *b = gw ? cfg->gateways[k].token_hash
					      : cfg->clients[k - cfg->gateway_count].token_hash;

			if (memcmp(a, b, NT_TOKEN_HASH_LEN) == 0)
				return nt_config_fail_at(
				    p,
				    gw ? cfg->gateways[k].line
				       : cfg->clients[k - cfg->gateway_count].line,
				    "TokenHash", "the same TokenHash as [%s %s]",
				    i < cfg->gateway_count ? "Gateway" : "Client",
				    i < cfg->gateway_count
					? cfg->gateways[i].name
					: cfg->clients[i - cfg->gateway_count].name);
		}
	}
	return 0;
}

static int finish(struct parser *p)
{
	struct nt_portal_config *cfg = p->portal;
	unsigned int cert = nt_config_key_line(p, SEC_P_PORTAL, "Certificate");
	unsigned int key = nt_config_key_line(p, SEC_P_PORTAL, "Key");
	int ret;

	ret = section_close(p);
	if (ret)
		return ret;
	if (cert && !key)
		return nt_config_fail_at(p, cert, "Key", "Certificate is set but Key is not");
	if (key && !cert)
		return nt_config_fail_at(p, key, "Certificate",
					 "Key is set but Certificate is not");
	cfg->self_signed = !cert;
	for (size_t i = 0; i < cfg->ref_count; i++) {
		ret = resolve_ref(p, &cfg->refs[i]);
		if (ret)
			return ret;
	}
	for (size_t i = 0; i < cfg->resource_count; i++) {
		const struct nt_portal_cfg_resource *r = &cfg->resources[i];

		if (!r->site_count)
			return nt_config_fail_at(p, r->line, "Sites", "[Resource %s] has no Sites",
						 r->name);
		if (!r->allow_count)
			return nt_config_fail_at(p, r->line, "Allow", "[Resource %s] has no Allow",
						 r->name);
	}
	for (size_t i = 0; i < cfg->client_count; i++) {
		if (find_name(cfg->groups, cfg->group_count, sizeof(*cfg->groups),
			      cfg->clients[i].name) >= 0)
			return nt_config_fail_at(p, cfg->clients[i].line, NULL,
						 "'%s' is both a client and a group",
						 cfg->clients[i].name);
	}
	ret = unique_token_hashes(p);
	if (ret)
		return ret;
	if (!cfg->listen.ip.family) {
		cfg->listen.ip.family = AF_INET;
		cfg->listen.ip.addr[0] = 127;
		cfg->listen.ip.addr[3] = 1;
		cfg->listen.port = NT_PORTAL_DEFAULT_PORT;
	}
	if (!cfg->client_v4.family)
		wg_allowedips_parse_cidr("100.64.0.0/11", &cfg->client_v4);
	if (!cfg->client_v6.family)
		wg_allowedips_parse_cidr("fd00:6e74::/64", &cfg->client_v6);
	if (!cfg->access_ttl)
		cfg->access_ttl = NT_PORTAL_DEFAULT_ACCESS_TTL;
	return 0;
}

/* portal.conf -> portal.crt, portal.key, portal.state */
static void default_paths(struct nt_portal_config *cfg, const char *filename)
{
	const char *base = filename ? strrchr(filename, '/') : NULL;
	size_t n;

	base = base ? base + 1 : (filename ? filename : "");
	n = strlen(base);
	if (n >= 5 && strcmp(base + n - 5, ".conf") == 0)
		n -= 5;
	if (n == 0 || n + sizeof(".state") > NT_CONFIG_PATH_MAX) {
		base = "portal";
		n = strlen(base);
	}
	snprintf(cfg->certificate, sizeof(cfg->certificate), "%.*s.crt", (int)n, base);
	snprintf(cfg->key, sizeof(cfg->key), "%.*s.key", (int)n, base);
	snprintf(cfg->state, sizeof(cfg->state), "%.*s.state", (int)n, base);
}

int nt_portal_config_parse(const char *text, size_t len, const char *filename,
			   struct nt_portal_config *out, struct nt_config_error *err)
{
	const struct grammar g = {sections,	ARRAY_SIZE(sections), keys,  ARRAY_SIZE(keys),
				  section_open, section_close,	      finish};
	int ret;

	memset(out, 0, sizeof(*out));
	if (err)
		memset(err, 0, sizeof(*err));
	nt_config_set_filename(out->filename, filename);
	default_paths(out, filename);
	ret = nt_config_run(&g, out->filename, NULL, out, err, text, len);
	free(out->refs);
	out->refs = NULL;
	out->ref_count = out->ref_cap = 0;
	if (ret)
		nt_portal_config_free(out);
	return ret;
}

int nt_portal_config_load(const char *path, struct nt_portal_config *out,
			  struct nt_config_error *err)
{
	char *text = NULL;
	size_t len = 0;
	unsigned int mode;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = nt_config_read_text(path, &text, &len, &mode, err);
	if (ret)
		return ret;
	ret = nt_portal_config_parse(text, len, path, out, err);
	free(text);
	if (ret)
		return ret;
	if (nt_config_resolve_path(path, out->certificate) != 0 ||
	    nt_config_resolve_path(path, out->key) != 0 ||
	    nt_config_resolve_path(path, out->state) != 0) {
		nt_portal_config_free(out);
		return nt_config_set_error(err, out->filename, 0, NULL,
					   "a file name is too long with the directory of %s",
					   path);
	}
	return 0;
}

long nt_portal_config_client_by_token(const struct nt_portal_config *cfg, const char *token,
				      size_t len)
{
	return nt_token_find(token, len, cfg->clients ? cfg->clients[0].token_hash : NULL,
			     cfg->client_count, sizeof(*cfg->clients));
}

long nt_portal_config_gateway_by_token(const struct nt_portal_config *cfg, const char *token,
				       size_t len)
{
	return nt_token_find(token, len, cfg->gateways ? cfg->gateways[0].token_hash : NULL,
			     cfg->gateway_count, sizeof(*cfg->gateways));
}

bool nt_portal_config_allows(const struct nt_portal_config *cfg,
			     const struct nt_portal_cfg_resource *res, size_t client)
{
	const struct nt_portal_cfg_client *c = &cfg->clients[client];

	for (size_t i = 0; i < res->allow_count; i++) {
		const struct nt_portal_principal *w = &res->allow[i];

		if (!w->is_group && w->index == client)
			return true;
		for (size_t k = 0; w->is_group && k < c->group_count; k++) {
			if (c->groups[k] == w->index)
				return true;
		}
	}
	return false;
}

long nt_portal_config_find_resource(const struct nt_portal_config *cfg, const char *name)
{
	return find_name(cfg->resources, cfg->resource_count, sizeof(*cfg->resources), name);
}

long nt_portal_config_find_site(const struct nt_portal_config *cfg, const char *name)
{
	return find_name(cfg->sites, cfg->site_count, sizeof(*cfg->sites), name);
}

long nt_portal_config_find_client(const struct nt_portal_config *cfg, const char *name)
{
	return find_name(cfg->clients, cfg->client_count, sizeof(*cfg->clients), name);
}

long nt_portal_config_find_gateway(const struct nt_portal_config *cfg, const char *name)
{
	return find_name(cfg->gateways, cfg->gateway_count, sizeof(*cfg->gateways), name);
}

void nt_portal_config_free(struct nt_portal_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->sites);
	free(cfg->gateways);
	free(cfg->clients);
	free(cfg->resources);
	free(cfg->groups);
	free(cfg->refs);
	memset(cfg, 0, sizeof(*cfg));
}
