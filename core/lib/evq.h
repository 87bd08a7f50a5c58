/* SPDX-License-Identifier: MIT */
/* The session's event queue, engine thread -> host: bounded, fixed-size
 * items, an eventfd readable exactly while items wait (the wake-up protocol
 * of platform/queue.h: signalled when it becomes non-empty, drained when it
 * empties, both under the lock).
 *
 * A state item carries a key (a resource's access, a peer's tunnel): a new
 * item with the key of a queued one removes that one and goes to the end,
 * so the host reads the latest state in the order things last changed. A
 * full queue refuses items without a key; a keyed one takes the place of
 * the oldest keyed item. Urgent items (the session's end) may use reserve
 * slots beyond the capacity. Everything lost is counted and handed out with
 * the next item popped.
 */
#ifndef NT_CORE_LIB_EVQ_H
#define NT_CORE_LIB_EVQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NT_EVQ_KEY_MAX 96 /* bytes of a key, its NUL included */

struct nt_evq;

/* 0, -EINVAL (zero sizes), -ENOMEM or eventfd's error. */
int nt_evq_new(struct nt_evq **out, size_t capacity, size_t reserve, size_t item_size);
void nt_evq_free(struct nt_evq *q);

/* Any thread. key NULL or "": never coalesced. Returns 0 (queued, maybe
 * replacing), -EAGAIN (refused: full) or -EINVAL (key too long). */
int nt_evq_push(struct nt_evq *q, const void *item, const char *key, bool urgent);
/* Any one thread at a time. The oldest item, and in *lost the items lost
 * since the previous pop. 0 or -EAGAIN (empty). */
int nt_evq_pop(struct nt_evq *q, void *item, uint32_t *lost);
/* Drops every item (not counted as lost). */
void nt_evq_clear(struct nt_evq *q);

int nt_evq_fd(const struct nt_evq *q);
size_t nt_evq_len(struct nt_evq *q);
/* Items lost since creation. */
uint64_t nt_evq_lost(struct nt_evq *q);

#endif
