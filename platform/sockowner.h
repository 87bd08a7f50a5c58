/* SPDX-License-Identifier: MIT */
/* Who owns a socket on this host: the uid the kernel's socket tables give
 * for it, asked through NETLINK_SOCK_DIAG (inet_diag) by its exact address
 * pair. The SOCKS5 UDP relay uses it to take a first datagram only from a
 * socket of the user whose TCP connection asked for the association.
 *
 *   nt_sockowner_uid: request -> one netlink round trip -> answer
 *   nt_sockowner_request / nt_sockowner_answer: the two messages, no I/O
 */
#ifndef NT_PLATFORM_SOCKOWNER_H
#define NT_PLATFORM_SOCKOWNER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for a request (netlink header and inet_diag_req_v2). */
#define NT_SOCKOWNER_REQ_MAX 128

/* The owner of the socket of protocol proto (IPPROTO_TCP or IPPROTO_UDP)
 * whose own end is local and whose other end is peer (same family, AF_INET
 * or AF_INET6). For UDP that is the socket a datagram from peer to local
 * would reach: one bound to a wildcard address or not connected counts.
 * A TCP listener never counts. Returns 0 and *uid; -ENOENT when no such
 * socket is here (a remote peer, or a socket already closed); -EOPNOTSUPP
 * when the tables cannot be asked (no sock_diag); another negative errno. */
int nt_sockowner_uid(int proto, const struct sockaddr_storage *local,
		     const struct sockaddr_storage *peer, uint32_t *uid);

/* The request for nt_sockowner_uid's question, with sequence number seq:
 * its length, or 0 for a bad family, protocol or a buffer too small. */
size_t nt_sockowner_request(uint8_t *buf, size_t cap, int proto,
			    const struct sockaddr_storage *local,
			    const struct sockaddr_storage *peer, uint32_t seq);

/* The kernel's answer to that request: 0 and *uid when it names a socket
 * matching the question; -ENOENT for no socket, or one that does not match
 * (a listener, other ports); the kernel's error; -EBADMSG when malformed or
 * not the answer to seq. */
int nt_sockowner_answer(const uint8_t *buf, size_t len, int proto,
			const struct sockaddr_storage *local, const struct sockaddr_storage *peer,
			uint32_t seq, uint32_t *uid);

#endif
