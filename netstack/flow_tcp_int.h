/* SPDX-License-Identifier: MIT */
/* Inside the TCP flows: what flow.c (the layer), flow_tcp.c (the life
 * cycle and lwIP's callbacks) and flow_io.c (bytes to and from fds, the
 * send space) share. flow_udp.c and gw_accept.c do not include this. */
#ifndef NT_NETSTACK_FLOW_TCP_INT_H
#define NT_NETSTACK_FLOW_TCP_INT_H

#include "netstack/flow_int.h"

#include "platform/loop.h"

#define DEFER_EOF      0x1u
#define DEFER_WRITABLE 0x2u
/* Received bytes are announced once per loop iteration, not per segment:
 * the owner then moves everything one receive batch brought in one write. */
#define DEFER_READABLE 0x4u

struct chunk; /* flow_io.c */
struct tcp_pcb;

struct nt_flow {
	struct link all;     /* nt_flow_g.flows */
	struct link work;    /* nt_flow_g.work_list, while an event is deferred */
	struct link wait;    /* nt_flow_g.waiters, while waiting for the global cap */
	struct tcp_pcb *pcb; /* NULL once lwIP freed it or we let go */
	const struct nt_flow_ops *ops;
	void *arg;
	enum nt_fail error;
	unsigned hold;
	unsigned defer;	  /* DEFER_* */
	bool in_cb;	  /* inside one of this pcb's lwIP callbacks */
	bool abort_in_cb; /* ... and the pcb was aborted meanwhile */
	bool connected;
	bool rx_fin;
	bool eof_done;
	bool want_writable;
	bool fin_wanted;
	bool fin_sent;
	bool owner_gone; /* closed or aborted by the owner */
	bool free_pending;
	int rd_err; /* an fd error seen after some bytes were read */
	/* received, not read: pbufs linked through ->next */
	struct pbuf *rx_head, *rx_tail;
	size_t rx_off, rx_len;
	/* send space */
	struct chunk *head, *tail;
	size_t head_off, nchunks;
	size_t unacked;	 /* given to tcp_write, not acknowledged */
	size_t unqueued; /* read into chunks, not given to tcp_write yet */
	struct sockaddr_storage local;
	socklen_t local_len;
};

/* The layer, one per process (lwIP's state is global too). Defined in flow.c. */
struct nt_flow_layer {
	bool up;
	struct nt_loop *loop;
	size_t chunk;
	size_t max_chunks;
	size_t total_cap;
	size_t recv_total_cap; /* stats.mem_recv at which data is dropped at input */
	unsigned max_flows;
	unsigned lwip_depth; /* our lwIP callbacks on the stack */
	struct link flows;
	struct link work_list;
	struct link waiters;
	struct nt_timer work;
	struct nt_timer trim_timer;
	bool trim_due; /* buffered bytes went above NT_FLOW_TRIM_HIGH since the last trim */
	void (*trim)(void *arg);
	void *trim_arg;
	struct nt_flow_stats stats;
};

extern struct nt_flow_layer nt_flow_g;

/* ---- flow.c, for flow_tcp.c and flow_io.c ---- */

/* After stats.mem_send or stats.mem_recv changed: a burst's start or end
 * (NT_FLOW_TRIM_*). */
void nt_flow_mem_grew(void);
void nt_flow_mem_fell(void);

/* ---- flow_tcp.c, for flow.c ---- */

/* From nt_flow_init: empty lists, the deferred-work timer. */
void nt_flow_tcp_layer_init(void);
/* From nt_flow_fini: frees the ownerless (lingering) flows; returns how
 * many flows their owners still hold. */
size_t nt_flow_tcp_layer_fini(void);
/* A parsed ICMP error quoting a TCP segment: 1 when it failed one of our
 * flows, else 0. */
int nt_flow_tcp_icmp_error(const struct nt_icmp_err *e);

/* ---- flow_tcp.c, for flow_io.c ---- */

/* Queues a DEFER_* event for the deferred-work timer. */
void nt_flow_defer(struct nt_flow *f, unsigned what);
/* Send space was freed: every flow waiting for the global cap gets a
 * deferred WRITABLE check. */
void nt_flow_wake_waiters(void);

/* ---- flow_io.c, for flow_tcp.c ---- */

/* Frees the receive queue. */
void nt_flow_rx_drop(struct nt_flow *f);
/* Frees the send space (the segments pointing into it must be gone). */
void nt_flow_tx_drop(struct nt_flow *f);
/* Whether a write could take at least one byte now. */
bool nt_flow_tx_has_space(const struct nt_flow *f);
/* Frees what the remote acknowledged; true when a chunk was freed. */
bool nt_flow_tx_acked(struct nt_flow *f, size_t len);
/* Hands unqueued bytes to lwIP by reference. Returns 0, or -ENOMEM when
 * lwIP took nothing and has nothing in flight (no sent callback will come
 * to retry). */
int nt_flow_tx_push(struct nt_flow *f);

#endif
