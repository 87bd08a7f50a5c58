/* SPDX-License-Identifier: MIT */
/* lwIP 2.1.3 configuration for notun. netstack/README.md explains each
 * choice; the short version is kept beside each group below.
 *
 * lwIP is compiled once per process with these options and keeps global
 * state: one stack per process, driven from one thread (the engine's loop).
 */
#ifndef NT_LWIPOPTS_H
#define NT_LWIPOPTS_H

/* ---- System: no OS layer, no lwIP timer list ---- */
#define NO_SYS		     1
#define SYS_LIGHTWEIGHT_PROT 0 /* one thread: nothing to protect */
/* lwIP's own timer list would run every cyclic timer once a second forever.
 * netstack/stack.c calls tcp_tmr() and the other *_tmr() functions itself,
 * each only while it has work, so an idle stack arms no timer at all. */
#define LWIP_TIMERS 0
/* Every raw API call must come from the thread that called nt_stack_init. */
#define LWIP_ASSERT_CORE_LOCKED() nt_lwip_assert_core_locked()

/* ---- Memory: libc malloc; limits are enforced by notun, not by pools ---- */
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
#define MEM_ALIGNMENT	8

/* ---- Sequential APIs: none, raw API only ---- */
#define LWIP_SOCKET    0
#define LWIP_NETCONN   0
#define LWIP_NETIF_API 0

/* ---- Link: the netif carries raw IP packets, no Ethernet, no ARP ---- */
#define LWIP_ARP		     0
#define LWIP_ETHERNET		     0
#define LWIP_SINGLE_NETIF	     1
#define LWIP_NETIF_LOOPBACK	     0
#define LWIP_HAVE_LOOPIF	     0
#define LWIP_NETIF_STATUS_CALLBACK   0
#define LWIP_NETIF_LINK_CALLBACK     0
#define PBUF_LINK_HLEN		     0
#define PBUF_LINK_ENCAPSULATION_HLEN 0

/* ---- IPv4 ---- */
#define LWIP_IPV4	    1
#define IP_FORWARD	    0
#define IP_REASSEMBLY	    1
#define IP_FRAG		    1
#define IP_REASS_MAXAGE	    15	/* seconds; tunnel fragments arrive within ms */
#define IP_REASS_MAX_PBUFS  128 /* per family, all datagrams: ~180 KiB at MTU 1420 */
#define IP_DEFAULT_TTL	    64
#define LWIP_ICMP	    1
#define LWIP_BROADCAST_PING 0
#define LWIP_MULTICAST_PING 0
#define LWIP_RAW	    0
#define LWIP_DHCP	    0
#define LWIP_AUTOIP	    0
#define LWIP_IGMP	    0

/* ---- IPv6: static addresses only; no ND, DAD, SLAAC, MLD (no link layer) ---- */
#define LWIP_IPV6		1
#define LWIP_IPV6_NUM_ADDRESSES 1
#define LWIP_IPV6_FORWARD	0
#define LWIP_IPV6_FRAG		1
#define LWIP_IPV6_REASS		1
#define IPV6_REASS_MAXAGE	15
/* On 64-bit the reassembly helper (a pointer and two u16) exceeds the 8-byte
 * fragment header it would overlay: keep a copy instead (ip6_frag.c asserts). */
#define IPV6_FRAG_COPYHEADER		1
#define LWIP_IPV6_SEND_ROUTER_SOLICIT	0
#define LWIP_IPV6_AUTOCONFIG		0
#define LWIP_IPV6_ADDRESS_LIFETIMES	0
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS	0
#define LWIP_IPV6_MLD			0
#define LWIP_IPV6_DHCP6			0
#define LWIP_ICMP6			1
#define LWIP_ND6_QUEUEING		0
#define LWIP_ND6_ALLOW_RA_UPDATES	0
#define LWIP_ND6_TCP_REACHABILITY_HINTS 0
#define LWIP_ND6_NUM_NEIGHBORS		1
#define LWIP_ND6_NUM_DESTINATIONS	1
#define LWIP_ND6_NUM_PREFIXES		1
#define LWIP_ND6_NUM_ROUTERS		1

/* ---- UDP ---- */
#define LWIP_UDP     1
#define LWIP_UDPLITE 0

/* ---- TCP: large windows, SACK, timestamps ---- */
#define LWIP_TCP	 1
#define TCP_MSS		 1380 /* MTU 1420 - 20 (IPv4) - 20 (TCP); IPv6 gets 1360 */
#define LWIP_WND_SCALE	 1
#define TCP_RCV_SCALE	 7 /* up to 65535 << 7 = 8 MiB */
/* Per flow; what all flows hold received and unread is capped globally by
 * the flow layer (total_recv_cap, see the input hook below). */
#define TCP_WND		 (2 * 1024 * 1024)
#define TCP_SND_BUF	 (2 * 1024 * 1024)
#define TCP_SND_QUEUELEN ((4 * (TCP_SND_BUF) + (TCP_MSS - 1)) / (TCP_MSS))
/* init.c refuses TCP_SNDLOWAT >= 0xFFFF - 4 * TCP_MSS, even with scaling;
 * only the socket API reads it. */
#define TCP_SNDLOWAT	      32768
#define TCP_QUEUE_OOSEQ	      1
#define TCP_OOSEQ_MAX_BYTES   TCP_WND
#define TCP_OOSEQ_MAX_PBUFS   2048 /* bounds tinygram floods; a full window is ~1520 */
#define LWIP_TCP_SACK_OUT     1
#define LWIP_TCP_MAX_SACK_NUM 4
#define LWIP_TCP_TIMESTAMPS   1
#define TCP_LISTEN_BACKLOG    1
#define TCP_OVERSIZE	      TCP_MSS
#define LWIP_CALLBACK_API     1
#define LWIP_EVENT_API	      0
#define LWIP_ALTCP	      0
#define TCP_TTL		      IP_DEFAULT_TTL
/* lwIP measures RTT and RTO in slow-timer ticks (2 x this interval) and its
 * RTO never drops below 3 ticks: at the default 250 ms a lost segment the
 * peer's dupacks do not recover stalls a connection for 1.5 s or more. The
 * fast timer also sends the tail-loss probe (lwip-sack-recovery.patch),
 * which is what ends most stalls: at 10 ms a stall costs 10-20 ms, an RTO
 * 40-60 ms (at 50 ms: 100 and 200-300 ms, and uploads through a 1 ms path
 * at 5 % loss ran at half the speed). The timer runs only while
 * connections exist. */
#define TCP_TMR_INTERVAL 10
/* TIME_WAIT lasts 2 x MSL and holds its local port. lwIP's 60 s MSL would
 * keep every closed connection (a proxy closes thousands a second) and the
 * client's 16383 local ports for two minutes. Inside an authenticated tunnel
 * a stray old segment is all TIME_WAIT guards against; 5 s (10 s of
 * TIME_WAIT) covers any delay the tunnel has. However many there are, lwIP
 * finds pcbs by hash (third_party/lwip-pcb-hash.patch). */
#define TCP_MSL 5000UL
/* Keepalive, on the flows nt_flow_tcp_connect opens (SOF_KEEPALIVE): one
 * that received nothing for IDLE ms is probed every INTVL ms and aborted
 * after CNT probes unanswered, 90 s in all (as long as WireGuard retries a
 * handshake, so an outage it would ride out does not cost the flows).
 * Without it a download whose far end died (a gateway killed) waits
 * forever: a receiver sends nothing. A far end that came back without the
 * flow answers the first probe with a RST. The tcp timer runs anyway while
 * a connection exists. */
#define TCP_KEEPIDLE_DEFAULT  30000UL
#define TCP_KEEPINTVL_DEFAULT 10000UL
#define TCP_KEEPCNT_DEFAULT   6U

/* ---- DNS: lwIP's client is unused; core/resolver/resolver_tunnel.c queries over raw UDP ---- */
#define LWIP_DNS 0

/* ---- Checksums: generated in software (arch/cc.h's nt_lwip_chksum) ----
 * Every inner packet lwIP receives came out of the tunnel's AEAD, which
 * already proved it is what the peer sent: a TCP or UDP checksum can only
 * repeat that, at the cost of reading every byte again (7 % of a bulk
 * transfer's CPU, tests/bench/README.md). So they are not checked, as the
 * Linux kernel's WireGuard marks decrypted packets CHECKSUM_UNNECESSARY.
 * The IP and ICMP ones (a header, a rare message) still are. */
#define CHECKSUM_GEN_IP	     1
#define CHECKSUM_GEN_UDP     1
#define CHECKSUM_GEN_TCP     1
#define CHECKSUM_GEN_ICMP    1
#define CHECKSUM_GEN_ICMP6   1
#define CHECKSUM_CHECK_IP    1
#define CHECKSUM_CHECK_UDP   0
#define CHECKSUM_CHECK_TCP   0
#define CHECKSUM_CHECK_ICMP  1
#define CHECKSUM_CHECK_ICMP6 1

/* ---- Statistics: protocol drop counters only (one increment each) ---- */
#define LWIP_STATS	   1
#define LWIP_STATS_LARGE   1
#define LWIP_STATS_DISPLAY 0
#define LINK_STATS	   0
#define ETHARP_STATS	   0
#define IP_STATS	   1
#define IPFRAG_STATS	   1
#define ICMP_STATS	   1
#define UDP_STATS	   1
#define TCP_STATS	   1
#define MEM_STATS	   0
#define MEMP_STATS	   0
#define SYS_STATS	   0
#define IP6_STATS	   1
#define ICMP6_STATS	   1
#define IP6_FRAG_STATS	   1
#define MLD6_STATS	   0
#define ND6_STATS	   0
#define MIB2_STATS	   0

/* ---- Hooks (netstack/arch/hooks.h) ---- */
#define LWIP_HOOK_FILENAME "arch/hooks.h"
/* RFC 6528 initial sequence numbers instead of lwIP's counter. */
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port)                            \
	nt_lwip_tcp_isn((local_ip), (local_port), (remote_ip), (remote_port))
/* Every TCP segment that reached a pcb, before lwIP processes it: the flow
 * layer drops data segments while the bytes received and not yet read by all
 * flows are at their global cap (netstack/stack.c, nt_stack_set_tcp_filter;
 * netstack/flow_tcp.c says why there). */
#define LWIP_HOOK_TCP_INPACKET_PCB(pcb, hdr, optlen, opt1len, opt2, p)                             \
	(nt_lwip_tcp_inpacket((pcb), (hdr), (p)) == 0 ? ERR_OK : ERR_MEM)

/* ---- Byte order: our code uses libc's htons & co. ---- */
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS 1

/* ---- Debug: LWIP_DEBUG stays undefined (lwIP tests it with #ifdef) ---- */

#endif
