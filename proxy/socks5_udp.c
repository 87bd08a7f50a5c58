// SPDX-License-Identifier: MIT
/* SOCKS5 UDP ASSOCIATE relay (RFC 1928, section 7).
 *
 *   client --[RSV FRAG ATYP ADDR PORT | data]--> relay socket
 *          -> source check (the client's IP; its port once known)
 *          -> header parse (FRAG != 0 dropped)
 *          -> port not known yet: owner check, then port fixed, connect()
 *          -> nt_engine_udp_send
 *   engine datagram(from, data) -> [header(from) | data] --> client
 *
 * The relay socket is bound to the address the client reached over TCP, port
 * 0, and its address goes in the reply. The client's port is the one its
 * request named, or, when that was 0, the source port of its first valid
 * datagram; until then nothing can go back to it. Any process on the
 * client's host can send from the client's IP, so that first datagram must
 * come from a socket of the user owning the client's end of the control
 * connection (platform/sockowner: the kernel's tables). They know only this
 * host's sockets: for a remote client, or where they cannot be read (logged
 * once), the first valid datagram is taken as before. Once the port is known
 * the relay socket is connected to the client, and the kernel drops every
 * other sender. The association lives exactly as long as the TCP control
 * connection (socks5_conn.c closes it).
 * Every drop is counted; nothing is queued: UDP may lose datagrams, and a
 * full socket buffer loses them here.
 */
#include "proxy/socks5_conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "platform/log.h"
#include "platform/loop.h"
#include "platform/sockowner.h"
#include "proxy/socks5.h"

#define MOD "socks5"

#define RX_BUDGET 32 /* datagrams per readiness callback, for fairness */

struct nt_socks5_udp {
	struct nt_proxy *p;
	struct nt_proxy_counters *stats;
	struct nt_loop *loop;
	struct nt_engine_udp *eu;
	int fd;
	struct sockaddr_storage client; /* its port counts once port_known */
	socklen_t client_len;
	struct sockaddr_storage bound; /* the relay's address */
	bool port_known;
	bool owner_known;    /* the first datagram must come from owner's socket */
	bool foreign_logged; /* one line per association, however many come */
	uint32_t owner;
};

static socklen_t sa_len(int family)
{
	return family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static uint16_t *sa_port(struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return &((struct sockaddr_in *)(void *)ss)->sin_port;
	return &((struct sockaddr_in6 *)(void *)ss)->sin6_port;
}

/* Same IP as the client; same port too once that is known. */
static bool from_client(struct nt_socks5_udp *u, struct sockaddr_storage *src)
{
	if (src->ss_family != u->client.ss_family)
		return false;
	if (src->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)src, *b = (const void *)&u->client;

		if (a->sin_addr.s_addr != b->sin_addr.s_addr)
			return false;
	} else {
		const struct sockaddr_in6 *a = (const void *)src, *b = (const void *)&u->client;

		if (memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) != 0)
			return false;
	}
	return !u->port_known || *sa_port(src) == *sa_port(&u->client);
}

static void on_datagram(void *arg, const struct nt_target *from, const uint8_t *buf, size_t len)
{
	struct nt_socks5_udp *u = arg;
	uint8_t hdr[NT_SOCKS5_UDP_HDR_MAX];
	struct iovec iov[2];
	struct msghdr msg = {0};
	int hlen;

	if (!u->port_known) {
		u->stats->udp_tx_dropped++; /* nowhere to send it yet */
		return;
	}
	hlen = nt_socks5_build_udp_header(hdr, sizeof(hdr), from);
	if (hlen < 0) {
		u->stats->udp_tx_dropped++;
		return;
	}
	iov[0].iov_base = hdr;
	iov[0].iov_len = (size_t)hlen;
	iov[1].iov_base = (void *)buf;
	iov[1].iov_len = len;
	msg.msg_name = &u->client;
	msg.msg_namelen = u->client_len;
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	if (sendmsg(u->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		u->stats->udp_tx_dropped++;
		nt_trace(MOD, "event=udp_tx_dropped err=%d", errno);
		return;
	}
	u->stats->udp_tx++;
}

/* Connected, the socket gets datagrams from the client only: the kernel
 * drops the others. Datagrams queued before still pass from_client. */
static void fix_port(struct nt_socks5_udp *u)
{
	u->port_known = true;
	if (connect(u->fd, (struct sockaddr *)&u->client, u->client_len) < 0)
		nt_warn(MOD, "event=udp_connect_failed err=\"%s\"", strerror(errno));
}

/* The datagram from src came from a socket of the control connection's
 * owner, or that owner is unknown (a remote client, tables unreadable). */
static bool from_owner(struct nt_socks5_udp *u, struct sockaddr_storage *src)
{
	uint32_t uid = 0;
	int rc;

	if (!u->owner_known)
		return true;
	rc = nt_sockowner_uid(IPPROTO_UDP, src, &u->bound, &uid);
	if (rc == 0 && uid == u->owner)
		return true;
	if (!u->foreign_logged) {
		u->foreign_logged = true;
		nt_debug(MOD, "event=udp_foreign_owner port=%u uid=%ld owner=%u err=%d",
			 ntohs(*sa_port(src)), rc == 0 ? (long)uid : -1L, u->owner, rc);
	}
	return false;
}

/* The uid owning the client's end of the control connection (peer: its
 * address with its TCP port). The relay's own two sockets must show in the
 * tables first: where they do not, the tables cannot be read (no inet_diag
 * for one of the protocols), and a missing client would mean nothing. */
static int control_owner(struct nt_socks5_udp *u, const struct sockaddr_storage *local,
			 const struct sockaddr_storage *peer, uint32_t *uid)
{
	uint32_t self;
	int rc = nt_sockowner_uid(IPPROTO_TCP, local, peer, &self);

	if (rc == 0)
		rc = nt_sockowner_uid(IPPROTO_UDP, &u->bound, peer, &self);
	if (rc < 0)
		return rc == -ENOENT ? -EOPNOTSUPP : rc;
	return nt_sockowner_uid(IPPROTO_TCP, peer, local, uid);
}

static void find_owner(struct nt_socks5_udp *u, const struct sockaddr_storage *local,
		       const struct sockaddr_storage *peer)
{
	static bool warned;
	int rc = control_owner(u, local, peer, &u->owner);

	u->owner_known = rc == 0;
	if (rc == -ENOENT) {
		nt_debug(MOD, "event=udp_owner_unknown reason=remote_client");
	} else if (rc < 0 && !warned) {
		warned = true;
		nt_warn(MOD,
			"event=udp_owner_unknown reason=\"socket tables unreadable\" err=\"%s\" "
			"note=\"any local process may take a UDP association\"",
			strerror(-rc));
	}
}

static const struct nt_engine_udp_ops udp_ops = {.datagram = on_datagram};

static void on_readable(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct nt_socks5_udp *u = arg;
	struct nt_socks5_udp_header h;
	struct sockaddr_storage src;
	socklen_t slen;
	size_t cap;
	uint8_t *buf = nt_proxy_udp_buffer(u->p, &cap);
	ssize_t n;
	int i, hlen;

	(void)loop;
	(void)events;
	for (i = 0; i < RX_BUDGET; i++) {
		slen = sizeof(src);
		n = recvfrom(fd, buf, cap, MSG_TRUNC, (struct sockaddr *)&src, &slen);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			continue; /* an ICMP error from an earlier send, and the like */
		}
		if (!from_client(u, &src)) {
			u->stats->udp_foreign_dropped++;
			continue;
		}
		if ((size_t)n > cap) {
			u->stats->udp_malformed++; /* truncated: cannot be relayed whole */
			continue;
		}
		hlen = nt_socks5_parse_udp_header(buf, (size_t)n, &h);
		if (hlen == -ENOTSUP) {
			u->stats->udp_frag_dropped++;
			continue;
		}
		if (hlen <= 0) {
			u->stats->udp_malformed++;
			continue;
		}
		if (!u->port_known) {
			if (!from_owner(u, &src)) {
				u->stats->udp_foreign_owner++;
				continue;
			}
			*sa_port(&u->client) = *sa_port(&src);
			fix_port(u);
		}
		if (nt_engine_udp_send(u->eu, &h.target, buf + hlen, (size_t)n - (size_t)hlen) <
		    0) {
			u->stats->udp_send_failed++;
			continue;
		}
		u->stats->udp_rx++;
	}
}

int nt_socks5_udp_open(struct nt_proxy *p, int control_fd, const struct nt_target *hint,
		       struct nt_socks5_udp **out, struct sockaddr_storage *bound,
		       socklen_t *bound_len)
{
	struct sockaddr_storage local, peer; /* the control connection's ends */
	socklen_t len = sizeof(local);
	struct nt_socks5_udp *u;
	int rc;

	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->p = p;
	u->stats = nt_proxy_stats(p);
	u->loop = nt_proxy_loop(p);
	u->client_len = sizeof(u->client);
	if (getsockname(control_fd, (struct sockaddr *)&local, &len) < 0 ||
	    getpeername(control_fd, (struct sockaddr *)&u->client, &u->client_len) < 0) {
		rc = -errno;
		goto err_free;
	}
	if (local.ss_family != AF_INET && local.ss_family != AF_INET6) {
		rc = -EAFNOSUPPORT;
		goto err_free;
	}
	u->client_len = sa_len(u->client.ss_family);
	peer = u->client;
	*sa_port(&u->client) = htons(hint->port);
	u->bound = local;
	*sa_port(&u->bound) = 0;
	u->fd = socket(local.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->fd < 0) {
		rc = -errno;
		goto err_free;
	}
	*bound_len = sizeof(u->bound);
	if (bind(u->fd, (struct sockaddr *)&u->bound, sa_len(local.ss_family)) < 0 ||
	    getsockname(u->fd, (struct sockaddr *)&u->bound, bound_len) < 0) {
		rc = -errno;
		goto err_close;
	}
	memcpy(bound, &u->bound, *bound_len);
	if (hint->port != 0)
		fix_port(u);
	else
		find_owner(u, &local, &peer);
	rc = nt_engine_udp_open(nt_proxy_engine(p), &udp_ops, u, &u->eu);
	if (rc < 0)
		goto err_close;
	rc = nt_loop_add_fd(u->loop, u->fd, NT_EV_READ, on_readable, u);
	if (rc < 0)
		goto err_engine;
	u->stats->udp_associations++;
	u->stats->udp_active++;
	*out = u;
	return 0;

err_engine:
	nt_engine_udp_close(u->eu);
err_close:
	close(u->fd);
err_free:
	free(u);
	return rc;
}

void nt_socks5_udp_close(struct nt_socks5_udp *u)
{
	nt_engine_udp_close(u->eu);
	nt_loop_del_fd(u->loop, u->fd);
	close(u->fd);
	u->stats->udp_active--;
	free(u);
}
