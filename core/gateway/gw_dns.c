// SPDX-License-Identifier: MIT
/* dns resources at the gateway: proxy address -> real address (see
 * gw_dns.h). An unordered array, as gw_grants.c's. */
#include "core/gateway/gw_dns.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

void nt_gw_dns_init(struct nt_gw_dns *t, size_t max, size_t max_per_client)
{
	memset(t, 0, sizeof(*t));
	t->max = max ? max : NT_GW_DNS_DEFAULT_MAX;
	t->max_per_client = max_per_client ? max_per_client : NT_GW_DNS_DEFAULT_MAX_PER_CLIENT;
}

void nt_gw_dns_fini(struct nt_gw_dns *t)
{
	free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}

int nt_gw_dns_check(const struct nt_gw_grants *g, const char *cid,
		    const struct nt_pmsg_assigned_ips *m, int64_t now)
{
	const struct nt_gw_grant *gr;

	if (m->n_ips == 0 || m->n_ips > NT_PMSG_PROXY_IPS_MAX)
		return -EINVAL;
	for (size_t k = 0; k < m->n_ips; k++)
		if (!nt_pmsg_is_proxy_ip(m->proxy_ips[k].family, m->proxy_ips[k].addr))
			return -EINVAL;
	gr = nt_gw_grants_find(g, cid, m->resource_id, now);
	if (!gr || gr->res.type != NT_PMSG_RES_DNS ||
	    !nt_pmsg_name_match(gr->res.address, m->domain))
		return -EPERM;
	return 0;
}

/* name is label or ends in "." label (one trailing dot of name ignored). */
static bool under(const char *name, const char *label)
{
	size_t n = strlen(name), l = strlen(label);

	if (n && name[n - 1] == '.')
		n--;
	if (n < l || strncasecmp(name + n - l, label, l) != 0)
		return false;
	return n == l || name[n - l - 1] == '.';
}

enum nt_gw_dns_special nt_gw_dns_special_of(const char *name)
{
	if (under(name, "localhost"))
		return NT_GW_DNS_LOCALHOST;
	if (under(name, "invalid"))
		return NT_GW_DNS_INVALID;
	return NT_GW_DNS_ORDINARY;
}

size_t nt_gw_dns_localhost(struct nt_resolver_addr out[2])
{
	memset(out, 0, 2 * sizeof(*out));
	out[0].family = AF_INET;
	out[0].addr[0] = 127;
	out[0].addr[3] = 1;
	out[1].family = AF_INET6;
	out[1].addr[15] = 1;
	return 2;
}

const struct nt_resolver_addr *nt_gw_dns_pick(int family, const struct nt_resolver_addr *addrs,
					      size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (addrs[i].family == family)
			return &addrs[i];
	return n ? &addrs[0] : NULL;
}

static struct nt_gw_dns_entry *find(const struct nt_gw_dns *t, const char *cid, int family,
				    const uint8_t *proxy)
{
	size_t len = family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].family == family && memcmp(t->v[i].proxy, proxy, len) == 0 &&
		    strcmp(t->v[i].cid, cid) == 0)
			return &t->v[i];
	return NULL;
}

const struct nt_gw_dns_entry *nt_gw_dns_find(const struct nt_gw_dns *t, const char *cid, int family,
					     const uint8_t *proxy)
{
	return find(t, cid, family, proxy);
}

static size_t count_of(const struct nt_gw_dns *t, const char *cid)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n; i++)
		n += strcmp(t->v[i].cid, cid) == 0;
	return n;
}

/* Room for the proxy addresses of m that are not entries yet. */
static int reserve(struct nt_gw_dns *t, const char *cid, const struct nt_pmsg_assigned_ips *m)
{
	size_t fresh = 0, cap;
	struct nt_gw_dns_entry *v;

	for (size_t k = 0; k < m->n_ips; k++)
		fresh += !find(t, cid, m->proxy_ips[k].family, m->proxy_ips[k].addr);
	if (count_of(t, cid) + fresh > t->max_per_client) {
		t->c.limit_client++;
		return -ENOSPC;
	}
	if (t->n + fresh > t->max) {
		t->c.limit_total++;
		return -ENOSPC;
	}
	if (t->n + fresh <= t->cap)
		return 0;
	cap = t->cap ? t->cap * 2 : 16;
	while (cap < t->n + fresh)
		cap *= 2;
	if (cap > t->max)
		cap = t->max;
	v = realloc(t->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->v = v;
	t->cap = cap;
	return 0;
}

int nt_gw_dns_map(struct nt_gw_dns *t, const char *cid, const struct nt_pmsg_assigned_ips *m,
		  const struct nt_resolver_addr *addrs, size_t n, int64_t now)
{
	int ret;

	if (n == 0)
		return -ENOENT;
	ret = reserve(t, cid, m);
	if (ret)
		return ret;
	for (size_t k = 0; k < m->n_ips; k++) {
		int family = m->proxy_ips[k].family;
		struct nt_gw_dns_entry *e = find(t, cid, family, m->proxy_ips[k].addr);

		if (!e) {
			e = &t->v[t->n++];
			memset(e, 0, sizeof(*e));
			strcpy(e->cid, cid);
			e->family = family;
			memcpy(e->proxy, m->proxy_ips[k].addr, sizeof(e->proxy));
		}
		strcpy(e->rid, m->resource_id);
		strcpy(e->domain, m->domain);
		e->real = *nt_gw_dns_pick(family, addrs, n);
		e->mapped_at = now;
	}
	return 0;
}

bool nt_gw_dns_fresh(const struct nt_gw_dns *t, const char *cid,
		     const struct nt_pmsg_assigned_ips *m, int64_t now, int64_t max_age)
{
	if (m->n_ips == 0)
		return false;
	for (size_t k = 0; k < m->n_ips; k++) {
		const struct nt_gw_dns_entry *e =
		    find(t, cid, m->proxy_ips[k].family, m->proxy_ips[k].addr);

		if (!e || strcmp(e->rid, m->resource_id) != 0 ||
		    strcasecmp(e->domain, m->domain) != 0 || now - e->mapped_at > max_age)
			return false;
	}
	return true;
}

/* Removes the entries gone(e, ...) says go. */
static size_t remove_if(struct nt_gw_dns *t,
			bool (*gone)(const struct nt_gw_dns_entry *e, const void *a, const void *b,
				     int64_t now),
			const void *a, const void *b, int64_t now)
{
	size_t i = 0, n = 0;

	while (i < t->n) {
		if (!gone(&t->v[i], a, b, now)) {
			i++;
			continue;
		}
		t->v[i] = t->v[--t->n];
		n++;
	}
	return n;
}

static bool of_grant(const struct nt_gw_dns_entry *e, const void *cid, const void *rid, int64_t now)
{
	(void)now;
	return strcmp(e->cid, cid) == 0 && (!rid || strcmp(e->rid, rid) == 0);
}

size_t nt_gw_dns_remove(struct nt_gw_dns *t, const char *cid, const char *rid)
{
	return remove_if(t, of_grant, cid, rid, 0);
}

static bool unmatched(const struct nt_gw_dns_entry *e, const void *g, const void *unused,
		      int64_t now)
{
	const struct nt_gw_grant *gr = nt_gw_grants_find(g, e->cid, e->rid, now);

	(void)unused;
	return !gr || gr->res.type != NT_PMSG_RES_DNS ||
	       !nt_pmsg_name_match(gr->res.address, e->domain);
}

size_t nt_gw_dns_retain(struct nt_gw_dns *t, const struct nt_gw_grants *g, int64_t now)
{
	return remove_if(t, unmatched, g, NULL, now);
}
