/* SPDX-License-Identifier: MIT */
/* The embedded TCP/IP stack (lwIP) and its link to the tunnel.
 *
 * IP packets from the tunnel go in through nt_stack_input(); every packet
 * lwIP sends comes out through the output callback. In between, callers use
 * lwIP's raw API (tcp_new, tcp_connect, udp_sendto, ...) directly.
 *
 * lwIP keeps global state, so there is ONE stack per process: a second
 * nt_stack_init() fails with -EALREADY until nt_stack_shutdown(). The client
 * and the gateway are separate processes; a test that needs two stacks
 * starts two processes.
 *
 * Threading: nt_stack_init() binds lwIP to the calling thread, which must be
 * the one running the loop. Every nt_stack_* and lwIP raw API call must come
 * from that thread; lwIP asserts it (LWIP_ASSERT_CORE_LOCKED).
 *
 * Timers run on the loop and only while lwIP has work: with no TCP
 * connection (other than listeners) and no fragment being reassembled,
 * nothing is armed.
 */
#ifndef NT_NETSTACK_STACK_H
#define NT_NETSTACK_STACK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nt_loop;

#define NT_STACK_DEFAULT_MTU 1420
#define NT_STACK_MIN_MTU     1280 /* IPv6's minimum */

/* Receives each IP packet lwIP sends, one whole packet per call, at most the
 * MTU long. pkt is valid only during the call: copy or encrypt it before
 * returning. Return 0 when the packet was taken (sent or queued), a negative
 * errno when it was dropped. A drop is counted, not reported to lwIP: TCP
 * treats it as loss and retransmits. Must not call back into the stack. */
typedef int (*nt_stack_output_fn)(void *arg, const uint8_t *pkt, size_t len);

struct nt_stack_config {
	bool has_ipv4;
	struct in_addr ipv4; /* our tunnel address, a /32 */
	bool has_ipv6;
	struct in6_addr ipv6; /* our tunnel address, a /128 */
	bool no_address_yet;  /* neither address: nt_stack_set_address later */
	/* Largest packet in either direction: 0 means NT_STACK_DEFAULT_MTU;
	 * NT_STACK_MIN_MTU .. 65535. TCP's MSS follows it down, not up. */
	uint16_t mtu;
	nt_stack_output_fn output;
	void *output_arg;
};

struct nt_stack_stats {
	uint64_t in_packets; /* handed to lwIP */
	uint64_t in_bytes;
	uint64_t in_drop_malformed; /* not IPv4/IPv6, or inconsistent header fields */
	uint64_t in_drop_truncated; /* shorter than its headers say */
	uint64_t in_drop_oversize;  /* longer than the MTU */
	uint64_t in_drop_nd;	    /* IPv6 neighbour discovery: there is no link layer */
	uint64_t in_drop_nomem;
	uint64_t out_packets; /* taken by the output callback */
	uint64_t out_bytes;
	uint64_t out_drop_refused;  /* the output callback returned an error */
	uint64_t out_drop_oversize; /* above the MTU; lwIP fragments first, so never expected */
	uint64_t timer_errors;	    /* a timer could not be armed (out of memory) */
	/* Inside lwIP, summed over IPv4, IPv6, ICMP, ICMPv6, UDP, TCP and
	 * reassembly (lwIP's own counters): */
	uint64_t stack_chkerr; /* bad checksums */
	uint64_t stack_drop;   /* discarded: not for us, no pcb, bad length, ...
				* (TCP and UDP also count their checksum errors here) */
};

/* Brings lwIP up on one interface with cfg's addresses. At least one address
 * is required unless no_address_yet (nt_stack_set_address gives them later). Returns 0, -EINVAL
 * (bad config), -EALREADY (a stack is up), -ENOMEM or -EIO (randomness unavailable). */
int nt_stack_init(struct nt_loop *loop, const struct nt_stack_config *cfg);

/* Sets (or replaces) our tunnel address of one family: a portal client
 * learns it from the portal's init. A replaced address ends the TCP
 * connections bound to the old one (lwIP aborts them). 0, -EINVAL (not a
 * usable unicast address, family) or -ENETDOWN (no stack). */
int nt_stack_set_address(int family, const uint8_t *addr);

/* Tears the stack down so that nt_stack_init() may run again. Callers close
 * their pcbs first; TCP pcbs still open are aborted (their err callbacks run,
 * RSTs go out through the output callback), listeners and bound pcbs are
 * closed, and fragments being reassembled are dropped. UDP pcbs left open
 * are reported in the log and not touched. */
void nt_stack_shutdown(void);

/* Feeds one IP packet from the tunnel. len may include trailing bytes after
 * the IP datagram (WireGuard's padding); they are ignored. The packet is
 * copied. Returns 0 when lwIP got it (lwIP may still discard it, see
 * stack_drop), or the reason it was dropped: -EINVAL (malformed, truncated),
 * -EMSGSIZE (above the MTU), -EPROTO (neighbour discovery), -ENOMEM, or
 * -ENETDOWN when no stack is up. */
int nt_stack_input(const uint8_t *pkt, size_t len);

/* Re-evaluates which timers lwIP needs. Call it after raw API calls made
 * outside lwIP's own callbacks that open or close pcbs (tcp_connect,
 * tcp_close, tcp_abort): timers then start and stop at once. Without it they
 * still follow, at the latest on the next packet or tick. */
void nt_stack_timers_kick(void);

#define NT_STACK_TIMER_TCP  0x1u /* tcp_tmr every 250 ms */
#define NT_STACK_TIMER_SLOW 0x2u /* reassembly, every second */
/* Which of the stack's timers are armed (0 when idle). */
unsigned nt_stack_timers_armed(void);

void nt_stack_get_stats(struct nt_stack_stats *out);

/* lwIP's version, "2.1.3": for notun --version. */
const char *nt_stack_version(void);

/* Consulted for every TCP segment that carries data (not SYN, not RST) for
 * a connection (not a listener, not TIME_WAIT), before lwIP processes it:
 * returning false drops it as if lost on the way, and the sender retransmits.
 * One filter at a time (the flow layer's); NULL removes it. */
struct tcp_pcb;
typedef bool (*nt_stack_tcp_filter_fn)(struct tcp_pcb *pcb, size_t len);
void nt_stack_set_tcp_filter(nt_stack_tcp_filter_fn fn);

#endif
