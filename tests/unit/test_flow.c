// SPDX-License-Identifier: MIT
/* netstack/flow: TCP flows and UDP sockets in lwIP, driven by a hand-made
 * remote end (tcp_peer.h) that reads what the stack sends and answers with
 * crafted packets through nt_stack_input().
 *
 * The addresses (100.64.0.0/10, fd00::/8) exist only inside this process;
 * the only real sockets are socketpairs.
 */
#include "netstack/flow.h"
#include "netstack/stack.h"
#include "platform/clock.h"
#include "platform/loop.h"

#include "tests/unit/tcp_peer.h"

#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define GW4 "100.64.0.9" /* a router that sends ICMP errors */

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 31 + (i >> 11));
}

/* ---- the owner's side ---- */

static struct nt_loop *loop;

static struct {
	unsigned n[NT_FLOW_ERROR + 1];
	enum nt_flow_event last;
	bool close_on_event; /* the owner closes the flow from its handler */
	bool abort_on_event; /* ... or aborts it */
} rec;

static void on_event(void *arg, struct nt_flow *f, enum nt_flow_event ev)
{
	(void)arg;
	rec.n[ev]++;
	rec.last = ev;
	if (rec.close_on_event)
		nt_flow_close(f);
	if (rec.abort_on_event)
		nt_flow_abort(f);
}

static const struct nt_flow_ops rec_ops = {.event = on_event};

static int setup(void **state)
{
	(void)state;
	memset(&rec, 0, sizeof(rec));
	loop = peer_stack_up(true);
	return 0;
}

static int teardown(void **state)
{
	struct nt_flow_stats s;

	(void)state;
	nt_flow_get_stats(&s);
	peer_stack_down(loop);
	loop = NULL;
	/* Every test frees what it opened. */
	assert_int_equal(s.tcp_open, 0);
	assert_int_equal(s.udp_open, 0);
	assert_int_equal(s.mem_send, 0);
	assert_int_equal(s.mem_recv, 0);
	return 0;
}

static void reinit(size_t chunk, size_t send_cap, size_t total_cap)
{
	struct nt_flow_config c = {
	    .chunk = chunk, .send_cap = send_cap, .total_send_cap = total_cap};

	nt_flow_fini();
	assert_int_equal(nt_flow_init(loop, &c), 0);
}

/* A wait for an event that must happen: run_until returns as soon as it
 * does, so the bound only has to outlast a loaded 2-CPU machine under ASan. */
#define EVENT_WAIT_MS 10000

/* Runs the loop and the peer for at most max_ms, until done() holds. */
static void run_until(bool (*done)(void), uint64_t max_ms)
{
	uint64_t end = nt_clock_mono_ns() + max_ms * NT_NS_PER_MS;

	for (int i = 0; i < 100000 && !(done && done()) && nt_clock_mono_ns() < end; i++) {
		assert_true(nt_loop_run_once(loop, 1) >= 0);
		peer_pump();
	}
	peer_pump();
}

static void socketpair_nb(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

/* Connects a flow to the peer's port, checks the SYN, and leaves it
 * unanswered. */
static struct nt_flow *start_connect_port(int family, uint16_t port)
{
	struct nt_flow *f;

	peer_reset(family);
	peer.their_port = port;
	assert_int_equal(nt_flow_tcp_connect(family, peer.their, port, &rec_ops, NULL, &f), 0);
	assert_non_null(f);
	assert_int_equal(outq.n, 1);
	peer_pump();
	assert_int_equal(peer.syns, 1);
	return f;
}

static struct nt_flow *start_connect(int family)
{
	return start_connect_port(family, 443);
}

/* A connected flow: SYN out, SYN-ACK in, CONNECTED, ACK out. */
static struct nt_flow *open_flow_port(int family, uint16_t port)
{
	struct nt_flow *f = start_connect_port(family, port);
	unsigned connected = rec.n[NT_FLOW_CONNECTED];

	peer_send(F_SYN | F_ACK, NULL, 0);
	assert_int_equal(rec.n[NT_FLOW_CONNECTED], connected + 1);
	assert_true(nt_flow_connected(f));
	peer_pump();
	assert_int_equal(peer.lw_ack, PEER_ISS + 1);
	return f;
}

static struct nt_flow *open_flow(int family)
{
	return open_flow_port(family, 443);
}

/* Sends len bytes of the pattern from the peer in MSS-sized segments. */
static void peer_send_pattern(size_t off, size_t len, size_t seg)
{
	uint8_t buf[1400];

	while (len > 0) {
		size_t n = len < seg ? len : seg;

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(off + i);
		peer_send(F_ACK | F_PSH, buf, n);
		off += n;
		len -= n;
	}
}

static size_t drain(int fd, uint8_t *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
		got += (size_t)n;
	return got;
}

/* ---- tests: connecting ---- */

static void test_connect_sends_syn_and_synack_connects(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct nt_flow_stats s;
	struct nt_flow *f;

	(void)state;
	f = start_connect(AF_INET);
	assert_int_equal(nt_flow_local_addr(f, &ss, &len), -ENOTCONN);
	assert_int_equal(rec.n[NT_FLOW_CONNECTED], 0);
	peer_send(F_SYN | F_ACK, NULL, 0);
	assert_int_equal(rec.n[NT_FLOW_CONNECTED], 1);
	assert_int_equal(rec.last, NT_FLOW_CONNECTED);
	peer_pump();
	assert_int_equal(peer.lw_ack, PEER_ISS + 1);

	assert_int_equal(nt_flow_local_addr(f, &ss, &len), 0);
	assert_int_equal(len, sizeof(*sin));
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), peer.our_port);
	assert_memory_equal(&sin->sin_addr, peer.our, 4);
	assert_int_equal(nt_flow_error(f), NT_FAIL_NONE);

	nt_flow_get_stats(&s);
	assert_int_equal(s.connects, 1);
	assert_int_equal(s.connected, 1);
	assert_int_equal(s.tcp_open, 1);
	nt_flow_abort(f);
	peer_pump();
	assert_int_equal(peer.rsts, 1);
}

static void test_connect_v6_connects(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct nt_flow *f;

	(void)state;
	f = open_flow(AF_INET6);
	assert_int_equal(nt_flow_local_addr(f, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_memory_equal(&((struct sockaddr_in6 *)&ss)->sin6_addr, peer.our, 16);
	nt_flow_abort(f);
}

static void test_connect_rejects_bad_family(void **state)
{
	struct nt_flow *f;
	uint8_t a[16] = {0};

	(void)state;
	assert_int_equal(nt_flow_tcp_connect(AF_UNIX, a, 80, &rec_ops, NULL, &f), -EAFNOSUPPORT);
	assert_null(f);
	assert_int_equal(outq.n, 0);
}

static void test_rst_before_connect_fails_refused(void **state)
{
	struct nt_flow_stats s;
	struct nt_flow *f;

	(void)state;
	f = start_connect(AF_INET);
	peer_send(F_RST | F_ACK, NULL, 0);
	assert_int_equal(rec.n[NT_FLOW_ERROR], 1);
	assert_int_equal(rec.n[NT_FLOW_CONNECTED], 0);
	assert_int_equal(nt_flow_error(f), NT_FAIL_REFUSED);
	nt_flow_get_stats(&s);
	assert_int_equal(s.failures[NT_FAIL_REFUSED], 1);
	nt_flow_close(f);
	assert_int_equal(rec.n[NT_FLOW_ERROR], 1);
}

static void test_fail_sends_rst_and_reports_reason(void **state)
{
	struct nt_flow *f;

	(void)state;
	f = start_connect(AF_INET);
	nt_flow_fail(f, NT_FAIL_TIMEOUT);
	assert_int_equal(rec.n[NT_FLOW_ERROR], 1);
	assert_int_equal(nt_flow_error(f), NT_FAIL_TIMEOUT);
	peer_pump();
	assert_int_equal(peer.rsts, 1);
	/* Dead: a second failure changes nothing, writing is refused. */
	nt_flow_fail(f, NT_FAIL_HOST_UNREACH);
	assert_int_equal(rec.n[NT_FLOW_ERROR], 1);
	assert_int_equal(nt_flow_write(f, (const uint8_t *)"x", 1), -EPIPE);
	nt_flow_close(f);
	nt_stack_timers_kick();
	assert_int_equal(nt_stack_timers_armed(), 0);
}

static void test_rst_after_connect_is_an_error(void **state)
{
	struct nt_flow_stats s;
	struct nt_flow *f;

	(void)state;
	f = open_flow(AF_INET);
	peer_send_pattern(0, 100, 100); /* queued, never read */
	peer_send(F_RST | F_ACK, NULL, 0);
	assert_int_equal(rec.n[NT_FLOW_ERROR], 1);
	assert_int_equal(nt_flow_error(f), NT_FAIL_REFUSED);
	assert_int_equal(nt_flow_rx_queued(f), 0); /* dropped with the connection */
	nt_flow_get_stats(&s);
	assert_int_equal(s.resets, 1);
	assert_int_equal(s.mem_recv, 0);
	nt_flow_close(f);
}

/* ---- tests: receiving ---- */

static void test_data_in_is_readable_and_read_to_fd_delivers_it(void **state)
{
	uint8_t buf[4096];
	struct nt_flow_stats s;
	struct nt_flow *f;
	int sv[2];

	(void)state;
	socketpair_nb(sv);
	f = open_flow(AF_INET);
	assert_int_equal(nt_flow_read_to_fd(f, sv[1]), 0); /* nothing queued */
	peer_send_pattern(0, 3000, 1000);
	/* Announced once the loop comes round, once for all three segments:
	 * the owner writes what a receive batch brought in one go. */
	assert_int_equal(rec.n[NT_FLOW_READABLE], 0);
	assert_true(nt_loop_run_once(loop, 0) >= 0);
	assert_int_equal(rec.n[NT_FLOW_READABLE], 1);
	assert_int_equal(nt_flow_rx_queued(f), 3000);
	nt_flow_get_stats(&s);
	assert_int_equal(s.mem_recv, 3000);

	assert_int_equal(nt_flow_read_to_fd(f, sv[1]), 3000);
	assert_int_equal(nt_flow_rx_queued(f), 0);
	assert_int_equal(drain(sv[0], buf, sizeof(buf)), 3000);
	for (size_t i = 0; i < 3000; i++)
		assert_int_equal(buf[i], pattern(i));
	nt_flow_get_stats(&s);
	assert_int_equal(s.bytes_in, 3000);
	assert_int_equal(s.mem_recv, 0);
	nt_flow_abort(f);
	close(sv[0]);
	close(sv[1]);
}

static void test_receive_window_opens_only_after_socket_takes_bytes(void **state)
{
	static uint8_t junk[65536];
	uint8_t buf[16384];
	uint16_t shut_wnd;
	struct nt_flow *f;
	int sv[2];

	(void)state;
	socketpair_nb(sv);
	while (write(sv[1], junk, sizeof(junk)) > 0)
		; /* fill the socket: the owner's client is slow */
	f = open_flow(AF_INET);
	assert_int_equal(peer.last_wnd_field, (2u << 20) >> 7);

	peer_send_pattern(0, 8000, 1000);
	run_until(NULL, 300); /* lwIP's delayed ACK goes out on its timer */
	assert_int_equal(peer.lw_ack, PEER_ISS + 1 + 8000);
	shut_wnd = peer.last_wnd_field;
	assert_int_equal(shut_wnd, ((2u << 20) - 8000) >> 7);

	peer.max_wnd_field = 0;
	assert_int_equal(nt_flow_read_to_fd(f, sv[1]), -EAGAIN);
	assert_int_equal(nt_flow_rx_queued(f), 8000);
	run_until(NULL, 300);
	assert_true(peer.max_wnd_field <= shut_wnd); /* the window did not grow */

	/* The client reads: its socket takes the bytes, the window opens. */
	while (drain(sv[0], buf, sizeof(buf)) > 0)
		;
	assert_int_equal(outq.n, 0);
	assert_int_equal(nt_flow_read_to_fd(f, sv[1]), 8000);
	assert_int_equal(outq.n, 1); /* a window update, at once */
	peer_pump();
	assert_int_equal(peer.last_wnd_field, (2u << 20) >> 7);
	nt_flow_abort(f);
	close(sv[0]);
	close(sv[1]);
}

static void test_fin_gives_eof_after_data_read(void **state)
{
	uint8_t buf[64];
	struct nt_flow *f;
	int sv[2];

	(void)state;
	socketpair_nb(sv);
	f = open_flow(AF_INET);
	peer_send(F_ACK | F_PSH, "hello", 5);
	peer_send(F_ACK | F_FIN, NULL, 0);
	/* Data is still queued: no EOF yet. */
	assert_int_equal(rec.n[NT_FLOW_EOF], 0);
	assert_false(nt_flow_rx_eof(f));
	assert_int_equal(nt_flow_read_to_fd(f, sv[1]), 5);
	assert_int_equal(rec.n[NT_FLOW_EOF], 0); /* never from inside the owner's call */
	assert_true(nt_flow_rx_eof(f));
	run_until(NULL, 20);
	assert_int_equal(rec.n[NT_FLOW_EOF], 1);
	assert_int_equal(nt_flow_read_to_fd(f, sv[1]), 0);
	run_until(NULL, 20);
	assert_int_equal(rec.n[NT_FLOW_EOF], 1);
	assert_int_equal(drain(sv[0], buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);

	/* Our side closes too: FIN out, the remote's ACK ends it cleanly. */
	nt_flow_shutdown_write(f);
	peer_pump();
	assert_int_equal(peer.fins, 1);
	assert_int_equal(nt_flow_error(f), NT_FAIL_NONE);
	assert_int_equal(rec.n[NT_FLOW_ERROR], 0);
	nt_flow_close(f);
	close(sv[0]);
	close(sv[1]);
}

static void test_fin_on_empty_queue_gives_eof_at_once(void **state)
{
	struct nt_flow *f;

	(void)state;
	f = open_flow(AF_INET);
	peer_send(F_ACK | F_FIN, NULL, 0);
	assert_int_equal(rec.n[NT_FLOW_EOF], 1);
	assert_true(nt_flow_rx_eof(f));
	nt_flow_close(f);
	peer_pump();
	assert_int_equal(peer.fins, 1);
	assert_int_equal(peer.rsts, 0);
}

/* ---- tests: sending ---- */

static bool sink_has_10000(void)
{
	return peer.sink_len >= 10000;
}

static void test_write_from_fd_sends_segments_with_data(void **state)
{
	uint8_t buf[10000];
	struct nt_flow_stats s;
	struct nt_flow *f;
	int sv[2];

	(void)state;
	socketpair_nb(sv);
	f = open_flow(AF_INET);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i);
	assert_int_equal(write(sv[0], buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(nt_flow_write_from_fd(f, sv[1]), sizeof(buf));
	assert_int_equal(nt_flow_write_from_fd(f, sv[1]), -EAGAIN);
	assert_true(outq.n >= 1);
	run_until(sink_has_10000, EVENT_WAIT_MS);
	assert_int_equal(peer.sink_len, sizeof(buf));
	assert_memory_equal(peer.sink, buf, sizeof(buf));
	assert_true(peer.data_segs >= 8); /* MSS-sized pieces */
	nt_flow_get_stats(&s);
	assert_int_equal(s.bytes_out, sizeof(buf));
	assert_int_equal(s.mem_send, 0); /* all acknowledged: no chunk held */

	/* EOF of the fd reads as 0; then the half-close sends FIN. */
	shutdown(sv[0], SHUT_WR);
	assert_int_equal(nt_flow_write_from_fd(f, sv[1]), 0);
	nt_flow_shutdown_write(f);
	peer_pump();
	assert_int_equal(peer.fins, 1);
	assert_int_equal(nt_flow_write_from_fd(f, sv[1]), -EPIPE);
	nt_flow_abort(f);
	close(sv[0]);
	close(sv[1]);
}

static void test_small_writes_are_copied_and_sent(void **state)
{
	struct nt_flow *f;

	(void)state;
	f = open_flow(AF_INET);
	assert_int_equal(nt_flow_write(f, (const uint8_t *)"GET / HTTP/1.0\r\n", 16), 0);
	assert_int_equal(nt_flow_write(f, (const uint8_t *)"\r\n", 2), 0);
	run_until(NULL, 20);
	assert_int_equal(peer.sink_len, 18);
	assert_memory_equal(peer.sink, "GET / HTTP/1.0\r\n\r\n", 18);
	nt_flow_abort(f);
}

static bool writable_seen(void)
{
	return rec.n[NT_FLOW_WRITABLE] > 0;
}

static void test_send_cap_gives_enobufs_then_writable_after_ack(void **state)
{
	static uint8_t buf[65536];
	struct nt_flow_stats s;
	struct nt_flow *f;
	size_t sent = 0;
	ssize_t n;
	int sv[2];

	(void)state;
	reinit(4096, 16384, 0);
	socketpair_nb(sv);
	f = open_flow(AF_INET);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i);
	assert_int_equal(write(sv[0], buf, sizeof(buf)), sizeof(buf));

	peer.auto_ack = false; /* the remote is slow */
	assert_int_equal(nt_flow_write_from_fd(f, sv[1]), 16384);
	assert_int_equal(nt_flow_write_from_fd(f, sv[1]), -ENOBUFS);
	assert_int_equal(nt_flow_write(f, buf, 10), -ENOBUFS);
	nt_flow_get_stats(&s);
	assert_int_equal(s.mem_send, 16384);
	assert_true(s.flow_cap_hits >= 2);
	peer_pump();
	assert_int_equal(rec.n[NT_FLOW_WRITABLE], 0);

	/* The remote acknowledges: a chunk frees, the owner hears of it. */
	peer.auto_ack = true;
	run_until(writable_seen, EVENT_WAIT_MS);
	assert_int_equal(rec.n[NT_FLOW_WRITABLE], 1);

	/* Keep going until everything went through, in order. */
	sent = 16384;
	for (int i = 0; i < 10000 && peer.sink_len < sizeof(buf); i++) {
		n = nt_flow_write_from_fd(f, sv[1]);
		if (n > 0)
			sent += (size_t)n;
		else
			assert_true(n == -ENOBUFS || n == -EAGAIN);
		run_until(NULL, 0);
	}
	assert_int_equal(sent, sizeof(buf));
	assert_int_equal(peer.sink_len, sizeof(buf));
	assert_memory_equal(peer.sink, buf, sizeof(buf));
	nt_flow_get_stats(&s);
	assert_int_equal(s.mem_send, 0);
	nt_flow_abort(f);
	close(sv[0]);
	close(sv[1]);
}

static void test_global_cap_blocks_and_wakes_other_flows(void **state)
{
	struct nt_flow_stats s;
	struct nt_flow *a, *b;
	uint8_t buf[4096];

	(void)state;
	reinit(4096, 16384, 8192);
	memset(buf, 'a', sizeof(buf));
	a = open_flow(AF_INET);
	peer.auto_ack = false;
	assert_int_equal(nt_flow_write(a, buf, 4096), 0);
	assert_int_equal(nt_flow_write(a, buf, 4096), 0);
	/* A second flow (still connecting: it may queue already) finds the
	 * global cap reached by the first one. */
	assert_int_equal(nt_flow_tcp_connect(AF_INET, peer.their, 80, &rec_ops, NULL, &b), 0);
	outq.n = 0;
	assert_int_equal(nt_flow_write(b, buf, 1), -ENOBUFS);
	nt_flow_get_stats(&s);
	assert_int_equal(s.total_cap_hits, 1);
	assert_int_equal(s.flow_cap_hits, 0);
	assert_int_equal(s.mem_send, 8192);

	/* The first flow lets go of its chunks: the waiter hears WRITABLE,
	 * from the loop rather than from inside the other owner's call. */
	memset(&rec, 0, sizeof(rec));
	nt_flow_abort(a);
	assert_int_equal(rec.n[NT_FLOW_WRITABLE], 0);
	run_until(writable_seen, EVENT_WAIT_MS);
	assert_int_equal(rec.n[NT_FLOW_WRITABLE], 1);
	assert_int_equal(nt_flow_write(b, buf, 1), 0);
	nt_flow_abort(b);
	outq.n = 0;
}

/* ---- tests: the global receive cap ---- */

#define RX_SEG	  1000
#define RX_CAP	  3500		  /* crossed in the middle of a segment */
#define B_PATTERN ((size_t)50000) /* flow B's bytes: the pattern from here */

static uint32_t want_ack;

static bool ack_reached(void)
{
	return peer.lw_ack == want_ack;
}

static void reinit_recv_cap(size_t cap)
{
	struct nt_flow_config c = {.total_recv_cap = cap};

	nt_flow_fini();
	assert_int_equal(nt_flow_init(loop, &c), 0);
}

/* The current peer sends stream bytes [off, off + len) (again, when they
 * were dropped), the pattern from base + off, and waits for lwIP's ACK of
 * acked bytes (delayed ACKs go out on lwIP's fast timer). */
static void rx_send(size_t base, size_t off, size_t len, size_t acked)
{
	peer.snd_nxt = PEER_ISS + 1 + (uint32_t)off;
	peer_send_pattern(base + off, len, RX_SEG);
	want_ack = PEER_ISS + 1 + (uint32_t)acked;
	run_until(ack_reached, EVENT_WAIT_MS);
	assert_int_equal(peer.lw_ack, want_ack);
}

/* The flow's queue through a pipe: exactly len bytes, the pattern from base. */
static void rx_read_all(struct nt_flow *f, size_t base, size_t len)
{
	static uint8_t buf[8192];
	int p[2];

	assert_true(len <= sizeof(buf));
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	assert_int_equal(nt_flow_read_to_fd(f, p[1]), (ssize_t)len);
	assert_int_equal(nt_flow_rx_queued(f), 0);
	assert_int_equal(drain(p[0], buf, sizeof(buf)), len);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(buf[i], pattern(base + i));
	close(p[0]);
	close(p[1]);
}

static uint64_t rx_stats(uint64_t *hits)
{
	struct nt_flow_stats s;

	nt_flow_get_stats(&s);
	*hits = s.rx_total_cap_hits;
	assert_true(s.mem_recv <= RX_CAP + RX_SEG);
	return s.mem_recv;
}

static void test_recv_total_cap_drops_data_until_owners_read(void **state)
{
	struct peer other = {0};
	struct nt_flow *a, *b;
	uint64_t hits;

	(void)state;
	reinit_recv_cap(RX_CAP);
	/* Two flows receive data nobody reads: A 3000 bytes, B one segment,
	 * which takes the total from under the cap to one segment over it. */
	a = open_flow_port(AF_INET, 443);
	rx_send(0, 0, 3000, 3000);
	peer_swap(&other);
	b = open_flow_port(AF_INET, 444);
	rx_send(B_PATTERN, 0, RX_SEG, RX_SEG);
	assert_int_equal(rx_stats(&hits), 3000 + RX_SEG);
	assert_int_equal(hits, 0);

	/* At the cap, more data for either flow is dropped before lwIP takes
	 * it: not queued, not acknowledged (the sender will retransmit). */
	for (int i = 0; i < 3; i++)
		rx_send(B_PATTERN, RX_SEG, RX_SEG, RX_SEG);
	run_until(NULL, 120); /* past lwIP's delayed-ACK timer: still no ACK */
	assert_int_equal(peer.lw_ack, PEER_ISS + 1 + RX_SEG);
	assert_int_equal(nt_flow_rx_queued(b), RX_SEG);
	peer_swap(&other);
	rx_send(0, 3000, RX_SEG, 3000);
	assert_int_equal(nt_flow_rx_queued(a), 3000);
	assert_int_equal(rx_stats(&hits), 3000 + RX_SEG);
	assert_int_equal(hits, 4);

	/* A's owner reads: the total falls, and the retransmissions of both
	 * flows get in. */
	rx_read_all(a, 0, 3000);
	rx_send(0, 3000, RX_SEG, 4000);
	peer_swap(&other);
	rx_send(B_PATTERN, RX_SEG, 2 * RX_SEG, 3 * RX_SEG);
	assert_int_equal(rx_stats(&hits), 4 * RX_SEG);
	assert_int_equal(hits, 4);

	/* A FIN without data still passes at the cap; EOF follows the read. */
	peer_send(F_FIN | F_ACK, NULL, 0);
	want_ack = PEER_ISS + 1 + 3 * RX_SEG + 1;
	run_until(ack_reached, EVENT_WAIT_MS);
	assert_int_equal(peer.lw_ack, want_ack);
	assert_false(nt_flow_rx_eof(b));
	assert_int_equal(rec.n[NT_FLOW_EOF], 0);
	rx_read_all(b, B_PATTERN, 3 * RX_SEG);
	run_until(NULL, 20);
	assert_int_equal(rec.n[NT_FLOW_EOF], 1);
	assert_true(nt_flow_rx_eof(b));

	/* Every byte arrived once, in order: B's above, A's last segment here. */
	rx_read_all(a, 3000, RX_SEG);
	assert_int_equal(rx_stats(&hits), 0);
	assert_int_equal(hits, 4);
	nt_flow_abort(a);
	nt_flow_abort(b);
	free(other.sink);
	outq.n = 0;
}

static bool send_space_freed(void)
{
	struct nt_flow_stats s;

	nt_flow_get_stats(&s);
	return s.mem_send == 0;
}

static void test_recv_total_cap_still_takes_acks_for_our_data(void **state)
{
	uint64_t hits;
	struct nt_flow *f;

	(void)state;
	reinit_recv_cap(RX_SEG);
	f = open_flow(AF_INET);
	rx_send(0, 0, RX_SEG, RX_SEG);
	rx_send(0, RX_SEG, RX_SEG, RX_SEG); /* dropped: at the cap */
	assert_int_equal(rx_stats(&hits), RX_SEG);
	assert_int_equal(hits, 1);

	/* Our data still goes out, and the peer's pure ACKs free it. */
	assert_int_equal(nt_flow_write(f, (const uint8_t *)"hello", 5), 0);
	run_until(send_space_freed, EVENT_WAIT_MS);
	assert_true(send_space_freed());
	assert_int_equal(peer.sink_len, 5);
	assert_memory_equal(peer.sink, "hello", 5);
	assert_int_equal(rx_stats(&hits), RX_SEG);
	assert_int_equal(hits, 1);
	nt_flow_abort(f);
}

static void test_idle_connected_flow_holds_no_send_chunks(void **state)
{
	struct nt_flow_stats s;
	struct nt_flow *f;

	(void)state;
	f = open_flow(AF_INET);
	nt_flow_get_stats(&s);
	assert_int_equal(s.mem_send, 0);
	assert_int_equal(s.mem_recv, 0);
	/* Per-flow state only: well under the 24 KiB per proxied connection
	 * budget (1000 idle connections in 24 MiB). */
	assert_true(s.mem_total > 0 && s.mem_total < 1024);

	peer.auto_ack = false;
	assert_int_equal(nt_flow_write(f, (const uint8_t *)"ping", 4), 0);
	nt_flow_get_stats(&s);
	assert_int_equal(s.mem_send, NT_FLOW_DEFAULT_CHUNK);
	peer.auto_ack = true;
	run_until(NULL, 20);
	nt_flow_get_stats(&s);
	assert_int_equal(s.mem_send, 0);
	nt_flow_abort(f);
}

static bool fin_seen(void)
{
	return peer.fins > 0;
}

static void test_close_lingers_until_data_is_acknowledged(void **state)
{
	static uint8_t buf[20000];
	struct nt_flow_stats s;
	struct nt_flow *f;

	(void)state;
	f = open_flow(AF_INET);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i);
	peer.auto_ack = false;
	assert_int_equal(nt_flow_write(f, buf, sizeof(buf)), 0);
	rec.n[NT_FLOW_ERROR] = 0;
	nt_flow_close(f); /* the owner is gone; the data is not */
	nt_flow_get_stats(&s);
	assert_int_equal(s.tcp_open, 0);
	assert_int_equal(s.tcp_lingering, 1);
	assert_true(s.mem_send > 0);
	peer.auto_ack = true;
	run_until(fin_seen, EVENT_WAIT_MS);
	assert_int_equal(peer.sink_len, sizeof(buf));
	assert_memory_equal(peer.sink, buf, sizeof(buf));
	assert_int_equal(peer.fins, 1);
	assert_int_equal(peer.rsts, 0);
	nt_flow_get_stats(&s);
	assert_int_equal(s.tcp_lingering, 0);
	assert_int_equal(s.mem_send, 0);
	assert_int_equal(rec.n[NT_FLOW_ERROR], 0); /* no event after close */
}

static void test_active_close_leaves_time_wait_to_lwip(void **state)
{
	struct nt_flow *f;

	(void)state;
	f = open_flow(AF_INET);
	nt_flow_shutdown_write(f);
	peer_pump(); /* FIN out, acknowledged */
	assert_int_equal(peer.fins, 1);
	peer_send(F_ACK | F_FIN, NULL, 0);
	assert_int_equal(rec.n[NT_FLOW_EOF], 1);
	peer_pump();
	/* The pcb is in TIME_WAIT, which lwIP ends without a callback: the
	 * flow must not point to it any more. Expire it now. */
	assert_non_null(tcp_tw_pcbs);
	while (tcp_tw_pcbs)
		tcp_abort(tcp_tw_pcbs);
	assert_int_equal(nt_flow_error(f), NT_FAIL_NONE);
	assert_int_equal(nt_flow_write(f, (const uint8_t *)"x", 1), -EPIPE);
	nt_flow_close(f); /* ASan: no use of the freed pcb */
	assert_int_equal(rec.n[NT_FLOW_ERROR], 0);
}

static void test_close_with_unread_data_resets(void **state)
{
	struct nt_flow *f;

	(void)state;
	f = open_flow(AF_INET);
	peer_send(F_ACK | F_PSH, "unread", 6);
	nt_flow_close(f);
	peer_pump();
	assert_int_equal(peer.rsts, 1);
	assert_int_equal(peer.fins, 0);
}

static void test_owner_may_abort_from_connected_handler(void **state)
{
	struct nt_flow *f;

	(void)state;
	f = start_connect(AF_INET);
	(void)f;
	rec.abort_on_event = true;
	peer_send(F_SYN | F_ACK, NULL, 0); /* CONNECTED -> abort: lwIP gets ERR_ABRT */
	assert_int_equal(rec.n[NT_FLOW_CONNECTED], 1);
	peer_pump();
	assert_int_equal(peer.rsts, 1);
	nt_stack_timers_kick();
	assert_int_equal(nt_stack_timers_armed(), 0);
}

static void test_events_without_owner_are_dropped_state_is_kept(void **state)
{
	struct nt_flow *f;

	(void)state;
	f = open_flow(AF_INET);
	nt_flow_set_ops(f, NULL, NULL); /* handed over, nobody took it yet */
	peer_send(F_ACK | F_PSH, "early", 5);
	peer_send(F_ACK | F_FIN, NULL, 0);
	assert_int_equal(rec.n[NT_FLOW_READABLE], 0);
	assert_int_equal(rec.n[NT_FLOW_EOF], 0);
	assert_int_equal(nt_flow_rx_queued(f), 5);
	nt_flow_set_ops(f, &rec_ops, NULL);
	peer_send(F_ACK | F_RST, NULL, 0);
	assert_int_equal(rec.n[NT_FLOW_ERROR], 1);
	assert_int_equal(nt_flow_error(f), NT_FAIL_REFUSED);
	nt_flow_close(f);
}

static void test_owner_may_close_from_its_event_handler(void **state)
{
	struct nt_flow *f;

	(void)state;
	f = open_flow(AF_INET);
	(void)f;
	rec.close_on_event = true;
	peer_send(F_ACK | F_PSH, "data", 4); /* READABLE -> close (unread: RST) */
	assert_true(nt_loop_run_once(loop, 0) >= 0);
	assert_int_equal(rec.n[NT_FLOW_READABLE], 1);
	peer_pump();
	assert_int_equal(peer.rsts, 1);
	/* The pcb is gone: more data gets a reset from lwIP, no callback. */
	peer_send(F_ACK | F_PSH, "more", 4);
	assert_int_equal(rec.n[NT_FLOW_READABLE], 1);
}

/* ---- tests: ICMP errors ---- */

/* An ICMP(v6) destination unreachable quoting `quote` (quote_len bytes). */
static size_t build_unreach(uint8_t *pkt, int family, uint8_t code, const uint8_t *quote,
			    size_t quote_len)
{
	uint8_t icmp[8 + MTU], src[16], dst[16];

	assert_true(quote_len <= MTU - 80);
	memset(icmp, 0, 8);
	icmp[0] = family == AF_INET ? 3 : 1;
	icmp[1] = code;
	memcpy(icmp + 8, quote, quote_len);
	addr_of(family, family == AF_INET ? GW4 : PEER6, src);
	addr_of(family, family == AF_INET ? OUR4 : OUR6, dst);
	return build_ip(pkt, family, src, dst, family == AF_INET ? 1 : 58, icmp, 8 + quote_len, 2);
}

static void test_icmp_errors_fail_flow_with_reason(void **state)
{
	static const struct {
		int family;
		uint8_t code;
		enum nt_fail fail;
	} cases[] = {
	    {AF_INET, 0, NT_FAIL_NET_UNREACH},	 {AF_INET, 1, NT_FAIL_HOST_UNREACH},
	    {AF_INET, 3, NT_FAIL_REFUSED},	 {AF_INET, 9, NT_FAIL_NOT_ALLOWED},
	    {AF_INET, 10, NT_FAIL_NOT_ALLOWED},	 {AF_INET, 13, NT_FAIL_NOT_ALLOWED},
	    {AF_INET6, 0, NT_FAIL_NET_UNREACH},	 {AF_INET6, 1, NT_FAIL_NOT_ALLOWED},
	    {AF_INET6, 3, NT_FAIL_HOST_UNREACH}, {AF_INET6, 4, NT_FAIL_REFUSED},
	};
	uint8_t syn[MTU], pkt[2 * MTU];
	struct nt_flow_stats s;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nt_flow *f;
		size_t syn_len, n;

		memset(&rec, 0, sizeof(rec));
		peer_reset(cases[i].family);
		assert_int_equal(
		    nt_flow_tcp_connect(cases[i].family, peer.their, 443, &rec_ops, NULL, &f), 0);
		assert_int_equal(outq.n, 1);
		syn_len = outq.len[0];
		memcpy(syn, outq.pkt[0], syn_len);
		peer_pump();
		/* IPv4 routers quote the header and 8 bytes; IPv6 ones more. */
		n = build_unreach(pkt, cases[i].family, cases[i].code, syn,
				  cases[i].family == AF_INET ? 28 : syn_len);
		assert_int_equal(nt_flow_handle_icmp_error(pkt, n), 1);
		assert_int_equal(rec.n[NT_FLOW_ERROR], 1);
		assert_int_equal(nt_flow_error(f), cases[i].fail);
		nt_flow_close(f);
		peer_pump();
	}
	nt_flow_get_stats(&s);
	assert_int_equal(s.icmp_matched, 10);
	assert_int_equal(s.failures[NT_FAIL_NOT_ALLOWED], 4);
}

static void test_icmp_error_fails_connected_flow(void **state)
{
	uint8_t pkt[2 * MTU], quote[MTU];
	struct nt_flow *f;
	size_t n;

	(void)state;
	f = open_flow(AF_INET);
	assert_int_equal(nt_flow_write(f, (const uint8_t *)"abc", 3), 0);
	assert_int_equal(outq.n, 1);
	memcpy(quote, outq.pkt[0], 28);
	outq.n = 0;
	n = build_unreach(pkt, AF_INET, 13, quote, 28);
	assert_int_equal(nt_flow_handle_icmp_error(pkt, n), 1);
	assert_int_equal(nt_flow_error(f), NT_FAIL_NOT_ALLOWED);
	nt_flow_close(f);
}

/* The SYN quoted with an 8-byte IPv6 extension header of type `type` in
 * front of TCP (a fragment header gets `frag_off`, M set): what a router
 * quotes of a datagram that carried one. */
static size_t quote_with_ext(uint8_t *q, const uint8_t *syn, size_t syn_len, uint8_t type,
			     uint16_t frag_off)
{
	memcpy(q, syn, 40);
	memset(q + 40, 0, 8);
	q[40] = syn[6]; /* next header: what followed the fixed header */
	if (type == 44)
		wr16(q + 42, (uint16_t)(frag_off << 3 | 1));
	q[6] = type;
	wr16(q + 4, (uint16_t)(syn_len - 40 + 8));
	memcpy(q + 48, syn + 40, syn_len - 40);
	return syn_len + 8;
}

static void test_icmpv6_error_quoting_extension_headers_fails_flow(void **state)
{
	static const struct {
		uint8_t type;
		uint16_t frag_off;
		bool ours;
	} cases[] = {
	    {60, 0, true},   /* destination options */
	    {0, 0, true},    /* hop-by-hop options */
	    {44, 0, true},   /* the first fragment: the ports are in it */
	    {44, 185, false} /* a later fragment: no ports to match */
	};
	uint8_t syn[MTU], q[MTU + 8], pkt[2 * MTU];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nt_flow *f;
		size_t syn_len, n;

		memset(&rec, 0, sizeof(rec));
		peer_reset(AF_INET6);
		assert_int_equal(nt_flow_tcp_connect(AF_INET6, peer.their, 443, &rec_ops, NULL, &f),
				 0);
		assert_int_equal(outq.n, 1);
		syn_len = outq.len[0];
		memcpy(syn, outq.pkt[0], syn_len);
		peer_pump();
		n = quote_with_ext(q, syn, syn_len, cases[i].type, cases[i].frag_off);
		n = build_unreach(pkt, AF_INET6, 4, q, n);
		assert_int_equal(nt_flow_handle_icmp_error(pkt, n), cases[i].ours ? 1 : 0);
		assert_int_equal(nt_flow_error(f), cases[i].ours ? NT_FAIL_REFUSED : NT_FAIL_NONE);
		nt_flow_close(f);
		peer_pump();
	}
}

static void test_malformed_icmp_errors_are_ignored(void **state)
{
	uint8_t syn[MTU], q[MTU], pkt[2 * MTU];
	struct nt_flow_stats s;
	struct nt_flow *f;
	size_t n;

	(void)state;
	peer_reset(AF_INET);
	assert_int_equal(nt_flow_tcp_connect(AF_INET, peer.their, 443, &rec_ops, NULL, &f), 0);
	assert_int_equal(outq.n, 1);
	memcpy(syn, outq.pkt[0], outq.len[0]);
	outq.n = 0;

	/* Not an error at all, or a code that fails nothing (frag needed). */
	assert_int_equal(nt_flow_handle_icmp_error(syn, 40), 0);
	n = build_unreach(pkt, AF_INET, 4, syn, 28);
	assert_int_equal(nt_flow_handle_icmp_error(pkt, n), 0);
	/* A quote cut short of the ports and sequence number. */
	n = build_unreach(pkt, AF_INET, 1, syn, 24);
	assert_int_equal(nt_flow_handle_icmp_error(pkt, n), 0);
	/* The packet itself is shorter than its IP header says. */
	n = build_unreach(pkt, AF_INET, 1, syn, 28);
	assert_int_equal(nt_flow_handle_icmp_error(pkt, n - 1), 0);
	assert_int_equal(nt_flow_handle_icmp_error(pkt, 21), 0);
	/* A bad ICMP checksum. */
	pkt[22] ^= 0x55;
	assert_int_equal(nt_flow_handle_icmp_error(pkt, n), 0);
	/* A quote of a packet we did not send: another source, another port,
	 * a sequence number outside what is in flight. */
	memcpy(q, syn, 28);
	q[15] ^= 1;
	n = build_unreach(pkt, AF_INET, 1, q, 28);
	assert_int_equal(nt_flow_handle_icmp_error(pkt, n), 0);
	memcpy(q, syn, 28);
	q[20] ^= 1;
	n = build_unreach(pkt, AF_INET, 1, q, 28);
	assert_int_equal(nt_flow_handle_icmp_error(pkt, n), 0);
	memcpy(q, syn, 28);
	q[24] ^= 0x80;
	n = build_unreach(pkt, AF_INET, 1, q, 28);
	assert_int_equal(nt_flow_handle_icmp_error(pkt, n), 0);
	/* A quoted header with a bad version, or an IHL past the quote. */
	memcpy(q, syn, 28);
	q[0] = 0x55;
	n = build_unreach(pkt, AF_INET, 1, q, 28);
	assert_int_equal(nt_flow_handle_icmp_error(pkt, n), 0);
	memcpy(q, syn, 28);
	q[0] = 0x4f;
	n = build_unreach(pkt, AF_INET, 1, q, 28);
	assert_int_equal(nt_flow_handle_icmp_error(pkt, n), 0);
	/* IPv6: payload length beyond the packet. */
	n = build_unreach(pkt, AF_INET6, 1, syn, 28); /* quotes a v4 header: malformed */
	assert_int_equal(nt_flow_handle_icmp_error(pkt, n), 0);
	wr16(pkt + 4, 2000);
	assert_int_equal(nt_flow_handle_icmp_error(pkt, n), 0);

	assert_int_equal(rec.n[NT_FLOW_ERROR], 0);
	assert_int_equal(nt_flow_error(f), NT_FAIL_NONE);
	nt_flow_get_stats(&s);
	assert_int_equal(s.icmp_matched, 0);
	assert_true(s.icmp_malformed >= 7);
	assert_true(s.icmp_unmatched >= 3);

	/* The real thing still works. */
	n = build_unreach(pkt, AF_INET, 1, syn, 28);
	assert_int_equal(nt_flow_handle_icmp_error(pkt, n), 1);
	assert_int_equal(nt_flow_error(f), NT_FAIL_HOST_UNREACH);
	nt_flow_close(f);
}

static void test_icmp_parser_survives_noise(void **state)
{
	uint8_t pkt[256];
	struct nt_icmp_err e;
	uint32_t x = 0x12345678;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		size_t len;

		for (size_t j = 0; j < sizeof(pkt); j++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			pkt[j] = (uint8_t)x;
		}
		len = x % sizeof(pkt);
		if (i & 1) {
			pkt[0] = 0x45;
			pkt[9] = 1;
			pkt[20] = 3;
			pkt[21] = 1;
		} else {
			pkt[0] = 0x60;
			pkt[6] = 58;
			pkt[40] = 1;
			pkt[41] = 0;
		}
		int rc = nt_icmp_err_parse(pkt, len, &e);

		assert_true(rc <= 0); /* checksums make a random hit unlikely */
		(void)nt_flow_handle_icmp_error(pkt, len);
	}
}

/* ---- tests: UDP ---- */

static struct {
	unsigned recvs, errors;
	int family;
	uint8_t addr[16];
	uint16_t port;
	uint8_t data[64];
	size_t len;
	enum nt_fail why;
	bool close_in_cb;
} urec;

static void on_udp_recv(void *arg, struct nt_flow_udp *u, int family, const uint8_t *addr,
			uint16_t port, const uint8_t *buf, size_t len)
{
	(void)arg;
	urec.recvs++;
	urec.family = family;
	memcpy(urec.addr, addr, family == AF_INET ? 4 : 16);
	urec.port = port;
	urec.len = len < sizeof(urec.data) ? len : sizeof(urec.data);
	memcpy(urec.data, buf, urec.len);
	if (urec.close_in_cb)
		nt_flow_udp_close(u);
}

static void on_udp_error(void *arg, struct nt_flow_udp *u, int family, const uint8_t *addr,
			 uint16_t port, enum nt_fail why)
{
	(void)arg;
	(void)u;
	urec.errors++;
	urec.family = family;
	memcpy(urec.addr, addr, family == AF_INET ? 4 : 16);
	urec.port = port;
	urec.why = why;
}

static const struct nt_flow_udp_ops udp_ops = {.recv = on_udp_recv, .error = on_udp_error};

static void test_udp_sendto_recv_and_port_unreachable(void **state)
{
	uint8_t peer4[4], our4[4], peer6[16], our6[16], l4[64], pkt[2 * MTU], sent[MTU];
	struct nt_flow_stats s;
	struct nt_flow_udp *u;
	size_t n, sent_len;
	uint16_t port;

	(void)state;
	memset(&urec, 0, sizeof(urec));
	addr_of(AF_INET, PEER4, peer4);
	addr_of(AF_INET, OUR4, our4);
	addr_of(AF_INET6, PEER6, peer6);
	addr_of(AF_INET6, OUR6, our6);
	assert_int_equal(nt_flow_udp_open(&udp_ops, NULL, &u), 0);
	port = nt_flow_udp_port(u);
	assert_true(port != 0);

	assert_int_equal(nt_flow_udp_sendto(u, AF_INET, peer4, 53, (const uint8_t *)"query", 5), 0);
	assert_int_equal(outq.n, 1);
	sent_len = outq.len[0];
	memcpy(sent, outq.pkt[0], sent_len);
	outq.n = 0;
	assert_int_equal(sent[9], 17);
	assert_memory_equal(sent + 12, our4, 4);
	assert_memory_equal(sent + 16, peer4, 4);
	assert_int_equal(rd16(sent + 20), port);
	assert_int_equal(rd16(sent + 22), 53);
	assert_memory_equal(sent + 28, "query", 5);

	/* The answer. */
	wr16(l4, 53);
	wr16(l4 + 2, port);
	wr16(l4 + 4, 8 + 6);
	memcpy(l4 + 8, "answer", 6);
	n = build_ip(pkt, AF_INET, peer4, our4, 17, l4, 14, 6);
	assert_int_equal(nt_stack_input(pkt, n), 0);
	assert_int_equal(urec.recvs, 1);
	assert_int_equal(urec.family, AF_INET);
	assert_memory_equal(urec.addr, peer4, 4);
	assert_int_equal(urec.port, 53);
	assert_int_equal(urec.len, 6);
	assert_memory_equal(urec.data, "answer", 6);

	/* The port was closed: an ICMP error reaches the socket, which stays. */
	n = build_unreach(pkt, AF_INET, 3, sent, 28);
	assert_int_equal(nt_flow_handle_icmp_error(pkt, n), 1);
	assert_int_equal(urec.errors, 1);
	assert_int_equal(urec.why, NT_FAIL_REFUSED);
	assert_memory_equal(urec.addr, peer4, 4);
	assert_int_equal(urec.port, 53);

	/* IPv6 from the same socket. */
	assert_int_equal(nt_flow_udp_sendto(u, AF_INET6, peer6, 5353, (const uint8_t *)"q6", 2), 0);
	assert_int_equal(outq.n, 1);
	assert_int_equal(outq.pkt[0][6], 17);
	assert_memory_equal(outq.pkt[0] + 8, our6, 16);
	outq.n = 0;
	wr16(l4, 5353);
	wr16(l4 + 2, port);
	wr16(l4 + 4, 8 + 2);
	memcpy(l4 + 8, "a6", 2);
	n = build_ip(pkt, AF_INET6, peer6, our6, 17, l4, 10, 6);
	urec.close_in_cb = true; /* closing from its own callback is safe */
	assert_int_equal(nt_stack_input(pkt, n), 0);
	assert_int_equal(urec.recvs, 2);
	assert_int_equal(urec.family, AF_INET6);
	assert_memory_equal(urec.addr, peer6, 16);

	nt_flow_get_stats(&s);
	assert_int_equal(s.udp_tx, 2);
	assert_int_equal(s.udp_rx, 2);
	assert_int_equal(s.udp_open, 0);
}

static void test_udp_rejects_oversize(void **state)
{
	static uint8_t big[70000];
	uint8_t peer4[4];
	struct nt_flow_stats s;
	struct nt_flow_udp *u;

	(void)state;
	addr_of(AF_INET, PEER4, peer4);
	assert_int_equal(nt_flow_udp_open(&udp_ops, NULL, &u), 0);
	assert_int_equal(nt_flow_udp_sendto(u, AF_INET, peer4, 9, big, sizeof(big)), -EMSGSIZE);
	assert_int_equal(nt_flow_udp_sendto(u, AF_UNIX, peer4, 9, big, 1), -EAFNOSUPPORT);
	nt_flow_get_stats(&s);
	assert_int_equal(s.udp_tx_errors, 2);
	nt_flow_udp_close(u);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_connect_sends_syn_and_synack_connects),
	    T(test_connect_v6_connects),
	    T(test_connect_rejects_bad_family),
	    T(test_rst_before_connect_fails_refused),
	    T(test_fail_sends_rst_and_reports_reason),
	    T(test_rst_after_connect_is_an_error),
	    T(test_data_in_is_readable_and_read_to_fd_delivers_it),
	    T(test_receive_window_opens_only_after_socket_takes_bytes),
	    T(test_fin_gives_eof_after_data_read),
	    T(test_fin_on_empty_queue_gives_eof_at_once),
	    T(test_write_from_fd_sends_segments_with_data),
	    T(test_small_writes_are_copied_and_sent),
	    T(test_send_cap_gives_enobufs_then_writable_after_ack),
	    T(test_global_cap_blocks_and_wakes_other_flows),
	    T(test_recv_total_cap_drops_data_until_owners_read),
	    T(test_recv_total_cap_still_takes_acks_for_our_data),
	    T(test_idle_connected_flow_holds_no_send_chunks),
	    T(test_close_lingers_until_data_is_acknowledged),
	    T(test_active_close_leaves_time_wait_to_lwip),
	    T(test_close_with_unread_data_resets),
	    T(test_owner_may_abort_from_connected_handler),
	    T(test_events_without_owner_are_dropped_state_is_kept),
	    T(test_owner_may_close_from_its_event_handler),
	    T(test_icmp_errors_fail_flow_with_reason),
	    T(test_icmp_error_fails_connected_flow),
	    T(test_icmpv6_error_quoting_extension_headers_fails_flow),
	    T(test_malformed_icmp_errors_are_ignored),
	    T(test_icmp_parser_survives_noise),
	    T(test_udp_sendto_recv_and_port_unreachable),
	    T(test_udp_rejects_oversize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
