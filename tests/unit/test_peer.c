// SPDX-License-Identifier: MIT
/* A peer's state without I/O: keypair rotation by the WireGuard rules, expiry,
 * the staged queue, roaming and initiation timestamps. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/wg/peer.h"
#include "platform/random.h"

#define T0 WG_SEC(1000)

struct fixture {
	struct wg_noise_static local;
	struct wg_index *index;
	struct wg_peer peer;
};

static int setup(void **state)
{
	static struct fixture f;
	uint8_t priv[32], remote_priv[32], remote_pub[32];
	struct wg_timers_params params = {.reject_after_time_ns = WG_MSEC(1000)};

	if (nt_platform_init() != 0)
		return -1;
	memset(&f, 0, sizeof(f));
	nt_random_bytes(priv, sizeof(priv));
	nt_random_bytes(remote_priv, sizeof(remote_priv));
	if (wg_noise_static_init(&f.local, priv) != 0)
		return -1;
	crypto_scalarmult_curve25519_base(remote_pub, remote_priv);
	if (wg_index_new(&f.index, 16) != 0)
		return -1;
	if (wg_peer_init(&f.peer, &f.local, remote_pub, NULL, f.index, &params, NULL, NULL) != 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	wg_peer_uninit(&f->peer);
	assert_int_equal(wg_index_count(f->index), 0);
	wg_index_free(f->index);
	wg_noise_static_clear(&f->local);
	return 0;
}

/* Keys as a completed handshake would hand them over, under a fresh index. */
static struct wg_keypair *install(struct wg_peer *p, bool initiator, uint64_t now,
				  struct wg_noise_keys *keys_out)
{
	struct wg_noise_keys keys;
	struct wg_keypair *kp = NULL;
	uint32_t idx;

	assert_int_equal(wg_peer_handshake_index_new(p, &idx), 0);
	nt_random_bytes(keys.send, sizeof(keys.send));
	nt_random_bytes(keys.recv, sizeof(keys.recv));
	keys.local_index = idx;
	keys.remote_index = idx ^ 0x5a5a5a5a;
	keys.initiator = initiator;
	assert_int_equal(wg_peer_keys_install(p, &keys, now, &kp), 0);
	assert_int_equal(p->hs_index, 0);
	if (keys_out)
		*keys_out = keys;
	return kp;
}

static void assert_index_points_at(struct wg_index *index, struct wg_keypair *kp)
{
	void *ptr = NULL;

	assert_int_equal(wg_index_lookup(index, kp->tr.local_index, &ptr), WG_INDEX_KEYPAIR);
	assert_ptr_equal(ptr, kp);
}

static void test_responder_keeps_new_keys_in_next_until_first_data(void **state)
{
	struct fixture *f = *state;
	struct wg_peer *p = &f->peer;
	struct wg_keypair *kp = install(p, false, T0, NULL);

	assert_ptr_equal(p->next, kp);
	assert_null(p->current);
	/* The initiator must send first: nothing to send with yet. */
	assert_null(wg_peer_send_keypair(p, T0));
	assert_true(wg_peer_keypair_may_receive(p, kp, T0));
	assert_index_points_at(f->index, kp);

	assert_true(wg_peer_keypair_received(p, kp));
	assert_ptr_equal(p->current, kp);
	assert_null(p->next);
	assert_ptr_equal(wg_peer_send_keypair(p, T0), kp);
	/* Only the first packet promotes. */
	assert_false(wg_peer_keypair_received(p, kp));
}

static void test_responder_rotation_moves_current_to_previous_on_confirmation(void **state)
{
	struct fixture *f = *state;
	struct wg_peer *p = &f->peer;
	struct wg_keypair *a = install(p, false, T0, NULL), *b, *c;
	uint32_t b_index;

	wg_peer_keypair_received(p, a);
	b = install(p, false, T0 + 1, NULL);
	b_index = b->tr.local_index;
	assert_ptr_equal(p->current, a);
	assert_ptr_equal(p->next, b);
	/* A newer handshake before b was confirmed replaces it. */
	c = install(p, false, T0 + 2, NULL);
	assert_ptr_equal(p->next, c);
	assert_int_equal(wg_index_lookup(f->index, b_index, NULL), WG_INDEX_NONE);
	assert_ptr_equal(wg_peer_send_keypair(p, T0 + 2), a);
	assert_true(wg_peer_keypair_received(p, c));
	assert_ptr_equal(p->current, c);
	assert_ptr_equal(p->previous, a);
	assert_int_equal(wg_index_count(f->index), 2);
}

static void test_initiator_uses_new_keys_at_once_and_keeps_previous(void **state)
{
	struct fixture *f = *state;
	struct wg_peer *p = &f->peer;
	struct wg_keypair *a = install(p, true, T0, NULL), *b, *c;
	uint32_t a_index = a->tr.local_index;

	assert_ptr_equal(p->current, a);
	assert_ptr_equal(wg_peer_send_keypair(p, T0), a);
	b = install(p, true, T0 + 1, NULL);
	assert_ptr_equal(p->current, b);
	assert_ptr_equal(p->previous, a);
	assert_index_points_at(f->index, a);
	c = install(p, true, T0 + 2, NULL);
	assert_ptr_equal(p->current, c);
	assert_ptr_equal(p->previous, b);
	/* a is gone, and so is its index. */
	assert_int_equal(wg_index_lookup(f->index, a_index, NULL), WG_INDEX_NONE);
	assert_int_equal(wg_index_count(f->index), 2);
}

static void test_initiator_prefers_an_unconfirmed_next_as_previous(void **state)
{
	struct fixture *f = *state;
	struct wg_peer *p = &f->peer;
	struct wg_keypair *a = install(p, true, T0, NULL), *n, *c;
	uint32_t a_index = a->tr.local_index;

	n = install(p, false, T0 + 1, NULL); /* we answered the peer's initiation */
	assert_ptr_equal(p->next, n);
	c = install(p, true, T0 + 2, NULL); /* and ours completed too */
	assert_ptr_equal(p->current, c);
	assert_ptr_equal(p->previous, n); /* the peer may already send under it */
	assert_null(p->next);
	assert_int_equal(wg_index_lookup(f->index, a_index, NULL), WG_INDEX_NONE);
}

static void test_previous_keypair_still_decrypts_packets_in_flight(void **state)
{
	struct fixture *f = *state;
	struct wg_peer *p = &f->peer;
	struct wg_noise_keys keys;
	struct wg_keypair *old = install(p, true, T0, &keys), *kp = NULL;
	struct wg_transport remote;
	uint8_t buf[WG_TRANSPORT_HEADER_ROOM + 4 + WG_TRANSPORT_TAIL_ROOM], *plain;
	size_t msg_len, plain_len;
	uint64_t counter;
	void *ptr = NULL;

	/* The peer's side of the old session encrypts a packet... */
	wg_transport_init(&remote, keys.recv, keys.send, keys.remote_index, keys.local_index);
	memcpy(buf + WG_TRANSPORT_HEADER_ROOM, "ping", 4);
	assert_int_equal(wg_transport_encrypt(&remote, buf, sizeof(buf), 4, 0, &msg_len), 0);
	/* ...that arrives after we rotated. */
	install(p, true, T0 + 1, NULL);
	assert_ptr_equal(p->previous, old);
	assert_int_equal(wg_index_lookup(f->index, wg_le32_load(buf + 4), &ptr), WG_INDEX_KEYPAIR);
	kp = ptr;
	assert_ptr_equal(kp, old);
	assert_true(wg_peer_keypair_may_receive(p, kp, T0 + 1));
	assert_int_equal(wg_transport_decrypt(&kp->tr, buf, msg_len, &plain, &plain_len, &counter),
			 0);
	assert_memory_equal(plain, "ping", 4);
	/* Receiving on previous promotes nothing. */
	assert_false(wg_peer_keypair_received(p, kp));
	assert_ptr_not_equal(p->current, old);
	wg_transport_clear(&remote);
}

static void test_expired_keypair_is_not_used_to_send(void **state)
{
	struct fixture *f = *state;
	struct wg_peer *p = &f->peer;
	struct wg_keypair *kp = install(p, true, T0, NULL);

	/* The fixture's REJECT_AFTER_TIME is 1 s. */
	assert_ptr_equal(wg_peer_send_keypair(p, T0 + WG_MSEC(999)), kp);
	assert_null(wg_peer_send_keypair(p, T0 + WG_MSEC(1000)));
	assert_false(wg_peer_keypair_may_receive(p, kp, T0 + WG_MSEC(1000)));
	/* Nor once the message counter is exhausted. */
	kp->tr.send_counter = WG_REJECT_AFTER_MESSAGES;
	assert_null(wg_peer_send_keypair(p, T0));
}

static void test_zero_keys_wipes_every_keypair_and_index(void **state)
{
	struct fixture *f = *state;
	struct wg_peer *p = &f->peer;
	struct wg_keypair *a = install(p, true, T0, NULL);
	uint32_t idx;

	install(p, true, T0 + 1, NULL);
	install(p, false, T0 + 2, NULL);
	assert_int_equal(wg_peer_handshake_index_new(p, &idx), 0);
	assert_int_equal(wg_index_count(f->index), 3); /* current, next, handshake */
	wg_peer_keys_zero(p);
	assert_null(p->current);
	assert_null(p->previous);
	assert_null(p->next);
	assert_int_equal(p->hs_index, 0);
	assert_int_equal(wg_index_count(f->index), 0);
	assert_false(a->in_use);
	assert_null(wg_peer_send_keypair(p, T0 + 2));
}

static void test_install_refuses_keys_of_an_unregistered_index(void **state)
{
	struct fixture *f = *state;
	struct wg_noise_keys keys = {.local_index = 42, .initiator = true};

	assert_int_equal(wg_peer_keys_install(&f->peer, &keys, T0, NULL), -EINVAL);
	assert_null(f->peer.current);
}

static void test_staged_queue_is_bounded_and_fifo(void **state)
{
	struct fixture *f = *state;
	struct wg_peer *p = &f->peer;
	uint8_t pkt[40];
	const uint8_t *got;
	size_t len;

	for (int i = 0; i < WG_PEER_STAGED_MAX; i++) {
		memset(pkt, i, sizeof(pkt));
		assert_int_equal(wg_peer_stage(p, pkt, 20 + (size_t)i % 20, NULL), 0);
	}
	assert_int_equal(wg_peer_stage(p, pkt, sizeof(pkt), NULL), -ENOBUFS);
	assert_int_equal(wg_peer_stage(p, pkt, sizeof(pkt), NULL), -ENOBUFS);
	assert_int_equal(p->counters.drop_queue_full, 2);
	assert_int_equal(wg_peer_staged_count(p), WG_PEER_STAGED_MAX);
	for (int i = 0; i < WG_PEER_STAGED_MAX; i++) {
		got = wg_peer_staged_peek(p, &len);
		assert_non_null(got);
		assert_int_equal(len, 20 + (size_t)i % 20);
		assert_int_equal(got[0], i);
		assert_int_equal(got[len - 1], i);
		wg_peer_staged_pop(p);
		/* Room again: the ring wraps. */
		if (i < 3)
			assert_int_equal(wg_peer_stage(p, pkt, 1, NULL), 0);
	}
	assert_int_equal(wg_peer_staged_count(p), 3);
	assert_int_equal(wg_peer_staged_drop(p), 3);
	assert_int_equal(p->counters.drop_give_up, 3);
	assert_null(wg_peer_staged_peek(p, &len));
	assert_int_equal(wg_peer_stage(p, pkt, 0, NULL), -EMSGSIZE);
}

static void test_staged_queue_is_bounded_in_bytes(void **state)
{
	struct fixture *f = *state;
	struct wg_peer *p = &f->peer;
	static uint8_t big[WG_PEER_PACKET_MAX];
	size_t fit = WG_PEER_STAGED_MAX_BYTES / sizeof(big);

	for (size_t i = 0; i < fit; i++)
		assert_int_equal(wg_peer_stage(p, big, sizeof(big), NULL), 0);
	assert_int_equal(wg_peer_stage(p, big, sizeof(big), NULL), -ENOBUFS);
	assert_int_equal(p->counters.drop_queue_full, 1);
	assert_int_equal(wg_peer_stage(p, big, WG_PEER_PACKET_MAX + 1, NULL), -EMSGSIZE);
	/* uninit (teardown) frees what is left. */
}

static void test_endpoint_roams_and_ignores_the_same_address(void **state)
{
	struct fixture *f = *state;
	struct wg_peer *p = &f->peer;
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(51820)};
	struct sockaddr_in6 m6 = {.sin6_family = AF_INET6, .sin6_port = htons(51820)};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(51820)};
	const struct sockaddr_in *cur = (const struct sockaddr_in *)&p->endpoint;

	assert_false(wg_peer_has_endpoint(p));
	inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &m6.sin6_addr);
	inet_pton(AF_INET6, "::1", &v6.sin6_addr);

	assert_true(wg_peer_set_endpoint(p, (struct sockaddr *)&s4, sizeof(s4)));
	assert_true(wg_peer_has_endpoint(p));
	assert_false(wg_peer_set_endpoint(p, (struct sockaddr *)&s4, sizeof(s4)));
	/* A dual-stack socket reports IPv4 sources as mapped: same endpoint. */
	assert_false(wg_peer_set_endpoint(p, (struct sockaddr *)&m6, sizeof(m6)));
	assert_int_equal(p->endpoint.ss_family, AF_INET);
	s4.sin_port = htons(4000);
	assert_true(wg_peer_set_endpoint(p, (struct sockaddr *)&s4, sizeof(s4)));
	assert_int_equal(ntohs(cur->sin_port), 4000);
	assert_true(wg_peer_set_endpoint(p, (struct sockaddr *)&v6, sizeof(v6)));
	assert_int_equal(p->endpoint.ss_family, AF_INET6);
	/* Unusable addresses change nothing. */
	assert_false(wg_peer_set_endpoint(p, (struct sockaddr *)&s4, 4));
	assert_false(wg_peer_set_endpoint(p, NULL, 0));
	assert_int_equal(p->endpoint.ss_family, AF_INET6);
}

static void test_initiation_timestamps_strictly_increase(void **state)
{
	struct fixture *f = *state;
	struct wg_peer *p = &f->peer;
	uint8_t a[WG_TAI64N_LEN], b[WG_TAI64N_LEN], c[WG_TAI64N_LEN], d[WG_TAI64N_LEN];
	const uint64_t now = UINT64_C(1700000000) * 1000000000u + 999000000u;

	wg_peer_next_timestamp(p, now, a);
	/* Same instant, and within one 16.8 ms step. */
	wg_peer_next_timestamp(p, now, b);
	assert_true(memcmp(b, a, sizeof(a)) > 0);
	wg_peer_next_timestamp(p, now + 1000, c);
	assert_true(memcmp(c, b, sizeof(b)) > 0);
	/* The clock stepped back a minute. */
	wg_peer_next_timestamp(p, now - WG_SEC(60), d);
	assert_true(memcmp(d, c, sizeof(c)) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_responder_keeps_new_keys_in_next_until_first_data,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_responder_rotation_moves_current_to_previous_on_confirmation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_initiator_uses_new_keys_at_once_and_keeps_previous,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_initiator_prefers_an_unconfirmed_next_as_previous,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_previous_keypair_still_decrypts_packets_in_flight,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expired_keypair_is_not_used_to_send, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_zero_keys_wipes_every_keypair_and_index, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_install_refuses_keys_of_an_unregistered_index,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_staged_queue_is_bounded_and_fifo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_staged_queue_is_bounded_in_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_endpoint_roams_and_ignores_the_same_address, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_initiation_timestamps_strictly_increase, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
