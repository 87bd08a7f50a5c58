/* SPDX-License-Identifier: MIT */
/* WireGuard protocol limits (whitepaper section 6 and the Linux module). The
 * timers module turns them into timers; the protocol modules only check the
 * message counters. Times are given in seconds; WG_SEC converts to the
 * nanoseconds of the platform clock. */
#ifndef NT_CORE_WG_CONSTANTS_H
#define NT_CORE_WG_CONSTANTS_H

#include <stdint.h>

#define WG_SEC(s)   ((uint64_t)(s)*UINT64_C(1000000000))
#define WG_MSEC(ms) ((uint64_t)(ms)*UINT64_C(1000000))

/* Start a new handshake after this many messages on one key pair. */
#define WG_REKEY_AFTER_MESSAGES (UINT64_C(1) << 60)
/* 2^64 - 2^13 - 1: no counter at or above this is ever sent or accepted. */
#define WG_REJECT_AFTER_MESSAGES (UINT64_MAX - (UINT64_C(1) << 13))

#define WG_REKEY_AFTER_TIME_S	   120 /* initiator starts a new handshake */
#define WG_REJECT_AFTER_TIME_S	   180 /* key pair unusable, either side */
#define WG_REKEY_ATTEMPT_TIME_S	   90  /* give up retrying a handshake */
#define WG_REKEY_TIMEOUT_S	   5   /* retry an unanswered initiation */
#define WG_REKEY_TIMEOUT_JITTER_MS 333 /* random extra 0..333 ms per retry */
#define WG_KEEPALIVE_TIMEOUT_S	   10  /* passive keepalive after receiving */
#define WG_COOKIE_SECRET_MAX_AGE_S 120 /* cookie secret rotation; cookie lifetime */
#define WG_COOKIE_SECRET_LATENCY_S 5
/* Retries before giving up: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT. */
#define WG_MAX_TIMER_HANDSHAKES (WG_REKEY_ATTEMPT_TIME_S / WG_REKEY_TIMEOUT_S)
/* A responder ignores initiations from one peer arriving faster than this. */
#define WG_INITIATIONS_PER_SECOND 50

#endif
