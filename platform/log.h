/* SPDX-License-Identifier: MIT */
/* Logging: one line per event on stderr, key=value fields.
 *
 *   ts=2026-11-23T14:10:39.123Z level=info mod=tunnel event=handshake_done gid=gw1
 *
 * The format string carries the fields, starting with event=<snake_case>.
 * Values with spaces are quoted by the caller: reason="no route". Per-packet
 * detail belongs at trace; expected network noise at debug. Never log keys.
 * A line is written with a single write(2), so threads do not interleave.
 */
#ifndef NT_PLATFORM_LOG_H
#define NT_PLATFORM_LOG_H

#include <stdbool.h>

enum nt_log_level {
	NT_LOG_TRACE,
	NT_LOG_DEBUG,
	NT_LOG_INFO,
	NT_LOG_WARN,
	NT_LOG_ERROR,
	NT_LOG_OFF,
};

void nt_log_set_level(enum nt_log_level level);
enum nt_log_level nt_log_get_level(void);
/* "trace" .. "error", "off"; returns 0 or -EINVAL. */
int nt_log_parse_level(const char *name, enum nt_log_level *out);
const char *nt_log_level_name(enum nt_log_level level);
/* Redirects output (tests); fd -1 restores stderr. */
void nt_log_set_fd(int fd);

bool nt_log_enabled(enum nt_log_level level);
void nt_log_write(enum nt_log_level level, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define nt_log(level, mod, ...)                                                                    \
	do {                                                                                       \
		if (nt_log_enabled(level))                                                         \
			nt_log_write((level), (mod), __VA_ARGS__);                                 \
	} while (0)
#define nt_trace(mod, ...) nt_log(NT_LOG_TRACE, mod, __VA_ARGS__)
#define nt_debug(mod, ...) nt_log(NT_LOG_DEBUG, mod, __VA_ARGS__)
#define nt_info(mod, ...)  nt_log(NT_LOG_INFO, mod, __VA_ARGS__)
#define nt_warn(mod, ...)  nt_log(NT_LOG_WARN, mod, __VA_ARGS__)
#define nt_error(mod, ...) nt_log(NT_LOG_ERROR, mod, __VA_ARGS__)

#endif
