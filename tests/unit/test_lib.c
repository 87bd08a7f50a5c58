// SPDX-License-Identifier: MIT
/* The library (core/lib/): its event queue (overflow, coalescing, the fd
 * readable exactly while events wait, wake-ups across threads), commands
 * (order, unknown resources, a full queue), one session per process, and
 * 1000 start/stop cycles of a static-peer client on loopback with a flat fd
 * count (ASan's leak check runs at exit). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/lib/evq.h"
#include "core/lib/lib_int.h"
#include "core/lib/notun.h"

struct item {
	int v;
};

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void test_evq_overflow(void **state)
{
	struct nt_evq *q;
	struct item it;
	uint32_t lost;

	(void)state;
	assert_int_equal(nt_evq_new(&q, 3, 1, sizeof(it)), 0);
	for (int i = 0; i < 3; i++) {
		it.v = i;
		assert_int_equal(nt_evq_push(q, &it, NULL, false), 0);
	}
	it.v = 3;
	assert_int_equal(nt_evq_push(q, &it, NULL, false), -EAGAIN);
	/* The reserve is for urgent items only, once. */
	it.v = 4;
	assert_int_equal(nt_evq_push(q, &it, NULL, true), 0);
	assert_int_equal(nt_evq_push(q, &it, NULL, true), -EAGAIN);
	assert_int_equal(nt_evq_pop(q, &it, &lost), 0);
	assert_int_equal(it.v, 0);
	assert_int_equal(lost, 2);
	assert_int_equal(nt_evq_pop(q, &it, &lost), 0);
	assert_int_equal(lost, 0);
	assert_int_equal(nt_evq_lost(q), 2);
	nt_evq_free(q);
}

static void test_evq_coalesce(void **state)
{
	struct nt_evq *q;
	struct item it;
	uint32_t lost;

	(void)state;
	assert_int_equal(nt_evq_new(&q, 3, 0, sizeof(it)), 0);
	it.v = 1;
	assert_int_equal(nt_evq_push(q, &it, "access r1", false), 0);
	it.v = 2;
	assert_int_equal(nt_evq_push(q, &it, NULL, false), 0);
	it.v = 3;
	assert_int_equal(nt_evq_push(q, &it, "access r1", false), 0);
	/* The newer state replaced the queued one and went to the end. */
	assert_int_equal(nt_evq_len(q), 2);
	assert_int_equal(nt_evq_pop(q, &it, &lost), 0);
	assert_int_equal(it.v, 2);
	assert_int_equal(lost, 1);
	assert_int_equal(nt_evq_pop(q, &it, &lost), 0);
	assert_int_equal(it.v, 3);
	/* Full: a new state takes the place of the oldest state. */
	it.v = 10;
	assert_int_equal(nt_evq_push(q, &it, "tunnel a", false), 0);
	it.v = 11;
	assert_int_equal(nt_evq_push(q, &it, NULL, false), 0);
	it.v = 12;
	assert_int_equal(nt_evq_push(q, &it, "tunnel b", false), 0);
	it.v = 13;
	assert_int_equal(nt_evq_push(q, &it, "tunnel c", false), 0);
	it.v = 14;
	assert_int_equal(nt_evq_push(q, &it, NULL, false), -EAGAIN);
	assert_int_equal(nt_evq_pop(q, &it, &lost), 0);
	assert_int_equal(it.v, 11);
	assert_int_equal(lost, 2);
	assert_int_equal(nt_evq_pop(q, &it, NULL), 0);
	assert_int_equal(it.v, 12);
	assert_int_equal(nt_evq_pop(q, &it, NULL), 0);
	assert_int_equal(it.v, 13);
	assert_int_equal(nt_evq_pop(q, &it, NULL), -EAGAIN);
	nt_evq_free(q);
}

static void test_evq_fd(void **state)
{
	struct nt_evq *q;
	struct item it = {1};

	(void)state;
	assert_int_equal(nt_evq_new(&q, 4, 0, sizeof(it)), 0);
	assert_false(readable(nt_evq_fd(q)));
	assert_int_equal(nt_evq_push(q, &it, NULL, false), 0);
	assert_true(readable(nt_evq_fd(q)));
	assert_int_equal(nt_evq_push(q, &it, "k", false), 0);
	assert_int_equal(nt_evq_push(q, &it, "k", false), 0); /* coalesced: still 2 */
	assert_int_equal(nt_evq_pop(q, &it, NULL), 0);
	assert_true(readable(nt_evq_fd(q)));
	assert_int_equal(nt_evq_pop(q, &it, NULL), 0);
	assert_false(readable(nt_evq_fd(q)));
	assert_int_equal(nt_evq_push(q, &it, NULL, false), 0);
	nt_evq_clear(q);
	assert_false(readable(nt_evq_fd(q)));
	nt_evq_free(q);
}

#define PRODUCERS    4
#define PER_PRODUCER 2000
#define WAKE_WAIT_MS 5000

struct producer {
	struct nt_evq *q;
	int id;
	uint64_t refused;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	struct item it;

	for (int i = 0; i < PER_PRODUCER; i++) {
		it.v = p->id * PER_PRODUCER + i;
		while (nt_evq_push(p->q, &it, NULL, false) == -EAGAIN) {
			p->refused++;
			usleep(100);
		}
	}
	return NULL;
}

/* The consumer sleeps in poll() only: every item must wake it. */
static void test_evq_threads(void **state)
{
	static bool seen[PRODUCERS * PER_PRODUCER];
	struct producer p[PRODUCERS];
	pthread_t t[PRODUCERS];
	struct nt_evq *q;
	struct item it;
	int got = 0, last[PRODUCERS];

	(void)state;
	assert_int_equal(nt_evq_new(&q, 64, 0, sizeof(it)), 0);
	for (int i = 0; i < PRODUCERS; i++) {
		p[i] = (struct producer){q, i, 0};
		last[i] = -1;
		assert_int_equal(pthread_create(&t[i], NULL, produce, &p[i]), 0);
	}
	while (got < PRODUCERS * PER_PRODUCER) {
		struct pollfd pfd = {.fd = nt_evq_fd(q), .events = POLLIN};

		assert_int_equal(poll(&pfd, 1, WAKE_WAIT_MS), 1);
		while (nt_evq_pop(q, &it, NULL) == 0) {
			int who = it.v / PER_PRODUCER;

			assert_false(seen[it.v]);
			seen[it.v] = true;
			/* One producer's items stay in its order. */
			assert_true(it.v > last[who]);
			last[who] = it.v;
			got++;
		}
	}
	uint64_t refused = 0;

	for (int i = 0; i < PRODUCERS; i++) {
		pthread_join(t[i], NULL);
		refused += p[i].refused;
	}
	assert_false(readable(nt_evq_fd(q)));
	/* Refusals of a full queue are counted, nothing else was lost. */
	assert_int_equal(nt_evq_lost(q), refused);
	nt_evq_free(q);
}

/* ---- sessions ---- */

static const char config_text[] = "[Interface]\n"
				  "PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"
				  "Address = 10.77.0.2/32\n"
				  "[Peer]\n"
				  "PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n"
				  "AllowedIPs = 10.77.0.1/32\n"
				  "Endpoint = 127.0.0.1:9\n"
				  "[Proxy]\n"
				  "Listen = 127.0.0.1:0\n";

static struct notun_session *session(int log_fd)
{
	struct notun_options o;
	struct notun_session *s = NULL;
	char msg[256] = "";

	notun_options_init(&o);
	o.config_text = config_text;
	o.config_len = sizeof(config_text) - 1;
	o.log_fd = log_fd;
	assert_int_equal(notun_session_new(&o, &s, msg, sizeof(msg)), 0);
	return s;
}

/* The next event, waiting for the fd at most 5 s. */
static void next_event(struct notun_session *s, struct notun_event *ev)
{
	struct pollfd p = {.fd = notun_event_fd(s), .events = POLLIN};

	assert_int_equal(poll(&p, 1, WAKE_WAIT_MS), 1);
	assert_int_equal(notun_next_event(s, ev), 0);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_session_options(void **state)
{
	struct notun_options o;
	struct notun_session *s = NULL;
	char msg[256] = "";

	(void)state;
	notun_options_init(&o);
	assert_int_equal(notun_session_new(&o, &s, msg, sizeof(msg)), -EINVAL);
	o.config_text = "[Interface]\nBogus = 1\n";
	o.config_len = strlen(o.config_text);
	assert_int_equal(notun_session_new(&o, &s, msg, sizeof(msg)), -EINVAL);
	assert_true(strlen(msg) > 0);
	o.config_text = config_text;
	o.config_len = sizeof(config_text) - 1;
	o.listen[0] = "127.0.0.1";
	o.listen_count = 1;
	assert_int_equal(notun_session_new(&o, &s, msg, sizeof(msg)), -EINVAL);
	o.listen[0] = "127.0.0.1:0";
	assert_int_equal(notun_session_new(&o, &s, msg, sizeof(msg)), 0);
	/* Not running: commands are refused, the queue stays empty. */
	assert_int_equal(notun_reset(s), -ENOTCONN);
	assert_int_equal(notun_session_stop(s), -EINVAL);
	assert_int_equal(notun_api_version(), NOTUN_API_VERSION);
	assert_string_equal(notun_strerror(-EBUSY),
			    "a session already runs in this process (lwIP: one stack per process)");
	notun_session_free(s);
}

static void test_session_one_per_process(void **state)
{
	struct notun_session *a = session(-1), *b = session(-1);
	struct notun_event ev;

	(void)state;
	assert_int_equal(notun_session_start(a), 0);
	assert_int_equal(notun_session_start(a), -EALREADY);
	assert_int_equal(notun_session_start(b), -EBUSY);
	next_event(a, &ev);
	assert_int_equal(ev.type, NOTUN_EVENT_LISTENER_READY);
	assert_int_equal(ev.u.listener.count, 1);
	assert_true(strncmp(ev.u.listener.addr[0], "127.0.0.1:", 10) == 0);
	assert_int_equal(notun_session_stop(a), 0);
	next_event(a, &ev);
	assert_int_equal(ev.type, NOTUN_EVENT_STOPPED);
	/* Once the first stopped, the second may run; the first again after. */
	assert_int_equal(notun_session_start(b), 0);
	assert_int_equal(notun_session_stop(b), 0);
	assert_int_equal(notun_session_start(a), 0);
	notun_session_free(a);
	notun_session_free(b);
}

static void test_session_commands(void **state)
{
	struct notun_session *s = session(-1);
	struct notun_event ev;

	(void)state;
	assert_int_equal(notun_session_start(s), 0);
	next_event(s, &ev);
	assert_int_equal(ev.type, NOTUN_EVENT_LISTENER_READY);
	assert_int_equal(notun_resource_disable(s, NULL), -EINVAL);
	assert_int_equal(notun_set_log_level(s, (enum notun_log_level)99), -EINVAL);
	assert_int_equal(notun_resource_disable(s, "r1"), 0);
	assert_int_equal(notun_reset(s), 0);
	assert_int_equal(notun_resource_enable(s, "r2"), 0);
	assert_int_equal(notun_resource_disable(s, "r3"), 0);
	assert_int_equal(notun_request_stop(s), 0);
	/* In the order sent; unknown resources (no portal) fail each. */
	next_event(s, &ev);
	assert_int_equal(ev.type, NOTUN_EVENT_COMMAND_FAILED);
	assert_int_equal(ev.u.command.command, NOTUN_CMD_RESOURCE_DISABLE);
	assert_int_equal(ev.u.command.error, -ENOENT);
	assert_string_equal(ev.u.command.resource_id, "r1");
	next_event(s, &ev);
	assert_int_equal(ev.u.command.command, NOTUN_CMD_RESOURCE_ENABLE);
	assert_string_equal(ev.u.command.resource_id, "r2");
	next_event(s, &ev);
	assert_string_equal(ev.u.command.resource_id, "r3");
	next_event(s, &ev);
	assert_int_equal(ev.type, NOTUN_EVENT_STOPPED);
	assert_int_equal(ev.dropped, 0);
	assert_int_equal(notun_reset(s), -ENOTCONN);
	assert_int_equal(notun_session_stop(s), 0);
	notun_session_free(s);
}

static void set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	assert_int_equal(fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK), 0);
}

/* The session's thread blocks writing its log to a full pipe: the command
 * queue fills to its limit, then -EAGAIN; once the pipe drains, everything
 * queued is carried out. */
static void test_session_command_queue_full(void **state)
{
	char buf[4096];
	int pfd[2], accepted = 0;
	struct notun_session *s;
	struct notun_event ev;

	(void)state;
	assert_int_equal(pipe(pfd), 0);
	s = session(pfd[1]);
	assert_int_equal(notun_session_start(s), 0);
	set_nonblock(pfd[1], true);
	while (write(pfd[1], buf, sizeof(buf)) > 0 || errno != EAGAIN)
		;
	set_nonblock(pfd[1], false);
	assert_int_equal(notun_reset(s), 0); /* logs event=reset: blocks */
	usleep(300 * 1000);
	while (notun_resource_disable(s, "gone") == 0 && accepted <= NT_LIB_CMDS_MAX)
		accepted++;
	assert_int_equal(accepted, NT_LIB_CMDS_MAX);
	assert_int_equal(notun_resource_disable(s, "gone"), -EAGAIN);
	set_nonblock(pfd[0], true);
	for (int got = 0; got < NT_LIB_CMDS_MAX;) {
		while (read(pfd[0], buf, sizeof(buf)) > 0)
			;
		struct pollfd p = {.fd = notun_event_fd(s), .events = POLLIN};

		assert_int_equal(poll(&p, 1, WAKE_WAIT_MS), 1);
		while (notun_next_event(s, &ev) == 0)
			got += ev.type == NOTUN_EVENT_COMMAND_FAILED;
	}
	/* The stop's few log lines fit the drained pipe. */
	notun_session_free(s);
	close(pfd[0]);
	close(pfd[1]);
}

#define SENDERS	   4
#define PER_SENDER 500

static void *send_commands(void *arg)
{
	struct notun_session *s = arg;
	int busy = 0;

	for (int i = 0; i < PER_SENDER; i++) {
		int r = i % 3 == 0   ? notun_reset(s)
			: i % 3 == 1 ? notun_resource_disable(s, "x")
				     : notun_set_log_level(s, NOTUN_LOG_DEBUG);

		assert_true(r == 0 || r == -EAGAIN);
		busy += r == -EAGAIN;
	}
	return (void *)(intptr_t)busy;
}

static void test_session_concurrent_commands(void **state)
{
	struct notun_session *s = session(-1);
	pthread_t t[SENDERS];
	struct notun_event ev;
	int failed = 0;
	intptr_t busy = 0;
	void *r;

	(void)state;
	assert_int_equal(notun_session_start(s), 0);
	for (int i = 0; i < SENDERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, send_commands, s), 0);
	for (int i = 0; i < SENDERS; i++) {
		pthread_join(t[i], &r);
		busy += (intptr_t)r;
	}
	/* The queue may still be full: the stop waits its turn. */
	for (int i = 0; notun_request_stop(s) == -EAGAIN; i++) {
		assert_true(i < WAKE_WAIT_MS);
		usleep(1000);
	}
	for (;;) {
		next_event(s, &ev);
		failed += ev.type == NOTUN_EVENT_COMMAND_FAILED;
		if (ev.type == NOTUN_EVENT_STOPPED)
			break;
	}
	/* Every accepted disable failed once (unknown); the rest were refused
	 * as busy or lost in a full event queue. */
	assert_true(failed + notun_events_dropped(s) + busy >= SENDERS * ((PER_SENDER + 1) / 3));
	notun_session_free(s);
}

#define CYCLES 1000

/* The system resolver's workers are detached (a stuck getaddrinfo never
 * holds up a stop): the last one out closes the pool's queues a moment
 * after the session is gone. The count once it has held still for 100 ms
 * (at most 3 s). */
static int settled_fds(void)
{
	int last = count_fds(), same = 0;

	for (int i = 0; i < 300 && same < 10; i++) {
		int now;

		usleep(10 * 1000);
		now = count_fds();
		same = now == last ? same + 1 : 0;
		last = now;
	}
	return last;
}

static void test_session_cycles(void **state)
{
	struct timespec t0, t1;
	int before, after;

	(void)state;
	/* The first cycle's lasting allocations (libsodium, lwIP's pools) are
	 * not the cycle's. */
	struct notun_session *s = session(-1);

	assert_int_equal(notun_session_start(s), 0);
	notun_session_free(s);
	before = settled_fds();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < CYCLES; i++) {
		struct notun_event ev;

		s = session(-1);
		assert_int_equal(notun_session_start(s), 0);
		assert_int_equal(notun_next_event(s, &ev), 0);
		assert_int_equal(ev.type, NOTUN_EVENT_LISTENER_READY);
		assert_int_equal(notun_session_stop(s), 0);
		notun_session_free(s);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	after = settled_fds();
	assert_int_equal(after, before);
	print_message("%d cycles in %.1f s\n", CYCLES,
		      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_evq_overflow),
	    cmocka_unit_test(test_evq_coalesce),
	    cmocka_unit_test(test_evq_fd),
	    cmocka_unit_test(test_evq_threads),
	    cmocka_unit_test(test_session_options),
	    cmocka_unit_test(test_session_one_per_process),
	    cmocka_unit_test(test_session_commands),
	    cmocka_unit_test(test_session_command_queue_full),
	    cmocka_unit_test(test_session_concurrent_commands),
	    cmocka_unit_test(test_session_cycles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
