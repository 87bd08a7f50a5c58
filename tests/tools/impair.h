/* SPDX-License-Identifier: MIT */
/* udprelay's impairments of one direction: their settings, the options that
 * set them, and the decisions taken on each datagram's arrival (drop, flip a
 * bit, when it may leave). No I/O here; the relay owns sockets and queues.
 * Static inline: udprelay is one file linked with libnotun. */
#ifndef NT_TESTS_IMPAIR_H
#define NT_TESTS_IMPAIR_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/clock.h"
#include "tests/tools/tool_args.h"

#define IMP_MAX_DELAY_MS	  10000.0
#define IMP_MAX_SECONDS		  86400.0
#define IMP_MAX_RATE		  (UINT64_C(1) << 40) /* bytes/s */
#define IMP_RATE_BURST_DEFAULT_MS 10		      /* bucket depth: this much of the rate */
#define IMP_RATE_BURST_MIN	  16384u	      /* ... but at least this many bytes */
#define IMP_RATE_QUEUE_DEFAULT_MS 100.0
#define IMP_NONE		  UINT64_MAX

/* One direction's settings. */
struct imp {
	uint64_t delay_ns, jitter_ns;
	double loss, reorder, duplicate, corrupt; /* percent */
	double burst_p, burst_r, burst_h;	  /* Gilbert-Elliott, percent; p 0: off */
	uint64_t rate;				  /* bytes/s; 0: unlimited */
	uint64_t rate_burst;			  /* bucket depth, bytes; 0: the default */
	uint64_t rate_queue_ns;			  /* longest wait for tokens */
	uint64_t blackhole_ns;			  /* length of a blackhole; 0: none */
	uint64_t blackhole_at_ns;		  /* one from this long after the start */
};

/* One direction's state. */
struct imp_state {
	uint64_t prng;
	bool bad; /* Gilbert-Elliott: in the bad state */
	uint64_t hole_from_ns, hole_until_ns;
	double tokens; /* may go negative: datagrams waiting for the bucket */
	uint64_t bucket_ns;
};

enum imp_verdict { IMP_PASS, IMP_BLACKHOLE, IMP_LOSS, IMP_BURST, IMP_RATE };

enum imp_kind { IMP_MS, IMP_PCT, IMP_BURST3, IMP_BYTES, IMP_SECONDS };

struct imp_opt {
	const char *name;
	enum imp_kind kind;
	size_t off;
};

static const struct imp_opt imp_opts[] = {
    {"delay-ms", IMP_MS, offsetof(struct imp, delay_ns)},
    {"jitter-ms", IMP_MS, offsetof(struct imp, jitter_ns)},
    {"loss", IMP_PCT, offsetof(struct imp, loss)},
    {"reorder", IMP_PCT, offsetof(struct imp, reorder)},
    {"duplicate", IMP_PCT, offsetof(struct imp, duplicate)},
    {"corrupt", IMP_PCT, offsetof(struct imp, corrupt)},
    {"burst", IMP_BURST3, offsetof(struct imp, burst_p)},
    {"rate", IMP_BYTES, offsetof(struct imp, rate)},
    {"rate-burst", IMP_BYTES, offsetof(struct imp, rate_burst)},
    {"rate-queue-ms", IMP_MS, offsetof(struct imp, rate_queue_ns)},
    {"blackhole", IMP_SECONDS, offsetof(struct imp, blackhole_ns)},
    {"blackhole-at", IMP_SECONDS, offsetof(struct imp, blackhole_at_ns)},
};
#define IMP_N_OPTS (sizeof(imp_opts) / sizeof(imp_opts[0]))

static inline void imp_defaults(struct imp *im)
{
	memset(im, 0, sizeof(*im));
	im->rate_queue_ns = (uint64_t)(IMP_RATE_QUEUE_DEFAULT_MS * (double)NT_NS_PER_MS);
	im->blackhole_at_ns = IMP_NONE;
}

/* Sets option o of im from text. 0 or -EINVAL. */
static inline int imp_parse(const struct imp_opt *o, const char *text, struct imp *im)
{
	void *field = (char *)im + o->off;
	double d, g[3];
	uint64_t v;
	char *end;

	switch (o->kind) {
	case IMP_MS:
	case IMP_SECONDS:
		if (tool_parse_double(
			text, 0, o->kind == IMP_MS ? IMP_MAX_DELAY_MS : IMP_MAX_SECONDS, &d) < 0)
			return -EINVAL;
		v = (uint64_t)(d * (double)(o->kind == IMP_MS ? NT_NS_PER_MS : NT_NS_PER_SEC) +
			       0.5);
		memcpy(field, &v, sizeof(v));
		return 0;
	case IMP_PCT:
		if (tool_parse_double(text, 0, 100, &d) < 0)
			return -EINVAL;
		memcpy(field, &d, sizeof(d));
		return 0;
	case IMP_BURST3:
		for (int i = 0; i < 3; i++) {
			g[i] = strtod(text, &end);
			if (end == text || g[i] < 0 || g[i] > 100 || *end != (i < 2 ? ',' : '\0'))
				return -EINVAL;
			text = end + 1;
		}
		im->burst_p = g[0];
		im->burst_r = g[1];
		im->burst_h = g[2];
		return 0;
	case IMP_BYTES:
		if (tool_parse_u64(text, 0, IMP_MAX_RATE, &v) < 0)
			return -EINVAL;
		memcpy(field, &v, sizeof(v));
		return 0;
	}
	return -EINVAL;
}

/* ---- randomness: reproducible per direction, not secret ---- */

static inline uint64_t imp_prng_next(uint64_t *state)
{
	/* splitmix64 */
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* True with probability pct/100; draws nothing when pct is 0, so that a run
 * without an impairment draws the same numbers as before it existed. */
static inline bool imp_roll(struct imp_state *st, double pct)
{
	if (pct <= 0)
		return false;
	return (double)(imp_prng_next(&st->prng) >> 11) * 0x1p-53 * 100.0 < pct;
}

static inline uint64_t imp_depth(const struct imp *im)
{
	uint64_t depth = im->rate * IMP_RATE_BURST_DEFAULT_MS / 1000;

	if (im->rate_burst)
		return im->rate_burst;
	return depth > IMP_RATE_BURST_MIN ? depth : IMP_RATE_BURST_MIN;
}

static inline void imp_start(struct imp_state *st, const struct imp *im, uint64_t seed,
			     uint64_t start_ns)
{
	memset(st, 0, sizeof(*st));
	st->prng = seed;
	st->bucket_ns = start_ns;
	st->tokens = (double)imp_depth(im); /* starts full */
	if (im->blackhole_ns && im->blackhole_at_ns != IMP_NONE) {
		st->hole_from_ns = start_ns + im->blackhole_at_ns;
		st->hole_until_ns = st->hole_from_ns + im->blackhole_ns;
	}
}

/* SIGUSR2: a blackhole of the configured length from now on. */
static inline void imp_blackhole_now(struct imp_state *st, const struct imp *im, uint64_t now)
{
	if (!im->blackhole_ns)
		return;
	st->hole_from_ns = now;
	st->hole_until_ns = now + im->blackhole_ns;
}

static inline uint64_t imp_due(struct imp_state *st, const struct imp *im, uint64_t now)
{
	uint64_t j, late;

	if (!im->jitter_ns)
		return now + im->delay_ns;
	/* delay + j - jitter, with j uniform in [0, 2 * jitter] (modulo bias is
	 * negligible) and the result clamped at now. */
	j = imp_prng_next(&st->prng) % (2 * im->jitter_ns + 1);
	late = im->delay_ns + j;
	return late > im->jitter_ns ? now + late - im->jitter_ns : now;
}

/* The token bucket: *due moves to when len bytes of tokens are there; false
 * (a tail drop, nothing spent) when that is more than rate_queue_ns away. */
static inline bool imp_shape(struct imp_state *st, const struct imp *im, uint32_t len,
			     uint64_t *due)
{
	double wait_s;

	if (!im->rate)
		return true;
	if (*due > st->bucket_ns) {
		st->tokens += (double)(*due - st->bucket_ns) * (double)im->rate / 1e9;
		if (st->tokens > (double)imp_depth(im))
			st->tokens = (double)imp_depth(im);
		st->bucket_ns = *due;
	}
	wait_s = st->tokens >= len ? 0 : ((double)len - st->tokens) / (double)im->rate;
	if (st->bucket_ns + (uint64_t)(wait_s * 1e9) - *due > im->rate_queue_ns)
		return false;
	st->tokens -= len;
	*due = st->bucket_ns + (uint64_t)(wait_s * 1e9);
	return true;
}

/* The decisions on arrival at now, in the order of udprelay.c's comment:
 * IMP_PASS with *due set (and buf's bit flipped when *corrupted), or why the
 * datagram is dropped. */
static inline enum imp_verdict imp_arrive(struct imp_state *st, const struct imp *im, uint64_t now,
					  uint8_t *buf, uint32_t len, uint64_t *due,
					  bool *corrupted)
{
	*corrupted = false;
	if (now >= st->hole_from_ns && now < st->hole_until_ns)
		return IMP_BLACKHOLE;
	if (imp_roll(st, im->loss))
		return IMP_LOSS;
	if (im->burst_p > 0) {
		st->bad = st->bad ? !imp_roll(st, im->burst_r) : imp_roll(st, im->burst_p);
		if (st->bad && imp_roll(st, im->burst_h))
			return IMP_BURST;
	}
	if (len && imp_roll(st, im->corrupt)) {
		uint64_t x = imp_prng_next(&st->prng);

		buf[(x >> 3) % len] ^= (uint8_t)(1u << (x & 7));
		*corrupted = true;
	}
	*due = imp_due(st, im, now);
	if (!imp_shape(st, im, len, due))
		return IMP_RATE;
	return IMP_PASS;
}

#endif
