/* SPDX-License-Identifier: MIT */
/* One private key in two processes, told from a peer's endpoint history.
 *
 * Two processes with the same key take the peer's session from each other:
 * every authenticated packet moves the endpoint (roaming), so at the other
 * side it swings between two addresses, A -> B -> A -> B, for as long as
 * both run. A laptop that changes networks moves it once (A -> B), maybe
 * back later. The detector is fed the source of each authenticated packet
 * that moved the endpoint and counts returns: a move back to the endpoint
 * the peer had just before. Returns within WG_FLAP_MERGE_NS of the last
 * counted one count once (the packets of one roam may arrive out of order
 * across it); WG_FLAP_RETURNS counted returns within WG_FLAP_WINDOW_NS make
 * an episode, reported once. The episode ends after WG_FLAP_QUIET_NS
 * without a return; the next one is reported again. A move to a third
 * address starts the count over. Fixed size, no I/O, no clock of its own.
 */
#ifndef NT_CORE_WG_FLAP_H
#define NT_CORE_WG_FLAP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define WG_FLAP_RETURNS	  3u
#define WG_FLAP_MERGE_NS  1000000000ull	 /* 1 s */
#define WG_FLAP_WINDOW_NS 60000000000ull /* 60 s */
#define WG_FLAP_QUIET_NS  60000000000ull /* 60 s */

union wg_flap_addr {
	struct sockaddr sa; /* sa_family AF_UNSPEC: none yet */
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct wg_flap {
	union wg_flap_addr cur, prev;
	uint32_t returns;	 /* counted in the current window */
	uint64_t window_ns;	 /* the window's first counted return */
	uint64_t counted_ns;	 /* the last counted return */
	uint64_t last_return_ns; /* the last return, counted or not */
	bool episode;		 /* reported, not yet quiet */
};

/* A zeroed struct wg_flap is ready. */
void wg_flap_init(struct wg_flap *f);
/* ep: the endpoint an authenticated packet came from (AF_INET, or AF_INET6
 * not v4-mapped: as wg_peer_set_endpoint keeps it), at now_ns (monotonic).
 * true once per episode, when the flapping is first recognised; then
 * wg_flap_pair names the two endpoints. */
bool wg_flap_feed(struct wg_flap *f, const struct sockaddr_storage *ep, uint64_t now_ns);
/* The two endpoints the peer swings between: the current one and the one
 * before. */
void wg_flap_pair(const struct wg_flap *f, struct sockaddr_storage *a, struct sockaddr_storage *b);

#endif
