// SPDX-License-Identifier: MIT
/* proxy/http_parse: request and response heads, framing, limits, chunked
 * scanning and the messages the proxy writes. No I/O. */
#include "proxy/http_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct nt_http_limits lim;

static int setup(void **state)
{
	(void)state;
	nt_http_limits_init(&lim);
	return 0;
}

static int parse_req(const char *s, struct nt_http_request *r)
{
	nt_http_request_init(r);
	return nt_http_parse_request(r, (const uint8_t *)s, strlen(s), &lim);
}

static int parse_resp(const char *s, bool to_head, struct nt_http_response *r)
{
	nt_http_response_init(r, to_head);
	return nt_http_parse_response(r, (const uint8_t *)s, strlen(s), &lim);
}

static void assert_slice(const char *buf, uint16_t off, uint16_t len, const char *want)
{
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf + off, want, len);
}

/* The field named name (case-insensitive), or NULL. */
static const struct nt_http_field *field(const struct nt_http_head *h, const char *buf,
					 const char *name)
{
	for (uint32_t i = 0; i < h->nfields; i++)
		if (h->fields[i].name_len == strlen(name) &&
		    strncasecmp(buf + h->fields[i].name, name, strlen(name)) == 0)
			return &h->fields[i];
	return NULL;
}

static void expect_refused(const char *s, int rc, int status)
{
	struct nt_http_request r;

	assert_int_equal(parse_req(s, &r), rc);
	assert_int_equal(r.h.status, status);
	assert_non_null(r.h.why);
	assert_true(strlen(r.h.why) > 0 && strchr(r.h.why, '\n') == NULL);
}

/* ---- request line forms ---- */

static void test_absolute_form_get_with_port_path_and_query(void **state)
{
	static const char s[] = "GET http://Example.com:8080/a/b?q=1&r=%20 HTTP/1.1\r\n"
				"Host: ignored\r\nUser-Agent: t/1\r\n\r\n";
	struct nt_http_request r;

	(void)state;
	assert_int_equal(parse_req(s, &r), (int)strlen(s));
	assert_slice(s, r.method, r.method_len, "GET");
	assert_false(r.is_connect);
	assert_false(r.is_head);
	assert_true(r.idempotent);
	assert_int_equal(r.target.kind, NT_TARGET_NAME);
	assert_string_equal(r.target.name, "Example.com");
	assert_int_equal(r.target.port, 8080);
	assert_slice(s, r.authority, r.authority_len, "Example.com:8080");
	assert_slice(s, r.path, r.path_len, "/a/b?q=1&r=%20");
	assert_int_equal(r.h.minor, 1);
	assert_true(r.h.keep_alive);
	assert_int_equal(r.h.body, NT_HTTP_BODY_NONE);
	assert_int_equal(r.h.nfields, 2);
	assert_slice(s, field(&r.h, s, "user-agent")->value,
		     field(&r.h, s, "user-agent")->value_len, "t/1");
	assert_int_equal(r.auth, -1);
}

static void test_absolute_form_defaults_port_80_and_empty_path(void **state)
{
	struct nt_http_request r;

	(void)state;
	assert_true(parse_req("OPTIONS HTTP://host.internal HTTP/1.0\r\n\r\n", &r) > 0);
	assert_int_equal(r.target.port, 80);
	assert_int_equal(r.path_len, 0);
	assert_int_equal(r.h.minor, 0);
	assert_false(r.h.keep_alive); /* HTTP/1.0 */
	assert_true(parse_req("GET http://h:/x HTTP/1.1\r\n\r\n", &r) > 0);
	assert_int_equal(r.target.port, 80);
	assert_true(parse_req("GET http://h?x=1 HTTP/1.1\r\n\r\n", &r) > 0);
	assert_int_equal(r.target.port, 80);
	assert_int_equal(r.authority_len, 1);
	assert_int_equal(r.path_len, 4);
}

static void test_absolute_form_ip_literals(void **state)
{
	static const char v6[] = "GET http://[2001:db8::1]:8443/ HTTP/1.1\r\n\r\n";
	struct nt_http_request r;
	uint8_t want[16];

	(void)state;
	assert_true(parse_req("POST http://10.1.2.3/up HTTP/1.1\r\nContent-Length: 3\r\n\r\n", &r) >
		    0);
	assert_int_equal(r.target.kind, NT_TARGET_IPV4);
	assert_memory_equal(r.target.addr, ((uint8_t[]){10, 1, 2, 3}), 4);
	assert_false(r.idempotent);
	assert_int_equal(r.h.body, NT_HTTP_BODY_LENGTH);
	assert_int_equal(r.h.content_length, 3);
	assert_int_equal(parse_req(v6, &r), (int)strlen(v6));
	assert_int_equal(r.target.kind, NT_TARGET_IPV6);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", want), 1);
	assert_memory_equal(r.target.addr, want, 16);
	assert_int_equal(r.target.port, 8443);
	assert_slice(v6, r.authority, r.authority_len, "[2001:db8::1]:8443");
}

static void test_connect_authority_form(void **state)
{
	static const char s[] = "CONNECT db.corp:5432 HTTP/1.1\r\nHost: db.corp:5432\r\n\r\n";
	struct nt_http_request r;

	(void)state;
	assert_int_equal(parse_req(s, &r), (int)strlen(s));
	assert_true(r.is_connect);
	assert_string_equal(r.target.name, "db.corp");
	assert_int_equal(r.target.port, 5432);
	assert_int_equal(r.h.body, NT_HTTP_BODY_NONE);
	assert_true(parse_req("CONNECT [::1]:443 HTTP/1.1\r\n\r\n", &r) > 0);
	assert_int_equal(r.target.kind, NT_TARGET_IPV6);
	assert_int_equal(r.target.addr[15], 1);
	assert_true(parse_req("CONNECT 192.0.2.7:22 HTTP/1.0\r\n\r\n", &r) > 0);
	assert_int_equal(r.target.kind, NT_TARGET_IPV4);
	assert_int_equal(r.target.port, 22);
	/* A body on CONNECT means nothing: what follows is the tunnel's. */
	assert_true(parse_req("CONNECT h:1 HTTP/1.1\r\nContent-Length: 5\r\n\r\n", &r) > 0);
	assert_int_equal(r.h.body, NT_HTTP_BODY_NONE);
}

static void test_targets_that_are_not_proxy_requests_refused(void **state)
{
	(void)state;
	expect_refused("GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n", -EPROTO, 400);
	expect_refused("OPTIONS * HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("GET https://a.b/ HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("GET ftp://a.b/ HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://user:pw@a.b/ HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http:///x HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://a.b/#frag HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://a\xc3\xa9.b/ HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://a.b:0/ HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://a.b:65536/ HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://a.b:8x/ HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://999.1.1.1/ HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://[fe80::1%25eth0]/ HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("CONNECT a.b HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("CONNECT a.b: HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("CONNECT [::1 HTTP/1.1\r\n\r\n", -EPROTO, 400);
}

static void test_malformed_request_lines_refused(void **state)
{
	(void)state;
	expect_refused("GET http://a/  HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("GET  http://a/ HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://a/\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://a/ http/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://a/ HTTP/1.1 \r\n\r\n", -EPROTO, 400);
	expect_refused("G(T http://a/ HTTP/1.1\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://a/ HTTP/1\r\n\r\n", -EPROTO, 400);
	/* Only HTTP/1.x: HTTP/2 has no text request line, 0.9 has no version. */
	expect_refused("GET http://a/ HTTP/2.0\r\n\r\n", -ENOTSUP, 400);
	expect_refused("GET http://a/ HTTP/0.9\r\n\r\n", -ENOTSUP, 400);
}

static void test_higher_minor_version_reads_as_1_1(void **state)
{
	struct nt_http_request r;

	(void)state;
	assert_true(parse_req("GET http://a/ HTTP/1.7\r\n\r\n", &r) > 0);
	assert_int_equal(r.h.minor, 1);
}

static void test_empty_lines_before_request_line_ignored(void **state)
{
	static const char s[] = "\r\n\r\nGET http://a/ HTTP/1.1\r\n\r\n";
	struct nt_http_request r;

	(void)state;
	assert_int_equal(parse_req(s, &r), (int)strlen(s));
	assert_int_equal(r.line, 4);
	assert_slice(s, r.method, r.method_len, "GET");
}

/* ---- fields ---- */

static void test_field_values_trimmed_and_bare_lf_accepted(void **state)
{
	static const char s[] = "GET http://a/ HTTP/1.1\nX-A:  padded value \t\nX-B:\n\n";
	struct nt_http_request r;
	const struct nt_http_field *f;

	(void)state;
	assert_int_equal(parse_req(s, &r), (int)strlen(s));
	f = field(&r.h, s, "x-a");
	assert_non_null(f);
	assert_slice(s, f->value, f->value_len, "padded value");
	f = field(&r.h, s, "X-B");
	assert_non_null(f);
	assert_int_equal(f->value_len, 0);
}

static void test_folded_and_malformed_fields_refused(void **state)
{
	(void)state;
	/* obs-fold */
	expect_refused("GET http://a/ HTTP/1.1\r\nX-A: one\r\n two\r\n\r\n", -EPROTO, 400);
	/* whitespace between the request line and the first field */
	expect_refused("GET http://a/ HTTP/1.1\r\n\tX-A: one\r\n\r\n", -EPROTO, 400);
	/* whitespace before the colon (RFC 9112, 5.1) */
	expect_refused("GET http://a/ HTTP/1.1\r\nX-A : one\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://a/ HTTP/1.1\r\n: one\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://a/ HTTP/1.1\r\nno colon\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://a/ HTTP/1.1\r\nX-A: a\x01z\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://a/ HTTP/1.1\r\nX-A: a\x7fz\r\n\r\n", -EPROTO, 400);
	/* a bare CR, in a field and in the request line */
	expect_refused("GET http://a/ HTTP/1.1\r\nX-A: a\rb\r\n\r\n", -EPROTO, 400);
	expect_refused("GET http://a/ HTTP/1.1\rX-A: b\r\n\r\n", -EPROTO, 400);
}

static void test_nul_in_a_field_value_refused(void **state)
{
	static const char s[] = "GET http://a/ HTTP/1.1\r\nX-A: a\0b\r\n\r\n";
	struct nt_http_request r;

	(void)state;
	nt_http_request_init(&r);
	assert_int_equal(nt_http_parse_request(&r, (const uint8_t *)s, sizeof(s) - 1, &lim),
			 -EPROTO);
	assert_int_equal(r.h.status, 400);
}

static void test_proxy_authorization_found_once(void **state)
{
	static const char s[] = "GET http://a/ HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\n\r\n";
	struct nt_http_request r;

	(void)state;
	assert_true(parse_req(s, &r) > 0);
	assert_int_equal(r.auth, 0);
	assert_slice(s, r.h.fields[0].value, r.h.fields[0].value_len, "Basic eDp5");
	expect_refused("GET http://a/ HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\n"
		       "proxy-authorization: Basic eDp5\r\n\r\n",
		       -EPROTO, 400);
}

/* ---- framing and persistence ---- */

static void test_request_framing(void **state)
{
	struct nt_http_request r;

	(void)state;
	assert_true(parse_req("POST http://a/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r) > 0);
	assert_int_equal(r.h.body, NT_HTTP_BODY_NONE);
	assert_true(parse_req("POST http://a/ HTTP/1.1\r\nContent-Length: 12\r\n"
			      "Content-Length: 12\r\n\r\n",
			      &r) > 0);
	assert_int_equal(r.h.body, NT_HTTP_BODY_LENGTH);
	assert_int_equal(r.h.content_length, 12);
	assert_true(parse_req("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n",
			      &r) > 0);
	assert_int_equal(r.h.body, NT_HTTP_BODY_CHUNKED);
	assert_true(parse_req("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
			      "Transfer-Encoding: chunked\r\n\r\n",
			      &r) > 0);
	assert_int_equal(r.h.body, NT_HTTP_BODY_CHUNKED);
}

static void test_request_framing_conflicts_refused(void **state)
{
	(void)state;
	/* Request smuggling material: each one is a 400. */
	expect_refused("POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n",
		       -EPROTO, 400);
	expect_refused("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
		       "Content-Length: 5\r\n\r\n",
		       -EPROTO, 400);
	expect_refused("POST http://a/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		       -EPROTO, 400);
	expect_refused("POST http://a/ HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", -EPROTO, 400);
	expect_refused("POST http://a/ HTTP/1.1\r\nContent-Length: +5\r\n\r\n", -EPROTO, 400);
	expect_refused("POST http://a/ HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n",
		       -EPROTO, 400);
	expect_refused("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
		       -EPROTO, 400);
	expect_refused("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
		       -EPROTO, 400);
	expect_refused("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", -EPROTO, 400);
	expect_refused("POST http://a/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -EPROTO,
		       400);
}

static void test_connection_close_and_keep_alive(void **state)
{
	struct nt_http_request r;

	(void)state;
	assert_true(parse_req("GET http://a/ HTTP/1.1\r\nConnection: X-Foo, Close\r\n\r\n", &r) >
		    0);
	assert_false(r.h.keep_alive);
	assert_true(parse_req("GET http://a/ HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", &r) > 0);
	assert_true(r.h.keep_alive);
	/* A 1.0 client is not kept: it would need Keep-Alive echoed. */
	assert_true(parse_req("GET http://a/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r) > 0);
	assert_false(r.h.keep_alive);
}

/* ---- limits ---- */

static char *request_with_path(size_t path_len)
{
	char *s = malloc(path_len + 64);

	assert_non_null(s);
	strcpy(s, "GET http://a/");
	memset(s + 13, 'p', path_len - 1);
	strcpy(s + 12 + path_len, " HTTP/1.1\r\n\r\n");
	return s;
}

static void test_request_line_limit_gives_414(void **state)
{
	struct nt_http_request r;
	char *ok, *big;
	/* line = "GET http://a" + path + " HTTP/1.1": 12 + path + 9 */
	size_t at_limit = NT_HTTP_LINE_MAX_DEFAULT - 21;

	(void)state;
	ok = request_with_path(at_limit);
	big = request_with_path(at_limit + 1);
	assert_true(parse_req(ok, &r) > 0);
	expect_refused(big, -EMSGSIZE, 414);
	/* Known before the line ends. */
	nt_http_request_init(&r);
	assert_int_equal(
	    nt_http_parse_request(&r, (const uint8_t *)big, NT_HTTP_LINE_MAX_DEFAULT, &lim), 0);
	assert_int_equal(
	    nt_http_parse_request(&r, (const uint8_t *)big, NT_HTTP_LINE_MAX_DEFAULT + 1, &lim),
	    -EMSGSIZE);
	assert_int_equal(r.h.status, 414);
	free(ok);
	free(big);
}

static void test_head_size_limit_gives_431(void **state)
{
	size_t cap = NT_HTTP_HEAD_MAX_DEFAULT + 1024, len;
	struct nt_http_request r;
	char *s = malloc(cap);

	(void)state;
	assert_non_null(s);
	len = (size_t)sprintf(s, "GET http://a/ HTTP/1.1\r\n");
	for (int i = 0; len < NT_HTTP_HEAD_MAX_DEFAULT + 40; i++)
		len += (size_t)sprintf(s + len, "X-%d: %0400d\r\n", i, i);
	strcpy(s + len, "\r\n");
	nt_http_request_init(&r);
	/* Refused once the head passes the limit, before it ends. */
	assert_int_equal(
	    nt_http_parse_request(&r, (const uint8_t *)s, NT_HTTP_HEAD_MAX_DEFAULT + 1, &lim),
	    -EMSGSIZE);
	assert_int_equal(r.h.status, 431);
	free(s);
}

static void test_field_count_limit_gives_431(void **state)
{
	char s[8192];
	struct nt_http_request r;
	size_t len;
	uint32_t i;

	(void)state;
	len = (size_t)sprintf(s, "GET http://a/ HTTP/1.1\r\n");
	for (i = 0; i < NT_HTTP_FIELDS_MAX_DEFAULT; i++)
		len += (size_t)sprintf(s + len, "X-%u: v\r\n", i);
	strcpy(s + len, "\r\n");
	assert_true(parse_req(s, &r) > 0);
	assert_int_equal(r.h.nfields, NT_HTTP_FIELDS_MAX_DEFAULT);
	strcpy(s + len, "X-last: v\r\n\r\n");
	expect_refused(s, -EMSGSIZE, 431);
}

static void test_custom_limits_apply(void **state)
{
	struct nt_http_limits small = {.head_max = 64, .line_max = 30, .fields_max = 1};
	struct nt_http_request r;

	(void)state;
	assert_true(nt_http_limits_valid(&small));
	nt_http_request_init(&r);
	assert_int_equal(
	    nt_http_parse_request(
		&r, (const uint8_t *)"GET http://abcdefghijklmnop/ HTTP/1.1\r\n\r\n", 41, &small),
	    -EMSGSIZE);
	assert_int_equal(r.h.status, 414);
	nt_http_request_init(&r);
	assert_int_equal(
	    nt_http_parse_request(
		&r, (const uint8_t *)"GET http://a/ HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n", 38, &small),
	    -EMSGSIZE);
	assert_int_equal(r.h.status, 431);
	small.line_max = 65;
	assert_false(nt_http_limits_valid(&small));
	small.line_max = 30;
	small.head_max = NT_HTTP_HEAD_MAX_LIMIT + 1;
	assert_false(nt_http_limits_valid(&small));
}

/* ---- incremental ---- */

/* Fed one byte more at a time (resuming one state) and from scratch at every
 * prefix, a head gives 0 until it is complete (or shown wrong), then the
 * same verdict as all at once. */
static void check_every_split(const char *s, size_t len)
{
	struct nt_http_request whole, inc, fresh;
	int final, rc;
	size_t k;

	nt_http_request_init(&whole);
	final = nt_http_parse_request(&whole, (const uint8_t *)s, len, &lim);
	nt_http_request_init(&inc);
	for (k = 0; k <= len; k++) {
		rc = nt_http_parse_request(&inc, (const uint8_t *)s, k, &lim);
		nt_http_request_init(&fresh);
		assert_int_equal(nt_http_parse_request(&fresh, (const uint8_t *)s, k, &lim), rc);
		if (final > 0)
			assert_int_equal(rc, k < (size_t) final ? 0 : final);
		else if (rc != 0)
			assert_int_equal(rc, final);
	}
	assert_int_equal(inc.h.result, whole.h.result);
	if (final > 0) {
		assert_int_equal(inc.h.nfields, whole.h.nfields);
		assert_memory_equal(inc.h.fields, whole.h.fields,
				    whole.h.nfields * sizeof(whole.h.fields[0]));
		assert_int_equal(inc.h.body, whole.h.body);
		assert_int_equal(inc.target.port, whole.target.port);
		assert_int_equal(inc.path, whole.path);
	} else {
		assert_int_equal(inc.h.status, whole.h.status);
	}
}

static void test_request_split_at_every_byte_boundary(void **state)
{
	static const char ok[] = "\r\nPOST http://files.corp:8080/upload?x=1 HTTP/1.1\r\n"
				 "Host: files.corp:8080\r\nContent-Length: 10\r\n"
				 "Connection: keep-alive, X-Trace\r\nX-Trace: 1\r\n\r\nbody bytes";
	static const char bad[] = "GET http://a/ HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n";
	static const char bare_cr[] = "GET http://a/ HTTP/1.1\r\nX-A: 1\rX\r\n\r\n";
	char *big = request_with_path(NT_HTTP_LINE_MAX_DEFAULT);

	(void)state;
	check_every_split(ok, sizeof(ok) - 1);
	check_every_split(bad, sizeof(bad) - 1);
	check_every_split(bare_cr, sizeof(bare_cr) - 1);
	check_every_split(big, strlen(big));
	free(big);
}

/* ---- responses ---- */

static void test_response_framing(void **state)
{
	struct nt_http_response r;

	(void)state;
	assert_true(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, &r) > 0);
	assert_int_equal(r.code, 200);
	assert_int_equal(r.h.body, NT_HTTP_BODY_LENGTH);
	assert_true(r.h.keep_alive);
	assert_true(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, &r) >
		    0);
	assert_int_equal(r.h.body, NT_HTTP_BODY_CHUNKED);
	assert_true(r.h.keep_alive);
	/* No framing: until close, and the connection cannot be kept. */
	assert_true(parse_resp("HTTP/1.1 200 OK\r\n\r\n", false, &r) > 0);
	assert_int_equal(r.h.body, NT_HTTP_BODY_CLOSE);
	assert_false(r.h.keep_alive);
	/* Bodiless by method or status, whatever the fields say. */
	assert_true(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, &r) > 0);
	assert_int_equal(r.h.body, NT_HTTP_BODY_NONE);
	assert_true(parse_resp("HTTP/1.1 204 No Content\r\n\r\n", false, &r) > 0);
	assert_int_equal(r.h.body, NT_HTTP_BODY_NONE);
	assert_true(
	    parse_resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", false, &r) > 0);
	assert_int_equal(r.h.body, NT_HTTP_BODY_NONE);
	assert_true(parse_resp("HTTP/1.1 100 Continue\r\n\r\n", false, &r) > 0);
	assert_int_equal(r.code, 100);
	assert_int_equal(r.h.body, NT_HTTP_BODY_NONE);
	/* Both framings: chunked wins, the connection is not reused. */
	assert_true(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
			       "Transfer-Encoding: chunked\r\n\r\n",
			       false, &r) > 0);
	assert_int_equal(r.h.body, NT_HTTP_BODY_CHUNKED);
	assert_true(r.h.length_and_chunked);
	assert_false(r.h.keep_alive);
	/* An HTTP/1.0 server keeps the connection only when it says so. */
	assert_true(parse_resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false, &r) > 0);
	assert_false(r.h.keep_alive);
	assert_true(
	    parse_resp("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n",
		       false, &r) > 0);
	assert_true(r.h.keep_alive);
	assert_true(parse_resp("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
			       false, &r) > 0);
	assert_false(r.h.keep_alive);
}

static void test_status_line_forms(void **state)
{
	static const char s[] = "HTTP/1.1 404 Not Found Here\r\n\r\n";
	struct nt_http_response r;

	(void)state;
	assert_int_equal(parse_resp(s, false, &r), (int)strlen(s));
	assert_int_equal(r.code, 404);
	assert_slice(s, r.reason, r.reason_len, "Not Found Here");
	assert_true(parse_resp("HTTP/1.1 200\r\n\r\n", false, &r) > 0);
	assert_int_equal(r.reason_len, 0);
	assert_true(parse_resp("HTTP/1.1 200 \r\n\r\n", false, &r) > 0);
	assert_int_equal(parse_resp("HTTP/1.1 20 OK\r\n\r\n", false, &r), -EPROTO);
	assert_int_equal(r.h.status, 502);
	assert_int_equal(parse_resp("HTTP/2 200 OK\r\n\r\n", false, &r), -EPROTO);
	assert_int_equal(parse_resp("HTTP/1.1 099 Low\r\n\r\n", false, &r), -EPROTO);
	assert_int_equal(parse_resp("HTTP/1.1 200OK\r\n\r\n", false, &r), -EPROTO);
	assert_int_equal(parse_resp("SSH-2.0-OpenSSH\r\n\r\n", false, &r), -EPROTO);
	assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false, &r),
			 -EPROTO);
	assert_int_equal(r.h.status, 502);
}

/* ---- chunked ---- */

static void test_chunked_scan_finds_the_end_and_leaves_the_rest(void **state)
{
	static const char body[] = "5\r\nhello\r\n1A;name=\"v\"\r\nabcdefghijklmnopqrstuvwxyz\r\n"
				   "0\r\nX-Trailer: t\r\n\r\n";
	char all[sizeof(body) + 8];
	struct nt_http_chunked c;
	bool done = false;
	size_t i, total;
	ssize_t n;

	(void)state;
	snprintf(all, sizeof(all), "%sNEXT", body);
	nt_http_chunked_init(&c);
	n = nt_http_chunked_scan(&c, (const uint8_t *)all, strlen(all), &done);
	assert_int_equal(n, sizeof(body) - 1);
	assert_true(done);
	assert_int_equal(c.chunks, 3);
	/* Done: nothing more is taken. */
	assert_int_equal(nt_http_chunked_scan(&c, (const uint8_t *)"x", 1, &done), 0);
	/* A byte at a time: the same end. */
	nt_http_chunked_init(&c);
	done = false;
	for (i = 0, total = 0; i < strlen(all) && !done; i++) {
		n = nt_http_chunked_scan(&c, (const uint8_t *)all + i, 1, &done);
		assert_true(n == 1);
		total += (size_t)n;
	}
	assert_true(done);
	assert_int_equal(total, sizeof(body) - 1);
}

static void expect_bad_chunked(const char *s)
{
	struct nt_http_chunked c;
	bool done = false;

	nt_http_chunked_init(&c);
	assert_int_equal(nt_http_chunked_scan(&c, (const uint8_t *)s, strlen(s), &done), -EPROTO);
	assert_false(done);
	/* Sticky. */
	assert_int_equal(nt_http_chunked_scan(&c, (const uint8_t *)"0\r\n\r\n", 5, &done), -EPROTO);
}

static void test_chunked_bad_framing_refused(void **state)
{
	char line[NT_HTTP_CHUNK_LINE_MAX + 16];

	(void)state;
	expect_bad_chunked("g\r\n");
	expect_bad_chunked("-1\r\n");
	expect_bad_chunked("0x5\r\n");
	expect_bad_chunked("5\nhello\r\n");
	expect_bad_chunked("5\r\nhelloX\r\n");
	expect_bad_chunked("5\r\nhello\rX");
	expect_bad_chunked("5 \r\n");
	expect_bad_chunked("\r\n");
	expect_bad_chunked("8000000000000000\r\n"); /* 2^63 */
	expect_bad_chunked("0\r\nbad trailer\r\n\r\n");
	expect_bad_chunked("0\r\n\rX");
	memset(line, 'a', sizeof(line));
	memcpy(line, "1;", 2);
	line[sizeof(line) - 1] = '\0';
	expect_bad_chunked(line);
}

static void test_chunk_size_lines(void **state)
{
	uint64_t size = 0;

	(void)state;
	assert_int_equal(nt_http_chunk_size((const uint8_t *)"1a\r\n", 4, &size), 4);
	assert_int_equal(size, 26);
	assert_int_equal(nt_http_chunk_size((const uint8_t *)"FF ; ext=1\r\nxx", 14, &size), 12);
	assert_int_equal(size, 255);
	assert_int_equal(nt_http_chunk_size((const uint8_t *)"0\r\n", 3, &size), 3);
	assert_int_equal(size, 0);
	assert_int_equal(nt_http_chunk_size((const uint8_t *)"7fffffffffffffff\r\n", 18, &size),
			 18);
	assert_int_equal(size, 0x7fffffffffffffffull);
	assert_int_equal(nt_http_chunk_size((const uint8_t *)"1a", 2, &size), 0);
	assert_int_equal(nt_http_chunk_size((const uint8_t *)"1a\r", 3, &size), 0);
	assert_int_equal(nt_http_chunk_size((const uint8_t *)"z\r\n", 3, &size), -EPROTO);
}

/* ---- writing ---- */

static void test_forward_request_in_origin_form_without_hop_by_hop_fields(void **state)
{
	static const char s[] = "POST http://files.corp:8080/up?x=1 HTTP/1.1\r\n"
				"Host: evil.example\r\n"
				"Connection: keep-alive, X-Hop\r\n"
				"X-Hop: dropped\r\n"
				"Keep-Alive: timeout=5\r\n"
				"Proxy-Connection: keep-alive\r\n"
				"Proxy-Authorization: Basic eDp5\r\n"
				"TE: trailers\r\n"
				"Trailer: X-T\r\n"
				"Upgrade: websocket\r\n"
				"Transfer-Encoding: chunked\r\n"
				"X-Keep: kept\r\n\r\n";
	static const char want[] = "POST /up?x=1 HTTP/1.1\r\n"
				   "Host: files.corp:8080\r\n"
				   "Transfer-Encoding: chunked\r\n"
				   "X-Keep: kept\r\n"
				   "Via: 1.1 notun\r\n\r\n";
	struct nt_http_request r;
	uint8_t out[1024];
	int n;

	(void)state;
	assert_true(parse_req(s, &r) > 0);
	assert_true(nt_http_request_out_max(&r, sizeof(s) - 1) <= sizeof(out));
	n = nt_http_build_request(&r, (const uint8_t *)s, out, sizeof(out));
	assert_int_equal(n, (int)strlen(want));
	assert_memory_equal(out, want, (size_t)n);
	assert_int_equal(nt_http_build_request(&r, (const uint8_t *)s, out, 20), -ENOBUFS);
}

/* The connection to the origin outlives a client that closes (the proxy
 * pools it): no Connection: close for an HTTP/1.0 client, nor for one that
 * said close. */
static void test_forward_request_keeps_upstream_for_a_closing_client(void **state)
{
	static const char s[] = "GET http://a?q HTTP/1.0\nUser-Agent:x\n\n";
	static const char want[] = "GET /?q HTTP/1.1\r\nHost: a\r\nUser-Agent: x\r\n"
				   "Via: 1.0 notun\r\n\r\n";
	static const char s11[] = "GET http://a/ HTTP/1.1\r\nConnection: close\r\n\r\n";
	struct nt_http_request r;
	uint8_t out[256];
	int n;

	(void)state;
	assert_true(parse_req(s, &r) > 0);
	/* Every field rebuilt from "a:b\n" grows by two bytes: within the bound. */
	assert_true(nt_http_request_out_max(&r, sizeof(s) - 1) >= strlen(want));
	n = nt_http_build_request(&r, (const uint8_t *)s, out, sizeof(out));
	assert_int_equal(n, (int)strlen(want));
	assert_memory_equal(out, want, (size_t)n);
	assert_true(parse_req(s11, &r) > 0);
	assert_false(r.h.keep_alive);
	n = nt_http_build_request(&r, (const uint8_t *)s11, out, sizeof(out));
	assert_true(n > 0);
	assert_null(memmem(out, (size_t)n, "Connection", 10));
}

static void test_response_head_for_the_client(void **state)
{
	static const char s[] = "HTTP/1.1 200 Fine\r\nConnection: X-Secret\r\nX-Secret: 1\r\n"
				"Keep-Alive: timeout=1\r\nContent-Length: 3\r\n"
				"Transfer-Encoding: chunked\r\nSet-Cookie: a=b\r\n\r\n";
	static const char want[] = "HTTP/1.1 200 Fine\r\nTransfer-Encoding: chunked\r\n"
				   "Set-Cookie: a=b\r\nVia: 1.1 notun\r\nConnection: close\r\n\r\n";
	struct nt_http_response r;
	uint8_t out[512];
	int n;

	(void)state;
	assert_true(parse_resp(s, false, &r) > 0);
	n = nt_http_build_response(&r, (const uint8_t *)s, true, out, sizeof(out));
	assert_int_equal(n, (int)strlen(want));
	assert_memory_equal(out, want, (size_t)n);
	assert_true(parse_resp("HTTP/1.0 204\r\n\r\n", false, &r) > 0);
	n = nt_http_build_response(&r, (const uint8_t *)"HTTP/1.0 204\r\n\r\n", false, out,
				   sizeof(out));
	assert_int_equal(n, (int)strlen("HTTP/1.1 204 \r\nVia: 1.0 notun\r\n\r\n"));
	assert_memory_equal(out, "HTTP/1.1 204 \r\nVia: 1.0 notun\r\n\r\n", (size_t)n);
}

static void test_framing_fields_survive_and_lie_no_more(void **state)
{
	/* Named by Connection, framing fields are kept all the same. */
	static const char req[] = "POST http://a/ HTTP/1.1\r\nConnection: Transfer-Encoding, "
				  "Content-Length\r\nTransfer-Encoding: chunked\r\n\r\n";
	/* Relayed until close: the client must not see a framing we did not
	 * follow. */
	static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
				   "Content-Length: 5\r\nX-A: 1\r\n\r\n";
	static const char old[] = "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	struct nt_http_request r;
	struct nt_http_response p;
	uint8_t out[512];
	int n;

	(void)state;
	assert_true(parse_req(req, &r) > 0);
	n = nt_http_build_request(&r, (const uint8_t *)req, out, sizeof(out));
	assert_true(n > 0);
	assert_non_null(memmem(out, (size_t)n, "Transfer-Encoding: chunked\r\n", 28));
	assert_true(parse_resp(resp, false, &p) > 0);
	assert_int_equal(p.h.body, NT_HTTP_BODY_CLOSE);
	n = nt_http_build_response(&p, (const uint8_t *)resp, true, out, sizeof(out));
	assert_int_equal(n, (int)strlen("HTTP/1.1 200 OK\r\nX-A: 1\r\nVia: 1.1 notun\r\n"
					"Connection: close\r\n\r\n"));
	assert_null(memmem(out, (size_t)n, "Content-Length", 14));
	assert_null(memmem(out, (size_t)n, "Transfer-Encoding", 17));
	assert_true(parse_resp(old, false, &p) > 0);
	assert_int_equal(p.h.body, NT_HTTP_BODY_CLOSE);
	assert_false(p.h.keep_alive);
	n = nt_http_build_response(&p, (const uint8_t *)old, true, out, sizeof(out));
	assert_null(memmem(out, (size_t)n, "Transfer-Encoding", 17));
	/* A HEAD response keeps what describes the body it does not carry. */
	assert_true(parse_resp(resp, true, &p) > 0);
	n = nt_http_build_response(&p, (const uint8_t *)resp, false, out, sizeof(out));
	assert_non_null(memmem(out, (size_t)n, "Content-Length: 5\r\n", 19));
}

static void test_error_responses(void **state)
{
	char out[NT_HTTP_ERROR_MAX];
	const char *body;
	size_t n;

	(void)state;
	n = nt_http_build_error(out, 502, "connection refused", false);
	assert_int_equal(strlen(out), n);
	assert_memory_equal(out, "HTTP/1.1 502 Bad Gateway\r\n", 26);
	assert_non_null(strstr(out, "Content-Type: text/plain\r\n"));
	assert_non_null(strstr(out, "Connection: close\r\n"));
	body = strstr(out, "\r\n\r\n") + 4;
	assert_string_equal(body, "notun: connection refused\r\n");
	assert_non_null(strstr(out, "Content-Length: 27\r\n"));
	assert_null(strstr(out, "Proxy-Authenticate"));
	n = nt_http_build_error(out, 407, "proxy authentication required", true);
	assert_memory_equal(out, "HTTP/1.1 407 Proxy Authentication Required\r\n", 44);
	assert_non_null(strstr(out, "Proxy-Authenticate: Basic realm=\"notun\"\r\n"));
	/* HEAD: the length of the body it would have had, no body. */
	assert_string_equal(strstr(out, "\r\n\r\n"), "\r\n\r\n");
	assert_int_equal(strlen(out), n);
	assert_string_equal(nt_http_status_text(431), "Request Header Fields Too Large");
	assert_string_equal(nt_http_status_text(414), "URI Too Long");
	assert_string_equal(nt_http_status_text(504), "Gateway Timeout");
}

static void test_basic_auth_checked(void **state)
{
	/* "alice:s3cret" and friends */
	static const char right[] = "Basic YWxpY2U6czNjcmV0";
	struct {
		const char *value;
		bool ok;
	} cases[] = {
	    {right, true},
	    {"basic   YWxpY2U6czNjcmV0", true},
	    {"Basic YWxpY2U6czNjcmVU", false},	   /* alice:s3creT */
	    {"Basic Ym9iOnMzY3JldA==", false},	   /* bob:s3cret */
	    {"Basic YWxpY2U6czNjcmV0YQ==", false}, /* alice:s3creta */
	    {"Basic YWxpY2U6czNjcmV0!", false},
	    {"Basic", false},
	    {"BasicYWxpY2U6czNjcmV0", false},
	    {"Bearer YWxpY2U6czNjcmV0", false},
	    {"YWxpY2U6czNjcmV0", false},
	    {"", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(nt_http_basic_auth_ok((const uint8_t *)cases[i].value,
						       strlen(cases[i].value), "alice", "s3cret"),
				 cases[i].ok);
	assert_false(nt_http_basic_auth_ok((const uint8_t *)right, strlen(right), NULL, NULL));
	/* A password with a colon in it. */
	assert_true(nt_http_basic_auth_ok((const uint8_t *)"Basic dTpwOnc=", 14, "u", "p:w"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_absolute_form_get_with_port_path_and_query),
	    cmocka_unit_test(test_absolute_form_defaults_port_80_and_empty_path),
	    cmocka_unit_test(test_absolute_form_ip_literals),
	    cmocka_unit_test(test_connect_authority_form),
	    cmocka_unit_test(test_targets_that_are_not_proxy_requests_refused),
	    cmocka_unit_test(test_malformed_request_lines_refused),
	    cmocka_unit_test(test_higher_minor_version_reads_as_1_1),
	    cmocka_unit_test(test_empty_lines_before_request_line_ignored),
	    cmocka_unit_test(test_field_values_trimmed_and_bare_lf_accepted),
	    cmocka_unit_test(test_folded_and_malformed_fields_refused),
	    cmocka_unit_test(test_nul_in_a_field_value_refused),
	    cmocka_unit_test(test_proxy_authorization_found_once),
	    cmocka_unit_test(test_request_framing),
	    cmocka_unit_test(test_request_framing_conflicts_refused),
	    cmocka_unit_test(test_connection_close_and_keep_alive),
	    cmocka_unit_test(test_request_line_limit_gives_414),
	    cmocka_unit_test(test_head_size_limit_gives_431),
	    cmocka_unit_test(test_field_count_limit_gives_431),
	    cmocka_unit_test(test_custom_limits_apply),
	    cmocka_unit_test(test_request_split_at_every_byte_boundary),
	    cmocka_unit_test(test_response_framing),
	    cmocka_unit_test(test_status_line_forms),
	    cmocka_unit_test(test_chunked_scan_finds_the_end_and_leaves_the_rest),
	    cmocka_unit_test(test_chunked_bad_framing_refused),
	    cmocka_unit_test(test_chunk_size_lines),
	    cmocka_unit_test(test_forward_request_in_origin_form_without_hop_by_hop_fields),
	    cmocka_unit_test(test_forward_request_keeps_upstream_for_a_closing_client),
	    cmocka_unit_test(test_response_head_for_the_client),
	    cmocka_unit_test(test_framing_fields_survive_and_lie_no_more),
	    cmocka_unit_test(test_error_responses),
	    cmocka_unit_test(test_basic_auth_checked),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
