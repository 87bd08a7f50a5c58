/* SPDX-License-Identifier: MIT */
/* libnotun: the notun client (a SOCKS5 + HTTP proxy into WireGuard tunnels,
 * optionally under a portal) embedded in a host application.
 *
 * A session is made from a configuration (the wg-quick format of
 * `notun up`) and runs on ONE thread of its own, started by
 * notun_session_start() and joined by notun_session_stop(). The library never
 * calls the host's code: the host sends commands (any thread, never
 * blocking) and reads events (a bounded queue, notun_next_event(), and a file
 * descriptor that is readable exactly while events wait, for poll/epoll or a
 * GUI main loop).
 *
 * One session per process: the TCP/IP stack inside (lwIP) exists once per
 * process, so starting a second session while one runs fails with -EBUSY.
 * A session may be started again once stopped, and a new one made.
 *
 * Process-wide effects, all while a session runs: the log level and the log
 * fd are the process's (one session); the library installs no signal
 * handlers and never calls exit(). Sockets are written with MSG_NOSIGNAL,
 * but log lines go to the host's fd with write(2) and, with a [Portal],
 * libwebsockets sets SIGPIPE to SIG_IGN when it starts: a host that logs to
 * a pipe should ignore SIGPIPE itself. The session's thread blocks every
 * signal, so signals reach the host's threads.
 *
 * Errors are negative errno values; notun_strerror() gives their text.
 */
#ifndef NOTUN_H
#define NOTUN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NOTUN_API __attribute__((visibility("default")))

/* Major * 10000 + minor * 100 + patch. The major is the soname's. */
#define NOTUN_API_VERSION 100
#define NOTUN_API_MAJOR	  (NOTUN_API_VERSION / 10000)

/* The library's NOTUN_API_VERSION, to compare with the header's. */
NOTUN_API int notun_api_version(void);
/* The release, "0.1.0". */
NOTUN_API const char *notun_version(void);
/* Text of a negative error code from this API (also plain errno values). */
NOTUN_API const char *notun_strerror(int err);

enum notun_log_level {
	NOTUN_LOG_TRACE,
	NOTUN_LOG_DEBUG,
	NOTUN_LOG_INFO,
	NOTUN_LOG_WARN,
	NOTUN_LOG_ERROR,
	NOTUN_LOG_OFF,
};

#define NOTUN_LISTEN_MAX 8 /* listen addresses of a session */

struct notun_options {
	/* Exactly one of config_path and config_text (config_len bytes). */
	const char *config_path;
	const char *config_text;
	size_t config_len;
	/* Log lines (key=value, one write each) go to log_fd at log_level;
	 * log_fd -1: no log at all. The fd stays the host's. */
	int log_fd;
	enum notun_log_level log_level;
	/* "ADDR:PORT" ("127.0.0.1:0": a port the kernel chooses, told by
	 * NOTUN_EVENT_LISTENER_READY); when any, they replace [Proxy] Listen. */
	const char *listen[NOTUN_LISTEN_MAX];
	size_t listen_count;
};

/* Defaults: no configuration, no log, info level, the file's listeners. */
NOTUN_API void notun_options_init(struct notun_options *o);

struct notun_session;

/* Reads and checks the configuration (copied). 0, or -EINVAL with a line in
 * msg (msg may be NULL), -ENOENT/-EACCES for the file, -ENOMEM. */
NOTUN_API int notun_session_new(const struct notun_options *o, struct notun_session **out,
				char *msg, size_t msg_cap);
/* Starts the session's thread and returns once its listeners are bound (a
 * NOTUN_EVENT_LISTENER_READY waits) or it failed: 0, -EBUSY (a session runs
 * in this process), -EALREADY (this one runs), -EADDRINUSE, -ENOMEM ... */
NOTUN_API int notun_session_start(struct notun_session *s);
/* Stops the session (if it still runs) and joins its thread: every socket
 * and connection is closed. A NOTUN_EVENT_STOPPED is queued. 0 or -EINVAL
 * (not started). Not from two threads at once. */
NOTUN_API int notun_session_stop(struct notun_session *s);
/* Stops if needed and frees; the event fd is closed. NULL is a no-op. */
NOTUN_API void notun_session_free(struct notun_session *s);

/* ---- commands: any thread, never blocking; carried out in order on the
 * session's thread. 0, -EAGAIN (the command queue is full: try later),
 * -ENOTCONN (not running), -EINVAL (bad argument). A command that fails
 * there (an unknown resource) reports NOTUN_EVENT_COMMAND_FAILED. ---- */

/* The session stops; NOTUN_EVENT_STOPPED follows. Still join it with
 * notun_session_stop(). */
NOTUN_API int notun_request_stop(struct notun_session *s);
/* The network changed: peer endpoints are resolved again, handshakes
 * started anew (except with a peer whose last one started under 5 s ago,
 * WireGuard's REKEY_TIMEOUT; its timers retry), the portal joined again. */
NOTUN_API int notun_reset(struct notun_session *s);
/* A portal resource by id: disabled, its open connections end, new ones are
 * refused (not allowed) and no access is requested for it; enabled again,
 * it is as before. A resource the portal deletes forgets it. */
NOTUN_API int notun_resource_disable(struct notun_session *s, const char *resource_id);
NOTUN_API int notun_resource_enable(struct notun_session *s, const char *resource_id);
NOTUN_API int notun_set_log_level(struct notun_session *s, enum notun_log_level level);

/* ---- events ---- */

#define NOTUN_EVENTS_MAX 256 /* queued events; more are coalesced or dropped */
#define NOTUN_ID_MAX	 64
#define NOTUN_ADDR_MAX	 64 /* "[v6]:port" */
#define NOTUN_TEXT_MAX	 160

enum notun_event_type {
	NOTUN_EVENT_LISTENER_READY = 1,
	NOTUN_EVENT_PORTAL_CONNECTED,
	NOTUN_EVENT_PORTAL_DISCONNECTED,
	NOTUN_EVENT_RESOURCES_UPDATED,
	NOTUN_EVENT_ACCESS,
	NOTUN_EVENT_TUNNEL_UP,
	NOTUN_EVENT_TUNNEL_DOWN,
	NOTUN_EVENT_COMMAND_FAILED,
	NOTUN_EVENT_FATAL,
	NOTUN_EVENT_STOPPED,
};

enum notun_access_state {
	NOTUN_ACCESS_NONE,    /* ended (text: why): revoked, expired, deleted, disabled */
	NOTUN_ACCESS_PENDING, /* requested from the portal */
	NOTUN_ACCESS_GRANTED, /* through gateway_id until expires_at */
	NOTUN_ACCESS_DENIED,  /* the portal refused (text: forbidden, not_found, offline) */
	NOTUN_ACCESS_FAILED,  /* granted, but the gateway could not serve it (text) */
};

enum notun_command {
	NOTUN_CMD_STOP = 1,
	NOTUN_CMD_RESET,
	NOTUN_CMD_RESOURCE_DISABLE,
	NOTUN_CMD_RESOURCE_ENABLE,
	NOTUN_CMD_SET_LOG_LEVEL,
};

/* Plain data, no pointers: copy it freely. */
struct notun_event {
	enum notun_event_type type;
	/* Events the host will not see, lost since the previous event returned:
	 * replaced by a newer state of the same thing (a resource's access, a
	 * peer's tunnel, the portal, the resource count) or refused while the
	 * queue was full. */
	uint32_t dropped;
	union {
		struct {
			size_t count;
			char addr[NOTUN_LISTEN_MAX][NOTUN_ADDR_MAX]; /* "127.0.0.1:1080" */
		} listener;
		struct {
			char reason[NOTUN_TEXT_MAX]; /* DISCONNECTED: why */
			uint32_t retry_ms;	     /* DISCONNECTED: the next attempt in */
		} portal;
		struct {
			size_t count;
		} resources;
		struct {
			char resource_id[NOTUN_ID_MAX + 1];
			enum notun_access_state state;
			char gateway_id[NOTUN_ID_MAX + 1]; /* GRANTED */
			int64_t expires_at;		   /* GRANTED: Unix seconds */
			char text[NOTUN_TEXT_MAX];	   /* NONE, DENIED, FAILED: why */
		} access;
		struct {
			char public_key[45];	       /* base64 */
			char endpoint[NOTUN_ADDR_MAX]; /* "" when unknown */
			int64_t last_handshake_ms;     /* Unix ms; 0: never */
		} tunnel;
		struct {
			enum notun_command command;
			int error;			    /* negative errno */
			char resource_id[NOTUN_ID_MAX + 1]; /* of a resource command */
		} command;
		struct {
			int error; /* negative errno */
			char text[NOTUN_TEXT_MAX];
		} fatal;
	} u;
};

/* Never blocks: 0 and *ev filled, or -EAGAIN when no event waits. Any one
 * thread at a time. */
NOTUN_API int notun_next_event(struct notun_session *s, struct notun_event *ev);
/* Readable while events wait (level-triggered: poll it, never read it);
 * valid until notun_session_free(). */
NOTUN_API int notun_event_fd(const struct notun_session *s);
/* Events lost since the session was made (the sum of the dropped fields). */
NOTUN_API uint64_t notun_events_dropped(const struct notun_session *s);
/* "listener_ready", "access", ...; "access" states: notun_access_name(). */
NOTUN_API const char *notun_event_name(enum notun_event_type type);
NOTUN_API const char *notun_access_name(enum notun_access_state state);

#ifdef __cplusplus
}
#endif

#endif
