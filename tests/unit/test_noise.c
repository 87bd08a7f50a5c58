// SPDX-License-Identifier: MIT
/* core/wg/noise.c: the handshake against the vectors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/wg/cookie.h"
#include "core/wg/noise.h"
#include "core/wg/tai64n.h"
#include "core/wg/wg_constants.h"
#include "tests/unit/wg_test_vectors.h"

/* One side of a connection with a single peer: its identity, the peer's
 * handshake and, for the deterministic tests, a fixed ephemeral key. */
struct side {
	struct wg_noise_static local;
	struct wg_noise_handshake hs;
	struct wg_noise_upcalls up;
	uint8_t eph[32];
	int fixed_eph;
};

static struct wg_noise_handshake *by_static(void *arg, const uint8_t pub[32])
{
	struct side *s = arg;

	return memcmp(pub, s->hs.remote_static, 32) == 0 ? &s->hs : NULL;
}

static struct wg_noise_handshake *by_index(void *arg, uint32_t index)
{
	struct side *s = arg;

	return s->hs.local_index == index ? &s->hs : NULL;
}

static void fixed_ephemeral(void *arg, uint8_t key[32])
{
	struct side *s = arg;

	memcpy(key, s->eph, 32);
}

static void side_init(struct side *s, const uint8_t priv[32], const uint8_t remote_pub[32],
		      const uint8_t psk[32], const char *eph_hex)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(wg_noise_static_init(&s->local, priv), 0);
	assert_int_equal(wg_noise_handshake_init(&s->hs, &s->local, remote_pub, psk), 0);
	s->up.arg = s;
	s->up.peer_by_static = by_static;
	s->up.handshake_by_index = by_index;
	if (eph_hex) {
		vec_hex(s->eph, sizeof(s->eph), eph_hex);
		s->up.ephemeral_private = fixed_ephemeral;
	}
}

/* Monotonic time for the flood check: each consumption is a second later. */
static uint64_t clock_ns = WG_SEC(100);

static uint64_t tick(void)
{
	clock_ns += WG_SEC(1);
	return clock_ns;
}

struct pair {
	struct side i, r;
	uint8_t psk[32];
	uint8_t ts[12];
};

/* The vector file's keys, or random ones when vectors == 0. */
static void pair_init(struct pair *p, int vectors)
{
	uint8_t ipriv[32], rpriv[32], ipub[32], rpub[32];

	if (vectors) {
		vec_hex(ipriv, 32, VEC_I_STATIC_PRIV);
		vec_hex(rpriv, 32, VEC_R_STATIC_PRIV);
		vec_hex(p->psk, 32, VEC_PSK);
		vec_hex(p->ts, 12, VEC_TIMESTAMP);
	} else {
		randombytes_buf(ipriv, 32);
		randombytes_buf(rpriv, 32);
		randombytes_buf(p->psk, 32);
		wg_tai64n_encode(p->ts, 1700000000, 0);
	}
	crypto_scalarmult_curve25519_base(ipub, ipriv);
	crypto_scalarmult_curve25519_base(rpub, rpriv);
	side_init(&p->i, ipriv, rpub, p->psk, vectors ? VEC_I_EPH_PRIV : NULL);
	side_init(&p->r, rpriv, ipub, p->psk, vectors ? VEC_R_EPH_PRIV : NULL);
}

static void assert_hex(const uint8_t *got, size_t len, const char *hex)
{
	uint8_t want[256];

	assert_int_equal(vec_hex(want, sizeof(want), hex), len);
	assert_memory_equal(got, want, len);
}

static void assert_zero(const void *p, size_t len)
{
	static const uint8_t zeros[512];

	assert_true(len <= sizeof(zeros));
	assert_memory_equal(p, zeros, len);
}

/* Runs initiation and response; returns after consume_response succeeds. */
static void handshake(struct pair *p, struct wg_msg_initiation *init, struct wg_msg_response *resp)
{
	struct wg_noise_handshake *hs = NULL;

	assert_int_equal(
	    wg_noise_create_initiation(&p->i.hs, &p->i.local, &p->i.up, VEC_I_INDEX, p->ts, init),
	    0);
	assert_int_equal(wg_noise_consume_initiation(&p->r.local, &p->r.up, init, tick(), &hs), 0);
	assert_ptr_equal(hs, &p->r.hs);
	assert_int_equal(wg_noise_create_response(&p->r.hs, &p->r.up, VEC_R_INDEX, resp), 0);
	hs = NULL;
	assert_int_equal(wg_noise_consume_response(&p->i.local, &p->i.up, resp, &hs), 0);
	assert_ptr_equal(hs, &p->i.hs);
}

static int setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

static void test_static_public_keys_match_vectors(void **state)
{
	struct pair p;
	(void)state;

	pair_init(&p, 1);
	assert_hex(p.i.local.public_key, 32, VEC_I_STATIC_PUB);
	assert_hex(p.r.local.public_key, 32, VEC_R_STATIC_PUB);
}

static void test_handshake_matches_vectors_byte_for_byte(void **state)
{
	struct pair p;
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct wg_cookie_maker im, rm;
	struct wg_noise_keys ik, rk;
	uint8_t want[148];
	(void)state;

	pair_init(&p, 1);
	handshake(&p, &init, &resp);

	/* The noise module leaves the MACs to the cookie module. */
	vec_hex(want, sizeof(want), VEC_INITIATION);
	assert_memory_equal(&init, want, 116);
	assert_zero(&init.macs, 32);
	vec_hex(want, sizeof(want), VEC_RESPONSE);
	assert_memory_equal(&resp, want, 60);
	assert_zero(&resp.macs, 32);

	wg_cookie_maker_init(&im, p.r.local.public_key);
	wg_cookie_maker_init(&rm, p.i.local.public_key);
	wg_cookie_add_macs(&im, (uint8_t *)&init, sizeof(init), 0);
	wg_cookie_add_macs(&rm, (uint8_t *)&resp, sizeof(resp), 0);
	assert_hex((uint8_t *)&init, sizeof(init), VEC_INITIATION);
	assert_hex((uint8_t *)&resp, sizeof(resp), VEC_RESPONSE);

	assert_int_equal(wg_noise_derive_keys(&p.i.hs, &ik), 0);
	assert_int_equal(wg_noise_derive_keys(&p.r.hs, &rk), 0);
	assert_hex(ik.send, 32, VEC_T_SEND_I);
	assert_hex(ik.recv, 32, VEC_T_RECV_I);
	assert_hex(rk.recv, 32, VEC_T_SEND_I);
	assert_hex(rk.send, 32, VEC_T_RECV_I);
	assert_true(ik.initiator);
	assert_false(rk.initiator);
	assert_int_equal(ik.local_index, VEC_I_INDEX);
	assert_int_equal(ik.remote_index, VEC_R_INDEX);
	assert_int_equal(rk.local_index, VEC_R_INDEX);
	assert_int_equal(rk.remote_index, VEC_I_INDEX);
	wg_noise_keys_clear(&ik);
	assert_zero(&ik, sizeof(ik));
	wg_noise_keys_clear(&rk);
	wg_cookie_maker_clear(&im);
	wg_cookie_maker_clear(&rm);
}

static void test_handshake_with_random_keys_agrees_on_transport_keys(void **state)
{
	struct pair p;
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct wg_noise_keys ik, rk;
	int round;
	(void)state;

	pair_init(&p, 0);
	for (round = 0; round < 3; round++) {
		p.ts[11] = (uint8_t)(round + 1);
		handshake(&p, &init, &resp);
		assert_int_equal(wg_noise_derive_keys(&p.i.hs, &ik), 0);
		assert_int_equal(wg_noise_derive_keys(&p.r.hs, &rk), 0);
		assert_memory_equal(ik.send, rk.recv, 32);
		assert_memory_equal(ik.recv, rk.send, 32);
		assert_memory_not_equal(ik.send, ik.recv, 32);
		assert_int_equal(ik.remote_index, rk.local_index);
		assert_int_equal(rk.remote_index, ik.local_index);
	}
}

static void test_derive_keys_wipes_handshake_secrets(void **state)
{
	struct pair p;
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct wg_noise_keys k;
	(void)state;

	pair_init(&p, 0);
	handshake(&p, &init, &resp);
	assert_int_equal(wg_noise_derive_keys(&p.i.hs, &k), 0);
	assert_int_equal(p.i.hs.state, WG_NOISE_ZEROED);
	assert_zero(p.i.hs.chaining_key, 32);
	assert_zero(p.i.hs.hash, 32);
	assert_zero(p.i.hs.ephemeral_private, 32);
	assert_int_equal(wg_noise_derive_keys(&p.i.hs, &k), -EINVAL);
	/* The peer's identity stays for the next handshake. */
	assert_memory_equal(p.i.hs.remote_static, p.r.local.public_key, 32);

	wg_noise_handshake_wipe(&p.r.hs);
	assert_zero(&p.r.hs, sizeof(p.r.hs));
}

static void test_derive_keys_requires_completed_handshake(void **state)
{
	struct pair p;
	struct wg_msg_initiation init;
	struct wg_noise_handshake *hs;
	struct wg_noise_keys k;
	(void)state;

	pair_init(&p, 0);
	assert_int_equal(wg_noise_derive_keys(&p.i.hs, &k), -EINVAL);
	assert_int_equal(wg_noise_create_initiation(&p.i.hs, &p.i.local, &p.i.up, 1, p.ts, &init),
			 0);
	assert_int_equal(wg_noise_derive_keys(&p.i.hs, &k), -EINVAL);
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &init, tick(), &hs), 0);
	assert_int_equal(wg_noise_derive_keys(&p.r.hs, &k), -EINVAL);
}

static void test_create_response_requires_consumed_initiation(void **state)
{
	struct pair p;
	struct wg_msg_response resp;
	(void)state;

	pair_init(&p, 0);
	assert_int_equal(wg_noise_create_response(&p.r.hs, &p.r.up, 2, &resp), -EINVAL);
}

static void test_wrong_psk_fails_response_cleanly(void **state)
{
	struct pair p;
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct wg_noise_handshake *hs = NULL, before;
	uint8_t other[32];
	(void)state;

	pair_init(&p, 0);
	randombytes_buf(other, sizeof(other));
	wg_noise_handshake_set_psk(&p.r.hs, other);
	assert_int_equal(wg_noise_create_initiation(&p.i.hs, &p.i.local, &p.i.up, 7, p.ts, &init),
			 0);
	/* The PSK only enters with the response, so the initiation still passes. */
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &init, tick(), &hs), 0);
	assert_int_equal(wg_noise_create_response(&p.r.hs, &p.r.up, 8, &resp), 0);
	memcpy(&before, &p.i.hs, sizeof(before));
	hs = NULL;
	assert_int_equal(wg_noise_consume_response(&p.i.local, &p.i.up, &resp, &hs), -EBADMSG);
	assert_null(hs);
	assert_memory_equal(&p.i.hs, &before, sizeof(before));
}

static void test_wrong_responder_static_key_fails_initiation(void **state)
{
	struct pair p;
	struct wg_msg_initiation init;
	struct wg_noise_handshake *hs = NULL;
	uint8_t other_priv[32], other_pub[32];
	(void)state;

	pair_init(&p, 0);
	randombytes_buf(other_priv, 32);
	crypto_scalarmult_curve25519_base(other_pub, other_priv);
	assert_int_equal(wg_noise_handshake_init(&p.i.hs, &p.i.local, other_pub, p.psk), 0);
	assert_int_equal(wg_noise_create_initiation(&p.i.hs, &p.i.local, &p.i.up, 7, p.ts, &init),
			 0);
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &init, tick(), &hs),
			 -EBADMSG);
	assert_null(hs);
	assert_int_equal(p.r.hs.state, WG_NOISE_ZEROED);
}

static void test_unknown_initiator_is_rejected(void **state)
{
	struct pair p, stranger;
	struct wg_msg_initiation init;
	struct wg_noise_handshake *hs = NULL;
	(void)state;

	pair_init(&p, 0);
	pair_init(&stranger, 0);
	/* A stranger that knows the responder's public key, but the responder does not know it. */
	assert_int_equal(
	    wg_noise_handshake_init(&stranger.i.hs, &stranger.i.local, p.r.local.public_key, NULL),
	    0);
	assert_int_equal(wg_noise_create_initiation(&stranger.i.hs, &stranger.i.local,
						    &stranger.i.up, 9, p.ts, &init),
			 0);
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &init, tick(), &hs),
			 -ENOENT);
	assert_null(hs);
}

static void test_replayed_or_old_timestamp_is_rejected(void **state)
{
	struct pair p;
	struct wg_msg_initiation init, old;
	struct wg_noise_handshake *hs;
	(void)state;

	pair_init(&p, 0);
	wg_tai64n_encode(p.ts, 1700000000, 500000000);
	assert_int_equal(wg_noise_create_initiation(&p.i.hs, &p.i.local, &p.i.up, 1, p.ts, &init),
			 0);
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &init, tick(), &hs), 0);
	/* The very same message again. */
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &init, tick(), &hs),
			 -ESTALE);

	/* A fresh initiation with the same timestamp, then an older one. */
	assert_int_equal(wg_noise_create_initiation(&p.i.hs, &p.i.local, &p.i.up, 2, p.ts, &old),
			 0);
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &old, tick(), &hs),
			 -ESTALE);
	wg_tai64n_encode(p.ts, 1699999999, 900000000);
	assert_int_equal(wg_noise_create_initiation(&p.i.hs, &p.i.local, &p.i.up, 3, p.ts, &old),
			 0);
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &old, tick(), &hs),
			 -ESTALE);

	/* A later nanosecond field within the same second is newer. */
	wg_tai64n_encode(p.ts, 1700000000, 600000000);
	assert_int_equal(wg_noise_create_initiation(&p.i.hs, &p.i.local, &p.i.up, 4, p.ts, &init),
			 0);
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &init, tick(), &hs), 0);
	assert_int_equal(p.r.hs.remote_index, 4);
	/* A cleared handshake still remembers the timestamp. */
	wg_noise_handshake_clear(&p.r.hs);
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &init, tick(), &hs),
			 -ESTALE);
}

static void test_initiation_flood_is_refused(void **state)
{
	struct pair p;
	struct wg_msg_initiation a, b;
	struct wg_noise_handshake *hs = NULL;
	uint64_t t = tick();
	(void)state;

	pair_init(&p, 0);
	wg_tai64n_encode(p.ts, 1700000000, 0);
	assert_int_equal(wg_noise_create_initiation(&p.i.hs, &p.i.local, &p.i.up, 1, p.ts, &a), 0);
	wg_tai64n_encode(p.ts, 1700000001, 0);
	assert_int_equal(wg_noise_create_initiation(&p.i.hs, &p.i.local, &p.i.up, 2, p.ts, &b), 0);
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &a, t, &hs), 0);
	/* A newer initiation, but only 19.9 ms later: the first one's state stays. */
	assert_int_equal(
	    wg_noise_consume_initiation(&p.r.local, &p.r.up, &b, t + WG_MSEC(20) - 1, &hs), -EBUSY);
	assert_int_equal(p.r.hs.remote_index, 1);
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &b, t + WG_MSEC(20), &hs),
			 0);
	assert_int_equal(p.r.hs.remote_index, 2);
}

static void test_tampered_initiation_is_rejected(void **state)
{
	struct pair p;
	struct wg_msg_initiation init, bad;
	struct wg_noise_handshake *hs = NULL;
	size_t off;
	(void)state;

	pair_init(&p, 0);
	assert_int_equal(wg_noise_create_initiation(&p.i.hs, &p.i.local, &p.i.up, 1, p.ts, &init),
			 0);
	/* Everything from the ephemeral key to the end of the timestamp is bound
	 * by the handshake; type and sender are covered by mac1 instead. */
	for (off = offsetof(struct wg_msg_initiation, ephemeral);
	     off < offsetof(struct wg_msg_initiation, macs); off++) {
		bad = init;
		((uint8_t *)&bad)[off] ^= 0x40;
		assert_int_equal(
		    wg_noise_consume_initiation(&p.r.local, &p.r.up, &bad, tick(), &hs), -EBADMSG);
	}
	assert_null(hs);
	assert_int_equal(p.r.hs.state, WG_NOISE_ZEROED);
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &init, tick(), &hs), 0);
}

static void test_tampered_response_is_rejected_and_real_one_still_works(void **state)
{
	struct pair p;
	struct wg_msg_initiation init;
	struct wg_msg_response resp, bad;
	struct wg_noise_handshake *hs = NULL;
	size_t off;
	(void)state;

	pair_init(&p, 0);
	assert_int_equal(wg_noise_create_initiation(&p.i.hs, &p.i.local, &p.i.up, 11, p.ts, &init),
			 0);
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &init, tick(), &hs), 0);
	assert_int_equal(wg_noise_create_response(&p.r.hs, &p.r.up, 22, &resp), 0);
	hs = NULL;
	for (off = offsetof(struct wg_msg_response, ephemeral);
	     off < offsetof(struct wg_msg_response, macs); off++) {
		bad = resp;
		((uint8_t *)&bad)[off] ^= 0x01;
		assert_int_equal(wg_noise_consume_response(&p.i.local, &p.i.up, &bad, &hs),
				 -EBADMSG);
	}
	assert_null(hs);
	assert_int_equal(p.i.hs.state, WG_NOISE_INITIATION_CREATED);
	assert_int_equal(wg_noise_consume_response(&p.i.local, &p.i.up, &resp, &hs), 0);
	/* A second copy finds no handshake waiting any more. */
	assert_int_equal(wg_noise_consume_response(&p.i.local, &p.i.up, &resp, &hs), -ENOENT);
}

static void test_response_for_unknown_index_is_rejected(void **state)
{
	struct pair p;
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct wg_noise_handshake *hs = NULL;
	(void)state;

	pair_init(&p, 0);
	assert_int_equal(wg_noise_create_initiation(&p.i.hs, &p.i.local, &p.i.up, 11, p.ts, &init),
			 0);
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &init, tick(), &hs), 0);
	assert_int_equal(wg_noise_create_response(&p.r.hs, &p.r.up, 22, &resp), 0);
	wg_le32_store(resp.receiver, 12);
	hs = NULL;
	assert_int_equal(wg_noise_consume_response(&p.i.local, &p.i.up, &resp, &hs), -ENOENT);
	assert_null(hs);
}

static void test_low_order_points_are_refused(void **state)
{
	struct pair p;
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct wg_noise_handshake *hs = NULL, h2;
	uint8_t zero[32] = {0};
	(void)state;

	pair_init(&p, 0);
	assert_int_equal(wg_noise_handshake_init(&h2, &p.i.local, zero, NULL), -EINVAL);
	assert_zero(&h2, sizeof(h2));

	assert_int_equal(wg_noise_create_initiation(&p.i.hs, &p.i.local, &p.i.up, 11, p.ts, &init),
			 0);
	memset(init.ephemeral, 0, 32);
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &init, tick(), &hs),
			 -EBADMSG);

	assert_int_equal(wg_noise_create_initiation(&p.i.hs, &p.i.local, &p.i.up, 11, p.ts, &init),
			 0);
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &init, tick(), &hs), 0);
	assert_int_equal(wg_noise_create_response(&p.r.hs, &p.r.up, 22, &resp), 0);
	memset(resp.ephemeral, 0, 32);
	assert_int_equal(wg_noise_consume_response(&p.i.local, &p.i.up, &resp, &hs), -EBADMSG);
}

static void test_simultaneous_initiations_later_one_wins(void **state)
{
	struct pair p;
	struct wg_msg_initiation from_i, from_r;
	struct wg_msg_response resp;
	struct wg_noise_handshake *hs;
	struct wg_noise_keys ik, rk;
	(void)state;

	pair_init(&p, 0);
	/* Both sides initiate; the responder role goes to whoever consumes. */
	assert_int_equal(wg_noise_create_initiation(&p.i.hs, &p.i.local, &p.i.up, 1, p.ts, &from_i),
			 0);
	assert_int_equal(wg_noise_create_initiation(&p.r.hs, &p.r.local, &p.r.up, 2, p.ts, &from_r),
			 0);
	assert_int_equal(wg_noise_consume_initiation(&p.r.local, &p.r.up, &from_i, tick(), &hs), 0);
	assert_int_equal(p.r.hs.state, WG_NOISE_INITIATION_CONSUMED);
	assert_int_equal(wg_noise_create_response(&p.r.hs, &p.r.up, 3, &resp), 0);
	assert_int_equal(wg_noise_consume_response(&p.i.local, &p.i.up, &resp, &hs), 0);
	assert_int_equal(wg_noise_derive_keys(&p.i.hs, &ik), 0);
	assert_int_equal(wg_noise_derive_keys(&p.r.hs, &rk), 0);
	assert_memory_equal(ik.send, rk.recv, 32);
	assert_int_equal(rk.local_index, 3);
}

static void test_tai64n_encodes_vector_timestamp(void **state)
{
	uint8_t ts[12], later[12];
	(void)state;

	wg_tai64n_encode(ts, 1700000000, 0);
	assert_hex(ts, 12, VEC_TIMESTAMP);
	/* Nanoseconds are whitened down to multiples of 2^24. */
	wg_tai64n_encode(ts, 1700000000, 0x12345678);
	assert_memory_equal(ts + 8, "\x12\x00\x00\x00", 4);
	wg_tai64n_encode(later, 1700000000, 0x13000000);
	assert_true(memcmp(later, ts, 12) > 0);
	wg_tai64n_encode(later, 1700000001, 0);
	assert_true(memcmp(later, ts, 12) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_static_public_keys_match_vectors),
	    cmocka_unit_test(test_handshake_matches_vectors_byte_for_byte),
	    cmocka_unit_test(test_handshake_with_random_keys_agrees_on_transport_keys),
	    cmocka_unit_test(test_derive_keys_wipes_handshake_secrets),
	    cmocka_unit_test(test_derive_keys_requires_completed_handshake),
	    cmocka_unit_test(test_create_response_requires_consumed_initiation),
	    cmocka_unit_test(test_wrong_psk_fails_response_cleanly),
	    cmocka_unit_test(test_wrong_responder_static_key_fails_initiation),
	    cmocka_unit_test(test_unknown_initiator_is_rejected),
	    cmocka_unit_test(test_replayed_or_old_timestamp_is_rejected),
	    cmocka_unit_test(test_initiation_flood_is_refused),
	    cmocka_unit_test(test_tampered_initiation_is_rejected),
	    cmocka_unit_test(test_tampered_response_is_rejected_and_real_one_still_works),
	    cmocka_unit_test(test_response_for_unknown_index_is_rejected),
	    cmocka_unit_test(test_low_order_points_are_refused),
	    cmocka_unit_test(test_simultaneous_initiations_later_one_wins),
	    cmocka_unit_test(test_tai64n_encodes_vector_timestamp),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
