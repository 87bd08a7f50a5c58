// SPDX-License-Identifier: MIT
/* UDP associations (SOCKS5 UDP ASSOCIATE): each datagram is routed on its
 * own, like a TCP connection: to a peer through lwIP's UDP, to a direct OS
 * socket (bypass = direct), or dropped (bypass = reject). Names are resolved
 * first, with a small bound on datagrams waiting for an answer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/engine/engine_int.h"
#include "core/resolver/resolver.h"
#include "core/tunnel/tunnel.h"
#include "netstack/flow.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "platform/sockaddr.h"

#define UDP_RESOLVING_MAX 16 /* datagrams of one association waiting for a name */
#define UDP_DATAGRAM_MAX 65535

struct udp_resolving {
	struct nt_engine_udp *u;
	struct nt_resolver_req *req;
	uint16_t port;
	size_t len;
	uint8_t data[];
};

struct nt_engine_udp {
	struct nt_engine *e;
	const struct nt_engine_udp_ops *ops;
	void *arg;
	struct nt_flow_udp *tun;
	int fd4, fd6;
	struct udp_resolving *resolving[UDP_RESOLVING_MAX];
};

static void deliver(struct nt_engine_udp *u, int family, const uint8_t *addr, uint16_t port,
		    const uint8_t *buf, size_t len)
{
	struct nt_target from = {.port = port};

	from.kind = family == AF_INET ? NT_TARGET_IPV4 : NT_TARGET_IPV6;
	memcpy(from.addr, addr, family == AF_INET ? 4 : 16);
	u->ops->datagram(u->arg, &from, buf, len);
}

static void tun_recv(void *arg, struct nt_flow_udp *f, int family, const uint8_t *addr,
		     uint16_t port, const uint8_t *buf, size_t len)
{
	(void)f;
	deliver(arg, family, addr, port, buf, len);
}

static const struct nt_flow_udp_ops tun_ops = {.recv = tun_recv};

static void direct_recv(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	static uint8_t buf[UDP_DATAGRAM_MAX];
	struct nt_engine_udp *u = arg;
	struct sockaddr_storage ss;
	(void)loop;
	(void)events;

	/* Bounded per wake-up, so one busy association cannot starve the loop. */
	for (int i = 0; i < 64; i++) {
		socklen_t sl = sizeof(ss);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);

		if (n < 0)
			return;
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

			deliver(u, AF_INET, (uint8_t *)&sin->sin_addr, ntohs(sin->sin_port), buf, n);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

			deliver(u, AF_INET6, sin6->sin6_addr.s6_addr, ntohs(sin6->sin6_port), buf,
				n);
		}
	}
}

static int direct_socket(struct nt_engine_udp *u, int family)
{
	int *fd = family == AF_INET ? &u->fd4 : &u->fd6;

	if (*fd >= 0)
		return *fd;
	*fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return -errno;
	if (nt_loop_add_fd(u->e->loop, *fd, NT_EV_READ, direct_recv, u) != 0) {
		close(*fd);
		*fd = -1;
		return -ENOMEM;
	}
	return *fd;
}

static int send_to_addr(struct nt_engine_udp *u, int family, const uint8_t *addr, uint16_t port,
			const uint8_t *buf, size_t len)
{
	struct nt_engine *e = u->e;
	int ret;

	if (nt_tunnel_peer_for_dst(e->tunnel, family, addr)) {
		if (!u->tun && (ret = nt_flow_udp_open(&tun_ops, u, &u->tun)) != 0)
			return ret;
		return nt_flow_udp_sendto(u->tun, family, addr, port, buf, len);
	}
	if (e->bypass == NT_CONFIG_BYPASS_REJECT)
		return -EACCES;

	struct sockaddr_storage ss;
	socklen_t sl = nt_sockaddr_set(&ss, family, addr, port);
	int fd = direct_socket(u, family);

	if (fd < 0)
		return fd;
	if (sendto(fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&ss, sl) < 0)
		return -errno;
	return 0;
}

static void udp_resolved(void *arg, int status, const struct nt_resolver_addr *addrs, size_t n)
{
	struct udp_resolving *r = arg;
	struct nt_engine_udp *u = r->u;

	for (size_t i = 0; i < UDP_RESOLVING_MAX; i++)
		if (u->resolving[i] == r)
			u->resolving[i] = NULL;
	if (status != 0 || n == 0 ||
	    send_to_addr(u, addrs[0].family, addrs[0].addr, r->port, r->data, r->len) != 0)
		u->e->counters.udp_dropped++;
	free(r);
}

int nt_engine_udp_send(struct nt_engine_udp *u, const struct nt_target *to, const uint8_t *buf,
		       size_t len)
{
	struct udp_resolving *r;
	size_t slot;
	int ret;

	if (to->kind != NT_TARGET_NAME) {
		ret = send_to_addr(u, to->kind == NT_TARGET_IPV4 ? AF_INET : AF_INET6, to->addr,
				   to->port, buf, len);
		if (ret != 0)
			u->e->counters.udp_dropped++;
		return ret;
	}
	for (slot = 0; slot < UDP_RESOLVING_MAX && u->resolving[slot]; slot++)
		;
	if (slot == UDP_RESOLVING_MAX || len > UDP_DATAGRAM_MAX) {
		u->e->counters.udp_dropped++;
		return -EAGAIN;
	}
	r = malloc(sizeof(*r) + len);
	if (!r)
		return -ENOMEM;
	r->u = u;
	r->port = to->port;
	r->len = len;
	memcpy(r->data, buf, len);
	ret = nt_resolver_lookup(u->e->resolver, to->name, NT_RESOLVER_V4_FIRST, udp_resolved, r,
				 &r->req);
	if (ret != 0) {
		free(r);
		u->e->counters.udp_dropped++;
		return ret;
	}
	u->resolving[slot] = r;
	return 0;
}

int nt_engine_udp_open(struct nt_engine *e, const struct nt_engine_udp_ops *ops, void *arg,
		       struct nt_engine_udp **out)
{
	struct nt_engine_udp *u = calloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	u->e = e;
	u->ops = ops;
	u->arg = arg;
	u->fd4 = u->fd6 = -1;
	*out = u;
	return 0;
}

void nt_engine_udp_close(struct nt_engine_udp *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < UDP_RESOLVING_MAX; i++) {
		if (u->resolving[i]) {
			nt_resolver_cancel(u->resolving[i]->req);
			free(u->resolving[i]);
		}
	}
	if (u->tun)
		nt_flow_udp_close(u->tun);
	for (int *fd = &u->fd4; fd <= &u->fd6; fd++) {
		if (*fd >= 0) {
			nt_loop_del_fd(u->e->loop, *fd);
			close(*fd);
		}
	}
	free(u);
}
