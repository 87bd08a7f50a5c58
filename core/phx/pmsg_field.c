// SPDX-License-Identifier: MIT
/* The payload codecs' shared fields: ids, keys, addresses, times. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "core/phx/pmsg_int.h"

int nt_pmsg_decode(const char *json, size_t len, nt_pmsg_read_fn fn, void *out, size_t size)
{
	struct nt_json j;
	int err = nt_json_parse_alloc(&j, json, len);

	if (!err) {
		err = fn(&j, 0, out);
		nt_json_free(&j);
	}
	if (err)
		sodium_memzero(out, size);
	return err;
}

int nt_pmsg_encode(char *buf, size_t cap, nt_pmsg_write_fn fn, const void *m)
{
	struct nt_json_w w;

	nt_json_w_init(&w, buf, cap);
	fn(&w, m);
	return nt_json_w_finish(&w);
}

int nt_pmsg_get_id(const struct nt_json *j, int obj, const char *key,
		   char out[NT_PMSG_ID_MAX + 1])
{
	int n = nt_json_get_str(j, obj, key, out, NT_PMSG_ID_MAX + 1);

	return n > 0 ? 0 : -EINVAL;
}

int nt_pmsg_get_key(const struct nt_json *j, int obj, const char *key, uint8_t out[NT_KEY_LEN])
{
	char text[NT_KEY_B64_LEN + 1];
	int n = nt_json_get_str(j, obj, key, text, sizeof(text)), err;

	err = n < 0 ? -EINVAL : nt_key_from_base64(out, text, (size_t)n);
	sodium_memzero(text, sizeof(text));
	return err ? -EINVAL : 0;
}

int nt_pmsg_get_ip(const struct nt_json *j, int obj, const char *key, int family, uint8_t *out)
{
	char text[INET6_ADDRSTRLEN];

	if (nt_json_get_str(j, obj, key, text, sizeof(text)) < 0)
		return -EINVAL;
	return inet_pton(family, text, out) == 1 ? 0 : -EINVAL;
}

int nt_pmsg_ip_any(const char *text, int *family, uint8_t out[16])
{
	*family = strchr(text, ':') ? AF_INET6 : AF_INET;
	return inet_pton(*family, text, out) == 1 ? 0 : -EINVAL;
}

int nt_pmsg_get_expires(const struct nt_json *j, int obj, const char *key, int64_t *out)
{
	int err = nt_json_get_i64(j, obj, key, out);

	return err || *out < 0 ? -EINVAL : 0;
}

int nt_pmsg_get_opt(const struct nt_json *j, int obj, const char *key, char *out, size_t cap)
{
	int t = nt_json_get(j, obj, key);

	out[0] = '\0';
	if (t == -ENOENT || (t >= 0 && nt_json_is_null(j, t)))
		return 0;
	return t < 0 || nt_json_str(j, t, out, cap) < 0 ? -EINVAL : 0;
}

void nt_pmsg_put_key(struct nt_json_w *w, const char *key, const uint8_t k[NT_KEY_LEN])
{
	char text[NT_KEY_B64_LEN + 1];

	nt_key_to_base64(text, k);
	nt_json_w_kstr(w, key, text);
	sodium_memzero(text, sizeof(text));
}

void nt_pmsg_put_ip(struct nt_json_w *w, const char *key, int family, const uint8_t *addr)
{
	char text[INET6_ADDRSTRLEN];

	if (!inet_ntop(family, addr, text, sizeof(text)))
		text[0] = '\0';
	if (key)
		nt_json_w_key(w, key);
	nt_json_w_str(w, text);
}

int nt_pmsg_iface_read(const struct nt_json *j, int t, struct nt_pmsg_iface *out)
{
	if (!nt_json_is(j, t, JSMN_OBJECT) || nt_pmsg_get_ip(j, t, "ipv4", AF_INET, out->ipv4) ||
	    nt_pmsg_get_ip(j, t, "ipv6", AF_INET6, out->ipv6))
		return -EINVAL;
	return 0;
}

void nt_pmsg_iface_write(struct nt_json_w *w, const struct nt_pmsg_iface *i)
{
	nt_json_w_obj_open(w);
	nt_pmsg_put_ip(w, "ipv4", AF_INET, i->ipv4);
	nt_pmsg_put_ip(w, "ipv6", AF_INET6, i->ipv6);
	nt_json_w_obj_close(w);
}

int nt_pmsg_client_read(const struct nt_json *j, int t, void *out)
{
	struct nt_pmsg_client *c = out;

	if (!nt_json_is(j, t, JSMN_OBJECT) || nt_pmsg_get_id(j, t, "id", c->id) ||
	    nt_pmsg_get_key(j, t, "public_key", c->public_key) ||
	    nt_pmsg_get_key(j, t, "preshared_key", c->preshared_key) ||
	    nt_pmsg_get_ip(j, t, "ipv4", AF_INET, c->ipv4) ||
	    nt_pmsg_get_ip(j, t, "ipv6", AF_INET6, c->ipv6) ||
	    nt_pmsg_get_opt(j, t, "name", c->name, sizeof(c->name)))
		return -EINVAL;
	return 0;
}

void nt_pmsg_client_write(struct nt_json_w *w, const void *m)
{
	const struct nt_pmsg_client *c = m;

	nt_json_w_obj_open(w);
	nt_json_w_kstr(w, "id", c->id);
	nt_pmsg_put_key(w, "public_key", c->public_key);
	nt_pmsg_put_key(w, "preshared_key", c->preshared_key);
	nt_pmsg_put_ip(w, "ipv4", AF_INET, c->ipv4);
	nt_pmsg_put_ip(w, "ipv6", AF_INET6, c->ipv6);
	nt_json_w_kstr(w, "name", c->name);
	nt_json_w_obj_close(w);
}

int nt_pmsg_client_encode(char *buf, size_t cap, const struct nt_pmsg_client *c)
{
	return nt_pmsg_encode(buf, cap, nt_pmsg_client_write, c);
}

int nt_pmsg_client_decode(const char *json, size_t len, struct nt_pmsg_client *out)
{
	return nt_pmsg_decode(json, len, nt_pmsg_client_read, out, sizeof(*out));
}

int nt_pmsg_one_decode(const char *json, size_t len, const char *key, char *out, size_t cap)
{
	struct nt_json j;
	int err = nt_json_parse_alloc(&j, json, len);

	if (!err) {
		err = nt_json_get_str(&j, 0, key, out, cap) > 0 ? 0 : -EINVAL;
		nt_json_free(&j);
	}
	if (err)
		memset(out, 0, cap);
	return err;
}

int nt_pmsg_one_encode(char *buf, size_t cap, const char *key, const char *value)
{
	struct nt_json_w w;

	nt_json_w_init(&w, buf, cap);
	nt_json_w_obj_open(&w);
	nt_json_w_kstr(&w, key, value);
	nt_json_w_obj_close(&w);
	return nt_json_w_finish(&w);
}
