// SPDX-License-Identifier: MIT
/* Phoenix V1 frames: decode and encode, without I/O or allocation. */
#include "core/phx/phx.h"

#include <errno.h>
#include <string.h>

#include "core/phx/json_r.h"
#include "core/phx/json_w.h"

#define REF_MAX ((INT64_C(1) << 53) - 1) /* JavaScript's safe integers, as Phoenix's peers */
#define FRAME_MEMBERS_MAX NT_JSON_MEMBERS_MAX

struct span {
	size_t start, end; /* a key: inside the quotes; a value: the whole text */
};

static void skip_ws(const char *s, size_t len, size_t *i)
{
	while (*i < len && strchr(" \t\r\n", s[*i]) && s[*i])
		(*i)++;
}

/* The top-level members of a checked object, in order. */
static int members(const char *s, size_t len, struct span *key, struct span *val, size_t *n)
{
	size_t i = 0;

	*n = 0;
	skip_ws(s, len, &i);
	if (s[i] != '{')
		return -EINVAL;
	i++;
	for (;;) {
		skip_ws(s, len, &i);
		if (s[i] == '}')
			return 0;
		if (s[i] == ',')
			i++, skip_ws(s, len, &i);
		if (*n == FRAME_MEMBERS_MAX)
			return -EINVAL;
		key[*n].start = i + 1;
		i = nt_json_skip_text(s, len, i);
		key[*n].end = i - 1;
		skip_ws(s, len, &i);
		i++; /* the colon */
		skip_ws(s, len, &i);
		val[*n].start = i;
		i = nt_json_skip_text(s, len, i);
		val[*n].end = i;
		for (size_t k = 0; k < *n; k++)
			if (nt_json_span_eq(s + key[k].start, key[k].end - key[k].start,
					    s + key[*n].start, key[*n].end - key[*n].start))
				return -EINVAL;
		(*n)++;
	}
}

static bool key_is(const char *s, const struct span *k, const char *name)
{
	return nt_json_span_eq(s + k->start, k->end - k->start, name, strlen(name));
}

/* A string value's unescaped text into out[NT_PHX_NAME_MAX + 1]. */
static int name_of(const char *s, const struct span *v, char *out)
{
	struct nt_json j;
	jsmntok_t tok[1];

	if (s[v->start] != '"' || nt_json_parse(&j, s + v->start, v->end - v->start, tok, 1))
		return -EINVAL;
	return nt_json_str(&j, 0, out, NT_PHX_NAME_MAX + 1) < 0 ? -EINVAL : 0;
}

static int ref_of(const char *s, const struct span *v, struct nt_phx_frame *out)
{
	struct nt_json j;
	jsmntok_t tok[1];

	if (nt_json_parse(&j, s + v->start, v->end - v->start, tok, 1))
		return -EINVAL;
	if (nt_json_is_null(&j, 0))
		return 0;
	if (nt_json_i64(&j, 0, &out->ref) || out->ref < 0 || out->ref > REF_MAX)
		return -EINVAL;
	out->has_ref = true;
	return 0;
}

int nt_phx_decode(const char *msg, size_t len, struct nt_phx_frame *out)
{
	struct span key[FRAME_MEMBERS_MAX], val[FRAME_MEMBERS_MAX];
	bool topic = false, event = false;
	size_t n;
	int err = nt_json_check(msg, len);

	memset(out, 0, sizeof(*out));
	out->payload = "null";
	out->payload_len = 4;
	if (err)
		return err;
	err = members(msg, len, key, val, &n);
	for (size_t k = 0; k < n && !err; k++) {
		const struct span *v = &val[k];
		char c = msg[v->start];

		if (key_is(msg, &key[k], "topic")) {
			err = name_of(msg, v, out->topic);
			topic = true;
		} else if (key_is(msg, &key[k], "event")) {
			err = name_of(msg, v, out->event);
			event = true;
		} else if (key_is(msg, &key[k], "ref")) {
			err = ref_of(msg, v, out);
		} else if (key_is(msg, &key[k], "payload")) {
			if (c != '{' && c != '"' && c != 'n')
				err = -EINVAL;
			out->payload = msg + v->start;
			out->payload_len = v->end - v->start;
		}
	}
	if (!err && (!topic || !event))
		err = -EINVAL;
	if (err) {
		memset(out, 0, sizeof(*out));
		out->payload = "null";
		out->payload_len = 4;
	}
	return err;
}

int nt_phx_encode(char *buf, size_t cap, const char *topic, const char *event,
		  const char *payload, size_t payload_len, int64_t ref)
{
	struct nt_json_w w;

	nt_json_w_init(&w, buf, cap);
	nt_json_w_obj_open(&w);
	nt_json_w_kstr(&w, "topic", topic);
	nt_json_w_kstr(&w, "event", event);
	nt_json_w_key(&w, "payload");
	nt_json_w_raw(&w, payload, payload_len);
	nt_json_w_key(&w, "ref");
	if (ref < 0)
		nt_json_w_null(&w);
	else
		nt_json_w_int(&w, ref);
	nt_json_w_obj_close(&w);
	return nt_json_w_finish(&w);
}

int nt_phx_reply_parse(const char *payload, size_t len, bool *status_ok, const char **response,
		       size_t *response_len)
{
	struct span key[FRAME_MEMBERS_MAX], val[FRAME_MEMBERS_MAX];
	bool status = false, resp = false;
	size_t n;
	int err = nt_json_check(payload, len);

	if (err)
		return -EINVAL;
	err = members(payload, len, key, val, &n);
	for (size_t k = 0; k < n && !err; k++) {
		const struct span *v = &val[k];
		char s[NT_PHX_NAME_MAX + 1];

		if (key_is(payload, &key[k], "status")) {
			err = name_of(payload, v, s);
			if (!err && strcmp(s, "ok") != 0 && strcmp(s, "error") != 0)
				err = -EINVAL;
			*status_ok = !err && strcmp(s, "ok") == 0;
			status = true;
		} else if (key_is(payload, &key[k], "response")) {
			if (payload[v->start] != '{')
				err = -EINVAL;
			*response = payload + v->start;
			*response_len = v->end - v->start;
			resp = true;
		}
	}
	return !err && status && resp ? 0 : -EINVAL;
}

int nt_phx_reply_build(char *buf, size_t cap, const char *response, size_t response_len,
		       const char *reason)
{
	struct nt_json_w w;

	nt_json_w_init(&w, buf, cap);
	nt_json_w_obj_open(&w);
	nt_json_w_kstr(&w, "status", reason ? "error" : "ok");
	nt_json_w_key(&w, "response");
	if (reason) {
		nt_json_w_obj_open(&w);
		nt_json_w_kstr(&w, "reason", reason);
		nt_json_w_obj_close(&w);
	} else {
		nt_json_w_raw(&w, response, response_len);
	}
	nt_json_w_obj_close(&w);
	return nt_json_w_finish(&w);
}
