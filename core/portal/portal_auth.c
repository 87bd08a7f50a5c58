/* SPDX-License-Identifier: MIT */
/* Authorization (sections 5 and 6): request_authorization, the choice of a
 * gateway, create_authorization, the gateway's ack, the 15 s timeout,
 * expiry, pre-shared keys per (client, gateway) pair. */
#include "core/portal/portal_int.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/log.h"
#include "platform/random.h"

static void copy_id(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src);
}

const uint8_t *pt_psk(struct nt_portal *p, const char *client, const char *gateway)
{
	struct nt_portal_psk_rec *k;

	for (size_t i = 0; i < p->n_psks; i++)
		if (!strcmp(p->psks[i].client, client) && !strcmp(p->psks[i].gateway, gateway))
			return p->psks[i].psk;
	if (pt_reserve_secret((void **)&p->psks, &p->cap_psks, p->n_psks, p->n_psks + 1,
			      sizeof(*p->psks)))
		return NULL;
	k = &p->psks[p->n_psks++];
	copy_id(k->client, sizeof(k->client), client);
	copy_id(k->gateway, sizeof(k->gateway), gateway);
	nt_random_bytes(k->psk, sizeof(k->psk));
	p->dirty = true;
	return k->psk;
}

void pt_grant_msg(struct nt_portal *p, const struct nt_portal_grant_rec *g,
		  struct nt_pmsg_grant *out)
{
	const struct nt_portal_resource *r = pt_resource(&p->model, g->resource);
	const uint8_t *psk = pt_psk(p, g->client, g->gateway);
	struct nt_pmsg_iface ifc;

	memset(out, 0, sizeof(*out));
	if (r)
		out->resource = r->res;
	copy_id(out->client.id, sizeof(out->client.id), g->client);
	copy_id(out->client.name, sizeof(out->client.name), g->client);
	memcpy(out->client.public_key, g->client_key, NT_KEY_LEN);
	if (psk)
		memcpy(out->client.preshared_key, psk, NT_KEY_LEN);
	pt_iface(p, NT_PORTAL_CLIENT, g->client, &ifc);
	memcpy(out->client.ipv4, ifc.ipv4, 4);
	memcpy(out->client.ipv6, ifc.ipv6, 16);
	out->expires_at = g->expires_at;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Distinct clients with a grant or a pending request at gateway. */
static size_t load_of(struct nt_portal *p, const char *gateway)
{
	const char **names = malloc((p->n_grants + p->n_pending + 1) * sizeof(*names));
	size_t n = 0, distinct = 0;

	if (!names)
		return SIZE_MAX;
	for (size_t i = 0; i < p->n_grants; i++)
		if (!strcmp(p->grants[i].gateway, gateway))
			names[n++] = p->grants[i].client;
	for (size_t i = 0; i < p->n_pending; i++)
		if (!strcmp(p->pending[i].gateway, gateway))
			names[n++] = p->pending[i].client;
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++)
		distinct += i == 0 || strcmp(names[i], names[i - 1]);
	free(names);
	return distinct;
}

/* Among the joined gateways of the resource's sites: the first the client
 * named as connected, else the one serving the fewest clients (the first
 * in configuration order on a tie). */
static struct pt_conn *choose(struct nt_portal *p, const struct nt_portal_resource *r,
			      const struct nt_pmsg_request_auth *m)
{
	struct pt_conn *best = NULL;
	size_t best_load = SIZE_MAX;

	for (size_t i = 0; i < m->n_gateways; i++) {
		const struct nt_portal_gateway *g =
		    pt_gateway(&p->model, m->connected_gateway_ids[i]);
		struct pt_conn *c = g ? pt_conn_of(p, NT_PORTAL_GATEWAY, g->name) : NULL;

		if (c && pt_serves(g, r))
			return c;
	}
	for (size_t i = 0; i < p->model.n_gateways; i++) {
		const struct nt_portal_gateway *g = &p->model.gateways[i];
		struct pt_conn *c = pt_conn_of(p, NT_PORTAL_GATEWAY, g->name);
		size_t load;

		if (!c || !pt_serves(g, r))
			continue;
		load = load_of(p, g->name);
		if (!best || load < best_load) {
			best = c;
			best_load = load;
		}
	}
	return best;
}

static void fail(struct nt_portal *p, const char *client, const char *resource,
		 enum nt_pmsg_fail_reason reason)
{
	if (reason == NT_PMSG_OFFLINE)
		p->stats.failed_offline++;
	else if (reason == NT_PMSG_FORBIDDEN)
		p->stats.failed_forbidden++;
	else
		p->stats.failed_not_found++;
	pt_push_failed(p, client, resource, reason);
}

static void make_ref(char out[PT_REF_LEN + 1])
{
	uint8_t raw[PT_REF_LEN / 2];

	nt_random_bytes(raw, sizeof(raw));
	sodium_bin2hex(out, PT_REF_LEN + 1, raw, sizeof(raw));
}

/* Sends create_authorization for a new pending request. */
static void create(struct nt_portal *p, struct pt_conn *gw, const struct pt_pending *pd)
{
	struct nt_portal_grant_rec g = {.expires_at = pd->expires_at};
	struct nt_pmsg_grant m;

	copy_id(g.client, sizeof(g.client), pd->client);
	copy_id(g.gateway, sizeof(g.gateway), pd->gateway);
	copy_id(g.resource, sizeof(g.resource), pd->resource);
	memcpy(g.client_key, pd->client_key, NT_KEY_LEN);
	pt_grant_msg(p, &g, &m);
	copy_id(m.ref, sizeof(m.ref), pd->ref);
	pt_push(p, gw, "create_authorization",
		nt_pmsg_create_auth_encode(p->pay, NT_PHX_FRAME_MAX, &m));
	sodium_memzero(&m, sizeof(m));
}

/* A restarted portal learns which gateways are online only as they
 * reconnect (their backoff ran while it was away): until then a resource
 * one of them serves is not yet offline. */
static bool rejoining(const struct nt_portal *p, const struct nt_portal_resource *r,
		      struct nt_portal_now now)
{
	if (now.mono_ms - p->started_ms >= NT_PORTAL_REJOIN_GRACE_MS)
		return false;
	for (size_t i = 0; i < p->model.n_gateways; i++)
		if (pt_serves(&p->model.gateways[i], r))
			return true;
	return false;
}

void pt_request(struct nt_portal *p, struct pt_conn *c, const struct nt_phx_frame *f,
		struct nt_portal_now now)
{
	struct nt_pmsg_request_auth m;
	const struct nt_portal_client *cl = pt_client(&p->model, c->info.name);
	const struct nt_portal_resource *r;
	struct pt_conn *gw;
	struct pt_pending *pd;

	if (nt_pmsg_request_auth_decode(f->payload, f->payload_len, &m)) {
		nt_info(PT_MOD, "event=invalid_payload cid=%s msg=%s", c->info.name, f->event);
		pt_reply(p, c->info.conn, f, "invalid_payload");
		return;
	}
	pt_reply(p, c->info.conn, f, NULL);
	p->stats.requests++;
	r = pt_resource(&p->model, m.resource_id);
	if (!r || !cl) {
		fail(p, c->info.name, m.resource_id, NT_PMSG_NOT_FOUND);
		return;
	}
	if (!pt_allowed(cl, r)) {
		fail(p, c->info.name, m.resource_id, NT_PMSG_FORBIDDEN);
		return;
	}
	for (size_t i = 0; i < p->n_pending; i++)
		if (!strcmp(p->pending[i].client, cl->name) &&
		    !strcmp(p->pending[i].resource, r->res.id)) {
			nt_debug(PT_MOD, "event=request_pending cid=%s rid=%s gid=%s", cl->name,
				 r->res.id, p->pending[i].gateway);
			return;
		}
	gw = choose(p, r, &m);
	if (!gw && rejoining(p, r, now)) {
		p->stats.requests_deferred++;
		nt_debug(PT_MOD, "event=request_deferred cid=%s rid=%s reason=rejoin_grace",
			 cl->name, r->res.id);
		return;
	}
	if (!gw) {
		fail(p, cl->name, r->res.id, NT_PMSG_OFFLINE);
		return;
	}
	if (p->n_pending >= NT_PORTAL_PENDING_MAX ||
	    pt_reserve((void **)&p->pending, &p->cap_pending, p->n_pending + 1,
		       sizeof(*p->pending)) ||
	    !pt_psk(p, cl->name, gw->info.name)) {
		p->stats.refused_pending_max++;
		nt_warn(PT_MOD, "event=pending_full cid=%s rid=%s limit=%d", cl->name, r->res.id,
			NT_PORTAL_PENDING_MAX);
		fail(p, cl->name, r->res.id, NT_PMSG_OFFLINE);
		return;
	}
	pd = &p->pending[p->n_pending++];
	memset(pd, 0, sizeof(*pd));
	make_ref(pd->ref);
	copy_id(pd->client, sizeof(pd->client), cl->name);
	copy_id(pd->gateway, sizeof(pd->gateway), gw->info.name);
	copy_id(pd->resource, sizeof(pd->resource), r->res.id);
	memcpy(pd->client_key, c->info.public_key, NT_KEY_LEN);
	pd->deadline_ms = now.mono_ms + NT_PORTAL_ACK_TIMEOUT_MS;
	pd->expires_at = now.unix_s + p->model.access_ttl_s;
	nt_info(PT_MOD, "event=create_authorization cid=%s rid=%s gid=%s expires_at=%lld",
		pd->client, pd->resource, pd->gateway, (long long)pd->expires_at);
	create(p, gw, pd);
}

void pt_pending_remove(struct nt_portal *p, size_t i)
{
	p->pending[i] = p->pending[--p->n_pending];
}

void pt_grant_remove(struct nt_portal *p, size_t i)
{
	p->grants[i] = p->grants[--p->n_grants];
	p->dirty = true;
}

static bool grant_put(struct nt_portal *p, const struct pt_pending *pd)
{
	struct nt_portal_grant_rec *g = NULL;

	for (size_t i = 0; i < p->n_grants && !g; i++)
		if (!strcmp(p->grants[i].client, pd->client) &&
		    !strcmp(p->grants[i].gateway, pd->gateway) &&
		    !strcmp(p->grants[i].resource, pd->resource))
			g = &p->grants[i];
	if (!g) {
		if (p->n_grants >= NT_PORTAL_GRANTS_MAX ||
		    pt_reserve((void **)&p->grants, &p->cap_grants, p->n_grants + 1,
			       sizeof(*p->grants)))
			return false;
		g = &p->grants[p->n_grants++];
		memset(g, 0, sizeof(*g));
		copy_id(g->client, sizeof(g->client), pd->client);
		copy_id(g->gateway, sizeof(g->gateway), pd->gateway);
		copy_id(g->resource, sizeof(g->resource), pd->resource);
	}
	memcpy(g->client_key, pd->client_key, NT_KEY_LEN);
	g->expires_at = pd->expires_at;
	p->dirty = true;
	return true;
}

static void push_created(struct nt_portal *p, struct pt_conn *gw, const struct pt_pending *pd)
{
	struct pt_conn *c = pt_conn_of(p, NT_PORTAL_CLIENT, pd->client);
	const struct nt_portal_gateway *g = pt_gateway(&p->model, pd->gateway);
	const uint8_t *psk = pt_psk(p, pd->client, pd->gateway);
	struct nt_pmsg_auth_created m = {.expires_at = pd->expires_at};
	struct nt_pmsg_iface ifc;

	if (!c || !g || !psk)
		return;
	copy_id(m.resource_id, sizeof(m.resource_id), pd->resource);
	copy_id(m.gateway_id, sizeof(m.gateway_id), pd->gateway);
	memcpy(m.gateway_public_key, gw->info.public_key, NT_KEY_LEN);
	copy_id(m.gateway_endpoint, sizeof(m.gateway_endpoint), gw->info.endpoint);
	pt_iface(p, NT_PORTAL_GATEWAY, pd->gateway, &ifc);
	memcpy(m.gateway_ipv4, ifc.ipv4, 4);
	memcpy(m.gateway_ipv6, ifc.ipv6, 16);
	memcpy(m.preshared_key, psk, NT_KEY_LEN);
	copy_id(m.site_id, sizeof(m.site_id), g->site);
	pt_push(p, c, "authorization_created",
		nt_pmsg_auth_created_encode(p->pay, NT_PHX_FRAME_MAX, &m));
	sodium_memzero(&m, sizeof(m));
}

void pt_ack(struct nt_portal *p, struct pt_conn *c, const struct nt_phx_frame *f)
{
	char ref[NT_PMSG_ID_MAX + 1];
	struct pt_pending pd;
	size_t i;

	if (nt_pmsg_auth_ack_decode(f->payload, f->payload_len, ref)) {
		nt_info(PT_MOD, "event=invalid_payload gid=%s msg=%s", c->info.name, f->event);
		pt_reply(p, c->info.conn, f, "invalid_payload");
		return;
	}
	for (i = 0; i < p->n_pending; i++)
		if (!strcmp(p->pending[i].ref, ref) && !strcmp(p->pending[i].gateway, c->info.name))
			break;
	if (i == p->n_pending) {
		p->stats.acks_late++;
		nt_info(PT_MOD, "event=invalid_ref gid=%s", c->info.name);
		pt_reply(p, c->info.conn, f, "invalid_ref");
		return;
	}
	pd = p->pending[i];
	pt_pending_remove(p, i);
	pt_reply(p, c->info.conn, f, NULL);
	if (!grant_put(p, &pd)) {
		p->stats.refused_grants_max++;
		nt_warn(PT_MOD, "event=grants_full cid=%s rid=%s gid=%s limit=%d", pd.client,
			pd.resource, pd.gateway, NT_PORTAL_GRANTS_MAX);
		pt_push_reject(p, pd.gateway, pd.client, pd.resource);
		fail(p, pd.client, pd.resource, NT_PMSG_OFFLINE);
		return;
	}
	p->stats.granted++;
	nt_info(PT_MOD, "event=authorization_created cid=%s rid=%s gid=%s expires_at=%lld",
		pd.client, pd.resource, pd.gateway, (long long)pd.expires_at);
	push_created(p, c, &pd);
}

void pt_fail_gateway_pending(struct nt_portal *p, const char *gateway)
{
	for (size_t i = p->n_pending; i-- > 0;) {
		struct pt_pending pd = p->pending[i];

		if (strcmp(pd.gateway, gateway))
			continue;
		pt_pending_remove(p, i);
		nt_info(PT_MOD, "event=gateway_gone cid=%s rid=%s gid=%s", pd.client, pd.resource,
			pd.gateway);
		fail(p, pd.client, pd.resource, NT_PMSG_OFFLINE);
	}
}

void pt_expire(struct nt_portal *p, struct nt_portal_now now)
{
	for (size_t i = p->n_pending; i-- > 0;) {
		struct pt_pending pd = p->pending[i];

		if (pd.deadline_ms > now.mono_ms)
			continue;
		pt_pending_remove(p, i);
		nt_info(PT_MOD, "event=ack_timeout cid=%s rid=%s gid=%s", pd.client, pd.resource,
			pd.gateway);
		fail(p, pd.client, pd.resource, NT_PMSG_OFFLINE);
	}
	for (size_t i = p->n_grants; i-- > 0;) {
		const struct nt_portal_grant_rec *g = &p->grants[i];

		if (g->expires_at > now.unix_s)
			continue;
		p->stats.expired++;
		nt_info(PT_MOD, "event=grant_expired cid=%s rid=%s gid=%s", g->client, g->resource,
			g->gateway);
		pt_grant_remove(p, i);
	}
}
