/* SPDX-License-Identifier: MIT */
/* A reload's differences, pushed: revoked tokens first (those connections
 * get nothing else), then grants the new policy no longer permits, then
 * each client's resource list, then pending requests. p->model is already
 * the new model; old is the one it replaced. */
#include "core/portal/portal_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "platform/log.h"

static const uint8_t *hash_of(const struct pt_model *m, const struct nt_portal_conn_info *i)
{
	const struct nt_portal_client *c;
	const struct nt_portal_gateway *g;

	if (i->role == NT_PORTAL_CLIENT)
		return (c = pt_client(m, i->name)) ? c->token_hash : NULL;
	return (g = pt_gateway(m, i->name)) ? g->token_hash : NULL;
}

static void revoke_tokens(struct nt_portal *p)
{
	for (size_t i = p->n_conns; i-- > 0;) {
		struct pt_conn c = p->conns[i];
		const uint8_t *h = hash_of(&p->model, &c.info);

		if (h && !sodium_memcmp(h, c.info.token_hash, NT_PORTAL_TOKEN_HASH_LEN))
			continue;
		p->stats.token_revoked++;
		nt_info(PT_MOD, "event=token_revoked %s=%s",
			c.info.role == NT_PORTAL_CLIENT ? "cid" : "gid", c.info.name);
		pt_push(p, &c, "disconnect",
			nt_pmsg_disconnect_encode(p->pay, NT_PHX_FRAME_MAX, "token_revoked"));
		pt_conn_gone(p, c.info.conn);
		p->ops.close(p->ops.ctx, c.info.conn, 1008);
	}
}

static bool same_pair(const struct nt_portal_grant_rec *a, const struct nt_portal_grant_rec *b)
{
	return !strcmp(a->client, b->client) && !strcmp(a->resource, b->resource);
}

/* Grants the new model does not permit end (reject_access to the gateway,
 * authorization_revoked to the client once per resource, unless another
 * gateway's grant of it survives); surviving grants of a changed resource
 * get resource_updated, once per gateway. */
static void diff_grants(struct nt_portal *p, const struct pt_model *old)
{
	bool *bad = calloc(p->n_grants ? p->n_grants : 1, sizeof(*bad));

	if (!bad) {
		nt_error(PT_MOD, "event=reload_grants_failed err=ENOMEM");
		return;
	}
	for (size_t i = 0; i < p->n_grants; i++) {
		const struct nt_portal_grant_rec *g = &p->grants[i];

		bad[i] = !pt_grant_valid(&p->model, g->client, g->gateway, g->resource);
	}
	for (size_t i = 0; i < p->n_grants; i++) {
		const struct nt_portal_grant_rec *g = &p->grants[i];
		const struct nt_portal_resource *o = pt_resource(old, g->resource);
		const struct nt_portal_resource *r = pt_resource(&p->model, g->resource);
		bool first = true, kept = false;

		for (size_t k = 0; k < p->n_grants; k++) {
			if (k < i &&
			    (bad[i] ? same_pair(g, &p->grants[k])
				    : !strcmp(g->gateway, p->grants[k].gateway) &&
					  !strcmp(g->resource, p->grants[k].resource) && !bad[k]))
				first = false;
			kept |= !bad[k] && same_pair(g, &p->grants[k]);
		}
		if (!bad[i]) {
			struct pt_conn *gw = pt_conn_of(p, NT_PORTAL_GATEWAY, g->gateway);

			if (first && gw && o && !pt_res_equal(p, &o->res, &r->res)) {
				nt_info(PT_MOD, "event=resource_updated rid=%s gid=%s", g->resource,
					g->gateway);
				pt_push(p, gw, "resource_updated",
					nt_pmsg_resource_encode(p->pay, NT_PHX_FRAME_MAX, &r->res));
			}
			continue;
		}
		p->stats.revoked++;
		nt_info(PT_MOD, "event=grant_revoked cid=%s rid=%s gid=%s", g->client, g->resource,
			g->gateway);
		pt_push_reject(p, g->gateway, g->client, g->resource);
		if (first && !kept)
			pt_push_revoked(p, g->client, g->resource);
	}
	for (size_t i = p->n_grants; i-- > 0;)
		if (bad[i])
			pt_grant_remove(p, i);
	free(bad);
}

/* What one connected client sees change in its resource list. */
static void diff_client(struct nt_portal *p, const struct pt_model *old, struct pt_conn *c)
{
	const struct nt_portal_client *nc = pt_client(&p->model, c->info.name);
	const struct nt_portal_client *oc = pt_client(old, c->info.name);

	for (size_t i = 0; nc && i < p->model.n_resources; i++) {
		const struct nt_portal_resource *r = &p->model.resources[i];
		const struct nt_portal_resource *o = pt_resource(old, r->res.id);

		if (!pt_allowed(nc, r))
			continue;
		if (o && oc && pt_allowed(oc, o) && pt_res_equal(p, &o->res, &r->res))
			continue;
		nt_info(PT_MOD, "event=resource_created_or_updated cid=%s rid=%s", nc->name,
			r->res.id);
		pt_push(p, c, "resource_created_or_updated",
			nt_pmsg_resource_encode(p->pay, NT_PHX_FRAME_MAX, &r->res));
	}
	for (size_t i = 0; oc && i < old->n_resources; i++) {
		const struct nt_portal_resource *o = &old->resources[i];
		const struct nt_portal_resource *r = pt_resource(&p->model, o->res.id);

		if (!pt_allowed(oc, o) || (r && nc && pt_allowed(nc, r)))
			continue;
		nt_info(PT_MOD, "event=resource_deleted cid=%s rid=%s", oc->name, o->res.id);
		pt_push(p, c, "resource_deleted",
			nt_pmsg_resource_deleted_encode(p->pay, NT_PHX_FRAME_MAX, o->res.id));
	}
}

static void diff_pending(struct nt_portal *p)
{
	for (size_t i = p->n_pending; i-- > 0;) {
		struct pt_pending pd = p->pending[i];
		const struct nt_portal_client *c = pt_client(&p->model, pd.client);
		const struct nt_portal_resource *r = pt_resource(&p->model, pd.resource);
		enum nt_pmsg_fail_reason why;

		if (pt_grant_valid(&p->model, pd.client, pd.gateway, pd.resource))
			continue;
		why = !c || !r		  ? NT_PMSG_NOT_FOUND
		      : !pt_allowed(c, r) ? NT_PMSG_FORBIDDEN
					  : NT_PMSG_OFFLINE;
		pt_pending_remove(p, i);
		pt_push_failed(p, pd.client, pd.resource, why);
	}
}

static void drop_psks(struct nt_portal *p)
{
	size_t k = 0;

	for (size_t i = 0; i < p->n_psks; i++) {
		if (pt_client(&p->model, p->psks[i].client) &&
		    pt_gateway(&p->model, p->psks[i].gateway)) {
			if (k != i)
				p->psks[k] = p->psks[i];
			k++;
		}
	}
	if (k != p->n_psks) {
		sodium_memzero(&p->psks[k], (p->n_psks - k) * sizeof(*p->psks));
		p->n_psks = k;
		p->dirty = true;
	}
}

void pt_reload_diff(struct nt_portal *p, const struct pt_model *old)
{
	revoke_tokens(p);
	diff_grants(p, old);
	for (size_t i = 0; i < p->n_conns; i++)
		if (p->conns[i].joined && p->conns[i].info.role == NT_PORTAL_CLIENT)
			diff_client(p, old, &p->conns[i]);
	diff_pending(p);
	drop_psks(p);
}
