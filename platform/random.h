/* SPDX-License-Identifier: MIT */
/* Randomness from libsodium (getrandom underneath). */
#ifndef NT_PLATFORM_RANDOM_H
#define NT_PLATFORM_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Initialises libsodium; call once at start-up, before any thread uses
 * crypto or randomness. Idempotent. Returns 0 or -EIO. */
int nt_platform_init(void);

void nt_random_bytes(void *buf, size_t len);
/* Uniform in [0, bound), without modulo bias; 0 when bound is 0. */
uint32_t nt_random_u32_uniform(uint32_t bound);

#endif
