// SPDX-License-Identifier: MIT
/* The lwIP driver: one netif that carries raw IP packets, and lwIP's timers
 * on the engine's loop.
 *
 * Timers. lwIP is built with LWIP_TIMERS=0: its own scheduler (timeouts.c)
 * would keep every cyclic timer (reassembly, ND) firing once a second
 * forever, and with LWIP_TIMERS_CUSTOM its tcp_timer_needed() hook is an
 * empty stub we cannot replace. So this file calls the *_tmr() functions
 * itself, from two one-shot loop timers re-armed only while there is work:
 *
 *   timer  period  runs                          armed while
 *   tcp    10 ms   tcp_tmr()                     tcp_active_pcbs or tcp_tw_pcbs is
 *                  (fast timer each tick, slow   non-empty: lwIP's own rule. Listening
 *                  timer every other tick)       and bound pcbs need no timer.
 *   slow   1 s     ip_reass_tmr(),               reass_ticks > 0: set to IP_REASS_MAXAGE + 2
 *                  ip6_reass_tmr()               by every incoming fragment, so each
 *                                                datagram gets its full lifetime.
 *   none           dns_tmr()                     never: lwIP's DNS client is compiled out
 *                                                (LWIP_DNS 0); core/resolver/ sends its
 *                                                queries through the flow layer (flow_udp.c).
 *   none           nd6_tmr()                     never: no DAD, no router solicitation,
 *                                                no SLAAC, and ND messages are dropped at
 *                                                input (a raw IP tunnel has no link layer),
 *                                                so ND keeps no state to age.
 *
 * Whether the tcp timer is needed is re-evaluated after every packet in,
 * after every tick, on nt_stack_timers_kick(), and (arming only) on every
 * packet out: a pcb that becomes active always sends (tcp_connect's SYN), so
 * an active open starts the timer even without a kick.
 */
#include "netstack/stack.h"

#include "netstack/ippkt.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "platform/random.h"

#include "arch/hooks.h"
#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/ip4_frag.h"
#include "lwip/ip6_frag.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/stats.h"
#include "lwip/udp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MOD "netstack"

#define REASS_TICKS (LWIP_MAX(IP_REASS_MAXAGE, IPV6_REASS_MAXAGE) + 2)

#define ND_FIRST_TYPE 133 /* router solicitation */
#define ND_LAST_TYPE  137 /* redirect */

static struct {
	bool up;
	bool lwip_ready; /* lwip_init() runs once per process */
	struct nt_loop *loop;
	struct netif netif;
	nt_stack_output_fn output;
	void *output_arg;
	uint16_t mtu;
	uint8_t *scratch; /* flattens chained pbufs for the output callback */
	struct nt_timer tcp_timer;
	struct nt_timer slow_timer;
	unsigned reass_ticks;
	struct nt_stack_stats stats;
} st;

static bool pkt_is_nd(const uint8_t *pkt, const struct nt_ippkt *ip)
{
	const uint8_t *l4 = pkt + ip->l4;

	return ip->family == AF_INET6 && ip->has_l4 && ip->proto == IP6_NEXTH_ICMP6 &&
	       ip->l4_len >= 1 && l4[0] >= ND_FIRST_TYPE && l4[0] <= ND_LAST_TYPE;
}

/* ---- timers ---- */

static bool tcp_needs_timer(void)
{
	return tcp_active_pcbs != NULL || tcp_tw_pcbs != NULL;
}

static void timer_set(struct nt_timer *timer, bool needed, uint64_t period_ns)
{
	int err;

	if (needed == nt_timer_armed(timer))
		return;
	if (!needed) {
		nt_timer_cancel(st.loop, timer);
		return;
	}
	err = nt_timer_arm(st.loop, timer, period_ns);
	if (err) {
		st.stats.timer_errors++;
		nt_error(MOD, "event=timer_arm_failed err=\"%s\"", strerror(-err));
	}
}

/* Starts and stops the timers to match lwIP's state. With start_only, a
 * timer that is no longer needed is left for its next tick to stop. */
static void timers_follow(bool start_only)
{
	bool tcp = tcp_needs_timer();
	bool slow = st.reass_ticks > 0;

	if (tcp || !start_only)
		timer_set(&st.tcp_timer, tcp, TCP_TMR_INTERVAL * NT_NS_PER_MS);
	if (slow || !start_only)
		timer_set(&st.slow_timer, slow, NT_NS_PER_SEC);
}

static void timers_update(void)
{
	timers_follow(false);
}

static void tcp_timer_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	(void)loop;
	(void)timer;
	(void)arg;
	tcp_tmr();
	timers_update();
}

static void slow_timer_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	(void)loop;
	(void)timer;
	(void)arg;
	if (st.reass_ticks > 0) {
		st.reass_ticks--;
		ip_reass_tmr();
		ip6_reass_tmr();
	}
	timers_update();
}

void nt_stack_timers_kick(void)
{
	if (st.up)
		timers_update();
}

unsigned nt_stack_timers_armed(void)
{
	unsigned armed = 0;

	if (!st.up)
		return 0;
	if (nt_timer_armed(&st.tcp_timer))
		armed |= NT_STACK_TIMER_TCP;
	if (nt_timer_armed(&st.slow_timer))
		armed |= NT_STACK_TIMER_SLOW;
	return armed;
}

/* ---- output ---- */

static err_t netif_output(struct netif *netif, struct pbuf *p)
{
	const uint8_t *pkt = p->payload;
	size_t len = p->tot_len;

	(void)netif;
	if (len > st.mtu) {
		st.stats.out_drop_oversize++;
		return ERR_OK;
	}
	if (p->next) {
		pbuf_copy_partial(p, st.scratch, p->tot_len, 0);
		pkt = st.scratch;
	}
	/* Start only: this runs in the middle of lwIP's work (tcp_connect's
	 * SYN, a retransmission); stopping waits for the end of the entry
	 * point, when the pcb lists are settled. */
	timers_follow(true);
	if (st.output(st.output_arg, pkt, len) < 0) {
		st.stats.out_drop_refused++;
	} else {
		st.stats.out_packets++;
		st.stats.out_bytes += len;
	}
	/* ERR_OK even after a drop: lwIP's TCP keeps a segment it was told
	 * failed on its unsent queue with no retransmission timer running. */
	return ERR_OK;
}

static err_t netif_output4(struct netif *netif, struct pbuf *p, const ip4_addr_t *next_hop)
{
	(void)next_hop;
	return netif_output(netif, p);
}

static err_t netif_output6(struct netif *netif, struct pbuf *p, const ip6_addr_t *next_hop)
{
	(void)next_hop;
	return netif_output(netif, p);
}

/* ---- input ---- */

int nt_stack_input(const uint8_t *pkt, size_t len)
{
	struct nt_ippkt ip;
	struct pbuf *p;
	int rc;

	if (!st.up)
		return -ENETDOWN;
	if (len > st.mtu) {
		st.stats.in_drop_oversize++;
		return -EMSGSIZE;
	}
	rc = nt_ippkt_parse(pkt, len, &ip);
	if (rc == -EMSGSIZE) {
		st.stats.in_drop_truncated++;
		return -EINVAL;
	}
	if (rc < 0) {
		st.stats.in_drop_malformed++;
		return -EINVAL;
	}
	if (pkt_is_nd(pkt, &ip)) {
		st.stats.in_drop_nd++;
		return -EPROTO;
	}
	/* PBUF_RAM: one contiguous buffer, so a single copy. */
	p = pbuf_alloc(PBUF_RAW, (u16_t)ip.len, PBUF_RAM);
	if (!p) {
		st.stats.in_drop_nomem++;
		return -ENOMEM;
	}
	memcpy(p->payload, pkt, ip.len);
	if (ip.fragment)
		st.reass_ticks = REASS_TICKS;
	st.stats.in_packets++;
	st.stats.in_bytes += ip.len;
	/* ip_input always consumes the pbuf (lwIP 2.1.3 returns ERR_OK). */
	if (ip_input(p, &st.netif) != ERR_OK)
		pbuf_free(p);
	timers_update();
	return 0;
}

/* ---- the TCP input filter ---- */

static nt_stack_tcp_filter_fn tcp_filter;

void nt_stack_set_tcp_filter(nt_stack_tcp_filter_fn fn)
{
	tcp_filter = fn;
}

/* lwIP's LWIP_HOOK_TCP_INPACKET_PCB (lwipopts.h). p's payload is the TCP
 * payload. A listener arrives here cast to a tcp_pcb: only the fields common
 * to all pcbs (state) may be read before ruling it out. */
int nt_lwip_tcp_inpacket(struct tcp_pcb *pcb, const struct tcp_hdr *hdr, const struct pbuf *p)
{
	if (!tcp_filter || p->tot_len == 0 || pcb->state == LISTEN || pcb->state == TIME_WAIT)
		return 0;
	if (TCPH_FLAGS(hdr) & (TCP_SYN | TCP_RST))
		return 0;
	return tcp_filter(pcb, p->tot_len) ? 0 : -1;
}

/* ---- lifecycle ---- */

static err_t netif_setup(struct netif *netif)
{
	netif->name[0] = 'w';
	netif->name[1] = 'g';
	netif->mtu = st.mtu;
	netif->output = netif_output4;
	netif->output_ip6 = netif_output6;
	/* No NETIF_FLAG_BROADCAST / ETHARP / MLD6: a point-to-point IP link. */
	netif->flags = 0;
	netif->hwaddr_len = 0;
	return ERR_OK;
}

static int config_check(const struct nt_stack_config *cfg, uint16_t *mtu)
{
	if (!cfg || !cfg->output || (!cfg->has_ipv4 && !cfg->has_ipv6 && !cfg->no_address_yet))
		return -EINVAL;
	*mtu = cfg->mtu ? cfg->mtu : NT_STACK_DEFAULT_MTU;
	if (*mtu < NT_STACK_MIN_MTU)
		return -EINVAL;
	if (cfg->has_ipv4 && (cfg->ipv4.s_addr == 0 || cfg->ipv4.s_addr == 0xffffffffu))
		return -EINVAL;
	if (cfg->has_ipv6 &&
	    (IN6_IS_ADDR_UNSPECIFIED(&cfg->ipv6) || IN6_IS_ADDR_MULTICAST(&cfg->ipv6)))
		return -EINVAL;
	return 0;
}

int nt_stack_init(struct nt_loop *loop, const struct nt_stack_config *cfg)
{
	ip4_addr_t addr4, mask4;
	uint16_t mtu;
	int err;

	if (!loop)
		return -EINVAL;
	err = config_check(cfg, &mtu);
	if (err)
		return err;
	if (st.up)
		return -EALREADY;
	if (nt_platform_init() < 0)
		return -EIO;
	st.scratch = malloc(mtu);
	if (!st.scratch)
		return -ENOMEM;
	st.loop = loop;
	st.mtu = mtu;
	st.output = cfg->output;
	st.output_arg = cfg->output_arg;
	st.reass_ticks = 0;
	memset(&st.stats, 0, sizeof(st.stats));
	nt_timer_init(&st.tcp_timer, tcp_timer_cb, NULL);
	nt_timer_init(&st.slow_timer, slow_timer_cb, NULL);

	nt_lwip_core_claim();
	if (!st.lwip_ready) {
		lwip_init();
		st.lwip_ready = true;
	}
	memset(&lwip_stats, 0, sizeof(lwip_stats));

	ip4_addr_set_zero(&addr4);
	ip4_addr_set_zero(&mask4);
	if (cfg->has_ipv4) {
		ip4_addr_set_u32(&addr4, cfg->ipv4.s_addr); /* both in network order */
		ip4_addr_set_u32(&mask4, 0xffffffffu);
	}
	if (!netif_add(&st.netif, &addr4, &mask4, IP4_ADDR_ANY4, NULL, netif_setup, ip_input)) {
		err = -ENOMEM;
		goto err_netif;
	}
	if (cfg->has_ipv6) {
		ip6_addr_t addr6;

		memcpy(addr6.addr, cfg->ipv6.s6_addr, sizeof(addr6.addr));
		ip6_addr_clear_zone(&addr6);
		netif_ip6_addr_set(&st.netif, 0, &addr6);
		netif_ip6_addr_set_state(&st.netif, 0, IP6_ADDR_PREFERRED);
	}
	netif_set_default(&st.netif);
	netif_set_link_up(&st.netif);
	netif_set_up(&st.netif);
	st.up = true;
	nt_info(MOD, "event=up mtu=%u ipv4=%s ipv6=%s", (unsigned)mtu, cfg->has_ipv4 ? "yes" : "no",
		cfg->has_ipv6 ? "yes" : "no");
	return 0;

err_netif:
	nt_lwip_core_release();
	free(st.scratch);
	st.scratch = NULL;
	return err;
}

int nt_stack_set_address(int family, const uint8_t *addr)
{
	if (!st.up)
		return -ENETDOWN;
	if (family == AF_INET) {
		ip4_addr_t a4, m4;

		memcpy(&a4.addr, addr, 4);
		if (a4.addr == 0 || a4.addr == 0xffffffffu || ip4_addr_ismulticast(&a4))
			return -EINVAL;
		ip4_addr_set_u32(&m4, 0xffffffffu);
		netif_set_addr(&st.netif, &a4, &m4, IP4_ADDR_ANY4);
	} else if (family == AF_INET6) {
		ip6_addr_t a6;

		memcpy(a6.addr, addr, 16);
		ip6_addr_clear_zone(&a6);
		if (ip6_addr_isany(&a6) || ip6_addr_ismulticast(&a6))
			return -EINVAL;
		netif_ip6_addr_set(&st.netif, 0, &a6);
		netif_ip6_addr_set_state(&st.netif, 0, IP6_ADDR_PREFERRED);
	} else {
		return -EINVAL;
	}
	return 0;
}

static void close_pcbs(void)
{
	/* Each call unlinks the head, so these loops end. */
	while (tcp_active_pcbs)
		tcp_abort(tcp_active_pcbs);
	while (tcp_tw_pcbs)
		tcp_abort(tcp_tw_pcbs);
	while (tcp_listen_pcbs.pcbs)
		tcp_close(tcp_listen_pcbs.pcbs);
	while (tcp_bound_pcbs)
		tcp_close(tcp_bound_pcbs);
}

void nt_stack_shutdown(void)
{
	size_t udp_left = 0;

	if (!st.up)
		return;
	close_pcbs();
	/* Age out whatever is still held, so nothing leaks into the next init. */
	for (int i = 0; i < REASS_TICKS; i++) {
		ip_reass_tmr();
		ip6_reass_tmr();
	}
	for (struct udp_pcb *u = udp_pcbs; u; u = u->next)
		udp_left++;
	if (udp_left)
		nt_warn(MOD, "event=shutdown_udp_pcbs_left count=%zu", udp_left);
	nt_timer_cancel(st.loop, &st.tcp_timer);
	nt_timer_cancel(st.loop, &st.slow_timer);
	netif_remove(&st.netif);
	nt_lwip_core_release();
	free(st.scratch);
	st.scratch = NULL;
	st.loop = NULL;
	st.up = false;
	nt_info(MOD, "event=down in=%llu out=%llu", (unsigned long long)st.stats.in_packets,
		(unsigned long long)st.stats.out_packets);
}

/* ---- counters ---- */

static uint64_t lwip_sum(bool chkerr)
{
	const struct stats_proto *protos[] = {
	    &lwip_stats.ip,  &lwip_stats.ip6, &lwip_stats.icmp,	   &lwip_stats.icmp6,
	    &lwip_stats.udp, &lwip_stats.tcp, &lwip_stats.ip_frag, &lwip_stats.ip6_frag,
	};
	uint64_t sum = 0;

	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		sum += chkerr ? protos[i]->chkerr : protos[i]->drop;
	return sum;
}

const char *nt_stack_version(void)
{
	return LWIP_VERSION_STRING;
}

void nt_stack_get_stats(struct nt_stack_stats *out)
{
	*out = st.stats;
	out->stack_chkerr = lwip_sum(true);
	out->stack_drop = lwip_sum(false);
}
