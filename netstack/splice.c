// SPDX-License-Identifier: MIT
/* The splice between a proxy client and its remote end.
 *
 * Two directions, each closed on its own:
 *
 *   up   (client -> remote)  OPEN --client EOF--> FIN to the remote --> DONE
 *   down (remote -> client)  OPEN --remote EOF--> shutdown(client, SHUT_WR) --> DONE
 *
 *   both DONE ------------------------------------------> closed (normal)
 *   client reset / read or write error on it -------------> remote reset (RST)
 *   remote reset / flow error / error on its socket ------> client reset (SO_LINGER 0)
 *   client hung up (it cannot receive any more) and its data is forwarded
 *     -----------------------------------------------------> remote closed (client_gone)
 *   the same on the remote socket ------------------------> client closed (remote_gone)
 *
 * No timers. Flow-backed: the client is watched for reading only while the
 * flow has send space (-ENOBUFS stops it until NT_FLOW_WRITABLE), for
 * writing only while received data waits for it (-EAGAIN from the flow's
 * read_to_fd). Socket-to-socket: one buffer per direction, allocated while
 * bytes are in transit and freed when they are delivered; a source is read
 * only while its buffer is empty, its destination watched for writing only
 * while the buffer is not.
 *
 * A socket that reported a hang-up (EPOLLHUP without an error) keeps firing,
 * so it is left out of the loop whenever there is nothing to wait for on it.
 */
#include "netstack/splice.h"

#include "netstack/flow.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "platform/sockaddr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MOD "splice"

#define CLIENT 0
#define REMOTE 1

#define FD_ROUNDS 8 /* reads and writes per direction per event */

enum cause {
	C_NORMAL,
	C_CLIENT_ERR,
	C_REMOTE_ERR,
	C_CLIENT_GONE,
	C_REMOTE_GONE,
	C_NOMEM,
	C_SHUTDOWN,
	C_OWNER,
};

struct dir {
	uint8_t *buf; /* socket-to-socket only */
	size_t cap, off, len;
	bool eof;  /* the source said EOF */
	bool done; /* EOF passed on */
};

struct nt_splice {
	struct nt_splice *next, *prev;
	struct nt_loop *loop;
	int fd[2];
	bool watched[2];
	uint32_t events[2];
	bool hup[2];
	struct nt_flow *flow; /* REMOTE is a flow when set */
	bool up_blocked;      /* the flow's send space is full */
	bool down_blocked;    /* the client's socket is full */
	uint8_t *pending;     /* flow-backed: pending bytes that did not fit yet */
	size_t pending_len;
	struct dir up, down;
	unsigned hold;
	bool dead;
	enum cause cause;
	uint64_t moved_up, moved_down; /* this splice's bytes */
	nt_splice_done_fn done;	       /* optional: told when it ends */
	void *done_arg;
};

static struct nt_splice *splices;
static struct nt_splice_stats stats;

static void hold(struct nt_splice *s)
{
	s->hold++;
}

static void release(struct nt_splice *s)
{
	if (--s->hold == 0 && s->dead)
		free(s);
}

static int sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return 0; /* not a socket: a hang-up */
	return err;
}

static void unwatch(struct nt_splice *s, int end)
{
	if (s->watched[end])
		nt_loop_del_fd(s->loop, s->fd[end]);
	s->watched[end] = false;
}

/* Ends the splice: both ends closed or reset as the cause says. */
static void splice_end(struct nt_splice *s, enum cause why)
{
	bool shut = why == C_SHUTDOWN || why == C_OWNER;
	bool reset_client = why == C_REMOTE_ERR || why == C_NOMEM || shut;
	bool reset_remote = why == C_CLIENT_ERR || why == C_NOMEM || shut;

	if (s->dead)
		return;
	s->dead = true;
	s->cause = why;
	/* Both are closed below and no dup of either exists: closing leaves
	 * the epoll set, no EPOLL_CTL_DEL needed. */
	nt_loop_forget_fd(s->loop, s->fd[CLIENT]);
	nt_loop_forget_fd(s->loop, s->fd[REMOTE]);
	s->watched[CLIENT] = s->watched[REMOTE] = false;
	if (reset_client)
		nt_socket_reset_close(s->fd[CLIENT]);
	else
		close(s->fd[CLIENT]);
	if (s->flow) {
		if (reset_remote)
			nt_flow_abort(s->flow);
		else
			nt_flow_close(s->flow);
		s->flow = NULL;
	} else if (reset_remote) {
		nt_socket_reset_close(s->fd[REMOTE]);
	} else {
		close(s->fd[REMOTE]);
	}
	free(s->up.buf);
	free(s->down.buf);
	free(s->pending);
	s->up.buf = s->down.buf = s->pending = NULL;
	if (s->prev)
		s->prev->next = s->next;
	else
		splices = s->next;
	if (s->next)
		s->next->prev = s->prev;
	stats.active--;
	switch (why) {
	case C_NORMAL:
		stats.closed_normal++;
		break;
	case C_CLIENT_ERR:
		stats.closed_client_err++;
		break;
	case C_REMOTE_ERR:
		stats.closed_remote_err++;
		break;
	case C_CLIENT_GONE:
		stats.closed_client_gone++;
		break;
	case C_REMOTE_GONE:
		stats.closed_remote_gone++;
		break;
	case C_NOMEM:
		stats.closed_nomem++;
		break;
	case C_SHUTDOWN:
		stats.closed_shutdown++;
		break;
	case C_OWNER:
		stats.closed_owner++;
		break;
	}
	nt_debug(MOD, "event=closed cause=%d", (int)why);
	if (s->done) {
		struct nt_splice_result res = {
		    .bytes_up = s->moved_up,
		    .bytes_down = s->moved_down,
		    .reset = why == C_CLIENT_ERR || why == C_REMOTE_ERR || why == C_NOMEM || shut,
		};

		s->done(s->done_arg, &res);
	}
	if (s->hold == 0)
		free(s);
}

static void on_fd(struct nt_loop *loop, int fd, uint32_t events, void *arg);

static int watch(struct nt_splice *s, int end, uint32_t want)
{
	int rc = 0;

	if (s->fd[end] < 0 || (s->flow && end == REMOTE))
		return 0;
	if (s->hup[end] && want == 0) {
		unwatch(s, end);
		return 0;
	}
	if (!s->watched[end]) {
		rc = nt_loop_take_fd(s->loop, s->fd[end], want, on_fd, s);
		s->watched[end] = rc == 0;
	} else if (s->events[end] != want) {
		rc = nt_loop_mod_fd(s->loop, s->fd[end], want);
	}
	if (rc == 0)
		s->events[end] = want;
	return rc;
}

/* Settles the splice after any change: finished, or what to wait for. */
static void settle(struct nt_splice *s)
{
	uint32_t want[2] = {0, 0};

	if (s->dead)
		return;
	if (s->up.done && s->down.done) {
		splice_end(s, C_NORMAL);
		return;
	}
	if (s->hup[CLIENT] && s->up.done && !s->down.done) {
		splice_end(s, C_CLIENT_GONE);
		return;
	}
	if (!s->flow && s->hup[REMOTE] && s->down.done && !s->up.done) {
		splice_end(s, C_REMOTE_GONE);
		return;
	}
	if (s->flow) {
		if (!s->up.done && !s->up_blocked && !s->pending)
			want[CLIENT] |= NT_EV_READ;
		if (s->down_blocked && !s->down.done)
			want[CLIENT] |= NT_EV_WRITE;
	} else {
		if (!s->up.eof && s->up.len == 0)
			want[CLIENT] |= NT_EV_READ;
		if (s->down.off < s->down.len)
			want[CLIENT] |= NT_EV_WRITE;
		if (!s->down.eof && s->down.len == 0)
			want[REMOTE] |= NT_EV_READ;
		if (s->up.off < s->up.len)
			want[REMOTE] |= NT_EV_WRITE;
	}
	if (watch(s, CLIENT, want[CLIENT]) < 0 || watch(s, REMOTE, want[REMOTE]) < 0)
		splice_end(s, C_NOMEM);
}

/* ---- client <-> flow ---- */

static void flow_up(struct nt_splice *s)
{
	ssize_t n;

	if (s->up.done || s->up_blocked || s->pending)
		return;
	n = nt_flow_write_from_fd(s->flow, s->fd[CLIENT]);
	if (n > 0) {
		stats.bytes_up += (uint64_t)n;
		s->moved_up += (uint64_t)n;
	} else if (n == 0) {
		s->up.eof = s->up.done = true;
		nt_flow_shutdown_write(s->flow);
	} else if (n == -ENOBUFS) {
		s->up_blocked = true;
	} else if (n == -EPIPE) {
		splice_end(s, C_REMOTE_ERR); /* the flow died under us */
	} else if (n == -ENOMEM) {
		splice_end(s, C_NOMEM);
	} else if (n != -EAGAIN) {
		splice_end(s, C_CLIENT_ERR);
	}
}

static void flow_down(struct nt_splice *s)
{
	ssize_t n;

	if (s->down.done)
		return;
	n = nt_flow_read_to_fd(s->flow, s->fd[CLIENT]);
	if (n > 0) {
		stats.bytes_down += (uint64_t)n;
		s->moved_down += (uint64_t)n;
		s->down_blocked = nt_flow_rx_queued(s->flow) > 0;
	} else if (n == 0) {
		s->down_blocked = false;
	} else if (n == -EAGAIN) {
		s->down_blocked = true;
	} else {
		splice_end(s, C_CLIENT_ERR);
	}
}

static void flow_eof(struct nt_splice *s)
{
	if (s->down.done)
		return;
	s->down.eof = s->down.done = true;
	s->down_blocked = false;
	(void)shutdown(s->fd[CLIENT], SHUT_WR);
}

static void flow_pending(struct nt_splice *s)
{
	int rc = nt_flow_write(s->flow, s->pending, s->pending_len);

	if (rc == -ENOBUFS) {
		s->up_blocked = true;
		return;
	}
	if (rc < 0) {
		splice_end(s, rc == -ENOMEM ? C_NOMEM : C_REMOTE_ERR);
		return;
	}
	stats.bytes_up += s->pending_len;
	s->moved_up += s->pending_len;
	free(s->pending);
	s->pending = NULL;
	s->pending_len = 0;
}

static void on_flow(void *arg, struct nt_flow *f, enum nt_flow_event ev)
{
	struct nt_splice *s = arg;

	(void)f;
	if (s->dead)
		return;
	hold(s);
	switch (ev) {
	case NT_FLOW_CONNECTED:
		break;
	case NT_FLOW_READABLE:
		if (!s->down_blocked)
			flow_down(s);
		break;
	case NT_FLOW_WRITABLE:
		s->up_blocked = false;
		if (s->pending)
			flow_pending(s);
		else if (s->hup[CLIENT])
			flow_up(s); /* the client is out of the loop: read on */
		break;
	case NT_FLOW_EOF:
		flow_eof(s);
		break;
	case NT_FLOW_ERROR:
		splice_end(s, C_REMOTE_ERR);
		break;
	}
	settle(s);
	release(s);
}

static const struct nt_flow_ops splice_flow_ops = {.event = on_flow};

/* ---- socket <-> socket ---- */

static ssize_t sock_send(int fd, const uint8_t *buf, size_t len)
{
	ssize_t n;

	do {
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, buf, len);
	} while (n < 0 && errno == EINTR);
	return n;
}

static ssize_t sock_recv(int fd, uint8_t *buf, size_t len)
{
	ssize_t n;

	do {
		n = recv(fd, buf, len, MSG_DONTWAIT);
		if (n < 0 && errno == ENOTSOCK)
			n = read(fd, buf, len);
	} while (n < 0 && errno == EINTR);
	return n;
}

/* Moves bytes from end src to the other end. Returns false when the splice
 * ended. */
static bool fd_move(struct nt_splice *s, struct dir *d, int src)
{
	int dst = !src;
	uint64_t *bytes = src == CLIENT ? &stats.bytes_up : &stats.bytes_down;
	uint64_t *moved = src == CLIENT ? &s->moved_up : &s->moved_down;
	ssize_t n;

	for (int round = 0; round < FD_ROUNDS && !d->done; round++) {
		if (d->off < d->len) {
			n = sock_send(s->fd[dst], d->buf + d->off, d->len - d->off);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return true;
				splice_end(s, dst == CLIENT ? C_CLIENT_ERR : C_REMOTE_ERR);
				return false;
			}
			d->off += (size_t)n;
			*bytes += (uint64_t)n;
			*moved += (uint64_t)n;
			if (d->off < d->len)
				return true; /* the destination is full */
			d->off = d->len = 0;
		}
		if (d->eof) {
			(void)shutdown(s->fd[dst], SHUT_WR);
			d->done = true;
			break;
		}
		if (!d->buf) {
			d->cap = NT_SPLICE_FD_BUF;
			d->buf = malloc(d->cap);
			if (!d->buf) {
				splice_end(s, C_NOMEM);
				return false;
			}
		}
		n = sock_recv(s->fd[src], d->buf, d->cap);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			splice_end(s, src == CLIENT ? C_CLIENT_ERR : C_REMOTE_ERR);
			return false;
		}
		if (n == 0)
			d->eof = true;
		d->len = (size_t)n;
	}
	/* EOF read on the last round: no later event would pass it on. */
	if (d->eof && !d->done && d->len == 0) {
		(void)shutdown(s->fd[dst], SHUT_WR);
		d->done = true;
	}
	if (d->len == 0) {
		/* Nothing in transit: an idle splice holds no buffer. */
		free(d->buf);
		d->buf = NULL;
	}
	return true;
}

/* ---- events ---- */

static void on_fd(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct nt_splice *s = arg;
	int end = fd == s->fd[CLIENT] ? CLIENT : REMOTE;

	(void)loop;
	hold(s);
	if (events & NT_EV_ERROR) {
		if (sock_error(fd)) {
			splice_end(s, end == CLIENT ? C_CLIENT_ERR : C_REMOTE_ERR);
			goto out;
		}
		s->hup[end] = true;
		events |= NT_EV_READ | NT_EV_WRITE; /* find out what is left */
	}
	if (s->flow) {
		if (events & NT_EV_READ)
			flow_up(s);
		if (!s->dead && (events & NT_EV_WRITE) && s->down_blocked)
			flow_down(s);
	} else if (end == CLIENT) {
		if ((events & NT_EV_READ) && !fd_move(s, &s->up, CLIENT))
			goto out;
		if (events & NT_EV_WRITE)
			(void)fd_move(s, &s->down, REMOTE);
	} else {
		if ((events & NT_EV_READ) && !fd_move(s, &s->down, REMOTE))
			goto out;
		if (events & NT_EV_WRITE)
			(void)fd_move(s, &s->up, CLIENT);
	}
	settle(s);
out:
	release(s);
}

/* ---- start ---- */

/* An end may come still registered with the loop by its previous owner (the
 * proxy's client state machine, the engine's connect): the registration is
 * taken over as it is, and settle() changes its interest only if needed. */
static void adopt(struct nt_splice *s, int end)
{
	uint32_t ev;

	if (s->fd[end] < 0 || !nt_loop_fd_owner(s->loop, s->fd[end], &ev))
		return;
	if (nt_loop_take_fd(s->loop, s->fd[end], ev, on_fd, s) == 0) {
		s->watched[end] = true;
		s->events[end] = ev;
	}
}

/* A socket that is already non-blocking (accept4, the engine's) costs one
 * fcntl, not two. */
static int set_nonblock_fd(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	if (fl & O_NONBLOCK)
		return 0;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

static struct nt_splice *splice_new(struct nt_loop *loop, int client_fd, int remote_fd)
{
	struct nt_splice *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->loop = loop;
	s->fd[CLIENT] = client_fd;
	s->fd[REMOTE] = remote_fd;
	adopt(s, CLIENT);
	adopt(s, REMOTE);
	s->next = splices;
	if (splices)
		splices->prev = s;
	splices = s;
	stats.active++;
	stats.started++;
	return s;
}

static int start_result(struct nt_splice *s)
{
	int rc = s->dead && s->cause == C_NOMEM ? -ENOMEM : 0;

	release(s);
	return rc;
}

int nt_splice_start_flow(struct nt_loop *loop, int client_fd, struct nt_flow *flow,
			 const uint8_t *pending, size_t pending_len)
{
	return nt_splice_start_flow_notify(loop, client_fd, flow, pending, pending_len, NULL, NULL);
}

int nt_splice_start_flow_notify(struct nt_loop *loop, int client_fd, struct nt_flow *flow,
				const uint8_t *pending, size_t pending_len, nt_splice_done_fn done,
				void *done_arg)
{
	struct nt_splice *s;

	if (set_nonblock_fd(client_fd) < 0 || !(s = splice_new(loop, client_fd, -1))) {
		struct nt_splice_result res = {.reset = true};

		nt_loop_forget_fd(loop, client_fd);
		nt_socket_reset_close(client_fd);
		nt_flow_abort(flow);
		if (done)
			done(done_arg, &res);
		return -ENOMEM;
	}
	s->done = done;
	s->done_arg = done_arg;
	s->flow = flow;
	nt_flow_set_ops(flow, &splice_flow_ops, s);
	hold(s);
	if (nt_flow_error(flow) != NT_FAIL_NONE) {
		splice_end(s, C_REMOTE_ERR);
		return start_result(s);
	}
	if (pending_len) {
		s->pending = malloc(pending_len);
		if (!s->pending) {
			splice_end(s, C_NOMEM);
			return start_result(s);
		}
		memcpy(s->pending, pending, pending_len);
		s->pending_len = pending_len;
		flow_pending(s);
	}
	/* What happened before we took over: data, even its end. */
	if (!s->dead && nt_flow_rx_queued(flow) > 0)
		flow_down(s);
	if (!s->dead && nt_flow_rx_eof(flow))
		flow_eof(s);
	settle(s);
	return start_result(s);
}

int nt_splice_start_fd(struct nt_loop *loop, int client_fd, int remote_fd, const uint8_t *pending,
		       size_t pending_len)
{
	return nt_splice_start_fd_notify(loop, client_fd, remote_fd, pending, pending_len, NULL,
					 NULL);
}

int nt_splice_start_fd_notify(struct nt_loop *loop, int client_fd, int remote_fd,
			      const uint8_t *pending, size_t pending_len, nt_splice_done_fn done,
			      void *done_arg)
{
	struct nt_splice *s;

	if (set_nonblock_fd(client_fd) < 0 || set_nonblock_fd(remote_fd) < 0 ||
	    !(s = splice_new(loop, client_fd, remote_fd))) {
		struct nt_splice_result res = {.reset = true};

		nt_loop_forget_fd(loop, client_fd);
		nt_loop_forget_fd(loop, remote_fd);
		nt_socket_reset_close(client_fd);
		nt_socket_reset_close(remote_fd);
		if (done)
			done(done_arg, &res);
		return -ENOMEM;
	}
	s->done = done;
	s->done_arg = done_arg;
	hold(s);
	if (pending_len) {
		s->up.cap = pending_len > NT_SPLICE_FD_BUF ? pending_len : NT_SPLICE_FD_BUF;
		s->up.buf = malloc(s->up.cap);
		if (!s->up.buf) {
			splice_end(s, C_NOMEM);
			return start_result(s);
		}
		memcpy(s->up.buf, pending, pending_len);
		s->up.len = pending_len;
		if (!fd_move(s, &s->up, CLIENT))
			return start_result(s);
	}
	settle(s);
	return start_result(s);
}

void nt_splice_close_all(void)
{
	while (splices)
		splice_end(splices, C_SHUTDOWN);
}

void nt_splice_reset_notified(void *done_arg)
{
	for (struct nt_splice *s = splices; s; s = s->next)
		if (s->done && s->done_arg == done_arg) {
			splice_end(s, C_OWNER);
			return;
		}
}

void nt_splice_get_stats(struct nt_splice_stats *out)
{
	*out = stats;
}
