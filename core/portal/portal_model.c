/* SPDX-License-Identifier: MIT */
/* The portal's model: checks, the owned copy, lookups, the policy (who may
 * use what, which gateway serves what) and address assignment. Pure. */
#include "core/portal/portal_int.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int pt_reserve(void **arr, size_t *cap, size_t want, size_t size)
{
	size_t n = *cap ? *cap : 8;
	void *a;

	if (want <= *cap)
		return 0;
	while (n < want)
		n *= 2;
	a = realloc(*arr, n * size);
	if (!a)
		return -ENOMEM;
	*arr = a;
	*cap = n;
	return 0;
}

int pt_reserve_secret(void **arr, size_t *cap, size_t used, size_t want, size_t size)
{
	size_t n = *cap ? *cap : 8;
	void *a;

	if (want <= *cap)
		return 0;
	while (n < want)
		n *= 2;
	a = calloc(n, size);
	if (!a)
		return -ENOMEM;
	if (*arr) {
		memcpy(a, *arr, used * size);
		sodium_memzero(*arr, *cap * size);
		free(*arr);
	}
	*arr = a;
	*cap = n;
	return 0;
}

/* Names go into the state file's space-separated lines and into logs. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NT_PORTAL_ID_MAX)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			snprintf(err, errlen, __VA_ARGS__);                                        \
			return -EINVAL;                                                            \
		}                                                                                  \
	} while (0)

static int check_names(const struct nt_portal_model *m, char *err, size_t errlen)
{
	for (size_t i = 0; i < m->n_sites; i++) {
		CHECK(name_ok(m->sites[i].id), "site %zu: bad id", i);
		for (size_t k = 0; k < i; k++)
			CHECK(strcmp(m->sites[i].id, m->sites[k].id), "site %s twice",
			      m->sites[i].id);
	}
	for (size_t i = 0; i < m->n_gateways; i++) {
		const struct nt_portal_gateway *g = &m->gateways[i];

		CHECK(name_ok(g->name), "gateway %zu: bad name", i);
		for (size_t k = 0; k < i; k++)
			CHECK(strcmp(g->name, m->gateways[k].name), "gateway %s twice", g->name);
		for (size_t k = 0; k < m->n_sites; k++)
			if (!strcmp(g->site, m->sites[k].id))
				goto site_found;
		CHECK(0, "gateway %s: unknown site %s", g->name, g->site);
	site_found:;
	}
	for (size_t i = 0; i < m->n_clients; i++) {
		const struct nt_portal_client *c = &m->clients[i];

		CHECK(name_ok(c->name), "client %zu: bad name", i);
		CHECK(c->n_groups <= NT_PORTAL_GROUPS_MAX, "client %s: too many groups", c->name);
		for (size_t k = 0; k < i; k++)
			CHECK(strcmp(c->name, m->clients[k].name), "client %s twice", c->name);
	}
	return 0;
}

static int check_resources(const struct nt_portal_model *m, char *err, size_t errlen)
{
	for (size_t i = 0; i < m->n_resources; i++) {
		const struct nt_portal_resource *r = &m->resources[i];

		CHECK(name_ok(r->res.id), "resource %zu: bad id", i);
		CHECK(r->res.type == NT_PMSG_RES_CIDR || r->res.type == NT_PMSG_RES_DNS,
		      "resource %s: no type", r->res.id);
		CHECK(r->n_allow <= NT_PORTAL_ALLOW_MAX && r->res.n_sites <= NT_PMSG_SITES_MAX &&
			  r->res.n_filters <= NT_PMSG_FILTERS_MAX,
		      "resource %s: too many entries", r->res.id);
		for (size_t k = 0; k < i; k++)
			CHECK(strcmp(r->res.id, m->resources[k].res.id), "resource %s twice",
			      r->res.id);
		for (size_t s = 0; s < r->res.n_sites; s++) {
			bool found = false;

			for (size_t k = 0; k < m->n_sites; k++)
				found |= !strcmp(r->res.sites[s].id, m->sites[k].id);
			CHECK(found, "resource %s: unknown site %s", r->res.id, r->res.sites[s].id);
		}
	}
	return 0;
}

int nt_portal_model_check(const struct nt_portal_model *m, char *err, size_t errlen)
{
	int rc;

	CHECK(m->pool4.family == AF_INET && m->pool4.prefix_len <= 30 &&
		  m->pool6.family == AF_INET6 && m->pool6.prefix_len <= 126,
	      "ClientAddresses needs an IPv4 prefix of /30 or wider and an IPv6 one of /126 or "
	      "wider");
	CHECK(m->access_ttl_s > 0, "AccessTTL must be positive");
	CHECK(m->n_sites <= NT_PORTAL_SITES_MAX && m->n_gateways <= NT_PORTAL_GATEWAYS_MAX &&
		  m->n_clients <= NT_PORTAL_CLIENTS_MAX &&
		  m->n_resources <= NT_PORTAL_RESOURCES_MAX,
	      "too many sites, gateways, clients or resources");
	rc = check_names(m, err, errlen);
	return rc ? rc : check_resources(m, err, errlen);
}

static void *dup_array(const void *src, size_t n, size_t size, bool *fail)
{
	void *a;

	if (!n)
		return NULL;
	a = malloc(n * size);
	if (!a) {
		*fail = true;
		return NULL;
	}
	memcpy(a, src, n * size);
	return a;
}

int pt_model_copy(struct pt_model *dst, const struct nt_portal_model *src)
{
	bool fail = false;

	dst->pool4 = src->pool4;
	dst->pool6 = src->pool6;
	dst->access_ttl_s = src->access_ttl_s;
	dst->n_sites = src->n_sites;
	dst->n_gateways = src->n_gateways;
	dst->n_clients = src->n_clients;
	dst->n_resources = src->n_resources;
	dst->sites = dup_array(src->sites, src->n_sites, sizeof(*src->sites), &fail);
	dst->gateways = dup_array(src->gateways, src->n_gateways, sizeof(*src->gateways), &fail);
	dst->clients = dup_array(src->clients, src->n_clients, sizeof(*src->clients), &fail);
	dst->resources =
	    dup_array(src->resources, src->n_resources, sizeof(*src->resources), &fail);
	if (fail) {
		pt_model_free(dst);
		return -ENOMEM;
	}
	return 0;
}

void pt_model_free(struct pt_model *m)
{
	free(m->sites);
	free(m->gateways);
	free(m->clients);
	free(m->resources);
	memset(m, 0, sizeof(*m));
}

const struct nt_portal_client *pt_client(const struct pt_model *m, const char *name)
{
	for (size_t i = 0; i < m->n_clients; i++)
		if (!strcmp(m->clients[i].name, name))
			return &m->clients[i];
	return NULL;
}

const struct nt_portal_gateway *pt_gateway(const struct pt_model *m, const char *name)
{
	for (size_t i = 0; i < m->n_gateways; i++)
		if (!strcmp(m->gateways[i].name, name))
			return &m->gateways[i];
	return NULL;
}

const struct nt_portal_resource *pt_resource(const struct pt_model *m, const char *id)
{
	for (size_t i = 0; i < m->n_resources; i++)
		if (!strcmp(m->resources[i].res.id, id))
			return &m->resources[i];
	return NULL;
}

const struct nt_portal_site *pt_site(const struct pt_model *m, const char *id)
{
	for (size_t i = 0; i < m->n_sites; i++)
		if (!strcmp(m->sites[i].id, id))
			return &m->sites[i];
	return NULL;
}

bool pt_allowed(const struct nt_portal_client *c, const struct nt_portal_resource *r)
{
	for (size_t a = 0; a < r->n_allow; a++) {
		if (!strcmp(r->allow[a], c->name))
			return true;
		for (size_t g = 0; g < c->n_groups; g++)
			if (!strcmp(r->allow[a], c->groups[g]))
				return true;
	}
	return false;
}

bool pt_serves(const struct nt_portal_gateway *g, const struct nt_portal_resource *r)
{
	for (size_t s = 0; s < r->res.n_sites; s++)
		if (!strcmp(r->res.sites[s].id, g->site))
			return true;
	return false;
}

bool pt_grant_valid(const struct pt_model *m, const char *client, const char *gateway,
		    const char *resource)
{
	const struct nt_portal_client *c = pt_client(m, client);
	const struct nt_portal_gateway *g = pt_gateway(m, gateway);
	const struct nt_portal_resource *r = pt_resource(m, resource);

	return c && g && r && pt_allowed(c, r) && pt_serves(g, r);
}

/* Indices 1 .. max: the network address (0) and, for IPv4, the broadcast
 * address stay free; both pools share one index so a client's two
 * addresses end alike (100.64.0.7, fd00:6e74::7). */
static uint32_t pool_max(const struct pt_model *m)
{
	unsigned bits4 = 32u - m->pool4.prefix_len, bits6 = 128u - m->pool6.prefix_len;
	uint64_t n4 = (1ull << bits4) - 2, n6 = bits6 >= 32 ? UINT32_MAX : (1ull << bits6) - 1;

	return (uint32_t)(n4 < n6 ? n4 : n6);
}

static bool known(const struct pt_model *m, const struct nt_portal_addr_rec *a)
{
	return a->role == NT_PORTAL_CLIENT ? pt_client(m, a->name) != NULL
					   : pt_gateway(m, a->name) != NULL;
}

static struct nt_portal_addr_rec *addr_of(struct nt_portal *p, enum nt_portal_role role,
					  const char *name)
{
	for (size_t i = 0; i < p->n_addrs; i++)
		if (p->addrs[i].role == role && !strcmp(p->addrs[i].name, name))
			return &p->addrs[i];
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The lowest free index, from a sorted copy of the used ones. */
static int addr_add(struct nt_portal *p, enum nt_portal_role role, const char *name)
{
	uint32_t *used, next = 1, max = pool_max(&p->model);
	struct nt_portal_addr_rec *a;

	if (pt_reserve((void **)&p->addrs, &p->cap_addrs, p->n_addrs + 1, sizeof(*p->addrs)))
		return -ENOMEM;
	used = malloc((p->n_addrs + 1) * sizeof(*used));
	if (!used)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_addrs; i++)
		used[i] = p->addrs[i].index;
	qsort(used, p->n_addrs, sizeof(*used), cmp_u32);
	for (size_t i = 0; i < p->n_addrs && used[i] <= next; i++)
		if (used[i] == next)
			next++;
	free(used);
	if (next > max)
		return -ENOSPC;
	a = &p->addrs[p->n_addrs++];
	memset(a, 0, sizeof(*a));
	a->role = role;
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->index = next;
	p->dirty = true;
	return 0;
}

int pt_addrs_sync(struct nt_portal *p)
{
	size_t k = 0;
	int rc;

	for (size_t i = 0; i < p->n_addrs; i++) {
		struct nt_portal_addr_rec *a = &p->addrs[i];
		bool dup = false;

		for (size_t j = 0; j < k; j++)
			dup |= p->addrs[j].index == a->index ||
			       (p->addrs[j].role == a->role && !strcmp(p->addrs[j].name, a->name));
		if (known(&p->model, a) && a->index >= 1 && a->index <= pool_max(&p->model) && !dup)
			p->addrs[k++] = *a;
	}
	p->dirty |= k != p->n_addrs;
	p->n_addrs = k;
	for (size_t i = 0; i < p->model.n_gateways; i++)
		if (!addr_of(p, NT_PORTAL_GATEWAY, p->model.gateways[i].name) &&
		    (rc = addr_add(p, NT_PORTAL_GATEWAY, p->model.gateways[i].name)))
			return rc;
	for (size_t i = 0; i < p->model.n_clients; i++)
		if (!addr_of(p, NT_PORTAL_CLIENT, p->model.clients[i].name) &&
		    (rc = addr_add(p, NT_PORTAL_CLIENT, p->model.clients[i].name)))
			return rc;
	return 0;
}

static void add_index(uint8_t *addr, size_t len, uint32_t index)
{
	uint64_t carry = index;

	for (size_t i = len; i-- > 0 && carry;) {
		carry += addr[i];
		addr[i] = (uint8_t)carry;
		carry >>= 8;
	}
}

/* Host bits of the pool's prefix are cleared first: the pool is a prefix. */
static void pool_addr(const struct wg_cidr *pool, size_t len, uint32_t index, uint8_t *out)
{
	memcpy(out, pool->addr, len);
	for (size_t bit = pool->prefix_len; bit < len * 8; bit++)
		out[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
	add_index(out, len, index);
}

void pt_iface(const struct nt_portal *p, enum nt_portal_role role, const char *name,
	      struct nt_pmsg_iface *out)
{
	const struct nt_portal_addr_rec *a = addr_of((struct nt_portal *)p, role, name);
	uint32_t index = a ? a->index : 0; /* every identity has one after pt_addrs_sync */

	pool_addr(&p->model.pool4, 4, index, out->ipv4);
	pool_addr(&p->model.pool6, 16, index, out->ipv6);
}

bool pt_res_equal(struct nt_portal *p, const struct nt_pmsg_resource *a,
		  const struct nt_pmsg_resource *b)
{
	int la = nt_pmsg_resource_encode(p->res_a, PT_RES_JSON_MAX, a);
	int lb = nt_pmsg_resource_encode(p->res_b, PT_RES_JSON_MAX, b);

	return la >= 0 && la == lb && !memcmp(p->res_a, p->res_b, (size_t)la);
}
