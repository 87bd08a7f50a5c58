// SPDX-License-Identifier: MIT
/* The receiver-index table: random indexes to handshakes and keypairs. */
#include "core/wg/index.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "platform/random.h"

#define INDEX_MAX_ENTRIES (UINT32_C(1) << 24)
/* Random draws before giving up on finding an unused index; with the table
 * at most half full and 2^32 values, needing more means a broken generator. */
#define INDEX_MAX_DRAWS 64

struct slot {
	uint32_t id;
	enum wg_index_kind kind; /* NONE: empty */
	void *ptr;
};

struct wg_index {
	struct slot *slots;
	size_t mask; /* slot count - 1 */
	size_t count;
	size_t max_entries;
	uint64_t refused;
	wg_index_rand_fn rand;
	void *rand_ctx;
};

/* Indexes are random, but a test may inject sequential ones: mix them so
 * they still spread over the slots. */
static size_t home(const struct wg_index *t, uint32_t id)
{
	uint32_t h = id * UINT32_C(0x9e3779b1);

	return (size_t)(h ^ (h >> 15)) & t->mask;
}

static uint32_t draw(const struct wg_index *t)
{
	uint32_t v;

	if (t->rand)
		return t->rand(t->rand_ctx);
	nt_random_bytes(&v, sizeof(v));
	return v;
}

int wg_index_new(struct wg_index **out, size_t max_entries)
{
	struct wg_index *t;
	size_t n = 2;

	if (!out || max_entries == 0 || max_entries > INDEX_MAX_ENTRIES)
		return -EINVAL;
	while (n < 2 * max_entries)
		n *= 2;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->slots = calloc(n, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return -ENOMEM;
	}
	t->mask = n - 1;
	t->max_entries = max_entries;
	*out = t;
	return 0;
}

void wg_index_free(struct wg_index *t)
{
	if (!t)
		return;
	free(t->slots);
	free(t);
}

void wg_index_set_rand(struct wg_index *t, wg_index_rand_fn fn, void *ctx)
{
	t->rand = fn;
	t->rand_ctx = ctx;
}

static struct slot *find(const struct wg_index *t, uint32_t id)
{
	for (size_t i = home(t, id);; i = (i + 1) & t->mask) {
		struct slot *s = &t->slots[i];

		if (s->kind == WG_INDEX_NONE)
			return NULL;
		if (s->id == id)
			return s;
	}
}

int wg_index_insert(struct wg_index *t, enum wg_index_kind kind, void *ptr, uint32_t *id)
{
	if (kind == WG_INDEX_NONE || !ptr || !id)
		return -EINVAL;
	if (t->count >= t->max_entries) {
		t->refused++;
		return -ENOSPC;
	}
	for (int tries = 0; tries < INDEX_MAX_DRAWS; tries++) {
		uint32_t v = draw(t);
		size_t i;

		if (v == 0 || find(t, v))
			continue;
		i = home(t, v);
		while (t->slots[i].kind != WG_INDEX_NONE)
			i = (i + 1) & t->mask;
		t->slots[i] = (struct slot){.id = v, .kind = kind, .ptr = ptr};
		t->count++;
		*id = v;
		return 0;
	}
	t->refused++;
	return -ENOSPC;
}

int wg_index_replace(struct wg_index *t, uint32_t id, enum wg_index_kind kind, void *ptr)
{
	struct slot *s;

	if (kind == WG_INDEX_NONE || !ptr)
		return -EINVAL;
	s = find(t, id);
	if (!s)
		return -ENOENT;
	s->kind = kind;
	s->ptr = ptr;
	return 0;
}

enum wg_index_kind wg_index_lookup(const struct wg_index *t, uint32_t id, void **ptr)
{
	const struct slot *s = find(t, id);

	if (!s)
		return WG_INDEX_NONE;
	if (ptr)
		*ptr = s->ptr;
	return s->kind;
}

/* True when slot j lies cyclically in (i, k]: an entry at j whose home is k
 * must stay where it is when slot i is emptied. */
static bool between(size_t i, size_t k, size_t j)
{
	return i <= j ? (i < k && k <= j) : (i < k || k <= j);
}

int wg_index_remove(struct wg_index *t, uint32_t id)
{
	struct slot *s = find(t, id);
	size_t i, j;

	if (!s)
		return -ENOENT;
	i = (size_t)(s - t->slots);
	/* Backward shift: pull later members of the run into the hole when
	 * their home position allows it, so no probe sequence is broken. */
	for (j = (i + 1) & t->mask; t->slots[j].kind != WG_INDEX_NONE; j = (j + 1) & t->mask) {
		if (between(i, home(t, t->slots[j].id), j))
			continue;
		t->slots[i] = t->slots[j];
		i = j;
	}
	t->slots[i] = (struct slot){0};
	t->count--;
	return 0;
}

size_t wg_index_count(const struct wg_index *t)
{
	return t->count;
}

uint64_t wg_index_refused(const struct wg_index *t)
{
	return t->refused;
}
