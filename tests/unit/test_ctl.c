// SPDX-License-Identifier: MIT
/* core/ctl: the snapshot's renderings (JSON shape, Prometheus escaping and
 * labels, text) and the metrics endpoint's request parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/ctl/ask.h"
#include "core/ctl/fields.h"
#include "core/ctl/http_req.h"
#include "core/ctl/render.h"
#include "core/ctl/snap.h"
#include "core/phx/json_r.h"

/* A client under a portal: one gateway peer, a granted and a pending
 * resource whose id needs escaping in both formats. */
static struct nt_ctl_snap *client_snap(void)
{
	struct nt_ctl_snap *s = nt_ctl_snap_new();
	struct nt_ctl_peer *p;
	struct nt_ctl_resource *r;

	assert_non_null(s);
	s->role = NT_CTL_CLIENT;
	snprintf(s->name, sizeof(s->name), "alice");
	s->pid = 42;
	s->now = 1000000;
	s->started_at = 999000;
	s->has_portal = true;
	s->portal_joined = true;
	s->ready = true;
	s->has_proxy = true;
	s->engine.opens = 7;
	s->proxy.connect_failed[NT_FAIL_TIMEOUT] = 3;
	s->portal.pending.held = 5;
	s->flow.tcp_open = 2;
	s->n_peers = 1;
	p = &s->peers[0];
	snprintf(p->public_key, sizeof(p->public_key), "%s",
		 "zpwVpM/HMHjk3QV1azvqjKRivxHCooTkUz55hoFS4S8=");
	snprintf(p->name, sizeof(p->name), "gw1");
	snprintf(p->endpoint, sizeof(p->endpoint), "127.0.0.1:51820");
	p->has_session = true;
	p->last_handshake = 999990;
	p->info.c.rx_bytes = 1234;
	p->info.c.tx_bytes = 567;
	s->n_resources = 2;
	r = &s->resources[0];
	snprintf(r->id, sizeof(r->id), "%s", "we\"b\\1\n");
	snprintf(r->type, sizeof(r->type), "cidr");
	snprintf(r->address, sizeof(r->address), "10.0.0.5/32");
	snprintf(r->access, sizeof(r->access), "granted");
	snprintf(r->gateway, sizeof(r->gateway), "gw1");
	r->granted_at = 999000;
	r->expires_at = 1003600;
	r = &s->resources[1];
	snprintf(r->id, sizeof(r->id), "db");
	snprintf(r->name, sizeof(r->name), "database");
	snprintf(r->type, sizeof(r->type), "dns");
	snprintf(r->address, sizeof(r->address), "*.db.corp");
	snprintf(r->access, sizeof(r->access), "pending");
	r->pending_packets = 3;
	r->pending_bytes = 180;
	r->waiting = 1;
	s->resources_omitted = 4;
	return s;
}

static char *render(nt_ctl_render_fn fn, const struct nt_ctl_snap *s, size_t *len)
{
	char *out = NULL;

	assert_int_equal(nt_ctl_render_alloc(fn, s, &out, len), 0);
	assert_int_equal(strlen(out), *len);
	return out;
}

static void test_ctl_json_shape(void **state)
{
	struct nt_ctl_snap *s = client_snap();
	struct nt_json j;
	char buf[128];
	int64_t v;
	int peers, res, t, counters, set;
	size_t len;
	char *out = render(nt_ctl_render_json, s, &len);
	(void)state;

	assert_int_equal(nt_json_parse_alloc(&j, out, len), 0);
	assert_int_equal(nt_json_get_i64(&j, 0, "version", &v), 0);
	assert_int_equal(v, NT_CTL_JSON_VERSION);
	assert_true(nt_json_get_str(&j, 0, "role", buf, sizeof(buf)) >= 0);
	assert_string_equal(buf, "client");
	assert_true(nt_json_is(&j, nt_json_get(&j, 0, "portal"), JSMN_OBJECT));
	peers = nt_json_get(&j, 0, "peers");
	assert_int_equal(j.tok[peers].size, 1);
	t = nt_json_arr_first(&j, peers);
	assert_true(nt_json_get_str(&j, t, "name", buf, sizeof(buf)) >= 0);
	assert_string_equal(buf, "gw1");
	assert_int_equal(nt_json_get_i64(&j, t, "rx_bytes", &v), 0);
	assert_int_equal(v, 1234);
	assert_int_equal(nt_json_get_i64(&j, t, "latest_handshake_age_seconds", &v), 0);
	assert_int_equal(v, 10);
	/* A client's peer has no gateway flow counters. */
	assert_int_equal(nt_json_get(&j, t, "flows"), -ENOENT);
	res = nt_json_get(&j, 0, "resources");
	assert_int_equal(j.tok[res].size, 2);
	t = nt_json_arr_first(&j, res);
	assert_true(nt_json_get_str(&j, t, "id", buf, sizeof(buf)) >= 0);
	assert_string_equal(buf, "we\"b\\1\n");
	assert_true(nt_json_is_null(&j, nt_json_get(&j, t, "name")));
	assert_int_equal(nt_json_get_i64(&j, t, "expires_in_seconds", &v), 0);
	assert_int_equal(v, 3600);
	t = nt_json_skip(&j, t);
	assert_true(nt_json_is_null(&j, nt_json_get(&j, t, "expires_at")));
	assert_true(nt_json_is_null(&j, nt_json_get(&j, t, "gateway")));
	assert_int_equal(nt_json_get_i64(&j, t, "pending_packets", &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(nt_json_get_i64(&j, 0, "resources_omitted", &v), 0);
	assert_int_equal(v, 4);
	counters = nt_json_get(&j, 0, "counters");
	set = nt_json_get(&j, counters, "engine");
	assert_int_equal(nt_json_get_i64(&j, set, "opens", &v), 0);
	assert_int_equal(v, 7);
	set = nt_json_get(&j, counters, "pending");
	assert_int_equal(nt_json_get_i64(&j, set, "held", &v), 0);
	assert_int_equal(v, 5);
	set = nt_json_get(&j, counters, "proxy_connect_failed");
	assert_int_equal(nt_json_get_i64(&j, set, "timeout", &v), 0);
	assert_int_equal(v, 3);
	/* A client has no gateway counters. */
	assert_int_equal(nt_json_get(&j, counters, "gateway"), -ENOENT);
	nt_json_free(&j);
	free(out);
	nt_ctl_snap_free(s);
}

static void test_ctl_json_gateway_without_portal(void **state)
{
	struct nt_ctl_snap *s = nt_ctl_snap_new();
	struct nt_json j;
	int64_t v;
	size_t len;
	char *out;
	int t;
	(void)state;

	s->role = NT_CTL_GATEWAY;
	s->n_peers = 1;
	s->peers[0].has_gw = true;
	s->peers[0].gw.bytes_up = 99;
	s->gateway.flows_open = 3;
	out = render(nt_ctl_render_json, s, &len);
	assert_int_equal(nt_json_parse_alloc(&j, out, len), 0);
	assert_true(nt_json_is_null(&j, nt_json_get(&j, 0, "portal")));
	t = nt_json_arr_first(&j, nt_json_get(&j, 0, "peers"));
	/* Never handshaken, no endpoint: null, not 0 or "". */
	assert_true(nt_json_is_null(&j, nt_json_get(&j, t, "latest_handshake")));
	assert_true(nt_json_is_null(&j, nt_json_get(&j, t, "endpoint")));
	assert_int_equal(nt_json_get_i64(&j, nt_json_get(&j, t, "flows"), "bytes_up", &v), 0);
	assert_int_equal(v, 99);
	assert_int_equal(nt_json_get_i64(&j, nt_json_get(&j, 0, "flows"), "gateway_open", &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(nt_json_get(&j, nt_json_get(&j, 0, "counters"), "engine"), -ENOENT);
	nt_json_free(&j);
	free(out);
	nt_ctl_snap_free(s);
}

static void test_ctl_prom_escapes_labels(void **state)
{
	struct nt_ctl_snap *s = client_snap();
	size_t len;
	char *out = render(nt_ctl_render_prom, s, &len);
	(void)state;

	/* The id we"b\1<newline>: each of the three escaped, nothing else. */
	assert_non_null(strstr(out, "notun_resource_access{resource=\"we\\\"b\\\\1\\n\",name=\"\","
				    "state=\"granted\"} 1\n"));
	assert_non_null(strstr(out, "notun_resource_access{resource=\"we\\\"b\\\\1\\n\",name=\"\","
				    "state=\"pending\"} 0\n"));
	assert_non_null(strstr(out, "notun_resource_expiry_timestamp_seconds{resource=\"db\","
				    "name=\"database\"} 0\n"));
	assert_non_null(strstr(out, "notun_peer_rx_bytes_total{peer=\"zpwVpM/HMHjk3QV1azvqjKRivx"
				    "HCooTkUz55hoFS4S8=\",name=\"gw1\"} 1234\n"));
	assert_non_null(strstr(out, "# TYPE notun_engine_opens_total counter\n"
				    "notun_engine_opens_total 7\n"));
	assert_non_null(strstr(out, "# TYPE notun_flow_tcp_open gauge\nnotun_flow_tcp_open 2\n"));
	assert_non_null(strstr(out, "notun_proxy_connect_failed_total{reason=\"timeout\"} 3\n"));
	assert_non_null(strstr(out, "notun_resources_omitted 4\n"));
	/* No raw newline inside a sample: every line is a comment or
	 * "name{labels} value". */
	for (char *line = out; *line; line = strchr(line, '\n') + 1) {
		if (line[0] != '#')
			assert_memory_equal(line, "notun_", 6);
	}
	free(out);
	nt_ctl_snap_free(s);
}

static void test_ctl_text_names_what_matters(void **state)
{
	struct nt_ctl_snap *s = client_snap();
	size_t len;
	char *out = render(nt_ctl_render_text, s, &len);
	(void)state;

	assert_non_null(strstr(out, "notun client alice (pid 42), up 1000 s, ready\n"));
	assert_non_null(strstr(out, "endpoint: 127.0.0.1:51820\n"));
	assert_non_null(strstr(out, "latest handshake: 10 s ago\n"));
	assert_non_null(strstr(out, "transfer: 1234 B received, 567 B sent\n"));
	assert_non_null(strstr(out, "cidr 10.0.0.5/32: granted via gw1, expires in 3600 s\n"));
	assert_non_null(strstr(out, "db (database) dns *.db.corp: pending, 1 waiting, 3 packets"));
	assert_non_null(strstr(out, "engine: opens=7\n"));
	free(out);
	nt_ctl_snap_free(s);
}

static void test_ctl_render_too_small_is_enospc(void **state)
{
	struct nt_ctl_snap *s = client_snap();
	char buf[64];
	(void)state;

	assert_int_equal(nt_ctl_render_json(s, buf, sizeof(buf)), -ENOSPC);
	assert_int_equal(nt_ctl_render_prom(s, buf, sizeof(buf)), -ENOSPC);
	assert_int_equal(nt_ctl_render_text(s, buf, sizeof(buf)), -ENOSPC);
	nt_ctl_snap_free(s);
}

/* What `notun run`, `connect` and `env` read of a running client: the
 * command, the pid and the listener as bound, from the JSON as rendered. */
static void test_ctl_running_client_read_back_from_json(void **state)
{
	struct nt_ctl_snap *s = client_snap();
	struct nt_ctl_running r;
	size_t len;
	char *out;

	(void)state;
	snprintf(s->command, sizeof(s->command), "up");
	s->n_listen = 2;
	snprintf(s->listen[0], sizeof(s->listen[0]), "[::1]:40123");
	snprintf(s->listen[1], sizeof(s->listen[1]), "127.0.0.1:1080");
	out = render(nt_ctl_render_json, s, &len);
	assert_int_equal(nt_ctl_running_parse(out, len, &r), 0);
	assert_string_equal(r.command, "up");
	assert_int_equal(r.pid, 42);
	assert_int_equal(r.n_listen, 2);
	assert_int_equal(r.listen.ip.family, AF_INET6);
	assert_int_equal(r.listen.port, 40123);
	free(out);
	/* A gateway: no listener, its command named. */
	memset(s->command, 0, sizeof(s->command));
	s->role = NT_CTL_GATEWAY;
	s->n_listen = 0;
	s->has_portal = false;
	s->n_resources = s->resources_omitted = 0;
	out = render(nt_ctl_render_json, s, &len);
	assert_int_equal(nt_ctl_running_parse(out, len, &r), 0);
	assert_string_equal(r.command, "");
	assert_int_equal(r.n_listen, 0);
	free(out);
	nt_ctl_snap_free(s);
	assert_int_equal(nt_ctl_running_parse("{\"pid\": 1}", 10, &r), -EINVAL);
	assert_int_equal(nt_ctl_running_parse("{\"pid\":1,\"listen\":[\"x\"]}", 24, &r),
			 -EINVAL);
}

static int parse(const char *text, bool full, struct nt_ctl_http_req *req)
{
	return nt_ctl_http_parse(text, strlen(text), full, req);
}

static void test_ctl_http_parse(void **state)
{
	struct nt_ctl_http_req req;
	char big[NT_CTL_HTTP_TARGET_MAX + 64];
	(void)state;

	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", false, &req), 200);
	assert_string_equal(req.path, "/metrics");
	assert_false(req.head);
	assert_int_equal(parse("HEAD /readyz?x=1 HTTP/1.0\n\n", false, &req), 200);
	assert_string_equal(req.path, "/readyz");
	assert_true(req.head);
	/* Incomplete: more to read; the same when full: 431. */
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", false, &req), 0);
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", true, &req), 431);
	assert_int_equal(parse("POST /metrics HTTP/1.1\r\n\r\n", false, &req), 405);
	assert_int_equal(parse("GET /metrics HTTP/2.0\r\n\r\n", false, &req), 505);
	assert_int_equal(parse("GET /metrics\r\n\r\n", false, &req), 400);
	assert_int_equal(parse("GET metrics HTTP/1.1\r\n\r\n", false, &req), 400);
	assert_int_equal(parse("G(T / HTTP/1.1\r\n\r\n", false, &req), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\n folded\r\n\r\n", false, &req), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n", false, &req), 400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", false, &req), 400);
	/* A target too long is known before the headers end. */
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', NT_CTL_HTTP_TARGET_MAX);
	big[5 + NT_CTL_HTTP_TARGET_MAX] = '\0';
	assert_int_equal(parse(big, false, &req), 414);
}

/* Every failure reason has its own label: a reason added to platform/fail.h
 * without one would be counted as "other", indistinguishable. */
static void test_ctl_every_fail_reason_is_labelled(void **state)
{
	(void)state;
	for (int f = 0; f < NT_FAIL_COUNT; f++) {
		const char *label = nt_ctl_fail_label(f);

		assert_string_not_equal(label, "other");
		for (int g = 0; g < f; g++)
			assert_string_not_equal(label, nt_ctl_fail_label(g));
	}
	assert_string_equal(nt_ctl_fail_label(NT_FAIL_COUNT), "other");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ctl_json_shape),
	    cmocka_unit_test(test_ctl_json_gateway_without_portal),
	    cmocka_unit_test(test_ctl_prom_escapes_labels),
	    cmocka_unit_test(test_ctl_text_names_what_matters),
	    cmocka_unit_test(test_ctl_render_too_small_is_enospc),
	    cmocka_unit_test(test_ctl_http_parse),
	    cmocka_unit_test(test_ctl_every_fail_reason_is_labelled),
	    cmocka_unit_test(test_ctl_running_client_read_back_from_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
