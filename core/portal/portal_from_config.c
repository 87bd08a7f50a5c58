// SPDX-License-Identifier: MIT
/* The adapter from the configuration file to the portal's model. */
#include "core/portal/portal_from_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the configuration holds always fits; Sites and Allow may not. */
_Static_assert(NT_TOKEN_HASH_LEN == NT_PORTAL_TOKEN_HASH_LEN, "token hash sizes");
_Static_assert(NT_PORTAL_NAME_MAX <= NT_PORTAL_ID_MAX, "name sizes");
_Static_assert(NT_PORTAL_MAX_CLIENT_GROUPS <= NT_PORTAL_GROUPS_MAX, "groups per client");
_Static_assert(NT_PORTAL_MAX_FILTERS <= NT_PMSG_FILTERS_MAX, "filters per resource");

static const uint8_t proto_numbers[] = {
    [NT_PORTAL_PROTO_TCP] = NT_PMSG_TCP,
    [NT_PORTAL_PROTO_UDP] = NT_PMSG_UDP,
    [NT_PORTAL_PROTO_ICMP] = NT_PMSG_ICMP,
};

static void copy_name(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src);
}

static void set_filter(struct nt_pmsg_filter *out, const struct nt_portal_filter *f)
{
	out->proto = proto_numbers[f->proto];
	/* ICMP has no ports: the wire says "every port" (0-65535) for it. */
	out->port_start = f->proto == NT_PORTAL_PROTO_ICMP ? 0 : f->first;
	out->port_end = f->proto == NT_PORTAL_PROTO_ICMP ? 65535 : f->last;
}

static int set_resource(const struct nt_portal_config *cfg, const struct nt_portal_cfg_resource *r,
			struct nt_portal_resource *out, char *err, size_t errlen)
{
	struct nt_pmsg_resource *res = &out->res;

	if (r->site_count > NT_PMSG_SITES_MAX || r->allow_count > NT_PORTAL_ALLOW_MAX) {
		snprintf(err, errlen, "%s:%u: resource %s: at most %d Sites and %d Allow entries",
			 cfg->filename, r->line, r->name, NT_PMSG_SITES_MAX, NT_PORTAL_ALLOW_MAX);
		return -EINVAL;
	}
	copy_name(res->id, sizeof(res->id), r->name);
	copy_name(res->name, sizeof(res->name), r->name);
	if (r->type == NT_PORTAL_RESOURCE_CIDR) {
		char text[WG_CIDR_STRLEN];

		res->type = NT_PMSG_RES_CIDR;
		res->cidr = r->cidr;
		wg_allowedips_format_cidr(&r->cidr, text); /* a parsed prefix formats */
		copy_name(res->address, sizeof(res->address), text);
	} else {
		res->type = NT_PMSG_RES_DNS;
		copy_name(res->address, sizeof(res->address), r->pattern);
	}
	res->n_filters = r->filter_count;
	for (size_t i = 0; i < r->filter_count; i++)
		set_filter(&res->filters[i], &r->filters[i]);
	res->n_sites = r->site_count;
	for (size_t i = 0; i < r->site_count; i++) {
		const char *site = cfg->sites[r->sites[i]].name;

		copy_name(res->sites[i].id, sizeof(res->sites[i].id), site);
		copy_name(res->sites[i].name, sizeof(res->sites[i].name), site);
	}
	out->n_allow = r->allow_count;
	for (size_t i = 0; i < r->allow_count; i++) {
		const struct nt_portal_principal *a = &r->allow[i];

		copy_name(out->allow[i], sizeof(out->allow[i]),
			  a->is_group ? cfg->groups[a->index] : cfg->clients[a->index].name);
	}
	return 0;
}

static void set_client(const struct nt_portal_config *cfg, const struct nt_portal_cfg_client *c,
		       struct nt_portal_client *out)
{
	copy_name(out->name, sizeof(out->name), c->name);
	memcpy(out->token_hash, c->token_hash, sizeof(out->token_hash));
	out->n_groups = c->group_count;
	for (size_t g = 0; g < c->group_count; g++)
		copy_name(out->groups[g], sizeof(out->groups[g]), cfg->groups[c->groups[g]]);
}

int nt_portal_model_from_config(const struct nt_portal_config *cfg,
				struct nt_portal_model_owned *out, char *err, size_t errlen)
{
	struct nt_portal_model *m = &out->model;
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	out->sites = calloc(cfg->site_count + 1, sizeof(*out->sites));
	out->gateways = calloc(cfg->gateway_count + 1, sizeof(*out->gateways));
	out->clients = calloc(cfg->client_count + 1, sizeof(*out->clients));
	out->resources = calloc(cfg->resource_count + 1, sizeof(*out->resources));
	if (!out->sites || !out->gateways || !out->clients || !out->resources)
		goto fail;
	for (size_t i = 0; i < cfg->site_count; i++) {
		copy_name(out->sites[i].id, sizeof(out->sites[i].id), cfg->sites[i].name);
		copy_name(out->sites[i].name, sizeof(out->sites[i].name), cfg->sites[i].name);
	}
	for (size_t i = 0; i < cfg->gateway_count; i++) {
		const struct nt_portal_cfg_gateway *g = &cfg->gateways[i];

		copy_name(out->gateways[i].name, sizeof(out->gateways[i].name), g->name);
		copy_name(out->gateways[i].site, sizeof(out->gateways[i].site),
			  cfg->sites[g->site].name);
		memcpy(out->gateways[i].token_hash, g->token_hash, sizeof(g->token_hash));
	}
	for (size_t i = 0; i < cfg->client_count; i++)
		set_client(cfg, &cfg->clients[i], &out->clients[i]);
	for (size_t i = 0; i < cfg->resource_count; i++) {
		rc = set_resource(cfg, &cfg->resources[i], &out->resources[i], err, errlen);
		if (rc)
			goto fail;
	}
	m->pool4 = cfg->client_v4;
	m->pool6 = cfg->client_v6;
	m->access_ttl_s = cfg->access_ttl;
	m->sites = out->sites;
	m->n_sites = cfg->site_count;
	m->gateways = out->gateways;
	m->n_gateways = cfg->gateway_count;
	m->clients = out->clients;
	m->n_clients = cfg->client_count;
	m->resources = out->resources;
	m->n_resources = cfg->resource_count;
	return 0;
fail:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	nt_portal_model_owned_free(out);
	return rc;
}

void nt_portal_model_owned_free(struct nt_portal_model_owned *m)
{
	free(m->sites);
	free(m->gateways);
	free(m->clients);
	free(m->resources);
	memset(m, 0, sizeof(*m));
}
