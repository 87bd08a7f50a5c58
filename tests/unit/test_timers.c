// SPDX-License-Identifier: MIT
/* The WireGuard timers against a fake clock: every timer of the paper's
 * section 6, and the send/receive decision helpers at their thresholds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/wg/timers.h"

/* An arbitrary non-zero start, as a monotonic clock reads after boot. */
#define T0 WG_SEC(1000)

#define ALL_ACTIONS                                                                                \
	(WG_TIMERS_SEND_HANDSHAKE_INITIATION | WG_TIMERS_SEND_KEEPALIVE | WG_TIMERS_ZERO_KEYS |    \
	 WG_TIMERS_GIVE_UP | WG_TIMERS_PERSISTENT_KEEPALIVE)

/* Jitter source: cycles through a fixed list and records what it was asked. */
struct fake_rand {
	uint32_t values[8];
	unsigned int count;
	unsigned int calls;
	uint32_t last_bound;
};

static uint32_t fake_rand_next(void *ctx, uint32_t bound)
{
	struct fake_rand *f = ctx;
	uint32_t v = f->count ? f->values[f->calls % f->count] : 0;

	f->calls++;
	f->last_bound = bound;
	return v;
}

static void init_with_jitter(struct wg_timers *t, struct fake_rand *f, uint32_t jitter_ns)
{
	memset(f, 0, sizeof(*f));
	f->values[0] = jitter_ns;
	f->count = 1;
	wg_timers_init(t, NULL, fake_rand_next, f);
}

static unsigned int expire(struct wg_timers *t, uint64_t now)
{
	return wg_timers_expire(t, now, NULL);
}

static uint64_t min_armed(const struct wg_timers *t)
{
	uint64_t min = 0;

	for (int i = 0; i < WG_TIMER_COUNT; i++) {
		uint64_t d = wg_timers_deadline(t, (enum wg_timer)i);

		if (d && (!min || d < min))
			min = d;
	}
	return min;
}

static void test_timers_start_with_nothing_armed(void **state)
{
	struct wg_timers t;
	struct wg_timers_actions a;
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	assert_int_equal(wg_timers_next_deadline(&t), 0);
	assert_int_equal(wg_timers_expire(&t, T0, &a), 0);
	assert_int_equal(a.set, 0);
	assert_true(wg_timers_may_send_initiation(&t, T0));
}

static void test_retransmit_every_rekey_timeout_plus_jitter_with_attempt_count(void **state)
{
	struct wg_timers t;
	struct wg_timers_actions a;
	struct fake_rand f = {
	    .values = {WG_MSEC(100), WG_MSEC(250), 0, WG_MSEC(333)},
	    .count = 4,
	};
	uint64_t due;
	(void)state;

	wg_timers_init(&t, NULL, fake_rand_next, &f);
	wg_timers_handshake_initiated(&t, T0); /* jitter 100 ms */
	assert_int_equal(f.last_bound, WG_MSEC(WG_REKEY_TIMEOUT_JITTER_MS) + 1);
	due = T0 + WG_SEC(5) + WG_MSEC(100);
	assert_int_equal(wg_timers_next_deadline(&t), due);

	assert_int_equal(wg_timers_expire(&t, due - 1, &a), 0);
	assert_int_equal(wg_timers_next_deadline(&t), due);

	assert_int_equal(wg_timers_expire(&t, due, &a), WG_TIMERS_SEND_HANDSHAKE_INITIATION);
	assert_true(a.initiation_is_retry);
	assert_int_equal(a.initiation_attempt, 2);
	/* Re-armed by itself (jitter 250 ms) in case the caller cannot send... */
	assert_int_equal(wg_timers_next_deadline(&t), due + WG_SEC(5) + WG_MSEC(250));
	/* ...and from the actual send when it can (jitter 0). */
	wg_timers_handshake_initiated(&t, due);
	assert_int_equal(t.attempts, 2);
	due += WG_SEC(5);
	assert_int_equal(wg_timers_next_deadline(&t), due);

	assert_int_equal(wg_timers_expire(&t, due, &a), WG_TIMERS_SEND_HANDSHAKE_INITIATION);
	assert_true(a.initiation_is_retry);
	assert_int_equal(a.initiation_attempt, 3);
	wg_timers_handshake_initiated(&t, due); /* jitter 100 ms again */
	assert_int_equal(wg_timers_next_deadline(&t), due + WG_SEC(5) + WG_MSEC(100));
	assert_int_equal(t.round_started_ns, T0);
}

static void test_jitter_out_of_range_from_rand_is_reduced(void **state)
{
	struct wg_timers t;
	struct fake_rand f;
	(void)state;

	init_with_jitter(&t, &f, UINT32_MAX);
	wg_timers_handshake_initiated(&t, T0);
	assert_true(wg_timers_next_deadline(&t) <=
		    T0 + WG_SEC(5) + WG_MSEC(WG_REKEY_TIMEOUT_JITTER_MS));
	assert_true(wg_timers_next_deadline(&t) >= T0 + WG_SEC(5));
}

/* Plays the caller: sends every initiation asked for, until GIVE_UP.
 * Returns how many initiations were sent, the first included. */
static unsigned int run_round_until_give_up(struct wg_timers *t, uint64_t start,
					    uint64_t *gave_up_at)
{
	struct wg_timers_actions a;
	unsigned int sent = 1;

	wg_timers_handshake_initiated(t, start);
	for (int i = 0; i < 100; i++) {
		uint64_t now = wg_timers_next_deadline(t);

		assert_int_not_equal(now, 0);
		/* One ns earlier, nothing is due: every step happens at its deadline. */
		assert_int_equal(wg_timers_expire(t, now - 1, &a), 0);
		wg_timers_expire(t, now, &a);
		if (a.set & WG_TIMERS_GIVE_UP) {
			assert_false(a.set & WG_TIMERS_SEND_HANDSHAKE_INITIATION);
			*gave_up_at = now;
			return sent;
		}
		assert_int_equal(a.set, WG_TIMERS_SEND_HANDSHAKE_INITIATION);
		assert_true(a.initiation_is_retry);
		assert_int_equal(a.initiation_attempt, sent + 1);
		assert_true(now < start + WG_SEC(WG_REKEY_ATTEMPT_TIME_S));
		wg_timers_handshake_initiated(t, now);
		sent++;
	}
	fail_msg("no GIVE_UP after 100 deadlines");
	return 0;
}

static void test_handshake_gives_up_after_rekey_attempt_time_and_not_before(void **state)
{
	struct wg_timers t;
	struct fake_rand f;
	uint64_t gave_up_at = 0;
	(void)state;

	/* No jitter: initiations at 0, 5, ..., 85 s, as the kernel's 18 tries. */
	wg_timers_init(&t, NULL, NULL, NULL);
	assert_int_equal(run_round_until_give_up(&t, T0, &gave_up_at), WG_MAX_TIMER_HANDSHAKES);
	assert_int_equal(gave_up_at, T0 + WG_SEC(WG_REKEY_ATTEMPT_TIME_S));

	/* Maximal jitter: the 17th retry would be at 90.66 s; the round still
	 * ends at exactly 90 s. */
	init_with_jitter(&t, &f, WG_MSEC(WG_REKEY_TIMEOUT_JITTER_MS));
	assert_int_equal(run_round_until_give_up(&t, T0, &gave_up_at), 17);
	assert_int_equal(gave_up_at, T0 + WG_SEC(WG_REKEY_ATTEMPT_TIME_S));
	assert_int_equal(wg_timers_deadline(&t, WG_TIMER_RETRANSMIT_HANDSHAKE), 0);
}

static void test_give_up_stops_keepalive_and_new_handshake_and_arms_zero_keys(void **state)
{
	struct wg_timers t;
	struct wg_timers_actions a;
	uint64_t end = T0 + WG_SEC(WG_REKEY_ATTEMPT_TIME_S);
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	wg_timers_handshake_initiated(&t, T0);
	/* Retries at 5..85 s go unanswered; data keeps arriving and leaving. */
	for (int i = 1; i < WG_MAX_TIMER_HANDSHAKES; i++) {
		uint64_t now = T0 + WG_SEC(5 * i);

		assert_int_equal(wg_timers_expire(&t, now, &a),
				 WG_TIMERS_SEND_HANDSHAKE_INITIATION);
		wg_timers_handshake_initiated(&t, now);
	}
	wg_timers_data_received(&t, end - WG_SEC(1));
	wg_timers_data_sent(&t, end - WG_SEC(1));
	assert_int_equal(wg_timers_expire(&t, end, &a), WG_TIMERS_GIVE_UP);
	assert_int_equal(wg_timers_deadline(&t, WG_TIMER_SEND_KEEPALIVE), 0);
	assert_int_equal(wg_timers_deadline(&t, WG_TIMER_NEW_HANDSHAKE), 0);
	assert_int_equal(wg_timers_deadline(&t, WG_TIMER_ZERO_KEYS),
			 end + 3 * WG_SEC(WG_REJECT_AFTER_TIME_S));
	assert_int_equal(wg_timers_next_deadline(&t), end + 3 * WG_SEC(WG_REJECT_AFTER_TIME_S));

	/* New data, new round, with a fresh budget and attempt count. */
	wg_timers_handshake_initiated(&t, end + WG_SEC(30));
	assert_int_equal(t.attempts, 1);
	assert_int_equal(t.round_started_ns, end + WG_SEC(30));
	assert_int_equal(wg_timers_expire(&t, end + WG_SEC(35), &a),
			 WG_TIMERS_SEND_HANDSHAKE_INITIATION);
	assert_int_equal(a.initiation_attempt, 2);
}

static void test_give_up_keeps_an_armed_zero_keys_deadline(void **state)
{
	struct wg_timers t;
	uint64_t zero_at = T0 + 3 * WG_SEC(WG_REJECT_AFTER_TIME_S);
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	wg_timers_session_derived(&t, T0);
	wg_timers_handshake_initiated(&t, T0 + WG_SEC(200));
	for (int i = 1; i <= WG_MAX_TIMER_HANDSHAKES; i++)
		expire(&t, T0 + WG_SEC(200 + 5 * i));
	assert_int_equal(wg_timers_deadline(&t, WG_TIMER_RETRANSMIT_HANDSHAKE), 0);
	assert_int_equal(wg_timers_deadline(&t, WG_TIMER_ZERO_KEYS), zero_at);
}

static void test_handshake_complete_disarms_retransmission(void **state)
{
	struct wg_timers t;
	struct fake_rand f;
	(void)state;

	init_with_jitter(&t, &f, WG_MSEC(200));
	wg_timers_handshake_initiated(&t, T0);
	assert_int_equal(expire(&t, T0 + WG_SEC(6)), WG_TIMERS_SEND_HANDSHAKE_INITIATION);
	wg_timers_handshake_initiated(&t, T0 + WG_SEC(6));
	wg_timers_handshake_complete(&t, T0 + WG_SEC(6) + WG_MSEC(3));

	assert_int_equal(wg_timers_deadline(&t, WG_TIMER_RETRANSMIT_HANDSHAKE), 0);
	assert_int_equal(wg_timers_next_deadline(&t), 0);
	assert_int_equal(expire(&t, T0 + WG_SEC(200)), 0);
	assert_int_equal(t.last_handshake_ns, T0 + WG_SEC(6) + WG_MSEC(3));
	assert_int_equal(t.attempts, 0);

	/* The next initiation starts a round of its own. */
	wg_timers_handshake_initiated(&t, T0 + WG_SEC(300));
	assert_int_equal(t.attempts, 1);
	assert_int_equal(t.round_started_ns, T0 + WG_SEC(300));
}

static void test_passive_keepalive_after_keepalive_timeout_of_receive_only(void **state)
{
	struct wg_timers t;
	struct wg_timers_actions a;
	uint64_t due = T0 + WG_SEC(WG_KEEPALIVE_TIMEOUT_S);
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	wg_timers_any_authenticated_packet_received(&t, T0);
	wg_timers_data_received(&t, T0);
	/* More data does not push the answer back. */
	wg_timers_any_authenticated_packet_received(&t, T0 + WG_SEC(3));
	wg_timers_data_received(&t, T0 + WG_SEC(3));
	assert_int_equal(wg_timers_next_deadline(&t), due);

	assert_int_equal(wg_timers_expire(&t, due - 1, &a), 0);
	assert_int_equal(wg_timers_expire(&t, due, &a), WG_TIMERS_SEND_KEEPALIVE);
	assert_int_equal(wg_timers_next_deadline(&t), 0);
	/* Sending that keepalive arms nothing: it is not data. */
	wg_timers_any_authenticated_packet_sent(&t, due);
	assert_int_equal(wg_timers_next_deadline(&t), 0);
}

static void test_no_passive_keepalive_when_we_sent_something_meanwhile(void **state)
{
	struct wg_timers t;
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	wg_timers_data_received(&t, T0);
	wg_timers_any_authenticated_packet_sent(&t, T0 + WG_SEC(9));
	assert_int_equal(wg_timers_deadline(&t, WG_TIMER_SEND_KEEPALIVE), 0);
	assert_int_equal(expire(&t, T0 + WG_SEC(60)), 0);

	/* Data received later starts a new 10 s wait from then. */
	wg_timers_data_received(&t, T0 + WG_SEC(61));
	assert_int_equal(expire(&t, T0 + WG_SEC(71) - 1), 0);
	assert_int_equal(expire(&t, T0 + WG_SEC(71)), WG_TIMERS_SEND_KEEPALIVE);
}

static void test_new_handshake_after_send_without_receive(void **state)
{
	struct wg_timers t;
	struct fake_rand f;
	struct wg_timers_actions a;
	uint64_t due = T0 + WG_SEC(WG_KEEPALIVE_TIMEOUT_S + WG_REKEY_TIMEOUT_S);
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	wg_timers_data_sent(&t, T0);
	wg_timers_data_sent(&t, T0 + WG_SEC(5)); /* does not push it back */
	assert_int_equal(due, T0 + WG_SEC(15));
	assert_int_equal(wg_timers_expire(&t, due - 1, &a), 0);
	assert_int_equal(wg_timers_expire(&t, due, &a), WG_TIMERS_SEND_HANDSHAKE_INITIATION);
	assert_false(a.initiation_is_retry);
	assert_int_equal(a.initiation_attempt, 1);

	/* With jitter, later by exactly the jitter. */
	init_with_jitter(&t, &f, WG_MSEC(200));
	wg_timers_data_sent(&t, T0);
	assert_int_equal(wg_timers_expire(&t, due + WG_MSEC(200) - 1, &a), 0);
	assert_int_equal(wg_timers_expire(&t, due + WG_MSEC(200), &a),
			 WG_TIMERS_SEND_HANDSHAKE_INITIATION);
}

static void test_new_handshake_cancelled_by_any_received_packet(void **state)
{
	struct wg_timers t;
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	wg_timers_data_sent(&t, T0);
	wg_timers_any_authenticated_packet_received(&t, T0 + WG_SEC(15) - 1);
	assert_int_equal(wg_timers_deadline(&t, WG_TIMER_NEW_HANDSHAKE), 0);
	assert_int_equal(expire(&t, T0 + WG_SEC(60)), 0);
}

static void test_new_handshake_adds_nothing_while_a_round_retries(void **state)
{
	struct wg_timers t;
	struct wg_timers_actions a;
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	wg_timers_data_sent(&t, T0);
	wg_timers_handshake_initiated(&t, T0);
	for (int i = 1; i <= 2; i++) {
		assert_int_equal(expire(&t, T0 + WG_SEC(5 * i)),
				 WG_TIMERS_SEND_HANDSHAKE_INITIATION);
		wg_timers_handshake_initiated(&t, T0 + WG_SEC(5 * i));
	}
	/* At 15 s both are due: one initiation, the round's retry. */
	assert_int_equal(wg_timers_expire(&t, T0 + WG_SEC(15), &a),
			 WG_TIMERS_SEND_HANDSHAKE_INITIATION);
	assert_true(a.initiation_is_retry);
	assert_int_equal(a.initiation_attempt, 4);
	assert_int_equal(wg_timers_deadline(&t, WG_TIMER_NEW_HANDSHAKE), 0);
}

static void test_new_handshake_waits_rekey_timeout_after_last_initiation(void **state)
{
	struct wg_timers t;
	struct wg_timers_actions a;
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	wg_timers_data_sent(&t, T0);
	wg_timers_handshake_initiated(&t, T0 + WG_SEC(12));
	wg_timers_handshake_complete(&t, T0 + WG_SEC(12) + WG_MSEC(1));
	/* Due at 15 s, but our last initiation is 3 s old: deferred to 17 s. */
	assert_int_equal(wg_timers_expire(&t, T0 + WG_SEC(15), &a), 0);
	assert_int_equal(wg_timers_next_deadline(&t), T0 + WG_SEC(17));
	assert_int_equal(wg_timers_expire(&t, T0 + WG_SEC(17), &a),
			 WG_TIMERS_SEND_HANDSHAKE_INITIATION);
	assert_false(a.initiation_is_retry);
}

static void test_initiations_rate_limited_to_one_per_rekey_timeout(void **state)
{
	struct wg_timers t;
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	assert_true(wg_timers_may_send_initiation(&t, T0));
	wg_timers_handshake_initiated(&t, T0);
	assert_false(wg_timers_may_send_initiation(&t, T0));
	assert_false(wg_timers_may_send_initiation(&t, T0 + WG_SEC(5) - 1));
	assert_true(wg_timers_may_send_initiation(&t, T0 + WG_SEC(5)));
	assert_false(wg_timers_may_send_initiation(&t, T0 - 1)); /* clock went back */
}

static void test_zero_keys_after_three_reject_after_time_reset_by_new_handshake(void **state)
{
	struct wg_timers t;
	struct wg_timers_actions a;
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	assert_int_equal(3 * WG_SEC(WG_REJECT_AFTER_TIME_S), WG_SEC(540));
	wg_timers_session_derived(&t, T0);
	assert_int_equal(wg_timers_expire(&t, T0 + WG_SEC(540) - 1, &a), 0);
	assert_int_equal(wg_timers_expire(&t, T0 + WG_SEC(540), &a), WG_TIMERS_ZERO_KEYS);
	assert_int_equal(wg_timers_next_deadline(&t), 0);

	/* A new session moves it to 540 s after that session. */
	wg_timers_session_derived(&t, T0 + WG_SEC(1000));
	wg_timers_session_derived(&t, T0 + WG_SEC(1300));
	assert_int_equal(wg_timers_expire(&t, T0 + WG_SEC(1540), &a), 0);
	assert_int_equal(wg_timers_expire(&t, T0 + WG_SEC(1840) - 1, &a), 0);
	assert_int_equal(wg_timers_expire(&t, T0 + WG_SEC(1840), &a), WG_TIMERS_ZERO_KEYS);
}

static void test_zero_keys_withdraws_keepalive_and_keys_zeroed_disarms(void **state)
{
	struct wg_timers t;
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	wg_timers_session_derived(&t, T0);
	wg_timers_data_received(&t, T0 + WG_SEC(525)); /* keepalive due at 535 s */
	/* Both due in one call: the keepalive fires first and is withdrawn,
	 * there are no keys left to send it with. */
	assert_int_equal(expire(&t, T0 + WG_SEC(600)), WG_TIMERS_ZERO_KEYS);
	assert_int_equal(wg_timers_next_deadline(&t), 0);

	/* Keys wiped by the caller: nothing left to zero or to answer with. */
	wg_timers_session_derived(&t, T0 + WG_SEC(700));
	wg_timers_data_received(&t, T0 + WG_SEC(701));
	wg_timers_keys_zeroed(&t);
	assert_int_equal(wg_timers_next_deadline(&t), 0);
	assert_int_equal(expire(&t, T0 + WG_SEC(5000)), 0);
}

static void test_persistent_keepalive_at_once_then_every_interval(void **state)
{
	struct wg_timers t;
	struct wg_timers_actions a;
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	wg_timers_set_persistent_keepalive(&t, T0, 25);
	assert_int_equal(wg_timers_next_deadline(&t), T0);
	assert_int_equal(wg_timers_expire(&t, T0, &a), WG_TIMERS_PERSISTENT_KEEPALIVE);
	/* Re-armed even before the caller reports the keepalive sent. */
	assert_int_equal(wg_timers_next_deadline(&t), T0 + WG_SEC(25));
	wg_timers_any_authenticated_packet_sent(&t, T0 + WG_MSEC(1));

	assert_int_equal(wg_timers_expire(&t, T0 + WG_SEC(25) + WG_MSEC(1) - 1, &a), 0);
	assert_int_equal(wg_timers_expire(&t, T0 + WG_SEC(25) + WG_MSEC(1), &a),
			 WG_TIMERS_PERSISTENT_KEEPALIVE);
	/* The same interval again is no change: no extra keepalive. */
	wg_timers_set_persistent_keepalive(&t, T0 + WG_SEC(30), 25);
	assert_int_equal(wg_timers_next_deadline(&t), T0 + WG_SEC(50) + WG_MSEC(1));
	/* A new interval: one keepalive at once, then the new period. */
	wg_timers_set_persistent_keepalive(&t, T0 + WG_SEC(30), 7);
	assert_int_equal(wg_timers_expire(&t, T0 + WG_SEC(30), &a), WG_TIMERS_PERSISTENT_KEEPALIVE);
	assert_int_equal(wg_timers_next_deadline(&t), T0 + WG_SEC(37));
}

static void test_persistent_keepalive_reset_by_any_authenticated_packet(void **state)
{
	struct wg_timers t;
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	wg_timers_set_persistent_keepalive(&t, T0, 25);
	wg_timers_any_authenticated_packet_sent(&t, T0);
	wg_timers_any_authenticated_packet_sent(&t, T0 + WG_SEC(20));
	assert_int_equal(expire(&t, T0 + WG_SEC(25)), 0);
	assert_int_equal(wg_timers_next_deadline(&t), T0 + WG_SEC(45));
	/* Traffic either way keeps the mapping alive, as in the kernel. */
	wg_timers_any_authenticated_packet_received(&t, T0 + WG_SEC(30));
	assert_int_equal(expire(&t, T0 + WG_SEC(55) - 1), 0);
	assert_int_equal(expire(&t, T0 + WG_SEC(55)), WG_TIMERS_PERSISTENT_KEEPALIVE);
}

static void test_persistent_keepalive_disabled_by_zero(void **state)
{
	struct wg_timers t;
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	wg_timers_any_authenticated_packet_sent(&t, T0);
	assert_int_equal(wg_timers_next_deadline(&t), 0); /* never configured */
	wg_timers_set_persistent_keepalive(&t, T0, 25);
	wg_timers_any_authenticated_packet_sent(&t, T0);
	wg_timers_set_persistent_keepalive(&t, T0 + WG_SEC(1), 0);
	assert_int_equal(wg_timers_next_deadline(&t), 0);
	wg_timers_any_authenticated_packet_sent(&t, T0 + WG_SEC(2));
	wg_timers_any_authenticated_packet_received(&t, T0 + WG_SEC(3));
	assert_int_equal(wg_timers_next_deadline(&t), 0);
	assert_int_equal(expire(&t, T0 + WG_SEC(3600)), 0);
}

static void test_rekey_on_send_at_rekey_after_time_or_messages(void **state)
{
	const uint64_t c = T0, at = T0 + WG_SEC(WG_REKEY_AFTER_TIME_S);
	(void)state;

	assert_false(wg_timers_should_rekey_on_send(NULL, at - 1, c, 0, true));
	assert_true(wg_timers_should_rekey_on_send(NULL, at, c, 0, true));
	/* Only the initiator rekeys on age, so both sides do not race. */
	assert_false(wg_timers_should_rekey_on_send(NULL, at, c, 0, false));
	assert_false(wg_timers_should_rekey_on_send(NULL, at + WG_SEC(1000), c, 0, false));
	/* Either side rekeys on the message count. */
	assert_false(wg_timers_should_rekey_on_send(NULL, c, c, WG_REKEY_AFTER_MESSAGES - 1, true));
	assert_true(wg_timers_should_rekey_on_send(NULL, c, c, WG_REKEY_AFTER_MESSAGES, true));
	assert_false(
	    wg_timers_should_rekey_on_send(NULL, c, c, WG_REKEY_AFTER_MESSAGES - 1, false));
	assert_true(wg_timers_should_rekey_on_send(NULL, c, c, WG_REKEY_AFTER_MESSAGES, false));
	assert_int_equal(WG_REKEY_AFTER_MESSAGES, 1ull << 60);
}

static void test_rekey_on_receive_at_reject_minus_keepalive_minus_rekey_timeout(void **state)
{
	const uint64_t c = T0, at = T0 + WG_SEC(180 - 10 - 5);
	(void)state;

	assert_false(wg_timers_should_rekey_on_receive(NULL, at - 1, c, true));
	assert_true(wg_timers_should_rekey_on_receive(NULL, at, c, true));
	assert_false(wg_timers_should_rekey_on_receive(NULL, at, c, false));
	assert_false(wg_timers_should_rekey_on_receive(NULL, at + WG_SEC(100), c, false));
}

static void test_keypair_expires_at_reject_after_time_or_messages(void **state)
{
	const uint64_t c = T0, at = T0 + WG_SEC(WG_REJECT_AFTER_TIME_S);
	(void)state;

	assert_false(wg_timers_keypair_expired(NULL, at - 1, c, 0));
	assert_true(wg_timers_keypair_expired(NULL, at, c, 0));
	assert_false(wg_timers_keypair_expired(NULL, c, c, WG_REJECT_AFTER_MESSAGES - 1));
	assert_true(wg_timers_keypair_expired(NULL, c, c, WG_REJECT_AFTER_MESSAGES));
	assert_true(wg_timers_keypair_expired(NULL, c, c, UINT64_MAX));
	assert_int_equal(WG_REJECT_AFTER_MESSAGES, UINT64_MAX - 8192); /* 2^64 - 2^13 - 1 */
	/* A clock reading before creation is age 0, not a huge age. */
	assert_false(wg_timers_keypair_expired(NULL, c - 1, c, 0));
}

static void test_initiations_from_a_peer_at_least_20ms_apart(void **state)
{
	const uint64_t last = T0;
	(void)state;

	assert_true(wg_timers_initiation_too_soon(last, last));
	assert_true(wg_timers_initiation_too_soon(last, last + 19999000)); /* 19.999 ms */
	assert_true(wg_timers_initiation_too_soon(last, last + WG_MSEC(20) - 1));
	assert_false(wg_timers_initiation_too_soon(last, last + WG_MSEC(20)));
	assert_false(wg_timers_initiation_too_soon(last, last + WG_SEC(10)));
	assert_true(wg_timers_initiation_too_soon(last, last - 1));
	assert_false(wg_timers_initiation_too_soon(0, WG_MSEC(1))); /* never accepted */
}

static void arm_every_timer(struct wg_timers *t)
{
	wg_timers_handshake_initiated(t, T0);			  /* retransmit at +5 s */
	wg_timers_data_received(t, T0 + WG_SEC(1));		  /* keepalive at +11 s */
	wg_timers_data_sent(t, T0 + WG_SEC(2));			  /* new handshake at +17 s */
	wg_timers_session_derived(t, T0 + WG_SEC(3));		  /* zero keys at +543 s */
	wg_timers_set_persistent_keepalive(t, T0 + WG_SEC(4), 7); /* at once */
	for (int i = 0; i < WG_TIMER_COUNT; i++)
		assert_int_not_equal(wg_timers_deadline(t, (enum wg_timer)i), 0);
}

static void test_next_deadline_is_always_the_earliest_armed(void **state)
{
	struct wg_timers t;
	uint64_t prev = 0;
	int steps;
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	wg_timers_session_derived(&t, T0);
	assert_int_equal(wg_timers_next_deadline(&t), T0 + WG_SEC(540));
	wg_timers_data_sent(&t, T0);
	assert_int_equal(wg_timers_next_deadline(&t), T0 + WG_SEC(15));
	wg_timers_data_received(&t, T0);
	assert_int_equal(wg_timers_next_deadline(&t), T0 + WG_SEC(10));
	wg_timers_handshake_initiated(&t, T0);
	assert_int_equal(wg_timers_next_deadline(&t), T0 + WG_SEC(5));
	wg_timers_set_persistent_keepalive(&t, T0 + WG_SEC(1), 3);
	assert_int_equal(wg_timers_next_deadline(&t), T0 + WG_SEC(1));
	wg_timers_any_authenticated_packet_sent(&t, T0 + WG_SEC(1));
	assert_int_equal(wg_timers_next_deadline(&t), T0 + WG_SEC(4));

	/* Follow the deadlines as a caller would; they never go backwards. */
	wg_timers_init(&t, NULL, NULL, NULL);
	arm_every_timer(&t);
	for (steps = 0; steps < 200; steps++) {
		struct wg_timers_actions a;
		uint64_t next = wg_timers_next_deadline(&t);

		assert_int_equal(next, min_armed(&t));
		if (!next)
			break;
		assert_true(next >= prev);
		prev = next;
		wg_timers_expire(&t, next, &a);
		if (a.set & WG_TIMERS_SEND_HANDSHAKE_INITIATION)
			wg_timers_handshake_initiated(&t, next);
		if (a.set & WG_TIMERS_PERSISTENT_KEEPALIVE) {
			wg_timers_any_authenticated_packet_sent(&t, next);
			if (next > T0 + WG_SEC(600))
				wg_timers_set_persistent_keepalive(&t, next, 0);
		}
	}
	assert_true(steps < 200);
	assert_int_equal(wg_timers_next_deadline(&t), 0);
}

static void test_expire_far_in_the_future_processes_everything_once(void **state)
{
	struct wg_timers t;
	struct wg_timers_actions a;
	const uint64_t far = T0 + WG_SEC(1000000);
	(void)state;

	wg_timers_init(&t, NULL, NULL, NULL);
	arm_every_timer(&t);
	/* Every timer is due. The round is over (GIVE_UP, which also drops the
	 * keepalive and the new handshake), the keys go, the persistent
	 * keepalive fires once. */
	assert_int_equal(wg_timers_expire(&t, far, &a),
			 WG_TIMERS_PERSISTENT_KEEPALIVE | WG_TIMERS_GIVE_UP | WG_TIMERS_ZERO_KEYS);
	assert_int_equal(wg_timers_next_deadline(&t), far + WG_SEC(7));
	assert_int_equal(wg_timers_expire(&t, far, &a), 0);

	/* The end of time: re-arms saturate at now, yet each call returns
	 * after firing each timer once. */
	wg_timers_init(&t, NULL, NULL, NULL);
	arm_every_timer(&t);
	assert_int_equal(wg_timers_expire(&t, UINT64_MAX, &a) & ~ALL_ACTIONS, 0);
	assert_true(a.set & WG_TIMERS_GIVE_UP);
	assert_int_equal(wg_timers_expire(&t, UINT64_MAX, &a), WG_TIMERS_PERSISTENT_KEEPALIVE);
}

static void test_params_default_to_the_protocol_constants(void **state)
{
	struct wg_timers_params p;
	struct wg_timers t;
	(void)state;

	wg_timers_params_default(&p);
	assert_int_equal(p.rekey_after_time_ns, WG_SEC(WG_REKEY_AFTER_TIME_S));
	assert_int_equal(p.reject_after_time_ns, WG_SEC(WG_REJECT_AFTER_TIME_S));
	assert_int_equal(p.rekey_attempt_time_ns, WG_SEC(WG_REKEY_ATTEMPT_TIME_S));
	assert_int_equal(p.rekey_timeout_ns, WG_SEC(WG_REKEY_TIMEOUT_S));
	assert_int_equal(p.keepalive_timeout_ns, WG_SEC(WG_KEEPALIVE_TIMEOUT_S));
	/* A zero field keeps its default. */
	memset(&p, 0, sizeof(p));
	p.rekey_after_time_ns = WG_MSEC(1500);
	wg_timers_init(&t, &p, NULL, NULL);
	assert_int_equal(t.params.rekey_after_time_ns, WG_MSEC(1500));
	assert_int_equal(t.params.reject_after_time_ns, WG_SEC(WG_REJECT_AFTER_TIME_S));
	assert_int_equal(t.params.keepalive_timeout_ns, WG_SEC(WG_KEEPALIVE_TIMEOUT_S));
}

static void test_shortened_params_drive_every_timer_and_helper(void **state)
{
	struct wg_timers_params p = {
	    .rekey_after_time_ns = WG_MSEC(1000),
	    .reject_after_time_ns = WG_MSEC(3000),
	    .rekey_attempt_time_ns = WG_MSEC(900),
	    .rekey_timeout_ns = WG_MSEC(300),
	    .keepalive_timeout_ns = WG_MSEC(200),
	};
	struct wg_timers t;
	struct fake_rand f;
	struct wg_timers_actions a;
	(void)state;

	memset(&f, 0, sizeof(f));
	wg_timers_init(&t, &p, fake_rand_next, &f);
	/* Retransmission at REKEY_TIMEOUT, jitter capped at a third of it. */
	wg_timers_handshake_initiated(&t, T0);
	assert_int_equal(f.last_bound, WG_MSEC(100) + 1);
	assert_int_equal(wg_timers_deadline(&t, WG_TIMER_RETRANSMIT_HANDSHAKE), T0 + WG_MSEC(300));
	assert_false(wg_timers_may_send_initiation(&t, T0 + WG_MSEC(300) - 1));
	assert_true(wg_timers_may_send_initiation(&t, T0 + WG_MSEC(300)));
	/* Give up at REKEY_ATTEMPT_TIME. */
	assert_int_equal(wg_timers_expire(&t, T0 + WG_MSEC(300), &a),
			 WG_TIMERS_SEND_HANDSHAKE_INITIATION);
	wg_timers_handshake_initiated(&t, T0 + WG_MSEC(300));
	assert_int_equal(wg_timers_deadline(&t, WG_TIMER_RETRANSMIT_HANDSHAKE), T0 + WG_MSEC(600));
	expire(&t, T0 + WG_MSEC(600));
	wg_timers_handshake_initiated(&t, T0 + WG_MSEC(600));
	assert_int_equal(wg_timers_deadline(&t, WG_TIMER_RETRANSMIT_HANDSHAKE), T0 + WG_MSEC(900));
	assert_true(expire(&t, T0 + WG_MSEC(900)) & WG_TIMERS_GIVE_UP);
	/* Zero keys at three times REJECT_AFTER_TIME. */
	wg_timers_init(&t, &p, NULL, NULL);
	wg_timers_session_derived(&t, T0);
	assert_int_equal(wg_timers_deadline(&t, WG_TIMER_ZERO_KEYS), T0 + WG_MSEC(9000));
	/* Keepalive and new handshake from KEEPALIVE_TIMEOUT (+ REKEY_TIMEOUT). */
	wg_timers_data_received(&t, T0);
	assert_int_equal(wg_timers_deadline(&t, WG_TIMER_SEND_KEEPALIVE), T0 + WG_MSEC(200));
	wg_timers_data_sent(&t, T0);
	assert_int_equal(wg_timers_deadline(&t, WG_TIMER_NEW_HANDSHAKE), T0 + WG_MSEC(500));
	/* Keypair helpers. */
	assert_false(wg_timers_should_rekey_on_send(&t.params, T0 + WG_MSEC(999), T0, 0, true));
	assert_true(wg_timers_should_rekey_on_send(&t.params, T0 + WG_MSEC(1000), T0, 0, true));
	assert_false(wg_timers_keypair_expired(&t.params, T0 + WG_MSEC(2999), T0, 0));
	assert_true(wg_timers_keypair_expired(&t.params, T0 + WG_MSEC(3000), T0, 0));
	/* 3000 - 200 - 300 ms */
	assert_false(wg_timers_should_rekey_on_receive(&t.params, T0 + WG_MSEC(2499), T0, true));
	assert_true(wg_timers_should_rekey_on_receive(&t.params, T0 + WG_MSEC(2500), T0, true));
}

static void
test_rekey_on_receive_falls_back_to_rekey_after_time_when_margin_exceeds_life(void **state)
{
	/* 2 s of life, 10 s + 5 s of margin: the age of a send rekey instead. */
	struct wg_timers_params p = {.rekey_after_time_ns = WG_MSEC(800),
				     .reject_after_time_ns = WG_MSEC(2000)};
	struct wg_timers t;
	(void)state;

	wg_timers_init(&t, &p, NULL, NULL);
	assert_false(wg_timers_should_rekey_on_receive(&t.params, T0 + WG_MSEC(799), T0, true));
	assert_true(wg_timers_should_rekey_on_receive(&t.params, T0 + WG_MSEC(800), T0, true));
	assert_false(wg_timers_should_rekey_on_receive(&t.params, T0 + WG_MSEC(800), T0, false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_timers_start_with_nothing_armed),
	    cmocka_unit_test(test_retransmit_every_rekey_timeout_plus_jitter_with_attempt_count),
	    cmocka_unit_test(test_jitter_out_of_range_from_rand_is_reduced),
	    cmocka_unit_test(test_handshake_gives_up_after_rekey_attempt_time_and_not_before),
	    cmocka_unit_test(test_give_up_stops_keepalive_and_new_handshake_and_arms_zero_keys),
	    cmocka_unit_test(test_give_up_keeps_an_armed_zero_keys_deadline),
	    cmocka_unit_test(test_handshake_complete_disarms_retransmission),
	    cmocka_unit_test(test_passive_keepalive_after_keepalive_timeout_of_receive_only),
	    cmocka_unit_test(test_no_passive_keepalive_when_we_sent_something_meanwhile),
	    cmocka_unit_test(test_new_handshake_after_send_without_receive),
	    cmocka_unit_test(test_new_handshake_cancelled_by_any_received_packet),
	    cmocka_unit_test(test_new_handshake_adds_nothing_while_a_round_retries),
	    cmocka_unit_test(test_new_handshake_waits_rekey_timeout_after_last_initiation),
	    cmocka_unit_test(test_initiations_rate_limited_to_one_per_rekey_timeout),
	    cmocka_unit_test(test_zero_keys_after_three_reject_after_time_reset_by_new_handshake),
	    cmocka_unit_test(test_zero_keys_withdraws_keepalive_and_keys_zeroed_disarms),
	    cmocka_unit_test(test_persistent_keepalive_at_once_then_every_interval),
	    cmocka_unit_test(test_persistent_keepalive_reset_by_any_authenticated_packet),
	    cmocka_unit_test(test_persistent_keepalive_disabled_by_zero),
	    cmocka_unit_test(test_rekey_on_send_at_rekey_after_time_or_messages),
	    cmocka_unit_test(test_rekey_on_receive_at_reject_minus_keepalive_minus_rekey_timeout),
	    cmocka_unit_test(test_keypair_expires_at_reject_after_time_or_messages),
	    cmocka_unit_test(test_initiations_from_a_peer_at_least_20ms_apart),
	    cmocka_unit_test(test_next_deadline_is_always_the_earliest_armed),
	    cmocka_unit_test(test_expire_far_in_the_future_processes_everything_once),
	    cmocka_unit_test(test_params_default_to_the_protocol_constants),
	    cmocka_unit_test(test_shortened_params_drive_every_timer_and_helper),
	    cmocka_unit_test(
		test_rekey_on_receive_falls_back_to_rekey_after_time_when_margin_exceeds_life),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
