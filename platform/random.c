// SPDX-License-Identifier: MIT
/* Randomness from libsodium. */
#include "platform/random.h"

#include <errno.h>
#include <sodium.h>

/* nt_random_u32_uniform draws from a per-thread block of libsodium output:
 * the WireGuard timers ask for jitter whenever a request goes out without
 * an answer pending, and a getrandom call for each was a measurable share
 * of a short proxied request. A process that forks must not use it in the
 * child (notun starts commands with posix_spawn, which execs at once). */
#define U32_BLOCK 64

static _Thread_local uint32_t block[U32_BLOCK];
static _Thread_local unsigned int block_left;

int nt_platform_init(void)
{
	/* 1 means already initialised, which is fine. */
	return sodium_init() < 0 ? -EIO : 0;
}

void nt_random_bytes(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

static uint32_t next_u32(void)
{
	if (!block_left) {
		randombytes_buf(block, sizeof(block));
		block_left = U32_BLOCK;
	}
	return block[--block_left];
}

uint32_t nt_random_u32_uniform(uint32_t bound)
{
	/* Values below 2^32 mod bound would make the low results likelier.
	 * Fewer than half of all values are rejected, so the loop ends fast. */
	uint32_t reject = bound ? (uint32_t)(0u - bound) % bound : 0;
	uint32_t r;

	if (bound < 2)
		return 0;
	do
		r = next_u32();
	while (r < reject);
	return r % bound;
}
