/* SPDX-License-Identifier: MIT */
/* The client role's parts on a loop: the engine, then the proxy on the
 * configuration's listeners (told to the engine, which refuses to connect
 * back to them). Shared by the library's session and the command line
 * (core/cli/client.c). Loop thread only. */
#ifndef NT_CORE_LIB_WIRE_H
#define NT_CORE_LIB_WIRE_H

#include <stdbool.h>

struct nt_config;
struct nt_engine;
struct nt_loop;
struct nt_proxy;

struct nt_wire {
	struct nt_engine *engine;
	struct nt_proxy *proxy; /* NULL: engine only */
};

/* After loading: the configuration's warnings logged; a portal client
 * without a key gets a fresh one, never written anywhere. */
void nt_wire_prepare(struct nt_config *cfg);
/* 0, or a negative errno with *what "start the engine" or "listen" (what
 * failed, for a message; nothing stays up). cfg outlives the wire. */
int nt_wire_up(struct nt_loop *loop, const struct nt_config *cfg, bool engine_only,
	       struct nt_wire *w, const char **what);
/* The listeners, every proxied connection (reset), then the engine. */
void nt_wire_down(struct nt_wire *w);

#endif
