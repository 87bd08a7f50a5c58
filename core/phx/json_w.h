/* SPDX-License-Identifier: MIT */
/* A JSON writer into a caller's bounded buffer, without allocation.
 *
 * Calls append; commas between members and elements come by themselves.
 * Anything that does not fit, a string that is not UTF-8, nesting deeper
 * than NT_JSON_W_DEPTH or a call out of order sets the error flag; later
 * calls then do nothing and nt_json_w_finish reports it. */
#ifndef NT_CORE_PHX_JSON_W_H
#define NT_CORE_PHX_JSON_W_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NT_JSON_W_DEPTH 16 /* the protocol nests 5 deep at most */

struct nt_json_w {
	char *buf;
	size_t cap, len;
	bool err;
	unsigned depth;
	uint32_t in_obj; /* bit d: the container at depth d + 1 is an object */
	bool first;    /* nothing written yet at this level: no comma before the next */
	bool want_val; /* a key was written: a value follows without a comma */
};

void nt_json_w_init(struct nt_json_w *w, char *buf, size_t cap);
void nt_json_w_obj_open(struct nt_json_w *w);
void nt_json_w_obj_close(struct nt_json_w *w);
void nt_json_w_arr_open(struct nt_json_w *w);
void nt_json_w_arr_close(struct nt_json_w *w);
void nt_json_w_key(struct nt_json_w *w, const char *key);
void nt_json_w_str(struct nt_json_w *w, const char *s);
void nt_json_w_strn(struct nt_json_w *w, const char *s, size_t len);
void nt_json_w_int(struct nt_json_w *w, int64_t v);
void nt_json_w_bool(struct nt_json_w *w, bool v);
void nt_json_w_null(struct nt_json_w *w);
/* JSON text the caller vouches for (e.g. a payload already encoded). */
void nt_json_w_raw(struct nt_json_w *w, const char *json, size_t len);
/* The length written (NUL-terminated), or -ENOSPC when anything failed. */
int nt_json_w_finish(struct nt_json_w *w);

/* Shorthands for a member: key then value. */
void nt_json_w_kstr(struct nt_json_w *w, const char *key, const char *s);
void nt_json_w_kint(struct nt_json_w *w, const char *key, int64_t v);

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one
 * (overlong forms, surrogates, over U+10FFFF, cut short). */
size_t nt_utf8_seq(const unsigned char *s, size_t len);
/* true when all of s is UTF-8. */
bool nt_utf8_valid(const char *s, size_t len);

#endif
