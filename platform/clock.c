// SPDX-License-Identifier: MIT
/* Monotonic and real-time clocks in nanoseconds. */
#include "platform/clock.h"

#include <time.h>

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	/* Cannot fail for these clock ids on Linux. */
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * NT_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t nt_clock_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t nt_clock_real_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}
