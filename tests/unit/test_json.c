// SPDX-License-Identifier: MIT
/* core/phx/json_w and json_r: escaping, UTF-8, strictness, bounds. */
#include "core/phx/json_r.h"
#include "core/phx/json_w.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int check(const char *s)
{
	return nt_json_check(s, strlen(s));
}

static void test_writer_escapes(void **state)
{
	char buf[128];
	struct nt_json_w w;

	(void)state;
	nt_json_w_init(&w, buf, sizeof(buf));
	nt_json_w_obj_open(&w);
	nt_json_w_kstr(&w, "s", "a\"b\\c\n\x01\x1f\t\r\xc3\xa9/");
	nt_json_w_key(&w, "a");
	nt_json_w_arr_open(&w);
	nt_json_w_int(&w, INT64_MIN);
	nt_json_w_int(&w, INT64_MAX);
	nt_json_w_bool(&w, true);
	nt_json_w_bool(&w, false);
	nt_json_w_null(&w);
	nt_json_w_raw(&w, "{}", 2);
	nt_json_w_arr_close(&w);
	nt_json_w_obj_close(&w);
	assert_int_equal(nt_json_w_finish(&w), (int)strlen(buf));
	assert_string_equal(buf, "{\"s\":\"a\\\"b\\\\c\\n\\u0001\\u001f\\t\\r\xc3\xa9/\","
				 "\"a\":[-9223372036854775808,9223372036854775807,true,false,null,{}]}");
	assert_int_equal(check(buf), 0);
}

static void test_writer_refuses_bad_utf8_and_overflow(void **state)
{
	char buf[16];
	struct nt_json_w w;

	(void)state;
	nt_json_w_init(&w, buf, sizeof(buf));
	nt_json_w_str(&w, "\xc0\x80"); /* overlong NUL */
	assert_int_equal(nt_json_w_finish(&w), -ENOSPC);
	nt_json_w_init(&w, buf, sizeof(buf));
	nt_json_w_str(&w, "\xed\xa0\x80"); /* an encoded surrogate */
	assert_int_equal(nt_json_w_finish(&w), -ENOSPC);
	nt_json_w_init(&w, buf, sizeof(buf));
	nt_json_w_str(&w, "0123456789abcd"); /* 16 with quotes, NUL does not fit */
	assert_int_equal(nt_json_w_finish(&w), -ENOSPC);
	assert_true(strlen(buf) < sizeof(buf));
	nt_json_w_init(&w, buf, sizeof(buf));
	nt_json_w_str(&w, "0123456789abc");
	assert_int_equal(nt_json_w_finish(&w), 15);
	nt_json_w_init(&w, buf, sizeof(buf));
	nt_json_w_obj_open(&w); /* unbalanced */
	assert_int_equal(nt_json_w_finish(&w), -ENOSPC);
	nt_json_w_init(&w, buf, sizeof(buf));
	nt_json_w_obj_open(&w);
	nt_json_w_int(&w, 1); /* a value without a key */
	nt_json_w_obj_close(&w);
	assert_int_equal(nt_json_w_finish(&w), -ENOSPC);
	nt_json_w_init(&w, buf, sizeof(buf));
	nt_json_w_arr_open(&w);
	nt_json_w_obj_close(&w); /* mismatched */
	assert_int_equal(nt_json_w_finish(&w), -ENOSPC);
	nt_json_w_init(&w, buf, sizeof(buf));
	nt_json_w_key(&w, "k");
	assert_int_equal(nt_json_w_finish(&w), -ENOSPC);
}

static void test_writer_depth_bound(void **state)
{
	char buf[256];
	struct nt_json_w w;

	(void)state;
	nt_json_w_init(&w, buf, sizeof(buf));
	for (int k = 0; k < NT_JSON_W_DEPTH + 1; k++)
		nt_json_w_arr_open(&w);
	for (int k = 0; k < NT_JSON_W_DEPTH + 1; k++)
		nt_json_w_arr_close(&w);
	assert_int_equal(nt_json_w_finish(&w), -ENOSPC);
}

static void test_check_accepts_json(void **state)
{
	static const char *const good[] = {
	    "{}", "[]", "null", "true", "false", "0", "-0", "1.5e-3", "\"\"", " {\"a\" : [1, 2, {}]} \n",
	    "\"\\ud83d\\ude00\"", "\"\\u00e9\\/\\b\\f\"", "[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]",
	};

	(void)state;
	for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++)
		assert_int_equal(check(good[k]), 0);
}

static void test_check_rejects(void **state)
{
	static const char *const bad[] = {
	    "",	     "{",	  "{\"a\":1,}",	 "[1,]",     "[,1]",	  "{\"a\" 1}",	"{a:1}",
	    "01",    "1.",	  "1e",		 "+1",	     "tru",	  "nul",	"{} {}",
	    "{}x",   "\"\\x\"",	  "\"a\nb\"",	 "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
	    "\"\\ud800\\u0041\"", "[1 2]",	 "{\"a\":1 \"b\":2}", "{\"a\"}", "'a'", "[}",
	    "{]",    "[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]",
	};

	(void)state;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		int err = check(bad[k]);

		if (err != -EINVAL)
			fail_msg("accepted or wrong error for %s: %d", bad[k], err);
	}
}

static void test_check_utf8_and_size(void **state)
{
	char *big;

	(void)state;
	assert_int_equal(check("\"\xff\""), -EILSEQ);
	assert_int_equal(check("\"\xc3\""), -EILSEQ);
	assert_int_equal(check("\"\xe0\x80\x80\""), -EILSEQ);
	assert_int_equal(check("\"\xf4\x90\x80\x80\""), -EILSEQ);
	assert_int_equal(check("\"\xf0\x9f\x98\x80\""), 0);
	big = malloc(NT_JSON_TEXT_MAX + 1);
	assert_non_null(big);
	memset(big, ' ', NT_JSON_TEXT_MAX + 1);
	big[0] = '0';
	assert_int_equal(nt_json_check(big, NT_JSON_TEXT_MAX + 1), -EMSGSIZE);
	assert_int_equal(nt_json_check(big, NT_JSON_TEXT_MAX), 0);
	free(big);
}

static void test_parse_duplicates_and_members(void **state)
{
	struct nt_json j;
	jsmntok_t tok[64];
	const char *dup = "{\"a\":1,\"b\":{\"x\":1,\"\\u0078\":2}}";
	const char *ok = "{\"a\":{\"k\":[1,2,{\"a\":3}]},\"b\":\"v\",\"c\":null}";
	char big[NT_JSON_MEMBERS_MAX * 8 + 8];
	size_t n = 0;

	(void)state;
	assert_int_equal(nt_json_parse(&j, dup, strlen(dup), tok, 64), -EINVAL);
	assert_int_equal(nt_json_parse(&j, "{\"a\":1,\"a\":1}", 13, tok, 64), -EINVAL);
	assert_int_equal(nt_json_parse(&j, ok, strlen(ok), tok, 3), -EMSGSIZE);
	assert_int_equal(nt_json_parse(&j, ok, strlen(ok), tok, 64), 0);
	assert_int_equal(nt_json_get(&j, 0, "b"), 11);
	assert_true(nt_json_str_eq(&j, nt_json_get(&j, 0, "b"), "v"));
	assert_true(nt_json_is_null(&j, nt_json_get(&j, 0, "c")));
	assert_int_equal(nt_json_get(&j, 0, "k"), -ENOENT); /* not a member of the root */
	assert_int_equal(nt_json_get(&j, 11, "k"), -EINVAL);
	big[n++] = '{';
	for (int k = 0; k <= NT_JSON_MEMBERS_MAX; k++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%s\"%02x\":0", k ? "," : "", k);
	big[n++] = '}';
	assert_int_equal(nt_json_parse_alloc(&j, big, n), -EINVAL);
}

static void test_read_strings(void **state)
{
	struct nt_json j;
	jsmntok_t tok[8];
	const char *s = "[\"a\\u00e9\\ud83d\\ude00\\n\",\"\\u0000\",\"long one\"]";
	char out[16];
	int e;

	(void)state;
	assert_int_equal(nt_json_parse(&j, s, strlen(s), tok, 8), 0);
	e = nt_json_arr_first(&j, 0);
	assert_int_equal(nt_json_str(&j, e, out, sizeof(out)), 8);
	assert_string_equal(out, "a\xc3\xa9\xf0\x9f\x98\x80\n");
	e = nt_json_skip(&j, e);
	assert_int_equal(nt_json_str(&j, e, out, sizeof(out)), -EINVAL); /* NUL */
	e = nt_json_skip(&j, e);
	assert_int_equal(nt_json_str(&j, e, out, 8), -EINVAL); /* 8 bytes need 9 */
	assert_int_equal(nt_json_str(&j, e, out, 9), 8);
	assert_int_equal(nt_json_skip(&j, e), 4);
	assert_int_equal(nt_json_str(&j, 0, out, sizeof(out)), -EINVAL); /* an array */
}

static void test_read_numbers(void **state)
{
	struct nt_json j;
	jsmntok_t tok[16];
	const char *s = "[9223372036854775807,-9223372036854775808,9223372036854775808,"
			"-9223372036854775809,1.0,1e2,65535,65536,-1,true,\"1\"]";
	int64_t v;
	uint16_t u;
	bool b;
	int e;

	(void)state;
	assert_int_equal(nt_json_parse(&j, s, strlen(s), tok, 16), 0);
	e = 1;
	assert_int_equal(nt_json_i64(&j, e++, &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(nt_json_i64(&j, e++, &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(nt_json_i64(&j, e++, &v), -EINVAL);
	assert_int_equal(nt_json_i64(&j, e++, &v), -EINVAL);
	assert_int_equal(nt_json_i64(&j, e++, &v), -EINVAL);
	assert_int_equal(nt_json_i64(&j, e++, &v), -EINVAL);
	assert_int_equal(nt_json_u16(&j, e++, &u), 0);
	assert_int_equal(u, 65535);
	assert_int_equal(nt_json_u16(&j, e++, &u), -EINVAL);
	assert_int_equal(nt_json_u16(&j, e++, &u), -EINVAL);
	assert_int_equal(nt_json_i64(&j, e, &v), -EINVAL);
	assert_int_equal(nt_json_bool(&j, e++, &b), 0);
	assert_true(b);
	assert_int_equal(nt_json_i64(&j, e, &v), -EINVAL);
	assert_int_equal(nt_json_bool(&j, e, &b), -EINVAL);
}

static void test_deep_nesting_refused_without_recursion(void **state)
{
	size_t n = 200000;
	char *s = malloc(2 * n);

	(void)state;
	assert_non_null(s);
	memset(s, '[', n);
	memset(s + n, ']', n);
	assert_int_equal(nt_json_check(s, 2 * n), -EINVAL);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_writer_escapes),
	    cmocka_unit_test(test_writer_refuses_bad_utf8_and_overflow),
	    cmocka_unit_test(test_writer_depth_bound),
	    cmocka_unit_test(test_check_accepts_json),
	    cmocka_unit_test(test_check_rejects),
	    cmocka_unit_test(test_check_utf8_and_size),
	    cmocka_unit_test(test_parse_duplicates_and_members),
	    cmocka_unit_test(test_read_strings),
	    cmocka_unit_test(test_read_numbers),
	    cmocka_unit_test(test_deep_nesting_refused_without_recursion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
