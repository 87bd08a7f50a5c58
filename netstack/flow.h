/* SPDX-License-Identifier: MIT */
/* Flows: TCP connections and UDP sockets terminated in the embedded lwIP
 * stack, as byte streams and datagrams for the engine and the proxy.
 *
 * A TCP flow is the client side of a connection made through the tunnel.
 * Its owner sees five events through a small ops table and moves bytes
 * between the flow and a socket without copying more than once:
 *
 *   lwIP -> socket: nt_flow_read_to_fd() hands the queued pbufs to the
 *     socket (one sendmsg over the chain), frees what the socket took and
 *     opens the receive window by exactly that much. Data the socket does
 *     not take stays queued, and the window stays shut by its size: the
 *     queue is bounded by the receive window, and what all flows hold by
 *     a global cap (data arriving at the cap is dropped, then retransmitted
 *     by the remote once owners read).
 *   socket -> lwIP: nt_flow_write_from_fd() reads from the socket into the
 *     flow's send space (chunks allocated on demand, at most a per-flow cap
 *     and a global cap) and queues those bytes to lwIP by reference; a chunk
 *     is freed once the remote acknowledged all of it. An idle flow holds no
 *     chunk and no pbuf.
 *
 * Events (ops->event), delivered from inside nt_stack_input() and the
 * stack's timers (lwIP's callbacks), from nt_flow_handle_icmp_error(),
 * from nt_flow_fail(), and from the flow layer's own deferred-work timer on
 * the loop. None is delivered from inside any other nt_flow_* call (but for
 * one corner: lwIP, out of memory in nt_flow_tcp_connect, may abort other
 * connections, whose owners then hear ERROR). The owner may call any
 * nt_flow_* function from its handler, including nt_flow_close() or
 * nt_flow_abort() on this flow.

 *
 *   NT_FLOW_CONNECTED  the handshake completed (once).
 *   NT_FLOW_READABLE   data arrived: once per loop iteration that brought
 *                      some (from the deferred-work timer), so one drain
 *                      moves a whole receive batch. Drain with read_to_fd
 *                      until it returns 0 or -EAGAIN.
 *   NT_FLOW_WRITABLE   send space was freed after a write returned -ENOBUFS
 *                      (once per -ENOBUFS).
 *   NT_FLOW_EOF        the remote sent FIN and every byte before it has been
 *                      read (once). When data was still queued at FIN, it
 *                      comes from the deferred-work timer after the read that
 *                      emptied the queue.
 *   NT_FLOW_ERROR      the connection is dead (once): nt_flow_error() says
 *                      why. Queued data is dropped.
 *
 * After NT_FLOW_ERROR or NT_FLOW_EOF the flow still exists: its owner frees
 * it with nt_flow_close() or nt_flow_abort() (no event after that).
 *
 * Handing a flow over: whoever gives it away (the engine, at CONNECTED)
 * calls nt_flow_set_ops(f, NULL, NULL) first; events are then dropped until
 * the new owner sets its ops, and the new owner reads the state it missed
 * (nt_flow_error, nt_flow_rx_queued, nt_flow_rx_eof), as the splice does.
 *
 * Everything here runs on the loop's thread, the one that owns lwIP.
 */
#ifndef NT_NETSTACK_FLOW_H
#define NT_NETSTACK_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "platform/fail.h"

struct nt_loop;
struct nt_flow;
struct nt_flow_udp;

/* ---- the flow layer ---- */

#define NT_FLOW_DEFAULT_CHUNK	 (64u * 1024)
#define NT_FLOW_DEFAULT_SEND_CAP (2048u * 1024) /* per flow: TCP_SND_BUF, a full window in flight  \
						 */
#define NT_FLOW_DEFAULT_TOTAL_SEND_CAP (256u * 1024 * 1024) /* all flows */
#define NT_FLOW_DEFAULT_TOTAL_RECV_CAP (256u * 1024 * 1024) /* all flows: received, unread */
#define NT_FLOW_DEFAULT_MAX_FLOWS      8192u		    /* TCP flows open at once */

/* 0 in any field means its default. send_cap is rounded down to whole
 * chunks (at least one); chunk is at most send_cap. total_recv_cap bounds
 * the bytes all TCP flows received and their owners have not read yet: at
 * the cap, data arriving for any flow is dropped before lwIP takes it (the
 * sender retransmits), so the total exceeds the cap by at most one
 * delivery (a segment, with the out-of-order data it completes). */
struct nt_flow_config {
	size_t chunk;
	size_t send_cap;
	size_t total_send_cap;
	size_t total_recv_cap;
	unsigned max_flows;
	/* Optional: the owner frees what it keeps for reuse (the tunnel's
	 * datagram buffers) when the layer gives memory back (below). */
	void (*trim)(void *arg);
	void *trim_arg;
};

/* Giving memory back after a burst. glibc keeps freed heap in its arenas:
 * received pbufs and send chunks of many flows, freed when they end,
 * would stay in the process (100 MB after 50 unread downloads). Once the
 * flows' buffered bytes (send space and unread data) went above
 * NT_FLOW_TRIM_HIGH and fell below NT_FLOW_TRIM_LOW, a one-shot timer
 * (NT_FLOW_TRIM_DELAY_MS, so that flows ending together cost one trim)
 * calls the owner's trim hook and malloc_trim(0) (heap_trims). Nothing
 * runs while idle. */
#define NT_FLOW_TRIM_HIGH     (8u << 20)
#define NT_FLOW_TRIM_LOW      (256u << 10)
#define NT_FLOW_TRIM_DELAY_MS 1000u

/* After nt_stack_init(), on the same loop. Returns 0, -EALREADY or -EINVAL. */
int nt_flow_init(struct nt_loop *loop, const struct nt_flow_config *cfg);
/* Before nt_stack_shutdown(): aborts flows still lingering after their
 * owner closed them (their data unacknowledged). Flows and UDP sockets the
 * owners still hold are logged and left to the stack's shutdown. */
void nt_flow_fini(void);

/* ---- TCP ---- */

enum nt_flow_event {
	NT_FLOW_CONNECTED,
	NT_FLOW_READABLE,
	NT_FLOW_WRITABLE,
	NT_FLOW_EOF,
	NT_FLOW_ERROR,
};

struct nt_flow_ops {
	void (*event)(void *arg, struct nt_flow *f, enum nt_flow_event ev);
};

/* Starts a connection to dst_addr (4 bytes for AF_INET, 16 for AF_INET6,
 * network order) port dst_port (host order) from our tunnel address. The
 * SYN goes out before this returns; ops->event gets CONNECTED or ERROR
 * later. Returns 0, -EAFNOSUPPORT, -EMFILE (max_flows reached), -ENOMEM,
 * -EADDRNOTAVAIL (no local port), -ENETUNREACH (no address of that family)
 * or -ENETDOWN (no flow layer). */
int nt_flow_tcp_connect(int family, const uint8_t *dst_addr, uint16_t dst_port,
			const struct nt_flow_ops *ops, void *arg, struct nt_flow **out);
/* The gateway's side (netstack/gw_accept.c): makes a connection lwIP
 * accepted (ESTABLISHED, in its listener's accept callback) a flow, connected
 * at once (no NT_FLOW_CONNECTED). ops may be NULL until an owner sets some.
 * Returns 0, -EMFILE (max_flows), -ENOMEM or -ENETDOWN; on error pcb is left
 * as it was (the caller aborts it). */
struct tcp_pcb;
int nt_flow_tcp_adopt(struct tcp_pcb *pcb, const struct nt_flow_ops *ops, void *arg,
		      struct nt_flow **out);
/* The open TCP flows whose remote address lies in prefix/prefix_len (4 or
 * 16 bytes as family says): counted when why is NT_FAIL_NONE (a portal
 * grant still in use), else each ended with a RST and NT_FLOW_ERROR (why:
 * the grant ended). Returns how many. */
size_t nt_flow_tcp_to(int family, const uint8_t *prefix, unsigned prefix_len, enum nt_fail why);
/* Hands the flow to a new owner (the splice takes over after connect). */
void nt_flow_set_ops(struct nt_flow *f, const struct nt_flow_ops *ops, void *arg);

/* lwIP -> fd. Returns bytes written (> 0), 0 when nothing is queued,
 * -EAGAIN when fd took nothing (wait for EPOLLOUT, call again), or the
 * socket's error (-EPIPE, -ECONNRESET, ...). */
ssize_t nt_flow_read_to_fd(struct nt_flow *f, int fd);
/* fd -> lwIP. Returns bytes read (> 0), 0 at fd's EOF, -EAGAIN when fd is
 * empty, -ENOBUFS when the send space is full (stop reading fd until
 * NT_FLOW_WRITABLE), -EPIPE when the flow cannot send any more (write side
 * shut, connection gone), -ENOMEM, or fd's error. */
ssize_t nt_flow_write_from_fd(struct nt_flow *f, int fd);
/* Copies buf into the send space, all or nothing. Returns 0, -ENOBUFS when it
 * does not fit (NT_FLOW_WRITABLE follows), -EPIPE or -ENOMEM. */
int nt_flow_write(struct nt_flow *f, const uint8_t *buf, size_t len);
/* Half-close: FIN after everything written so far. Idempotent. */
void nt_flow_shutdown_write(struct nt_flow *f);

/* Frees the flow; no event after. close is graceful: data written so far
 * still goes out, then FIN (the flow lingers, ownerless, until the remote
 * acknowledged it). Unread received data makes it an abort, as close(2)
 * does. abort sends RST and drops everything. */
void nt_flow_close(struct nt_flow *f);
void nt_flow_abort(struct nt_flow *f);
/* The engine gave up (connect timeout): RST, then NT_FLOW_ERROR with why,
 * before this returns. */
void nt_flow_fail(struct nt_flow *f, enum nt_fail why);

/* NT_FAIL_NONE while alive (or closed cleanly by both sides). A reset after
 * connect reads NT_FAIL_REFUSED, like one before. */
enum nt_fail nt_flow_error(const struct nt_flow *f);
bool nt_flow_connected(const struct nt_flow *f);
/* Bytes received and not yet read. */
size_t nt_flow_rx_queued(const struct nt_flow *f);
/* The remote sent FIN and every byte before it was read. */
bool nt_flow_rx_eof(const struct nt_flow *f);
/* Our end (tunnel address and port). Returns 0 or -ENOTCONN (not connected
 * yet), -EINVAL when *len is too small. */
int nt_flow_local_addr(const struct nt_flow *f, struct sockaddr_storage *ss, socklen_t *len);

/* ---- UDP ---- */

struct nt_flow_udp_ops {
	void (*recv)(void *arg, struct nt_flow_udp *u, int family, const uint8_t *addr,
		     uint16_t port, const uint8_t *buf, size_t len);
	/* Optional: an ICMP error came back for a datagram we sent to addr:port.
	 * The socket stays open (it talks to many destinations). */
	void (*error)(void *arg, struct nt_flow_udp *u, int family, const uint8_t *addr,
		      uint16_t port, enum nt_fail why);
};

/* A UDP socket on our tunnel address(es), both families, ephemeral port.
 * Returns 0, -ENOMEM, -EADDRNOTAVAIL or -ENETDOWN. */
int nt_flow_udp_open(const struct nt_flow_udp_ops *ops, void *arg, struct nt_flow_udp **out);
/* Returns 0, -EMSGSIZE, -EAFNOSUPPORT, -ENETUNREACH or -ENOMEM (counted). */
int nt_flow_udp_sendto(struct nt_flow_udp *u, int family, const uint8_t *addr, uint16_t port,
		       const uint8_t *buf, size_t len);
uint16_t nt_flow_udp_port(const struct nt_flow_udp *u);
/* Safe from inside its own recv/error callback. */
void nt_flow_udp_close(struct nt_flow_udp *u);

/* ---- ICMP errors through the tunnel ---- */

/* lwIP 2.1.3 does not pass ICMP errors to TCP or UDP. The engine calls this
 * on every packet from the tunnel before nt_stack_input(). A destination
 * unreachable (ICMPv4 type 3, ICMPv6 type 1) of a known code that quotes a
 * packet of one of our TCP flows (by 4-tuple and a sequence number we have
 * in flight) fails that flow at once (NT_FLOW_ERROR); one quoting a datagram
 * of a UDP socket reaches its error callback. Returns 1 when it did either
 * (the packet is consumed), else 0 (pass it on). */
int nt_flow_handle_icmp_error(const uint8_t *pkt, size_t len);

/* The engine holds pkt, one of our SYNs, instead of sending it (access to
 * its destination is pending): lwIP's count of SYN retransmissions starts
 * again, so that the engine's ConnectTimeout, not lwIP's six tries, is the
 * deadline of an attempt whose SYNs never left. Anything else is ignored. */
void nt_flow_tcp_syn_held(const uint8_t *pkt, size_t len);

/* The parser behind it, without I/O (icmp_err.c; fuzzed). */
struct nt_icmp_err {
	int family;	 /* AF_INET or AF_INET6 */
	uint8_t dst[16]; /* the error's destination: should be us */
	enum nt_fail fail;
	/* The quoted packet, which we sent: */
	uint8_t proto;	    /* 6 TCP, 17 UDP */
	uint8_t q_src[16];  /* us */
	uint8_t q_dst[16];  /* the remote */
	uint16_t q_sport;   /* host order */
	uint16_t q_dport;   /* host order */
	uint32_t q_tcp_seq; /* TCP only */
};
/* 1: a well-formed error of a known code quoting TCP or UDP, *out filled.
 * 0: not a destination-unreachable error, or a code we do not act on
 * (checked in a few bytes). -EINVAL: an ICMP error, but malformed. */
int nt_icmp_err_parse(const uint8_t *pkt, size_t len, struct nt_icmp_err *out);

/* ---- counters ---- */

#define NT_FLOW_FAIL_SLOTS 16 /* failures[] is indexed by enum nt_fail */

struct nt_flow_stats {
	uint64_t tcp_open;	/* gauge: flows their owners hold */
	uint64_t tcp_lingering; /* gauge: closed by the owner, data still unacknowledged */
	uint64_t connects;	/* connections started */
	uint64_t connected;
	uint64_t connect_errors; /* nt_flow_tcp_connect returned an error */
	uint64_t failures[NT_FLOW_FAIL_SLOTS];
	uint64_t resets;	    /* RST from the remote after connect */
	uint64_t aborts;	    /* after connect: retransmissions or keepalives unanswered */
	uint64_t bytes_in;	    /* remote -> owner's fd */
	uint64_t bytes_out;	    /* owner -> remote (taken into the send space) */
	uint64_t mem_send;	    /* gauge: bytes of send chunks allocated */
	uint64_t mem_recv;	    /* gauge: bytes received and queued, not yet read */
	uint64_t mem_total;	    /* gauge: both plus per-flow state */
	uint64_t flow_cap_hits;	    /* -ENOBUFS: the flow's send cap */
	uint64_t total_cap_hits;    /* -ENOBUFS: the global send cap */
	uint64_t rx_total_cap_hits; /* data segments dropped: total_recv_cap reached */
	uint64_t max_flows_hits;    /* -EMFILE */
	uint64_t port_recycles;	    /* a TIME_WAIT pcb dropped to free a local port */
	uint64_t timer_errors;	    /* the deferred-work timer could not be armed */
	uint64_t heap_trims;	    /* memory given back after a burst (NT_FLOW_TRIM_*) */
	uint64_t icmp_matched;	    /* errors that failed a flow or reached a UDP socket */
	uint64_t icmp_unmatched;    /* well-formed, but no flow of ours */
	uint64_t icmp_malformed;    /* ignored */
	uint64_t udp_open;	    /* gauge */
	uint64_t udp_tx;
	uint64_t udp_tx_bytes;
	uint64_t udp_tx_errors;
	uint64_t udp_rx;
	uint64_t udp_rx_bytes;
};

void nt_flow_get_stats(struct nt_flow_stats *out);

#endif
