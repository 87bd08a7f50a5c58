// SPDX-License-Identifier: MIT
/* wgflood: holds a WireGuard responder "under load" for the cookie tests, or
 * floods it with a genuine peer's initiations for its per-peer rate limit.
 *
 *   wgflood --to IP:PORT [--from IP] --responder-public-key KEY --rate N --seconds S
 *           [--initiator-private-key-file F]
 *
 * Sends handshake initiations with random contents but a valid mac1 for KEY
 * (and a zero mac2), so the responder must queue each one before its
 * handshake fails: that queue is what makes it answer with cookie replies.
 * With --initiator-private-key-file each initiation is a real one from that
 * key, a fresh ephemeral each, its TAI64N timestamps rising by TS_STEP_NS
 * from TS_PAST_S seconds ago, so that the peer's own handshakes afterwards
 * are newer than any of them.
 * Batches of about 1 ms worth go out with sendmmsg, paced on the monotonic
 * clock so that no window of time carries more than N per second plus two
 * batches, and never more than N * S in all; the run
 * ends after S seconds (at most 600) or on SIGINT/SIGTERM, and prints
 * "sent=N seconds=S responses=R": R handshake responses came back to the
 * socket (waited for RESPONSE_WAIT_MS after the last send).
 *
 * Safety: destinations outside loopback (127.0.0.0/8, ::1) and the test
 * namespaces' veth range (10.213.0.0/16) are refused with exit status 2.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/wg/cookie.h"
#include "core/wg/key.h"
#include "core/wg/noise.h"
#include "core/wg/tai64n.h"
#include "core/wg/wg_messages.h"
#include "platform/clock.h"
#include "platform/random.h"
#include "tests/tools/tool_args.h"

#define MAX_RATE    1000000u
#define MAX_SECONDS 600.0
#define MAX_BATCH   64u
/* Genuine initiations: timestamps from TS_PAST_S ago, one TAI64N step
 * (wg_tai64n_encode keeps multiples of 2^24 ns) apart. */
#define TS_PAST_S	 60u
#define TS_STEP_NS	 (1u << 24)
#define RESPONSE_WAIT_MS 500

#define EXIT_USAGE 2

struct flood_args {
	struct sockaddr_storage to;
	socklen_t to_len;
	struct sockaddr_storage from;
	bool from_set;
	uint8_t responder_public[NT_KEY_LEN];
	uint32_t rate;
	double seconds;
	bool genuine;
	uint8_t initiator_private[NT_KEY_LEN];
};

/* The initiator of genuine initiations. */
struct genuine {
	struct wg_noise_static local;
	struct wg_noise_handshake hs;
	struct wg_noise_upcalls up;
	uint64_t ts_ns; /* the next timestamp, realtime ns */
	uint32_t index;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: wgflood --to IP:PORT [--from IP] --responder-public-key KEY "
		"--rate N --seconds S\n"
		"               [--initiator-private-key-file F]\n"
		"  IPv6 as [::1]:PORT; destinations: 127.0.0.0/8, ::1, 10.213.0.0/16 only;\n"
		"  N in 1..%u per second; S in (0, %.0f]\n",
		MAX_RATE, MAX_SECONDS);
}

/* IP with port 0; family AF_UNSPEC picks the one the text is in. */
static int parse_ip(const char *text, int family, struct sockaddr_storage *out, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	if (family == AF_UNSPEC)
		family = strchr(text, ':') ? AF_INET6 : AF_INET;
	if (family == AF_INET && inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		*len = sizeof(*in4);
		return 0;
	}
	if (family == AF_INET6 && inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

static int parse_args(int argc, char **argv, struct flood_args *a)
{
	static const struct option opts[] = {
	    {"to", required_argument, NULL, 't'},
	    {"from", required_argument, NULL, 'f'},
	    {"responder-public-key", required_argument, NULL, 'k'},
	    {"rate", required_argument, NULL, 'r'},
	    {"seconds", required_argument, NULL, 's'},
	    {"initiator-private-key-file", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *from = NULL;
	bool to_set = false, key_set = false;
	socklen_t len;
	int c;

	memset(a, 0, sizeof(*a));
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (tool_parse_hostport(optarg, 1, &a->to, &a->to_len) < 0) {
				fprintf(stderr, "wgflood: bad --to %s (IP:PORT or [IPv6]:PORT)\n",
					optarg);
				return -EINVAL;
			}
			to_set = true;
			break;
		case 'f':
			from = optarg;
			break;
		case 'k':
			if (nt_key_from_base64(a->responder_public, optarg, strlen(optarg)) < 0) {
				fprintf(stderr, "wgflood: bad --responder-public-key\n");
				return -EINVAL;
			}
			key_set = true;
			break;
		case 'r':
			if (tool_parse_u32(optarg, 1, MAX_RATE, &a->rate) < 0) {
				fprintf(stderr, "wgflood: bad --rate %s\n", optarg);
				return -EINVAL;
			}
			break;
		case 's':
			if (tool_parse_double(optarg, 0, MAX_SECONDS, &a->seconds) < 0 ||
			    a->seconds <= 0) {
				fprintf(stderr, "wgflood: bad --seconds %s\n", optarg);
				return -EINVAL;
			}
			break;
		case 'i':
			if (tool_read_key_file(optarg, a->initiator_private) < 0) {
				fprintf(stderr, "wgflood: bad --initiator-private-key-file %s\n",
					optarg);
				return -EINVAL;
			}
			a->genuine = true;
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind != argc || !to_set || !key_set || !a->rate || a->seconds <= 0) {
		fprintf(stderr, "wgflood: --to, --responder-public-key, --rate and --seconds are "
				"required\n");
		return -EINVAL;
	}
	if (from) {
		if (parse_ip(from, a->to.ss_family, &a->from, &len) < 0) {
			fprintf(stderr, "wgflood: bad --from %s (same family as --to)\n", from);
			return -EINVAL;
		}
		a->from_set = true;
	}
	return 0;
}

static uint64_t prng_state;

static uint64_t prng_next(void)
{
	/* splitmix64: the contents only need to differ, not to be secret. */
	uint64_t z = (prng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t len)
{
	while (len) {
		uint64_t v = prng_next();
		size_t n = len < sizeof(v) ? len : sizeof(v);

		memcpy(p, &v, n);
		p += n;
		len -= n;
	}
}

static void make_initiation(struct wg_cookie_maker *maker, struct wg_msg_initiation *msg)
{
	wg_message_set_type(msg->type, WG_MSG_INITIATION);
	/* sender, ephemeral, static_enc and timestamp_enc are contiguous. */
	fill_random(msg->sender, offsetof(struct wg_msg_initiation, macs) -
				     offsetof(struct wg_msg_initiation, sender));
	wg_cookie_add_macs(maker, (uint8_t *)msg, sizeof(*msg), nt_clock_mono_ns());
}

static int genuine_init(struct genuine *g, const struct flood_args *a)
{
	struct timespec now;

	memset(g, 0, sizeof(*g));
	clock_gettime(CLOCK_REALTIME, &now);
	g->ts_ns = ((uint64_t)now.tv_sec - TS_PAST_S) * NT_NS_PER_SEC;
	if (wg_noise_static_init(&g->local, a->initiator_private) < 0 ||
	    wg_noise_handshake_init(&g->hs, &g->local, a->responder_public, NULL) < 0)
		return -EINVAL;
	return 0;
}

static void genuine_clear(struct genuine *g)
{
	wg_noise_handshake_wipe(&g->hs);
	wg_noise_static_clear(&g->local);
}

static void make_genuine(struct genuine *g, struct wg_cookie_maker *maker,
			 struct wg_msg_initiation *msg)
{
	uint8_t ts[WG_TAI64N_BYTES];

	wg_tai64n_encode(ts, g->ts_ns / NT_NS_PER_SEC, (uint32_t)(g->ts_ns % NT_NS_PER_SEC));
	g->ts_ns += TS_STEP_NS;
	(void)wg_noise_create_initiation(&g->hs, &g->local, &g->up, ++g->index, ts, msg);
	wg_cookie_add_macs(maker, (uint8_t *)msg, sizeof(*msg), nt_clock_mono_ns());
}

/* Handshake responses waiting on the socket, read; others are ignored. */
static uint64_t drain_responses(int fd)
{
	struct wg_msg_response buf[2]; /* a longer datagram is no response */
	uint64_t n = 0;
	ssize_t len;

	while ((len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0)
		if ((size_t)len == sizeof(buf[0]) && buf[0].type[0] == WG_MSG_RESPONSE)
			n++;
	return n;
}

static void sleep_until(uint64_t mono_ns)
{
	struct timespec ts = {
	    .tv_sec = (time_t)(mono_ns / NT_NS_PER_SEC),
	    .tv_nsec = (long)(mono_ns % NT_NS_PER_SEC),
	};

	/* EINTR comes from a stop signal; the loop checks the flag. */
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static int open_socket(const struct flood_args *a)
{
	int fd = socket(a->to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		perror("wgflood: socket");
		return -1;
	}
	if (a->from_set && bind(fd, (const struct sockaddr *)&a->from, a->to_len) < 0) {
		perror("wgflood: bind --from");
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends until the deadline or total. A token bucket: credit accrues at rate
 * from (origin_ns, origin_sent) and is capped at two batches, so any window W
 * carries at most rate * W + 2 batches (2 ms worth from 1000/s up). */
static int flood(int fd, const struct flood_args *a, struct genuine *g, uint64_t *sent_out,
		 uint64_t *responses, uint64_t *elapsed_ns)
{
	static struct wg_msg_initiation msgs[MAX_BATCH];
	static struct mmsghdr hdrs[MAX_BATCH];
	static struct iovec iovs[MAX_BATCH];
	struct wg_cookie_maker maker;
	uint64_t start, deadline, now, origin_ns, origin_sent, allowed, total, sent = 0;
	uint32_t batch = a->rate / 1000, i, n;
	int r, ret = 0;

	if (batch < 1)
		batch = 1;
	if (batch > MAX_BATCH)
		batch = MAX_BATCH;
	total = (uint64_t)((double)a->rate * a->seconds);
	wg_cookie_maker_init(&maker, a->responder_public);
	for (i = 0; i < MAX_BATCH; i++) {
		iovs[i].iov_base = &msgs[i];
		iovs[i].iov_len = sizeof(msgs[i]);
		memset(&hdrs[i], 0, sizeof(hdrs[i]));
		hdrs[i].msg_hdr.msg_name = (void *)&a->to;
		hdrs[i].msg_hdr.msg_namelen = a->to_len;
		hdrs[i].msg_hdr.msg_iov = &iovs[i];
		hdrs[i].msg_hdr.msg_iovlen = 1;
	}

	start = origin_ns = nt_clock_mono_ns();
	deadline = start + (uint64_t)(a->seconds * (double)NT_NS_PER_SEC);
	origin_sent = 0;
	while (!stop_requested && sent < total) {
		now = nt_clock_mono_ns();
		if (now >= deadline)
			break;
		allowed = origin_sent + (now - origin_ns) * a->rate / NT_NS_PER_SEC;
		n = total - sent < batch ? (uint32_t)(total - sent) : batch;
		if (allowed < sent + n) {
			uint64_t due =
			    origin_ns +
			    ((sent + n - origin_sent) * NT_NS_PER_SEC + a->rate - 1) / a->rate;

			sleep_until(due < deadline ? due : deadline);
			continue;
		}
		if (allowed > sent + 2 * (uint64_t)batch) {
			/* The bucket holds two batches: late wake-ups cost nothing,
			 * a long stall is not made up in a burst. */
			origin_ns = now;
			origin_sent = sent + 2 * (uint64_t)batch;
		}
		for (i = 0; i < n; i++) {
			if (a->genuine)
				make_genuine(g, &maker, &msgs[i]);
			else
				make_initiation(&maker, &msgs[i]);
		}
		r = sendmmsg(fd, hdrs, n, 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS ||
			    errno == ECONNREFUSED) {
				/* Lose this batch's slot rather than spin. */
				sleep_until(nt_clock_mono_ns() + NT_NS_PER_MS);
				continue;
			}
			perror("wgflood: sendmmsg");
			ret = -1;
			break;
		}
		sent += (uint64_t)r;
		*responses += drain_responses(fd);
	}
	*elapsed_ns = nt_clock_mono_ns() - start;
	*sent_out = sent;
	wg_cookie_maker_clear(&maker);
	return ret;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	struct flood_args args;
	struct pollfd pfd;
	struct genuine g;
	uint64_t sent = 0, responses = 0, elapsed = 0, until;
	int fd, ret;

	if (parse_args(argc, argv, &args) < 0) {
		usage();
		return EXIT_USAGE;
	}
	if (!tool_address_allowed(&args.to)) {
		fprintf(stderr, "wgflood: refusing destination outside 127.0.0.0/8, ::1 and "
				"10.213.0.0/16\n");
		return EXIT_USAGE;
	}
	if (nt_platform_init() < 0) {
		fprintf(stderr, "wgflood: libsodium init failed\n");
		return 1;
	}
	nt_random_bytes(&prng_state, sizeof(prng_state));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (args.genuine && genuine_init(&g, &args) < 0) {
		fprintf(stderr, "wgflood: unusable initiator or responder key\n");
		return EXIT_USAGE;
	}
	sodium_memzero(args.initiator_private, sizeof(args.initiator_private));
	fd = open_socket(&args);
	if (fd < 0) {
		if (args.genuine)
			genuine_clear(&g);
		return 1;
	}
	ret = flood(fd, &args, &g, &sent, &responses, &elapsed);
	until = nt_clock_mono_ns() + RESPONSE_WAIT_MS * NT_NS_PER_MS;
	pfd = (struct pollfd){.fd = fd, .events = POLLIN};
	for (uint64_t now = nt_clock_mono_ns(); now < until; now = nt_clock_mono_ns())
		if (poll(&pfd, 1, (int)((until - now) / NT_NS_PER_MS) + 1) > 0)
			responses += drain_responses(fd);
	close(fd);
	if (args.genuine)
		genuine_clear(&g);
	printf("sent=%llu seconds=%.3f responses=%llu\n", (unsigned long long)sent,
	       (double)elapsed / (double)NT_NS_PER_SEC, (unsigned long long)responses);
	return ret < 0 ? 1 : 0;
}
