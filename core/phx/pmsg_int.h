/* SPDX-License-Identifier: MIT */
/* Inside core/phx: the pieces the payload codecs share (pmsg_*.c). */
#ifndef NT_CORE_PHX_PMSG_INT_H
#define NT_CORE_PHX_PMSG_INT_H

#include "core/phx/json_r.h"
#include "core/phx/json_w.h"
#include "core/phx/pmsg.h"

typedef int (*nt_pmsg_read_fn)(const struct nt_json *j, int t, void *out);
typedef void (*nt_pmsg_write_fn)(struct nt_json_w *w, const void *m);

/* Parses json, reads the root with fn; on failure zeroes out[size]. */
int nt_pmsg_decode(const char *json, size_t len, nt_pmsg_read_fn fn, void *out, size_t size);
int nt_pmsg_encode(char *buf, size_t cap, nt_pmsg_write_fn fn, const void *m);

/* Members of the object at obj, validated; absent is -EINVAL. */
int nt_pmsg_get_id(const struct nt_json *j, int obj, const char *key,
		   char out[NT_PMSG_ID_MAX + 1]);
int nt_pmsg_get_key(const struct nt_json *j, int obj, const char *key, uint8_t out[NT_KEY_LEN]);
int nt_pmsg_get_ip(const struct nt_json *j, int obj, const char *key, int family, uint8_t *out);
int nt_pmsg_get_expires(const struct nt_json *j, int obj, const char *key, int64_t *out);
/* An optional string member: "" when absent or null. */
int nt_pmsg_get_opt(const struct nt_json *j, int obj, const char *key, char *out, size_t cap);
/* An address of either family as text, for proxy_ips. */
int nt_pmsg_ip_any(const char *text, int *family, uint8_t out[16]);

/* Payloads of one string member, {"KEY": "..."}: 1..cap-1 bytes. */
int nt_pmsg_one_decode(const char *json, size_t len, const char *key, char *out, size_t cap);
int nt_pmsg_one_encode(char *buf, size_t cap, const char *key, const char *value);

void nt_pmsg_put_key(struct nt_json_w *w, const char *key, const uint8_t k[NT_KEY_LEN]);
void nt_pmsg_put_ip(struct nt_json_w *w, const char *key, int family, const uint8_t *addr);

int nt_pmsg_res_read(const struct nt_json *j, int t, void *out);
void nt_pmsg_res_write(struct nt_json_w *w, const void *r);
int nt_pmsg_iface_read(const struct nt_json *j, int t, struct nt_pmsg_iface *out);
void nt_pmsg_iface_write(struct nt_json_w *w, const struct nt_pmsg_iface *i);
int nt_pmsg_client_read(const struct nt_json *j, int t, void *out);
void nt_pmsg_client_write(struct nt_json_w *w, const void *c);

#endif
