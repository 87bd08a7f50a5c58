// SPDX-License-Identifier: MIT
/* The event loop: epoll + one timerfd + one signalfd + one eventfd.
 *
 * One iteration (nt_loop_run_once):
 *   1. program the timerfd (CLOCK_MONOTONIC, absolute) to the earliest timer
 *      deadline, so timers get ns precision rather than epoll's ms;
 *   2. epoll_wait, then cache "now";
 *   3. dispatch fd events; the internal fds (timerfd, signalfd, stop eventfd)
 *      are drained here;
 *   4. fire every timer whose deadline has passed, in (deadline, seq) order.
 *      Timers armed during this phase wait for the next iteration, so a
 *      timer that re-arms itself with delay 0 cannot starve the fds.
 * nt_loop_stop() takes effect between iterations: the current one completes.
 *
 * fd watchers live in a table indexed by fd. Each registration gets a fresh
 * generation number carried in epoll's user data, so an event of the current
 * batch for an fd that a callback deleted (or deleted and re-added) is
 * recognised as stale and dropped instead of calling the wrong callback.
 */
#include "platform/loop.h"

#include "platform/clock.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define LOOP_BATCH   64
#define LOOP_MAX_FD  (1 << 22) /* bound on the fd table; far above any RLIMIT_NOFILE */
#define LOOP_SIGNALS 65	       /* signal numbers 1..64 */

/* epoll user data of the internal fds; never a valid (generation, fd) pair. */
#define TAG_TIMERFD  UINT64_MAX
#define TAG_SIGNALFD (UINT64_MAX - 1)
#define TAG_WAKEFD   (UINT64_MAX - 2)

struct fd_watch {
	nt_fd_cb cb;
	void *arg;
	uint32_t events;
	uint32_t gen; /* 0: not watched */
};

struct sig_watch {
	nt_signal_cb cb;
	void *arg;
};

struct nt_loop {
	int epfd;
	int timerfd;
	int signalfd; /* -1 until the first signal is added */
	int wakefd;
	struct fd_watch *fds;
	size_t fds_cap;
	uint32_t next_gen;
	struct nt_timer **heap;
	size_t heap_len;
	size_t heap_cap;
	uint64_t next_seq;
	uint64_t timerfd_deadline; /* what the timerfd is set to; 0: disarmed/unknown */
	uint64_t now;
	atomic_bool stop;
	sigset_t sigs;	  /* signals delivered through the signalfd */
	sigset_t unblock; /* those of them we blocked ourselves */
	struct sig_watch sig[LOOP_SIGNALS];
	int sig_code; /* si_code of the signal being dispatched */
};

static int epoll_add(int epfd, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = {.events = events, .data.u64 = data};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int nt_loop_new(struct nt_loop **out)
{
	struct nt_loop *loop;
	int err;

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	loop->signalfd = -1;
	loop->next_gen = 1;
	sigemptyset(&loop->sigs);
	sigemptyset(&loop->unblock);
	atomic_init(&loop->stop, false);

	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		err = -errno;
		goto err_loop;
	}
	loop->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (loop->timerfd < 0) {
		err = -errno;
		goto err_epfd;
	}
	err = epoll_add(loop->epfd, loop->timerfd, EPOLLIN, TAG_TIMERFD);
	if (err)
		goto err_timerfd;
	loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->wakefd < 0) {
		err = -errno;
		goto err_timerfd;
	}
	err = epoll_add(loop->epfd, loop->wakefd, EPOLLIN, TAG_WAKEFD);
	if (err)
		goto err_wakefd;
	loop->now = nt_clock_mono_ns();
	*out = loop;
	return 0;

err_wakefd:
	close(loop->wakefd);
err_timerfd:
	close(loop->timerfd);
err_epfd:
	close(loop->epfd);
err_loop:
	free(loop);
	return err;
}

static void drain_signals(struct nt_loop *loop)
{
	struct signalfd_siginfo si[8];

	while (read(loop->signalfd, si, sizeof(si)) > 0)
		;
}

void nt_loop_free(struct nt_loop *loop)
{
	if (!loop)
		return;
	for (size_t i = 0; i < loop->heap_len; i++)
		loop->heap[i]->heap_index = SIZE_MAX;
	if (loop->signalfd >= 0) {
		/* Consume what is pending so unblocking does not deliver it with
		 * the default action (which for SIGTERM would kill the process). */
		drain_signals(loop);
		pthread_sigmask(SIG_UNBLOCK, &loop->unblock, NULL);
		close(loop->signalfd);
	}
	close(loop->wakefd);
	close(loop->timerfd);
	close(loop->epfd);
	free(loop->heap);
	free(loop->fds);
	free(loop);
}

/* ---- fd watchers ---- */

static uint32_t to_epoll(uint32_t events)
{
	return ((events & NT_EV_READ) ? EPOLLIN : 0) | ((events & NT_EV_WRITE) ? EPOLLOUT : 0);
}

static uint32_t from_epoll(uint32_t ev)
{
	return ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLPRI)) ? NT_EV_READ : 0) |
	       ((ev & EPOLLOUT) ? NT_EV_WRITE : 0) |
	       ((ev & (EPOLLERR | EPOLLHUP)) ? NT_EV_ERROR : 0);
}

static uint64_t fd_data(int fd, uint32_t gen)
{
	return ((uint64_t)gen << 32) | (uint32_t)fd;
}

static int fds_reserve(struct nt_loop *loop, int fd)
{
	size_t cap = loop->fds_cap ? loop->fds_cap : 64;
	struct fd_watch *fds;

	if ((size_t)fd < loop->fds_cap)
		return 0;
	while (cap <= (size_t)fd)
		cap *= 2;
	fds = realloc(loop->fds, cap * sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	memset(fds + loop->fds_cap, 0, (cap - loop->fds_cap) * sizeof(*fds));
	loop->fds = fds;
	loop->fds_cap = cap;
	return 0;
}

static struct fd_watch *fd_lookup(struct nt_loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->fds_cap || !loop->fds[fd].gen)
		return NULL;
	return &loop->fds[fd];
}

int nt_loop_add_fd(struct nt_loop *loop, int fd, uint32_t events, nt_fd_cb cb, void *arg)
{
	struct fd_watch *w;
	int err;

	if (fd < 0 || fd >= LOOP_MAX_FD || !cb)
		return -EINVAL;
	if (fd_lookup(loop, fd))
		return -EEXIST;
	err = fds_reserve(loop, fd);
	if (err)
		return err;
	w = &loop->fds[fd];
	if (++loop->next_gen == 0)
		loop->next_gen = 1;
	err = epoll_add(loop->epfd, fd, to_epoll(events), fd_data(fd, loop->next_gen));
	if (err)
		return err;
	w->cb = cb;
	w->arg = arg;
	w->events = events & (NT_EV_READ | NT_EV_WRITE);
	w->gen = loop->next_gen;
	return 0;
}

int nt_loop_mod_fd(struct nt_loop *loop, int fd, uint32_t events)
{
	struct fd_watch *w = fd_lookup(loop, fd);
	struct epoll_event ev;

	if (!w)
		return -ENOENT;
	ev.events = to_epoll(events);
	ev.data.u64 = fd_data(fd, w->gen);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	w->events = events & (NT_EV_READ | NT_EV_WRITE);
	return 0;
}

int nt_loop_del_fd(struct nt_loop *loop, int fd)
{
	struct fd_watch *w = fd_lookup(loop, fd);

	if (!w)
		return -ENOENT;
	/* EBADF: the caller closed the fd first, which already removed it
	 * from the epoll set; forget it all the same. */
	if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != EBADF && errno != ENOENT)
		return -errno;
	memset(w, 0, sizeof(*w));
	return 0;
}

int nt_loop_take_fd(struct nt_loop *loop, int fd, uint32_t events, nt_fd_cb cb, void *arg)
{
	struct fd_watch *w = fd_lookup(loop, fd);
	int err;

	if (!cb)
		return -EINVAL;
	if (!w)
		return nt_loop_add_fd(loop, fd, events, cb, arg);
	if ((events & (NT_EV_READ | NT_EV_WRITE)) != w->events) {
		err = nt_loop_mod_fd(loop, fd, events);
		if (err)
			return err;
	}
	w->cb = cb;
	w->arg = arg;
	return 0;
}

nt_fd_cb nt_loop_fd_owner(const struct nt_loop *loop, int fd, uint32_t *events)
{
	if (fd < 0 || (size_t)fd >= loop->fds_cap || !loop->fds[fd].gen)
		return NULL;
	if (events)
		*events = loop->fds[fd].events;
	return loop->fds[fd].cb;
}

void nt_loop_forget_fd(struct nt_loop *loop, int fd)
{
	struct fd_watch *w = fd_lookup(loop, fd);

	/* A later registration of the same number gets a new generation, so
	 * an event of this batch for the closed file is still recognised. */
	if (w)
		memset(w, 0, sizeof(*w));
}

/* ---- timers: a binary min-heap of caller-owned structs ---- */

static bool timer_before(const struct nt_timer *a, const struct nt_timer *b)
{
	return a->deadline_ns < b->deadline_ns ||
	       (a->deadline_ns == b->deadline_ns && a->seq < b->seq);
}

static void heap_set(struct nt_loop *loop, size_t i, struct nt_timer *t)
{
	loop->heap[i] = t;
	t->heap_index = i;
}

static void heap_up(struct nt_loop *loop, size_t i)
{
	struct nt_timer *t = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_before(t, loop->heap[parent]))
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void heap_down(struct nt_loop *loop, size_t i)
{
	struct nt_timer *t = loop->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= loop->heap_len)
			break;
		if (child + 1 < loop->heap_len &&
		    timer_before(loop->heap[child + 1], loop->heap[child]))
			child++;
		if (!timer_before(loop->heap[child], t))
			break;
		heap_set(loop, i, loop->heap[child]);
		i = child;
	}
	heap_set(loop, i, t);
}

static void heap_remove(struct nt_loop *loop, struct nt_timer *t)
{
	size_t i = t->heap_index;
	struct nt_timer *last = loop->heap[--loop->heap_len];

	t->heap_index = SIZE_MAX;
	if (last == t)
		return;
	heap_set(loop, i, last);
	if (i > 0 && timer_before(last, loop->heap[(i - 1) / 2]))
		heap_up(loop, i);
	else
		heap_down(loop, i);
}

void nt_timer_init(struct nt_timer *timer, nt_timer_cb cb, void *arg)
{
	memset(timer, 0, sizeof(*timer));
	timer->heap_index = SIZE_MAX;
	timer->cb = cb;
	timer->arg = arg;
}

bool nt_timer_armed(const struct nt_timer *timer)
{
	return timer->heap_index != SIZE_MAX;
}

int nt_timer_arm_at(struct nt_loop *loop, struct nt_timer *timer, uint64_t deadline_ns)
{
	if (!nt_timer_armed(timer)) {
		if (loop->heap_len == loop->heap_cap) {
			size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
			struct nt_timer **heap = realloc(loop->heap, cap * sizeof(*heap));

			if (!heap)
				return -ENOMEM;
			loop->heap = heap;
			loop->heap_cap = cap;
		}
		timer->deadline_ns = deadline_ns;
		timer->seq = loop->next_seq++;
		heap_set(loop, loop->heap_len++, timer);
		heap_up(loop, timer->heap_index);
		return 0;
	}
	/* Re-arm in place: a later deadline or a fresh seq can only sink it
	 * unless the deadline moved earlier. */
	timer->deadline_ns = deadline_ns;
	timer->seq = loop->next_seq++;
	heap_up(loop, timer->heap_index);
	heap_down(loop, timer->heap_index);
	return 0;
}

int nt_timer_arm(struct nt_loop *loop, struct nt_timer *timer, uint64_t delay_ns)
{
	uint64_t now = nt_clock_mono_ns();
	uint64_t deadline = delay_ns > UINT64_MAX - now ? UINT64_MAX : now + delay_ns;

	return nt_timer_arm_at(loop, timer, deadline);
}

void nt_timer_cancel(struct nt_loop *loop, struct nt_timer *timer)
{
	if (nt_timer_armed(timer))
		heap_remove(loop, timer);
}

static int timerfd_program(struct nt_loop *loop)
{
	struct itimerspec its = {0};
	uint64_t deadline = 0;

	/* 0 means disarmed to timerfd_settime, so a due timer asks for 1 ns. */
	if (loop->heap_len)
		deadline = loop->heap[0]->deadline_ns ? loop->heap[0]->deadline_ns : 1;
	if (deadline == loop->timerfd_deadline)
		return 0;
	its.it_value.tv_sec = (time_t)(deadline / NT_NS_PER_SEC);
	its.it_value.tv_nsec = (long)(deadline % NT_NS_PER_SEC);
	if (timerfd_settime(loop->timerfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return -errno;
	loop->timerfd_deadline = deadline;
	return 0;
}

static int run_timers(struct nt_loop *loop)
{
	uint64_t seq_limit = loop->next_seq;
	int ran = 0;

	while (loop->heap_len) {
		struct nt_timer *t = loop->heap[0];

		if (t->deadline_ns > loop->now || t->seq >= seq_limit)
			break;
		heap_remove(loop, t);
		ran++;
		t->cb(loop, t, t->arg);
	}
	return ran;
}

/* ---- signals ---- */

int nt_loop_add_signal(struct nt_loop *loop, int signo, nt_signal_cb cb, void *arg)
{
	sigset_t one, old, sigs = loop->sigs;
	int fd, err;

	if (signo <= 0 || signo >= LOOP_SIGNALS || signo == SIGKILL || signo == SIGSTOP || !cb)
		return -EINVAL;
	if (sigaddset(&sigs, signo) < 0)
		return -EINVAL;
	sigemptyset(&one);
	sigaddset(&one, signo);
	err = pthread_sigmask(SIG_BLOCK, &one, &old);
	if (err)
		return -err;
	fd = signalfd(loop->signalfd, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto err_mask;
	}
	if (loop->signalfd < 0) {
		err = epoll_add(loop->epfd, fd, EPOLLIN, TAG_SIGNALFD);
		if (err) {
			close(fd);
			goto err_mask;
		}
		loop->signalfd = fd;
	}
	if (!sigismember(&old, signo))
		sigaddset(&loop->unblock, signo);
	loop->sigs = sigs;
	loop->sig[signo].cb = cb;
	loop->sig[signo].arg = arg;
	return 0;

err_mask:
	if (!sigismember(&old, signo))
		pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	return err;
}

static int dispatch_signals(struct nt_loop *loop)
{
	struct signalfd_siginfo si[8];
	int ran = 0;
	ssize_t n;

	while ((n = read(loop->signalfd, si, sizeof(si))) > 0) {
		for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++) {
			int signo = (int)si[i].ssi_signo;

			if (signo > 0 && signo < LOOP_SIGNALS && loop->sig[signo].cb) {
				ran++;
				loop->sig_code = si[i].ssi_code;
				loop->sig[signo].cb(loop, signo, loop->sig[signo].arg);
			}
		}
	}
	return ran;
}

int nt_loop_signal_code(const struct nt_loop *loop)
{
	return loop->sig_code;
}

/* ---- the loop ---- */

static void drain_fd(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) > 0)
		;
}

static int dispatch_fd(struct nt_loop *loop, const struct epoll_event *ev)
{
	int fd = (int)(uint32_t)ev->data.u64;
	uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
	struct fd_watch *w;
	uint32_t events;

	switch (ev->data.u64) {
	case TAG_TIMERFD:
		drain_fd(loop->timerfd);
		/* The expiry is consumed: force the next iteration to re-set it. */
		loop->timerfd_deadline = 0;
		return 0;
	case TAG_WAKEFD:
		drain_fd(loop->wakefd);
		return 0;
	case TAG_SIGNALFD:
		return dispatch_signals(loop);
	}
	w = fd_lookup(loop, fd);
	if (!w || w->gen != gen)
		return 0; /* deleted (maybe re-added) earlier in this batch */
	events = from_epoll(ev->events) & (w->events | NT_EV_ERROR);
	if (!events)
		return 0;
	w->cb(loop, fd, events, w->arg);
	return 1;
}

int nt_loop_run_once(struct nt_loop *loop, int timeout_ms)
{
	struct epoll_event evs[LOOP_BATCH];
	int n, ran = 0, err;

	/* A timer already due (the zero-delay ones that end an iteration)
	 * needs no timerfd: setting and draining it would cost two syscalls. */
	if (loop->heap_len && loop->heap[0]->deadline_ns <= nt_clock_mono_ns()) {
		timeout_ms = 0;
	} else {
		err = timerfd_program(loop);
		if (err)
			return err;
	}
	n = epoll_wait(loop->epfd, evs, LOOP_BATCH, timeout_ms);
	if (n < 0 && errno != EINTR)
		return -errno;
	loop->now = nt_clock_mono_ns();
	for (int i = 0; i < n; i++)
		ran += dispatch_fd(loop, &evs[i]);
	return ran + run_timers(loop);
}

int nt_loop_run(struct nt_loop *loop)
{
	int err = 0;

	while (!atomic_load(&loop->stop)) {
		err = nt_loop_run_once(loop, -1);
		if (err < 0)
			break;
		err = 0;
	}
	atomic_store(&loop->stop, false);
	return err;
}

void nt_loop_stop(struct nt_loop *loop)
{
	uint64_t one = 1;

	atomic_store(&loop->stop, true);
	/* Wakes epoll_wait when called from another thread; harmless otherwise. */
	if (write(loop->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is already non-zero, the loop will wake. */
	}
}

uint64_t nt_loop_now(const struct nt_loop *loop)
{
	return loop->now;
}
