// SPDX-License-Identifier: MIT
/* core/resolver: IP literals, the system backend on its threads, and tunnel
 * DNS driven inside lwIP, where a fake name server in this file answers the
 * queries the stack sends by feeding hand-built IP/UDP/DNS packets back in.
 *
 * The addresses below (100.64.0.0/10, fd00::/8) exist only inside this
 * process: packets go from lwIP to the capture buffer and back, never to a
 * socket. The system backend only ever resolves "localhost".
 */
#include "core/resolver/dns_msg.h"
#include "core/resolver/resolver.h"
#include "netstack/flow.h"
#include "netstack/stack.h"
#include "platform/clock.h"
#include "platform/loop.h"
#include "tests/unit/pkt_bytes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define OUR4   "100.64.0.2"
#define OUR6   "fd00::2"
#define DNS4_A "100.64.0.53"
#define DNS4_B "100.64.0.54"
#define DNS6   "fd00::53"

#define MTU	 NT_STACK_DEFAULT_MTU
#define CAP_MAX	 32
#define ZONE_MAX 16

static struct nt_loop *loop;
static struct nt_resolver *res;
static bool in_lookup;
static uint64_t clock_offset_ns;

/* ---- lookup results ---- */

struct got {
	int calls;
	int status;
	size_t n;
	struct nt_resolver_addr addrs[2 * NT_RESOLVER_MAX_ADDRS];
	bool free_resolver; /* frees the resolver from inside the callback */
};

static void on_result(void *arg, int status, const struct nt_resolver_addr *addrs, size_t n)
{
	struct got *g = arg;

	assert_false(in_lookup);
	assert_true(n <= 2 * NT_RESOLVER_MAX_ADDRS);
	assert_true(status == 0 ? n > 0 && addrs != NULL : n == 0);
	g->calls++;
	g->status = status;
	g->n = n;
	if (n)
		memcpy(g->addrs, addrs, n * sizeof(*addrs));
	if (g->free_resolver) {
		nt_resolver_free(res);
		res = NULL;
	}
}

static int lookup(const char *name, enum nt_resolver_family family, struct got *g,
		  struct nt_resolver_req **req)
{
	int err;

	in_lookup = true;
	err = nt_resolver_lookup(res, name, family, on_result, g, req);
	in_lookup = false;
	return err;
}

static void assert_addr(const struct nt_resolver_addr *a, const char *text)
{
	uint8_t want[16] = {0};
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(family, text, want), 1);
	assert_int_equal(a->family, family);
	assert_memory_equal(a->addr, want, 16);
}

static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return nt_clock_mono_ns() + clock_offset_ns;
}

/* ---- capture of what the stack sends ---- */

static struct {
	uint8_t pkt[CAP_MAX][MTU];
	size_t len[CAP_MAX];
	size_t n;      /* sent, including those past CAP_MAX */
	size_t served; /* looked at by the fake server */
} cap;

static int capture_output(void *arg, const uint8_t *pkt, size_t len)
{
	(void)arg;
	assert_true(len <= MTU);
	if (cap.n < CAP_MAX) {
		memcpy(cap.pkt[cap.n], pkt, len);
		cap.len[cap.n] = len;
	}
	cap.n++;
	return 0;
}

/* ---- packets ---- */

/* A query as the fake server sees it. */
struct query {
	int family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	const uint8_t *dns;
	size_t dns_len;
	uint16_t id;
	char qname[NT_DNS_NAME_MAX + 2];
	uint16_t qtype;
};

static bool parse_dns_question(struct query *q)
{
	size_t pos = 12, out = 0;

	if (q->dns_len < 12)
		return false;
	q->id = rd16(q->dns);
	while (pos < q->dns_len && q->dns[pos] != 0) {
		size_t n = q->dns[pos];

		if (pos + 1 + n > q->dns_len || out + n + 1 >= sizeof(q->qname))
			return false;
		if (out)
			q->qname[out++] = '.';
		memcpy(q->qname + out, q->dns + pos + 1, n);
		out += n;
		pos += 1 + n;
	}
	q->qname[out] = '\0';
	if (pos + 5 > q->dns_len)
		return false;
	q->qtype = rd16(q->dns + pos + 1);
	return true;
}

static bool parse_query(const uint8_t *pkt, size_t len, struct query *q)
{
	const uint8_t *udp;
	size_t l4_len;

	memset(q, 0, sizeof(*q));
	if (len >= 20 && pkt[0] >> 4 == 4) {
		size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;

		if (pkt[9] != 17 || len < ihl + 8)
			return false;
		q->family = AF_INET;
		memcpy(q->src, pkt + 12, 4);
		memcpy(q->dst, pkt + 16, 4);
		udp = pkt + ihl;
		l4_len = len - ihl;
	} else if (len >= 48 && pkt[0] >> 4 == 6) {
		if (pkt[6] != 17)
			return false;
		q->family = AF_INET6;
		memcpy(q->src, pkt + 8, 16);
		memcpy(q->dst, pkt + 24, 16);
		udp = pkt + 40;
		l4_len = len - 40;
	} else {
		return false;
	}
	q->sport = rd16(udp);
	q->dport = rd16(udp + 2);
	q->dns = udp + 8;
	q->dns_len = rd16(udp + 4) - 8;
	assert_true(q->dns_len <= l4_len - 8);
	return q->dport == 53 && parse_dns_question(q);
}

/* An IP/UDP packet from src:sport to dst:dport, checksums filled in. */
static size_t build_udp(uint8_t *pkt, int family, const uint8_t *src, const uint8_t *dst,
			uint16_t sport, uint16_t dport, const uint8_t *payload, size_t len)
{
	size_t h = family == AF_INET ? 20 : 40, alen = family == AF_INET ? 4 : 16;
	uint8_t *udp = pkt + h;
	uint32_t acc;

	memset(pkt, 0, h + 8);
	if (family == AF_INET) {
		pkt[0] = 0x45;
		wr16(pkt + 2, (uint16_t)(h + 8 + len));
		pkt[8] = 64;
		pkt[9] = 17;
		memcpy(pkt + 12, src, 4);
		memcpy(pkt + 16, dst, 4);
		wr16(pkt + 10, fold(sum16(pkt, 20, 0)));
	} else {
		pkt[0] = 0x60;
		wr16(pkt + 4, (uint16_t)(8 + len));
		pkt[6] = 17;
		pkt[7] = 64;
		memcpy(pkt + 8, src, 16);
		memcpy(pkt + 24, dst, 16);
	}
	wr16(udp, sport);
	wr16(udp + 2, dport);
	wr16(udp + 4, (uint16_t)(8 + len));
	memcpy(udp + 8, payload, len);
	acc = sum16(src, alen, 0) + sum16(dst, alen, 0) + 17 + (uint32_t)(8 + len);
	wr16(udp + 6, fold(sum16(udp, 8 + len, acc)));
	if (rd16(udp + 6) == 0)
		wr16(udp + 6, 0xffff);
	return h + 8 + len;
}

/* ---- the fake name server ---- */

struct zone_rr {
	char name[64];
	uint16_t type;
	uint8_t addr[16];
	uint32_t ttl;
};

static struct {
	struct zone_rr rr[ZONE_MAX];
	size_t n;
	bool silent;	      /* answers nothing */
	uint16_t silent_type; /* answers nothing for this type */
	char servfail_at[64]; /* this server answers SERVFAIL */
	size_t answered;
} zone;

static void zone_add(const char *name, const char *addr, uint32_t ttl)
{
	struct zone_rr *rr = &zone.rr[zone.n++];
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	assert_true(zone.n <= ZONE_MAX);
	snprintf(rr->name, sizeof(rr->name), "%s", name);
	rr->type = family == AF_INET ? NT_DNS_TYPE_A : NT_DNS_TYPE_AAAA;
	assert_int_equal(inet_pton(family, addr, rr->addr), 1);
	rr->ttl = ttl;
}

static bool addr_is(const struct query *q, const uint8_t *a, const char *text)
{
	uint8_t want[16];

	return inet_pton(q->family, text, want) == 1 &&
	       memcmp(a, want, q->family == AF_INET ? 4 : 16) == 0;
}

/* The DNS answer to q, as the zone says. */
static size_t zone_answer(const struct query *q, uint8_t *out)
{
	uint16_t ancount = 0, rcode = NT_DNS_RCODE_NXDOMAIN;
	size_t len = q->dns_len;

	memcpy(out, q->dns, q->dns_len);
	for (size_t i = 0; i < zone.n; i++) {
		const struct zone_rr *rr = &zone.rr[i];
		size_t alen = rr->type == NT_DNS_TYPE_A ? 4 : 16;

		if (strcasecmp(rr->name, q->qname) != 0)
			continue;
		rcode = NT_DNS_RCODE_NOERROR;
		if (rr->type != q->qtype)
			continue;
		wr16(out + len, 0xc00c);
		wr16(out + len + 2, rr->type);
		wr16(out + len + 4, NT_DNS_CLASS_IN);
		wr16(out + len + 6, (uint16_t)(rr->ttl >> 16));
		wr16(out + len + 8, (uint16_t)rr->ttl);
		wr16(out + len + 10, (uint16_t)alen);
		memcpy(out + len + 12, rr->addr, alen);
		len += 12 + alen;
		ancount++;
	}
	if (zone.servfail_at[0] && addr_is(q, q->dst, zone.servfail_at)) {
		rcode = NT_DNS_RCODE_SERVFAIL;
		ancount = 0;
		len = q->dns_len;
	}
	wr16(out + 2, (uint16_t)(0x8180 | rcode));
	wr16(out + 6, ancount);
	return len;
}

/* Sends dns back to the querier, from the address it asked. */
static void reply(const struct query *q, const uint8_t *dns, size_t len, uint16_t sport)
{
	uint8_t pkt[MTU];
	size_t n = build_udp(pkt, q->family, q->dst, q->src, sport, q->sport, dns, len);

	assert_int_equal(nt_stack_input(pkt, n), 0);
}

static bool captured_query(size_t i, struct query *q)
{
	assert_true(i < cap.n && i < CAP_MAX);
	return parse_query(cap.pkt[i], cap.len[i], q);
}

/* Answers every query sent since the last call, as the zone says. */
static void serve(void)
{
	for (; cap.served < cap.n && cap.served < CAP_MAX; cap.served++) {
		uint8_t dns[1024];
		struct query q;
		size_t len;

		if (!captured_query(cap.served, &q) || zone.silent || q.qtype == zone.silent_type)
			continue;
		len = zone_answer(&q, dns);
		reply(&q, dns, len, 53);
		zone.answered++;
	}
}

/* Runs the loop, serving queries, until g has `calls` callbacks or max_ms
 * passed (all of it when g is NULL). */
static void run_until(const struct got *g, int calls, uint64_t max_ms)
{
	uint64_t end = nt_clock_mono_ns() + max_ms * NT_NS_PER_MS;

	for (int i = 0; i < 5000 && (!g || g->calls < calls) && nt_clock_mono_ns() < end; i++) {
		serve();
		assert_true(nt_loop_run_once(loop, 2) >= 0);
	}
}

/* ---- fixtures ---- */

static int setup_loop(void **state)
{
	(void)state;
	memset(&cap, 0, sizeof(cap));
	memset(&zone, 0, sizeof(zone));
	clock_offset_ns = 0;
	res = NULL;
	assert_int_equal(nt_loop_new(&loop), 0);
	return 0;
}

static int setup_stack(void **state)
{
	struct nt_stack_config cfg;

	setup_loop(state);
	memset(&cfg, 0, sizeof(cfg));
	cfg.has_ipv4 = true;
	assert_int_equal(inet_pton(AF_INET, OUR4, &cfg.ipv4), 1);
	cfg.has_ipv6 = true;
	assert_int_equal(inet_pton(AF_INET6, OUR6, &cfg.ipv6), 1);
	cfg.output = capture_output;
	assert_int_equal(nt_stack_init(loop, &cfg), 0);
	assert_int_equal(nt_flow_init(loop, NULL), 0);
	return 0;
}

static int teardown(void **state)
{
	struct nt_flow_stats fs;

	(void)state;
	nt_resolver_free(res);
	res = NULL;
	nt_flow_get_stats(&fs);
	assert_int_equal(fs.udp_open, 0); /* every transaction closed its socket */
	nt_flow_fini();
	nt_stack_shutdown();
	nt_loop_free(loop);
	loop = NULL;
	return 0;
}

static void add_server(struct nt_resolver_config *cfg, const char *text)
{
	struct nt_resolver_addr *a = &cfg->servers[cfg->n_servers++];

	a->family = strchr(text, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(a->family, text, a->addr), 1);
}

static void tunnel_config(struct nt_resolver_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	add_server(cfg, DNS4_A);
	cfg->clock = fake_clock;
}

static void start(const struct nt_resolver_config *cfg)
{
	assert_int_equal(nt_resolver_new(loop, cfg, &res), 0);
}

static struct nt_resolver_stats stats(void)
{
	struct nt_resolver_stats s;

	nt_resolver_get_stats(res, &s);
	return s;
}

/* ---- configuration and literals ---- */

static void test_new_rejects_bad_config(void **state)
{
	struct nt_resolver_config cfg;
	struct nt_resolver *r = NULL;

	(void)state;
	tunnel_config(&cfg);
	cfg.n_servers = NT_RESOLVER_MAX_SERVERS + 1;
	assert_int_equal(nt_resolver_new(loop, &cfg, &r), -EINVAL);
	tunnel_config(&cfg);
	cfg.servers[0].family = 0;
	assert_int_equal(nt_resolver_new(loop, &cfg, &r), -EINVAL);
	tunnel_config(&cfg);
	cfg.n_search = 1;
	snprintf(cfg.search[0], sizeof(cfg.search[0]), "bad..domain");
	assert_int_equal(nt_resolver_new(loop, &cfg, &r), -EINVAL);
	tunnel_config(&cfg);
	cfg.tries = 1000;
	assert_int_equal(nt_resolver_new(loop, &cfg, &r), -EINVAL);
	assert_int_equal(nt_resolver_new(NULL, &cfg, &r), -EINVAL);
	assert_null(r);
}

static void test_ip_literals_resolve_through_the_callback(void **state)
{
	struct got v4 = {0}, v6 = {0}, mismatch = {0};
	struct nt_resolver_req *req = NULL;
	char long_name[300];

	(void)state;
	start(NULL);
	assert_int_equal(lookup("192.0.2.1", NT_RESOLVER_V6_FIRST, &v4, &req), 0);
	assert_non_null(req);
	assert_int_equal(lookup("2001:db8::7", NT_RESOLVER_V4_FIRST, &v6, NULL), 0);
	assert_int_equal(lookup("192.0.2.1", NT_RESOLVER_V6_ONLY, &mismatch, NULL), 0);
	/* Never from inside lookup. */
	assert_int_equal(v4.calls + v6.calls + mismatch.calls, 0);

	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(lookup("", NT_RESOLVER_V4_FIRST, &v4, NULL), -EINVAL);
	assert_int_equal(lookup("a..b", NT_RESOLVER_V4_FIRST, &v4, NULL), -EINVAL);
	assert_int_equal(lookup("bad name", NT_RESOLVER_V4_FIRST, &v4, NULL), -EINVAL);
	assert_int_equal(lookup("fe80::1%eth0", NT_RESOLVER_V4_FIRST, &v4, NULL), -EINVAL);
	assert_int_equal(lookup(long_name, NT_RESOLVER_V4_FIRST, &v4, NULL), -EINVAL);
	assert_int_equal(lookup("x", (enum nt_resolver_family)9, &v4, NULL), -EINVAL);

	run_until(&mismatch, 1, 1000);
	assert_int_equal(v4.calls, 1);
	assert_int_equal(v4.status, 0);
	assert_int_equal(v4.n, 1);
	assert_addr(&v4.addrs[0], "192.0.2.1");
	assert_int_equal(v6.calls, 1);
	assert_int_equal(v6.n, 1);
	assert_addr(&v6.addrs[0], "2001:db8::7");
	assert_int_equal(mismatch.calls, 1);
	assert_int_equal(mismatch.status, -ENOENT);
	assert_int_equal(stats().literals, 3);
	assert_int_equal(stats().lookups, 3);
}

static void test_lookups_beyond_the_bound_get_eagain(void **state)
{
	struct nt_resolver_config cfg;
	struct got a = {0}, b = {0}, c = {0};

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.max_inflight = 2;
	start(&cfg);
	assert_int_equal(lookup("10.0.0.1", NT_RESOLVER_V4_FIRST, &a, NULL), 0);
	assert_int_equal(lookup("10.0.0.2", NT_RESOLVER_V4_FIRST, &b, NULL), 0);
	assert_int_equal(lookup("10.0.0.3", NT_RESOLVER_V4_FIRST, &c, NULL), -EAGAIN);
	assert_int_equal(stats().busy, 1);
	run_until(&b, 1, 1000);
	assert_int_equal(a.calls, 1);
	assert_int_equal(lookup("10.0.0.3", NT_RESOLVER_V4_FIRST, &c, NULL), 0);
	run_until(&c, 1, 1000);
	assert_int_equal(c.status, 0);
}

/* ---- system backend ---- */

static bool is_loopback(const struct nt_resolver_addr *a)
{
	static const uint8_t v6[16] = {[15] = 1};

	return (a->family == AF_INET && a->addr[0] == 127) ||
	       (a->family == AF_INET6 && memcmp(a->addr, v6, 16) == 0);
}

static void test_system_resolves_localhost_on_worker_threads(void **state)
{
	struct got any = {0}, v4 = {0};

	(void)state;
	start(NULL);
	assert_int_equal(lookup("localhost", NT_RESOLVER_V4_FIRST, &any, NULL), 0);
	assert_int_equal(lookup("localhost", NT_RESOLVER_V4_ONLY, &v4, NULL), 0);
	run_until(&any, 1, 3000);
	run_until(&v4, 1, 3000);
	assert_int_equal(any.calls, 1);
	assert_int_equal(any.status, 0);
	assert_true(any.n >= 1);
	for (size_t i = 0; i < any.n; i++)
		assert_true(is_loopback(&any.addrs[i]));
	assert_int_equal(v4.status, 0);
	for (size_t i = 0; i < v4.n; i++)
		assert_int_equal(v4.addrs[i].family, AF_INET);
	assert_int_equal(stats().lookups, 2);
}

/* One thread and one lookup in flight: the cancelled lookup's job holds
 * the worker until its result comes back, and the result is dropped. */
static void test_system_cancel_discards_the_result(void **state)
{
	struct nt_resolver_config cfg;
	struct nt_resolver_req *req = NULL;
	struct got first = {0}, second = {0};
	int err = -EAGAIN;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.threads = 1;
	cfg.max_inflight = 1;
	start(&cfg);
	assert_int_equal(lookup("localhost", NT_RESOLVER_V4_FIRST, &first, &req), 0);
	nt_resolver_cancel(req);
	for (int i = 0; i < 300 && err == -EAGAIN; i++) {
		err = lookup("localhost", NT_RESOLVER_V4_FIRST, &second, NULL);
		if (err == -EAGAIN)
			assert_true(nt_loop_run_once(loop, 10) >= 0);
	}
	assert_int_equal(err, 0);
	run_until(&second, 1, 3000);
	assert_int_equal(second.status, 0);
	run_until(NULL, 0, 20);
	assert_int_equal(first.calls, 0);
}

static void test_free_with_lookups_in_flight_runs_no_callback(void **state)
{
	struct got g = {0}, lit = {0};

	(void)state;
	start(NULL);
	assert_int_equal(lookup("localhost", NT_RESOLVER_V4_FIRST, &g, NULL), 0);
	assert_int_equal(lookup("127.0.0.1", NT_RESOLVER_V4_FIRST, &lit, NULL), 0);
	nt_resolver_free(res);
	res = NULL;
	run_until(NULL, 0, 50);
	assert_int_equal(g.calls + lit.calls, 0);
}

static void test_free_from_a_callback_cancels_the_rest(void **state)
{
	struct got first = {0}, second = {0};

	(void)state;
	start(NULL);
	first.free_resolver = true;
	assert_int_equal(lookup("127.0.0.1", NT_RESOLVER_V4_FIRST, &first, NULL), 0);
	assert_int_equal(lookup("127.0.0.2", NT_RESOLVER_V4_FIRST, &second, NULL), 0);
	run_until(NULL, 0, 50);
	assert_int_equal(first.calls, 1);
	assert_null(res);
	assert_int_equal(second.calls, 0);
}

/* ---- tunnel backend ---- */

static void test_tunnel_resolves_a_and_aaaa_in_parallel(void **state)
{
	struct nt_resolver_config cfg;
	struct got g = {0};
	struct query qa, qb;

	(void)state;
	tunnel_config(&cfg);
	start(&cfg);
	zone_add("host.corp", "10.1.2.3", 60);
	zone_add("host.corp", "fd00::1:3", 60);
	zone_add("host.corp", "10.1.2.4", 60);
	assert_int_equal(lookup("Host.Corp", NT_RESOLVER_V4_FIRST, &g, NULL), 0);

	/* Both queries leave at once, each from its own port, to port 53. */
	assert_int_equal(cap.n, 2);
	assert_true(captured_query(0, &qa));
	assert_true(captured_query(1, &qb));
	assert_int_equal(qa.family, AF_INET);
	assert_true(addr_is(&qa, qa.dst, DNS4_A));
	assert_true(addr_is(&qa, qa.src, OUR4));
	assert_string_equal(qa.qname, "host.corp");
	assert_string_equal(qb.qname, "host.corp");
	assert_int_equal(qa.qtype + qb.qtype, NT_DNS_TYPE_A + NT_DNS_TYPE_AAAA);
	assert_int_not_equal(qa.sport, qb.sport);

	run_until(&g, 1, 1000);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.n, 3);
	assert_addr(&g.addrs[0], "10.1.2.3");
	assert_addr(&g.addrs[1], "10.1.2.4");
	assert_addr(&g.addrs[2], "fd00::1:3");
	assert_int_equal(stats().queries, 2);
}

static void test_tunnel_second_lookup_hits_cache_without_packets(void **state)
{
	struct nt_resolver_config cfg;
	struct got first = {0}, second = {0};

	(void)state;
	tunnel_config(&cfg);
	start(&cfg);
	zone_add("cached.corp", "10.0.0.9", 60);
	zone_add("cached.corp", "fd00::9", 60);
	assert_int_equal(lookup("cached.corp", NT_RESOLVER_V4_FIRST, &first, NULL), 0);
	run_until(&first, 1, 1000);
	assert_int_equal(first.status, 0);
	assert_int_equal(cap.n, 2);

	assert_int_equal(lookup("cached.corp.", NT_RESOLVER_V6_FIRST, &second, NULL), 0);
	assert_int_equal(second.calls, 0); /* still through the callback */
	run_until(&second, 1, 1000);
	assert_int_equal(cap.n, 2);
	assert_int_equal(second.status, 0);
	assert_int_equal(second.n, 2);
	assert_addr(&second.addrs[0], "fd00::9");
	assert_addr(&second.addrs[1], "10.0.0.9");
	assert_int_equal(stats().cache_hits, 2);
	assert_int_equal(stats().queries, 2);
}

static void test_tunnel_cache_entry_expires_after_ttl(void **state)
{
	struct nt_resolver_config cfg;
	struct got g[5] = {{0}};

	(void)state;
	tunnel_config(&cfg);
	cfg.ttl_max = 100;
	start(&cfg);
	zone_add("short.corp", "10.0.0.5", 5);
	zone_add("long.corp", "10.0.0.6", 86400);
	assert_int_equal(lookup("short.corp", NT_RESOLVER_V4_ONLY, &g[0], NULL), 0);
	assert_int_equal(lookup("long.corp", NT_RESOLVER_V4_ONLY, &g[1], NULL), 0);
	run_until(&g[1], 1, 1000);
	run_until(&g[0], 1, 1000);
	assert_int_equal(cap.n, 2);

	clock_offset_ns = 4 * NT_NS_PER_SEC; /* within the TTL: cached */
	assert_int_equal(lookup("short.corp", NT_RESOLVER_V4_ONLY, &g[2], NULL), 0);
	assert_int_equal(cap.n, 2);
	run_until(&g[2], 1, 1000);
	assert_int_equal(g[2].status, 0);

	clock_offset_ns = 6 * NT_NS_PER_SEC; /* past it: asked again */
	assert_int_equal(lookup("short.corp", NT_RESOLVER_V4_ONLY, &g[3], NULL), 0);
	assert_int_equal(cap.n, 3);
	run_until(&g[3], 1, 1000);
	assert_int_equal(g[3].status, 0);
	assert_addr(&g[3].addrs[0], "10.0.0.5");

	/* A day's TTL is capped at ttl_max (100 s). */
	clock_offset_ns = 101 * NT_NS_PER_SEC;
	assert_int_equal(lookup("long.corp", NT_RESOLVER_V4_ONLY, &g[4], NULL), 0);
	assert_int_equal(cap.n, 4);
	run_until(&g[4], 1, 1000);
	assert_int_equal(g[4].status, 0);
}

/* Two entries: using "one" again keeps it; "two", the least recent, goes. */
static void test_tunnel_cache_is_bounded_lru(void **state)
{
	static const char *const names[] = {"one.corp",	  "two.corp", "one.corp",
					    "three.corp", "one.corp", "two.corp"};
	static const size_t sent_after[] = {1, 2, 2, 3, 3, 4};
	struct nt_resolver_config cfg;
	struct got g[6] = {{0}};

	(void)state;
	tunnel_config(&cfg);
	cfg.cache_size = 2;
	start(&cfg);
	zone_add("one.corp", "10.0.0.1", 60);
	zone_add("two.corp", "10.0.0.2", 60);
	zone_add("three.corp", "10.0.0.3", 60);
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(lookup(names[i], NT_RESOLVER_V4_ONLY, &g[i], NULL), 0);
		run_until(&g[i], 1, 1000);
		assert_int_equal(g[i].status, 0);
		assert_int_equal(cap.n, sent_after[i]);
	}
	assert_int_equal(stats().cache_hits, 2);
	assert_int_equal(stats().cache_evictions, 2);
}

static void test_tunnel_timeout_retries_rotate_servers(void **state)
{
	struct nt_resolver_config cfg;
	struct got g = {0};
	struct query q[3];
	uint64_t t0;

	(void)state;
	tunnel_config(&cfg);
	add_server(&cfg, DNS4_B);
	cfg.timeout_ms = 30;
	cfg.tries = 3;
	start(&cfg);
	zone.silent = true;
	t0 = nt_clock_mono_ns();
	assert_int_equal(lookup("slow.corp", NT_RESOLVER_V4_ONLY, &g, NULL), 0);
	run_until(&g, 1, 2000);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, -ETIMEDOUT);
	assert_true(nt_clock_mono_ns() - t0 >= 90 * NT_NS_PER_MS);

	assert_int_equal(cap.n, 3);
	for (int i = 0; i < 3; i++)
		assert_true(captured_query((size_t)i, &q[i]));
	assert_true(addr_is(&q[0], q[0].dst, DNS4_A));
	assert_true(addr_is(&q[1], q[1].dst, DNS4_B));
	assert_true(addr_is(&q[2], q[2].dst, DNS4_A));
	assert_int_equal(q[0].id, q[1].id);
	assert_int_equal(q[1].id, q[2].id);
	assert_int_equal(stats().queries, 3);
	assert_int_equal(stats().retries, 2);
	assert_int_equal(stats().timeouts, 1);

	/* A timeout is not cached: the next lookup asks again. */
	assert_int_equal(lookup("slow.corp", NT_RESOLVER_V4_ONLY, &g, NULL), 0);
	assert_int_equal(cap.n, 4);
}

static void test_tunnel_search_domains_for_single_label_names(void **state)
{
	struct nt_resolver_config cfg;
	struct got db = {0}, nope = {0}, dotted = {0}, absolute = {0};
	struct query q;
	static const char *const nope_order[] = {"nope.corp.example", "nope.lab.example", "nope"};

	(void)state;
	tunnel_config(&cfg);
	cfg.n_search = 2;
	snprintf(cfg.search[0], sizeof(cfg.search[0]), "Corp.Example.");
	snprintf(cfg.search[1], sizeof(cfg.search[1]), "lab.example");
	start(&cfg);
	zone_add("db.lab.example", "10.9.9.9", 60);

	assert_int_equal(lookup("db", NT_RESOLVER_V4_ONLY, &db, NULL), 0);
	run_until(&db, 1, 1000);
	assert_int_equal(db.status, 0);
	assert_addr(&db.addrs[0], "10.9.9.9");
	assert_int_equal(cap.n, 2);
	assert_true(captured_query(0, &q));
	assert_string_equal(q.qname, "db.corp.example");
	assert_true(captured_query(1, &q));
	assert_string_equal(q.qname, "db.lab.example");

	/* Every suffix, then the name alone, then no such name. */
	assert_int_equal(lookup("nope", NT_RESOLVER_V4_ONLY, &nope, NULL), 0);
	run_until(&nope, 1, 1000);
	assert_int_equal(nope.status, -ENOENT);
	assert_int_equal(cap.n, 5);
	for (size_t i = 0; i < 3; i++) {
		assert_true(captured_query(2 + i, &q));
		assert_string_equal(q.qname, nope_order[i]);
	}

	/* A name with a dot, or a trailing dot, is asked as it is. */
	assert_int_equal(lookup("db.lab", NT_RESOLVER_V4_ONLY, &dotted, NULL), 0);
	run_until(&dotted, 1, 1000);
	assert_int_equal(dotted.status, -ENOENT);
	assert_int_equal(cap.n, 6);
	assert_true(captured_query(5, &q));
	assert_string_equal(q.qname, "db.lab");
	assert_int_equal(lookup("db.", NT_RESOLVER_V4_ONLY, &absolute, NULL), 0);
	run_until(&absolute, 1, 1000);
	assert_int_equal(absolute.status, -ENOENT);
	assert_int_equal(cap.n, 7);
	assert_true(captured_query(6, &q));
	assert_string_equal(q.qname, "db");
	assert_int_equal(stats().not_found, 3);
}

static void test_tunnel_negative_answer_is_cached_briefly(void **state)
{
	struct nt_resolver_config cfg;
	struct got g[3] = {{0}};

	(void)state;
	tunnel_config(&cfg);
	cfg.neg_ttl = 2;
	start(&cfg);
	assert_int_equal(lookup("gone.corp", NT_RESOLVER_V4_ONLY, &g[0], NULL), 0);
	run_until(&g[0], 1, 1000);
	assert_int_equal(g[0].status, -ENOENT);
	assert_int_equal(cap.n, 1);

	assert_int_equal(lookup("gone.corp", NT_RESOLVER_V4_ONLY, &g[1], NULL), 0);
	run_until(&g[1], 1, 1000);
	assert_int_equal(g[1].status, -ENOENT);
	assert_int_equal(cap.n, 1);

	clock_offset_ns = 3 * NT_NS_PER_SEC;
	assert_int_equal(lookup("gone.corp", NT_RESOLVER_V4_ONLY, &g[2], NULL), 0);
	assert_int_equal(cap.n, 2);
	run_until(&g[2], 1, 1000);
	assert_int_equal(g[2].status, -ENOENT);
}

static void test_tunnel_concurrent_lookups_share_queries(void **state)
{
	struct nt_resolver_config cfg;
	struct got a = {0}, b = {0};

	(void)state;
	tunnel_config(&cfg);
	start(&cfg);
	zone_add("shared.corp", "10.0.0.1", 60);
	assert_int_equal(lookup("shared.corp", NT_RESOLVER_V4_FIRST, &a, NULL), 0);
	assert_int_equal(lookup("SHARED.corp", NT_RESOLVER_V4_ONLY, &b, NULL), 0);
	assert_int_equal(cap.n, 2);
	run_until(&b, 1, 1000);
	run_until(&a, 1, 1000);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.n, 1); /* no AAAA in the zone */
	assert_int_equal(b.status, 0);
	assert_addr(&b.addrs[0], "10.0.0.1");
	assert_int_equal(cap.n, 2);
	assert_int_equal(stats().coalesced, 1);
}

static void test_tunnel_cancel_before_the_answer(void **state)
{
	struct nt_resolver_config cfg;
	struct nt_resolver_req *req = NULL;
	struct got g = {0}, again = {0};

	(void)state;
	tunnel_config(&cfg);
	start(&cfg);
	zone_add("cancel.corp", "10.0.0.1", 60);
	assert_int_equal(lookup("cancel.corp", NT_RESOLVER_V4_FIRST, &g, &req), 0);
	assert_int_equal(cap.n, 2);
	nt_resolver_cancel(req);
	/* The answers now reach closed ports (lwIP answers ICMP unreachable). */
	run_until(NULL, 0, 30);
	assert_int_equal(g.calls, 0);
	assert_int_equal(zone.answered, 2);

	/* Nothing was cached by the abandoned queries. */
	assert_int_equal(lookup("cancel.corp", NT_RESOLVER_V4_FIRST, &again, NULL), 0);
	run_until(&again, 1, 1000);
	assert_int_equal(again.status, 0);
	assert_int_equal(g.calls, 0);
}

static void test_tunnel_servfail_moves_to_the_next_server_at_once(void **state)
{
	struct nt_resolver_config cfg;
	struct got g = {0};
	struct query q;
	uint64_t t0;

	(void)state;
	tunnel_config(&cfg);
	add_server(&cfg, DNS4_B);
	cfg.timeout_ms = 5000;
	start(&cfg);
	zone_add("flaky.corp", "10.0.0.3", 60);
	snprintf(zone.servfail_at, sizeof(zone.servfail_at), "%s", DNS4_A);
	t0 = nt_clock_mono_ns();
	assert_int_equal(lookup("flaky.corp", NT_RESOLVER_V4_ONLY, &g, NULL), 0);
	run_until(&g, 1, 1000);
	assert_int_equal(g.status, 0);
	assert_true(nt_clock_mono_ns() - t0 < 1000 * NT_NS_PER_MS);
	assert_int_equal(cap.n, 2);
	assert_true(captured_query(1, &q));
	assert_true(addr_is(&q, q.dst, DNS4_B));

	/* When every server fails, the lookup fails with -EIO. */
	snprintf(zone.servfail_at, sizeof(zone.servfail_at), "%s", DNS4_B);
	memset(&g, 0, sizeof(g));
	cfg.n_servers = 1;
	cfg.servers[0] = cfg.servers[1];
	nt_resolver_free(res);
	start(&cfg);
	assert_int_equal(lookup("flaky.corp", NT_RESOLVER_V4_ONLY, &g, NULL), 0);
	run_until(&g, 1, 1000);
	assert_int_equal(g.status, -EIO);
	assert_int_equal(stats().failures, 1);
}

static void test_tunnel_forged_answers_are_ignored(void **state)
{
	struct nt_resolver_config cfg;
	struct got g = {0};
	struct query q;
	uint8_t dns[512], bad[512];
	size_t len;

	(void)state;
	tunnel_config(&cfg);
	start(&cfg);
	zone_add("real.corp", "10.0.0.4", 60);
	zone.silent = true;
	assert_int_equal(lookup("real.corp", NT_RESOLVER_V4_ONLY, &g, NULL), 0);
	assert_true(captured_query(0, &q));
	len = zone_answer(&q, dns);

	memcpy(bad, dns, len);
	bad[1] ^= 1; /* another id */
	reply(&q, bad, len, 53);
	reply(&q, dns, len, 5353); /* not from port 53 */
	memcpy(bad, dns, len);
	bad[len - 1] = 99; /* another address, but cut short */
	reply(&q, bad, len - 2, 53);
	assert_true(inet_pton(AF_INET, DNS4_B, q.dst) == 1); /* not a server */
	reply(&q, dns, len, 53);
	run_until(NULL, 0, 20);
	assert_int_equal(g.calls, 0);
	assert_int_equal(stats().answers_mismatched, 3);
	assert_int_equal(stats().answers_malformed, 1);

	assert_true(captured_query(0, &q));
	reply(&q, dns, len, 53);
	run_until(&g, 1, 1000);
	assert_int_equal(g.status, 0);
	assert_addr(&g.addrs[0], "10.0.0.4");
}

static void test_tunnel_one_family_answering_waits_briefly_for_the_other(void **state)
{
	struct nt_resolver_config cfg;
	struct got g = {0};
	uint64_t t0, took;

	(void)state;
	tunnel_config(&cfg);
	cfg.timeout_ms = 5000;
	start(&cfg);
	zone_add("v4only.corp", "10.0.0.8", 60);
	zone.silent_type = NT_DNS_TYPE_AAAA;
	t0 = nt_clock_mono_ns();
	assert_int_equal(lookup("v4only.corp", NT_RESOLVER_V6_FIRST, &g, NULL), 0);
	run_until(&g, 1, 2000);
	took = nt_clock_mono_ns() - t0;
	assert_int_equal(g.status, 0);
	assert_int_equal(g.n, 1);
	assert_addr(&g.addrs[0], "10.0.0.8");
	assert_true(took >= 200 * NT_NS_PER_MS && took < 1500 * NT_NS_PER_MS);
	assert_int_equal(stats().timeouts, 0);
}

static void test_tunnel_dns_server_over_ipv6(void **state)
{
	struct nt_resolver_config cfg;
	struct got g = {0};
	struct query q;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	add_server(&cfg, DNS6);
	start(&cfg);
	zone_add("six.corp", "fd00::66", 60);
	assert_int_equal(lookup("six.corp", NT_RESOLVER_V6_ONLY, &g, NULL), 0);
	assert_int_equal(cap.n, 1);
	assert_true(captured_query(0, &q));
	assert_int_equal(q.family, AF_INET6);
	assert_true(addr_is(&q, q.dst, DNS6));
	assert_true(addr_is(&q, q.src, OUR6));
	run_until(&g, 1, 1000);
	assert_int_equal(g.status, 0);
	assert_addr(&g.addrs[0], "fd00::66");
}

static void test_tunnel_bound_on_lookups_in_flight(void **state)
{
	struct nt_resolver_config cfg;
	struct nt_resolver_req *req = NULL;
	struct got a = {0}, b = {0}, c = {0};

	(void)state;
	tunnel_config(&cfg);
	cfg.max_inflight = 2;
	start(&cfg);
	zone.silent = true;
	assert_int_equal(lookup("a.corp", NT_RESOLVER_V4_FIRST, &a, &req), 0);
	assert_int_equal(lookup("b.corp", NT_RESOLVER_V4_FIRST, &b, NULL), 0);
	assert_int_equal(lookup("c.corp", NT_RESOLVER_V4_FIRST, &c, NULL), -EAGAIN);
	nt_resolver_cancel(req);
	assert_int_equal(lookup("c.corp", NT_RESOLVER_V4_FIRST, &c, NULL), 0);
	assert_int_equal(cap.n, 6);
	/* The teardown frees the resolver with two lookups in flight. */
}

#define T_SYS(fn)    cmocka_unit_test_setup_teardown(fn, setup_loop, teardown)
#define T_TUNNEL(fn) cmocka_unit_test_setup_teardown(fn, setup_stack, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T_SYS(test_new_rejects_bad_config),
	    T_SYS(test_ip_literals_resolve_through_the_callback),
	    T_SYS(test_lookups_beyond_the_bound_get_eagain),
	    T_SYS(test_system_resolves_localhost_on_worker_threads),
	    T_SYS(test_system_cancel_discards_the_result),
	    T_SYS(test_free_with_lookups_in_flight_runs_no_callback),
	    T_SYS(test_free_from_a_callback_cancels_the_rest),
	    T_TUNNEL(test_tunnel_resolves_a_and_aaaa_in_parallel),
	    T_TUNNEL(test_tunnel_second_lookup_hits_cache_without_packets),
	    T_TUNNEL(test_tunnel_cache_entry_expires_after_ttl),
	    T_TUNNEL(test_tunnel_cache_is_bounded_lru),
	    T_TUNNEL(test_tunnel_timeout_retries_rotate_servers),
	    T_TUNNEL(test_tunnel_search_domains_for_single_label_names),
	    T_TUNNEL(test_tunnel_negative_answer_is_cached_briefly),
	    T_TUNNEL(test_tunnel_concurrent_lookups_share_queries),
	    T_TUNNEL(test_tunnel_cancel_before_the_answer),
	    T_TUNNEL(test_tunnel_servfail_moves_to_the_next_server_at_once),
	    T_TUNNEL(test_tunnel_forged_answers_are_ignored),
	    T_TUNNEL(test_tunnel_one_family_answering_waits_briefly_for_the_other),
	    T_TUNNEL(test_tunnel_dns_server_over_ipv6),
	    T_TUNNEL(test_tunnel_bound_on_lookups_in_flight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
