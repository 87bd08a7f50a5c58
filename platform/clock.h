/* SPDX-License-Identifier: MIT */
/* Clocks in nanoseconds. The monotonic clock drives timers and the loop;
 * the real-time clock is for timestamps shown to humans (logs, status). */
#ifndef NT_PLATFORM_CLOCK_H
#define NT_PLATFORM_CLOCK_H

#include <stdint.h>

#define NT_NS_PER_MS  1000000ull
#define NT_NS_PER_SEC 1000000000ull

uint64_t nt_clock_mono_ns(void);
uint64_t nt_clock_real_ns(void);

#endif
