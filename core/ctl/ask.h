/* SPDX-License-Identifier: MIT */
/* The control socket's other end: `notun status` asks it, and `notun run`,
 * `connect` and `env` look through it for a running `notun up` of the same
 * configuration, whose proxy they use instead of starting a second client
 * with the same key (two processes with one key take the session from each
 * other: core/wg/flap.h). */
#ifndef NT_CORE_CTL_ASK_H
#define NT_CORE_CTL_ASK_H

#include <stddef.h>
#include <stdint.h>

#include "core/config/config.h"

/* Sends request (one line) to the socket at path and reads the answer into
 * buf (NUL-terminated, *len bytes), waiting at most NT_CTL_TIMEOUT_MS for
 * each step. 0 or a negative errno (-ENOENT no socket, -ECONNREFUSED nobody
 * answers: a stale file). */
int nt_ctl_ask(const char *path, const char *request, char *buf, size_t cap, size_t *len);

/* What a running client says of itself, from its `status json`. */
struct nt_ctl_running {
	char command[16]; /* "up", "run", "gateway"; "" unknown */
	int64_t pid;
	size_t n_listen;
	struct nt_config_listen listen; /* the first listener as bound */
};

/* The JSON of `notun status --json` (status.md) into out. 0, or -EINVAL
 * (not that object, or a listener that is not ADDR:PORT). */
int nt_ctl_running_parse(const char *json, size_t len, struct nt_ctl_running *out);

/* A `notun up` serving the control socket of config_path (control: NULL the
 * default path, NT_CTL_NONE none, or a path; path gets the one asked, cap
 * at least 108) with a listener. 0 (out filled), -ENOENT (none: no socket,
 * a stale one, "none"), -EPERM (another command serves it: a `notun run`
 * of its own credentials, a gateway), or another negative errno. */
int nt_ctl_find_up(const char *config_path, const char *control, struct nt_ctl_running *out,
		   char *path, size_t cap);

#endif
