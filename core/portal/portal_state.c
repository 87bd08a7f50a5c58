/* SPDX-License-Identifier: MIT */
/* The state file's text: formatting and parsing, without I/O. */
#include "core/portal/portal_int.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC	   "notun-portal-state"
#define FIELDS_MAX 6

void nt_portal_state_free(struct nt_portal_state *st)
{
	free(st->addrs);
	if (st->psks)
		sodium_memzero(st->psks, st->n_psks * sizeof(*st->psks));
	free(st->psks);
	free(st->grants);
	memset(st, 0, sizeof(*st));
}

/* Appends to a buffer that grows; false on ENOMEM. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static bool put(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool put(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return false;
	if (pt_reserve_secret((void **)&b->s, &b->cap, b->len, b->len + (size_t)n + 1, 1))
		return false;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return true;
}

long nt_portal_state_format(const struct nt_portal_state *st, char **out)
{
	struct sbuf b = {0};
	char k[NT_KEY_B64_LEN + 1];
	bool ok = put(&b, MAGIC " %d\n", NT_PORTAL_STATE_VERSION);

	for (size_t i = 0; ok && i < st->n_addrs; i++)
		ok = put(&b, "addr %s %s %" PRIu32 "\n",
			 st->addrs[i].role == NT_PORTAL_CLIENT ? "client" : "gateway",
			 st->addrs[i].name, st->addrs[i].index);
	for (size_t i = 0; ok && i < st->n_psks; i++) {
		nt_key_to_base64(k, st->psks[i].psk);
		ok = put(&b, "psk %s %s %s\n", st->psks[i].client, st->psks[i].gateway, k);
	}
	for (size_t i = 0; ok && i < st->n_grants; i++) {
		const struct nt_portal_grant_rec *g = &st->grants[i];

		nt_key_to_base64(k, g->client_key);
		ok = put(&b, "grant %s %s %s %" PRId64 " %s\n", g->client, g->gateway, g->resource,
			 g->expires_at, k);
	}
	sodium_memzero(k, sizeof(k));
	if (!ok) {
		if (b.s)
			sodium_memzero(b.s, b.cap);
		free(b.s);
		return -ENOMEM;
	}
	*out = b.s;
	return (long)b.len;
}

/* Splits line (modified) at single spaces into at most FIELDS_MAX fields. */
static int split(char *line, char *f[FIELDS_MAX])
{
	int n = 0;

	while (*line) {
		if (n == FIELDS_MAX)
			return -1;
		f[n++] = line;
		line = strchr(line, ' ');
		if (!line)
			break;
		*line++ = '\0';
		if (!*line)
			return -1; /* a trailing space */
	}
	return n;
}

static bool id_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= NT_PORTAL_ID_MAX;
}

static bool num(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	long long v;

	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1]))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* One record line into out; NULL or the reason it is refused. */
/* Capacities of out's arrays while parsing. */
struct caps {
	size_t addrs, psks, grants;
};

static const char *parse_line(char *line, int64_t now_unix, struct nt_portal_state *out,
			      struct caps *cap, bool *nomem)
{
	char *f[FIELDS_MAX];
	int n = split(line, f);
	int64_t v;

	if (n < 1)
		return "malformed line";
	if (!strcmp(f[0], "addr")) {
		struct nt_portal_addr_rec *a;

		if (n != 4 || (strcmp(f[1], "client") && strcmp(f[1], "gateway")) || !id_ok(f[2]) ||
		    !num(f[3], 1, UINT32_MAX, &v))
			return "expected: addr client|gateway NAME INDEX";
		if (!(*nomem = pt_reserve((void **)&out->addrs, &cap->addrs, out->n_addrs + 1,
					  sizeof(*a)) != 0)) {
			a = &out->addrs[out->n_addrs++];
			memset(a, 0, sizeof(*a));
			a->role = f[1][0] == 'c' ? NT_PORTAL_CLIENT : NT_PORTAL_GATEWAY;
			strcpy(a->name, f[2]);
			a->index = (uint32_t)v;
		}
		return NULL;
	}
	if (!strcmp(f[0], "psk")) {
		uint8_t key[NT_KEY_LEN];
		struct nt_portal_psk_rec *k;

		if (n != 4 || !id_ok(f[1]) || !id_ok(f[2]) ||
		    nt_key_from_base64(key, f[3], strlen(f[3])))
			return "expected: psk CLIENT GATEWAY KEY";
		if (pt_reserve_secret((void **)&out->psks, &cap->psks, out->n_psks, out->n_psks + 1,
				      sizeof(*k))) {
			*nomem = true;
			sodium_memzero(key, sizeof(key));
			return NULL;
		}
		k = &out->psks[out->n_psks++];
		strcpy(k->client, f[1]);
		strcpy(k->gateway, f[2]);
		memcpy(k->psk, key, NT_KEY_LEN);
		sodium_memzero(key, sizeof(key));
		return NULL;
	}
	if (!strcmp(f[0], "grant")) {
		struct nt_portal_grant_rec g = {0};

		if (n != 6 || !id_ok(f[1]) || !id_ok(f[2]) || !id_ok(f[3]) ||
		    !num(f[4], 0, INT64_MAX, &v) ||
		    nt_key_from_base64(g.client_key, f[5], strlen(f[5])))
			return "expected: grant CLIENT GATEWAY RESOURCE EXPIRES_AT CLIENT_KEY";
		if (v <= now_unix)
			return NULL; /* expired while the portal was down */
		strcpy(g.client, f[1]);
		strcpy(g.gateway, f[2]);
		strcpy(g.resource, f[3]);
		g.expires_at = v;
		if (!(*nomem = pt_reserve((void **)&out->grants, &cap->grants, out->n_grants + 1,
					  sizeof(g)) != 0))
			out->grants[out->n_grants++] = g;
		return NULL;
	}
	return "unknown record";
}

int nt_portal_state_parse(const char *text, size_t len, int64_t now_unix,
			  struct nt_portal_state *out, char *err, size_t errlen)
{
	char line[512];
	size_t pos = 0, lineno = 0;
	const char *why = NULL;
	bool nomem = false;
	struct caps cap = {0};
	int rc = 0;

	memset(out, 0, sizeof(*out));
	while (pos < len && !why && !nomem) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - text - pos) : len - pos;

		lineno++;
		if (!nl)
			why = "no newline at the end (a cut file)";
		else if (n >= sizeof(line) || memchr(text + pos, '\0', n))
			why = "line too long or binary";
		else {
			memcpy(line, text + pos, n);
			line[n] = '\0';
			if (lineno == 1) {
				char want[64];

				snprintf(want, sizeof(want), MAGIC " %d", NT_PORTAL_STATE_VERSION);
				if (strcmp(line, want))
					why = "not a notun portal state file of version 1";
			} else
				why = parse_line(line, now_unix, out, &cap, &nomem);
		}
		pos += n + 1;
	}
	sodium_memzero(line, sizeof(line));
	if (!why && !nomem && lineno == 0)
		why = "empty file";
	if (nomem)
		rc = -ENOMEM;
	else if (why) {
		snprintf(err, errlen, "%zu: %s", lineno ? lineno : 1, why);
		rc = -EINVAL;
	}
	if (rc)
		nt_portal_state_free(out);
	return rc;
}
