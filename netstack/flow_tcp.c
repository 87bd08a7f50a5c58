// SPDX-License-Identifier: MIT
/* TCP flows in lwIP, for the engine and the splice: their life cycle, lwIP
 * callbacks and deferred events. Moving bytes and the send space:
 * flow_io.c; the layer (init, counters, ICMP dispatch): flow.c; UDP
 * sockets: flow_udp.c.
 *
 * A TCP flow, from the owner's view:
 *
 *   CONNECTING --SYN-ACK--------------------------> OPEN        (CONNECTED)
 *              --RST / ICMP / lwIP gives up / fail-> DEAD        (ERROR)
 *   OPEN       --remote FIN, queue read-----------> OPEN, rx done (EOF)
 *              --shutdown_write-------------------> OPEN, FIN after the send space
 *              --RST / ICMP / retransmissions out-> DEAD        (ERROR)
 *              --both FINs acknowledged-----------> pcb gone, error NONE
 *   any        --nt_flow_close--> LINGERING (ownerless) until the send space
 *                                 is acknowledged and FIN queued, then freed;
 *                                 freed at once when nothing is in flight
 *              --nt_flow_abort--> RST, freed
 *
 * Timers: none per flow. lwIP's retransmission, FIN_WAIT_2 and TIME_WAIT
 * timers run in tcp_tmr (netstack/stack.c). One layer-wide one-shot timer,
 * "work", armed with delay 0 only while some flow has a deferred event:
 * EOF after the read that emptied the queue, WRITABLE after the global send
 * cap let go. Deferring them keeps events out of the owner's own calls.
 *
 * The send space (flow_io.c) holds the bytes lwIP's segments point to: a
 * flow that still has bytes in flight cannot let go of its pcb.
 *
 * Received bytes wait in each flow's queue until the owner reads them; their
 * total over all flows is capped at input (rx_admit, below).
 *
 * Callbacks and lifetime: lwIP calls on_recv/on_sent/on_connected with the
 * pcb alive and on_err after freeing it. A flow is held while a callback or
 * an event runs; nt_flow_close/abort from inside only mark it, and the last
 * release frees it. A callback returns ERR_ABRT exactly when its own pcb
 * was aborted during it.
 */
#include "netstack/flow_tcp_int.h"
#include "netstack/ippkt.h"

#include "netstack/stack.h"
#include "platform/log.h"
#include "platform/loop.h"

#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

#include <stdlib.h>
#include <string.h>

#define MOD "flow"

static void save_local(struct nt_flow *f)
{
	uint8_t a[16];
	int family = nt_flow_ip_to_addr(&f->pcb->local_ip, a);

	memset(&f->local, 0, sizeof(f->local));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&f->local;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(f->pcb->local_port);
		memcpy(&sin->sin_addr, a, 4);
		f->local_len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&f->local;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(f->pcb->local_port);
		memcpy(&sin6->sin6_addr, a, 16);
		f->local_len = sizeof(*sin6);
	}
}

static void kick_timers(void)
{
	if (nt_flow_g.lwip_depth == 0)
		nt_stack_timers_kick();
}

/* ---- lifetime ---- */

static void flow_free(struct nt_flow *f)
{
	nt_flow_rx_drop(f);
	nt_flow_tx_drop(f);
	list_del(&f->all);
	list_del(&f->work);
	list_del(&f->wait);
	free(f);
}

static void hold(struct nt_flow *f)
{
	f->hold++;
}

static void release(struct nt_flow *f)
{
	if (--f->hold == 0 && f->free_pending)
		flow_free(f);
}

/* Frees f now, or when the last holder lets go. */
static void flow_done(struct nt_flow *f)
{
	if (f->hold)
		f->free_pending = true;
	else
		flow_free(f);
}

static void pcb_detach(struct tcp_pcb *pcb)
{
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_sent(pcb, NULL);
	tcp_err(pcb, NULL);
}

/* RST. lwIP frees the pcb; our err callback is not called. */
static void pcb_abort(struct nt_flow *f)
{
	struct tcp_pcb *pcb = f->pcb;

	if (!pcb)
		return;
	f->pcb = NULL;
	pcb_detach(pcb);
	tcp_abort(pcb);
	if (f->in_cb)
		f->abort_in_cb = true;
	/* The segments referencing the send space are gone with the pcb. */
	nt_flow_tx_drop(f);
	kick_timers();
}

static void emit(struct nt_flow *f, enum nt_flow_event ev)
{
	if (f->owner_gone || !f->ops || !f->ops->event)
		return;
	hold(f);
	f->ops->event(f->arg, f, ev);
	release(f);
}

static void set_error(struct nt_flow *f, enum nt_fail why)
{
	f->error = why;
	nt_flow_g.stats.failures[(unsigned)why < NT_FLOW_FAIL_SLOTS ? why : NT_FAIL_GENERAL]++;
	nt_flow_rx_drop(f);
	nt_flow_tx_drop(f);
	list_del(&f->wait);
	f->want_writable = false;
}

static void fail_flow(struct nt_flow *f, enum nt_fail why)
{
	pcb_abort(f);
	set_error(f, why);
	emit(f, NT_FLOW_ERROR);
}

/* ---- deferred events ---- */

void nt_flow_defer(struct nt_flow *f, unsigned what)
{
	if (!nt_flow_g.up)
		return;
	f->defer |= what;
	if (!linked(&f->work))
		list_add_tail(&nt_flow_g.work_list, &f->work);
	if (!nt_timer_armed(&nt_flow_g.work) &&
	    nt_timer_arm(nt_flow_g.loop, &nt_flow_g.work, 0) < 0) {
		nt_flow_g.stats.timer_errors++;
		nt_error(MOD, "event=timer_arm_failed");
	}
}

void nt_flow_wake_waiters(void)
{
	while (!list_empty(&nt_flow_g.waiters)) {
		struct nt_flow *f = container_of(nt_flow_g.waiters.next, struct nt_flow, wait);

		list_del(&f->wait);
		nt_flow_defer(f, DEFER_WRITABLE);
	}
}

static void work_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct link batch;

	(void)loop;
	(void)timer;
	(void)arg;
	/* Take the current batch; events deferred meanwhile re-arm the timer. */
	if (list_empty(&nt_flow_g.work_list))
		return;
	batch = nt_flow_g.work_list;
	batch.next->prev = &batch;
	batch.prev->next = &batch;
	list_init(&nt_flow_g.work_list);
	while (!list_empty(&batch)) {
		struct nt_flow *f = container_of(batch.next, struct nt_flow, work);
		unsigned what = f->defer;

		list_del(&f->work);
		f->defer = 0;
		hold(f);
		if ((what & DEFER_READABLE) && f->rx_len > 0 && !f->owner_gone &&
		    f->error == NT_FAIL_NONE)
			emit(f, NT_FLOW_READABLE);
		if ((what & DEFER_EOF) && f->rx_fin && f->rx_len == 0 && !f->eof_done &&
		    f->error == NT_FAIL_NONE) {
			f->eof_done = true;
			emit(f, NT_FLOW_EOF);
		}
		if ((what & DEFER_WRITABLE) && f->want_writable && !f->owner_gone &&
		    f->error == NT_FAIL_NONE) {
			if (nt_flow_tx_has_space(f)) {
				f->want_writable = false;
				emit(f, NT_FLOW_WRITABLE);
			} else if (!linked(&f->wait)) {
				list_add_tail(&nt_flow_g.waiters, &f->wait);
			}
		}
		release(f);
	}
}

/* FIN, once everything read into the send space went to lwIP. */
static void tx_fin(struct nt_flow *f)
{
	if (!f->fin_wanted || f->fin_sent || !f->pcb || !f->connected || f->unqueued)
		return;
	f->fin_sent = true;
	/* ERR_CONN: already closing. Out of memory, lwIP retries from tcp_tmr. */
	(void)tcp_shutdown(f->pcb, 0, 1);
}

/* Lets go of the pcb once lwIP needs nothing more from us: our FIN follows
 * the last byte, every byte is acknowledged (no segment points into the send
 * space), and either the remote's FIN came or the owner is gone. From there
 * lwIP ends the connection alone; in particular a pcb entering TIME_WAIT
 * does so without a callback and is later freed without one, so we must not
 * keep a pointer to it. Returns true when f itself was freed. */
static bool pcb_release(struct nt_flow *f)
{
	if (!f->pcb || !f->fin_sent || f->unacked || f->unqueued)
		return false;
	if (!f->rx_fin && !f->owner_gone)
		return false;
	pcb_detach(f->pcb);
	f->pcb = NULL;
	nt_flow_tx_drop(f);
	if (!f->owner_gone)
		return false;
	nt_flow_g.stats.tcp_lingering--;
	flow_done(f);
	return true;
}

/* ---- lwIP callbacks ---- */

static void cb_enter(struct nt_flow *f)
{
	hold(f);
	f->in_cb = true;
	nt_flow_g.lwip_depth++;
}

static err_t cb_leave(struct nt_flow *f)
{
	err_t rc = f->abort_in_cb ? ERR_ABRT : ERR_OK;

	f->abort_in_cb = false;
	f->in_cb = false;
	nt_flow_g.lwip_depth--;
	release(f);
	return rc;
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct nt_flow *f = arg;

	(void)pcb;
	(void)err; /* always ERR_OK in 2.1.3 */
	if (!f)
		return ERR_OK;
	cb_enter(f);
	f->connected = true;
	nt_flow_g.stats.connected++;
	if (nt_flow_tx_push(f) < 0)
		fail_flow(f, NT_FAIL_GENERAL);
	tx_fin(f);
	if (f->pcb)
		emit(f, NT_FLOW_CONNECTED);
	return cb_leave(f);
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct nt_flow *f = arg;
	struct pbuf *last;

	(void)pcb;
	(void)err;
	if (!f) {
		if (p)
			pbuf_free(p);
		return ERR_OK;
	}
	cb_enter(f);
	if (!p) {
		f->rx_fin = true;
		if (pcb_release(f))
			return cb_leave(f);
		if (f->rx_len == 0 && !f->eof_done) {
			f->eof_done = true;
			emit(f, NT_FLOW_EOF);
		}
		return cb_leave(f);
	}
	if (f->owner_gone) {
		/* Cannot happen: the pcb's rx side is shut at close, and lwIP
		 * resets a connection that sends more. */
		pbuf_free(p);
		return cb_leave(f);
	}
	for (last = p; last->next; last = last->next)
		;
	if (f->rx_tail)
		f->rx_tail->next = p;
	else
		f->rx_head = p;
	f->rx_tail = last;
	f->rx_len += p->tot_len;
	nt_flow_g.stats.mem_recv += p->tot_len;
	nt_flow_mem_grew();
	nt_flow_defer(f, DEFER_READABLE);
	return cb_leave(f);
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct nt_flow *f = arg;
	bool freed;

	(void)pcb;
	if (!f)
		return ERR_OK;
	cb_enter(f);
	freed = nt_flow_tx_acked(f, len);
	if (nt_flow_tx_push(f) < 0) {
		if (f->owner_gone) {
			pcb_abort(f);
			nt_flow_g.stats.tcp_lingering--;
			flow_done(f);
		} else {
			fail_flow(f, NT_FAIL_GENERAL);
		}
		return cb_leave(f);
	}
	tx_fin(f);
	if (pcb_release(f))
		return cb_leave(f);
	if (freed && f->want_writable && nt_flow_tx_has_space(f)) {
		f->want_writable = false;
		emit(f, NT_FLOW_WRITABLE);
	}
	return cb_leave(f);
}

static void on_err(void *arg, err_t err)
{
	struct nt_flow *f = arg;
	enum nt_fail why;

	if (!f)
		return;
	f->pcb = NULL; /* lwIP freed it */
	if (f->owner_gone) {
		nt_flow_g.stats.tcp_lingering--;
		flow_done(f);
		return;
	}
	if (err == ERR_CLSD) {
		/* Both FINs exchanged and acknowledged: a clean end. */
		nt_flow_tx_drop(f);
		return;
	}
	if (err == ERR_RST) {
		why = NT_FAIL_REFUSED;
		if (f->connected)
			nt_flow_g.stats.resets++;
	} else if (err == ERR_ABRT) {
		why = NT_FAIL_TIMEOUT; /* retransmissions, SYNs or keepalives exhausted */
		if (f->connected)
			nt_flow_g.stats.aborts++;
	} else {
		why = NT_FAIL_GENERAL;
	}
	hold(f);
	nt_flow_g.lwip_depth++;
	set_error(f, why);
	emit(f, NT_FLOW_ERROR);
	nt_flow_g.lwip_depth--;
	release(f);
}

/* ---- the global receive cap ---- */

/* lwIP is about to process a segment carrying len bytes for pcb. While
 * what all flows received and their owners have not read (mem_recv) is at
 * total_recv_cap, data for our flows is dropped here, before lwIP sees it.
 *
 * Why here and not later: refusing it in on_recv (ERR_MEM) bounds nothing,
 * because by then lwIP has advanced rcv_nxt, shrunk the window and queued the
 * ACK, so it must keep the pbuf (pcb->refused_data) and re-offer it from its
 * fast timer: every flow would still hold one more delivery. Withholding
 * tcp_recved bounds nothing either: each new flow opens with a full window.
 * A segment dropped here is unacknowledged, plain loss to the sender, which
 * retransmits; once reads bring the total under the cap the next
 * (re)transmission is taken. Nothing is parked on our side, so nothing needs
 * resuming. Segments without data (ACKs, a bare FIN), SYN and RST always
 * pass: sending and closing go on. The total can exceed the cap by the one
 * delivery admitted just below it: a segment, plus the out-of-order data it
 * completes (lwIP's, bounded per flow by TCP_OOSEQ_MAX_BYTES). */
static bool rx_admit(struct tcp_pcb *pcb, size_t len)
{
	const struct nt_flow *f = pcb->callback_arg;

	(void)len;
	if (nt_flow_g.stats.mem_recv < nt_flow_g.recv_total_cap)
		return true;
	/* Not a flow's (lwIP's default handler frees what it gets), or closed
	 * by its owner (lwIP resets a remote that sends more): nothing held. */
	if (pcb->recv != on_recv || !f || f->owner_gone)
		return true;
	nt_flow_g.stats.rx_total_cap_hits++;
	return false;
}

/* ---- TCP API ---- */

/* lwIP hands out local ports from one range across all pcbs, TIME_WAIT
 * ones included. When the range is exhausted, drop the pcb longest in
 * TIME_WAIT: the tail of lwIP's list (third_party/lwip-pcb-hash.patch keeps
 * it in order), found without a walk. */
static bool recycle_port(void)
{
	struct tcp_pcb *oldest = tcp_nt_tw_oldest();

	if (!oldest)
		return false;
	tcp_abort(oldest);
	nt_flow_g.stats.port_recycles++;
	return true;
}

/* Ours from here: lwIP's callbacks come to f. The splice hands over
 * whatever one read returned; holding it back for a full segment (Nagle)
 * only adds a round trip to every request. */
static void pcb_attach(struct nt_flow *f, struct tcp_pcb *pcb, const struct nt_flow_ops *ops,
		       void *arg)
{
	f->pcb = pcb;
	f->ops = ops;
	f->arg = arg;
	tcp_arg(pcb, f);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_nagle_disable(pcb);
}

/* An open flow, counted against max_flows; its pcb has its local address. */
static void flow_register(struct nt_flow *f)
{
	save_local(f);
	list_add_tail(&nt_flow_g.flows, &f->all);
	nt_flow_g.stats.tcp_open++;
}

int nt_flow_tcp_connect(int family, const uint8_t *dst_addr, uint16_t dst_port,
			const struct nt_flow_ops *ops, void *arg, struct nt_flow **out)
{
	struct nt_flow *f;
	struct tcp_pcb *pcb;
	ip_addr_t dst;
	err_t err;
	int rc;

	*out = NULL;
	if (!nt_flow_g.up)
		return -ENETDOWN;
	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	if (nt_flow_g.stats.tcp_open >= nt_flow_g.max_flows) {
		nt_flow_g.stats.max_flows_hits++;
		nt_flow_g.stats.connect_errors++;
		return -EMFILE;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		rc = -ENOMEM;
		goto err_count;
	}
	pcb = tcp_new_ip_type(family == AF_INET ? IPADDR_TYPE_V4 : IPADDR_TYPE_V6);
	if (!pcb) {
		rc = -ENOMEM;
		goto err_flow;
	}
	pcb_attach(f, pcb, ops, arg);
	ip_set_option(pcb, SOF_KEEPALIVE); /* TCP_KEEP* in lwipopts.h */
	/* RFC 6298's initial RTO is 1 s; lwIP starts at 3 s, all of which a loss
	 * in the first flight (before any RTT sample) would cost. */
	pcb->rto = pcb->sv = 1000 / TCP_SLOW_INTERVAL;
	nt_flow_addr_to_ip(family, dst_addr, &dst);
	err = tcp_connect(pcb, &dst, dst_port, on_connected);
	if (err == ERR_BUF && recycle_port())
		err = tcp_connect(pcb, &dst, dst_port, on_connected);
	if (err != ERR_OK) {
		rc = nt_flow_lwip_errno(err);
		goto err_pcb;
	}
	flow_register(f);
	nt_flow_g.stats.connects++;
	*out = f;
	return 0;

err_pcb:
	pcb_detach(pcb);
	tcp_abort(pcb); /* still CLOSED: freed without a segment */
err_flow:
	free(f);
err_count:
	nt_flow_g.stats.connect_errors++;
	return rc;
}

int nt_flow_tcp_adopt(struct tcp_pcb *pcb, const struct nt_flow_ops *ops, void *arg,
		      struct nt_flow **out)
{
	struct nt_flow *f;

	*out = NULL;
	if (!nt_flow_g.up)
		return -ENETDOWN;
	if (nt_flow_g.stats.tcp_open >= nt_flow_g.max_flows) {
		nt_flow_g.stats.max_flows_hits++;
		return -EMFILE;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->connected = true;
	pcb_attach(f, pcb, ops, arg);
	/* As on the flows we open: a gateway flow whose client vanished (its
	 * process killed, its host gone) would otherwise hold the flow and
	 * the socket to the destination until the destination speaks. */
	ip_set_option(pcb, SOF_KEEPALIVE);
	flow_register(f);
	nt_flow_g.stats.connected++;
	*out = f;
	return 0;
}

void nt_flow_set_ops(struct nt_flow *f, const struct nt_flow_ops *ops, void *arg)
{
	f->ops = ops;
	f->arg = arg;
}

void nt_flow_shutdown_write(struct nt_flow *f)
{
	if (f->owner_gone || f->fin_wanted)
		return;
	f->fin_wanted = true;
	tx_fin(f);
	(void)pcb_release(f);
}

void nt_flow_close(struct nt_flow *f)
{
	struct tcp_pcb *pcb;

	if (!f || f->owner_gone)
		return;
	f->owner_gone = true;
	f->ops = NULL;
	nt_flow_g.stats.tcp_open--;
	list_del(&f->wait);
	pcb = f->pcb;
	if (!pcb) {
		flow_done(f);
		return;
	}
	/* Unread data, or not connected yet: nothing graceful to finish. */
	if (f->rx_len > 0 || !f->connected || pcb->refused_data ||
	    pcb->rcv_wnd != TCP_WND_MAX(pcb)) {
		pcb_abort(f);
		flow_done(f);
		return;
	}
	/* Shut the receive side now: lwIP resets a remote that sends more. */
	(void)tcp_shutdown(pcb, 1, 0);
	f->fin_wanted = true;
	tx_fin(f);
	if (!f->in_cb)
		tcp_output(pcb);
	nt_flow_g.stats.tcp_lingering++;
	if (!pcb_release(f))
		nt_debug(MOD, "event=linger bytes=%zu", f->unacked + f->unqueued);
	kick_timers();
}

void nt_flow_abort(struct nt_flow *f)
{
	if (!f || f->owner_gone)
		return;
	f->owner_gone = true;
	f->ops = NULL;
	nt_flow_g.stats.tcp_open--;
	pcb_abort(f);
	flow_done(f);
}

void nt_flow_fail(struct nt_flow *f, enum nt_fail why)
{
	if (!f || f->owner_gone || f->error != NT_FAIL_NONE)
		return;
	hold(f);
	fail_flow(f, why == NT_FAIL_NONE ? NT_FAIL_GENERAL : why);
	release(f);
}

enum nt_fail nt_flow_error(const struct nt_flow *f)
{
	return f->error;
}

bool nt_flow_connected(const struct nt_flow *f)
{
	return f->connected;
}

size_t nt_flow_rx_queued(const struct nt_flow *f)
{
	return f->rx_len;
}

bool nt_flow_rx_eof(const struct nt_flow *f)
{
	return f->rx_fin && f->rx_len == 0;
}

int nt_flow_local_addr(const struct nt_flow *f, struct sockaddr_storage *ss, socklen_t *len)
{
	if (!f->connected || f->local_len == 0)
		return -ENOTCONN;
	if (*len < f->local_len)
		return -EINVAL;
	memcpy(ss, &f->local, f->local_len);
	*len = f->local_len;
	return 0;
}

/* ---- ICMP errors ---- */

int nt_flow_tcp_icmp_error(const struct nt_icmp_err *e)
{
	ip_addr_t local, remote;
	struct tcp_pcb *pcb;
	struct nt_flow *f;

	/* The quote is of a segment we sent: its source is our side. */
	nt_flow_addr_to_ip(e->family, e->q_src, &local);
	nt_flow_addr_to_ip(e->family, e->q_dst, &remote);
	pcb = tcp_nt_lookup(&local, e->q_sport, &remote, e->q_dport);
	if (!pcb || pcb->state == TIME_WAIT || pcb->errf != on_err || !pcb->callback_arg)
		return 0;
	f = pcb->callback_arg;
	/* Only a segment we may still have in flight: a blind attacker would
	 * have to guess the sequence space (RFC 5927). */
	if (!TCP_SEQ_BETWEEN(e->q_tcp_seq, pcb->lastack, pcb->snd_nxt))
		return 0;
	if (f->owner_gone) {
		pcb_abort(f);
		nt_flow_g.stats.tcp_lingering--;
		flow_done(f);
		return 1;
	}
	hold(f);
	fail_flow(f, e->fail);
	release(f);
	return 1;
}

void nt_flow_tcp_syn_held(const uint8_t *pkt, size_t len)
{
	ip_addr_t local, remote;
	struct tcp_pcb *pcb;
	struct nt_ippkt ip;
	const uint8_t *tcp;

	if (nt_ippkt_parse(pkt, len, &ip) != 0 || ip.proto != IP_PROTO_TCP || !ip.has_l4 ||
	    ip.l4_len < 20)
		return;
	tcp = pkt + ip.l4;
	if ((tcp[13] & (TCP_SYN | TCP_ACK)) != TCP_SYN)
		return;
	nt_flow_addr_to_ip(ip.family, ip.src, &local);
	nt_flow_addr_to_ip(ip.family, ip.dst, &remote);
	pcb = tcp_nt_lookup(&local, nt_ippkt_get16(tcp), &remote, nt_ippkt_get16(tcp + 2));
	if (pcb && pcb->state == SYN_SENT && pcb->errf == on_err)
		pcb->nrtx = 0;
}

static bool in_prefix(const uint8_t *a, const uint8_t *prefix, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, prefix, whole) != 0)
		return false;
	return !rest || ((a[whole] ^ prefix[whole]) & (uint8_t)(0xff00u >> rest)) == 0;
}

size_t nt_flow_tcp_to(int family, const uint8_t *prefix, unsigned prefix_len, enum nt_fail why)
{
	struct link *n, *next;
	uint8_t remote[16];
	size_t ended = 0;

	if (!nt_flow_g.up || prefix_len > (family == AF_INET ? 32u : 128u))
		return 0;
	for (n = nt_flow_g.flows.next; n != &nt_flow_g.flows; n = next) {
		struct nt_flow *f = container_of(n, struct nt_flow, all);

		next = n->next;
		if (!f->pcb || f->owner_gone || f->error != NT_FAIL_NONE ||
		    nt_flow_ip_to_addr(&f->pcb->remote_ip, remote) != family ||
		    !in_prefix(remote, prefix, prefix_len))
			continue;
		ended++;
		if (why == NT_FAIL_NONE)
			continue;
		/* Held: the owner's callback may close it. */
		hold(f);
		fail_flow(f, why);
		next = n->next;
		release(f);
	}
	return ended;
}

/* ---- for the layer (flow.c) ---- */

void nt_flow_tcp_layer_init(void)
{
	nt_flow_g.lwip_depth = 0;
	list_init(&nt_flow_g.flows);
	list_init(&nt_flow_g.work_list);
	list_init(&nt_flow_g.waiters);
	nt_timer_init(&nt_flow_g.work, work_cb, NULL);
	nt_stack_set_tcp_filter(rx_admit);
}

size_t nt_flow_tcp_layer_fini(void)
{
	struct link *l, *next;
	size_t owned = 0;

	nt_stack_set_tcp_filter(NULL);
	for (l = nt_flow_g.flows.next; l != &nt_flow_g.flows; l = next) {
		struct nt_flow *f = container_of(l, struct nt_flow, all);

		next = l->next;
		if (!f->owner_gone) {
			owned++;
			continue;
		}
		if (f->pcb)
			nt_flow_g.stats.tcp_lingering--;
		pcb_abort(f);
		flow_done(f);
	}
	return owned;
}
