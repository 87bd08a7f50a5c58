/* SPDX-License-Identifier: MIT */
/* The portal role's logic (portal protocol sections 2-6), free of I/O.
 *
 * One thread owns a struct nt_portal and feeds it events: a connection
 * opened (already authenticated by the transport), a decoded frame, a
 * connection closed, the timer fired, a new configuration. Every event
 * carries the time (monotonic ms for timeouts, Unix seconds for grants);
 * nothing inside reads a clock or does I/O. Results leave through the ops
 * table: frames to send, connections to close, the one timer to (re)arm.
 * The state that must survive a restart (addresses, pre-shared keys,
 * grants) goes in and out as a struct nt_portal_state (portal_state.h).
 * core/portal/portal.md documents behaviour and decisions.
 */
#ifndef NT_CORE_PORTAL_PORTAL_H
#define NT_CORE_PORTAL_PORTAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/phx/phx.h"
#include "core/phx/pmsg.h"
#include "core/wg/allowedips.h"
#include "core/wg/key.h"

/* Limits of one configuration (nt_portal_model_check refuses more). */
#define NT_PORTAL_SITES_MAX	64
#define NT_PORTAL_GATEWAYS_MAX	256
#define NT_PORTAL_CLIENTS_MAX	4096
#define NT_PORTAL_RESOURCES_MAX 512
#define NT_PORTAL_GROUPS_MAX	16 /* groups of one client */
#define NT_PORTAL_ALLOW_MAX	32 /* Allow entries of one resource */
/* Runtime limits (counted in nt_portal_stats). */
#define NT_PORTAL_PENDING_MAX	 4096  /* gateway requests awaiting an ack */
#define NT_PORTAL_GRANTS_MAX	 65536 /* (client, gateway, resource) grants */
#define NT_PORTAL_ACK_TIMEOUT_MS 15000 /* section 5: offline without an ack */
#define NT_PORTAL_TOKEN_HASH_LEN 32    /* BLAKE2b-256 of a token, raw bytes */
/* After start, gateways are still reconnecting: a request none of whose
 * gateways has joined yet gets no answer (the client asks again every 2 s)
 * rather than offline, for this long. Counted in requests_deferred. */
#define NT_PORTAL_REJOIN_GRACE_MS NT_PORTAL_ACK_TIMEOUT_MS

#define NT_PORTAL_ID_MAX NT_PMSG_ID_MAX /* names of sites, gateways, clients */

/* The configuration the portal runs on. The caller owns the arrays;
 * nt_portal_create and nt_portal_reload copy them. Names are 1-64 bytes
 * without whitespace or control characters; a client's and a gateway's
 * name is its id on the wire. */
struct nt_portal_site {
	char id[NT_PORTAL_ID_MAX + 1];
	char name[NT_PMSG_NAME_MAX + 1];
};

struct nt_portal_gateway {
	char name[NT_PORTAL_ID_MAX + 1];
	char site[NT_PORTAL_ID_MAX + 1]; /* a site's id */
	uint8_t token_hash[NT_PORTAL_TOKEN_HASH_LEN];
};

struct nt_portal_client {
	char name[NT_PORTAL_ID_MAX + 1];
	uint8_t token_hash[NT_PORTAL_TOKEN_HASH_LEN];
	size_t n_groups;
	char groups[NT_PORTAL_GROUPS_MAX][NT_PORTAL_ID_MAX + 1];
};

/* res is what clients and gateways see (id, type, address, filters, and
 * sites with ids and names); allow holds client names or group names. */
struct nt_portal_resource {
	struct nt_pmsg_resource res;
	size_t n_allow;
	char allow[NT_PORTAL_ALLOW_MAX][NT_PORTAL_ID_MAX + 1];
};

struct nt_portal_model {
	/* ClientAddresses: clients and gateways get addresses from both. */
	struct wg_cidr pool4, pool6;
	int64_t access_ttl_s; /* AccessTTL */
	const struct nt_portal_site *sites;
	size_t n_sites;
	const struct nt_portal_gateway *gateways;
	size_t n_gateways;
	const struct nt_portal_client *clients;
	size_t n_clients;
	const struct nt_portal_resource *resources;
	size_t n_resources;
};

/* 0, or -EINVAL with a reason in err (a duplicate name, an unknown site,
 * a name with a space, pools of the wrong family, a limit exceeded). */
int nt_portal_model_check(const struct nt_portal_model *m, char *err, size_t errlen);

enum nt_portal_role { NT_PORTAL_CLIENT, NT_PORTAL_GATEWAY };

/* A connection the transport accepted: the token matched token_hash of
 * the client or gateway called name. */
struct nt_portal_conn_info {
	uint64_t conn;
	enum nt_portal_role role;
	char name[NT_PORTAL_ID_MAX + 1];
	uint8_t token_hash[NT_PORTAL_TOKEN_HASH_LEN];
	uint8_t public_key[NT_KEY_LEN];
	/* Gateways: "IPv4:PORT" or "[IPv6]:PORT", what clients dial. */
	char endpoint[NT_PMSG_ENDPOINT_MAX + 1];
};

/* Outputs. text is valid during the call only. */
struct nt_portal_ops {
	void (*send)(void *ctx, uint64_t conn, const char *text, size_t len);
	/* The portal forgets conn at once; the transport's later close event
	 * for it is ignored. status: a WebSocket close code. */
	void (*close)(void *ctx, uint64_t conn, uint16_t status);
	/* The one timer: fire nt_portal_on_timer after delay_ms; -1 cancels.
	 * Each call replaces the previous arming. */
	void (*timer)(void *ctx, int64_t delay_ms);
	void *ctx;
};

struct nt_portal_now {
	int64_t mono_ms;
	int64_t unix_s;
};

struct nt_portal_stats {
	uint64_t requests, granted, failed_offline, failed_forbidden, failed_not_found;
	uint64_t acks_late, refused_pending_max, refused_grants_max, send_too_big;
	uint64_t revoked, expired, token_revoked, requests_deferred;
};

struct nt_portal;
struct nt_portal_state;

/* Copies the model (checked first) and takes addresses, pre-shared keys
 * and unexpired grants from st (may be NULL) where they still fit the
 * model. -EINVAL (err set), -ENOMEM. */
int nt_portal_create(struct nt_portal **out, const struct nt_portal_model *m,
		     const struct nt_portal_state *st, const struct nt_portal_ops *ops,
		     struct nt_portal_now now, char *err, size_t errlen);
void nt_portal_destroy(struct nt_portal *p);

/* A conn id already open for the same identity is closed (1000) first:
 * the newer connection wins. */
void nt_portal_on_open(struct nt_portal *p, const struct nt_portal_conn_info *info,
		       struct nt_portal_now now);
void nt_portal_on_frame(struct nt_portal *p, uint64_t conn, const struct nt_phx_frame *f,
			struct nt_portal_now now);
void nt_portal_on_close(struct nt_portal *p, uint64_t conn, struct nt_portal_now now);
void nt_portal_on_timer(struct nt_portal *p, struct nt_portal_now now);
/* SIGHUP: the model is replaced only when it checks (else -EINVAL, err
 * set, nothing changed); the differences are pushed. */
int nt_portal_reload(struct nt_portal *p, const struct nt_portal_model *m, struct nt_portal_now now,
		     char *err, size_t errlen);

/* true once after anything the state file holds changed: then export and
 * write it (portal_state.h). */
bool nt_portal_take_dirty(struct nt_portal *p);
int nt_portal_export(const struct nt_portal *p, struct nt_portal_state *out);
const struct nt_portal_stats *nt_portal_stats(const struct nt_portal *p);

#endif
