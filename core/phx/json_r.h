/* SPDX-License-Identifier: MIT */
/* Strict JSON readers over jsmn tokens, without recursion.
 *
 * nt_json_check validates text (RFC 8259, UTF-8, escapes, surrogate pairs,
 * depth) in one iterative pass; nt_json_parse checks, then tokenizes with
 * jsmn into a bounded token array and refuses duplicate members. The readers
 * walk the tokens (a value's subtree is the run of tokens that start before
 * it ends), so nothing an attacker nests drives the C stack. */
#ifndef NT_CORE_PHX_JSON_R_H
#define NT_CORE_PHX_JSON_R_H

#define JSMN_HEADER
#include <jsmn.h>
#undef JSMN_HEADER

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NT_JSON_TEXT_MAX    (1u << 20) /* bytes, as a Phoenix frame */
#define NT_JSON_DEPTH_MAX   16	       /* nested objects and arrays */
#define NT_JSON_MEMBERS_MAX 64	       /* members of one object */
#define NT_JSON_TOK_MAX	    65536      /* tokens of one parsed text */

struct nt_json {
	const char *text;
	size_t len;
	jsmntok_t *tok;
	int n;	      /* tokens in use; tok[0] is the root value */
	bool owned;   /* tok was allocated by nt_json_parse_alloc */
};

/* 0, -EMSGSIZE (over NT_JSON_TEXT_MAX), -EILSEQ (not UTF-8), -EINVAL (not
 * exactly one JSON value, or nested over NT_JSON_DEPTH_MAX). */
int nt_json_check(const char *text, size_t len);
/* Checks and tokenizes into tok[cap]; -EMSGSIZE also when cap is too small,
 * -EINVAL for an object with a duplicate member or over NT_JSON_MEMBERS_MAX. */
int nt_json_parse(struct nt_json *j, const char *text, size_t len, jsmntok_t *tok, unsigned cap);
/* The same with a token array sized to the text (at most NT_JSON_TOK_MAX,
 * else -EMSGSIZE); -ENOMEM. Release with nt_json_free. */
int nt_json_parse_alloc(struct nt_json *j, const char *text, size_t len);
void nt_json_free(struct nt_json *j);

/* The index of the token after the value at t (its subtree skipped). */
int nt_json_skip(const struct nt_json *j, int t);
/* The value of member key of the object at obj: its index, -ENOENT, or
 * -EINVAL when obj is no object. */
int nt_json_get(const struct nt_json *j, int obj, const char *key);
/* Arrays: the first element (or -ENOENT when empty), -EINVAL when t is no
 * array; the next one is nt_json_skip(j, elem); count is tok[t].size. */
int nt_json_arr_first(const struct nt_json *j, int t);

/* Typed reads; -EINVAL for the wrong type or a value out of range. */
bool nt_json_is(const struct nt_json *j, int t, jsmntype_t type);
bool nt_json_is_null(const struct nt_json *j, int t);
/* Unescaped to UTF-8 and NUL-terminated; -EINVAL also when it holds NUL
 * or needs more than cap - 1 bytes. Returns the length. */
int nt_json_str(const struct nt_json *j, int t, char *out, size_t cap);
/* true when the string at t unescapes to exactly s. */
bool nt_json_str_eq(const struct nt_json *j, int t, const char *s);
/* An integer without fraction or exponent, within int64. */
int nt_json_i64(const struct nt_json *j, int t, int64_t *v);
int nt_json_u16(const struct nt_json *j, int t, uint16_t *v);
int nt_json_bool(const struct nt_json *j, int t, bool *v);

/* Member shorthands: absent or wrong type -EINVAL. */
int nt_json_get_str(const struct nt_json *j, int obj, const char *key, char *out, size_t cap);
int nt_json_get_i64(const struct nt_json *j, int obj, const char *key, int64_t *v);

/* Without tokens, on text nt_json_check accepted: the end of the value that
 * starts at i (after whitespace), for the frame decoder. */
size_t nt_json_skip_text(const char *text, size_t len, size_t i);
/* Spans of a checked text, compared as unescaped strings. */
bool nt_json_span_eq(const char *a, size_t alen, const char *b, size_t blen);

#endif
