/* SPDX-License-Identifier: MIT */
/* A role's link to its portal: the channel client (chan_client.h) on its own
 * thread, wired to a loop. Events are drained on the loop's thread (a bounded
 * number per wake-up), payloads wiped after use (they carry pre-shared keys),
 * replies to our pushes checked (errors logged), frames of other topics
 * ignored; the rest reaches the owner's ops. A fatal end of the channel (401,
 * a revoked or expired token, GiveUpAfter) stops the loop. Shared by the
 * gateway (gw_link.c) and the client's engine. */
#ifndef NT_CORE_CHANNEL_CHAN_LINK_H
#define NT_CORE_CHANNEL_CHAN_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/phx/phx.h"

struct nt_chan_link;
struct nt_config_portal;
struct nt_loop;

#define NT_CHAN_LINK_EVENTS_PER_WAKE 64u /* channel events handled per loop wake-up */

struct nt_chan_link_ops {
	void (*joined)(void *arg);					/* optional */
	void (*message)(void *arg, const struct nt_phx_frame *f);	/* our topic, not a reply */
	void (*away)(void *arg, const char *reason, uint32_t retry_ms); /* optional */
};

struct nt_chan_link_config {
	const struct nt_config_portal *portal; /* line set */
	const char *topic;		       /* "gateway" or "client" */
	const uint8_t *public_key;	       /* 32 bytes */
	const char *endpoint;		       /* optional HOST:PORT (gateways) */
	uint16_t endpoint_port; /* without endpoint: SOURCE:this (gateways; 0: none) */
	const char *mod;	/* the log module of the owner */
};

/* Starts the channel; cfg's strings and ops outlive the link. 0 or a
 * negative errno (logged). */
int nt_chan_link_start(struct nt_loop *loop, const struct nt_chan_link_config *cfg,
		       const struct nt_chan_link_ops *ops, void *arg, struct nt_chan_link **out);
/* Stops the channel's thread and frees; NULL is a no-op. */
void nt_chan_link_stop(struct nt_chan_link *l);
/* The network changed: the channel starts afresh (a new connection and
 * join; the owner is told away first when it was joined). 0, -ENOTCONN
 * (the channel ended for good) or the start's error, after which the link
 * stays down (pushes -ENOTCONN) until freed. */
int nt_chan_link_reconnect(struct nt_chan_link *l);
/* As nt_chan_client_push, on the link's topic. */
int nt_chan_link_push(struct nt_chan_link *l, const char *event, const char *payload, size_t len);
/* After the loop stopped: the channel's fatal end (enum nt_chan_fatal), or
 * -1 when it had none. */
int nt_chan_link_fatal(const struct nt_chan_link *l);
/* Joined and not away since. */
bool nt_chan_link_up(const struct nt_chan_link *l);

#endif
