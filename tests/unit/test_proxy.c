// SPDX-License-Identifier: MIT
/* The proxy front over real loopback sockets, all in one loop: the listener,
 * first-byte sniffing, the SOCKS5 state machine, the splice and the UDP
 * relay, against a FAKE engine defined here.
 *
 * The fake answers a CONNECT (never from inside nt_engine_open_tcp) with a
 * socket connected to an echo server in the same loop, or with a chosen
 * nt_fail, or not at all (to let the client leave first). Its UDP side
 * echoes every datagram back, from the address it was sent to. Static
 * linking lets these definitions stand in for core/engine/engine.c as long as this
 * file uses nothing else of it.
 *
 * Test clients are ordinary blocking sockets; every wait for the proxy runs
 * the loop with a deadline (WAIT_MS), so a broken proxy fails, never hangs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/engine/engine.h"
#include "netstack/splice.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "proxy/proxy.h"
#include "proxy/socks5.h"

#define WAIT_MS	  2000
#define MAX_ECHO  16
#define MAX_UDPQ  8
#define UDP_BYTES 512

/* ---- the fake engine ---- */

enum fake_mode { FAKE_ECHO, FAKE_FAIL, FAKE_HOLD };

struct echo_conn {
	int fd;
	bool used;
};

struct fake_udp_dgram {
	struct nt_target from;
	uint8_t data[UDP_BYTES];
	size_t len;
};

struct nt_engine_udp {
	struct nt_engine *e;
	const struct nt_engine_udp_ops *ops;
	void *arg;
	struct nt_timer timer;
	struct fake_udp_dgram q[MAX_UDPQ];
	size_t nq;
};

struct nt_engine_req {
	struct nt_engine *e;
	nt_engine_open_cb cb;
	void *arg;
	struct nt_timer timer;
};

struct nt_engine {
	struct nt_loop *loop;
	enum fake_mode mode;
	enum nt_fail fail;
	int echo_listen_fd;
	uint16_t echo_port;
	struct echo_conn echo[MAX_ECHO];
	int opens, answers, cancels;
	struct nt_engine_req *held;
	struct nt_target last_target;
	int udp_opens, udp_closes, udp_sends;
	struct nt_engine_udp *udp;
};

static void fake_answer(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct nt_engine_req *req = arg;
	struct nt_engine *e = req->e;
	struct nt_open_result res = {.fail = NT_FAIL_NONE, .fd = -1};
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(e->echo_port)};
	nt_engine_open_cb cb = req->cb;
	void *cb_arg = req->arg;

	(void)loop;
	(void)timer;
	if (e->mode == FAKE_FAIL) {
		res.fail = e->fail;
	} else {
		to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		res.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(res.fd >= 0);
		assert_int_equal(connect(res.fd, (struct sockaddr *)&to, sizeof(to)), 0);
		assert_int_equal(fcntl(res.fd, F_SETFL, O_NONBLOCK), 0);
		res.bound_len = sizeof(res.bound);
		assert_int_equal(getsockname(res.fd, (struct sockaddr *)&res.bound, &res.bound_len),
				 0);
	}
	free(req);
	e->answers++;
	cb(cb_arg, &res);
}

int nt_engine_open_tcp(struct nt_engine *e, const struct nt_target *target, nt_engine_open_cb cb,
		       void *arg, struct nt_engine_req **out)
{
	struct nt_engine_req *req = calloc(1, sizeof(*req));

	assert_non_null(req);
	e->opens++;
	e->last_target = *target;
	req->e = e;
	req->cb = cb;
	req->arg = arg;
	nt_timer_init(&req->timer, fake_answer, req);
	if (e->mode == FAKE_HOLD)
		e->held = req;
	else
		assert_int_equal(nt_timer_arm(e->loop, &req->timer, 0), 0);
	*out = req;
	return 0;
}

uint64_t nt_engine_req_id(const struct nt_engine_req *req)
{
	(void)req;
	return 0;
}

void nt_engine_cancel(struct nt_engine_req *req)
{
	req->e->cancels++;
	if (req->e->held == req)
		req->e->held = NULL;
	nt_timer_cancel(req->e->loop, &req->timer);
	free(req);
}

static void fake_udp_deliver(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct nt_engine_udp *u = arg;
	size_t i;

	(void)loop;
	(void)timer;
	for (i = 0; i < u->nq; i++)
		u->ops->datagram(u->arg, &u->q[i].from, u->q[i].data, u->q[i].len);
	u->nq = 0;
}

int nt_engine_udp_open(struct nt_engine *e, const struct nt_engine_udp_ops *ops, void *arg,
		       struct nt_engine_udp **out)
{
	struct nt_engine_udp *u = calloc(1, sizeof(*u));

	assert_non_null(u);
	u->e = e;
	u->ops = ops;
	u->arg = arg;
	nt_timer_init(&u->timer, fake_udp_deliver, u);
	e->udp_opens++;
	e->udp = u;
	*out = u;
	return 0;
}

/* Echo: the datagram comes back later, from where it was sent. */
int nt_engine_udp_send(struct nt_engine_udp *u, const struct nt_target *to, const uint8_t *buf,
		       size_t len)
{
	struct fake_udp_dgram *d;

	u->e->udp_sends++;
	if (u->nq == MAX_UDPQ || len > UDP_BYTES)
		return -ENOBUFS;
	d = &u->q[u->nq++];
	d->from = *to;
	memcpy(d->data, buf, len);
	d->len = len;
	return nt_timer_arm(u->e->loop, &u->timer, 0);
}

void nt_engine_udp_close(struct nt_engine_udp *u)
{
	u->e->udp_closes++;
	if (u->e->udp == u)
		u->e->udp = NULL;
	nt_timer_cancel(u->e->loop, &u->timer);
	free(u);
}

struct nt_loop *nt_engine_loop(const struct nt_engine *e)
{
	return e->loop;
}

/* ---- the echo server behind the fake engine ---- */

static void echo_cb(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct echo_conn *ec = arg;
	uint8_t buf[16384];
	ssize_t n, w, off;

	(void)events;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		nt_loop_del_fd(loop, fd);
		close(fd);
		ec->used = false;
		return;
	}
	for (off = 0; off < n; off += w) {
		w = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
		if (w <= 0)
			return;
	}
}

static void echo_accept(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct nt_engine *e = arg;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	size_t i;

	(void)events;
	if (cfd < 0)
		return;
	for (i = 0; i < MAX_ECHO && e->echo[i].used; i++)
		;
	assert_true(i < MAX_ECHO);
	e->echo[i].used = true;
	e->echo[i].fd = cfd;
	assert_int_equal(nt_loop_add_fd(loop, cfd, NT_EV_READ, echo_cb, &e->echo[i]), 0);
}

/* ---- the world ---- */

struct world {
	struct nt_loop *loop;
	struct nt_engine engine;
	struct nt_proxy *proxy;
	uint16_t port;
};

static struct sockaddr_storage loopback4(uint16_t port)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return ss;
}

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct sockaddr_storage ss = loopback4(0);
	socklen_t len = sizeof(ss);

	if (!w || nt_loop_new(&w->loop))
		return -1;
	nt_log_set_level(NT_LOG_OFF);
	w->engine.loop = w->loop;
	w->engine.echo_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (w->engine.echo_listen_fd < 0 ||
	    bind(w->engine.echo_listen_fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)) ||
	    listen(w->engine.echo_listen_fd, 16) ||
	    getsockname(w->engine.echo_listen_fd, (struct sockaddr *)&ss, &len))
		return -1;
	w->engine.echo_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (nt_loop_add_fd(w->loop, w->engine.echo_listen_fd, NT_EV_READ, echo_accept, &w->engine))
		return -1;
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;
	size_t i;

	nt_proxy_free(w->proxy);
	/* Splices are not the proxy's, and their count is global: reset them
	 * so that the next test starts from none. */
	nt_splice_close_all();
	for (i = 0; i < 5; i++)
		nt_loop_run_once(w->loop, 1);
	for (i = 0; i < MAX_ECHO; i++) {
		if (w->engine.echo[i].used) {
			nt_loop_del_fd(w->loop, w->engine.echo[i].fd);
			close(w->engine.echo[i].fd);
		}
	}
	nt_loop_del_fd(w->loop, w->engine.echo_listen_fd);
	close(w->engine.echo_listen_fd);
	nt_loop_free(w->loop);
	free(w);
	return 0;
}

static void proxy_up_cfg(struct world *w, struct nt_proxy_config *cfg)
{
	struct sockaddr_storage ss = loopback4(0);

	cfg->listen = &ss;
	cfg->listen_count = 1;
	assert_int_equal(nt_proxy_new(w->loop, &w->engine, cfg, &w->proxy), 0);
	w->port = nt_proxy_bound_port(w->proxy, 0);
	assert_int_not_equal(w->port, 0);
}

static void proxy_up(struct world *w)
{
	struct nt_proxy_config cfg;

	nt_proxy_config_init(&cfg);
	proxy_up_cfg(w, &cfg);
}

static struct nt_proxy_counters counters(struct world *w)
{
	struct nt_proxy_counters c;

	nt_proxy_counters(w->proxy, &c);
	return c;
}

typedef bool (*cond_fn)(struct world *w);

static bool run_until(struct world *w, cond_fn cond, int ms)
{
	uint64_t end = nt_clock_mono_ns() + (uint64_t)ms * NT_NS_PER_MS;

	while (!cond(w) && nt_clock_mono_ns() < end)
		assert_true(nt_loop_run_once(w->loop, 5) >= 0);
	return cond(w);
}

static int client_connect(struct world *w)
{
	struct sockaddr_storage ss = loopback4(w->port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), 0);
	return fd;
}

static void client_send(int fd, const void *buf, size_t len)
{
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads exactly len bytes, running the loop meanwhile; fails on EOF. */
static void client_recv(struct world *w, int fd, void *buf, size_t len)
{
	uint64_t end = nt_clock_mono_ns() + WAIT_MS * NT_NS_PER_MS;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = recv(fd, (uint8_t *)buf + got, len - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		assert_true(n < 0 && errno == EAGAIN); /* not EOF */
		assert_true(nt_clock_mono_ns() < end);
		assert_true(nt_loop_run_once(w->loop, 5) >= 0);
	}
}

/* Reads until EOF (or a reset), running the loop; returns the bytes read
 * before it (at most cap). */
static size_t client_recv_until_eof(struct world *w, int fd, void *buf, size_t cap)
{
	uint64_t end = nt_clock_mono_ns() + WAIT_MS * NT_NS_PER_MS;
	uint8_t scratch[256];
	size_t got = 0;
	ssize_t n;

	for (;;) {
		n = recv(fd, got < cap ? (uint8_t *)buf + got : scratch,
			 got < cap ? cap - got : sizeof(scratch), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return got;
		if (n > 0) {
			got += got < cap ? (size_t)n : 0;
			continue;
		}
		assert_int_equal(errno, EAGAIN);
		assert_true(nt_clock_mono_ns() < end);
		assert_true(nt_loop_run_once(w->loop, 5) >= 0);
	}
}

static void expect_eof(struct world *w, int fd)
{
	uint8_t buf[64];

	assert_int_equal(client_recv_until_eof(w, fd, buf, sizeof(buf)), 0);
}

static void expect_bytes_then_eof(struct world *w, int fd, const uint8_t *want, size_t len)
{
	uint8_t buf[64];

	assert_true(len <= sizeof(buf));
	assert_int_equal(client_recv_until_eof(w, fd, buf, sizeof(buf)), len);
	assert_memory_equal(buf, want, len);
}

static const uint8_t greet_none[] = {0x05, 0x01, 0x00};
static const uint8_t greet_both[] = {0x05, 0x02, 0x00, 0x02};
static const uint8_t connect_v4[] = {0x05, 0x01, 0x00, 0x01, 10, 9, 8, 7, 0x00, 0x50};

/* Greeting (no auth) and CONNECT; checks the success reply and its
 * BND.PORT is a real port. */
static void socks5_connect(struct world *w, int fd)
{
	uint8_t buf[10];

	client_send(fd, greet_none, sizeof(greet_none));
	client_recv(w, fd, buf, 2);
	assert_memory_equal(buf, ((uint8_t[]){0x05, 0x00}), 2);
	client_send(fd, connect_v4, sizeof(connect_v4));
	client_recv(w, fd, buf, 10);
	assert_memory_equal(buf, ((uint8_t[]){0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1}), 8);
	assert_true(buf[8] || buf[9]);
}

static void expect_echo(struct world *w, int fd, const char *text)
{
	char buf[128];
	size_t len = strlen(text);

	assert_true(len < sizeof(buf));
	client_send(fd, text, len);
	client_recv(w, fd, buf, len);
	assert_memory_equal(buf, text, len);
}

/* The reply a refused request gets: REP and 0.0.0.0:0. */
static void expect_refusal(struct world *w, int fd, uint8_t rep)
{
	uint8_t want[10] = {0x05, rep, 0x00, 0x01};

	expect_bytes_then_eof(w, fd, want, sizeof(want));
}

/* EOF, or a reset when the proxy closed with our bytes unread. */
static bool closed_now(int fd)
{
	uint8_t b;
	ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static bool proxy_idle(struct world *w)
{
	return counters(w).active == 0;
}

/* ---- tests ---- */

static void test_socks5_connect_no_auth_bytes_both_ways(void **state)
{
	struct world *w = *state;
	uint8_t big[200000], back[200000];
	size_t i, sent = 0, got = 0;
	uint64_t end;
	ssize_t n;
	int fd;

	proxy_up(w);
	fd = client_connect(w);
	socks5_connect(w, fd);
	assert_int_equal(w->engine.last_target.kind, NT_TARGET_IPV4);
	assert_memory_equal(w->engine.last_target.addr, ((uint8_t[]){10, 9, 8, 7}), 4);
	assert_int_equal(w->engine.last_target.port, 80);
	expect_echo(w, fd, "ping");
	expect_echo(w, fd, "and pong");
	/* More than a socket buffer each way, interleaved. */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + i / 251);
	end = nt_clock_mono_ns() + WAIT_MS * NT_NS_PER_MS;
	while (got < sizeof(big)) {
		assert_true(nt_clock_mono_ns() < end);
		if (sent < sizeof(big)) {
			n = send(fd, big + sent, sizeof(big) - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
		}
		n = recv(fd, back + got, sizeof(back) - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		assert_true(n != 0);
		nt_loop_run_once(w->loop, 1);
	}
	assert_memory_equal(back, big, sizeof(big));
	assert_int_equal(counters(w).connect_ok, 1);
	assert_int_equal(counters(w).active, 0); /* the splice has it now */
	close(fd);
}

static void test_socks5_first_data_pipelined_behind_connect_reaches_remote(void **state)
{
	struct world *w = *state;
	uint8_t all[sizeof(greet_none) + sizeof(connect_v4) + 5], buf[10];
	int fd;

	proxy_up(w);
	memcpy(all, greet_none, sizeof(greet_none));
	memcpy(all + sizeof(greet_none), connect_v4, sizeof(connect_v4));
	memcpy(all + sizeof(greet_none) + sizeof(connect_v4), "hello", 5);
	fd = client_connect(w);
	client_send(fd, all, sizeof(all));
	client_recv(w, fd, buf, 2);
	assert_memory_equal(buf, ((uint8_t[]){0x05, 0x00}), 2);
	client_recv(w, fd, buf, 10);
	assert_int_equal(buf[1], 0x00);
	client_recv(w, fd, buf, 5);
	assert_memory_equal(buf, "hello", 5);
	expect_echo(w, fd, "more");
	close(fd);
}

static void test_socks5_domain_target_reaches_engine(void **state)
{
	static const uint8_t req[] = {0x05, 0x01, 0x00, 0x03, 7,   'd',	 'b',
				      '.',  'c',  'o',	'r',  'p', 0x15, 0x38};
	struct world *w = *state;
	uint8_t buf[10];
	int fd;

	proxy_up(w);
	fd = client_connect(w);
	client_send(fd, greet_none, sizeof(greet_none));
	client_recv(w, fd, buf, 2);
	client_send(fd, req, sizeof(req));
	client_recv(w, fd, buf, 10);
	assert_int_equal(buf[1], 0x00);
	assert_int_equal(w->engine.last_target.kind, NT_TARGET_NAME);
	assert_string_equal(w->engine.last_target.name, "db.corp");
	assert_int_equal(w->engine.last_target.port, 5432);
	close(fd);
}

static void auth_proxy_up(struct world *w)
{
	struct nt_proxy_config cfg;

	nt_proxy_config_init(&cfg);
	cfg.username = "alice";
	cfg.password = "s3cret";
	proxy_up_cfg(w, &cfg);
}

static void send_auth(int fd, const char *user, const char *pass)
{
	uint8_t msg[NT_SOCKS5_AUTH_MAX];
	size_t ul = strlen(user), pl = strlen(pass);

	msg[0] = 0x01;
	msg[1] = (uint8_t)ul;
	memcpy(msg + 2, user, ul);
	msg[2 + ul] = (uint8_t)pl;
	memcpy(msg + 3 + ul, pass, pl);
	client_send(fd, msg, 3 + ul + pl);
}

static void test_socks5_auth_required_and_right_credentials_connect(void **state)
{
	struct world *w = *state;
	uint8_t buf[10];
	int fd;

	auth_proxy_up(w);
	fd = client_connect(w);
	client_send(fd, greet_both, sizeof(greet_both));
	client_recv(w, fd, buf, 2);
	assert_memory_equal(buf, ((uint8_t[]){0x05, 0x02}), 2);
	send_auth(fd, "alice", "s3cret");
	client_recv(w, fd, buf, 2);
	assert_memory_equal(buf, ((uint8_t[]){0x01, 0x00}), 2);
	client_send(fd, connect_v4, sizeof(connect_v4));
	client_recv(w, fd, buf, 10);
	assert_int_equal(buf[1], 0x00);
	expect_echo(w, fd, "authenticated");
	assert_int_equal(counters(w).auth_failed, 0);
	close(fd);
}

static void test_socks5_wrong_password_refused_and_closed(void **state)
{
	struct world *w = *state;
	uint8_t buf[2];
	int fd;

	auth_proxy_up(w);
	fd = client_connect(w);
	client_send(fd, greet_both, sizeof(greet_both));
	client_recv(w, fd, buf, 2);
	assert_memory_equal(buf, ((uint8_t[]){0x05, 0x02}), 2);
	send_auth(fd, "alice", "s3creT");
	expect_bytes_then_eof(w, fd, (uint8_t[]){0x01, 0x01}, 2);
	assert_int_equal(counters(w).auth_failed, 1);
	assert_int_equal(w->engine.opens, 0);
	assert_true(run_until(w, proxy_idle, WAIT_MS));
	close(fd);
}

static void test_socks5_auth_required_but_not_offered_gets_no_acceptable_method(void **state)
{
	struct world *w = *state;
	int fd;

	auth_proxy_up(w);
	fd = client_connect(w);
	client_send(fd, greet_none, sizeof(greet_none));
	expect_bytes_then_eof(w, fd, (uint8_t[]){0x05, 0xff}, 2);
	assert_int_equal(counters(w).no_acceptable_method, 1);
	close(fd);
}

static void test_socks5_each_engine_failure_gets_its_reply_code(void **state)
{
	static const struct {
		enum nt_fail fail;
		uint8_t rep;
	} cases[] = {
	    {NT_FAIL_GENERAL, 0x01},	  {NT_FAIL_NOT_ALLOWED, 0x02}, {NT_FAIL_NET_UNREACH, 0x03},
	    {NT_FAIL_HOST_UNREACH, 0x04}, {NT_FAIL_REFUSED, 0x05},     {NT_FAIL_TIMEOUT, 0x04},
	    {NT_FAIL_NAME, 0x04},	  {NT_FAIL_ADDR_TYPE, 0x08},   {NT_FAIL_LOOP, 0x02},
	    {NT_FAIL_FORBIDDEN, 0x02},	  {NT_FAIL_OFFLINE, 0x03},
	};
	struct world *w = *state;
	uint8_t buf[2];
	size_t i;
	int fd;

	proxy_up(w);
	w->engine.mode = FAKE_FAIL;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		w->engine.fail = cases[i].fail;
		assert_int_equal(nt_fail_socks5(cases[i].fail), cases[i].rep);
		fd = client_connect(w);
		client_send(fd, greet_none, sizeof(greet_none));
		client_recv(w, fd, buf, 2);
		client_send(fd, connect_v4, sizeof(connect_v4));
		expect_refusal(w, fd, cases[i].rep);
		close(fd);
		assert_int_equal(counters(w).connect_failed[cases[i].fail], 1);
	}
	assert_int_equal(counters(w).connect_ok, 0);
	assert_true(run_until(w, proxy_idle, WAIT_MS));
}

static void request_refused(struct world *w, const uint8_t *req, size_t len, uint8_t rep)
{
	uint8_t buf[2];
	int fd = client_connect(w);

	client_send(fd, greet_none, sizeof(greet_none));
	client_recv(w, fd, buf, 2);
	client_send(fd, req, len);
	expect_refusal(w, fd, rep);
	close(fd);
}

static void test_socks5_bind_and_malformed_requests_get_their_codes(void **state)
{
	static const uint8_t bind[] = {0x05, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
	static const uint8_t cmd9[] = {0x05, 0x09, 0x00, 0x01, 1, 2, 3, 4, 0, 80};
	static const uint8_t atyp[] = {0x05, 0x01, 0x00, 0x07, 1, 2, 3, 4, 0, 80};
	static const uint8_t rsv[] = {0x05, 0x01, 0x05, 0x01, 1, 2, 3, 4, 0, 80};
	static const uint8_t version[] = {0x04, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0, 80};
	static const uint8_t nul_name[] = {0x05, 0x01, 0x00, 0x03, 2, 'a', 0, 0, 80};
	struct world *w = *state;
	struct nt_proxy_counters c;

	proxy_up(w);
	request_refused(w, bind, sizeof(bind), 0x07);
	request_refused(w, cmd9, sizeof(cmd9), 0x07);
	request_refused(w, atyp, sizeof(atyp), 0x08);
	request_refused(w, rsv, sizeof(rsv), 0x01);
	request_refused(w, version, sizeof(version), 0x01);
	request_refused(w, nul_name, sizeof(nul_name), 0x01);
	c = counters(w);
	assert_int_equal(c.cmd_unsupported, 2);
	assert_int_equal(c.atyp_unsupported, 1);
	assert_int_equal(c.malformed, 3);
	assert_int_equal(w->engine.opens, 0);
}

static void test_socks5_malformed_greeting_refused(void **state)
{
	struct world *w = *state;
	int fd;

	proxy_up(w);
	fd = client_connect(w);
	client_send(fd, (uint8_t[]){0x05, 0x00}, 2);
	expect_bytes_then_eof(w, fd, (uint8_t[]){0x05, 0xff}, 2);
	assert_int_equal(counters(w).malformed, 1);
	close(fd);
}

static void test_garbage_first_byte_closed_without_disturbing_session(void **state)
{
	struct world *w = *state;
	int good, bad;

	proxy_up(w);
	good = client_connect(w);
	socks5_connect(w, good);
	expect_echo(w, good, "before");
	bad = client_connect(w);
	client_send(bad, "\x16\x03\x01\x00\x10", 5); /* a TLS record */
	expect_eof(w, bad);
	expect_echo(w, good, "after");
	assert_int_equal(counters(w).garbage, 1);
	close(bad);
	close(good);
}

static void test_socks4_refused(void **state)
{
	static const uint8_t req[] = {0x04, 0x01, 0x00, 0x50, 10, 0, 0, 1, 'u', 0};
	struct world *w = *state;
	uint8_t buf[16];
	int fd;

	proxy_up(w);
	fd = client_connect(w);
	client_send(fd, req, sizeof(req));
	assert_int_equal(client_recv_until_eof(w, fd, buf, sizeof(buf)), 8);
	assert_int_equal(buf[0], 0x00);
	assert_int_equal(buf[1], 0x5b);
	assert_int_equal(counters(w).socks4_refused, 1);
	assert_int_equal(w->engine.opens, 0);
	close(fd);
}

static bool engine_opened(struct world *w)
{
	return w->engine.opens == 1;
}

static bool engine_canceled(struct world *w)
{
	return w->engine.cancels == 1;
}

static void test_client_closing_before_engine_answers_cancels_request(void **state)
{
	struct world *w = *state;
	uint8_t buf[2];
	int fd;

	proxy_up(w);
	w->engine.mode = FAKE_HOLD;
	fd = client_connect(w);
	client_send(fd, greet_none, sizeof(greet_none));
	client_recv(w, fd, buf, 2);
	client_send(fd, connect_v4, sizeof(connect_v4));
	assert_true(run_until(w, engine_opened, WAIT_MS));
	close(fd);
	assert_true(run_until(w, engine_canceled, WAIT_MS));
	assert_null(w->engine.held);
	assert_int_equal(counters(w).engine_canceled, 1);
	assert_int_equal(counters(w).closed_early, 1);
	assert_true(run_until(w, proxy_idle, WAIT_MS));
}

/* Answers the request held in FAKE_HOLD mode, with an echo connection. */
static void fake_release(struct world *w)
{
	struct nt_engine_req *req = w->engine.held;

	assert_non_null(req);
	w->engine.held = NULL;
	assert_int_equal(nt_timer_arm(w->loop, &req->timer, 0), 0);
}

static void test_first_data_larger_than_the_buffer_arrives_whole_and_in_order(void **state)
{
	struct world *w = *state;
	uint8_t msg[sizeof(greet_none) + sizeof(connect_v4) + 5000], back[5000], reply[12];
	uint8_t *data = msg + sizeof(greet_none) + sizeof(connect_v4);
	size_t i;
	int fd;

	proxy_up(w);
	w->engine.mode = FAKE_HOLD;
	memcpy(msg, greet_none, sizeof(greet_none));
	memcpy(msg + sizeof(greet_none), connect_v4, sizeof(connect_v4));
	for (i = 0; i < 5000; i++)
		data[i] = (uint8_t)(i % 251);
	fd = client_connect(w);
	client_send(fd, msg, sizeof(msg));
	assert_true(run_until(w, engine_opened, WAIT_MS));
	for (i = 0; i < 10; i++) /* the proxy fills its buffer, then stops reading */
		nt_loop_run_once(w->loop, 1);
	fake_release(w);
	client_recv(w, fd, reply, sizeof(reply));
	assert_memory_equal(reply, ((uint8_t[]){0x05, 0x00, 0x05, 0x00, 0x00, 0x01}), 6);
	client_recv(w, fd, back, sizeof(back));
	assert_memory_equal(back, data, sizeof(back));
	close(fd);
}

static void test_handshake_timeout_closes_slow_clients(void **state)
{
	struct world *w = *state;
	struct nt_proxy_config cfg;
	uint64_t start;
	uint8_t buf[2];
	int silent, partial, slow_request;

	nt_proxy_config_init(&cfg);
	cfg.handshake_timeout_ms = 150;
	proxy_up_cfg(w, &cfg);
	start = nt_clock_mono_ns();
	silent = client_connect(w);
	partial = client_connect(w);
	client_send(partial, greet_none, 2); /* the method list never comes */
	slow_request = client_connect(w);
	client_send(slow_request, greet_none, sizeof(greet_none));
	client_recv(w, slow_request, buf, 2);
	client_send(slow_request, connect_v4, 4);
	expect_eof(w, silent);
	expect_eof(w, partial);
	expect_eof(w, slow_request);
	assert_true(nt_clock_mono_ns() - start >= 150 * NT_NS_PER_MS);
	assert_int_equal(counters(w).handshake_timeouts, 3);
	assert_int_equal(w->engine.opens, 0);
	assert_true(run_until(w, proxy_idle, WAIT_MS));
	close(silent);
	close(partial);
	close(slow_request);
}

static bool two_active(struct world *w)
{
	return counters(w).active == 2;
}

static bool one_active(struct world *w)
{
	return counters(w).active == 1;
}

static void test_max_clients_closes_extra_connections_at_once(void **state)
{
	struct world *w = *state;
	struct nt_proxy_config cfg;
	uint8_t buf[2];
	int a, b, extra, later;

	nt_proxy_config_init(&cfg);
	cfg.max_clients = 2;
	proxy_up_cfg(w, &cfg);
	a = client_connect(w);
	b = client_connect(w);
	assert_true(run_until(w, two_active, WAIT_MS));
	extra = client_connect(w);
	expect_eof(w, extra);
	assert_int_equal(counters(w).rejected_full, 1);
	assert_int_equal(counters(w).active, 2);
	/* A slot freed is a slot for the next client. */
	close(a);
	assert_true(run_until(w, one_active, WAIT_MS));
	later = client_connect(w);
	client_send(later, greet_none, sizeof(greet_none));
	client_recv(w, later, buf, 2);
	assert_memory_equal(buf, ((uint8_t[]){0x05, 0x00}), 2);
	assert_int_equal(counters(w).rejected_full, 1);
	close(b);
	close(extra);
	close(later);
}

static void test_max_clients_counts_connected_clients(void **state)
{
	struct world *w = *state;
	struct nt_proxy_config cfg;
	struct nt_splice_stats ss;
	int connected, waiting, extra;

	nt_splice_get_stats(&ss);
	assert_int_equal(ss.active, 0);
	nt_proxy_config_init(&cfg);
	cfg.max_clients = 2;
	proxy_up_cfg(w, &cfg);
	connected = client_connect(w);
	socks5_connect(w, connected);
	assert_int_equal(counters(w).active, 0); /* spliced: not held, still counted */
	waiting = client_connect(w);
	assert_true(run_until(w, one_active, WAIT_MS));
	extra = client_connect(w);
	expect_eof(w, extra);
	assert_int_equal(counters(w).rejected_full, 1);
	expect_echo(w, connected, "still here");
	close(connected);
	close(waiting);
	close(extra);
}

static size_t udp_dgram(uint8_t *out, uint8_t frag, const struct nt_target *t, const char *data)
{
	int n = nt_socks5_build_udp_header(out, NT_SOCKS5_UDP_HDR_MAX, t);

	assert_true(n > 0);
	out[2] = frag;
	memcpy(out + n, data, strlen(data));
	return (size_t)n + strlen(data);
}

static bool one_udp_send(struct world *w)
{
	return w->engine.udp_sends == 1;
}

static bool udp_closed(struct world *w)
{
	return w->engine.udp_closes == 1;
}

/* sock sends to the relay and learns that no socket there takes it: the
 * ICMP port unreachable a connected UDP socket reports as ECONNREFUSED. A
 * relay that took the datagram and dropped it itself would send nothing. */
static void expect_refused_by_kernel(struct world *w, int sock, const struct sockaddr_in *relay,
				     const struct nt_target *dst)
{
	uint8_t buf[NT_SOCKS5_UDP_HDR_MAX + 64];
	size_t len = udp_dgram(buf, 0, dst, "intruder");
	uint64_t end = nt_clock_mono_ns() + WAIT_MS * NT_NS_PER_MS;
	ssize_t n;

	assert_int_equal(connect(sock, (const struct sockaddr *)relay, sizeof(*relay)), 0);
	assert_int_equal(send(sock, buf, len, 0), (ssize_t)len);
	while ((n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT)) < 0 && errno == EAGAIN) {
		assert_true(nt_clock_mono_ns() < end);
		nt_loop_run_once(w->loop, 5);
	}
	assert_int_equal(n, -1);
	assert_int_equal(errno, ECONNREFUSED);
}

/* A UDP ASSOCIATE naming port (network order) on 127.0.0.1; the control
 * connection and the relay's address. */
static int udp_associate(struct world *w, uint16_t port, struct sockaddr_in *relay)
{
	uint8_t assoc[] = {0x05, 0x03, 0x00, 0x01, 0, 0, 0, 0, 0, 0}, reply[10];
	int ctl = client_connect(w);

	memcpy(assoc + 8, &port, 2);
	client_send(ctl, greet_none, sizeof(greet_none));
	client_recv(w, ctl, reply, 2);
	client_send(ctl, assoc, sizeof(assoc));
	client_recv(w, ctl, reply, 10);
	assert_memory_equal(reply, ((uint8_t[]){0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1}), 8);
	memset(relay, 0, sizeof(*relay));
	relay->sin_family = AF_INET;
	relay->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memcpy(&relay->sin_port, reply + 8, 2);
	assert_int_not_equal(relay->sin_port, 0);
	return ctl;
}

static int loopback_udp_socket(void)
{
	struct sockaddr_in any = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&any, sizeof(any)), 0);
	return fd;
}

static void test_udp_associate_round_trip_through_engine(void **state)
{
	struct nt_target dst = {.kind = NT_TARGET_IPV4, .addr = {10, 1, 2, 3}, .port = 53};
	struct world *w = *state;
	struct sockaddr_in relay;
	uint8_t buf[NT_SOCKS5_UDP_HDR_MAX + 64], got[NT_SOCKS5_UDP_HDR_MAX + 64];
	struct nt_socks5_udp_header h;
	uint64_t end;
	size_t len;
	ssize_t n;
	int ctl, u, stranger;

	proxy_up(w);
	ctl = udp_associate(w, 0, &relay);
	assert_int_equal(w->engine.udp_opens, 1);
	u = loopback_udp_socket();
	stranger = loopback_udp_socket();

	/* A fragment is dropped; the first whole datagram fixes the port. */
	len = udp_dgram(buf, 1, &dst, "fragment");
	assert_int_equal(sendto(u, buf, len, 0, (struct sockaddr *)&relay, sizeof(relay)),
			 (ssize_t)len);
	len = udp_dgram(buf, 0, &dst, "query");
	assert_int_equal(sendto(u, buf, len, 0, (struct sockaddr *)&relay, sizeof(relay)),
			 (ssize_t)len);
	end = nt_clock_mono_ns() + WAIT_MS * NT_NS_PER_MS;
	while ((n = recv(u, got, sizeof(got), MSG_DONTWAIT)) < 0) {
		assert_int_equal(errno, EAGAIN);
		assert_true(nt_clock_mono_ns() < end);
		nt_loop_run_once(w->loop, 5);
	}
	assert_int_equal(nt_socks5_parse_udp_header(got, (size_t)n, &h), 10);
	assert_int_equal(h.target.kind, NT_TARGET_IPV4);
	assert_memory_equal(h.target.addr, dst.addr, 4);
	assert_int_equal(h.target.port, 53);
	assert_int_equal(n, 10 + 5);
	assert_memory_equal(got + 10, "query", 5);

	/* From the same IP but another port, once the port is known: the
	 * relay is connected to the client, the kernel refuses the rest. */
	expect_refused_by_kernel(w, stranger, &relay, &dst);
	/* Malformed: dropped. */
	assert_int_equal(
	    sendto(u, "\x00\x00\x00\x09", 4, 0, (struct sockaddr *)&relay, sizeof(relay)), 4);
	end = nt_clock_mono_ns() + WAIT_MS * NT_NS_PER_MS;
	while (counters(w).udp_malformed < 1) {
		assert_true(nt_clock_mono_ns() < end);
		nt_loop_run_once(w->loop, 5);
	}
	assert_int_equal(counters(w).udp_frag_dropped, 1);
	assert_int_equal(counters(w).udp_foreign_dropped, 0);
	assert_int_equal(counters(w).udp_foreign_owner, 0);
	assert_int_equal(counters(w).udp_malformed, 1);
	assert_int_equal(counters(w).udp_rx, 1);
	assert_int_equal(counters(w).udp_tx, 1);
	assert_int_equal(w->engine.udp_sends, 1);
	assert_int_equal(counters(w).udp_active, 1);

	/* The association ends with the control connection. */
	close(ctl);
	assert_true(run_until(w, udp_closed, WAIT_MS));
	assert_int_equal(counters(w).udp_active, 0);
	assert_true(run_until(w, proxy_idle, WAIT_MS));
	close(u);
	close(stranger);
}

/* A port named in the request is the client's from the start: other
 * senders are refused by the kernel before the client sent anything. */
static void test_udp_associate_named_port_refuses_other_ports_at_once(void **state)
{
	struct nt_target dst = {.kind = NT_TARGET_IPV4, .addr = {10, 1, 2, 3}, .port = 53};
	struct world *w = *state;
	struct sockaddr_in relay, mine;
	socklen_t mlen = sizeof(mine);
	uint8_t buf[NT_SOCKS5_UDP_HDR_MAX + 64];
	size_t len;
	int ctl, u = loopback_udp_socket(), stranger = loopback_udp_socket();

	assert_int_equal(getsockname(u, (struct sockaddr *)&mine, &mlen), 0);
	proxy_up(w);
	ctl = udp_associate(w, mine.sin_port, &relay);
	expect_refused_by_kernel(w, stranger, &relay, &dst);
	len = udp_dgram(buf, 0, &dst, "query");
	assert_int_equal(sendto(u, buf, len, 0, (struct sockaddr *)&relay, sizeof(relay)),
			 (ssize_t)len);
	assert_true(run_until(w, one_udp_send, WAIT_MS));
	assert_int_equal(counters(w).udp_rx, 1);
	assert_int_equal(counters(w).udp_foreign_dropped, 0);
	close(ctl);
	assert_true(run_until(w, udp_closed, WAIT_MS));
	close(u);
	close(stranger);
}

static void test_proxy_free_closes_clients_in_progress(void **state)
{
	struct world *w = *state;
	uint8_t buf[2];
	int negotiating, connecting;

	proxy_up(w);
	w->engine.mode = FAKE_HOLD;
	negotiating = client_connect(w);
	client_send(negotiating, greet_none, 2);
	connecting = client_connect(w);
	client_send(connecting, greet_none, sizeof(greet_none));
	client_recv(w, connecting, buf, 2);
	client_send(connecting, connect_v4, sizeof(connect_v4));
	assert_true(run_until(w, engine_opened, WAIT_MS));
	nt_proxy_free(w->proxy);
	w->proxy = NULL;
	assert_int_equal(w->engine.cancels, 1);
	assert_true(closed_now(negotiating));
	assert_true(closed_now(connecting));
	close(negotiating);
	close(connecting);
}

static void test_proxy_new_reports_address_in_use(void **state)
{
	struct world *w = *state;
	struct sockaddr_storage ss = loopback4(0);
	socklen_t len = sizeof(ss);
	struct nt_proxy_config cfg;
	struct nt_proxy *p = NULL;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_int_equal(bind(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	nt_proxy_config_init(&cfg);
	cfg.listen = &ss;
	cfg.listen_count = 1;
	assert_int_equal(nt_proxy_new(w->loop, &w->engine, &cfg, &p), -EADDRINUSE);
	assert_null(p);
	close(fd);
}

static void test_proxy_new_refuses_bad_config(void **state)
{
	struct world *w = *state;
	struct sockaddr_storage ss = loopback4(0);
	struct nt_proxy_config cfg;
	struct nt_proxy *p = NULL;
	char long_pass[300];

	nt_proxy_config_init(&cfg);
	assert_int_equal(nt_proxy_new(w->loop, &w->engine, &cfg, &p), -EINVAL); /* no listener */
	cfg.listen = &ss;
	cfg.listen_count = 1;
	cfg.username = "only-a-user";
	assert_int_equal(nt_proxy_new(w->loop, &w->engine, &cfg, &p), -EINVAL);
	memset(long_pass, 'p', sizeof(long_pass) - 1);
	long_pass[sizeof(long_pass) - 1] = '\0';
	cfg.password = long_pass;
	assert_int_equal(nt_proxy_new(w->loop, &w->engine, &cfg, &p), -EINVAL);
	cfg.password = "";
	assert_int_equal(nt_proxy_new(w->loop, &w->engine, &cfg, &p), -EINVAL);
	cfg.username = cfg.password = NULL;
	cfg.max_clients = 0;
	assert_int_equal(nt_proxy_new(w->loop, &w->engine, &cfg, &p), -EINVAL);
	assert_null(p);
}

static void test_proxy_listens_on_ipv4_and_ipv6(void **state)
{
	struct world *w = *state;
	struct sockaddr_storage ss[2] = {loopback4(0)};
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss[1], to;
	struct nt_proxy_config cfg;
	uint8_t buf[22];
	int fd;

	s6->sin6_family = AF_INET6;
	s6->sin6_addr = in6addr_loopback;
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)s6, sizeof(*s6)) < 0) {
		if (fd >= 0)
			close(fd);
		skip(); /* no IPv6 loopback here */
	}
	close(fd);
	nt_proxy_config_init(&cfg);
	cfg.listen = ss;
	cfg.listen_count = 2;
	assert_int_equal(nt_proxy_new(w->loop, &w->engine, &cfg, &w->proxy), 0);
	w->port = nt_proxy_bound_port(w->proxy, 0);
	assert_int_not_equal(w->port, 0);
	assert_int_not_equal(nt_proxy_bound_port(w->proxy, 1), 0);
	assert_int_equal(nt_proxy_bound_port(w->proxy, 2), 0);

	to = *s6;
	to.sin6_port = htons(nt_proxy_bound_port(w->proxy, 1));
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	client_send(fd, greet_none, sizeof(greet_none));
	client_recv(w, fd, buf, 2);
	assert_memory_equal(buf, ((uint8_t[]){0x05, 0x00}), 2);
	/* A UDP relay for an IPv6 client is on the IPv6 address it reached. */
	client_send(fd, ((uint8_t[]){0x05, 0x03, 0x00, 0x01, 0, 0, 0, 0, 0, 0}), 10);
	client_recv(w, fd, buf, 22);
	assert_int_equal(buf[1], 0x00);
	assert_int_equal(buf[3], NT_SOCKS5_ATYP_IPV6);
	assert_memory_equal(buf + 4, &in6addr_loopback, 16);
	close(fd);
	assert_true(run_until(w, proxy_idle, WAIT_MS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_socks5_connect_no_auth_bytes_both_ways,
					    world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(
		test_socks5_first_data_pipelined_behind_connect_reaches_remote, world_setup,
		world_teardown),
	    cmocka_unit_test_setup_teardown(test_socks5_domain_target_reaches_engine, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_socks5_auth_required_and_right_credentials_connect,
					    world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_socks5_wrong_password_refused_and_closed,
					    world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(
		test_socks5_auth_required_but_not_offered_gets_no_acceptable_method, world_setup,
		world_teardown),
	    cmocka_unit_test_setup_teardown(test_socks5_each_engine_failure_gets_its_reply_code,
					    world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_socks5_bind_and_malformed_requests_get_their_codes,
					    world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_socks5_malformed_greeting_refused, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(
		test_garbage_first_byte_closed_without_disturbing_session, world_setup,
		world_teardown),
	    cmocka_unit_test_setup_teardown(test_socks4_refused, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(
		test_client_closing_before_engine_answers_cancels_request, world_setup,
		world_teardown),
	    cmocka_unit_test_setup_teardown(
		test_first_data_larger_than_the_buffer_arrives_whole_and_in_order, world_setup,
		world_teardown),
	    cmocka_unit_test_setup_teardown(test_handshake_timeout_closes_slow_clients, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_max_clients_closes_extra_connections_at_once,
					    world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_max_clients_counts_connected_clients, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_udp_associate_round_trip_through_engine,
					    world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(
		test_udp_associate_named_port_refuses_other_ports_at_once, world_setup,
		world_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_free_closes_clients_in_progress, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_new_reports_address_in_use, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_new_refuses_bad_config, world_setup,
					    world_teardown),
	    cmocka_unit_test_setup_teardown(test_proxy_listens_on_ipv4_and_ipv6, world_setup,
					    world_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
