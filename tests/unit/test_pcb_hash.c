// SPDX-License-Identifier: MIT
/* lwIP's pcb lookup without list walks (third_party/lwip-pcb-hash.patch):
 * the 4-tuple hash over the active and TIME_WAIT pcbs, the TIME_WAIT list
 * kept oldest last, the per-port counts behind tcp_new_port, and their
 * users in netstack/ (the gateway's SYN check, the flow layer's port
 * recycling). Thousands of connections are opened by lwIP's raw API and
 * closed into TIME_WAIT, the remote end answering by hand (tcp_peer.h's
 * packet builder and output capture); no timer runs unless a test calls
 * tcp_slowtmr() itself, so lwIP's clock is the test's.
 *
 * The addresses (100.64.0.0/10, fd00::/8) exist only inside this process.
 */
#include "netstack/flow.h"
#include "netstack/gw_accept.h"
#include "netstack/stack.h"
#include "platform/loop.h"

#include "tests/unit/tcp_peer.h"

#include "lwip/ip_addr.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

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

#define PEER_PORT  443
#define MANY	   4000 /* TIME_WAIT pcbs: 16 x the smallest table */
#define HASH_MIN   256	/* the patch's smallest (static) table */
#define RANGE_LO   0xc000
#define RANGE_HI   0xffff /* lwIP hands out RANGE_LO .. RANGE_HI - 1 */
#define TW_TICKS   ((int)(2 * TCP_MSL / TCP_SLOW_INTERVAL) + 1) /* slow ticks to expire */
#define DEST4	   "100.64.0.9"
#define GW_PORT	   8080
#define CLIENT_ARG ((void *)0x5eed)

/* One connection lwIP opened to PEER:443: its pcb (valid until lwIP frees
 * it), local port and initial sequence number. */
struct conn {
	int family;
	struct tcp_pcb *pcb;
	uint16_t port;
	uint32_t iss;
};

static struct nt_loop *loop;
static struct conn *conns; /* MANY */
static unsigned connected;
static uint8_t our4[4], peer4[4], our6[16], peer6[16];
static ip_addr_t our4_ip, peer4_ip, our6_ip, peer6_ip;

static int setup(void **state)
{
	(void)state;
	loop = peer_stack_up(true);
	connected = 0;
	conns = calloc(MANY, sizeof(*conns));
	assert_non_null(conns);
	addr_of(AF_INET, OUR4, our4);
	addr_of(AF_INET, PEER4, peer4);
	addr_of(AF_INET6, OUR6, our6);
	addr_of(AF_INET6, PEER6, peer6);
	assert_true(ipaddr_aton(OUR4, &our4_ip));
	assert_true(ipaddr_aton(PEER4, &peer4_ip));
	assert_true(ipaddr_aton(OUR6, &our6_ip));
	assert_true(ipaddr_aton(PEER6, &peer6_ip));
	return 0;
}

static int teardown(void **state)
{
	u32_t pcbs, buckets;

	(void)state;
	peer_stack_down(loop);
	loop = NULL;
	free(conns);
	conns = NULL;
	/* The stack's shutdown aborted everything: the table is empty and small. */
	tcp_nt_hash_size(&pcbs, &buckets);
	assert_int_equal(pcbs, 0);
	assert_int_equal(buckets, HASH_MIN);
	return 0;
}

/* ---- the remote end ---- */

static const ip_addr_t *our_ip(int family)
{
	return family == AF_INET ? &our4_ip : &our6_ip;
}

static const ip_addr_t *peer_ip(int family)
{
	return family == AF_INET ? &peer4_ip : &peer6_ip;
}

/* A segment without options or data from the peer's sport to our dport. */
static void peer_segment(int family, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
			 uint8_t flags)
{
	uint8_t tcp[20], pkt[60];
	size_t n;

	memset(tcp, 0, sizeof(tcp));
	wr16(tcp, sport);
	wr16(tcp + 2, dport);
	wr32(tcp + 4, seq);
	wr32(tcp + 8, ack);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	wr16(tcp + 14, 0xffff);
	n = build_ip(pkt, family, family == AF_INET ? peer4 : peer6,
		     family == AF_INET ? our4 : our6, 6, tcp, sizeof(tcp), 16);
	assert_int_equal(nt_stack_input(pkt, n), 0);
}

/* The TCP header of captured packet i. */
static const uint8_t *out_tcp(size_t i)
{
	assert_true(i < outq.n);
	return outq.pkt[i] + ((outq.pkt[i][0] >> 4) == 4 ? 20 : 40);
}

/* ---- connections lwIP opens ---- */

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	(void)pcb;
	assert_int_equal(err, ERR_OK);
	connected++;
	return ERR_OK;
}

/* tcp_connect to PEER:443; the SYN is read, not answered. */
static void conn_start(struct conn *c, int family)
{
	const uint8_t *tcp;

	c->family = family;
	c->pcb = tcp_new_ip_type(family == AF_INET ? IPADDR_TYPE_V4 : IPADDR_TYPE_V6);
	assert_non_null(c->pcb);
	outq.n = 0;
	assert_int_equal(tcp_connect(c->pcb, peer_ip(family), PEER_PORT, on_connected), ERR_OK);
	assert_int_equal(outq.n, 1);
	tcp = out_tcp(0);
	assert_int_equal(tcp[13], F_SYN);
	c->port = rd16(tcp);
	c->iss = rd32(tcp + 4);
	outq.n = 0;
}

/* tcp_connect, answered: ESTABLISHED. */
static void conn_open(struct conn *c, int family)
{
	unsigned before = connected;

	conn_start(c, family);
	peer_segment(family, PEER_PORT, c->port, PEER_ISS, c->iss + 1, F_SYN | F_ACK);
	assert_int_equal(connected, before + 1);
	assert_int_equal(c->pcb->state, ESTABLISHED);
	outq.n = 0;
}

/* tcp_close (our FIN), then the peer's FIN acknowledging it: TIME_WAIT. */
static void conn_close_to_time_wait(struct conn *c)
{
	assert_int_equal(tcp_close(c->pcb), ERR_OK);
	assert_int_equal(outq.n, 1);
	assert_int_equal(out_tcp(0)[13] & F_FIN, F_FIN);
	outq.n = 0;
	peer_segment(c->family, PEER_PORT, c->port, PEER_ISS + 1, c->iss + 2, F_FIN | F_ACK);
	assert_int_equal(c->pcb->state, TIME_WAIT);
	outq.n = 0;
}

/* n connections opened and closed into TIME_WAIT, every 40th over IPv6. */
static void many_in_time_wait(unsigned n)
{
	assert_true(n <= MANY);
	for (unsigned i = 0; i < n; i++) {
		conn_open(&conns[i], i % 40 == 39 ? AF_INET6 : AF_INET);
		conn_close_to_time_wait(&conns[i]);
	}
}

static struct tcp_pcb *lookup(const struct conn *c)
{
	return tcp_nt_lookup(our_ip(c->family), c->port, peer_ip(c->family), PEER_PORT);
}

/* The length of lwIP's TIME_WAIT list (bounded walk). */
static unsigned tw_count(void)
{
	unsigned n = 0;

	for (struct tcp_pcb *p = tcp_tw_pcbs; p && n <= 2 * MANY; p = p->next)
		n++;
	return n;
}

/* ---- the table ---- */

static void test_every_time_wait_pcb_is_found_among_thousands(void **state)
{
	u32_t pcbs, buckets;
	ip_addr_t other;

	(void)state;
	many_in_time_wait(MANY);
	assert_int_equal(tw_count(), MANY);
	assert_null(tcp_active_pcbs);
	tcp_nt_hash_size(&pcbs, &buckets);
	assert_int_equal(pcbs, MANY);
	/* Grown with the pcbs: at most one per bucket, at least a half. */
	assert_true(buckets >= MANY && buckets < 2 * MANY);
	assert_int_equal(buckets & (buckets - 1), 0);
	for (unsigned i = 0; i < MANY; i++) {
		struct tcp_pcb *p = lookup(&conns[i]);

		assert_ptr_equal(p, conns[i].pcb);
		assert_int_equal(p->state, TIME_WAIT);
		assert_int_equal(tcp_nt_port_users(conns[i].port), 1);
	}
	/* Nothing for a tuple that differs in one field. */
	assert_true(ipaddr_aton("100.64.0.3", &other));
	assert_null(tcp_nt_lookup(&our4_ip, conns[0].port, &peer4_ip, PEER_PORT + 1));
	assert_null(tcp_nt_lookup(&our4_ip, conns[0].port, &other, PEER_PORT));
	assert_null(tcp_nt_lookup(&other, conns[0].port, &peer4_ip, PEER_PORT));
	assert_null(tcp_nt_lookup(&our6_ip, conns[0].port, &peer6_ip, PEER_PORT));
}

static void test_time_wait_pcb_still_answers_its_segments(void **state)
{
	struct conn *first = &conns[0];
	const uint8_t *tcp;

	(void)state;
	many_in_time_wait(MANY);
	/* The first one closed is the oldest: the tail of the list. */
	assert_ptr_equal(tcp_nt_tw_oldest(), first->pcb);
	/* A retransmitted FIN: TIME_WAIT acknowledges it again... */
	peer_segment(AF_INET, PEER_PORT, first->port, PEER_ISS + 1, first->iss + 2, F_FIN | F_ACK);
	assert_int_equal(outq.n, 1);
	tcp = out_tcp(0);
	assert_int_equal(rd16(tcp), first->port);
	assert_int_equal(tcp[13], F_ACK);
	assert_int_equal(rd32(tcp + 4), first->iss + 2);
	assert_int_equal(rd32(tcp + 8), PEER_ISS + 2);
	outq.n = 0;
	/* ...and restarts its timer: it moves to the head of the list. */
	assert_ptr_equal(tcp_tw_pcbs, first->pcb);
	assert_ptr_equal(tcp_nt_tw_oldest(), conns[1].pcb);
	assert_int_equal(tw_count(), MANY);
	/* A SYN inside its window gets a RST (RFC 793's TIME_WAIT). */
	peer_segment(AF_INET, PEER_PORT, conns[100].port, PEER_ISS + 2, 0, F_SYN);
	assert_int_equal(outq.n, 1);
	tcp = out_tcp(0);
	assert_int_equal(rd16(tcp), conns[100].port);
	assert_int_equal(tcp[13] & F_RST, F_RST);
	outq.n = 0;
	/* Still there, all of them. */
	assert_ptr_equal(lookup(&conns[100]), conns[100].pcb);
	assert_int_equal(tw_count(), MANY);
}

static void test_new_connections_work_among_thousands_in_time_wait(void **state)
{
	struct tcp_pcb *lpcb, *half;
	struct conn fresh;
	const uint8_t *tcp;

	(void)state;
	many_in_time_wait(MANY);
	/* Active open: a port no TIME_WAIT pcb holds, then ESTABLISHED. */
	conn_open(&fresh, AF_INET);
	assert_int_equal(tcp_nt_port_users(fresh.port), 1);
	assert_ptr_equal(lookup(&fresh), fresh.pcb);
	assert_int_equal(fresh.pcb->state, ESTABLISHED);
	/* Passive open: a listener's SYN-ACK, and the SYN_RCVD pcb found. */
	lpcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
	assert_non_null(lpcb);
	assert_int_equal(tcp_bind(lpcb, IP_ANY_TYPE, GW_PORT), ERR_OK);
	lpcb = tcp_listen(lpcb);
	assert_non_null(lpcb);
	assert_int_equal(tcp_nt_port_users(GW_PORT), 1);
	/* A second bind of the port is refused (tcp_bind's walk still runs
	 * when the port has users). */
	half = tcp_new_ip_type(IPADDR_TYPE_V4);
	assert_int_equal(tcp_bind(half, IP4_ADDR_ANY, GW_PORT), ERR_USE);
	tcp_abort(half);
	peer_segment(AF_INET, 40000, GW_PORT, PEER_ISS, 0, F_SYN);
	assert_int_equal(outq.n, 1);
	tcp = out_tcp(0);
	assert_int_equal(tcp[13], F_SYN | F_ACK);
	assert_int_equal(rd16(tcp), GW_PORT);
	outq.n = 0;
	half = tcp_nt_lookup(&our4_ip, GW_PORT, &peer4_ip, 40000);
	assert_non_null(half);
	assert_int_equal(half->state, SYN_RCVD);
	assert_int_equal(tcp_nt_port_users(GW_PORT), 2);
	tcp_abort(fresh.pcb);
	assert_null(lookup(&fresh));
	assert_int_equal(tcp_nt_port_users(fresh.port), 0);
}

static void test_tcp_new_port_skips_ports_in_time_wait(void **state)
{
	static uint8_t held[0x10000];
	struct conn c;

	(void)state;
	memset(held, 0, sizeof(held));
	many_in_time_wait(1000);
	for (unsigned i = 0; i < 1000; i++)
		held[conns[i].port] = 1;
	/* New connections get other ports, all different, in the range. */
	for (unsigned i = 0; i < 1000; i++) {
		conn_start(&c, AF_INET);
		assert_true(c.port >= RANGE_LO && c.port < RANGE_HI);
		assert_int_equal(held[c.port], 0);
		held[c.port] = 2;
		assert_int_equal(tcp_nt_port_users(c.port), 1);
	}
	assert_int_equal(tw_count(), 1000);
}

static void test_expired_and_aborted_pcbs_leave_the_table(void **state)
{
	struct conn *mid = &conns[MANY / 2];
	u32_t pcbs, buckets;

	(void)state;
	many_in_time_wait(MANY);
	/* One aborted in the middle of the list: gone, its neighbours not. */
	tcp_abort(mid->pcb);
	assert_null(lookup(mid));
	assert_int_equal(tcp_nt_port_users(mid->port), 0);
	assert_ptr_equal(lookup(&conns[MANY / 2 - 1]), conns[MANY / 2 - 1].pcb);
	assert_ptr_equal(lookup(&conns[MANY / 2 + 1]), conns[MANY / 2 + 1].pcb);
	assert_int_equal(tw_count(), MANY - 1);
	/* The oldest and the newest too: the list's both ends. */
	tcp_abort(conns[0].pcb);
	tcp_abort(conns[MANY - 1].pcb);
	assert_ptr_equal(tcp_nt_tw_oldest(), conns[1].pcb);
	assert_ptr_equal(tcp_tw_pcbs, conns[MANY - 2].pcb);
	assert_int_equal(tw_count(), MANY - 3);
	/* 2 x MSL later the rest expire; every lookup of a freed pcb would be
	 * a use after free (ASan) if the table still held it. */
	for (int i = 0; i < TW_TICKS; i++)
		tcp_slowtmr();
	assert_null(tcp_tw_pcbs);
	assert_null(tcp_nt_tw_oldest());
	for (unsigned i = 0; i < MANY; i++) {
		assert_null(lookup(&conns[i]));
		assert_int_equal(tcp_nt_port_users(conns[i].port), 0);
	}
	/* The table shrank back as they left. */
	tcp_nt_hash_size(&pcbs, &buckets);
	assert_int_equal(pcbs, 0);
	assert_int_equal(buckets, HASH_MIN);
}

static void test_time_wait_expires_oldest_first(void **state)
{
	(void)state;
	many_in_time_wait(100);
	for (int i = 0; i < TW_TICKS / 2; i++)
		tcp_slowtmr();
	for (unsigned i = 100; i < 200; i++) {
		conn_open(&conns[i], AF_INET);
		conn_close_to_time_wait(&conns[i]);
	}
	/* The first hundred reach 2 x MSL, the second not yet. */
	for (int i = 0; i < TW_TICKS - TW_TICKS / 2; i++)
		tcp_slowtmr();
	assert_int_equal(tw_count(), 100);
	for (unsigned i = 0; i < 100; i++)
		assert_null(lookup(&conns[i]));
	for (unsigned i = 100; i < 200; i++)
		assert_ptr_equal(lookup(&conns[i]), conns[i].pcb);
	assert_ptr_equal(tcp_nt_tw_oldest(), conns[100].pcb);
}

/* ---- a full port range ---- */

static void on_flow_event(void *arg, struct nt_flow *f, enum nt_flow_event ev)
{
	(void)arg;
	(void)f;
	(void)ev;
}

static const struct nt_flow_ops flow_ops = {.event = on_flow_event};

/* Every port of the range bound, but for the three left to TIME_WAIT. */
static void fill_range_but_three_in_time_wait(void)
{
	static const uint16_t spare[3] = {RANGE_LO + 5, 0xd000, RANGE_HI - 1};
	unsigned bound = 0;

	for (uint32_t port = RANGE_LO; port < RANGE_HI; port++) {
		struct tcp_pcb *pcb;

		if (port == spare[0] || port == spare[1] || port == spare[2])
			continue;
		pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
		assert_non_null(pcb);
		assert_int_equal(tcp_bind(pcb, IP4_ADDR_ANY, (u16_t)port), ERR_OK);
		bound++;
	}
	assert_int_equal(bound, RANGE_HI - RANGE_LO - 3);
	many_in_time_wait(3);
	for (unsigned i = 0; i < 3; i++)
		assert_true(conns[i].port == spare[0] || conns[i].port == spare[1] ||
			    conns[i].port == spare[2]);
}

static void test_full_range_fails_at_once_without_time_wait_to_recycle(void **state)
{
	struct tcp_pcb *pcb;

	(void)state;
	fill_range_but_three_in_time_wait();
	for (unsigned i = 0; i < 3; i++)
		tcp_abort(conns[i].pcb);
	conn_start(&conns[0], AF_INET);
	conn_start(&conns[1], AF_INET);
	conn_start(&conns[2], AF_INET);
	/* Raw lwIP: no port left, ERR_BUF. */
	pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	assert_non_null(pcb);
	assert_int_equal(tcp_connect(pcb, &peer4_ip, PEER_PORT, on_connected), ERR_BUF);
	assert_int_equal(outq.n, 0);
	tcp_abort(pcb);
}

static void test_flow_recycles_the_oldest_time_wait_port(void **state)
{
	struct nt_flow_stats st;
	struct nt_flow *f;
	struct tcp_pcb *p;

	(void)state;
	fill_range_but_three_in_time_wait();
	/* The flow layer drops the oldest TIME_WAIT pcb and takes its port. */
	outq.n = 0;
	assert_int_equal(nt_flow_tcp_connect(AF_INET, peer4, PEER_PORT, &flow_ops, NULL, &f), 0);
	nt_flow_get_stats(&st);
	assert_int_equal(st.port_recycles, 1);
	assert_int_equal(outq.n, 1);
	assert_int_equal(rd16(out_tcp(0)), conns[0].port);
	outq.n = 0;
	p = lookup(&conns[0]);
	assert_non_null(p);
	assert_int_equal(p->state, SYN_SENT);
	assert_ptr_equal(lookup(&conns[1]), conns[1].pcb);
	assert_ptr_equal(lookup(&conns[2]), conns[2].pcb);
	assert_ptr_equal(tcp_nt_tw_oldest(), conns[1].pcb);
	nt_flow_abort(f);
}

/* ---- the gateway's SYN check ---- */

static int gw_established(void *arg, struct nt_flow *flow)
{
	(void)arg;
	(void)flow;
	return -EPERM;
}

static void gw_failed(void *arg, enum nt_fail why)
{
	(void)arg;
	(void)why;
}

static void gw_udp(void *ctx, const struct nt_gw_udp_addrs *a, const uint8_t *buf, size_t len,
		   const uint8_t *quote, size_t quote_len)
{
	(void)ctx;
	(void)a;
	(void)buf;
	(void)len;
	(void)quote;
	(void)quote_len;
}

static const struct nt_gw_accept_ops gw_ops = {
    .tcp_established = gw_established,
    .tcp_failed = gw_failed,
    .udp_datagram = gw_udp,
};

/* A SYN from the peer's sport to dst:dport as the gateway gets it. */
static int gw_syn(const uint8_t *dst, uint16_t sport, uint16_t dport, struct nt_gw_half **h)
{
	uint8_t tcp[20], pkt[40];

	memset(tcp, 0, sizeof(tcp));
	wr16(tcp, sport);
	wr16(tcp + 2, dport);
	wr32(tcp + 4, PEER_ISS + 0x1000);
	tcp[12] = 5 << 4;
	tcp[13] = F_SYN;
	wr16(tcp + 14, 0xffff);
	return nt_gw_accept_syn(pkt, build_ip(pkt, AF_INET, peer4, dst, 6, tcp, 20, 16), CLIENT_ARG,
				h);
}

static void test_gateway_syn_among_thousands_in_time_wait(void **state)
{
	struct nt_gw_accept_stats st;
	struct nt_gw_half *h1, *h2;
	struct tcp_pcb *p;
	uint8_t dest[4];
	ip_addr_t dest_ip;

	(void)state;
	many_in_time_wait(MANY);
	assert_int_equal(nt_gw_accept_enable(&gw_ops), 0);
	/* A new tuple: answered, the half-open pcb found by the hash. */
	addr_of(AF_INET, DEST4, dest);
	assert_true(ipaddr_aton(DEST4, &dest_ip));
	assert_int_equal(gw_syn(dest, 40000, GW_PORT, &h1), 0);
	assert_int_equal(outq.n, 1);
	assert_int_equal(out_tcp(0)[13], F_SYN | F_ACK);
	outq.n = 0;
	p = tcp_nt_lookup(&dest_ip, GW_PORT, &peer4_ip, 40000);
	assert_ptr_equal(p, (struct tcp_pcb *)h1);
	assert_int_equal(p->state, SYN_RCVD);
	/* The same SYN again goes to that connection. */
	assert_int_equal(gw_syn(dest, 40000, GW_PORT, &h2), -EEXIST);
	outq.n = 0;
	/* A SYN reusing a TIME_WAIT tuple: that pcb goes, a new one comes. */
	assert_int_equal(gw_syn(our4, PEER_PORT, conns[7].port, &h2), 0);
	nt_gw_accept_get_stats(&st);
	assert_int_equal(st.time_wait_dropped, 1);
	p = lookup(&conns[7]);
	assert_ptr_equal(p, (struct tcp_pcb *)h2);
	assert_int_equal(p->state, SYN_RCVD);
	assert_int_equal(tw_count(), MANY - 1);
	outq.n = 0;
	nt_gw_accept_abort(h1);
	nt_gw_accept_abort(h2);
	assert_null(tcp_nt_lookup(&dest_ip, GW_PORT, &peer4_ip, 40000));
	assert_null(lookup(&conns[7]));
	nt_gw_accept_disable();
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_every_time_wait_pcb_is_found_among_thousands),
	    T(test_time_wait_pcb_still_answers_its_segments),
	    T(test_new_connections_work_among_thousands_in_time_wait),
	    T(test_tcp_new_port_skips_ports_in_time_wait),
	    T(test_expired_and_aborted_pcbs_leave_the_table),
	    T(test_time_wait_expires_oldest_first),
	    T(test_full_range_fails_at_once_without_time_wait_to_recycle),
	    T(test_flow_recycles_the_oldest_time_wait_port),
	    T(test_gateway_syn_among_thousands_in_time_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
