/* SPDX-License-Identifier: MIT */
/* One WireGuard peer: its identity, handshake, cookie maker, timers,
 * endpoint, keypairs and the packets staged while it has no session. No I/O:
 * the tunnel sends and receives, this module keeps the state straight.
 *
 * Keypair slots (at most three live, a fourth free for the one being made):
 *
 *   initiator derives K:  current = K at once; the old current becomes
 *                         previous (or, if an unconfirmed next existed, next
 *                         becomes previous and the old current is wiped).
 *   responder derives K:  next = K (replacing any older next); previous is
 *                         wiped. The initiator must send first:
 *   data arrives under next: previous = current, current = next, next = none.
 *   zero keys:            every keypair wiped.
 *
 * Only current sends, and only while it is not expired (REJECT_AFTER_TIME or
 * the message limit). previous stays to decrypt packets in flight across a
 * rotation. Every keypair owns its local index in the interface's index table
 * and releases it when wiped.
 *
 * Staged queue: IP packets waiting for a session, copied, FIFO, at most
 * WG_PEER_STAGED_MAX packets and WG_PEER_STAGED_MAX_BYTES bytes; a packet
 * that does not fit is dropped (drop_queue_full). Flushed in order once a
 * session can send; dropped (drop_give_up) when the handshake gives up.
 */
#ifndef NT_CORE_PEER_H
#define NT_CORE_PEER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/wg/cookie.h"
#include "core/wg/index.h"
#include "core/wg/noise.h"
#include "core/wg/timers.h"
#include "core/wg/transport.h"

#define WG_PEER_STAGED_MAX	 128
#define WG_PEER_STAGED_MAX_BYTES (1024 * 1024)
#define WG_PEER_PACKET_MAX	 65535
/* First 8 base64 characters of the public key, for logs. */
#define WG_PEER_SHORT_ID_LEN 8

struct wg_peer;

struct wg_keypair {
	struct wg_transport tr; /* keys, indexes, send counter, replay window */
	struct wg_peer *peer;
	uint64_t created_ns;
	bool initiator;
	bool in_use;
};

struct wg_peer_counters {
	uint64_t tx_bytes, tx_packets; /* data packets (inner bytes) */
	uint64_t rx_bytes, rx_packets;
	uint64_t keepalives_tx, keepalives_rx;
	uint64_t handshakes_initiated; /* initiations sent */
	uint64_t handshakes_completed;
	uint64_t handshake_failures; /* responses or initiations that did not authenticate */
	uint64_t cookie_replies;     /* cookie replies received and accepted */
	uint64_t drop_no_session;    /* data on an expired or unknown keypair */
	uint64_t drop_replay;
	uint64_t drop_decrypt;
	uint64_t drop_source;	  /* inner source outside the allowed IPs */
	uint64_t rx_control;	  /* in-tunnel control packets (source ::) handed on */
	uint64_t drop_queue_full; /* staged queue full */
	uint64_t drop_give_up;	  /* staged packets dropped when the handshake gave up */
	uint64_t staged_collapsed; /* staged packets replaced by their retransmission */
};

struct wg_staged {
	uint8_t *pkt[WG_PEER_STAGED_MAX];
	uint32_t len[WG_PEER_STAGED_MAX];
	unsigned int head, count;
	size_t bytes;
};

struct wg_peer {
	struct wg_noise_handshake hs;
	uint32_t hs_index; /* index of the handshake in progress; 0 = none */
	struct wg_cookie_maker cookie;
	struct wg_timers timers;
	struct wg_index *index;
	struct wg_keypair slots[4];
	struct wg_keypair *current, *previous, *next;
	struct sockaddr_storage endpoint; /* AF_INET or AF_INET6; AF_UNSPEC = unknown */
	uint64_t ts_sec;		  /* last TAI64N sent: seconds and whitened ns */
	uint32_t ts_nsec;
	struct wg_staged staged;
	struct wg_peer_counters counters;
	char short_id[WG_PEER_SHORT_ID_LEN + 1];
};

/* psk may be NULL. params NULL: the protocol's constants. rand: timer jitter.
 * 0, or -EINVAL (low-order public key). */
int wg_peer_init(struct wg_peer *p, const struct wg_noise_static *local,
		 const uint8_t remote_public[WG_KEY_LEN], const uint8_t *psk,
		 struct wg_index *index, const struct wg_timers_params *params,
		 wg_timers_rand_fn rand, void *rand_ctx);
/* Wipes every secret, releases indexes and staged packets. */
void wg_peer_uninit(struct wg_peer *p);

/* Registers a fresh index for a handshake message we are about to create,
 * releasing the previous one. 0 or -ENOSPC. */
int wg_peer_handshake_index_new(struct wg_peer *p, uint32_t *id);
/* Forgets the handshake in progress and its index. */
void wg_peer_handshake_clear(struct wg_peer *p);

/* Installs the keys of a completed handshake by the rotation rules above;
 * keys->local_index must be the handshake's index (p->hs_index), which now
 * points at the keypair. 0 or -EINVAL. */
int wg_peer_keys_install(struct wg_peer *p, const struct wg_noise_keys *keys, uint64_t now,
			 struct wg_keypair **out);
/* An authenticated transport message arrived under kp. Returns true when
 * that confirmed a next keypair (the responder's handshake is complete). */
bool wg_peer_keypair_received(struct wg_peer *p, struct wg_keypair *kp);
/* The keypair to send with, or NULL (none, or expired). */
struct wg_keypair *wg_peer_send_keypair(const struct wg_peer *p, uint64_t now);
/* kp may still authenticate what it receives. */
bool wg_peer_keypair_may_receive(const struct wg_peer *p, const struct wg_keypair *kp,
				 uint64_t now);
/* Wipes every keypair and the handshake in progress. */
void wg_peer_keys_zero(struct wg_peer *p);

/* Whether staged packet old is made redundant by new (a retransmission of
 * it): new then takes old's place instead of queueing behind it. */
typedef bool (*wg_peer_supersedes_fn)(const uint8_t *old, size_t old_len, const uint8_t *new_pkt,
				      size_t new_len);

/* 0, -EMSGSIZE (0 or > WG_PEER_PACKET_MAX bytes), -ENOBUFS (full: counted
 * in drop_queue_full) or -ENOMEM. supersedes may be NULL. */
int wg_peer_stage(struct wg_peer *p, const void *pkt, size_t len, wg_peer_supersedes_fn supersedes);
size_t wg_peer_staged_count(const struct wg_peer *p);
/* The oldest staged packet, or NULL. */
const uint8_t *wg_peer_staged_peek(const struct wg_peer *p, size_t *len);
void wg_peer_staged_pop(struct wg_peer *p);
/* Drops every staged packet, counted in drop_give_up; returns how many. */
size_t wg_peer_staged_drop(struct wg_peer *p);

/* Roaming: sets the endpoint (v4-mapped IPv6 is stored as IPv4). Returns
 * true when it changed; false also for an unusable address. */
bool wg_peer_set_endpoint(struct wg_peer *p, const struct sockaddr *sa, socklen_t len);
/* The same family, address, port (and IPv6 scope); false for families other
 * than AF_INET and AF_INET6. */
bool wg_endpoint_equal(const struct sockaddr *a, const struct sockaddr *b);
bool wg_peer_has_endpoint(const struct wg_peer *p);

/* The TAI64N timestamp of a new initiation from the real-time clock, made
 * strictly greater than the last one this peer sent. */
void wg_peer_next_timestamp(struct wg_peer *p, uint64_t realtime_ns, uint8_t out[WG_TAI64N_LEN]);

#endif
