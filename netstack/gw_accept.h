/* SPDX-License-Identifier: MIT */
/* The gateway's side of lwIP: terminating TCP and UDP addressed to any
 * destination (third_party/lwip-accept-any.patch).
 *
 * Enabled, lwIP accepts TCP and UDP packets addressed to any unicast
 * address (nt_ippkt_scope_unicast: not unspecified, multicast, broadcast,
 * reserved or IPv4 in IPv6), a TCP listener takes every port, and UDP datagrams no pcb
 * takes reach the udp callback. ICMP is still answered for our own
 * addresses only. Disabled (the default, and always in the client), lwIP
 * behaves as upstream.
 *
 * TCP: the gateway holds a client's SYN until its own connection to the
 * destination succeeded, then feeds it here: lwIP answers SYN-ACK and keeps
 * the connection half open until the client's ACK, when it becomes a
 * connected nt_flow (netstack/flow.h) handed to ops->tcp_established.
 *
 *   nt_gw_accept_syn --SYN-ACK--> half open --ACK--> tcp_established(flow)
 *                                          --RST, SYN-ACK retransmissions
 *                                            run out, no memory--> tcp_failed
 *                                          --nt_gw_accept_abort--> RST, no callback
 *
 * Callbacks run inside nt_stack_input() (lwIP's input) or the stack's TCP
 * timer. Everything here runs on the stack's thread.
 */
#ifndef NT_NETSTACK_GW_ACCEPT_H
#define NT_NETSTACK_GW_ACCEPT_H

#include <stddef.h>
#include <stdint.h>

#include "platform/fail.h"

struct nt_flow;
struct nt_gw_half;

/* Bytes of a datagram's start kept for an ICMP error quoting it. */
#define NT_GW_QUOTE_MAX 256

/* A UDP datagram's addresses: family AF_INET or AF_INET6, addresses in
 * network order (4 or 16 bytes), ports in host order. */
struct nt_gw_udp_addrs {
	int family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
};

struct nt_gw_accept_ops {
	/* The handshake of a connection fed with nt_gw_accept_syn completed.
	 * flow is connected, without ops: events wait in it until its owner
	 * sets some (nt_flow_set_ops), as after the client's connect. Return 0
	 * to own it; otherwise it is reset. Must not close or abort it here
	 * (this runs in lwIP's accept callback). arg is nt_gw_accept_syn's. */
	int (*tcp_established)(void *arg, struct nt_flow *flow);
	/* The half-open connection is gone: the client reset it
	 * (NT_FAIL_REFUSED), lwIP gave up retransmitting the SYN-ACK
	 * (NT_FAIL_TIMEOUT), or there was no memory for its flow
	 * (NT_FAIL_GENERAL, after an RST). */
	void (*tcp_failed)(void *arg, enum nt_fail why);
	/* A UDP datagram to any address and port. buf and quote (the IP and
	 * UDP headers and the first payload bytes as received, for an ICMP
	 * error; at most NT_GW_QUOTE_MAX bytes) are valid during the call. */
	void (*udp_datagram)(void *ctx, const struct nt_gw_udp_addrs *a, const uint8_t *buf,
			     size_t len, const uint8_t *quote, size_t quote_len);
	void *ctx; /* for udp_datagram */
};

/* After nt_stack_init() and nt_flow_init(). Returns 0, -EALREADY, -EINVAL
 * (an op missing) or -ENOMEM. */
int nt_gw_accept_enable(const struct nt_gw_accept_ops *ops);
/* Half-open connections are reset (no callback), the hooks removed. Before
 * nt_flow_fini(). */
void nt_gw_accept_disable(void);

/* Feeds a held SYN (a whole IP packet, as parsed by the caller) to lwIP,
 * which answers SYN-ACK. A TIME_WAIT connection with the same addresses and
 * ports is dropped first (the client evidently reuses them). Returns 0 with
 * *out, -ENOMEM or -EAGAIN when lwIP did not take it (feed the client's
 * retransmission later), -EEXIST when a live connection already has these
 * addresses and ports (the packet went to it), or the error of
 * nt_stack_input(). */
int nt_gw_accept_syn(const uint8_t *pkt, size_t len, void *arg, struct nt_gw_half **out);
/* Resets a half-open connection; no callback follows. */
void nt_gw_accept_abort(struct nt_gw_half *h);

/* Sends a UDP datagram from a->dst:dport to a->src:sport (the reply to a
 * datagram that arrived with these addresses), fragmented by lwIP when it
 * exceeds the MTU. Returns 0, -EMSGSIZE, -ENOMEM, -ENETUNREACH, -ENETDOWN
 * (not enabled), or -EADDRNOTAVAIL or -EINVAL for another lwIP error. */
int nt_gw_udp_reply(const struct nt_gw_udp_addrs *a, const uint8_t *buf, size_t len);

struct nt_gw_accept_stats {
	uint64_t accepted;	 /* packets to a foreign address taken */
	uint64_t refused;	 /* packets to a foreign address left to lwIP's drop */
	uint64_t syns_fed;	 /* SYNs that opened a half-open connection */
	uint64_t syns_not_taken; /* SYNs lwIP did not take (-EAGAIN/-ENOMEM) */
	uint64_t time_wait_dropped;
	uint64_t half_open;   /* gauge */
	uint64_t established; /* handed over as flows */
	uint64_t half_failed; /* tcp_failed */
	uint64_t udp_rx, udp_rx_bytes;
	uint64_t udp_tx, udp_tx_bytes, udp_tx_errors;
};

void nt_gw_accept_get_stats(struct nt_gw_accept_stats *out);

#endif
