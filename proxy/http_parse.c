// SPDX-License-Identifier: MIT
/* HTTP/1.1 message heads, chunked framing and the proxy's own messages,
 * without I/O. The head parser reads line by line:
 *
 *   START  --empty line--> START (ignored before a start line, RFC 9112 2.2)
 *          --start line--> FIELDS --field line--> FIELDS
 *                                 --empty line--> DONE (framing decided)
 *   any line that breaks a rule or a limit --> FAILED (sticky)
 *
 * Limits, checked byte by byte as a line arrives, so that a byte-at-a-time
 * sender meets the same answer as one that sends it all at once: the
 * request line's content (line_max: 414), the head up to the content of its
 * last line (head_max: 431), the number of fields (fields_max: 431).
 */
#include "proxy/http_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "platform/secret.h"

enum { ST_START, ST_FIELDS, ST_DONE, ST_FAILED };

/* nt_http_head.flags */
#define F_TE_CHUNKED_LAST 0x01 /* the last transfer coding so far is chunked */
#define F_TE_BAD	  0x02 /* chunked before another coding, or twice */
#define F_CONN_CLOSE	  0x04
#define F_CONN_KEEP	  0x08

struct kind {
	bool request;
	int big_status; /* head or field limit */
	int bad_status; /* malformed */
};

static const struct kind req_kind = {true, 431, 400};
static const struct kind resp_kind = {false, 502, 502};

void nt_http_limits_init(struct nt_http_limits *lim)
{
	lim->head_max = NT_HTTP_HEAD_MAX_DEFAULT;
	lim->line_max = NT_HTTP_LINE_MAX_DEFAULT;
	lim->fields_max = NT_HTTP_FIELDS_MAX_DEFAULT;
}

bool nt_http_limits_valid(const struct nt_http_limits *lim)
{
	return lim->head_max >= 1 && lim->head_max <= NT_HTTP_HEAD_MAX_LIMIT &&
	       lim->line_max >= 1 && lim->line_max <= lim->head_max &&
	       lim->fields_max <= NT_HTTP_FIELDS_CAP;
}

/* ---- characters ---- */

static bool is_tchar(uint8_t c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* field-vchar, SP, HTAB (RFC 9110 5.5); obs-text is allowed. */
static bool is_value_char(uint8_t c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

static bool ieq(const uint8_t *a, size_t alen, const char *b)
{
	size_t i;

	if (alen != strlen(b))
		return false;
	for (i = 0; i < alen; i++)
		if (lower(a[i]) != (uint8_t)b[i])
			return false;
	return true;
}

/* Iterates a comma-separated list: the next element (OWS trimmed, maybe
 * empty) at *pos; false at the end. */
static bool list_next(const uint8_t *v, size_t len, size_t *pos, size_t *start, size_t *elen)
{
	size_t i = *pos, e;

	if (i > len)
		return false;
	while (i < len && is_ws(v[i]))
		i++;
	*start = i;
	while (i < len && v[i] != ',')
		i++;
	e = i;
	while (e > *start && is_ws(v[e - 1]))
		e--;
	*elen = e - *start;
	*pos = i + 1;
	return true;
}

/* ---- lines ---- */

static int fail(struct nt_http_head *h, int rc, int status, const char *why)
{
	h->stage = ST_FAILED;
	h->result = rc;
	h->status = status;
	h->why = why;
	return rc;
}

/* Where the current line's content must end at the latest, and the status
 * for a line that goes past it: the request line's own limit, else the
 * head's. */
static size_t line_limit(const struct nt_http_head *h, const struct kind *k,
			 const struct nt_http_limits *lim, int *status, const char **why)
{
	if (k->request && h->stage == ST_START && h->pos + lim->line_max <= lim->head_max) {
		*status = 414;
		*why = "request line too long";
		return h->pos + lim->line_max;
	}
	*status = k->big_status;
	*why =
	    k->request ? "request header section too large" : "response header section too large";
	return lim->head_max;
}

/* The line at h->pos: 1 with its content end and the start of the next
 * line, 0 when its end has not arrived, < 0 (h failed) for a bare CR or a
 * line whose content passes its limit. Bytes are judged in order, each as
 * soon as it (or, for a CR, the byte after it) is there: fed all at once or
 * a byte at a time, a head meets the same verdict. */
static int find_line(struct nt_http_head *h, const struct kind *k, const struct nt_http_limits *lim,
		     const uint8_t *buf, size_t len, size_t *end, size_t *next)
{
	const char *why;
	int status;
	size_t i, limit = line_limit(h, k, lim, &status, &why);

	for (i = h->scan; i < len; i++) {
		if (buf[i] == '\r') {
			if (i + 1 == len)
				break;
			if (buf[i + 1] != '\n')
				return fail(h, -EPROTO, k->bad_status,
					    "bare CR in the header section");
			*end = i;
			*next = i + 2;
			return 1;
		}
		if (buf[i] == '\n') {
			*end = i;
			*next = i + 1;
			return 1;
		}
		if (i >= limit)
			return fail(h, -EMSGSIZE, status, why);
	}
	h->scan = (uint32_t)i;
	return 0;
}

/* ---- fields ---- */

static int content_length(struct nt_http_head *h, const struct kind *k, const uint8_t *v,
			  size_t len)
{
	uint64_t n = 0;
	size_t i;

	/* 1*DIGIT only, and at most 18 of them: no list, no sign, no overflow. */
	if (len == 0 || len > 18)
		return fail(h, -EPROTO, k->bad_status, "bad Content-Length");
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return fail(h, -EPROTO, k->bad_status, "bad Content-Length");
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	if (h->cl_fields > 0 && n != h->content_length)
		return fail(h, -EPROTO, k->bad_status, "conflicting Content-Length fields");
	h->content_length = n;
	if (h->cl_fields < UINT8_MAX)
		h->cl_fields++;
	return 0;
}

static void transfer_encoding(struct nt_http_head *h, const uint8_t *v, size_t len)
{
	uint8_t *flags = &h->flags;
	size_t pos = 0, s, n, t;

	if (h->te_fields < UINT8_MAX)
		h->te_fields++;
	while (list_next(v, len, &pos, &s, &n)) {
		if (n == 0)
			continue;
		for (t = 0; t < n && is_tchar(v[s + t]); t++)
			;
		if (*flags & F_TE_CHUNKED_LAST)
			*flags |= F_TE_BAD; /* something after chunked */
		if (ieq(v + s, t, "chunked"))
			*flags |= F_TE_CHUNKED_LAST;
		else
			*flags &= (uint8_t)~F_TE_CHUNKED_LAST;
	}
}

static void connection(struct nt_http_head *h, const uint8_t *v, size_t len)
{
	uint8_t *flags = &h->flags;
	size_t pos = 0, s, n;

	while (list_next(v, len, &pos, &s, &n)) {
		if (ieq(v + s, n, "close"))
			*flags |= F_CONN_CLOSE;
		else if (ieq(v + s, n, "keep-alive"))
			*flags |= F_CONN_KEEP;
	}
}

static int field_line(struct nt_http_head *h, const struct kind *k,
		      const struct nt_http_limits *lim, const uint8_t *buf, size_t s, size_t e,
		      int *auth)
{
	struct nt_http_field *f;
	size_t i = s, vs, ve, name_len;

	if (is_ws(buf[s]))
		return fail(h, -EPROTO, k->bad_status, "folded or indented header line");
	while (i < e && is_tchar(buf[i]))
		i++;
	if (i == s || i == e || buf[i] != ':')
		return fail(h, -EPROTO, k->bad_status, "malformed header field");
	name_len = i - s;
	vs = i + 1;
	while (vs < e && is_ws(buf[vs]))
		vs++;
	ve = e;
	while (ve > vs && is_ws(buf[ve - 1]))
		ve--;
	for (i = vs; i < ve; i++)
		if (!is_value_char(buf[i]))
			return fail(h, -EPROTO, k->bad_status, "control character in a header");
	if (h->nfields >= lim->fields_max)
		return fail(h, -EMSGSIZE, k->big_status, "too many header fields");
	f = &h->fields[h->nfields];
	f->name = (uint16_t)s;
	f->name_len = (uint16_t)name_len;
	f->value = (uint16_t)vs;
	f->value_len = (uint16_t)(ve - vs);
	if (ieq(buf + s, f->name_len, "content-length")) {
		if (content_length(h, k, buf + vs, ve - vs) < 0)
			return h->result;
	} else if (ieq(buf + s, f->name_len, "transfer-encoding")) {
		transfer_encoding(h, buf + vs, ve - vs);
	} else if (ieq(buf + s, f->name_len, "connection")) {
		connection(h, buf + vs, ve - vs);
	} else if (auth && ieq(buf + s, f->name_len, "proxy-authorization")) {
		if (*auth >= 0)
			return fail(h, -EPROTO, k->bad_status, "more than one Proxy-Authorization");
		*auth = (int)h->nfields;
	}
	h->nfields++;
	return 0;
}

/* ---- request line ---- */

static bool parse_port(const uint8_t *p, size_t len, uint16_t *port)
{
	uint32_t v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return false;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* host[:port] or [v6][:port]; default_port 0 makes the port required. */
static const char *parse_authority(const uint8_t *a, size_t len, uint16_t default_port,
				   struct nt_target *t)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	size_t hs, he, i;
	bool dotted = true;

	if (len == 0)
		return "empty host";
	if (a[0] == '[') {
		for (he = 1; he < len && a[he] != ']'; he++)
			;
		if (he == len || he - 1 >= sizeof(tmp))
			return "bad IPv6 address";
		memcpy(tmp, a + 1, he - 1);
		tmp[he - 1] = '\0';
		if (inet_pton(AF_INET6, tmp, t->addr) != 1)
			return "bad IPv6 address";
		t->kind = NT_TARGET_IPV6;
		i = he + 1;
	} else {
		hs = 0;
		for (he = hs; he < len && a[he] != ':'; he++) {
			uint8_t c = a[he];

			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			      (c >= 'A' && c <= 'Z') || c == '-' || c == '.' || c == '_'))
				return c == '@' ? "user information in a URL" : "bad host name";
			if (!((c >= '0' && c <= '9') || c == '.'))
				dotted = false;
		}
		if (he == hs)
			return "empty host";
		if (he - hs > NT_TARGET_NAME_MAX)
			return "host name too long";
		if (dotted) {
			if (he - hs >= sizeof(tmp))
				return "bad IPv4 address";
			memcpy(tmp, a + hs, he - hs);
			tmp[he - hs] = '\0';
			if (inet_pton(AF_INET, tmp, t->addr) != 1)
				return "bad IPv4 address";
			t->kind = NT_TARGET_IPV4;
		} else {
			memcpy(t->name, a + hs, he - hs);
			t->name[he - hs] = '\0';
			t->kind = NT_TARGET_NAME;
		}
		i = he;
	}
	if (i == len || (i + 1 == len && a[i] == ':')) {
		if (default_port == 0)
			return "CONNECT needs host:port";
		t->port = default_port;
		return NULL;
	}
	if (a[i] != ':' || !parse_port(a + i + 1, len - i - 1, &t->port))
		return a[i] == '@' || memchr(a + i, '@', len - i) ? "user information in a URL"
								  : "bad port";
	return NULL;
}

static const char *parse_target(struct nt_http_request *r, const uint8_t *buf, size_t s, size_t e)
{
	static const char http[] = "http://";
	size_t i, as;

	for (i = s; i < e; i++)
		if (buf[i] <= 0x20 || buf[i] >= 0x7f || buf[i] == '#')
			return "bad character in the request target";
	if (r->is_connect) {
		r->authority = (uint16_t)s;
		r->authority_len = (uint16_t)(e - s);
		return parse_authority(buf + s, e - s, 0, &r->target);
	}
	if (buf[s] == '/' || buf[s] == '*')
		return "not a proxy request: the target is not an absolute http:// URL";
	if (e - s >= 8 && ieq(buf + s, 8, "https://"))
		return "https:// URLs go through CONNECT";
	if (e - s < sizeof(http) - 1 || !ieq(buf + s, sizeof(http) - 1, http))
		return "only http:// URLs are forwarded";
	as = s + sizeof(http) - 1;
	for (i = as; i < e && buf[i] != '/' && buf[i] != '?'; i++)
		;
	r->authority = (uint16_t)as;
	r->authority_len = (uint16_t)(i - as);
	r->path = (uint16_t)i;
	r->path_len = (uint16_t)(e - i);
	return parse_authority(buf + as, i - as, NT_HTTP_DEFAULT_PORT, &r->target);
}

/* "HTTP/1.x": 0 with the minor version, -EPROTO malformed, -ENOTSUP
 * another major version. */
static int parse_version(const uint8_t *v, size_t len, uint8_t *minor)
{
	if (len != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
	    v[7] < '0' || v[7] > '9')
		return -EPROTO;
	if (v[5] != '1')
		return -ENOTSUP;
	*minor = v[7] > '0' ? 1 : 0;
	return 0;
}

static bool method_is(const struct nt_http_request *r, const uint8_t *buf, const char *m)
{
	return r->method_len == strlen(m) && memcmp(buf + r->method, m, r->method_len) == 0;
}

static int request_line(struct nt_http_request *r, const uint8_t *buf, size_t s, size_t e)
{
	static const char *const idempotent[] = {"GET",	  "HEAD", "OPTIONS",
						 "TRACE", "PUT",  "DELETE"};
	struct nt_http_head *h = &r->h;
	size_t i = s, ts, te;
	const char *why;
	int rc;

	while (i < e && is_tchar(buf[i]))
		i++;
	if (i == s || i == e || buf[i] != ' ')
		return fail(h, -EPROTO, 400, "malformed request line");
	r->line = (uint16_t)s;
	r->method = (uint16_t)s;
	r->method_len = (uint16_t)(i - s);
	ts = i + 1;
	for (te = ts; te < e && buf[te] != ' '; te++)
		;
	if (te == ts || te == e)
		return fail(h, -EPROTO, 400, "malformed request line");
	rc = parse_version(buf + te + 1, e - te - 1, &h->minor);
	if (rc == -ENOTSUP)
		return fail(h, rc, 400, "only HTTP/1.x is spoken here");
	if (rc < 0)
		return fail(h, rc, 400, "malformed request line");
	r->is_connect = method_is(r, buf, "CONNECT");
	r->is_head = method_is(r, buf, "HEAD");
	for (i = 0; i < sizeof(idempotent) / sizeof(idempotent[0]); i++)
		r->idempotent |= method_is(r, buf, idempotent[i]);
	why = parse_target(r, buf, ts, te);
	if (why)
		return fail(h, -EPROTO, 400, why);
	return 0;
}

/* ---- status line ---- */

static int status_line(struct nt_http_response *r, const uint8_t *buf, size_t s, size_t e)
{
	struct nt_http_head *h = &r->h;
	size_t i;

	if (e - s < 12 || parse_version(buf + s, 8, &h->minor) < 0 || buf[s + 8] != ' ')
		return fail(h, -EPROTO, 502, "malformed response from the destination");
	for (i = s + 9; i < s + 12; i++)
		if (buf[i] < '0' || buf[i] > '9')
			return fail(h, -EPROTO, 502, "malformed response from the destination");
	r->code = (buf[s + 9] - '0') * 100 + (buf[s + 10] - '0') * 10 + (buf[s + 11] - '0');
	if (r->code < 100 || r->code > 599 || (e > s + 12 && buf[s + 12] != ' '))
		return fail(h, -EPROTO, 502, "malformed response from the destination");
	for (i = s + 12; i < e; i++)
		if (!is_value_char(buf[i]))
			return fail(h, -EPROTO, 502, "malformed response from the destination");
	r->reason = (uint16_t)(e > s + 12 ? s + 13 : e);
	r->reason_len = (uint16_t)(e - r->reason);
	return 0;
}

/* ---- framing (RFC 9112, 6.3) ---- */

static int request_framing(struct nt_http_request *r)
{
	struct nt_http_head *h = &r->h;
	uint8_t flags = h->flags;

	h->keep_alive = h->minor >= 1 && !(flags & F_CONN_CLOSE);
	h->body = NT_HTTP_BODY_NONE;
	if (h->te_fields > 0) {
		if (h->minor == 0)
			return fail(h, -EPROTO, 400, "Transfer-Encoding in an HTTP/1.0 request");
		if (h->cl_fields > 0)
			return fail(h, -EPROTO, 400, "both Content-Length and Transfer-Encoding");
		if (!(flags & F_TE_CHUNKED_LAST) || (flags & F_TE_BAD))
			return fail(h, -EPROTO, 400, "Transfer-Encoding must end in chunked");
		h->body = NT_HTTP_BODY_CHUNKED;
	} else if (h->cl_fields > 0 && h->content_length > 0) {
		h->body = NT_HTTP_BODY_LENGTH;
	}
	if (r->is_connect)
		h->body = NT_HTTP_BODY_NONE; /* what follows is the tunnel's */
	return 0;
}

static void response_framing(struct nt_http_response *r)
{
	struct nt_http_head *h = &r->h;
	uint8_t flags = h->flags;

	h->keep_alive = h->minor >= 1 ? !(flags & F_CONN_CLOSE)
				      : (flags & F_CONN_KEEP) && !(flags & F_CONN_CLOSE);
	if (r->to_head || r->code < 200 || r->code == 204 || r->code == 304) {
		h->body = NT_HTTP_BODY_NONE;
	} else if (h->te_fields > 0) {
		if ((flags & F_TE_CHUNKED_LAST) && !(flags & F_TE_BAD) && h->minor >= 1) {
			h->body = NT_HTTP_BODY_CHUNKED;
		} else {
			h->body = NT_HTTP_BODY_CLOSE;
			h->keep_alive = false;
		}
		if (h->cl_fields > 0) {
			/* A smuggling attempt or a broken server: the chunked
			 * framing wins, the connection is not reused. */
			h->length_and_chunked = true;
			h->keep_alive = false;
		}
	} else if (h->cl_fields > 0) {
		h->body = h->content_length > 0 ? NT_HTTP_BODY_LENGTH : NT_HTTP_BODY_NONE;
	} else {
		h->body = NT_HTTP_BODY_CLOSE;
		h->keep_alive = false;
	}
}

/* ---- the head loop ---- */

typedef int (*start_line_fn)(void *msg, const uint8_t *buf, size_t s, size_t e);

static int req_start(void *msg, const uint8_t *buf, size_t s, size_t e)
{
	return request_line(msg, buf, s, e);
}

static int resp_start(void *msg, const uint8_t *buf, size_t s, size_t e)
{
	return status_line(msg, buf, s, e);
}

/* Framing is decided by the caller when this returns > 0 the first time. */
static int parse_head(struct nt_http_head *h, const struct kind *k, void *msg, start_line_fn start,
		      int *auth, const uint8_t *buf, size_t len, const struct nt_http_limits *lim)
{
	size_t end, next;
	int rc;

	if (h->stage == ST_DONE || h->stage == ST_FAILED)
		return h->result;
	for (;;) {
		rc = find_line(h, k, lim, buf, len, &end, &next);
		if (rc <= 0)
			return rc;
		if (h->stage == ST_START) {
			if (end > h->pos && start(msg, buf, h->pos, end) < 0)
				return h->result;
			if (end > h->pos)
				h->stage = ST_FIELDS;
		} else if (end == h->pos) {
			h->pos = h->scan = (uint32_t)next;
			h->stage = ST_DONE;
			h->result = (int)next;
			return h->result;
		} else if (field_line(h, k, lim, buf, h->pos, end, auth) < 0) {
			return h->result;
		}
		h->pos = h->scan = (uint32_t)next;
	}
}

void nt_http_request_init(struct nt_http_request *r)
{
	memset(r, 0, sizeof(*r));
	r->auth = -1;
}

int nt_http_parse_request(struct nt_http_request *r, const uint8_t *buf, size_t len,
			  const struct nt_http_limits *lim)
{
	bool was_done = r->h.stage == ST_DONE;
	int rc = parse_head(&r->h, &req_kind, r, req_start, &r->auth, buf, len, lim);

	if (rc > 0 && !was_done && request_framing(r) < 0)
		return r->h.result;
	return rc;
}

void nt_http_response_init(struct nt_http_response *r, bool to_head)
{
	memset(r, 0, sizeof(*r));
	r->to_head = to_head;
}

int nt_http_parse_response(struct nt_http_response *r, const uint8_t *buf, size_t len,
			   const struct nt_http_limits *lim)
{
	bool was_done = r->h.stage == ST_DONE;
	int rc = parse_head(&r->h, &resp_kind, r, resp_start, NULL, buf, len, lim);

	if (rc > 0 && !was_done)
		response_framing(r);
	return rc;
}

/* ---- chunked ---- */

enum {
	CK_SIZE0,
	CK_SIZE,
	CK_WS,
	CK_EXT,
	CK_SIZE_LF,
	CK_DATA,
	CK_DATA_CR,
	CK_DATA_LF,
	CK_TRAILER0,
	CK_TRAILER_NAME,
	CK_TRAILER,
	CK_TRAILER_LF,
	CK_END_LF,
	CK_DONE,
	CK_ERROR,
};

void nt_http_chunked_init(struct nt_http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CK_SIZE0;
}

static bool chunk_byte(struct nt_http_chunked *c, uint8_t b)
{
	int v;

	if (c->state <= CK_EXT && ++c->line > NT_HTTP_CHUNK_LINE_MAX)
		return false;
	if (c->state >= CK_TRAILER0 && c->state <= CK_END_LF && ++c->extra > NT_HTTP_TRAILER_MAX)
		return false;
	switch (c->state) {
	case CK_SIZE0:
		v = hex_value(b);
		if (v < 0)
			return false;
		c->left = (uint64_t)v;
		c->state = CK_SIZE;
		return true;
	case CK_SIZE:
		v = hex_value(b);
		if (v >= 0) {
			if (c->left > (UINT64_MAX >> 5))
				return false; /* keeps sizes below 2^63 */
			c->left = c->left << 4 | (uint64_t)v;
			return true;
		}
		if (b == ';')
			c->state = CK_EXT;
		else if (is_ws(b))
			c->state = CK_WS;
		else if (b == '\r')
			c->state = CK_SIZE_LF;
		else
			return false;
		return true;
	case CK_WS:
		if (b == ';')
			c->state = CK_EXT;
		else if (!is_ws(b))
			return false;
		return true;
	case CK_EXT:
		if (b == '\r')
			c->state = CK_SIZE_LF;
		else if (!is_value_char(b))
			return false;
		return true;
	case CK_SIZE_LF:
		if (b != '\n')
			return false;
		c->line = 0;
		c->chunks++;
		c->state = c->left ? CK_DATA : CK_TRAILER0;
		return true;
	case CK_DATA_CR:
		if (b != '\r')
			return false;
		c->state = CK_DATA_LF;
		return true;
	case CK_DATA_LF:
		if (b != '\n')
			return false;
		c->state = CK_SIZE0;
		return true;
	case CK_TRAILER0:
		if (b == '\r')
			c->state = CK_END_LF;
		else if (is_tchar(b))
			c->state = CK_TRAILER_NAME;
		else
			return false;
		return true;
	case CK_TRAILER_NAME:
		if (b == ':')
			c->state = CK_TRAILER;
		else if (!is_tchar(b))
			return false;
		return true;
	case CK_TRAILER:
		if (b == '\r')
			c->state = CK_TRAILER_LF;
		else if (!is_value_char(b))
			return false;
		return true;
	case CK_TRAILER_LF:
		if (b != '\n')
			return false;
		c->state = CK_TRAILER0;
		return true;
	case CK_END_LF:
		if (b != '\n')
			return false;
		c->state = CK_DONE;
		return true;
	default:
		return false;
	}
}

ssize_t nt_http_chunked_scan(struct nt_http_chunked *c, const uint8_t *buf, size_t len, bool *done)
{
	size_t i = 0, n;

	while (i < len && c->state != CK_DONE) {
		if (c->state == CK_ERROR)
			return -EPROTO;
		if (c->state == CK_DATA) {
			n = len - i < c->left ? len - i : (size_t)c->left;
			c->left -= n;
			i += n;
			if (c->left == 0)
				c->state = CK_DATA_CR;
			continue;
		}
		if (!chunk_byte(c, buf[i])) {
			c->state = CK_ERROR;
			return -EPROTO;
		}
		i++;
	}
	if (c->state == CK_ERROR)
		return -EPROTO;
	*done = c->state == CK_DONE;
	return (ssize_t)i;
}

int nt_http_chunk_size(const uint8_t *buf, size_t len, uint64_t *size)
{
	struct nt_http_chunked c;
	size_t i;

	nt_http_chunked_init(&c);
	for (i = 0; i < len; i++) {
		if (!chunk_byte(&c, buf[i]))
			return -EPROTO;
		if (c.state == CK_DATA || c.state == CK_TRAILER0) {
			*size = c.left;
			return (int)(i + 1);
		}
	}
	return 0;
}

/* ---- writing ---- */

struct out {
	uint8_t *p;
	size_t cap, len;
	bool overflow;
};

static void put(struct out *o, const void *s, size_t n)
{
	if (o->overflow || n > o->cap - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static bool is_hop_by_hop(const uint8_t *name, size_t len)
{
	static const char *const hop[] = {"connection", "keep-alive",	       "proxy-connection",
					  "te",		"proxy-authorization", "trailer",
					  "upgrade"};
	size_t i;

	for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (ieq(name, len, hop[i]))
			return true;
	return false;
}

/* Named by a Connection field: hop-by-hop for this connection only. The
 * framing fields are never dropped that way: a body would lose its
 * delimitation on the way (a smuggling device). */
static bool named_by_connection(const struct nt_http_head *h, const uint8_t *head,
				const uint8_t *name, size_t len)
{
	const struct nt_http_field *f;
	size_t i, pos, s, n, k;

	if (ieq(name, len, "content-length") || ieq(name, len, "transfer-encoding"))
		return false;

	for (i = 0; i < h->nfields; i++) {
		f = &h->fields[i];
		if (!ieq(head + f->name, f->name_len, "connection"))
			continue;
		pos = 0;
		while (list_next(head + f->value, f->value_len, &pos, &s, &n)) {
			if (n != len)
				continue;
			for (k = 0; k < n && lower(head[f->value + s + k]) == lower(name[k]); k++)
				;
			if (k == n)
				return true;
		}
	}
	return false;
}

static void put_fields(struct out *o, const struct nt_http_head *h, const uint8_t *head,
		       bool drop_host, bool drop_length, bool drop_te)
{
	const struct nt_http_field *f;
	size_t i;

	for (i = 0; i < h->nfields; i++) {
		f = &h->fields[i];
		if (is_hop_by_hop(head + f->name, f->name_len) ||
		    (drop_host && ieq(head + f->name, f->name_len, "host")) ||
		    (drop_length && ieq(head + f->name, f->name_len, "content-length")) ||
		    (drop_te && ieq(head + f->name, f->name_len, "transfer-encoding")) ||
		    named_by_connection(h, head, head + f->name, f->name_len))
			continue;
		put(o, head + f->name, f->name_len);
		puts_(o, ": ");
		put(o, head + f->value, f->value_len);
		puts_(o, "\r\n");
	}
}

static void put_via(struct out *o, uint8_t minor)
{
	puts_(o, minor ? "Via: 1.1 notun\r\n" : "Via: 1.0 notun\r\n");
}

size_t nt_http_request_out_max(const struct nt_http_request *r, size_t head_len)
{
	return head_len + 2 * (size_t)r->h.nfields + r->authority_len + 96;
}

int nt_http_build_request(const struct nt_http_request *r, const uint8_t *head, uint8_t *out,
			  size_t cap)
{
	struct out o = {.p = out, .cap = cap};

	if (r->h.stage != ST_DONE || r->is_connect)
		return -EINVAL;
	put(&o, head + r->method, r->method_len);
	puts_(&o, " ");
	if (r->path_len == 0 || head[r->path] == '?')
		puts_(&o, "/");
	put(&o, head + r->path, r->path_len);
	puts_(&o, " HTTP/1.1\r\nHost: ");
	put(&o, head + r->authority, r->authority_len);
	puts_(&o, "\r\n");
	put_fields(&o, &r->h, head, true, false, false);
	/* No Connection field: the upstream stays open (HTTP/1.1) whatever the
	 * client said, for the proxy's pool of idle connections; the client's
	 * own close is the response's to say. */
	put_via(&o, r->h.minor);
	puts_(&o, "\r\n");
	return o.overflow ? -ENOBUFS : (int)o.len;
}

size_t nt_http_response_out_max(const struct nt_http_response *r, size_t head_len)
{
	return head_len + 2 * (size_t)r->h.nfields + 96;
}

int nt_http_build_response(const struct nt_http_response *r, const uint8_t *head, bool close,
			   uint8_t *out, size_t cap)
{
	struct out o = {.p = out, .cap = cap};
	char code[8];
	bool framed;

	if (r->h.stage != ST_DONE)
		return -EINVAL;
	snprintf(code, sizeof(code), "%03d ", r->code);
	puts_(&o, "HTTP/1.1 ");
	puts_(&o, code);
	put(&o, head + r->reason, r->reason_len);
	puts_(&o, "\r\n");
	/* A body framed by Transfer-Encoding ignores Content-Length (RFC 9112,
	 * 6.3); one we relay until close (a coding other than chunked last, or
	 * an HTTP/1.0 server) must not look chunked to the client either. */
	framed = r->h.body != NT_HTTP_BODY_NONE && r->h.te_fields > 0;
	put_fields(&o, &r->h, head, false, framed, framed && r->h.body != NT_HTTP_BODY_CHUNKED);
	put_via(&o, r->h.minor);
	if (close)
		puts_(&o, "Connection: close\r\n");
	puts_(&o, "\r\n");
	return o.overflow ? -ENOBUFS : (int)o.len;
}

const char *nt_http_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 407:
		return "Proxy Authentication Required";
	case 408:
		return "Request Timeout";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Error";
	}
}

size_t nt_http_build_error(char out[NT_HTTP_ERROR_MAX], int status, const char *why, bool head_only)
{
	char body[256];
	int blen, n;

	blen = snprintf(body, sizeof(body), "notun: %.200s\r\n", why ? why : "error");
	if (blen < 0)
		blen = 0;
	n = snprintf(out, NT_HTTP_ERROR_MAX,
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: text/plain\r\n"
		     "Content-Length: %d\r\n"
		     "%s"
		     "Connection: close\r\n"
		     "\r\n"
		     "%s",
		     status, nt_http_status_text(status), blen,
		     status == 407 ? "Proxy-Authenticate: Basic realm=\"notun\"\r\n" : "",
		     head_only ? "" : body);
	if (n < 0)
		return 0;
	return (size_t)n < NT_HTTP_ERROR_MAX ? (size_t)n : NT_HTTP_ERROR_MAX - 1;
}

/* ---- authentication ---- */

#define CRED_MAX 511 /* 255 ":" 255 */

bool nt_http_basic_auth_ok(const uint8_t *value, size_t len, const char *user, const char *pass)
{
	uint8_t got[CRED_MAX + 1], want[CRED_MAX + 1];
	size_t i = 0, glen = 0, ulen, plen;
	const char *end = NULL;
	bool ok = false;

	if (!user || !pass)
		return false;
	ulen = strlen(user);
	plen = strlen(pass);
	if (ulen + 1 + plen > CRED_MAX)
		return false;
	while (i < len && is_tchar(value[i]))
		i++;
	if (!ieq(value, i, "basic") || i == len || !is_ws(value[i]))
		return false;
	while (i < len && is_ws(value[i]))
		i++;
	if (i == len || len - i > 4 * ((CRED_MAX + 2) / 3))
		return false;
	if (sodium_base642bin(got, sizeof(got), (const char *)value + i, len - i, NULL, &glen, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != (const char *)value + len)
		goto out;
	memcpy(want, user, ulen);
	want[ulen] = ':';
	memcpy(want + ulen + 1, pass, plen);
	ok = nt_secret_equal(got, glen, want, ulen + 1 + plen);
out:
	sodium_memzero(got, sizeof(got));
	sodium_memzero(want, sizeof(want));
	return ok;
}
