// SPDX-License-Identifier: MIT
/* libFuzzer harness for proxy/http_parse. The first input byte picks the
 * parser (request head, response head, chunked body, Basic credentials),
 * small limits or the defaults, a valid prefix or none, and a split point;
 * the rest is the message.
 *
 * Beyond memory safety it checks the parsers' contracts:
 *   - a head fed one byte more at a time (resuming one state), or in two
 *     pieces, gets the same verdict as all at once: 0 until complete, then
 *     the same length, or the same error with the same status;
 *   - a parsed request or response is rebuilt within the announced bound,
 *     and a rebuilt response parses again to the same status and framing;
 *   - the chunked scanner takes the same bytes and reaches the same end (or
 *     error) fed at once, a byte at a time, or in two pieces.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_IN 4096

static void must(int ok)
{
	if (!ok)
		abort();
}

static struct nt_http_limits lim;

static void fuzz_request(const uint8_t *buf, size_t len, size_t split)
{
	static struct nt_http_request whole, inc, two;
	uint8_t *out;
	size_t cap, k;
	int final, rc;

	nt_http_request_init(&whole);
	final = nt_http_parse_request(&whole, buf, len, &lim);
	must(final <= (int)len);
	nt_http_request_init(&inc);
	for (k = 0; k <= len; k++) {
		rc = nt_http_parse_request(&inc, buf, k, &lim);
		if (final > 0)
			must(rc == (k < (size_t) final ? 0 : final));
		else if (final == 0)
			must(rc == 0);
		else if (rc != 0)
			must(rc == final && inc.h.status == whole.h.status);
	}
	nt_http_request_init(&two);
	rc = nt_http_parse_request(&two, buf, split, &lim);
	if (rc == 0)
		rc = nt_http_parse_request(&two, buf, len, &lim);
	must(rc == final);
	if (final < 0) {
		must(whole.h.status >= 400 && whole.h.status <= 599 && whole.h.why != NULL);
		return;
	}
	if (final == 0 || whole.is_connect)
		return;
	cap = nt_http_request_out_max(&whole, (size_t) final);
	out = malloc(cap);
	must(out != NULL);
	rc = nt_http_build_request(&whole, buf, out, cap);
	must(rc > 0 && (size_t)rc <= cap);
	must(rc >= 4 && memcmp(out + rc - 4, "\r\n\r\n", 4) == 0);
	free(out);
}

static void fuzz_response(const uint8_t *buf, size_t len, size_t split, bool to_head)
{
	static struct nt_http_response whole, inc, again;
	uint8_t *out;
	size_t cap, k;
	int final, rc, n;

	nt_http_response_init(&whole, to_head);
	final = nt_http_parse_response(&whole, buf, len, &lim);
	nt_http_response_init(&inc, to_head);
	for (k = 0; k <= len; k += 1 + k / 64) {
		rc = nt_http_parse_response(&inc, buf, k, &lim);
		if (final > 0)
			must(rc == (k < (size_t) final ? 0 : final));
		else if (final == 0)
			must(rc == 0);
		else if (rc != 0)
			must(rc == final);
	}
	nt_http_response_init(&inc, to_head);
	rc = nt_http_parse_response(&inc, buf, split, &lim);
	if (rc == 0)
		rc = nt_http_parse_response(&inc, buf, len, &lim);
	must(rc == final);
	if (final <= 0)
		return;
	cap = nt_http_response_out_max(&whole, (size_t) final);
	out = malloc(cap);
	must(out != NULL);
	n = nt_http_build_response(&whole, buf, split & 1, out, cap);
	must(n > 0 && (size_t)n <= cap);
	nt_http_response_init(&again, to_head);
	rc = nt_http_parse_response(&again, out, (size_t)n, &lim);
	if (rc > 0) {
		must(rc == n);
		must(again.code == whole.code);
		must(again.h.body == whole.h.body);
		if (whole.h.body == NT_HTTP_BODY_LENGTH)
			must(again.h.content_length == whole.h.content_length);
	} else {
		/* Only a limit can refuse what we wrote: we add a few bytes. */
		must(rc == -EMSGSIZE);
	}
	free(out);
}

static void fuzz_chunked(const uint8_t *buf, size_t len, size_t split)
{
	struct nt_http_chunked a, b, c;
	ssize_t whole, n, taken;
	bool done_a = false, done_b = false, done_c = false;
	uint64_t size;
	size_t k;
	int line;

	nt_http_chunked_init(&a);
	whole = nt_http_chunked_scan(&a, buf, len, &done_a);
	must(whole <= (ssize_t)len);
	must(whole < 0 || whole == (ssize_t)len || done_a);
	nt_http_chunked_init(&b);
	for (k = 0, taken = 0; k < len && !done_b; k++) {
		n = nt_http_chunked_scan(&b, buf + k, 1, &done_b);
		if (n < 0) {
			taken = n;
			break;
		}
		taken += n;
	}
	must(whole < 0 ? taken < 0 : taken == whole && done_b == done_a);
	nt_http_chunked_init(&c);
	n = nt_http_chunked_scan(&c, buf, split, &done_c);
	if (n >= 0 && !done_c) {
		ssize_t m = nt_http_chunked_scan(&c, buf + split, len - split, &done_c);

		n = m < 0 ? m : n + m;
	}
	must(whole < 0 ? n < 0 : n == whole && done_c == done_a);
	/* The size line alone: the scanner agrees on its length and size. */
	line = nt_http_chunk_size(buf, len, &size);
	if (line > 0) {
		nt_http_chunked_init(&c);
		done_c = false;
		must(nt_http_chunked_scan(&c, buf, (size_t)line, &done_c) == line);
		must(size == 0 || c.left == size);
	} else if (line < 0) {
		must(whole < 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const prefixes[4] = {
	    "GET http://host.test:8080/p?q HTTP/1.1\r\n",
	    "HTTP/1.1 200 OK\r\n",
	    "1a;x=y\r\nabcdefghijklmnopqrstuvwxyz\r\n",
	    "Basic ",
	};
	const char *prefix;
	uint8_t *copy;
	size_t len, plen, split;

	if (size < 1 || size > MAX_IN)
		return 0;
	nt_http_limits_init(&lim);
	if (data[0] & 0x80) { /* small limits reach every limit path */
		lim.head_max = 200;
		lim.line_max = 64;
		lim.fields_max = 4;
	}
	/* With 0x20 set, a valid start line comes first, so that the fuzzer
	 * spends its time on fields and framing rather than finding one. */
	prefix = (data[0] & 0x20) ? prefixes[data[0] & 3] : "";
	plen = strlen(prefix);
	len = plen + size - 1;
	split = (data[0] * 131u) % (len + 1);
	/* A heap copy of exactly len bytes: reads past them are caught. */
	copy = malloc(len ? len : 1);
	must(copy != NULL);
	memcpy(copy, prefix, plen);
	memcpy(copy + plen, data + 1, size - 1);
	switch (data[0] & 3) {
	case 0:
		fuzz_request(copy, len, split);
		break;
	case 1:
		fuzz_response(copy, len, split, data[0] & 0x40);
		break;
	case 2:
		fuzz_chunked(copy, len, split);
		break;
	default:
		(void)nt_http_basic_auth_ok(copy, len, "user", "pass:word");
		break;
	}
	free(copy);
	return 0;
}
