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

/* "192.0.2.1:80", "[2001:db8::1]:80" ("none" when unset, "family-N"), for
 * logs. Returns buf. */
const char *nt_sockaddr_str(const struct sockaddr_storage *ss, char *buf, size_t len);

/* The text of a failed bind() or listen() of proto ("TCP", "UDP") on ss,
 * naming the port and the address: "port 1080 on 127.0.0.1 is already in
 * use (another notun up?)" for EADDRINUSE; else "cannot listen on ADDR:
 * strerror(err)", with a hint for EADDRNOTAVAIL. err: a positive errno. */
const char *nt_bind_error_text(const struct sockaddr_storage *ss, const char *proto, int err,
			       char *buf, size_t len);

/* Closes fd with an RST instead of a FIN (SO_LINGER 0): the peer must not
 * take what it got for a complete stream. */
void nt_socket_reset_close(int fd);

#endif
