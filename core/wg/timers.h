/* SPDX-License-Identifier: MIT */
/* The WireGuard timer state machine of one peer (paper section 6, as the
 * Linux module and wireguard-go run it), without I/O and without a clock.
 *
 * The caller reports events with the current monotonic time in ns, arms one
 * platform timer at wg_timers_next_deadline(), and when it fires calls
 * wg_timers_expire() and performs the actions it returns. "Data" below means
 * a transport message with a non-empty payload; a keepalive is an
 * authenticated packet but not data. The map of timers is at the top of
 * timers.c. */
#ifndef NT_CORE_TIMERS_H
#define NT_CORE_TIMERS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/wg/wg_constants.h"

enum wg_timer {
	WG_TIMER_RETRANSMIT_HANDSHAKE,
	WG_TIMER_SEND_KEEPALIVE,
	WG_TIMER_NEW_HANDSHAKE,
	WG_TIMER_ZERO_KEYS,
	WG_TIMER_PERSISTENT_KEEPALIVE,
	WG_TIMER_COUNT
};

/* What wg_timers_expire() asks of the caller. Perform ZERO_KEYS and GIVE_UP
 * before the sends. */
enum wg_timers_action {
	/* Create and send a handshake initiation, then call
	 * wg_timers_handshake_initiated(); details in wg_timers_actions. */
	WG_TIMERS_SEND_HANDSHAKE_INITIATION = 1u << 0,
	/* Send an empty transport message: we received data and had nothing to answer with. */
	WG_TIMERS_SEND_KEEPALIVE = 1u << 1,
	/* Wipe every keypair and the handshake state of the peer. */
	WG_TIMERS_ZERO_KEYS = 1u << 2,
	/* The handshake did not complete within REKEY_ATTEMPT_TIME: drop the
	 * packets queued for the peer and send no initiation until new data. */
	WG_TIMERS_GIVE_UP = 1u << 3,
	/* Send an empty transport message (or start a handshake when there is
	 * no session) to keep middleboxes' state alive. */
	WG_TIMERS_PERSISTENT_KEEPALIVE = 1u << 4,
};

struct wg_timers_actions {
	unsigned int set; /* enum wg_timers_action bits */
	/* With SEND_HANDSHAKE_INITIATION: true for a retransmission within the
	 * current round, false for a new handshake. */
	bool initiation_is_retry;
	/* With SEND_HANDSHAKE_INITIATION: 1-based number of that initiation in its round. */
	uint32_t initiation_attempt;
};

/* The protocol's durations, in ns. Tests shorten them (a rekey test cannot
 * wait 120 s); everything else uses wg_timers_params_default(). */
struct wg_timers_params {
	uint64_t rekey_after_time_ns;	/* WG_REKEY_AFTER_TIME_S */
	uint64_t reject_after_time_ns;	/* WG_REJECT_AFTER_TIME_S; zero keys at 3x */
	uint64_t rekey_attempt_time_ns; /* WG_REKEY_ATTEMPT_TIME_S */
	uint64_t rekey_timeout_ns;	/* WG_REKEY_TIMEOUT_S; jitter <= min(333 ms, this / 3) */
	uint64_t keepalive_timeout_ns;	/* WG_KEEPALIVE_TIMEOUT_S */
};

void wg_timers_params_default(struct wg_timers_params *p);

/* Uniform in [0, bound). Jitter comes from here so tests can fix it. */
typedef uint32_t (*wg_timers_rand_fn)(void *ctx, uint32_t bound);

/* Per peer, embedded in the peer. Fields are read-only outside timers.c. */
struct wg_timers {
	uint64_t deadline[WG_TIMER_COUNT]; /* monotonic ns, 0 = not armed */
	uint64_t round_started_ns;	   /* first initiation of the current round */
	uint64_t last_initiation_ns;	   /* valid when initiation_sent */
	uint64_t last_handshake_ns;	   /* 0 = never */
	uint32_t attempts;		   /* initiations sent in the current round */
	uint16_t persistent_keepalive_s;   /* 0 = off */
	bool initiation_sent;
	wg_timers_rand_fn rand;
	void *rand_ctx;
	struct wg_timers_params params;
};

/* params NULL: the defaults; a zero field keeps its default. rand may be
 * NULL: no jitter. */
void wg_timers_init(struct wg_timers *t, const struct wg_timers_params *params,
		    wg_timers_rand_fn rand, void *rand_ctx);

/* Events. now is monotonic ns. */
void wg_timers_data_sent(struct wg_timers *t, uint64_t now);
void wg_timers_data_received(struct wg_timers *t, uint64_t now);
/* Any authenticated packet: initiation, response, transport data or keepalive.
 * Both count as traffic for the persistent keepalive. */
void wg_timers_any_authenticated_packet_sent(struct wg_timers *t, uint64_t now);
void wg_timers_any_authenticated_packet_received(struct wg_timers *t, uint64_t now);
/* An initiation was created and handed to the socket (whether or not sendto
 * succeeded). Starts a round when none is in progress. */
void wg_timers_handshake_initiated(struct wg_timers *t, uint64_t now);
/* New transport keys exist: the initiator consumed a response, or the
 * responder created one. */
void wg_timers_session_derived(struct wg_timers *t, uint64_t now);
/* The handshake is confirmed: the initiator consumed a response, or the
 * responder received the first transport message under the new keys. */
void wg_timers_handshake_complete(struct wg_timers *t, uint64_t now);
/* 0 disables. A new non-zero interval asks for one keepalive at once, as
 * wg(8) does, so a NAT mapping exists before the first interval ends. */
void wg_timers_set_persistent_keepalive(struct wg_timers *t, uint64_t now, uint16_t interval_s);
/* The caller wiped the peer's keys on its own (not needed after ZERO_KEYS). */
void wg_timers_keys_zeroed(struct wg_timers *t);

/* Earliest armed deadline, or 0 when none is armed. */
uint64_t wg_timers_next_deadline(const struct wg_timers *t);
uint64_t wg_timers_deadline(const struct wg_timers *t, enum wg_timer which);
/* Processes every deadline <= now, each at most once per call; fills *out
 * (which may be NULL) and returns out->set. */
unsigned int wg_timers_expire(struct wg_timers *t, uint64_t now, struct wg_timers_actions *out);

/* Our own initiations are at least REKEY_TIMEOUT apart. Ask before sending
 * one that wg_timers_expire() did not request (new data, rekey). */
bool wg_timers_may_send_initiation(const struct wg_timers *t, uint64_t now);

/* Keypair facts as plain arguments: created_ns is when the keypair was
 * derived, counter the number of messages sent with it (the next nonce).
 * p is the peer's timers' params (&t->params); NULL means the defaults. */
bool wg_timers_should_rekey_on_send(const struct wg_timers_params *p, uint64_t now,
				    uint64_t created_ns, uint64_t counter, bool we_initiated);
/* A received message on a keypair we initiated that is about to be rejected
 * (REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT old): rekey now,
 * while the peer can still answer under it. */
bool wg_timers_should_rekey_on_receive(const struct wg_timers_params *p, uint64_t now,
				       uint64_t created_ns, bool we_initiated);
/* The keypair may be used neither to send nor to receive. */
bool wg_timers_keypair_expired(const struct wg_timers_params *p, uint64_t now, uint64_t created_ns,
			       uint64_t counter);
/* An initiation from a peer less than 20 ms after the last one we accepted
 * from it is dropped (flood guard). last_accepted_ns 0 = never. */
bool wg_timers_initiation_too_soon(uint64_t last_accepted_ns, uint64_t now);

#endif
