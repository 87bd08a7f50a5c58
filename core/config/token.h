/* SPDX-License-Identifier: MIT */
/* Portal tokens (portal-protocol.md section 1): what a client or gateway
 * presents as "Authorization: Bearer TOKEN", and the hash the portal keeps
 * of it. Pure: the caller supplies the random bytes.
 *
 *   token      = prefix base64url(32 random bytes), no padding (47 chars)
 *   prefix     = "ntc_" (client) | "ntg_" (gateway)
 *   TokenHash  = base64(BLAKE2b-256(token)), standard alphabet, padded
 *                (44 chars); libsodium's crypto_generichash without a key,
 *                over the whole token string, prefix included.
 */
#ifndef NT_CORE_CONFIG_TOKEN_H
#define NT_CORE_CONFIG_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NT_TOKEN_RAW_LEN      32
#define NT_TOKEN_PREFIX_LEN   4
#define NT_TOKEN_LEN	      (NT_TOKEN_PREFIX_LEN + 43) /* without the NUL */
#define NT_TOKEN_HASH_LEN     32
#define NT_TOKEN_HASH_B64_LEN 44 /* without the NUL */

enum nt_token_kind { NT_TOKEN_CLIENT, NT_TOKEN_GATEWAY };

/* The token of raw random bytes, NUL-terminated. */
void nt_token_from_bytes(char out[NT_TOKEN_LEN + 1], enum nt_token_kind kind,
			 const uint8_t raw[NT_TOKEN_RAW_LEN]);

/* Whether s (len bytes) is a well-formed token; *kind (optional) gets its
 * kind. Says nothing about whether any portal knows it. */
bool nt_token_check(const char *s, size_t len, enum nt_token_kind *kind);

/* BLAKE2b-256 of the len bytes of token (any bytes: a presented token is
 * hashed before anything is compared, so a malformed one costs the same). */
void nt_token_hash(uint8_t out[NT_TOKEN_HASH_LEN], const char *token, size_t len);

/* A hash as a TokenHash value and back. from_base64: 0 or -EINVAL (only the
 * padded standard form, 44 characters, is taken). */
void nt_token_hash_to_base64(char out[NT_TOKEN_HASH_B64_LEN + 1],
			     const uint8_t hash[NT_TOKEN_HASH_LEN]);
int nt_token_hash_from_base64(uint8_t out[NT_TOKEN_HASH_LEN], const char *s, size_t len);

/* Which of the n stored hashes (each NT_TOKEN_HASH_LEN bytes, stride bytes
 * apart, so the hashes may sit inside larger records) the presented token
 * hashes to: its index, or -1. Every stored hash is compared, in constant
 * time, whatever matched: the time depends on n only. */
long nt_token_find(const char *token, size_t len, const uint8_t *hashes, size_t n, size_t stride);

#endif
