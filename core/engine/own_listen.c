// SPDX-License-Identifier: MIT
/* Whether a destination is one of the proxy's own listeners (see own_listen.h). */
#include "core/engine/own_listen.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
static const uint8_t zero16[16];
static const uint8_t lo4[4] = {127, 0, 0, 1};
static const uint8_t lo6[16] = {[15] = 1};

/* The address a connect() reaches: mapped IPv4 as IPv4, unspecified as
 * loopback. */
static void normalize(int *family, const uint8_t **addr)
{
	if (*family == AF_INET6 && memcmp(*addr, v4_mapped, sizeof(v4_mapped)) == 0) {
		*family = AF_INET;
		*addr += sizeof(v4_mapped);
	}
	if (*family == AF_INET && memcmp(*addr, zero16, 4) == 0)
		*addr = lo4;
	else if (*family == AF_INET6 && memcmp(*addr, zero16, 16) == 0)
		*addr = lo6;
}

static bool is_loopback(int family, const uint8_t *addr)
{
	return family == AF_INET ? addr[0] == 127 : memcmp(addr, lo6, 16) == 0;
}

/* The listener's family, address and port; false for another family. */
static bool listener_addr(const struct sockaddr_storage *ss, int *family, const uint8_t **addr,
			  uint16_t *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		*addr = (const uint8_t *)&s4->sin_addr;
		*port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		*addr = s6->sin6_addr.s6_addr;
		*port = ntohs(s6->sin6_port);
	} else {
		return false;
	}
	*family = ss->ss_family;
	return true;
}

bool nt_own_listener(const struct sockaddr_storage *own, size_t n, int family, const uint8_t *addr,
		     uint16_t port, nt_own_host_fn host_has)
{
	bool wildcard = false;
	const uint8_t *la;
	uint16_t lport;
	int lfamily;
	size_t alen;

	if (family != AF_INET && family != AF_INET6)
		return false;
	normalize(&family, &addr);
	alen = family == AF_INET ? 4 : 16;
	for (size_t i = 0; i < n; i++) {
		if (!listener_addr(&own[i], &lfamily, &la, &lport) || lfamily != family ||
		    lport != port)
			continue;
		if (memcmp(la, addr, alen) == 0)
			return true;
		wildcard |= memcmp(la, zero16, alen) == 0;
	}
	return wildcard && (is_loopback(family, addr) || host_has(family, addr));
}

bool nt_own_host_has(int family, const uint8_t *addr)
{
	struct ifaddrs *ifs, *it;
	bool found = false;

	if (getifaddrs(&ifs) != 0)
		return true;
	for (it = ifs; it && !found; it = it->ifa_next) {
		int lfamily;
		const uint8_t *la;
		uint16_t unused;

		if (it->ifa_addr &&
		    listener_addr((const struct sockaddr_storage *)(const void *)it->ifa_addr,
				  &lfamily, &la, &unused))
			found =
			    lfamily == family && memcmp(la, addr, family == AF_INET ? 4 : 16) == 0;
	}
	freeifaddrs(ifs);
	return found;
}
