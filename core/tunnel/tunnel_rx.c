// SPDX-License-Identifier: MIT
/* The receive path: recvmmsg batches, then per datagram
 *
 *   initiation/response -> mac1 (always), mac2 when under load (else a cookie
 *                          reply) -> noise -> keys -> response / keepalive
 *   cookie reply        -> the peer's cookie maker
 *   transport           -> index -> keypair -> decrypt + replay window ->
 *                          keepalive, or allowed-IPs source check -> deliver
 *
 * Under load means more than load_threshold handshake messages in the last
 * second; once tripped it lasts a second.
 */
#include "core/tunnel/tunnel_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/wg/wg_messages.h"
#include "netstack/ippkt.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/sockaddr.h"

#define MOD "tunnel"

#define LOAD_WINDOW NT_NS_PER_SEC

static const uint8_t unspecified6[16];

/* ---- receiving ---- */

/* IP and port of a source address, as the cookie binds them. */
static size_t src_bytes(const struct sockaddr_storage *ss, uint8_t out[18])
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		memcpy(out, &s4->sin_addr, 4);
		memcpy(out + 4, &s4->sin_port, 2);
		return 6;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memcpy(out, &s6->sin6_addr.s6_addr[12], 4);
			memcpy(out + 4, &s6->sin6_port, 2);
			return 6;
		}
		memcpy(out, &s6->sin6_addr, 16);
		memcpy(out + 16, &s6->sin6_port, 2);
		return 18;
	}
	return 0;
}

/* Once per episode (core/wg/flap.h): without it the two processes only
 * see their sessions fail, for seconds at a time, with nothing logged. */
static void key_twice(struct nt_tunnel *t, struct nt_tunnel_peer *tp)
{
	char a[INET6_ADDRSTRLEN + 10], b[INET6_ADDRSTRLEN + 10];
	struct sockaddr_storage ea, eb;

	t->c.key_twice++;
	wg_flap_pair(&tp->flap, &ea, &eb);
	nt_warn(MOD,
		"event=peer_key_in_use_twice peer=%s endpoints=%s,%s "
		"hint=\"two processes with the same private key?\"",
		tp->wg.short_id, nt_sockaddr_str(&ea, a, sizeof(a)),
		nt_sockaddr_str(&eb, b, sizeof(b)));
}

static void roam(struct nt_tunnel *t, struct nt_tunnel_peer *tp, const struct sockaddr_storage *src,
		 socklen_t len, uint64_t now)
{
	char buf[INET6_ADDRSTRLEN + 10];

	if (!wg_peer_set_endpoint(&tp->wg, (const struct sockaddr *)src, len))
		return;
	nt_debug(MOD, "event=endpoint_changed peer=%s endpoint=%s", tp->wg.short_id,
		 nt_sockaddr_str(&tp->wg.endpoint, buf, sizeof(buf)));
	if (wg_flap_feed(&tp->flap, &tp->wg.endpoint, now))
		key_twice(t, tp);
	nt_tunnel_emit(t, tp, NT_TUNNEL_ENDPOINT_CHANGED);
}

static bool under_load(struct nt_tunnel *t, uint64_t now)
{
	if (now - t->load_window_start >= LOAD_WINDOW) {
		t->load_window_start = now;
		t->load_count = 0;
	}
	if (t->load_count < UINT32_MAX)
		t->load_count++;
	/* Once tripped, stay under load for a second: a flood comes in waves. */
	if (t->load_count > t->load_threshold)
		t->under_load_until = now + LOAD_WINDOW;
	return t->load_threshold == 0 || now < t->under_load_until;
}

static void handshake_complete(struct nt_tunnel *t, struct nt_tunnel_peer *tp, uint64_t now,
			       const char *role)
{
	struct wg_peer *p = &tp->wg;

	wg_timers_handshake_complete(&p->timers, now);
	nt_tunnel_unanswered_clear(tp);
	p->counters.handshakes_completed++;
	nt_info(MOD, "event=handshake_complete peer=%s role=%s", p->short_id, role);
	nt_tunnel_emit(t, tp, NT_TUNNEL_HANDSHAKE_COMPLETE);
}

static void rx_initiation(struct nt_tunnel *t, const struct wg_message *m,
			  const struct sockaddr_storage *src, socklen_t src_len, uint64_t now)
{
	struct wg_noise_handshake *hs = NULL;
	struct wg_noise_keys keys;
	struct nt_tunnel_peer *tp;
	struct wg_peer *p;
	struct nt_tunnel_txslot *s;
	uint32_t idx;
	int ret;

	ret = wg_noise_consume_initiation(&t->local, &t->up, m->initiation, now, &hs);
	if (ret == -EBUSY) {
		t->c.hs_rate_limited++;
		nt_trace(MOD, "event=handshake_dropped reason=\"too many initiations\"");
		return;
	}
	if (ret) {
		const char *why = ret == -ENOENT   ? "unknown static key"
				  : ret == -ESTALE ? "replayed timestamp"
						   : "does not authenticate";

		if (ret == -ENOENT)
			t->c.hs_unknown_key++;
		else if (ret == -ESTALE)
			t->c.hs_stale++;
		else
			t->c.hs_bad_auth++;
		nt_debug(MOD, "event=handshake_failed msg=initiation reason=\"%s\"", why);
		return;
	}
	tp = (struct nt_tunnel_peer *)((char *)hs - offsetof(struct nt_tunnel_peer, wg.hs));
	p = &tp->wg;
	roam(t, tp, src, src_len, now);
	wg_timers_any_authenticated_packet_received(&p->timers, now);

	s = nt_tunnel_tx_reserve(t, WG_MSG_RESPONSE_LEN);
	if (!s) {
		t->c.tx_queue_full++;
		goto err_clear;
	}
	if (wg_peer_handshake_index_new(p, &idx) != 0)
		goto err_clear;
	if (wg_noise_create_response(&p->hs, &t->up, idx, (struct wg_msg_response *)s->buf))
		goto err_clear;
	wg_cookie_add_macs(&p->cookie, s->buf, WG_MSG_RESPONSE_LEN, now);
	if (wg_noise_derive_keys(&p->hs, &keys) != 0)
		goto err_clear;
	ret = wg_peer_keys_install(p, &keys, now, NULL);
	wg_noise_keys_clear(&keys);
	if (ret)
		goto err_clear;
	nt_tunnel_tx_commit(t, s, WG_MSG_RESPONSE_LEN, &p->endpoint);
	wg_timers_session_derived(&p->timers, now);
	wg_timers_any_authenticated_packet_sent(&p->timers, now);
	nt_debug(MOD, "event=handshake_response_sent peer=%s", p->short_id);
	nt_tunnel_peer_timer_sync(tp);
	return;

err_clear:
	wg_peer_handshake_clear(p);
	nt_tunnel_peer_timer_sync(tp);
}

static void rx_response(struct nt_tunnel *t, const struct wg_message *m,
			const struct sockaddr_storage *src, socklen_t src_len, uint64_t now)
{
	struct wg_noise_handshake *hs = NULL;
	struct wg_noise_keys keys;
	struct nt_tunnel_peer *tp;
	struct wg_peer *p;
	void *ptr = NULL;
	int ret;

	ret = wg_noise_consume_response(&t->local, &t->up, m->response, &hs);
	if (ret == -ENOENT) {
		t->c.hs_no_pending++;
		nt_debug(MOD,
			 "event=handshake_failed msg=response reason=\"no pending handshake\"");
		return;
	}
	if (ret) {
		t->c.hs_bad_auth++;
		if (wg_index_lookup(t->index, m->receiver, &ptr) == WG_INDEX_HANDSHAKE) {
			p = ptr;
			p->counters.handshake_failures++;
			nt_warn(MOD,
				"event=handshake_failed msg=response peer=%s "
				"reason=\"does not authenticate\" hint=\"wrong preshared key?\"",
				p->short_id);
		}
		return;
	}
	tp = (struct nt_tunnel_peer *)((char *)hs - offsetof(struct nt_tunnel_peer, wg.hs));
	p = &tp->wg;
	if (wg_noise_derive_keys(&p->hs, &keys) != 0) {
		wg_peer_handshake_clear(p);
		return;
	}
	ret = wg_peer_keys_install(p, &keys, now, NULL);
	wg_noise_keys_clear(&keys);
	if (ret) {
		wg_peer_handshake_clear(p);
		return;
	}
	roam(t, tp, src, src_len, now);
	wg_timers_any_authenticated_packet_received(&p->timers, now);
	wg_timers_session_derived(&p->timers, now);
	handshake_complete(t, tp, now, "initiator");
	/* The responder may send only after hearing from us under the new
	 * keys: the staged packets, or else a keepalive, confirm them. */
	if (!nt_tunnel_flush_staged(t, tp, now) && !wg_peer_staged_count(p))
		nt_tunnel_send_keepalive(t, tp, now);
	nt_tunnel_peer_timer_sync(tp);
}

static void rx_cookie_reply(struct nt_tunnel *t, const struct wg_message *m, uint64_t now)
{
	struct wg_peer *p = NULL;
	void *ptr = NULL;
	enum wg_index_kind kind = wg_index_lookup(t->index, m->receiver, &ptr);

	if (kind == WG_INDEX_HANDSHAKE)
		p = ptr;
	else if (kind == WG_INDEX_KEYPAIR)
		p = ((struct wg_keypair *)ptr)->peer;
	if (!p) {
		t->c.rx_unknown_index++;
		return;
	}
	if (wg_cookie_consume_reply(&p->cookie, m->cookie_reply, now) != 0) {
		nt_debug(MOD, "event=cookie_reply_rejected peer=%s", p->short_id);
		return;
	}
	p->counters.cookie_replies++;
	nt_debug(MOD, "event=cookie_reply_received peer=%s", p->short_id);
}

static void rx_transport(struct nt_tunnel *t, uint8_t *buf, size_t len, const struct wg_message *m,
			 const struct sockaddr_storage *src, socklen_t src_len, uint64_t now)
{
	struct wg_keypair *kp;
	struct nt_tunnel_peer *tp;
	struct nt_ippkt_head ip;
	struct wg_peer *p;
	void *ptr = NULL;
	uint8_t *plain;
	size_t plain_len;
	uint64_t counter;
	int ret;

	if (wg_index_lookup(t->index, m->receiver, &ptr) != WG_INDEX_KEYPAIR) {
		t->c.rx_unknown_index++;
		nt_trace(MOD, "event=rx_dropped reason=\"no session\"");
		return;
	}
	kp = ptr;
	p = kp->peer;
	tp = tp_of(p);
	if (!wg_peer_keypair_may_receive(p, kp, now)) {
		p->counters.drop_no_session++;
		return;
	}
	ret = wg_transport_decrypt(&kp->tr, buf, len, &plain, &plain_len, &counter);
	if (ret) {
		if (ret == -EALREADY || ret == -ESTALE || ret == -ERANGE)
			p->counters.drop_replay++;
		else
			p->counters.drop_decrypt++;
		nt_trace(MOD, "event=rx_dropped peer=%s reason=%s", p->short_id,
			 ret == -EBADMSG ? "decrypt" : "replay");
		return;
	}
	roam(t, tp, src, src_len, now);
	wg_timers_any_authenticated_packet_received(&p->timers, now);
	if (wg_peer_keypair_received(p, kp)) {
		handshake_complete(t, tp, now, "responder");
		nt_tunnel_flush_staged(t, tp, now);
	}
	if (kp == p->current && wg_timers_should_rekey_on_receive(&p->timers.params, now,
								  kp->created_ns, kp->initiator))
		nt_tunnel_maybe_initiate(t, tp, now);
	if (plain_len == 0) {
		p->counters.keepalives_rx++;
		nt_trace(MOD, "event=rx_keepalive peer=%s", p->short_id);
		nt_tunnel_peer_timer_sync(tp);
		return;
	}
	wg_timers_data_received(&p->timers, now);
	/* The datagram's own length drops the padding; it must be all there. */
	if (nt_ippkt_head(plain, plain_len, &ip) != 0 || ip.len > plain_len ||
	    ip.len < NT_IPPKT_V4_HDR) {
		t->c.rx_malformed++;
		nt_tunnel_peer_timer_sync(tp);
		return;
	}
	if (t->ops.control && ip.family == AF_INET6 && memcmp(ip.src, unspecified6, 16) == 0) {
		p->counters.rx_control++;
		t->ops.control(t->ops.arg, p, plain, ip.len);
		nt_tunnel_peer_timer_sync(tp);
		return;
	}
	if (!wg_allowedips_owner_matches(&t->aips, ip.family, ip.src, p)) {
		p->counters.drop_source++;
		nt_trace(MOD, "event=rx_dropped peer=%s reason=\"source not allowed\"",
			 p->short_id);
		nt_tunnel_peer_timer_sync(tp);
		return;
	}
	p->counters.rx_packets++;
	p->counters.rx_bytes += ip.len;
	nt_trace(MOD, "event=rx peer=%s len=%zu counter=%llu", p->short_id, ip.len,
		 (unsigned long long)counter);
	t->ops.deliver(t->ops.arg, p, plain, ip.len);
	nt_tunnel_peer_timer_sync(tp);
}

static void rx_handshake(struct nt_tunnel *t, uint8_t *buf, size_t len, const struct wg_message *m,
			 const struct sockaddr_storage *src, socklen_t src_len, uint64_t now)
{
	uint8_t sb[18];
	size_t sl = src_bytes(src, sb);
	bool load = under_load(t, now);
	int ret;

	if (load)
		t->c.under_load_msgs++;
	ret = wg_cookie_validate(&t->checker, buf, len, sb, sl, load, now);
	if (ret == -EAGAIN) {
		struct nt_tunnel_txslot *s = nt_tunnel_tx_reserve(t, WG_MSG_COOKIE_REPLY_LEN);

		if (!s) {
			t->c.tx_queue_full++;
			return;
		}
		if (wg_cookie_create_reply(&t->checker, buf, len, sb, sl, now,
					   (struct wg_msg_cookie_reply *)s->buf) == 0 &&
		    nt_tunnel_tx_commit(t, s, WG_MSG_COOKIE_REPLY_LEN, src) == 0)
			t->c.cookie_replies_sent++;
		nt_trace(MOD, "event=cookie_reply_sent");
		return;
	}
	if (ret) {
		t->c.rx_bad_mac1++;
		nt_trace(MOD, "event=rx_dropped reason=\"bad mac1\"");
		return;
	}
	if (m->type == WG_MSG_INITIATION)
		rx_initiation(t, m, src, src_len, now);
	else
		rx_response(t, m, src, src_len, now);
}

static void rx_datagram(struct nt_tunnel *t, uint8_t *buf, size_t len,
			const struct sockaddr_storage *src, socklen_t src_len, uint64_t now)
{
	struct wg_message m;

	t->c.rx_datagrams++;
	if (wg_message_parse(buf, len, &m) != 0) {
		t->c.rx_malformed++;
		return;
	}
	switch (m.type) {
	case WG_MSG_INITIATION:
	case WG_MSG_RESPONSE:
		rx_handshake(t, buf, len, &m, src, src_len, now);
		break;
	case WG_MSG_COOKIE_REPLY:
		rx_cookie_reply(t, &m, now);
		break;
	case WG_MSG_TRANSPORT:
		rx_transport(t, buf, len, &m, src, src_len, now);
		break;
	}
}

static void rx_batch_prepare(struct nt_tunnel *t)
{
	for (size_t i = 0; i < NT_TUNNEL_RX_BATCH; i++) {
		t->rx_iov[i] = (struct iovec){.iov_base = t->rx_bufs + i * NT_TUNNEL_RX_BUF_LEN,
					      .iov_len = NT_TUNNEL_RX_BUF_LEN};
		t->rx_msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &t->rx_src[i],
							     .msg_namelen = sizeof(t->rx_src[i]),
							     .msg_iov = &t->rx_iov[i],
							     .msg_iovlen = 1}};
		if (t->gro) {
			t->rx_msgs[i].msg_hdr.msg_control = t->rx_ctrl[i].buf;
			t->rx_msgs[i].msg_hdr.msg_controllen = sizeof(t->rx_ctrl[i].buf);
		}
	}
}

/* The segment size of a coalesced run (UDP_GRO), or 0 for one datagram. */
static size_t gro_size(struct msghdr *h)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR(h, cm)) {
		int size;

		if (cm->cmsg_level != SOL_UDP || cm->cmsg_type != UDP_GRO ||
		    cm->cmsg_len < CMSG_LEN(sizeof(size)))
			continue;
		memcpy(&size, CMSG_DATA(cm), sizeof(size));
		return size > 0 ? (size_t)size : 0;
	}
	return 0;
}

/* One received message: a datagram, or a run of datagrams of seg bytes
 * (the last may be shorter) that the kernel coalesced. */
static void rx_message(struct nt_tunnel *t, uint8_t *buf, size_t len, struct msghdr *h,
		       uint64_t now)
{
	size_t seg = t->gro ? gro_size(h) : 0;

	if (!seg || seg >= len) {
		rx_datagram(t, buf, len, h->msg_name, h->msg_namelen, now);
		return;
	}
	t->c.rx_gro_batches++;
	for (size_t off = 0; off < len; off += seg)
		rx_datagram(t, buf + off, len - off < seg ? len - off : seg, h->msg_name,
			    h->msg_namelen, now);
}

void nt_tunnel_on_socket(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct nt_tunnel *t = arg;

	(void)loop;
	if (events & NT_EV_WRITE)
		nt_tunnel_tx_writable(t);
	if (!(events & (NT_EV_READ | NT_EV_ERROR)))
		return;
	for (int round = 0; round < NT_TUNNEL_RX_BUDGET; round++) {
		uint64_t now;
		int n;

		rx_batch_prepare(t);
		n = recvmmsg(fd, t->rx_msgs, NT_TUNNEL_RX_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			/* ICMP errors of earlier sends surface here; they only
			 * mean that datagram was lost. */
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				nt_trace(MOD, "event=rx_error errno=%d", errno);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (n == 0)
				break;
			continue;
		}
		now = nt_clock_mono_ns();
		for (int i = 0; i < n; i++) {
			struct msghdr *h = &t->rx_msgs[i].msg_hdr;

			if (h->msg_flags & MSG_TRUNC) {
				t->c.rx_malformed++;
				continue;
			}
			rx_message(t, t->rx_bufs + (size_t)i * NT_TUNNEL_RX_BUF_LEN,
				   t->rx_msgs[i].msg_len, h, now);
		}
		if (n < NT_TUNNEL_RX_BATCH)
			break;
	}
	/* Whatever the batch made us send (responses, replies of the owner)
	 * leaves together. */
	nt_tunnel_tx_flush(t);
}

/* ---- noise upcalls ---- */

struct wg_noise_handshake *nt_tunnel_up_peer_by_static(void *arg, const uint8_t remote[32])
{
	struct nt_tunnel *t = arg;

	for (struct nt_tunnel_peer *tp = t->peers; tp; tp = tp->next_peer)
		if (sodium_memcmp(tp->wg.hs.remote_static, remote, WG_KEY_LEN) == 0)
			return &tp->wg.hs;
	return NULL;
}

struct wg_noise_handshake *nt_tunnel_up_handshake_by_index(void *arg, uint32_t local_index)
{
	struct nt_tunnel *t = arg;
	void *ptr = NULL;

	if (wg_index_lookup(t->index, local_index, &ptr) != WG_INDEX_HANDSHAKE)
		return NULL;
	return &((struct wg_peer *)ptr)->hs;
}
