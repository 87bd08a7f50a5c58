/* SPDX-License-Identifier: MIT */
/* The receiver-index table of one interface: the random 32-bit indexes we
 * hand to peers (the sender field of our handshake messages), each mapped to
 * what the peer's messages addressed to it concern: a handshake in progress
 * or a keypair.
 *
 * Open addressing with linear probing in a power-of-two array at most half
 * full, and backward-shift deletion (no tombstones), so a lookup probes a
 * short run and never degrades with churn. The number of live entries is
 * bounded by max_entries; an insert beyond it fails with -ENOSPC and is
 * counted. Indexes are drawn at random (nt_random_bytes) until an unused one
 * is found; 0 is never handed out.
 */
#ifndef NT_CORE_INDEX_H
#define NT_CORE_INDEX_H

#include <stddef.h>
#include <stdint.h>

enum wg_index_kind {
	WG_INDEX_NONE = 0,
	WG_INDEX_HANDSHAKE, /* ptr is the peer whose handshake sent it */
	WG_INDEX_KEYPAIR,   /* ptr is the keypair */
};

struct wg_index;

/* Draws a candidate index; tests inject collisions through it. */
typedef uint32_t (*wg_index_rand_fn)(void *ctx);

/* max_entries: 1 .. 2^24. 0, -EINVAL or -ENOMEM. */
int wg_index_new(struct wg_index **out, size_t max_entries);
void wg_index_free(struct wg_index *t);
/* NULL restores nt_random_bytes. */
void wg_index_set_rand(struct wg_index *t, wg_index_rand_fn fn, void *ctx);

/* Stores (kind, ptr) under a fresh random index written to *id.
 * 0, -EINVAL (kind NONE or ptr NULL) or -ENOSPC (table full). */
int wg_index_insert(struct wg_index *t, enum wg_index_kind kind, void *ptr, uint32_t *id);
/* Points an existing index at something else (a handshake's index becomes
 * its keypair's). 0, -EINVAL or -ENOENT. */
int wg_index_replace(struct wg_index *t, uint32_t id, enum wg_index_kind kind, void *ptr);
/* WG_INDEX_NONE when id is unknown; *ptr is set otherwise. */
enum wg_index_kind wg_index_lookup(const struct wg_index *t, uint32_t id, void **ptr);
/* 0 or -ENOENT. */
int wg_index_remove(struct wg_index *t, uint32_t id);

size_t wg_index_count(const struct wg_index *t);
/* Inserts refused because the table was full. */
uint64_t wg_index_refused(const struct wg_index *t);

#endif
