// SPDX-License-Identifier: MIT
/* The channel's pure parts: the portal URL (ws:// to loopback only), query
 * encoding, the public key of the query, fingerprints as text, and the
 * reconnect policy of section 3 (early retries, backoff, jitter, caps). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/channel/chan.h"

static void test_url(void **state)
{
	struct nt_chan_url u;

	(void)state;
	assert_int_equal(nt_chan_url_parse("wss://portal.example.com", &u), 0);
	assert_true(u.tls);
	assert_string_equal(u.host, "portal.example.com");
	assert_int_equal(u.port, 443);
	assert_int_equal(nt_chan_url_parse("wss://10.0.0.1:8443/", &u), 0);
	assert_int_equal(u.port, 8443);
	assert_int_equal(nt_chan_url_parse("wss://[2001:db8::1]:9", &u), 0);
	assert_string_equal(u.host, "2001:db8::1");
	assert_int_equal(u.port, 9);
	/* ws:// only to loopback */
	assert_int_equal(nt_chan_url_parse("ws://127.0.0.1:8080", &u), 0);
	assert_false(u.tls);
	assert_int_equal(nt_chan_url_parse("ws://127.9.9.9", &u), 0);
	assert_int_equal(u.port, 80);
	assert_int_equal(nt_chan_url_parse("ws://[::1]:1", &u), 0);
	assert_int_equal(nt_chan_url_parse("ws://LocalHost:1", &u), 0);
	assert_int_equal(nt_chan_url_parse("ws://10.0.0.1:8080", &u), -EPERM);
	assert_int_equal(nt_chan_url_parse("ws://128.0.0.1", &u), -EPERM);
	assert_int_equal(nt_chan_url_parse("ws://localhost.evil.com", &u), -EPERM);
	assert_int_equal(nt_chan_url_parse("ws://[::2]", &u), -EPERM);
	/* malformed */
	assert_int_equal(nt_chan_url_parse("https://x", &u), -EINVAL);
	assert_int_equal(nt_chan_url_parse("wss://", &u), -EINVAL);
	assert_int_equal(nt_chan_url_parse("wss://x:0", &u), -EINVAL);
	assert_int_equal(nt_chan_url_parse("wss://x:65536", &u), -EINVAL);
	assert_int_equal(nt_chan_url_parse("wss://x:12a", &u), -EINVAL);
	assert_int_equal(nt_chan_url_parse("wss://x/gateway/websocket", &u), -EINVAL);
	assert_int_equal(nt_chan_url_parse("wss://[::1", &u), -EINVAL);
	assert_int_equal(nt_chan_url_parse("wss://[nothex]:1", &u), -EINVAL);
	assert_int_equal(nt_chan_url_parse("wss://us er@x", &u), -EINVAL);
}

static void test_query(void **state)
{
	char buf[128] = "/gateway/websocket";
	size_t len = strlen(buf);

	(void)state;
	assert_int_equal(nt_chan_query_add(buf, sizeof(buf), &len, "public_key", "ab+/c=="), 0);
	assert_int_equal(nt_chan_query_add(buf, sizeof(buf), &len, "name", "my gw~é"), 0);
	assert_string_equal(buf, "/gateway/websocket?public_key=ab%2B%2Fc%3D%3D&name=my%20gw~%C3%A9");
	assert_int_equal(len, strlen(buf));
	char small[24] = "/p";
	len = 2;
	assert_int_equal(nt_chan_query_add(small, sizeof(small), &len, "k", "++++++++"), -ENOSPC);
}

static void test_key(void **state)
{
	uint8_t key[32], want[32];

	(void)state;
	memset(want, 0xfb, sizeof(want));
	/* 0xfb... in base64 is "+/v7..." */
	assert_int_equal(nt_chan_key_parse("+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s=", key), 0);
	assert_memory_equal(key, want, 32);
	/* an unencoded '+' arrives form-decoded as ' ' */
	assert_int_equal(nt_chan_key_parse(" /v7 /v7 /v7 /v7 /v7 /v7 /v7 /v7 /v7 /v7 /s=", key), 0);
	assert_memory_equal(key, want, 32);
	assert_int_equal(nt_chan_key_parse("+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s", key), -EINVAL);
	assert_int_equal(nt_chan_key_parse("+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7", key), -EINVAL);
	assert_int_equal(nt_chan_key_parse("", key), -EINVAL);
}

static void test_fingerprint(void **state)
{
	uint8_t sha[32], back[32];
	char text[NT_CHAN_FP_TEXT_MAX];

	(void)state;
	for (int i = 0; i < 32; i++)
		sha[i] = (uint8_t)(i * 7 + 1);
	nt_chan_fp_format(sha, text);
	assert_int_equal(strlen(text), 7 + 43);
	assert_int_equal(strncmp(text, "SHA256:", 7), 0);
	assert_null(strchr(text, '='));
	assert_int_equal(nt_chan_fp_parse(text, back), 0);
	assert_memory_equal(sha, back, 32);
	/* padding accepted */
	char padded[NT_CHAN_FP_TEXT_MAX + 1];
	snprintf(padded, sizeof(padded), "%s=", text);
	assert_int_equal(nt_chan_fp_parse(padded, back), 0);
	assert_memory_equal(sha, back, 32);
	assert_int_equal(nt_chan_fp_parse(text + 7, back), -EINVAL);
	assert_int_equal(nt_chan_fp_parse("sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", back), -EINVAL);
	assert_int_equal(nt_chan_fp_parse("SHA256:AAAA", back), -EINVAL);
	assert_int_equal(nt_chan_fp_parse("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!", back), -EINVAL);
}

static void test_retry_early(void **state)
{
	struct nt_chan_retry r = {0};
	uint64_t t = 1000;
	int n = 0;

	(void)state;
	/* every 1 s for 15 s, then give up */
	for (;;) {
		int64_t d = nt_chan_retry_failed(&r, t, 12345, 0);

		if (d < 0)
			break;
		assert_int_equal(d, NT_CHAN_RETRY_EARLY_MS);
		t += (uint64_t)d;
		n++;
		assert_true(n < 100);
	}
	/* retries at 1 .. 15 s after the first failure; the one failing at 15 s ends it */
	assert_int_equal(n, 15);
	assert_int_equal(t - 1000, NT_CHAN_RETRY_EARLY_FOR_MS);
}

static void test_retry_backoff(void **state)
{
	struct nt_chan_retry r = {0};
	int64_t d;

	(void)state;
	nt_chan_retry_joined(&r);
	/* rnd = 2^31: factor 1.0, the bare curve 500, 750, 1125, ... */
	assert_int_equal(nt_chan_retry_failed(&r, 0, 1u << 31, 0), 500);
	assert_int_equal(nt_chan_retry_failed(&r, 0, 1u << 31, 0), 750);
	assert_int_equal(nt_chan_retry_failed(&r, 0, 1u << 31, 0), 1125);
	for (int i = 0; i < 40; i++)
		d = nt_chan_retry_failed(&r, 0, 1u << 31, 0);
	assert_int_equal(d, NT_CHAN_BACKOFF_MAX_MS);
	/* jitter at the extremes, and never over the cap */
	assert_int_equal(nt_chan_retry_failed(&r, 0, 0, 0), NT_CHAN_BACKOFF_MAX_MS / 2);
	assert_int_equal(nt_chan_retry_failed(&r, 0, UINT32_MAX, 0), NT_CHAN_BACKOFF_MAX_MS);
	/* a join resets */
	nt_chan_retry_joined(&r);
	assert_int_equal(nt_chan_retry_failed(&r, 0, 0, 0), 250);
	nt_chan_retry_joined(&r);
	d = nt_chan_retry_failed(&r, 0, UINT32_MAX, 0);
	assert_true(d >= 749 && d <= 750);
	/* never gives up by default; Retry-After is a floor */
	assert_int_equal(nt_chan_retry_failed(&r, 1000000000, 1u << 31, 0), 750);
	assert_int_equal(nt_chan_retry_failed(&r, 1000000000, 1u << 31, 7000), 7000);
}

static void test_retry_after_parse(void **state)
{
	(void)state;
	assert_int_equal(nt_chan_retry_after_parse("3"), 3000);
	assert_int_equal(nt_chan_retry_after_parse(" 0 "), 0);
	assert_int_equal(nt_chan_retry_after_parse("60"), NT_CHAN_RETRY_AFTER_MAX_MS);
	/* Capped, not wrapped: 4294968 s * 1000 overflows 32 bits to 704 ms. */
	assert_int_equal(nt_chan_retry_after_parse("4294968"), NT_CHAN_RETRY_AFTER_MAX_MS);
	assert_int_equal(nt_chan_retry_after_parse("86400"), NT_CHAN_RETRY_AFTER_MAX_MS);
	assert_int_equal(nt_chan_retry_after_parse("99999999999999999999999"),
			 NT_CHAN_RETRY_AFTER_MAX_MS);
	/* An HTTP-date, a negative or a fraction: not a delay we honour. */
	assert_int_equal(nt_chan_retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT"), 0);
	assert_int_equal(nt_chan_retry_after_parse("-5"), 0);
	assert_int_equal(nt_chan_retry_after_parse("1.5"), 0);
	assert_int_equal(nt_chan_retry_after_parse(""), 0);
}

static void test_retry_give_up_after(void **state)
{
	struct nt_chan_retry r = {.give_up_after_ms = 10000};

	(void)state;
	nt_chan_retry_joined(&r);
	assert_true(nt_chan_retry_failed(&r, 5000, 0, 0) > 0);
	assert_true(nt_chan_retry_failed(&r, 14999, 0, 0) > 0);
	assert_int_equal(nt_chan_retry_failed(&r, 15000, 0, 0), -1);
	/* a new outage after a join starts its own clock */
	nt_chan_retry_joined(&r);
	assert_true(nt_chan_retry_failed(&r, 20000, 0, 0) > 0);
}

static void test_loopback(void **state)
{
	(void)state;
	assert_true(nt_chan_host_is_loopback("127.0.0.1"));
	assert_true(nt_chan_host_is_loopback("127.255.255.254"));
	assert_true(nt_chan_host_is_loopback("::1"));
	assert_true(nt_chan_host_is_loopback("localhost"));
	assert_false(nt_chan_host_is_loopback("126.0.0.1"));
	assert_false(nt_chan_host_is_loopback("::ffff:127.0.0.1"));
	assert_false(nt_chan_host_is_loopback("example.com"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url),		    cmocka_unit_test(test_query),
	    cmocka_unit_test(test_key),		    cmocka_unit_test(test_fingerprint),
	    cmocka_unit_test(test_retry_early),	    cmocka_unit_test(test_retry_backoff),
	    cmocka_unit_test(test_retry_give_up_after), cmocka_unit_test(test_loopback),
	    cmocka_unit_test(test_retry_after_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
