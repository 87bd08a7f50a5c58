/* SPDX-License-Identifier: MIT */
/* SOCKS5 (RFC 1928) and its username/password sub-negotiation (RFC 1929):
 * the messages, without I/O.
 *
 * Parsers are incremental: each takes the bytes received so far and returns
 *   > 0  the length of the complete message at the start of buf (consumed),
 *     0  the message is not complete yet (read more, call again with all of it),
 *   < 0  the message is malformed: -EPROTO (a version or reserved byte),
 *        -EINVAL (a zero length, a NUL in a name), -ENOTSUP (a command, or a
 *        UDP fragment), -EAFNOSUPPORT (an address type); *reply then holds the
 *        byte to answer with before closing (a method, an auth status, a REP).
 * An error is reported as soon as the byte that shows it has arrived; a
 * prefix of a valid message always returns 0.
 */
#ifndef NT_PROXY_SOCKS5_H
#define NT_PROXY_SOCKS5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/engine/engine.h"

#define NT_SOCKS5_VERSION      0x05
#define NT_SOCKS5_AUTH_VERSION 0x01

#define NT_SOCKS5_METHOD_NONE	       0x00
#define NT_SOCKS5_METHOD_USERPASS      0x02
#define NT_SOCKS5_METHOD_NO_ACCEPTABLE 0xff

#define NT_SOCKS5_AUTH_OK      0x00
#define NT_SOCKS5_AUTH_FAILURE 0x01

#define NT_SOCKS5_CMD_CONNECT	    0x01
#define NT_SOCKS5_CMD_BIND	    0x02
#define NT_SOCKS5_CMD_UDP_ASSOCIATE 0x03

#define NT_SOCKS5_ATYP_IPV4   0x01
#define NT_SOCKS5_ATYP_DOMAIN 0x03
#define NT_SOCKS5_ATYP_IPV6   0x04

#define NT_SOCKS5_REP_SUCCEEDED	       0x00
#define NT_SOCKS5_REP_GENERAL	       0x01
#define NT_SOCKS5_REP_NOT_ALLOWED      0x02
#define NT_SOCKS5_REP_NET_UNREACH      0x03
#define NT_SOCKS5_REP_HOST_UNREACH     0x04
#define NT_SOCKS5_REP_REFUSED	       0x05
#define NT_SOCKS5_REP_TTL_EXPIRED      0x06
#define NT_SOCKS5_REP_CMD_UNSUPPORTED  0x07
#define NT_SOCKS5_REP_ATYP_UNSUPPORTED 0x08

/* Longest messages, in bytes. */
#define NT_SOCKS5_GREETING_MAX (2 + 255)
#define NT_SOCKS5_AUTH_MAX     (3 + 255 + 255)
#define NT_SOCKS5_REQUEST_MAX  (4 + 1 + 255 + 2)
#define NT_SOCKS5_REPLY_MAX    (4 + 16 + 2)
#define NT_SOCKS5_UDP_HDR_MAX  (4 + 1 + 255 + 2)

struct nt_socks5_greeting {
	uint8_t nmethods;
	uint8_t methods[255];
};

/* Holds a password: wipe it with nt_socks5_auth_wipe() once checked. */
struct nt_socks5_auth {
	uint8_t ulen, plen;
	uint8_t user[255];
	uint8_t pass[255];
};

struct nt_socks5_request {
	uint8_t cmd; /* CONNECT, BIND or UDP ASSOCIATE */
	struct nt_target target;
};

struct nt_socks5_udp_header {
	uint8_t frag;
	struct nt_target target;
};

int nt_socks5_parse_greeting(const uint8_t *buf, size_t len, struct nt_socks5_greeting *out,
			     uint8_t *reply);
int nt_socks5_parse_auth(const uint8_t *buf, size_t len, struct nt_socks5_auth *out,
			 uint8_t *reply);
int nt_socks5_parse_request(const uint8_t *buf, size_t len, struct nt_socks5_request *out,
			    uint8_t *reply);
/* A datagram is whole: 0 means a truncated header, as malformed as any other.
 * The data follows the returned header length. A fragment (FRAG != 0) is
 * refused with -ENOTSUP: this relay does not reassemble. */
int nt_socks5_parse_udp_header(const uint8_t *buf, size_t len, struct nt_socks5_udp_header *out);

/* The method to select: username/password when credentials are required
 * (and offered); otherwise no authentication, or username/password when that
 * is all the client offers (any credentials are then accepted); else
 * NO_ACCEPTABLE. */
uint8_t nt_socks5_choose_method(const struct nt_socks5_greeting *g, bool auth_required);

/* Constant-time comparison with the configured credentials (C strings); only
 * the lengths can be told apart by timing. */
bool nt_socks5_auth_check(const struct nt_socks5_auth *a, const char *user, const char *pass);
void nt_socks5_auth_wipe(struct nt_socks5_auth *a);

/* Builders return the message length. */
size_t nt_socks5_build_method(uint8_t out[2], uint8_t method);
size_t nt_socks5_build_auth_status(uint8_t out[2], uint8_t status);
/* BND.ADDR/BND.PORT from bound (an IPv4-mapped IPv6 address is sent as
 * IPv4); NULL or another family gives 0.0.0.0:0. */
size_t nt_socks5_build_reply(uint8_t out[NT_SOCKS5_REPLY_MAX], uint8_t rep,
			     const struct sockaddr *bound, socklen_t bound_len);
/* RSV, FRAG 0, the sender's address. Returns the length, -ENOBUFS (cap too
 * small) or -EINVAL (an empty or too long name). */
int nt_socks5_build_udp_header(uint8_t *out, size_t cap, const struct nt_target *from);

#endif
