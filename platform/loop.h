/* SPDX-License-Identifier: MIT */
/* The engine's event loop: one epoll instance per thread that owns state.
 *
 * Everything the loop drives is event-driven: fd readiness, one-shot
 * monotonic timers (embedded in the caller's structs, no allocation per arm),
 * and signals delivered through a signalfd. The loop never polls.
 */
#ifndef NT_PLATFORM_LOOP_H
#define NT_PLATFORM_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NT_EV_READ  0x1u
#define NT_EV_WRITE 0x2u
#define NT_EV_ERROR 0x4u /* EPOLLERR or EPOLLHUP; always reported */

struct nt_loop;
struct nt_timer;

typedef void (*nt_fd_cb)(struct nt_loop *loop, int fd, uint32_t events, void *arg);
typedef void (*nt_timer_cb)(struct nt_loop *loop, struct nt_timer *timer, void *arg);
typedef void (*nt_signal_cb)(struct nt_loop *loop, int signo, void *arg);

/* Owned by the caller; the fields are the loop's. */
struct nt_timer {
	uint64_t deadline_ns;
	uint64_t seq;	   /* ties on deadline fire in arming order */
	size_t heap_index; /* SIZE_MAX while not armed */
	nt_timer_cb cb;
	void *arg;
};

int nt_loop_new(struct nt_loop **out);
void nt_loop_free(struct nt_loop *loop);

/* events: NT_EV_READ and/or NT_EV_WRITE, level-triggered. Returns 0, -EEXIST
 * (fd already watched), -EINVAL (bad fd) or the epoll_ctl error. Deleting an
 * fd (or deleting and re-adding it) from a callback is safe: events of the
 * current batch for the old registration are discarded. Delete before close.
 * mod/del return -ENOENT for an fd that is not watched. */
int nt_loop_add_fd(struct nt_loop *loop, int fd, uint32_t events, nt_fd_cb cb, void *arg);
int nt_loop_mod_fd(struct nt_loop *loop, int fd, uint32_t events);
int nt_loop_del_fd(struct nt_loop *loop, int fd);

/* Hands fd's registration to a new owner (cb, arg) with interest events,
 * without leaving and re-entering the epoll set: a system call only when
 * events differ from the current interest. Events of the current batch not
 * yet dispatched for fd go to the new owner (level-triggered: the owner sees
 * at worst a readiness it finds empty). An fd that is not watched is added.
 * Returns what nt_loop_add_fd or nt_loop_mod_fd returns. */
int nt_loop_take_fd(struct nt_loop *loop, int fd, uint32_t events, nt_fd_cb cb, void *arg);
/* The owner of a watched fd and, when events is not NULL, its interest; or
 * NULL (events untouched) for an fd that is not watched. */
nt_fd_cb nt_loop_fd_owner(const struct nt_loop *loop, int fd, uint32_t *events);
/* For an fd that the caller closes right after: forgets it without
 * EPOLL_CTL_DEL, since closing the last descriptor of a file removes it from
 * the epoll set anyway. Only when no duplicate of fd (dup, fork) may remain
 * open; otherwise use nt_loop_del_fd. A no-op on an fd that is not watched. */
void nt_loop_forget_fd(struct nt_loop *loop, int fd);

void nt_timer_init(struct nt_timer *timer, nt_timer_cb cb, void *arg);
/* Arms (or re-arms) the timer to fire once, delay_ns after this call (the
 * clock is read afresh, so it never fires early). Returns 0 or -ENOMEM. */
int nt_timer_arm(struct nt_loop *loop, struct nt_timer *timer, uint64_t delay_ns);
/* Same, at an absolute CLOCK_MONOTONIC deadline (nt_clock_mono_ns()). */
int nt_timer_arm_at(struct nt_loop *loop, struct nt_timer *timer, uint64_t deadline_ns);
/* A no-op on a timer that is not armed. */
void nt_timer_cancel(struct nt_loop *loop, struct nt_timer *timer);
bool nt_timer_armed(const struct nt_timer *timer);

/* Blocks signo for the calling thread and delivers it through the loop.
 * Call it before starting other threads so that they inherit the mask.
 * nt_loop_free() unblocks the signals that were not blocked before. */
int nt_loop_add_signal(struct nt_loop *loop, int signo, nt_signal_cb cb, void *arg);
/* In a signal callback: who sent it, as siginfo's si_code (SI_USER for
 * kill(), SI_KERNEL for the kernel itself, such as a terminal's Ctrl-C sent
 * to its whole foreground process group). */
int nt_loop_signal_code(const struct nt_loop *loop);

/* Runs until nt_loop_stop(); returns 0, or a negative errno on failure. */
int nt_loop_run(struct nt_loop *loop);
/* One iteration: waits at most timeout_ms (-1: until an event), dispatches
 * what is ready. Returns the number of callbacks run or a negative errno. */
int nt_loop_run_once(struct nt_loop *loop, int timeout_ms);
/* Makes nt_loop_run() return once the current iteration has dispatched what
 * it collected; safe from any thread. */
void nt_loop_stop(struct nt_loop *loop);

/* CLOCK_MONOTONIC ns, read once per iteration right after the wait. */
uint64_t nt_loop_now(const struct nt_loop *loop);

#endif
