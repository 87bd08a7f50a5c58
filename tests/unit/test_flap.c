// SPDX-License-Identifier: MIT
/* core/wg/flap.c: one key in two processes told from one ordinary roam. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/wg/flap.h"

#define MS 1000000ull
#define S  1000000000ull

static struct sockaddr_storage ep4(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage ep6(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
	return ss;
}

/* Feeds a, b, a, b ... every step_ns from t0, n times; returns how many
 * times the detector reported, and the time of its first report in *first. */
static int swing(struct wg_flap *f, const struct sockaddr_storage *a,
		 const struct sockaddr_storage *b, uint64_t t0, uint64_t step_ns, int n,
		 uint64_t *first)
{
	int reports = 0;

	for (int i = 0; i < n; i++) {
		uint64_t t = t0 + (uint64_t)i * step_ns;

		if (wg_flap_feed(f, i % 2 ? b : a, t)) {
			if (!reports && first)
				*first = t;
			reports++;
		}
	}
	return reports;
}

static void test_flap_two_processes_sending_reported_once(void **state)
{
	struct sockaddr_storage a = ep4("192.0.2.1", 40000), b = ep4("198.51.100.7", 51000);
	struct sockaddr_storage pa, pb;
	struct wg_flap f;
	uint64_t first = 0;

	(void)state;
	wg_flap_init(&f);
	/* Both send all the time: the endpoint moves on nearly every packet,
	 * for 10 s. Returns merge per second: the third counted one reports. */
	assert_int_equal(swing(&f, &a, &b, 1 * S, 10 * MS, 1000, &first), 1);
	assert_true(first >= 1 * S + 2 * S && first < 1 * S + 3 * S);
	wg_flap_pair(&f, &pa, &pb);
	assert_true(memcmp(&pa, &a, sizeof(a)) == 0 || memcmp(&pa, &b, sizeof(b)) == 0);
	assert_true(memcmp(&pb, &a, sizeof(a)) == 0 || memcmp(&pb, &b, sizeof(b)) == 0);
	assert_true(memcmp(&pa, &pb, sizeof(pa)) != 0);
}

static void test_flap_handshakes_seconds_apart_reported(void **state)
{
	struct sockaddr_storage a = ep6("2001:db8::1", 51820), b = ep6("2001:db8::2", 51820);
	struct wg_flap f;
	uint64_t first = 0;

	(void)state;
	wg_flap_init(&f);
	/* Each process rehandshakes when its session is gone: one move every
	 * 7 s. a, b (roam), a (1), b (2), a (3): reported at the fifth. */
	assert_int_equal(swing(&f, &a, &b, 0, 7 * S, 6, &first), 1);
	assert_int_equal(first, 4 * 7 * S);
}

static void test_flap_one_roam_is_not_reported(void **state)
{
	struct sockaddr_storage a = ep4("192.0.2.1", 40000), b = ep4("203.0.113.9", 40000);
	struct wg_flap f;

	(void)state;
	wg_flap_init(&f);
	assert_false(wg_flap_feed(&f, &a, 1 * S));
	/* The laptop changes networks; packets sent from the old one just
	 * before arrive after the first from the new one, for 300 ms. */
	assert_int_equal(swing(&f, &b, &a, 100 * S, 20 * MS, 15, NULL), 0);
	assert_false(wg_flap_feed(&f, &b, 100 * S + 400 * MS));
	for (int i = 0; i < 100; i++)
		assert_false(wg_flap_feed(&f, &b, 101 * S + (uint64_t)i * S));
	/* ... and back home 30 s later, and away again the next day. */
	assert_false(wg_flap_feed(&f, &a, 130 * S));
	assert_false(wg_flap_feed(&f, &b, 86400 * S));
}

static void test_flap_slow_swings_outside_the_window_not_reported(void **state)
{
	struct sockaddr_storage a = ep4("192.0.2.1", 1), b = ep4("192.0.2.2", 1);
	struct wg_flap f;

	(void)state;
	wg_flap_init(&f);
	/* Wi-fi and cable, once every 40 s: two returns per minute at most. */
	assert_int_equal(swing(&f, &a, &b, 0, 40 * S, 20, NULL), 0);
}

static void test_flap_third_address_starts_over(void **state)
{
	struct sockaddr_storage a = ep4("192.0.2.1", 1), b = ep4("192.0.2.2", 1),
				c = ep4("192.0.2.3", 1);
	struct wg_flap f;

	(void)state;
	wg_flap_init(&f);
	/* a b a b: two returns; then c; then b c: one return of the new pair. */
	assert_int_equal(swing(&f, &a, &b, 0, 2 * S, 4, NULL), 0);
	assert_false(wg_flap_feed(&f, &c, 10 * S));
	assert_false(wg_flap_feed(&f, &b, 12 * S));
	assert_false(wg_flap_feed(&f, &c, 14 * S));
	/* A port is part of the endpoint (NAT): a's address with another port
	 * is a new address too. */
	struct sockaddr_storage a2 = ep4("192.0.2.1", 2);

	assert_false(wg_flap_feed(&f, &a2, 16 * S));
	assert_false(wg_flap_feed(&f, &a, 18 * S));
}

static void test_flap_new_episode_after_quiet_reported_again(void **state)
{
	struct sockaddr_storage a = ep4("192.0.2.1", 1), b = ep4("192.0.2.2", 1);
	struct wg_flap f;

	(void)state;
	wg_flap_init(&f);
	assert_int_equal(swing(&f, &a, &b, 0, 2 * S, 50, NULL), 1);
	/* The second process stopped: quiet for more than WG_FLAP_QUIET_NS
	 * (the endpoint stays where it was), then it starts again. */
	assert_int_equal(swing(&f, &a, &b, 100 * S + WG_FLAP_QUIET_NS, 2 * S, 50, NULL), 1);
}

static void test_flap_unknown_family_ignored(void **state)
{
	struct sockaddr_storage none;
	struct wg_flap f;

	(void)state;
	memset(&none, 0, sizeof(none));
	wg_flap_init(&f);
	for (int i = 0; i < 10; i++)
		assert_false(wg_flap_feed(&f, &none, (uint64_t)i * 2 * S));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flap_two_processes_sending_reported_once),
	    cmocka_unit_test(test_flap_handshakes_seconds_apart_reported),
	    cmocka_unit_test(test_flap_one_roam_is_not_reported),
	    cmocka_unit_test(test_flap_slow_swings_outside_the_window_not_reported),
	    cmocka_unit_test(test_flap_third_address_starts_over),
	    cmocka_unit_test(test_flap_new_episode_after_quiet_reported_again),
	    cmocka_unit_test(test_flap_unknown_family_ignored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
