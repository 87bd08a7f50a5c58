// SPDX-License-Identifier: MIT
/* core/wg/transport.c: transport messages against the vectors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/wg/transport.h"
#include "core/wg/wg_constants.h"
#include "tests/unit/wg_test_vectors.h"

#define MAX_PLAIN 1500

/* The vector's key pair: the initiator sends with T_send, the responder receives with it. */
struct link {
	struct wg_transport i, r;
};

static void link_init(struct link *l)
{
	uint8_t ts[32], tr[32];

	vec_hex(ts, 32, VEC_T_SEND_I);
	vec_hex(tr, 32, VEC_T_RECV_I);
	wg_transport_init(&l->i, ts, tr, VEC_I_INDEX, VEC_R_INDEX);
	wg_transport_init(&l->r, tr, ts, VEC_R_INDEX, VEC_I_INDEX);
}

static int setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

static void test_keepalive_matches_vector(void **state)
{
	struct link l;
	uint8_t buf[64], want[32], *plain = NULL;
	size_t len = 0, plain_len = 99;
	uint64_t ctr = 99;
	(void)state;

	link_init(&l);
	assert_int_equal(wg_transport_encrypt(&l.i, buf, sizeof(buf), 0, 0, &len), 0);
	assert_int_equal(len, 32);
	vec_hex(want, sizeof(want), VEC_KEEPALIVE);
	assert_memory_equal(buf, want, 32);
	assert_true(l.i.send_counter == 1);

	assert_int_equal(wg_transport_decrypt(&l.r, buf, len, &plain, &plain_len, &ctr), 0);
	assert_ptr_equal(plain, buf + 16);
	assert_int_equal(plain_len, 0);
	assert_true(ctr == 0);
}

static void test_round_trip_all_sizes_with_padding(void **state)
{
	static uint8_t buf[16 + MAX_PLAIN + 16 + 16], src[MAX_PLAIN];
	struct link l;
	size_t n, len, plain_len, padded;
	uint8_t *plain;
	uint64_t ctr;
	(void)state;

	link_init(&l);
	randombytes_buf(src, sizeof(src));
	for (n = 0; n <= MAX_PLAIN; n++) {
		padded = (n + 15) / 16 * 16;
		memset(buf, 0xa5, sizeof(buf));
		memcpy(buf + WG_TRANSPORT_HEADER_ROOM, src, n);
		assert_int_equal(wg_transport_encrypt(&l.i, buf, sizeof(buf), n, 0, &len), 0);
		assert_int_equal(len, 32 + padded);
		assert_int_equal(len, wg_transport_message_len(n, 0));
		assert_true(len <= WG_TRANSPORT_HEADER_ROOM + n + WG_TRANSPORT_TAIL_ROOM);
		assert_int_equal(buf[0], WG_MSG_TRANSPORT);
		assert_int_equal(wg_le32_load(buf + 4), VEC_R_INDEX);
		assert_true(wg_le64_load(buf + 8) == n);
		if (n >= 16)
			assert_memory_not_equal(buf + 16, src, 16);

		/* Replies go the other way with the other key. */
		assert_int_equal(wg_transport_decrypt(&l.r, buf, len, &plain, &plain_len, &ctr), 0);
		assert_int_equal(plain_len, padded);
		assert_true(ctr == n);
		assert_memory_equal(plain, src, n);
		for (; plain_len > n; plain_len--)
			assert_int_equal(plain[plain_len - 1], 0);
	}
	assert_true(l.i.send_counter == MAX_PLAIN + 1);
}

static void test_responder_to_initiator_direction(void **state)
{
	struct link l;
	uint8_t buf[128], *plain;
	size_t len, plain_len;
	uint64_t ctr;
	(void)state;

	link_init(&l);
	memcpy(buf + 16, "hello, initiator", 16);
	assert_int_equal(wg_transport_encrypt(&l.r, buf, sizeof(buf), 16, 0, &len), 0);
	assert_int_equal(wg_le32_load(buf + 4), VEC_I_INDEX);
	assert_int_equal(wg_transport_decrypt(&l.i, buf, len, &plain, &plain_len, &ctr), 0);
	assert_memory_equal(plain, "hello, initiator", 16);
}

static void test_padding_stops_at_mtu(void **state)
{
	(void)state;
	assert_int_equal(wg_transport_padded_len(1419, 1420), 1420);
	assert_int_equal(wg_transport_padded_len(1420, 1420), 1420);
	assert_int_equal(wg_transport_padded_len(1405, 1420), 1408);
	assert_int_equal(wg_transport_padded_len(1421, 1420), 1424);
	assert_int_equal(wg_transport_padded_len(1419, 0), 1424);
	assert_int_equal(wg_transport_message_len(0, 1420), 32);
}

static void test_every_tampered_byte_is_detected(void **state)
{
	struct link l;
	uint8_t msg[16 + 112 + 16], buf[sizeof(msg)], *plain;
	size_t len, plain_len, off;
	uint64_t ctr;
	int ret;
	(void)state;

	link_init(&l);
	randombytes_buf(msg + 16, 100);
	assert_int_equal(wg_transport_encrypt(&l.i, msg, sizeof(msg), 100, 0, &len), 0);
	assert_int_equal(len, sizeof(msg));
	for (off = 0; off < len; off++) {
		memcpy(buf, msg, len);
		buf[off] ^= 0x04;
		ret = wg_transport_decrypt(&l.r, buf, len, &plain, &plain_len, &ctr);
		if (off < 4)
			assert_int_equal(ret, -EINVAL);
		else if (off < 8)
			assert_int_equal(ret, -ENOENT);
		else
			assert_int_equal(ret, -EBADMSG);
	}
	/* None of that moved the replay window: the real one still goes through. */
	assert_int_equal(l.r.replay.next, 0);
	assert_int_equal(wg_transport_decrypt(&l.r, msg, len, &plain, &plain_len, &ctr), 0);
	/* Truncated. */
	assert_int_equal(wg_transport_decrypt(&l.r, msg, 31, &plain, &plain_len, &ctr), -EINVAL);
}

static void test_wrong_key_is_rejected(void **state)
{
	struct link l;
	struct wg_transport other;
	uint8_t buf[64], k1[32], k2[32], *plain;
	size_t len, plain_len;
	uint64_t ctr;
	(void)state;

	link_init(&l);
	randombytes_buf(k1, 32);
	randombytes_buf(k2, 32);
	wg_transport_init(&other, k1, k2, VEC_R_INDEX, VEC_I_INDEX);
	memset(buf + 16, 'x', 20);
	assert_int_equal(wg_transport_encrypt(&l.i, buf, sizeof(buf), 20, 0, &len), 0);
	assert_int_equal(wg_transport_decrypt(&other, buf, len, &plain, &plain_len, &ctr),
			 -EBADMSG);
	/* Keys of the wrong direction do not open it either. */
	link_init(&l);
	assert_int_equal(wg_transport_encrypt(&l.i, buf, sizeof(buf), 20, 0, &len), 0);
	wg_transport_init(&other, l.i.recv_key, l.i.recv_key, VEC_R_INDEX, 0);
	assert_int_equal(wg_transport_decrypt(&other, buf, len, &plain, &plain_len, &ctr),
			 -EBADMSG);
	wg_transport_clear(&other);
}

static void test_replayed_and_reordered_messages(void **state)
{
	struct link l;
	uint8_t msgs[3][48], buf[48], *plain;
	size_t len, plain_len;
	uint64_t ctr;
	int k;
	(void)state;

	link_init(&l);
	for (k = 0; k < 3; k++) {
		memset(msgs[k] + 16, k, 16);
		assert_int_equal(wg_transport_encrypt(&l.i, msgs[k], sizeof(msgs[k]), 16, 0, &len),
				 0);
	}
	memcpy(buf, msgs[2], 48);
	assert_int_equal(wg_transport_decrypt(&l.r, buf, 48, &plain, &plain_len, &ctr), 0);
	assert_true(ctr == 2);
	memcpy(buf, msgs[0], 48);
	assert_int_equal(wg_transport_decrypt(&l.r, buf, 48, &plain, &plain_len, &ctr), 0);
	assert_true(ctr == 0);
	memcpy(buf, msgs[2], 48);
	assert_int_equal(wg_transport_decrypt(&l.r, buf, 48, &plain, &plain_len, &ctr), -EALREADY);
	memcpy(buf, msgs[1], 48);
	assert_int_equal(wg_transport_decrypt(&l.r, buf, 48, &plain, &plain_len, &ctr), 0);
	assert_true(ctr == 1);
}

static void test_send_counter_exhaustion(void **state)
{
	struct link l;
	uint8_t buf[64], *plain;
	size_t len = 0, plain_len;
	uint64_t ctr;
	(void)state;

	link_init(&l);
	l.i.send_counter = WG_REJECT_AFTER_MESSAGES - 1;
	assert_int_equal(wg_transport_encrypt(&l.i, buf, sizeof(buf), 0, 0, &len), 0);
	assert_true(wg_le64_load(buf + 8) == WG_REJECT_AFTER_MESSAGES - 1);
	assert_int_equal(wg_transport_decrypt(&l.r, buf, len, &plain, &plain_len, &ctr), 0);
	assert_true(ctr == WG_REJECT_AFTER_MESSAGES - 1);
	assert_int_equal(wg_transport_encrypt(&l.i, buf, sizeof(buf), 0, 0, &len), -EKEYEXPIRED);
	assert_true(l.i.send_counter == WG_REJECT_AFTER_MESSAGES);
}

/* A forger who could make a valid box for the limit counter still gets nowhere. */
static void test_counter_at_limit_is_refused_on_receive(void **state)
{
	struct link l;
	uint8_t buf[32], nonce[12] = {0}, *plain;
	size_t plain_len;
	uint64_t ctr;
	(void)state;

	link_init(&l);
	buf[0] = 4;
	buf[1] = buf[2] = buf[3] = 0;
	wg_le32_store(buf + 4, VEC_R_INDEX);
	wg_le64_store(buf + 8, WG_REJECT_AFTER_MESSAGES);
	wg_le64_store(nonce + 4, WG_REJECT_AFTER_MESSAGES);
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf + 16, buf + 16, NULL, buf + 16, 0,
							   NULL, 0, NULL, nonce, l.i.send_key);
	assert_int_equal(wg_transport_decrypt(&l.r, buf, 32, &plain, &plain_len, &ctr), -ERANGE);
}

static void test_too_small_buffer_is_refused_without_using_a_counter(void **state)
{
	struct link l;
	uint8_t buf[16 + 32 + 16];
	size_t len = 7;
	(void)state;

	link_init(&l);
	assert_int_equal(wg_transport_encrypt(&l.i, buf, sizeof(buf) - 1, 17, 0, &len), -ENOBUFS);
	assert_int_equal(len, 7);
	assert_true(l.i.send_counter == 0);
	assert_int_equal(wg_transport_encrypt(&l.i, buf, sizeof(buf), 17, 0, &len), 0);
	assert_int_equal(len, sizeof(buf));
	assert_int_equal(wg_transport_encrypt(&l.i, buf, SIZE_MAX, SIZE_MAX - 8, 0, &len),
			 -ENOBUFS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keepalive_matches_vector),
	    cmocka_unit_test(test_round_trip_all_sizes_with_padding),
	    cmocka_unit_test(test_responder_to_initiator_direction),
	    cmocka_unit_test(test_padding_stops_at_mtu),
	    cmocka_unit_test(test_every_tampered_byte_is_detected),
	    cmocka_unit_test(test_wrong_key_is_rejected),
	    cmocka_unit_test(test_replayed_and_reordered_messages),
	    cmocka_unit_test(test_send_counter_exhaustion),
	    cmocka_unit_test(test_counter_at_limit_is_refused_on_receive),
	    cmocka_unit_test(test_too_small_buffer_is_refused_without_using_a_counter),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
