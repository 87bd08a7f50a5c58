// SPDX-License-Identifier: MIT
/* What the HTTP proxy keeps across its clients: idle connections to
 * destinations and empty pipes (see http_pool.h).
 *
 * A slot is free (seq 0) or holds a parked connection:
 *
 *   http_conn.c --nt_http_pool_put--> parked --nt_http_pool_take--> a client's
 *                                       |
 *      data, EOF or an error on it -----+--> closed (upstream_pool_dropped)
 *      pool_idle_ms since its last exchange (the pool's timer) --> closed (expired)
 *      the oldest, when a connection is parked in a full pool --> closed (evicted)
 *      nt_http_proxy_fini --> closed
 *
 * Timer (one for the pool): at the earliest idle_since + pool_idle_ms of
 * the parked connections, or before: it is moved only ever earlier, and
 * taking a connection out leaves it armed; when it finds nothing due it
 * re-arms for what is left.
 *
 * A parked connection is closed quietly (FIN, not reset): the server
 * answered everything asked on it.
 */
#include "proxy/http_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netstack/flow.h"
#include "platform/log.h"
#include "platform/sockaddr.h"
#include "proxy/http_conn.h"

#define MOD "http"

bool nt_http_same_target(const struct nt_target *a, const struct nt_target *b)
{
	if (a->kind != b->kind || a->port != b->port)
		return false;
	if (a->kind == NT_TARGET_NAME)
		return strcmp(a->name, b->name) == 0;
	return memcmp(a->addr, b->addr, a->kind == NT_TARGET_IPV4 ? 4 : 16) == 0;
}

/* ---- pipes ---- */

int nt_http_pipe_get(struct nt_http_proxy *hp, int fds[2])
{
	struct nt_http_pool *pl = &hp->pool;

	if (pl->npipes > 0) {
		pl->npipes--;
		fds[0] = pl->pipes[pl->npipes][0];
		fds[1] = pl->pipes[pl->npipes][1];
		return 0;
	}
	return pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0 ? -errno : 0;
}

void nt_http_pipe_put(struct nt_http_proxy *hp, const int fds[2], bool empty)
{
	struct nt_http_pool *pl = &hp->pool;

	if (empty && pl->npipes < NT_HTTP_PIPE_POOL) {
		pl->pipes[pl->npipes][0] = fds[0];
		pl->pipes[pl->npipes][1] = fds[1];
		pl->npipes++;
		return;
	}
	close(fds[0]);
	close(fds[1]);
}

/* ---- connections ---- */

void nt_http_up_close(struct nt_http_proxy *hp, struct nt_loop *loop, struct nt_http_up *u,
		      bool abort)
{
	if (u->flow) {
		if (abort)
			nt_flow_abort(u->flow);
		else
			nt_flow_close(u->flow);
		/* Everything put in it was read: empty, as a new one. */
		nt_http_pipe_put(hp, u->pipe, u->piped == 0);
	} else if (u->fd >= 0) {
		/* No dup of it: closing leaves the epoll set. */
		nt_loop_forget_fd(loop, u->fd);
		if (abort)
			nt_socket_reset_close(u->fd);
		else
			close(u->fd);
	}
	memset(u, 0, sizeof(*u));
	u->fd = -1;
}

/* ---- the pool ---- */

static void slot_close(struct nt_http_pool_slot *s)
{
	struct nt_http_pool *pl = &s->hp->pool;

	nt_http_up_close(s->hp, pl->loop, &s->up, false);
	s->seq = 0;
	pl->n--;
}

static void on_parked_flow(void *arg, struct nt_flow *f, enum nt_flow_event ev)
{
	struct nt_http_pool_slot *s = arg;

	(void)f;
	/* Room to write changes nothing; anything else makes it useless. */
	if (!s->seq || ev == NT_FLOW_WRITABLE || ev == NT_FLOW_CONNECTED)
		return;
	s->hp->c.upstream_pool_dropped++;
	nt_debug(MOD, "event=pooled_dropped via=tunnel ev=%d", (int)ev);
	slot_close(s);
}

static const struct nt_flow_ops parked_flow_ops = {.event = on_parked_flow};

static void on_parked_fd(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct nt_http_pool_slot *s = arg;
	uint8_t b;

	(void)loop;
	if (!s->seq)
		return;
	/* A readiness of the batch that parked it may be its former owner's
	 * and stale: only what is there counts. Nothing is asked on a parked
	 * connection: readable means EOF, an error, or bytes nobody can
	 * answer for. */
	if (!(events & NT_EV_ERROR) && recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	s->hp->c.upstream_pool_dropped++;
	nt_debug(MOD, "event=pooled_dropped via=direct");
	slot_close(s);
}

static uint64_t idle_ns(const struct nt_http_proxy *hp)
{
	return (uint64_t)hp->cfg.pool_idle_ms * 1000000u;
}

/* Earlier only: a timer that finds nothing due re-arms for what is left,
 * which saves re-arming it on every put. */
static void pool_arm(struct nt_http_pool *pl, uint64_t at)
{
	if (pl->deadline && pl->deadline <= at)
		return;
	if (nt_timer_arm_at(pl->loop, &pl->timer, at) == 0)
		pl->deadline = at;
}

static void on_pool_timer(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct nt_http_proxy *hp = arg;
	struct nt_http_pool *pl = &hp->pool;
	uint64_t now = nt_loop_now(loop), idle = idle_ns(hp), first = 0, at;
	size_t i;

	(void)timer;
	pl->deadline = 0;
	for (i = 0; i < NT_HTTP_UP_POOL && pl->n > 0; i++) {
		if (!pl->slots[i].seq)
			continue;
		at = pl->slots[i].up.idle_since + idle;
		if (at <= now) {
			hp->c.upstream_pool_expired++;
			slot_close(&pl->slots[i]);
		} else if (first == 0 || at < first) {
			first = at;
		}
	}
	if (first)
		pool_arm(pl, first);
}

void nt_http_pool_put(struct nt_http_proxy *hp, struct nt_loop *loop, struct nt_http_up *u)
{
	struct nt_http_pool *pl = &hp->pool;
	struct nt_http_pool_slot *s = NULL;
	uint64_t now = nt_loop_now(loop);
	size_t i;

	if (!u->idle_since)
		u->idle_since = now;
	if (hp->cfg.pool_idle_ms == 0 || u->idle_since + idle_ns(hp) <= now) {
		nt_http_up_close(hp, loop, u, false);
		return;
	}
	if (!pl->loop) {
		pl->loop = loop;
		nt_timer_init(&pl->timer, on_pool_timer, hp);
	}
	for (i = 0; i < NT_HTTP_UP_POOL; i++) {
		if (!pl->slots[i].seq) {
			s = &pl->slots[i];
			break;
		}
		if (!s || pl->slots[i].seq < s->seq)
			s = &pl->slots[i];
	}
	if (s->seq) {
		hp->c.upstream_pool_evicted++;
		slot_close(s);
	}
	s->hp = hp;
	s->seq = ++pl->seq;
	s->up = *u;
	pl->n++;
	memset(u, 0, sizeof(*u));
	u->fd = -1;
	hp->c.upstream_pooled++;
	if (s->up.flow) {
		nt_flow_set_ops(s->up.flow, &parked_flow_ops, s);
	} else if (nt_loop_take_fd(loop, s->up.fd, NT_EV_READ, on_parked_fd, s) == 0) {
		/* A system call only when it was not watched for reading. */
		s->up.watched = true;
		s->up.events = NT_EV_READ;
	} else {
		s->up.watched = false; /* found dead when taken, or expires */
	}
	s->up.write_blocked = false;
	pool_arm(pl, s->up.idle_since + idle_ns(hp));
}

bool nt_http_pool_take(struct nt_http_proxy *hp, const struct nt_target *target,
		       struct nt_http_up *out)
{
	struct nt_http_pool *pl = &hp->pool;
	struct nt_http_pool_slot *s = NULL, *t;
	uint64_t now, due;
	size_t i;

	if (pl->n == 0)
		return false;
	now = nt_loop_now(pl->loop);
	due = now > idle_ns(hp) ? now - idle_ns(hp) : 0;
	for (i = 0; i < NT_HTTP_UP_POOL && pl->n > 0; i++) {
		t = &pl->slots[i];
		if (!t->seq || !nt_http_same_target(&t->up.target, target))
			continue;
		if (t->up.idle_since <= due) {
			/* Its time is up, the timer just did not run yet. */
			hp->c.upstream_pool_expired++;
			slot_close(t);
		} else if (!s || t->seq > s->seq) {
			s = t;
		}
	}
	if (!s)
		return false;
	*out = s->up;
	memset(&s->up, 0, sizeof(s->up));
	s->up.fd = -1;
	s->seq = 0;
	pl->n--;
	return true;
}

void nt_http_proxy_fini(struct nt_http_proxy *hp)
{
	struct nt_http_pool *pl = &hp->pool;
	size_t i;

	for (i = 0; i < NT_HTTP_UP_POOL && pl->n > 0; i++)
		if (pl->slots[i].seq)
			slot_close(&pl->slots[i]);
	if (pl->loop)
		nt_timer_cancel(pl->loop, &pl->timer);
	pl->deadline = 0;
	while (pl->npipes > 0) {
		pl->npipes--;
		close(pl->pipes[pl->npipes][0]);
		close(pl->pipes[pl->npipes][1]);
	}
}
