/* SPDX-License-Identifier: MIT */
/* Inside core/portal: the state the portal_*.c files share. */
#ifndef NT_CORE_PORTAL_PORTAL_INT_H
#define NT_CORE_PORTAL_PORTAL_INT_H

#include "core/portal/portal.h"
#include "core/portal/portal_state.h"

#define PT_MOD	   "portal"
#define PT_REF_LEN 32 /* hex characters of a create_authorization ref */
/* One encoded Resource: 16 filters, 8 sites, every string escaped. */
#define PT_RES_JSON_MAX 16384

/* An owned copy of a model. */
struct pt_model {
	struct wg_cidr pool4, pool6;
	int64_t access_ttl_s;
	struct nt_portal_site *sites;
	size_t n_sites;
	struct nt_portal_gateway *gateways;
	size_t n_gateways;
	struct nt_portal_client *clients;
	size_t n_clients;
	struct nt_portal_resource *resources;
	size_t n_resources;
};

struct pt_conn {
	struct nt_portal_conn_info info;
	bool joined;
};

struct pt_pending {
	char ref[PT_REF_LEN + 1];
	char client[NT_PORTAL_ID_MAX + 1];
	char gateway[NT_PORTAL_ID_MAX + 1];
	char resource[NT_PMSG_ID_MAX + 1];
	uint8_t client_key[NT_KEY_LEN];
	int64_t deadline_ms;
	int64_t expires_at;
};

struct nt_portal {
	struct nt_portal_ops ops;
	struct pt_model model;
	struct pt_conn *conns;
	size_t n_conns, cap_conns;
	struct nt_portal_addr_rec *addrs;
	size_t n_addrs, cap_addrs;
	struct nt_portal_psk_rec *psks; /* secret: wiped when dropped */
	size_t n_psks, cap_psks;
	struct nt_portal_grant_rec *grants;
	size_t n_grants, cap_grants;
	struct pt_pending *pending;
	size_t n_pending, cap_pending;
	int64_t timer_at;   /* the armed absolute deadline (mono ms), -1: none */
	int64_t started_ms; /* mono ms at creation: NT_PORTAL_REJOIN_GRACE_MS counts from it */
	bool dirty;
	struct nt_portal_stats stats;
	char *pay;	     /* NT_PHX_FRAME_MAX: one payload */
	char *frame;	     /* NT_PHX_FRAME_MAX: one frame */
	char *res_a, *res_b; /* PT_RES_JSON_MAX each: resources compared */
};

/* Arrays that grow to a bound: 0 or -ENOMEM. */
int pt_reserve(void **arr, size_t *cap, size_t want, size_t size);
/* The same for arrays of secrets: a new block, the old one wiped (realloc
 * would leave a copy behind); used elements are kept. */
int pt_reserve_secret(void **arr, size_t *cap, size_t used, size_t want, size_t size);

/* portal_model.c: the copy, lookups and the policy. */
int pt_model_copy(struct pt_model *dst, const struct nt_portal_model *src);
void pt_model_free(struct pt_model *m);
const struct nt_portal_client *pt_client(const struct pt_model *m, const char *name);
const struct nt_portal_gateway *pt_gateway(const struct pt_model *m, const char *name);
const struct nt_portal_resource *pt_resource(const struct pt_model *m, const char *id);
const struct nt_portal_site *pt_site(const struct pt_model *m, const char *id);
bool pt_allowed(const struct nt_portal_client *c, const struct nt_portal_resource *r);
bool pt_serves(const struct nt_portal_gateway *g, const struct nt_portal_resource *r);
/* A grant (client, gateway, resource) the model still permits. */
bool pt_grant_valid(const struct pt_model *m, const char *client, const char *gateway,
		    const char *resource);
/* Gives every identity of the model an address, keeps existing ones, drops
 * those of names that left. 0 or -ENOMEM / -ENOSPC (pool exhausted). */
int pt_addrs_sync(struct nt_portal *p);
void pt_iface(const struct nt_portal *p, enum nt_portal_role role, const char *name,
	      struct nt_pmsg_iface *out);
bool pt_res_equal(struct nt_portal *p, const struct nt_pmsg_resource *a,
		  const struct nt_pmsg_resource *b);

/* portal.c: connections and output. */
struct pt_conn *pt_conn_of(struct nt_portal *p, enum nt_portal_role role, const char *name);
/* Sends one push (ref null) to conn; false when it does not fit. */
bool pt_push(struct nt_portal *p, const struct pt_conn *c, const char *event, int len);
/* phx_reply to f: ok {} or, with reason, an error. */
void pt_reply(struct nt_portal *p, uint64_t conn, const struct nt_phx_frame *f, const char *reason);
/* Drops conn from the state (its gateway's pending requests fail). */
void pt_conn_gone(struct nt_portal *p, uint64_t conn);
void pt_push_failed(struct nt_portal *p, const char *client, const char *resource,
		    enum nt_pmsg_fail_reason reason);
void pt_push_revoked(struct nt_portal *p, const char *client, const char *resource);
void pt_push_reject(struct nt_portal *p, const char *gateway, const char *client,
		    const char *resource);

/* portal_auth.c */
void pt_request(struct nt_portal *p, struct pt_conn *c, const struct nt_phx_frame *f,
		struct nt_portal_now now);
void pt_ack(struct nt_portal *p, struct pt_conn *c, const struct nt_phx_frame *f);
/* The pair's pre-shared key, made when missing; NULL: -ENOMEM. */
const uint8_t *pt_psk(struct nt_portal *p, const char *client, const char *gateway);
void pt_fail_gateway_pending(struct nt_portal *p, const char *gateway);
void pt_expire(struct nt_portal *p, struct nt_portal_now now);
void pt_grant_remove(struct nt_portal *p, size_t i);
void pt_pending_remove(struct nt_portal *p, size_t i);
/* One grant as the gateway sees it (client record with its key). */
void pt_grant_msg(struct nt_portal *p, const struct nt_portal_grant_rec *g,
		  struct nt_pmsg_grant *out);

/* portal_reload.c */
void pt_reload_diff(struct nt_portal *p, const struct pt_model *old);

#endif
