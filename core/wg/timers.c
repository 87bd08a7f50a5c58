// SPDX-License-Identifier: MIT
/* WireGuard timers of one peer. Each timer is a deadline (0 = not armed);
 * wg_timers_expire() fires the due ones in deadline order, each at most once
 * per call, so a call with a time far in the future ends after at most
 * WG_TIMER_COUNT steps; the re-arms it does lie after now (short of the
 * clock saturating), so nothing is left due behind it.
 *
 * RETRANSMIT_HANDSHAKE (armed <=> a handshake round is in progress)
 *   armed:    handshake_initiated, at now + REKEY_TIMEOUT + jitter, capped at
 *             the round's first initiation + REKEY_ATTEMPT_TIME
 *   disarmed: handshake_complete; giving up
 *   fires:    before the cap: SEND_HANDSHAKE_INITIATION (retry, attempt n+1)
 *             and re-arms itself, so a round ends even if the caller could not
 *             send; at the cap: GIVE_UP, which also disarms SEND_KEEPALIVE and
 *             NEW_HANDSHAKE (what they answered was dropped) and arms
 *             ZERO_KEYS if it is not armed, so a half-done handshake is wiped.
 * SEND_KEEPALIVE (passive keepalive)
 *   armed:    data_received, at now + KEEPALIVE_TIMEOUT, unless already armed
 *             (the keepalive answers everything received until it leaves)
 *   disarmed: any_authenticated_packet_sent (that packet is the answer);
 *             keys zeroed (nothing to send it with)
 *   fires:    SEND_KEEPALIVE
 * NEW_HANDSHAKE (the peer went silent)
 *   armed:    data_sent, at now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter,
 *             unless already armed: the peer had time to send a passive
 *             keepalive and did not
 *   disarmed: any_authenticated_packet_received; giving up
 *   fires:    SEND_HANDSHAKE_INITIATION (new round, attempt 1), unless a round
 *             is in progress (it already retries) or the last initiation is
 *             under REKEY_TIMEOUT old (then re-armed to when one is allowed)
 * ZERO_KEYS
 *   armed:    session_derived, at now + 3 * REJECT_AFTER_TIME; giving up, if
 *             not armed
 *   disarmed: keys_zeroed
 *   fires:    ZERO_KEYS; disarms SEND_KEEPALIVE and withdraws one requested in
 *             the same call
 * PERSISTENT_KEEPALIVE (only while an interval is configured)
 *   armed:    any authenticated packet sent or received, at now + interval;
 *             set_persistent_keepalive with a new interval, at now
 *   disarmed: set_persistent_keepalive(0)
 *   fires:    PERSISTENT_KEEPALIVE and re-arms at now + interval, so it keeps
 *             going even if the caller could not send
 *
 * The durations above are those of struct wg_timers_params: the protocol's
 * constants unless a test shortened them at init.
 */
#include "core/wg/timers.h"

#include <string.h>

#define JITTER_MAX	   WG_MSEC(WG_REKEY_TIMEOUT_JITTER_MS)
#define INITIATION_SPACING (WG_SEC(1) / WG_INITIATIONS_PER_SECOND)

static const struct wg_timers_params default_params = {
    .rekey_after_time_ns = WG_SEC(WG_REKEY_AFTER_TIME_S),
    .reject_after_time_ns = WG_SEC(WG_REJECT_AFTER_TIME_S),
    .rekey_attempt_time_ns = WG_SEC(WG_REKEY_ATTEMPT_TIME_S),
    .rekey_timeout_ns = WG_SEC(WG_REKEY_TIMEOUT_S),
    .keepalive_timeout_ns = WG_SEC(WG_KEEPALIVE_TIMEOUT_S),
};

static uint64_t after(uint64_t now, uint64_t delay)
{
	return now > UINT64_MAX - delay ? UINT64_MAX : now + delay;
}

/* Deadlines are never 0, the "not armed" value, even with a clock at 0. */
static void arm(struct wg_timers *t, enum wg_timer which, uint64_t at)
{
	t->deadline[which] = at ? at : 1;
}

static void disarm(struct wg_timers *t, enum wg_timer which)
{
	t->deadline[which] = 0;
}

static bool armed(const struct wg_timers *t, enum wg_timer which)
{
	return t->deadline[which] != 0;
}

/* At most 333 ms, and at most a third of REKEY_TIMEOUT when a test shortens it. */
static uint64_t jitter(const struct wg_timers *t)
{
	const uint64_t max = t->params.rekey_timeout_ns / 3 < JITTER_MAX
				 ? t->params.rekey_timeout_ns / 3
				 : JITTER_MAX;
	const uint32_t bound = (uint32_t)max + 1;
	uint32_t r;

	if (!t->rand)
		return 0;
	r = t->rand(t->rand_ctx, bound);
	return r < bound ? r : r % bound;
}

static uint64_t age(uint64_t now, uint64_t since)
{
	return now > since ? now - since : 0;
}

static uint64_t zero_keys_after(const struct wg_timers *t)
{
	uint64_t reject = t->params.reject_after_time_ns;

	return reject > UINT64_MAX / 3 ? UINT64_MAX : 3 * reject;
}

void wg_timers_params_default(struct wg_timers_params *p)
{
	*p = default_params;
}

static const struct wg_timers_params *params_or_default(const struct wg_timers_params *p)
{
	return p ? p : &default_params;
}

void wg_timers_init(struct wg_timers *t, const struct wg_timers_params *params,
		    wg_timers_rand_fn rand, void *rand_ctx)
{
	memset(t, 0, sizeof(*t));
	t->params = default_params;
	if (params) {
		/* A zero field keeps the protocol's value. */
		if (params->rekey_after_time_ns)
			t->params.rekey_after_time_ns = params->rekey_after_time_ns;
		if (params->reject_after_time_ns)
			t->params.reject_after_time_ns = params->reject_after_time_ns;
		if (params->rekey_attempt_time_ns)
			t->params.rekey_attempt_time_ns = params->rekey_attempt_time_ns;
		if (params->rekey_timeout_ns)
			t->params.rekey_timeout_ns = params->rekey_timeout_ns;
		if (params->keepalive_timeout_ns)
			t->params.keepalive_timeout_ns = params->keepalive_timeout_ns;
	}
	t->rand = rand;
	t->rand_ctx = rand_ctx;
}

void wg_timers_data_sent(struct wg_timers *t, uint64_t now)
{
	if (!armed(t, WG_TIMER_NEW_HANDSHAKE))
		arm(t, WG_TIMER_NEW_HANDSHAKE,
		    after(now,
			  t->params.keepalive_timeout_ns + t->params.rekey_timeout_ns + jitter(t)));
}

void wg_timers_data_received(struct wg_timers *t, uint64_t now)
{
	if (!armed(t, WG_TIMER_SEND_KEEPALIVE))
		arm(t, WG_TIMER_SEND_KEEPALIVE, after(now, t->params.keepalive_timeout_ns));
}

static void traffic(struct wg_timers *t, uint64_t now)
{
	if (t->persistent_keepalive_s)
		arm(t, WG_TIMER_PERSISTENT_KEEPALIVE,
		    after(now, WG_SEC(t->persistent_keepalive_s)));
}

void wg_timers_any_authenticated_packet_sent(struct wg_timers *t, uint64_t now)
{
	disarm(t, WG_TIMER_SEND_KEEPALIVE);
	traffic(t, now);
}

void wg_timers_any_authenticated_packet_received(struct wg_timers *t, uint64_t now)
{
	disarm(t, WG_TIMER_NEW_HANDSHAKE);
	traffic(t, now);
}

static void arm_retransmit(struct wg_timers *t, uint64_t now)
{
	uint64_t at = after(now, t->params.rekey_timeout_ns + jitter(t));
	uint64_t cap = after(t->round_started_ns, t->params.rekey_attempt_time_ns);

	arm(t, WG_TIMER_RETRANSMIT_HANDSHAKE, at < cap ? at : cap);
}

void wg_timers_handshake_initiated(struct wg_timers *t, uint64_t now)
{
	if (!armed(t, WG_TIMER_RETRANSMIT_HANDSHAKE)) {
		t->round_started_ns = now;
		t->attempts = 0;
	}
	if (t->attempts < UINT32_MAX)
		t->attempts++;
	t->last_initiation_ns = now;
	t->initiation_sent = true;
	arm_retransmit(t, now);
}

void wg_timers_session_derived(struct wg_timers *t, uint64_t now)
{
	arm(t, WG_TIMER_ZERO_KEYS, after(now, zero_keys_after(t)));
}

void wg_timers_handshake_complete(struct wg_timers *t, uint64_t now)
{
	disarm(t, WG_TIMER_RETRANSMIT_HANDSHAKE);
	t->attempts = 0;
	t->last_handshake_ns = now;
}

void wg_timers_set_persistent_keepalive(struct wg_timers *t, uint64_t now, uint16_t interval_s)
{
	if (interval_s == t->persistent_keepalive_s)
		return;
	t->persistent_keepalive_s = interval_s;
	if (interval_s)
		arm(t, WG_TIMER_PERSISTENT_KEEPALIVE, now);
	else
		disarm(t, WG_TIMER_PERSISTENT_KEEPALIVE);
}

void wg_timers_keys_zeroed(struct wg_timers *t)
{
	disarm(t, WG_TIMER_ZERO_KEYS);
	disarm(t, WG_TIMER_SEND_KEEPALIVE);
}

uint64_t wg_timers_next_deadline(const struct wg_timers *t)
{
	uint64_t next = 0;

	for (int i = 0; i < WG_TIMER_COUNT; i++)
		if (t->deadline[i] && (!next || t->deadline[i] < next))
			next = t->deadline[i];
	return next;
}

uint64_t wg_timers_deadline(const struct wg_timers *t, enum wg_timer which)
{
	return (unsigned)which < WG_TIMER_COUNT ? t->deadline[which] : 0;
}

bool wg_timers_may_send_initiation(const struct wg_timers *t, uint64_t now)
{
	return !t->initiation_sent || (now >= t->last_initiation_ns &&
				       now - t->last_initiation_ns >= t->params.rekey_timeout_ns);
}

static void give_up(struct wg_timers *t, uint64_t now, struct wg_timers_actions *out)
{
	t->attempts = 0;
	disarm(t, WG_TIMER_SEND_KEEPALIVE);
	disarm(t, WG_TIMER_NEW_HANDSHAKE);
	if (!armed(t, WG_TIMER_ZERO_KEYS))
		arm(t, WG_TIMER_ZERO_KEYS, after(now, zero_keys_after(t)));
	out->set |= WG_TIMERS_GIVE_UP;
}

static void request_initiation(struct wg_timers_actions *out, bool retry, uint32_t attempt)
{
	out->set |= WG_TIMERS_SEND_HANDSHAKE_INITIATION;
	out->initiation_is_retry = retry;
	out->initiation_attempt = attempt;
}

static void fire(struct wg_timers *t, enum wg_timer which, uint64_t now,
		 struct wg_timers_actions *out)
{
	switch (which) {
	case WG_TIMER_RETRANSMIT_HANDSHAKE:
		if (age(now, t->round_started_ns) >= t->params.rekey_attempt_time_ns) {
			give_up(t, now, out);
			break;
		}
		request_initiation(out, true,
				   t->attempts < UINT32_MAX ? t->attempts + 1 : t->attempts);
		arm_retransmit(t, now);
		break;
	case WG_TIMER_SEND_KEEPALIVE:
		out->set |= WG_TIMERS_SEND_KEEPALIVE;
		break;
	case WG_TIMER_NEW_HANDSHAKE:
		if (armed(t, WG_TIMER_RETRANSMIT_HANDSHAKE))
			break;
		if (!wg_timers_may_send_initiation(t, now)) {
			arm(t, WG_TIMER_NEW_HANDSHAKE,
			    after(t->last_initiation_ns, t->params.rekey_timeout_ns));
			break;
		}
		request_initiation(out, false, 1);
		break;
	case WG_TIMER_ZERO_KEYS:
		out->set |= WG_TIMERS_ZERO_KEYS;
		out->set &= ~(unsigned int)WG_TIMERS_SEND_KEEPALIVE;
		disarm(t, WG_TIMER_SEND_KEEPALIVE);
		break;
	case WG_TIMER_PERSISTENT_KEEPALIVE:
		out->set |= WG_TIMERS_PERSISTENT_KEEPALIVE;
		traffic(t, now);
		break;
	case WG_TIMER_COUNT:
		break;
	}
}

unsigned int wg_timers_expire(struct wg_timers *t, uint64_t now, struct wg_timers_actions *out)
{
	struct wg_timers_actions scratch;

	if (!out)
		out = &scratch;
	memset(out, 0, sizeof(*out));
	/* Earliest first, so that a later timer sees what an earlier one did
	 * (a retry re-arms the round before NEW_HANDSHAKE looks at it). */
	for (unsigned int fired = 0;;) {
		int due = -1;

		for (int i = 0; i < WG_TIMER_COUNT; i++)
			if (!(fired & 1u << i) && t->deadline[i] && t->deadline[i] <= now &&
			    (due < 0 || t->deadline[i] < t->deadline[due]))
				due = i;
		if (due < 0)
			break;
		fired |= 1u << due;
		disarm(t, (enum wg_timer)due);
		fire(t, (enum wg_timer)due, now, out);
	}
	return out->set;
}

bool wg_timers_should_rekey_on_send(const struct wg_timers_params *p, uint64_t now,
				    uint64_t created_ns, uint64_t counter, bool we_initiated)
{
	p = params_or_default(p);
	return counter >= WG_REKEY_AFTER_MESSAGES ||
	       (we_initiated && age(now, created_ns) >= p->rekey_after_time_ns);
}

bool wg_timers_should_rekey_on_receive(const struct wg_timers_params *p, uint64_t now,
				       uint64_t created_ns, bool we_initiated)
{
	uint64_t margin, at;

	p = params_or_default(p);
	margin = p->keepalive_timeout_ns + p->rekey_timeout_ns;
	/* Shortened test timings can make the margin exceed the lifetime:
	 * then rekey at the age a send would. */
	at = p->reject_after_time_ns > margin ? p->reject_after_time_ns - margin
					      : p->rekey_after_time_ns;
	return we_initiated && age(now, created_ns) >= at;
}

bool wg_timers_keypair_expired(const struct wg_timers_params *p, uint64_t now, uint64_t created_ns,
			       uint64_t counter)
{
	p = params_or_default(p);
	return counter >= WG_REJECT_AFTER_MESSAGES ||
	       age(now, created_ns) >= p->reject_after_time_ns;
}

bool wg_timers_initiation_too_soon(uint64_t last_accepted_ns, uint64_t now)
{
	if (!last_accepted_ns)
		return false;
	return now < last_accepted_ns || now - last_accepted_ns < INITIATION_SPACING;
}
