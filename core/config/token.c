// SPDX-License-Identifier: MIT
/* Portal tokens: format, hash, constant-time lookup (token.h). */
#include "core/config/token.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

static const char *const prefixes[] = {[NT_TOKEN_CLIENT] = "ntc_", [NT_TOKEN_GATEWAY] = "ntg_"};

void nt_token_from_bytes(char out[NT_TOKEN_LEN + 1], enum nt_token_kind kind,
			 const uint8_t raw[NT_TOKEN_RAW_LEN])
{
	memcpy(out, prefixes[kind], NT_TOKEN_PREFIX_LEN);
	sodium_bin2base64(out + NT_TOKEN_PREFIX_LEN, NT_TOKEN_LEN + 1 - NT_TOKEN_PREFIX_LEN, raw,
			  NT_TOKEN_RAW_LEN, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool nt_token_check(const char *s, size_t len, enum nt_token_kind *kind)
{
	uint8_t raw[NT_TOKEN_RAW_LEN];
	size_t bin_len = 0;
	const char *end = NULL;
	enum nt_token_kind k;
	bool ok;

	if (len != NT_TOKEN_LEN)
		return false;
	if (memcmp(s, prefixes[NT_TOKEN_CLIENT], NT_TOKEN_PREFIX_LEN) == 0)
		k = NT_TOKEN_CLIENT;
	else if (memcmp(s, prefixes[NT_TOKEN_GATEWAY], NT_TOKEN_PREFIX_LEN) == 0)
		k = NT_TOKEN_GATEWAY;
	else
		return false;
	/* 43 characters carry 258 bits: the last one's low 2 bits must be 0,
	 * which libsodium checks, so each token has exactly one spelling. */
	ok = sodium_base642bin(raw, sizeof(raw), s + NT_TOKEN_PREFIX_LEN, len - NT_TOKEN_PREFIX_LEN,
			       NULL, &bin_len, &end,
			       sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
	     bin_len == NT_TOKEN_RAW_LEN && end == s + len;
	sodium_memzero(raw, sizeof(raw));
	if (ok && kind)
		*kind = k;
	return ok;
}

void nt_token_hash(uint8_t out[NT_TOKEN_HASH_LEN], const char *token, size_t len)
{
	crypto_generichash(out, NT_TOKEN_HASH_LEN, (const unsigned char *)token, len, NULL, 0);
}

void nt_token_hash_to_base64(char out[NT_TOKEN_HASH_B64_LEN + 1],
			     const uint8_t hash[NT_TOKEN_HASH_LEN])
{
	sodium_bin2base64(out, NT_TOKEN_HASH_B64_LEN + 1, hash, NT_TOKEN_HASH_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
}

int nt_token_hash_from_base64(uint8_t out[NT_TOKEN_HASH_LEN], const char *s, size_t len)
{
	size_t bin_len = 0;
	const char *end = NULL;

	if (len != NT_TOKEN_HASH_B64_LEN ||
	    sodium_base642bin(out, NT_TOKEN_HASH_LEN, s, len, NULL, &bin_len, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    bin_len != NT_TOKEN_HASH_LEN || end != s + len)
		return -EINVAL;
	return 0;
}

long nt_token_find(const char *token, size_t len, const uint8_t *hashes, size_t n, size_t stride)
{
	uint8_t h[NT_TOKEN_HASH_LEN];
	unsigned long found = 0, index = 0;

	nt_token_hash(h, token, len);
	for (size_t i = 0; i < n; i++) {
		/* all ones when equal, zero otherwise; no branch on the result */
		unsigned long eq =
		    0UL - (unsigned long)(sodium_memcmp(h, hashes + i * stride, sizeof(h)) == 0);

		index |= eq & ~found & (unsigned long)i;
		found |= eq;
	}
	sodium_memzero(h, sizeof(h));
	return found ? (long)index : -1;
}
