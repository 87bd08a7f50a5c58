/* SPDX-License-Identifier: MIT */
/* lwIP port: hook functions named in lwipopts.h (LWIP_HOOK_FILENAME). */
#ifndef NT_LWIP_ARCH_HOOKS_H
#define NT_LWIP_ARCH_HOOKS_H

#include "lwip/ip_addr.h"

/* RFC 6528: a 4 us clock plus a keyed hash (SipHash, per-process random key)
 * of the connection's addresses and ports, so sequence numbers are neither
 * guessable nor reused by a quickly reopened connection. */
u32_t nt_lwip_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
		      u16_t remote_port);

/* Every TCP segment that reached a pcb, before lwIP processes it
 * (LWIP_HOOK_TCP_INPACKET_PCB): 0 to process it, non-zero to drop it. */
struct tcp_pcb;
struct tcp_hdr;
struct pbuf;
int nt_lwip_tcp_inpacket(struct tcp_pcb *pcb, const struct tcp_hdr *hdr, const struct pbuf *p);

#endif
