// SPDX-License-Identifier: MIT
/* core/phx/phx: Phoenix V1 frames, exact bytes and every refusal. */
#include "core/phx/phx.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Decodes from an exactly sized heap copy, so ASan sees any overread. */
static int decode(const char *msg, struct nt_phx_frame *f)
{
	size_t len = strlen(msg);
	char *copy = malloc(len ? len : 1);
	int err;

	assert_non_null(copy);
	memcpy(copy, msg, len);
	err = nt_phx_decode(copy, len, f);
	/* A payload present points into the input: check it while it lives. */
	if (err == 0 && strstr(msg, "\"payload\""))
		assert_true(f->payload >= copy && f->payload + f->payload_len <= copy + len);
	free(copy);
	return err;
}

static void test_encode_known_answers(void **state)
{
	char buf[256];

	(void)state;
	assert_int_equal(nt_phx_encode(buf, sizeof(buf), "client", NT_PHX_EV_JOIN, "{}", 2, 0), 58);
	assert_string_equal(buf,
			    "{\"topic\":\"client\",\"event\":\"phx_join\",\"payload\":{},\"ref\":0}");
	assert_int_equal(nt_phx_encode(buf, sizeof(buf), NT_PHX_TOPIC_PHOENIX,
				       NT_PHX_EV_HEARTBEAT, "{}", 2, 7),
			 60);
	assert_string_equal(buf,
			    "{\"topic\":\"phoenix\",\"event\":\"heartbeat\",\"payload\":{},\"ref\":7}");
	nt_phx_encode(buf, sizeof(buf), "client", "resource_deleted", "\"r-db\"", 6, -1);
	assert_string_equal(
	    buf, "{\"topic\":\"client\",\"event\":\"resource_deleted\",\"payload\":\"r-db\",\"ref\":null}");
	assert_int_equal(nt_phx_encode(buf, 20, "client", NT_PHX_EV_JOIN, "{}", 2, 0), -ENOSPC);
}

static void test_reply_build_known_answers(void **state)
{
	char buf[128];

	(void)state;
	assert_int_equal(nt_phx_reply_build(buf, sizeof(buf), "{}", 2, NULL), 29);
	assert_string_equal(buf, "{\"status\":\"ok\",\"response\":{}}");
	nt_phx_reply_build(buf, sizeof(buf), NULL, 0, "unknown_message");
	assert_string_equal(buf,
			    "{\"status\":\"error\",\"response\":{\"reason\":\"unknown_message\"}}");
	assert_int_equal(nt_phx_reply_build(buf, 10, "{}", 2, NULL), -ENOSPC);
}

static void test_decode_round_trip(void **state)
{
	struct nt_phx_frame f;
	char buf[256];
	const char *payload = "{\"a\":[1,{\"b\":\"c\"}]}";

	(void)state;
	assert_true(nt_phx_encode(buf, sizeof(buf), "gateway", "init", payload, strlen(payload),
				  ((int64_t)1 << 53) - 1) > 0);
	assert_int_equal(decode(buf, &f), 0);
	assert_string_equal(f.topic, "gateway");
	assert_string_equal(f.event, "init");
	assert_true(f.has_ref);
	assert_true(f.ref == ((int64_t)1 << 53) - 1);
	assert_int_equal(nt_phx_decode(buf, strlen(buf), &f), 0);
	assert_int_equal(f.payload_len, strlen(payload));
	assert_memory_equal(f.payload, payload, f.payload_len);
}

static void test_decode_members_any_order_unknown_ignored(void **state)
{
	struct nt_phx_frame f;
	const char *m = " { \"ref\" : null , \"x\":{\"topic\":1}, \"payload\":\"r-\\u0041\","
			"\"event\":\"ev\\u00e9\", \"topic\":\"t\" } ";

	(void)state;
	assert_int_equal(nt_phx_decode(m, strlen(m), &f), 0);
	assert_string_equal(f.topic, "t");
	assert_string_equal(f.event, "ev\xc3\xa9");
	assert_false(f.has_ref);
	assert_int_equal(f.payload_len, 10);
	assert_memory_equal(f.payload, "\"r-\\u0041\"", 10);
	m = "{\"topic\":\"t\",\"event\":\"e\"}";
	assert_int_equal(nt_phx_decode(m, strlen(m), &f), 0);
	assert_int_equal(f.payload_len, 4);
	assert_memory_equal(f.payload, "null", 4);
}

static void test_decode_rejects(void **state)
{
	static const struct {
		const char *msg;
		int err;
	} bad[] = {
	    {"", -EINVAL},
	    {"[]", -EINVAL},
	    {"\"x\"", -EINVAL},
	    {"{\"topic\":\"t\"}", -EINVAL},			  /* no event */
	    {"{\"event\":\"e\"}", -EINVAL},			  /* no topic */
	    {"{\"topic\":1,\"event\":\"e\"}", -EINVAL},	  /* wrong type */
	    {"{\"topic\":\"t\",\"event\":\"e\",\"ref\":\"1\"}", -EINVAL},
	    {"{\"topic\":\"t\",\"event\":\"e\",\"ref\":-1}", -EINVAL},
	    {"{\"topic\":\"t\",\"event\":\"e\",\"ref\":9007199254740992}", -EINVAL},
	    {"{\"topic\":\"t\",\"event\":\"e\",\"ref\":1.0}", -EINVAL},
	    {"{\"topic\":\"t\",\"event\":\"e\",\"ref\":99999999999999999999999}", -EINVAL},
	    {"{\"topic\":\"t\",\"event\":\"e\",\"payload\":[]}", -EINVAL},
	    {"{\"topic\":\"t\",\"event\":\"e\",\"payload\":1}", -EINVAL},
	    {"{\"topic\":\"t\",\"event\":\"e\",\"topic\":\"u\"}", -EINVAL}, /* duplicate */
	    {"{\"topic\":\"t\",\"event\":\"e\",\"\\u0074opic\":\"u\"}", -EINVAL},
	    {"{\"topic\":\"t\",\"event\":\"e\"} x", -EINVAL}, /* trailing bytes */
	    {"{\"topic\":\"t\",\"event\":\"e\"}{}", -EINVAL},
	    {"{\"topic\":\"t\",\"event\":\"e\"", -EINVAL}, /* truncated */
	    {"{\"topic\":\"t\",\"event\":\"e\\u0000\"}", -EINVAL},
	    {"{\"topic\":\"t\xff\",\"event\":\"e\"}", -EILSEQ},
	    {"{\"topic\":\"t\",\"event\":\"\xed\xa0\x80\"}", -EILSEQ},
	    {"{\"topic\":\"t\",\"event\":\"e\",\"payload\":{\"a\":1,\"a\":2}}", 0}, /* not ours */
	};
	struct nt_phx_frame f;

	(void)state;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		int err = decode(bad[k].msg, &f);

		if (err != bad[k].err)
			fail_msg("%s: got %d, want %d", bad[k].msg, err, bad[k].err);
		if (err)
			assert_int_equal(f.topic[0], 0);
	}
}

static void test_decode_name_bound(void **state)
{
	char msg[256], name[NT_PHX_NAME_MAX + 2];
	struct nt_phx_frame f;

	(void)state;
	memset(name, 'e', sizeof(name));
	name[NT_PHX_NAME_MAX] = '\0';
	snprintf(msg, sizeof(msg), "{\"topic\":\"t\",\"event\":\"%s\"}", name);
	assert_int_equal(decode(msg, &f), 0);
	name[NT_PHX_NAME_MAX] = 'e';
	name[NT_PHX_NAME_MAX + 1] = '\0';
	snprintf(msg, sizeof(msg), "{\"topic\":\"t\",\"event\":\"%s\"}", name);
	assert_int_equal(decode(msg, &f), -EINVAL);
}

static void test_decode_size_and_depth(void **state)
{
	size_t len = NT_PHX_FRAME_MAX + 1, n;
	char *m = malloc(len);
	struct nt_phx_frame f;
	const char *head = "{\"topic\":\"t\",\"event\":\"e\",\"payload\":{\"a\":\"";

	(void)state;
	assert_non_null(m);
	n = strlen(head);
	memcpy(m, head, n);
	memset(m + n, 'x', len - n - 3);
	memcpy(m + len - 3, "\"}}", 3);
	assert_int_equal(nt_phx_decode(m, len, &f), -EMSGSIZE);
	memcpy(m + len - 4, "\"}}", 3);
	assert_int_equal(nt_phx_decode(m, len - 1, &f), 0); /* exactly the limit */
	n = (size_t)sprintf(m, "{\"topic\":\"t\",\"event\":\"e\",\"payload\":");
	for (int k = 0; k < 100; k++)
		m[n++] = '[';
	for (int k = 0; k < 100; k++)
		m[n++] = ']';
	m[n++] = '}';
	assert_int_equal(nt_phx_decode(m, n, &f), -EINVAL);
	free(m);
}

static void test_reply_parse(void **state)
{
	const char *ok = "{\"response\":{\"x\":1},\"status\":\"ok\"}";
	const char *er = "{\"status\":\"error\",\"response\":{\"reason\":\"invalid_ref\"}}";
	const char *r;
	size_t rlen;
	bool st;

	(void)state;
	assert_int_equal(nt_phx_reply_parse(ok, strlen(ok), &st, &r, &rlen), 0);
	assert_true(st);
	assert_int_equal(rlen, 7);
	assert_memory_equal(r, "{\"x\":1}", 7);
	assert_int_equal(nt_phx_reply_parse(er, strlen(er), &st, &r, &rlen), 0);
	assert_false(st);
	assert_int_equal(nt_phx_reply_parse("{\"status\":\"ok\"}", 15, &st, &r, &rlen), -EINVAL);
	assert_int_equal(nt_phx_reply_parse("{\"status\":\"maybe\",\"response\":{}}", 32, &st, &r,
					    &rlen),
			 -EINVAL);
	assert_int_equal(nt_phx_reply_parse("{\"status\":\"ok\",\"response\":[]}", 29, &st, &r,
					    &rlen),
			 -EINVAL);
	assert_int_equal(nt_phx_reply_parse("\"ok\"", 4, &st, &r, &rlen), -EINVAL);
	assert_int_equal(nt_phx_reply_parse("{\"status\":\"ok\",\"status\":\"ok\",\"response\":{}}",
					    44, &st, &r, &rlen),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode_known_answers),
	    cmocka_unit_test(test_reply_build_known_answers),
	    cmocka_unit_test(test_decode_round_trip),
	    cmocka_unit_test(test_decode_members_any_order_unknown_ignored),
	    cmocka_unit_test(test_decode_rejects),
	    cmocka_unit_test(test_decode_name_bound),
	    cmocka_unit_test(test_decode_size_and_depth),
	    cmocka_unit_test(test_reply_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
