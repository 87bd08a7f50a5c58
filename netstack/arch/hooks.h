/* lwIP port: hook functions named in lwipopts.h (LWIP_HOOK_FILENAME). */
#ifndef NT_LWIP_ARCH_HOOKS_H
#define NT_LWIP_ARCH_HOOKS_H

#include "lwip/ip_addr.h"

/* RFC 6528: a 4 us clock plus a keyed hash (SipHash, per-process random key)
 * of the connection's addresses and ports, so sequence numbers are neither
 * guessable nor reused by a quickly reopened connection. */
u32_t nt_lwip_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
		      u16_t remote_port);

#endif
