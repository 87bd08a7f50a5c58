/* SPDX-License-Identifier: MIT */
/* The portal's configuration file (`notun portal -c portal.conf`): the
 * same INI syntax as the wg-quick files (config.h), parsed by the same line
 * loop, with named sections:
 *
 *   [Portal]           Listen, Certificate, Key, State, ClientAddresses*,
 *                      AccessTTL (all optional)
 *   [Site NAME]        no keys
 *   [Gateway NAME]     Site, TokenHash (both required)
 *   [Client NAME]      TokenHash (required), Groups*
 *   [Resource NAME]    Address, Sites*, Allow* (required), Filters*
 *   (* list keys)
 *
 * NAME: 1..64 of [A-Za-z0-9._-], case-sensitive, unique per kind; it is the
 * id on the wire (resource_id, site id, gateway_id, client id). Group names
 * have the same syntax; a name cannot be both a client and a group.
 * References (Site, Sites, Allow) may point forward in the file.
 * core/config/config.md documents every key, default and limit.
 */
#ifndef NT_CORE_CONFIG_PORTAL_CONFIG_H
#define NT_CORE_CONFIG_PORTAL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config/config.h"
#include "core/config/token.h"

#define NT_PORTAL_NAME_MAX	       64
#define NT_PORTAL_PATTERN_MAX	       NT_CONFIG_HOST_MAX
#define NT_PORTAL_MAX_SITES	       256
#define NT_PORTAL_MAX_GATEWAYS	       1024
#define NT_PORTAL_MAX_CLIENTS	       4096
#define NT_PORTAL_MAX_RESOURCES	       1024
#define NT_PORTAL_MAX_GROUPS	       256 /* distinct group names in the file */
#define NT_PORTAL_MAX_CLIENT_GROUPS    16  /* Groups of one client */
#define NT_PORTAL_MAX_FILTERS	       16  /* Filters of one resource */
#define NT_PORTAL_MAX_RESOURCE_SITES   16  /* Sites of one resource */
#define NT_PORTAL_MAX_ALLOW	       64  /* Allow names of one resource */
#define NT_PORTAL_DEFAULT_PORT	       8443
#define NT_PORTAL_DEFAULT_ACCESS_TTL   (8 * 3600) /* seconds */
#define NT_PORTAL_MIN_ACCESS_TTL       1
#define NT_PORTAL_MAX_ACCESS_TTL       (30 * 86400)
#define NT_PORTAL_CLIENT_V4_MAX_PREFIX 30 /* ClientAddresses leaves room for clients */
#define NT_PORTAL_CLIENT_V6_MAX_PREFIX 120

typedef char nt_portal_name[NT_PORTAL_NAME_MAX + 1];

struct nt_portal_cfg_site {
	nt_portal_name name;
	unsigned int line;
};

/* Each record starts with its name and the line of its header. */
struct nt_portal_cfg_gateway {
	nt_portal_name name;
	unsigned int line;
	size_t site; /* index into sites */
	uint8_t token_hash[NT_TOKEN_HASH_LEN];
};

struct nt_portal_cfg_client {
	nt_portal_name name;
	unsigned int line;
	uint8_t token_hash[NT_TOKEN_HASH_LEN];
	uint16_t groups[NT_PORTAL_MAX_CLIENT_GROUPS]; /* indexes into groups */
	size_t group_count;
};

enum nt_portal_resource_type { NT_PORTAL_RESOURCE_CIDR, NT_PORTAL_RESOURCE_DNS };

/* The wire's filter protocols (portal-protocol.md section 4). */
enum nt_portal_proto { NT_PORTAL_PROTO_TCP, NT_PORTAL_PROTO_UDP, NT_PORTAL_PROTO_ICMP };

struct nt_portal_filter {
	enum nt_portal_proto proto;
	uint16_t first, last; /* tcp/udp: inclusive, 0..65535 when no range; icmp: 0 */
};

/* One name of Allow: a client or a group. */
struct nt_portal_principal {
	bool is_group;
	size_t index; /* into clients or groups */
};

struct nt_portal_cfg_resource {
	nt_portal_name name;
	unsigned int line;
	enum nt_portal_resource_type type;
	struct wg_cidr cidr;			 /* type CIDR: host bits zero */
	char pattern[NT_PORTAL_PATTERN_MAX + 1]; /* type DNS: lower case, no final dot */
	struct nt_portal_filter filters[NT_PORTAL_MAX_FILTERS];
	size_t filter_count; /* 0: every protocol and port */
	size_t sites[NT_PORTAL_MAX_RESOURCE_SITES];
	size_t site_count; /* at least 1 */
	struct nt_portal_principal allow[NT_PORTAL_MAX_ALLOW];
	size_t allow_count; /* at least 1 */
};

struct nt_portal_ref; /* private to the parser */

struct nt_portal_config {
	char filename[NT_CONFIG_FILE_MAX];

	/* [Portal] */
	struct nt_config_listen listen;		  /* default 127.0.0.1:8443 */
	char certificate[NT_CONFIG_PATH_MAX + 1]; /* default NAME.crt */
	char key[NT_CONFIG_PATH_MAX + 1];	  /* default NAME.key */
	bool self_signed;			  /* neither was set: create them */
	char state[NT_CONFIG_PATH_MAX + 1];	  /* default NAME.state */
	struct wg_cidr client_v4, client_v6;	  /* 100.64.0.0/11, fd00:6e74::/64 */
	uint32_t access_ttl;			  /* seconds, default 8 h */

	/* Named sections, in file order; each array has count entries. */
	struct nt_portal_cfg_site *sites;
	size_t site_count;
	struct nt_portal_cfg_gateway *gateways;
	size_t gateway_count;
	struct nt_portal_cfg_client *clients;
	size_t client_count;
	struct nt_portal_cfg_resource *resources;
	size_t resource_count;
	nt_portal_name *groups; /* every name a Groups key lists, once */
	size_t group_count;

	/* private to the parser */
	size_t site_cap, gateway_cap, client_cap, resource_cap, group_cap;
	struct nt_portal_ref *refs;
	size_t ref_count, ref_cap;
};

/* Parses len bytes of text. filename names the file in messages, and its
 * last component without ".conf" names the default Certificate, Key and
 * State files (portal.conf: portal.crt, portal.key, portal.state). Paths
 * are kept as written. 0 (free out with nt_portal_config_free), -EINVAL
 * (err filled) or -ENOMEM. */
int nt_portal_config_parse(const char *text, size_t len, const char *filename,
			   struct nt_portal_config *out, struct nt_config_error *err);

/* Reads path and parses it; relative Certificate, Key and State are then
 * taken relative to path's directory. 0, -EINVAL, -ENOMEM or the negative
 * errno of reading (err filled). */
int nt_portal_config_load(const char *path, struct nt_portal_config *out,
			  struct nt_config_error *err);

/* The client / gateway whose TokenHash the presented token hashes to, or
 * -1. Constant time in the token and in which entry matched. */
long nt_portal_config_client_by_token(const struct nt_portal_config *cfg, const char *token,
				      size_t len);
long nt_portal_config_gateway_by_token(const struct nt_portal_config *cfg, const char *token,
				       size_t len);

/* Whether the resource's Allow names the client or one of its groups. */
bool nt_portal_config_allows(const struct nt_portal_config *cfg,
			     const struct nt_portal_cfg_resource *res, size_t client);

/* Index of the named resource / site / client / gateway, or -1. */
long nt_portal_config_find_resource(const struct nt_portal_config *cfg, const char *name);
long nt_portal_config_find_site(const struct nt_portal_config *cfg, const char *name);
long nt_portal_config_find_client(const struct nt_portal_config *cfg, const char *name);
long nt_portal_config_find_gateway(const struct nt_portal_config *cfg, const char *name);

void nt_portal_config_free(struct nt_portal_config *cfg);

#endif
