// SPDX-License-Identifier: MIT
/* The send side of the tunnel: the output queue, encryption of outgoing
 * packets, handshake initiations and keepalives, and the actions of each
 * peer's timers.
 *
 * The output queue is a ring of datagram slots whose buffers are kept for
 * reuse. Datagrams leave in batches (sendmmsg) at the end of the loop
 * iteration (a zero-delay timer) or when a batch is full, as fast as the
 * pacer lets them; while the socket is blocked (EAGAIN/ENOBUFS) they wait
 * for EPOLLOUT. Only a queue full with txq_max datagrams drops (counted).
 *
 * The pacer: lwIP answers a train of ACKs with a train of segments, so a
 * congestion window leaves in one burst of hundreds of datagrams, faster
 * than any receiver reads them; the tail of the burst then dies in the
 * peer's socket buffer (wireguard-go's holds about 90), and TCP takes it for
 * congestion. So datagrams leave at most at twice the rate they arrive in
 * the queue (averaged over PACE_TAU_NS, a few round trips of a 20 ms path;
 * never below PACE_FLOOR_BPS), after an unpaced burst of PACE_BURST_BYTES:
 * a burst is spread over about half the time it took to build up, as a
 * paced TCP sender (2 x cwnd / RTT) would. A steady stream is never held
 * back. The pacer is a token bucket of bytes:
 *
 *   queued --tokens > 0--> sendmmsg, tokens -= bytes sent
 *          --no tokens--> flush_timer when a quantum is earned (pace_waiting);
 *                         meanwhile datagrams only queue --> sendmmsg
 *          --queue full--> one batch leaves regardless: late beats lost
 */
#include "core/tunnel/tunnel_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "netstack/ippkt.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/sockaddr.h"

#define MOD "tunnel"

#define TX_SLOT_MIN 2048

#define NSEC 1000000000ull
/* The pacer's parameters (see the top of the file). */
#define PACE_TAU_NS	     (50 * 1000 * 1000ull)
#define PACE_GAIN	     2
#define PACE_FLOOR_BPS	     (16 * 1000 * 1000ull)
#define PACE_BURST_BYTES     (24 * 1024)
#define PACE_QUANTUM_MIN     (6 * 1024)
#define PACE_QUANTUM_TIME_NS (250 * 1000ull)

/* ---- timers ---- */

void nt_tunnel_peer_timer_sync(struct nt_tunnel_peer *tp)
{
	uint64_t due = wg_timers_next_deadline(&tp->wg.timers);

	if (!due) {
		nt_timer_cancel(tp->tun->loop, &tp->timer);
		return;
	}
	if (!nt_timer_armed(&tp->timer) || tp->timer.deadline_ns != due)
		nt_timer_arm_at(tp->tun->loop, &tp->timer, due);
}

/* ---- pacer ---- */

/* Averages the arrival rate: an exponential decay over TAU, plus len. */
static void pace_arrival(struct nt_tunnel *t, size_t len, uint64_t now)
{
	uint64_t dt = now - t->pace_in_ns;

	if (dt >= PACE_TAU_NS)
		t->pace_in_rate = 0;
	else
		t->pace_in_rate -= t->pace_in_rate * dt / PACE_TAU_NS;
	t->pace_in_rate += (uint64_t)len * NSEC / PACE_TAU_NS;
	t->pace_in_ns = now;
}

static uint64_t pace_rate(const struct nt_tunnel *t)
{
	uint64_t r = PACE_GAIN * t->pace_in_rate;

	return r > PACE_FLOOR_BPS ? r : PACE_FLOOR_BPS;
}

static void pace_refill(struct nt_tunnel *t, uint64_t now)
{
	uint64_t dt = now - t->pace_fill_ns;

	/* A full bucket takes at most a few ms at the floor rate: capping dt
	 * keeps dt * rate far from overflowing. */
	if (dt > PACE_TAU_NS)
		dt = PACE_TAU_NS;
	t->pace_tokens += (int64_t)(dt * pace_rate(t) / NSEC);
	if (t->pace_tokens > PACE_BURST_BYTES)
		t->pace_tokens = PACE_BURST_BYTES;
	t->pace_fill_ns = now;
}

/* Out of tokens: the flush timer fires when a quantum is earned, at least
 * PACE_QUANTUM_TIME_NS worth of the rate (but no more than the bucket
 * holds), so that a fast stream costs a few thousand wake-ups a second, not
 * one per datagram. Should the timer fail to arm, the next datagram
 * queued flushes as if the pacer had not waited. */
static void pace_wait(struct nt_tunnel *t, uint64_t now)
{
	uint64_t rate = pace_rate(t);
	uint64_t quantum = rate * PACE_QUANTUM_TIME_NS / NSEC;
	uint64_t due;

	if (quantum < PACE_QUANTUM_MIN)
		quantum = PACE_QUANTUM_MIN;
	if (quantum > PACE_BURST_BYTES)
		quantum = PACE_BURST_BYTES;
	/* pace_tokens <= 0 here: what the last batch overdrew is owed too. */
	due = now + (uint64_t)((int64_t)quantum - t->pace_tokens) * NSEC / rate + 1;
	t->pace_waiting = nt_timer_arm_at(t->loop, &t->flush_timer, due) == 0;
}

/* ---- output queue ---- */

static void tx_send(struct nt_tunnel *t, bool force);

struct nt_tunnel_txslot *nt_tunnel_tx_reserve(struct nt_tunnel *t, size_t need)
{
	struct nt_tunnel_txslot *s;

	/* A full queue that is not waiting for the socket only needs a flush,
	 * paced or not. */
	if (t->txq_count >= t->txq_cap && !t->tx_blocked)
		tx_send(t, true);
	if (t->txq_count >= t->txq_cap)
		return NULL;
	s = &t->txq[(t->txq_head + t->txq_count) % t->txq_cap];
	if (s->cap < need) {
		size_t cap = need < TX_SLOT_MIN ? TX_SLOT_MIN : need;
		uint8_t *buf = realloc(s->buf, cap);

		if (!buf)
			return NULL;
		s->buf = buf;
		s->cap = cap;
	}
	return s;
}

/* Converts a peer endpoint to the socket's family. */
static bool tx_address(const struct nt_tunnel *t, const struct sockaddr_storage *ep,
		       struct sockaddr_storage *dst, socklen_t *dst_len)
{
	memset(dst, 0, sizeof(*dst));
	if (ep->ss_family == AF_INET && t->family == AF_INET6) {
		const struct sockaddr_in *s4 = (const void *)ep;
		struct sockaddr_in6 *d6 = (void *)dst;

		d6->sin6_family = AF_INET6;
		d6->sin6_port = s4->sin_port;
		d6->sin6_addr.s6_addr[10] = 0xff;
		d6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&d6->sin6_addr.s6_addr[12], &s4->sin_addr, 4);
		*dst_len = sizeof(*d6);
		return true;
	}
	if (ep->ss_family != t->family)
		return false;
	*dst_len =
	    ep->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	memcpy(dst, ep, *dst_len);
	return true;
}

/* Queues the datagram in s (reserved by tx_reserve) for ep. */
int nt_tunnel_tx_commit(struct nt_tunnel *t, struct nt_tunnel_txslot *s, size_t len,
			const struct sockaddr_storage *ep)
{
	if (!tx_address(t, ep, &s->dst, &s->dst_len)) {
		t->c.tx_errors++;
		return -EAFNOSUPPORT;
	}
	s->len = len;
	t->txq_count++;
	pace_arrival(t, len, nt_clock_mono_ns());
	/* EPOLLOUT or the pacer's timer sends it. */
	if (t->tx_blocked || t->pace_waiting)
		return 0;
	if (t->txq_count >= (t->gso ? NT_TUNNEL_GSO_SEGS : NT_TUNNEL_TX_BATCH))
		nt_tunnel_tx_flush(t);
	else if (!nt_timer_armed(&t->flush_timer))
		nt_timer_arm_at(t->loop, &t->flush_timer, nt_loop_now(t->loop));
	return 0;
}

static void tx_block(struct nt_tunnel *t)
{
	if (t->tx_blocked)
		return;
	t->tx_blocked = true;
	t->c.tx_blocked++;
	nt_loop_mod_fd(t->loop, t->fd, NT_EV_READ | NT_EV_WRITE);
	nt_debug(MOD, "event=tx_blocked queued=%zu", t->txq_count);
}

static void tx_pop(struct nt_tunnel *t, size_t n)
{
	t->txq_head = (t->txq_head + n) % t->txq_cap;
	t->txq_count -= n;
}

/* One sendmmsg call: up to NT_TUNNEL_TX_BATCH messages, each one datagram
 * or, with UDP segmentation offload, a run of equal-size datagrams to the
 * same endpoint that the kernel cuts up after a single trip through the
 * socket layer (only the run's last datagram may be shorter). */
struct tx_call {
	struct mmsghdr msgs[NT_TUNNEL_TX_BATCH];
	struct iovec iov[NT_TUNNEL_TX_CALL_DGRAMS];
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctrl[NT_TUNNEL_TX_BATCH];
	unsigned int segs[NT_TUNNEL_TX_BATCH]; /* datagrams in each message */
};

static bool same_endpoint(const struct nt_tunnel_txslot *a, const struct nt_tunnel_txslot *b)
{
	return a->dst_len == b->dst_len && memcmp(&a->dst, &b->dst, a->dst_len) == 0;
}

/* Whether slot s may join the run that starts at first (held bytes so far,
 * segs datagrams). */
static bool gso_joins(const struct nt_tunnel *t, const struct nt_tunnel_txslot *first,
		      const struct nt_tunnel_txslot *prev, const struct nt_tunnel_txslot *s,
		      unsigned int segs, size_t bytes)
{
	return t->gso && segs < NT_TUNNEL_GSO_SEGS && prev->len == first->len &&
	       s->len <= first->len && bytes + s->len <= NT_TUNNEL_GSO_BYTES &&
	       same_endpoint(first, s);
}

static void gso_mark(struct tx_call *c, unsigned int m, uint16_t size)
{
	struct msghdr *h = &c->msgs[m].msg_hdr;
	struct cmsghdr *cm;

	h->msg_control = c->ctrl[m].buf;
	h->msg_controllen = sizeof(c->ctrl[m].buf);
	cm = CMSG_FIRSTHDR(h);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
	memcpy(CMSG_DATA(cm), &size, sizeof(size));
}

/* Fills c from the head of the queue, within the pacer's tokens unless
 * force; returns the number of messages (0: no tokens), *bytes what they
 * carry. */
static unsigned int tx_build(struct nt_tunnel *t, struct tx_call *c, bool force, int64_t *bytes)
{
	unsigned int m = 0;
	size_t d = 0, run_bytes = 0;
	const struct nt_tunnel_txslot *first = NULL, *prev = NULL;

	*bytes = 0;
	while (d < t->txq_count && d < NT_TUNNEL_TX_CALL_DGRAMS &&
	       (force || *bytes < t->pace_tokens)) {
		struct nt_tunnel_txslot *s = &t->txq[(t->txq_head + d) % t->txq_cap];

		if (first && gso_joins(t, first, prev, s, c->segs[m - 1], run_bytes)) {
			c->msgs[m - 1].msg_hdr.msg_iovlen++;
			c->segs[m - 1]++;
			run_bytes += s->len;
			if (c->segs[m - 1] == 2)
				gso_mark(c, m - 1, (uint16_t)first->len);
		} else {
			if (m == NT_TUNNEL_TX_BATCH)
				break;
			c->msgs[m] = (struct mmsghdr){.msg_hdr = {.msg_name = &s->dst,
								  .msg_namelen = s->dst_len,
								  .msg_iov = &c->iov[d],
								  .msg_iovlen = 1}};
			c->segs[m++] = 1;
			first = s;
			run_bytes = s->len;
		}
		c->iov[d++] = (struct iovec){.iov_base = s->buf, .iov_len = s->len};
		prev = s;
		*bytes += (int64_t)s->len;
	}
	return m;
}

/* The kernel or the path refused a segmented send (no UDP_SEGMENT, or a
 * device without checksum offload): from now on one datagram per message. */
static void gso_refused(struct nt_tunnel *t, int err)
{
	t->gso = false;
	nt_info(MOD, "event=udp_gso_off errno=%d", err);
}

/* Sends queued datagrams while the pacer has tokens; force sends one
 * batch without them (interrupted, it is tried again). */
static void tx_send(struct nt_tunnel *t, bool force)
{
	struct tx_call c;
	uint64_t now;

	if (t->tx_blocked)
		return;
	now = nt_clock_mono_ns();
	pace_refill(t, now);
	while (t->txq_count) {
		int64_t bytes;
		unsigned int n = tx_build(t, &c, force, &bytes);
		int sent;

		if (!n) {
			pace_wait(t, now);
			return;
		}
		sent = t->send_hook ? t->send_hook(t->send_hook_arg, t->fd, c.msgs, n)
				    : sendmmsg(t->fd, c.msgs, n, 0);
		if (sent < 0 && errno == EINTR)
			continue;
		force = false;
		if (sent > 0) {
			size_t dgrams = 0;

			for (int i = 0; i < sent; i++) {
				dgrams += c.segs[i];
				t->c.tx_gso_batches += c.segs[i] > 1;
			}
			for (size_t i = 0; i < dgrams; i++)
				t->pace_tokens -= (int64_t)c.iov[i].iov_len;
			t->c.tx_datagrams += dgrams;
			tx_pop(t, dgrams);
			continue;
		}
		if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
			tx_block(t);
			return;
		}
		if (sent < 0 && c.segs[0] > 1 &&
		    (errno == EIO || errno == EINVAL || errno == EMSGSIZE || errno == ENOPROTOOPT ||
		     errno == EOPNOTSUPP)) {
			gso_refused(t, errno);
			continue;
		}
		/* These datagrams cannot leave (no route, bad address...):
		 * drop them alone (one endpoint) and go on with the others. */
		t->c.tx_errors += c.segs[0];
		nt_trace(MOD, "event=tx_error errno=%d", sent < 0 ? errno : 0);
		tx_pop(t, c.segs[0]);
	}
}

void nt_tunnel_tx_flush(struct nt_tunnel *t)
{
	/* The pacer's timer sends the next quantum; an earlier flush would
	 * only send datagrams one at a time. */
	if (!t->pace_waiting)
		tx_send(t, false);
}

/* At exit the queue holds lwIP's last words (the RSTs of the flows just
 * aborted, behind what was already queued): they leave now, pacing aside,
 * or the far end keeps those flows until its retransmissions give up. The
 * socket is waited for at most NT_TUNNEL_DRAIN_MS in all. */
void nt_tunnel_tx_drain(struct nt_tunnel *t)
{
	uint64_t deadline = nt_clock_mono_ns() + NT_TUNNEL_DRAIN_MS * 1000000ull;

	while (t->txq_count) {
		struct pollfd pfd = {.fd = t->fd, .events = POLLOUT};
		uint64_t now = nt_clock_mono_ns();

		if (!t->tx_blocked) {
			tx_send(t, true);
			continue;
		}
		if (now >= deadline ||
		    poll(&pfd, 1, (int)((deadline - now + 999999) / 1000000)) <= 0)
			break;
		t->tx_blocked = false;
	}
	if (t->txq_count)
		nt_warn(MOD, "event=tx_drain_incomplete left=%zu", t->txq_count);
}

void nt_tunnel_trim(struct nt_tunnel *t)
{
	/* UDP_GRO runs fill whole 64 KiB receive buffers: 2 MiB after a burst,
	 * which an idle tunnel does not need (they read back as zeros). */
	(void)madvise(t->rx_bufs, NT_TUNNEL_RX_BUFS_BYTES, MADV_DONTNEED);
	for (size_t i = t->txq_count; i < t->txq_cap; i++) {
		struct nt_tunnel_txslot *s = &t->txq[(t->txq_head + i) % t->txq_cap];

		free(s->buf);
		s->buf = NULL;
		s->cap = 0;
	}
}

void nt_tunnel_trim_hook(void *arg)
{
	struct nt_tunnel *t = *(struct nt_tunnel **)arg;

	if (t)
		nt_tunnel_trim(t);
}

void nt_tunnel_flush_timer_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct nt_tunnel *t = arg;

	(void)loop;
	(void)timer;
	t->pace_waiting = false;
	tx_send(t, false);
}

/* ---- sending ---- */

/* Encrypts pkt (len may be 0: a keepalive) under kp and queues it.
 * -ENOBUFS when the output queue is full; counted only if count_full. */
static int send_with(struct nt_tunnel *t, struct nt_tunnel_peer *tp, struct wg_keypair *kp,
		     const void *pkt, size_t len, uint64_t now, bool count_full)
{
	struct wg_peer *p = &tp->wg;
	size_t need = WG_TRANSPORT_HEADER_ROOM + len + WG_TRANSPORT_TAIL_ROOM;
	struct nt_tunnel_txslot *s;
	size_t msg_len;
	int ret;

	if (!wg_peer_has_endpoint(p))
		return -EDESTADDRREQ;
	s = nt_tunnel_tx_reserve(t, need);
	if (!s) {
		if (count_full)
			t->c.tx_queue_full++;
		return -ENOBUFS;
	}
	if (len)
		memcpy(s->buf + WG_TRANSPORT_HEADER_ROOM, pkt, len);
	ret = wg_transport_encrypt(&kp->tr, s->buf, s->cap, len, t->mtu, &msg_len);
	if (ret)
		return ret;
	ret = nt_tunnel_tx_commit(t, s, msg_len, &p->endpoint);
	if (ret)
		return ret;
	if (len) {
		p->counters.tx_packets++;
		p->counters.tx_bytes += len;
		wg_timers_data_sent(&p->timers, now);
	} else {
		p->counters.keepalives_tx++;
	}
	wg_timers_any_authenticated_packet_sent(&p->timers, now);
	nt_trace(MOD, "event=tx peer=%s len=%zu counter=%llu", p->short_id, len,
		 (unsigned long long)(kp->tr.send_counter - 1));
	return 0;
}

/* A retry means the last initiation went unanswered: said once per series
 * (until a handshake completes or the peer is given up on), not per retry. */
static void unanswered_note(struct nt_tunnel_peer *tp, uint64_t now)
{
	char ep[INET6_ADDRSTRLEN + 8];
	uint64_t secs;

	if (!tp->unanswered_since) {
		tp->unanswered_since = now;
		return;
	}
	if (tp->unanswered_warned)
		return;
	tp->unanswered_warned = true;
	secs = (uint64_t)((now - tp->unanswered_since) / NT_NS_PER_SEC);
	nt_warn(MOD,
		"event=handshake_unanswered peer=%s endpoint=%s seconds=%" PRIu64
		" reason=\"no handshake answer from %s for %" PRIu64 " s\"",
		tp->wg.short_id, nt_sockaddr_str(&tp->wg.endpoint, ep, sizeof(ep)), secs, ep, secs);
}

void nt_tunnel_unanswered_clear(struct nt_tunnel_peer *tp)
{
	tp->unanswered_since = 0;
	tp->unanswered_warned = false;
}

static int send_initiation(struct nt_tunnel *t, struct nt_tunnel_peer *tp, uint64_t now)
{
	struct wg_peer *p = &tp->wg;
	uint8_t ts[WG_TAI64N_LEN];
	struct nt_tunnel_txslot *s;
	uint32_t idx;
	int ret;

	if (!wg_peer_has_endpoint(p)) {
		t->c.tx_no_endpoint++;
		nt_debug(MOD, "event=handshake_skipped peer=%s reason=\"no endpoint\"",
			 p->short_id);
		return -EDESTADDRREQ;
	}
	/* The round goes on even if this one cannot leave. */
	wg_timers_handshake_initiated(&p->timers, now);
	unanswered_note(tp, now);
	s = nt_tunnel_tx_reserve(t, WG_MSG_INITIATION_LEN);
	if (!s) {
		t->c.tx_queue_full++;
		return -ENOBUFS;
	}
	ret = wg_peer_handshake_index_new(p, &idx);
	if (ret) {
		nt_warn(MOD, "event=handshake_skipped peer=%s reason=\"index table full\"",
			p->short_id);
		return ret;
	}
	wg_peer_next_timestamp(p, nt_clock_real_ns(), ts);
	ret = wg_noise_create_initiation(&p->hs, &t->local, &t->up, idx, ts,
					 (struct wg_msg_initiation *)s->buf);
	if (ret) {
		wg_peer_handshake_clear(p);
		return ret;
	}
	wg_cookie_add_macs(&p->cookie, s->buf, WG_MSG_INITIATION_LEN, now);
	ret = nt_tunnel_tx_commit(t, s, WG_MSG_INITIATION_LEN, &p->endpoint);
	if (ret)
		return ret;
	p->counters.handshakes_initiated++;
	wg_timers_any_authenticated_packet_sent(&p->timers, now);
	nt_debug(MOD, "event=handshake_initiation_sent peer=%s attempt=%u", p->short_id,
		 p->timers.attempts);
	return 0;
}

void nt_tunnel_maybe_initiate(struct nt_tunnel *t, struct nt_tunnel_peer *tp, uint64_t now)
{
	if (wg_timers_may_send_initiation(&tp->wg.timers, now))
		send_initiation(t, tp, now);
}

size_t nt_tunnel_flush_staged(struct nt_tunnel *t, struct nt_tunnel_peer *tp, uint64_t now)
{
	struct wg_peer *p = &tp->wg;
	struct wg_keypair *kp;
	size_t sent = 0;

	while (wg_peer_staged_count(p) && (kp = wg_peer_send_keypair(p, now))) {
		size_t len;
		const uint8_t *pkt = wg_peer_staged_peek(p, &len);
		int ret = send_with(t, tp, kp, pkt, len, now, false);

		if (ret == -ENOBUFS) {
			t->staged_waiting = true;
			break;
		}
		if (ret == -EDESTADDRREQ)
			break;
		wg_peer_staged_pop(p);
		sent++;
	}
	if (sent)
		nt_debug(MOD, "event=staged_flushed peer=%s packets=%zu left=%zu", p->short_id,
			 sent, wg_peer_staged_count(p));
	return sent;
}

void nt_tunnel_send_keepalive(struct nt_tunnel *t, struct nt_tunnel_peer *tp, uint64_t now)
{
	struct wg_keypair *kp = wg_peer_send_keypair(&tp->wg, now);

	if (kp)
		send_with(t, tp, kp, NULL, 0, now, true);
}

int nt_tunnel_send(struct nt_tunnel *t, struct wg_peer *peer, const void *pkt, size_t len)
{
	struct nt_tunnel_peer *tp = tp_of(peer);
	uint64_t now = nt_clock_mono_ns();
	struct wg_keypair *kp;
	int ret;

	if (len == 0 || len > WG_PEER_PACKET_MAX)
		return -EMSGSIZE;
	kp = wg_peer_send_keypair(peer, now);
	if (!kp || wg_peer_staged_count(peer)) {
		/* Behind the staged ones, so that order holds. */
		ret = wg_peer_stage(peer, pkt, len, t->stage_supersedes);
		if (ret < 0)
			nt_debug(MOD, "event=staged_dropped peer=%s cause=%s", peer->short_id,
				 ret == -ENOMEM ? "no_memory" : "full");
		else if (!kp)
			nt_debug(MOD,
				 "event=packet_staged peer=%s staged=%zu reason=\"no session\"",
				 peer->short_id, wg_peer_staged_count(peer));
		if (kp)
			nt_tunnel_flush_staged(t, tp, now);
		else
			nt_tunnel_maybe_initiate(t, tp, now);
		nt_tunnel_peer_timer_sync(tp);
		return ret == -ENOMEM ? -ENOBUFS : ret;
	}
	ret = send_with(t, tp, kp, pkt, len, now, true);
	if (wg_timers_should_rekey_on_send(&peer->timers.params, now, kp->created_ns,
					   kp->tr.send_counter, kp->initiator))
		nt_tunnel_maybe_initiate(t, tp, now);
	nt_tunnel_peer_timer_sync(tp);
	return ret;
}

int nt_tunnel_xmit(struct nt_tunnel *t, const uint8_t *pkt, size_t len)
{
	struct nt_ippkt_head ip;
	struct wg_peer *peer;

	/* The fixed header is all routing needs: per packet, nothing more is read. */
	if (nt_ippkt_head(pkt, len, &ip) != 0 ||
	    !(peer = wg_allowedips_lookup(&t->aips, ip.family, ip.dst)))
		return -EHOSTUNREACH;
	return nt_tunnel_send(t, peer, pkt, len);
}

int nt_tunnel_initiate(struct nt_tunnel *t, struct wg_peer *peer)
{
	struct nt_tunnel_peer *tp = tp_of(peer);
	uint64_t now = nt_clock_mono_ns();
	int ret;

	if (!wg_peer_has_endpoint(peer))
		return -EDESTADDRREQ;
	if (!wg_timers_may_send_initiation(&peer->timers, now))
		return -EAGAIN;
	ret = send_initiation(t, tp, now);
	nt_tunnel_peer_timer_sync(tp);
	return ret;
}

void nt_tunnel_flush(struct nt_tunnel *t)
{
	nt_tunnel_tx_flush(t);
}

/* The socket drained: resume peers whose staged packets found no room. */
static void resume_staged(struct nt_tunnel *t)
{
	uint64_t now = nt_clock_mono_ns();

	t->staged_waiting = false;
	for (struct nt_tunnel_peer *tp = t->peers; tp && !t->staged_waiting; tp = tp->next_peer) {
		if (wg_peer_staged_count(&tp->wg)) {
			nt_tunnel_flush_staged(t, tp, now);
			nt_tunnel_peer_timer_sync(tp);
		}
	}
}

/* ---- peer timer actions ---- */

void nt_tunnel_peer_timer_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct nt_tunnel_peer *tp = arg;
	struct nt_tunnel *t = tp->tun;
	struct wg_peer *p = &tp->wg;
	struct wg_timers_actions a;
	uint64_t now = nt_clock_mono_ns();

	(void)loop;
	(void)timer;
	wg_timers_expire(&p->timers, now, &a);
	if (a.set & WG_TIMERS_ZERO_KEYS) {
		wg_peer_keys_zero(p);
		nt_debug(MOD, "event=keys_zeroed peer=%s", p->short_id);
		nt_tunnel_emit(t, tp, NT_TUNNEL_KEYS_ZEROED);
	}
	if (a.set & WG_TIMERS_GIVE_UP) {
		size_t n = wg_peer_staged_drop(p);

		wg_peer_handshake_clear(p);
		nt_tunnel_unanswered_clear(tp);
		nt_info(MOD, "event=handshake_give_up peer=%s dropped=%zu", p->short_id, n);
		nt_tunnel_emit(t, tp, NT_TUNNEL_HANDSHAKE_GIVE_UP);
	}
	if (a.set & WG_TIMERS_SEND_HANDSHAKE_INITIATION)
		send_initiation(t, tp, now);
	if (a.set & WG_TIMERS_SEND_KEEPALIVE)
		nt_tunnel_send_keepalive(t, tp, now);
	if (a.set & WG_TIMERS_PERSISTENT_KEEPALIVE) {
		if (wg_peer_send_keypair(p, now))
			nt_tunnel_send_keepalive(t, tp, now);
		else
			nt_tunnel_maybe_initiate(t, tp, now);
	}
	nt_tunnel_peer_timer_sync(tp);
}

void nt_tunnel_tx_writable(struct nt_tunnel *t)
{
	t->tx_blocked = false;
	nt_loop_mod_fd(t->loop, t->fd, NT_EV_READ);
	nt_tunnel_tx_flush(t);
	if (!t->tx_blocked && t->staged_waiting)
		resume_staged(t);
}
