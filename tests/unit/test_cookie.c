// SPDX-License-Identifier: MIT
/* core/wg/cookie.c: mac1, mac2 and cookie replies against the vectors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/wg/cookie.h"
#include "core/wg/wg_constants.h"
#include "tests/unit/wg_test_vectors.h"

static const uint8_t src_a[] = {127, 0, 0, 1, 0xca, 0xfe};
static const uint8_t src_b[] = {127, 0, 0, 2, 0xca, 0xfe};

#define T0 WG_SEC(1000)

/* A responder (checker) and an initiator talking to it (maker), plus an
 * initiation-shaped message with random contents. */
struct fixture {
	struct wg_cookie_checker checker;
	struct wg_cookie_maker maker;
	uint8_t msg[WG_MSG_INITIATION_LEN];
};

static void fixture_init(struct fixture *f)
{
	uint8_t priv[32], pub[32];

	randombytes_buf(priv, sizeof(priv));
	crypto_scalarmult_curve25519_base(pub, priv);
	wg_cookie_checker_init(&f->checker, pub);
	wg_cookie_maker_init(&f->maker, pub);
	randombytes_buf(f->msg, sizeof(f->msg));
	f->msg[0] = WG_MSG_INITIATION;
	f->msg[1] = f->msg[2] = f->msg[3] = 0;
}

static void fixture_clear(struct fixture *f)
{
	wg_cookie_checker_clear(&f->checker);
	wg_cookie_maker_clear(&f->maker);
}

static int validate(struct fixture *f, const uint8_t *src, bool under_load, uint64_t now)
{
	return wg_cookie_validate(&f->checker, f->msg, sizeof(f->msg), src, sizeof(src_a),
				  under_load, now);
}

/* Under load: the checker answers with a cookie reply; the maker takes it. */
static void get_cookie(struct fixture *f, const uint8_t *src, uint64_t now)
{
	struct wg_msg_cookie_reply reply;

	assert_int_equal(wg_cookie_create_reply(&f->checker, f->msg, sizeof(f->msg), src,
						sizeof(src_a), now, &reply),
			 0);
	assert_int_equal(wg_cookie_consume_reply(&f->maker, &reply, now), 0);
}

static void test_macs_match_vectors(void **state)
{
	struct wg_cookie_maker m;
	uint8_t rpub[32], msg[WG_MSG_INITIATION_LEN], want[WG_MSG_INITIATION_LEN];
	(void)state;

	vec_hex(rpub, sizeof(rpub), VEC_R_STATIC_PUB);
	wg_cookie_maker_init(&m, rpub);
	vec_hex(want, sizeof(want), VEC_MAC1_KEY);
	assert_memory_equal(m.mac1_key, want, 32);
	vec_hex(want, sizeof(want), VEC_COOKIE_KEY);
	assert_memory_equal(m.cookie_key, want, 32);

	vec_hex(msg, sizeof(msg), VEC_INITIATION);
	memset(msg + 116, 0xee, 32);
	wg_cookie_add_macs(&m, msg, sizeof(msg), 0);
	vec_hex(want, sizeof(want), VEC_INITIATION);
	assert_memory_equal(msg, want, sizeof(msg));

	/* The vector's cookie, as if a cookie reply had just delivered it. */
	vec_hex(m.cookie, sizeof(m.cookie), VEC_COOKIE);
	m.cookie_set = true;
	m.cookie_birth_ns = 0;
	wg_cookie_add_macs(&m, msg, sizeof(msg), WG_SEC(1));
	vec_hex(want, sizeof(want), VEC_INITIATION_WITH_MAC2);
	assert_memory_equal(msg, want, sizeof(msg));
	wg_cookie_maker_clear(&m);
}

static void test_valid_mac1_accepted_when_not_under_load(void **state)
{
	struct fixture f;
	(void)state;

	fixture_init(&f);
	wg_cookie_add_macs(&f.maker, f.msg, sizeof(f.msg), T0);
	assert_int_equal(validate(&f, src_a, false, T0), 0);
	/* mac2 is not looked at without load. */
	f.msg[sizeof(f.msg) - 1] ^= 1;
	assert_int_equal(validate(&f, src_a, false, T0), 0);
	fixture_clear(&f);
}

static void test_wrong_mac1_rejected(void **state)
{
	struct fixture f;
	struct wg_cookie_maker other;
	uint8_t other_pub[32];
	size_t off;
	(void)state;

	fixture_init(&f);
	wg_cookie_add_macs(&f.maker, f.msg, sizeof(f.msg), T0);
	for (off = 0; off < 132; off++) {
		f.msg[off] ^= 0x80;
		assert_int_equal(validate(&f, src_a, false, T0), -EBADMSG);
		assert_int_equal(validate(&f, src_a, true, T0), -EBADMSG);
		f.msg[off] ^= 0x80;
	}
	assert_int_equal(validate(&f, src_a, false, T0), 0);

	/* mac1 made for another responder. */
	randombytes_buf(other_pub, sizeof(other_pub));
	wg_cookie_maker_init(&other, other_pub);
	wg_cookie_add_macs(&other, f.msg, sizeof(f.msg), T0);
	assert_int_equal(validate(&f, src_a, false, T0), -EBADMSG);
	fixture_clear(&f);
}

static void test_mac2_required_under_load(void **state)
{
	struct fixture f;
	(void)state;

	fixture_init(&f);
	wg_cookie_add_macs(&f.maker, f.msg, sizeof(f.msg), T0);
	assert_int_equal(validate(&f, src_a, true, T0), -EAGAIN);
	get_cookie(&f, src_a, T0);
	wg_cookie_add_macs(&f.maker, f.msg, sizeof(f.msg), T0 + 1);
	assert_int_equal(validate(&f, src_a, true, T0 + 1), 0);
	/* A damaged mac2 is as good as none. */
	f.msg[sizeof(f.msg) - 1] ^= 1;
	assert_int_equal(validate(&f, src_a, true, T0 + 1), -EAGAIN);
	fixture_clear(&f);
}

static void test_cookie_is_bound_to_source_address(void **state)
{
	struct fixture f;
	(void)state;

	fixture_init(&f);
	wg_cookie_add_macs(&f.maker, f.msg, sizeof(f.msg), T0);
	get_cookie(&f, src_a, T0);
	wg_cookie_add_macs(&f.maker, f.msg, sizeof(f.msg), T0);
	assert_int_equal(validate(&f, src_a, true, T0), 0);
	assert_int_equal(validate(&f, src_b, true, T0), -EAGAIN);
	fixture_clear(&f);
}

static void test_cookie_expires_after_120_s(void **state)
{
	static const uint8_t zeros[16];
	struct fixture f;
	(void)state;

	fixture_init(&f);
	wg_cookie_add_macs(&f.maker, f.msg, sizeof(f.msg), T0);
	get_cookie(&f, src_a, T0);
	wg_cookie_add_macs(&f.maker, f.msg, sizeof(f.msg), T0 + WG_SEC(120) - 1);
	assert_memory_not_equal(f.msg + 132, zeros, 16);
	wg_cookie_add_macs(&f.maker, f.msg, sizeof(f.msg), T0 + WG_SEC(120));
	assert_memory_equal(f.msg + 132, zeros, 16);
	assert_false(f.maker.cookie_set);
	fixture_clear(&f);
}

static void test_secret_rotates_after_120_s(void **state)
{
	struct fixture f;
	uint8_t first_secret[32];
	(void)state;

	fixture_init(&f);
	wg_cookie_add_macs(&f.maker, f.msg, sizeof(f.msg), T0);
	/* The secret is made on first use, at T0. */
	assert_int_equal(validate(&f, src_a, true, T0), -EAGAIN);
	memcpy(first_secret, f.checker.secret, 32);
	/* The maker gets its cookie at T0 + 60 s, from the same secret. */
	get_cookie(&f, src_a, T0 + WG_SEC(60));
	assert_memory_equal(first_secret, f.checker.secret, 32);
	wg_cookie_add_macs(&f.maker, f.msg, sizeof(f.msg), T0 + WG_SEC(119));
	assert_int_equal(validate(&f, src_a, true, T0 + WG_SEC(119)), 0);

	/* At T0 + 120 s the secret is replaced: the maker's cookie (60 s old,
	 * still sent) no longer validates, and a new reply fixes that. */
	wg_cookie_add_macs(&f.maker, f.msg, sizeof(f.msg), T0 + WG_SEC(120));
	assert_int_equal(validate(&f, src_a, true, T0 + WG_SEC(120)), -EAGAIN);
	assert_memory_not_equal(first_secret, f.checker.secret, 32);
	get_cookie(&f, src_a, T0 + WG_SEC(121));
	wg_cookie_add_macs(&f.maker, f.msg, sizeof(f.msg), T0 + WG_SEC(121));
	assert_int_equal(validate(&f, src_a, true, T0 + WG_SEC(121)), 0);
	fixture_clear(&f);
}

static void test_cookie_reply_is_well_formed(void **state)
{
	struct fixture f;
	struct wg_msg_cookie_reply reply;
	struct wg_message m;
	(void)state;

	fixture_init(&f);
	wg_cookie_add_macs(&f.maker, f.msg, sizeof(f.msg), T0);
	assert_int_equal(wg_cookie_create_reply(&f.checker, f.msg, sizeof(f.msg), src_a,
						sizeof(src_a), T0, &reply),
			 0);
	assert_int_equal(wg_message_parse((const uint8_t *)&reply, sizeof(reply), &m), 0);
	assert_int_equal(m.type, WG_MSG_COOKIE_REPLY);
	assert_int_equal(m.receiver, wg_le32_load(f.msg + 4));
	assert_int_equal(
	    wg_cookie_create_reply(&f.checker, f.msg, 100, src_a, sizeof(src_a), T0, &reply),
	    -EINVAL);
	fixture_clear(&f);
}

static void test_cookie_reply_accepted_once_and_only_for_last_mac1(void **state)
{
	struct fixture f;
	struct wg_msg_cookie_reply reply, bad;
	uint8_t first[WG_MSG_INITIATION_LEN];
	size_t off;
	(void)state;

	fixture_init(&f);
	/* Nothing sent yet: nothing to accept a cookie for. */
	assert_int_equal(wg_cookie_create_reply(&f.checker, f.msg, sizeof(f.msg), src_a,
						sizeof(src_a), T0, &reply),
			 0);
	assert_int_equal(wg_cookie_consume_reply(&f.maker, &reply, T0), -ENOENT);

	/* A reply to an earlier message than the last one sent. */
	wg_cookie_add_macs(&f.maker, f.msg, sizeof(f.msg), T0);
	memcpy(first, f.msg, sizeof(first));
	assert_int_equal(wg_cookie_create_reply(&f.checker, first, sizeof(first), src_a,
						sizeof(src_a), T0, &reply),
			 0);
	f.msg[20] ^= 1;
	wg_cookie_add_macs(&f.maker, f.msg, sizeof(f.msg), T0);
	assert_int_equal(wg_cookie_consume_reply(&f.maker, &reply, T0), -EBADMSG);

	/* A reply to the last one, tampered anywhere in nonce or box. */
	assert_int_equal(wg_cookie_create_reply(&f.checker, f.msg, sizeof(f.msg), src_a,
						sizeof(src_a), T0, &reply),
			 0);
	for (off = offsetof(struct wg_msg_cookie_reply, nonce); off < sizeof(reply); off++) {
		bad = reply;
		((uint8_t *)&bad)[off] ^= 0x10;
		assert_int_equal(wg_cookie_consume_reply(&f.maker, &bad, T0), -EBADMSG);
	}
	assert_false(f.maker.cookie_set);
	assert_int_equal(wg_cookie_consume_reply(&f.maker, &reply, T0), 0);
	assert_true(f.maker.cookie_set);
	assert_int_equal(wg_cookie_consume_reply(&f.maker, &reply, T0), -ENOENT);
	fixture_clear(&f);
}

static void test_response_messages_carry_macs_too(void **state)
{
	struct wg_cookie_checker c;
	struct wg_cookie_maker m;
	struct wg_msg_cookie_reply reply;
	uint8_t priv[32], pub[32], msg[WG_MSG_RESPONSE_LEN];
	(void)state;

	randombytes_buf(priv, sizeof(priv));
	crypto_scalarmult_curve25519_base(pub, priv);
	wg_cookie_checker_init(&c, pub);
	wg_cookie_maker_init(&m, pub);
	randombytes_buf(msg, sizeof(msg));
	msg[0] = WG_MSG_RESPONSE;
	msg[1] = msg[2] = msg[3] = 0;
	wg_cookie_add_macs(&m, msg, sizeof(msg), T0);
	assert_int_equal(wg_cookie_validate(&c, msg, sizeof(msg), src_a, 6, false, T0), 0);
	assert_int_equal(wg_cookie_validate(&c, msg, sizeof(msg), src_a, 6, true, T0), -EAGAIN);
	assert_int_equal(wg_cookie_create_reply(&c, msg, sizeof(msg), src_a, 6, T0, &reply), 0);
	assert_int_equal(wg_cookie_consume_reply(&m, &reply, T0), 0);
	wg_cookie_add_macs(&m, msg, sizeof(msg), T0);
	assert_int_equal(wg_cookie_validate(&c, msg, sizeof(msg), src_a, 6, true, T0), 0);
	assert_int_equal(wg_cookie_validate(&c, msg, 91, src_a, 6, false, T0), -EINVAL);
	wg_cookie_checker_clear(&c);
	wg_cookie_maker_clear(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_macs_match_vectors),
	    cmocka_unit_test(test_valid_mac1_accepted_when_not_under_load),
	    cmocka_unit_test(test_wrong_mac1_rejected),
	    cmocka_unit_test(test_mac2_required_under_load),
	    cmocka_unit_test(test_cookie_is_bound_to_source_address),
	    cmocka_unit_test(test_cookie_expires_after_120_s),
	    cmocka_unit_test(test_secret_rotates_after_120_s),
	    cmocka_unit_test(test_cookie_reply_is_well_formed),
	    cmocka_unit_test(test_cookie_reply_accepted_once_and_only_for_last_mac1),
	    cmocka_unit_test(test_response_messages_carry_macs_too),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
