// SPDX-License-Identifier: MIT
/* libFuzzer harness for a whole client: one input is one fresh client run
 * (engine, tunnel, lwIP, resolver, proxy) on one loop, driven by records.
 *
 * The harness owns the clocks (it defines nt_clock_mono_ns and
 * nt_clock_real_ns, so platform/clock.c stays out of this link) and
 * libsodium's randomness (a counter stream seeded the same for every
 * input), so a run depends on its input alone. Time moves only by records;
 * the loop never waits. The harness also plays the WireGuard peer on a
 * loopback UDP socket: it answers the client's initiations with genuine
 * responses and encrypts fuzzed bytes as transport data, so inputs reach
 * the inner IP, TCP, UDP and DNS paths and not only the MAC checks.
 *
 * Nothing leaves loopback: the client's routes all go to the tunnel (the
 * peer's AllowedIPs), Bypass is reject, names resolve through the DNS
 * server inside the tunnel, and that is the harness again.
 *
 * An input is records [op][len][len bytes] (a record cut short ends the
 * run), at most MAX_STEPS of them; after each the loop runs until idle:
 *   0 OPEN       a new proxy client (TCP to the listener), at most MAX_CONNS
 *   1 WRITE      b[0]: client; the rest written to it
 *   2 CLOSE      b[0]: client; b[1] bit 0 half-close, bit 1 reset
 *   3 DRAIN      b[0]: client; reads what is there
 *   4 RAW        the bytes as one datagram to the client's tunnel socket
 *   5 PEER       the peer takes what the client sent, then sends the
 *                bytes (an IP packet) as transport data, if a session is up
 *   6 TCP        the peer answers TCP flow b[0] (of the ones it saw):
 *                flags b[1], window b[2..3], data the rest, seq/ack right
 *   7 UDP        the peer answers UDP datagram b[0] of the last UDP_KEEP
 *                it saw (DNS): the rest XORed over its payload, beyond it
 *                appended
 *   8 TIME       both clocks move on le16(b) ms (1000 when empty)
 *   9 LOOP       1 + b[0] % 8 more loop iterations
 *  10 PUMP       the peer takes what the client sent (answers initiations)
 *  11 ASSOC      reads what the UDP relay of client b[0]'s UDP ASSOCIATE
 *                sent back, then sends it the rest as one datagram
 * The seeds in tests/fuzz/corpus/fuzz_client are such programs;
 * tests/unit/test_fuzz_client.c runs them and checks where they get.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "core/config/config.h"
#include "core/engine/engine.h"
#include "core/engine/engine_info.h"
#include "core/lib/wire.h"
#include "core/tunnel/tunnel.h"
#include "core/wg/cookie.h"
#include "core/wg/noise.h"
#include "core/wg/transport.h"
#include "netstack/ippkt.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "platform/random.h"
#include "proxy/proxy.h"
#include "tests/unit/pkt_bytes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STEPS  128
#define MAX_CONNS  8
#define MAX_FLOWS  8
#define IDLE_RUNS  32 /* loop iterations after a record, at most */
#define PUMP_MAX   64 /* datagrams the peer takes per record */
#define KEEP_READ  256
#define DGRAM_MAX  2048
#define UDP_KEEP   4
#define PEER_ISS   0x10000000u
#define PEER_INDEX 0x5eed0000u
/* Beyond any real uptime: the loop programs its timerfd with these
 * deadlines, which then never expire on their own and wake nothing. */
#define MONO_START_NS (1ull << 56)
#define REAL_START_NS (1700000000ull * NT_NS_PER_SEC)

enum op {
	OP_OPEN,
	OP_WRITE,
	OP_CLOSE,
	OP_DRAIN,
	OP_RAW,
	OP_PEER,
	OP_TCP,
	OP_UDP,
	OP_TIME,
	OP_LOOP,
	OP_PUMP,
	OP_ASSOC,
	OP_COUNT
};

/* ---- the clocks and the randomness this harness owns ---- */

static uint64_t fake_mono_ns = MONO_START_NS, fake_real_ns = REAL_START_NS;

uint64_t nt_clock_mono_ns(void)
{
	return fake_mono_ns;
}

uint64_t nt_clock_real_ns(void)
{
	return fake_real_ns;
}

static uint64_t rng_state;

/* splitmix64: small, and every input starts it from the same seed. */
static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static const char *rng_name(void)
{
	return "fuzz_client";
}

static uint32_t rng_u32(void)
{
	return (uint32_t)rng_next();
}

static size_t rng_refills; /* buf calls, to see nt_random's block refilled */

static void rng_buf(void *const buf, const size_t size)
{
	uint8_t *p = buf;

	rng_refills++;
	for (size_t i = 0; i < size; i += 8) {
		uint64_t v = rng_next();

		memcpy(p + i, &v, size - i < 8 ? size - i : 8);
	}
}

static randombytes_implementation rng_impl = {
    .implementation_name = rng_name, .random = rng_u32, .buf = rng_buf};

/* platform/random.c keeps a per-thread block of draws across inputs: draw
 * until it is refilled from the fresh stream, then restart the stream, so
 * what is left in it is the same at the start of every input. */
static void rng_reset(void)
{
	rng_state = 0x6e6f74756e;
	rng_refills = 0;
	for (int i = 0; i < 1024 && !rng_refills; i++)
		(void)nt_random_u32_uniform(UINT32_MAX);
	rng_state = 0x6e6f74756e;
}

/* ---- one run ---- */

struct peer_flow {
	int family;
	uint8_t client[16], server[16]; /* the client's address, the one it reached */
	uint16_t cport, sport;
	uint32_t client_nxt, peer_nxt;
};

struct run {
	struct nt_loop *loop;
	struct nt_config cfg;
	struct nt_wire wire;
	bool cfg_loaded;
	int conns[MAX_CONNS];
	size_t nconns;
	int peer_fd;
	int assoc_fd;			/* the proxy client's UDP socket, once used */
	struct sockaddr_in client_addr; /* the client's tunnel socket */
	/* The peer's side of the session. */
	struct wg_noise_handshake hs;
	struct wg_cookie_maker maker;
	struct wg_transport tp;
	bool session;
	uint32_t next_index;
	struct peer_flow flows[MAX_FLOWS];
	size_t nflows;
	/* The last UDP datagrams the client sent, whole, oldest first. */
	uint8_t udp[UDP_KEEP][DGRAM_MAX];
	size_t udp_len[UDP_KEEP], nudp;
};

/* What the last run reached, for tests/unit/test_fuzz_client.c. */
struct fc_result {
	uint64_t handshakes;	      /* initiations the peer answered */
	uint64_t packets_from_client; /* transport data the peer decrypted */
	uint64_t peer_up;	      /* the engine told of a completed handshake */
	uint64_t relayed_back;	      /* datagrams the UDP relay sent its client */
	/* The client's first initiation: its ephemeral key, index and
	 * timestamp show whether randomness and time were the input's alone. */
	struct wg_msg_initiation first_initiation;
	struct nt_proxy_counters proxy;
	uint8_t read[MAX_CONNS][KEEP_READ]; /* the first bytes each client read */
	size_t read_len[MAX_CONNS];
};

static struct fc_result fc_last;
static struct wg_noise_static peer_static;
static uint8_t client_private[32], client_public[32];

static struct wg_noise_handshake *peer_by_static(void *arg, const uint8_t pub[32])
{
	struct run *r = arg;

	return memcmp(pub, r->hs.remote_static, 32) == 0 ? &r->hs : NULL;
}

static void on_peer(void *arg, const struct nt_engine_peer_state *st)
{
	(void)arg;
	if (st->up)
		fc_last.peer_up++;
}

static void run_idle(struct run *r, int extra)
{
	for (int i = 0; i < IDLE_RUNS + extra; i++)
		if (nt_loop_run_once(r->loop, 0) <= 0 && i >= extra)
			break;
}

static int setup(struct run *r)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	char priv[64], pub[64], text[1024];
	struct nt_config_error err = {0};
	struct nt_engine_observer obs = {.peer = on_peer};
	const char *what;
	int n;

	r->peer_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->peer_fd < 0 || bind(r->peer_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(r->peer_fd, (struct sockaddr *)&a, &alen) != 0)
		return -1;
	sodium_bin2base64(priv, sizeof(priv), client_private, 32, sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(pub, sizeof(pub), peer_static.public_key, 32,
			  sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(text, sizeof(text),
		     "[Interface]\nPrivateKey = %s\nAddress = 10.7.0.2/32, fd07::2/128\n"
		     "DNS = 10.7.0.1\n[Peer]\nPublicKey = %s\nEndpoint = 127.0.0.1:%u\n"
		     "AllowedIPs = 10.7.0.0/16, fd07::/64\n[Proxy]\nListen = 127.0.0.1:0\n"
		     "Bypass = reject\nConnectTimeout = 10s\n",
		     priv, pub, ntohs(a.sin_port));
	sodium_memzero(priv, sizeof(priv));
	if (n < 0 || (size_t)n >= sizeof(text))
		return -1;
	n = nt_config_parse(text, (size_t)n, NULL, &r->cfg, &err);
	sodium_memzero(text, sizeof(text));
	r->cfg_loaded = n == 0;
	if (n != 0 || nt_config_validate_client(&r->cfg, &err) != 0)
		return -1;
	if (nt_loop_new(&r->loop) != 0 || nt_wire_up(r->loop, &r->cfg, false, &r->wire, &what) != 0)
		return -1;
	nt_engine_set_observer(r->wire.engine, &obs);
	r->client_addr.sin_family = AF_INET;
	r->client_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->client_addr.sin_port = htons(nt_tunnel_port(nt_engine_tunnel(r->wire.engine)));
	if (wg_noise_handshake_init(&r->hs, &peer_static, client_public, NULL) != 0)
		return -1;
	wg_cookie_maker_init(&r->maker, client_public);
	r->next_index = PEER_INDEX;
	return 0;
}

static void teardown(struct run *r)
{
	if (r->wire.proxy)
		nt_proxy_counters(r->wire.proxy, &fc_last.proxy);
	for (size_t i = 0; i < r->nconns; i++)
		if (r->conns[i] >= 0)
			close(r->conns[i]);
	if (r->wire.engine)
		nt_wire_down(&r->wire);
	if (r->loop)
		nt_loop_free(r->loop);
	if (r->cfg_loaded)
		nt_config_free(&r->cfg);
	if (r->peer_fd >= 0)
		close(r->peer_fd);
	if (r->assoc_fd >= 0)
		close(r->assoc_fd);
	wg_noise_handshake_wipe(&r->hs);
	wg_cookie_maker_clear(&r->maker);
	wg_transport_clear(&r->tp);
}

/* ---- the peer ---- */

static void peer_send(struct run *r, const void *buf, size_t len)
{
	(void)sendto(r->peer_fd, buf, len, 0, (struct sockaddr *)&r->client_addr,
		     sizeof(r->client_addr));
}

static void peer_answer(struct run *r, const struct wg_msg_initiation *init)
{
	struct wg_noise_upcalls up = {.arg = r, .peer_by_static = peer_by_static};
	struct wg_noise_handshake *hs;
	struct wg_msg_response resp;
	struct wg_noise_keys keys;

	if (wg_noise_consume_initiation(&peer_static, &up, init, fake_mono_ns, &hs) != 0 ||
	    wg_noise_create_response(hs, &up, r->next_index++, &resp) != 0 ||
	    wg_noise_derive_keys(hs, &keys) != 0)
		return;
	wg_cookie_add_macs(&r->maker, (uint8_t *)&resp, sizeof(resp), fake_mono_ns);
	wg_transport_clear(&r->tp);
	wg_transport_init(&r->tp, keys.send, keys.recv, keys.local_index, keys.remote_index);
	wg_noise_keys_clear(&keys);
	r->session = true;
	fc_last.handshakes++;
	peer_send(r, &resp, sizeof(resp));
}

static struct peer_flow *flow_of(struct run *r, const struct nt_ippkt *ip, uint16_t cport,
				 uint16_t sport)
{
	size_t alen = ip->family == AF_INET ? 4 : 16;
	struct peer_flow *f;

	for (size_t i = 0; i < r->nflows; i++) {
		f = &r->flows[i];
		if (f->family == ip->family && f->cport == cport && f->sport == sport &&
		    !memcmp(f->client, ip->src, alen) && !memcmp(f->server, ip->dst, alen))
			return f;
	}
	/* A full table forgets the oldest flow. */
	if (r->nflows == MAX_FLOWS) {
		memmove(r->flows, r->flows + 1, sizeof(r->flows[0]) * (MAX_FLOWS - 1));
		r->nflows--;
	}
	f = &r->flows[r->nflows++];
	memset(f, 0, sizeof(*f));
	f->family = ip->family;
	memcpy(f->client, ip->src, alen);
	memcpy(f->server, ip->dst, alen);
	f->cport = cport;
	f->sport = sport;
	f->peer_nxt = PEER_ISS;
	return f;
}

/* What the client sent inside the tunnel: TCP flows and the last UDP datagrams. */
static void peer_learn(struct run *r, const uint8_t *pkt, size_t len)
{
	struct nt_ippkt ip;
	const uint8_t *l4;
	struct peer_flow *f;
	size_t hlen, dlen;
	uint8_t flags;

	if (nt_ippkt_parse(pkt, len, &ip) != 0 || !ip.has_l4)
		return;
	l4 = pkt + ip.l4;
	if (ip.proto == IPPROTO_UDP && ip.l4_len >= 8 && ip.len <= DGRAM_MAX) {
		if (r->nudp == UDP_KEEP) {
			memmove(r->udp, r->udp + 1, sizeof(r->udp[0]) * (UDP_KEEP - 1));
			memmove(r->udp_len, r->udp_len + 1, sizeof(r->udp_len[0]) * (UDP_KEEP - 1));
			r->nudp--;
		}
		memcpy(r->udp[r->nudp], pkt, ip.len);
		r->udp_len[r->nudp++] = ip.len;
		return;
	}
	if (ip.proto != IPPROTO_TCP || ip.l4_len < 20)
		return;
	hlen = (size_t)(l4[12] >> 4) * 4;
	if (hlen < 20 || hlen > ip.l4_len)
		return;
	flags = l4[13];
	dlen = ip.l4_len - hlen;
	f = flow_of(r, &ip, rd16(l4), rd16(l4 + 2));
	f->client_nxt = rd32(l4 + 4) + (uint32_t)dlen + !!(flags & 0x02) + !!(flags & 0x01);
}

static void peer_pump(struct run *r)
{
	uint8_t buf[DGRAM_MAX];
	struct wg_message m;

	for (int i = 0; i < PUMP_MAX; i++) {
		ssize_t n = recv(r->peer_fd, buf, sizeof(buf), 0);
		uint8_t *plain;
		size_t plain_len;
		uint64_t ctr;

		if (n < 0)
			break;
		if (wg_message_parse(buf, (size_t)n, &m) != 0)
			continue;
		if (m.type == WG_MSG_INITIATION) {
			if (!fc_last.first_initiation.type[0])
				fc_last.first_initiation = *m.initiation;
			peer_answer(r, m.initiation);
		} else if (m.type == WG_MSG_TRANSPORT && r->session &&
			   wg_transport_decrypt(&r->tp, buf, (size_t)n, &plain, &plain_len, &ctr) ==
			       0) {
			fc_last.packets_from_client++;
			peer_learn(r, plain, plain_len);
		}
	}
}

static void peer_transport(struct run *r, const uint8_t *pkt, size_t len)
{
	uint8_t buf[WG_TRANSPORT_HEADER_ROOM + DGRAM_MAX + WG_TRANSPORT_TAIL_ROOM];
	size_t msg_len;

	if (!r->session || len > DGRAM_MAX)
		return;
	memcpy(buf + WG_TRANSPORT_HEADER_ROOM, pkt, len);
	if (wg_transport_encrypt(&r->tp, buf, sizeof(buf), len, 0, &msg_len) == 0)
		peer_send(r, buf, msg_len);
}

/* A packet from the server the flow reached: flags, window and data from
 * the input, sequence and acknowledgment numbers where the flow stands. */
static void peer_tcp(struct run *r, const uint8_t *b, size_t len)
{
	uint8_t l4[20 + 256], pkt[NT_IPPKT_V6_HDR + sizeof(l4)];
	struct peer_flow *f;
	size_t dlen;

	if (len < 4 || !r->nflows)
		return;
	f = &r->flows[b[0] % r->nflows];
	dlen = len - 4;
	memset(l4, 0, 20);
	wr16(l4, f->sport);
	wr16(l4 + 2, f->cport);
	wr32(l4 + 4, f->peer_nxt);
	wr32(l4 + 8, f->client_nxt);
	l4[12] = 5 << 4;
	l4[13] = b[1];
	memcpy(l4 + 14, b + 2, 2);
	memcpy(l4 + 20, b + 4, dlen);
	f->peer_nxt += (uint32_t)dlen + !!(b[1] & 0x02) + !!(b[1] & 0x01);
	peer_transport(
	    r, pkt, build_ip(pkt, f->family, f->server, f->client, IPPROTO_TCP, l4, 20 + dlen, 16));
}

/* An answer to datagram b[0]: its payload with the rest of b XORed over
 * it, from where it went to where it came from. */
static void peer_udp(struct run *r, const uint8_t *b, size_t len)
{
	uint8_t l4[DGRAM_MAX], pkt[NT_IPPKT_V6_HDR + DGRAM_MAX];
	struct nt_ippkt ip;
	const uint8_t *q;
	size_t qlen, plen, k;

	if (!len || !r->nudp)
		return;
	k = b[0] % r->nudp;
	if (nt_ippkt_parse(r->udp[k], r->udp_len[k], &ip) != 0)
		return;
	q = r->udp[k] + ip.l4;
	qlen = ip.l4_len - 8;
	plen = qlen > len - 1 ? qlen : len - 1;
	if (8 + plen > sizeof(l4))
		return;
	memcpy(l4, q + 2, 2);
	memcpy(l4 + 2, q, 2);
	wr16(l4 + 4, (uint16_t)(8 + plen));
	memset(l4 + 8, 0, plen);
	memcpy(l4 + 8, q + 8, qlen);
	for (size_t i = 1; i < len; i++)
		l4[7 + i] ^= b[i];
	peer_transport(r, pkt,
		       build_ip(pkt, ip.family, ip.dst, ip.src, IPPROTO_UDP, l4, 8 + plen, 6));
}

/* ---- the proxy's clients ---- */

static int conn_at(struct run *r, const uint8_t *b, size_t len)
{
	if (!len || !r->nconns)
		return -1;
	return r->conns[b[0] % r->nconns];
}

static void conn_open(struct run *r)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd;

	if (r->nconns == MAX_CONNS)
		return;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	a.sin_port = htons(nt_proxy_bound_port(r->wire.proxy, 0));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS) {
		close(fd);
		return;
	}
	r->conns[r->nconns++] = fd;
}

static void conn_close(struct run *r, const uint8_t *b, size_t len)
{
	int fd = conn_at(r, b, len);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	size_t k;

	if (fd < 0)
		return;
	k = b[0] % r->nconns;
	if (len > 1 && (b[1] & 1)) {
		(void)shutdown(fd, SHUT_WR);
		return;
	}
	if (len > 1 && (b[1] & 2))
		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	r->conns[k] = -1;
}

static void conn_drain(struct run *r, const uint8_t *b, size_t len)
{
	int fd = conn_at(r, b, len);
	uint8_t buf[4096];
	size_t k;

	if (fd < 0)
		return;
	k = b[0] % r->nconns;
	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		size_t keep;

		if (n <= 0)
			break;
		keep = KEEP_READ - fc_last.read_len[k];
		keep = (size_t)n < keep ? (size_t)n : keep;
		memcpy(fc_last.read[k] + fc_last.read_len[k], buf, keep);
		fc_last.read_len[k] += keep;
	}
}

/* The relay's port is in the reply the client read: after the method
 * choice (2 bytes), VER REP RSV ATYP=1 BND.ADDR(4) BND.PORT(2). */
static void conn_assoc(struct run *r, const uint8_t *b, size_t len)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	uint8_t sink[DGRAM_MAX];
	const uint8_t *reply;
	size_t k;

	if (!len || !r->nconns)
		return;
	k = b[0] % r->nconns;
	reply = fc_last.read[k] + 2;
	if (fc_last.read_len[k] < 12 || reply[1] != 0 || reply[3] != 1)
		return;
	if (r->assoc_fd < 0)
		r->assoc_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->assoc_fd < 0)
		return;
	for (int i = 0; i < PUMP_MAX && recv(r->assoc_fd, sink, sizeof(sink), 0) >= 0; i++)
		fc_last.relayed_back++;
	memcpy(&to.sin_port, reply + 8, 2);
	(void)sendto(r->assoc_fd, b + 1, len - 1, 0, (struct sockaddr *)&to, sizeof(to));
}

static void step(struct run *r, uint8_t op, const uint8_t *b, size_t len)
{
	int fd, extra = 0;
	uint64_t ms;

	op %= OP_COUNT;
	/* The peer answers with what the client last sent in mind. */
	if (op == OP_PEER || op == OP_TCP || op == OP_UDP || op == OP_PUMP)
		peer_pump(r);
	switch (op) {
	case OP_OPEN:
		conn_open(r);
		break;
	case OP_WRITE:
		fd = conn_at(r, b, len);
		if (fd >= 0)
			(void)send(fd, b + 1, len - 1, MSG_NOSIGNAL);
		break;
	case OP_CLOSE:
		conn_close(r, b, len);
		break;
	case OP_DRAIN:
		conn_drain(r, b, len);
		break;
	case OP_RAW:
		peer_send(r, b, len);
		break;
	case OP_PEER:
		peer_transport(r, b, len);
		break;
	case OP_TCP:
		peer_tcp(r, b, len);
		break;
	case OP_UDP:
		peer_udp(r, b, len);
		break;
	case OP_TIME:
		ms = len >= 2 ? (uint64_t)b[0] | (uint64_t)b[1] << 8 : 1000;
		fake_mono_ns += ms * NT_NS_PER_MS;
		fake_real_ns += ms * NT_NS_PER_MS;
		break;
	case OP_LOOP:
		extra = 1 + (len ? b[0] % 8 : 0);
		break;
	case OP_PUMP:
		break;
	case OP_ASSOC:
		conn_assoc(r, b, len);
		break;
	}
	run_idle(r, extra);
}

static void init_once(void)
{
	uint8_t peer_private[32];

	/* Before sodium_init, as libsodium asks. */
	if (randombytes_set_implementation(&rng_impl) != 0 || nt_platform_init() != 0)
		abort();
	/* Every line formatted (fuzzed names and fields in them), none kept. */
	nt_log_set_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
	nt_log_set_level(NT_LOG_TRACE);
	memset(client_private, 0x11, sizeof(client_private));
	memset(peer_private, 0x22, sizeof(peer_private));
	if (crypto_scalarmult_base(client_public, client_private) != 0 ||
	    wg_noise_static_init(&peer_static, peer_private) != 0)
		abort();
	sodium_memzero(peer_private, sizeof(peer_private));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct run r = {.peer_fd = -1, .assoc_fd = -1};
	size_t at = 0;

	if (!ready) {
		init_once();
		ready = true;
	}
	memset(&fc_last, 0, sizeof(fc_last));
	fake_mono_ns = MONO_START_NS;
	fake_real_ns = REAL_START_NS;
	rng_reset();
	/* A client that cannot start (descriptors left by earlier inputs, say)
	 * is the harness's failure, or the client's: not something to skip. */
	if (setup(&r) != 0)
		abort();
	run_idle(&r, 0);
	for (int n = 0; n < MAX_STEPS && at + 2 <= size; n++) {
		size_t len = data[at + 1];

		if (at + 2 + len > size)
			break;
		step(&r, data[at], data + at + 2, len);
		at += 2 + len;
	}
	teardown(&r);
	return 0;
}
