/* SPDX-License-Identifier: MIT */
/* The gateway's (and later the client's) side of the channel.
 *
 * Runs on its own thread (a libwebsockets client context and its service
 * loop) so that a busy engine never delays heartbeats. The owner talks to it
 * through two bounded queues: nt_chan_client_push() in, events out (a
 * pollable fd, nt_chan_client_next()). The channel joins its topic right
 * after connecting, sends heartbeats, consumes the join's and heartbeats'
 * replies, and reconnects by section 3's policy; everything else the portal
 * sends reaches the owner as NT_CHAN_EV_MESSAGE. */
#ifndef NT_CORE_CHANNEL_CHAN_CLIENT_H
#define NT_CORE_CHANNEL_CHAN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/channel/chan.h"
#include "core/phx/phx.h"

#define NT_CHAN_HEARTBEAT_MS	10000u
#define NT_CHAN_JOIN_TIMEOUT_MS 5000u
#define NT_CHAN_HEARTBEAT_MISS	3      /* unanswered heartbeats: the connection is dead */
#define NT_CHAN_QUEUE_LEN	1024u  /* items of each of the two queues */
#define NT_CHAN_PIN_LOG_MS	10000u /* at most one tls_pin_mismatch line per this */

struct nt_chan_client_config {
	const char *url;	   /* wss://HOST[:PORT] (ws:// to loopback only) */
	const char *topic;	   /* "gateway" or "client": also the path */
	const char *path;	   /* NULL, "" or "/prefix" before /TOPIC/websocket */
	const char *token;	   /* the bearer token */
	const char *public_key;	   /* standard base64, sent percent-encoded */
	const char *name;	   /* optional (NULL) */
	const char *endpoint;	   /* optional HOST:PORT (gateways) */
	uint16_t endpoint_port;	   /* endpoint NULL, this set: SOURCE:PORT per attempt */
	const char *ca_file;	   /* NULL: the system's CAs */
	const char *fingerprint;   /* SHA256:BASE64 pin, or NULL */
	uint32_t heartbeat_ms;	   /* 0: NT_CHAN_HEARTBEAT_MS */
	uint32_t join_timeout_ms;  /* 0: NT_CHAN_JOIN_TIMEOUT_MS */
	uint64_t give_up_after_ms; /* 0: never, once joined */
};

enum nt_chan_ev_type {
	NT_CHAN_EV_JOINED,	 /* the join was answered ok */
	NT_CHAN_EV_MESSAGE,	 /* frame: any other frame from the portal */
	NT_CHAN_EV_DISCONNECTED, /* reason; the next attempt in retry_ms */
	NT_CHAN_EV_FATAL,	 /* fatal; the channel does nothing more */
};

enum nt_chan_fatal {
	NT_CHAN_FATAL_UNAUTHORIZED,  /* HTTP 401 on the upgrade */
	NT_CHAN_FATAL_TOKEN_EXPIRED, /* disconnect {reason: token_expired} */
	NT_CHAN_FATAL_TOKEN_REVOKED, /* disconnect {reason: token_revoked} */
	NT_CHAN_FATAL_GAVE_UP,	     /* section 3's limits */
};
const char *nt_chan_fatal_name(enum nt_chan_fatal f);

struct nt_chan_event {
	enum nt_chan_ev_type type;
	enum nt_chan_fatal fatal;
	uint32_t retry_ms;
	char reason[48]; /* DISCONNECTED and FATAL: a short token */
	char *text;	 /* MESSAGE: the message, owned by the event */
	size_t len;
	struct nt_phx_frame frame; /* MESSAGE: decoded, pointing into text */
};

struct nt_chan_client;

/* Validates the configuration (-EINVAL; -EPERM for ws:// to a host that is
 * not a loopback address), starts the thread and the first attempt. */
int nt_chan_client_start(struct nt_chan_client **out, const struct nt_chan_client_config *cfg);
/* Stops the thread, closes the connection, drops what is queued, frees. */
void nt_chan_client_stop(struct nt_chan_client *c);

/* Readable while events wait (level-triggered; never read it). */
int nt_chan_client_fd(const struct nt_chan_client *c);
/* The oldest event: 0, or -EAGAIN when none. Release each one. */
int nt_chan_client_next(struct nt_chan_client *c, struct nt_chan_event *ev);
void nt_chan_event_release(struct nt_chan_event *ev);

/* Sends one push (payload: JSON text) once joined, with the next ref; a push
 * while not joined is dropped (counted). 0, -EAGAIN (queue full), -EINVAL
 * (names too long), -ENOMEM. */
int nt_chan_client_push(struct nt_chan_client *c, const char *topic, const char *event,
			const char *payload, size_t len);

struct nt_chan_client_stats {
	uint64_t connects, joins, pushes_dropped, events_dropped, pin_mismatches;
};
/* Any thread; the counters are read without a lock (monotonic, approximate). */
void nt_chan_client_stats(const struct nt_chan_client *c, struct nt_chan_client_stats *out);

#endif
