// SPDX-License-Identifier: MIT
/* core/wg/wg_messages.c: the wire layout of the four messages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/wg/wg_messages.h"
#include "tests/unit/wg_test_vectors.h"

static void test_parse_initiation_vector(void **state)
{
	uint8_t buf[WG_MSG_INITIATION_LEN];
	struct wg_message m;
	(void)state;

	assert_int_equal(vec_hex(buf, sizeof(buf), VEC_INITIATION), sizeof(buf));
	assert_int_equal(wg_message_parse(buf, sizeof(buf), &m), 0);
	assert_int_equal(m.type, WG_MSG_INITIATION);
	assert_int_equal(m.sender, VEC_I_INDEX);
	assert_ptr_equal(m.initiation, buf);
	assert_ptr_equal(m.buf, buf);
	assert_int_equal(m.len, sizeof(buf));
	assert_ptr_equal(m.initiation->macs.mac1, buf + 116);
	assert_ptr_equal(m.initiation->macs.mac2, buf + 132);
}

static void test_parse_response_vector(void **state)
{
	uint8_t buf[WG_MSG_RESPONSE_LEN];
	struct wg_message m;
	(void)state;

	assert_int_equal(vec_hex(buf, sizeof(buf), VEC_RESPONSE), sizeof(buf));
	assert_int_equal(wg_message_parse(buf, sizeof(buf), &m), 0);
	assert_int_equal(m.type, WG_MSG_RESPONSE);
	assert_int_equal(m.sender, VEC_R_INDEX);
	assert_int_equal(m.receiver, VEC_I_INDEX);
	assert_ptr_equal(m.response->macs.mac1, buf + 60);
}

static void test_parse_keepalive_vector(void **state)
{
	uint8_t buf[32];
	struct wg_message m;
	(void)state;

	assert_int_equal(vec_hex(buf, sizeof(buf), VEC_KEEPALIVE), sizeof(buf));
	assert_int_equal(wg_message_parse(buf, sizeof(buf), &m), 0);
	assert_int_equal(m.type, WG_MSG_TRANSPORT);
	assert_int_equal(m.receiver, VEC_R_INDEX);
	assert_int_equal(m.counter, 0);
	assert_ptr_equal(m.payload, buf + 16);
	assert_int_equal(m.payload_len, 16);
}

static void test_parse_transport_decodes_le64_counter(void **state)
{
	uint8_t buf[64] = {4, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd, 1, 2, 3, 4, 5, 6, 7, 0x88};
	struct wg_message m;
	(void)state;

	assert_int_equal(wg_message_parse(buf, sizeof(buf), &m), 0);
	assert_int_equal(m.receiver, 0xddccbbaau);
	assert_true(m.counter == UINT64_C(0x8807060504030201));
	assert_int_equal(m.payload_len, 48);
}

static void test_parse_cookie_reply(void **state)
{
	uint8_t buf[WG_MSG_COOKIE_REPLY_LEN] = {3, 0, 0, 0, 0x44, 0x33, 0x22, 0x11};
	struct wg_message m;
	(void)state;

	assert_int_equal(wg_message_parse(buf, sizeof(buf), &m), 0);
	assert_int_equal(m.type, WG_MSG_COOKIE_REPLY);
	assert_int_equal(m.receiver, 0x11223344u);
	assert_ptr_equal(m.cookie_reply->nonce, buf + 8);
	assert_ptr_equal(m.cookie_reply->cookie_enc, buf + 32);
}

static void test_parse_rejects_wrong_lengths(void **state)
{
	static const struct {
		uint8_t type;
		size_t good;
	} kinds[] = {{1, 148}, {2, 92}, {3, 64}};
	uint8_t buf[256] = {0};
	struct wg_message m;
	size_t k, len;
	(void)state;

	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		buf[0] = kinds[k].type;
		for (len = 0; len < sizeof(buf); len++) {
			int want = len == kinds[k].good ? 0 : -EINVAL;

			assert_int_equal(wg_message_parse(buf, len, &m), want);
		}
	}
	buf[0] = 4;
	for (len = 0; len < 32; len++)
		assert_int_equal(wg_message_parse(buf, len, &m), -EINVAL);
	assert_int_equal(wg_message_parse(buf, 32, &m), 0);
	assert_int_equal(wg_message_parse(buf, 33, &m), 0);
	assert_int_equal(wg_message_parse(buf, sizeof(buf), &m), 0);
}

static void test_parse_rejects_nonzero_reserved_bytes(void **state)
{
	uint8_t buf[WG_MSG_INITIATION_LEN];
	struct wg_message m;
	int i;
	(void)state;

	for (i = 1; i < 4; i++) {
		vec_hex(buf, sizeof(buf), VEC_INITIATION);
		buf[i] = 0x01;
		assert_int_equal(wg_message_parse(buf, sizeof(buf), &m), -EINVAL);
	}
}

static void test_parse_rejects_unknown_types(void **state)
{
	uint8_t buf[148] = {0};
	struct wg_message m;
	int t;
	(void)state;

	for (t = 0; t < 256; t++) {
		buf[0] = (uint8_t)t;
		if (t >= 1 && t <= 4)
			continue;
		assert_int_equal(wg_message_parse(buf, sizeof(buf), &m), -EPROTO);
	}
	assert_int_equal(wg_message_parse(NULL, 0, &m), -EINVAL);
}

static void test_parse_leaves_output_untouched_on_error(void **state)
{
	uint8_t buf[10] = {1};
	struct wg_message m, before;
	(void)state;

	memset(&m, 0x5a, sizeof(m));
	before = m;
	assert_int_equal(wg_message_parse(buf, sizeof(buf), &m), -EINVAL);
	assert_memory_equal(&m, &before, sizeof(m));
}

static void test_le_helpers_round_trip(void **state)
{
	uint8_t b[8];
	(void)state;

	wg_le32_store(b, 0x01020304u);
	assert_memory_equal(b, "\x04\x03\x02\x01", 4);
	assert_int_equal(wg_le32_load(b), 0x01020304u);
	wg_le64_store(b, UINT64_C(0x0102030405060708));
	assert_memory_equal(b, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
	assert_true(wg_le64_load(b) == UINT64_C(0x0102030405060708));
	wg_message_set_type(b, WG_MSG_COOKIE_REPLY);
	assert_memory_equal(b, "\x03\x00\x00\x00", 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_initiation_vector),
	    cmocka_unit_test(test_parse_response_vector),
	    cmocka_unit_test(test_parse_keepalive_vector),
	    cmocka_unit_test(test_parse_transport_decodes_le64_counter),
	    cmocka_unit_test(test_parse_cookie_reply),
	    cmocka_unit_test(test_parse_rejects_wrong_lengths),
	    cmocka_unit_test(test_parse_rejects_nonzero_reserved_bytes),
	    cmocka_unit_test(test_parse_rejects_unknown_types),
	    cmocka_unit_test(test_parse_leaves_output_untouched_on_error),
	    cmocka_unit_test(test_le_helpers_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
