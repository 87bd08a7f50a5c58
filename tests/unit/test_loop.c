// SPDX-License-Identifier: MIT
/* platform/loop.c: fds, timers and signals. */
#include "platform/clock.h"
#include "platform/loop.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define MS	 NT_NS_PER_MS
#define GUARD_NS (2000 * MS) /* no test waits this long unless it is broken */

/* ---- helpers ---- */

struct record {
	int order[64];
	size_t n;
	size_t stop_at; /* stop the loop when n reaches this (0: never) */
};

struct rec_timer {
	struct nt_timer t;
	struct record *rec;
	int id;
};

static void record_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct rec_timer *rt = arg;

	(void)timer;
	assert_true(rt->rec->n < 64);
	rt->rec->order[rt->rec->n++] = rt->id;
	if (rt->rec->stop_at && rt->rec->n == rt->rec->stop_at)
		nt_loop_stop(loop);
}

static void guard_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	(void)timer;
	*(int *)arg = 1;
	nt_loop_stop(loop);
}

/* Runs the loop with a guard timer so a broken loop fails instead of hanging. */
static void run_guarded(struct nt_loop *loop)
{
	struct nt_timer guard;
	int fired = 0;

	nt_timer_init(&guard, guard_cb, &fired);
	assert_int_equal(nt_timer_arm(loop, &guard, GUARD_NS), 0);
	assert_int_equal(nt_loop_run(loop), 0);
	nt_timer_cancel(loop, &guard);
	assert_int_equal(fired, 0);
}

static int setup_loop(void **state)
{
	struct nt_loop *loop;

	if (nt_loop_new(&loop))
		return -1;
	*state = loop;
	return 0;
}

static int teardown_loop(void **state)
{
	nt_loop_free(*state);
	return 0;
}

/* ---- timers ---- */

static void test_timer_fires_in_deadline_order(void **state)
{
	struct nt_loop *loop = *state;
	static const int delays_ms[] = {5, 1, 4, 2, 3};
	struct rec_timer rt[5];
	struct record rec = {.stop_at = 5};
	uint64_t base = nt_clock_mono_ns();

	for (int i = 0; i < 5; i++) {
		rt[i] = (struct rec_timer){.rec = &rec, .id = delays_ms[i]};
		nt_timer_init(&rt[i].t, record_cb, &rt[i]);
		assert_int_equal(nt_timer_arm_at(loop, &rt[i].t, base + delays_ms[i] * MS), 0);
		assert_true(nt_timer_armed(&rt[i].t));
	}
	run_guarded(loop);
	assert_int_equal(rec.n, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(rec.order[i], i + 1);
		assert_false(nt_timer_armed(&rt[i].t));
	}
}

static void test_timer_equal_deadlines_fire_in_arming_order(void **state)
{
	struct nt_loop *loop = *state;
	struct rec_timer rt[6];
	struct record rec = {.stop_at = 6};
	uint64_t deadline = nt_clock_mono_ns() + 2 * MS;

	for (int i = 0; i < 6; i++) {
		rt[i] = (struct rec_timer){.rec = &rec, .id = i};
		nt_timer_init(&rt[i].t, record_cb, &rt[i]);
		assert_int_equal(nt_timer_arm_at(loop, &rt[i].t, deadline), 0);
	}
	run_guarded(loop);
	assert_int_equal(rec.n, 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(rec.order[i], i);
}

static void test_timer_cancelled_never_fires(void **state)
{
	struct nt_loop *loop = *state;
	struct rec_timer a, b, c;
	struct record rec = {0};

	a = (struct rec_timer){.rec = &rec, .id = 1};
	b = (struct rec_timer){.rec = &rec, .id = 2};
	c = (struct rec_timer){.rec = &rec, .id = 3};
	nt_timer_init(&a.t, record_cb, &a);
	nt_timer_init(&b.t, record_cb, &b);
	nt_timer_init(&c.t, record_cb, &c);
	assert_int_equal(nt_timer_arm(loop, &a.t, 1 * MS), 0);
	assert_int_equal(nt_timer_arm(loop, &b.t, 2 * MS), 0);
	assert_int_equal(nt_timer_arm(loop, &c.t, 3 * MS), 0);
	nt_timer_cancel(loop, &b.t);
	assert_false(nt_timer_armed(&b.t));
	nt_timer_cancel(loop, &b.t); /* a second cancel is a no-op */
	rec.stop_at = 2;
	run_guarded(loop);
	/* Let the cancelled deadline pass well before looking again. */
	assert_true(nt_loop_run_once(loop, 5) >= 0);
	assert_int_equal(rec.n, 2);
	assert_int_equal(rec.order[0], 1);
	assert_int_equal(rec.order[1], 3);
}

struct canceller {
	struct nt_timer t;
	struct nt_timer *victim;
	int fired;
};

static void cancel_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct canceller *c = arg;

	(void)timer;
	c->fired++;
	nt_timer_cancel(loop, c->victim);
}

static void count_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	(void)loop;
	(void)timer;
	(*(int *)arg)++;
}

static void test_timer_cancel_from_callback_in_same_iteration(void **state)
{
	struct nt_loop *loop = *state;
	struct canceller c;
	struct nt_timer victim;
	int victim_fired = 0;
	uint64_t past = nt_clock_mono_ns();

	/* Both are due in the same iteration; the first cancels the second. */
	nt_timer_init(&victim, count_cb, &victim_fired);
	c.victim = &victim;
	c.fired = 0;
	nt_timer_init(&c.t, cancel_cb, &c);
	assert_int_equal(nt_timer_arm_at(loop, &c.t, past), 0);
	assert_int_equal(nt_timer_arm_at(loop, &victim, past), 0);
	assert_int_equal(nt_loop_run_once(loop, 100), 1);
	assert_int_equal(c.fired, 1);
	assert_int_equal(victim_fired, 0);
	assert_false(nt_timer_armed(&victim));
	assert_int_equal(nt_loop_run_once(loop, 5), 0);
	assert_int_equal(victim_fired, 0);
}

static void test_timer_rearm_moves_deadline(void **state)
{
	struct nt_loop *loop = *state;
	struct rec_timer rt;
	struct record rec = {.stop_at = 1};
	uint64_t start = nt_clock_mono_ns();

	rt = (struct rec_timer){.rec = &rec, .id = 7};
	nt_timer_init(&rt.t, record_cb, &rt);
	assert_int_equal(nt_timer_arm(loop, &rt.t, 1000 * MS), 0);
	assert_int_equal(nt_timer_arm(loop, &rt.t, 1 * MS), 0);
	run_guarded(loop);
	assert_int_equal(rec.n, 1);
	assert_true(nt_clock_mono_ns() - start < 500 * MS);
	/* Re-arming later is honoured as well: nothing fires before it. */
	assert_int_equal(nt_timer_arm(loop, &rt.t, 1 * MS), 0);
	assert_int_equal(nt_timer_arm(loop, &rt.t, 1000 * MS), 0);
	assert_int_equal(nt_loop_run_once(loop, 10), 0);
	assert_int_equal(rec.n, 1);
	nt_timer_cancel(loop, &rt.t);
}

struct periodic {
	struct nt_timer t;
	int left;
	int fired;
};

static void periodic_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct periodic *p = arg;

	p->fired++;
	assert_false(nt_timer_armed(timer));
	if (--p->left > 0)
		assert_int_equal(nt_timer_arm_at(loop, timer, nt_loop_now(loop)), 0);
	else
		nt_loop_stop(loop);
}

static void test_timer_rearms_itself_from_callback(void **state)
{
	struct nt_loop *loop = *state;
	struct periodic p = {.left = 5};

	nt_timer_init(&p.t, periodic_cb, &p);
	assert_int_equal(nt_timer_arm(loop, &p.t, 0), 0);
	/* A self re-arm that is already due fires once per iteration, not in a\n\t * tight loop
	 * that would starve the fds. */
	assert_int_equal(nt_loop_run_once(loop, 100), 1);
	assert_int_equal(p.fired, 1);
	run_guarded(loop);
	assert_int_equal(p.fired, 5);
	assert_false(nt_timer_armed(&p.t));
}

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

struct heap_check {
	struct nt_timer t;
	uint64_t *last_deadline;
	int *fired;
	bool cancelled;
};

static void heap_check_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct heap_check *h = arg;

	(void)loop;
	assert_false(h->cancelled);
	assert_true(timer->deadline_ns >= *h->last_deadline);
	*h->last_deadline = timer->deadline_ns;
	(*h->fired)++;
}

static void test_timer_heap_many_arm_cancel_rearm(void **state)
{
	struct nt_loop *loop = *state;
	enum { N = 500 };
	struct heap_check *h = calloc(N, sizeof(*h));
	uint64_t last = 0, base = nt_clock_mono_ns();
	uint32_t seed = 12345;
	int fired = 0, expected = 0;

	assert_non_null(h);
	for (int i = 0; i < N; i++) {
		h[i].last_deadline = &last;
		h[i].fired = &fired;
		nt_timer_init(&h[i].t, heap_check_cb, &h[i]);
		assert_int_equal(nt_timer_arm_at(loop, &h[i].t, base + lcg(&seed) % (5 * MS)), 0);
	}
	for (int i = 0; i < N; i++) {
		switch (lcg(&seed) % 3) {
		case 0:
			nt_timer_cancel(loop, &h[i].t);
			h[i].cancelled = true;
			break;
		case 1:
			assert_int_equal(
			    nt_timer_arm_at(loop, &h[i].t, base + lcg(&seed) % (5 * MS)), 0);
			break;
		}
	}
	for (int i = 0; i < N; i++)
		expected += !h[i].cancelled;
	for (int i = 0; i < 200 && fired < expected; i++)
		assert_true(nt_loop_run_once(loop, 20) >= 0);
	assert_int_equal(fired, expected);
	for (int i = 0; i < N; i++)
		assert_false(nt_timer_armed(&h[i].t));
	free(h);
}

/* Heap shape matters here: armed in this order with rising values, the
 * timers sit in the heap array in arming order. Removing a node from one
 * subtree moves the last element (small, from the other subtree) under a
 * larger parent, where it must sift up; moving a node to a later deadline
 * must sift it down. A heap that skips either fires out of order. */
static const uint64_t shape_us[] = {1, 2, 50, 100, 3, 60, 70, 101, 102, 103, 8};
#define SHAPE_N (sizeof(shape_us) / sizeof(shape_us[0]))

static void arm_shape(struct nt_loop *loop, struct heap_check *h, uint64_t base, uint64_t *last,
		      int *fired)
{
	for (size_t i = 0; i < SHAPE_N; i++) {
		h[i] = (struct heap_check){.last_deadline = last, .fired = fired};
		nt_timer_init(&h[i].t, heap_check_cb, &h[i]);
		assert_int_equal(nt_timer_arm_at(loop, &h[i].t, base + shape_us[i] * 1000), 0);
	}
}

static void test_timer_heap_cancel_and_rearm_keep_order(void **state)
{
	struct nt_loop *loop = *state;
	struct heap_check h[SHAPE_N];
	uint64_t last = 0, base = nt_clock_mono_ns() - NT_NS_PER_SEC; /* all due */
	int fired = 0;

	arm_shape(loop, h, base, &last, &fired);
	nt_timer_cancel(loop, &h[5].t); /* 60: the last timer (8) takes its place */
	h[5].cancelled = true;
	assert_int_equal(nt_loop_run_once(loop, 100), (int)SHAPE_N - 1);
	assert_int_equal(fired, (int)SHAPE_N - 1);

	last = 0;
	fired = 0;
	arm_shape(loop, h, base, &last, &fired);
	assert_int_equal(nt_timer_arm_at(loop, &h[1].t, base + 200 * 1000), 0); /* 2 -> 200 */
	assert_int_equal(nt_timer_arm_at(loop, &h[7].t, base + 5 * 1000), 0);	/* 101 -> 5 */
	assert_int_equal(nt_loop_run_once(loop, 100), (int)SHAPE_N);
	assert_int_equal(fired, (int)SHAPE_N);
	assert_int_equal(last, base + 200 * 1000);
}

static void test_timer_precision_2ms(void **state)
{
	struct nt_loop *loop = *state;
	struct rec_timer rt;
	struct record rec = {.stop_at = 1};
	uint64_t start, elapsed;

	rt = (struct rec_timer){.rec = &rec, .id = 1};
	nt_timer_init(&rt.t, record_cb, &rt);
	start = nt_clock_mono_ns();
	assert_int_equal(nt_timer_arm(loop, &rt.t, 2 * MS), 0);
	run_guarded(loop);
	elapsed = nt_clock_mono_ns() - start;
	assert_int_equal(rec.n, 1);
	assert_true(elapsed >= 2 * MS);
	/* Never early, above; late only within a bound a loaded machine keeps
	 * (a stall of tens of ms is no fault of the loop), yet one a loop that
	 * rounds timers up to seconds (epoll's timeout in s, not ms) breaks. */
	assert_true(elapsed < 500 * MS);
}

static void now_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	uint64_t *seen = arg;

	seen[0] = nt_loop_now(loop);
	seen[1] = nt_loop_now(loop);
	seen[2] = timer->deadline_ns;
}

static void test_loop_now_is_cached_per_iteration(void **state)
{
	struct nt_loop *loop = *state;
	struct nt_timer t;
	uint64_t seen[3] = {0}, before = nt_clock_mono_ns();

	nt_timer_init(&t, now_cb, seen);
	assert_int_equal(nt_timer_arm(loop, &t, 1 * MS), 0);
	for (int i = 0; i < 50 && !seen[0]; i++)
		assert_true(nt_loop_run_once(loop, 20) >= 0);
	assert_true(seen[0] >= before);
	assert_int_equal(seen[0], seen[1]);
	assert_true(seen[0] >= seen[2]); /* "now" is past the deadline that fired */
	assert_true(nt_loop_now(loop) <= nt_clock_mono_ns());
}

/* ---- fds ---- */

struct fd_rec {
	int calls;
	uint32_t events;
	int fd;
};

static void fd_rec_cb(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct fd_rec *r = arg;

	(void)loop;
	r->calls++;
	r->events |= events;
	r->fd = fd;
}

static void test_fd_pipe_readable_and_writable(void **state)
{
	struct nt_loop *loop = *state;
	struct fd_rec rd = {0}, wr = {0};
	int p[2];
	char c = 'x';

	assert_int_equal(pipe(p), 0);
	assert_int_equal(nt_loop_add_fd(loop, p[0], NT_EV_READ, fd_rec_cb, &rd), 0);
	assert_int_equal(nt_loop_add_fd(loop, p[1], NT_EV_WRITE, fd_rec_cb, &wr), 0);
	assert_int_equal(nt_loop_run_once(loop, 100), 1);
	assert_int_equal(rd.calls, 0);
	assert_int_equal(wr.calls, 1);
	assert_int_equal(wr.fd, p[1]);
	assert_int_equal(wr.events, NT_EV_WRITE);

	assert_int_equal(nt_loop_del_fd(loop, p[1]), 0);
	assert_int_equal(write(p[1], &c, 1), 1);
	assert_int_equal(nt_loop_run_once(loop, 100), 1);
	assert_int_equal(rd.calls, 1);
	assert_int_equal(rd.fd, p[0]);
	assert_int_equal(rd.events, NT_EV_READ);
	/* Level-triggered: still readable until read. */
	assert_int_equal(nt_loop_run_once(loop, 100), 1);
	assert_int_equal(rd.calls, 2);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(nt_loop_run_once(loop, 0), 0);
	assert_int_equal(rd.calls, 2);

	/* The writer going away is reported as an error (hang-up). */
	close(p[1]);
	rd.events = 0;
	assert_int_equal(nt_loop_run_once(loop, 100), 1);
	assert_true(rd.events & NT_EV_ERROR);
	assert_int_equal(nt_loop_del_fd(loop, p[0]), 0);
	close(p[0]);
}

static void test_fd_mod_changes_interest(void **state)
{
	struct nt_loop *loop = *state;
	struct fd_rec wr = {0};
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(nt_loop_add_fd(loop, p[1], 0, fd_rec_cb, &wr), 0);
	assert_int_equal(nt_loop_run_once(loop, 10), 0);
	assert_int_equal(wr.calls, 0);
	assert_int_equal(nt_loop_mod_fd(loop, p[1], NT_EV_WRITE), 0);
	assert_int_equal(nt_loop_run_once(loop, 100), 1);
	assert_int_equal(wr.calls, 1);
	assert_int_equal(wr.events, NT_EV_WRITE);
	assert_int_equal(nt_loop_mod_fd(loop, p[1], NT_EV_READ), 0);
	assert_int_equal(nt_loop_run_once(loop, 10), 0);
	assert_int_equal(wr.calls, 1);
	assert_int_equal(nt_loop_del_fd(loop, p[1]), 0);
	close(p[0]);
	close(p[1]);
}

static void test_fd_add_mod_del_errors(void **state)
{
	struct nt_loop *loop = *state;
	struct fd_rec r = {0};
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(nt_loop_add_fd(loop, -1, NT_EV_READ, fd_rec_cb, &r), -EINVAL);
	assert_int_equal(nt_loop_add_fd(loop, p[0], NT_EV_READ, NULL, &r), -EINVAL);
	assert_int_equal(nt_loop_add_fd(loop, p[0], NT_EV_READ, fd_rec_cb, &r), 0);
	assert_int_equal(nt_loop_add_fd(loop, p[0], NT_EV_READ, fd_rec_cb, &r), -EEXIST);
	assert_int_equal(nt_loop_mod_fd(loop, p[1], NT_EV_WRITE), -ENOENT);
	assert_int_equal(nt_loop_del_fd(loop, p[1]), -ENOENT);
	assert_int_equal(nt_loop_del_fd(loop, 100000), -ENOENT);
	assert_int_equal(nt_loop_del_fd(loop, p[0]), 0);
	assert_int_equal(nt_loop_del_fd(loop, p[0]), -ENOENT);
	close(p[0]);
	close(p[1]);
}

static void test_fd_take_hands_registration_to_new_owner(void **state)
{
	struct nt_loop *loop = *state;
	struct fd_rec first = {0}, second = {0}, third = {0};
	uint32_t ev = 0xff;
	int p[2];
	char c = 'x';

	assert_int_equal(pipe(p), 0);
	assert_int_equal(nt_loop_add_fd(loop, p[0], NT_EV_READ, fd_rec_cb, &first), 0);
	assert_int_equal(write(p[1], &c, 1), 1);
	assert_int_equal(nt_loop_take_fd(loop, p[0], NT_EV_READ, fd_rec_cb, &second), 0);
	assert_ptr_equal(nt_loop_fd_owner(loop, p[0], &ev), fd_rec_cb);
	assert_int_equal(ev, NT_EV_READ);
	assert_int_equal(nt_loop_run_once(loop, 100), 1);
	assert_int_equal(first.calls, 0);
	assert_int_equal(second.calls, 1);
	assert_int_equal(second.events, NT_EV_READ);

	/* A new interest takes effect with the hand-over. */
	assert_int_equal(nt_loop_take_fd(loop, p[0], 0, fd_rec_cb, &third), 0);
	assert_ptr_equal(nt_loop_fd_owner(loop, p[0], &ev), fd_rec_cb);
	assert_int_equal(ev, 0);
	assert_int_equal(nt_loop_run_once(loop, 10), 0);
	assert_int_equal(third.calls, 0);
	assert_int_equal(nt_loop_take_fd(loop, p[0], NT_EV_READ, fd_rec_cb, &third), 0);
	assert_int_equal(nt_loop_run_once(loop, 100), 1);
	assert_int_equal(third.calls, 1);
	assert_int_equal(second.calls, 1);

	/* An fd that is not watched is added; a NULL callback is refused. */
	assert_int_equal(nt_loop_take_fd(loop, p[1], NT_EV_WRITE, NULL, &first), -EINVAL);
	assert_null(nt_loop_fd_owner(loop, p[1], NULL));
	assert_int_equal(nt_loop_take_fd(loop, p[1], NT_EV_WRITE, fd_rec_cb, &first), 0);
	assert_int_equal(nt_loop_del_fd(loop, p[0]), 0);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(nt_loop_run_once(loop, 100), 1);
	assert_int_equal(first.calls, 1);
	assert_int_equal(first.events, NT_EV_WRITE);
	assert_int_equal(nt_loop_del_fd(loop, p[1]), 0);
	close(p[0]);
	close(p[1]);
}

static void test_fd_forget_then_close_leaves_no_trace(void **state)
{
	struct nt_loop *loop = *state;
	struct fd_rec old = {0}, fresh = {0};
	int p[2], q[2];
	char c = 'x';

	assert_int_equal(pipe(p), 0);
	assert_int_equal(nt_loop_add_fd(loop, p[0], NT_EV_READ, fd_rec_cb, &old), 0);
	assert_int_equal(write(p[1], &c, 1), 1);
	nt_loop_forget_fd(loop, p[0]);
	assert_null(nt_loop_fd_owner(loop, p[0], NULL));
	assert_int_equal(nt_loop_del_fd(loop, p[0]), -ENOENT);
	nt_loop_forget_fd(loop, p[0]); /* twice: a no-op */
	close(p[0]);
	assert_int_equal(nt_loop_run_once(loop, 10), 0);
	assert_int_equal(old.calls, 0);

	/* The number comes back for another file: it can be added again. */
	assert_int_equal(pipe(q), 0);
	assert_int_equal(nt_loop_add_fd(loop, q[0], NT_EV_READ, fd_rec_cb, &fresh), 0);
	assert_int_equal(write(q[1], &c, 1), 1);
	assert_int_equal(nt_loop_run_once(loop, 100), 1);
	assert_int_equal(fresh.calls, 1);
	assert_int_equal(old.calls, 0);
	nt_loop_forget_fd(loop, q[0]);
	close(q[0]);
	close(q[1]);
	close(p[1]);
}

/* Two readable pipes; whichever callback runs first deletes the other
 * watcher and frees its state, then re-adds that fd with a new callback.
 * The event already collected for the old registration must be dropped. */
struct del_ctx {
	int fds[2];
	int *calls[2];
	int first;
	struct fd_rec readded;
};

static void del_other_cb(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct del_ctx *ctx = arg;
	int me = fd == ctx->fds[0] ? 0 : 1;

	(void)events;
	assert_non_null(ctx->calls[me]); /* freed state means a stale call */
	(*ctx->calls[me])++;
	if (ctx->first < 0) {
		ctx->first = me;
		assert_int_equal(nt_loop_del_fd(loop, ctx->fds[!me]), 0);
		free(ctx->calls[!me]);
		ctx->calls[!me] = NULL;
		assert_int_equal(
		    nt_loop_add_fd(loop, ctx->fds[!me], NT_EV_READ, fd_rec_cb, &ctx->readded), 0);
	}
}

static void test_fd_del_in_callback_drops_pending_event(void **state)
{
	struct nt_loop *loop = *state;
	struct del_ctx ctx = {.first = -1};
	int a[2], b[2];
	char c = 'x';

	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	ctx.fds[0] = a[0];
	ctx.fds[1] = b[0];
	for (int i = 0; i < 2; i++) {
		ctx.calls[i] = calloc(1, sizeof(int));
		assert_non_null(ctx.calls[i]);
		assert_int_equal(nt_loop_add_fd(loop, ctx.fds[i], NT_EV_READ, del_other_cb, &ctx),
				 0);
	}
	assert_int_equal(write(a[1], &c, 1), 1);
	assert_int_equal(write(b[1], &c, 1), 1);
	/* Both events arrive in one batch; only one callback may run. */
	assert_int_equal(nt_loop_run_once(loop, 100), 1);
	assert_true(ctx.first == 0 || ctx.first == 1);
	assert_int_equal(*ctx.calls[ctx.first], 1);
	assert_null(ctx.calls[!ctx.first]);
	assert_int_equal(ctx.readded.calls, 0);
	/* The re-added watcher sees the still-readable fd next iteration.
	 * The first watcher stays readable too: two callbacks. */
	assert_int_equal(nt_loop_run_once(loop, 100), 2);
	assert_int_equal(ctx.readded.calls, 1);
	assert_int_equal(ctx.readded.fd, ctx.fds[!ctx.first]);
	assert_int_equal(*ctx.calls[ctx.first], 2);

	assert_int_equal(nt_loop_del_fd(loop, a[0]), 0);
	assert_int_equal(nt_loop_del_fd(loop, b[0]), 0);
	free(ctx.calls[ctx.first]);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

static void self_del_cb(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	(void)events;
	(*(int *)arg)++;
	assert_int_equal(nt_loop_del_fd(loop, fd), 0);
}

static void test_fd_del_self_in_callback(void **state)
{
	struct nt_loop *loop = *state;
	int p[2], calls = 0;

	assert_int_equal(pipe(p), 0);
	/* A watcher that deletes itself is called once, then never again. */
	assert_int_equal(nt_loop_add_fd(loop, p[1], NT_EV_WRITE, self_del_cb, &calls), 0);
	assert_int_equal(nt_loop_run_once(loop, 100), 1);
	assert_int_equal(nt_loop_run_once(loop, 10), 0);
	assert_int_equal(calls, 1);
	close(p[0]);
	close(p[1]);
}

struct mod_ctx {
	int fds[2];
	int calls[2];
	int first;
};

static void mod_other_cb(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct mod_ctx *ctx = arg;
	int me = fd == ctx->fds[0] ? 0 : 1;

	assert_int_equal(events, NT_EV_WRITE);
	ctx->calls[me]++;
	if (ctx->first < 0) {
		ctx->first = me;
		assert_int_equal(nt_loop_mod_fd(loop, ctx->fds[!me], NT_EV_READ), 0);
	}
}

static void test_fd_mod_in_callback_masks_pending_event(void **state)
{
	struct nt_loop *loop = *state;
	struct mod_ctx ctx = {.first = -1};
	int a[2], b[2];

	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	ctx.fds[0] = a[1];
	ctx.fds[1] = b[1];
	for (int i = 0; i < 2; i++)
		assert_int_equal(nt_loop_add_fd(loop, ctx.fds[i], NT_EV_WRITE, mod_other_cb, &ctx),
				 0);
	/* Both are writable in one batch; the first one stops caring about
	 * the other's writability, so the other is not told about it. */
	assert_int_equal(nt_loop_run_once(loop, 100), 1);
	assert_true(ctx.first == 0 || ctx.first == 1);
	assert_int_equal(ctx.calls[!ctx.first], 0);
	assert_int_equal(nt_loop_del_fd(loop, a[1]), 0);
	assert_int_equal(nt_loop_del_fd(loop, b[1]), 0);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

/* ---- signals ---- */

struct sig_rec {
	int signo;
	int calls;
	int code;
	bool stop;
};

static void sig_cb(struct nt_loop *loop, int signo, void *arg)
{
	struct sig_rec *s = arg;

	s->signo = signo;
	s->code = nt_loop_signal_code(loop);
	s->calls++;
	if (s->stop)
		nt_loop_stop(loop);
}

static void test_signal_sigusr1_reaches_callback(void **state)
{
	struct nt_loop *loop = *state;
	struct sig_rec s = {0};

	assert_int_equal(nt_loop_add_signal(loop, SIGUSR1, sig_cb, &s), 0);
	assert_int_equal(raise(SIGUSR1), 0);
	for (int i = 0; i < 10 && !s.calls; i++)
		assert_true(nt_loop_run_once(loop, 100) >= 0);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.signo, SIGUSR1);
	assert_int_equal(s.code, SI_TKILL); /* raise() is tgkill */
	assert_int_equal(kill(getpid(), SIGUSR1), 0);
	for (int i = 0; i < 10 && s.calls < 2; i++)
		assert_true(nt_loop_run_once(loop, 100) >= 0);
	assert_int_equal(s.calls, 2);
	assert_int_equal(s.code, SI_USER);
	assert_int_equal(sigqueue(getpid(), SIGUSR1, (union sigval){.sival_int = 7}), 0);
	for (int i = 0; i < 10 && s.calls < 3; i++)
		assert_true(nt_loop_run_once(loop, 100) >= 0);
	assert_int_equal(s.calls, 3);
	assert_int_equal(s.code, SI_QUEUE);
	assert_int_equal(nt_loop_add_signal(loop, SIGKILL, sig_cb, &s), -EINVAL);
	assert_int_equal(nt_loop_add_signal(loop, 0, sig_cb, &s), -EINVAL);
}

static void test_signal_sigterm_stops_loop_gracefully(void **state)
{
	struct nt_loop *loop = *state;
	struct sig_rec s = {.stop = true};

	assert_int_equal(nt_loop_add_signal(loop, SIGTERM, sig_cb, &s), 0);
	assert_int_equal(raise(SIGTERM), 0);
	run_guarded(loop);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.signo, SIGTERM);
}

static void test_signal_pending_at_free_is_discarded(void **state)
{
	struct nt_loop *loop;
	struct sig_rec s = {0};
	sigset_t mask;

	(void)state;
	assert_int_equal(nt_loop_new(&loop), 0);
	assert_int_equal(nt_loop_add_signal(loop, SIGUSR2, sig_cb, &s), 0);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &mask), 0);
	assert_true(sigismember(&mask, SIGUSR2));
	/* Left pending: unblocking it with the default action would end us. */
	assert_int_equal(raise(SIGUSR2), 0);
	nt_loop_free(loop);
	assert_int_equal(s.calls, 0);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &mask), 0);
	assert_false(sigismember(&mask, SIGUSR2));
}

/* ---- stopping ---- */

static void stop_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	(void)timer;
	(*(int *)arg)++;
	nt_loop_stop(loop);
}

static void test_stop_from_callback_returns_from_run(void **state)
{
	struct nt_loop *loop = *state;
	struct nt_timer stopper, later;
	int stops = 0, later_fired = 0;

	nt_timer_init(&stopper, stop_cb, &stops);
	nt_timer_init(&later, count_cb, &later_fired);
	assert_int_equal(nt_timer_arm(loop, &stopper, 1 * MS), 0);
	assert_int_equal(nt_timer_arm(loop, &later, 200 * MS), 0);
	run_guarded(loop);
	assert_int_equal(stops, 1);
	assert_int_equal(later_fired, 0);
	assert_true(nt_timer_armed(&later));
	/* The loop can run again after a stop. */
	assert_int_equal(nt_timer_arm(loop, &stopper, 1 * MS), 0);
	run_guarded(loop);
	assert_int_equal(stops, 2);
	nt_timer_cancel(loop, &later);
}

static void *stop_thread(void *arg)
{
	struct timespec ts = {0, 10 * 1000 * 1000};

	nanosleep(&ts, NULL);
	nt_loop_stop(arg);
	return NULL;
}

static void test_stop_from_another_thread_wakes_loop(void **state)
{
	struct nt_loop *loop = *state;
	pthread_t th;
	uint64_t start = nt_clock_mono_ns();

	assert_int_equal(pthread_create(&th, NULL, stop_thread, loop), 0);
	run_guarded(loop);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(nt_clock_mono_ns() - start < GUARD_NS / 2);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_loop, teardown_loop)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_timer_fires_in_deadline_order),
	    T(test_timer_equal_deadlines_fire_in_arming_order),
	    T(test_timer_cancelled_never_fires),
	    T(test_timer_cancel_from_callback_in_same_iteration),
	    T(test_timer_rearm_moves_deadline),
	    T(test_timer_rearms_itself_from_callback),
	    T(test_timer_heap_many_arm_cancel_rearm),
	    T(test_timer_heap_cancel_and_rearm_keep_order),
	    T(test_timer_precision_2ms),
	    T(test_loop_now_is_cached_per_iteration),
	    T(test_fd_pipe_readable_and_writable),
	    T(test_fd_mod_changes_interest),
	    T(test_fd_add_mod_del_errors),
	    T(test_fd_take_hands_registration_to_new_owner),
	    T(test_fd_forget_then_close_leaves_no_trace),
	    T(test_fd_del_in_callback_drops_pending_event),
	    T(test_fd_del_self_in_callback),
	    T(test_fd_mod_in_callback_masks_pending_event),
	    T(test_signal_sigusr1_reaches_callback),
	    T(test_signal_sigterm_stops_loop_gracefully),
	    cmocka_unit_test(test_signal_pending_at_free_is_discarded),
	    T(test_stop_from_callback_returns_from_run),
	    T(test_stop_from_another_thread_wakes_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
