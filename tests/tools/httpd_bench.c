// SPDX-License-Identifier: MIT
/* httpd_bench: a minimal HTTP/1.x server for benchmarks, fast enough that the
 * proxy in front of it, not the server, is what a benchmark measures (Python's
 * http.server answers a few thousand requests a second; this one, one thread
 * and epoll, answers tens of thousands on loopback).
 *
 *   httpd_bench --listen IP:PORT [--body-bytes N] [--max-conns N] [--seconds S]
 *
 * Every request gets 200 with a body of --body-bytes bytes (default 64, at
 * most BODY_MAX), HEAD the head alone. A request body announced by
 * Content-Length is read and dropped; Transfer-Encoding (chunked bodies) is
 * not served: 400 and close. Keep-alive as HTTP/1.1 has it: an HTTP/1.1
 * request keeps the connection unless it says "Connection: close", an
 * HTTP/1.0 one only when it says "Connection: keep-alive". Pipelined requests
 * are answered in order, their answers written together.
 *
 * One connection:
 *
 *   reading --head complete--> [dropping its body] --> answer queued --> reading
 *   reading --answers queued, all written--> reading | closed (not kept alive)
 *   a write that meets EAGAIN --> waiting for EPOLLOUT (the socket is not read
 *   meanwhile, so a client that never reads cannot grow anything)
 *   reading --EOF, error, head over IN_MAX (431), bad head (400)--> closed
 *
 * Bounded: --max-conns connections (more are accepted and closed at once,
 * counted), IN_MAX bytes of request head, OUT_ANSWERS answers of output per connection.
 *
 * At start one line "listening IP:PORT" goes to stdout (the real port when
 * PORT is 0). At the end (--seconds, SIGINT or SIGTERM) one line of
 * key=value counters goes to stderr. Exit status 0, 1 on a system error, 2 on
 * bad arguments. Safety: --listen must be in 127.0.0.0/8 or ::1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define EXIT_FAIL  1
#define EXIT_USAGE 2

#define IN_MAX		  8192u
#define BODY_MAX	  65536u
#define HEAD_MAX	  256u
#define OUT_ANSWERS	  4u /* answers one output buffer holds */
#define DEFAULT_BODY	  64u
#define DEFAULT_MAX_CONNS 4096u
#define MAX_CONNS_LIMIT	  65536u
#define LISTEN_BACKLOG	  4096
#define ACCEPT_BATCH	  64
#define EPOLL_BATCH	  128

enum answer { ANSWER_KEEP_11, ANSWER_KEEP_10, ANSWER_CLOSE, ANSWER_COUNT };

struct args {
	struct sockaddr_storage listen;
	socklen_t listen_len;
	unsigned body_bytes;
	unsigned max_conns;
	unsigned seconds;
};

struct conn {
	int fd;
	bool close_after; /* close once out[] is written */
	bool want_out;	  /* registered for EPOLLOUT instead of EPOLLIN */
	size_t in_len;
	uint64_t body_left; /* request body bytes still to drop */
	size_t out_off, out_len;
	char in[IN_MAX];
	char out[]; /* out_max bytes: kept small, so that malloc never mmaps one */
};

struct counters {
	uint64_t accepted, rejected_full, requests, bad_requests, closed, resets, max_open;
};

struct server {
	struct args a;
	int ep, lfd, sfd, tfd;
	unsigned open;
	size_t out_max, answer_max;
	struct counters c;
	char heads[ANSWER_COUNT][HEAD_MAX];
	size_t head_len[ANSWER_COUNT];
	char body[BODY_MAX];
};

/* epoll data for the non-connection descriptors */
static char tag_listen, tag_signal, tag_timer;

static void usage(void)
{
	fprintf(stderr, "usage: httpd_bench --listen IP:PORT [--body-bytes N] [--max-conns N] "
			"[--seconds S]\n");
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* "127.0.0.1:8080" or "[::1]:8080" */
static int parse_addr(const char *s, struct args *a)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	const char *h = s;
	size_t hlen;
	unsigned port;

	if (!colon || parse_uint(colon + 1, 65535, &port) < 0)
		return -EINVAL;
	hlen = (size_t)(colon - s);
	if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
		h = s + 1;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&a->listen, 0, sizeof(a->listen));
	struct sockaddr_in *v4 = (struct sockaddr_in *)&a->listen;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->listen;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		a->listen_len = sizeof(*v4);
		return (ntohl(v4->sin_addr.s_addr) >> 24) == 127 ? 0 : -EPERM;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		a->listen_len = sizeof(*v6);
		return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) ? 0 : -EPERM;
	}
	return -EINVAL;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"body-bytes", required_argument, NULL, 'b'},
	    {"max-conns", required_argument, NULL, 'm'},
	    {"seconds", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	bool have_listen = false;
	int opt, ret;

	a->body_bytes = DEFAULT_BODY;
	a->max_conns = DEFAULT_MAX_CONNS;
	a->seconds = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			ret = parse_addr(optarg, a);
			if (ret < 0)
				return ret;
			have_listen = true;
			break;
		case 'b':
			if (parse_uint(optarg, BODY_MAX, &a->body_bytes) < 0)
				return -EINVAL;
			break;
		case 'm':
			if (parse_uint(optarg, MAX_CONNS_LIMIT, &a->max_conns) < 0 || !a->max_conns)
				return -EINVAL;
			break;
		case 's':
			if (parse_uint(optarg, 86400, &a->seconds) < 0)
				return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
	}
	return have_listen && optind == argc ? 0 : -EINVAL;
}

static void make_answers(struct server *s)
{
	static const char *const extra[ANSWER_COUNT] = {
	    [ANSWER_KEEP_11] = "",
	    [ANSWER_KEEP_10] = "Connection: keep-alive\r\n",
	    [ANSWER_CLOSE] = "Connection: close\r\n",
	};

	for (int i = 0; i < ANSWER_COUNT; i++)
		s->head_len[i] = (size_t)snprintf(s->heads[i], HEAD_MAX,
						  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
						  "Content-Length: %u\r\n%s\r\n",
						  s->a.body_bytes, extra[i]);
	memset(s->body, 'x', s->a.body_bytes);
	s->answer_max = HEAD_MAX + s->a.body_bytes;
	s->out_max = OUT_ANSWERS * s->answer_max;
}

/* ---- request heads ---- */

struct request {
	bool head_only, http10, conn_close, conn_keep, chunked, bad;
	uint64_t content_length;
};

static bool has_token(const char *v, size_t n, const char *token)
{
	size_t tl = strlen(token);

	for (size_t i = 0; i + tl <= n; i++)
		if (strncasecmp(v + i, token, tl) == 0)
			return true;
	return false;
}

static void parse_field(struct request *r, const char *line, size_t n)
{
	const char *colon = memchr(line, ':', n);
	size_t name_len, vlen;
	const char *v;

	if (!colon) {
		r->bad = true;
		return;
	}
	name_len = (size_t)(colon - line);
	v = colon + 1;
	vlen = n - name_len - 1;
	if (name_len == 10 && strncasecmp(line, "connection", 10) == 0) {
		r->conn_close |= has_token(v, vlen, "close");
		r->conn_keep |= has_token(v, vlen, "keep-alive");
	} else if (name_len == 14 && strncasecmp(line, "content-length", 14) == 0) {
		uint64_t len = 0;
		bool digits = false;
		for (size_t i = 0; i < vlen; i++) {
			if (v[i] >= '0' && v[i] <= '9' && len < (UINT64_C(1) << 40)) {
				len = len * 10 + (uint64_t)(v[i] - '0');
				digits = true;
			} else if (v[i] != ' ' && v[i] != '\t') {
				r->bad = true;
			}
		}
		r->bad |= !digits;
		r->content_length = len;
	} else if (name_len == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
		r->chunked = true;
	}
}

/* The head in buf[0, len) ending in CRLFCRLF: what the answer depends on. */
static void parse_head(const char *buf, size_t len, struct request *r)
{
	const char *end = buf + len;
	const char *eol = memchr(buf, '\n', len);
	size_t first = eol ? (size_t)(eol - buf) : len;

	memset(r, 0, sizeof(*r));
	if (first < 14 || buf[first - 1] != '\r') {
		r->bad = true;
		return;
	}
	r->head_only = first > 5 && memcmp(buf, "HEAD ", 5) == 0;
	if (memcmp(buf + first - 9, "HTTP/1.0", 8) == 0)
		r->http10 = true;
	else if (memcmp(buf + first - 9, "HTTP/1.1", 8) != 0)
		r->bad = true;
	for (const char *line = eol + 1; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
		if (n <= 1) /* the empty line */
			break;
		parse_field(r, line, n - 1);
		line += n + 1;
	}
}

/* ---- connections ---- */

static void conn_close(struct server *s, struct conn *c)
{
	close(c->fd); /* also leaves the epoll set */
	free(c);
	s->open--;
	s->c.closed++;
}

static int conn_want(struct server *s, struct conn *c, bool out)
{
	struct epoll_event ev = {.events = out ? EPOLLOUT : EPOLLIN, .data.ptr = c};

	if (c->want_out == out)
		return 0;
	c->want_out = out;
	return epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0 ? -errno : 0;
}

static void queue_answer(struct server *s, struct conn *c, const struct request *r)
{
	enum answer kind;
	size_t blen = r->head_only ? 0 : s->a.body_bytes;

	if (r->http10)
		kind = r->conn_keep && !r->conn_close ? ANSWER_KEEP_10 : ANSWER_CLOSE;
	else
		kind = r->conn_close ? ANSWER_CLOSE : ANSWER_KEEP_11;
	memcpy(c->out + c->out_len, s->heads[kind], s->head_len[kind]);
	c->out_len += s->head_len[kind];
	memcpy(c->out + c->out_len, s->body, blen);
	c->out_len += blen;
	c->close_after = kind == ANSWER_CLOSE;
	s->c.requests++;
}

static void queue_error(struct server *s, struct conn *c, const char *status)
{
	int n = snprintf(c->out + c->out_len, s->out_max - c->out_len,
			 "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);

	c->out_len += n > 0 ? (size_t)n : 0;
	c->close_after = true;
	s->c.bad_requests++;
}

/* Answers every complete request in in[] while out[] has room for one more. */
static void conn_parse(struct server *s, struct conn *c)
{
	size_t off = 0;

	while (!c->close_after) {
		if (c->body_left) {
			size_t take =
			    c->in_len - off < c->body_left ? c->in_len - off : c->body_left;
			off += take;
			c->body_left -= take;
			if (c->body_left)
				break;
		}
		if (s->out_max - c->out_len < s->answer_max)
			break;
		char *start = c->in + off;
		size_t avail = c->in_len - off;
		char *endh = memmem(start, avail, "\r\n\r\n", 4);
		if (!endh) {
			if (off == 0 && avail == IN_MAX)
				queue_error(s, c, "431 Request Header Fields Too Large");
			break;
		}
		size_t hlen = (size_t)(endh - start) + 4;
		struct request r;
		parse_head(start, hlen, &r);
		off += hlen;
		if (r.bad || r.chunked) {
			queue_error(s, c, "400 Bad Request");
			break;
		}
		c->body_left = r.content_length;
		queue_answer(s, c, &r);
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

/* Writes what out[] holds; 1 when all is written, 0 on EAGAIN, <0 on error. */
static int conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN ? 0 : (errno == EINTR ? 0 : -errno);
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return 1;
}

static void conn_event(struct server *s, struct conn *c, uint32_t events)
{
	int ret;

	if (!c->want_out && c->in_len < IN_MAX && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
		ssize_t n = recv(c->fd, c->in + c->in_len, IN_MAX - c->in_len, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			s->c.resets += n < 0;
			conn_close(s, c);
			return;
		}
		if (n > 0)
			c->in_len += (size_t)n;
	}
	for (;;) {
		conn_parse(s, c);
		ret = conn_flush(c);
		if (ret < 0) {
			s->c.resets++;
			conn_close(s, c);
			return;
		}
		if (ret == 0) /* the socket is full: wait, without reading */
			break;
		if (c->close_after) {
			conn_close(s, c);
			return;
		}
		/* all written: answer what was held back for lack of room */
		if (!c->in_len || c->body_left || !memmem(c->in, c->in_len, "\r\n\r\n", 4))
			break;
	}
	if (conn_want(s, c, ret == 0) < 0)
		conn_close(s, c);
}

static void server_accept(struct server *s)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int one = 1, fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or out of descriptors: the backlog waits */
		s->c.accepted++;
		struct conn *c = s->open < s->a.max_conns ? malloc(sizeof(*c) + s->out_max) : NULL;
		if (!c) {
			s->c.rejected_full++;
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->close_after = c->want_out = false;
		c->in_len = c->out_off = c->out_len = 0;
		c->body_left = 0;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		s->open++;
		if (s->open > s->c.max_open)
			s->c.max_open = s->open;
	}
}

/* ---- set-up ---- */

static int add_fd(struct server *s, int fd, void *tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};

	return epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int server_open(struct server *s)
{
	int one = 1;
	sigset_t mask;

	s->lfd = s->sfd = s->tfd = -1;
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (s->ep < 0)
		return -errno;
	s->lfd = socket(s->a.listen.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0)
		return -errno;
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->lfd, (struct sockaddr *)&s->a.listen, s->a.listen_len) < 0 ||
	    listen(s->lfd, LISTEN_BACKLOG) < 0)
		return -errno;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	s->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sfd < 0)
		return -errno;
	if (s->a.seconds) {
		struct itimerspec its = {.it_value = {.tv_sec = s->a.seconds}};
		s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (s->tfd < 0 || timerfd_settime(s->tfd, 0, &its, NULL) < 0)
			return -errno;
		if (add_fd(s, s->tfd, &tag_timer) < 0)
			return -errno;
	}
	if (add_fd(s, s->lfd, &tag_listen) < 0 || add_fd(s, s->sfd, &tag_signal) < 0)
		return -errno;
	return 0;
}

static void print_listening(const struct server *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;

	if (getsockname(s->lfd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
			port = ntohs(v4->sin_port);
		} else {
			struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
			port = ntohs(v6->sin6_port);
		}
	}
	printf(ss.ss_family == AF_INET6 ? "listening [%s]:%u\n" : "listening %s:%u\n", host, port);
	fflush(stdout);
}

static int server_run(struct server *s)
{
	struct epoll_event evs[EPOLL_BATCH];

	for (;;) {
		int n = epoll_wait(s->ep, evs, EPOLL_BATCH, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &tag_signal || p == &tag_timer)
				return 0;
			if (p == &tag_listen)
				server_accept(s);
			else
				conn_event(s, p, evs[i].events);
		}
	}
}

static void report(const struct server *s)
{
	fprintf(stderr,
		"accepted=%llu rejected_full=%llu requests=%llu bad_requests=%llu closed=%llu "
		"resets=%llu max_open=%llu open=%u\n",
		(unsigned long long)s->c.accepted, (unsigned long long)s->c.rejected_full,
		(unsigned long long)s->c.requests, (unsigned long long)s->c.bad_requests,
		(unsigned long long)s->c.closed, (unsigned long long)s->c.resets,
		(unsigned long long)s->c.max_open, s->open);
}

int main(int argc, char **argv)
{
	static struct server s;
	int ret;

	ret = parse_args(argc, argv, &s.a);
	if (ret == -EPERM) {
		fprintf(stderr,
			"httpd_bench: refusing a listen address outside 127.0.0.0/8 and ::1\n");
		return EXIT_USAGE;
	}
	if (ret < 0) {
		usage();
		return EXIT_USAGE;
	}
	make_answers(&s);
	ret = server_open(&s);
	if (ret == 0) {
		print_listening(&s);
		ret = server_run(&s);
		report(&s);
	} else {
		fprintf(stderr, "httpd_bench: %s\n", strerror(-ret));
	}
	/* open connections die with the process; the kernel closes them */
	return ret < 0 ? EXIT_FAIL : 0;
}
