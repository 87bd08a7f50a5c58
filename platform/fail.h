/* SPDX-License-Identifier: MIT */
/* Why a connection could not be made. A leaf header: the flow layer, the
 * engine and the proxy all speak it. */
#ifndef NT_PLATFORM_FAIL_H
#define NT_PLATFORM_FAIL_H

#include <stdint.h>

/* Why a connection could not be made; each maps to one SOCKS5 reply code
 * and one HTTP status (see nt_fail_socks5 / nt_fail_http). */
enum nt_fail {
	NT_FAIL_NONE = 0,
	NT_FAIL_GENERAL,      /* 0x01 / 502: internal error, out of memory */
	NT_FAIL_NOT_ALLOWED,  /* 0x02 / 403: bypass = reject, or the gateway prohibits it */
	NT_FAIL_NET_UNREACH,  /* 0x03 / 502 */
	NT_FAIL_HOST_UNREACH, /* 0x04 / 502: ICMP host unreachable */
	NT_FAIL_REFUSED,      /* 0x05 / 502: RST, ICMP port unreachable */
	NT_FAIL_TIMEOUT,      /* 0x04 / 504: no answer within ConnectTimeout */
	NT_FAIL_NAME,	      /* 0x04 / 502: the name does not resolve */
	NT_FAIL_ADDR_TYPE,    /* 0x08 / 400: an address family we cannot route */
	NT_FAIL_LOOP,	      /* 0x02 / 403: the destination is one of our own listeners */
	NT_FAIL_FORBIDDEN,    /* 0x02 / 403: the portal refused access (forbidden, not_found) */
	NT_FAIL_OFFLINE,      /* 0x03 / 502: no gateway of the resource is online */
	NT_FAIL_TUNNEL_DOWN,  /* 0x04 / 502: the peer never answered our handshake */
};

#define NT_FAIL_COUNT (NT_FAIL_TUNNEL_DOWN + 1)

const char *nt_fail_text(enum nt_fail fail); /* one line, for logs and HTTP bodies */
uint8_t nt_fail_socks5(enum nt_fail fail);
int nt_fail_http(enum nt_fail fail);
/* What a failed socket() or connect() means (err: a positive errno value). */
enum nt_fail nt_fail_from_errno(int err);

#endif
