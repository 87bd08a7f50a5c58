/* SPDX-License-Identifier: MIT */
/* The portal protocol's payloads (sections 4-7) as bounded C structs, with
 * an encoder to JSON and a validating decoder from JSON for each.
 *
 * Encoders write into buf[cap] and return the length (NUL-terminated) or
 * -ENOSPC. Decoders take the payload's JSON text and return 0, -EINVAL (not
 * the payload: a member missing, of the wrong type or out of its bounds),
 * -EILSEQ (not UTF-8), -EMSGSIZE (over NT_JSON_TEXT_MAX or too many tokens),
 * -E2BIG (more list entries than the caller's array holds) or -ENOMEM; on
 * failure *out is zeroed. Unknown members are ignored. Limits: protocol.md.
 * Structs holding a pre-shared key are secrets: the caller wipes them. */
#ifndef NT_CORE_PHX_PMSG_H
#define NT_CORE_PHX_PMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/wg/allowedips.h"
#include "core/wg/key.h"

#define NT_PMSG_ID_MAX		64  /* resource, site, client, gateway ids; refs */
#define NT_PMSG_NAME_MAX	64  /* display names */
#define NT_PMSG_DOMAIN_MAX	253 /* a DNS name or name pattern */
#define NT_PMSG_REASON_MAX	64  /* reasons of failures and disconnects */
#define NT_PMSG_ENDPOINT_MAX	64  /* "HOST:PORT" text of a gateway's endpoint */
#define NT_PMSG_FILTERS_MAX	16  /* per resource */
#define NT_PMSG_SITES_MAX	8   /* per resource */
#define NT_PMSG_GATEWAY_IDS_MAX 16  /* connected_gateway_ids of one request */
#define NT_PMSG_PROXY_IPS_MAX	8   /* proxy addresses of one name */

enum nt_pmsg_res_type {
	NT_PMSG_RES_UNKNOWN = 0, /* only id is set: clients ignore it */
	NT_PMSG_RES_CIDR,
	NT_PMSG_RES_DNS,
};

/* IP protocol numbers. */
enum nt_pmsg_proto { NT_PMSG_ICMP = 1, NT_PMSG_TCP = 6, NT_PMSG_UDP = 17 };

struct nt_pmsg_filter {
	uint8_t proto;	     /* enum nt_pmsg_proto */
	uint16_t port_start; /* 0-65535 when the filter has no range (always for icmp) */
	uint16_t port_end;
};

struct nt_pmsg_site {
	char id[NT_PMSG_ID_MAX + 1];
	char name[NT_PMSG_NAME_MAX + 1];
};

struct nt_pmsg_resource {
	char id[NT_PMSG_ID_MAX + 1];
	enum nt_pmsg_res_type type;
	char address[NT_PMSG_DOMAIN_MAX + 1]; /* as sent: the prefix or the pattern */
	struct wg_cidr cidr;		      /* cidr: the prefix, parsed */
	char name[NT_PMSG_NAME_MAX + 1];
	size_t n_filters; /* 0: every protocol and port */
	struct nt_pmsg_filter filters[NT_PMSG_FILTERS_MAX];
	size_t n_sites;
	struct nt_pmsg_site sites[NT_PMSG_SITES_MAX];
};

struct nt_pmsg_iface {
	uint8_t ipv4[4];
	uint8_t ipv6[16];
};

/* Portal -> gateway: who a grant is for. A secret (preshared_key). */
struct nt_pmsg_client {
	char id[NT_PMSG_ID_MAX + 1];
	uint8_t public_key[NT_KEY_LEN];
	uint8_t preshared_key[NT_KEY_LEN];
	uint8_t ipv4[4];
	uint8_t ipv6[16];
	char name[NT_PMSG_NAME_MAX + 1]; /* optional: "" when absent */
};

/* Client topic, portal -> client: init. The caller points resources at an
 * array of cap entries; entries of unknown type are kept (type UNKNOWN). */
struct nt_pmsg_client_init {
	struct nt_pmsg_iface iface;
	struct nt_pmsg_resource *resources;
	size_t cap, n;
};

/* A secret (preshared_key). */
struct nt_pmsg_auth_created {
	char resource_id[NT_PMSG_ID_MAX + 1];
	char gateway_id[NT_PMSG_ID_MAX + 1];
	uint8_t gateway_public_key[NT_KEY_LEN];
	char gateway_endpoint[NT_PMSG_ENDPOINT_MAX + 1]; /* "IPv4:PORT" or "[IPv6]:PORT" */
	int endpoint_family;				 /* parsed: AF_INET or AF_INET6 */
	uint8_t endpoint_addr[16];
	uint16_t endpoint_port;
	uint8_t gateway_ipv4[4];
	uint8_t gateway_ipv6[16];
	uint8_t preshared_key[NT_KEY_LEN];
	char site_id[NT_PMSG_ID_MAX + 1];
	int64_t expires_at; /* Unix seconds */
};

enum nt_pmsg_fail_reason { NT_PMSG_NOT_FOUND, NT_PMSG_FORBIDDEN, NT_PMSG_OFFLINE };

struct nt_pmsg_auth_failed {
	char resource_id[NT_PMSG_ID_MAX + 1];
	enum nt_pmsg_fail_reason reason;
};

/* Client -> portal. */
struct nt_pmsg_request_auth {
	char resource_id[NT_PMSG_ID_MAX + 1];
	size_t n_gateways;
	char connected_gateway_ids[NT_PMSG_GATEWAY_IDS_MAX][NT_PMSG_ID_MAX + 1];
};

/* Gateway topic: a grant (init's authorizations, create_authorization). */
struct nt_pmsg_grant {
	char ref[NT_PMSG_ID_MAX + 1]; /* create_authorization only: opaque */
	struct nt_pmsg_resource resource;
	struct nt_pmsg_client client;
	int64_t expires_at;
};

/* Portal -> gateway: init; the caller points authorizations at cap entries. */
struct nt_pmsg_gateway_init {
	struct nt_pmsg_iface iface;
	struct nt_pmsg_grant *authorizations;
	size_t cap, n;
};

struct nt_pmsg_reject_access {
	char client_id[NT_PMSG_ID_MAX + 1];
	char resource_id[NT_PMSG_ID_MAX + 1];
};

/* Section 7: the in-tunnel DNS messages. */
struct nt_pmsg_assigned_ips {
	char resource_id[NT_PMSG_ID_MAX + 1];
	char domain[NT_PMSG_DOMAIN_MAX + 1];
	size_t n_ips;
	struct {
		int family; /* AF_INET or AF_INET6 */
		uint8_t addr[16];
	} proxy_ips[NT_PMSG_PROXY_IPS_MAX];
};

struct nt_pmsg_domain_status {
	char resource_id[NT_PMSG_ID_MAX + 1];
	char domain[NT_PMSG_DOMAIN_MAX + 1];
	bool active;			     /* "active", else "failed" */
	char reason[NT_PMSG_REASON_MAX + 1]; /* optional: "" when absent */
};

/* Resource (section 4). */
int nt_pmsg_resource_encode(char *buf, size_t cap, const struct nt_pmsg_resource *r);
int nt_pmsg_resource_decode(const char *json, size_t len, struct nt_pmsg_resource *out);
/* A dns resource's address pattern matches name (section 4; case-insensitive,
 * one trailing dot of name ignored). Pure. */
bool nt_pmsg_name_match(const char *pattern, const char *name);
/* 0 when pattern is a valid dns resource address, else -EINVAL. */
int nt_pmsg_pattern_check(const char *pattern);
/* Whether a resource's filters let proto/port through. */
bool nt_pmsg_filters_allow(const struct nt_pmsg_resource *r, uint8_t proto, uint16_t port);

/* Client record (portal -> gateway). */
int nt_pmsg_client_encode(char *buf, size_t cap, const struct nt_pmsg_client *c);
int nt_pmsg_client_decode(const char *json, size_t len, struct nt_pmsg_client *out);

/* Client topic. */
int nt_pmsg_client_init_encode(char *buf, size_t cap, const struct nt_pmsg_client_init *m);
/* out->resources and out->cap are set by the caller and kept. */
int nt_pmsg_client_init_decode(const char *json, size_t len, struct nt_pmsg_client_init *out);
int nt_pmsg_auth_created_encode(char *buf, size_t cap, const struct nt_pmsg_auth_created *m);
int nt_pmsg_auth_created_decode(const char *json, size_t len, struct nt_pmsg_auth_created *out);
int nt_pmsg_auth_failed_encode(char *buf, size_t cap, const struct nt_pmsg_auth_failed *m);
int nt_pmsg_auth_failed_decode(const char *json, size_t len, struct nt_pmsg_auth_failed *out);
const char *nt_pmsg_fail_reason_name(enum nt_pmsg_fail_reason r);
/* authorization_revoked {"resource_id"} */
int nt_pmsg_auth_revoked_encode(char *buf, size_t cap, const char *resource_id);
int nt_pmsg_auth_revoked_decode(const char *json, size_t len, char out[NT_PMSG_ID_MAX + 1]);
/* resource_deleted: a bare JSON string, the id. */
int nt_pmsg_resource_deleted_encode(char *buf, size_t cap, const char *resource_id);
int nt_pmsg_resource_deleted_decode(const char *json, size_t len, char out[NT_PMSG_ID_MAX + 1]);
int nt_pmsg_request_auth_encode(char *buf, size_t cap, const struct nt_pmsg_request_auth *m);
int nt_pmsg_request_auth_decode(const char *json, size_t len, struct nt_pmsg_request_auth *out);
/* resource_created_or_updated (client) and resource_updated (gateway) carry
 * a Resource: nt_pmsg_resource_encode / _decode. */

/* Gateway topic. */
int nt_pmsg_gateway_init_encode(char *buf, size_t cap, const struct nt_pmsg_gateway_init *m);
/* out->authorizations and out->cap are set by the caller and kept. */
int nt_pmsg_gateway_init_decode(const char *json, size_t len, struct nt_pmsg_gateway_init *out);
/* create_authorization {"ref", "resource", "client", "expires_at"} */
int nt_pmsg_create_auth_encode(char *buf, size_t cap, const struct nt_pmsg_grant *m);
int nt_pmsg_create_auth_decode(const char *json, size_t len, struct nt_pmsg_grant *out);
/* The gateway's acknowledgement, authorization_created {"ref"}. */
int nt_pmsg_auth_ack_encode(char *buf, size_t cap, const char *ref);
int nt_pmsg_auth_ack_decode(const char *json, size_t len, char out[NT_PMSG_ID_MAX + 1]);
int nt_pmsg_reject_access_encode(char *buf, size_t cap, const struct nt_pmsg_reject_access *m);
int nt_pmsg_reject_access_decode(const char *json, size_t len, struct nt_pmsg_reject_access *out);

/* disconnect {"reason"}: any reason; token_expired and token_revoked are fatal. */
int nt_pmsg_disconnect_encode(char *buf, size_t cap, const char *reason);
int nt_pmsg_disconnect_decode(const char *json, size_t len, char out[NT_PMSG_REASON_MAX + 1]);
bool nt_pmsg_disconnect_fatal(const char *reason);

/* Section 7: bodies, and the packet that carries them. */
int nt_pmsg_assigned_ips_encode(char *buf, size_t cap, const struct nt_pmsg_assigned_ips *m);
int nt_pmsg_assigned_ips_decode(const char *json, size_t len, struct nt_pmsg_assigned_ips *out);
int nt_pmsg_domain_status_encode(char *buf, size_t cap, const struct nt_pmsg_domain_status *m);
int nt_pmsg_domain_status_decode(const char *json, size_t len, struct nt_pmsg_domain_status *out);

/* The client's proxy addresses for names of dns resources: 100.96.0.0/11
 * and fd00:2021:1111:8000::/107. */
#define NT_PMSG_PROXY_SLOTS (1u << 21) /* addresses of each range */

/* Whether addr (4 or 16 bytes) lies in family's proxy range. */
bool nt_pmsg_is_proxy_ip(int family, const uint8_t *addr);
/* The proxy address of index i in family's range (4 or 16 bytes into out;
 * i from 0, the range's first address and the IPv4 one's last skipped):
 * 0, or -ERANGE past the end, -EAFNOSUPPORT. */
int nt_pmsg_proxy_ip(int family, uint32_t i, uint8_t *out);
/* The index of a proxy address, or -1 when addr is not one. */
int64_t nt_pmsg_proxy_index(int family, const uint8_t *addr);

#define NT_PMSG_DNS_ASSIGNED_IPS  0
#define NT_PMSG_DNS_DOMAIN_STATUS 1
#define NT_PMSG_DNS_CTL_HDR	  8    /* after the IPv6 header */
#define NT_PMSG_DNS_CTL_MAX	  1280 /* the whole packet: IPv6's minimum MTU */
#define NT_PMSG_DNS_CTL_BODY_MAX  (NT_PMSG_DNS_CTL_MAX - 40 - NT_PMSG_DNS_CTL_HDR)

/* The control packet: IPv6 from :: to ::, next header 255, hop limit 0,
 * then the 8-byte header (type, seven zeros) and body. Returns the length,
 * -ENOSPC (cap) or -EMSGSIZE (body over NT_PMSG_DNS_CTL_BODY_MAX). */
int nt_pmsg_dns_ctl_build(uint8_t *buf, size_t cap, uint8_t type, const char *body,
			  size_t body_len);
/* true when pkt looks like one (the tunnel's cheap test before parsing). */
bool nt_pmsg_dns_ctl_is(const uint8_t *pkt, size_t len);
/* 0 with the type and the body inside pkt, or -EINVAL (not one, a nonzero
 * reserved byte, a length that disagrees, an unknown type, too long). */
int nt_pmsg_dns_ctl_parse(const uint8_t *pkt, size_t len, uint8_t *type, const char **body,
			  size_t *body_len);

#endif
