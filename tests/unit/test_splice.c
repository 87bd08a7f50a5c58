// SPDX-License-Identifier: MIT
/* netstack/splice: a client socket joined to a TCP flow in lwIP (whose remote
 * end this test plays by hand, packet by packet: tcp_peer.h) or to another
 * socket.
 *
 * The sockets are loopback TCP pairs (so that resets are real resets); the
 * flow's addresses (100.64.0.0/10) exist only inside this process.
 */
#include "netstack/splice.h"

#include "netstack/flow.h"
#include "netstack/stack.h"
#include "platform/clock.h"
#include "platform/loop.h"
#include "tests/unit/tcp_peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define SEG    1380
#define BIG    (4u << 20)
#define RUN_MS 10000

/* Two different byte patterns, one per direction. */
static uint8_t up_byte(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 13));
}

static uint8_t down_byte(size_t i)
{
	return (uint8_t)(i * 13 + 5 + (i >> 9));
}

/* Pattern bytes the peer sent toward the client. */
static size_t down_sent;

/* Sends pattern bytes toward the client, within lwIP's window. */
static void peer_send_down(size_t total, unsigned max_segs)
{
	uint8_t buf[SEG];

	for (unsigned i = 0; i < max_segs && down_sent < total; i++) {
		size_t n = total - down_sent < SEG ? total - down_sent : SEG;

		if ((uint32_t)(peer.snd_nxt - peer.lw_ack) + n > peer.lw_wnd)
			break;
		for (size_t j = 0; j < n; j++)
			buf[j] = down_byte(down_sent + j);
		peer_send(F_ACK | F_PSH, buf, n);
		down_sent += n;
	}
}

/* The counters since the test began (they are process-wide). */
static struct nt_splice_stats base;

static struct nt_splice_stats splice_stats(void)
{
	struct nt_splice_stats s;

	nt_splice_get_stats(&s);
	s.started -= base.started;
	s.bytes_up -= base.bytes_up;
	s.bytes_down -= base.bytes_down;
	s.closed_normal -= base.closed_normal;
	s.closed_client_err -= base.closed_client_err;
	s.closed_remote_err -= base.closed_remote_err;
	s.closed_client_gone -= base.closed_client_gone;
	s.closed_remote_gone -= base.closed_remote_gone;
	s.closed_nomem -= base.closed_nomem;
	s.closed_shutdown -= base.closed_shutdown;
	return s;
}

/* ---- fixtures ---- */

static struct nt_loop *loop;

static void on_event(void *arg, struct nt_flow *f, enum nt_flow_event ev)
{
	(void)arg;
	(void)f;
	(void)ev;
}

static const struct nt_flow_ops quiet_ops = {.event = on_event};

static int setup(void **state)
{
	(void)state;
	loop = peer_stack_up(false);
	down_sent = 0;
	nt_splice_get_stats(&base);
	return 0;
}

static int teardown(void **state)
{
	struct nt_splice_stats ss;
	struct nt_flow_stats fs;

	(void)state;
	nt_splice_get_stats(&ss);
	nt_splice_close_all();
	nt_flow_get_stats(&fs);
	peer_stack_down(loop);
	loop = NULL;
	/* Each test ends its splices itself. */
	assert_int_equal(ss.active, 0);
	assert_int_equal(fs.tcp_open, 0);
	assert_int_equal(fs.mem_send, 0);
	assert_int_equal(fs.mem_recv, 0);
	return 0;
}

/* A connected loopback TCP pair, both ends non-blocking. */
static void tcp_pair(int *a, int *b)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(l >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &len), 0);
	*a = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(*a >= 0);
	assert_true(connect(*a, (struct sockaddr *)&sin, sizeof(sin)) == 0 || errno == EINPROGRESS);
	*b = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	assert_true(*b >= 0);
	close(l);
}

/* Client a and server d, each joined to one end of a splice; pending (len
 * bytes, or NULL) reaches the server first. */
static void start_fd_splice(int *a, int *d, const char *pending, size_t len)
{
	int b, c;

	tcp_pair(a, &b);
	tcp_pair(&c, d);
	assert_int_equal(nt_splice_start_fd(loop, b, c, (const uint8_t *)pending, len), 0);
}

static void reset_close(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
}

static struct nt_flow *open_flow(void)
{
	struct nt_flow *f;

	peer_reset(AF_INET);
	down_sent = 0;
	assert_int_equal(nt_flow_tcp_connect(AF_INET, peer.their, 443, &quiet_ops, NULL, &f), 0);
	peer_pump();
	assert_int_equal(peer.syns, 1);
	peer_send(F_SYN | F_ACK, NULL, 0);
	assert_true(nt_flow_connected(f));
	peer_pump();
	return f;
}

static void step(void)
{
	assert_true(nt_loop_run_once(loop, 1) >= 0);
	peer_pump();
}

static uint64_t deadline(uint64_t ms)
{
	return nt_clock_mono_ns() + ms * NT_NS_PER_MS;
}

/* Reads what is there; returns bytes, 0 at EOF, -errno (-EAGAIN: nothing). */
static ssize_t try_read(int fd, uint8_t *buf, size_t len)
{
	ssize_t n = read(fd, buf, len);

	return n < 0 ? -errno : n;
}

/* Steps until fd reads EOF or an error, at most ms; returns that result. */
static ssize_t wait_end(int fd, uint64_t ms)
{
	uint64_t end = deadline(ms);
	uint8_t buf[4096];
	ssize_t n = -EAGAIN;

	for (int i = 0; i < 100000 && nt_clock_mono_ns() < end; i++) {
		n = try_read(fd, buf, sizeof(buf));
		if (n <= 0 && n != -EAGAIN)
			return n;
		step();
	}
	return n;
}

/* ---- flow-backed ---- */

static void test_flow_splice_moves_4mib_each_way_intact(void **state)
{
	static uint8_t wbuf[256 * 1024], rbuf[256 * 1024];
	size_t up = 0, down = 0;
	uint64_t end;
	int a, b;

	(void)state;
	tcp_pair(&a, &b);
	assert_int_equal(nt_splice_start_flow(loop, b, open_flow(), NULL, 0), 0);
	assert_int_equal(splice_stats().active, 1);

	end = deadline(RUN_MS);
	for (int i = 0; i < 200000 && (peer.sink_len < BIG || down < BIG); i++) {
		ssize_t n;

		assert_true(nt_clock_mono_ns() < end);
		if (up < BIG) {
			size_t len = BIG - up < sizeof(wbuf) ? BIG - up : sizeof(wbuf);

			for (size_t j = 0; j < len; j++)
				wbuf[j] = up_byte(up + j);
			n = write(a, wbuf, len);
			if (n > 0)
				up += (size_t)n;
		}
		n = try_read(a, rbuf, sizeof(rbuf));
		assert_true(n > 0 || n == -EAGAIN);
		for (ssize_t j = 0; j < n; j++)
			assert_int_equal(rbuf[j], down_byte(down + (size_t)j));
		if (n > 0)
			down += (size_t)n;
		peer_send_down(BIG, 64);
		step();
	}
	assert_int_equal(peer.sink_len, BIG);
	for (size_t j = 0; j < BIG; j++)
		if (peer.sink[j] != up_byte(j))
			fail_msg("byte %zu differs", j);
	assert_int_equal(down, BIG);

	/* Half-closes, one way then the other: the splice ends normally. */
	shutdown(a, SHUT_WR);
	for (int i = 0; i < 1000 && peer.fins == 0; i++)
		step();
	assert_int_equal(peer.fins, 1);
	assert_int_equal(splice_stats().active, 1);
	peer_send(F_ACK | F_FIN, NULL, 0);
	assert_int_equal(wait_end(a, 1000), 0);
	assert_int_equal(splice_stats().active, 0);
	assert_int_equal(splice_stats().closed_normal, 1);
	assert_int_equal(splice_stats().bytes_up, BIG);
	assert_int_equal(splice_stats().bytes_down, BIG);
	assert_int_equal(peer.rsts, 0);
	close(a);
}

static void test_flow_splice_sends_pending_bytes_first(void **state)
{
	int a, b;

	(void)state;
	tcp_pair(&a, &b);
	assert_int_equal(write(a, "after", 5), 5);
	assert_int_equal(nt_splice_start_flow(loop, b, open_flow(), (const uint8_t *)"PENDING ", 8),
			 0);
	for (int i = 0; i < 1000 && peer.sink_len < 13; i++)
		step();
	assert_int_equal(peer.sink_len, 13);
	assert_memory_equal(peer.sink, "PENDING after", 13);
	reset_close(a);
	for (int i = 0; i < 1000 && splice_stats().active; i++)
		step();
	assert_int_equal(splice_stats().closed_client_err, 1);
	assert_int_equal(peer.rsts, 1); /* the client's reset reached the remote */
}

static void test_flow_splice_half_close_from_client_keeps_data_flowing_down(void **state)
{
	uint8_t buf[64];
	size_t got = 0;
	int a, b;

	(void)state;
	tcp_pair(&a, &b);
	assert_int_equal(nt_splice_start_flow(loop, b, open_flow(), NULL, 0), 0);
	assert_int_equal(write(a, "request", 7), 7);
	shutdown(a, SHUT_WR);
	for (int i = 0; i < 1000 && peer.fins == 0; i++)
		step();
	assert_int_equal(peer.sink_len, 7);
	assert_int_equal(peer.fins, 1);

	/* The remote answers after the client's FIN, then closes. */
	peer_send(F_ACK | F_PSH, "response", 8);
	peer_send(F_ACK | F_FIN, NULL, 0);
	for (int i = 0; i < 1000 && got < 8; i++) {
		ssize_t n = try_read(a, buf + got, sizeof(buf) - got);

		if (n > 0)
			got += (size_t)n;
		step();
	}
	assert_int_equal(got, 8);
	assert_memory_equal(buf, "response", 8);
	assert_int_equal(wait_end(a, 1000), 0);
	assert_int_equal(splice_stats().closed_normal, 1);
	assert_int_equal(splice_stats().active, 0);
	close(a);
}

static void test_flow_splice_half_close_from_remote_keeps_data_flowing_up(void **state)
{
	uint8_t buf[64];
	int a, b;

	(void)state;
	tcp_pair(&a, &b);
	assert_int_equal(nt_splice_start_flow(loop, b, open_flow(), NULL, 0), 0);
	peer_send(F_ACK | F_PSH, "hello", 5);
	peer_send(F_ACK | F_FIN, NULL, 0);
	for (int i = 0; i < 100; i++)
		step();
	assert_int_equal(try_read(a, buf, sizeof(buf)), 5);
	assert_int_equal(try_read(a, buf, sizeof(buf)), 0); /* EOF, after the data */
	assert_int_equal(splice_stats().active, 1);

	/* The client still talks, then closes its side. */
	assert_int_equal(write(a, "still here", 10), 10);
	for (int i = 0; i < 1000 && peer.sink_len < 10; i++)
		step();
	assert_memory_equal(peer.sink, "still here", 10);
	shutdown(a, SHUT_WR);
	for (int i = 0; i < 1000 && splice_stats().active; i++)
		step();
	assert_int_equal(peer.fins, 1);
	assert_int_equal(splice_stats().closed_normal, 1);
	close(a);
}

static void test_flow_splice_remote_reset_resets_client(void **state)
{
	int a, b;

	(void)state;
	tcp_pair(&a, &b);
	assert_int_equal(nt_splice_start_flow(loop, b, open_flow(), NULL, 0), 0);
	step();
	peer_send(F_ACK | F_RST, NULL, 0);
	assert_int_equal(wait_end(a, 1000), -ECONNRESET);
	assert_int_equal(splice_stats().closed_remote_err, 1);
	assert_int_equal(splice_stats().active, 0);
	close(a);
}

static void test_flow_splice_client_reset_resets_remote(void **state)
{
	int a, b;

	(void)state;
	tcp_pair(&a, &b);
	assert_int_equal(nt_splice_start_flow(loop, b, open_flow(), NULL, 0), 0);
	step();
	reset_close(a);
	for (int i = 0; i < 1000 && peer.rsts == 0; i++)
		step();
	assert_int_equal(peer.rsts, 1);
	assert_int_equal(splice_stats().closed_client_err, 1);
}

static void test_flow_splice_delivers_what_came_before_it_started(void **state)
{
	struct nt_flow *f;
	uint8_t buf[64];
	int a, b;

	(void)state;
	tcp_pair(&a, &b);
	f = open_flow();
	/* While the proxy was still answering its client: data, then FIN. */
	peer_send(F_ACK | F_PSH, "early", 5);
	peer_send(F_ACK | F_FIN, NULL, 0);
	assert_int_equal(nt_splice_start_flow(loop, b, f, NULL, 0), 0);
	for (int i = 0; i < 10; i++)
		step();
	assert_int_equal(try_read(a, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "early", 5);
	assert_int_equal(try_read(a, buf, sizeof(buf)), 0);
	shutdown(a, SHUT_WR);
	for (int i = 0; i < 1000 && splice_stats().active; i++)
		step();
	assert_int_equal(splice_stats().closed_normal, 1);
	close(a);
}

static void test_flow_splice_of_a_dead_flow_resets_client(void **state)
{
	struct nt_flow *f;
	int a, b;

	(void)state;
	tcp_pair(&a, &b);
	f = open_flow();
	peer_send(F_ACK | F_RST, NULL, 0);
	assert_int_equal(nt_flow_error(f), NT_FAIL_REFUSED);
	assert_int_equal(nt_splice_start_flow(loop, b, f, NULL, 0), 0);
	assert_int_equal(wait_end(a, 1000), -ECONNRESET);
	assert_int_equal(splice_stats().closed_remote_err, 1);
	close(a);
}

static void test_flow_splice_client_gone_closes_flow(void **state)
{
	int a, b;

	(void)state;
	tcp_pair(&a, &b);
	assert_int_equal(nt_splice_start_flow(loop, b, open_flow(), NULL, 0), 0);
	/* What the proxy does to let go of a flow it could not hand over:
	 * the client socket is shut both ways before the splice sees it. */
	shutdown(b, SHUT_RDWR);
	for (int i = 0; i < 1000 && splice_stats().active; i++)
		step();
	assert_int_equal(splice_stats().active, 0);
	assert_int_equal(splice_stats().closed_client_gone, 1);
	assert_int_equal(peer.fins, 1); /* closed, not reset */
	assert_int_equal(peer.rsts, 0);
	close(a);
}

/* ---- socket to socket ---- */

static void test_fd_splice_moves_4mib_each_way_intact_pending_first(void **state)
{
	static uint8_t wbuf[256 * 1024], rbuf[256 * 1024];
	size_t up = 0, down = 0, up_got = 0, down_got = 0;
	const char *pend = "PENDING";
	uint64_t end;
	int a, d;

	(void)state;
	start_fd_splice(&a, &d, pend, 7);

	end = deadline(RUN_MS);
	for (int i = 0; i < 200000 && (up_got < 7 + BIG || down_got < BIG); i++) {
		ssize_t n;

		assert_true(nt_clock_mono_ns() < end);
		if (up < BIG) {
			size_t len = BIG - up < sizeof(wbuf) ? BIG - up : sizeof(wbuf);

			for (size_t j = 0; j < len; j++)
				wbuf[j] = up_byte(up + j);
			n = write(a, wbuf, len);
			if (n > 0)
				up += (size_t)n;
		}
		if (down < BIG) {
			size_t len = BIG - down < sizeof(wbuf) ? BIG - down : sizeof(wbuf);

			for (size_t j = 0; j < len; j++)
				wbuf[j] = down_byte(down + j);
			n = write(d, wbuf, len);
			if (n > 0)
				down += (size_t)n;
		}
		n = try_read(d, rbuf, sizeof(rbuf));
		assert_true(n > 0 || n == -EAGAIN);
		for (ssize_t j = 0; j < n; j++) {
			size_t at = up_got + (size_t)j;

			if (at < 7)
				assert_int_equal(rbuf[j], (uint8_t)pend[at]);
			else if (rbuf[j] != up_byte(at - 7))
				fail_msg("up byte %zu differs", at);
		}
		if (n > 0)
			up_got += (size_t)n;
		n = try_read(a, rbuf, sizeof(rbuf));
		assert_true(n > 0 || n == -EAGAIN);
		for (ssize_t j = 0; j < n; j++)
			if (rbuf[j] != down_byte(down_got + (size_t)j))
				fail_msg("down byte %zu differs", down_got + (size_t)j);
		if (n > 0)
			down_got += (size_t)n;
		assert_true(nt_loop_run_once(loop, 1) >= 0);
	}
	assert_int_equal(up_got, 7 + BIG);
	assert_int_equal(down_got, BIG);

	shutdown(a, SHUT_WR);
	assert_int_equal(wait_end(d, 1000), 0);
	assert_int_equal(splice_stats().active, 1);
	shutdown(d, SHUT_WR);
	assert_int_equal(wait_end(a, 1000), 0);
	for (int i = 0; i < 100 && splice_stats().active; i++)
		step();
	assert_int_equal(splice_stats().active, 0);
	assert_int_equal(splice_stats().closed_normal, 1);
	assert_int_equal(splice_stats().bytes_up, 7 + BIG);
	assert_int_equal(splice_stats().bytes_down, BIG);
	close(a);
	close(d);
}

static void test_fd_splice_half_close_keeps_other_direction(void **state)
{
	uint8_t buf[64];
	int a, d;

	(void)state;
	start_fd_splice(&a, &d, NULL, 0);
	/* The server closes its side first; the client keeps sending. */
	assert_int_equal(write(d, "bye", 3), 3);
	shutdown(d, SHUT_WR);
	for (int i = 0; i < 100; i++)
		step();
	assert_int_equal(try_read(a, buf, sizeof(buf)), 3);
	assert_int_equal(try_read(a, buf, sizeof(buf)), 0);
	assert_int_equal(write(a, "more", 4), 4);
	for (int i = 0; i < 100; i++)
		step();
	assert_int_equal(try_read(d, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "more", 4);
	assert_int_equal(splice_stats().active, 1);
	shutdown(a, SHUT_WR);
	assert_int_equal(wait_end(d, 1000), 0);
	for (int i = 0; i < 100 && splice_stats().active; i++)
		step();
	assert_int_equal(splice_stats().closed_normal, 1);
	close(a);
	close(d);
}

static void test_fd_splice_resets_propagate_both_ways(void **state)
{
	int a, d;

	(void)state;
	/* The server resets: the client sees a reset. */
	start_fd_splice(&a, &d, NULL, 0);
	step();
	reset_close(d);
	assert_int_equal(wait_end(a, 1000), -ECONNRESET);
	assert_int_equal(splice_stats().closed_remote_err, 1);
	close(a);

	/* The client resets: the server sees a reset. */
	start_fd_splice(&a, &d, NULL, 0);
	step();
	reset_close(a);
	assert_int_equal(wait_end(d, 1000), -ECONNRESET);
	assert_int_equal(splice_stats().closed_client_err, 1);
	assert_int_equal(splice_stats().active, 0);
	close(d);
}

static void test_fd_splice_idle_holds_no_buffer_and_close_all_resets(void **state)
{
	uint8_t buf[8];
	int a, d;

	(void)state;
	start_fd_splice(&a, &d, NULL, 0);
	assert_int_equal(write(a, "x", 1), 1);
	for (int i = 0; i < 20; i++)
		step();
	assert_int_equal(try_read(d, buf, sizeof(buf)), 1);
	nt_splice_close_all();
	assert_int_equal(splice_stats().closed_shutdown, 1);
	assert_int_equal(wait_end(a, 1000), -ECONNRESET);
	assert_int_equal(wait_end(d, 1000), -ECONNRESET);
	close(a);
	close(d);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_flow_splice_moves_4mib_each_way_intact),
	    T(test_flow_splice_sends_pending_bytes_first),
	    T(test_flow_splice_half_close_from_client_keeps_data_flowing_down),
	    T(test_flow_splice_half_close_from_remote_keeps_data_flowing_up),
	    T(test_flow_splice_remote_reset_resets_client),
	    T(test_flow_splice_client_reset_resets_remote),
	    T(test_flow_splice_delivers_what_came_before_it_started),
	    T(test_flow_splice_of_a_dead_flow_resets_client),
	    T(test_flow_splice_client_gone_closes_flow),
	    T(test_fd_splice_moves_4mib_each_way_intact_pending_first),
	    T(test_fd_splice_half_close_keeps_other_direction),
	    T(test_fd_splice_resets_propagate_both_ways),
	    T(test_fd_splice_idle_holds_no_buffer_and_close_all_resets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
