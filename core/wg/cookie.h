/* SPDX-License-Identifier: MIT */
/* mac1, mac2 and cookie replies (whitepaper 5.4.4, 5.4.7), without I/O.
 *
 * Checker: one per interface, for handshake messages sent to us.
 *   mac1 = MAC(HASH("mac1----" || our public key), msg up to mac1)
 *   cookie = MAC(secret, source address bytes), secret random and replaced
 *            when it is 120 s old (checked on use; time comes from the caller)
 *   mac2 = MAC(cookie, msg up to mac2), required only while the caller says
 *          it is under load; without it we answer with a cookie reply:
 *          XChaCha20-Poly1305(HASH("cookie--" || our public key), random
 *          nonce, cookie, AD = the mac1 of the message answered).
 * Maker: one per peer, for handshake messages we send.
 *   add_macs writes mac1, and mac2 while a cookie from the peer is less than
 *   120 s old (zeros otherwise); it remembers the mac1 sent, and a cookie
 *   reply is accepted once, only for that mac1.
 */
#ifndef NT_CORE_COOKIE_H
#define NT_CORE_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/wg/wg_hash.h"
#include "core/wg/wg_messages.h"

struct wg_cookie_checker {
	uint8_t mac1_key[WG_HASH_LEN];
	uint8_t cookie_key[WG_HASH_LEN];
	uint8_t secret[WG_HASH_LEN];
	uint64_t secret_birth_ns;
	bool secret_set;
};

struct wg_cookie_maker {
	uint8_t mac1_key[WG_HASH_LEN];
	uint8_t cookie_key[WG_HASH_LEN];
	uint8_t cookie[WG_COOKIE_LEN];
	uint64_t cookie_birth_ns;
	bool cookie_set;
	uint8_t last_mac1[WG_MAC_LEN];
	bool last_mac1_set;
};

void wg_cookie_checker_init(struct wg_cookie_checker *c, const uint8_t local_public[WG_KEY_LEN]);
void wg_cookie_checker_clear(struct wg_cookie_checker *c);

/* Checks an incoming initiation or response (msg, len: the whole message;
 * src: the sender's address bytes, IP then port). Returns 0 to go on with it,
 * -EBADMSG (mac1 wrong: drop it), -EAGAIN (under load and no valid mac2:
 * answer with wg_cookie_create_reply) or -EINVAL (not a handshake length). */
int wg_cookie_validate(struct wg_cookie_checker *c, const uint8_t *msg, size_t len,
		       const uint8_t *src, size_t src_len, bool under_load, uint64_t now_ns);

/* The cookie reply to msg (an initiation or response whose mac1 was valid),
 * addressed to msg's sender index. 0 or -EINVAL. */
int wg_cookie_create_reply(struct wg_cookie_checker *c, const uint8_t *msg, size_t len,
			   const uint8_t *src, size_t src_len, uint64_t now_ns,
			   struct wg_msg_cookie_reply *out);

void wg_cookie_maker_init(struct wg_cookie_maker *m, const uint8_t remote_public[WG_KEY_LEN]);
void wg_cookie_maker_clear(struct wg_cookie_maker *m);

/* Fills mac1 and mac2 at the end of an outgoing initiation or response. */
void wg_cookie_add_macs(struct wg_cookie_maker *m, uint8_t *msg, size_t len, uint64_t now_ns);

/* Decrypts and remembers the cookie. 0, -EBADMSG (does not decrypt) or
 * -ENOENT (no message of ours waiting for one). */
int wg_cookie_consume_reply(struct wg_cookie_maker *m, const struct wg_msg_cookie_reply *reply,
			    uint64_t now_ns);

#endif
