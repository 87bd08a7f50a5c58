// SPDX-License-Identifier: MIT
/* The flow layer: its limits and counters, and ICMP errors from the tunnel
 * handed to the TCP flow or UDP socket they are about. Flows are elsewhere:
 *
 *   flow_tcp.c  TCP flows: life cycle (state machine), lwIP callbacks,
 *               deferred events
 *   flow_io.c   TCP flows: bytes to and from file descriptors, send space
 *   flow_udp.c  UDP sockets
 *   icmp_err.c  parsing ICMP errors (no I/O)
 *
 * The layer's state (nt_flow_g) is one per process, like lwIP's.
 */
#include "netstack/flow_tcp_int.h"

#include "platform/log.h"
#include "platform/loop.h"

#include "lwip/netif.h"
#include "lwip/tcp.h"

#include <malloc.h>
#include <string.h>

#define MOD "flow"

struct nt_flow_layer nt_flow_g;

/* ---- ICMP errors ---- */

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

int nt_flow_handle_icmp_error(const uint8_t *pkt, size_t len)
{
	struct nt_icmp_err e;
	int rc;

	if (!nt_flow_g.up)
		return 0;
	rc = nt_icmp_err_parse(pkt, len, &e);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		nt_flow_g.stats.icmp_malformed++;
		return 0;
	}
	if (!is_ours(e.family, e.dst) || !is_ours(e.family, e.q_src)) {
		nt_flow_g.stats.icmp_unmatched++;
		return 0;
	}
	rc = e.proto == IP_PROTO_TCP ? nt_flow_tcp_icmp_error(&e) : nt_flow_udp_icmp_error(&e);
	if (rc)
		nt_flow_g.stats.icmp_matched++;
	else
		nt_flow_g.stats.icmp_unmatched++;
	return rc;
}

/* ---- giving memory back (NT_FLOW_TRIM_*, flow.h) ---- */

static uint64_t buffered(void)
{
	return nt_flow_g.stats.mem_send + nt_flow_g.stats.mem_recv;
}

void nt_flow_mem_grew(void)
{
	if (!nt_flow_g.trim_due && buffered() >= NT_FLOW_TRIM_HIGH)
		nt_flow_g.trim_due = true;
}

void nt_flow_mem_fell(void)
{
	if (nt_flow_g.trim_due && buffered() < NT_FLOW_TRIM_LOW &&
	    !nt_timer_armed(&nt_flow_g.trim_timer))
		nt_timer_arm(nt_flow_g.loop, &nt_flow_g.trim_timer,
			     NT_FLOW_TRIM_DELAY_MS * 1000000ull);
}

static void trim_cb(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	(void)loop;
	(void)timer;
	(void)arg;
	/* A new burst: its own end arms the timer again. */
	if (buffered() >= NT_FLOW_TRIM_LOW)
		return;
	nt_flow_g.trim_due = false;
	if (nt_flow_g.trim)
		nt_flow_g.trim(nt_flow_g.trim_arg);
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	nt_flow_g.stats.heap_trims++;
	nt_debug(MOD, "event=heap_trimmed");
}

/* ---- the layer ---- */

int nt_flow_init(struct nt_loop *loop, const struct nt_flow_config *cfg)
{
	struct nt_flow_config c = {0};
	int rc;

	if (nt_flow_g.up)
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
	if (!c.total_recv_cap)
		c.total_recv_cap = NT_FLOW_DEFAULT_TOTAL_RECV_CAP;
	if (!c.max_flows)
		c.max_flows = NT_FLOW_DEFAULT_MAX_FLOWS;
	if (c.chunk < 512 || c.total_send_cap < c.chunk)
		return -EINVAL;
	rc = nt_flow_udp_layer_init();
	if (rc < 0)
		return rc;
	nt_flow_g.loop = loop;
	nt_flow_g.chunk = c.chunk;
	nt_flow_g.max_chunks = c.send_cap / c.chunk;
	nt_flow_g.total_cap = c.total_send_cap;
	nt_flow_g.recv_total_cap = c.total_recv_cap;
	nt_flow_g.max_flows = c.max_flows;
	nt_flow_g.trim = c.trim;
	nt_flow_g.trim_arg = c.trim_arg;
	nt_flow_g.trim_due = false;
	nt_timer_init(&nt_flow_g.trim_timer, trim_cb, NULL);
	nt_flow_tcp_layer_init();
	memset(&nt_flow_g.stats, 0, sizeof(nt_flow_g.stats));
	nt_flow_g.up = true;
	return 0;
}

void nt_flow_fini(void)
{
	size_t owned, udp;

	if (!nt_flow_g.up)
		return;
	owned = nt_flow_tcp_layer_fini();
	udp = nt_flow_udp_layer_fini();
	if (owned || udp)
		nt_warn(MOD, "event=fini_flows_left tcp=%zu udp=%zu", owned, udp);
	nt_timer_cancel(nt_flow_g.loop, &nt_flow_g.work);
	nt_timer_cancel(nt_flow_g.loop, &nt_flow_g.trim_timer);
	nt_flow_g.up = false;
}

void nt_flow_get_stats(struct nt_flow_stats *out)
{
	*out = nt_flow_g.stats;
	out->mem_total = nt_flow_g.stats.mem_send + nt_flow_g.stats.mem_recv +
			 (nt_flow_g.stats.tcp_open + nt_flow_g.stats.tcp_lingering) *
			     (sizeof(struct nt_flow) + sizeof(struct tcp_pcb));
	nt_flow_udp_layer_stats(out);
}
