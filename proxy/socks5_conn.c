// SPDX-License-Identifier: MIT
/* One SOCKS5 client, from its first byte to the splice (or to the end of its
 * UDP association).
 *
 *   GREETING --select 0x00-----------------------------> REQUEST
 *            --select 0x02--> AUTH --status 0x00------^
 *                                  --status 0x01-----> CLOSING
 *            --0xff (no acceptable method, malformed)--> CLOSING
 *   REQUEST  --CONNECT--> CONNECTING --engine: connected--> reply sent --> splice
 *                                    --engine: failed-----> CLOSING (REP: nt_fail_socks5)
 *            --UDP ASSOCIATE--> UDP --control connection closed--> closed
 *            --BIND (0x07), malformed (0x01, 0x07, 0x08)--> CLOSING
 *   CLOSING: the last reply is flushed, then the socket is closed.
 *
 * Timer: the handshake deadline (set at accept) runs through GREETING..REQUEST
 * and stops while the engine works (the engine bounds that by its own
 * ConnectTimeout). A last refusal the client does not read gets one
 * handshake timeout more, then the client is dropped.
 *
 * A connection is never held waiting for the client: the success reply is
 * written at once (the socket's send buffer has room for it: less than 30
 * bytes ever went before it), and whatever the write says, the connection
 * goes to the splice or is released at once.
 *
 * Input: one bounded buffer, large enough for the longest message; each
 * message is consumed as it completes. Bytes behind the request (a client
 * that sends its first data right after CONNECT) stay in the buffer while the
 * engine works and go to the remote first. A client that closes (or half
 * closes: the two are alike to a reader) while the engine works cancels its
 * request; once the buffer is full, reading stops and a close is only seen
 * when the engine answers (within its ConnectTimeout).
 */
#include "proxy/socks5_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "platform/log.h"
#include "platform/loop.h"
#include "proxy/conn_life.h"
#include "proxy/socks5.h"
#include "netstack/splice.h"

#define MOD "socks5"

/* The longest message is the RFC 1929 auth (513 bytes); the rest holds the
 * client's first data while the engine connects. */
#define IN_MAX 1024
/* At most a method selection, an auth status and a reply are ever queued. */
#define OUT_MAX 32

enum state { S_GREETING, S_AUTH, S_REQUEST, S_CONNECTING, S_UDP, S_CLOSING };

struct conn {
	struct nt_proxy_client link; /* first: the proxy's list holds &link */
	struct nt_proxy *p;
	struct nt_proxy_counters *stats;
	struct nt_loop *loop;
	int fd;
	enum state state;
	uint32_t events; /* as registered with the loop */
	struct nt_timer timer;
	struct nt_engine_req *req;
	struct nt_socks5_udp *udp;
	struct nt_conn_life life; /* a CONNECT's, until the splice takes it */
	size_t in_len;
	size_t out_off, out_len;
	uint8_t out[OUT_MAX];
	uint8_t in[IN_MAX];
};

static bool out_pending(const struct conn *c)
{
	return c->out_off < c->out_len;
}

/* ---- teardown ---- */

static void conn_free(struct conn *c)
{
	nt_timer_cancel(c->loop, &c->timer);
	nt_conn_life_end(&c->life, c->req ? "the client left before the connection was made"
					  : "the client left");
	if (c->req) {
		nt_engine_cancel(c->req);
		c->req = NULL;
		c->stats->engine_canceled++;
	}
	if (c->udp)
		nt_socks5_udp_close(c->udp);
	if (c->fd >= 0) {
		nt_loop_forget_fd(c->loop, c->fd); /* no dup of it: close suffices */
		if (c->state == S_CLOSING)
			nt_proxy_close_gently(c->fd);
		else
			close(c->fd);
	}
	/* The buffer may hold part of a password. */
	sodium_memzero(c->in, c->in_len);
	nt_proxy_client_remove(c->p, &c->link);
	free(c);
}

static void conn_destroy(struct nt_proxy_client *link)
{
	conn_free((struct conn *)link);
}

/* ---- output ---- */

static void update_events(struct conn *c)
{
	uint32_t ev = 0;

	switch (c->state) {
	case S_GREETING:
	case S_AUTH:
	case S_REQUEST:
	case S_UDP:
		ev = NT_EV_READ;
		break;
	case S_CONNECTING:
		ev = c->in_len < IN_MAX ? NT_EV_READ : 0;
		break;
	case S_CLOSING:
		break;
	}
	if (out_pending(c))
		ev |= NT_EV_WRITE;
	if (ev != c->events && nt_loop_mod_fd(c->loop, c->fd, ev) == 0)
		c->events = ev;
}

static void push(struct conn *c, const uint8_t *msg, size_t len)
{
	if (!out_pending(c))
		c->out_off = c->out_len = 0;
	/* Cannot overflow: one greeting, one auth and one request per client. */
	if (c->out_len + len > OUT_MAX)
		return;
	memcpy(c->out + c->out_len, msg, len);
	c->out_len += len;
}

/* 0 when everything is sent, -EAGAIN when the socket is full, else the
 * socket's error. */
static int flush(struct conn *c)
{
	ssize_t n;

	while (out_pending(c)) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		c->out_off += (size_t)n;
	}
	return 0;
}

static void start_splice(struct conn *c, const struct nt_open_result *res)
{
	int fd = c->fd, rc;

	c->fd = -1; /* with its registration: the splice takes both over */
	rc = nt_conn_life_splice(&c->life, fd, res, c->in, c->in_len);
	if (rc < 0) {
		c->stats->splice_failed++;
		nt_warn(MOD, "event=splice_failed err=\"%s\"", strerror(-rc));
	}
	conn_free(c);
}

/* Sends what is queued; a refusal, once sent, closes. Returns false when c
 * is gone. */
static bool advance(struct conn *c)
{
	int rc = flush(c);

	if (rc == -EAGAIN) {
		if (c->state == S_CLOSING && !nt_timer_armed(&c->timer))
			nt_timer_arm(c->loop, &c->timer, nt_proxy_handshake_timeout_ns(c->p));
		update_events(c);
		return true;
	}
	if (rc < 0 || c->state == S_CLOSING) {
		if (rc < 0 && c->state != S_CLOSING)
			c->stats->closed_early++;
		conn_free(c);
		return false;
	}
	update_events(c);
	return true;
}

static void refuse_request(struct conn *c, uint8_t rep)
{
	uint8_t msg[NT_SOCKS5_REPLY_MAX];

	push(c, msg, nt_socks5_build_reply(msg, rep, NULL, 0));
	c->state = S_CLOSING;
}

/* ---- the engine's answer ---- */

static void on_open(void *arg, const struct nt_open_result *res)
{
	struct conn *c = arg;
	uint8_t msg[NT_SOCKS5_REPLY_MAX];
	enum nt_fail fail = res->fail;
	struct sockaddr_storage bound;
	socklen_t blen;

	c->req = NULL;
	nt_conn_life_opened(&c->life, res);
	if (fail == NT_FAIL_NONE && !res->flow && res->fd < 0)
		fail = NT_FAIL_GENERAL; /* nothing to splice: not a success */
	if (fail != NT_FAIL_NONE) {
		if ((unsigned)fail < NT_FAIL_COUNT)
			c->stats->connect_failed[fail]++;
		nt_conn_life_end(&c->life, nt_fail_text(fail));
		refuse_request(c, nt_fail_socks5(fail));
		(void)advance(c);
		return;
	}
	c->stats->connect_ok++;
	bound = res->bound;
	blen = res->bound_len;
	if (!blen && res->fd >= 0) {
		blen = sizeof(bound);
		if (getsockname(res->fd, (struct sockaddr *)&bound, &blen) != 0)
			blen = 0; /* BND.ADDR 0.0.0.0:0 */
	}
	push(c, msg,
	     nt_socks5_build_reply(msg, NT_SOCKS5_REP_SUCCEEDED, (struct sockaddr *)&bound, blen));
	if (flush(c) < 0) {
		/* Gone, or (never seen) a send buffer without room for 22 bytes:
		 * either way the reply cannot be followed by the stream. */
		c->stats->closed_early++;
		nt_proxy_release_result(res);
		conn_free(c);
		return;
	}
	start_splice(c, res);
}

/* ---- input ---- */

static void consume(struct conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	/* The stale tail may hold credentials. */
	sodium_memzero(c->in + c->in_len - n, n);
	c->in_len -= n;
}

static int on_greeting(struct conn *c)
{
	struct nt_socks5_greeting g;
	uint8_t reply, msg[2], m;
	int n = nt_socks5_parse_greeting(c->in, c->in_len, &g, &reply);

	if (n == 0)
		return 0;
	if (n < 0) {
		c->stats->malformed++;
		push(c, msg, nt_socks5_build_method(msg, reply));
		c->state = S_CLOSING;
		return 0;
	}
	consume(c, (size_t)n);
	m = nt_socks5_choose_method(&g, nt_proxy_username(c->p) != NULL);
	push(c, msg, nt_socks5_build_method(msg, m));
	if (m == NT_SOCKS5_METHOD_NO_ACCEPTABLE) {
		c->stats->no_acceptable_method++;
		nt_debug(MOD, "event=no_acceptable_method");
		c->state = S_CLOSING;
		return 0;
	}
	c->state = m == NT_SOCKS5_METHOD_USERPASS ? S_AUTH : S_REQUEST;
	return n;
}

static int on_auth(struct conn *c)
{
	struct nt_socks5_auth a;
	const char *user = nt_proxy_username(c->p);
	uint8_t reply, msg[2];
	int n = nt_socks5_parse_auth(c->in, c->in_len, &a, &reply);
	bool ok;

	if (n == 0)
		return 0;
	if (n < 0) {
		c->stats->auth_failed++;
		push(c, msg, nt_socks5_build_auth_status(msg, reply));
		c->state = S_CLOSING;
		return 0;
	}
	/* Without configured credentials, a client that only offered
	 * username/password gets in with any. */
	ok = !user || nt_socks5_auth_check(&a, user, nt_proxy_password(c->p));
	nt_socks5_auth_wipe(&a);
	consume(c, (size_t)n);
	push(c, msg,
	     nt_socks5_build_auth_status(msg, ok ? NT_SOCKS5_AUTH_OK : NT_SOCKS5_AUTH_FAILURE));
	if (!ok) {
		c->stats->auth_failed++;
		nt_info(MOD, "event=auth_failed");
		c->state = S_CLOSING;
		return 0;
	}
	c->state = S_REQUEST;
	return n;
}

static void start_udp(struct conn *c, const struct nt_target *hint)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	uint8_t msg[NT_SOCKS5_REPLY_MAX];
	int rc = nt_socks5_udp_open(c->p, c->fd, hint, &c->udp, &bound, &blen);

	if (rc < 0) {
		nt_warn(MOD, "event=udp_associate_failed err=\"%s\"", strerror(-rc));
		refuse_request(c, NT_SOCKS5_REP_GENERAL);
		return;
	}
	push(c, msg,
	     nt_socks5_build_reply(msg, NT_SOCKS5_REP_SUCCEEDED, (struct sockaddr *)&bound, blen));
	/* The control connection carries nothing more (RFC 1928, 7). */
	sodium_memzero(c->in, c->in_len);
	c->in_len = 0;
	c->state = S_UDP;
}

static int on_request(struct conn *c)
{
	struct nt_socks5_request req;
	char host[NT_TARGET_NAME_MAX + 1];
	uint8_t reply;
	int n = nt_socks5_parse_request(c->in, c->in_len, &req, &reply);
	int rc;

	if (n == 0)
		return 0;
	if (n < 0) {
		if (reply == NT_SOCKS5_REP_CMD_UNSUPPORTED)
			c->stats->cmd_unsupported++;
		else if (reply == NT_SOCKS5_REP_ATYP_UNSUPPORTED)
			c->stats->atyp_unsupported++;
		else
			c->stats->malformed++;
		refuse_request(c, reply);
		return 0;
	}
	consume(c, (size_t)n);
	nt_timer_cancel(c->loop, &c->timer); /* negotiation done */
	switch (req.cmd) {
	case NT_SOCKS5_CMD_CONNECT:
		nt_debug(MOD, "event=connect target=%s port=%u",
			 nt_target_host(&req.target, host, sizeof(host)), req.target.port);
		nt_conn_life_begin(&c->life, c->loop, c->fd, &req.target);
		rc = nt_engine_open_tcp(nt_proxy_engine(c->p), &req.target, on_open, c, &c->req);
		if (rc < 0) {
			c->req = NULL;
			nt_conn_life_end(&c->life, nt_fail_text(NT_FAIL_GENERAL));
			c->stats->connect_failed[NT_FAIL_GENERAL]++;
			refuse_request(c, NT_SOCKS5_REP_GENERAL);
			break;
		}
		c->life.r.cid = nt_engine_req_id(c->req);
		c->state = S_CONNECTING;
		break;
	case NT_SOCKS5_CMD_UDP_ASSOCIATE:
		start_udp(c, &req.target);
		break;
	default: /* BIND: nothing here can accept a connection for the client */
		c->stats->cmd_unsupported++;
		refuse_request(c, NT_SOCKS5_REP_CMD_UNSUPPORTED);
		break;
	}
	return 0;
}

/* Parses every complete message in the buffer; then sends the answers. */
static void process(struct conn *c)
{
	int n;

	do {
		switch (c->state) {
		case S_GREETING:
			n = on_greeting(c);
			break;
		case S_AUTH:
			n = on_auth(c);
			break;
		case S_REQUEST:
			n = on_request(c);
			break;
		default:
			n = 0;
			break;
		}
	} while (n > 0);
	(void)advance(c);
}

static void on_readable(struct conn *c)
{
	uint8_t *dst = c->in + c->in_len;
	size_t room = IN_MAX - c->in_len;
	ssize_t n;

	if (c->state == S_UDP) {
		dst = c->in; /* read and dropped: only the close matters */
		room = IN_MAX;
	}
	if (room == 0)
		return;
	n = recv(c->fd, dst, room, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		if (c->state == S_UDP)
			nt_debug(MOD, "event=udp_association_end");
		else
			c->stats->closed_early++;
		conn_free(c);
		return;
	}
	if (c->state == S_UDP)
		return;
	c->in_len += (size_t)n;
	if (c->state == S_CONNECTING) {
		update_events(c); /* stop reading when full */
		return;
	}
	process(c);
}

static void on_fd(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	(void)fd;
	if ((events & (NT_EV_WRITE | NT_EV_ERROR)) && out_pending(c) && !advance(c))
		return;
	if (!(events & (NT_EV_READ | NT_EV_ERROR)))
		return;
	switch (c->state) {
	case S_CLOSING:
		return; /* not reading; the output path notices errors */
	case S_CONNECTING:
		if (c->in_len == IN_MAX) {
			if (events & NT_EV_ERROR) {
				c->stats->closed_early++;
				conn_free(c);
			}
			return;
		}
		break;
	default:
		break;
	}
	on_readable(c);
}

static void on_timer(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	(void)timer;
	if (c->state <= S_REQUEST) {
		c->stats->handshake_timeouts++;
		nt_debug(MOD, "event=handshake_timeout state=%d", c->state);
	}
	conn_free(c);
}

int nt_socks5_conn_start(struct nt_proxy *p, int fd, uint64_t deadline_ns)
{
	struct conn *c = calloc(1, sizeof(*c));
	int rc = -ENOMEM;

	if (!c)
		goto err_close;
	c->p = p;
	c->stats = nt_proxy_stats(p);
	c->loop = nt_proxy_loop(p);
	c->fd = fd;
	c->state = S_GREETING;
	c->link.destroy = conn_destroy;
	nt_timer_init(&c->timer, on_timer, c);
	rc = nt_timer_arm_at(c->loop, &c->timer, deadline_ns);
	if (rc < 0)
		goto err_free;
	rc = nt_loop_take_fd(c->loop, fd, NT_EV_READ, on_fd, c);
	if (rc < 0)
		goto err_timer;
	c->events = NT_EV_READ;
	nt_proxy_client_add(p, &c->link);
	/* The greeting is usually here already: no need to wait for the loop. */
	on_readable(c);
	return 0;

err_timer:
	nt_timer_cancel(c->loop, &c->timer);
err_free:
	free(c);
err_close:
	nt_loop_forget_fd(nt_proxy_loop(p), fd);
	close(fd);
	return rc;
}
