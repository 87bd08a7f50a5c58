// SPDX-License-Identifier: MIT
/* platform/queue.c: bounded, ordered, across threads. */
#include "platform/clock.h"
#include "platform/loop.h"
#include "platform/queue.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

struct item {
	uint32_t producer;
	uint32_t seq;
};

static bool fd_readable(int fd, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN);
}

/* Retries a full queue, but only for so long: a stuck consumer fails the test. */
static int push_retry(struct nt_queue *q, const struct item *it)
{
	for (long i = 0; i < 50000000; i++) {
		int err = nt_queue_push(q, it);

		if (err != -EAGAIN)
			return err;
		sched_yield();
	}
	return -ETIMEDOUT;
}

static void test_queue_rejects_bad_sizes(void **state)
{
	struct nt_queue *q = NULL;

	(void)state;
	assert_int_equal(nt_queue_new(&q, 0, 8), -EINVAL);
	assert_int_equal(nt_queue_new(&q, 8, 0), -EINVAL);
	assert_int_equal(nt_queue_new(&q, SIZE_MAX / 2, 4), -EINVAL);
	assert_null(q);
	nt_queue_free(NULL);
}

static void test_queue_push_pop_fifo_single_thread(void **state)
{
	struct nt_queue *q;
	struct item it;

	(void)state;
	assert_int_equal(nt_queue_new(&q, 4, sizeof(it)), 0);
	assert_int_equal(nt_queue_pop(q, &it), -EAGAIN);
	/* Several rounds so the ring wraps around its end. */
	for (uint32_t round = 0; round < 5; round++) {
		for (uint32_t i = 0; i < 3; i++) {
			it = (struct item){.producer = round, .seq = i};
			assert_int_equal(nt_queue_push(q, &it), 0);
		}
		assert_int_equal(nt_queue_len(q), 3);
		for (uint32_t i = 0; i < 3; i++) {
			assert_int_equal(nt_queue_pop(q, &it), 0);
			assert_int_equal(it.producer, round);
			assert_int_equal(it.seq, i);
		}
		assert_int_equal(nt_queue_pop(q, &it), -EAGAIN);
	}
	assert_int_equal(nt_queue_dropped(q), 0);
	nt_queue_free(q);
}

static void test_queue_full_push_returns_eagain_and_counts_drop(void **state)
{
	struct nt_queue *q;
	struct item it;

	(void)state;
	assert_int_equal(nt_queue_new(&q, 3, sizeof(it)), 0);
	for (uint32_t i = 0; i < 3; i++) {
		it = (struct item){.seq = i};
		assert_int_equal(nt_queue_push(q, &it), 0);
	}
	it.seq = 100;
	assert_int_equal(nt_queue_push(q, &it), -EAGAIN);
	assert_int_equal(nt_queue_push(q, &it), -EAGAIN);
	assert_int_equal(nt_queue_dropped(q), 2);
	assert_int_equal(nt_queue_len(q), 3);
	/* The refused items are not in the queue; the accepted ones are intact. */
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(nt_queue_pop(q, &it), 0);
		assert_int_equal(it.seq, i);
	}
	assert_int_equal(nt_queue_pop(q, &it), -EAGAIN);
	/* Room again. */
	assert_int_equal(nt_queue_push(q, &it), 0);
	assert_int_equal(nt_queue_dropped(q), 2);
	nt_queue_free(q);
}

static void test_queue_fd_readable_exactly_while_non_empty(void **state)
{
	struct nt_queue *q;
	struct item it = {0};

	(void)state;
	assert_int_equal(nt_queue_new(&q, 8, sizeof(it)), 0);
	assert_false(fd_readable(nt_queue_fd(q), 0));
	assert_int_equal(nt_queue_push(q, &it), 0);
	assert_true(fd_readable(nt_queue_fd(q), 0));
	assert_int_equal(nt_queue_push(q, &it), 0);
	/* Popping one of two leaves it readable: a consumer with a budget
	 * does not lose the rest. */
	assert_int_equal(nt_queue_pop(q, &it), 0);
	assert_true(fd_readable(nt_queue_fd(q), 0));
	assert_int_equal(nt_queue_pop(q, &it), 0);
	assert_false(fd_readable(nt_queue_fd(q), 0));
	nt_queue_free(q);
}

/* ---- many producers, one consumer in the loop ---- */

enum { PRODUCERS = 4, PER_PRODUCER = 10000 };

struct producer {
	pthread_t th;
	struct nt_queue *q;
	uint32_t id;
	int err;
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;

	for (uint32_t i = 0; i < PER_PRODUCER && !p->err; i++) {
		struct item it = {.producer = p->id, .seq = i};

		p->err = push_retry(p->q, &it);
	}
	return NULL;
}

struct consumer {
	struct nt_queue *q;
	uint32_t next[PRODUCERS];
	uint32_t total;
	int wakeups;
	bool bad;
};

static void consumer_cb(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct consumer *c = arg;
	struct item it;

	(void)fd;
	(void)events;
	c->wakeups++;
	/* A small budget per wake-up: the fd must stay readable for the rest. */
	for (int i = 0; i < 16 && nt_queue_pop(c->q, &it) == 0; i++) {
		if (it.producer >= PRODUCERS || it.seq != c->next[it.producer]) {
			c->bad = true;
			nt_loop_stop(loop);
			return;
		}
		c->next[it.producer]++;
		c->total++;
	}
	if (c->total == PRODUCERS * PER_PRODUCER)
		nt_loop_stop(loop);
}

static void guard_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	(void)timer;
	*(bool *)arg = true;
	nt_loop_stop(loop);
}

static void test_queue_many_producers_each_item_once_in_order(void **state)
{
	struct producer prod[PRODUCERS];
	struct consumer c = {0};
	struct nt_loop *loop;
	struct nt_timer guard;
	bool timed_out = false;

	(void)state;
	assert_int_equal(nt_loop_new(&loop), 0);
	/* Smaller than the traffic, so producers also meet a full queue. */
	assert_int_equal(nt_queue_new(&c.q, 256, sizeof(struct item)), 0);
	assert_int_equal(nt_loop_add_fd(loop, nt_queue_fd(c.q), NT_EV_READ, consumer_cb, &c), 0);
	nt_timer_init(&guard, guard_cb, &timed_out);
	assert_int_equal(nt_timer_arm(loop, &guard, 4 * NT_NS_PER_SEC), 0);
	for (uint32_t i = 0; i < PRODUCERS; i++) {
		prod[i] = (struct producer){.q = c.q, .id = i};
		assert_int_equal(pthread_create(&prod[i].th, NULL, producer_main, &prod[i]), 0);
	}
	assert_int_equal(nt_loop_run(loop), 0);
	for (uint32_t i = 0; i < PRODUCERS; i++) {
		assert_int_equal(pthread_join(prod[i].th, NULL), 0);
		assert_int_equal(prod[i].err, 0);
	}
	assert_false(timed_out);
	assert_false(c.bad);
	assert_int_equal(c.total, PRODUCERS * PER_PRODUCER);
	for (uint32_t i = 0; i < PRODUCERS; i++)
		assert_int_equal(c.next[i], PER_PRODUCER);
	assert_true(c.wakeups > 0);
	assert_int_equal(nt_queue_len(c.q), 0);
	assert_false(fd_readable(nt_queue_fd(c.q), 0));
	nt_timer_cancel(loop, &guard);
	assert_int_equal(nt_loop_del_fd(loop, nt_queue_fd(c.q)), 0);
	nt_queue_free(c.q);
	nt_loop_free(loop);
}

/* The consumer empties the queue and then sleeps on the fd, over and over,
 * while a producer pushes in small bursts: every push that lands just after
 * the consumer saw "empty" must still wake it. A lost wake-up shows up as a
 * poll timeout with items still queued. */
enum { RACE_ITEMS = 20000 };

static void *race_producer(void *arg)
{
	struct producer *p = arg;

	for (uint32_t i = 0; i < RACE_ITEMS && !p->err; i++) {
		struct item it = {.producer = 0, .seq = i};

		p->err = push_retry(p->q, &it);
		if (i % 7 == 0)
			sched_yield();
	}
	return NULL;
}

static void test_queue_no_lost_wakeup_after_consumer_drained(void **state)
{
	struct producer p = {0};
	uint32_t next = 0;
	struct item it;
	int sleeps = 0;

	(void)state;
	assert_int_equal(nt_queue_new(&p.q, 64, sizeof(it)), 0);
	assert_int_equal(pthread_create(&p.th, NULL, race_producer, &p), 0);
	while (next < RACE_ITEMS) {
		/* 1 s is forever here: only a lost wake-up can time out. */
		if (!fd_readable(nt_queue_fd(p.q), 1000))
			break;
		sleeps++;
		while (nt_queue_pop(p.q, &it) == 0) {
			assert_int_equal(it.seq, next);
			next++;
		}
	}
	assert_int_equal(pthread_join(p.th, NULL), 0);
	assert_int_equal(p.err, 0);
	assert_int_equal(next, RACE_ITEMS);
	assert_true(sleeps > 0);
	nt_queue_free(p.q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_queue_rejects_bad_sizes),
	    cmocka_unit_test(test_queue_push_pop_fifo_single_thread),
	    cmocka_unit_test(test_queue_full_push_returns_eagain_and_counts_drop),
	    cmocka_unit_test(test_queue_fd_readable_exactly_while_non_empty),
	    cmocka_unit_test(test_queue_many_producers_each_item_once_in_order),
	    cmocka_unit_test(test_queue_no_lost_wakeup_after_consumer_drained),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
