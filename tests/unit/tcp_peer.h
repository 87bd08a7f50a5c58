/* SPDX-License-Identifier: MIT */
/* The remote end of a TCP connection through the embedded stack, played by
 * hand: what lwIP sends is captured (outq, the stack's output callback), read
 * by peer_pump(), and answered with crafted packets through
 * nt_stack_input(). For test_flow, test_splice and test_sack; one peer at a
 * time. The peer offers MSS and window scaling; SACK and timestamps only
 * when a test turns them on (peer.sack_perm, peer.timestamps) before the SYN.
 *
 * The addresses (100.64.0.0/10, fd00::/8) exist only inside the process.
 */
#ifndef NT_TESTS_TCP_PEER_H
#define NT_TESTS_TCP_PEER_H

#include "netstack/flow.h"
#include "netstack/stack.h"
#include "platform/loop.h"
#include "tests/unit/pkt_bytes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#define OUR4  "100.64.0.2"
#define PEER4 "100.64.0.1"
#define OUR6  "fd00::2"
#define PEER6 "fd00::1"

#define MTU	      NT_STACK_DEFAULT_MTU
#define OUTQ_MAX      2048
#define PEER_ISS      0x10000000u
#define PEER_SINK_CAP (8u << 20)
#define PEER_SACK_MAX 3 /* blocks that fit beside a timestamp (RFC 2018) */

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

static inline void addr_of(int family, const char *text, uint8_t *out)
{
	assert_int_equal(inet_pton(family, text, out), 1);
}

/* ---- what the stack sends ---- */

static struct {
	uint8_t pkt[OUTQ_MAX][MTU];
	size_t len[OUTQ_MAX];
	size_t n;
	size_t dropped;
} outq;

/* The stack's output callback. */
static inline int capture(void *arg, const uint8_t *pkt, size_t len)
{
	(void)arg;
	if (outq.n == OUTQ_MAX) {
		outq.dropped++;
		return -ENOBUFS;
	}
	memcpy(outq.pkt[outq.n], pkt, len);
	outq.len[outq.n++] = len;
	return 0;
}

/* ---- the remote end of one connection ---- */

static struct peer {
	int family;
	uint8_t our[16], their[16]; /* lwIP's address, the peer's */
	uint16_t our_port, their_port;
	uint32_t snd_nxt; /* the peer's next sequence number */
	uint32_t rcv_nxt; /* next byte expected from lwIP */
	uint32_t lw_ack;  /* highest ACK from lwIP */
	uint32_t lw_wnd;  /* lwIP's window, scaled */
	uint16_t wnd_field;
	bool auto_ack;
	bool need_ack;
	unsigned syns, rsts, fins, data_segs, other;
	uint16_t last_wnd_field, max_wnd_field;
	uint8_t *sink; /* the bytes lwIP sent, in order */
	size_t sink_len, sink_cap;
	bool sack_perm, timestamps;	 /* offered in the SYN, then used */
	uint32_t ts_val;		 /* the peer's next TSval */
	uint32_t ts_ecr;		 /* lwIP's last TSval, echoed */
	uint32_t sack[PEER_SACK_MAX][2]; /* blocks for the next segment sent */
	unsigned nsack;
} peer;

/* A fresh peer at PEER4/PEER6 port 443, talking to OUR4/OUR6. */
static inline void peer_reset(int family)
{
	free(peer.sink);
	memset(&peer, 0, sizeof(peer));
	peer.family = family;
	addr_of(family, family == AF_INET ? OUR4 : OUR6, peer.our);
	addr_of(family, family == AF_INET ? PEER4 : PEER6, peer.their);
	peer.their_port = 443;
	peer.snd_nxt = PEER_ISS;
	peer.wnd_field = 0xffff; /* 8 MiB scaled by 7 */
	peer.ts_val = 1000;
	peer.auto_ack = true;
	peer.sink_cap = PEER_SINK_CAP;
	peer.sink = malloc(peer.sink_cap);
	assert_non_null(peer.sink);
}

/* Several connections, one played at a time: swaps the peer with *other,
 * a connection parked meanwhile (zeroed for none; its sink stays its own:
 * free other->sink when done). Give each its own port so that packets for
 * the parked one are counted as other, not taken as the current one's. */
static inline void peer_swap(struct peer *other)
{
	struct peer t = peer;

	peer = *other;
	*other = t;
}

/* The peer's TCP options for a segment with flags, padded to 4 bytes. */
static inline size_t peer_options(uint8_t flags, uint8_t opt[40])
{
	static const uint8_t synopt[8] = {2, 4, 1380 >> 8, 1380 & 0xff, 1, 3, 3, 7};
	size_t n = 0;

	if (flags & F_SYN) {
		memcpy(opt, synopt, sizeof(synopt));
		n = sizeof(synopt);
		if (peer.sack_perm) {
			memcpy(opt + n, (const uint8_t[]){1, 1, 4, 2}, 4);
			n += 4;
		}
	}
	if (peer.timestamps) {
		memcpy(opt + n, (const uint8_t[]){1, 1, 8, 10}, 4);
		wr32(opt + n + 4, peer.ts_val++);
		wr32(opt + n + 8, flags & F_ACK ? peer.ts_ecr : 0);
		n += 12;
	}
	if (peer.nsack && !(flags & F_SYN)) {
		assert_true(n + 4 + 8 * peer.nsack <= 40);
		memcpy(opt + n, (const uint8_t[]){1, 1, 5, (uint8_t)(2 + 8 * peer.nsack)}, 4);
		n += 4;
		for (unsigned i = 0; i < peer.nsack; i++, n += 8) {
			wr32(opt + n, peer.sack[i][0]);
			wr32(opt + n + 4, peer.sack[i][1]);
		}
	}
	return n;
}

static inline void peer_send(uint8_t flags, const void *data, size_t len)
{
	uint8_t tcp[20 + 40 + MTU], pkt[40 + sizeof(tcp)];
	size_t opt = peer_options(flags, tcp + 20);
	size_t n;

	assert_true((peer.family == AF_INET ? 20 : 40) + 20 + opt + len <= MTU);
	memset(tcp, 0, 20);
	wr16(tcp, peer.their_port);
	wr16(tcp + 2, peer.our_port);
	wr32(tcp + 4, peer.snd_nxt);
	wr32(tcp + 8, flags & F_ACK ? peer.rcv_nxt : 0);
	tcp[12] = (uint8_t)((20 + opt) / 4) << 4;
	tcp[13] = flags;
	wr16(tcp + 14, peer.wnd_field);
	if (len)
		memcpy(tcp + 20 + opt, data, len);
	n = build_ip(pkt, peer.family, peer.their, peer.our, 6, tcp, 20 + opt + len, 16);
	assert_int_equal(nt_stack_input(pkt, n), 0);
	peer.snd_nxt += (uint32_t)len + !!(flags & F_SYN) + !!(flags & F_FIN);
}

/* A pure ACK of ack (as the peer's cumulative ACK from now on) carrying n
 * SACK blocks {left, right}: what a receiver holding them out of order
 * sends. */
static inline void peer_send_sack(uint32_t ack, const uint32_t (*blocks)[2], unsigned n)
{
	assert_true(n <= PEER_SACK_MAX);
	peer.rcv_nxt = ack;
	if (n)
		memcpy(peer.sack, blocks, n * sizeof(*blocks));
	peer.nsack = n;
	peer_send(F_ACK, NULL, 0);
	peer.nsack = 0;
}

/* lwIP's TSval in a TCP header with doff bytes of header, or 0. */
static inline uint32_t peer_tsval_of(const uint8_t *tcp, size_t doff)
{
	for (size_t i = 20; i < doff;) {
		if (tcp[i] == 0)
			break;
		if (tcp[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= doff || tcp[i + 1] < 2 || i + tcp[i + 1] > doff)
			break;
		if (tcp[i] == 8 && tcp[i + 1] == 10)
			return rd32(tcp + i + 2);
		i += tcp[i + 1];
	}
	return 0;
}

/* Reads one packet from lwIP (it is TCP to the peer, or counted as other). */
static inline void peer_parse(const uint8_t *pkt, size_t len)
{
	size_t h = (pkt[0] >> 4) == 4 ? 20 : 40;
	uint8_t proto = (pkt[0] >> 4) == 4 ? pkt[9] : pkt[6];
	const uint8_t *tcp = pkt + h;
	uint32_t seq, ack, tsval;
	size_t doff, dlen;
	uint8_t flags;

	if (proto != 6 || rd16(tcp + 2) != peer.their_port) {
		peer.other++;
		return;
	}
	seq = rd32(tcp + 4);
	ack = rd32(tcp + 8);
	doff = (size_t)(tcp[12] >> 4) * 4;
	flags = tcp[13];
	dlen = len - h - doff;
	tsval = peer_tsval_of(tcp, doff);
	if (tsval)
		peer.ts_ecr = tsval;
	if (flags & F_SYN) {
		peer.syns++;
		peer.our_port = rd16(tcp);
		peer.rcv_nxt = seq + 1;
		return;
	}
	if (flags & F_RST) {
		peer.rsts++;
		return;
	}
	if (flags & F_ACK) {
		if ((int32_t)(ack - peer.lw_ack) > 0 || peer.lw_ack == 0)
			peer.lw_ack = ack;
		peer.last_wnd_field = rd16(tcp + 14);
		if (peer.last_wnd_field > peer.max_wnd_field)
			peer.max_wnd_field = peer.last_wnd_field;
		peer.lw_wnd = (uint32_t)peer.last_wnd_field << 7;
	}
	if (dlen) {
		peer.data_segs++;
		if ((int32_t)(seq - peer.rcv_nxt) <= 0 &&
		    (int32_t)(seq + dlen - peer.rcv_nxt) > 0) {
			size_t skip = peer.rcv_nxt - seq;

			assert_true(peer.sink_len + dlen - skip <= peer.sink_cap);
			memcpy(peer.sink + peer.sink_len, tcp + doff + skip, dlen - skip);
			peer.sink_len += dlen - skip;
			peer.rcv_nxt += (uint32_t)(dlen - skip);
		}
		peer.need_ack = true;
	}
	if ((flags & F_FIN) && seq + dlen == peer.rcv_nxt) {
		peer.fins++;
		peer.rcv_nxt++;
		peer.need_ack = true;
	}
}

/* Reads everything queued, then acknowledges once if data came. */
static inline void peer_pump(void)
{
	size_t n = outq.n;

	assert_int_equal(outq.dropped, 0);
	for (size_t i = 0; i < n; i++)
		peer_parse(outq.pkt[i], outq.len[i]);
	outq.n = 0;
	if (peer.auto_ack && peer.need_ack) {
		peer.need_ack = false;
		peer_send(F_ACK, NULL, 0);
	}
}

/* ---- the stack the peer talks to ---- */

/* A new loop with the stack (OUR4, and OUR6 when ipv6; its output captured
 * in outq) and the flow layer on it; a fresh IPv4 peer. */
static inline struct nt_loop *peer_stack_up(bool ipv6)
{
	struct nt_stack_config cfg;
	struct nt_loop *l;

	memset(&outq, 0, sizeof(outq));
	memset(&cfg, 0, sizeof(cfg));
	cfg.has_ipv4 = true;
	assert_int_equal(inet_pton(AF_INET, OUR4, &cfg.ipv4), 1);
	cfg.has_ipv6 = ipv6;
	if (ipv6)
		assert_int_equal(inet_pton(AF_INET6, OUR6, &cfg.ipv6), 1);
	cfg.output = capture;
	assert_int_equal(nt_loop_new(&l), 0);
	assert_int_equal(nt_stack_init(l, &cfg), 0);
	assert_int_equal(nt_flow_init(l, NULL), 0);
	peer_reset(AF_INET);
	return l;
}

/* Takes down what peer_stack_up() set up, and frees the peer's sink. */
static inline void peer_stack_down(struct nt_loop *l)
{
	nt_flow_fini();
	nt_stack_shutdown();
	nt_loop_free(l);
	free(peer.sink);
	peer.sink = NULL;
}

#endif
