// SPDX-License-Identifier: MIT
/* The request/answer server (srv.h). */
#include "core/ctl/srv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "platform/log.h"
#include "platform/loop.h"

#define ACCEPTS_PER_WAKE 16 /* then the loop serves others */
#define DRAIN_BUF	 512

enum conn_state { READING, WRITING, DRAINING };

struct conn {
	struct conn *next, **pprev;
	struct nt_ctl_srv *srv;
	int fd;
	enum conn_state state;
	struct nt_timer timer;
	size_t len;
	char *answer;
	size_t answer_len, sent;
	char req[]; /* req_max + 1 */
};

struct nt_ctl_srv {
	struct nt_loop *loop;
	int fd;
	struct nt_ctl_srv_config cfg;
	struct nt_ctl_srv_ops ops;
	void *arg;
	struct conn *conns;
	size_t n;
	struct nt_ctl_srv_counters c;
};

static void conn_close(struct conn *c)
{
	struct nt_ctl_srv *s = c->srv;

	nt_timer_cancel(s->loop, &c->timer);
	nt_loop_forget_fd(s->loop, c->fd);
	close(c->fd);
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	s->n--;
	free(c->answer);
	free(c);
}

static void on_timeout(struct nt_loop *loop, struct nt_timer *t, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	(void)t;
	if (c->state != DRAINING)
		c->srv->c.timeouts++;
	conn_close(c);
}

static void drain(struct conn *c)
{
	char buf[DRAIN_BUF];
	ssize_t n;

	/* Bounded by the timer: a client that keeps sending is cut off. */
	do
		n = recv(c->fd, buf, sizeof(buf), 0);
	while (n > 0);
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		conn_close(c);
}

static void write_answer(struct conn *c)
{
	while (c->sent < c->answer_len) {
		ssize_t n = send(c->fd, c->answer + c->sent, c->answer_len - c->sent, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_close(c);
			return;
		}
		c->sent += (size_t)n;
	}
	c->srv->c.answered++;
	free(c->answer);
	c->answer = NULL;
	shutdown(c->fd, SHUT_WR);
	c->state = DRAINING;
	if (nt_loop_mod_fd(c->srv->loop, c->fd, NT_EV_READ) != 0)
		conn_close(c);
}

static void read_request(struct conn *c)
{
	struct nt_ctl_srv *s = c->srv;
	bool full;
	ssize_t n;
	int ret;

	n = recv(c->fd, c->req + c->len, s->cfg.req_max - c->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->req[c->len] = '\0';
	full = c->len == s->cfg.req_max;
	ret = s->ops.request(s->arg, c->req, c->len, full, &c->answer, &c->answer_len);
	if (ret == 0 && !full)
		return;
	if (ret <= 0) {
		if (full)
			s->c.too_large++;
		conn_close(c);
		return;
	}
	c->state = WRITING;
	if (nt_loop_mod_fd(s->loop, c->fd, NT_EV_WRITE) != 0) {
		conn_close(c);
		return;
	}
	write_answer(c);
}

static void on_conn(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	(void)fd;
	switch (c->state) {
	case READING:
		if (events & (NT_EV_READ | NT_EV_ERROR))
			read_request(c);
		break;
	case WRITING:
		write_answer(c);
		break;
	case DRAINING:
		drain(c);
		break;
	}
}

static void take(struct nt_ctl_srv *s, int fd)
{
	struct conn *c;

	if (s->n >= s->cfg.max_conns) {
		s->c.refused_full++;
		nt_debug(s->cfg.mod, "event=connection_refused reason=busy max=%zu",
			 s->cfg.max_conns);
		close(fd);
		return;
	}
	if (s->ops.admit && !s->ops.admit(s->arg, fd)) {
		s->c.refused_admit++;
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c) + s->cfg.req_max + 1);
	if (!c) {
		close(fd);
		return;
	}
	c->srv = s;
	c->fd = fd;
	nt_timer_init(&c->timer, on_timeout, c);
	if (nt_loop_add_fd(s->loop, fd, NT_EV_READ, on_conn, c) != 0 ||
	    nt_timer_arm(s->loop, &c->timer, (uint64_t)s->cfg.timeout_ms * 1000000ull) != 0) {
		nt_loop_forget_fd(s->loop, fd);
		close(fd);
		free(c);
		return;
	}
	c->next = s->conns;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &s->conns;
	s->conns = c;
	s->n++;
	s->c.accepted++;
}

static void on_listen(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct nt_ctl_srv *s = arg;

	(void)loop;
	(void)events;
	for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				nt_warn(s->cfg.mod, "event=accept_failed err=\"%s\"",
					strerror(errno));
			return;
		}
		take(s, cfd);
	}
}

int nt_ctl_srv_new(struct nt_loop *loop, int fd, const struct nt_ctl_srv_config *cfg,
		   const struct nt_ctl_srv_ops *ops, void *arg, struct nt_ctl_srv **out)
{
	struct nt_ctl_srv *s = calloc(1, sizeof(*s));
	int ret;

	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->loop = loop;
	s->fd = fd;
	s->cfg = *cfg;
	s->ops = *ops;
	s->arg = arg;
	ret = nt_loop_add_fd(loop, fd, NT_EV_READ, on_listen, s);
	if (ret) {
		close(fd);
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

void nt_ctl_srv_free(struct nt_ctl_srv *s)
{
	if (!s)
		return;
	while (s->conns)
		conn_close(s->conns);
	nt_loop_del_fd(s->loop, s->fd);
	close(s->fd);
	free(s);
}

void nt_ctl_srv_counters(const struct nt_ctl_srv *s, struct nt_ctl_srv_counters *out)
{
	*out = s->c;
}
