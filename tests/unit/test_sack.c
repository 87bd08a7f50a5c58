// SPDX-License-Identifier: MIT
/* lwIP's loss recovery from SACK information (third_party/
 * lwip-sack-recovery.patch), against a remote end played by hand
 * (tcp_peer.h): it takes what lwIP sends, loses the segments a test picks
 * and acknowledges the rest with SACK blocks, as a Linux receiver would.
 *
 * No test runs the loop: lwIP's timers never fire, so every retransmission
 * seen here comes from processing an ACK, never from the retransmission
 * timer; the tail-loss probe tests call the fast timer themselves. Every
 * byte lwIP sends is checked against the stream at its sequence number.
 *
 * The addresses (100.64.0.0/10) exist only inside this process.
 */
#include "netstack/flow.h"
#include "netstack/stack.h"
#include "platform/log.h"
#include "platform/loop.h"

#include "tests/unit/tcp_peer.h"

#include "lwip/ip_addr.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define SEG_MAX	 4096
#define SEG_DATA 1368	       /* MSS 1380 less the timestamp option */
#define UPLOAD	 (400u * 1024) /* queued at once: more than any window here */

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 31 + (i >> 11));
}

/* ---- what lwIP sent ---- */

static struct {
	uint32_t iss1;			     /* lwIP's first data byte */
	uint32_t seq[SEG_MAX], len[SEG_MAX]; /* first transmissions, in order */
	size_t n;
	uint32_t next; /* end of the data sent so far */
	/* The last collect(): */
	size_t fresh;				   /* first transmissions */
	uint32_t rex[OUTQ_MAX], rex_len[OUTQ_MAX]; /* retransmissions */
	size_t nrex;
} tx;

static int32_t seq_diff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

static uint32_t seg_end(size_t i)
{
	return tx.seq[i] + tx.len[i];
}

/* Reads what lwIP sent since the last call: each data segment is a first
 * transmission (at the end of the data sent so far) or a retransmission of
 * data sent before, and carries the stream's bytes. */
static void collect(void)
{
	tx.fresh = 0;
	tx.nrex = 0;
	assert_int_equal(outq.dropped, 0);
	for (size_t i = 0; i < outq.n; i++) {
		const uint8_t *tcp = outq.pkt[i] + 20;
		size_t doff = (size_t)(tcp[12] >> 4) * 4;
		size_t dlen = outq.len[i] - 20 - doff;
		uint32_t seq = rd32(tcp + 4), tsval = peer_tsval_of(tcp, doff);

		assert_int_equal(outq.pkt[i][9], 6);
		assert_int_equal(tcp[13] & (F_SYN | F_RST), 0);
		if (tsval)
			peer.ts_ecr = tsval; /* echoed from now on */
		if (dlen == 0)
			continue;
		for (size_t j = 0; j < dlen; j++)
			assert_int_equal(tcp[doff + j], pattern(seq - tx.iss1 + j));
		if (seq == tx.next) {
			assert_true(tx.n < SEG_MAX);
			tx.seq[tx.n] = seq;
			tx.len[tx.n++] = (uint32_t)dlen;
			tx.next += (uint32_t)dlen;
			tx.fresh++;
		} else {
			assert_true(seq_diff(seq + (uint32_t)dlen, tx.next) <= 0);
			tx.rex[tx.nrex] = seq;
			tx.rex_len[tx.nrex++] = (uint32_t)dlen;
		}
	}
	outq.n = 0;
}

/* How many times the last collect() saw segment i retransmitted. */
static unsigned resent(size_t i)
{
	unsigned n = 0;

	for (size_t k = 0; k < tx.nrex; k++) {
		if (tx.rex[k] == tx.seq[i]) {
			assert_int_equal(tx.rex_len[k], tx.len[i]);
			n++;
		}
	}
	return n;
}

/* The SACK block of first transmissions [from, to). */
static void block(uint32_t b[2], size_t from, size_t to)
{
	b[0] = tx.seq[from];
	b[1] = to < tx.n ? tx.seq[to] : tx.next;
}

/* ---- connections ---- */

static struct nt_loop *loop;
static struct nt_flow *flow; /* the test's connection, aborted at teardown */
static struct tcp_pcb *raw;  /* or this one */

static void on_event(void *arg, struct nt_flow *f, enum nt_flow_event ev)
{
	(void)arg;
	(void)f;
	(void)ev;
}

static const struct nt_flow_ops ops = {.event = on_event};

static int setup(void **state)
{
	(void)state;
	if (!getenv("NT_TEST_LOG"))
		nt_log_set_level(NT_LOG_ERROR);
	loop = peer_stack_up(false);
	memset(&tx, 0, sizeof(tx));
	flow = NULL;
	raw = NULL;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (flow)
		nt_flow_abort(flow);
	if (raw)
		tcp_abort(raw);
	peer_stack_down(loop);
	loop = NULL;
	return 0;
}

/* After lwIP's SYN: the peer answers (with SACK permitted or not, and
 * timestamps), and from then on acknowledges only what a test says. */
static void answer_syn(bool sack)
{
	peer_pump();
	assert_int_equal(peer.syns, 1);
	peer.sack_perm = sack;
	peer.timestamps = true;
	peer.auto_ack = false;
	peer_send(F_SYN | F_ACK, NULL, 0);
	peer_pump();
	assert_int_equal(peer.lw_ack, PEER_ISS + 1);
	tx.iss1 = peer.rcv_nxt;
	tx.next = tx.iss1;
}

/* A connected flow with UPLOAD bytes of the stream queued. */
static void open_upload(bool sack)
{
	static uint8_t buf[UPLOAD];

	peer_reset(AF_INET);
	assert_int_equal(nt_flow_tcp_connect(AF_INET, peer.their, 443, &ops, NULL, &flow), 0);
	answer_syn(sack);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i);
	assert_int_equal(nt_flow_write(flow, buf, sizeof(buf)), 0);
	collect();
	assert_true(tx.fresh >= 2); /* the initial window */
}

/* Acknowledges first transmissions one at a time from una on, as a
 * receiver that gets them all, until want segments are in flight (slow
 * start opens the window by one segment per ACK). Returns the new una. */
static size_t grow_flight(size_t una, size_t want)
{
	for (int i = 0; i < 400 && tx.n - una < want; i++) {
		una++;
		peer_send_sack(seg_end(una - 1), NULL, 0);
		collect();
		assert_int_equal(tx.nrex, 0);
	}
	assert_true(tx.n - una >= want);
	return una;
}

/* want segments in flight, then one ACK that reports the holes a, a + gap
 * and a + 2 x gap, the rest of the flight SACKed (b keeps the blocks, end
 * the flight's end). Returns a. */
static size_t three_holes(size_t want, size_t gap, uint32_t b[3][2], size_t *end)
{
	size_t a = grow_flight(0, want);

	*end = tx.n;
	block(b[0], a + 1, a + gap);
	block(b[1], a + gap + 1, a + 2 * gap);
	block(b[2], a + 2 * gap + 1, *end);
	peer_send_sack(tx.seq[a], b, 3);
	collect();
	return a;
}

/* ---- tests ---- */

static void test_sack_resends_every_hole_at_once_and_no_sacked_segment(void **state)
{
	uint32_t b[3][2];
	size_t a, end;

	(void)state;
	open_upload(true);
	a = three_holes(40, 10, b, &end);
	/* One ACK: all three holes leave, once each, and nothing SACKed. */
	assert_int_equal(tx.nrex, 3);
	assert_int_equal(resent(a), 1);
	assert_int_equal(resent(a + 10), 1);
	assert_int_equal(resent(a + 20), 1);

	/* A duplicate of that ACK resends nothing more. */
	peer_send_sack(tx.seq[a], b, 3);
	collect();
	assert_int_equal(tx.nrex, 0);

	/* The holes arrive: everything is acknowledged, new data flows. */
	peer_send_sack(tx.next, NULL, 0);
	collect();
	assert_int_equal(tx.nrex, 0);
	assert_true(tx.fresh > 0);
}

static void test_sack_lost_retransmission_is_resent_once_a_later_one_is_sacked(void **state)
{
	uint32_t b[3][2];
	size_t a, end;

	(void)state;
	open_upload(true);
	a = three_holes(40, 10, b, &end);
	assert_int_equal(resent(a) + resent(a + 10) + resent(a + 20), 3);

	/* The resent a and a + 20 arrive, a + 10 is lost again: the ACK
	 * stops at a + 10 and SACKs a + 20, sent after it. */
	block(b[0], a + 11, end);
	peer_send_sack(tx.seq[a + 10], b, 1);
	collect();
	assert_int_equal(resent(a + 10), 1);
	assert_int_equal(tx.nrex, 1);

	/* Without news of a later segment, a retransmission is not judged
	 * lost again. */
	peer_send_sack(tx.seq[a + 10], b, 1);
	collect();
	assert_int_equal(tx.nrex, 0);

	peer_send_sack(tx.next, NULL, 0);
	collect();
	assert_int_equal(tx.nrex, 0);
}

static void test_sack_cuts_the_window_once_per_recovery(void **state)
{
	uint32_t b[3][2], flight, after;
	size_t a, end;

	(void)state;
	open_upload(true);
	a = grow_flight(0, 60);
	flight = tx.next - tx.seq[a];
	end = tx.n;
	block(b[0], a + 1, a + 20);
	block(b[1], a + 21, a + 40);
	block(b[2], a + 41, end);
	peer_send_sack(tx.seq[a], b, 3);
	collect();
	assert_int_equal(resent(a) + resent(a + 20) + resent(a + 40), 3);

	/* The holes arrive one at a time, before the new data the window
	 * lets out meanwhile: two partial ACKs, then all. */
	block(b[0], a + 21, a + 40);
	block(b[1], a + 41, end);
	peer_send_sack(tx.seq[a + 20], b, 2);
	collect();
	assert_int_equal(tx.nrex, 0);
	block(b[0], a + 41, end);
	peer_send_sack(tx.seq[a + 40], b, 1);
	collect();
	assert_int_equal(tx.nrex, 0);
	peer_send_sack(tx.next, NULL, 0);
	collect();
	assert_int_equal(tx.nrex, 0);

	/* What leaves now is the window after the recovery: 4/5 of the
	 * flight the loss hit (plus a little growth), not that cut twice
	 * (16/25) nor halved. */
	after = tx.next - tx.seq[tx.n - tx.fresh];
	assert_true(after >= flight / 4 * 3);
	assert_true(after <= flight / 10 * 9);
}

static void test_without_sack_one_fast_retransmit_after_three_dupacks(void **state)
{
	size_t a;

	(void)state;
	open_upload(false);
	a = grow_flight(0, 20);
	/* a and a + 5 are lost; each later arrival repeats the ACK of a. */
	for (int dup = 1; dup <= 2; dup++) {
		peer_send_sack(tx.seq[a], NULL, 0);
		collect();
		assert_int_equal(tx.nrex, 0);
	}
	peer_send_sack(tx.seq[a], NULL, 0);
	collect();
	assert_int_equal(tx.nrex, 1);
	assert_int_equal(resent(a), 1);
	for (int dup = 4; dup <= 8; dup++) {
		peer_send_sack(tx.seq[a], NULL, 0);
		collect();
		assert_int_equal(tx.nrex, 0);
	}

	/* The partial ACK up to the second hole ends the recovery (Reno):
	 * that hole waits for three more duplicates. */
	peer_send_sack(tx.seq[a + 5], NULL, 0);
	collect();
	assert_int_equal(tx.nrex, 0);
	for (int dup = 1; dup <= 2; dup++) {
		peer_send_sack(tx.seq[a + 5], NULL, 0);
		collect();
		assert_int_equal(tx.nrex, 0);
	}
	peer_send_sack(tx.seq[a + 5], NULL, 0);
	collect();
	assert_int_equal(tx.nrex, 1);
	assert_int_equal(resent(a + 5), 1);
}

static void test_sack_blocks_from_a_peer_that_did_not_permit_sack_are_ignored(void **state)
{
	uint32_t b[1][2];
	size_t a;

	(void)state;
	open_upload(false);
	a = grow_flight(0, 20);
	/* Blocks far above the hole would make it lost at once with SACK. */
	block(b[0], a + 1, tx.n);
	for (int dup = 1; dup <= 2; dup++) {
		peer_send_sack(tx.seq[a], b, 1);
		collect();
		assert_int_equal(tx.nrex, 0);
	}
	peer_send_sack(tx.seq[a], b, 1);
	collect();
	assert_int_equal(tx.nrex, 1);
	assert_int_equal(resent(a), 1);
}

/* ---- the application writes while a hole waits to be resent ---- */

static struct {
	struct tcp_pcb *pcb;
	uint32_t written; /* stream bytes given to tcp_write */
	uint16_t on_sent; /* bytes to write from the next sent callback */
	bool fin_on_sent; /* or close the sending side there */
	bool connected;
} app;

/* Queues n more bytes of the stream (copied), and sends what it may. */
static void app_write(uint16_t n, bool output)
{
	uint8_t buf[65535];

	for (uint16_t i = 0; i < n; i++)
		buf[i] = pattern(app.written + i);
	assert_int_equal(tcp_write(app.pcb, buf, n, TCP_WRITE_FLAG_COPY), ERR_OK);
	app.written += n;
	if (output)
		assert_int_equal(tcp_output(app.pcb), ERR_OK);
}

/* lwIP calls it from inside its input, between processing an ACK and
 * sending: as notun's flows do, the application queues more there. */
static err_t app_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	(void)arg;
	(void)pcb;
	(void)len;
	if (app.on_sent) {
		app_write(app.on_sent, false);
		app.on_sent = 0;
	}
	if (app.fin_on_sent) {
		assert_int_equal(tcp_shutdown(app.pcb, 0, 1), ERR_OK);
		app.fin_on_sent = false;
	}
	return ERR_OK;
}

static err_t app_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	(void)pcb;
	assert_int_equal(err, ERR_OK);
	app.connected = true;
	return ERR_OK;
}

/* A raw lwIP connection with SACK and timestamps, its window grown to
 * more than 40 segments, nothing in flight; returns the index of the next
 * first transmission. */
static size_t app_open(void)
{
	ip_addr_t dst;

	memset(&app, 0, sizeof(app));
	peer_reset(AF_INET);
	IP_ADDR4(&dst, 100, 64, 0, 1);
	app.pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	assert_non_null(app.pcb);
	raw = app.pcb;
	tcp_nagle_disable(app.pcb);
	tcp_sent(app.pcb, app_sent);
	assert_int_equal(tcp_connect(app.pcb, &dst, 443, app_connected), ERR_OK);
	answer_syn(true);
	assert_true(app.connected);
	/* Slow start: each ACK of two segments opens the window by two. */
	for (int i = 0; i < 20; i++) {
		app_write(2 * SEG_DATA, true);
		collect();
		assert_int_equal(tx.fresh, 2);
		peer_send_sack(tx.next, NULL, 0);
		collect();
	}
	assert_int_equal(tx.n, 40);
	return tx.n;
}

/* Segments: x1 x2 A B C D E, A short. x1 and A are lost: the first ACK
 * resends both; A's retransmission is lost too, and the partial ACK that
 * says so (by SACKing F, sent after it) also lets the application write. */
static size_t app_lose_short_hole_twice(void)
{
	uint32_t b[2][2];
	size_t x1 = app_open(), s_a = x1 + 2, f;

	app_write(SEG_DATA, true);
	app_write(SEG_DATA, true);
	app_write(500, true);
	app_write(4 * SEG_DATA, true);
	collect();
	assert_int_equal(tx.n, x1 + 7);
	assert_int_equal(tx.len[s_a], 500);
	block(b[0], x1 + 1, s_a);
	block(b[1], s_a + 1, tx.n);
	peer_send_sack(tx.seq[x1], b, 2);
	collect();
	assert_int_equal(tx.nrex, 2);
	assert_int_equal(resent(x1), 1);
	assert_int_equal(resent(s_a), 1);

	f = tx.n;
	app_write(SEG_DATA, true);
	collect();
	assert_int_equal(tx.n, f + 1);
	block(b[0], s_a + 1, tx.n);
	return s_a;
}

static void test_resent_hole_takes_no_data_written_from_the_sent_callback(void **state)
{
	uint32_t b[1][2];
	size_t s_a;

	(void)state;
	s_a = app_lose_short_hole_twice();
	b[0][0] = tx.seq[s_a + 1];
	b[0][1] = tx.next;
	app.on_sent = 700;
	peer_send_sack(tx.seq[s_a], b, 1);
	collect(); /* every byte at its own sequence number */
	assert_int_equal(app.on_sent, 0);
	assert_int_equal(resent(s_a), 1); /* 500 bytes, no more */
	assert_int_equal(tx.fresh, 1);
	assert_int_equal(tx.len[tx.n - 1], 700);

	peer_send_sack(tx.next, NULL, 0);
	collect();
	assert_int_equal(tx.nrex, 0);
}

static void test_resent_hole_takes_no_fin_from_the_sent_callback(void **state)
{
	uint32_t b[1][2];
	size_t s_a;
	bool fin = false;

	(void)state;
	s_a = app_lose_short_hole_twice();
	b[0][0] = tx.seq[s_a + 1];
	b[0][1] = tx.next;
	app.fin_on_sent = true;
	peer_send_sack(tx.seq[s_a], b, 1);
	/* The FIN goes after the last byte written, never on the hole. */
	for (size_t i = 0; i < outq.n; i++) {
		const uint8_t *tcp = outq.pkt[i] + 20;
		size_t doff = (size_t)(tcp[12] >> 4) * 4;

		if (tcp[13] & F_FIN) {
			assert_int_equal(rd32(tcp + 4) + (outq.len[i] - 20 - doff),
					 tx.iss1 + app.written);
			fin = true;
		}
	}
	collect();
	assert_true(fin);
	assert_int_equal(resent(s_a), 1);
}

static void test_hole_the_window_holds_back_takes_no_data_written_later(void **state)
{
	uint32_t b[2][2];
	size_t x1 = app_open(), s_h;

	(void)state;
	/* 32 segments, a short one (h), 4 more: x1 and h are lost. */
	app_write(32 * SEG_DATA, true);
	app_write(500, true);
	app_write(4 * SEG_DATA, true);
	collect();
	s_h = x1 + 32;
	assert_int_equal(tx.n, s_h + 5);
	assert_int_equal(tx.len[s_h], 500);
	block(b[0], x1 + 1, s_h);
	block(b[1], s_h + 1, tx.n);
	peer_send_sack(tx.seq[x1], b, 2);
	collect();
	/* h is lost too, but the window after the cut (4/5 of the flight and
	 * 3 segments) does not reach that far up. */
	assert_int_equal(tx.nrex, 1);
	assert_int_equal(resent(x1), 1);

	/* The application writes meanwhile, outside any callback. */
	app_write(700, true);
	collect();
	assert_int_equal(tx.fresh, 0);

	/* x1 arrives: the partial ACK slides the window over h. */
	block(b[0], s_h + 1, tx.n);
	peer_send_sack(tx.seq[s_h], b, 1);
	collect(); /* every byte at its own sequence number */
	assert_int_equal(tx.nrex, 1);
	assert_int_equal(resent(s_h), 1);
	assert_int_equal(tx.fresh, 1);
	assert_int_equal(tx.len[tx.n - 1], 700);
	peer_send_sack(tx.next, NULL, 0);
	collect();
	assert_int_equal(tx.nrex, 0);
}

/* ---- the tail-loss probe and the clock ---- */

/* Waits until lwIP's clock (sys_now, ms) has moved on by ms: at most about
 * ms sleeps of 1 ms. */
static void wait_ms(uint32_t ms)
{
	uint32_t t0 = sys_now();

	while ((uint32_t)(sys_now() - t0) < ms)
		usleep(1000);
}

static void test_tail_probe_resends_the_last_segment_when_the_acks_stop(void **state)
{
	(void)state;
	open_upload(true);
	grow_flight(0, 10);
	/* Silence for longer than the probe timeout (two round trips, here
	 * a millisecond or less, and a tick): the fast timer resends the last
	 * segment sent, and nothing else. */
	wait_ms(4 * TCP_TMR_INTERVAL);
	tcp_fasttmr();
	collect();
	assert_int_equal(tx.nrex, 1);
	assert_int_equal(resent(tx.n - 1), 1);
	assert_int_equal(tx.fresh, 0);

	/* One probe until an ACK of new data: then the RTO's turn. */
	wait_ms(4 * TCP_TMR_INTERVAL);
	tcp_fasttmr();
	collect();
	assert_int_equal(tx.nrex, 0);

	/* The answer acknowledges everything; new data leaves, and its
	 * silence is probed again. */
	peer_send_sack(tx.next, NULL, 0);
	collect();
	assert_true(tx.fresh > 0);
	wait_ms(4 * TCP_TMR_INTERVAL);
	tcp_fasttmr();
	collect();
	assert_int_equal(tx.nrex, 1);
	assert_int_equal(resent(tx.n - 1), 1);
}

static void test_tail_probe_waits_while_acks_come(void **state)
{
	size_t una;

	(void)state;
	open_upload(true);
	una = grow_flight(0, 10);
	/* A fast tick right after the last transmission: no probe. */
	for (int i = 0; i < 5; i++) {
		una++;
		peer_send_sack(seg_end(una - 1), NULL, 0);
		tcp_fasttmr();
		collect();
		assert_int_equal(tx.nrex, 0);
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_sack_resends_every_hole_at_once_and_no_sacked_segment),
	    T(test_sack_lost_retransmission_is_resent_once_a_later_one_is_sacked),
	    T(test_sack_cuts_the_window_once_per_recovery),
	    T(test_without_sack_one_fast_retransmit_after_three_dupacks),
	    T(test_sack_blocks_from_a_peer_that_did_not_permit_sack_are_ignored),
	    T(test_resent_hole_takes_no_data_written_from_the_sent_callback),
	    T(test_resent_hole_takes_no_fin_from_the_sent_callback),
	    T(test_hole_the_window_holds_back_takes_no_data_written_later),
	    T(test_tail_probe_resends_the_last_segment_when_the_acks_stop),
	    T(test_tail_probe_waits_while_acks_come),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
