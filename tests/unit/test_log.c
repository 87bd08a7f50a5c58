// SPDX-License-Identifier: MIT
/* platform/log.c: levels, fields and bounded lines. */
#include "platform/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define LINE_MAX_BYTES 1024 /* the documented bound, newline included */

struct pipe_fds {
	int rd;
	int wr;
};

static int setup_pipe(void **state)
{
	static struct pipe_fds p;
	int fds[2];

	if (pipe2(fds, O_NONBLOCK) < 0)
		return -1;
	p.rd = fds[0];
	p.wr = fds[1];
	nt_log_set_fd(p.wr);
	nt_log_set_level(NT_LOG_INFO);
	*state = &p;
	return 0;
}

static int teardown_pipe(void **state)
{
	struct pipe_fds *p = *state;

	nt_log_set_fd(-1);
	nt_log_set_level(NT_LOG_INFO);
	close(p->rd);
	close(p->wr);
	return 0;
}

/* Everything written so far (the pipe is non-blocking); NUL-terminated. */
static size_t drain(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;

	while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return len;
}

static void assert_matches(const char *text, const char *pattern)
{
	regex_t re;
	int rc;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	rc = regexec(&re, text, 0, NULL, 0);
	regfree(&re);
	if (rc != 0)
		fail_msg("\"%s\" does not match /%s/", text, pattern);
}

static void test_log_line_format(void **state)
{
	struct pipe_fds *p = *state;
	char buf[2048];
	struct tm tm = {0};
	time_t logged, now;

	nt_info("tunnel", "event=handshake_done gid=%s n=%d", "gw1", 3);
	drain(p->rd, buf, sizeof(buf));
	assert_matches(buf, "^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
			    "level=info mod=tunnel event=handshake_done gid=gw1 n=3\n$");
	/* The timestamp is UTC and current. */
	assert_non_null(strptime(buf + 3, "%Y-%m-%dT%H:%M:%S", &tm));
	logged = timegm(&tm);
	now = time(NULL);
	assert_true(logged <= now && now - logged <= 5);

	nt_warn("proxy", "event=refused reason=\"no route\"");
	nt_error("core", "event=boom");
	drain(p->rd, buf, sizeof(buf));
	assert_matches(buf, "^ts=[^ ]+Z level=warn mod=proxy event=refused reason=\"no route\"\n"
			    "ts=[^ ]+Z level=error mod=core event=boom\n$");
}

static void test_log_level_filtering(void **state)
{
	struct pipe_fds *p = *state;
	char buf[2048];

	nt_log_set_level(NT_LOG_WARN);
	assert_int_equal(nt_log_get_level(), NT_LOG_WARN);
	assert_false(nt_log_enabled(NT_LOG_INFO));
	assert_true(nt_log_enabled(NT_LOG_WARN));
	nt_trace("m", "event=t");
	nt_debug("m", "event=d");
	nt_info("m", "event=i");
	assert_int_equal(drain(p->rd, buf, sizeof(buf)), 0);
	nt_warn("m", "event=w");
	nt_error("m", "event=e");
	drain(p->rd, buf, sizeof(buf));
	assert_matches(buf, "^ts=[^ ]+ level=warn mod=m event=w\nts=[^ ]+ level=error mod=m "
			    "event=e\n$");

	nt_log_set_level(NT_LOG_TRACE);
	nt_trace("m", "event=t");
	drain(p->rd, buf, sizeof(buf));
	assert_matches(buf, "^ts=[^ ]+ level=trace mod=m event=t\n$");

	nt_log_set_level(NT_LOG_OFF);
	assert_false(nt_log_enabled(NT_LOG_ERROR));
	nt_error("m", "event=e");
	nt_log_write(NT_LOG_ERROR, "m", "event=direct");
	assert_int_equal(drain(p->rd, buf, sizeof(buf)), 0);
	/* OFF is a threshold, never a level to log at. */
	nt_log_set_level(NT_LOG_TRACE);
	assert_false(nt_log_enabled(NT_LOG_OFF));
}

static void test_log_parse_level(void **state)
{
	static const char *const names[] = {"trace", "debug", "info", "warn", "error", "off"};
	enum nt_log_level level;

	(void)state;
	for (int i = NT_LOG_TRACE; i <= NT_LOG_OFF; i++) {
		level = NT_LOG_INFO;
		assert_int_equal(nt_log_parse_level(names[i], &level), 0);
		assert_int_equal(level, i);
		assert_string_equal(nt_log_level_name((enum nt_log_level)i), names[i]);
	}
	level = NT_LOG_WARN;
	assert_int_equal(nt_log_parse_level("INFO", &level), -EINVAL);
	assert_int_equal(nt_log_parse_level("", &level), -EINVAL);
	assert_int_equal(nt_log_parse_level("verbose", &level), -EINVAL);
	assert_int_equal(nt_log_parse_level("info ", &level), -EINVAL);
	assert_int_equal(nt_log_parse_level(NULL, &level), -EINVAL);
	assert_int_equal(level, NT_LOG_WARN); /* untouched on error */
}

static void test_log_truncates_overlong_line(void **state)
{
	struct pipe_fds *p = *state;
	char big[5000], buf[8192];
	size_t len;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	nt_info("tunnel", "event=big data=%s", big);
	len = drain(p->rd, buf, sizeof(buf));
	assert_int_equal(len, LINE_MAX_BYTES);
	assert_int_equal(buf[len - 1], '\n');
	assert_ptr_equal(strchr(buf, '\n'), buf + len - 1);
	assert_memory_equal(buf + len - 4, "...", 3);
	assert_matches(buf, "^ts=[^ ]+ level=info mod=tunnel event=big data=a+\\.\\.\\.\n$");

	/* A line just within the bound is left whole. */
	nt_info("tunnel", "event=x");
	len = drain(p->rd, buf, sizeof(buf));
	big[LINE_MAX_BYTES - len] = '\0'; /* room left: newline already counted */
	nt_info("tunnel", "event=x%s", big);
	len = drain(p->rd, buf, sizeof(buf));
	assert_int_equal(len, LINE_MAX_BYTES);
	assert_int_equal(buf[len - 2], 'a');
	assert_int_equal(buf[len - 1], '\n');
	/* One byte more is truncated, and still bounded. */
	big[strlen(big)] = 'a';
	nt_info("tunnel", "event=x%s", big);
	len = drain(p->rd, buf, sizeof(buf));
	assert_int_equal(len, LINE_MAX_BYTES);
	assert_memory_equal(buf + len - 4, "...\n", 4);
}

static void test_log_preserves_errno(void **state)
{
	struct pipe_fds *p = *state;
	char buf[256];

	errno = EPIPE;
	nt_info("m", "event=e err=%d", errno);
	assert_int_equal(errno, EPIPE);
	drain(p->rd, buf, sizeof(buf));
	assert_matches(buf, "event=e err=32\n$");
}

enum { LOG_THREADS = 4, LOG_LINES = 200 };

static void *log_thread(void *arg)
{
	int id = (int)(intptr_t)arg;

	for (int i = 0; i < LOG_LINES; i++)
		nt_info("thr", "event=line t=%d i=%d pad=%0300d", id, i, 0);
	return NULL;
}

static void test_log_lines_from_threads_never_interleave(void **state)
{
	struct pipe_fds *p = *state;
	static char buf[LOG_THREADS * LOG_LINES * 512];
	pthread_t th[LOG_THREADS];
	int next[LOG_THREADS] = {0}, lines = 0;
	size_t len = 0;
	char *line;

	/* The writers block on a full pipe rather than lose lines; the reader
	 * keeps up while they write. */
	assert_int_equal(fcntl(p->wr, F_SETFL, 0), 0);
	for (int t = 0; t < LOG_THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, log_thread, (void *)(intptr_t)t), 0);
	for (int i = 0; i < 100000 && lines < LOG_THREADS * LOG_LINES; i++) {
		struct pollfd pfd = {.fd = p->rd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 2000) != 1)
			break;
		n = read(p->rd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		for (ssize_t j = 0; j < n; j++)
			lines += buf[len + (size_t)j] == '\n';
		len += (size_t)n;
	}
	for (int t = 0; t < LOG_THREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	assert_int_equal(lines, LOG_THREADS * LOG_LINES);
	buf[len] = '\0';
	lines = 0;
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		int t, i;

		char *pad;

		assert_matches(line, "^ts=[^ ]+Z level=info mod=thr event=line t=[0-9] i=[0-9]+ "
				     "pad=0+$");
		pad = strstr(line, "pad=") + 4;
		assert_int_equal(strspn(pad, "0"), 300);
		assert_int_equal(strlen(pad), 300);
		assert_int_equal(sscanf(strstr(line, " t="), " t=%d i=%d", &t, &i), 2);
		assert_true(t >= 0 && t < LOG_THREADS);
		assert_int_equal(i, next[t]);
		next[t]++;
		lines++;
	}
	assert_int_equal(lines, LOG_THREADS * LOG_LINES);
}

static void test_log_default_level_is_info(void **state)
{
	(void)state;
	assert_int_equal(nt_log_get_level(), NT_LOG_INFO);
	assert_true(nt_log_enabled(NT_LOG_INFO));
	assert_false(nt_log_enabled(NT_LOG_DEBUG));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_pipe, teardown_pipe)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_log_default_level_is_info),
	    T(test_log_line_format),
	    T(test_log_level_filtering),
	    T(test_log_parse_level),
	    T(test_log_truncates_overlong_line),
	    T(test_log_preserves_errno),
	    T(test_log_lines_from_threads_never_interleave),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
