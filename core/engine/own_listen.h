/* SPDX-License-Identifier: MIT */
/* Is a destination one of our own proxy listeners? A direct connection
 * there comes back to us as a new client, whose request can name us again:
 * a loop that nests one level (two descriptors) per request. */
#ifndef NT_CORE_OWN_LISTEN_H
#define NT_CORE_OWN_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Whether family/addr (4 or 16 bytes, network order) is one of the host's
 * interface addresses. */
typedef bool (*nt_own_host_fn)(int family, const uint8_t *addr);

/* own: the listeners' bound addresses (AF_INET or AF_INET6, with their
 * port). An IPv4-mapped IPv6 destination counts as its IPv4 address, an
 * unspecified one (0.0.0.0, ::) as loopback, where the kernel takes it. A
 * wildcard listener owns its port on every loopback address and, asked
 * through host_has only then, on every address of the host. No I/O here. */
bool nt_own_listener(const struct sockaddr_storage *own, size_t n, int family, const uint8_t *addr,
		     uint16_t port, nt_own_host_fn host_has);

/* The host's addresses, read now (getifaddrs): they change, and the
 * question comes only for a wildcard listener's port. When they cannot be
 * read (out of descriptors or memory), every address counts as the host's:
 * refusing a connection is better than a loop. */
bool nt_own_host_has(int family, const uint8_t *addr);

#endif
