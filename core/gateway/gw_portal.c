// SPDX-License-Identifier: MIT
/* Portal grants at the gateway: portal clients as peers that come and go
 * with their grants, the grants table (gw_grants.c), the flows a grant's end
 * resets, and the timer at the earliest expires_at (see gateway.h and
 * gateway.md "Under a portal"). Everything runs on the loop's thread; the
 * channel's glue calls in with decoded messages.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "core/gateway/gateway.h"
#include "core/gateway/gw_int.h"
#include "core/phx/pmsg.h"
#include "core/tunnel/tunnel.h"
#include "platform/clock.h"
#include "platform/log.h"

#define MOD "gateway"

/* A wall-clock jump is noticed within this long. */
#define EXPIRY_RECHECK_S 3600

static int64_t real_now(void)
{
	return (int64_t)(nt_clock_real_ns() / NT_NS_PER_SEC);
}

struct gw_peer *nt_gw_portal_peer(struct nt_gateway *gw, const char *cid)
{
	for (struct gw_peer *gp = gw->portal_peers; gp; gp = gp->pnext)
		if (strcmp(gp->cid, cid) == 0)
			return gp;
	return NULL;
}

static void peer_drop(struct nt_gateway *gw, struct gw_peer *gp)
{
	struct gw_peer **pp = &gw->portal_peers;

	nt_gw_flows_recheck(gw, gp, NT_GW_RECHECK_PORTAL, true);
	nt_gw_dnsctl_forget(gw, gp->cid, NULL);
	/* gp->id lives in the tunnel's peer. */
	nt_info(MOD, "event=peer_removed cid=%s peer=%s", gp->cid, gp->id);
	/* The RSTs go out while the peer still has its session. */
	nt_tunnel_flush(gw->tunnel);
	nt_tunnel_remove_peer(gw->tunnel, gp->peer);
	while (*pp != gp)
		pp = &(*pp)->pnext;
	*pp = gp->pnext;
	gw->c.portal_peers--;
	free(gp);
}

static struct gw_peer *peer_add(struct nt_gateway *gw, const struct nt_pmsg_client *c, int *err)
{
	struct wg_cidr ips[2] = {{.family = AF_INET, .prefix_len = 32},
				 {.family = AF_INET6, .prefix_len = 128}};
	struct nt_tunnel_peer_config pc = {
	    .psk = c->preshared_key, .allowed_ips = ips, .allowed_ips_count = 2};
	struct gw_peer *gp = nt_gw_portal_peer(gw, c->id);

	if (gp)
		return gp;
	if (gw->c.portal_peers >= gw->limits.max_portal_peers) {
		gw->c.limit_portal_peers++;
		*err = -ENOSPC;
		return NULL;
	}
	gp = calloc(1, sizeof(*gp));
	if (!gp) {
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(ips[0].addr, c->ipv4, 4);
	memcpy(ips[1].addr, c->ipv6, 16);
	memcpy(pc.public_key, c->public_key, sizeof(pc.public_key));
	pc.user = gp;
	*err = nt_tunnel_add_peer(gw->tunnel, &pc, &gp->peer);
	sodium_memzero(&pc, sizeof(pc));
	if (*err != 0) {
		free(gp);
		return NULL;
	}
	gp->gw = gw;
	strcpy(gp->cid, c->id);
	gp->id = nt_tunnel_peer_id(gp->peer);
	gp->pnext = gw->portal_peers;
	gw->portal_peers = gp;
	gw->c.portal_peers++;
	nt_info(MOD, "event=peer_added cid=%s peer=%s", gp->cid, gp->id);
	return gp;
}

static void expiry_arm(struct nt_gateway *gw)
{
	int64_t next = nt_gw_grants_next_expiry(&gw->grants), wait;

	gw->c.grants = gw->grants.n;
	if (next == INT64_MAX) {
		nt_timer_cancel(gw->loop, &gw->expiry);
		return;
	}
	wait = next - gw->clock();
	if (wait < 0)
		wait = 0;
	if (wait > EXPIRY_RECHECK_S)
		wait = EXPIRY_RECHECK_S;
	if (nt_timer_arm(gw->loop, &gw->expiry, (uint64_t)wait * NT_NS_PER_SEC) != 0)
		nt_warn(MOD, "event=expiry_timer_failed");
}

/* A grant is gone from the table: its flows, then maybe its peer. */
static void grant_ended(struct nt_gateway *gw, const struct nt_gw_grant *gr, const char *why)
{
	struct gw_peer *gp = nt_gw_portal_peer(gw, gr->cid);

	gw->c.grants_ended++;
	nt_info(MOD, "event=grant_ended cid=%s rid=%s reason=%s", gr->cid, gr->res.id, why);
	nt_gw_dnsctl_forget(gw, gr->cid, gr->res.id);
	if (!gp)
		return;
	if (nt_gw_grants_count(&gw->grants, gr->cid) == 0)
		peer_drop(gw, gp);
	else
		nt_gw_flows_recheck(gw, gp, NT_GW_RECHECK_PORTAL, false);
}

static void on_expiry(struct nt_loop *loop, struct nt_timer *t, void *arg)
{
	struct nt_gateway *gw = arg;
	struct nt_gw_grant gr;

	(void)loop;
	(void)t;
	while (nt_gw_grants_pop_expired(&gw->grants, gw->clock(), &gr)) {
		gw->c.grants_expired++;
		grant_ended(gw, &gr, "expired");
	}
	expiry_arm(gw);
}

void nt_gw_portal_init(struct nt_gateway *gw)
{
	nt_gw_grants_init(&gw->grants, gw->limits.max_grants);
	nt_gw_dns_init(&gw->dns, 0, 0);
	nt_timer_init(&gw->expiry, on_expiry, gw);
	gw->clock = real_now;
}

void nt_gw_portal_fini(struct nt_gateway *gw)
{
	while (gw->portal_peers) {
		struct gw_peer *gp = gw->portal_peers;

		gw->portal_peers = gp->pnext;
		free(gp);
	}
	nt_gw_grants_fini(&gw->grants);
}

void nt_gateway_portal_clock(struct nt_gateway *gw, int64_t (*now)(void))
{
	gw->clock = now;
	expiry_arm(gw);
}

static int grant_install(struct nt_gateway *gw, const struct nt_pmsg_grant *g)
{
	struct gw_peer *gp;
	int ret = 0;

	if (g->resource.type == NT_PMSG_RES_UNKNOWN) {
		ret = -EINVAL;
		goto refused;
	}
	gp = peer_add(gw, &g->client, &ret);
	if (!gp)
		goto refused;
	ret = nt_gw_grants_put(&gw->grants, g->client.id, &g->resource, g->expires_at);
	if (ret < 0) {
		if (ret == -ENOSPC)
			gw->c.limit_grants++;
		if (nt_gw_grants_count(&gw->grants, gp->cid) == 0)
			peer_drop(gw, gp);
		goto refused;
	}
	if (ret == 1) { /* the same grant again: its resource may differ */
		nt_gw_dnsctl_prune(gw);
		nt_gw_flows_recheck(gw, gp, NT_GW_RECHECK_PORTAL, false);
	} else
		gw->c.grants_added++;
	nt_info(MOD, "event=grant_added cid=%s rid=%s peer=%s address=%s expires_at=%" PRId64,
		g->client.id, g->resource.id, gp->id, g->resource.address, g->expires_at);
	expiry_arm(gw);
	return 0;
refused:
	gw->c.grants_refused++;
	nt_warn(MOD, "event=grant_refused cid=%s rid=%s err=\"%s\"", g->client.id, g->resource.id,
		strerror(-ret));
	return ret;
}

int nt_gateway_portal_grant(struct nt_gateway *gw, const struct nt_pmsg_grant *g)
{
	return grant_install(gw, g);
}

static void retain_ended(void *arg, const struct nt_gw_grant *gr)
{
	grant_ended(arg, gr, "init");
}

int nt_gateway_portal_init(struct nt_gateway *gw, const struct nt_pmsg_gateway_init *m)
{
	int first = 0;

	nt_gw_grants_retain(&gw->grants, m->authorizations, m->n, retain_ended, gw);
	for (size_t i = 0; i < m->n; i++) {
		int ret = grant_install(gw, &m->authorizations[i]);

		if (ret != 0 && first == 0)
			first = ret;
	}
	expiry_arm(gw);
	nt_info(MOD, "event=portal_init grants=%zu portal_peers=%" PRIu64, gw->grants.n,
		gw->c.portal_peers);
	return first;
}

int nt_gateway_portal_reject(struct nt_gateway *gw, const struct nt_pmsg_reject_access *m)
{
	struct nt_gw_grant gr;

	if (nt_gw_grants_del(&gw->grants, m->client_id, m->resource_id, &gr) != 0) {
		nt_info(MOD, "event=reject_unknown cid=%s rid=%s", m->client_id, m->resource_id);
		return -ENOENT;
	}
	grant_ended(gw, &gr, "rejected");
	expiry_arm(gw);
	return 0;
}

void nt_gateway_portal_resource(struct nt_gateway *gw, const struct nt_pmsg_resource *r)
{
	size_t n;

	if (r->type == NT_PMSG_RES_UNKNOWN) {
		/* Nothing we know any more: its grants end. */
		for (size_t i = gw->grants.n; i-- > 0;) {
			struct nt_gw_grant gr;

			if (i >= gw->grants.n || strcmp(gw->grants.v[i].res.id, r->id) != 0)
				continue;
			if (nt_gw_grants_del(&gw->grants, gw->grants.v[i].cid, r->id, &gr) == 0)
				grant_ended(gw, &gr, "resource_changed");
		}
		expiry_arm(gw);
		return;
	}
	n = nt_gw_grants_update(&gw->grants, r);
	nt_info(MOD, "event=resource_updated rid=%s address=%s grants=%zu", r->id, r->address, n);
	if (n) {
		nt_gw_dnsctl_prune(gw);
		nt_gw_flows_recheck(gw, NULL, NT_GW_RECHECK_PORTAL, false);
	}
}

/* init's grants hold pre-shared keys: wiped before they are freed. */
static int message_init(struct nt_gateway *gw, const char *payload, size_t len)
{
	struct nt_pmsg_gateway_init m = {.cap = gw->limits.max_grants};
	int ret;

	m.authorizations = calloc(m.cap, sizeof(*m.authorizations));
	if (!m.authorizations)
		return -ENOMEM;
	ret = nt_pmsg_gateway_init_decode(payload, len, &m);
	if (ret == 0)
		ret = nt_gateway_portal_init(gw, &m);
	sodium_memzero(m.authorizations, m.cap * sizeof(*m.authorizations));
	free(m.authorizations);
	return ret;
}

int nt_gateway_portal_message(struct nt_gateway *gw, const char *event, const char *payload,
			      size_t len, char *ack, size_t cap)
{
	int ret;

	if (strcmp(event, "init") == 0)
		return message_init(gw, payload, len);
	if (strcmp(event, "create_authorization") == 0) {
		struct nt_pmsg_grant g;

		ret = nt_pmsg_create_auth_decode(payload, len, &g);
		if (ret == 0)
			ret = grant_install(gw, &g);
		if (ret == 0)
			ret = nt_pmsg_auth_ack_encode(ack, cap, g.ref);
		sodium_memzero(&g, sizeof(g));
		return ret;
	}
	if (strcmp(event, "reject_access") == 0) {
		struct nt_pmsg_reject_access m;

		ret = nt_pmsg_reject_access_decode(payload, len, &m);
		return ret ? ret : nt_gateway_portal_reject(gw, &m);
	}
	if (strcmp(event, "resource_updated") == 0) {
		struct nt_pmsg_resource r;

		ret = nt_pmsg_resource_decode(payload, len, &r);
		if (ret == 0)
			nt_gateway_portal_resource(gw, &r);
		return ret;
	}
	return -ENOTSUP;
}
