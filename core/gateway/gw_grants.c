// SPDX-License-Identifier: MIT
/* Portal grants at the gateway (see gw_grants.h). An unordered array: a
 * gateway holds a few thousand grants at most and every operation on them
 * follows a portal message or a timer, never a packet of an open flow. */
#include "core/gateway/gw_grants.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void nt_gw_grants_init(struct nt_gw_grants *g, size_t max)
{
	memset(g, 0, sizeof(*g));
	g->max = max ? max : NT_GW_DEFAULT_MAX_GRANTS;
}

void nt_gw_grants_fini(struct nt_gw_grants *g)
{
	free(g->v);
	g->v = NULL;
	g->n = g->cap = 0;
}

static struct nt_gw_grant *find(const struct nt_gw_grants *g, const char *cid, const char *rid)
{
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->v[i].cid, cid) == 0 && strcmp(g->v[i].res.id, rid) == 0)
			return &g->v[i];
	return NULL;
}

static void remove_at(struct nt_gw_grants *g, size_t i)
{
	g->v[i] = g->v[--g->n];
}

int nt_gw_grants_put(struct nt_gw_grants *g, const char *cid, const struct nt_pmsg_resource *res,
		     int64_t expires_at)
{
	struct nt_gw_grant *gr;

	if ((res->type != NT_PMSG_RES_CIDR && res->type != NT_PMSG_RES_DNS) || !cid[0] ||
	    strlen(cid) > NT_PMSG_ID_MAX)
		return -EINVAL;
	gr = find(g, cid, res->id);
	if (gr) {
		gr->res = *res;
		gr->expires_at = expires_at;
		return 1;
	}
	if (g->n >= g->max)
		return -ENOSPC;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		struct nt_gw_grant *v;

		if (cap > g->max)
			cap = g->max;
		v = realloc(g->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		g->v = v;
		g->cap = cap;
	}
	gr = &g->v[g->n++];
	memset(gr, 0, sizeof(*gr));
	strcpy(gr->cid, cid);
	gr->res = *res;
	gr->expires_at = expires_at;
	return 0;
}

int nt_gw_grants_del(struct nt_gw_grants *g, const char *cid, const char *rid,
		     struct nt_gw_grant *out)
{
	struct nt_gw_grant *gr = find(g, cid, rid);

	if (!gr)
		return -ENOENT;
	if (out)
		*out = *gr;
	remove_at(g, (size_t)(gr - g->v));
	return 0;
}

size_t nt_gw_grants_count(const struct nt_gw_grants *g, const char *cid)
{
	size_t n = 0;

	for (size_t i = 0; i < g->n; i++)
		n += strcmp(g->v[i].cid, cid) == 0;
	return n;
}

size_t nt_gw_grants_update(struct nt_gw_grants *g, const struct nt_pmsg_resource *res)
{
	size_t n = 0;

	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->v[i].res.id, res->id) == 0) {
			g->v[i].res = *res;
			n++;
		}
	return n;
}

static bool listed(const struct nt_gw_grant *gr, const struct nt_pmsg_grant *list, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (strcmp(list[k].client.id, gr->cid) == 0 &&
		    strcmp(list[k].resource.id, gr->res.id) == 0)
			return true;
	return false;
}

void nt_gw_grants_retain(struct nt_gw_grants *g, const struct nt_pmsg_grant *list, size_t n,
			 void (*ended)(void *arg, const struct nt_gw_grant *gr), void *arg)
{
	size_t i = 0;

	while (i < g->n) {
		struct nt_gw_grant gone;

		if (listed(&g->v[i], list, n)) {
			i++;
			continue;
		}
		gone = g->v[i];
		remove_at(g, i);
		if (ended)
			ended(arg, &gone);
	}
}

int64_t nt_gw_grants_next_expiry(const struct nt_gw_grants *g)
{
	int64_t t = INT64_MAX;

	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].expires_at < t)
			t = g->v[i].expires_at;
	return t;
}

bool nt_gw_grants_pop_expired(struct nt_gw_grants *g, int64_t now, struct nt_gw_grant *out)
{
	size_t best = g->n;

	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].expires_at <= now &&
		    (best == g->n || g->v[i].expires_at < g->v[best].expires_at))
			best = i;
	if (best == g->n)
		return false;
	*out = g->v[best];
	remove_at(g, best);
	return true;
}

const struct nt_gw_grant *nt_gw_grants_find(const struct nt_gw_grants *g, const char *cid,
					    const char *rid, int64_t now)
{
	const struct nt_gw_grant *gr = find(g, cid, rid);

	return gr && gr->expires_at > now ? gr : NULL;
}

bool nt_gw_grant_covers(const struct nt_gw_grant *gr, const struct nt_gw_dest *d)
{
	return gr->res.type == NT_PMSG_RES_CIDR && nt_gw_cidr_contains(&gr->res.cidr, d) &&
	       nt_pmsg_filters_allow(&gr->res, d->proto, d->port);
}

bool nt_gw_grants_allow(const struct nt_gw_grants *g, const char *cid, const struct nt_gw_dest *d,
			int64_t now)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].expires_at > now && strcmp(g->v[i].cid, cid) == 0 &&
		    nt_gw_grant_covers(&g->v[i], d))
			return true;
	return false;
}

/* A grant that covers d reaches it: an ordinary destination at once, a
 * special one when the gateway's own rules publish it. */
static enum nt_gw_verdict grant_reach(const struct nt_gw_rules *publish, const struct nt_gw_dest *d)
{
	enum nt_ippkt_scope scope = nt_ippkt_scope_of(d->family, d->addr, NULL);

	if (!d->self && scope == NT_IPPKT_GLOBAL)
		return NT_GW_ALLOW;
	if (nt_ippkt_scope_unicast(scope) && publish && nt_gw_rules_allow(publish, d))
		return NT_GW_ALLOW;
	return NT_GW_DENY_MARTIAN;
}

enum nt_gw_verdict nt_gw_decide(const struct nt_gw_rules *r, const struct nt_gw_rules *publish,
				const struct nt_gw_grants *g, const char *cid,
				const struct nt_gw_dest *d, int64_t now)
{
	enum nt_gw_verdict v = nt_gw_rules_decide(r, d);

	if (v == NT_GW_ALLOW || !cid || !cid[0] || !nt_gw_grants_allow(g, cid, d, now))
		return v;
	return grant_reach(publish, d);
}

enum nt_gw_verdict nt_gw_decide_dns(const struct nt_gw_rules *publish, const struct nt_gw_grants *g,
				    const char *cid, const char *rid, const struct nt_gw_dest *d,
				    int64_t now)
{
	const struct nt_gw_grant *gr = nt_gw_grants_find(g, cid, rid, now);

	if (!gr || gr->res.type != NT_PMSG_RES_DNS ||
	    !nt_pmsg_filters_allow(&gr->res, d->proto, d->port))
		return NT_GW_DENY;
	return grant_reach(publish, d);
}
