/* SPDX-License-Identifier: MIT */
/* Big-endian fields and the Internet checksum, for the unit tests that build
 * and read IP packets by hand (test_stack, test_flow, test_splice,
 * test_resolver) and the fuzz harnesses that play a peer (fuzz_client). */
#ifndef NT_TESTS_PKT_BYTES_H
#define NT_TESTS_PKT_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

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

/* An IP packet; the upper-layer checksum (at csum_off in l4, if >= 0) is
 * computed with the pseudo-header, except for ICMPv4 which has none. */
static inline size_t build_ip(uint8_t *buf, int family, const uint8_t *src, const uint8_t *dst,
			      uint8_t proto, const uint8_t *l4, size_t l4_len, int csum_off)
{
	size_t h = family == AF_INET ? 20 : 40;
	uint32_t acc = 0;

	memset(buf, 0, h);
	if (family == AF_INET) {
		buf[0] = 0x45;
		wr16(buf + 2, (uint16_t)(20 + l4_len));
		buf[8] = 64;
		buf[9] = proto;
		memcpy(buf + 12, src, 4);
		memcpy(buf + 16, dst, 4);
		wr16(buf + 10, fold(sum16(buf, 20, 0)));
		if (proto != 1)
			acc = sum16(buf + 12, 8, 0) + proto + (uint32_t)l4_len;
	} else {
		buf[0] = 0x60;
		wr16(buf + 4, (uint16_t)l4_len);
		buf[6] = proto;
		buf[7] = 64;
		memcpy(buf + 8, src, 16);
		memcpy(buf + 24, dst, 16);
		acc = sum16(buf + 8, 32, 0) + proto + (uint32_t)l4_len;
	}
	memcpy(buf + h, l4, l4_len);
	if (csum_off >= 0) {
		wr16(buf + h + csum_off, 0);
		wr16(buf + h + csum_off, fold(sum16(buf + h, l4_len, acc)));
	}
	return h + l4_len;
}

#endif
