// SPDX-License-Identifier: MIT
/* A bounded MPSC queue with an eventfd, between threads. */
#include "platform/queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct nt_queue {
	pthread_mutex_t lock;
	int efd;
	size_t capacity;
	size_t item_size;
	size_t head; /* next item to pop */
	size_t len;
	uint64_t dropped;
	unsigned char *ring;
};

int nt_queue_new(struct nt_queue **out, size_t capacity, size_t item_size)
{
	struct nt_queue *q;
	int err;

	if (!capacity || !item_size || capacity > SIZE_MAX / item_size)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->capacity = capacity;
	q->item_size = item_size;
	q->ring = malloc(capacity * item_size);
	if (!q->ring) {
		err = -ENOMEM;
		goto err_q;
	}
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		err = -errno;
		goto err_ring;
	}
	err = -pthread_mutex_init(&q->lock, NULL);
	if (err)
		goto err_efd;
	*out = q;
	return 0;

err_efd:
	close(q->efd);
err_ring:
	free(q->ring);
err_q:
	free(q);
	return err;
}

void nt_queue_free(struct nt_queue *q)
{
	if (!q)
		return;
	pthread_mutex_destroy(&q->lock);
	close(q->efd);
	free(q->ring);
	free(q);
}

int nt_queue_push(struct nt_queue *q, const void *item)
{
	uint64_t one = 1;
	size_t tail;

	pthread_mutex_lock(&q->lock);
	if (q->len == q->capacity) {
		q->dropped++;
		pthread_mutex_unlock(&q->lock);
		return -EAGAIN;
	}
	tail = (q->head + q->len) % q->capacity;
	memcpy(q->ring + tail * q->item_size, item, q->item_size);
	/* Empty -> non-empty: make the fd readable. It was drained when the
	 * queue last emptied, so the counter cannot overflow. */
	if (q->len++ == 0 && write(q->efd, &one, sizeof(one)) < 0) {
		/* Cannot happen with a drained eventfd; the item is queued anyway. */
	}
	pthread_mutex_unlock(&q->lock);
	return 0;
}

int nt_queue_pop(struct nt_queue *q, void *item)
{
	uint64_t v;

	pthread_mutex_lock(&q->lock);
	if (q->len == 0) {
		pthread_mutex_unlock(&q->lock);
		return -EAGAIN;
	}
	memcpy(item, q->ring + q->head * q->item_size, q->item_size);
	q->head = (q->head + 1) % q->capacity;
	if (--q->len == 0 && read(q->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN cannot happen: it was signalled when the queue filled. */
	}
	pthread_mutex_unlock(&q->lock);
	return 0;
}

int nt_queue_fd(const struct nt_queue *q)
{
	return q->efd;
}

size_t nt_queue_len(struct nt_queue *q)
{
	size_t len;

	pthread_mutex_lock(&q->lock);
	len = q->len;
	pthread_mutex_unlock(&q->lock);
	return len;
}

uint64_t nt_queue_dropped(struct nt_queue *q)
{
	uint64_t dropped;

	pthread_mutex_lock(&q->lock);
	dropped = q->dropped;
	pthread_mutex_unlock(&q->lock);
	return dropped;
}
