/* SPDX-License-Identifier: MIT */
/* The portal's side of the channel: a wss:// listener on libwebsockets.
 *
 * Runs its service loop on the calling thread (the portal's), which owns all
 * of its state: every callback below comes from nt_chan_server_run() on that
 * thread, and every function but nt_chan_server_stop/_wake is called there.
 * Upgrades go to /client/websocket and /gateway/websocket only (else 404);
 * the owner's authorize() decides before the upgrade (401 / 503). Limits of
 * section 2: a message over NT_PHX_FRAME_MAX closes with 1009, one the owner
 * refuses with 1007, a connection silent for idle_timeout_ms is closed, at
 * most max_conns connections (503 beyond), and a bounded send queue per
 * connection whose overflow drops that connection. */
#ifndef NT_CORE_CHANNEL_CHAN_SERVER_H
#define NT_CORE_CHANNEL_CHAN_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/channel/chan.h"

#define NT_CHAN_PATH_MAX	4096
#define NT_CHAN_NAME_MAX	64  /* the query's name=, longer is cut */
#define NT_CHAN_ENDPOINT_MAX	80  /* the query's endpoint=HOST:PORT */
#define NT_CHAN_IDENTITY_MAX	64  /* what authorize() names the peer: a portal name */
#define NT_CHAN_TOKEN_MAX	128 /* a longer bearer token is refused */
#define NT_CHAN_CONNS_DEFAULT	4096u
#define NT_CHAN_IDLE_DEFAULT_MS 30000u
#define NT_CHAN_SENDQ_MSGS	256u	   /* messages waiting per connection */
#define NT_CHAN_SENDQ_BYTES	(4u << 20) /* bytes waiting per connection */
#define NT_CHAN_LISTEN_DEFAULT	"127.0.0.1"
#define NT_CHAN_PORT_DEFAULT	8443

/* WebSocket close codes the owner uses. */
#define NT_CHAN_CLOSE_NORMAL  1000
#define NT_CHAN_CLOSE_POLICY  1008
#define NT_CHAN_CLOSE_INVALID 1007
#define NT_CHAN_CLOSE_TOO_BIG 1009

typedef uint64_t nt_chan_conn_id;

enum nt_chan_role { NT_CHAN_ROLE_CLIENT, NT_CHAN_ROLE_GATEWAY };

struct nt_chan_query {
	enum nt_chan_role role; /* from the path */
	uint8_t public_key[NT_CHAN_KEY_LEN];
	char name[NT_CHAN_NAME_MAX + 1];	 /* "" when absent */
	char endpoint[NT_CHAN_ENDPOINT_MAX + 1]; /* "" when absent */
	struct sockaddr_storage peer;		 /* where the connection came from */
};

enum nt_chan_auth {
	NT_CHAN_AUTH_OK,
	NT_CHAN_AUTH_UNAUTHORIZED, /* 401, no upgrade */
	NT_CHAN_AUTH_UNAVAILABLE,  /* 503 with Retry-After: retry_after_s */
};

struct nt_chan_auth_result {
	char identity[NT_CHAN_IDENTITY_MAX + 1]; /* logged and handed to connected() */
	uint32_t retry_after_s;
};

enum nt_chan_close_reason {
	NT_CHAN_CLOSED_PEER,	 /* the peer closed or the socket failed */
	NT_CHAN_CLOSED_IDLE,	 /* nothing received for idle_timeout_ms */
	NT_CHAN_CLOSED_TOO_BIG,	 /* a message over NT_PHX_FRAME_MAX: 1009 */
	NT_CHAN_CLOSED_INVALID,	 /* message() refused it, or a binary frame: 1007 */
	NT_CHAN_CLOSED_OVERFLOW, /* its send queue overflowed */
	NT_CHAN_CLOSED_OWNER,	 /* nt_chan_server_close() */
	NT_CHAN_CLOSED_SHUTDOWN, /* the server is freed */
};
const char *nt_chan_close_reason_name(enum nt_chan_close_reason reason);

struct nt_chan_server_ops {
	/* Before the upgrade. token: the bearer token, NULL when missing or
	 * malformed (the owner answers UNAUTHORIZED then). Fill out->identity. */
	enum nt_chan_auth (*authorize)(void *arg, const struct nt_chan_query *q, const char *token,
				       struct nt_chan_auth_result *out);
	void (*connected)(void *arg, nt_chan_conn_id id, const char *identity,
			  const struct nt_chan_query *q);
	/* One whole text message (NUL-terminated after len). Return 0, or a
	 * negative errno (invalid UTF-8 or JSON): the connection closes with 1007. */
	int (*message)(void *arg, nt_chan_conn_id id, const char *text, size_t len);
	/* Once per connected(); id is stale afterwards. */
	void (*closed)(void *arg, nt_chan_conn_id id, enum nt_chan_close_reason reason);
	/* After nt_chan_server_wake(), on the loop thread. May be NULL. */
	void (*wake)(void *arg);
};

struct nt_chan_server_config {
	const char *listen;    /* an address; NULL: NT_CHAN_LISTEN_DEFAULT */
	uint16_t port;	       /* 0: NT_CHAN_PORT_DEFAULT */
	const char *cert_path; /* PEM, both required (nt_chan_cert_selfsigned) */
	const char *key_path;
	uint32_t idle_timeout_ms; /* 0: NT_CHAN_IDLE_DEFAULT_MS */
	uint32_t max_conns;	  /* 0: NT_CHAN_CONNS_DEFAULT */
};

struct nt_chan_server_stats {
	uint64_t accepted, unauthorized, refused_full, not_found;
	uint64_t closed_idle, closed_too_big, closed_invalid, dropped_overflow;
	uint32_t conns;
};

struct nt_chan_server;

/* Listens at once. 0, -EINVAL, -ENOMEM, -EADDRINUSE or -EIO. */
int nt_chan_server_new(struct nt_chan_server **out, const struct nt_chan_server_config *cfg,
		       const struct nt_chan_server_ops *ops, void *arg);
/* Closes every connection (closed(..., SHUTDOWN) for each) and frees. */
void nt_chan_server_free(struct nt_chan_server *s);
/* Serves until nt_chan_server_stop(). 0 or a negative errno. */
int nt_chan_server_run(struct nt_chan_server *s);
/* Any thread, or a signal handler: run() returns soon. */
void nt_chan_server_stop(struct nt_chan_server *s);
/* Any thread, or a signal handler: ops->wake runs soon on the loop thread. */
void nt_chan_server_wake(struct nt_chan_server *s);

/* Queues one text message. 0, -ENOENT (no such connection), -ENOBUFS (its
 * queue overflowed: the connection is being dropped) or -ENOMEM. */
int nt_chan_server_send(struct nt_chan_server *s, nt_chan_conn_id id, const char *text, size_t len);
/* Closes after what is queued is sent. 0 or -ENOENT. */
int nt_chan_server_close(struct nt_chan_server *s, nt_chan_conn_id id, uint16_t status,
			 const char *reason);
void nt_chan_server_stats(const struct nt_chan_server *s, struct nt_chan_server_stats *out);

/* One-shot timers on the loop thread (libwebsockets' scheduler). */
struct nt_chan_timer;
typedef void (*nt_chan_timer_cb)(struct nt_chan_timer *t, void *arg);
int nt_chan_timer_new(struct nt_chan_server *s, nt_chan_timer_cb cb, void *arg,
		      struct nt_chan_timer **out);
/* (Re)arms: fires once after delay_ms. */
void nt_chan_timer_arm(struct nt_chan_timer *t, uint64_t delay_ms);
void nt_chan_timer_cancel(struct nt_chan_timer *t);
void nt_chan_timer_free(struct nt_chan_timer *t);

/* Certificates (chan_cert.c). The portal's self-signed pair in dir
 * (portal-cert.pem, portal-key.pem, mode 0600): made on first use, reused
 * afterwards. 0, -EEXIST (only one of the two exists), or an errno. */
int nt_chan_cert_selfsigned(const char *dir, char cert_path[NT_CHAN_PATH_MAX],
			    char key_path[NT_CHAN_PATH_MAX]);
/* SHA256:BASE64 of a PEM certificate file's DER. 0 or -EINVAL. */
int nt_chan_cert_fingerprint(const char *cert_path, char out[NT_CHAN_FP_TEXT_MAX]);

#endif
