/* SPDX-License-Identifier: MIT */
/* Big-endian fields and the Internet checksum, for the unit tests that build
 * and read IP packets by hand (test_stack, test_flow, test_splice,
 * test_resolver). */
#ifndef NT_TESTS_PKT_BYTES_H
#define NT_TESTS_PKT_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

/* Adds len bytes as 16-bit words to acc (an odd last byte is padded). */
static inline uint32_t sum16(const uint8_t *p, size_t len, uint32_t acc)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		acc += rd16(p + i);
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	return acc;
}

/* The checksum field for a sum16() total. */
static inline uint16_t fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)~acc;
}

#endif
