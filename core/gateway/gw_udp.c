// SPDX-License-Identifier: MIT
/* UDP flows at the gateway: one connected OS socket per (client address
 * and port, destination address and port).
 *
 *   datagram, allowed, within limits --> OPEN: socket(), connect() (no
 *                                        packet), the datagram sent
 *   OPEN --datagram either way--> OPEN, idle deadline pushed back
 *        --ECONNREFUSED on the socket (an ICMP port unreachable came back)
 *            --> ICMP port unreachable to the client, still OPEN
 *        --idle for udp_idle_ms--> closed
 *
 * Timer: one per flow, the idle deadline. It is not re-armed per datagram:
 * when it fires early (traffic since) it is armed again for the rest.
 * Datagrams are never queued: a full socket or tunnel drops them (counted),
 * as the network would.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/gateway/gw_int.h"
#include "platform/log.h"

#define MOD "gateway"

#define RX_ROUNDS 32 /* datagrams read per wake-up */
#define RX_MAX	  0x10000

static uint64_t idle_ns(const struct nt_gateway *gw)
{
	return (uint64_t)gw->limits.udp_idle_ms * 1000000u;
}

static void key_of(const struct nt_gw_udp_addrs *a, struct gw_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = a->family;
	k->proto = NT_GW_PROTO_UDP;
	memcpy(k->src, a->src, sizeof(k->src));
	memcpy(k->dst, a->dst, sizeof(k->dst));
	k->sport = a->sport;
	k->dport = a->dport;
}

static void addrs_of(const struct gw_key *k, struct nt_gw_udp_addrs *a)
{
	a->family = k->family;
	memcpy(a->src, k->src, sizeof(a->src));
	memcpy(a->dst, k->dst, sizeof(a->dst));
	a->sport = k->sport;
	a->dport = k->dport;
}

static void udp_end(struct gw_flow *f, const char *how)
{
	if (f->fd >= 0) {
		nt_loop_del_fd(f->gw->loop, f->fd);
		close(f->fd);
		f->fd = -1;
	}
	nt_gw_flow_free(f, how);
}

void nt_gw_udp_close(struct gw_flow *f, const char *how)
{
	udp_end(f, how);
}

/* An ICMP error to the client about a datagram of flow k it sent (quote:
 * the datagram's start as received). */
static void send_unreach(struct nt_gateway *gw, struct gw_peer *gp, const struct gw_key *k,
			 const uint8_t *quote, size_t quote_len, enum nt_gw_unreach why)
{
	struct nt_gw_pkt p = {
	    .family = k->family,
	    .proto = NT_GW_PROTO_UDP,
	    .has_ports = true,
	    .sport = k->sport,
	    .dport = k->dport,
	    .len = quote_len,
	};

	if (quote_len == 0)
		return;
	memcpy(p.src, k->src, sizeof(p.src));
	memcpy(p.dst, k->dst, sizeof(p.dst));
	nt_gw_send_unreach(gw, gp, quote, &p, why);
}

static void on_idle(struct nt_loop *loop, struct nt_timer *t, void *arg)
{
	struct gw_flow *f = arg;
	uint64_t now = nt_loop_now(loop), deadline = f->last_ns + idle_ns(f->gw);

	if (now < deadline && nt_timer_arm_at(loop, t, deadline) == 0)
		return;
	udp_end(f, "idle");
}

/* Destination -> client. */
static void on_readable(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct gw_flow *f = arg;
	struct nt_gateway *gw = f->gw;
	struct nt_gw_udp_addrs a;
	ssize_t n;

	(void)loop;
	(void)events;
	addrs_of(&f->key, &a);
	for (int i = 0; i < RX_ROUNDS; i++) {
		do {
			n = recv(fd, gw->rx_buf, RX_MAX, MSG_DONTWAIT);
		} while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno == ECONNREFUSED) {
				/* The destination's ICMP port unreachable, passed on. */
				send_unreach(gw, f->peer, &f->key, f->quote, f->quote_len,
					     NT_GW_UNREACH_PORT);
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				gw->c.udp_dropped++;
			break;
		}
		f->last_ns = nt_loop_now(gw->loop);
		if (nt_gw_udp_reply(&a, gw->rx_buf, (size_t)n) != 0) {
			gw->c.udp_dropped++;
			continue;
		}
		f->bytes_down += (uint64_t)n;
		gw->c.bytes_down += (uint64_t)n;
		f->peer->c.bytes_down += (uint64_t)n;
	}
}

static struct gw_flow *udp_open(struct nt_gateway *gw, struct gw_peer *gp, const struct gw_key *k)
{
	struct sockaddr_storage ss;
	socklen_t len = nt_gw_os_dest(gw, gp, k, &ss);
	struct gw_flow *f;
	char src[64], dst[64];
	int err;

	f = nt_gw_flow_new(gw, gp, k, on_idle, &err);
	if (!f) {
		nt_debug(MOD, "event=flow_limit peer=%s err=%d", gp->id, err);
		return NULL;
	}
	f->state = GW_UDP_OPEN;
	gw->c.os_connects++;
	errno = EHOSTUNREACH;
	f->fd = len ? socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
	if (f->fd < 0 || connect(f->fd, (struct sockaddr *)&ss, len) != 0 ||
	    nt_loop_add_fd(gw->loop, f->fd, NT_EV_READ, on_readable, f) != 0 ||
	    nt_timer_arm(gw->loop, &f->timer, idle_ns(gw)) != 0) {
		err = errno;
		if (f->fd >= 0)
			close(f->fd);
		nt_gw_format_ep(k->family, k->dst, k->dport, dst, sizeof(dst));
		nt_info(MOD, "event=flow_failed peer=%s proto=udp dst=%s reason=\"%s\"", gp->id,
			dst, strerror(err));
		f->fd = -1;
		nt_gw_flow_free(f, NULL);
		return NULL;
	}
	gw->c.udp_flows++;
	gp->c.udp_flows++;
	nt_gw_format_ep(k->family, k->src, k->sport, src, sizeof(src));
	nt_gw_format_ep(k->family, k->dst, k->dport, dst, sizeof(dst));
	nt_info(MOD, "event=flow_opened peer=%s proto=udp src=%s dst=%s", gp->id, src, dst);
	return f;
}

/* Client -> destination (netstack/gw_accept.h's udp_datagram). */
void nt_gw_udp_datagram(void *ctx, const struct nt_gw_udp_addrs *a, const uint8_t *buf, size_t len,
			const uint8_t *quote, size_t quote_len)
{
	struct nt_gateway *gw = ctx;
	struct gw_peer *gp = nt_gw_peer_of_src(gw, a->family, a->src);
	struct gw_flow *f;
	struct gw_key k;
	ssize_t n;

	if (!gp) {
		gw->c.udp_dropped++;
		return;
	}
	key_of(a, &k);
	f = nt_gw_flow_find(gw, &k);
	if (!f) {
		if (!nt_gw_allowed(gw, gp, &k)) {
			send_unreach(gw, gp, &k, quote, quote_len, NT_GW_UNREACH_PROHIBITED);
			return;
		}
		f = udp_open(gw, gp, &k);
		if (!f) {
			gw->c.udp_dropped++;
			return;
		}
	}
	if (quote_len > sizeof(f->quote))
		quote_len = sizeof(f->quote);
	memcpy(f->quote, quote, quote_len);
	f->quote_len = quote_len;
	f->last_ns = nt_loop_now(gw->loop);
	do {
		n = send(f->fd, buf, len, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == ECONNREFUSED)
			send_unreach(gw, gp, &k, quote, quote_len, NT_GW_UNREACH_PORT);
		gw->c.udp_dropped++;
		return;
	}
	f->bytes_up += len;
	gw->c.bytes_up += len;
	gp->c.bytes_up += len;
}
