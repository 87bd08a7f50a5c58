// SPDX-License-Identifier: MIT
/* Socket addresses from (family, address, port), and resetting closes. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "platform/sockaddr.h"

socklen_t nt_sockaddr_set(struct sockaddr_storage *ss, int family, const void *addr, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, addr, 4);
		return sizeof(*sin);
	}
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, addr, 16);
		return sizeof(*sin6);
	}
	return 0;
}

void nt_socket_reset_close(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)ss)->sin6_port);
	return 0;
}

static const char *ip_str(const struct sockaddr_storage *ss, char *ip, size_t len)
{
	const void *a =
	    ss->ss_family == AF_INET
		? (const void *)&((const struct sockaddr_in *)(const void *)ss)->sin_addr
		: (const void *)&((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr;

	if (!inet_ntop(ss->ss_family, a, ip, (socklen_t)len))
		snprintf(ip, len, "?");
	return ip;
}

const char *nt_sockaddr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET)
		snprintf(buf, len, "%s:%u", ip_str(ss, ip, sizeof(ip)), port_of(ss));
	else if (ss->ss_family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip_str(ss, ip, sizeof(ip)), port_of(ss));
	else if (ss->ss_family == AF_UNSPEC)
		snprintf(buf, len, "none");
	else
		snprintf(buf, len, "family-%d", ss->ss_family);
	return buf;
}

const char *nt_bind_error_text(const struct sockaddr_storage *ss, const char *proto, int err,
			       char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN], where[INET6_ADDRSTRLEN + 16];

	if (err == EADDRINUSE && (ss->ss_family == AF_INET || ss->ss_family == AF_INET6)) {
		snprintf(buf, len, "%s port %u on %s is already in use (another notun up?)", proto,
			 port_of(ss), ip_str(ss, ip, sizeof(ip)));
		return buf;
	}
	snprintf(buf, len, "cannot listen on %s %s: %s%s", proto,
		 nt_sockaddr_str(ss, where, sizeof(where)), strerror(err),
		 err == EADDRNOTAVAIL ? " (not an address of this host)" : "");
	return buf;
}
