// SPDX-License-Identifier: MIT
/* The gateway topic's payloads (section 6). */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "core/phx/pmsg_int.h"

/* A grant: {"resource", "client", "expires_at"}, with "ref" when with_ref. */
static int grant_read(const struct nt_json *j, int t, struct nt_pmsg_grant *g, bool with_ref)
{
	if (!nt_json_is(j, t, JSMN_OBJECT) ||
	    nt_pmsg_res_read(j, nt_json_get(j, t, "resource"), &g->resource) ||
	    nt_pmsg_client_read(j, nt_json_get(j, t, "client"), &g->client) ||
	    nt_pmsg_get_expires(j, t, "expires_at", &g->expires_at))
		return -EINVAL;
	return with_ref ? nt_pmsg_get_id(j, t, "ref", g->ref) : 0;
}

static void grant_write(struct nt_json_w *w, const struct nt_pmsg_grant *g, bool with_ref)
{
	nt_json_w_obj_open(w);
	if (with_ref)
		nt_json_w_kstr(w, "ref", g->ref);
	nt_json_w_key(w, "resource");
	nt_pmsg_res_write(w, &g->resource);
	nt_json_w_key(w, "client");
	nt_pmsg_client_write(w, &g->client);
	nt_json_w_kint(w, "expires_at", g->expires_at);
	nt_json_w_obj_close(w);
}

static int gateway_init_read(const struct nt_json *j, int t, void *out)
{
	struct nt_pmsg_gateway_init *m = out;
	int a = nt_json_get(j, t, "authorizations"), e;

	if (!nt_json_is(j, t, JSMN_OBJECT) ||
	    nt_pmsg_iface_read(j, nt_json_get(j, t, "interface"), &m->iface))
		return -EINVAL;
	e = nt_json_arr_first(j, a);
	if (e == -EINVAL)
		return -EINVAL;
	if ((size_t)j->tok[a].size > m->cap)
		return -E2BIG;
	for (m->n = 0; m->n < (size_t)j->tok[a].size; e = nt_json_skip(j, e))
		if (grant_read(j, e, &m->authorizations[m->n++], false))
			return -EINVAL;
	return 0;
}

static void gateway_init_write(struct nt_json_w *w, const void *p)
{
	const struct nt_pmsg_gateway_init *m = p;

	nt_json_w_obj_open(w);
	nt_json_w_key(w, "interface");
	nt_pmsg_iface_write(w, &m->iface);
	nt_json_w_key(w, "authorizations");
	nt_json_w_arr_open(w);
	for (size_t k = 0; k < m->n; k++)
		grant_write(w, &m->authorizations[k], false);
	nt_json_w_arr_close(w);
	nt_json_w_obj_close(w);
}

int nt_pmsg_gateway_init_encode(char *buf, size_t cap, const struct nt_pmsg_gateway_init *m)
{
	return nt_pmsg_encode(buf, cap, gateway_init_write, m);
}

int nt_pmsg_gateway_init_decode(const char *json, size_t len, struct nt_pmsg_gateway_init *out)
{
	struct nt_pmsg_grant *grants = out->authorizations;
	size_t cap = out->cap, n = 0;
	int err;

	memset(&out->iface, 0, sizeof(out->iface));
	out->n = 0;
	err = nt_pmsg_decode(json, len, gateway_init_read, out, sizeof(*out));
	if (err) /* the half-read grants hold pre-shared keys */
		n = cap;
	sodium_memzero(grants, n * sizeof(*grants));
	out->authorizations = grants;
	out->cap = cap;
	return err;
}

static int create_auth_read(const struct nt_json *j, int t, void *out)
{
	return grant_read(j, t, out, true);
}

static void create_auth_write(struct nt_json_w *w, const void *m)
{
	grant_write(w, m, true);
}

int nt_pmsg_create_auth_encode(char *buf, size_t cap, const struct nt_pmsg_grant *m)
{
	return nt_pmsg_encode(buf, cap, create_auth_write, m);
}

int nt_pmsg_create_auth_decode(const char *json, size_t len, struct nt_pmsg_grant *out)
{
	return nt_pmsg_decode(json, len, create_auth_read, out, sizeof(*out));
}

int nt_pmsg_auth_ack_encode(char *buf, size_t cap, const char *ref)
{
	return nt_pmsg_one_encode(buf, cap, "ref", ref);
}

int nt_pmsg_auth_ack_decode(const char *json, size_t len, char out[NT_PMSG_ID_MAX + 1])
{
	return nt_pmsg_one_decode(json, len, "ref", out, NT_PMSG_ID_MAX + 1);
}

static int reject_read(const struct nt_json *j, int t, void *out)
{
	struct nt_pmsg_reject_access *m = out;

	if (!nt_json_is(j, t, JSMN_OBJECT) || nt_pmsg_get_id(j, t, "client_id", m->client_id) ||
	    nt_pmsg_get_id(j, t, "resource_id", m->resource_id))
		return -EINVAL;
	return 0;
}

static void reject_write(struct nt_json_w *w, const void *p)
{
	const struct nt_pmsg_reject_access *m = p;

	nt_json_w_obj_open(w);
	nt_json_w_kstr(w, "client_id", m->client_id);
	nt_json_w_kstr(w, "resource_id", m->resource_id);
	nt_json_w_obj_close(w);
}

int nt_pmsg_reject_access_encode(char *buf, size_t cap, const struct nt_pmsg_reject_access *m)
{
	return nt_pmsg_encode(buf, cap, reject_write, m);
}

int nt_pmsg_reject_access_decode(const char *json, size_t len, struct nt_pmsg_reject_access *out)
{
	return nt_pmsg_decode(json, len, reject_read, out, sizeof(*out));
}
