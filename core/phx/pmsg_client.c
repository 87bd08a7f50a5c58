// SPDX-License-Identifier: MIT
/* The client topic's payloads (section 5) and disconnect. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/phx/pmsg_int.h"

static int client_init_read(const struct nt_json *j, int t, void *out)
{
	struct nt_pmsg_client_init *m = out;
	int a = nt_json_get(j, t, "resources"), e;

	if (!nt_json_is(j, t, JSMN_OBJECT) ||
	    nt_pmsg_iface_read(j, nt_json_get(j, t, "interface"), &m->iface))
		return -EINVAL;
	e = nt_json_arr_first(j, a);
	if (e == -EINVAL)
		return -EINVAL;
	if ((size_t)j->tok[a].size > m->cap)
		return -E2BIG;
	for (m->n = 0; m->n < (size_t)j->tok[a].size; e = nt_json_skip(j, e))
		if (nt_pmsg_res_read(j, e, &m->resources[m->n++]))
			return -EINVAL;
	return 0;
}

static void client_init_write(struct nt_json_w *w, const void *p)
{
	const struct nt_pmsg_client_init *m = p;

	nt_json_w_obj_open(w);
	nt_json_w_key(w, "interface");
	nt_pmsg_iface_write(w, &m->iface);
	nt_json_w_key(w, "resources");
	nt_json_w_arr_open(w);
	for (size_t k = 0; k < m->n; k++)
		nt_pmsg_res_write(w, &m->resources[k]);
	nt_json_w_arr_close(w);
	nt_json_w_obj_close(w);
}

int nt_pmsg_client_init_encode(char *buf, size_t cap, const struct nt_pmsg_client_init *m)
{
	return nt_pmsg_encode(buf, cap, client_init_write, m);
}

int nt_pmsg_client_init_decode(const char *json, size_t len, struct nt_pmsg_client_init *out)
{
	struct nt_pmsg_resource *res = out->resources;
	size_t cap = out->cap;
	int err;

	memset(&out->iface, 0, sizeof(out->iface));
	out->n = 0;
	err = nt_pmsg_decode(json, len, client_init_read, out, sizeof(*out));
	out->resources = res;
	out->cap = cap;
	return err;
}

/* "1.2.3.4:51820" or "[2001:db8::1]:51820"; port 1-65535. */
static int endpoint_parse(struct nt_pmsg_auth_created *m)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *s = m->gateway_endpoint, *colon = strrchr(s, ':'), *h = s;
	size_t hlen;
	char *end;
	long port;

	if (!colon || colon == s)
		return -EINVAL;
	hlen = (size_t)(colon - s);
	m->endpoint_family = AF_INET;
	if (s[0] == '[') {
		if (hlen < 3 || s[hlen - 1] != ']')
			return -EINVAL;
		h++, hlen -= 2;
		m->endpoint_family = AF_INET6;
	}
	if (hlen >= sizeof(host) || colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535 || (colon[1] == '0'))
		return -EINVAL;
	m->endpoint_port = (uint16_t)port;
	return inet_pton(m->endpoint_family, host, m->endpoint_addr) == 1 ? 0 : -EINVAL;
}

static int auth_created_read(const struct nt_json *j, int t, void *out)
{
	struct nt_pmsg_auth_created *m = out;

	if (!nt_json_is(j, t, JSMN_OBJECT) || nt_pmsg_get_id(j, t, "resource_id", m->resource_id) ||
	    nt_pmsg_get_id(j, t, "gateway_id", m->gateway_id) ||
	    nt_pmsg_get_key(j, t, "gateway_public_key", m->gateway_public_key) ||
	    nt_json_get_str(j, t, "gateway_endpoint", m->gateway_endpoint,
			    sizeof(m->gateway_endpoint)) < 0 ||
	    endpoint_parse(m) || nt_pmsg_get_ip(j, t, "gateway_ipv4", AF_INET, m->gateway_ipv4) ||
	    nt_pmsg_get_ip(j, t, "gateway_ipv6", AF_INET6, m->gateway_ipv6) ||
	    nt_pmsg_get_key(j, t, "preshared_key", m->preshared_key) ||
	    nt_pmsg_get_id(j, t, "site_id", m->site_id) ||
	    nt_pmsg_get_expires(j, t, "expires_at", &m->expires_at))
		return -EINVAL;
	return 0;
}

static void auth_created_write(struct nt_json_w *w, const void *p)
{
	const struct nt_pmsg_auth_created *m = p;

	nt_json_w_obj_open(w);
	nt_json_w_kstr(w, "resource_id", m->resource_id);
	nt_json_w_kstr(w, "gateway_id", m->gateway_id);
	nt_pmsg_put_key(w, "gateway_public_key", m->gateway_public_key);
	nt_json_w_kstr(w, "gateway_endpoint", m->gateway_endpoint);
	nt_pmsg_put_ip(w, "gateway_ipv4", AF_INET, m->gateway_ipv4);
	nt_pmsg_put_ip(w, "gateway_ipv6", AF_INET6, m->gateway_ipv6);
	nt_pmsg_put_key(w, "preshared_key", m->preshared_key);
	nt_json_w_kstr(w, "site_id", m->site_id);
	nt_json_w_kint(w, "expires_at", m->expires_at);
	nt_json_w_obj_close(w);
}

int nt_pmsg_auth_created_encode(char *buf, size_t cap, const struct nt_pmsg_auth_created *m)
{
	return nt_pmsg_encode(buf, cap, auth_created_write, m);
}

int nt_pmsg_auth_created_decode(const char *json, size_t len, struct nt_pmsg_auth_created *out)
{
	return nt_pmsg_decode(json, len, auth_created_read, out, sizeof(*out));
}

static const char *const fail_reasons[] = {
	[NT_PMSG_NOT_FOUND] = "not_found",
	[NT_PMSG_FORBIDDEN] = "forbidden",
	[NT_PMSG_OFFLINE] = "offline",
};

const char *nt_pmsg_fail_reason_name(enum nt_pmsg_fail_reason r)
{
	return (size_t)r < sizeof(fail_reasons) / sizeof(fail_reasons[0]) ? fail_reasons[r] : "";
}

static int auth_failed_read(const struct nt_json *j, int t, void *out)
{
	struct nt_pmsg_auth_failed *m = out;
	int r = nt_json_get(j, t, "reason");

	if (!nt_json_is(j, t, JSMN_OBJECT) || nt_pmsg_get_id(j, t, "resource_id", m->resource_id))
		return -EINVAL;
	for (size_t k = 0; k < sizeof(fail_reasons) / sizeof(fail_reasons[0]); k++) {
		if (nt_json_str_eq(j, r, fail_reasons[k])) {
			m->reason = (enum nt_pmsg_fail_reason)k;
			return 0;
		}
	}
	return -EINVAL;
}

static void auth_failed_write(struct nt_json_w *w, const void *p)
{
	const struct nt_pmsg_auth_failed *m = p;

	nt_json_w_obj_open(w);
	nt_json_w_kstr(w, "resource_id", m->resource_id);
	nt_json_w_kstr(w, "reason", nt_pmsg_fail_reason_name(m->reason));
	nt_json_w_obj_close(w);
}

int nt_pmsg_auth_failed_encode(char *buf, size_t cap, const struct nt_pmsg_auth_failed *m)
{
	return nt_pmsg_encode(buf, cap, auth_failed_write, m);
}

int nt_pmsg_auth_failed_decode(const char *json, size_t len, struct nt_pmsg_auth_failed *out)
{
	return nt_pmsg_decode(json, len, auth_failed_read, out, sizeof(*out));
}

int nt_pmsg_auth_revoked_encode(char *buf, size_t cap, const char *resource_id)
{
	return nt_pmsg_one_encode(buf, cap, "resource_id", resource_id);
}

int nt_pmsg_auth_revoked_decode(const char *json, size_t len, char out[NT_PMSG_ID_MAX + 1])
{
	return nt_pmsg_one_decode(json, len, "resource_id", out, NT_PMSG_ID_MAX + 1);
}

int nt_pmsg_resource_deleted_encode(char *buf, size_t cap, const char *resource_id)
{
	struct nt_json_w w;

	nt_json_w_init(&w, buf, cap);
	nt_json_w_str(&w, resource_id);
	return nt_json_w_finish(&w);
}

int nt_pmsg_resource_deleted_decode(const char *json, size_t len, char out[NT_PMSG_ID_MAX + 1])
{
	struct nt_json j;
	jsmntok_t tok[1];
	int err = nt_json_parse(&j, json, len, tok, 1);

	if (!err)
		err = nt_json_str(&j, 0, out, NT_PMSG_ID_MAX + 1) > 0 ? 0 : -EINVAL;
	else if (err == -EMSGSIZE && len <= NT_JSON_TEXT_MAX)
		err = -EINVAL; /* more than one token: not a string */
	if (err)
		memset(out, 0, NT_PMSG_ID_MAX + 1);
	return err;
}

static int request_auth_read(const struct nt_json *j, int t, void *out)
{
	struct nt_pmsg_request_auth *m = out;
	int a, e;

	if (!nt_json_is(j, t, JSMN_OBJECT) || nt_pmsg_get_id(j, t, "resource_id", m->resource_id))
		return -EINVAL;
	a = nt_json_get(j, t, "connected_gateway_ids");
	if (a == -ENOENT || nt_json_is_null(j, a))
		return 0; /* none connected: an empty list */
	e = nt_json_arr_first(j, a);
	if (e == -EINVAL || j->tok[a].size > NT_PMSG_GATEWAY_IDS_MAX)
		return -EINVAL;
	for (; m->n_gateways < (size_t)j->tok[a].size; e = nt_json_skip(j, e))
		if (nt_json_str(j, e, m->connected_gateway_ids[m->n_gateways++], NT_PMSG_ID_MAX + 1) <=
		    0)
			return -EINVAL;
	return 0;
}

static void request_auth_write(struct nt_json_w *w, const void *p)
{
	const struct nt_pmsg_request_auth *m = p;

	nt_json_w_obj_open(w);
	nt_json_w_kstr(w, "resource_id", m->resource_id);
	nt_json_w_key(w, "connected_gateway_ids");
	nt_json_w_arr_open(w);
	for (size_t k = 0; k < m->n_gateways; k++)
		nt_json_w_str(w, m->connected_gateway_ids[k]);
	nt_json_w_arr_close(w);
	nt_json_w_obj_close(w);
}

int nt_pmsg_request_auth_encode(char *buf, size_t cap, const struct nt_pmsg_request_auth *m)
{
	return nt_pmsg_encode(buf, cap, request_auth_write, m);
}

int nt_pmsg_request_auth_decode(const char *json, size_t len, struct nt_pmsg_request_auth *out)
{
	return nt_pmsg_decode(json, len, request_auth_read, out, sizeof(*out));
}

int nt_pmsg_disconnect_encode(char *buf, size_t cap, const char *reason)
{
	return nt_pmsg_one_encode(buf, cap, "reason", reason);
}

int nt_pmsg_disconnect_decode(const char *json, size_t len, char out[NT_PMSG_REASON_MAX + 1])
{
	return nt_pmsg_one_decode(json, len, "reason", out, NT_PMSG_REASON_MAX + 1);
}

bool nt_pmsg_disconnect_fatal(const char *reason)
{
	return strcmp(reason, "token_expired") == 0 || strcmp(reason, "token_revoked") == 0;
}
