/* SPDX-License-Identifier: MIT */
/* The reconnect policy of the portal protocol's section 3, without clocks of its own. */
#include "core/channel/chan.h"

#include <ctype.h>

int64_t nt_chan_retry_failed(struct nt_chan_retry *r, uint64_t now_ms, uint32_t rnd,
			     uint64_t retry_after_ms)
{
	double base = NT_CHAN_BACKOFF_FIRST_MS, delay;

	if (r->failures++ == 0)
		r->outage_start_ms = now_ms;
	if (!r->joined_once) {
		/* The next attempt would start after the early window: report now. */
		if (now_ms - r->outage_start_ms + NT_CHAN_RETRY_EARLY_MS >
		    NT_CHAN_RETRY_EARLY_FOR_MS)
			return -1;
		delay = NT_CHAN_RETRY_EARLY_MS;
	} else {
		if (r->give_up_after_ms && now_ms - r->outage_start_ms >= r->give_up_after_ms)
			return -1;
		for (uint32_t i = 1; i < r->failures && base < NT_CHAN_BACKOFF_MAX_MS; i++)
			base *= 1.5;
		if (base > NT_CHAN_BACKOFF_MAX_MS)
			base = NT_CHAN_BACKOFF_MAX_MS;
		/* rnd / 2^32 in [0, 1): a factor in [0.5, 1.5). */
		delay = base * (0.5 + (double)rnd / 4294967296.0);
		if (delay > NT_CHAN_BACKOFF_MAX_MS)
			delay = NT_CHAN_BACKOFF_MAX_MS;
	}
	if ((double)retry_after_ms > delay)
		delay = (double)retry_after_ms;
	return (int64_t)delay;
}

void nt_chan_retry_joined(struct nt_chan_retry *r)
{
	r->joined_once = true;
	r->failures = 0;
}

uint32_t nt_chan_retry_after_parse(const char *text)
{
	uint32_t s = 0;

	while (*text == ' ' || *text == '\t')
		text++;
	if (!isdigit((unsigned char)*text))
		return 0;
	/* Stops counting once past the cap: no overflow on a long number. */
	for (; isdigit((unsigned char)*text); text++)
		if (s <= NT_CHAN_RETRY_AFTER_MAX_MS / 1000u)
			s = s * 10u + (uint32_t)(*text - '0');
	while (*text == ' ' || *text == '\t')
		text++;
	if (*text)
		return 0;
	return s >= NT_CHAN_RETRY_AFTER_MAX_MS / 1000u ? NT_CHAN_RETRY_AFTER_MAX_MS : s * 1000u;
}
