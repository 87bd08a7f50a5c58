/* SPDX-License-Identifier: MIT */
/* The WireGuard device: one UDP socket in the event loop, its peers, and the
 * paths between IP packets and datagrams.
 *
 *   receive: recvmmsg batch -> wg_message_parse ->
 *     initiation/response: mac1 (always), mac2 when under load (else a
 *       cookie reply) -> noise -> keys -> response / keepalive
 *     cookie reply: the peer's cookie maker (the next retransmission has mac2)
 *     transport: index -> keypair -> decrypt + replay window -> keepalive, or
 *       allowed-IPs source check -> ops.deliver
 *   send: nt_tunnel_xmit -> allowed-IPs lookup of the destination ->
 *     nt_tunnel_send -> current keypair ? encrypt -> output queue :
 *     stage the packet and start a handshake (rate-limited by the timers)
 *   output queue: datagrams leave in batches (sendmmsg); on EAGAIN/ENOBUFS
 *     they wait, bounded, for EPOLLOUT instead of being dropped.
 *   timers: one nt_timer per peer at its wg_timers deadline.
 *
 * Single-threaded: every function runs on the loop's thread. Callbacks may
 * call nt_tunnel_send or nt_tunnel_xmit but must not remove peers or free
 * the tunnel.
 */
#ifndef NT_CORE_TUNNEL_H
#define NT_CORE_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/wg/allowedips.h"
#include "core/wg/peer.h"
#include "core/wg/timers.h"
#include "platform/loop.h"

/* Handshake messages per second above which mac2 is required. */
#define NT_TUNNEL_UNDER_LOAD_DEFAULT 256
#define NT_TUNNEL_MAX_PEERS_DEFAULT  1024
/* Datagrams waiting for the socket to become writable. */
#define NT_TUNNEL_TXQ_DEFAULT 1024
#define NT_TUNNEL_MTU_DEFAULT 1420
/* At free, how long queued datagrams may wait for the socket. */
#define NT_TUNNEL_DRAIN_MS 200

struct nt_tunnel;

enum nt_tunnel_peer_event {
	NT_TUNNEL_HANDSHAKE_COMPLETE,
	NT_TUNNEL_HANDSHAKE_GIVE_UP, /* staged packets were dropped */
	NT_TUNNEL_KEYS_ZEROED,
	NT_TUNNEL_ENDPOINT_CHANGED,
};

struct nt_tunnel_ops {
	/* An authenticated inner IP packet whose source the peer may use. pkt
	 * is valid during the call only. Required. */
	void (*deliver)(void *arg, struct wg_peer *peer, const uint8_t *pkt, size_t len);
	/* Optional. */
	void (*peer_event)(void *arg, struct wg_peer *peer, enum nt_tunnel_peer_event ev);
	/* Optional: an authenticated inner IPv6 packet from the unspecified
	 * address (::), which no peer's allowed IPs may hold: the portal
	 * protocol's in-tunnel control packets (its section 7), for the owner
	 * to parse. Without it they are dropped as any disallowed source. */
	void (*control)(void *arg, struct wg_peer *peer, const uint8_t *pkt, size_t len);
	void *arg;
};

struct nt_tunnel_config {
	uint8_t private_key[32];
	/* NULL: any address, dual-stack when IPv6 exists, on listen_port.
	 * Otherwise its own port is used (0 = ephemeral). */
	const struct sockaddr *listen_addr;
	socklen_t listen_addr_len;
	uint16_t listen_port;
	/* Handshake messages per second before mac2 is demanded; 0 = always
	 * (tests). */
	uint32_t under_load_threshold;
	size_t max_peers;
	size_t txq_max;
	uint32_t mtu; /* padding cap of transport messages; 0 = none */
	/* NULL: the protocol's constants. For tests only. */
	const struct wg_timers_params *timers;
	/* Optional: lets a retransmission replace the staged packet it repeats
	 * (the engine collapses retransmitted SYNs). */
	wg_peer_supersedes_fn stage_supersedes;
	/* Send and receive one datagram per system call entry even where the
	 * kernel offers UDP segmentation (UDP_SEGMENT) and receive coalescing
	 * (UDP_GRO). */
	bool no_offload;
	/* Tests only: stands in for sendmmsg(2) (same contract: the number
	 * sent, or -1 with errno), to simulate a full socket. NULL: sendmmsg. */
	int (*send_hook)(void *arg, int fd, struct mmsghdr *msgs, unsigned int n);
	void *send_hook_arg;
};

struct nt_tunnel_peer_config {
	uint8_t public_key[32];
	const uint8_t *psk;		 /* NULL: none */
	const struct sockaddr *endpoint; /* NULL: learnt from the peer's first handshake */
	socklen_t endpoint_len;
	const struct wg_cidr *allowed_ips;
	size_t allowed_ips_count;
	uint16_t persistent_keepalive_s; /* 0: off */
	void *user;
};

struct nt_tunnel_counters {
	uint64_t rx_datagrams, tx_datagrams;
	uint64_t rx_malformed;	   /* unparseable, truncated, or a bad inner IP header */
	uint64_t rx_bad_mac1;	   /* handshake messages not meant for us */
	uint64_t rx_unknown_index; /* transport/cookie with no session: dropped */
	uint64_t hs_unknown_key;   /* initiations from a static key we do not know */
	uint64_t hs_bad_auth;	   /* handshake messages that did not authenticate */
	uint64_t hs_stale;	   /* replayed initiation timestamps */
	uint64_t hs_rate_limited;  /* initiations from a peer faster than 50/s */
	uint64_t hs_no_pending;	   /* responses to no initiation of ours */
	uint64_t cookie_replies_sent;
	uint64_t under_load_msgs; /* handshake messages received while under load */
	uint64_t tx_queue_full;	  /* datagrams dropped: output queue full */
	uint64_t tx_blocked;	  /* times the socket said EAGAIN/ENOBUFS */
	uint64_t tx_errors;	  /* datagrams the socket refused for good */
	uint64_t tx_no_endpoint;  /* handshakes not sent: endpoint unknown */
	uint64_t tx_gso_batches;  /* messages that carried several datagrams (UDP_SEGMENT) */
	uint64_t rx_gro_batches;  /* received runs of several datagrams (UDP_GRO) */
	uint64_t key_twice;	  /* episodes of a peer's endpoint swinging between two
				   * addresses: its key in two processes (core/wg/flap.h) */
};

/* Defaults: any address, ephemeral port, the limits above. */
void nt_tunnel_config_init(struct nt_tunnel_config *cfg);

/* 0, -EINVAL (bad key or config), -ENOMEM, or the socket's error. */
int nt_tunnel_new(struct nt_loop *loop, const struct nt_tunnel_config *cfg,
		  const struct nt_tunnel_ops *ops, struct nt_tunnel **out);
/* Frees the buffers the output queue keeps for reuse (up to the queue's
 * size, 2 KiB each) that hold no datagram, and gives back the pages of the
 * receive batch (2 MiB once UDP_GRO runs filled it): after a burst, with
 * the heap trimmed (netstack/flow.h, NT_FLOW_TRIM_*). */
void nt_tunnel_trim(struct nt_tunnel *t);
/* nt_tunnel_trim as the flow layer's trim hook (nt_flow_config.trim), for
 * owners that start the flow layer before their tunnel exists: arg is the
 * address of their tunnel pointer, NULL until then. */
void nt_tunnel_trim_hook(void *arg);
/* Datagrams still queued leave first (see NT_TUNNEL_DRAIN_MS). */
void nt_tunnel_free(struct nt_tunnel *t);
/* The bound UDP port. */
uint16_t nt_tunnel_port(const struct nt_tunnel *t);
void nt_tunnel_public_key(const struct nt_tunnel *t, uint8_t out[32]);

/* 0, -EEXIST (same public key), -EINVAL (our own key, a low-order key, a
 * bad endpoint or prefix), -ENOSPC (max_peers or allowed-IPs limit), -ENOMEM. */
int nt_tunnel_add_peer(struct nt_tunnel *t, const struct nt_tunnel_peer_config *cfg,
		       struct wg_peer **out);
/* Not from a tunnel callback. */
void nt_tunnel_remove_peer(struct nt_tunnel *t, struct wg_peer *peer);
/* A configuration reload: cfg's psk (for the next handshake), allowed IPs
 * (replacing the peer's), persistent keepalive, user and, when set, endpoint
 * applied in place; public_key is not looked at. The session and its keys
 * stay. 0, -EINVAL (bad endpoint: nothing changed) or wg_allowedips_insert's
 * error (the prefixes before it installed). Not from a tunnel callback. */
int nt_tunnel_update_peer(struct nt_tunnel *t, struct wg_peer *peer,
			  const struct nt_tunnel_peer_config *cfg);
/* 0 or -EINVAL. */
int nt_tunnel_peer_set_endpoint(struct nt_tunnel *t, struct wg_peer *peer,
				const struct sockaddr *sa, socklen_t len);
/* Adds cidr to peer's allowed IPs (a prefix held by another peer moves):
 * a portal grant. 0 or wg_allowedips_insert's error. */
int nt_tunnel_peer_allow(struct nt_tunnel *t, struct wg_peer *peer, const struct wg_cidr *cidr);
/* Removes cidr from whichever peer holds it. 0 or -ENOENT. */
int nt_tunnel_disallow(struct nt_tunnel *t, const struct wg_cidr *cidr);
/* The peer whose allowed IPs hold addr (4 or 16 bytes), or NULL. */
struct wg_peer *nt_tunnel_peer_for_dst(const struct nt_tunnel *t, int family, const void *addr);

/* Sends an IP packet to peer: encrypted at once with a usable session,
 * otherwise staged and a handshake started. The datagram leaves in a batch at
 * the end of the loop iteration, or sooner (nt_tunnel_flush).
 * 0 (sent or staged), -EMSGSIZE, -ENOBUFS (dropped: a queue is full, counted),
 * -EAFNOSUPPORT (the endpoint's family does not fit the socket). */
int nt_tunnel_send(struct nt_tunnel *t, struct wg_peer *peer, const void *pkt, size_t len);
/* Routes and sends an IP packet: to the peer whose allowed IPs hold its
 * destination (longest prefix), then as nt_tunnel_send. 0, -EHOSTUNREACH
 * (not IPv4/IPv6, or no peer holds the destination) or nt_tunnel_send's
 * error. */
int nt_tunnel_xmit(struct nt_tunnel *t, const uint8_t *pkt, size_t len);
/* Starts a handshake now, if the timers allow one. 0, -EAGAIN (too soon),
 * -EDESTADDRREQ (no endpoint). */
int nt_tunnel_initiate(struct nt_tunnel *t, struct wg_peer *peer);
/* Hands queued datagrams to the socket now. */
void nt_tunnel_flush(struct nt_tunnel *t);

void nt_tunnel_counters(const struct nt_tunnel *t, struct nt_tunnel_counters *out);
const struct wg_peer_counters *nt_tunnel_peer_counters(const struct wg_peer *peer);
void *nt_tunnel_peer_user(const struct wg_peer *peer);
void nt_tunnel_peer_set_user(struct wg_peer *peer, void *user);
/* First 8 base64 characters of the peer's public key. */
const char *nt_tunnel_peer_id(const struct wg_peer *peer);
/* false when unknown. */
bool nt_tunnel_peer_endpoint(const struct wg_peer *peer, struct sockaddr_storage *out);
/* The peer has a keypair it may send with. */
bool nt_tunnel_peer_has_session(const struct wg_peer *peer);

/* A peer as `notun status` and the metrics page show it, copied out. */
struct nt_tunnel_peer_info {
	uint8_t public_key[32];
	struct sockaddr_storage endpoint; /* ss_family AF_UNSPEC: not known yet */
	bool has_session;
	uint64_t last_handshake_ns; /* monotonic; 0: never */
	size_t staged;		    /* packets waiting for a session */
	struct wg_peer_counters c;
};
void nt_tunnel_peer_info(const struct wg_peer *peer, struct nt_tunnel_peer_info *out);

#endif
