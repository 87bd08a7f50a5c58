/* SPDX-License-Identifier: MIT */
/* TAI64N timestamps for handshake initiations: 12 bytes, big-endian
 * (2^62 + 10 + seconds) then big-endian nanoseconds, as wireguard-go and the
 * Linux module write them (the +10 is the TAI-UTC offset of 1970). Only
 * ordering matters to the receiver, so leap seconds are ignored. */
#ifndef NT_CORE_TAI64N_H
#define NT_CORE_TAI64N_H

#include <stdint.h>

#define WG_TAI64N_BYTES 12

/* Encodes a CLOCK_REALTIME value. Nanoseconds are rounded down to a multiple
 * of 2^24 (about 16.8 ms), so the timestamp does not leak a precise clock
 * and still orders initiations sent at WireGuard's maximum rate (50/s). */
void wg_tai64n_encode(uint8_t out[WG_TAI64N_BYTES], uint64_t realtime_sec, uint32_t nsec);

#endif
