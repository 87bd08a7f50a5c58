// SPDX-License-Identifier: MIT
/* udprelay: a userspace UDP impairment relay for tests and benchmarks (this
 * kernel has no netem qdisc), placed on a tunnel's UDP path.
 *
 *   udprelay --listen IP:PORT --to IP:PORT [IMPAIRMENT...] [--seed N]
 *            [--queue-max N] [--max-datagram BYTES] [--no-gso] [--seconds S]
 *
 * Each client address seen on --listen gets its own upstream socket connected
 * to --to (a bounded table; the least recently active client is evicted only
 * after CLIENT_IDLE_S of silence). Client -> upstream is direction "up",
 * upstream -> client is "down". Every impairment option --NAME sets both
 * directions; --up-NAME and --down-NAME set one (the later option wins), so
 * with --delay-ms D the round trip grows by 2 x D. Per direction, with a
 * seeded PRNG each, in this order on arrival:
 *
 *   blackhole  (--blackhole S, --blackhole-at T) every datagram is dropped
 *              for S seconds, from T seconds after the start and/or from
 *              each SIGUSR2 on (a test starts one mid-transfer);
 *   loss       (--loss PCT) the datagram is dropped;
 *   burst      (--burst P,R,H, percents: Gilbert-Elliott) a two-state chain
 *              steps once per datagram, good -> bad with P, bad -> good with
 *              R; in the bad state a datagram is dropped with H (random
 *              --loss applies in both states);
 *   corrupt    (--corrupt PCT) one random bit of one random byte is flipped
 *              (WireGuard must reject the datagram);
 *   delay      (--delay-ms D, --jitter-ms J) it leaves D ms after it arrived,
 *              plus a uniform jitter in [-J, +J] (clamped at 0); with jitter,
 *              datagrams can overtake each other as on a real path;
 *   rate       (--rate BYTES/s, --rate-burst BYTES, --rate-queue-ms Q) a
 *              token bucket: a datagram leaves once the bucket holds its
 *              size; one that would wait more than Q ms is dropped (a tail
 *              drop); duplicates do not draw tokens;
 *   duplicate  (--duplicate PCT) a copy leaves right after it;
 *   reorder    (--reorder PCT) the datagram is held and leaves right after
 *              the next datagram of its direction (or REORDER_HOLD_MS after
 *              its due time if no other comes), i.e. it swaps places with
 *              its successor.
 *
 * Queue (the state of one datagram):
 *
 *   free --recv--> [lost -> free] | held --next/hold timer--> queued
 *                                 | queued (min-heap by due time, then arrival)
 *   queued --due (timerfd, absolute CLOCK_MONOTONIC)--> outbox --sendmmsg--> free
 *
 * Sending: datagrams due together leave with one sendmmsg; consecutive ones
 * of one size to one destination go as one UDP_SEGMENT (GSO) train, which
 * the kernel splits again (at the latest at the receiving socket), so
 * receivers see the very same datagrams. It saves most of the per-datagram
 * cost of the IP path, which is nearly all of the relay's cost; --no-gso
 * turns it off, and the first EIO/EINVAL from a path that cannot segment
 * turns it off for good.
 *
 * Every datagram occupies one of --queue-max slots from the moment it is
 * received until it is sent; with no free slot a received datagram is dropped
 * and counted. An outbox that meets EAGAIN waits for EPOLLOUT on that socket
 * (sending stops meanwhile; receiving goes on into the queue). Nothing polls:
 * epoll waits on the sockets, a timerfd armed for the earliest due time, a
 * timerfd for --seconds and a signalfd.
 *
 * At start one line "listening IP:PORT" goes to stdout (the port is the real
 * one when PORT is 0). At the end (--seconds, SIGINT or SIGTERM) and on each
 * SIGUSR1 one line of key=value counters goes to stderr, the per-direction
 * ones suffixed _up and _down. Exit status 0, 1 on a system error, 2 on
 * bad arguments.
 *
 * Safety: --listen and --to must be in 127.0.0.0/8, ::1 or 10.213.0.0/16
 * (the test namespaces' veth range); anything else exits with status 2.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "platform/clock.h"
#include "tests/tools/impair.h"
#include "tests/tools/tool_args.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define EXIT_FAIL  1
#define EXIT_USAGE 2

#define MAX_BATCH	  64u
#define MAX_CLIENTS	  64u
#define CLIENT_IDLE_S	  30u
#define REORDER_HOLD_MS	  10u
#define QUEUE_MAX_DEFAULT 16384u
#define QUEUE_MAX_LIMIT	  (1u << 20)
#define DGRAM_DEFAULT	  2048u
#define DGRAM_MIN	  64u
#define DGRAM_MAX	  65535u
#define SOCK_BUF_BYTES	  (8 * 1024 * 1024)
#define SCRATCH_BYTES	  65536u
#define NO_SLOT		  UINT32_MAX
#define GSO_MAX_SEGS	  64u
#define GSO_MAX_BYTES	  65000u /* UDP payload, under the 65507 limit */

/* epoll tags: a client's index, or one of these. */
#define TAG_LISTEN (MAX_CLIENTS + 0)
#define TAG_TIMER  (MAX_CLIENTS + 1)
#define TAG_END	   (MAX_CLIENTS + 2)
#define TAG_SIGNAL (MAX_CLIENTS + 3)

/* getopt values of the impairment options: base + 3 x option + (both, up, down). */
#define OPT_IMP_BASE 0x100

enum dir { DIR_UP, DIR_DOWN, N_DIRS };

static const char *const dir_names[N_DIRS] = {"up", "down"};

struct args {
	struct sockaddr_storage listen, to;
	socklen_t listen_len, to_len;
	struct imp imp[N_DIRS];
	uint64_t seed;
	uint32_t queue_max, max_dgram;
	double seconds; /* 0: until a signal */
	bool no_gso;
};

struct slot {
	uint64_t due_ns;
	uint64_t seq; /* arrival order: ties on due_ns keep it */
	uint32_t len;
	uint32_t client_gen;
	uint16_t client;
	uint8_t dir;
};

union gso_cmsg {
	char buf[CMSG_SPACE(sizeof(uint16_t))];
	struct cmsghdr hdr;
};

struct client {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int fd; /* connected to --to; -1 when the entry is unused */
	uint32_t gen;
	uint64_t last_ns;
};

struct counters {
	uint64_t received[N_DIRS], forwarded[N_DIRS], bytes[N_DIRS];
	uint64_t lost[N_DIRS], duplicated[N_DIRS], reordered[N_DIRS];
	uint64_t burst_lost[N_DIRS], blackholed[N_DIRS], corrupted[N_DIRS], rate_dropped[N_DIRS];
	uint64_t queue_full, client_table_full, oversize, send_error, stale, recv_error;
	uint64_t clients_seen, clients_evicted, max_queued;
};

struct relay {
	struct args a;
	int epfd, listen_fd, timer_fd, end_fd, sig_fd;
	struct client clients[MAX_CLIENTS];
	uint32_t last_client; /* lookup cache */

	struct slot *slots;
	uint8_t *bufs;
	uint32_t *free_list, n_free;
	uint32_t *heap, heap_len;
	uint32_t held[N_DIRS];
	uint64_t held_deadline[N_DIRS];
	uint32_t outbox[MAX_BATCH], out_start, out_len;
	int blocked_fd; /* waiting for EPOLLOUT; -1 when sending freely */
	bool gso;	/* UDP_SEGMENT trains; off after the first EIO/EINVAL */
	uint64_t armed_ns;
	uint64_t next_seq;
	struct imp_state imp[N_DIRS];
	uint64_t start_ns;
	struct counters c;
};

/* ---- arguments ---- */

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: udprelay --listen IP:PORT --to IP:PORT [--delay-ms D] [--jitter-ms J]\n"
	    "                [--loss PCT] [--reorder PCT] [--duplicate PCT] [--corrupt PCT]\n"
	    "                [--burst P,R,H] [--rate B/S] [--rate-burst B] [--rate-queue-ms D]\n"
	    "                [--blackhole S] [--blackhole-at S] [--seed N]\n"
	    "                [--queue-max N] [--max-datagram BYTES] [--no-gso] [--seconds S]\n"
	    "  each impairment also as --up-NAME or --down-NAME for one direction;\n"
	    "  IPv6 as [::1]:PORT; addresses in 127.0.0.0/8, ::1, 10.213.0.0/16 only;\n"
	    "  D, J in [0, %.0f] ms (decimals allowed); PCT, P, R, H in [0, 100];\n"
	    "  N in 1..%u (default %u); BYTES in %u..%u (default %u); S in (0, %.0f];\n"
	    "  SIGUSR1 prints the counters, SIGUSR2 starts a --blackhole\n",
	    IMP_MAX_DELAY_MS, QUEUE_MAX_LIMIT, QUEUE_MAX_DEFAULT, DGRAM_MIN, DGRAM_MAX,
	    DGRAM_DEFAULT, IMP_MAX_SECONDS);
}

static int bad_arg(const char *name, const char *value)
{
	fprintf(stderr, "udprelay: bad --%s %s\n", name, value);
	return -EINVAL;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option fixed[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"to", required_argument, NULL, 't'},
	    {"seed", required_argument, NULL, 'S'},
	    {"queue-max", required_argument, NULL, 'q'},
	    {"max-datagram", required_argument, NULL, 'm'},
	    {"no-gso", no_argument, NULL, 'G'},
	    {"seconds", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	};
	static const char *const prefixes[3] = {"", "up-", "down-"};
	static char names[IMP_N_OPTS][3][32];
	struct option opts[sizeof(fixed) / sizeof(fixed[0]) + 3 * IMP_N_OPTS + 1];
	bool listen_set = false, to_set = false;
	size_t n = sizeof(fixed) / sizeof(fixed[0]);
	const char *name;
	uint64_t v;
	int c, idx;

	memset(a, 0, sizeof(*a));
	memcpy(opts, fixed, sizeof(fixed));
	for (size_t i = 0; i < IMP_N_OPTS; i++)
		for (int p = 0; p < 3; p++) {
			snprintf(names[i][p], sizeof(names[i][p]), "%s%s", prefixes[p],
				 imp_opts[i].name);
			opts[n++] = (struct option){names[i][p], required_argument, NULL,
						    OPT_IMP_BASE + 3 * (int)i + p};
		}
	opts[n] = (struct option){NULL, 0, NULL, 0};
	imp_defaults(&a->imp[DIR_UP]);
	imp_defaults(&a->imp[DIR_DOWN]);
	a->seed = 1;
	a->queue_max = QUEUE_MAX_DEFAULT;
	a->max_dgram = DGRAM_DEFAULT;
	while ((c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		if (c == '?' || c == 'h')
			return -EINVAL;
		name = opts[idx].name;
		if (c >= OPT_IMP_BASE) {
			const struct imp_opt *o = &imp_opts[(c - OPT_IMP_BASE) / 3];
			int p = (c - OPT_IMP_BASE) % 3;

			for (int d = 0; d < N_DIRS; d++)
				if ((p == 0 || p == d + 1) && imp_parse(o, optarg, &a->imp[d]) < 0)
					return bad_arg(name, optarg);
			continue;
		}
		switch (c) {
		case 'l':
			if (tool_parse_hostport(optarg, 0, &a->listen, &a->listen_len) < 0)
				return bad_arg(name, optarg);
			listen_set = true;
			break;
		case 't':
			if (tool_parse_hostport(optarg, 1, &a->to, &a->to_len) < 0)
				return bad_arg(name, optarg);
			to_set = true;
			break;
		case 'S':
			if (tool_parse_u64(optarg, 0, UINT64_MAX, &a->seed) < 0)
				return bad_arg(name, optarg);
			break;
		case 'q':
			if (tool_parse_u64(optarg, 1, QUEUE_MAX_LIMIT, &v) < 0)
				return bad_arg(name, optarg);
			a->queue_max = (uint32_t)v;
			break;
		case 'm':
			if (tool_parse_u64(optarg, DGRAM_MIN, DGRAM_MAX, &v) < 0)
				return bad_arg(name, optarg);
			a->max_dgram = (uint32_t)v;
			break;
		case 'G':
			a->no_gso = true;
			break;
		case 's':
			if (tool_parse_double(optarg, 0, IMP_MAX_SECONDS, &a->seconds) < 0 ||
			    a->seconds <= 0)
				return bad_arg(name, optarg);
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind != argc || !listen_set || !to_set) {
		fprintf(stderr, "udprelay: --listen and --to are required\n");
		return -EINVAL;
	}
	return 0;
}

/* ---- slots and the due-time heap ---- */

static uint8_t *slot_buf(struct relay *r, uint32_t idx)
{
	return r->bufs + (size_t)idx * r->a.max_dgram;
}

static uint32_t slot_alloc(struct relay *r)
{
	if (r->n_free == 0)
		return NO_SLOT;
	return r->free_list[--r->n_free];
}

static void slot_free(struct relay *r, uint32_t idx)
{
	r->free_list[r->n_free++] = idx;
}

static bool heap_less(const struct relay *r, uint32_t a, uint32_t b)
{
	const struct slot *x = &r->slots[a], *y = &r->slots[b];

	return x->due_ns < y->due_ns || (x->due_ns == y->due_ns && x->seq < y->seq);
}

static void heap_push(struct relay *r, uint32_t idx)
{
	uint32_t i = r->heap_len++;

	r->slots[idx].seq = r->next_seq++;
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (!heap_less(r, idx, r->heap[parent]))
			break;
		r->heap[i] = r->heap[parent];
		i = parent;
	}
	r->heap[i] = idx;
}

static uint32_t heap_pop(struct relay *r)
{
	uint32_t top = r->heap[0], last = r->heap[--r->heap_len], i = 0;

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= r->heap_len)
			break;
		if (child + 1 < r->heap_len && heap_less(r, r->heap[child + 1], r->heap[child]))
			child++;
		if (!heap_less(r, r->heap[child], last))
			break;
		r->heap[i] = r->heap[child];
		i = child;
	}
	if (r->heap_len)
		r->heap[i] = last;
	return top;
}

/* ---- clients ---- */

static int set_buffers(int fd)
{
	int size = SOCK_BUF_BYTES;

	/* The FORCE variants pass rmem_max as root; otherwise take what we get. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	return 0;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

	return x->sin6_port == y->sin6_port &&
	       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
}

static void client_close(struct relay *r, uint32_t i)
{
	struct client *cl = &r->clients[i];

	if (cl->fd < 0)
		return;
	if (r->blocked_fd == cl->fd)
		r->blocked_fd = -1;
	close(cl->fd); /* also leaves the epoll set */
	cl->fd = -1;
	cl->gen++; /* queued datagrams of the old client become stale */
}

static int client_open(struct relay *r, uint32_t i, const struct sockaddr_storage *addr,
		       socklen_t addr_len, uint64_t now)
{
	struct client *cl = &r->clients[i];
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = i};
	int fd = socket(r->a.to.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		goto err_socket;
	set_buffers(fd);
	if (connect(fd, (const struct sockaddr *)&r->a.to, r->a.to_len) < 0)
		goto err_setup;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		goto err_setup;
	cl->fd = fd;
	cl->addr = *addr;
	cl->addr_len = addr_len;
	cl->last_ns = now;
	r->c.clients_seen++;
	return 0;

err_setup:
	close(fd);
err_socket:
	perror("udprelay: upstream socket");
	return -1;
}

/* The client's index, opening an upstream socket for a new one; -1 when the
 * table is full of recently active clients. */
static int client_lookup(struct relay *r, const struct sockaddr_storage *addr, socklen_t len,
			 uint64_t now)
{
	uint32_t i, free_i = NO_SLOT, lru = NO_SLOT;

	if (r->clients[r->last_client].fd >= 0 && same_addr(&r->clients[r->last_client].addr, addr))
		return (int)r->last_client;
	for (i = 0; i < MAX_CLIENTS; i++) {
		struct client *cl = &r->clients[i];

		if (cl->fd < 0) {
			if (free_i == NO_SLOT)
				free_i = i;
			continue;
		}
		if (same_addr(&cl->addr, addr)) {
			r->last_client = i;
			return (int)i;
		}
		if (lru == NO_SLOT || cl->last_ns < r->clients[lru].last_ns)
			lru = i;
	}
	if (free_i == NO_SLOT) {
		if (now - r->clients[lru].last_ns < CLIENT_IDLE_S * NT_NS_PER_SEC)
			return -1;
		client_close(r, lru);
		r->c.clients_evicted++;
		free_i = lru;
	}
	if (client_open(r, free_i, addr, len, now) < 0)
		return -1;
	r->last_client = free_i;
	return (int)free_i;
}

/* ---- the impairments, on arrival ---- */

static void release_held(struct relay *r, enum dir d, uint64_t not_before)
{
	uint32_t h = r->held[d];

	if (h == NO_SLOT)
		return;
	if (r->slots[h].due_ns < not_before)
		r->slots[h].due_ns = not_before;
	r->held[d] = NO_SLOT;
	heap_push(r, h);
}

static void admit(struct relay *r, uint32_t idx, enum dir d, uint64_t now)
{
	struct slot *s = &r->slots[idx];
	const struct imp *im = &r->a.imp[d];
	uint32_t dup = NO_SLOT;
	bool corrupted;

	r->c.received[d]++;
	switch (imp_arrive(&r->imp[d], im, now, slot_buf(r, idx), s->len, &s->due_ns, &corrupted)) {
	case IMP_PASS:
		break;
	case IMP_BLACKHOLE:
		r->c.blackholed[d]++;
		slot_free(r, idx);
		return;
	case IMP_LOSS:
		r->c.lost[d]++;
		slot_free(r, idx);
		return;
	case IMP_BURST:
		r->c.burst_lost[d]++;
		slot_free(r, idx);
		return;
	case IMP_RATE:
		r->c.rate_dropped[d]++;
		slot_free(r, idx);
		return;
	}
	r->c.corrupted[d] += corrupted;
	if (imp_roll(&r->imp[d], im->duplicate)) {
		dup = slot_alloc(r);
		if (dup == NO_SLOT) {
			r->c.queue_full++;
		} else {
			r->slots[dup] = *s;
			memcpy(slot_buf(r, dup), slot_buf(r, idx), s->len);
			r->c.duplicated[d]++;
			r->c.corrupted[d] += corrupted; /* a copy of a corrupt one */
		}
	}
	if (r->held[d] == NO_SLOT && imp_roll(&r->imp[d], im->reorder)) {
		r->held[d] = idx;
		r->held_deadline[d] = s->due_ns + REORDER_HOLD_MS * NT_NS_PER_MS;
		r->c.reordered[d]++;
		if (dup != NO_SLOT)
			heap_push(r, dup);
		return;
	}
	heap_push(r, idx);
	if (dup != NO_SLOT)
		heap_push(r, dup);
	/* The held datagram leaves right behind this one. */
	release_held(r, d, s->due_ns);
}

/* ---- receiving ---- */

/* One batch from fd; tag is TAG_LISTEN (up) or the client's index (down). */
static void recv_batch(struct relay *r, int fd, uint32_t tag)
{
	static struct mmsghdr hdrs[MAX_BATCH];
	static struct iovec iovs[MAX_BATCH];
	static struct sockaddr_storage names[MAX_BATCH];
	static uint8_t scratch[SCRATCH_BYTES];
	enum dir d = tag == TAG_LISTEN ? DIR_UP : DIR_DOWN;
	uint32_t idx[MAX_BATCH], n = 0, i;
	uint64_t now;
	int got;

	while (n < MAX_BATCH && (idx[n] = slot_alloc(r)) != NO_SLOT)
		n++;
	if (n == 0) {
		/* Queue full: drain into scratch so the socket cannot spin epoll. */
		iovs[0].iov_base = scratch;
		iovs[0].iov_len = sizeof(scratch);
		memset(&hdrs[0], 0, sizeof(hdrs[0]));
		hdrs[0].msg_hdr.msg_iov = &iovs[0];
		hdrs[0].msg_hdr.msg_iovlen = 1;
		if (recvmmsg(fd, hdrs, 1, MSG_DONTWAIT, NULL) == 1)
			r->c.queue_full++;
		return;
	}
	for (i = 0; i < n; i++) {
		iovs[i].iov_base = slot_buf(r, idx[i]);
		iovs[i].iov_len = r->a.max_dgram;
		memset(&hdrs[i], 0, sizeof(hdrs[i]));
		hdrs[i].msg_hdr.msg_iov = &iovs[i];
		hdrs[i].msg_hdr.msg_iovlen = 1;
		if (d == DIR_UP) {
			hdrs[i].msg_hdr.msg_name = &names[i];
			hdrs[i].msg_hdr.msg_namelen = sizeof(names[i]);
		}
	}
	got = recvmmsg(fd, hdrs, n, MSG_DONTWAIT, NULL);
	if (got < 0) {
		if (errno != EAGAIN && errno != EINTR)
			r->c.recv_error++; /* e.g. ECONNREFUSED from an earlier ICMP */
		got = 0;
	}
	now = nt_clock_mono_ns();
	for (i = 0; i < (uint32_t)got; i++) {
		struct slot *s = &r->slots[idx[i]];
		int cl = (int)tag;

		if (hdrs[i].msg_hdr.msg_flags & MSG_TRUNC) {
			r->c.oversize++;
			slot_free(r, idx[i]);
			continue;
		}
		if (d == DIR_UP) {
			cl = client_lookup(r, &names[i], hdrs[i].msg_hdr.msg_namelen, now);
			if (cl < 0) {
				r->c.client_table_full++;
				slot_free(r, idx[i]);
				continue;
			}
		}
		r->clients[cl].last_ns = now;
		s->len = hdrs[i].msg_len;
		s->client = (uint16_t)cl;
		s->client_gen = r->clients[cl].gen;
		s->dir = (uint8_t)d;
		r->c.bytes[d] += s->len;
		admit(r, idx[i], d, now);
	}
	/* Unused slots go back in reverse so the free list keeps its order. */
	for (i = n; i > (uint32_t)got; i--)
		slot_free(r, idx[i - 1]);
	if (r->a.queue_max - r->n_free > r->c.max_queued)
		r->c.max_queued = r->a.queue_max - r->n_free;
}

/* ---- sending ---- */

static int out_fd(struct relay *r, const struct slot *s)
{
	const struct client *cl = &r->clients[s->client];

	if (cl->fd < 0 || cl->gen != s->client_gen)
		return -1;
	return s->dir == DIR_UP ? cl->fd : r->listen_fd;
}

static void wait_writable(struct relay *r, int fd, uint32_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = tag};

	if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
		r->blocked_fd = fd;
}

static bool same_dest(const struct slot *a, const struct slot *b)
{
	return a->dir == b->dir && a->client == b->client && a->client_gen == b->client_gen;
}

static void set_segment(struct msghdr *mh, union gso_cmsg *cm, uint16_t size)
{
	struct cmsghdr *c = &cm->hdr;

	mh->msg_control = cm->buf;
	mh->msg_controllen = sizeof(cm->buf);
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(size));
	memcpy(CMSG_DATA(c), &size, sizeof(size));
}

/* One sendmmsg worth from the head of the outbox, all to fd: per message one
 * datagram or, with GSO, a train of equal-size datagrams to one destination
 * (the last may be shorter). segs[m] is how many slots message m carries. */
static uint32_t build_msgs(struct relay *r, int fd, struct mmsghdr *hdrs, struct iovec *iovs,
			   union gso_cmsg *cms, uint32_t *segs)
{
	uint32_t k = 0, m = 0;

	while (k < r->out_len && m < MAX_BATCH) {
		const struct slot *s = &r->slots[r->outbox[r->out_start + k]];
		struct msghdr *mh = &hdrs[m].msg_hdr;
		uint32_t first = k, bytes = s->len;

		if (out_fd(r, s) != fd)
			break;
		iovs[k].iov_base = slot_buf(r, r->outbox[r->out_start + k]);
		iovs[k].iov_len = s->len;
		k++;
		while (r->gso && k < r->out_len && k - first < GSO_MAX_SEGS) {
			uint32_t idx = r->outbox[r->out_start + k];
			const struct slot *t = &r->slots[idx];

			if (!same_dest(s, t) || out_fd(r, t) != fd || t->len > s->len ||
			    bytes + t->len > GSO_MAX_BYTES)
				break;
			iovs[k].iov_base = slot_buf(r, idx);
			iovs[k].iov_len = t->len;
			bytes += t->len;
			k++;
			if (t->len < s->len)
				break; /* only the last segment may be shorter */
		}
		memset(&hdrs[m], 0, sizeof(hdrs[m]));
		mh->msg_iov = &iovs[first];
		mh->msg_iovlen = k - first;
		if (s->dir == DIR_DOWN) {
			mh->msg_name = &r->clients[s->client].addr;
			mh->msg_namelen = r->clients[s->client].addr_len;
		}
		if (k - first > 1)
			set_segment(mh, &cms[m], (uint16_t)s->len);
		segs[m++] = k - first;
	}
	return m;
}

static void consume(struct relay *r, uint32_t n, bool forwarded)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx = r->outbox[r->out_start + i];

		if (forwarded)
			r->c.forwarded[r->slots[idx].dir]++;
		else
			r->c.send_error++;
		slot_free(r, idx);
	}
	r->out_start += n;
	r->out_len -= n;
}

/* Sends the outbox in runs of one socket. Returns false when a socket is
 * full: the rest stays in the outbox until EPOLLOUT. */
static bool send_outbox(struct relay *r)
{
	static struct mmsghdr hdrs[MAX_BATCH];
	static struct iovec iovs[MAX_BATCH];
	static union gso_cmsg cms[MAX_BATCH];
	static uint32_t segs[MAX_BATCH];

	while (r->out_len) {
		const struct slot *s0 = &r->slots[r->outbox[r->out_start]];
		int fd = out_fd(r, s0), sent;
		uint32_t m, n = 0;

		if (fd < 0) {
			r->c.stale++;
			slot_free(r, r->outbox[r->out_start]);
			r->out_start++;
			r->out_len--;
			continue;
		}
		m = build_msgs(r, fd, hdrs, iovs, cms, segs);
		sent = sendmmsg(fd, hdrs, m, MSG_DONTWAIT);
		if (sent < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				wait_writable(r, fd, s0->dir == DIR_UP ? s0->client : TAG_LISTEN);
				return false;
			}
			if (segs[0] > 1 && (errno == EIO || errno == EINVAL)) {
				/* This path cannot segment: send datagram by datagram. */
				r->gso = false;
				continue;
			}
			/* A path error (ECONNREFUSED, ENOBUFS...): these datagrams are lost. */
			consume(r, segs[0], false);
			continue;
		}
		for (int i = 0; i < sent; i++)
			n += segs[i];
		consume(r, n, true);
	}
	r->out_start = 0;
	return true;
}

static uint64_t next_due(const struct relay *r)
{
	uint64_t t = UINT64_MAX;

	if (r->heap_len)
		t = r->slots[r->heap[0]].due_ns;
	for (int d = 0; d < N_DIRS; d++)
		if (r->held[d] != NO_SLOT && r->held_deadline[d] < t)
			t = r->held_deadline[d];
	return t;
}

static void arm_timer(struct relay *r, uint64_t t)
{
	struct itimerspec its = {0};

	if (t == r->armed_ns)
		return;
	if (t != UINT64_MAX) {
		its.it_value.tv_sec = (time_t)(t / NT_NS_PER_SEC);
		its.it_value.tv_nsec = (long)(t % NT_NS_PER_SEC);
		if (t == 0)
			its.it_value.tv_nsec = 1; /* zero would disarm */
	}
	if (timerfd_settime(r->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		r->armed_ns = t;
}

/* Everything due by now leaves; then the timer is armed for what is next. */
static void flush(struct relay *r)
{
	uint64_t now = nt_clock_mono_ns();

	for (int d = 0; d < N_DIRS; d++)
		if (r->held[d] != NO_SLOT && r->held_deadline[d] <= now)
			release_held(r, (enum dir)d, now);
	while (r->blocked_fd < 0) {
		if (r->out_len == 0)
			while (r->out_len < MAX_BATCH && r->heap_len &&
			       r->slots[r->heap[0]].due_ns <= now)
				r->outbox[r->out_len++] = heap_pop(r);
		if (r->out_len == 0 || !send_outbox(r))
			break;
	}
	/* While blocked, EPOLLOUT (not the timer) resumes sending. */
	arm_timer(r, r->blocked_fd < 0 ? next_due(r) : UINT64_MAX);
}

static void on_writable(struct relay *r, int fd, uint32_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};

	epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &ev);
	if (r->blocked_fd == fd)
		r->blocked_fd = -1;
}

/* ---- set-up, loop, report ---- */

static int add_fd(struct relay *r, int fd, uint32_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};

	return epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void print_listening(const struct relay *r)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getsockname(r->listen_fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *s4 = (const void *)&ss;

			inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
			port = ntohs(s4->sin_port);
		} else {
			const struct sockaddr_in6 *s6 = (const void *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
			port = ntohs(s6->sin6_port);
		}
	}
	printf(ss.ss_family == AF_INET6 ? "listening [%s]:%u\n" : "listening %s:%u\n", host, port);
	fflush(stdout);
}

static int relay_open(struct relay *r)
{
	sigset_t sigs;
	size_t n = r->a.queue_max;

	for (uint32_t i = 0; i < MAX_CLIENTS; i++)
		r->clients[i].fd = -1;
	r->held[DIR_UP] = r->held[DIR_DOWN] = NO_SLOT;
	r->blocked_fd = -1;
	r->gso = !r->a.no_gso;
	r->armed_ns = UINT64_MAX;

	/* calloc'd slot memory is touched only as the queue grows. */
	r->slots = calloc(n, sizeof(*r->slots));
	r->bufs = calloc(n, r->a.max_dgram);
	r->free_list = calloc(n, sizeof(*r->free_list));
	r->heap = calloc(n, sizeof(*r->heap));
	if (!r->slots || !r->bufs || !r->free_list || !r->heap) {
		fprintf(stderr, "udprelay: out of memory for %zu slots\n", n);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		r->free_list[i] = (uint32_t)(n - 1 - i);
	r->n_free = (uint32_t)n;

	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0)
		goto err_sys;
	r->listen_fd = socket(r->a.listen.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->listen_fd < 0)
		goto err_sys;
	set_buffers(r->listen_fd);
	if (bind(r->listen_fd, (const struct sockaddr *)&r->a.listen, r->a.listen_len) < 0) {
		perror("udprelay: bind --listen");
		return -errno;
	}
	r->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	r->end_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	r->sig_fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (r->timer_fd < 0 || r->end_fd < 0 || r->sig_fd < 0)
		goto err_sys;
	if (add_fd(r, r->listen_fd, TAG_LISTEN) || add_fd(r, r->timer_fd, TAG_TIMER) ||
	    add_fd(r, r->end_fd, TAG_END) || add_fd(r, r->sig_fd, TAG_SIGNAL))
		goto err_sys;
	r->start_ns = nt_clock_mono_ns();
	imp_start(&r->imp[DIR_UP], &r->a.imp[DIR_UP], r->a.seed, r->start_ns);
	imp_start(&r->imp[DIR_DOWN], &r->a.imp[DIR_DOWN], r->a.seed ^ UINT64_C(0xd1b54a32d192ed03),
		  r->start_ns);
	if (r->a.seconds > 0) {
		struct itimerspec its = {0};
		uint64_t ns = (uint64_t)(r->a.seconds * (double)NT_NS_PER_SEC);

		its.it_value.tv_sec = (time_t)(ns / NT_NS_PER_SEC);
		its.it_value.tv_nsec = (long)(ns % NT_NS_PER_SEC);
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
		if (timerfd_settime(r->end_fd, 0, &its, NULL) < 0)
			goto err_sys;
	}
	/* Delays are asked for with ns precision; the default 50 us slack would blur them. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	return 0;

err_sys:
	perror("udprelay: setup");
	return -errno;
}

/* Process teardown: the kernel closes the sockets; only the memory is ours. */
static void relay_free(struct relay *r)
{
	free(r->slots);
	free(r->bufs);
	free(r->free_list);
	free(r->heap);
}

static void report(const struct relay *r);

/* SIGUSR1 reports, SIGUSR2 starts a blackhole; false: time to stop. */
static bool on_signal(struct relay *r)
{
	struct signalfd_siginfo si;
	uint64_t now = nt_clock_mono_ns();

	while (read(r->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			report(r);
		} else if (si.ssi_signo == SIGUSR2) {
			for (int d = 0; d < N_DIRS; d++)
				imp_blackhole_now(&r->imp[d], &r->a.imp[d], now);
		} else {
			return false;
		}
	}
	return true;
}

static int relay_run(struct relay *r)
{
	struct epoll_event evs[MAX_CLIENTS + 4];

	for (;;) {
		int n = epoll_wait(r->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), -1);
		uint64_t tick;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("udprelay: epoll_wait");
			return -1;
		}
		for (int i = 0; i < n; i++) {
			uint32_t tag = (uint32_t)evs[i].data.u64;
			int fd;

			switch (tag) {
			case TAG_END:
				return 0;
			case TAG_SIGNAL:
				if (!on_signal(r))
					return 0;
				continue;
			case TAG_TIMER:
				if (read(r->timer_fd, &tick, sizeof(tick)) < 0 && errno != EAGAIN)
					return -1;
				r->armed_ns = UINT64_MAX; /* a one-shot timer, now spent */
				continue;
			case TAG_LISTEN:
				fd = r->listen_fd;
				break;
			default:
				fd = r->clients[tag].fd;
				if (fd < 0)
					continue; /* evicted earlier in this batch of events */
			}
			if (evs[i].events & EPOLLOUT)
				on_writable(r, fd, tag);
			if (evs[i].events & (EPOLLIN | EPOLLERR))
				recv_batch(r, fd, tag);
		}
		flush(r);
	}
}

static void report(const struct relay *r)
{
	const struct counters *c = &r->c;
	uint32_t clients = 0;

	for (uint32_t i = 0; i < MAX_CLIENTS; i++)
		clients += r->clients[i].fd >= 0;
	fprintf(stderr, "udprelay: seconds=%.3f clients=%u clients_seen=%llu clients_evicted=%llu",
		(double)(nt_clock_mono_ns() - r->start_ns) / (double)NT_NS_PER_SEC, clients,
		(unsigned long long)c->clients_seen, (unsigned long long)c->clients_evicted);
	for (int d = 0; d < N_DIRS; d++)
		fprintf(stderr,
			" received_%s=%llu forwarded_%s=%llu bytes_%s=%llu duplicated_%s=%llu "
			"reordered_%s=%llu dropped_loss_%s=%llu dropped_burst_%s=%llu "
			"dropped_blackhole_%s=%llu dropped_rate_%s=%llu corrupted_%s=%llu",
			dir_names[d], (unsigned long long)c->received[d], dir_names[d],
			(unsigned long long)c->forwarded[d], dir_names[d],
			(unsigned long long)c->bytes[d], dir_names[d],
			(unsigned long long)c->duplicated[d], dir_names[d],
			(unsigned long long)c->reordered[d], dir_names[d],
			(unsigned long long)c->lost[d], dir_names[d],
			(unsigned long long)c->burst_lost[d], dir_names[d],
			(unsigned long long)c->blackholed[d], dir_names[d],
			(unsigned long long)c->rate_dropped[d], dir_names[d],
			(unsigned long long)c->corrupted[d]);
	fprintf(stderr,
		" dropped_queue_full=%llu dropped_client_table_full=%llu dropped_oversize=%llu "
		"dropped_send_error=%llu dropped_stale=%llu recv_errors=%llu queued=%u "
		"max_queued=%llu gso=%s\n",
		(unsigned long long)c->queue_full, (unsigned long long)c->client_table_full,
		(unsigned long long)c->oversize, (unsigned long long)c->send_error,
		(unsigned long long)c->stale, (unsigned long long)c->recv_error,
		r->a.queue_max - r->n_free, (unsigned long long)c->max_queued,
		r->gso ? "on" : "off");
}

int main(int argc, char **argv)
{
	static struct relay relay;
	int ret;

	if (parse_args(argc, argv, &relay.a) < 0) {
		usage();
		return EXIT_USAGE;
	}
	if (!tool_address_allowed(&relay.a.to) || !tool_address_allowed(&relay.a.listen)) {
		fprintf(stderr, "udprelay: refusing an address outside 127.0.0.0/8, ::1 and "
				"10.213.0.0/16\n");
		return EXIT_USAGE;
	}
	ret = relay_open(&relay);
	if (ret == 0) {
		print_listening(&relay);
		ret = relay_run(&relay);
		report(&relay);
	}
	relay_free(&relay);
	return ret < 0 ? EXIT_FAIL : 0;
}
