// SPDX-License-Identifier: MIT
/* TCP flows at the gateway: the destination first, then the client.
 *
 *   SYN allowed, within limits --> CONNECTING   socket(), connect(): in progress;
 *                                               the SYN is held, a retransmission
 *                                               replaces it; timer = ConnectTimeout
 *   CONNECTING --connected--> the SYN to lwIP (SYN-ACK) --> HALF_OPEN
 *                             lwIP did not take it ------> READY (the next
 *                                                          retransmission is fed)
 *              --ECONNREFUSED--> RST to the client, end
 *              --other error, timer--> ICMP unreachable (net, host), end
 *   READY      --SYN--> as above; timer --> ICMP host unreachable, end
 *   HALF_OPEN  --client ACK: an nt_flow--> STARTING (timer armed at 0: the
 *                                          splice starts on the loop, not
 *                                          inside lwIP's accept callback)
 *              --client RST, SYN-ACKs run out--> end
 *   STARTING   --timer--> SPLICED: socket and flow belong to the splice
 *   SPLICED    --the splice ends (EOFs both ways, or a reset passed on)--> end
 *
 * The one timer per flow is ConnectTimeout while CONNECTING/READY, and the
 * deferred start in STARTING; none otherwise (lwIP times out a half-open
 * connection itself, TCP_SYN_RCVD_TIMEOUT).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/gateway/gw_int.h"
#include "netstack/flow.h"
#include "netstack/splice.h"
#include "netstack/stack.h"
#include "platform/log.h"

#define MOD "gateway"

/* Ends a flow that never reached the splice: everything released. */
static void tcp_end(struct gw_flow *f, const char *how)
{
	if (f->half)
		nt_gw_accept_abort(f->half);
	if (f->flow)
		nt_flow_abort(f->flow);
	if (f->fd >= 0) {
		nt_loop_del_fd(f->gw->loop, f->fd);
		close(f->fd);
	}
	if (how) {
		char src[64], dst[64];

		nt_gw_format_ep(f->key.family, f->key.src, f->key.sport, src, sizeof(src));
		nt_gw_format_ep(f->key.family, f->key.dst, f->key.dport, dst, sizeof(dst));
		nt_info(MOD, "event=flow_failed peer=%s proto=tcp src=%s dst=%s reason=\"%s\"",
			f->peer->id, src, dst, how);
	}
	nt_gw_flow_free(f, NULL);
}

void nt_gw_tcp_close(struct gw_flow *f)
{
	tcp_end(f, NULL);
}

void nt_gw_tcp_reset(struct gw_flow *f)
{
	uint8_t out[NT_GW_ANSWER_MAX];
	struct nt_gw_pkt p;
	int n;

	if (f->state == GW_TCP_SPLICED) {
		nt_splice_reset_notified(f); /* splice_done frees f */
		return;
	}
	/* Before the handshake the client only waits for its SYN's answer;
	 * after it lwIP's abort sends the RST. */
	if (f->syn && nt_gw_pkt_parse(f->syn, f->syn_len, &p) == 0) {
		n = nt_gw_tcp_rst(out, sizeof(out), &p);
		if (n > 0)
			nt_gw_send(f->gw, f->peer, out, (size_t)n);
	}
	tcp_end(f, "revoked");
}

/* The held SYN answered by us: RST (refused) or ICMP unreachable. */
static void answer_syn(struct gw_flow *f, int err)
{
	struct nt_gateway *gw = f->gw;
	struct gw_peer *gp = f->peer;
	uint8_t out[NT_GW_ANSWER_MAX];
	enum nt_fail why = nt_fail_from_errno(err);
	struct nt_gw_pkt p;
	int n;

	if (!f->syn || nt_gw_pkt_parse(f->syn, f->syn_len, &p) != 0)
		return;
	if (why == NT_FAIL_REFUSED) {
		gw->c.refused++;
		gp->c.refused++;
		n = nt_gw_tcp_rst(out, sizeof(out), &p);
		if (n > 0)
			nt_gw_send(gw, gp, out, (size_t)n);
		return;
	}
	gw->c.unreachable++;
	gp->c.unreachable++;
	nt_gw_send_unreach(gw, gp, f->syn, &p,
			   why == NT_FAIL_NET_UNREACH ? NT_GW_UNREACH_NET : NT_GW_UNREACH_HOST);
}

static void fail_connect(struct gw_flow *f, int err)
{
	answer_syn(f, err);
	tcp_end(f, err == ETIMEDOUT ? "timeout" : strerror(err));
}

static void on_timer(struct nt_loop *loop, struct nt_timer *t, void *arg);

/* The destination accepted: now the client gets its SYN-ACK. */
static void feed_syn(struct gw_flow *f)
{
	int rc = nt_gw_accept_syn(f->syn, f->syn_len, f, &f->half);

	if (rc == 0) {
		f->state = GW_TCP_HALF_OPEN;
		nt_timer_cancel(f->gw->loop, &f->timer);
		free(f->syn);
		f->syn = NULL;
		return;
	}
	if (rc == -EAGAIN || rc == -ENOMEM) {
		/* lwIP was short of memory: the retransmission is fed, if it
		 * comes within ConnectTimeout. */
		f->state = GW_TCP_READY;
		if (!nt_timer_armed(&f->timer) &&
		    nt_timer_arm(f->gw->loop, &f->timer,
				 (uint64_t)f->gw->limits.connect_timeout_ms * 1000000u) != 0)
			fail_connect(f, ENOMEM);
		return;
	}
	/* A live connection already has these ports (the SYN went to it), or
	 * a SYN lwIP cannot take (IPv6 extension headers). */
	tcp_end(f, rc == -EEXIST ? "duplicate" : "unsupported");
}

static void on_connect(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct gw_flow *f = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)events;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err) {
		fail_connect(f, err);
		return;
	}
	/* The socket waits, unwatched, until the splice takes it. */
	nt_loop_del_fd(loop, fd);
	feed_syn(f);
}

static void start_connect(struct gw_flow *f)
{
	struct nt_gateway *gw = f->gw;
	struct sockaddr_storage ss;
	socklen_t len = nt_gw_os_dest(gw, f->peer, &f->key, &ss);
	int err;

	if (!len) {
		fail_connect(f, EHOSTUNREACH);
		return;
	}
	gw->c.os_connects++;
	f->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (f->fd < 0) {
		fail_connect(f, errno == EAFNOSUPPORT ? ENETUNREACH : errno);
		return;
	}
	if (connect(f->fd, (struct sockaddr *)&ss, len) == 0) {
		feed_syn(f); /* loopback may connect at once */
		return;
	}
	err = errno;
	if (err != EINPROGRESS) {
		fail_connect(f, err);
		return;
	}
	if (nt_loop_add_fd(gw->loop, f->fd, NT_EV_WRITE, on_connect, f) != 0 ||
	    nt_timer_arm(gw->loop, &f->timer, (uint64_t)gw->limits.connect_timeout_ms * 1000000u) !=
		0) {
		fail_connect(f, ENOMEM);
		return;
	}
	f->state = GW_TCP_CONNECTING;
}

static void hold_syn(struct gw_flow *f, const uint8_t *pkt, size_t len)
{
	uint8_t *copy = malloc(len);

	if (!copy)
		return; /* keep the older one: it says the same */
	memcpy(copy, pkt, len);
	free(f->syn);
	f->syn = copy;
	f->syn_len = len;
}

/* Before lwIP has the connection, a SYN is kept by us (the newest one). */
static bool syn_held(const struct gw_flow *f)
{
	return f->state == GW_TCP_CONNECTING || f->state == GW_TCP_READY;
}

void nt_gw_tcp_syn(struct nt_gateway *gw, struct gw_peer *gp, const uint8_t *pkt, size_t len,
		   const struct nt_gw_pkt *p)
{
	uint8_t out[NT_GW_ANSWER_MAX];
	struct gw_flow *f;
	struct gw_key k;
	char src[64], dst[64];
	int err, n;

	nt_gw_key_of(p, &k);
	nt_gw_format_ep(k.family, k.src, k.sport, src, sizeof(src));
	nt_gw_format_ep(k.family, k.dst, k.dport, dst, sizeof(dst));
	f = nt_gw_flow_find(gw, &k);
	/* Every SYN, retransmissions too: how many a flow cost is countable. */
	nt_debug(MOD, "event=syn peer=%s src=%s dst=%s flow=%s", gp->id, src, dst,
		 !f	       ? "new"
		 : syn_held(f) ? "held"
			       : "open");
	if (f) {
		if (syn_held(f)) {
			gw->c.syn_collapsed++;
			hold_syn(f, pkt, len);
			if (f->state == GW_TCP_READY)
				feed_syn(f);
			return;
		}
		/* A retransmission for a connection lwIP holds: it answers. */
		(void)nt_stack_input(pkt, len);
		return;
	}
	if (!nt_gw_allowed(gw, gp, &k)) {
		nt_gw_send_unreach(gw, gp, pkt, p, NT_GW_UNREACH_PROHIBITED);
		return;
	}
	f = nt_gw_flow_new(gw, gp, &k, on_timer, &err);
	if (!f) {
		/* Over a limit: refused, as a server with a full backlog would. */
		n = nt_gw_tcp_rst(out, sizeof(out), p);
		if (n > 0)
			nt_gw_send(gw, gp, out, (size_t)n);
		nt_debug(MOD, "event=flow_limit peer=%s err=%d", gp->id, err);
		return;
	}
	hold_syn(f, pkt, len);
	if (!f->syn) {
		nt_gw_flow_free(f, NULL);
		return;
	}
	nt_debug(MOD, "event=flow_connecting peer=%s proto=tcp src=%s dst=%s", gp->id, src, dst);
	f->state = GW_TCP_CONNECTING;
	start_connect(f);
}

/* ---- after lwIP's handshake ---- */

static void splice_done(void *arg, const struct nt_splice_result *res)
{
	struct gw_flow *f = arg;
	struct nt_gateway *gw = f->gw;

	/* The splice's "client" is our destination socket, its "remote" the
	 * client's flow in lwIP. */
	f->bytes_up = res->bytes_down;
	f->bytes_down = res->bytes_up;
	gw->c.bytes_up += f->bytes_up;
	gw->c.bytes_down += f->bytes_down;
	f->peer->c.bytes_up += f->bytes_up;
	f->peer->c.bytes_down += f->bytes_down;
	f->fd = -1;
	f->flow = NULL;
	nt_gw_flow_free(f, res->reset ? "reset" : "closed");
}

static void start_splice(struct gw_flow *f)
{
	struct nt_gateway *gw = f->gw;
	struct nt_flow *flow = f->flow;
	int fd = f->fd;
	char src[64], dst[64];

	nt_gw_format_ep(f->key.family, f->key.src, f->key.sport, src, sizeof(src));
	nt_gw_format_ep(f->key.family, f->key.dst, f->key.dport, dst, sizeof(dst));
	nt_info(MOD, "event=flow_opened peer=%s proto=tcp src=%s dst=%s", f->peer->id, src, dst);
	gw->c.tcp_flows++;
	f->peer->c.tcp_flows++;
	f->state = GW_TCP_SPLICED;
	f->fd = -1;
	f->flow = NULL;
	/* Both ends are the splice's now, and done() ends the flow, maybe
	 * before this returns. */
	(void)nt_splice_start_flow_notify(gw->loop, fd, flow, NULL, 0, splice_done, f);
}

static void on_timer(struct nt_loop *loop, struct nt_timer *t, void *arg)
{
	struct gw_flow *f = arg;

	(void)loop;
	(void)t;
	if (f->state == GW_TCP_STARTING) {
		start_splice(f);
		return;
	}
	fail_connect(f, ETIMEDOUT);
}

int nt_gw_tcp_established(void *arg, struct nt_flow *flow)
{
	struct gw_flow *f = arg;

	f->half = NULL;
	if (nt_timer_arm(f->gw->loop, &f->timer, 0) != 0) {
		tcp_end(f, "nomem"); /* the caller resets the flow */
		return -ENOMEM;
	}
	f->flow = flow;
	f->state = GW_TCP_STARTING;
	return 0;
}

void nt_gw_tcp_failed(void *arg, enum nt_fail why)
{
	struct gw_flow *f = arg;

	f->half = NULL; /* lwIP freed it */
	f->gw->c.handshake_failed++;
	tcp_end(f, why == NT_FAIL_REFUSED ? "client_reset" : "handshake_timeout");
}
