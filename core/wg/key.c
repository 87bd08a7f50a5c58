// SPDX-License-Identifier: MIT
/* WireGuard keys as base64 text, as wg(8) writes them. */
#include "core/wg/key.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

void nt_key_to_base64(char out[NT_KEY_B64_LEN + 1], const uint8_t key[NT_KEY_LEN])
{
	sodium_bin2base64(out, NT_KEY_B64_LEN + 1, key, NT_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
}

int nt_key_from_base64(uint8_t key[NT_KEY_LEN], const char *text, size_t len)
{
	uint8_t tmp[NT_KEY_LEN];
	size_t bin_len = 0;
	const char *end = NULL;
	int ret = -EINVAL;

	/* libsodium rejects non-zero padding bits, as wg does, so every key
	 * has exactly one accepted spelling. */
	if (len != NT_KEY_B64_LEN || text[NT_KEY_B64_LEN - 1] != '=')
		return -EINVAL;
	if (sodium_base642bin(tmp, sizeof(tmp), text, len, NULL, &bin_len, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		goto out;
	if (bin_len != NT_KEY_LEN || end != text + len)
		goto out;
	memcpy(key, tmp, NT_KEY_LEN);
	ret = 0;
out:
	sodium_memzero(tmp, sizeof(tmp));
	return ret;
}

void nt_key_clamp(uint8_t key[NT_KEY_LEN])
{
	key[0] &= 248;
	key[31] = (key[31] & 127) | 64;
}

void nt_key_generate_private(uint8_t key[NT_KEY_LEN])
{
	randombytes_buf(key, NT_KEY_LEN);
	nt_key_clamp(key);
}

int nt_key_public(uint8_t pub[NT_KEY_LEN], const uint8_t priv[NT_KEY_LEN])
{
	if (crypto_scalarmult_curve25519_base(pub, priv) != 0)
		return -EINVAL;
	return 0;
}
