/* SPDX-License-Identifier: MIT */
/* Noise_IKpsk2 handshake of WireGuard (whitepaper section 5.4), without I/O.
 *
 * One struct wg_noise_handshake per peer, owned by the caller. Its states:
 *
 *   ZEROED --create_initiation--> INITIATION_CREATED --consume_response--> RESPONSE_CONSUMED
 *   any    --consume_initiation-> INITIATION_CONSUMED --create_response--> RESPONSE_CREATED
 *   RESPONSE_CONSUMED | RESPONSE_CREATED --derive_keys--> ZEROED (keys handed to the caller)
 *   any    --clear--> ZEROED
 *
 * A failed call leaves the handshake as it was, so a forged message cannot
 * disturb a handshake in progress. Receiving an initiation replaces any state
 * (both sides may initiate at once; the later message wins, as in WireGuard).
 * There are no timers here: retries, expiry and rate limits of initiations
 * are the caller's (timers module), and so are mac1/mac2 (cookie module,
 * applied to the message after create_* and checked before consume_*).
 *
 * Lookups go through upcalls: the responder learns who is calling only after
 * decrypting the initiator's static key, and the initiator finds its pending
 * handshake from the receiver index of a response.
 */
#ifndef NT_CORE_NOISE_H
#define NT_CORE_NOISE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/wg/wg_hash.h"
#include "core/wg/wg_messages.h"

enum wg_noise_state {
	WG_NOISE_ZEROED = 0,
	WG_NOISE_INITIATION_CREATED,
	WG_NOISE_INITIATION_CONSUMED,
	WG_NOISE_RESPONSE_CREATED,
	WG_NOISE_RESPONSE_CONSUMED,
};

/* This interface's identity. */
struct wg_noise_static {
	uint8_t private_key[WG_KEY_LEN];
	uint8_t public_key[WG_KEY_LEN];
};

struct wg_noise_handshake {
	enum wg_noise_state state;
	/* Set by init, constant for the life of the peer. */
	uint8_t remote_static[WG_KEY_LEN];
	uint8_t psk[WG_KEY_LEN];
	uint8_t static_static[WG_KEY_LEN]; /* DH(local static, remote static) */
	/* Greatest TAI64N accepted from this peer, and when (monotonic ns);
	 * both survive clear, so that an old initiation can never be replayed. */
	uint8_t latest_timestamp[WG_TAI64N_LEN];
	uint64_t last_initiation_ns;
	bool initiation_seen;
	/* One handshake's worth of state. */
	uint32_t local_index;
	uint32_t remote_index;
	uint8_t ephemeral_private[WG_KEY_LEN];
	uint8_t remote_ephemeral[WG_KEY_LEN];
	uint8_t hash[WG_HASH_LEN];
	uint8_t chaining_key[WG_HASH_LEN];
};

/* Transport keys of a completed handshake. */
struct wg_noise_keys {
	uint8_t send[WG_KEY_LEN];
	uint8_t recv[WG_KEY_LEN];
	uint32_t local_index;  /* what the peer puts in the receiver field to us */
	uint32_t remote_index; /* what we put in the receiver field to the peer */
	bool initiator;
};

/* The caller's tables. peer_by_static is needed by a responder,
 * handshake_by_index by an initiator; arg is passed back to each. */
struct wg_noise_upcalls {
	void *arg;
	/* Responder: the handshake of the peer with this static key, or NULL. */
	struct wg_noise_handshake *(*peer_by_static)(void *arg, const uint8_t remote_static[32]);
	/* Initiator: the handshake that sent an initiation with this local index, or NULL. */
	struct wg_noise_handshake *(*handshake_by_index)(void *arg, uint32_t local_index);
	/* Optional: fills a fresh ephemeral private key. NULL means libsodium's
	 * randombytes, which is what production uses; tests inject fixed keys. */
	void (*ephemeral_private)(void *arg, uint8_t key[32]);
};

/* Derives the public key. 0, or -EINVAL if it would be the zero point. */
int wg_noise_static_init(struct wg_noise_static *s, const uint8_t private_key[WG_KEY_LEN]);
void wg_noise_static_clear(struct wg_noise_static *s);

/* Sets up a peer's handshake; psk may be NULL (all zeros). Returns 0, or
 * -EINVAL if the remote key is a low-order point (DH result all zeros). */
int wg_noise_handshake_init(struct wg_noise_handshake *hs, const struct wg_noise_static *local,
			    const uint8_t remote_static[WG_KEY_LEN], const uint8_t *psk);
void wg_noise_handshake_set_psk(struct wg_noise_handshake *hs, const uint8_t *psk);
/* Forgets the handshake in progress (ZEROED); keeps the peer's identity and timestamp. */
void wg_noise_handshake_clear(struct wg_noise_handshake *hs);
/* Wipes everything, for a peer being removed. */
void wg_noise_handshake_wipe(struct wg_noise_handshake *hs);

/* Fills out (mac1/mac2 zeroed) with an initiation under local_index and the
 * caller's TAI64N timestamp. 0, or -EINVAL. */
int wg_noise_create_initiation(struct wg_noise_handshake *hs, const struct wg_noise_static *local,
			       const struct wg_noise_upcalls *up, uint32_t local_index,
			       const uint8_t timestamp[WG_TAI64N_LEN],
			       struct wg_msg_initiation *out);

/* On success *hs_out is the peer's handshake, now INITIATION_CONSUMED.
 * now_ns is the monotonic time. Errors: -EBADMSG (does not authenticate, or
 * a low-order ephemeral key), -ENOENT (unknown static key), -ESTALE
 * (timestamp not newer than the last accepted one: a replay), -EBUSY (less
 * than 1/WG_INITIATIONS_PER_SECOND after the last accepted one: a flood). */
int wg_noise_consume_initiation(const struct wg_noise_static *local,
				const struct wg_noise_upcalls *up,
				const struct wg_msg_initiation *msg, uint64_t now_ns,
				struct wg_noise_handshake **hs_out);

/* Requires INITIATION_CONSUMED. Fills out (mac1/mac2 zeroed). 0 or -EINVAL. */
int wg_noise_create_response(struct wg_noise_handshake *hs, const struct wg_noise_upcalls *up,
			     uint32_t local_index, struct wg_msg_response *out);

/* On success *hs_out is RESPONSE_CONSUMED. Errors: -ENOENT (no initiation
 * pending under the receiver index), -EBADMSG (does not authenticate). */
int wg_noise_consume_response(const struct wg_noise_static *local,
			      const struct wg_noise_upcalls *up, const struct wg_msg_response *msg,
			      struct wg_noise_handshake **hs_out);

/* Requires RESPONSE_CONSUMED (initiator) or RESPONSE_CREATED (responder).
 * Fills keys and clears the handshake. 0 or -EINVAL. */
int wg_noise_derive_keys(struct wg_noise_handshake *hs, struct wg_noise_keys *keys);
void wg_noise_keys_clear(struct wg_noise_keys *keys);

#endif
