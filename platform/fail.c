// SPDX-License-Identifier: MIT
/* The reasons a connection fails, the errno values they come from, and what
 * each tells a SOCKS5 or HTTP client.
 * Kept apart from engine.c so that the proxy's tests can stand in a fake
 * engine and still use the real mapping. */
#include "platform/fail.h"

#include <errno.h>

static const struct {
	const char *text;
	uint8_t socks5;
	int http;
} fails[] = {
    [NT_FAIL_NONE] = {"connected", 0x00, 200},
    [NT_FAIL_GENERAL] = {"internal error", 0x01, 502},
    [NT_FAIL_NOT_ALLOWED] = {"destination not allowed", 0x02, 403},
    [NT_FAIL_NET_UNREACH] = {"network unreachable", 0x03, 502},
    [NT_FAIL_HOST_UNREACH] = {"host unreachable", 0x04, 502},
    [NT_FAIL_REFUSED] = {"connection refused", 0x05, 502},
    [NT_FAIL_TIMEOUT] = {"the destination did not answer in time", 0x04, 504},
    [NT_FAIL_NAME] = {"name does not resolve", 0x04, 502},
    [NT_FAIL_ADDR_TYPE] = {"address type not supported", 0x08, 400},
    [NT_FAIL_LOOP] = {"destination is this proxy itself", 0x02, 403},
    [NT_FAIL_FORBIDDEN] = {"access to the resource refused", 0x02, 403},
    [NT_FAIL_OFFLINE] = {"no gateway of the resource is online", 0x03, 502},
    [NT_FAIL_TUNNEL_DOWN] = {"the tunnel is down: no handshake answer from the peer", 0x04, 502},
};

#define N_FAILS (sizeof(fails) / sizeof(fails[0]))

const char *nt_fail_text(enum nt_fail fail)
{
	return (unsigned)fail < N_FAILS ? fails[fail].text : fails[NT_FAIL_GENERAL].text;
}

uint8_t nt_fail_socks5(enum nt_fail fail)
{
	return (unsigned)fail < N_FAILS ? fails[fail].socks5 : fails[NT_FAIL_GENERAL].socks5;
}

int nt_fail_http(enum nt_fail fail)
{
	return (unsigned)fail < N_FAILS ? fails[fail].http : fails[NT_FAIL_GENERAL].http;
}

enum nt_fail nt_fail_from_errno(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return NT_FAIL_REFUSED;
	case EHOSTUNREACH:
	case EHOSTDOWN:
		return NT_FAIL_HOST_UNREACH;
	case ENETUNREACH:
	case ENETDOWN:
		return NT_FAIL_NET_UNREACH;
	case ETIMEDOUT:
		return NT_FAIL_TIMEOUT;
	case EACCES:
	case EPERM:
		return NT_FAIL_NOT_ALLOWED;
	case EAFNOSUPPORT:
		return NT_FAIL_ADDR_TYPE;
	default:
		return NT_FAIL_GENERAL;
	}
}
