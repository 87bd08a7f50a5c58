/* SPDX-License-Identifier: MIT */
/* The client role: configuration -> loop, engine and proxy. `notun up` runs
 * it in the foreground until a signal (nt_client_run); `notun run` and
 * `notun connect` start it on their own loop beside other work
 * (nt_client_start .. nt_client_stop). */
#ifndef NT_CORE_CLIENT_H
#define NT_CORE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config/config.h"

struct nt_client;
struct nt_engine;
struct nt_loop;

struct nt_client_options {
	const char *config_path;
	/* --listen overrides the file's [Proxy] Listen when count > 0. */
	const struct nt_config_listen *listen;
	size_t listen_count;
	/* Credentials: the file's Username/Password unless no_auth (none at
	 * all) or username and password (both: these instead). Copied. */
	bool no_auth;
	const char *username;
	const char *password;
	/* The engine alone, no proxy listener (one flow driven by the caller). */
	bool engine_only;
	/* --control: NULL the default path, "none", or a path (core/ctl/ctl.h);
	 * not with engine_only. */
	const char *control;
	/* "up" or "run", for the status (a client of "up" is one that `run`,
	 * `connect` and `env` may share: core/cli/running.h). Static. */
	const char *command;
};

/* Loads and checks the configuration, brings everything up and runs until
 * SIGINT or SIGTERM; SIGUSR1 logs the counters, SIGHUP reloads
 * (nt_client_reload). Returns a process exit code (NT_EXIT_*): configuration
 * errors are NT_EXIT_USAGE with a one-line message on stderr. */
int nt_client_run(const struct nt_client_options *opts);

/* The same on the caller's loop, which the caller runs; signals are the
 * caller's too. SIGPIPE is ignored from here on (a client that went away
 * must not kill the process). Returns NT_EXIT_OK (*out set), NT_EXIT_USAGE
 * (the configuration is refused) or NT_EXIT_FAIL, with a one-line message on
 * stderr for either. */
int nt_client_start(struct nt_loop *loop, const struct nt_client_options *opts,
		    struct nt_client **out);
/* Closes the listeners and every proxied connection (reset), then the
 * engine. NULL is a no-op. */
void nt_client_stop(struct nt_client *c);

/* Reads opts->config_path again and applies what a running client can
 * take: static [Peer]s (added, removed, changed in place; an unchanged
 * peer's session untouched), [Proxy] Username, Password and Bypass. Keys
 * that need a restart are named in one warning (event=reload_needs_restart);
 * a file that does not load or validate changes nothing (event=
 * reload_failed). opts as at the start (its overrides apply again). */
void nt_client_reload(struct nt_client *c, const struct nt_client_options *opts);

struct nt_engine *nt_client_engine(const struct nt_client *c);
/* The port the index-th listener is bound to (Listen port 0: the kernel's
 * choice); 0 for a bad index or without listeners. */
uint16_t nt_client_bound_port(const struct nt_client *c, size_t index);

/* The configuration as nt_client_start would use it (file, role check,
 * warnings logged, --listen and credential overrides applied), without
 * starting anything. NT_EXIT_OK (free cfg with nt_config_free) or
 * NT_EXIT_USAGE (message printed; cfg left empty). */
int nt_client_load_config(const struct nt_client_options *opts, struct nt_config *cfg);

#endif
