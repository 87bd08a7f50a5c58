/* The client role: configuration -> loop, engine and proxy, until a signal.
 * `notun up` runs it in the foreground; `notun run` will run it beside a
 * child command. */
#ifndef NT_CORE_CLIENT_H
#define NT_CORE_CLIENT_H

#include <stddef.h>

#include "core/config.h"

struct nt_client_options {
	const char *config_path;
	/* --listen overrides the file's [Proxy] Listen when count > 0. */
	const struct nt_config_listen *listen;
	size_t listen_count;
};

/* Loads and checks the configuration, brings everything up and runs until
 * SIGINT or SIGTERM. Returns a process exit code (NT_EXIT_*): configuration
 * errors are NT_EXIT_USAGE with a one-line message on stderr. */
int nt_client_run(const struct nt_client_options *opts);

#endif
