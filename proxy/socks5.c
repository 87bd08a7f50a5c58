// SPDX-License-Identifier: MIT
/* SOCKS5 messages. Every length byte is checked against what has arrived
 * before anything past it is read, so no input can make a parser read out of
 * bounds; every check happens on the earliest byte that can fail it. */
#include "proxy/socks5.h"

#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>

#include "platform/secret.h"

/* ATYP, address, port: shared by requests and UDP headers. */
static int parse_addr(const uint8_t *buf, size_t len, struct nt_target *t, uint8_t *reply)
{
	size_t alen, need;

	if (len < 1)
		return 0;
	switch (buf[0]) {
	case NT_SOCKS5_ATYP_IPV4:
		alen = 4;
		need = 1 + alen + 2;
		break;
	case NT_SOCKS5_ATYP_IPV6:
		alen = 16;
		need = 1 + alen + 2;
		break;
	case NT_SOCKS5_ATYP_DOMAIN:
		if (len < 2)
			return 0;
		alen = buf[1];
		if (alen == 0 || memchr(buf + 2, 0, len - 2 < alen ? len - 2 : alen)) {
			*reply = NT_SOCKS5_REP_GENERAL;
			return -EINVAL;
		}
		need = 2 + alen + 2;
		break;
	default:
		*reply = NT_SOCKS5_REP_ATYP_UNSUPPORTED;
		return -EAFNOSUPPORT;
	}
	if (len < need)
		return 0;
	memset(t, 0, sizeof(*t));
	if (buf[0] == NT_SOCKS5_ATYP_DOMAIN) {
		t->kind = NT_TARGET_NAME;
		memcpy(t->name, buf + 2, alen);
		t->name[alen] = '\0';
	} else {
		t->kind = alen == 4 ? NT_TARGET_IPV4 : NT_TARGET_IPV6;
		memcpy(t->addr, buf + 1, alen);
	}
	t->port = (uint16_t)(buf[need - 2] << 8 | buf[need - 1]);
	return (int)need;
}

/* The first two bytes of every message: a version (or a reserved 0) and one
 * more. 0 until both are here, -EPROTO for another first byte, else 1.
 * *reply is set to fail first: the answer to any error. */
static int lead(const uint8_t *buf, size_t len, uint8_t version, uint8_t *reply, uint8_t fail)
{
	*reply = fail;
	if (len < 1)
		return 0;
	if (buf[0] != version)
		return -EPROTO;
	return len >= 2;
}

int nt_socks5_parse_greeting(const uint8_t *buf, size_t len, struct nt_socks5_greeting *out,
			     uint8_t *reply)
{
	int n = lead(buf, len, NT_SOCKS5_VERSION, reply, NT_SOCKS5_METHOD_NO_ACCEPTABLE);

	if (n <= 0)
		return n;
	if (buf[1] == 0)
		return -EINVAL;
	if (len < 2u + buf[1])
		return 0;
	out->nmethods = buf[1];
	memcpy(out->methods, buf + 2, buf[1]);
	return 2 + buf[1];
}

int nt_socks5_parse_auth(const uint8_t *buf, size_t len, struct nt_socks5_auth *out, uint8_t *reply)
{
	int n = lead(buf, len, NT_SOCKS5_AUTH_VERSION, reply, NT_SOCKS5_AUTH_FAILURE);
	size_t ulen, plen;

	if (n <= 0)
		return n;
	ulen = buf[1];
	if (ulen == 0)
		return -EINVAL;
	if (len < 3 + ulen)
		return 0;
	plen = buf[2 + ulen];
	if (plen == 0)
		return -EINVAL;
	if (len < 3 + ulen + plen)
		return 0;
	out->ulen = (uint8_t)ulen;
	out->plen = (uint8_t)plen;
	memcpy(out->user, buf + 2, ulen);
	memcpy(out->pass, buf + 3 + ulen, plen);
	return (int)(3 + ulen + plen);
}

int nt_socks5_parse_request(const uint8_t *buf, size_t len, struct nt_socks5_request *out,
			    uint8_t *reply)
{
	int n = lead(buf, len, NT_SOCKS5_VERSION, reply, NT_SOCKS5_REP_GENERAL);

	if (n <= 0)
		return n;
	if (buf[1] != NT_SOCKS5_CMD_CONNECT && buf[1] != NT_SOCKS5_CMD_BIND &&
	    buf[1] != NT_SOCKS5_CMD_UDP_ASSOCIATE) {
		*reply = NT_SOCKS5_REP_CMD_UNSUPPORTED;
		return -ENOTSUP;
	}
	if (len < 3)
		return 0;
	if (buf[2] != 0)
		return -EPROTO;
	n = parse_addr(buf + 3, len - 3, &out->target, reply);
	if (n <= 0)
		return n;
	out->cmd = buf[1];
	return 3 + n;
}

int nt_socks5_parse_udp_header(const uint8_t *buf, size_t len, struct nt_socks5_udp_header *out)
{
	uint8_t reply;
	int n = lead(buf, len, 0, &reply, 0);

	if (n <= 0)
		return n;
	if (buf[1] != 0)
		return -EPROTO;
	if (len < 3)
		return 0;
	if (buf[2] != 0)
		return -ENOTSUP;
	n = parse_addr(buf + 3, len - 3, &out->target, &reply);
	if (n <= 0)
		return n;
	out->frag = 0;
	return 3 + n;
}

static bool offers(const struct nt_socks5_greeting *g, uint8_t method)
{
	return memchr(g->methods, method, g->nmethods) != NULL;
}

uint8_t nt_socks5_choose_method(const struct nt_socks5_greeting *g, bool auth_required)
{
	if (auth_required)
		return offers(g, NT_SOCKS5_METHOD_USERPASS) ? NT_SOCKS5_METHOD_USERPASS
							    : NT_SOCKS5_METHOD_NO_ACCEPTABLE;
	if (offers(g, NT_SOCKS5_METHOD_NONE))
		return NT_SOCKS5_METHOD_NONE;
	if (offers(g, NT_SOCKS5_METHOD_USERPASS))
		return NT_SOCKS5_METHOD_USERPASS;
	return NT_SOCKS5_METHOD_NO_ACCEPTABLE;
}

bool nt_socks5_auth_check(const struct nt_socks5_auth *a, const char *user, const char *pass)
{
	/* Both compared, whichever differs. */
	bool user_ok = nt_secret_equal(a->user, a->ulen, user, strlen(user));
	bool pass_ok = nt_secret_equal(a->pass, a->plen, pass, strlen(pass));

	return user_ok && pass_ok;
}

void nt_socks5_auth_wipe(struct nt_socks5_auth *a)
{
	sodium_memzero(a, sizeof(*a));
}

size_t nt_socks5_build_method(uint8_t out[2], uint8_t method)
{
	out[0] = NT_SOCKS5_VERSION;
	out[1] = method;
	return 2;
}

size_t nt_socks5_build_auth_status(uint8_t out[2], uint8_t status)
{
	out[0] = NT_SOCKS5_AUTH_VERSION;
	out[1] = status;
	return 2;
}

static size_t put_addr(uint8_t *out, uint8_t atyp, const void *addr, size_t alen, uint16_t port)
{
	out[0] = atyp;
	memcpy(out + 1, addr, alen);
	out[1 + alen] = (uint8_t)(port >> 8);
	out[2 + alen] = (uint8_t)port;
	return 1 + alen + 2;
}

size_t nt_socks5_build_reply(uint8_t out[NT_SOCKS5_REPLY_MAX], uint8_t rep,
			     const struct sockaddr *bound, socklen_t bound_len)
{
	static const uint8_t any[4];

	out[0] = NT_SOCKS5_VERSION;
	out[1] = rep;
	out[2] = 0;
	if (bound && bound->sa_family == AF_INET && bound_len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const void *)bound;

		return 3 + put_addr(out + 3, NT_SOCKS5_ATYP_IPV4, &s4->sin_addr, 4,
				    ntohs(s4->sin_port));
	}
	if (bound && bound->sa_family == AF_INET6 && bound_len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const void *)bound;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			return 3 + put_addr(out + 3, NT_SOCKS5_ATYP_IPV4,
					    &s6->sin6_addr.s6_addr[12], 4, ntohs(s6->sin6_port));
		return 3 + put_addr(out + 3, NT_SOCKS5_ATYP_IPV6, &s6->sin6_addr, 16,
				    ntohs(s6->sin6_port));
	}
	return 3 + put_addr(out + 3, NT_SOCKS5_ATYP_IPV4, any, 4, 0);
}

int nt_socks5_build_udp_header(uint8_t *out, size_t cap, const struct nt_target *from)
{
	size_t alen, need;

	switch (from->kind) {
	case NT_TARGET_IPV4:
		alen = 4;
		need = 3 + 1 + alen + 2;
		break;
	case NT_TARGET_IPV6:
		alen = 16;
		need = 3 + 1 + alen + 2;
		break;
	case NT_TARGET_NAME:
		alen = strnlen(from->name, sizeof(from->name));
		if (alen == 0 || alen > NT_TARGET_NAME_MAX)
			return -EINVAL;
		need = 3 + 2 + alen + 2;
		break;
	default:
		return -EINVAL;
	}
	if (cap < need)
		return -ENOBUFS;
	out[0] = 0;
	out[1] = 0;
	out[2] = 0;
	if (from->kind == NT_TARGET_NAME) {
		out[3] = NT_SOCKS5_ATYP_DOMAIN;
		out[4] = (uint8_t)alen;
		memcpy(out + 5, from->name, alen);
		out[5 + alen] = (uint8_t)(from->port >> 8);
		out[6 + alen] = (uint8_t)from->port;
	} else {
		put_addr(out + 3, alen == 4 ? NT_SOCKS5_ATYP_IPV4 : NT_SOCKS5_ATYP_IPV6, from->addr,
			 alen, from->port);
	}
	return (int)need;
}
