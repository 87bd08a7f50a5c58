/* SPDX-License-Identifier: MIT */
/* The small request/answer server both endpoints share (the control
 * socket, the metrics page), on the role's loop: a listening socket, at
 * most max_conns connections, each reading one bounded request, writing
 * one answer without blocking and closing gracefully (the write side shut,
 * then what the client still sends read and dropped until it closes), all
 * within timeout_ms or closed. A slow client holds one slot, never the
 * loop. */
#ifndef NT_CORE_CTL_SRV_H
#define NT_CORE_CTL_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nt_loop;
struct nt_ctl_srv;

struct nt_ctl_srv_ops {
	/* A new connection: false closes it at once (the callee logged why
	 * and may have written a line to fd). NULL: every one is taken. */
	bool (*admit)(void *arg, int fd);
	/* The request so far (buf[len], NUL-terminated; full when it reached
	 * req_max). 0: read more (not allowed when full: the connection is
	 * closed); 1: *answer (malloc'd, taken over) is written; negative:
	 * close without an answer. */
	int (*request)(void *arg, const char *buf, size_t len, bool full, char **answer,
		       size_t *answer_len);
};

struct nt_ctl_srv_config {
	const char *mod; /* log module */
	size_t max_conns;
	size_t req_max;
	uint32_t timeout_ms;
};

struct nt_ctl_srv_counters {
	uint64_t accepted, refused_full, refused_admit, timeouts, too_large, answered;
};

/* Takes over fd, a listening non-blocking socket. 0 or a negative errno
 * (fd closed). */
int nt_ctl_srv_new(struct nt_loop *loop, int fd, const struct nt_ctl_srv_config *cfg,
		   const struct nt_ctl_srv_ops *ops, void *arg, struct nt_ctl_srv **out);
/* Closes the listener and every connection. NULL is a no-op. */
void nt_ctl_srv_free(struct nt_ctl_srv *s);
void nt_ctl_srv_counters(const struct nt_ctl_srv *s, struct nt_ctl_srv_counters *out);

#endif
