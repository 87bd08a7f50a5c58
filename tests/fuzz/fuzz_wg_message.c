// SPDX-License-Identifier: MIT
/* libFuzzer harness for the WireGuard message parser and, behind it, the
 * consume paths: mac1/mac2 checks, both handshake consumptions, cookie reply
 * consumption and transport decryption, each against a fixed state (the
 * known-answer keys of tests/unit/wg_test_vectors.h) restored before every
 * input, so runs are reproducible.
 *
 * An input whose first byte is 0xfe is not taken as is: the second byte picks
 * one of four genuine messages and the rest is XORed over it. That lets the
 * fuzzer reach the paths behind successful authentication (an all-zero mask
 * is the genuine message) and the checks after it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/wg/cookie.h"
#include "core/wg/noise.h"
#include "core/wg/transport.h"
#include "core/wg/wg_messages.h"
#include "tests/unit/wg_test_vectors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSG 4096

static const uint8_t src_addr[] = {127, 0, 0, 1, 0xca, 0xfe};

struct fixed {
	struct wg_noise_static r_local, i_local;
	struct wg_noise_handshake r_hs, i_hs; /* r knows i; i has an initiation pending */
	struct wg_cookie_checker r_checker, i_checker;
	struct wg_cookie_maker i_maker; /* i sent the initiation, waits for a cookie */
	struct wg_transport r_transport;
	uint8_t genuine[4][WG_MSG_INITIATION_LEN];
	size_t genuine_len[4];
};

static struct fixed pristine, live;
static uint8_t eph[32];

static struct wg_noise_handshake *r_by_static(void *arg, const uint8_t pub[32])
{
	(void)arg;
	return memcmp(pub, live.r_hs.remote_static, 32) == 0 ? &live.r_hs : NULL;
}

static struct wg_noise_handshake *i_by_index(void *arg, uint32_t index)
{
	(void)arg;
	return live.i_hs.local_index == index ? &live.i_hs : NULL;
}

static struct wg_noise_handshake *none_by_static(void *arg, const uint8_t pub[32])
{
	(void)arg;
	(void)pub;
	return NULL;
}

static struct wg_noise_handshake *none_by_index(void *arg, uint32_t index)
{
	(void)arg;
	(void)index;
	return NULL;
}

static void fixed_eph(void *arg, uint8_t key[32])
{
	(void)arg;
	memcpy(key, eph, 32);
}

static const struct wg_noise_upcalls r_up = {NULL, r_by_static, none_by_index, fixed_eph};
static const struct wg_noise_upcalls i_up = {NULL, none_by_static, i_by_index, fixed_eph};

static void must(int ok)
{
	if (!ok)
		abort(); /* the harness itself is broken */
}

static void setup(void)
{
	struct fixed *f = &pristine;
	uint8_t k[32], ts[12], t_send[32], t_recv[32];
	struct wg_noise_handshake *hs;
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct wg_msg_cookie_reply reply;
	struct wg_cookie_maker r_maker;

	must(sodium_init() >= 0);
	vec_hex(k, 32, VEC_R_STATIC_PRIV);
	must(wg_noise_static_init(&f->r_local, k) == 0);
	vec_hex(k, 32, VEC_I_STATIC_PRIV);
	must(wg_noise_static_init(&f->i_local, k) == 0);
	vec_hex(k, 32, VEC_PSK);
	must(wg_noise_handshake_init(&f->r_hs, &f->r_local, f->i_local.public_key, k) == 0);
	must(wg_noise_handshake_init(&f->i_hs, &f->i_local, f->r_local.public_key, k) == 0);
	wg_cookie_checker_init(&f->r_checker, f->r_local.public_key);
	wg_cookie_checker_init(&f->i_checker, f->i_local.public_key);
	wg_cookie_maker_init(&f->i_maker, f->r_local.public_key);
	wg_cookie_maker_init(&r_maker, f->i_local.public_key);
	vec_hex(t_send, 32, VEC_T_SEND_I);
	vec_hex(t_recv, 32, VEC_T_RECV_I);
	wg_transport_init(&f->r_transport, t_recv, t_send, VEC_R_INDEX, VEC_I_INDEX);

	/* The vector handshake, run on a scratch copy so that the pristine
	 * state keeps i waiting for the response and r fresh. */
	live = *f;
	vec_hex(ts, 12, VEC_TIMESTAMP);
	vec_hex(eph, 32, VEC_I_EPH_PRIV);
	must(wg_noise_create_initiation(&live.i_hs, &live.i_local, &i_up, VEC_I_INDEX, ts, &init) ==
	     0);
	wg_cookie_add_macs(&live.i_maker, (uint8_t *)&init, sizeof(init), 0);
	f->i_hs = live.i_hs;
	f->i_maker = live.i_maker;
	must(wg_noise_consume_initiation(&live.r_local, &r_up, &init, 0, &hs) == 0);
	vec_hex(eph, 32, VEC_R_EPH_PRIV);
	must(wg_noise_create_response(&live.r_hs, &r_up, VEC_R_INDEX, &resp) == 0);
	wg_cookie_add_macs(&r_maker, (uint8_t *)&resp, sizeof(resp), 0);
	must(wg_cookie_create_reply(&live.r_checker, (uint8_t *)&init, sizeof(init), src_addr,
				    sizeof(src_addr), 0, &reply) == 0);
	f->r_checker = live.r_checker; /* keep the secret that made the cookie */

	memcpy(f->genuine[0], &init, sizeof(init));
	f->genuine_len[0] = sizeof(init);
	memcpy(f->genuine[1], &resp, sizeof(resp));
	f->genuine_len[1] = sizeof(resp);
	memcpy(f->genuine[2], &reply, sizeof(reply));
	f->genuine_len[2] = sizeof(reply);
	f->genuine_len[3] = vec_hex(f->genuine[3], WG_MSG_INITIATION_LEN, VEC_KEEPALIVE);
	wg_cookie_maker_clear(&r_maker);
}

static void exercise(uint8_t *buf, size_t len)
{
	struct wg_message m;
	struct wg_noise_handshake *hs = NULL;
	struct wg_noise_keys keys;
	struct wg_msg_response resp;
	uint8_t *plain;
	size_t plain_len;
	uint64_t ctr;

	if (wg_message_parse(buf, len, &m) != 0)
		return;
	switch (m.type) {
	case WG_MSG_INITIATION:
		(void)wg_cookie_validate(&live.r_checker, buf, len, src_addr, sizeof(src_addr),
					 false, 0);
		(void)wg_cookie_validate(&live.r_checker, buf, len, src_addr, sizeof(src_addr),
					 true, 0);
		if (wg_noise_consume_initiation(&live.r_local, &r_up, m.initiation, 0, &hs) == 0 &&
		    wg_noise_create_response(hs, &r_up, VEC_R_INDEX, &resp) == 0 &&
		    wg_noise_derive_keys(hs, &keys) == 0)
			wg_noise_keys_clear(&keys);
		break;
	case WG_MSG_RESPONSE:
		(void)wg_cookie_validate(&live.i_checker, buf, len, src_addr, sizeof(src_addr),
					 true, 0);
		if (wg_noise_consume_response(&live.i_local, &i_up, m.response, &hs) == 0 &&
		    wg_noise_derive_keys(hs, &keys) == 0)
			wg_noise_keys_clear(&keys);
		break;
	case WG_MSG_COOKIE_REPLY:
		(void)wg_cookie_consume_reply(&live.i_maker, m.cookie_reply, 0);
		break;
	case WG_MSG_TRANSPORT:
		(void)wg_transport_decrypt(&live.r_transport, buf, len, &plain, &plain_len, &ctr);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static uint8_t buf[MAX_MSG];
	size_t len, i;

	if (!ready) {
		setup();
		ready = 1;
	}
	live = pristine;
	if (size >= 2 && data[0] == 0xfe) {
		size_t k = data[1] % 4;

		len = pristine.genuine_len[k];
		memcpy(buf, pristine.genuine[k], len);
		for (i = 2; i < size && i - 2 < len; i++)
			buf[i - 2] ^= data[i];
	} else {
		if (size > MAX_MSG)
			return 0;
		len = size;
		memcpy(buf, data, len);
	}
	exercise(buf, len);
	return 0;
}
