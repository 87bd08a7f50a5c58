/* SPDX-License-Identifier: MIT */
/* `notun portal -c FILE`: the portal process. It wires the I/O-free role
 * (portal.h) to the wss:// listener (core/channel/chan_server.h) and the
 * configuration file (core/config/portal_config.h). One thread, the
 * caller's, owns everything: nt_portal_server_run() is the libwebsockets
 * loop, and every event (a connection, a frame, a close, the timer, a
 * reload) is handled there, then the state file is rewritten when the
 * portal says it changed. core/portal/portal.md describes it. */
#ifndef NT_CORE_PORTAL_PORTAL_SERVER_H
#define NT_CORE_PORTAL_PORTAL_SERVER_H

#include <stddef.h>

/* A gateway that sends no endpoint= is reached at the address its
 * WebSocket connection came from, on WireGuard's usual port. */
#define NT_PORTAL_GATEWAY_PORT_DEFAULT 51820

struct nt_portal_server;

/* Loads the configuration, the certificate (made when the file names
 * none), the state file, and listens. 0; -EINVAL when the configuration
 * is at fault; another negative errno for the rest (the state file, the
 * certificate, the listener). err gets the reason either way. */
int nt_portal_server_new(struct nt_portal_server **out, const char *config_path, char *err,
			 size_t errlen);
/* Serves until nt_portal_server_stop(). 0 or a negative errno. */
int nt_portal_server_run(struct nt_portal_server *ps);
/* Async-signal-safe: the loop rereads the configuration file soon. */
void nt_portal_server_reload(struct nt_portal_server *ps);
/* Async-signal-safe: run() returns soon. */
void nt_portal_server_stop(struct nt_portal_server *ps);
/* Closes every connection, writes the state file, frees. */
void nt_portal_server_free(struct nt_portal_server *ps);

#endif
