// SPDX-License-Identifier: MIT
/* Socket owners from the kernel's tables (Linux sock_diag, inet_diag).
 *
 * One exact lookup (SOCK_DIAG_BY_FAMILY without NLM_F_DUMP) per question: the
 * kernel finds the socket by its address pair the way it would for a packet
 * and answers within the sendto, so the receive never waits. Two quirks of
 * that lookup shape the messages: for UDP the kernel reads id.src/id.dst as
 * the sender and the receiver of a datagram (the reverse of TCP), and for
 * TCP a listener on the port answers when no connection matches, which is
 * why the answer's ports and state are checked.
 */
#include "platform/sockowner.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

struct diag_req {
	struct nlmsghdr nh;
	struct inet_diag_req_v2 r;
};

/* Address (network order, 4 or 16 bytes) and port of an AF_INET/AF_INET6
 * address; false for another family. */
static bool endpoint(const struct sockaddr_storage *ss, __be32 addr[4], __be16 *port)
{
	memset(addr, 0, 16);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		memcpy(addr, &sin->sin_addr, 4);
		*port = sin->sin_port;
		return true;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		memcpy(addr, &sin6->sin6_addr, 16);
		*port = sin6->sin6_port;
		return true;
	}
	return false;
}

size_t nt_sockowner_request(uint8_t *buf, size_t cap, int proto,
			    const struct sockaddr_storage *local,
			    const struct sockaddr_storage *peer, uint32_t seq)
{
	struct diag_req q;
	struct inet_diag_sockid *id = &q.r.id;

	if (cap < sizeof(q) || (proto != IPPROTO_TCP && proto != IPPROTO_UDP) ||
	    local->ss_family != peer->ss_family)
		return 0;
	memset(&q, 0, sizeof(q));
	q.nh.nlmsg_len = sizeof(q);
	q.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nh.nlmsg_flags = NLM_F_REQUEST;
	q.nh.nlmsg_seq = seq;
	q.r.sdiag_family = (uint8_t)local->ss_family;
	q.r.sdiag_protocol = (uint8_t)proto;
	q.r.idiag_states = ~0u;
	id->idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	id->idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (proto == IPPROTO_UDP) {
		if (!endpoint(peer, id->idiag_src, &id->idiag_sport) ||
		    !endpoint(local, id->idiag_dst, &id->idiag_dport))
			return 0;
	} else if (!endpoint(local, id->idiag_src, &id->idiag_sport) ||
		   !endpoint(peer, id->idiag_dst, &id->idiag_dport)) {
		return 0;
	}
	memcpy(buf, &q, sizeof(q));
	return sizeof(q);
}

/* The socket the kernel named is the one asked about: its own port is
 * local's; a TCP socket is connected to peer's port (not a listener); a UDP
 * socket is not connected, or connected to peer's port. */
static bool matches(const struct inet_diag_msg *m, int proto, const struct sockaddr_storage *local,
		    const struct sockaddr_storage *peer)
{
	__be32 addr[4];
	__be16 lport, pport;

	if (!endpoint(local, addr, &lport) || !endpoint(peer, addr, &pport))
		return false;
	if (m->id.idiag_sport != lport)
		return false;
	if (proto == IPPROTO_TCP)
		return m->idiag_state != TCP_LISTEN && m->id.idiag_dport == pport;
	return m->id.idiag_dport == 0 || m->id.idiag_dport == pport;
}

int nt_sockowner_answer(const uint8_t *buf, size_t len, int proto,
			const struct sockaddr_storage *local, const struct sockaddr_storage *peer,
			uint32_t seq, uint32_t *uid)
{
	struct nlmsghdr nh;
	struct nlmsgerr err;
	struct inet_diag_msg m;

	if (len < sizeof(nh))
		return -EBADMSG;
	memcpy(&nh, buf, sizeof(nh));
	if (nh.nlmsg_len < sizeof(nh) || nh.nlmsg_len > len || nh.nlmsg_seq != seq)
		return -EBADMSG;
	if (nh.nlmsg_type == NLMSG_ERROR) {
		if (nh.nlmsg_len < NLMSG_LENGTH(sizeof(err)))
			return -EBADMSG;
		memcpy(&err, buf + NLMSG_HDRLEN, sizeof(err));
		/* An acknowledgement (0) without an answer is no answer. */
		return err.error < 0 ? err.error : -EBADMSG;
	}
	if (nh.nlmsg_type != SOCK_DIAG_BY_FAMILY || nh.nlmsg_len < NLMSG_LENGTH(sizeof(m)))
		return -EBADMSG;
	memcpy(&m, buf + NLMSG_HDRLEN, sizeof(m));
	if (!matches(&m, proto, local, peer))
		return -ENOENT;
	*uid = m.idiag_uid;
	return 0;
}

int nt_sockowner_uid(int proto, const struct sockaddr_storage *local,
		     const struct sockaddr_storage *peer, uint32_t *uid)
{
	static uint32_t seq;
	const struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	uint8_t req[NT_SOCKOWNER_REQ_MAX];
	/* An inet_diag_msg with no attributes asked for, or an error quoting
	 * the request: both fit. */
	uint8_t ans[256] __attribute__((aligned(NLMSG_ALIGNTO)));
	size_t len;
	ssize_t n;
	int fd, rc;

	len = nt_sockowner_request(req, sizeof(req), proto, local, peer, ++seq);
	if (len == 0)
		return -EINVAL;
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return errno == EPROTONOSUPPORT || errno == EAFNOSUPPORT ? -EOPNOTSUPP : -errno;
	if (sendto(fd, req, len, 0, (const struct sockaddr *)&kernel, sizeof(kernel)) !=
	    (ssize_t)len) {
		rc = -errno;
		goto out;
	}
	n = recv(fd, ans, sizeof(ans), MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0)
		rc = -errno;
	else if ((size_t)n > sizeof(ans))
		rc = -EBADMSG;
	else
		rc = nt_sockowner_answer(ans, (size_t)n, proto, local, peer, seq, uid);
out:
	close(fd);
	return rc;
}
