/* SPDX-License-Identifier: MIT */
/* A `notun up` of the same configuration, already running: `notun run`,
 * `connect -c` and `env` use its proxy rather than start a second client
 * with the same key (core/ctl/ask.h finds it through its control socket). */
#ifndef NT_CORE_CLI_RUNNING_H
#define NT_CORE_CLI_RUNNING_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <sys/un.h>

#include "core/ctl/ask.h"

struct nt_running {
	struct nt_ctl_running up;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* its control socket */
	char host[INET6_ADDRSTRLEN]; /* the address to dial its first listener on */
};

/* true when a `notun up` of config_path serves its control socket (control:
 * NULL the default path, or --control's PATH) with a listener; r filled.
 * false when there is none (a stale socket, another command's, none at
 * all), logged at debug; when it cannot tell (no answer in time, say) a
 * warning names the socket and the caller starts its own client. */
bool nt_running_find(const char *mod, const char *config_path, const char *control,
		     struct nt_running *r);

#endif
