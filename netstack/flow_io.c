// SPDX-License-Identifier: MIT
/* TCP flows: moving bytes between a flow and a file descriptor, and the
 * send space that holds them meanwhile. The life cycle (flow_tcp.c) calls
 * in here from lwIP's callbacks; the owner calls the nt_flow_read_to_fd /
 * write_from_fd / write entry points.
 *
 * Send space: chunks of nt_flow_g.chunk bytes in a list, oldest first.
 *
 *   head                                              tail
 *   [acked | unacked ...][... unacked | unqueued ...][... | free ]
 *          ^head_off
 *
 * Bytes read from the owner's fd are appended at the tail, handed to
 * tcp_write by reference (no copy) as lwIP takes them, and a chunk is freed
 * once every byte in it is acknowledged (the sent callback). lwIP never
 * reads the data after acknowledging it. With nothing in flight the last
 * chunk is freed too: an idle flow holds no memory but its struct and pcb.
 *
 * Receive queue: pbufs as lwIP delivered them, handed to one sendmsg and
 * freed as the socket takes them; tcp_recved opens the window by exactly
 * those bytes.
 */
#include "netstack/flow_tcp_int.h"

#include "lwip/pbuf.h"
#include "lwip/tcp.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define READ_ROUNDS  16 /* reads per write_from_fd call: at most 16 chunks */
#define WRITE_ROUNDS 16 /* sendmsg calls per read_to_fd call */
#define IOV_BATCH    64
#define LWIP_LEN_MAX 0xffffu /* tcp_write / tcp_recved take a u16 */

struct chunk {
	struct chunk *next;
	size_t fill;
	uint8_t data[];
};

/* ---- receive queue ---- */

void nt_flow_rx_drop(struct nt_flow *f)
{
	while (f->rx_head) {
		struct pbuf *h = f->rx_head;

		f->rx_head = h->next;
		h->next = NULL;
		pbuf_free(h);
	}
	nt_flow_g.stats.mem_recv -= f->rx_len;
	f->rx_tail = NULL;
	f->rx_off = f->rx_len = 0;
	nt_flow_mem_fell();
}

/* ---- send space ---- */

static void chunk_free(struct chunk *c)
{
	free(c);
	nt_flow_g.stats.mem_send -= nt_flow_g.chunk;
	nt_flow_mem_fell();
	if (!list_empty(&nt_flow_g.waiters))
		nt_flow_wake_waiters();
}

void nt_flow_tx_drop(struct nt_flow *f)
{
	while (f->head) {
		struct chunk *c = f->head;

		f->head = c->next;
		chunk_free(c);
	}
	f->tail = NULL;
	f->head_off = f->nchunks = f->unacked = f->unqueued = 0;
}

bool nt_flow_tx_has_space(const struct nt_flow *f)
{
	if (f->tail && f->tail->fill < nt_flow_g.chunk)
		return true;
	return f->nchunks < nt_flow_g.max_chunks &&
	       nt_flow_g.stats.mem_send + nt_flow_g.chunk <= nt_flow_g.total_cap;
}

/* Where the first unqueued byte is, and how many follow it in that chunk. */
static uint8_t *unqueued_at(const struct nt_flow *f, size_t *contig)
{
	const struct chunk *c = f->head;
	size_t off = f->head_off + f->unacked;

	while (c && off >= c->fill) {
		off -= c->fill;
		c = c->next;
	}
	if (!c) {
		*contig = 0;
		return NULL;
	}
	*contig = c->fill - off;
	return (uint8_t *)c->data + off;
}

/* Room at the tail, allocating a chunk when the tail is full. *fresh tells
 * that the chunk is new (so that an empty read can give it back). */
static int tail_room(struct nt_flow *f, uint8_t **at, size_t *room, bool *fresh)
{
	struct chunk *c;

	*fresh = false;
	if (!f->tail || f->tail->fill == nt_flow_g.chunk) {
		if (f->nchunks >= nt_flow_g.max_chunks) {
			nt_flow_g.stats.flow_cap_hits++;
			return -ENOBUFS;
		}
		if (nt_flow_g.stats.mem_send + nt_flow_g.chunk > nt_flow_g.total_cap) {
			nt_flow_g.stats.total_cap_hits++;
			if (!linked(&f->wait))
				list_add_tail(&nt_flow_g.waiters, &f->wait);
			return -ENOBUFS;
		}
		c = malloc(sizeof(*c) + nt_flow_g.chunk);
		if (!c)
			return -ENOMEM;
		c->next = NULL;
		c->fill = 0;
		if (f->tail)
			f->tail->next = c;
		else
			f->head = c;
		f->tail = c;
		f->nchunks++;
		nt_flow_g.stats.mem_send += nt_flow_g.chunk;
		nt_flow_mem_grew();
		*fresh = true;
	}
	*at = f->tail->data + f->tail->fill;
	*room = nt_flow_g.chunk - f->tail->fill;
	return 0;
}

/* Gives back a chunk that tail_room just added and nothing filled. */
static void tail_unfresh(struct nt_flow *f)
{
	struct chunk *c = f->tail, *p;

	if (!c || c->fill)
		return;
	if (f->head == c) {
		f->head = f->tail = NULL;
		f->head_off = 0;
	} else {
		for (p = f->head; p->next != c; p = p->next)
			;
		p->next = NULL;
		f->tail = p;
	}
	f->nchunks--;
	chunk_free(c);
}

/* Frees what the remote acknowledged. */
bool nt_flow_tx_acked(struct nt_flow *f, size_t len)
{
	bool freed = false;

	f->unacked -= len < f->unacked ? len : f->unacked;
	while (len > 0 && f->head) {
		struct chunk *c = f->head;
		size_t n = c->fill - f->head_off;

		if (n > len)
			n = len;
		f->head_off += n;
		len -= n;
		if (f->head_off < nt_flow_g.chunk)
			break;
		f->head = c->next;
		if (!f->head)
			f->tail = NULL;
		f->head_off = 0;
		f->nchunks--;
		chunk_free(c);
		freed = true;
	}
	if (f->unacked == 0 && f->unqueued == 0 && f->head) {
		nt_flow_tx_drop(f); /* the partly filled last chunk: idle flows hold none */
		freed = true;
	}
	return freed;
}

/* Hands unqueued bytes to lwIP by reference. Returns 0, or -ENOMEM when
 * lwIP took nothing and has nothing in flight (no sent callback will come
 * to retry). */
int nt_flow_tx_push(struct nt_flow *f)
{
	struct tcp_pcb *pcb = f->pcb;

	while (pcb && f->unqueued > 0) {
		size_t n, contig;
		uint8_t *at = unqueued_at(f, &contig);
		err_t err;

		n = contig < f->unqueued ? contig : f->unqueued;
		if (n > LWIP_LEN_MAX)
			n = LWIP_LEN_MAX;
		if (n > tcp_sndbuf(pcb))
			n = tcp_sndbuf(pcb);
		if (n == 0 || !at)
			break;
		err = tcp_write(pcb, at, (u16_t)n, 0);
		if (err != ERR_OK)
			break;
		f->unqueued -= n;
		f->unacked += n;
	}
	if (pcb && f->unqueued > 0 && !pcb->unsent && !pcb->unacked)
		return -ENOMEM;
	return 0;
}

/* ---- moving bytes ---- */

/* Frees n bytes from the front of the receive queue. */
static void rx_consume(struct nt_flow *f, size_t n)
{
	f->rx_len -= n;
	nt_flow_g.stats.mem_recv -= n;
	nt_flow_mem_fell();
	while (f->rx_head) {
		struct pbuf *h = f->rx_head;
		size_t left = h->len - f->rx_off;

		if (n < left) {
			f->rx_off += n;
			return;
		}
		n -= left;
		f->rx_head = h->next;
		h->next = NULL; /* we held the chain's reference to the rest */
		pbuf_free(h);
		f->rx_off = 0;
	}
	f->rx_tail = NULL;
}

static void rx_recved(struct nt_flow *f, size_t n)
{
	while (f->pcb && n > 0) {
		u16_t part = (u16_t)(n > LWIP_LEN_MAX ? LWIP_LEN_MAX : n);

		tcp_recved(f->pcb, part);
		n -= part;
	}
}

static ssize_t send_iov(int fd, struct iovec *iov, int cnt)
{
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
	ssize_t n;

	do {
		n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == ENOTSOCK)
			n = writev(fd, iov, cnt);
	} while (n < 0 && errno == EINTR);
	return n;
}

ssize_t nt_flow_read_to_fd(struct nt_flow *f, int fd)
{
	size_t total = 0;
	ssize_t rc = 0;

	if (f->owner_gone)
		return -EINVAL;
	for (int round = 0; round < WRITE_ROUNDS && f->rx_len > 0; round++) {
		struct iovec iov[IOV_BATCH];
		size_t want = 0, off = f->rx_off;
		int cnt = 0;
		ssize_t n;

		for (struct pbuf *q = f->rx_head; q && cnt < IOV_BATCH; q = q->next) {
			if (q->len > off) {
				iov[cnt].iov_base = (uint8_t *)q->payload + off;
				iov[cnt].iov_len = q->len - off;
				want += iov[cnt].iov_len;
				cnt++;
			}
			off = 0;
		}
		if (cnt == 0)
			break;
		n = send_iov(fd, iov, cnt);
		if (n < 0) {
			rc = errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
			break;
		}
		rx_consume(f, (size_t)n);
		total += (size_t)n;
		if ((size_t)n < want)
			break; /* the socket is full */
	}
	if (total > 0) {
		rx_recved(f, total);
		nt_flow_g.stats.bytes_in += total;
	}
	if (f->rx_len == 0 && f->rx_fin && !f->eof_done)
		nt_flow_defer(f, DEFER_EOF);
	return total > 0 ? (ssize_t)total : rc;
}

static ssize_t read_fd(int fd, uint8_t *buf, size_t len)
{
	ssize_t n;

	do {
		n = read(fd, buf, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static bool can_send(const struct nt_flow *f)
{
	return f->pcb && !f->fin_wanted && f->error == NT_FAIL_NONE && !f->owner_gone;
}

static int push_out(struct nt_flow *f)
{
	int rc = nt_flow_tx_push(f);

	if (f->pcb && f->connected)
		tcp_output(f->pcb);
	return rc;
}

ssize_t nt_flow_write_from_fd(struct nt_flow *f, int fd)
{
	size_t total = 0;
	ssize_t rc = 0;

	if (!can_send(f))
		return -EPIPE;
	if (f->rd_err) {
		rc = f->rd_err;
		f->rd_err = 0;
		return rc;
	}
	for (int round = 0; round < READ_ROUNDS; round++) {
		uint8_t *at;
		size_t room;
		bool fresh;
		ssize_t n;

		rc = tail_room(f, &at, &room, &fresh);
		if (rc < 0)
			break;
		n = read_fd(fd, at, room);
		if (n <= 0) {
			if (fresh)
				tail_unfresh(f);
			rc = n;
			break;
		}
		f->tail->fill += (size_t)n;
		f->unqueued += (size_t)n;
		total += (size_t)n;
		if ((size_t)n < room) {
			rc = -EAGAIN; /* most likely drained: save a read */
			break;
		}
	}
	if (total == 0) {
		if (rc == -ENOBUFS)
			f->want_writable = true;
		return rc;
	}
	nt_flow_g.stats.bytes_out += total;
	if (rc < 0 && rc != -EAGAIN && rc != -ENOBUFS)
		f->rd_err = (int)rc; /* reported on the next call, after these bytes */
	if (push_out(f) < 0)
		return -ENOMEM;
	return (ssize_t)total;
}

int nt_flow_write(struct nt_flow *f, const uint8_t *buf, size_t len)
{
	size_t free_tail, need = 0;

	if (!can_send(f))
		return -EPIPE;
	if (len == 0)
		return 0;
	if (len > nt_flow_g.max_chunks * nt_flow_g.chunk)
		return -EMSGSIZE;
	free_tail = f->tail ? nt_flow_g.chunk - f->tail->fill : 0;
	if (len > free_tail)
		need = (len - free_tail + nt_flow_g.chunk - 1) / nt_flow_g.chunk;
	if (f->nchunks + need > nt_flow_g.max_chunks) {
		nt_flow_g.stats.flow_cap_hits++;
		f->want_writable = true;
		return -ENOBUFS;
	}
	if (nt_flow_g.stats.mem_send + need * nt_flow_g.chunk > nt_flow_g.total_cap) {
		nt_flow_g.stats.total_cap_hits++;
		f->want_writable = true;
		if (!linked(&f->wait))
			list_add_tail(&nt_flow_g.waiters, &f->wait);
		return -ENOBUFS;
	}
	while (len > 0) {
		uint8_t *at;
		size_t room, n;
		bool fresh;
		int rc = tail_room(f, &at, &room, &fresh);

		if (rc < 0)
			return rc; /* -ENOMEM; what was copied stays, in order */
		n = len < room ? len : room;
		memcpy(at, buf, n);
		f->tail->fill += n;
		f->unqueued += n;
		nt_flow_g.stats.bytes_out += n;
		buf += n;
		len -= n;
	}
	return push_out(f);
}
