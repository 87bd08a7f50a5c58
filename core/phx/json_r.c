// SPDX-License-Identifier: MIT
/* Strict JSON: an iterative checker, jsmn tokens, typed readers. */
#define JSMN_STRICT
#include <jsmn.h>

#include "core/phx/json_r.h"
#include "core/phx/json_w.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits at s (len bytes available), or -1. */
static long hex4(const char *s, size_t len)
{
	long v = 0;

	if (len < 4)
		return -1;
	for (int k = 0; k < 4; k++) {
		int h = hexval(s[k]);

		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* A string whose opening quote is at s[*i - 1]; *i ends after the closing one. */
static int check_string(const char *s, size_t len, size_t *i)
{
	while (*i < len) {
		unsigned char c = (unsigned char)s[(*i)++];
		long u, lo;

		if (c == '"')
			return 0;
		if (c < 0x20)
			return -EINVAL;
		if (c != '\\')
			continue;
		if (*i >= len)
			return -EINVAL;
		c = (unsigned char)s[(*i)++];
		if (strchr("\"\\/bfnrt", c) && c)
			continue;
		if (c != 'u' || (u = hex4(s + *i, len - *i)) < 0)
			return -EINVAL;
		*i += 4;
		if (u >= 0xdc00 && u <= 0xdfff)
			return -EINVAL; /* a low surrogate alone */
		if (u < 0xd800 || u > 0xdbff)
			continue;
		if (len - *i < 6 || s[*i] != '\\' || s[*i + 1] != 'u')
			return -EINVAL;
		lo = hex4(s + *i + 2, len - *i - 2);
		if (lo < 0xdc00 || lo > 0xdfff)
			return -EINVAL;
		*i += 6;
	}
	return -EINVAL;
}

static size_t digits(const char *s, size_t len, size_t i)
{
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	return i;
}

static int check_number(const char *s, size_t len, size_t *i)
{
	size_t k = *i;

	if (k < len && s[k] == '-')
		k++;
	if (k < len && s[k] == '0')
		k++;
	else if (k < len && s[k] >= '1' && s[k] <= '9')
		k = digits(s, len, k);
	else
		return -EINVAL;
	if (k < len && s[k] == '.') {
		size_t d = digits(s, len, k + 1);

		if (d == k + 1)
			return -EINVAL;
		k = d;
	}
	if (k < len && (s[k] == 'e' || s[k] == 'E')) {
		size_t d;

		k++;
		if (k < len && (s[k] == '+' || s[k] == '-'))
			k++;
		d = digits(s, len, k);
		if (d == k)
			return -EINVAL;
		k = d;
	}
	*i = k;
	return 0;
}

static int check_literal(const char *s, size_t len, size_t *i)
{
	static const char *const lit[] = {"true", "false", "null"};

	for (size_t k = 0; k < 3; k++) {
		size_t n = strlen(lit[k]);

		if (len - *i >= n && memcmp(s + *i, lit[k], n) == 0) {
			*i += n;
			return 0;
		}
	}
	return -EINVAL;
}

enum expect { EX_VALUE, EX_VALUE_OR_END, EX_KEY, EX_KEY_OR_END, EX_AFTER };

int nt_json_check(const char *s, size_t len)
{
	enum expect ex = EX_VALUE;
	uint32_t in_obj = 0; /* bit d: the container at depth d + 1 is an object */
	unsigned depth = 0;
	size_t i = 0;

	if (len > NT_JSON_TEXT_MAX)
		return -EMSGSIZE;
	if (!nt_utf8_valid(s, len))
		return -EILSEQ;
	for (;;) {
		int err = 0;
		char c;

		while (i < len && is_ws(s[i]))
			i++;
		if (i == len)
			break;
		c = s[i];
		switch (ex) {
		case EX_VALUE_OR_END:
		case EX_VALUE:
			if (c == ']' && ex == EX_VALUE_OR_END) {
				depth--, i++, ex = EX_AFTER;
			} else if (c == '{' || c == '[') {
				if (depth == NT_JSON_DEPTH_MAX)
					return -EINVAL;
				in_obj = (in_obj & ~(1u << depth)) | (uint32_t)(c == '{') << depth;
				depth++, i++;
				ex = c == '{' ? EX_KEY_OR_END : EX_VALUE_OR_END;
			} else {
				i++;
				if (c == '"')
					err = check_string(s, len, &i);
				else if (c == '-' || (c >= '0' && c <= '9'))
					i--, err = check_number(s, len, &i);
				else
					i--, err = check_literal(s, len, &i);
				ex = EX_AFTER;
			}
			break;
		case EX_KEY_OR_END:
		case EX_KEY:
			if (c == '}' && ex == EX_KEY_OR_END) {
				depth--, i++, ex = EX_AFTER;
				break;
			}
			if (c != '"')
				return -EINVAL;
			i++;
			err = check_string(s, len, &i);
			while (i < len && is_ws(s[i]))
				i++;
			if (i == len || s[i] != ':')
				return -EINVAL;
			i++;
			ex = EX_VALUE;
			break;
		case EX_AFTER:
			if (depth == 0)
				return -EINVAL; /* trailing bytes */
			if (c == ',')
				ex = in_obj >> (depth - 1) & 1 ? EX_KEY : EX_VALUE;
			else if (c == (in_obj >> (depth - 1) & 1 ? '}' : ']'))
				depth--;
			else
				return -EINVAL;
			i++;
			break;
		}
		if (err)
			return err;
	}
	return depth == 0 && ex == EX_AFTER ? 0 : -EINVAL;
}

/* Unescaping a checked string's content byte by byte, for comparisons. */
struct unesc {
	const char *p, *end;
	unsigned char pend[4];
	unsigned npend, ipend;
};

static int unesc_next(struct unesc *u)
{
	uint32_t cp;
	unsigned n;

	if (u->ipend < u->npend)
		return u->pend[u->ipend++];
	if (u->p >= u->end)
		return -1;
	if (*u->p != '\\')
		return (unsigned char)*u->p++;
	u->p++;
	switch (*u->p++) {
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	case 'u':
		break;
	default:
		return (unsigned char)u->p[-1];
	}
	cp = (uint32_t)hex4(u->p, 4);
	u->p += 4;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)hex4(u->p + 2, 4) - 0xdc00);
		u->p += 6;
	}
	if (cp < 0x80) {
		u->pend[0] = (unsigned char)cp, n = 1;
	} else if (cp < 0x800) {
		u->pend[0] = (unsigned char)(0xc0 | cp >> 6), n = 2;
	} else if (cp < 0x10000) {
		u->pend[0] = (unsigned char)(0xe0 | cp >> 12), n = 3;
	} else {
		u->pend[0] = (unsigned char)(0xf0 | cp >> 18), n = 4;
	}
	for (unsigned k = 1; k < n; k++)
		u->pend[k] = (unsigned char)(0x80 | (cp >> (6 * (n - 1 - k)) & 0x3f));
	u->npend = n;
	u->ipend = 1;
	return u->pend[0];
}

static void unesc_init(struct unesc *u, const char *p, size_t len)
{
	memset(u, 0, sizeof(*u));
	u->p = p;
	u->end = p + len;
}

bool nt_json_span_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	struct unesc ua, ub;
	int ca, cb;

	unesc_init(&ua, a, alen);
	unesc_init(&ub, b, blen);
	do {
		ca = unesc_next(&ua);
		cb = unesc_next(&ub);
		if (ca != cb)
			return false;
	} while (ca >= 0);
	return true;
}

size_t nt_json_skip_text(const char *s, size_t len, size_t i)
{
	unsigned depth = 0;

	while (i < len && is_ws(s[i]))
		i++;
	do {
		if (i >= len)
			return len;
		if (s[i] == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			i++;
		} else if (s[i] == '{' || s[i] == '[') {
			depth++, i++;
		} else if (s[i] == '}' || s[i] == ']') {
			depth--, i++;
		} else if (depth) {
			i++;
		} else {
			while (i < len && !is_ws(s[i]) && !strchr(",}]", s[i]))
				i++;
		}
	} while (depth);
	return i;
}

int nt_json_skip(const struct nt_json *j, int t)
{
	int end = j->tok[t].end;

	for (t++; t < j->n && j->tok[t].start < end; t++)
		;
	return t;
}

static int check_members(const struct nt_json *j)
{
	for (int o = 0; o < j->n; o++) {
		int keys[NT_JSON_MEMBERS_MAX];
		int k = o + 1;

		if (j->tok[o].type != JSMN_OBJECT)
			continue;
		if (j->tok[o].size > NT_JSON_MEMBERS_MAX)
			return -EINVAL;
		for (int m = 0; m < j->tok[o].size; m++) {
			const jsmntok_t *a = &j->tok[k];

			for (int p = 0; p < m; p++) {
				const jsmntok_t *b = &j->tok[keys[p]];

				if (nt_json_span_eq(j->text + a->start, (size_t)(a->end - a->start),
						    j->text + b->start, (size_t)(b->end - b->start)))
					return -EINVAL;
			}
			keys[m] = k;
			k = nt_json_skip(j, k + 1);
		}
	}
	return 0;
}

/* The start of a root that is a number or a literal, or -1: strict jsmn
 * wants a delimiter after a primitive, which a root one lacks. */
static int root_primitive(const char *text, size_t len, size_t *start, size_t *end)
{
	size_t i = 0;

	while (i < len && is_ws(text[i]))
		i++;
	if (i == len || strchr("{[\"", text[i]))
		return -1;
	*start = i;
	*end = nt_json_skip_text(text, len, i);
	return 0;
}

static int tokenize(const char *text, size_t len, jsmntok_t *tok, unsigned cap)
{
	jsmn_parser p;
	size_t start, end;

	if (root_primitive(text, len, &start, &end) == 0) {
		if (tok && cap < 1)
			return JSMN_ERROR_NOMEM;
		if (tok)
			tok[0] = (jsmntok_t){JSMN_PRIMITIVE, (int)start, (int)end, 0};
		return 1;
	}
	jsmn_init(&p);
	return jsmn_parse(&p, text, len, tok, cap);
}

int nt_json_parse(struct nt_json *j, const char *text, size_t len, jsmntok_t *tok, unsigned cap)
{
	int err = nt_json_check(text, len), n;

	memset(j, 0, sizeof(*j));
	if (err)
		return err;
	n = tokenize(text, len, tok, cap);
	if (n == JSMN_ERROR_NOMEM)
		return -EMSGSIZE;
	if (n < 1)
		return -EINVAL; /* the checker accepted what jsmn did not: refuse */
	j->text = text;
	j->len = len;
	j->tok = tok;
	j->n = n;
	err = check_members(j);
	if (err)
		memset(j, 0, sizeof(*j));
	return err;
}

int nt_json_parse_alloc(struct nt_json *j, const char *text, size_t len)
{
	jsmntok_t *tok;
	int err = nt_json_check(text, len), n;

	memset(j, 0, sizeof(*j));
	if (err)
		return err;
	n = tokenize(text, len, NULL, 0);
	if (n < 1)
		return -EINVAL;
	if (n > (int)NT_JSON_TOK_MAX)
		return -EMSGSIZE;
	tok = calloc((size_t)n, sizeof(*tok));
	if (!tok)
		return -ENOMEM;
	err = nt_json_parse(j, text, len, tok, (unsigned)n);
	if (err) {
		free(tok);
		return err;
	}
	j->owned = true;
	return 0;
}

void nt_json_free(struct nt_json *j)
{
	if (j->owned)
		free(j->tok);
	memset(j, 0, sizeof(*j));
}

bool nt_json_is(const struct nt_json *j, int t, jsmntype_t type)
{
	return t >= 0 && t < j->n && j->tok[t].type == type;
}

bool nt_json_is_null(const struct nt_json *j, int t)
{
	return nt_json_is(j, t, JSMN_PRIMITIVE) && j->text[j->tok[t].start] == 'n';
}

int nt_json_get(const struct nt_json *j, int obj, const char *key)
{
	int k = obj + 1;

	if (!nt_json_is(j, obj, JSMN_OBJECT))
		return -EINVAL;
	for (int m = 0; m < j->tok[obj].size; m++) {
		if (nt_json_str_eq(j, k, key))
			return k + 1;
		k = nt_json_skip(j, k + 1);
	}
	return -ENOENT;
}

int nt_json_arr_first(const struct nt_json *j, int t)
{
	if (!nt_json_is(j, t, JSMN_ARRAY))
		return -EINVAL;
	return j->tok[t].size ? t + 1 : -ENOENT;
}

int nt_json_str(const struct nt_json *j, int t, char *out, size_t cap)
{
	struct unesc u;
	size_t n = 0;
	int c;

	if (!nt_json_is(j, t, JSMN_STRING) || cap == 0)
		return -EINVAL;
	unesc_init(&u, j->text + j->tok[t].start, (size_t)(j->tok[t].end - j->tok[t].start));
	while ((c = unesc_next(&u)) >= 0) {
		if (c == 0 || n + 1 >= cap)
			return -EINVAL;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return (int)n;
}

bool nt_json_str_eq(const struct nt_json *j, int t, const char *s)
{
	if (!nt_json_is(j, t, JSMN_STRING))
		return false;
	/* s holds no backslash the comparison would unescape: keys are plain. */
	return nt_json_span_eq(j->text + j->tok[t].start, (size_t)(j->tok[t].end - j->tok[t].start),
			       s, strlen(s));
}

int nt_json_i64(const struct nt_json *j, int t, int64_t *v)
{
	const char *s;
	size_t len, k = 0;
	bool neg;
	uint64_t acc = 0, lim;

	if (!nt_json_is(j, t, JSMN_PRIMITIVE))
		return -EINVAL;
	s = j->text + j->tok[t].start;
	len = (size_t)(j->tok[t].end - j->tok[t].start);
	neg = s[0] == '-';
	k = neg;
	if (k == len)
		return -EINVAL;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; k < len; k++) {
		unsigned d;

		if (s[k] < '0' || s[k] > '9')
			return -EINVAL; /* a fraction, an exponent, a literal */
		d = (unsigned)(s[k] - '0');
		if (acc > (lim - d) / 10)
			return -EINVAL;
		acc = acc * 10 + d;
	}
	*v = neg ? (int64_t)(0 - acc) : (int64_t)acc;
	return 0;
}

int nt_json_u16(const struct nt_json *j, int t, uint16_t *v)
{
	int64_t x;
	int err = nt_json_i64(j, t, &x);

	if (err)
		return err;
	if (x < 0 || x > UINT16_MAX)
		return -EINVAL;
	*v = (uint16_t)x;
	return 0;
}

int nt_json_bool(const struct nt_json *j, int t, bool *v)
{
	if (!nt_json_is(j, t, JSMN_PRIMITIVE))
		return -EINVAL;
	if (j->text[j->tok[t].start] == 't' || j->text[j->tok[t].start] == 'f') {
		*v = j->text[j->tok[t].start] == 't';
		return 0;
	}
	return -EINVAL;
}

int nt_json_get_str(const struct nt_json *j, int obj, const char *key, char *out, size_t cap)
{
	int t = nt_json_get(j, obj, key);

	return t < 0 ? -EINVAL : nt_json_str(j, t, out, cap);
}

int nt_json_get_i64(const struct nt_json *j, int obj, const char *key, int64_t *v)
{
	int t = nt_json_get(j, obj, key);

	return t < 0 ? -EINVAL : nt_json_i64(j, t, v);
}
