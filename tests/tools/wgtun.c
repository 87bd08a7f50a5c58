// SPDX-License-Identifier: MIT
/* wgtun: notun's WireGuard tunnel with one peer, driven with raw IP packets,
 * for the interoperability tests against wireguard-go.
 *
 *   wgtun --private-key-file F [--listen ADDR:PORT] --address 10.214.N.2
 *         [--address6 fd00:214:N::2] --peer-public-key KEY [--peer-psk-file F]
 *         [--peer-endpoint IP:PORT] --peer-allowed-ips CIDR[,CIDR...]
 *         [--persistent-keepalive S] [--rekey-after-ms MS] [--reject-after-ms MS]
 *         [--keepalive-ms MS] [--rekey-timeout-ms MS] [--rekey-attempt-ms MS]
 *         [--under-load-threshold N]
 *         [--ping DST --count N [--size BYTES] [--interval-ms MS] [--timeout-ms MS]]
 *         [--assign RID,DOMAIN,PROXY_IP ... [--ctl-garbage]]
 *         [--probe tcp|udp:IP:PORT ... [--probe-count N] [--probe-timeout-ms MS]
 *          [--probe-isn N]]
 *         [--serve-ms MS] [--log-level L]
 *
 * Phases: ping (if --ping) until every reply came back or --timeout-ms, then
 * probe (if --probe, which needs --ping to bring the session up): each probe
 * sends --probe-count crafted TCP SYNs or UDP datagrams ("x") from distinct
 * source ports to its destination, and the answers are counted per probe
 * (ICMP administratively prohibited, other ICMP unreachable, SYN-ACK, RST,
 * UDP) until each probe has one per packet or --probe-timeout-ms. A SYN's
 * sequence number is --probe-isn (0) + its source port * 7919, so a run with
 * another --probe-isn resends "the same" SYNs with other numbers; each TCP
 * answer is logged at debug with its numbers (event=probe_tcp). Before
 * the probes, each --assign (which also needs --ping) is sent as an
 * in-tunnel assigned_ips control packet (portal-protocol.md section 7) for
 * that resource, name and proxy address, again every second until the
 * gateway's domain_status for it came or --probe-timeout-ms passed;
 * --ctl-garbage first sends one control packet whose body is no JSON. Then
 * serve (if --serve-ms) for that long; with neither, serve until a signal.
 * ICMP/ICMPv6 echo requests for our addresses are answered in every phase.
 * "listening port=P" goes to stderr as soon as the socket is bound (for any
 * port, so a test can wait for it before the peer sends). At exit one JSON
 * line goes to stdout; exit status 0 when every ping was answered (or there
 * was no ping), 1 otherwise, 2 on bad arguments. SIGINT/SIGTERM end the run
 * with the report.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/phx/pmsg.h"
#include "core/tunnel/tunnel.h"
#include "core/wg/allowedips.h"
#include "core/wg/key.h"
#include "netstack/ippkt.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "platform/random.h"
#include "tests/tools/tool_args.h"

#define EXIT_FAIL  1
#define EXIT_USAGE 2

#define MAX_ALLOWED_IPS	 64
#define MAX_COUNT	 1000000u
#define MAX_MS		 (24u * 3600u * 1000u)
#define IP4_HDR		 20
#define IP6_HDR		 40
#define ICMP_HDR	 8
#define MAX_SIZE	 (65535u - IP6_HDR - ICMP_HDR)
#define MAX_PROBES	 48
#define PROBE_BATCH	 64 /* packets per tick: the tunnel's queue is bounded */
#define PROBE_SPORT	 20000
#define TCP_HDR		 20
#define UDP_HDR		 8
#define MAX_ASSIGN	 8
#define ASSIGN_RESEND_MS 1000

struct probe {
	int family;
	uint8_t proto;
	uint8_t dst[16];
	uint16_t port;
	char text[64];
	uint32_t prohibited, icmp_other, synack, rst, udp;
};

struct assign {
	struct nt_pmsg_assigned_ips m;
	bool answered;
	struct nt_pmsg_domain_status st;
};

struct args {
	uint8_t private_key[NT_KEY_LEN];
	struct sockaddr_storage listen;
	socklen_t listen_len;
	bool listen_set;
	uint8_t addr4[4], addr6[16];
	bool addr4_set, addr6_set;
	uint8_t peer_public[NT_KEY_LEN];
	uint8_t psk[NT_KEY_LEN];
	bool psk_set, peer_key_set;
	struct sockaddr_storage endpoint;
	socklen_t endpoint_len;
	bool endpoint_set;
	struct wg_cidr allowed[MAX_ALLOWED_IPS];
	size_t allowed_count;
	uint16_t keepalive_s;
	struct wg_timers_params timers;
	bool timers_set, rekey_timeout_set;
	uint32_t under_load;
	bool under_load_set;
	/* ping */
	bool ping;
	int ping_family;
	uint8_t ping_dst[16];
	uint32_t count, size, interval_ms, timeout_ms;
	uint32_t serve_ms;
	bool serve_set;
	/* probe */
	struct probe probes[MAX_PROBES];
	size_t nprobes;
	uint32_t probe_count, probe_timeout_ms, probe_isn;
	/* dns */
	struct assign assigns[MAX_ASSIGN];
	size_t nassigns;
	bool ctl_garbage;
};

struct app {
	struct args *a;
	struct nt_loop *loop;
	struct nt_tunnel *tun;
	struct wg_peer *peer;
	struct nt_timer ping_timer, phase_timer, probe_timer, assign_timer;
	uint16_t ident;
	uint32_t sent, received, bad_replies, duplicates;
	uint8_t *seen; /* one flag per sequence number */
	uint8_t *pkt;  /* scratch for outgoing packets */
	bool pinging, assigning, probing;
	uint32_t ctl_other; /* control packets that are no answer of ours */
	size_t probe_next;  /* packets sent, over all probes */
	uint64_t served;
};

/* ---- argument parsing ---- */

static int parse_allowed(const char *list, struct args *a)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (a->allowed_count >= MAX_ALLOWED_IPS ||
		    wg_allowedips_parse_cidr(tok, &a->allowed[a->allowed_count]) != 0) {
			ret = -EINVAL;
			break;
		}
		a->allowed_count++;
	}
	free(copy);
	return a->allowed_count ? ret : -EINVAL;
}

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: wgtun --private-key-file F [--listen ADDR:PORT] --address IPV4\n"
	    "             [--address6 IPV6] --peer-public-key KEY [--peer-psk-file F]\n"
	    "             [--peer-endpoint IP:PORT] --peer-allowed-ips CIDR[,CIDR...]\n"
	    "             [--persistent-keepalive S] [--rekey-after-ms MS] [--reject-after-ms MS]\n"
	    "             [--keepalive-ms MS] [--rekey-timeout-ms MS] [--rekey-attempt-ms MS]\n"
	    "             [--under-load-threshold N]\n"
	    "             [--ping DST --count N [--size BYTES] [--interval-ms MS] "
	    "[--timeout-ms MS]]\n"
	    "             [--assign RID,DOMAIN,PROXY_IP ... [--ctl-garbage]]\n"
	    "             [--probe tcp|udp:IP:PORT ... [--probe-count N] [--probe-timeout-ms MS]\n"
	    "              [--probe-isn N]]\n"
	    "             [--serve-ms MS] [--log-level trace|debug|info|warn|error|off]\n"
	    "  --rekey-after-ms without --rekey-timeout-ms also shortens REKEY_TIMEOUT to a\n"
	    "  third of it (at most 5 s): initiations are REKEY_TIMEOUT apart.\n");
}

static int bad(const char *opt, const char *val)
{
	fprintf(stderr, "wgtun: bad %s %s\n", opt, val ? val : "");
	usage();
	return -EINVAL;
}

enum {
	OPT_KEY = 256,
	OPT_LISTEN,
	OPT_ADDR,
	OPT_ADDR6,
	OPT_PEER_KEY,
	OPT_PSK,
	OPT_ENDPOINT,
	OPT_ALLOWED,
	OPT_PKA,
	OPT_REKEY_AFTER,
	OPT_REJECT_AFTER,
	OPT_KEEPALIVE,
	OPT_REKEY_TIMEOUT,
	OPT_REKEY_ATTEMPT,
	OPT_UNDER_LOAD,
	OPT_PING,
	OPT_COUNT,
	OPT_SIZE,
	OPT_INTERVAL,
	OPT_TIMEOUT,
	OPT_SERVE,
	OPT_LOG,
	OPT_PROBE,
	OPT_PROBE_COUNT,
	OPT_PROBE_TIMEOUT,
	OPT_PROBE_ISN,
	OPT_ASSIGN,
	OPT_CTL_GARBAGE,
};

/* r-1,app.localhost,100.96.0.1 */
static int parse_assign(const char *text, struct args *a)
{
	char copy[NT_PMSG_ID_MAX + NT_PMSG_DOMAIN_MAX + 64], *save = NULL;
	const char *rid, *domain, *ip;
	struct nt_pmsg_assigned_ips *m;

	if (a->nassigns >= MAX_ASSIGN || strlen(text) >= sizeof(copy))
		return -EINVAL;
	strcpy(copy, text);
	rid = strtok_r(copy, ",", &save);
	domain = strtok_r(NULL, ",", &save);
	ip = strtok_r(NULL, ",", &save);
	if (!ip || strtok_r(NULL, ",", &save) || strlen(rid) > NT_PMSG_ID_MAX ||
	    strlen(domain) > NT_PMSG_DOMAIN_MAX)
		return -EINVAL;
	m = &a->assigns[a->nassigns].m;
	strcpy(m->resource_id, rid);
	strcpy(m->domain, domain);
	m->proxy_ips[0].family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(m->proxy_ips[0].family, ip, m->proxy_ips[0].addr) != 1)
		return -EINVAL;
	m->n_ips = 1;
	a->nassigns++;
	return 0;
}

/* tcp:10.0.0.1:80, udp:[::1]:53 */
static int parse_probe(const char *text, struct args *a)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct probe *p = &a->probes[a->nprobes];

	if (a->nprobes >= MAX_PROBES || strlen(text) >= sizeof(p->text))
		return -EINVAL;
	if (strncmp(text, "tcp:", 4) == 0)
		p->proto = IPPROTO_TCP;
	else if (strncmp(text, "udp:", 4) == 0)
		p->proto = IPPROTO_UDP;
	else
		return -EINVAL;
	if (tool_parse_hostport(text + 4, 1, &ss, &len))
		return -EINVAL;
	p->family = ss.ss_family;
	if (p->family == AF_INET) {
		memcpy(p->dst, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		p->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else {
		memcpy(p->dst, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		p->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	snprintf(p->text, sizeof(p->text), "%s", text);
	a->nprobes++;
	return 0;
}

static int parse_ms_option(const char *opt, const char *val, uint64_t *ns, struct args *a)
{
	uint32_t ms;

	if (tool_parse_u32(val, 1, MAX_MS, &ms))
		return bad(opt, val);
	*ns = WG_MSEC(ms);
	a->timers_set = true;
	return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
	    {"private-key-file", required_argument, NULL, OPT_KEY},
	    {"listen", required_argument, NULL, OPT_LISTEN},
	    {"address", required_argument, NULL, OPT_ADDR},
	    {"address6", required_argument, NULL, OPT_ADDR6},
	    {"peer-public-key", required_argument, NULL, OPT_PEER_KEY},
	    {"peer-psk-file", required_argument, NULL, OPT_PSK},
	    {"peer-endpoint", required_argument, NULL, OPT_ENDPOINT},
	    {"peer-allowed-ips", required_argument, NULL, OPT_ALLOWED},
	    {"persistent-keepalive", required_argument, NULL, OPT_PKA},
	    {"rekey-after-ms", required_argument, NULL, OPT_REKEY_AFTER},
	    {"reject-after-ms", required_argument, NULL, OPT_REJECT_AFTER},
	    {"keepalive-ms", required_argument, NULL, OPT_KEEPALIVE},
	    {"rekey-timeout-ms", required_argument, NULL, OPT_REKEY_TIMEOUT},
	    {"rekey-attempt-ms", required_argument, NULL, OPT_REKEY_ATTEMPT},
	    {"under-load-threshold", required_argument, NULL, OPT_UNDER_LOAD},
	    {"ping", required_argument, NULL, OPT_PING},
	    {"count", required_argument, NULL, OPT_COUNT},
	    {"size", required_argument, NULL, OPT_SIZE},
	    {"interval-ms", required_argument, NULL, OPT_INTERVAL},
	    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
	    {"serve-ms", required_argument, NULL, OPT_SERVE},
	    {"log-level", required_argument, NULL, OPT_LOG},
	    {"probe", required_argument, NULL, OPT_PROBE},
	    {"probe-count", required_argument, NULL, OPT_PROBE_COUNT},
	    {"probe-timeout-ms", required_argument, NULL, OPT_PROBE_TIMEOUT},
	    {"probe-isn", required_argument, NULL, OPT_PROBE_ISN},
	    {"assign", required_argument, NULL, OPT_ASSIGN},
	    {"ctl-garbage", no_argument, NULL, OPT_CTL_GARBAGE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool key_set = false, count_set = false;
	enum nt_log_level level;
	uint32_t v;
	int c;

	a->size = 56;
	a->interval_ms = 100;
	a->timeout_ms = 10000;
	a->probe_count = 1;
	a->probe_timeout_ms = 5000;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_KEY:
			if (tool_read_key_file(optarg, a->private_key))
				return bad("--private-key-file", optarg);
			key_set = true;
			break;
		case OPT_LISTEN:
			if (tool_parse_hostport(optarg, 0, &a->listen, &a->listen_len))
				return bad("--listen", optarg);
			a->listen_set = true;
			break;
		case OPT_ADDR:
			if (inet_pton(AF_INET, optarg, a->addr4) != 1)
				return bad("--address", optarg);
			a->addr4_set = true;
			break;
		case OPT_ADDR6:
			if (inet_pton(AF_INET6, optarg, a->addr6) != 1)
				return bad("--address6", optarg);
			a->addr6_set = true;
			break;
		case OPT_PEER_KEY:
			if (nt_key_from_base64(a->peer_public, optarg, strlen(optarg)))
				return bad("--peer-public-key", optarg);
			a->peer_key_set = true;
			break;
		case OPT_PSK:
			if (tool_read_key_file(optarg, a->psk))
				return bad("--peer-psk-file", optarg);
			a->psk_set = true;
			break;
		case OPT_ENDPOINT:
			if (tool_parse_hostport(optarg, 1, &a->endpoint, &a->endpoint_len))
				return bad("--peer-endpoint", optarg);
			a->endpoint_set = true;
			break;
		case OPT_ALLOWED:
			if (parse_allowed(optarg, a))
				return bad("--peer-allowed-ips", optarg);
			break;
		case OPT_PKA:
			if (tool_parse_u32(optarg, 0, 65535, &v))
				return bad("--persistent-keepalive", optarg);
			a->keepalive_s = (uint16_t)v;
			break;
		case OPT_REKEY_AFTER:
			if (parse_ms_option("--rekey-after-ms", optarg,
					    &a->timers.rekey_after_time_ns, a))
				return -EINVAL;
			break;
		case OPT_REJECT_AFTER:
			if (parse_ms_option("--reject-after-ms", optarg,
					    &a->timers.reject_after_time_ns, a))
				return -EINVAL;
			break;
		case OPT_KEEPALIVE:
			if (parse_ms_option("--keepalive-ms", optarg,
					    &a->timers.keepalive_timeout_ns, a))
				return -EINVAL;
			break;
		case OPT_REKEY_TIMEOUT:
			if (parse_ms_option("--rekey-timeout-ms", optarg,
					    &a->timers.rekey_timeout_ns, a))
				return -EINVAL;
			a->rekey_timeout_set = true;
			break;
		case OPT_REKEY_ATTEMPT:
			if (parse_ms_option("--rekey-attempt-ms", optarg,
					    &a->timers.rekey_attempt_time_ns, a))
				return -EINVAL;
			break;
		case OPT_UNDER_LOAD:
			if (tool_parse_u32(optarg, 0, UINT32_MAX, &a->under_load))
				return bad("--under-load-threshold", optarg);
			a->under_load_set = true;
			break;
		case OPT_PING:
			a->ping_family = strchr(optarg, ':') ? AF_INET6 : AF_INET;
			if (inet_pton(a->ping_family, optarg, a->ping_dst) != 1)
				return bad("--ping", optarg);
			a->ping = true;
			break;
		case OPT_COUNT:
			if (tool_parse_u32(optarg, 1, MAX_COUNT, &a->count))
				return bad("--count", optarg);
			count_set = true;
			break;
		case OPT_SIZE:
			if (tool_parse_u32(optarg, 0, MAX_SIZE, &a->size))
				return bad("--size", optarg);
			break;
		case OPT_INTERVAL:
			if (tool_parse_u32(optarg, 0, MAX_MS, &a->interval_ms))
				return bad("--interval-ms", optarg);
			break;
		case OPT_TIMEOUT:
			if (tool_parse_u32(optarg, 1, MAX_MS, &a->timeout_ms))
				return bad("--timeout-ms", optarg);
			break;
		case OPT_SERVE:
			if (tool_parse_u32(optarg, 0, MAX_MS, &a->serve_ms))
				return bad("--serve-ms", optarg);
			a->serve_set = true;
			break;
		case OPT_LOG:
			if (nt_log_parse_level(optarg, &level))
				return bad("--log-level", optarg);
			nt_log_set_level(level);
			break;
		case OPT_PROBE:
			if (parse_probe(optarg, a))
				return bad("--probe", optarg);
			break;
		case OPT_PROBE_COUNT:
			if (tool_parse_u32(optarg, 1, PROBE_SPORT, &a->probe_count))
				return bad("--probe-count", optarg);
			break;
		case OPT_PROBE_TIMEOUT:
			if (tool_parse_u32(optarg, 1, MAX_MS, &a->probe_timeout_ms))
				return bad("--probe-timeout-ms", optarg);
			break;
		case OPT_PROBE_ISN:
			if (tool_parse_u32(optarg, 0, UINT32_MAX, &a->probe_isn))
				return bad("--probe-isn", optarg);
			break;
		case OPT_ASSIGN:
			if (parse_assign(optarg, a))
				return bad("--assign", optarg);
			break;
		case OPT_CTL_GARBAGE:
			a->ctl_garbage = true;
			break;
		case 'h':
			usage();
			return -EINVAL;
		default:
			usage();
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "wgtun: unexpected argument %s\n", argv[optind]);
		return -EINVAL;
	}
	if (!key_set || !a->addr4_set || !a->peer_key_set || !a->allowed_count) {
		fprintf(stderr, "wgtun: --private-key-file, --address, --peer-public-key and "
				"--peer-allowed-ips are required\n");
		usage();
		return -EINVAL;
	}
	if (a->ping && !count_set) {
		fprintf(stderr, "wgtun: --ping needs --count\n");
		return -EINVAL;
	}
	if ((a->nprobes || a->nassigns) && !a->ping) {
		fprintf(stderr, "wgtun: --probe and --assign need --ping (the session comes "
				"first)\n");
		return -EINVAL;
	}
	for (size_t i = 0; i < a->nprobes; i++) {
		if (a->probes[i].family == AF_INET6 && !a->addr6_set) {
			fprintf(stderr, "wgtun: an IPv6 --probe needs --address6\n");
			return -EINVAL;
		}
	}
	if (a->ping && a->ping_family == AF_INET6 && !a->addr6_set) {
		fprintf(stderr, "wgtun: --ping to an IPv6 address needs --address6\n");
		return -EINVAL;
	}
	if (a->timers.rekey_after_time_ns && !a->rekey_timeout_set) {
		uint64_t third = a->timers.rekey_after_time_ns / 3;

		if (third < WG_SEC(WG_REKEY_TIMEOUT_S))
			a->timers.rekey_timeout_ns = third ? third : 1;
	}
	return 0;
}

/* ---- IP and ICMP ---- */

/* ICMPv6 checksums cover a pseudo-header: addresses, length, next header. */
static uint16_t icmp6_checksum(const uint8_t src[16], const uint8_t dst[16], const uint8_t *msg,
			       size_t len)
{
	uint32_t acc = nt_ippkt_pseudo_sum(AF_INET6, src, dst, IPPROTO_ICMPV6, len);

	return nt_ippkt_csum(nt_ippkt_sum(msg, len, acc));
}

static uint8_t pattern(uint32_t seq, size_t i)
{
	return (uint8_t)(0x4e + seq * 13u + i * 7u);
}

/* An echo request (v4 or v6) for seq into buf; returns its length. */
static size_t build_echo(const struct args *a, uint16_t ident, uint32_t seq, uint8_t *buf)
{
	size_t hdr = a->ping_family == AF_INET ? IP4_HDR : IP6_HDR;
	size_t icmp_len = ICMP_HDR + a->size;
	uint8_t *icmp = buf + hdr;

	memset(buf, 0, hdr + ICMP_HDR);
	icmp[0] = a->ping_family == AF_INET ? 8 : 128;
	nt_ippkt_put16(icmp + 4, ident);
	nt_ippkt_put16(icmp + 6, (uint16_t)seq);
	for (size_t i = 0; i < a->size; i++)
		icmp[ICMP_HDR + i] = pattern(seq, i);
	if (a->ping_family == AF_INET) {
		buf[0] = 0x45;
		nt_ippkt_put16(buf + 2, (uint16_t)(hdr + icmp_len));
		nt_ippkt_put16(buf + 4, (uint16_t)seq);
		buf[8] = 64;
		buf[9] = 1;
		memcpy(buf + 12, a->addr4, 4);
		memcpy(buf + 16, a->ping_dst, 4);
		nt_ippkt_put16(buf + 10, nt_ippkt_csum(nt_ippkt_sum(buf, IP4_HDR, 0)));
		nt_ippkt_put16(icmp + 2, nt_ippkt_csum(nt_ippkt_sum(icmp, icmp_len, 0)));
	} else {
		buf[0] = 0x60;
		nt_ippkt_put16(buf + 4, (uint16_t)icmp_len);
		buf[6] = 58;
		buf[7] = 64;
		memcpy(buf + 8, a->addr6, 16);
		memcpy(buf + 24, a->ping_dst, 16);
		nt_ippkt_put16(icmp + 2, icmp6_checksum(buf + 8, buf + 24, icmp, icmp_len));
	}
	return hdr + icmp_len;
}

/* A reply to one of our pings: counted as received, duplicate or bad. */
static void check_reply(struct app *app, const uint8_t *src, const uint8_t *icmp, size_t len)
{
	const struct args *a = app->a;
	size_t alen = a->ping_family == AF_INET ? 4 : 16;
	uint32_t seq;

	if (nt_ippkt_get16(icmp + 4) != app->ident)
		return; /* someone else's */
	seq = nt_ippkt_get16(icmp + 6);
	if (memcmp(src, a->ping_dst, alen) != 0 || len != ICMP_HDR + a->size || seq >= app->sent ||
	    seq >= a->count) {
		app->bad_replies++;
		nt_debug("wgtun", "event=bad_reply seq=%u len=%zu", seq, len);
		return;
	}
	for (size_t i = 0; i < a->size; i++) {
		if (icmp[ICMP_HDR + i] != pattern(seq, i)) {
			app->bad_replies++;
			nt_debug("wgtun", "event=bad_reply seq=%u reason=payload", seq);
			return;
		}
	}
	if (app->seen[seq]) {
		app->duplicates++;
		return;
	}
	app->seen[seq] = 1;
	app->received++;
}

/* ---- probes ---- */

/* A TCP SYN or a one-byte UDP datagram for probe p from sport into buf;
 * returns its length. */
static size_t build_probe(const struct args *a, const struct probe *p, uint16_t sport, uint8_t *buf)
{
	size_t hdr = p->family == AF_INET ? IP4_HDR : IP6_HDR;
	size_t l4_len = p->proto == IPPROTO_TCP ? TCP_HDR : UDP_HDR + 1;
	const uint8_t *src = p->family == AF_INET ? a->addr4 : a->addr6;
	uint8_t *l4 = buf + hdr;
	uint32_t acc;

	memset(buf, 0, hdr + l4_len);
	if (p->family == AF_INET) {
		buf[0] = 0x45;
		nt_ippkt_put16(buf + 2, (uint16_t)(hdr + l4_len));
		buf[8] = 64;
		buf[9] = p->proto;
		memcpy(buf + 12, src, 4);
		memcpy(buf + 16, p->dst, 4);
		nt_ippkt_put16(buf + 10, nt_ippkt_csum(nt_ippkt_sum(buf, IP4_HDR, 0)));
	} else {
		buf[0] = 0x60;
		nt_ippkt_put16(buf + 4, (uint16_t)l4_len);
		buf[6] = p->proto;
		buf[7] = 64;
		memcpy(buf + 8, src, 16);
		memcpy(buf + 24, p->dst, 16);
	}
	nt_ippkt_put16(l4, sport);
	nt_ippkt_put16(l4 + 2, p->port);
	if (p->proto == IPPROTO_TCP) {
		nt_ippkt_put32(l4 + 4, a->probe_isn + (uint32_t)sport * 7919u);
		l4[12] = 5 << 4;
		l4[13] = 0x02; /* SYN */
		nt_ippkt_put16(l4 + 14, 65535);
	} else {
		nt_ippkt_put16(l4 + 4, (uint16_t)l4_len);
		l4[UDP_HDR] = 'x';
	}
	acc = nt_ippkt_pseudo_sum(p->family, src, p->dst, p->proto, l4_len);
	nt_ippkt_put16(l4 + (p->proto == IPPROTO_TCP ? 16 : 6),
		       nt_ippkt_csum(nt_ippkt_sum(l4, l4_len, acc)));
	return hdr + l4_len;
}

static struct probe *probe_of(struct app *app, int family, uint8_t proto, const uint8_t *addr,
			      uint16_t port)
{
	for (size_t i = 0; i < app->a->nprobes; i++) {
		struct probe *p = &app->a->probes[i];

		if (p->family == family && p->proto == proto && p->port == port &&
		    memcmp(p->dst, addr, family == AF_INET ? 4 : 16) == 0)
			return p;
	}
	return NULL;
}

/* An answer to one of our probes, counted; false for anything else. */
static bool probe_answer(struct app *app, const uint8_t *pkt, size_t len)
{
	struct nt_ippkt ip, q;
	const uint8_t *l4;
	struct probe *p;

	if (nt_ippkt_parse(pkt, len, &ip) != 0 || !ip.has_l4 || ip.l4_len < 8)
		return false;
	l4 = pkt + ip.l4;
	if (ip.proto == IPPROTO_TCP || ip.proto == IPPROTO_UDP) {
		p = probe_of(app, ip.family, ip.proto, ip.src, nt_ippkt_get16(l4));
		if (!p)
			return false;
		if (ip.proto == IPPROTO_UDP) {
			p->udp++;
			return true;
		}
		if (ip.l4_len < TCP_HDR)
			return true;
		nt_debug("wgtun", "event=probe_tcp probe=%s sport=%u flags=0x%02x seq=%u ack=%u",
			 p->text, nt_ippkt_get16(l4 + 2), l4[13], nt_ippkt_get32(l4 + 4),
			 nt_ippkt_get32(l4 + 8));
		if (l4[13] & 0x04)
			p->rst++;
		else if ((l4[13] & 0x12) == 0x12)
			p->synack++;
		return true;
	}
	if (!((ip.proto == 1 && l4[0] == 3) || (ip.proto == 58 && l4[0] == 1)) ||
	    nt_ippkt_parse_quote(l4 + 8, ip.l4_len - 8, &q) != 0 || !q.has_l4 ||
	    q.l4 + 4 > ip.l4_len - 8)
		return false;
	p = probe_of(app, q.family, q.proto, q.dst, nt_ippkt_get16(l4 + 8 + q.l4 + 2));
	if (!p)
		return false;
	if ((ip.proto == 1 && l4[1] == 13) || (ip.proto == 58 && l4[1] == 1))
		p->prohibited++;
	else
		p->icmp_other++;
	return true;
}

static bool probes_answered(const struct app *app)
{
	for (size_t i = 0; i < app->a->nprobes; i++) {
		const struct probe *p = &app->a->probes[i];

		if (p->prohibited + p->icmp_other + p->synack + p->rst + p->udp <
		    app->a->probe_count)
			return false;
	}
	return true;
}

static void finish_probe(struct app *app);

static void probe_tick(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct app *app = arg;
	const struct args *a = app->a;
	size_t total = a->nprobes * a->probe_count, len;

	(void)timer;
	for (int n = 0; n < PROBE_BATCH && app->probe_next < total; n++, app->probe_next++) {
		const struct probe *p = &a->probes[app->probe_next / a->probe_count];
		uint16_t sport = (uint16_t)(PROBE_SPORT + app->probe_next % a->probe_count);

		len = build_probe(a, p, sport, app->pkt);
		nt_tunnel_send(app->tun, app->peer, app->pkt, len);
	}
	if (app->probe_next < total)
		nt_timer_arm(loop, &app->probe_timer, NT_NS_PER_MS);
}

static void finish_ping(struct app *app);

/* Answers an echo request in place (pkt is the tunnel's buffer: copy first). */
static void answer_echo(struct app *app, const uint8_t *pkt, size_t len, size_t hdr, bool v6)
{
	uint8_t *out = app->pkt;
	uint8_t *icmp = out + hdr;
	uint8_t tmp[16];

	memcpy(out, pkt, len);
	if (v6) {
		memcpy(tmp, out + 8, 16);
		memcpy(out + 8, out + 24, 16);
		memcpy(out + 24, tmp, 16);
		out[7] = 64;
		icmp[0] = 129;
		nt_ippkt_put16(icmp + 2, 0);
		nt_ippkt_put16(icmp + 2, icmp6_checksum(out + 8, out + 24, icmp, len - hdr));
	} else {
		memcpy(tmp, out + 12, 4);
		memcpy(out + 12, out + 16, 4);
		memcpy(out + 16, tmp, 4);
		out[8] = 64;
		nt_ippkt_put16(out + 10, 0);
		nt_ippkt_put16(out + 10, nt_ippkt_csum(nt_ippkt_sum(out, hdr, 0)));
		icmp[0] = 0;
		nt_ippkt_put16(icmp + 2, 0);
		nt_ippkt_put16(icmp + 2, nt_ippkt_csum(nt_ippkt_sum(icmp, len - hdr, 0)));
	}
	if (nt_tunnel_send(app->tun, app->peer, out, len) == 0)
		app->served++;
}

static void on_deliver(void *arg, struct wg_peer *peer, const uint8_t *pkt, size_t len)
{
	struct app *app = arg;
	const struct args *a = app->a;

	(void)peer;
	if (app->probing && probe_answer(app, pkt, len)) {
		if (probes_answered(app))
			finish_probe(app);
		return;
	}
	if (len >= IP4_HDR && pkt[0] >> 4 == 4) {
		size_t hdr = (size_t)(pkt[0] & 15) * 4;

		if (hdr < IP4_HDR || len < hdr + ICMP_HDR || pkt[9] != 1 ||
		    memcmp(pkt + 16, a->addr4, 4) != 0)
			return;
		if (pkt[hdr] == 8 && pkt[hdr + 1] == 0)
			answer_echo(app, pkt, len, hdr, false);
		else if (pkt[hdr] == 0 && app->pinging && a->ping_family == AF_INET)
			check_reply(app, pkt + 12, pkt + hdr, len - hdr);
	} else if (len >= IP6_HDR + ICMP_HDR && pkt[0] >> 4 == 6) {
		if (pkt[6] != 58 || !a->addr6_set || memcmp(pkt + 24, a->addr6, 16) != 0)
			return;
		if (pkt[IP6_HDR] == 128 && pkt[IP6_HDR + 1] == 0)
			answer_echo(app, pkt, len, IP6_HDR, true);
		else if (pkt[IP6_HDR] == 129 && app->pinging && a->ping_family == AF_INET6)
			check_reply(app, pkt + 8, pkt + IP6_HDR, len - IP6_HDR);
	}
	if (app->pinging && app->received == a->count)
		finish_ping(app);
}

/* ---- dns control packets ---- */

static void send_ctl(struct app *app, uint8_t type, const char *body, size_t len)
{
	int n = nt_pmsg_dns_ctl_build(app->pkt, 65536, type, body, len);

	if (n > 0)
		nt_tunnel_send(app->tun, app->peer, app->pkt, (size_t)n);
}

static bool assigns_answered(const struct app *app)
{
	for (size_t i = 0; i < app->a->nassigns; i++)
		if (!app->a->assigns[i].answered)
			return false;
	return true;
}

static void start_probing(struct app *app);

static void assign_tick(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct app *app = arg;
	char body[NT_PMSG_DNS_CTL_BODY_MAX + 1];

	(void)timer;
	for (size_t i = 0; i < app->a->nassigns; i++) {
		int n;

		if (app->a->assigns[i].answered)
			continue;
		n = nt_pmsg_assigned_ips_encode(body, sizeof(body), &app->a->assigns[i].m);
		if (n > 0)
			send_ctl(app, NT_PMSG_DNS_ASSIGNED_IPS, body, (size_t)n);
	}
	nt_timer_arm(loop, &app->assign_timer, (uint64_t)ASSIGN_RESEND_MS * NT_NS_PER_MS);
}

static void finish_assign(struct app *app)
{
	app->assigning = false;
	nt_timer_cancel(app->loop, &app->assign_timer);
	nt_timer_cancel(app->loop, &app->phase_timer);
	start_probing(app);
}

static void on_control(void *arg, struct wg_peer *peer, const uint8_t *pkt, size_t len)
{
	struct app *app = arg;
	struct nt_pmsg_domain_status st;
	const char *body;
	size_t body_len;
	uint8_t type;

	(void)peer;
	if (nt_pmsg_dns_ctl_parse(pkt, len, &type, &body, &body_len) != 0 ||
	    type != NT_PMSG_DNS_DOMAIN_STATUS ||
	    nt_pmsg_domain_status_decode(body, body_len, &st) != 0) {
		app->ctl_other++;
		return;
	}
	for (size_t i = 0; i < app->a->nassigns; i++) {
		struct assign *as = &app->a->assigns[i];

		if (!as->answered && strcmp(as->m.resource_id, st.resource_id) == 0 &&
		    strcmp(as->m.domain, st.domain) == 0) {
			as->answered = true;
			as->st = st;
			break;
		}
	}
	if (app->assigning && assigns_answered(app))
		finish_assign(app);
}

static void on_peer_event(void *arg, struct wg_peer *peer, enum nt_tunnel_peer_event ev)
{
	(void)arg;
	(void)peer;
	(void)ev;
}

/* ---- phases ---- */

static void phase_end(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct app *app = arg;

	(void)timer;
	if (app->pinging) {
		finish_ping(app);
		return;
	}
	if (app->assigning) {
		finish_assign(app);
		return;
	}
	if (app->probing) {
		finish_probe(app);
		return;
	}
	nt_loop_stop(loop);
}

static void start_serving(struct app *app)
{
	if (!app->a->serve_set)
		return; /* until a signal */
	nt_timer_arm(app->loop, &app->phase_timer, (uint64_t)app->a->serve_ms * NT_NS_PER_MS);
}

static void finish_probe(struct app *app)
{
	app->probing = false;
	nt_timer_cancel(app->loop, &app->probe_timer);
	nt_timer_cancel(app->loop, &app->phase_timer);
	if (app->a->serve_set && app->a->serve_ms > 0)
		start_serving(app);
	else
		nt_loop_stop(app->loop);
}

static void finish_ping(struct app *app)
{
	static const char garbage[] = "{not json";

	app->pinging = false;
	nt_timer_cancel(app->loop, &app->ping_timer);
	nt_timer_cancel(app->loop, &app->phase_timer);
	if (app->a->ctl_garbage)
		send_ctl(app, NT_PMSG_DNS_ASSIGNED_IPS, garbage, sizeof(garbage) - 1);
	if (app->a->nassigns) {
		app->assigning = true;
		nt_timer_arm(app->loop, &app->phase_timer,
			     (uint64_t)app->a->probe_timeout_ms * NT_NS_PER_MS);
		nt_timer_arm(app->loop, &app->assign_timer, 0);
		return;
	}
	start_probing(app);
}

static void start_probing(struct app *app)
{
	if (app->a->nprobes) {
		app->probing = true;
		nt_timer_arm(app->loop, &app->phase_timer,
			     (uint64_t)app->a->probe_timeout_ms * NT_NS_PER_MS);
		nt_timer_arm(app->loop, &app->probe_timer, 0);
		return;
	}
	if (app->a->serve_set && app->a->serve_ms > 0)
		start_serving(app);
	else
		nt_loop_stop(app->loop);
}

static void ping_tick(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct app *app = arg;
	size_t len;

	(void)timer;
	if (!app->pinging || app->sent >= app->a->count)
		return;
	len = build_echo(app->a, app->ident, app->sent, app->pkt);
	nt_tunnel_send(app->tun, app->peer, app->pkt, len);
	app->sent++;
	if (app->sent < app->a->count)
		nt_timer_arm(loop, &app->ping_timer, (uint64_t)app->a->interval_ms * NT_NS_PER_MS);
}

static void on_signal(struct nt_loop *loop, int signo, void *arg)
{
	(void)signo;
	(void)arg;
	nt_loop_stop(loop);
}

/* ---- report ---- */

static void report(const struct app *app)
{
	const struct wg_peer_counters *pc = nt_tunnel_peer_counters(app->peer);
	struct nt_tunnel_counters tc;

	nt_tunnel_counters(app->tun, &tc);
	printf("{\"sent\":%u,\"received\":%u,\"bad_replies\":%u,\"duplicates\":%u,"
	       "\"handshakes_completed\":%llu,\"handshakes_initiated\":%llu,"
	       "\"cookie_replies\":%llu,\"rx_packets\":%llu,\"tx_packets\":%llu,"
	       "\"keepalives_rx\":%llu,\"keepalives_tx\":%llu,\"echo_served\":%llu,"
	       "\"drops\":{\"no_session\":%llu,\"replay\":%llu,\"decrypt\":%llu,"
	       "\"source_not_allowed\":%llu,\"queue_full\":%llu,\"handshake_give_up\":%llu,"
	       "\"tx_queue_full\":%llu,\"bad_mac1\":%llu,\"unknown_static_key\":%llu,"
	       "\"handshake_auth\":%llu,\"malformed\":%llu},"
	       "\"listen_port\":%u,\"probes\":[",
	       app->sent, app->received, app->bad_replies, app->duplicates,
	       (unsigned long long)pc->handshakes_completed,
	       (unsigned long long)pc->handshakes_initiated, (unsigned long long)pc->cookie_replies,
	       (unsigned long long)pc->rx_packets, (unsigned long long)pc->tx_packets,
	       (unsigned long long)pc->keepalives_rx, (unsigned long long)pc->keepalives_tx,
	       (unsigned long long)app->served,
	       (unsigned long long)(pc->drop_no_session + tc.rx_unknown_index),
	       (unsigned long long)pc->drop_replay, (unsigned long long)pc->drop_decrypt,
	       (unsigned long long)pc->drop_source, (unsigned long long)pc->drop_queue_full,
	       (unsigned long long)pc->drop_give_up, (unsigned long long)tc.tx_queue_full,
	       (unsigned long long)tc.rx_bad_mac1, (unsigned long long)tc.hs_unknown_key,
	       (unsigned long long)tc.hs_bad_auth, (unsigned long long)tc.rx_malformed,
	       nt_tunnel_port(app->tun));
	for (size_t i = 0; i < app->a->nprobes; i++) {
		const struct probe *p = &app->a->probes[i];

		printf("%s{\"probe\":\"%s\",\"prohibited\":%u,\"icmp_other\":%u,"
		       "\"synack\":%u,\"rst\":%u,\"udp\":%u}",
		       i ? "," : "", p->text, p->prohibited, p->icmp_other, p->synack, p->rst,
		       p->udp);
	}
	printf("],\"ctl_other\":%u,\"dns\":[", app->ctl_other);
	for (size_t i = 0; i < app->a->nassigns; i++) {
		const struct assign *as = &app->a->assigns[i];

		printf("%s{\"resource_id\":\"%s\",\"domain\":\"%s\",\"status\":\"%s\","
		       "\"reason\":\"%s\"}",
		       i ? "," : "", as->m.resource_id, as->m.domain,
		       !as->answered   ? "none"
		       : as->st.active ? "active"
				       : "failed",
		       as->st.reason);
	}
	printf("]}\n");
	fflush(stdout);
}

/* ---- main ---- */

static int setup(struct app *app)
{
	struct args *a = app->a;
	struct nt_tunnel_config cfg;
	struct nt_tunnel_ops ops = {
	    .deliver = on_deliver, .peer_event = on_peer_event, .control = on_control, .arg = app};
	struct nt_tunnel_peer_config pc = {0};
	int ret;

	ret = nt_loop_new(&app->loop);
	if (ret)
		return ret;
	nt_timer_init(&app->ping_timer, ping_tick, app);
	nt_timer_init(&app->phase_timer, phase_end, app);
	nt_timer_init(&app->probe_timer, probe_tick, app);
	nt_timer_init(&app->assign_timer, assign_tick, app);
	if ((ret = nt_loop_add_signal(app->loop, SIGINT, on_signal, app)) ||
	    (ret = nt_loop_add_signal(app->loop, SIGTERM, on_signal, app)))
		return ret;

	nt_tunnel_config_init(&cfg);
	memcpy(cfg.private_key, a->private_key, NT_KEY_LEN);
	if (a->listen_set) {
		cfg.listen_addr = (struct sockaddr *)&a->listen;
		cfg.listen_addr_len = a->listen_len;
	}
	if (a->timers_set)
		cfg.timers = &a->timers;
	if (a->under_load_set)
		cfg.under_load_threshold = a->under_load;
	ret = nt_tunnel_new(app->loop, &cfg, &ops, &app->tun);
	sodium_memzero(cfg.private_key, sizeof(cfg.private_key));
	if (ret)
		return ret;
	/* Always, not only for an ephemeral port: it tells a test that datagrams
	 * sent from now on are received. */
	fprintf(stderr, "listening port=%u\n", nt_tunnel_port(app->tun));
	fflush(stderr);

	memcpy(pc.public_key, a->peer_public, NT_KEY_LEN);
	pc.psk = a->psk_set ? a->psk : NULL;
	if (a->endpoint_set) {
		pc.endpoint = (struct sockaddr *)&a->endpoint;
		pc.endpoint_len = a->endpoint_len;
	}
	pc.allowed_ips = a->allowed;
	pc.allowed_ips_count = a->allowed_count;
	pc.persistent_keepalive_s = a->keepalive_s;
	return nt_tunnel_add_peer(app->tun, &pc, &app->peer);
}

int main(int argc, char **argv)
{
	static struct args a;
	struct app app = {.a = &a};
	int ret, status = EXIT_FAIL;

	if (nt_platform_init() != 0) {
		fprintf(stderr, "wgtun: libsodium init failed\n");
		return EXIT_FAIL;
	}
	nt_log_set_level(NT_LOG_INFO);
	if (parse_args(argc, argv, &a) != 0) {
		sodium_memzero(&a, sizeof(a));
		return EXIT_USAGE;
	}
	app.ident = (uint16_t)(getpid() ^ nt_random_u32_uniform(65536));
	app.pkt = malloc(65536);
	app.seen = calloc(a.count ? a.count : 1, 1);
	if (!app.pkt || !app.seen) {
		fprintf(stderr, "wgtun: out of memory\n");
		goto out;
	}
	ret = setup(&app);
	if (ret) {
		fprintf(stderr, "wgtun: set-up failed: %s\n", strerror(-ret));
		goto out;
	}
	if (a.ping) {
		app.pinging = true;
		nt_timer_arm(app.loop, &app.phase_timer, (uint64_t)a.timeout_ms * NT_NS_PER_MS);
		nt_timer_arm(app.loop, &app.ping_timer, 0);
	} else {
		start_serving(&app);
	}
	ret = nt_loop_run(app.loop);
	if (ret)
		fprintf(stderr, "wgtun: loop failed: %s\n", strerror(-ret));
	report(&app);
	status = (!a.ping || app.received == a.count) && !ret ? 0 : EXIT_FAIL;
out:
	nt_tunnel_free(app.tun);
	if (app.loop) {
		nt_timer_cancel(app.loop, &app.ping_timer);
		nt_timer_cancel(app.loop, &app.phase_timer);
		nt_timer_cancel(app.loop, &app.probe_timer);
		nt_timer_cancel(app.loop, &app.assign_timer);
		nt_loop_free(app.loop);
	}
	free(app.pkt);
	free(app.seen);
	sodium_memzero(&a, sizeof(a));
	return status;
}
