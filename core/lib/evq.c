// SPDX-License-Identifier: MIT
/* The session's event queue (evq.h). */
#include "core/lib/evq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct slot {
	char key[NT_EVQ_KEY_MAX];
	unsigned char item[]; /* item_size bytes */
};

struct nt_evq {
	pthread_mutex_t lock;
	int efd;
	size_t capacity, slots, item_size, slot_size;
	size_t head, len;
	uint32_t lost_since_pop;
	uint64_t lost;
	unsigned char *ring;
};

int nt_evq_new(struct nt_evq **out, size_t capacity, size_t reserve, size_t item_size)
{
	struct nt_evq *q;
	int err;

	if (!capacity || !item_size || item_size > SIZE_MAX / 2 || capacity > SIZE_MAX / 2 ||
	    reserve > SIZE_MAX / 2)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->capacity = capacity;
	q->slots = capacity + reserve;
	q->item_size = item_size;
	/* Items are copied as bytes; aligned for any field they hold. */
	q->slot_size = (sizeof(struct slot) + item_size + 15) & ~(size_t)15;
	q->ring = calloc(q->slots, q->slot_size);
	err = -ENOMEM;
	if (!q->ring)
		goto err_q;
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

void nt_evq_free(struct nt_evq *q)
{
	if (!q)
		return;
	pthread_mutex_destroy(&q->lock);
	close(q->efd);
	free(q->ring);
	free(q);
}

/* The i-th queued slot, oldest first. */
static struct slot *at(struct nt_evq *q, size_t i)
{
	return (struct slot *)(q->ring + (q->head + i) % q->slots * q->slot_size);
}

/* Removes the i-th queued slot; those after it move up one. */
static void remove_at(struct nt_evq *q, size_t i)
{
	for (; i + 1 < q->len; i++)
		memcpy(at(q, i), at(q, i + 1), q->slot_size);
	q->len--;
}

static void lose(struct nt_evq *q)
{
	q->lost++;
	if (q->lost_since_pop < UINT32_MAX)
		q->lost_since_pop++;
}

int nt_evq_push(struct nt_evq *q, const void *item, const char *key, bool urgent)
{
	size_t klen = key ? strlen(key) : 0, i;
	uint64_t one = 1;
	struct slot *s;

	if (klen >= NT_EVQ_KEY_MAX)
		return -EINVAL;
	pthread_mutex_lock(&q->lock);
	if (klen) {
		for (i = 0; i < q->len && strcmp(at(q, i)->key, key) != 0; i++)
			;
		/* Full: the oldest state makes room for this newer one. */
		for (size_t j = 0; i == q->len && q->len >= q->capacity && j < q->len; j++)
			if (at(q, j)->key[0])
				i = j;
		if (i < q->len) {
			remove_at(q, i);
			lose(q);
		}
	}
	if (q->len >= (urgent ? q->slots : q->capacity)) {
		lose(q);
		pthread_mutex_unlock(&q->lock);
		return -EAGAIN;
	}
	s = at(q, q->len);
	memcpy(s->key, key ? key : "", klen + 1);
	memcpy(s->item, item, q->item_size);
	/* Empty -> non-empty: readable; drained when it last emptied. */
	if (q->len++ == 0 && write(q->efd, &one, sizeof(one)) < 0) {
		/* Cannot fail on a drained eventfd; the item is queued anyway. */
	}
	pthread_mutex_unlock(&q->lock);
	return 0;
}

static void drain(struct nt_evq *q)
{
	uint64_t v;

	if (read(q->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN cannot happen: it was signalled when items came. */
	}
}

int nt_evq_pop(struct nt_evq *q, void *item, uint32_t *lost)
{
	pthread_mutex_lock(&q->lock);
	if (q->len == 0) {
		pthread_mutex_unlock(&q->lock);
		return -EAGAIN;
	}
	memcpy(item, at(q, 0)->item, q->item_size);
	q->head = (q->head + 1) % q->slots;
	if (--q->len == 0)
		drain(q);
	if (lost)
		*lost = q->lost_since_pop;
	q->lost_since_pop = 0;
	pthread_mutex_unlock(&q->lock);
	return 0;
}

void nt_evq_clear(struct nt_evq *q)
{
	pthread_mutex_lock(&q->lock);
	if (q->len)
		drain(q);
	q->len = 0;
	q->lost_since_pop = 0;
	pthread_mutex_unlock(&q->lock);
}

int nt_evq_fd(const struct nt_evq *q)
{
	return q->efd;
}

size_t nt_evq_len(struct nt_evq *q)
{
	size_t len;

	pthread_mutex_lock(&q->lock);
	len = q->len;
	pthread_mutex_unlock(&q->lock);
	return len;
}

uint64_t nt_evq_lost(struct nt_evq *q)
{
	uint64_t lost;

	pthread_mutex_lock(&q->lock);
	lost = q->lost;
	pthread_mutex_unlock(&q->lock);
	return lost;
}
