// SPDX-License-Identifier: MIT
/* netstack/stack: lwIP on the loop, packets in and out, timers only when needed.
 *
 * The addresses below (100.64.0.0/10, fd00::/8) exist only inside this
 * process: packets go from the test to lwIP and back through the output
 * callback, never to a socket.
 */
#include "netstack/stack.h"
#include "platform/clock.h"
#include "platform/loop.h"
#include "tests/unit/pkt_bytes.h"

#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define OUR4  "100.64.0.2"
#define PEER4 "100.64.0.1"
#define OUR6  "fd00::2"
#define PEER6 "fd00::1"

#define MTU	NT_STACK_DEFAULT_MTU
#define CAP_MAX 8

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* ---- capture of what the stack sends ---- */

static struct capture {
	uint8_t pkt[CAP_MAX][MTU];
	size_t len[CAP_MAX];
	size_t n;
	int refuse; /* returned by the output callback when non-zero */
} cap;

static int capture_output(void *arg, const uint8_t *pkt, size_t len)
{
	struct capture *c = arg;

	assert_true(len <= MTU);
	if (c->n < CAP_MAX) {
		memcpy(c->pkt[c->n], pkt, len);
		c->len[c->n] = len;
	}
	c->n++;
	return c->refuse;
}

static struct nt_loop *loop;

static void make_config(struct nt_stack_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->has_ipv4 = true;
	assert_int_equal(inet_pton(AF_INET, OUR4, &cfg->ipv4), 1);
	cfg->has_ipv6 = true;
	assert_int_equal(inet_pton(AF_INET6, OUR6, &cfg->ipv6), 1);
	cfg->output = capture_output;
	cfg->output_arg = &cap;
}

static int setup_stack(void **state)
{
	struct nt_stack_config cfg;

	(void)state;
	memset(&cap, 0, sizeof(cap));
	assert_int_equal(nt_loop_new(&loop), 0);
	make_config(&cfg);
	assert_int_equal(nt_stack_init(loop, &cfg), 0);
	return 0;
}

static int teardown_stack(void **state)
{
	(void)state;
	nt_stack_shutdown();
	nt_loop_free(loop);
	loop = NULL;
	return 0;
}

/* Runs the loop until `want` packets were captured or max_ms passed. */
static void run_until_packets(size_t want, uint64_t max_ms)
{
	uint64_t end = nt_clock_mono_ns() + max_ms * NT_NS_PER_MS;

	for (int i = 0; i < 1000 && cap.n < want && nt_clock_mono_ns() < end; i++)
		assert_true(nt_loop_run_once(loop, 20) >= 0);
}

/* Runs the loop until the stack's timers are all disarmed or max_ms passed. */
static void run_until_idle(uint64_t max_ms)
{
	uint64_t end = nt_clock_mono_ns() + max_ms * NT_NS_PER_MS;

	for (int i = 0; i < 1000 && nt_stack_timers_armed() && nt_clock_mono_ns() < end; i++)
		assert_true(nt_loop_run_once(loop, 20) >= 0);
}

static void assert_idle(void)
{
	assert_int_equal(nt_stack_timers_armed(), 0);
	/* Nothing is due and nothing is armed: one iteration runs no callback. */
	assert_int_equal(nt_loop_run_once(loop, 0), 0);
}

/* ---- packet helpers ---- */

static size_t ip_hlen(const uint8_t *ip)
{
	return (ip[0] >> 4) == 4 ? (size_t)(ip[0] & 0x0f) * 4 : 40;
}

/* Pseudo-header sum; ICMPv4 has none. */
static uint32_t pseudo_sum(const uint8_t *ip, size_t l4_len)
{
	if ((ip[0] >> 4) == 4) {
		if (ip[9] == 1)
			return 0;
		return sum16(ip + 12, 8, 0) + ip[9] + (uint32_t)l4_len;
	}
	return sum16(ip + 8, 32, 0) + ip[6] + (uint32_t)l4_len;
}

/* Fills in the upper-layer checksum at offset csum_off of the L4 header. */
static void set_l4_csum(uint8_t *ip, size_t csum_off)
{
	size_t h = ip_hlen(ip);
	size_t l4_len = ((ip[0] >> 4) == 4 ? rd16(ip + 2) : 40 + rd16(ip + 4)) - h;

	wr16(ip + h + csum_off, 0);
	wr16(ip + h + csum_off, fold(sum16(ip + h, l4_len, pseudo_sum(ip, l4_len))));
}

static bool l4_csum_ok(const uint8_t *ip, size_t len)
{
	size_t h = ip_hlen(ip);

	return fold(sum16(ip + h, len - h, pseudo_sum(ip, len - h))) == 0;
}

static size_t build_v4(uint8_t *buf, const char *src, const char *dst, uint8_t proto, uint16_t frag,
		       const uint8_t *l4, size_t l4_len)
{
	memset(buf, 0, 20);
	buf[0] = 0x45;
	wr16(buf + 2, (uint16_t)(20 + l4_len));
	wr16(buf + 4, 0x4242);
	wr16(buf + 6, frag);
	buf[8] = 64;
	buf[9] = proto;
	assert_int_equal(inet_pton(AF_INET, src, buf + 12), 1);
	assert_int_equal(inet_pton(AF_INET, dst, buf + 16), 1);
	wr16(buf + 10, fold(sum16(buf, 20, 0)));
	memcpy(buf + 20, l4, l4_len);
	return 20 + l4_len;
}

static size_t build_v6(uint8_t *buf, const char *src, const char *dst, uint8_t nh, uint8_t hops,
		       const uint8_t *l4, size_t l4_len)
{
	memset(buf, 0, 40);
	buf[0] = 0x60;
	wr16(buf + 4, (uint16_t)l4_len);
	buf[6] = nh;
	buf[7] = hops;
	assert_int_equal(inet_pton(AF_INET6, src, buf + 8), 1);
	assert_int_equal(inet_pton(AF_INET6, dst, buf + 24), 1);
	memcpy(buf + 40, l4, l4_len);
	return 40 + l4_len;
}

/* An echo request: type, code 0, checksum (filled later), id, seq, payload. */
static size_t build_echo(uint8_t *l4, uint8_t type, uint16_t id, uint16_t seq, size_t payload)
{
	memset(l4, 0, 8);
	l4[0] = type;
	wr16(l4 + 4, id);
	wr16(l4 + 6, seq);
	for (size_t i = 0; i < payload; i++)
		l4[8 + i] = (uint8_t)(i * 7 + 1);
	return 8 + payload;
}

static void assert_addr(int af, const uint8_t *field, const char *text)
{
	uint8_t want[16];

	assert_int_equal(inet_pton(af, text, want), 1);
	assert_memory_equal(field, want, af == AF_INET ? 4 : 16);
}

/* Returns a pointer to TCP option `kind` (its kind byte) or NULL. */
static const uint8_t *tcp_option(const uint8_t *tcp, uint8_t kind)
{
	size_t hlen = (size_t)(tcp[12] >> 4) * 4;

	for (size_t i = 20; i < hlen;) {
		if (tcp[i] == 0)
			break;
		if (tcp[i] == 1) {
			i++;
			continue;
		}
		assert_true(i + 1 < hlen && tcp[i + 1] >= 2 && i + tcp[i + 1] <= hlen);
		if (tcp[i] == kind)
			return tcp + i;
		i += tcp[i + 1];
	}
	return NULL;
}

/* Checks a SYN from us: options as configured, MSS as given. */
static void assert_syn(const uint8_t *tcp, uint16_t dport, uint16_t mss)
{
	const uint8_t *opt;

	assert_int_equal(rd16(tcp + 2), dport);
	assert_int_equal(tcp[13], TCP_SYN);
	assert_int_equal(rd32(tcp + 8), 0); /* no ACK number */
	opt = tcp_option(tcp, 2);
	assert_non_null(opt);
	assert_int_equal(opt[1], 4);
	assert_int_equal(rd16(opt + 2), mss);
	opt = tcp_option(tcp, 3);
	assert_non_null(opt);
	assert_int_equal(opt[1], 3);
	assert_int_equal(opt[2], 7); /* TCP_RCV_SCALE */
	opt = tcp_option(tcp, 4);
	assert_non_null(opt); /* SACK permitted */
	assert_int_equal(opt[1], 2);
	opt = tcp_option(tcp, 8);
	assert_non_null(opt); /* timestamps */
	assert_int_equal(opt[1], 10);
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	(void)pcb;
	(void)err;
	fail_msg("nobody answers in these tests");
	return ERR_OK;
}

static struct tcp_pcb *connect_to(const char *dst, u8_t type, uint16_t port)
{
	struct tcp_pcb *pcb = tcp_new_ip_type(type);
	ip_addr_t addr;

	assert_non_null(pcb);
	assert_true(ipaddr_aton(dst, &addr));
	assert_int_equal(tcp_connect(pcb, &addr, port, on_connected), ERR_OK);
	return pcb;
}

/* ---- tests ---- */

static void test_init_validates_config_and_allows_one_stack(void **state)
{
	struct nt_stack_config cfg;

	(void)state;
	assert_int_equal(nt_loop_new(&loop), 0);
	make_config(&cfg);
	cfg.output = NULL;
	assert_int_equal(nt_stack_init(loop, &cfg), -EINVAL);
	make_config(&cfg);
	cfg.has_ipv4 = cfg.has_ipv6 = false;
	assert_int_equal(nt_stack_init(loop, &cfg), -EINVAL);
	make_config(&cfg);
	cfg.mtu = 1000;
	assert_int_equal(nt_stack_init(loop, &cfg), -EINVAL);
	make_config(&cfg);
	assert_int_equal(nt_stack_init(NULL, &cfg), -EINVAL);
	assert_int_equal(nt_stack_input((const uint8_t *)"E", 1), -ENETDOWN);

	/* One stack per process, and it can be brought up again after shutdown. */
	for (int round = 0; round < 2; round++) {
		assert_int_equal(nt_stack_init(loop, &cfg), 0);
		assert_int_equal(nt_stack_init(loop, &cfg), -EALREADY);
		nt_stack_shutdown();
	}
	nt_loop_free(loop);
	loop = NULL;
}

static void test_idle_stack_arms_no_timer(void **state)
{
	(void)state;
	assert_idle();
	nt_stack_timers_kick();
	assert_idle();
	assert_int_equal(cap.n, 0);
}

static void test_tcp_connect_v4_sends_syn_with_options(void **state)
{
	struct tcp_pcb *pcb;
	const uint8_t *ip, *tcp;

	(void)state;
	pcb = connect_to(PEER4, IPADDR_TYPE_V4, 443);
	assert_int_equal(cap.n, 1);
	ip = cap.pkt[0];
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(rd16(ip + 2), cap.len[0]);
	assert_int_equal(ip[9], 6);
	assert_int_equal(fold(sum16(ip, 20, 0)), 0);
	assert_addr(AF_INET, ip + 12, OUR4);
	assert_addr(AF_INET, ip + 16, PEER4);
	assert_true(l4_csum_ok(ip, cap.len[0]));
	tcp = ip + 20;
	assert_int_equal(rd16(tcp), pcb->local_port);
	assert_syn(tcp, 443, 1380); /* 1420 - 20 - 20 */

	/* The SYN went out through the output path, which armed the TCP timer
	 * without any kick. */
	assert_int_equal(nt_stack_timers_armed(), NT_STACK_TIMER_TCP);

	tcp_abort(pcb);
	assert_int_equal(cap.n, 2);
	assert_true(cap.pkt[1][20 + 13] & TCP_RST);
	nt_stack_timers_kick();
	assert_idle();
}

static void test_unanswered_syn_is_retransmitted_by_loop_timer(void **state)
{
	struct tcp_pcb *pcb;
	uint64_t t0;

	(void)state;
	pcb = connect_to(PEER4, IPADDR_TYPE_V4, 80);
	assert_int_equal(cap.n, 1);
	/* One slow tick instead of lwIP's first RTO keeps the test fast while
	 * still needing the loop-driven timer to fire. */
	pcb->rto = 1;
	/* Nothing is resent until the loop runs the armed TCP timer; when its
	 * next tick comes depends on when the SYN armed it, so only the upper
	 * bound is fixed: two slow ticks. */
	t0 = nt_clock_mono_ns();
	run_until_packets(2, 2000);
	assert_int_equal(cap.n, 2);
	assert_true(nt_clock_mono_ns() - t0 <= 4 * TCP_TMR_INTERVAL * NT_NS_PER_MS + 200 * NT_NS_PER_MS);
	assert_int_equal(cap.len[1], cap.len[0]);
	assert_int_equal(cap.pkt[1][20 + 13], TCP_SYN);
	assert_memory_equal(cap.pkt[1] + 20, cap.pkt[0] + 20, 8); /* ports and sequence */

	/* No kick: the next tick finds no pcb and does not re-arm. */
	tcp_abort(pcb);
	run_until_idle(1000);
	assert_idle();
}

static void test_tcp_connect_v6_sends_syn_with_mss_1360(void **state)
{
	struct tcp_pcb *pcb;
	const uint8_t *ip;

	(void)state;
	pcb = connect_to(PEER6, IPADDR_TYPE_V6, 22);
	assert_int_equal(cap.n, 1);
	ip = cap.pkt[0];
	assert_int_equal(ip[0] >> 4, 6);
	assert_int_equal(40 + rd16(ip + 4), cap.len[0]);
	assert_int_equal(ip[6], 6);
	assert_addr(AF_INET6, ip + 8, OUR6);
	assert_addr(AF_INET6, ip + 24, PEER6);
	assert_true(l4_csum_ok(ip, cap.len[0]));
	assert_syn(ip + 40, 22, 1360); /* 1420 - 40 - 20: TCP_MSS clamped by the MTU */
	assert_int_equal(nt_stack_timers_armed(), NT_STACK_TIMER_TCP);

	tcp_abort(pcb);
	nt_stack_timers_kick();
	assert_idle();
}

static void test_input_drops_garbage_and_truncated_packets(void **state)
{
	uint8_t pkt[MTU + 1];
	struct nt_stack_stats s;
	size_t n;

	(void)state;
	memset(pkt, 0, sizeof(pkt));
	assert_int_equal(nt_stack_input(pkt, 0), -EINVAL);
	pkt[0] = 0x55; /* version 5 */
	assert_int_equal(nt_stack_input(pkt, 40), -EINVAL);
	pkt[0] = 0x45;
	assert_int_equal(nt_stack_input(pkt, 12), -EINVAL); /* shorter than a header */
	pkt[0] = 0x44;					    /* IHL 16 bytes */
	wr16(pkt + 2, 40);
	assert_int_equal(nt_stack_input(pkt, 40), -EINVAL);
	pkt[0] = 0x45;
	wr16(pkt + 2, 100); /* says 100, has 60 */
	assert_int_equal(nt_stack_input(pkt, 60), -EINVAL);
	wr16(pkt + 2, 10); /* total shorter than its own header */
	assert_int_equal(nt_stack_input(pkt, 60), -EINVAL);
	pkt[0] = 0x60;
	assert_int_equal(nt_stack_input(pkt, 30), -EINVAL); /* shorter than a header */
	wr16(pkt + 4, 100);
	assert_int_equal(nt_stack_input(pkt, 60), -EINVAL); /* payload cut */
	wr16(pkt + 4, 16);
	pkt[6] = 0;  /* hop-by-hop options ... */
	pkt[41] = 4; /* ... 40 bytes long, in a 16-byte payload */
	assert_int_equal(nt_stack_input(pkt, 56), -EINVAL);
	/* Nine destination-options headers in a row. */
	wr16(pkt + 4, 72);
	pkt[6] = 60;
	for (int i = 0; i < 9; i++) {
		pkt[40 + 8 * i] = 60;
		pkt[41 + 8 * i] = 0;
	}
	assert_int_equal(nt_stack_input(pkt, 112), -EINVAL);
	assert_int_equal(nt_stack_input(pkt, MTU + 1), -EMSGSIZE);

	nt_stack_get_stats(&s);
	assert_int_equal(s.in_drop_malformed, 5);
	assert_int_equal(s.in_drop_truncated, 5);
	assert_int_equal(s.in_drop_oversize, 1);
	assert_int_equal(s.in_packets, 0);

	/* A well-formed echo request with a broken checksum reaches lwIP,
	 * which drops it and counts it. */
	n = build_echo(pkt + 20, 8, 1, 1, 16);
	memcpy(pkt + 100, pkt + 20, n);
	n = build_v4(pkt, PEER4, OUR4, 1, 0, pkt + 100, n);
	wr16(pkt + 22, 0xdead);
	assert_int_equal(nt_stack_input(pkt, n), 0);
	nt_stack_get_stats(&s);
	assert_int_equal(s.in_packets, 1);
	assert_int_equal(s.stack_chkerr, 1);
	assert_int_equal(cap.n, 0);

	/* Noise, most of it shaped like IPv4 or IPv6 headers to get past the
	 * first checks: nothing crashes, every packet is accounted for. */
	uint32_t x = 0x9e3779b9;
	for (int i = 0; i < 3000; i++) {
		size_t len;

		for (size_t j = 0; j < 64; j++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			pkt[j] = (uint8_t)x;
		}
		len = x % (MTU + 64);
		if (i % 3 == 0)
			pkt[0] = 0x45;
		else if (i % 3 == 1)
			pkt[0] = 0x60;
		if (len >= 4 && i % 2 == 0)
			wr16(pkt + (pkt[0] == 0x45 ? 2 : 4),
			     (uint16_t)(len - (pkt[0] == 0x60 ? 40 : 0)));
		(void)nt_stack_input(pkt, len);
	}
	nt_stack_get_stats(&s);
	assert_int_equal(s.in_packets + s.in_drop_malformed + s.in_drop_truncated +
			     s.in_drop_oversize + s.in_drop_nd + s.in_drop_nomem,
			 3000 + 12);
	assert_true(s.in_packets > 100); /* the noise did reach lwIP */
}

static void test_icmp_echo_request_gets_reply(void **state)
{
	uint8_t l4[128], pkt[256];
	struct nt_stack_stats s;
	size_t l4_len, n;
	const uint8_t *ip;

	(void)state;
	l4_len = build_echo(l4, 8, 0x1234, 7, 40);
	wr16(l4 + 2, fold(sum16(l4, l4_len, 0)));
	n = build_v4(pkt, PEER4, OUR4, 1, 0, l4, l4_len);
	/* WireGuard pads to 16 bytes; the stack must go by the IP length. */
	memset(pkt + n, 0, 12);
	assert_int_equal(nt_stack_input(pkt, n + 12), 0);

	assert_int_equal(cap.n, 1);
	ip = cap.pkt[0];
	assert_int_equal(cap.len[0], n);
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(ip[9], 1);
	assert_int_equal(fold(sum16(ip, 20, 0)), 0);
	assert_addr(AF_INET, ip + 12, OUR4);
	assert_addr(AF_INET, ip + 16, PEER4);
	assert_int_equal(ip[20], 0); /* echo reply */
	assert_int_equal(ip[21], 0);
	assert_true(l4_csum_ok(ip, cap.len[0]));
	assert_memory_equal(ip + 24, l4 + 4, l4_len - 4); /* id, seq, payload */

	nt_stack_get_stats(&s);
	assert_int_equal(s.in_packets, 1);
	assert_int_equal(s.in_bytes, n);
	assert_int_equal(s.out_packets, 1);
	assert_int_equal(s.out_bytes, n);
	assert_idle();
}

static void test_icmpv6_echo_request_gets_reply(void **state)
{
	uint8_t l4[128], pkt[256];
	size_t n;
	const uint8_t *ip;

	(void)state;
	n = build_echo(l4, 128, 0x4321, 3, 24);
	n = build_v6(pkt, PEER6, OUR6, 58, 64, l4, n);
	set_l4_csum(pkt, 2);
	assert_int_equal(nt_stack_input(pkt, n), 0);

	assert_int_equal(cap.n, 1);
	ip = cap.pkt[0];
	assert_int_equal(cap.len[0], n);
	assert_int_equal(ip[6], 58);
	assert_addr(AF_INET6, ip + 8, OUR6);
	assert_addr(AF_INET6, ip + 24, PEER6);
	assert_int_equal(ip[40], 129); /* echo reply */
	assert_true(l4_csum_ok(ip, cap.len[0]));
	assert_memory_equal(ip + 44, pkt + 44, n - 44);
	assert_idle();
}

static void test_refused_output_is_counted(void **state)
{
	uint8_t l4[64], pkt[128];
	struct nt_stack_stats s;
	size_t n;

	(void)state;
	cap.refuse = -ENOBUFS;
	n = build_echo(l4, 8, 1, 1, 8);
	wr16(l4 + 2, fold(sum16(l4, n, 0)));
	n = build_v4(pkt, PEER4, OUR4, 1, 0, l4, n);
	assert_int_equal(nt_stack_input(pkt, n), 0);
	assert_int_equal(cap.n, 1);
	nt_stack_get_stats(&s);
	assert_int_equal(s.out_packets, 0);
	assert_int_equal(s.out_drop_refused, 1);
}

static void test_neighbour_discovery_is_dropped(void **state)
{
	uint8_t l4[24], pkt[128];
	struct nt_stack_stats s;
	size_t n;

	(void)state;
	memset(l4, 0, sizeof(l4));
	l4[0] = 135; /* neighbour solicitation for our address */
	assert_int_equal(inet_pton(AF_INET6, OUR6, l4 + 8), 1);
	n = build_v6(pkt, PEER6, OUR6, 58, 255, l4, sizeof(l4));
	set_l4_csum(pkt, 2);
	assert_int_equal(nt_stack_input(pkt, n), -EPROTO);
	nt_stack_get_stats(&s);
	assert_int_equal(s.in_drop_nd, 1);
	assert_int_equal(s.in_packets, 0);
	assert_int_equal(cap.n, 0);
	assert_idle();
}

static void test_fragments_are_reassembled_on_the_slow_timer(void **state)
{
	uint8_t l4[64], pkt[128];
	size_t n;

	(void)state;
	n = build_echo(l4, 8, 0x0a0b, 1, 56);
	assert_int_equal(n, 64);
	wr16(l4 + 2, fold(sum16(l4, n, 0)));

	n = build_v4(pkt, PEER4, OUR4, 1, 0x2000, l4, 32); /* MF, offset 0 */
	assert_int_equal(nt_stack_input(pkt, n), 0);
	assert_int_equal(cap.n, 0);
	/* A datagram is pending: reassembly needs its timer to age it out. */
	assert_int_equal(nt_stack_timers_armed(), NT_STACK_TIMER_SLOW);

	n = build_v4(pkt, PEER4, OUR4, 1, 32 / 8, l4 + 32, 32); /* last, offset 32 */
	assert_int_equal(nt_stack_input(pkt, n), 0);
	assert_int_equal(cap.n, 1);
	assert_int_equal(cap.len[0], 20 + 64);
	assert_int_equal(cap.pkt[0][20], 0);
	assert_memory_equal(cap.pkt[0] + 24, l4 + 4, 60);
	/* Shutdown (teardown) drops the timer and anything still held. */
}

/* A TCP segment from the peer (PEER4:40000) to us (OUR4:8080). */
static size_t build_tcp4(uint8_t *pkt, uint32_t seq, uint32_t ack, uint8_t flags,
			 const uint8_t *opts, size_t opt_len, const char *data)
{
	uint8_t tcp[64];
	size_t data_len = data ? strlen(data) : 0;
	size_t n = 20 + opt_len + data_len;
	size_t len;

	assert_true(n <= sizeof(tcp) && opt_len % 4 == 0);
	memset(tcp, 0, sizeof(tcp));
	wr16(tcp, 40000);
	wr16(tcp + 2, 8080);
	wr16(tcp + 4, (uint16_t)(seq >> 16));
	wr16(tcp + 6, (uint16_t)seq);
	wr16(tcp + 8, (uint16_t)(ack >> 16));
	wr16(tcp + 10, (uint16_t)ack);
	tcp[12] = (uint8_t)((20 + opt_len) / 4) << 4;
	tcp[13] = flags;
	wr16(tcp + 14, 512); /* 64 KiB once scaled by 7 */
	if (opt_len)
		memcpy(tcp + 20, opts, opt_len);
	if (data_len)
		memcpy(tcp + 20 + opt_len, data, data_len);
	len = build_v4(pkt, PEER4, OUR4, 6, 0, tcp, n);
	set_l4_csum(pkt, 16);
	return len;
}

static struct tcp_pcb *accepted;

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	assert_int_equal(err, ERR_OK);
	accepted = pcb;
	return ERR_OK;
}

static void listen_on_8080(void)
{
	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
	struct tcp_pcb *lpcb;

	assert_non_null(pcb);
	assert_int_equal(tcp_bind(pcb, IP_ANY_TYPE, 8080), ERR_OK);
	lpcb = tcp_listen(pcb);
	assert_non_null(lpcb);
	tcp_accept(lpcb, on_accept);
	accepted = NULL;
}

static void test_passive_open_arms_tcp_timer(void **state)
{
	static const uint8_t mss[4] = {2, 4, 1380 >> 8, 1380 & 0xff};
	uint8_t pkt[128];
	const uint8_t *rep;

	(void)state;
	listen_on_8080();
	nt_stack_timers_kick();
	assert_idle(); /* a listener alone needs no timer */

	assert_int_equal(nt_stack_input(pkt, build_tcp4(pkt, 0x10000000, 0, TCP_SYN, mss, 4, NULL)),
			 0);
	assert_int_equal(cap.n, 1);
	rep = cap.pkt[0] + 20;
	assert_int_equal(rd16(rep), 8080);
	assert_int_equal(rd16(rep + 2), 40000);
	assert_int_equal(rep[13], TCP_SYN | TCP_ACK);
	assert_int_equal(rd32(rep + 8), 0x10000001);
	assert_true(l4_csum_ok(cap.pkt[0], cap.len[0]));
	assert_int_equal(nt_stack_timers_armed(), NT_STACK_TIMER_TCP);
	/* Shutdown aborts the half-open connection and closes the listener. */
}

static void test_established_connection_advertises_2mib_window(void **state)
{
	/* MSS 1380, NOP, window scale 7. */
	static const uint8_t opts[8] = {2, 4, 1380 >> 8, 1380 & 0xff, 1, 3, 3, 7};
	uint8_t pkt[128];
	const uint8_t *rep, *ws;
	uint32_t iss, win;

	(void)state;
	listen_on_8080();
	assert_int_equal(nt_stack_input(pkt, build_tcp4(pkt, 1000, 0, TCP_SYN, opts, 8, NULL)), 0);
	assert_int_equal(cap.n, 1);
	rep = cap.pkt[0] + 20;
	ws = tcp_option(rep, 3);
	assert_non_null(ws);
	assert_int_equal(ws[2], 7);
	iss = rd32(rep + 4);

	assert_int_equal(
	    nt_stack_input(pkt, build_tcp4(pkt, 1001, iss + 1, TCP_ACK, NULL, 0, NULL)), 0);
	assert_non_null(accepted);
	assert_int_equal(cap.n, 1);
	/* 0x08: PSH. The ACK is delayed: the loop's TCP timer sends it. */
	assert_int_equal(
	    nt_stack_input(pkt, build_tcp4(pkt, 1001, iss + 1, TCP_ACK | 0x08, NULL, 0, "hello")),
	    0);
	run_until_packets(2, 1000);
	assert_int_equal(cap.n, 2);
	rep = cap.pkt[1] + 20;
	assert_int_equal(rep[13], TCP_ACK);
	assert_int_equal(rd32(rep + 8), 1006);
	win = (uint32_t)rd16(rep + 14) << 7;
	assert_true(win >= 2 * 1024 * 1024 - 128);
}

static unsigned udp_recvs;

static void count_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
		      u16_t port)
{
	(void)arg;
	(void)pcb;
	(void)addr;
	assert_int_equal(port, 53);
	udp_recvs++;
	pbuf_free(p);
}

/* lwIP's DNS client is compiled out: a query and its answer are plain UDP
 * to the stack, and leave nothing to age. */
static void test_dns_datagrams_arm_no_timer(void **state)
{
	uint8_t l4[8 + 12], pkt[64];
	struct udp_pcb *u;
	struct pbuf *p;
	ip_addr_t dst;
	size_t n;

	(void)state;
	udp_recvs = 0;
	u = udp_new_ip_type(IPADDR_TYPE_ANY);
	assert_non_null(u);
	assert_int_equal(udp_bind(u, IP_ANY_TYPE, 0), ERR_OK);
	udp_recv(u, count_udp, NULL);
	assert_int_equal(ipaddr_aton(PEER4, &dst), 1);
	p = pbuf_alloc(PBUF_TRANSPORT, 12, PBUF_RAM);
	assert_non_null(p);
	memset(p->payload, 0, 12);
	assert_int_equal(udp_sendto(u, p, &dst, 53), ERR_OK);
	pbuf_free(p);
	assert_int_equal(cap.n, 1);
	assert_int_equal(rd16(cap.pkt[0] + 22), 53);
	assert_idle();

	memset(l4, 0, sizeof(l4));
	wr16(l4, 53);
	wr16(l4 + 2, u->local_port);
	wr16(l4 + 4, sizeof(l4));
	n = build_v4(pkt, PEER4, OUR4, 17, 0, l4, sizeof(l4));
	set_l4_csum(pkt, 6);
	assert_int_equal(nt_stack_input(pkt, n), 0);
	assert_int_equal(udp_recvs, 1);
	assert_idle();
	udp_remove(u);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_stack, teardown_stack)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_validates_config_and_allows_one_stack),
	    T(test_idle_stack_arms_no_timer),
	    T(test_tcp_connect_v4_sends_syn_with_options),
	    T(test_unanswered_syn_is_retransmitted_by_loop_timer),
	    T(test_tcp_connect_v6_sends_syn_with_mss_1360),
	    T(test_input_drops_garbage_and_truncated_packets),
	    T(test_icmp_echo_request_gets_reply),
	    T(test_icmpv6_echo_request_gets_reply),
	    T(test_refused_output_is_counted),
	    T(test_neighbour_discovery_is_dropped),
	    T(test_fragments_are_reassembled_on_the_slow_timer),
	    T(test_dns_datagrams_arm_no_timer),
	    T(test_passive_open_arms_tcp_timer),
	    T(test_established_connection_advertises_2mib_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
