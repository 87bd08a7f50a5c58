// SPDX-License-Identifier: MIT
/* Logging: one key=value line per event on stderr. */
#include "platform/log.h"

#include "platform/clock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One line, prefix included. Under PIPE_BUF, so a write to a pipe is atomic. */
#define LOG_LINE_MAX   1024
#define LOG_TRUNC_MARK "..."

static atomic_int log_level = NT_LOG_INFO;
static atomic_int log_fd = -1; /* -1: stderr */

static const char *const level_names[] = {
    [NT_LOG_TRACE] = "trace", [NT_LOG_DEBUG] = "debug", [NT_LOG_INFO] = "info",
    [NT_LOG_WARN] = "warn",   [NT_LOG_ERROR] = "error", [NT_LOG_OFF] = "off",
};

void nt_log_set_level(enum nt_log_level level)
{
	if (level >= NT_LOG_TRACE && level <= NT_LOG_OFF)
		atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum nt_log_level nt_log_get_level(void)
{
	return (enum nt_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int nt_log_parse_level(const char *name, enum nt_log_level *out)
{
	if (!name)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum nt_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *nt_log_level_name(enum nt_log_level level)
{
	if (level < NT_LOG_TRACE || level > NT_LOG_OFF)
		return "?";
	return level_names[level];
}

void nt_log_set_fd(int fd)
{
	atomic_store(&log_fd, fd < 0 ? -1 : fd);
}

bool nt_log_enabled(enum nt_log_level level)
{
	return level < NT_LOG_OFF &&
	       (int)level >= atomic_load_explicit(&log_level, memory_order_relaxed);
}

static size_t format_prefix(char *buf, size_t cap, enum nt_log_level level, const char *mod)
{
	uint64_t ns = nt_clock_real_ns();
	time_t secs = (time_t)(ns / NT_NS_PER_SEC);
	unsigned ms = (unsigned)(ns % NT_NS_PER_SEC / NT_NS_PER_MS);
	struct tm tm;
	char date[32];
	int n;

	if (!gmtime_r(&secs, &tm) || !strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(date, sizeof(date), "1970-01-01T00:00:00");
	n = snprintf(buf, cap, "ts=%s.%03uZ level=%s mod=%s ", date, ms, nt_log_level_name(level),
		     mod ? mod : "-");
	if (n < 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

void nt_log_write(enum nt_log_level level, const char *mod, const char *fmt, ...)
{
	/* Room for the newline and the terminating NUL vsnprintf insists on. */
	char line[LOG_LINE_MAX + 1];
	const size_t body_cap = LOG_LINE_MAX - 1; /* text before the newline */
	int saved_errno = errno;
	size_t len;
	va_list ap;
	int fd, n;

	if (!nt_log_enabled(level))
		return;
	len = format_prefix(line, body_cap + 1, level, mod);
	va_start(ap, fmt);
	n = vsnprintf(line + len, body_cap + 1 - len, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n > body_cap - len) {
		len = body_cap;
		memcpy(line + len - strlen(LOG_TRUNC_MARK), LOG_TRUNC_MARK, strlen(LOG_TRUNC_MARK));
	} else if (n > 0) {
		len += (size_t)n;
	}
	line[len++] = '\n';

	fd = atomic_load(&log_fd);
	if (fd < 0)
		fd = STDERR_FILENO;
	/* One write per line; a failed log line is not worth an error path. */
	while (write(fd, line, len) < 0 && errno == EINTR)
		;
	errno = saved_errno;
}
