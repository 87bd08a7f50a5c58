/* SPDX-License-Identifier: MIT */
/* Bounded multi-producer single-consumer queue of fixed-size items, for
 * handing messages between threads (portal thread <-> engine, engine -> host).
 *
 * Wake-up protocol: nt_queue_fd() is an eventfd that is readable exactly
 * while the queue is non-empty. The producer that makes the queue non-empty
 * signals it and the pop that empties it drains it, both under the queue's
 * lock, so no wake-up can be lost whatever the interleaving. The consumer
 * watches the fd (level-triggered) and pops as many items as it likes; it
 * never reads the fd itself.
 */
#ifndef NT_PLATFORM_QUEUE_H
#define NT_PLATFORM_QUEUE_H

#include <stddef.h>
#include <stdint.h>

struct nt_queue;

/* Returns 0, -EINVAL (zero or overflowing sizes), -ENOMEM or eventfd's error. */
int nt_queue_new(struct nt_queue **out, size_t capacity, size_t item_size);
void nt_queue_free(struct nt_queue *q);

/* Any thread. Copies item_size bytes in; returns 0, or -EAGAIN when full
 * (the item is dropped and counted). */
int nt_queue_push(struct nt_queue *q, const void *item);
/* The consumer thread only. Copies the oldest item out; 0 or -EAGAIN. */
int nt_queue_pop(struct nt_queue *q, void *item);

int nt_queue_fd(const struct nt_queue *q);
size_t nt_queue_len(struct nt_queue *q);
/* Items refused because the queue was full, since creation. */
uint64_t nt_queue_dropped(struct nt_queue *q);

#endif
