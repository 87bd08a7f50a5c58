// SPDX-License-Identifier: MIT
/* The JSON writer: bounded, error flag instead of overflow. */
#include "core/phx/json_w.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

size_t nt_utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp, min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool nt_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		size_t n = nt_utf8_seq(p + i, len - i);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

void nt_json_w_init(struct nt_json_w *w, char *buf, size_t cap)
{
	memset(w, 0, sizeof(*w));
	w->buf = buf;
	w->cap = cap;
	w->first = true;
	w->err = cap == 0;
}

static void put(struct nt_json_w *w, const char *s, size_t n)
{
	if (w->err)
		return;
	/* One byte stays free for the terminating NUL. */
	if (n >= w->cap - w->len) {
		w->err = true;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

/* Before a value: the comma after a sibling, unless a key precedes it. */
static void sep(struct nt_json_w *w)
{
	if (w->depth && (w->in_obj >> (w->depth - 1) & 1) && !w->want_val)
		w->err = true; /* a member's value without its key */
	if (w->want_val)
		w->want_val = false;
	else if (!w->first)
		put(w, ",", 1);
	w->first = false;
}

static void w_open(struct nt_json_w *w, const char *c)
{
	sep(w);
	if (w->depth >= NT_JSON_W_DEPTH) {
		w->err = true;
		return;
	}
	w->in_obj = (w->in_obj & ~(1u << w->depth)) | (uint32_t)(*c == '{') << w->depth;
	w->depth++;
	put(w, c, 1);
	w->first = true;
}

static void w_close(struct nt_json_w *w, const char *c)
{
	if (w->depth == 0 || w->want_val || (w->in_obj >> (w->depth - 1) & 1) != (*c == '}'))
		w->err = true;
	else
		w->depth--;
	put(w, c, 1);
	w->first = false;
}

void nt_json_w_obj_open(struct nt_json_w *w)
{
	w_open(w, "{");
}

void nt_json_w_obj_close(struct nt_json_w *w)
{
	w_close(w, "}");
}

void nt_json_w_arr_open(struct nt_json_w *w)
{
	w_open(w, "[");
}

void nt_json_w_arr_close(struct nt_json_w *w)
{
	w_close(w, "]");
}

static void quoted(struct nt_json_w *w, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	put(w, "\"", 1);
	while (i < len && !w->err) {
		unsigned char c = p[i];
		char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
		size_t n;

		if (c >= 0x20 && c != '"' && c != '\\') {
			n = nt_utf8_seq(p + i, len - i);
			if (n == 0) {
				w->err = true;
				break;
			}
			i += n;
			run += n;
			continue;
		}
		put(w, s + i - run, run);
		run = 0;
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			put(w, esc, 2);
		} else if (c == '\n' || c == '\r' || c == '\t') {
			esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			put(w, esc, 2);
		} else {
			put(w, esc, 6);
		}
		i++;
	}
	put(w, s + i - run, run);
	put(w, "\"", 1);
}

void nt_json_w_key(struct nt_json_w *w, const char *key)
{
	if (w->want_val || w->depth == 0 || !(w->in_obj >> (w->depth - 1) & 1))
		w->err = true;
	if (!w->first)
		put(w, ",", 1);
	w->first = false;
	quoted(w, key, strlen(key));
	put(w, ":", 1);
	w->want_val = true;
}

void nt_json_w_strn(struct nt_json_w *w, const char *s, size_t len)
{
	sep(w);
	quoted(w, s, len);
}

void nt_json_w_str(struct nt_json_w *w, const char *s)
{
	nt_json_w_strn(w, s, strlen(s));
}

void nt_json_w_int(struct nt_json_w *w, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRId64, v);

	sep(w);
	put(w, num, (size_t)n);
}

void nt_json_w_bool(struct nt_json_w *w, bool v)
{
	sep(w);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void nt_json_w_null(struct nt_json_w *w)
{
	sep(w);
	put(w, "null", 4);
}

void nt_json_w_raw(struct nt_json_w *w, const char *json, size_t len)
{
	sep(w);
	put(w, json, len);
}

void nt_json_w_kstr(struct nt_json_w *w, const char *key, const char *s)
{
	nt_json_w_key(w, key);
	nt_json_w_str(w, s);
}

void nt_json_w_kint(struct nt_json_w *w, const char *key, int64_t v)
{
	nt_json_w_key(w, key);
	nt_json_w_int(w, v);
}

int nt_json_w_finish(struct nt_json_w *w)
{
	if (w->err || w->depth != 0 || w->want_val || w->len > INT32_MAX)
		return -ENOSPC;
	return (int)w->len;
}
