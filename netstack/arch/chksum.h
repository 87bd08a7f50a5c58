/* SPDX-License-Identifier: MIT */
#ifndef NT_LWIP_ARCH_CHKSUM_H
#define NT_LWIP_ARCH_CHKSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The Internet checksum (RFC 1071) 8 bytes at a time: lwIP's own adds 2
 * bytes per step, and it summed every byte notun sends (the tunnel's inner
 * checksums are generated in software). Returns what lwIP's
 * lwip_standard_chksum does: the folded, non-inverted 16-bit sum of the
 * bytes as loaded in host order, byte 0 of data in the low half on a
 * little-endian host; any alignment. */
static inline uint16_t nt_lwip_chksum(const void *data, int len)
{
	const uint8_t *p = (const uint8_t *)data;
	uint64_t sum = 0;
	size_t n = len > 0 ? (size_t)len : 0;

	/* Two 32-bit halves per load: 2^32 loads before the sum could carry out. */
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		sum += (v & 0xffffffffu) + (v >> 32);
	}
	if (n >= 4) {
		uint32_t v;

		memcpy(&v, p, 4);
		sum += v;
		p += 4;
		n -= 4;
	}
	if (n >= 2) {
		uint16_t v;

		memcpy(&v, p, 2);
		sum += v;
		p += 2;
		n -= 2;
	}
	if (n) {
		uint16_t v = 0;

		memcpy(&v, p, 1); /* the odd byte, zero-padded, in memory order */
		sum += v;
	}
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)sum;
}

#endif
