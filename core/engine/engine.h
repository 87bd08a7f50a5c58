/* SPDX-License-Identifier: MIT */
/* The engine, as the proxy front sees it.
 *
 * The proxy asks for a connection to a target (an address or a name and a
 * port); the engine resolves the name (through the tunnel's DNS when the
 * configuration has one, else the system resolver, never blocking the loop),
 * routes the address (a peer whose AllowedIPs hold it -> a TCP flow in lwIP
 * through the tunnel; else the bypass policy: a direct OS socket, or a
 * refusal) and calls back once, later, with a connected byte stream or the
 * reason there is none. Packets for a peer without a session wait in its
 * pending buffer; a flow not connected within ConnectTimeout fails with
 * NT_FAIL_TIMEOUT or NT_FAIL_HOST_UNREACH, never later.
 *
 * Everything here runs on the engine thread (the loop's).
 */
#ifndef NT_CORE_ENGINE_H
#define NT_CORE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "platform/fail.h"

struct nt_engine;
struct nt_engine_req;
struct nt_engine_udp;
struct nt_flow;
struct nt_loop;

#define NT_TARGET_NAME_MAX 255
#define NT_ENGINE_OWN_MAX  64 /* listening addresses, as the proxy's NT_PROXY_MAX_LISTEN */

enum nt_target_kind { NT_TARGET_IPV4, NT_TARGET_IPV6, NT_TARGET_NAME };

struct nt_target {
	enum nt_target_kind kind;
	uint8_t addr[16]; /* IPV4: first 4 bytes; network order */
	char name[NT_TARGET_NAME_MAX + 1];
	uint16_t port; /* host order */
};

/* For logs: the name (its bytes outside printable ASCII, and '"', as '?':
 * a client chose it) or the address as text, without the port. Returns buf. */
const char *nt_target_host(const struct nt_target *t, char *buf, size_t len);

/* Where the engine sent a connection: the route of its connection line.
 * REJECTED: refused by policy (bypass = reject, the portal or gateway
 * refused, the proxy itself); FAILED: no route was reached (a name that
 * does not resolve, an internal error). */
enum nt_route { NT_ROUTE_FAILED, NT_ROUTE_TUNNEL, NT_ROUTE_DIRECT, NT_ROUTE_REJECTED };

/* Exactly one of flow and fd is set when fail is NT_FAIL_NONE; ownership
 * passes to the callee. bound is a flow's local end (the SOCKS5 BND.ADDR);
 * a socket's is left to getsockname (bound_len 0), which HTTP never needs. */
struct nt_open_result {
	enum nt_fail fail;
	struct nt_flow *flow; /* tunnel: a connected lwIP TCP flow */
	int fd;		      /* direct: a connected non-blocking socket, else -1 */
	struct sockaddr_storage bound;
	socklen_t bound_len;
	/* A failure about a portal resource: a line naming it (the HTTP
	 * body), valid during the callback; NULL otherwise. */
	const char *detail;
	/* Where it went, valid during the callback: peer is the tunnel peer's
	 * short id, rid and gid a portal resource's and its gateway's; each
	 * NULL when it does not apply. */
	enum nt_route route;
	const char *peer, *rid, *gid;
};

typedef void (*nt_engine_open_cb)(void *arg, const struct nt_open_result *res);

/* Starts a TCP connection. cb runs exactly once, never from inside this
 * call, unless nt_engine_cancel() ran first. Returns 0, or -ENOMEM/-EINVAL
 * (then cb never runs). */
int nt_engine_open_tcp(struct nt_engine *e, const struct nt_target *target, nt_engine_open_cb cb,
		       void *arg, struct nt_engine_req **req);
/* The request's number in the engine's logs (cid=). */
uint64_t nt_engine_req_id(const struct nt_engine_req *req);
/* The client went away: the callback will not run; resources are released. */
void nt_engine_cancel(struct nt_engine_req *req);

/* UDP (SOCKS5 UDP ASSOCIATE): one association, datagrams routed one by one. */
struct nt_engine_udp_ops {
	void (*datagram)(void *arg, const struct nt_target *from, const uint8_t *buf, size_t len);
};
int nt_engine_udp_open(struct nt_engine *e, const struct nt_engine_udp_ops *ops, void *arg,
		       struct nt_engine_udp **out);
/* 0, or a negative errno when the datagram was dropped (counted). */
int nt_engine_udp_send(struct nt_engine_udp *u, const struct nt_target *to, const uint8_t *buf,
		       size_t len);
void nt_engine_udp_close(struct nt_engine_udp *u);

struct nt_loop *nt_engine_loop(const struct nt_engine *e);

/* ---- construction, for the CLI and the library API ---- */

struct nt_config;
struct wg_timers_params;

struct nt_engine_counters {
	uint64_t opens;		 /* nt_engine_open_tcp calls accepted */
	uint64_t via_tunnel;	 /* routed to a peer */
	uint64_t via_portal;	 /* to a portal resource */
	uint64_t portal_refused; /* outside a resource's filters: refused, nothing sent */
	uint64_t via_direct;	 /* bypass = direct */
	uint64_t rejected;	 /* bypass = reject */
	uint64_t own_refused;	 /* direct to one of our own listeners: a loop */
	uint64_t connected;	 /* callbacks with a stream */
	uint64_t failed;	 /* callbacks with a reason */
	uint64_t timeouts;	 /* of which the connect timeout */
	uint64_t canceled;	 /* the client left first */
	uint64_t out_no_route;	 /* packets from lwIP that no peer's AllowedIPs hold */
	uint64_t out_dropped;	 /* packets the tunnel refused (queue full, too big) */
	uint64_t in_icmp_errors; /* ICMP errors from the tunnel that ended a flow */
	uint64_t in_dropped;	 /* packets from the tunnel lwIP refused */
	uint64_t udp_dropped;	 /* datagrams not sent: no route, reject, busy */
};

/* Brings up lwIP with cfg's addresses, the tunnel with its peers (endpoint
 * names resolved now, and again when handshakes keep failing) and the
 * resolver (the tunnel's DNS when cfg has DNS servers). timers: NULL, or
 * shortened WireGuard timers for tests. 0 or a negative errno (logged). */
int nt_engine_new(struct nt_loop *loop, const struct nt_config *cfg,
		  const struct wg_timers_params *timers, struct nt_engine **out);
/* The proxy's listening addresses (with their bound ports), copied: a
 * direct connection to one of them is refused with NT_FAIL_LOOP, since it
 * would come back to us. At most NT_ENGINE_OWN_MAX; -EINVAL beyond. */
int nt_engine_set_own_listeners(struct nt_engine *e, const struct sockaddr_storage *addrs,
				size_t n);
/* Requests still open are cancelled without callbacks. */
void nt_engine_free(struct nt_engine *e);
/* A configuration reload (SIGHUP): run is the configuration running, next
 * the file's (validated). Static peers that next drops are removed, new ones
 * added, changed ones (Endpoint, AllowedIPs, PersistentKeepalive,
 * PresharedKey) updated in place; an unchanged peer's session is left
 * alone. Bypass is next's. Nothing else of next is looked at. 0 or -ENOMEM
 * (nothing changed). The engine does not keep next. */
int nt_engine_reload(struct nt_engine *e, const struct nt_config *run,
		     const struct nt_config *next);

/* ---- what a host is told (the library's events) and may ask ---- */

enum nt_engine_access {
	NT_ENGINE_ACCESS_NONE,
	NT_ENGINE_ACCESS_PENDING,
	NT_ENGINE_ACCESS_GRANTED,
	NT_ENGINE_ACCESS_DENIED,
	NT_ENGINE_ACCESS_FAILED,
};

struct nt_engine_peer_state {
	const uint8_t *public_key;	  /* 32 bytes */
	struct sockaddr_storage endpoint; /* AF_UNSPEC: unknown */
	int64_t last_handshake_ms;	  /* Unix ms; 0: never */
	bool up;			  /* a handshake completed, else keys gone or given up */
};

/* Upward calls, on the loop's thread, each optional: the library turns them
 * into events for its host. Strings are valid during the call. */
struct nt_engine_observer {
	void (*peer)(void *arg, const struct nt_engine_peer_state *st);
	void (*portal)(void *arg, bool joined, const char *reason, uint32_t retry_ms);
	void (*resources)(void *arg, size_t count);
	void (*access)(void *arg, const char *rid, enum nt_engine_access st, const char *gid,
		       int64_t expires_at, const char *why);
	void *arg;
};

/* obs (copied) or NULL. */
void nt_engine_set_observer(struct nt_engine *e, const struct nt_engine_observer *obs);
/* The network changed: names of peer endpoints resolved again, handshakes
 * started anew, the portal joined again. */
void nt_engine_reset(struct nt_engine *e);
/* A portal resource by id disabled (its access ends, its connections are
 * refused as not allowed, nothing requested for it) or enabled again. 0,
 * -ENOENT (no such resource, or no portal). */
int nt_engine_resource_disable(struct nt_engine *e, const char *rid, bool disabled);
void nt_engine_get_counters(const struct nt_engine *e, struct nt_engine_counters *out);

#endif
