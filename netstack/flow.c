/* TCP flows in lwIP, for the engine and the splice, and the flow layer
 * around them (init, counters, ICMP errors). UDP sockets: flow_udp.c.
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
 * Send space: chunks of g.chunk bytes in a list, oldest first.
 *
 *   head                                              tail
 *   [acked | unacked ...][... unacked | unqueued ...][... | free ]
 *          ^head_off
 *
 * Bytes read from the owner's fd are appended at the tail, handed to
 * tcp_write by reference (no copy) as lwIP takes them, and a chunk is freed
 * once every byte in it is acknowledged (the sent callback). lwIP never
 * reads the data after acknowledging it. With nothing in flight the last
 * chunk is freed too: an idle flow holds no memory but its struct and pcb.
 *
 * Callbacks and lifetime: lwIP calls on_recv/on_sent/on_connected with the
 * pcb alive and on_err after freeing it. A flow is held while a callback or
 * an event runs; nt_flow_close/abort from inside only mark it, and the last
 * release frees it. A callback returns ERR_ABRT exactly when its own pcb
 * was aborted during it.
 */
#include "netstack/flow_int.h"

#include "netstack/stack.h"
#include "platform/log.h"
#include "platform/loop.h"

#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define MOD NT_FLOW_MOD

#define READ_ROUNDS  16 /* reads per write_from_fd call: at most 16 chunks */
#define WRITE_ROUNDS 16 /* sendmsg calls per read_to_fd call */
#define IOV_BATCH    64
#define LWIP_LEN_MAX 0xffffu /* tcp_write / tcp_recved take a u16 */

#define DEFER_EOF      0x1u
#define DEFER_WRITABLE 0x2u

struct chunk {
	struct chunk *next;
	size_t fill;
	uint8_t data[];
};

struct nt_flow {
	struct link all;     /* g.flows */
	struct link work;    /* g.work_list, while an event is deferred */
	struct link wait;    /* g.waiters, while waiting for the global cap */
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

static struct {
	bool up;
	struct nt_loop *loop;
	size_t chunk;
	size_t max_chunks;
	size_t total_cap;
	unsigned max_flows;
	unsigned lwip_depth; /* our lwIP callbacks on the stack */
	struct link flows;
	struct link work_list;
	struct link waiters;
	struct nt_timer work;
	struct nt_flow_stats stats;
} g;

/* ---- addresses ---- */

static bool is_ours(int family, const uint8_t *addr)
{
	struct netif *n = netif_default;

	if (!n)
		return false;
	if (family == AF_INET)
		return !ip4_addr_isany_val(*netif_ip4_addr(n)) &&
		       memcmp(&netif_ip4_addr(n)->addr, addr, 4) == 0;
	return ip6_addr_isvalid(netif_ip6_addr_state(n, 0)) &&
	       memcmp(netif_ip6_addr(n, 0)->addr, addr, 16) == 0;
}

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
	if (g.lwip_depth == 0)
		nt_stack_timers_kick();
}

/* ---- lifetime ---- */

static void rx_drop(struct nt_flow *f)
{
	while (f->rx_head) {
		struct pbuf *h = f->rx_head;

		f->rx_head = h->next;
		h->next = NULL;
		pbuf_free(h);
	}
	g.stats.mem_recv -= f->rx_len;
	f->rx_tail = NULL;
	f->rx_off = f->rx_len = 0;
}

static void wake_waiters(void);

static void chunk_free(struct chunk *c)
{
	free(c);
	g.stats.mem_send -= g.chunk;
	if (!list_empty(&g.waiters))
		wake_waiters();
}

static void tx_drop(struct nt_flow *f)
{
	while (f->head) {
		struct chunk *c = f->head;

		f->head = c->next;
		chunk_free(c);
	}
	f->tail = NULL;
	f->head_off = f->nchunks = f->unacked = f->unqueued = 0;
}

static void flow_free(struct nt_flow *f)
{
	rx_drop(f);
	tx_drop(f);
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
	tx_drop(f);
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
	g.stats.failures[(unsigned)why < NT_FLOW_FAIL_SLOTS ? why : NT_FAIL_GENERAL]++;
	rx_drop(f);
	tx_drop(f);
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

static void defer(struct nt_flow *f, unsigned what)
{
	if (!g.up)
		return;
	f->defer |= what;
	if (!linked(&f->work))
		list_add_tail(&g.work_list, &f->work);
	if (!nt_timer_armed(&g.work) && nt_timer_arm(g.loop, &g.work, 0) < 0) {
		g.stats.timer_errors++;
		nt_error(MOD, "event=timer_arm_failed");
	}
}

static bool has_space(const struct nt_flow *f)
{
	if (f->tail && f->tail->fill < g.chunk)
		return true;
	return f->nchunks < g.max_chunks && g.stats.mem_send + g.chunk <= g.total_cap;
}

static void wake_waiters(void)
{
	while (!list_empty(&g.waiters)) {
		struct nt_flow *f = container_of(g.waiters.next, struct nt_flow, wait);

		list_del(&f->wait);
		defer(f, DEFER_WRITABLE);
	}
}

static void work_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct link batch;

	(void)loop;
	(void)timer;
	(void)arg;
	/* Take the current batch; events deferred meanwhile re-arm the timer. */
	if (list_empty(&g.work_list))
		return;
	batch = g.work_list;
	batch.next->prev = &batch;
	batch.prev->next = &batch;
	list_init(&g.work_list);
	while (!list_empty(&batch)) {
		struct nt_flow *f = container_of(batch.next, struct nt_flow, work);
		unsigned what = f->defer;

		list_del(&f->work);
		f->defer = 0;
		hold(f);
		if ((what & DEFER_EOF) && f->rx_fin && f->rx_len == 0 && !f->eof_done &&
		    f->error == NT_FAIL_NONE) {
			f->eof_done = true;
			emit(f, NT_FLOW_EOF);
		}
		if ((what & DEFER_WRITABLE) && f->want_writable && !f->owner_gone &&
		    f->error == NT_FAIL_NONE) {
			if (has_space(f)) {
				f->want_writable = false;
				emit(f, NT_FLOW_WRITABLE);
			} else if (!linked(&f->wait)) {
				list_add_tail(&g.waiters, &f->wait);
			}
		}
		release(f);
	}
}

/* ---- send space ---- */

/* Where the first unqueued byte is, and how many follow it in that chunk. */
static uint8_t *unqueued_at(const struct nt_flow *f, size_t *contig)
{
	const struct chunk *c = f->head;
	size_t off = f->head_off + f->unacked;

	while (c && off >= c->fill) {
		off -= c->fill;
		c = c->next;
	}
	if (!c) {
		*contig = 0;
		return NULL;
	}
	*contig = c->fill - off;
	return (uint8_t *)c->data + off;
}

/* Room at the tail, allocating a chunk when the tail is full. *fresh tells
 * that the chunk is new (so that an empty read can give it back). */
static int tail_room(struct nt_flow *f, uint8_t **at, size_t *room, bool *fresh)
{
	struct chunk *c;

	*fresh = false;
	if (!f->tail || f->tail->fill == g.chunk) {
		if (f->nchunks >= g.max_chunks) {
			g.stats.flow_cap_hits++;
			return -ENOBUFS;
		}
		if (g.stats.mem_send + g.chunk > g.total_cap) {
			g.stats.total_cap_hits++;
			if (!linked(&f->wait))
				list_add_tail(&g.waiters, &f->wait);
			return -ENOBUFS;
		}
		c = malloc(sizeof(*c) + g.chunk);
		if (!c)
			return -ENOMEM;
		c->next = NULL;
		c->fill = 0;
		if (f->tail)
			f->tail->next = c;
		else
			f->head = c;
		f->tail = c;
		f->nchunks++;
		g.stats.mem_send += g.chunk;
		*fresh = true;
	}
	*at = f->tail->data + f->tail->fill;
	*room = g.chunk - f->tail->fill;
	return 0;
}

/* Gives back a chunk that tail_room just added and nothing filled. */
static void tail_unfresh(struct nt_flow *f)
{
	struct chunk *c = f->tail, *p;

	if (!c || c->fill)
		return;
	if (f->head == c) {
		f->head = f->tail = NULL;
		f->head_off = 0;
	} else {
		for (p = f->head; p->next != c; p = p->next)
			;
		p->next = NULL;
		f->tail = p;
	}
	f->nchunks--;
	chunk_free(c);
}

/* Frees what the remote acknowledged. */
static bool tx_acked(struct nt_flow *f, size_t len)
{
	bool freed = false;

	f->unacked -= len < f->unacked ? len : f->unacked;
	while (len > 0 && f->head) {
		struct chunk *c = f->head;
		size_t n = c->fill - f->head_off;

		if (n > len)
			n = len;
		f->head_off += n;
		len -= n;
		if (f->head_off < g.chunk)
			break;
		f->head = c->next;
		if (!f->head)
			f->tail = NULL;
		f->head_off = 0;
		f->nchunks--;
		chunk_free(c);
		freed = true;
	}
	if (f->unacked == 0 && f->unqueued == 0 && f->head) {
		tx_drop(f); /* the partly filled last chunk: idle flows hold none */
		freed = true;
	}
	return freed;
}

/* Hands unqueued bytes to lwIP by reference. Returns 0, or -ENOMEM when
 * lwIP took nothing and has nothing in flight (no sent callback will come
 * to retry). */
static int tx_push(struct nt_flow *f)
{
	struct tcp_pcb *pcb = f->pcb;

	while (pcb && f->unqueued > 0) {
		size_t n, contig;
		uint8_t *at = unqueued_at(f, &contig);
		err_t err;

		n = contig < f->unqueued ? contig : f->unqueued;
		if (n > LWIP_LEN_MAX)
			n = LWIP_LEN_MAX;
		if (n > tcp_sndbuf(pcb))
			n = tcp_sndbuf(pcb);
		if (n == 0 || !at)
			break;
		err = tcp_write(pcb, at, (u16_t)n, 0);
		if (err != ERR_OK)
			break;
		f->unqueued -= n;
		f->unacked += n;
	}
	if (pcb && f->unqueued > 0 && !pcb->unsent && !pcb->unacked)
		return -ENOMEM;
	return 0;
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
	tx_drop(f);
	if (!f->owner_gone)
		return false;
	g.stats.tcp_lingering--;
	flow_done(f);
	return true;
}

/* ---- lwIP callbacks ---- */

static void cb_enter(struct nt_flow *f)
{
	hold(f);
	f->in_cb = true;
	g.lwip_depth++;
}

static err_t cb_leave(struct nt_flow *f)
{
	err_t rc = f->abort_in_cb ? ERR_ABRT : ERR_OK;

	f->abort_in_cb = false;
	f->in_cb = false;
	g.lwip_depth--;
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
	g.stats.connected++;
	if (tx_push(f) < 0)
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
	g.stats.mem_recv += p->tot_len;
	emit(f, NT_FLOW_READABLE);
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
	freed = tx_acked(f, len);
	if (tx_push(f) < 0) {
		if (f->owner_gone) {
			pcb_abort(f);
			g.stats.tcp_lingering--;
			flow_done(f);
		} else {
			fail_flow(f, NT_FAIL_GENERAL);
		}
		return cb_leave(f);
	}
	tx_fin(f);
	if (pcb_release(f))
		return cb_leave(f);
	if (freed && f->want_writable && has_space(f)) {
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
		g.stats.tcp_lingering--;
		flow_done(f);
		return;
	}
	if (err == ERR_CLSD) {
		/* Both FINs exchanged and acknowledged: a clean end. */
		tx_drop(f);
		return;
	}
	if (err == ERR_RST) {
		why = NT_FAIL_REFUSED;
		if (f->connected)
			g.stats.resets++;
	} else if (err == ERR_ABRT) {
		why = NT_FAIL_TIMEOUT; /* retransmissions or SYNs exhausted */
	} else {
		why = NT_FAIL_GENERAL;
	}
	hold(f);
	g.lwip_depth++;
	set_error(f, why);
	emit(f, NT_FLOW_ERROR);
	g.lwip_depth--;
	release(f);
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
	g.stats.port_recycles++;
	return true;
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
	if (!g.up)
		return -ENETDOWN;
	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	if (g.stats.tcp_open >= g.max_flows) {
		g.stats.max_flows_hits++;
		g.stats.connect_errors++;
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
	f->pcb = pcb;
	f->ops = ops;
	f->arg = arg;
	tcp_arg(pcb, f);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	/* The splice hands over whatever one read returned; holding it back
	 * for a full segment only adds a round trip to every request. */
	tcp_nagle_disable(pcb);
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
	save_local(f);
	list_add_tail(&g.flows, &f->all);
	g.stats.tcp_open++;
	g.stats.connects++;
	*out = f;
	return 0;

err_pcb:
	pcb_detach(pcb);
	tcp_abort(pcb); /* still CLOSED: freed without a segment */
err_flow:
	free(f);
err_count:
	g.stats.connect_errors++;
	return rc;
}

int nt_flow_tcp_adopt(struct tcp_pcb *pcb, const struct nt_flow_ops *ops, void *arg,
		      struct nt_flow **out)
{
	struct nt_flow *f;

	*out = NULL;
	if (!g.up)
		return -ENETDOWN;
	if (g.stats.tcp_open >= g.max_flows) {
		g.stats.max_flows_hits++;
		return -EMFILE;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->pcb = pcb;
	f->ops = ops;
	f->arg = arg;
	f->connected = true;
	tcp_arg(pcb, f);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_nagle_disable(pcb);
	save_local(f);
	list_add_tail(&g.flows, &f->all);
	g.stats.tcp_open++;
	g.stats.connected++;
	*out = f;
	return 0;
}

void nt_flow_set_ops(struct nt_flow *f, const struct nt_flow_ops *ops, void *arg)
{
	f->ops = ops;
	f->arg = arg;
}

/* Frees n bytes from the front of the receive queue. */
static void rx_consume(struct nt_flow *f, size_t n)
{
	f->rx_len -= n;
	g.stats.mem_recv -= n;
	while (f->rx_head) {
		struct pbuf *h = f->rx_head;
		size_t left = h->len - f->rx_off;

		if (n < left) {
			f->rx_off += n;
			return;
		}
		n -= left;
		f->rx_head = h->next;
		h->next = NULL; /* we held the chain's reference to the rest */
		pbuf_free(h);
		f->rx_off = 0;
	}
	f->rx_tail = NULL;
}

static void rx_recved(struct nt_flow *f, size_t n)
{
	while (f->pcb && n > 0) {
		u16_t part = (u16_t)(n > LWIP_LEN_MAX ? LWIP_LEN_MAX : n);

		tcp_recved(f->pcb, part);
		n -= part;
	}
}

static ssize_t send_iov(int fd, struct iovec *iov, int cnt)
{
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
	ssize_t n;

	do {
		n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == ENOTSOCK)
			n = writev(fd, iov, cnt);
	} while (n < 0 && errno == EINTR);
	return n;
}

ssize_t nt_flow_read_to_fd(struct nt_flow *f, int fd)
{
	size_t total = 0;
	ssize_t rc = 0;

	if (f->owner_gone)
		return -EINVAL;
	for (int round = 0; round < WRITE_ROUNDS && f->rx_len > 0; round++) {
		struct iovec iov[IOV_BATCH];
		size_t want = 0, off = f->rx_off;
		int cnt = 0;
		ssize_t n;

		for (struct pbuf *q = f->rx_head; q && cnt < IOV_BATCH; q = q->next) {
			if (q->len > off) {
				iov[cnt].iov_base = (uint8_t *)q->payload + off;
				iov[cnt].iov_len = q->len - off;
				want += iov[cnt].iov_len;
				cnt++;
			}
			off = 0;
		}
		if (cnt == 0)
			break;
		n = send_iov(fd, iov, cnt);
		if (n < 0) {
			rc = errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
			break;
		}
		rx_consume(f, (size_t)n);
		total += (size_t)n;
		if ((size_t)n < want)
			break; /* the socket is full */
	}
	if (total > 0) {
		rx_recved(f, total);
		g.stats.bytes_in += total;
	}
	if (f->rx_len == 0 && f->rx_fin && !f->eof_done)
		defer(f, DEFER_EOF);
	return total > 0 ? (ssize_t)total : rc;
}

static ssize_t read_fd(int fd, uint8_t *buf, size_t len)
{
	ssize_t n;

	do {
		n = read(fd, buf, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static bool can_send(const struct nt_flow *f)
{
	return f->pcb && !f->fin_wanted && f->error == NT_FAIL_NONE && !f->owner_gone;
}

static int push_out(struct nt_flow *f)
{
	int rc = tx_push(f);

	if (f->pcb && f->connected)
		tcp_output(f->pcb);
	return rc;
}

ssize_t nt_flow_write_from_fd(struct nt_flow *f, int fd)
{
	size_t total = 0;
	ssize_t rc = 0;

	if (!can_send(f))
		return -EPIPE;
	if (f->rd_err) {
		rc = f->rd_err;
		f->rd_err = 0;
		return rc;
	}
	for (int round = 0; round < READ_ROUNDS; round++) {
		uint8_t *at;
		size_t room;
		bool fresh;
		ssize_t n;

		rc = tail_room(f, &at, &room, &fresh);
		if (rc < 0)
			break;
		n = read_fd(fd, at, room);
		if (n <= 0) {
			if (fresh)
				tail_unfresh(f);
			rc = n;
			break;
		}
		f->tail->fill += (size_t)n;
		f->unqueued += (size_t)n;
		total += (size_t)n;
		if ((size_t)n < room) {
			rc = -EAGAIN; /* most likely drained: save a read */
			break;
		}
	}
	if (total == 0) {
		if (rc == -ENOBUFS)
			f->want_writable = true;
		return rc;
	}
	g.stats.bytes_out += total;
	if (rc < 0 && rc != -EAGAIN && rc != -ENOBUFS)
		f->rd_err = (int)rc; /* reported on the next call, after these bytes */
	if (push_out(f) < 0)
		return -ENOMEM;
	return (ssize_t)total;
}

int nt_flow_write(struct nt_flow *f, const uint8_t *buf, size_t len)
{
	size_t free_tail, need = 0;

	if (!can_send(f))
		return -EPIPE;
	if (len == 0)
		return 0;
	if (len > g.max_chunks * g.chunk)
		return -EMSGSIZE;
	free_tail = f->tail ? g.chunk - f->tail->fill : 0;
	if (len > free_tail)
		need = (len - free_tail + g.chunk - 1) / g.chunk;
	if (f->nchunks + need > g.max_chunks) {
		g.stats.flow_cap_hits++;
		f->want_writable = true;
		return -ENOBUFS;
	}
	if (g.stats.mem_send + need * g.chunk > g.total_cap) {
		g.stats.total_cap_hits++;
		f->want_writable = true;
		if (!linked(&f->wait))
			list_add_tail(&g.waiters, &f->wait);
		return -ENOBUFS;
	}
	while (len > 0) {
		uint8_t *at;
		size_t room, n;
		bool fresh;
		int rc = tail_room(f, &at, &room, &fresh);

		if (rc < 0)
			return rc; /* -ENOMEM; what was copied stays, in order */
		n = len < room ? len : room;
		memcpy(at, buf, n);
		f->tail->fill += n;
		f->unqueued += n;
		g.stats.bytes_out += n;
		buf += n;
		len -= n;
	}
	return push_out(f);
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
	g.stats.tcp_open--;
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
	g.stats.tcp_lingering++;
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
	g.stats.tcp_open--;
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

static int icmp_tcp(const struct nt_icmp_err *e)
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
		g.stats.tcp_lingering--;
		flow_done(f);
		return 1;
	}
	hold(f);
	fail_flow(f, e->fail);
	release(f);
	return 1;
}

int nt_flow_handle_icmp_error(const uint8_t *pkt, size_t len)
{
	struct nt_icmp_err e;
	int rc;

	if (!g.up)
		return 0;
	rc = nt_icmp_err_parse(pkt, len, &e);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		g.stats.icmp_malformed++;
		return 0;
	}
	if (!is_ours(e.family, e.dst) || !is_ours(e.family, e.q_src)) {
		g.stats.icmp_unmatched++;
		return 0;
	}
	rc = e.proto == IP_PROTO_TCP ? icmp_tcp(&e) : nt_flow_udp_icmp_error(&e);
	if (rc)
		g.stats.icmp_matched++;
	else
		g.stats.icmp_unmatched++;
	return rc;
}

/* ---- the layer ---- */

int nt_flow_init(struct nt_loop *loop, const struct nt_flow_config *cfg)
{
	struct nt_flow_config c = {0};
	int rc;

	if (g.up)
		return -EALREADY;
	if (!loop)
		return -EINVAL;
	if (cfg)
		c = *cfg;
	if (!c.send_cap)
		c.send_cap = NT_FLOW_DEFAULT_SEND_CAP;
	if (!c.chunk)
		c.chunk = NT_FLOW_DEFAULT_CHUNK;
	if (c.chunk > c.send_cap)
		c.chunk = c.send_cap;
	if (!c.total_send_cap)
		c.total_send_cap = NT_FLOW_DEFAULT_TOTAL_SEND_CAP;
	if (!c.max_flows)
		c.max_flows = NT_FLOW_DEFAULT_MAX_FLOWS;
	if (c.chunk < 512 || c.total_send_cap < c.chunk)
		return -EINVAL;
	rc = nt_flow_udp_layer_init();
	if (rc < 0)
		return rc;
	g.loop = loop;
	g.chunk = c.chunk;
	g.max_chunks = c.send_cap / c.chunk;
	g.total_cap = c.total_send_cap;
	g.max_flows = c.max_flows;
	g.lwip_depth = 0;
	list_init(&g.flows);
	list_init(&g.work_list);
	list_init(&g.waiters);
	nt_timer_init(&g.work, work_cb, NULL);
	memset(&g.stats, 0, sizeof(g.stats));
	g.up = true;
	return 0;
}

void nt_flow_fini(void)
{
	struct link *l, *next;
	size_t owned = 0, udp = 0;

	if (!g.up)
		return;
	for (l = g.flows.next; l != &g.flows; l = next) {
		struct nt_flow *f = container_of(l, struct nt_flow, all);

		next = l->next;
		if (!f->owner_gone) {
			owned++;
			continue;
		}
		if (f->pcb)
			g.stats.tcp_lingering--;
		pcb_abort(f);
		flow_done(f);
	}
	udp = nt_flow_udp_layer_fini();
	if (owned || udp)
		nt_warn(MOD, "event=fini_flows_left tcp=%zu udp=%zu", owned, udp);
	nt_timer_cancel(g.loop, &g.work);
	g.up = false;
}

void nt_flow_get_stats(struct nt_flow_stats *out)
{
	*out = g.stats;
	out->mem_total = g.stats.mem_send + g.stats.mem_recv +
			 (g.stats.tcp_open + g.stats.tcp_lingering) *
			     (sizeof(struct nt_flow) + sizeof(struct tcp_pcb));
	nt_flow_udp_layer_stats(out);
}
