// SPDX-License-Identifier: MIT
/* lwIP accept-any for the gateway (see gw_accept.h and
 * third_party/lwip-accept-any.patch).
 *
 * A half-open connection is lwIP's SYN_RCVD pcb, found right after the fed
 * SYN created it; its arg is the gateway's and its err callback ours, so
 * its death is reported. Its backlog slot is released at once: the gateway
 * bounds connections itself, the listener's u8 backlog would only drop SYNs.
 * At the client's ACK lwIP calls the listener's accept callback with the
 * pcb, which becomes an nt_flow there.
 */
#include "netstack/gw_accept.h"

#include <string.h>

#include "netstack/flow_int.h"
#include "netstack/ippkt.h"
#include "netstack/stack.h"
#include "platform/log.h"

#include "lwip/inet_chksum.h"
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/prot/udp.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"

#define MOD "gw_accept"

#define BACKLOG 255 /* u8: only the moments between a SYN and our release */

/* Defined by the accept-any patch in lwIP's ip.c. */
extern int (*lwip_nt_accept_any)(struct pbuf *p, struct netif *inp);
extern void (*lwip_nt_udp_any)(struct pbuf *p, const ip_addr_t *src, u16_t sport,
			       const ip_addr_t *dst, u16_t dport);

static struct {
	bool up;
	struct nt_gw_accept_ops ops;
	struct tcp_pcb *listener;
	struct nt_gw_accept_stats stats;
} ga;

/* ---- addresses ---- */

/* Addresses lwIP cannot terminate as a connection's local end: they are
 * everyone's (multicast, broadcast), nobody's, or IPv4 in disguise. The
 * gateway refused them before (and loopback and link-local unless a rule
 * names them): here they are only kept from lwIP's own handling. */
static bool martian(int family, const uint8_t *a)
{
	return !nt_ippkt_scope_unicast(nt_ippkt_scope_of(family, a, NULL));
}

/* ---- the IP hook: which foreign packets lwIP takes ---- */

static int accept_hook(struct pbuf *p, struct netif *inp)
{
	struct nt_ippkt ip;

	(void)inp;
	/* lwIP checked that the IP header is in the first pbuf; what follows it
	 * may not be, as in a quote. */
	if (nt_ippkt_parse_quote(p->payload, p->len, &ip) != 0 || martian(ip.family, ip.dst) ||
	    (ip.proto != IP_PROTO_TCP && ip.proto != IP_PROTO_UDP)) {
		ga.stats.refused++;
		return 0;
	}
	ga.stats.accepted++;
	return 1;
}

/* ---- TCP ---- */

static void half_err(void *arg, err_t err)
{
	enum nt_fail why = err == ERR_RST    ? NT_FAIL_REFUSED
			   : err == ERR_ABRT ? NT_FAIL_TIMEOUT
					     : NT_FAIL_GENERAL;

	/* lwIP freed the pcb. */
	ga.stats.half_open--;
	ga.stats.half_failed++;
	ga.ops.tcp_failed(arg, why);
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct nt_flow *flow;
	int rc;

	if (!pcb || err != ERR_OK)
		return ERR_OK; /* out of memory for a new pcb: the SYN is lost, not fed */
	if (!arg) {
		/* Not a SYN we fed (the gateway checks every one first): no. */
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	ga.stats.half_open--;
	tcp_err(pcb, NULL);
	rc = nt_flow_tcp_adopt(pcb, NULL, NULL, &flow);
	if (rc != 0) {
		nt_warn(MOD, "event=adopt_failed err=\"%s\"", strerror(-rc));
		tcp_arg(pcb, NULL);
		tcp_abort(pcb);
		ga.stats.half_failed++;
		ga.ops.tcp_failed(arg, NT_FAIL_GENERAL);
		return ERR_ABRT;
	}
	if (ga.ops.tcp_established(arg, flow) != 0) {
		nt_flow_abort(flow); /* tcp_abort inside */
		return ERR_ABRT;
	}
	ga.stats.established++;
	return ERR_OK;
}

/* The SYN's addresses and ports. 0 or -EINVAL. */
static int syn_tuple(const uint8_t *pkt, size_t len, ip_addr_t *local, u16_t *lport,
		     ip_addr_t *remote, u16_t *rport)
{
	struct nt_ippkt ip;

	/* A SYN with IPv6 extension headers is not supported (core/gateway/gateway.md). */
	if (nt_ippkt_parse(pkt, len, &ip) != 0 || ip.proto != IP_PROTO_TCP || !ip.has_l4 ||
	    ip.l4_len < 4 || (ip.family == AF_INET6 && ip.l4 != IP6_HLEN))
		return -EINVAL;
	nt_flow_addr_to_ip(ip.family, ip.src, remote);
	nt_flow_addr_to_ip(ip.family, ip.dst, local);
	*rport = nt_ippkt_get16(pkt + ip.l4);
	*lport = nt_ippkt_get16(pkt + ip.l4 + 2);
	return 0;
}

int nt_gw_accept_syn(const uint8_t *pkt, size_t len, void *arg, struct nt_gw_half **out)
{
	ip_addr_t local, remote;
	u16_t lport, rport;
	struct tcp_pcb *pcb;
	int rc;

	*out = NULL;
	if (!ga.up)
		return -ENETDOWN;
	if (syn_tuple(pkt, len, &local, &lport, &remote, &rport) != 0)
		return -EINVAL;
	/* lwIP's 4-tuple hash (third_party/lwip-pcb-hash.patch): no walk, however many
	 * connections are open or in TIME_WAIT. */
	pcb = tcp_nt_lookup(&local, lport, &remote, rport);
	if (pcb && pcb->state != TIME_WAIT) {
		(void)nt_stack_input(pkt, len); /* lwIP answers it as that connection */
		return -EEXIST;
	}
	if (pcb) {
		/* A new connection reusing the tuple: TIME_WAIT would answer it
		 * with an ACK or RST. */
		tcp_abort(pcb);
		ga.stats.time_wait_dropped++;
	}
	rc = nt_stack_input(pkt, len);
	if (rc != 0)
		goto not_taken;
	pcb = tcp_nt_lookup(&local, lport, &remote, rport);
	if (!pcb || pcb->state != SYN_RCVD) {
		rc = -EAGAIN;
		goto not_taken;
	}
	tcp_backlog_accepted(pcb);
	tcp_arg(pcb, arg);
	tcp_err(pcb, half_err);
	ga.stats.syns_fed++;
	ga.stats.half_open++;
	*out = (struct nt_gw_half *)pcb;
	return 0;

not_taken:
	ga.stats.syns_not_taken++;
	return rc == -ENOMEM ? -ENOMEM : rc == -EAGAIN ? -EAGAIN : rc;
}

void nt_gw_accept_abort(struct nt_gw_half *h)
{
	struct tcp_pcb *pcb = (struct tcp_pcb *)h;

	if (!pcb)
		return;
	tcp_arg(pcb, NULL);
	tcp_err(pcb, NULL);
	tcp_abort(pcb);
	ga.stats.half_open--;
	nt_stack_timers_kick();
}

/* ---- UDP ---- */

/* The datagram's start for an ICMP quote: IP header as received, then a
 * UDP header (lwIP removed it; checksum left 0) and the first bytes. */
static size_t build_quote(uint8_t *q, const struct pbuf *p, u16_t sport, u16_t dport)
{
	const uint8_t *iph = ip_current_is_v6() ? (const uint8_t *)ip6_current_header()
						: (const uint8_t *)ip4_current_header();
	size_t hlen = ip_current_header_tot_len(), n;
	size_t udp_len = (size_t)p->tot_len + 8;

	if (!iph || hlen + 8 > NT_GW_QUOTE_MAX)
		return 0;
	memcpy(q, iph, hlen);
	nt_ippkt_put16(q + hlen, sport);
	nt_ippkt_put16(q + hlen + 2, dport);
	nt_ippkt_put16(q + hlen + 4, (uint16_t)udp_len);
	nt_ippkt_put16(q + hlen + 6, 0);
	n = NT_GW_QUOTE_MAX - hlen - 8;
	if (n > p->tot_len)
		n = p->tot_len;
	pbuf_copy_partial(p, q + hlen + 8, (u16_t)n, 0);
	return hlen + 8 + n;
}

static void udp_any(struct pbuf *p, const ip_addr_t *src, u16_t sport, const ip_addr_t *dst,
		    u16_t dport)
{
	uint8_t quote[NT_GW_QUOTE_MAX];
	struct nt_gw_udp_addrs a = {.sport = sport, .dport = dport};
	const uint8_t *data;
	size_t qlen;

	a.family = nt_flow_ip_to_addr(src, a.src);
	(void)nt_flow_ip_to_addr(dst, a.dst);
	/* lwIP itself takes broadcast and multicast: not for the gateway. */
	if (martian(a.family, a.dst)) {
		ga.stats.refused++;
		pbuf_free(p);
		return;
	}
	data = nt_flow_udp_flat(p);
	qlen = build_quote(quote, p, sport, dport);
	ga.stats.udp_rx++;
	ga.stats.udp_rx_bytes += p->tot_len;
	ga.ops.udp_datagram(ga.ops.ctx, &a, data, p->tot_len, quote, qlen);
	pbuf_free(p);
}

int nt_gw_udp_reply(const struct nt_gw_udp_addrs *a, const uint8_t *buf, size_t len)
{
	ip_addr_t src, dst;
	struct udp_hdr *uh;
	struct netif *netif;
	struct pbuf *p;
	u16_t sum;
	err_t err;
	int rc;

	if (!ga.up)
		return -ENETDOWN;
	rc = nt_flow_udp_pbuf(a->family, buf, len, &p);
	if (rc)
		goto err_count;
	/* The reply comes from where the datagram went. */
	nt_flow_addr_to_ip(a->family, a->dst, &src);
	nt_flow_addr_to_ip(a->family, a->src, &dst);
	if (pbuf_add_header(p, UDP_HLEN) != 0) {
		rc = -ENOMEM;
		goto err_pbuf;
	}
	uh = p->payload;
	uh->src = lwip_htons(a->dport);
	uh->dest = lwip_htons(a->sport);
	uh->len = lwip_htons((u16_t)p->tot_len);
	uh->chksum = 0;
	sum = ip_chksum_pseudo(p, IP_PROTO_UDP, p->tot_len, &src, &dst);
	uh->chksum = sum == 0 ? 0xffff : sum; /* 0 means "no checksum" */
	netif = ip_route(&src, &dst);
	if (!netif) {
		rc = -ENETUNREACH;
		goto err_pbuf;
	}
	err = ip_output_if_src(p, &src, &dst, UDP_TTL, 0, IP_PROTO_UDP, netif);
	pbuf_free(p);
	if (err != ERR_OK) {
		rc = nt_flow_lwip_errno(err);
		goto err_count;
	}
	ga.stats.udp_tx++;
	ga.stats.udp_tx_bytes += len;
	return 0;

err_pbuf:
	pbuf_free(p);
err_count:
	ga.stats.udp_tx_errors++;
	return rc;
}

/* ---- enable / disable ---- */

int nt_gw_accept_enable(const struct nt_gw_accept_ops *ops)
{
	struct tcp_pcb *pcb;
	err_t err;

	if (ga.up)
		return -EALREADY;
	if (!ops || !ops->tcp_established || !ops->tcp_failed || !ops->udp_datagram)
		return -EINVAL;
	memset(&ga, 0, sizeof(ga));
	/* Unbound: port 0, which the patch makes every port. */
	pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
	if (!pcb)
		return -ENOMEM;
	ga.listener = tcp_listen_with_backlog_and_err(pcb, BACKLOG, &err);
	if (!ga.listener) {
		tcp_abort(pcb);
		return -ENOMEM;
	}
	tcp_arg(ga.listener, NULL);
	tcp_accept(ga.listener, on_accept);
	ga.ops = *ops;
	lwip_nt_accept_any = accept_hook;
	lwip_nt_udp_any = udp_any;
	ga.up = true;
	return 0;
}

void nt_gw_accept_disable(void)
{
	struct tcp_pcb *pcb, *next;

	if (!ga.up)
		return;
	lwip_nt_accept_any = NULL;
	lwip_nt_udp_any = NULL;
	/* Half-open connections still point at our err callback. */
	for (pcb = tcp_active_pcbs; pcb; pcb = next) {
		next = pcb->next;
		if (pcb->errf == half_err) {
			tcp_arg(pcb, NULL);
			tcp_err(pcb, NULL);
			tcp_abort(pcb);
			ga.stats.half_open--;
		}
	}
	tcp_close(ga.listener);
	ga.listener = NULL;
	ga.up = false;
	nt_stack_timers_kick();
}

void nt_gw_accept_get_stats(struct nt_gw_accept_stats *out)
{
	*out = ga.stats;
}
