// SPDX-License-Identifier: MIT
/* The gateway's accept-any lwIP (netstack/gw_accept.c and
 * third_party/lwip-accept-any.patch): inert until enabled; then a held SYN
 * to any address is answered from that address and becomes a connected
 * flow at the client's ACK, UDP to any address and port reaches the
 * gateway with what an ICMP error needs, and replies leave from the
 * address the datagram went to. The client is played by hand (tcp_peer.h):
 * lwIP's address is OUR4/OUR6, the client PEER4/PEER6, and DEST4/DEST6 a
 * destination behind the gateway; all exist only inside this process. */
#include "lwip/tcp.h"
#include "netstack/flow.h"
#include "netstack/flow_tcp_int.h" /* the pcb, to shorten its keepalive */
#include "netstack/gw_accept.h"
#include "netstack/stack.h"
#include "platform/clock.h"
#include "platform/loop.h"

#include "tests/unit/tcp_peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#define DEST4	  "100.64.0.9"
#define DEST6	  "fd00::9"
#define DPORT	  8080
#define CPORT	  40000
#define HALF_ARG  ((void *)0x5eed)
#define UDP_SPORT 5353

static struct {
	int established, failed, udp;
	void *arg;
	enum nt_fail why;
	struct nt_flow *flow;
	int refuse; /* tcp_established's answer */
	struct nt_gw_udp_addrs addrs;
	uint8_t data[9000];
	size_t len;
	uint8_t quote[NT_GW_QUOTE_MAX];
	size_t quote_len;
} seen;

static int on_established(void *arg, struct nt_flow *flow)
{
	seen.established++;
	seen.arg = arg;
	seen.flow = flow;
	return seen.refuse;
}

static void on_failed(void *arg, enum nt_fail why)
{
	seen.failed++;
	seen.arg = arg;
	seen.why = why;
}

static void on_udp(void *ctx, const struct nt_gw_udp_addrs *a, const uint8_t *buf, size_t len,
		   const uint8_t *quote, size_t quote_len)
{
	assert_ptr_equal(ctx, HALF_ARG);
	seen.udp++;
	seen.addrs = *a;
	assert_true(len <= sizeof(seen.data));
	memcpy(seen.data, buf, len);
	seen.len = len;
	memcpy(seen.quote, quote, quote_len);
	seen.quote_len = quote_len;
}

static const struct nt_gw_accept_ops ops = {
    .tcp_established = on_established,
    .tcp_failed = on_failed,
    .udp_datagram = on_udp,
    .ctx = HALF_ARG,
};

static struct nt_loop *up(bool enable)
{
	struct nt_loop *l = peer_stack_up(true);

	memset(&seen, 0, sizeof(seen));
	if (enable)
		assert_int_equal(nt_gw_accept_enable(&ops), 0);
	return l;
}

static void down(struct nt_loop *l)
{
	if (seen.flow)
		nt_flow_abort(seen.flow);
	nt_gw_accept_disable();
	peer_stack_down(l);
}

/* The peer (the client) talks to DEST:DPORT from CPORT. */
static void peer_to_dest(int family)
{
	peer_reset(family);
	addr_of(family, family == AF_INET ? DEST4 : DEST6, peer.our);
	peer.our_port = DPORT;
	peer.their_port = CPORT;
}

static size_t build_syn(uint8_t *pkt)
{
	static const uint8_t synopt[8] = {2, 4, 1380 >> 8, 1380 & 0xff, 1, 3, 3, 7};
	uint8_t tcp[28];

	memset(tcp, 0, sizeof(tcp));
	wr16(tcp, peer.their_port);
	wr16(tcp + 2, peer.our_port);
	wr32(tcp + 4, peer.snd_nxt);
	tcp[12] = 7 << 4;
	tcp[13] = F_SYN;
	wr16(tcp + 14, 0xffff);
	memcpy(tcp + 20, synopt, sizeof(synopt));
	return build_ip(pkt, peer.family, peer.their, peer.our, 6, tcp, sizeof(tcp), 16);
}

/* Feeds the peer's SYN the way the gateway does. */
static int feed_syn(struct nt_gw_half **h)
{
	uint8_t pkt[80];
	size_t n = build_syn(pkt);
	int rc = nt_gw_accept_syn(pkt, n, HALF_ARG, h);

	if (rc == 0)
		peer.snd_nxt++;
	return rc;
}

static size_t udp_to(int family, const char *dst, uint16_t dport, const void *data, size_t len,
		     uint8_t *pkt)
{
	uint8_t l4[8 + 1500], src[16], d[16];

	assert_true(len <= 1400);
	addr_of(family, family == AF_INET ? PEER4 : PEER6, src);
	addr_of(family, dst, d);
	wr16(l4, UDP_SPORT);
	wr16(l4 + 2, dport);
	wr16(l4 + 4, (uint16_t)(8 + len));
	memcpy(l4 + 8, data, len);
	return build_ip(pkt, family, src, d, 17, l4, 8 + len, 6);
}

static void test_gw_accept_is_inert_until_enabled(void **state)
{
	struct nt_loop *l = up(false);
	struct nt_gw_half *h;
	uint8_t pkt[200];
	struct nt_stack_stats before, after;
	(void)state;

	peer_to_dest(AF_INET);
	nt_stack_get_stats(&before);
	/* Stock lwIP: a SYN or a datagram to another address is not ours. */
	assert_int_equal(nt_stack_input(pkt, build_syn(pkt)), 0);
	assert_int_equal(nt_stack_input(pkt, udp_to(AF_INET, DEST4, 53, "q", 1, pkt)), 0);
	nt_stack_get_stats(&after);
	assert_int_equal(outq.n, 0);
	assert_int_equal(after.stack_drop - before.stack_drop, 2);
	assert_int_equal(seen.udp, 0);
	assert_int_equal(nt_gw_accept_syn(pkt, build_syn(pkt), HALF_ARG, &h), -ENETDOWN);
	assert_int_equal(nt_gw_udp_reply(&seen.addrs, pkt, 1), -ENETDOWN);
	/* Enabled, the same SYN is answered from DEST. */
	assert_int_equal(nt_gw_accept_enable(&ops), 0);
	assert_int_equal(nt_gw_accept_enable(&ops), -EALREADY);
	assert_int_equal(feed_syn(&h), 0);
	peer_pump();
	assert_int_equal(peer.syns, 1);
	/* Disabled again: lwIP is stock once more, the half-open one reset. */
	nt_gw_accept_disable();
	peer_pump();
	assert_int_equal(peer.rsts, 1);
	assert_int_equal(seen.failed, 0);
	outq.n = 0;
	assert_int_equal(nt_stack_input(pkt, udp_to(AF_INET, DEST4, 53, "q", 1, pkt)), 0);
	assert_int_equal(outq.n, 0);
	assert_int_equal(seen.udp, 0);
	peer_stack_down(l);
}

static void handshake_to_flow(int family)
{
	struct nt_loop *l = up(true);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct nt_gw_half *h;
	uint8_t want[16];

	peer_to_dest(family);
	assert_int_equal(feed_syn(&h), 0);
	assert_non_null(h);
	peer_pump(); /* the SYN-ACK, from DEST:DPORT */
	assert_int_equal(peer.syns, 1);
	assert_int_equal(peer.our_port, DPORT);
	assert_int_equal(seen.established, 0);
	peer_send(F_ACK, NULL, 0);
	assert_int_equal(seen.established, 1);
	assert_ptr_equal(seen.arg, HALF_ARG);
	assert_true(nt_flow_connected(seen.flow));
	assert_int_equal(nt_flow_local_addr(seen.flow, &ss, &sl), 0);
	addr_of(family, family == AF_INET ? DEST4 : DEST6, want);
	if (family == AF_INET)
		assert_memory_equal(&((struct sockaddr_in *)&ss)->sin_addr, want, 4);
	else
		assert_memory_equal(&((struct sockaddr_in6 *)&ss)->sin6_addr, want, 16);
	/* Bytes both ways; without ops, received data waits in the flow. */
	peer_send(F_ACK | F_PSH, "hello", 5);
	assert_int_equal(nt_flow_rx_queued(seen.flow), 5);
	assert_int_equal(nt_flow_write(seen.flow, (const uint8_t *)"world", 5), 0);
	peer_pump();
	assert_int_equal(peer.sink_len, 5);
	assert_memory_equal(peer.sink, "world", 5);
	down(l);
}

/* A client that goes silent after the handshake, with nothing in flight:
 * the accepted flow probes it (SOF_KEEPALIVE; the idle time shortened here
 * from lwipopts.h's 30 s), as the flows the client opens do, so that a
 * vanished client's flow ends (after 6 probes) instead of holding its
 * socket to the destination for as long as the destination is silent. */
static void test_gw_accept_flow_probes_a_silent_client(void **state)
{
	struct nt_loop *l = up(true);
	struct nt_gw_half *h;
	const uint8_t *tcp;
	uint64_t end;
	(void)state;

	peer_to_dest(AF_INET);
	assert_int_equal(feed_syn(&h), 0);
	peer_pump();
	peer_send(F_ACK, NULL, 0);
	assert_int_equal(seen.established, 1);
	peer_pump();
	seen.flow->pcb->keep_idle = 500;
	end = nt_clock_mono_ns() + 10 * NT_NS_PER_SEC; /* due in about 1 s */
	while (outq.n == 0 && nt_clock_mono_ns() < end)
		assert_true(nt_loop_run_once(l, 50) >= 0);
	/* A keepalive probe: an empty ACK one below the next sequence number. */
	assert_int_equal(outq.n, 1);
	assert_int_equal(outq.len[0], 40);
	tcp = outq.pkt[0] + 20;
	assert_int_equal(tcp[13], F_ACK);
	assert_int_equal(rd32(tcp + 4), peer.rcv_nxt - 1);
	down(l);
}

static void test_gw_accept_syn_becomes_a_connected_flow_v4(void **state)
{
	(void)state;
	handshake_to_flow(AF_INET);
}

static void test_gw_accept_syn_becomes_a_connected_flow_v6(void **state)
{
	(void)state;
	handshake_to_flow(AF_INET6);
}

static void test_gw_accept_client_reset_reports_failure(void **state)
{
	struct nt_loop *l = up(true);
	struct nt_gw_half *h;
	struct nt_gw_accept_stats st;
	(void)state;

	peer_to_dest(AF_INET);
	assert_int_equal(feed_syn(&h), 0);
	peer_pump();
	peer_send(F_RST | F_ACK, NULL, 0);
	assert_int_equal(seen.failed, 1);
	assert_int_equal(seen.why, NT_FAIL_REFUSED);
	assert_ptr_equal(seen.arg, HALF_ARG);
	assert_int_equal(seen.established, 0);
	nt_gw_accept_get_stats(&st);
	assert_int_equal(st.half_open, 0);
	assert_int_equal(st.half_failed, 1);
	down(l);
}

static void test_gw_accept_abort_resets_without_callback(void **state)
{
	struct nt_loop *l = up(true);
	struct nt_gw_half *h;
	(void)state;

	peer_to_dest(AF_INET);
	assert_int_equal(feed_syn(&h), 0);
	peer_pump();
	nt_gw_accept_abort(h);
	peer_pump();
	assert_int_equal(peer.rsts, 1);
	assert_int_equal(seen.failed + seen.established, 0);
	down(l);
}

static void test_gw_accept_refused_flow_is_reset(void **state)
{
	struct nt_loop *l = up(true);
	struct nt_gw_half *h;
	(void)state;

	seen.refuse = -ENOMEM;
	peer_to_dest(AF_INET);
	assert_int_equal(feed_syn(&h), 0);
	peer_pump();
	peer_send(F_ACK, NULL, 0);
	assert_int_equal(seen.established, 1);
	seen.flow = NULL; /* reset by the accept path, not ours to free */
	peer_pump();
	assert_int_equal(peer.rsts, 1);
	down(l);
}

static void test_gw_accept_duplicate_syn_goes_to_the_live_connection(void **state)
{
	struct nt_loop *l = up(true);
	struct nt_gw_half *h, *h2;
	uint8_t pkt[80];
	(void)state;

	peer_to_dest(AF_INET);
	assert_int_equal(feed_syn(&h), 0);
	peer.snd_nxt--; /* the client's retransmission */
	assert_int_equal(nt_gw_accept_syn(pkt, build_syn(pkt), HALF_ARG, &h2), -EEXIST);
	assert_null(h2);
	peer.snd_nxt++;
	peer_pump();
	assert_int_equal(peer.syns, 2); /* the SYN-ACK, retransmitted */
	down(l);
}

static void test_gw_accept_udp_to_any_address_and_reply(void **state)
{
	struct nt_loop *l = up(true);
	uint8_t pkt[1500], big[4000], client[16], dest[16];
	size_t n;
	(void)state;

	for (int family = AF_INET; family; family = family == AF_INET ? AF_INET6 : 0) {
		const char *d = family == AF_INET ? DEST4 : DEST6;
		size_t hdr = family == AF_INET ? 20 : 40, alen = family == AF_INET ? 4 : 16;
		uint32_t acc;

		addr_of(family, family == AF_INET ? PEER4 : PEER6, client);
		addr_of(family, d, dest);
		memset(&seen, 0, sizeof(seen));
		n = udp_to(family, d, 53, "query", 5, pkt);
		assert_int_equal(nt_stack_input(pkt, n), 0);
		assert_int_equal(seen.udp, 1);
		assert_int_equal(seen.addrs.family, family);
		assert_memory_equal(seen.addrs.src, client, alen);
		assert_memory_equal(seen.addrs.dst, dest, alen);
		assert_int_equal(seen.addrs.sport, UDP_SPORT);
		assert_int_equal(seen.addrs.dport, 53);
		assert_int_equal(seen.len, 5);
		assert_memory_equal(seen.data, "query", 5);
		/* The quote is the datagram as it came. */
		assert_int_equal(seen.quote_len, n);
		assert_memory_equal(seen.quote, pkt, hdr + 6); /* all but the checksum */
		assert_memory_equal(seen.quote + hdr + 8, "query", 5);

		outq.n = 0;
		assert_int_equal(nt_gw_udp_reply(&seen.addrs, (const uint8_t *)"answer", 6), 0);
		assert_int_equal(outq.n, 1);
		n = outq.len[0];
		assert_int_equal(n, hdr + 8 + 6);
		assert_memory_equal(outq.pkt[0] + (family == AF_INET ? 12 : 8), dest, alen);
		assert_memory_equal(outq.pkt[0] + (family == AF_INET ? 16 : 24), client, alen);
		assert_int_equal(rd16(outq.pkt[0] + hdr), 53);
		assert_int_equal(rd16(outq.pkt[0] + hdr + 2), UDP_SPORT);
		acc = sum16(dest, alen, 0) + sum16(client, alen, 0) + 17 + 14;
		assert_int_equal(fold(sum16(outq.pkt[0] + hdr, 14, acc)), 0);
		assert_memory_equal(outq.pkt[0] + hdr + 8, "answer", 6);

		/* Larger than the MTU: lwIP fragments it. */
		outq.n = 0;
		memset(big, 'b', sizeof(big));
		assert_int_equal(nt_gw_udp_reply(&seen.addrs, big, sizeof(big)), 0);
		assert_int_equal(outq.n, 3);
		assert_int_equal(nt_gw_udp_reply(&seen.addrs, big, 70000), -EMSGSIZE);
	}
	down(l);
}

static void test_gw_accept_leaves_icmp_and_non_unicast_alone(void **state)
{
	struct nt_loop *l = up(true);
	uint8_t pkt[200], icmp[16], src[4], dst[4];
	struct nt_gw_accept_stats st;
	static const char *martians[] = {"224.0.0.1", "255.255.255.255", "0.0.0.1", "240.0.0.1"};
	static const char *martians6[] = {"ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
					  "::7f00:1"};
	uint64_t accepted;
	size_t n;
	(void)state;

	/* Echo requests: to our address answered, to another one not. */
	memset(icmp, 0, sizeof(icmp));
	icmp[0] = 8;
	wr16(icmp + 4, 7);
	wr16(icmp + 2, fold(sum16(icmp, sizeof(icmp), 0)));
	addr_of(AF_INET, PEER4, src);
	addr_of(AF_INET, DEST4, dst);
	n = build_ip(pkt, AF_INET, src, dst, 1, icmp, sizeof(icmp), -1);
	assert_int_equal(nt_stack_input(pkt, n), 0);
	assert_int_equal(outq.n, 0);
	addr_of(AF_INET, OUR4, dst);
	n = build_ip(pkt, AF_INET, src, dst, 1, icmp, sizeof(icmp), -1);
	assert_int_equal(nt_stack_input(pkt, n), 0);
	assert_int_equal(outq.n, 1);
	assert_int_equal(outq.pkt[0][20], 0); /* echo reply */
	outq.n = 0;
	/* Datagrams to multicast, broadcast, "this network", reserved, IPv4 in
	 * IPv6: never lwIP's. */
	nt_gw_accept_get_stats(&st);
	accepted = st.accepted;
	for (size_t i = 0; i < sizeof(martians) / sizeof(martians[0]); i++) {
		n = udp_to(AF_INET, martians[i], 53, "x", 1, pkt);
		assert_int_equal(nt_stack_input(pkt, n), 0);
	}
	for (size_t i = 0; i < sizeof(martians6) / sizeof(martians6[0]); i++) {
		n = udp_to(AF_INET6, martians6[i], 53, "x", 1, pkt);
		assert_int_equal(nt_stack_input(pkt, n), 0);
	}
	assert_int_equal(seen.udp, 0);
	assert_int_equal(outq.n, 0);
	nt_gw_accept_get_stats(&st);
	assert_int_equal(st.accepted, accepted);
	/* Loopback and link-local are the gateway's to decide (an explicit
	 * rule may open them). */
	n = udp_to(AF_INET, "127.0.0.1", 53, "x", 1, pkt);
	assert_int_equal(nt_stack_input(pkt, n), 0);
	n = udp_to(AF_INET6, "fe80::1", 53, "x", 1, pkt);
	assert_int_equal(nt_stack_input(pkt, n), 0);
	assert_int_equal(seen.udp, 2);
	down(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gw_accept_is_inert_until_enabled),
	    cmocka_unit_test(test_gw_accept_syn_becomes_a_connected_flow_v4),
	    cmocka_unit_test(test_gw_accept_flow_probes_a_silent_client),
	    cmocka_unit_test(test_gw_accept_syn_becomes_a_connected_flow_v6),
	    cmocka_unit_test(test_gw_accept_client_reset_reports_failure),
	    cmocka_unit_test(test_gw_accept_abort_resets_without_callback),
	    cmocka_unit_test(test_gw_accept_refused_flow_is_reset),
	    cmocka_unit_test(test_gw_accept_duplicate_syn_goes_to_the_live_connection),
	    cmocka_unit_test(test_gw_accept_udp_to_any_address_and_reply),
	    cmocka_unit_test(test_gw_accept_leaves_icmp_and_non_unicast_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
