// SPDX-License-Identifier: MIT
/* TAI64N timestamps for handshake initiations. */
#include "core/wg/tai64n.h"

#define TAI64_BASE     (UINT64_C(1) << 62)
#define TAI_UTC_1970   10
#define WHITENING_MASK ((UINT32_C(1) << 24) - 1)

void wg_tai64n_encode(uint8_t out[WG_TAI64N_BYTES], uint64_t realtime_sec, uint32_t nsec)
{
	uint64_t label = TAI64_BASE + TAI_UTC_1970 + realtime_sec;
	int i;

	if (nsec >= 1000000000u)
		nsec = 999999999u;
	nsec &= ~WHITENING_MASK;
	for (i = 0; i < 8; i++)
		out[i] = (uint8_t)(label >> (56 - 8 * i));
	for (i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(nsec >> (24 - 8 * i));
}
