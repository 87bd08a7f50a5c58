// SPDX-License-Identifier: MIT
/* UDP sockets in lwIP, for SOCKS5 UDP ASSOCIATE and DNS through the tunnel.
 *
 * A socket is one lwIP udp_pcb bound to our tunnel address(es) on an
 * ephemeral port; it talks to any number of destinations. Datagrams come in
 * through lwIP's recv callback (inside nt_stack_input()) and go to the
 * owner's recv as one flat buffer: a chained pbuf is copied into the layer's
 * 64 KiB buffer first. ICMP errors quoting one of our datagrams reach the
 * owner's error callback through nt_flow_handle_icmp_error() (flow.c); the
 * socket stays open.
 *
 * Lifetime: a socket is held while one of its callbacks runs, so that
 * nt_flow_udp_close() from inside only marks it; the last release frees it.
 * No timers.
 */
#include "netstack/flow_int.h"

#include "lwip/pbuf.h"
#include "lwip/udp.h"

#include <stdlib.h>

#define UDP_MAX_V4 (0xffff - 20 - 8)
#define UDP_MAX_V6 (0xffff - 8)

struct nt_flow_udp {
	struct link all;
	struct udp_pcb *pcb;
	const struct nt_flow_udp_ops *ops;
	void *arg;
	unsigned hold;
	bool closed;
};

static struct {
	bool up;
	struct link udps;
	uint8_t *udp_buf; /* flattens chained datagrams */
	struct {
		uint64_t udp_open, udp_tx, udp_tx_bytes, udp_tx_errors, udp_rx, udp_rx_bytes;
	} stats;
} g;

static void udp_free(struct nt_flow_udp *u)
{
	list_del(&u->all);
	free(u);
}

static void udp_hold(struct nt_flow_udp *u)
{
	u->hold++;
}

static void udp_release(struct nt_flow_udp *u)
{
	if (--u->hold == 0 && u->closed)
		udp_free(u);
}

static void on_udp_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
			u16_t port)
{
	struct nt_flow_udp *u = arg;
	const uint8_t *data;
	uint8_t a[16];
	int family;

	(void)pcb;
	if (!u || u->closed || !u->ops->recv) {
		pbuf_free(p);
		return;
	}
	data = nt_flow_udp_flat(p);
	g.stats.udp_rx++;
	g.stats.udp_rx_bytes += p->tot_len;
	family = nt_flow_ip_to_addr(addr, a);
	udp_hold(u);
	u->ops->recv(u->arg, u, family, a, port, data, p->tot_len);
	pbuf_free(p);
	udp_release(u);
}

int nt_flow_udp_open(const struct nt_flow_udp_ops *ops, void *arg, struct nt_flow_udp **out)
{
	struct nt_flow_udp *u;
	err_t err;
	int rc;

	*out = NULL;
	if (!g.up)
		return -ENETDOWN;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->pcb = udp_new_ip_type(IPADDR_TYPE_ANY);
	if (!u->pcb) {
		rc = -ENOMEM;
		goto err_u;
	}
	err = udp_bind(u->pcb, IP_ANY_TYPE, 0);
	if (err != ERR_OK) {
		rc = nt_flow_lwip_errno(err);
		goto err_pcb;
	}
	u->ops = ops;
	u->arg = arg;
	udp_recv(u->pcb, on_udp_recv, u);
	list_add_tail(&g.udps, &u->all);
	g.stats.udp_open++;
	*out = u;
	return 0;

err_pcb:
	udp_remove(u->pcb);
err_u:
	free(u);
	return rc;
}

int nt_flow_udp_sendto(struct nt_flow_udp *u, int family, const uint8_t *addr, uint16_t port,
		       const uint8_t *buf, size_t len)
{
	struct pbuf *p;
	ip_addr_t dst;
	err_t err;
	int rc;

	if (u->closed)
		return -EBADF;
	if (family != AF_INET && family != AF_INET6)
		rc = -EAFNOSUPPORT;
	else
		rc = nt_flow_udp_pbuf(family, buf, len, &p);
	if (rc)
		goto err_count;
	nt_flow_addr_to_ip(family, addr, &dst);
	err = udp_sendto(u->pcb, p, &dst, port);
	pbuf_free(p);
	if (err != ERR_OK) {
		rc = nt_flow_lwip_errno(err);
		goto err_count;
	}
	g.stats.udp_tx++;
	g.stats.udp_tx_bytes += len;
	return 0;

err_count:
	g.stats.udp_tx_errors++;
	return rc;
}

uint16_t nt_flow_udp_port(const struct nt_flow_udp *u)
{
	return u->pcb ? u->pcb->local_port : 0;
}

void nt_flow_udp_close(struct nt_flow_udp *u)
{
	if (!u || u->closed)
		return;
	u->closed = true;
	udp_remove(u->pcb);
	u->pcb = NULL;
	g.stats.udp_open--;
	if (u->hold == 0)
		udp_free(u);
}

/* ---- datagrams in pbufs, for gw_accept.c too ---- */

int nt_flow_udp_pbuf(int family, const uint8_t *buf, size_t len, struct pbuf **out)
{
	struct pbuf *p;

	*out = NULL;
	if (len > (family == AF_INET ? UDP_MAX_V4 : UDP_MAX_V6))
		return -EMSGSIZE;
	p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
	if (!p)
		return -ENOMEM;
	if (len)
		pbuf_take(p, buf, (u16_t)len);
	*out = p;
	return 0;
}

const uint8_t *nt_flow_udp_flat(const struct pbuf *p)
{
	if (!p->next)
		return p->payload;
	pbuf_copy_partial(p, g.udp_buf, p->tot_len, 0);
	return g.udp_buf;
}

/* ---- for the layer (flow.c) ---- */

int nt_flow_udp_icmp_error(const struct nt_icmp_err *e)
{
	for (struct link *l = g.udps.next; l != &g.udps; l = l->next) {
		struct nt_flow_udp *u = container_of(l, struct nt_flow_udp, all);

		if (u->closed || u->pcb->local_port != e->q_sport)
			continue;
		if (u->ops->error) {
			udp_hold(u);
			u->ops->error(u->arg, u, e->family, e->q_dst, e->q_dport, e->fail);
			udp_release(u);
		}
		return 1;
	}
	return 0;
}

int nt_flow_udp_layer_init(void)
{
	g.udp_buf = malloc(0x10000);
	if (!g.udp_buf)
		return -ENOMEM;
	list_init(&g.udps);
	memset(&g.stats, 0, sizeof(g.stats));
	g.up = true;
	return 0;
}

size_t nt_flow_udp_layer_fini(void)
{
	size_t left = 0;

	for (struct link *l = g.udps.next; l != &g.udps; l = l->next)
		left++;
	free(g.udp_buf);
	g.udp_buf = NULL;
	g.up = false;
	return left;
}

void nt_flow_udp_layer_stats(struct nt_flow_stats *out)
{
	out->udp_open = g.stats.udp_open;
	out->udp_tx = g.stats.udp_tx;
	out->udp_tx_bytes = g.stats.udp_tx_bytes;
	out->udp_tx_errors = g.stats.udp_tx_errors;
	out->udp_rx = g.stats.udp_rx;
	out->udp_rx_bytes = g.stats.udp_rx_bytes;
	out->mem_total += g.stats.udp_open * (sizeof(struct nt_flow_udp) + sizeof(struct udp_pcb));
}
