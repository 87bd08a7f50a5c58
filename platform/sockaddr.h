/* SPDX-License-Identifier: MIT */
/* Socket addresses from the (family, raw address, port) triples the rest of
 * the code passes around, and closing a socket with a reset. */
#ifndef NT_PLATFORM_SOCKADDR_H
#define NT_PLATFORM_SOCKADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* family AF_INET (addr: 4 bytes) or AF_INET6 (16 bytes), network order; port
 * in host order. Returns the length to pass to connect/sendto, or 0 for an
 * unknown family. */
socklen_t nt_sockaddr_set(struct sockaddr_storage *ss, int family, const void *addr, uint16_t port);

/* "1.2.3.4:80" or "[::1]:80" into buf (len bytes, cut to fit); "" for
 * another family. Returns buf. */
char *nt_sockaddr_format(const struct sockaddr_storage *ss, char *buf, size_t len);

/* Closes fd with an RST instead of a FIN (SO_LINGER 0): the peer must not
 * take what it got for a complete stream. */
void nt_socket_reset_close(int fd);

#endif
