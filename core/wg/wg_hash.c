// SPDX-License-Identifier: MIT
/* HASH, MAC, HMAC and KDF of the WireGuard handshake, on BLAKE2s. */
#include "core/wg/wg_hash.h"

#include <blake2.h>
#include <sodium.h>
#include <string.h>

#define HMAC_BLOCK 64

void wg_hash(uint8_t out[WG_HASH_LEN], const void *in, size_t len)
{
	blake2s(out, in, NULL, WG_HASH_LEN, len, 0);
}

void wg_hash2(uint8_t out[WG_HASH_LEN], const void *a, size_t alen, const void *b, size_t blen)
{
	blake2s_state st;

	blake2s_init(&st, WG_HASH_LEN);
	blake2s_update(&st, a, alen);
	blake2s_update(&st, b, blen);
	blake2s_final(&st, out, WG_HASH_LEN);
	sodium_memzero(&st, sizeof(st));
}

void wg_mac(uint8_t out[WG_MAC_LEN], const uint8_t *key, size_t key_len, const void *in, size_t len)
{
	blake2s(out, in, key, WG_MAC_LEN, len, key_len);
}

void wg_hmac(uint8_t out[WG_HASH_LEN], const uint8_t *key, size_t key_len, const void *in,
	     size_t len)
{
	uint8_t pad[HMAC_BLOCK];
	uint8_t inner[WG_HASH_LEN];
	blake2s_state st;
	size_t i;

	memset(pad, 0, sizeof(pad));
	/* RFC 2104: a key longer than the block is replaced by its hash.
	 * WireGuard's keys are all 32 bytes; this keeps the function HMAC. */
	if (key_len > HMAC_BLOCK)
		wg_hash(pad, key, key_len);
	else if (key_len)
		memcpy(pad, key, key_len);
	for (i = 0; i < HMAC_BLOCK; i++)
		pad[i] ^= 0x36;
	blake2s_init(&st, WG_HASH_LEN);
	blake2s_update(&st, pad, HMAC_BLOCK);
	blake2s_update(&st, in, len);
	blake2s_final(&st, inner, WG_HASH_LEN);

	/* ipad ^ opad turns the inner pad into the outer one in place. */
	for (i = 0; i < HMAC_BLOCK; i++)
		pad[i] ^= 0x36 ^ 0x5c;
	blake2s_init(&st, WG_HASH_LEN);
	blake2s_update(&st, pad, HMAC_BLOCK);
	blake2s_update(&st, inner, WG_HASH_LEN);
	blake2s_final(&st, out, WG_HASH_LEN);

	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
	sodium_memzero(&st, sizeof(st));
}

void wg_kdf(uint8_t t1[WG_HASH_LEN], uint8_t *t2, uint8_t *t3, const uint8_t ck[WG_HASH_LEN],
	    const void *in, size_t len)
{
	uint8_t prk[WG_HASH_LEN];
	uint8_t t[3][WG_HASH_LEN];
	uint8_t block[WG_HASH_LEN + 1];
	int n = t3 ? 3 : t2 ? 2 : 1;
	int i;

	wg_hmac(prk, ck, WG_HASH_LEN, in, len);
	/* T1 = HMAC(prk, 0x01), Ti = HMAC(prk, Ti-1 || i). */
	block[0] = 1;
	wg_hmac(t[0], prk, WG_HASH_LEN, block, 1);
	for (i = 1; i < n; i++) {
		memcpy(block, t[i - 1], WG_HASH_LEN);
		block[WG_HASH_LEN] = (uint8_t)(i + 1);
		wg_hmac(t[i], prk, WG_HASH_LEN, block, sizeof(block));
	}
	/* Written last, so that an output may alias ck. */
	memcpy(t1, t[0], WG_HASH_LEN);
	if (t2)
		memcpy(t2, t[1], WG_HASH_LEN);
	if (t3)
		memcpy(t3, t[2], WG_HASH_LEN);
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(t, sizeof(t));
	sodium_memzero(block, sizeof(block));
}

void wg_hash_initial(uint8_t ck[WG_HASH_LEN], uint8_t h[WG_HASH_LEN])
{
	wg_hash(ck, WG_CONSTRUCTION, sizeof(WG_CONSTRUCTION) - 1);
	wg_hash2(h, ck, WG_HASH_LEN, WG_IDENTIFIER, sizeof(WG_IDENTIFIER) - 1);
}

void wg_mix_hash(uint8_t h[WG_HASH_LEN], const void *in, size_t len)
{
	wg_hash2(h, h, WG_HASH_LEN, in, len);
}

void wg_mix_ck(uint8_t ck[WG_HASH_LEN], const void *in, size_t len)
{
	wg_kdf(ck, NULL, NULL, ck, in, len);
}

void wg_mix_key(uint8_t ck[WG_HASH_LEN], uint8_t key[WG_KEY_LEN], const void *in, size_t len)
{
	wg_kdf(ck, key, NULL, ck, in, len);
}

void wg_mix_psk(uint8_t ck[WG_HASH_LEN], uint8_t h[WG_HASH_LEN], uint8_t key[WG_KEY_LEN],
		const uint8_t psk[WG_KEY_LEN])
{
	uint8_t tau[WG_HASH_LEN];

	wg_kdf(ck, tau, key, ck, psk, WG_KEY_LEN);
	wg_mix_hash(h, tau, sizeof(tau));
	sodium_memzero(tau, sizeof(tau));
}
