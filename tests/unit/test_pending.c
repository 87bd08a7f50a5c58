// SPDX-License-Identifier: MIT
/* core/engine/pending.c: what replaces a held packet. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/engine/pending.h"

/* A minimal IPv4 or IPv6 TCP packet: addresses, ports and flags. */
static size_t tcp_packet(uint8_t *pkt, int v6, uint8_t last_src_byte, uint16_t sport, uint8_t flags,
			 uint32_t seq)
{
	size_t ip = v6 ? 40 : 20;

	memset(pkt, 0, ip + 20);
	if (v6) {
		pkt[0] = 0x60;
		pkt[6] = 6;
		pkt[8] = 0xfd;
		pkt[23] = last_src_byte;
		pkt[24] = 0xfd;
		pkt[39] = 1;
	} else {
		pkt[0] = 0x45;
		pkt[9] = 6;
		pkt[12] = 10;
		pkt[15] = last_src_byte;
		pkt[16] = 10;
		pkt[19] = 1;
	}
	pkt[ip] = (uint8_t)(sport >> 8);
	pkt[ip + 1] = (uint8_t)sport;
	pkt[ip + 3] = 80;
	pkt[ip + 4] = (uint8_t)(seq >> 24);
	pkt[ip + 7] = (uint8_t)seq;
	pkt[ip + 13] = flags;
	return ip + 20;
}

static void test_pending_retransmitted_syn_supersedes_the_first(void **state)
{
	uint8_t a[60], b[60];
	(void)state;

	/* A retransmission (or a new SYN of the same connection) may differ in
	 * IP id or flow label, IP and TCP checksum, and sequence number: each
	 * is varied alone, so a key that took in any of them fails here. */
	static const size_t v4_fields[] = {4, 10, 20 + 5, 20 + 16};
	static const size_t v6_fields[] = {2, 40 + 5, 40 + 16};

	for (int v6 = 0; v6 <= 1; v6++) {
		const size_t *fields = v6 ? v6_fields : v4_fields;
		size_t n = v6 ? sizeof(v6_fields) / sizeof(v6_fields[0])
			      : sizeof(v4_fields) / sizeof(v4_fields[0]);
		size_t la = tcp_packet(a, v6, 2, 40000, 0x02, 1);

		for (size_t i = 0; i < n; i++) {
			size_t lb = tcp_packet(b, v6, 2, 40000, 0x02, 1);

			b[fields[i]] ^= 0x55;
			assert_true(nt_pending_supersedes(a, la, b, lb));
		}
	}
}

static void test_pending_syns_of_other_connections_do_not(void **state)
{
	uint8_t a[60], b[60];
	(void)state;

	for (int v6 = 0; v6 <= 1; v6++) {
		size_t la = tcp_packet(a, v6, 2, 40000, 0x02, 1);
		size_t lb = tcp_packet(b, v6, 2, 40001, 0x02, 1);
		assert_false(nt_pending_supersedes(a, la, b, lb));
		lb = tcp_packet(b, v6, 3, 40000, 0x02, 1);
		assert_false(nt_pending_supersedes(a, la, b, lb));
	}
}

static void test_pending_data_and_syn_ack_are_kept_apart(void **state)
{
	uint8_t a[60], b[60];
	size_t la, lb;
	(void)state;

	la = tcp_packet(a, 0, 2, 40000, 0x10, 1); /* ACK */
	lb = tcp_packet(b, 0, 2, 40000, 0x10, 2);
	assert_false(nt_pending_supersedes(a, la, b, lb));
	la = tcp_packet(a, 0, 2, 40000, 0x12, 1); /* SYN-ACK */
	lb = tcp_packet(b, 0, 2, 40000, 0x12, 1);
	b[30] = 1;
	assert_false(nt_pending_supersedes(a, la, b, lb));
	/* A SYN does not replace data of the same ports, nor the reverse. */
	la = tcp_packet(a, 0, 2, 40000, 0x02, 1);
	lb = tcp_packet(b, 0, 2, 40000, 0x18, 1);
	assert_false(nt_pending_supersedes(a, la, b, lb));
	assert_false(nt_pending_supersedes(b, lb, a, la));
}

static void test_pending_exact_duplicates_collapse(void **state)
{
	uint8_t a[60];
	size_t la = tcp_packet(a, 0, 2, 40000, 0x18, 7);
	(void)state;

	assert_true(nt_pending_supersedes(a, la, a, la));
}

static void test_pending_fragments_and_truncation_are_safe(void **state)
{
	uint8_t a[60], b[60];
	size_t la, lb;
	(void)state;

	la = tcp_packet(a, 0, 2, 40000, 0x02, 1);
	lb = tcp_packet(b, 0, 2, 40000, 0x02, 1);
	b[6] = 0x20; /* more fragments */
	assert_false(nt_pending_supersedes(a, la, b, lb));
	for (size_t n = 0; n < la; n++) {
		memcpy(b, a, la);
		assert_false(nt_pending_supersedes(a, la, b, n));
	}
	a[0] = 0x44; /* IHL below 20 bytes */
	assert_false(nt_pending_supersedes(a, la, a, la - 1));
}

static void collect(void *arg, const uint8_t *pkt, size_t len)
{
	uint32_t *seqs = arg;

	assert_int_equal(len, 40);
	seqs[seqs[0] + 1] = pkt[27];
	seqs[0]++;
}

static void test_pending_queue_holds_in_order_and_replaces_a_resent_syn(void **state)
{
	struct nt_pending_counters c = {0};
	struct nt_pending_q q = {.c = &c};
	uint8_t pkt[64];
	uint32_t seqs[8] = {0};
	size_t len;
	(void)state;

	len = tcp_packet(pkt, 0, 2, 1000, 0x02, 1);
	assert_int_equal(nt_pending_push(&q, pkt, len), 0);
	len = tcp_packet(pkt, 0, 2, 1001, 0x02, 2);
	assert_int_equal(nt_pending_push(&q, pkt, len), 0);
	/* The first connection's SYN again: in the first one's place. */
	len = tcp_packet(pkt, 0, 2, 1000, 0x02, 3);
	assert_int_equal(nt_pending_push(&q, pkt, len), 1);
	assert_int_equal(q.n, 2);
	nt_pending_flush(&q, collect, seqs);
	assert_int_equal(seqs[0], 2);
	assert_int_equal(seqs[1], 3);
	assert_int_equal(seqs[2], 2);
	assert_int_equal(q.n, 0);
	assert_int_equal(c.held, 2);
	assert_int_equal(c.replaced, 1);
	assert_int_equal(c.flushed, 2);
}

static void test_pending_queue_is_bounded_and_counts_drops(void **state)
{
	struct nt_pending_counters c = {0};
	struct nt_pending_q q = {.c = &c};
	static uint8_t big[60000];
	uint8_t pkt[64];
	size_t len;
	(void)state;

	for (unsigned i = 0; i < NT_PENDING_MAX_PKTS; i++) {
		len = tcp_packet(pkt, 0, 2, (uint16_t)(2000 + i), 0x10, i);
		assert_int_equal(nt_pending_push(&q, pkt, len), 0);
	}
	len = tcp_packet(pkt, 0, 2, 5000, 0x10, 1);
	assert_int_equal(nt_pending_push(&q, pkt, len), -ENOBUFS);
	assert_int_equal(c.dropped_full, 1);
	nt_pending_clear(&q);
	assert_int_equal(c.dropped_ended, NT_PENDING_MAX_PKTS);
	/* Bytes: 1 MiB at most. */
	for (unsigned i = 0; i < 17; i++) {
		big[0] = 0x45;
		big[19] = (uint8_t)i; /* distinct packets */
		assert_int_equal(nt_pending_push(&q, big, sizeof(big)), 0);
	}
	big[19] = 99;
	assert_int_equal(nt_pending_push(&q, big, sizeof(big)), -ENOBUFS);
	assert_true(q.bytes <= NT_PENDING_MAX_BYTES);
	nt_pending_clear(&q);
	assert_int_equal(q.bytes, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pending_retransmitted_syn_supersedes_the_first),
	    cmocka_unit_test(test_pending_syns_of_other_connections_do_not),
	    cmocka_unit_test(test_pending_data_and_syn_ack_are_kept_apart),
	    cmocka_unit_test(test_pending_exact_duplicates_collapse),
	    cmocka_unit_test(test_pending_fragments_and_truncation_are_safe),
	    cmocka_unit_test(test_pending_queue_holds_in_order_and_replaces_a_resent_syn),
	    cmocka_unit_test(test_pending_queue_is_bounded_and_counts_drops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
