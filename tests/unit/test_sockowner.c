// SPDX-License-Identifier: MIT
/* platform/sockowner.c: the sock_diag request and the reading of its answer
 * (no I/O), then real lookups of this process's own sockets on loopback. */
#include "platform/sockowner.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "platform/sockaddr.h"

#define SEQ 77

static const uint8_t lo4[4] = {127, 0, 0, 1};
static const uint8_t other4[4] = {127, 0, 0, 2};

struct answer {
	struct nlmsghdr nh;
	struct inet_diag_msg m;
};

struct error_answer {
	struct nlmsghdr nh;
	struct nlmsgerr e;
};

static void parse_request(const uint8_t *buf, size_t len, struct nlmsghdr *nh,
			  struct inet_diag_req_v2 *r)
{
	assert_int_equal(len, sizeof(*nh) + sizeof(*r));
	memcpy(nh, buf, sizeof(*nh));
	memcpy(r, buf + sizeof(*nh), sizeof(*r));
	assert_int_equal(nh->nlmsg_len, len);
	assert_int_equal(nh->nlmsg_type, SOCK_DIAG_BY_FAMILY);
	assert_int_equal(nh->nlmsg_flags, NLM_F_REQUEST); /* one socket, not a dump */
	assert_int_equal(nh->nlmsg_seq, SEQ);
	assert_int_equal(r->id.idiag_cookie[0], INET_DIAG_NOCOOKIE);
	assert_int_equal(r->id.idiag_cookie[1], INET_DIAG_NOCOOKIE);
}

/* TCP: id.src is the socket's own end. UDP: the kernel reads id.src as a
 * datagram's sender, so the socket's own end goes in id.dst. */
static void test_request_puts_the_socket_where_the_kernel_looks(void **state)
{
	struct sockaddr_storage local, peer;
	uint8_t buf[NT_SOCKOWNER_REQ_MAX];
	struct inet_diag_req_v2 r;
	struct nlmsghdr nh;
	size_t len;

	(void)state;
	nt_sockaddr_set(&local, AF_INET, lo4, 40000);
	nt_sockaddr_set(&peer, AF_INET, other4, 1080);
	len = nt_sockowner_request(buf, sizeof(buf), IPPROTO_TCP, &local, &peer, SEQ);
	parse_request(buf, len, &nh, &r);
	assert_int_equal(r.sdiag_family, AF_INET);
	assert_int_equal(r.sdiag_protocol, IPPROTO_TCP);
	assert_int_equal(ntohs(r.id.idiag_sport), 40000);
	assert_int_equal(ntohs(r.id.idiag_dport), 1080);
	assert_memory_equal(r.id.idiag_src, lo4, 4);
	assert_memory_equal(r.id.idiag_dst, other4, 4);

	len = nt_sockowner_request(buf, sizeof(buf), IPPROTO_UDP, &local, &peer, SEQ);
	parse_request(buf, len, &nh, &r);
	assert_int_equal(r.sdiag_protocol, IPPROTO_UDP);
	assert_int_equal(ntohs(r.id.idiag_sport), 1080);
	assert_int_equal(ntohs(r.id.idiag_dport), 40000);
	assert_memory_equal(r.id.idiag_src, other4, 4);
	assert_memory_equal(r.id.idiag_dst, lo4, 4);

	nt_sockaddr_set(&local, AF_INET6, &in6addr_loopback, 40000);
	nt_sockaddr_set(&peer, AF_INET6, &in6addr_loopback, 1080);
	len = nt_sockowner_request(buf, sizeof(buf), IPPROTO_TCP, &local, &peer, SEQ);
	parse_request(buf, len, &nh, &r);
	assert_int_equal(r.sdiag_family, AF_INET6);
	assert_memory_equal(r.id.idiag_src, &in6addr_loopback, 16);
}

static void test_request_refuses_what_it_cannot_ask(void **state)
{
	struct sockaddr_storage v4, v6;
	uint8_t buf[NT_SOCKOWNER_REQ_MAX];

	(void)state;
	nt_sockaddr_set(&v4, AF_INET, lo4, 1);
	nt_sockaddr_set(&v6, AF_INET6, &in6addr_loopback, 2);
	assert_int_equal(nt_sockowner_request(buf, sizeof(buf), IPPROTO_TCP, &v4, &v6, SEQ), 0);
	assert_int_equal(nt_sockowner_request(buf, sizeof(buf), IPPROTO_SCTP, &v4, &v4, SEQ), 0);
	assert_int_equal(nt_sockowner_request(buf, 20, IPPROTO_TCP, &v4, &v4, SEQ), 0);
}

/* An answer naming socket (own port sport, other end dport, state). */
static struct answer answer(uint8_t state, uint16_t sport, uint16_t dport, uint32_t uid)
{
	struct answer a;

	memset(&a, 0, sizeof(a));
	a.nh.nlmsg_len = sizeof(a);
	a.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	a.nh.nlmsg_seq = SEQ;
	a.m.idiag_family = AF_INET;
	a.m.idiag_state = state;
	a.m.id.idiag_sport = htons(sport);
	a.m.id.idiag_dport = htons(dport);
	a.m.idiag_uid = uid;
	return a;
}

static int read_answer(const void *a, size_t len, int proto, uint32_t *uid)
{
	struct sockaddr_storage local, peer;

	nt_sockaddr_set(&local, AF_INET, lo4, 40000);
	nt_sockaddr_set(&peer, AF_INET, lo4, 1080);
	return nt_sockowner_answer(a, len, proto, &local, &peer, SEQ, uid);
}

static void test_answer_gives_the_uid_of_the_matching_socket(void **state)
{
	struct answer a = answer(TCP_ESTABLISHED, 40000, 1080, 1000);
	uint32_t uid = 0;

	(void)state;
	assert_int_equal(read_answer(&a, sizeof(a), IPPROTO_TCP, &uid), 0);
	assert_int_equal(uid, 1000);
	/* UDP: unconnected (other end 0) or connected to the peer. */
	a = answer(TCP_CLOSE, 40000, 0, 65534);
	assert_int_equal(read_answer(&a, sizeof(a), IPPROTO_UDP, &uid), 0);
	assert_int_equal(uid, 65534);
	a = answer(TCP_ESTABLISHED, 40000, 1080, 0);
	assert_int_equal(read_answer(&a, sizeof(a), IPPROTO_UDP, &uid), 0);
	assert_int_equal(uid, 0);
}

/* The kernel's exact lookup answers with a listener when no connection has
 * those ports; and a socket on other ports is not the one asked about. */
static void test_answer_naming_another_socket_is_no_answer(void **state)
{
	struct answer a = answer(TCP_LISTEN, 40000, 0, 0);
	uint32_t uid = 4242;

	(void)state;
	assert_int_equal(read_answer(&a, sizeof(a), IPPROTO_TCP, &uid), -ENOENT);
	a = answer(TCP_LISTEN, 40000, 1080, 0);
	assert_int_equal(read_answer(&a, sizeof(a), IPPROTO_TCP, &uid), -ENOENT);
	a = answer(TCP_ESTABLISHED, 40001, 1080, 0);
	assert_int_equal(read_answer(&a, sizeof(a), IPPROTO_TCP, &uid), -ENOENT);
	a = answer(TCP_ESTABLISHED, 40000, 1081, 0);
	assert_int_equal(read_answer(&a, sizeof(a), IPPROTO_TCP, &uid), -ENOENT);
	a = answer(TCP_ESTABLISHED, 40000, 1081, 0);
	assert_int_equal(read_answer(&a, sizeof(a), IPPROTO_UDP, &uid), -ENOENT);
	assert_int_equal(uid, 4242);
}

static void test_answer_errors_and_malformed(void **state)
{
	struct error_answer e = {
	    .nh = {.nlmsg_len = sizeof(e), .nlmsg_type = NLMSG_ERROR, .nlmsg_seq = SEQ},
	    .e = {.error = -ENOENT}};
	struct answer a = answer(TCP_ESTABLISHED, 40000, 1080, 1000);
	uint32_t uid = 4242;

	(void)state;
	assert_int_equal(read_answer(&e, sizeof(e), IPPROTO_TCP, &uid), -ENOENT);
	e.e.error = -EINVAL;
	assert_int_equal(read_answer(&e, sizeof(e), IPPROTO_TCP, &uid), -EINVAL);
	e.e.error = 0; /* an acknowledgement, no answer */
	assert_int_equal(read_answer(&e, sizeof(e), IPPROTO_TCP, &uid), -EBADMSG);
	assert_int_equal(read_answer(&e, sizeof(e) - 1, IPPROTO_TCP, &uid), -EBADMSG);
	/* Cut short, or longer than what came, or another request's answer. */
	assert_int_equal(read_answer(&a, 8, IPPROTO_TCP, &uid), -EBADMSG);
	assert_int_equal(read_answer(&a, sizeof(a) - 1, IPPROTO_TCP, &uid), -EBADMSG);
	a.nh.nlmsg_len = sizeof(a.nh) + 8;
	assert_int_equal(read_answer(&a, sizeof(a), IPPROTO_TCP, &uid), -EBADMSG);
	a = answer(TCP_ESTABLISHED, 40000, 1080, 1000);
	a.nh.nlmsg_seq = SEQ + 1;
	assert_int_equal(read_answer(&a, sizeof(a), IPPROTO_TCP, &uid), -EBADMSG);
	a = answer(TCP_ESTABLISHED, 40000, 1080, 1000);
	a.nh.nlmsg_type = NLMSG_DONE;
	assert_int_equal(read_answer(&a, sizeof(a), IPPROTO_TCP, &uid), -EBADMSG);
	assert_int_equal(uid, 4242);
}

static void local_name(int fd, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof(*ss);

	assert_int_equal(getsockname(fd, (struct sockaddr *)ss, &len), 0);
}

/* The kernel's tables, for real: both ends of a loopback TCP connection, a
 * UDP socket bound to the wildcard address that sent from 127.0.0.1, and
 * nothing for an address pair no socket has. */
static void test_lookup_finds_own_sockets_on_loopback(void **state)
{
	struct sockaddr_storage lsn, cli, srv, u, relay, nowhere;
	uint32_t uid = 4242;
	int l, c, s, d, r;

	(void)state;
	nt_sockaddr_set(&lsn, AF_INET, lo4, 0);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&lsn, sizeof(struct sockaddr_in)), 0);
	assert_int_equal(listen(l, 1), 0);
	local_name(l, &lsn);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&lsn, sizeof(struct sockaddr_in)), 0);
	s = accept(l, NULL, NULL);
	assert_true(s >= 0);
	local_name(c, &cli);
	local_name(s, &srv);
	assert_int_equal(nt_sockowner_uid(IPPROTO_TCP, &cli, &srv, &uid), 0);
	assert_int_equal(uid, getuid());
	uid = 4242;
	assert_int_equal(nt_sockowner_uid(IPPROTO_TCP, &srv, &cli, &uid), 0);
	assert_int_equal(uid, getuid());
	/* No connection from 127.0.0.2 at that port: the listener does not count. */
	nt_sockaddr_set(&nowhere, AF_INET, other4, 1);
	assert_int_equal(nt_sockowner_uid(IPPROTO_TCP, &nowhere, &lsn, &uid), -ENOENT);

	r = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	nt_sockaddr_set(&relay, AF_INET, lo4, 0);
	assert_int_equal(bind(r, (struct sockaddr *)&relay, sizeof(struct sockaddr_in)), 0);
	local_name(r, &relay);
	d = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); /* bound by its first send */
	assert_int_equal(
	    sendto(d, "x", 1, 0, (struct sockaddr *)&relay, sizeof(struct sockaddr_in)), 1);
	local_name(d, &u);
	assert_int_equal(((struct sockaddr_in *)&u)->sin_addr.s_addr, htonl(INADDR_ANY));
	nt_sockaddr_set(&u, AF_INET, lo4, ntohs(((struct sockaddr_in *)&u)->sin_port));
	uid = 4242;
	assert_int_equal(nt_sockowner_uid(IPPROTO_UDP, &u, &relay, &uid), 0);
	assert_int_equal(uid, getuid());
	close(d);
	assert_int_equal(nt_sockowner_uid(IPPROTO_UDP, &u, &relay, &uid), -ENOENT);
	close(r);
	close(s);
	close(c);
	close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_puts_the_socket_where_the_kernel_looks),
	    cmocka_unit_test(test_request_refuses_what_it_cannot_ask),
	    cmocka_unit_test(test_answer_gives_the_uid_of_the_matching_socket),
	    cmocka_unit_test(test_answer_naming_another_socket_is_no_answer),
	    cmocka_unit_test(test_answer_errors_and_malformed),
	    cmocka_unit_test(test_lookup_finds_own_sockets_on_loopback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
