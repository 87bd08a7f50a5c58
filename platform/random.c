#include "platform/random.h"

#include <errno.h>
#include <sodium.h>

int nt_platform_init(void)
{
	/* 1 means already initialised, which is fine. */
	return sodium_init() < 0 ? -EIO : 0;
}

void nt_random_bytes(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

uint32_t nt_random_u32_uniform(uint32_t bound)
{
	return bound ? randombytes_uniform(bound) : 0;
}
