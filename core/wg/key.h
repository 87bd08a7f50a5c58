/* SPDX-License-Identifier: MIT */
/* WireGuard keys as text: 32 bytes, standard base64, 44 characters with one
 * '=' of padding, byte-compatible with wg(8) genkey/pubkey/genpsk. */
#ifndef NT_CORE_KEY_H
#define NT_CORE_KEY_H

#include <stddef.h>
#include <stdint.h>

#define NT_KEY_LEN 32
#define NT_KEY_B64_LEN 44 /* without the terminating NUL */

void nt_key_to_base64(char out[NT_KEY_B64_LEN + 1], const uint8_t key[NT_KEY_LEN]);
/* Strict: exactly 44 characters, canonical padding bits. 0 or -EINVAL. */
int nt_key_from_base64(uint8_t key[NT_KEY_LEN], const char *text, size_t len);
/* Curve25519 clamping, as wg genkey stores private keys. */
void nt_key_clamp(uint8_t key[NT_KEY_LEN]);
void nt_key_generate_private(uint8_t key[NT_KEY_LEN]);
/* 0, or -EINVAL when the result would be the all-zero point. */
int nt_key_public(uint8_t pub[NT_KEY_LEN], const uint8_t priv[NT_KEY_LEN]);

#endif
