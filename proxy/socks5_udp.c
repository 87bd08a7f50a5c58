/* SOCKS5 UDP ASSOCIATE relay (RFC 1928, section 7).
 *
 *   client --[RSV FRAG ATYP ADDR PORT | data]--> relay socket
 *          -> source check (the client's IP; its port once known)
 *          -> header parse (FRAG != 0 dropped) -> nt_engine_udp_send
 *   engine datagram(from, data) -> [header(from) | data] --> client
 *
 * The relay socket is bound to the address the client reached over TCP, port
 * 0, and its address goes in the reply. The client's port is the one its
 * request named, or, when that was 0, the source port of its first valid
 * datagram; until then nothing can go back to it. The association lives
 * exactly as long as the TCP control connection (socks5_conn.c closes it).
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
	bool port_known;
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
			*sa_port(&u->client) = *sa_port(&src);
			u->port_known = true;
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
	struct sockaddr_storage local;
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
	*sa_port(&u->client) = htons(hint->port);
	u->port_known = hint->port != 0;
	*sa_port(&local) = 0;
	u->fd = socket(local.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->fd < 0) {
		rc = -errno;
		goto err_free;
	}
	*bound_len = sizeof(*bound);
	if (bind(u->fd, (struct sockaddr *)&local, sa_len(local.ss_family)) < 0 ||
	    getsockname(u->fd, (struct sockaddr *)bound, bound_len) < 0) {
		rc = -errno;
		goto err_close;
	}
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
