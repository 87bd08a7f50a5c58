/* SPDX-License-Identifier: MIT */
/* The symmetric primitives of the WireGuard handshake, all on BLAKE2s:
 * HASH (BLAKE2s-256), MAC (keyed BLAKE2s-128, not HMAC), HMAC-BLAKE2s with a
 * 64-byte block, and the Noise KDF built on it. Nothing here allocates or fails
 * at run time, so every function returns void. */
#ifndef NT_CORE_WG_HASH_H
#define NT_CORE_WG_HASH_H

#include <stddef.h>
#include <stdint.h>

#define WG_HASH_LEN 32
#define WG_MAC_LEN  16
#define WG_KEY_LEN  32

#define WG_CONSTRUCTION "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
#define WG_IDENTIFIER	"WireGuard v1 zx2c4 Jason@zx2c4.com"
#define WG_LABEL_MAC1	"mac1----"
#define WG_LABEL_COOKIE "cookie--"

/* HASH(in) */
void wg_hash(uint8_t out[WG_HASH_LEN], const void *in, size_t len);
/* HASH(a || b): the label-keyed derivations and MixHash use this shape. */
void wg_hash2(uint8_t out[WG_HASH_LEN], const void *a, size_t alen, const void *b, size_t blen);
/* MAC(key, in): keyed BLAKE2s with a 16-byte output. key_len is 1..32. */
void wg_mac(uint8_t out[WG_MAC_LEN], const uint8_t *key, size_t key_len, const void *in,
	    size_t len);
/* HMAC-BLAKE2s(key, in), any key length; out may alias in. */
void wg_hmac(uint8_t out[WG_HASH_LEN], const uint8_t *key, size_t key_len, const void *in,
	     size_t len);
/* Noise HKDF from chaining key ck: t1 = KDF1, t1 t2 = KDF2, t1 t2 t3 = KDF3.
 * t2 and t3 may be NULL. Outputs may alias ck. */
void wg_kdf(uint8_t t1[WG_HASH_LEN], uint8_t *t2, uint8_t *t3, const uint8_t ck[WG_HASH_LEN],
	    const void *in, size_t len);

/* The initial chaining key C0 = HASH(CONSTRUCTION) and hash H0 = HASH(C0 || IDENTIFIER). */
void wg_hash_initial(uint8_t ck[WG_HASH_LEN], uint8_t h[WG_HASH_LEN]);
/* h = HASH(h || in) */
void wg_mix_hash(uint8_t h[WG_HASH_LEN], const void *in, size_t len);
/* ck = KDF1(ck, in) */
void wg_mix_ck(uint8_t ck[WG_HASH_LEN], const void *in, size_t len);
/* ck, key = KDF2(ck, in) */
void wg_mix_key(uint8_t ck[WG_HASH_LEN], uint8_t key[WG_KEY_LEN], const void *in, size_t len);
/* ck, tau, key = KDF3(ck, psk); h = HASH(h || tau) */
void wg_mix_psk(uint8_t ck[WG_HASH_LEN], uint8_t h[WG_HASH_LEN], uint8_t key[WG_KEY_LEN],
		const uint8_t psk[WG_KEY_LEN]);

#endif
