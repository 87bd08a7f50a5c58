// SPDX-License-Identifier: MIT
/* Two tunnels in one process and one loop, on 127.0.0.1 with ephemeral
 * ports, doing real handshakes. A small UDP relay on the path (a third
 * socket in the same loop) lets tests capture, replay and re-route datagrams.
 * Every wait is bounded by a deadline on the loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/tunnel/tunnel.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/random.h"

#define WAIT_MS	  2000
#define MAX_SEEN  1024
#define PKT_BYTES 100
#define BIG_PKT	  1200 /* the pacer tests' packets */
#define LOG_MAX	  1024

struct node {
	struct nt_tunnel *tun;
	struct wg_peer *peer; /* the other node */
	uint8_t priv[32], pub[32];
	int inner;	/* last octet of the node's inner address 10.0.0.x */
	size_t pkt_len; /* of the packets it receives; 0: PKT_BYTES */
	size_t delivered;
	uint8_t tags[MAX_SEEN]; /* byte 20 of each packet delivered, in order */
	int completed, gave_up, roamed;
};

struct relay {
	int fd;
	uint16_t port;
	struct sockaddr_in a_addr; /* learnt from the first datagram not from b */
	bool a_known;
	uint16_t b_port;
	uint8_t last_from_a[2048];
	size_t last_len;
	bool drop_all;
};

struct world {
	struct nt_loop *loop;
	struct node a, b;
	size_t want;	  /* for b_has_want */
	bool socket_full; /* send_hook: the socket says EAGAIN */
	bool refuse_gso;  /* send_hook: a segmented message gets EIO */
	unsigned int gso_refusals;
	size_t max_segs; /* most datagrams one message carried */
	bool no_offload; /* hooked_pair: a's config */
	unsigned int hook_calls;
	/* What send_hook let through: totals, and when (after each call). */
	uint64_t sent_dgrams, sent_bytes;
	struct {
		uint64_t ns, bytes;
	} log[LOG_MAX];
	size_t log_n;
	struct relay relay;
	bool relay_up;
};

/* ---- helpers ---- */

static void on_deliver(void *arg, struct wg_peer *peer, const uint8_t *pkt, size_t len)
{
	struct node *n = arg;

	assert_ptr_equal(peer, n->peer);
	assert_int_equal(len, n->pkt_len ? n->pkt_len : PKT_BYTES);
	if (n->delivered < MAX_SEEN)
		n->tags[n->delivered] = pkt[20];
	n->delivered++;
}

static void on_event(void *arg, struct wg_peer *peer, enum nt_tunnel_peer_event ev)
{
	struct node *n = arg;

	(void)peer;
	if (ev == NT_TUNNEL_HANDSHAKE_COMPLETE)
		n->completed++;
	else if (ev == NT_TUNNEL_HANDSHAKE_GIVE_UP)
		n->gave_up++;
	else if (ev == NT_TUNNEL_ENDPOINT_CHANGED)
		n->roamed++;
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(port)};

	s.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return s;
}

/* Brings n up with cfg (private key and listen address are filled in). */
static void node_up_cfg(struct world *w, struct node *n, int inner, struct nt_tunnel_config *cfg)
{
	struct nt_tunnel_ops ops = {.deliver = on_deliver, .peer_event = on_event, .arg = n};
	struct sockaddr_in listen = loopback(0);

	memset(n, 0, sizeof(*n));
	n->inner = inner;
	nt_random_bytes(n->priv, sizeof(n->priv));
	n->priv[0] &= 248;
	n->priv[31] = (n->priv[31] & 127) | 64;
	assert_int_equal(crypto_scalarmult_curve25519_base(n->pub, n->priv), 0);
	memcpy(cfg->private_key, n->priv, 32);
	cfg->listen_addr = (struct sockaddr *)&listen;
	cfg->listen_addr_len = sizeof(listen);
	assert_int_equal(nt_tunnel_new(w->loop, cfg, &ops, &n->tun), 0);
	assert_int_not_equal(nt_tunnel_port(n->tun), 0);
}

static void node_up(struct world *w, struct node *n, int inner, uint32_t load_threshold,
		    const struct wg_timers_params *timers)
{
	struct nt_tunnel_config cfg;

	nt_tunnel_config_init(&cfg);
	cfg.under_load_threshold = load_threshold;
	cfg.timers = timers;
	node_up_cfg(w, n, inner, &cfg);
}

/* n learns about other: its key (or a wrong one), a psk, an endpoint port
 * (0: none, learnt from handshakes) and other's inner /32. */
static void node_add_peer(struct node *n, const struct node *other, const uint8_t *pub,
			  const uint8_t *psk, uint16_t endpoint_port)
{
	struct nt_tunnel_peer_config pc = {0};
	struct sockaddr_in ep = loopback(endpoint_port);
	struct wg_cidr cidr = {
	    .family = AF_INET, .addr = {10, 0, 0, (uint8_t)other->inner}, .prefix_len = 32};

	memcpy(pc.public_key, pub ? pub : other->pub, 32);
	pc.psk = psk;
	if (endpoint_port) {
		pc.endpoint = (struct sockaddr *)&ep;
		pc.endpoint_len = sizeof(ep);
	}
	pc.allowed_ips = &cidr;
	pc.allowed_ips_count = 1;
	assert_int_equal(nt_tunnel_add_peer(n->tun, &pc, &n->peer), 0);
}

/* An IPv4 packet of len bytes from 10.0.0.src to 10.0.0.dst, tagged at byte 20. */
static void make_packet_len(uint8_t *pkt, size_t len, int src, int dst, uint8_t tag)
{
	memset(pkt, 0, len);
	pkt[0] = 0x45;
	pkt[2] = (uint8_t)(len >> 8);
	pkt[3] = (uint8_t)len;
	pkt[8] = 64;
	pkt[9] = 17;
	pkt[12] = 10;
	pkt[15] = (uint8_t)src;
	pkt[16] = 10;
	pkt[19] = (uint8_t)dst;
	pkt[20] = tag;
}

static void make_packet(uint8_t pkt[PKT_BYTES], int src, int dst, uint8_t tag)
{
	make_packet_len(pkt, PKT_BYTES, src, dst, tag);
}

/* Sends a packet of the length the receiver expects. */
static int send_tagged(struct node *from, const struct node *to, uint8_t tag)
{
	uint8_t pkt[BIG_PKT];
	size_t len = to->pkt_len ? to->pkt_len : PKT_BYTES;

	make_packet_len(pkt, len, from->inner, to->inner, tag);
	return nt_tunnel_send(from->tun, from->peer, pkt, len);
}

typedef bool (*cond_fn)(struct world *w);

/* Runs the loop until cond holds or ms pass; returns cond's last value. */
static bool run_until(struct world *w, cond_fn cond, int ms)
{
	uint64_t end = nt_clock_mono_ns() + (uint64_t)ms * NT_NS_PER_MS;

	while (!(cond && cond(w))) {
		if (nt_clock_mono_ns() >= end)
			break;
		assert_true(nt_loop_run_once(w->loop, 5) >= 0);
	}
	return cond && cond(w);
}

static bool b_delivered(struct world *w)
{
	return w->b.delivered > 0;
}

static bool a_delivered(struct world *w)
{
	return w->a.delivered > 0;
}

static bool b_has_want(struct world *w)
{
	return w->b.delivered >= w->want;
}

static bool b_completed(struct world *w)
{
	return w->b.completed > 0;
}

/* ---- relay ---- */

static void relay_cb(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct relay *r = arg;
	uint8_t buf[2048];
	struct sockaddr_in src;
	socklen_t sl = sizeof(src);
	ssize_t n;

	(void)loop;
	(void)events;
	while ((n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&src, &sl)) > 0) {
		struct sockaddr_in dst;

		sl = sizeof(src);
		if (r->drop_all)
			continue;
		if (ntohs(src.sin_port) == r->b_port) {
			if (!r->a_known)
				continue;
			dst = r->a_addr;
		} else {
			r->a_addr = src;
			r->a_known = true;
			memcpy(r->last_from_a, buf, (size_t)n);
			r->last_len = (size_t)n;
			dst = loopback(r->b_port);
		}
		sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&dst, sizeof(dst));
	}
}

static void relay_up(struct world *w, uint16_t b_port)
{
	struct relay *r = &w->relay;
	struct sockaddr_in s = loopback(0);
	socklen_t sl = sizeof(s);

	memset(r, 0, sizeof(*r));
	r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(r->fd >= 0);
	assert_int_equal(bind(r->fd, (struct sockaddr *)&s, sizeof(s)), 0);
	assert_int_equal(getsockname(r->fd, (struct sockaddr *)&s, &sl), 0);
	r->port = ntohs(s.sin_port);
	r->b_port = b_port;
	assert_int_equal(nt_loop_add_fd(w->loop, r->fd, NT_EV_READ, relay_cb, r), 0);
	w->relay_up = true;
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	if (!w || nt_platform_init() != 0 || nt_loop_new(&w->loop) != 0)
		return -1;
	if (!getenv("NT_TEST_LOG"))
		nt_log_set_level(NT_LOG_ERROR);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	nt_tunnel_free(w->a.tun);
	nt_tunnel_free(w->b.tun);
	if (w->relay_up) {
		nt_loop_del_fd(w->loop, w->relay.fd);
		close(w->relay.fd);
	}
	nt_loop_free(w->loop);
	free(w);
	return 0;
}

/* a initiates to b directly; b learns a's endpoint from the handshake. */
static void pair_up(struct world *w, const uint8_t *psk_a, const uint8_t *psk_b)
{
	node_up(w, &w->a, 1, NT_TUNNEL_UNDER_LOAD_DEFAULT, NULL);
	node_up(w, &w->b, 2, NT_TUNNEL_UNDER_LOAD_DEFAULT, NULL);
	node_add_peer(&w->a, &w->b, NULL, psk_a, nt_tunnel_port(w->b.tun));
	node_add_peer(&w->b, &w->a, NULL, psk_b, 0);
}

static void exchange_both_ways(struct world *w)
{
	const struct wg_peer_counters *ca = nt_tunnel_peer_counters(w->a.peer);
	const struct wg_peer_counters *cb = nt_tunnel_peer_counters(w->b.peer);

	assert_false(nt_tunnel_peer_has_session(w->a.peer));
	assert_int_equal(send_tagged(&w->a, &w->b, 7), 0); /* staged, handshake starts */
	assert_true(run_until(w, b_delivered, WAIT_MS));
	assert_int_equal(w->b.tags[0], 7);
	assert_int_equal(w->a.completed, 1);
	assert_int_equal(w->b.completed, 1); /* confirmed by the first data */
	assert_true(nt_tunnel_peer_has_session(w->b.peer));

	assert_int_equal(send_tagged(&w->b, &w->a, 9), 0);
	assert_true(run_until(w, a_delivered, WAIT_MS));
	assert_int_equal(w->a.tags[0], 9);
	assert_int_equal(ca->handshakes_completed, 1);
	assert_int_equal(cb->handshakes_completed, 1);
	assert_int_equal(ca->tx_packets, 1);
	assert_int_equal(ca->rx_packets, 1);
	assert_int_equal(cb->rx_bytes, PKT_BYTES);
	assert_true(ca->handshakes_initiated >= 1);
}

/* ---- tests ---- */

static void test_handshake_and_packets_both_ways_without_psk(void **state)
{
	struct world *w = *state;

	pair_up(w, NULL, NULL);
	exchange_both_ways(w);
}

static void test_handshake_and_packets_both_ways_with_psk(void **state)
{
	struct world *w = *state;
	uint8_t psk[32];

	nt_random_bytes(psk, sizeof(psk));
	pair_up(w, psk, psk);
	exchange_both_ways(w);
}

static void test_staged_packets_flushed_in_order_after_handshake(void **state)
{
	struct world *w = *state;

	pair_up(w, NULL, NULL);
	for (uint8_t i = 0; i < 10; i++)
		assert_int_equal(send_tagged(&w->a, &w->b, (uint8_t)(100 + i)), 0);
	assert_int_equal(w->a.peer->staged.count, 10);
	w->want = 10;
	assert_true(run_until(w, b_has_want, WAIT_MS));
	assert_int_equal(w->b.delivered, 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(w->b.tags[i], 100 + i);
	assert_int_equal(w->a.peer->staged.count, 0);
}

static void test_keepalive_confirms_the_responder_without_data(void **state)
{
	struct world *w = *state;

	pair_up(w, NULL, NULL);
	assert_int_equal(nt_tunnel_initiate(w->a.tun, w->a.peer), 0);
	assert_true(run_until(w, b_completed, WAIT_MS));
	assert_int_equal(nt_tunnel_peer_counters(w->b.peer)->keepalives_rx, 1);
	assert_true(nt_tunnel_peer_has_session(w->b.peer));
	/* Now the responder may send first. */
	assert_int_equal(send_tagged(&w->b, &w->a, 3), 0);
	assert_true(run_until(w, a_delivered, WAIT_MS));
	/* A second initiation within REKEY_TIMEOUT is refused. */
	assert_int_equal(nt_tunnel_initiate(w->a.tun, w->a.peer), -EAGAIN);
}

static void test_wrong_psk_gives_no_session_and_counts_the_failure(void **state)
{
	struct world *w = *state;
	uint8_t psk_a[32], psk_b[32];
	struct nt_tunnel_counters c;

	nt_random_bytes(psk_a, sizeof(psk_a));
	nt_random_bytes(psk_b, sizeof(psk_b));
	pair_up(w, psk_a, psk_b);
	assert_int_equal(send_tagged(&w->a, &w->b, 1), 0);
	assert_false(run_until(w, b_delivered, 300));
	assert_false(nt_tunnel_peer_has_session(w->a.peer));
	assert_int_equal(w->a.completed, 0);
	/* The responder cannot tell; the initiator's response check fails. */
	assert_true(nt_tunnel_peer_counters(w->a.peer)->handshake_failures >= 1);
	nt_tunnel_counters(w->a.tun, &c);
	assert_true(c.hs_bad_auth >= 1);
	assert_int_equal(w->a.peer->staged.count, 1); /* still waiting */
}

static void test_wrong_public_key_gives_no_session_and_counts_the_failure(void **state)
{
	struct world *w = *state;
	uint8_t wrong[32];
	struct nt_tunnel_counters c;

	nt_random_bytes(wrong, sizeof(wrong));
	wrong[31] &= 127;
	/* b knows a wrong key for a: a's static key is unknown to it. */
	node_up(w, &w->a, 1, NT_TUNNEL_UNDER_LOAD_DEFAULT, NULL);
	node_up(w, &w->b, 2, NT_TUNNEL_UNDER_LOAD_DEFAULT, NULL);
	node_add_peer(&w->a, &w->b, NULL, NULL, nt_tunnel_port(w->b.tun));
	node_add_peer(&w->b, &w->a, wrong, NULL, 0);
	assert_int_equal(send_tagged(&w->a, &w->b, 1), 0);
	assert_false(run_until(w, b_delivered, 300));
	nt_tunnel_counters(w->b.tun, &c);
	assert_true(c.hs_unknown_key >= 1);
	assert_false(nt_tunnel_peer_has_session(w->a.peer));

	/* a knows a wrong key for b: its mac1 does not fit b. */
	nt_tunnel_free(w->a.tun);
	node_up(w, &w->a, 1, NT_TUNNEL_UNDER_LOAD_DEFAULT, NULL);
	node_add_peer(&w->a, &w->b, wrong, NULL, nt_tunnel_port(w->b.tun));
	assert_int_equal(send_tagged(&w->a, &w->b, 1), 0);
	assert_false(run_until(w, b_delivered, 300));
	nt_tunnel_counters(w->b.tun, &c);
	assert_true(c.rx_bad_mac1 >= 1);
	assert_int_equal(w->b.delivered, 0);
}

static void test_replayed_datagram_is_dropped_and_counted(void **state)
{
	struct world *w = *state;
	struct sockaddr_in b_addr;

	node_up(w, &w->a, 1, NT_TUNNEL_UNDER_LOAD_DEFAULT, NULL);
	node_up(w, &w->b, 2, NT_TUNNEL_UNDER_LOAD_DEFAULT, NULL);
	relay_up(w, nt_tunnel_port(w->b.tun));
	node_add_peer(&w->a, &w->b, NULL, NULL, w->relay.port);
	node_add_peer(&w->b, &w->a, NULL, NULL, 0);
	assert_int_equal(send_tagged(&w->a, &w->b, 5), 0);
	assert_true(run_until(w, b_delivered, WAIT_MS));
	run_until(w, NULL, 20);
	assert_int_equal(w->b.delivered, 1);
	/* The last datagram from a was the data packet: send it again. */
	assert_int_equal(w->relay.last_from_a[0], WG_MSG_TRANSPORT);
	b_addr = loopback(nt_tunnel_port(w->b.tun));
	assert_int_equal(sendto(w->relay.fd, w->relay.last_from_a, w->relay.last_len, 0,
				(struct sockaddr *)&b_addr, sizeof(b_addr)),
			 (ssize_t)w->relay.last_len);
	run_until(w, NULL, 50);
	assert_int_equal(w->b.delivered, 1);
	assert_int_equal(nt_tunnel_peer_counters(w->b.peer)->drop_replay, 1);
	/* A corrupted copy does not authenticate. */
	w->relay.last_from_a[w->relay.last_len - 1] ^= 1;
	sendto(w->relay.fd, w->relay.last_from_a, w->relay.last_len, 0, (struct sockaddr *)&b_addr,
	       sizeof(b_addr));
	run_until(w, NULL, 50);
	assert_int_equal(nt_tunnel_peer_counters(w->b.peer)->drop_decrypt, 1);
	assert_int_equal(w->b.delivered, 1);
}

static void test_inner_source_outside_allowed_ips_is_dropped(void **state)
{
	struct world *w = *state;
	uint8_t pkt[PKT_BYTES];

	pair_up(w, NULL, NULL);
	make_packet(pkt, 99, 2, 1); /* 10.0.0.99 is not a's */
	assert_int_equal(nt_tunnel_send(w->a.tun, w->a.peer, pkt, sizeof(pkt)), 0);
	assert_int_equal(send_tagged(&w->a, &w->b, 2), 0);
	assert_true(run_until(w, b_delivered, WAIT_MS));
	run_until(w, NULL, 20);
	assert_int_equal(w->b.delivered, 1);
	assert_int_equal(w->b.tags[0], 2);
	assert_int_equal(nt_tunnel_peer_counters(w->b.peer)->drop_source, 1);
	/* The first packet still confirmed b's session. */
	assert_int_equal(w->b.completed, 1);
}

/* What a peer decrypted must be a whole IPv4/IPv6 packet by its own header;
 * padding after it is cut off (on_deliver checks the length). */
static void test_inner_packet_with_a_bad_header_is_dropped(void **state)
{
	struct world *w = *state;
	uint8_t pkt[PKT_BYTES];
	struct nt_tunnel_counters c;

	pair_up(w, NULL, NULL);
	make_packet(pkt, 1, 2, 1);
	pkt[3] = 200; /* longer than what was sent, with its padding */
	assert_int_equal(nt_tunnel_send(w->a.tun, w->a.peer, pkt, sizeof(pkt)), 0);
	make_packet(pkt, 1, 2, 1);
	pkt[3] = 19; /* shorter than its own header */
	assert_int_equal(nt_tunnel_send(w->a.tun, w->a.peer, pkt, sizeof(pkt)), 0);
	make_packet(pkt, 1, 2, 1);
	pkt[0] = 0x55; /* neither IPv4 nor IPv6 */
	assert_int_equal(nt_tunnel_send(w->a.tun, w->a.peer, pkt, sizeof(pkt)), 0);
	assert_int_equal(nt_tunnel_send(w->a.tun, w->a.peer, pkt, 19), 0); /* short */
	assert_int_equal(send_tagged(&w->a, &w->b, 2), 0);
	assert_true(run_until(w, b_delivered, WAIT_MS));
	run_until(w, NULL, 20);
	assert_int_equal(w->b.delivered, 1);
	assert_int_equal(w->b.tags[0], 2);
	nt_tunnel_counters(w->b.tun, &c);
	assert_int_equal(c.rx_malformed, 4);
}

/* nt_tunnel_xmit routes by the destination: to the peer whose allowed IPs
 * hold it, and nowhere when nobody's do or the packet is not IP. */
static void test_xmit_sends_to_the_peer_holding_the_destination(void **state)
{
	struct world *w = *state;
	static uint8_t big[WG_PEER_PACKET_MAX + 1];
	uint8_t pkt[PKT_BYTES], c_priv[32];
	struct nt_tunnel_peer_config pc = {0};
	struct wg_cidr c_net = {.family = AF_INET, .addr = {10, 0, 0, 3}, .prefix_len = 32};
	struct wg_peer *c;

	pair_up(w, NULL, NULL);
	/* A third peer of a's, never up: what is routed to it stays staged. */
	nt_random_bytes(c_priv, sizeof(c_priv));
	assert_int_equal(crypto_scalarmult_curve25519_base(pc.public_key, c_priv), 0);
	pc.allowed_ips = &c_net;
	pc.allowed_ips_count = 1;
	assert_int_equal(nt_tunnel_add_peer(w->a.tun, &pc, &c), 0);

	make_packet(pkt, 1, 2, 5);
	assert_int_equal(nt_tunnel_xmit(w->a.tun, pkt, sizeof(pkt)), 0);
	assert_true(run_until(w, b_delivered, WAIT_MS));
	assert_int_equal(w->b.tags[0], 5);
	assert_int_equal(wg_peer_staged_count(c), 0);

	make_packet(pkt, 1, 3, 6);
	assert_int_equal(nt_tunnel_xmit(w->a.tun, pkt, sizeof(pkt)), 0);
	assert_int_equal(wg_peer_staged_count(c), 1);

	make_packet(pkt, 1, 9, 7); /* 10.0.0.9: nobody's */
	assert_int_equal(nt_tunnel_xmit(w->a.tun, pkt, sizeof(pkt)), -EHOSTUNREACH);
	make_packet(pkt, 1, 2, 8);
	pkt[0] = 0x55; /* not IP, though bytes 16-19 name b */
	assert_int_equal(nt_tunnel_xmit(w->a.tun, pkt, sizeof(pkt)), -EHOSTUNREACH);
	make_packet(pkt, 1, 2, 9);
	assert_int_equal(nt_tunnel_xmit(w->a.tun, pkt, 19), -EHOSTUNREACH); /* short */
	assert_int_equal(nt_tunnel_xmit(w->a.tun, pkt, 0), -EHOSTUNREACH);

	run_until(w, NULL, 20);
	assert_int_equal(w->b.delivered, 1);
	assert_int_equal(nt_tunnel_peer_counters(w->a.peer)->tx_packets, 1);
	assert_int_equal(wg_peer_staged_count(c), 1);
	/* A send error comes back as is. */
	make_packet_len(big, sizeof(big), 1, 2, 10);
	assert_int_equal(nt_tunnel_xmit(w->a.tun, big, sizeof(big)), -EMSGSIZE);
}

/* README's limits table: 1024 peers per tunnel by default; the next one is
 * refused with -ENOSPC, and a removal makes room again. */
static void test_default_limit_of_1024_peers_per_tunnel(void **state)
{
	struct world *w = *state;
	struct nt_tunnel_config cfg;
	struct nt_tunnel_peer_config pc = {0};
	struct wg_peer *peer, *first = NULL;
	uint8_t priv[32];

	nt_tunnel_config_init(&cfg);
	node_up_cfg(w, &w->a, 1, &cfg);
	for (int i = 0; i <= 1024; i++) {
		nt_random_bytes(priv, sizeof(priv));
		assert_int_equal(crypto_scalarmult_curve25519_base(pc.public_key, priv), 0);
		if (i == 1024) {
			assert_int_equal(nt_tunnel_add_peer(w->a.tun, &pc, &peer), -ENOSPC);
			break;
		}
		assert_int_equal(nt_tunnel_add_peer(w->a.tun, &pc, &peer), 0);
		first = first ? first : peer;
	}
	nt_tunnel_remove_peer(w->a.tun, first);
	assert_int_equal(nt_tunnel_add_peer(w->a.tun, &pc, &peer), 0);
}

static void test_roaming_endpoint_follows_the_source_of_data(void **state)
{
	struct world *w = *state;
	struct sockaddr_storage ep;
	struct sockaddr_in via;

	pair_up(w, NULL, NULL);
	assert_int_equal(send_tagged(&w->a, &w->b, 1), 0);
	assert_true(run_until(w, b_delivered, WAIT_MS));
	assert_true(nt_tunnel_peer_endpoint(w->b.peer, &ep));
	assert_int_equal(ntohs(((struct sockaddr_in *)&ep)->sin_port), nt_tunnel_port(w->a.tun));

	/* a's packets now reach b from another socket (the relay). */
	relay_up(w, nt_tunnel_port(w->b.tun));
	via = loopback(w->relay.port);
	assert_int_equal(
	    nt_tunnel_peer_set_endpoint(w->a.tun, w->a.peer, (struct sockaddr *)&via, sizeof(via)),
	    0);
	w->b.roamed = 0;
	assert_int_equal(send_tagged(&w->a, &w->b, 2), 0);
	w->want = 2;
	assert_true(run_until(w, b_has_want, WAIT_MS));
	assert_int_equal(w->b.roamed, 1);
	assert_true(nt_tunnel_peer_endpoint(w->b.peer, &ep));
	assert_int_equal(ep.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ep)->sin_port), w->relay.port);
	/* b's answer goes to the new endpoint and the relay brings it to a. */
	assert_int_equal(send_tagged(&w->b, &w->a, 3), 0);
	assert_true(run_until(w, a_delivered, WAIT_MS));
	assert_int_equal(w->a.tags[0], 3);
}

static void test_under_load_cookie_reply_then_mac2_completes_handshake(void **state)
{
	struct world *w = *state;
	struct wg_timers_params fast = {.rekey_timeout_ns = WG_MSEC(150)};
	struct nt_tunnel_counters c;
	const struct wg_peer_counters *ca;

	node_up(w, &w->a, 1, NT_TUNNEL_UNDER_LOAD_DEFAULT, &fast);
	node_up(w, &w->b, 2, 0, NULL); /* always under load: mac2 required */
	node_add_peer(&w->a, &w->b, NULL, NULL, nt_tunnel_port(w->b.tun));
	node_add_peer(&w->b, &w->a, NULL, NULL, 0);
	ca = nt_tunnel_peer_counters(w->a.peer);
	assert_int_equal(send_tagged(&w->a, &w->b, 4), 0);
	assert_true(run_until(w, b_delivered, WAIT_MS));
	nt_tunnel_counters(w->b.tun, &c);
	assert_int_equal(c.cookie_replies_sent, 1);
	assert_int_equal(ca->cookie_replies, 1);
	/* The first initiation was answered with a cookie, the retry completed. */
	assert_int_equal(ca->handshakes_initiated, 2);
	assert_int_equal(w->a.completed, 1);
	assert_int_equal(w->b.tags[0], 4);
}

static void test_give_up_drops_staged_packets(void **state)
{
	struct world *w = *state;
	struct wg_timers_params fast = {.rekey_timeout_ns = WG_MSEC(60),
					.rekey_attempt_time_ns = WG_MSEC(200)};

	node_up(w, &w->a, 1, NT_TUNNEL_UNDER_LOAD_DEFAULT, &fast);
	node_up(w, &w->b, 2, NT_TUNNEL_UNDER_LOAD_DEFAULT, NULL);
	relay_up(w, nt_tunnel_port(w->b.tun));
	w->relay.drop_all = true; /* a black hole */
	node_add_peer(&w->a, &w->b, NULL, NULL, w->relay.port);
	node_add_peer(&w->b, &w->a, NULL, NULL, 0);
	for (uint8_t i = 0; i < 3; i++)
		assert_int_equal(send_tagged(&w->a, &w->b, i), 0);
	run_until(w, NULL, 400);
	assert_int_equal(w->a.gave_up, 1);
	assert_int_equal(nt_tunnel_peer_counters(w->a.peer)->drop_give_up, 3);
	assert_int_equal(w->a.peer->staged.count, 0);
	assert_true(nt_tunnel_peer_counters(w->a.peer)->handshakes_initiated >= 3);
}

static void test_rekey_after_time_rotates_keys_without_losing_packets(void **state)
{
	struct world *w = *state;
	/* Initiations are REKEY_TIMEOUT apart at least: shorten that too. */
	struct wg_timers_params fast = {.rekey_after_time_ns = WG_MSEC(150),
					.rekey_timeout_ns = WG_MSEC(60)};
	int sent = 0;

	node_up(w, &w->a, 1, NT_TUNNEL_UNDER_LOAD_DEFAULT, &fast);
	node_up(w, &w->b, 2, NT_TUNNEL_UNDER_LOAD_DEFAULT, NULL);
	node_add_peer(&w->a, &w->b, NULL, NULL, nt_tunnel_port(w->b.tun));
	node_add_peer(&w->b, &w->a, NULL, NULL, 0);
	for (int i = 0; i < 12; i++) {
		assert_int_equal(send_tagged(&w->a, &w->b, (uint8_t)i), 0);
		sent++;
		run_until(w, NULL, 50);
	}
	w->want = (size_t)sent;
	assert_true(run_until(w, b_has_want, WAIT_MS));
	assert_int_equal(w->b.delivered, (size_t)sent);
	for (int i = 0; i < sent; i++)
		assert_int_equal(w->b.tags[i], i);
	/* 600 ms at 150 ms per key: several rotations. */
	assert_true(w->a.completed >= 3);
	assert_true(w->b.completed >= 3);
	assert_non_null(w->a.peer->previous);
}

/* Stands in for sendmmsg: EAGAIN while the test says the socket is full;
 * otherwise sends and notes what left, and when. */
static int full_socket_hook(void *arg, int fd, struct mmsghdr *msgs, unsigned int n)
{
	struct world *w = arg;
	int sent;

	w->hook_calls++;
	if (w->socket_full) {
		errno = EAGAIN;
		return -1;
	}
	/* As a device without checksum offload answers UDP_SEGMENT. */
	if (w->refuse_gso && msgs[0].msg_hdr.msg_controllen) {
		w->gso_refusals++;
		errno = EIO;
		return -1;
	}
	sent = sendmmsg(fd, msgs, n, 0);
	/* A message carries several datagrams when the tunnel segments. */
	for (int i = 0; i < sent; i++) {
		if (msgs[i].msg_hdr.msg_iovlen > w->max_segs)
			w->max_segs = msgs[i].msg_hdr.msg_iovlen;
		for (size_t k = 0; k < msgs[i].msg_hdr.msg_iovlen; k++) {
			w->sent_bytes += msgs[i].msg_hdr.msg_iov[k].iov_len;
			w->sent_dgrams++;
		}
	}
	if (sent > 0) {
		if (w->log_n < LOG_MAX) {
			w->log[w->log_n].ns = nt_clock_mono_ns();
			w->log[w->log_n++].bytes = w->sent_bytes;
		}
	}
	return sent;
}

/* a, whose socket is full_socket_hook (txq_max 0: the default), and b
 * with a session, packets of pkt_len (0: the default); tag 0 delivered. */
static void hooked_pair(struct world *w, size_t txq_max, size_t pkt_len)
{
	struct nt_tunnel_config cfg;

	nt_tunnel_config_init(&cfg);
	if (txq_max)
		cfg.txq_max = txq_max;
	cfg.send_hook = full_socket_hook;
	cfg.send_hook_arg = w;
	cfg.no_offload = w->no_offload;
	node_up_cfg(w, &w->a, 1, &cfg);
	node_up(w, &w->b, 2, NT_TUNNEL_UNDER_LOAD_DEFAULT, NULL);
	node_add_peer(&w->a, &w->b, NULL, NULL, nt_tunnel_port(w->b.tun));
	node_add_peer(&w->b, &w->a, NULL, NULL, 0);
	if (pkt_len)
		w->b.pkt_len = pkt_len;
	assert_int_equal(send_tagged(&w->a, &w->b, 0), 0);
	assert_true(run_until(w, b_delivered, WAIT_MS));
}

static void test_full_socket_queues_datagrams_until_writable_and_counts_overflow(void **state)
{
	struct world *w = *state;
	struct nt_tunnel_counters c;

	hooked_pair(w, 8, 0);

	/* The socket fills up: 8 datagrams wait, the next 4 are dropped. */
	w->socket_full = true;
	for (int i = 1; i <= 12; i++)
		assert_int_equal(send_tagged(&w->a, &w->b, (uint8_t)i), i <= 8 ? 0 : -ENOBUFS);
	run_until(w, NULL, 30);
	assert_int_equal(w->b.delivered, 1);
	nt_tunnel_counters(w->a.tun, &c);
	assert_int_equal(c.tx_queue_full, 4);
	assert_true(c.tx_blocked >= 1);
	assert_true(w->hook_calls >= 2); /* EPOLLOUT retried */

	/* Writable again: everything queued leaves, in order. */
	w->socket_full = false;
	w->want = 9;
	assert_true(run_until(w, b_has_want, WAIT_MS));
	for (int i = 0; i < 9; i++)
		assert_int_equal(w->b.tags[i], i);
	run_until(w, NULL, 20);
	assert_int_equal(w->b.delivered, 9);
}

/* ---- the pacer (core/tunnel/tunnel_tx.c) ---- */

#define PACE_BURST (24 * 1024)	  /* its PACE_BURST_BYTES */
#define PACE_FLOOR 16000000ull	  /* its PACE_FLOOR_BPS */
#define PACE_DGRAM (BIG_PKT + 32) /* a BIG_PKT packet on the wire */

/* a (whose socket is the hook) and b with a session, packets of BIG_PKT,
 * and a's pacer idle long enough to allow a full burst. */
static void pace_pair(struct world *w, size_t txq_max)
{
	hooked_pair(w, txq_max, BIG_PKT);
	run_until(w, NULL, 10);
	w->sent_dgrams = 0;
	w->sent_bytes = 0;
	w->log_n = 0;
}

/* b got tags 0..n in order, each once. */
static void assert_b_got_all_in_order(struct world *w, size_t n)
{
	w->want = n + 1;
	assert_true(run_until(w, b_has_want, WAIT_MS));
	run_until(w, NULL, 20);
	assert_int_equal(w->b.delivered, n + 1);
	for (size_t i = 0; i <= n; i++)
		assert_int_equal(w->b.tags[i], (uint8_t)i);
}

/* ---- UDP segmentation offload and receive coalescing ---- */

/* n packets of BIG_PKT queued while a's socket is full, then let go: all
 * reach b in order; returns a's and (through cb) b's counters. */
static void burst_of_runs(struct world *w, size_t n, struct nt_tunnel_counters *ca,
			  struct nt_tunnel_counters *cb)
{
	hooked_pair(w, 0, BIG_PKT);
	w->max_segs = 0;
	w->socket_full = true;
	for (size_t i = 1; i <= n; i++)
		assert_int_equal(send_tagged(&w->a, &w->b, (uint8_t)i), 0);
	w->socket_full = false;
	assert_b_got_all_in_order(w, n);
	nt_tunnel_counters(w->a.tun, ca);
	nt_tunnel_counters(w->b.tun, cb);
	assert_int_equal(ca->tx_errors, 0);
	assert_int_equal(cb->rx_malformed, 0);
}

static void test_offload_sends_runs_and_the_receiver_splits_them(void **state)
{
	struct world *w = *state;
	struct nt_tunnel_counters ca, cb;

	burst_of_runs(w, 200, &ca, &cb);
	/* Equal datagrams to one endpoint left as runs in one message each;
	 * on loopback the kernel hands them to b's socket still coalesced,
	 * and b split them (else each run would be one malformed datagram). */
	assert_true(w->max_segs > 1);
	assert_true(w->max_segs <= 64);
	assert_true(ca.tx_gso_batches > 0);
	assert_true(cb.rx_gro_batches > 0);
	assert_int_equal(cb.rx_datagrams, ca.tx_datagrams);
}

static void test_offload_refused_falls_back_to_a_datagram_per_message(void **state)
{
	struct world *w = *state;
	struct nt_tunnel_counters ca, cb;

	w->refuse_gso = true;
	burst_of_runs(w, 200, &ca, &cb);
	assert_int_equal(w->gso_refusals, 1); /* asked once, then never again */
	assert_int_equal(w->max_segs, 1);
	assert_int_equal(ca.tx_gso_batches, 0);
	assert_int_equal(cb.rx_gro_batches, 0);
}

static void test_no_offload_config_sends_a_datagram_per_message(void **state)
{
	struct world *w = *state;
	struct nt_tunnel_counters ca, cb;

	w->no_offload = true;
	burst_of_runs(w, 200, &ca, &cb);
	assert_int_equal(w->max_segs, 1);
	assert_int_equal(ca.tx_gso_batches, 0);
}

static void test_pacer_spreads_a_burst_queued_at_once_and_loses_nothing(void **state)
{
	struct world *w = *state;
	const size_t n = 600; /* 739 KB: 30 times the burst */
	struct nt_tunnel_counters c;
	uint64_t t0, rate_max;

	pace_pair(w, 0);
	/* The socket is full while the burst is queued: it is all there
	 * when the socket turns writable. */
	w->socket_full = true;
	for (size_t i = 1; i <= n; i++)
		assert_int_equal(send_tagged(&w->a, &w->b, (uint8_t)i), 0);
	w->socket_full = false;
	t0 = nt_clock_mono_ns();
	/* One iteration: EPOLLOUT, one flush, the pacer's bucket and no more
	 * (its timer is due later). */
	assert_true(nt_loop_run_once(w->loop, 0) >= 0);
	assert_true(w->sent_dgrams > 0);
	assert_true(w->sent_bytes <= PACE_BURST + PACE_DGRAM);
	assert_true(w->sent_dgrams < n);

	/* The rest follows on the pacer's timer: all of it, in order. */
	assert_b_got_all_in_order(w, n);
	assert_int_equal(w->sent_dgrams, n);
	assert_int_equal(w->sent_bytes, n * PACE_DGRAM);
	assert_true(w->log_n >= 2 && w->log_n < LOG_MAX); /* every send noted */
	nt_tunnel_counters(w->a.tun, &c);
	assert_int_equal(c.tx_queue_full, 0);
	assert_int_equal(c.tx_errors, 0);

	/* Never faster than the bucket allows: the burst, then at most twice
	 * the rate the datagrams arrived at (all of them within 50 ms, and
	 * the handshake's), so the whole took at least that long. */
	rate_max = 2 * 20 * (w->sent_bytes + 4096);
	if (rate_max < PACE_FLOOR)
		rate_max = PACE_FLOOR;
	for (size_t k = 0; k < w->log_n; k++)
		assert_true(w->log[k].bytes <= PACE_BURST + PACE_DGRAM +
						   (w->log[k].ns - t0) * rate_max / NT_NS_PER_SEC);
	assert_true(w->log[w->log_n - 1].ns - t0 >=
		    (w->sent_bytes - PACE_BURST - PACE_DGRAM) * NT_NS_PER_SEC / rate_max);
}

static void test_pacer_never_holds_back_a_steady_stream(void **state)
{
	struct world *w = *state;

	pace_pair(w, 0);
	/* A datagram a millisecond (1.2 MB/s) leaves in the loop iteration
	 * that follows, every time. */
	for (size_t i = 1; i <= 50; i++) {
		uint64_t before = w->sent_dgrams;

		assert_int_equal(send_tagged(&w->a, &w->b, (uint8_t)i), 0);
		assert_true(nt_loop_run_once(w->loop, 0) >= 0);
		assert_int_equal(w->sent_dgrams, before + 1);
		run_until(w, NULL, 1);
	}
	assert_b_got_all_in_order(w, 50);
}

static void test_full_queue_sends_a_batch_past_the_pacer_rather_than_drop(void **state)
{
	struct world *w = *state;
	const size_t n = 300, txq = 64;
	struct nt_tunnel_counters c;

	pace_pair(w, txq);
	for (size_t i = 1; i <= n; i++)
		assert_int_equal(send_tagged(&w->a, &w->b, (uint8_t)i), 0);
	/* The queue holds 64: the rest left before the loop ran again. */
	assert_true(w->sent_dgrams >= n - txq);
	nt_tunnel_counters(w->a.tun, &c);
	assert_int_equal(c.tx_queue_full, 0);
	assert_b_got_all_in_order(w, n);
	assert_int_equal(w->sent_dgrams, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_handshake_and_packets_both_ways_without_psk, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_handshake_and_packets_both_ways_with_psk, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_staged_packets_flushed_in_order_after_handshake,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keepalive_confirms_the_responder_without_data,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_psk_gives_no_session_and_counts_the_failure,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_wrong_public_key_gives_no_session_and_counts_the_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replayed_datagram_is_dropped_and_counted, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_inner_source_outside_allowed_ips_is_dropped, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_inner_packet_with_a_bad_header_is_dropped, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_xmit_sends_to_the_peer_holding_the_destination,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_default_limit_of_1024_peers_per_tunnel, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_roaming_endpoint_follows_the_source_of_data, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_under_load_cookie_reply_then_mac2_completes_handshake, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_give_up_drops_staged_packets, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_rekey_after_time_rotates_keys_without_losing_packets, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_full_socket_queues_datagrams_until_writable_and_counts_overflow, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_pacer_spreads_a_burst_queued_at_once_and_loses_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_offload_sends_runs_and_the_receiver_splits_them,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_offload_refused_falls_back_to_a_datagram_per_message, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_offload_config_sends_a_datagram_per_message,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pacer_never_holds_back_a_steady_stream, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_full_queue_sends_a_batch_past_the_pacer_rather_than_drop, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
