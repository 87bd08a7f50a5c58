// SPDX-License-Identifier: MIT
/* core/phx/pmsg: every payload round trip, validation, patterns, DNS control packets. */
#include "core/phx/pmsg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define KEY_A "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
#define KEY_B "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="

static const char res_db[] =
    "{\"id\":\"r-db\",\"type\":\"cidr\",\"address\":\"10.20.0.5/32\",\"name\":\"db\","
    "\"filters\":[{\"protocol\":\"tcp\",\"port_range_start\":5432,\"port_range_end\":5432},"
    "{\"protocol\":\"icmp\"}],\"sites\":[{\"id\":\"s-office\",\"name\":\"office\"}]}";

static const char client_c[] =
    "{\"id\":\"c-1\",\"public_key\":\"" KEY_A "\",\"preshared_key\":\"" KEY_B
    "\",\"ipv4\":\"100.64.0.7\",\"ipv6\":\"fd00:6e74::7\",\"name\":\"laptop\"}";

static void test_resource_decode_example(void **state)
{
	struct nt_pmsg_resource r;
	char buf[1024];

	(void)state;
	assert_int_equal(nt_pmsg_resource_decode(res_db, strlen(res_db), &r), 0);
	assert_string_equal(r.id, "r-db");
	assert_int_equal(r.type, NT_PMSG_RES_CIDR);
	assert_int_equal(r.cidr.family, AF_INET);
	assert_int_equal(r.cidr.prefix_len, 32);
	assert_int_equal(r.n_filters, 2);
	assert_int_equal(r.filters[0].proto, NT_PMSG_TCP);
	assert_int_equal(r.filters[0].port_start, 5432);
	assert_int_equal(r.filters[1].proto, NT_PMSG_ICMP);
	assert_int_equal(r.filters[1].port_end, 65535);
	assert_int_equal(r.n_sites, 1);
	assert_string_equal(r.sites[0].name, "office");
	assert_true(nt_pmsg_filters_allow(&r, NT_PMSG_TCP, 5432));
	assert_false(nt_pmsg_filters_allow(&r, NT_PMSG_TCP, 5433));
	assert_false(nt_pmsg_filters_allow(&r, NT_PMSG_UDP, 5432));
	/* Known answer: the encoder's form of the example. */
	assert_int_equal(nt_pmsg_resource_encode(buf, sizeof(buf), &r), (int)strlen(res_db));
	assert_string_equal(buf, res_db);
}

static void test_resource_variants_and_rejections(void **state)
{
	static const struct {
		const char *json;
		int err;
	} cases[] = {
	    {"{\"id\":\"r\",\"type\":\"dns\",\"address\":\"**.corp.internal\"}", 0},
	    {"{\"id\":\"r\",\"type\":\"cidr\",\"address\":\"fd00::/64\",\"filters\":null}", 0},
	    {"{\"id\":\"r\",\"type\":\"ip_range\",\"address\":7}", 0}, /* unknown: kept */
	    {"{\"id\":\"r\",\"type\":\"cidr\",\"address\":\"10.0.0.0/33\"}", -EINVAL},
	    {"{\"id\":\"r\",\"type\":\"cidr\",\"address\":\"10.0.0\"}", -EINVAL},
	    {"{\"id\":\"r\",\"type\":\"cidr\"}", -EINVAL},
	    {"{\"id\":\"\",\"type\":\"cidr\",\"address\":\"10.0.0.0/8\"}", -EINVAL},
	    {"{\"type\":\"cidr\",\"address\":\"10.0.0.0/8\"}", -EINVAL},
	    {"{\"id\":\"r\",\"type\":\"dns\",\"address\":\"a.*.b\"}", -EINVAL},
	    {"{\"id\":\"r\",\"type\":\"dns\",\"address\":\"a..b\"}", -EINVAL},
	    {"{\"id\":\"r\",\"type\":\"dns\",\"address\":\"*.\"}", -EINVAL},
	    {"{\"id\":\"r\",\"type\":\"cidr\",\"address\":\"10.0.0.0/"
	     "8\",\"filters\":[{\"protocol\":"
	     "\"sctp\"}]}",
	     -EINVAL},
	    {"{\"id\":\"r\",\"type\":\"cidr\",\"address\":\"10.0.0.0/"
	     "8\",\"filters\":[{\"protocol\":"
	     "\"tcp\",\"port_range_start\":80,\"port_range_end\":79}]}",
	     -EINVAL},
	    {"{\"id\":\"r\",\"type\":\"cidr\",\"address\":\"10.0.0.0/"
	     "8\",\"filters\":[{\"protocol\":"
	     "\"udp\",\"port_range_start\":65536}]}",
	     -EINVAL},
	    {"{\"id\":\"r\",\"type\":\"cidr\",\"address\":\"10.0.0.0/"
	     "8\",\"filters\":[{\"protocol\":"
	     "\"udp\",\"port_range_end\":5}]}",
	     -EINVAL},
	    {"{\"id\":\"r\",\"type\":\"cidr\",\"address\":\"10.0.0.0/"
	     "8\",\"sites\":[{\"name\":\"x\"}]}",
	     -EINVAL},
	    {"{\"id\":\"r\",\"type\":\"cidr\",\"address\":\"10.0.0.0/8\",\"name\":5}", -EINVAL},
	    {"{\"id\":\"r\",\"id\":\"s\",\"type\":\"cidr\",\"address\":\"10.0.0.0/8\"}", -EINVAL},
	    {"[]", -EINVAL},
	    {"{\"id\":\"r\xff\"}", -EILSEQ},
	};
	struct nt_pmsg_resource r;

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		int err = nt_pmsg_resource_decode(cases[k].json, strlen(cases[k].json), &r);

		if (err != cases[k].err)
			fail_msg("%s: got %d, want %d", cases[k].json, err, cases[k].err);
	}
	nt_pmsg_resource_decode(cases[2].json, strlen(cases[2].json), &r);
	assert_int_equal(r.type, NT_PMSG_RES_UNKNOWN);
	assert_string_equal(r.id, "r");
}

static void test_resource_bounds(void **state)
{
	char json[2048], id[NT_PMSG_ID_MAX + 2];
	struct nt_pmsg_resource r;
	size_t n;

	(void)state;
	memset(id, 'i', sizeof(id));
	id[NT_PMSG_ID_MAX] = '\0';
	snprintf(json, sizeof(json), "{\"id\":\"%s\",\"type\":\"x\"}", id);
	assert_int_equal(nt_pmsg_resource_decode(json, strlen(json), &r), 0);
	id[NT_PMSG_ID_MAX] = 'i';
	id[NT_PMSG_ID_MAX + 1] = '\0';
	snprintf(json, sizeof(json), "{\"id\":\"%s\",\"type\":\"x\"}", id);
	assert_int_equal(nt_pmsg_resource_decode(json, strlen(json), &r), -EINVAL);
	n = (size_t)sprintf(
	    json, "{\"id\":\"r\",\"type\":\"cidr\",\"address\":\"1.2.3.4\",\"filters\":[");
	for (int k = 0; k <= NT_PMSG_FILTERS_MAX; k++)
		n += (size_t)sprintf(json + n, "%s{\"protocol\":\"icmp\"}", k ? "," : "");
	strcpy(json + n, "]}");
	assert_int_equal(nt_pmsg_resource_decode(json, strlen(json), &r), -EINVAL);
}

static void test_name_patterns(void **state)
{
	static const struct {
		const char *pattern, *name;
		bool match;
	} cases[] = {
	    {"db.corp.internal", "db.corp.internal", true},
	    {"db.corp.internal", "DB.Corp.Internal.", true},
	    {"db.corp.internal", "xdb.corp.internal", false},
	    {"db.corp.internal", "a.db.corp.internal", false},
	    {"*.corp.internal", "db.corp.internal", true},
	    {"*.corp.internal", "corp.internal", false},
	    {"*.corp.internal", "a.b.corp.internal", false},
	    {"*.corp.internal", ".corp.internal", false},
	    {"**.corp.internal", "corp.internal", true},
	    {"**.corp.internal", "db.corp.internal", true},
	    {"**.corp.internal", "a.b.c.corp.internal", true},
	    {"**.corp.internal", "xcorp.internal", false},
	    {"**.corp.internal", "corp.internal.evil", false},
	    {"**.corp.internal", "a..corp.internal", false},
	    {"db?.corp.internal", "db1.corp.internal", true},
	    {"db?.corp.internal", "db.corp.internal", false},
	    {"db?.corp.internal", "db12.corp.internal", false},
	    {"?.corp", "..corp", false},
	    {"*.?b.corp", "x.ab.corp", true},
	    {"db.corp.internal", "", false},
	    {"db.corp.internal", "db.corp.int?rnal", false},
	};

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		if (nt_pmsg_name_match(cases[k].pattern, cases[k].name) != cases[k].match)
			fail_msg("%s vs %s", cases[k].pattern, cases[k].name);
	assert_int_equal(nt_pmsg_pattern_check("**.a"), 0);
	assert_int_equal(nt_pmsg_pattern_check("*"), -EINVAL);
	assert_int_equal(nt_pmsg_pattern_check("a.**.b"), -EINVAL);
	assert_int_equal(nt_pmsg_pattern_check("a b"), -EINVAL);
	assert_int_equal(nt_pmsg_pattern_check("a."), -EINVAL);
}

static void test_client_record(void **state)
{
	struct nt_pmsg_client c, d;
	char buf[512];
	int n;

	(void)state;
	assert_int_equal(nt_pmsg_client_decode(client_c, strlen(client_c), &c), 0);
	assert_int_equal(c.public_key[0], 1);
	assert_int_equal(c.preshared_key[31], 0x3f);
	assert_int_equal(c.ipv4[3], 7);
	n = nt_pmsg_client_encode(buf, sizeof(buf), &c);
	assert_int_equal(n, (int)strlen(client_c));
	assert_string_equal(buf, client_c);
	assert_int_equal(nt_pmsg_client_decode(buf, (size_t)n, &d), 0);
	assert_memory_equal(&c, &d, sizeof(c));
	/* a key of 31 bytes, an address of the wrong family */
	strcpy(buf, client_c);
	memcpy(strstr(buf, KEY_A), "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw==", 44);
	assert_int_equal(nt_pmsg_client_decode(buf, strlen(buf), &d), -EINVAL);
	assert_int_equal(d.id[0], 0);
	strcpy(buf, client_c);
	memcpy(strstr(buf, "100.64.0.7"), "fd00::1:7", 9);
	assert_int_equal(nt_pmsg_client_decode(buf, strlen(buf), &d), -EINVAL);
}

static void test_client_init_round_trip(void **state)
{
	char json[4096], buf[4096];
	struct nt_pmsg_resource res[3], res2[3];
	struct nt_pmsg_client_init m = {.resources = res, .cap = 3},
				   m2 = {.resources = res2, .cap = 3};
	int n;

	(void)state;
	snprintf(
	    json, sizeof(json),
	    "{\"interface\":{\"ipv4\":\"100.64.0.7\",\"ipv6\":\"fd00:6e74::7\"},\"resources\":[%s,"
	    "{\"id\":\"r-new\",\"type\":\"future\"},{\"id\":\"r-w\",\"type\":\"dns\",\"address\":"
	    "\"*.corp\"}],\"extra\":[1,2]}",
	    res_db);
	assert_int_equal(nt_pmsg_client_init_decode(json, strlen(json), &m), 0);
	assert_int_equal(m.n, 3);
	assert_true(m.resources == res && m.cap == 3);
	assert_int_equal(res[1].type, NT_PMSG_RES_UNKNOWN);
	assert_int_equal(res[2].type, NT_PMSG_RES_DNS);
	n = nt_pmsg_client_init_encode(buf, sizeof(buf), &m);
	assert_true(n > 0);
	assert_int_equal(nt_pmsg_client_init_decode(buf, (size_t)n, &m2), 0);
	assert_int_equal(m2.n, 3);
	assert_memory_equal(&m.iface, &m2.iface, sizeof(m.iface));
	assert_memory_equal(res, res2, sizeof(res));
	m.cap = 2;
	assert_int_equal(nt_pmsg_client_init_decode(json, strlen(json), &m), -E2BIG);
	assert_true(m.resources == res && m.cap == 2 && m.n == 0);
	m.cap = 3;
	assert_int_equal(nt_pmsg_client_init_decode("{\"resources\":[]}", 16, &m), -EINVAL);
}

static void test_gateway_init_and_create_auth(void **state)
{
	char json[4096], buf[4096];
	struct nt_pmsg_grant g[2], g2[2], one, one2;
	struct nt_pmsg_gateway_init m = {.authorizations = g, .cap = 2};
	struct nt_pmsg_gateway_init m2 = {.authorizations = g2, .cap = 2};
	int n;

	(void)state;
	snprintf(json, sizeof(json),
		 "{\"interface\":{\"ipv4\":\"100.64.0.1\",\"ipv6\":\"fd00:6e74::1\"},"
		 "\"authorizations\":[{\"resource\":%s,\"client\":%s,\"expires_at\":1700000000}]}",
		 res_db, client_c);
	assert_int_equal(nt_pmsg_gateway_init_decode(json, strlen(json), &m), 0);
	assert_int_equal(m.n, 1);
	assert_true(g[0].expires_at == 1700000000);
	n = nt_pmsg_gateway_init_encode(buf, sizeof(buf), &m);
	assert_true(n > 0);
	assert_int_equal(nt_pmsg_gateway_init_decode(buf, (size_t)n, &m2), 0);
	assert_memory_equal(&g[0], &g2[0], sizeof(g[0]));

	snprintf(json, sizeof(json),
		 "{\"ref\":\"opaque-1\",\"resource\":%s,\"client\":%s,\"expires_at\":0}", res_db,
		 client_c);
	assert_int_equal(nt_pmsg_create_auth_decode(json, strlen(json), &one), 0);
	assert_string_equal(one.ref, "opaque-1");
	n = nt_pmsg_create_auth_encode(buf, sizeof(buf), &one);
	assert_int_equal(nt_pmsg_create_auth_decode(buf, (size_t)n, &one2), 0);
	assert_memory_equal(&one, &one2, sizeof(one));
	snprintf(json, sizeof(json),
		 "{\"ref\":\"opaque-1\",\"resource\":%s,\"client\":%s,\"expires_at\":-1}", res_db,
		 client_c);
	assert_int_equal(nt_pmsg_create_auth_decode(json, strlen(json), &one), -EINVAL);
	snprintf(json, sizeof(json),
		 "{\"ref\":\"opaque-1\",\"resource\":%s,\"client\":%s,\"expires_at\":1.5}", res_db,
		 client_c);
	assert_int_equal(nt_pmsg_create_auth_decode(json, strlen(json), &one), -EINVAL);
	snprintf(json, sizeof(json), "{\"resource\":%s,\"client\":%s,\"expires_at\":1}", res_db,
		 client_c);
	assert_int_equal(nt_pmsg_create_auth_decode(json, strlen(json), &one), -EINVAL);
}

static void test_auth_created(void **state)
{
	const char *json =
	    "{\"resource_id\":\"r-db\",\"gateway_id\":\"g-1\",\"gateway_public_key\":\"" KEY_A
	    "\",\"gateway_endpoint\":\"[2001:db8::1]:51820\",\"gateway_ipv4\":\"100.64.0.1\","
	    "\"gateway_ipv6\":\"fd00:6e74::1\",\"preshared_key\":\"" KEY_B
	    "\",\"site_id\":\"s-office\",\"expires_at\":1700000000}";
	struct nt_pmsg_auth_created a, b;
	char buf[1024];
	int n;

	(void)state;
	assert_int_equal(nt_pmsg_auth_created_decode(json, strlen(json), &a), 0);
	assert_int_equal(a.endpoint_family, AF_INET6);
	assert_int_equal(a.endpoint_port, 51820);
	assert_int_equal(a.endpoint_addr[15], 1);
	n = nt_pmsg_auth_created_encode(buf, sizeof(buf), &a);
	assert_string_equal(buf, json);
	assert_int_equal(nt_pmsg_auth_created_decode(buf, (size_t)n, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	static const char *const bad_ep[] = {
	    "2001:db8::1:51820", "[2001:db8::1]:0", "1.2.3.4:65536",
	    "1.2.3.4:",		 "1.2.3.4:08",	    "host:1"};
	for (size_t k = 0; k < sizeof(bad_ep) / sizeof(bad_ep[0]); k++) {
		char j2[1024];
		char *p;

		strcpy(j2, json);
		p = strstr(j2, "[2001:db8::1]:51820");
		snprintf(buf, sizeof(buf), "%s%s", bad_ep[k], p + strlen("[2001:db8::1]:51820"));
		strcpy(p, buf);
		if (nt_pmsg_auth_created_decode(j2, strlen(j2), &b) != -EINVAL)
			fail_msg("endpoint %s accepted", bad_ep[k]);
	}
}

static void test_small_payloads(void **state)
{
	char buf[256], id[NT_PMSG_ID_MAX + 1], reason[NT_PMSG_REASON_MAX + 1];
	struct nt_pmsg_auth_failed f;
	struct nt_pmsg_request_auth r = {.resource_id = "r-db",
					 .n_gateways = 2,
					 .connected_gateway_ids = {"g-1", "g-2"}},
				    r2;
	struct nt_pmsg_reject_access x = {.client_id = "c-1", .resource_id = "r-db"}, x2;
	int n;

	(void)state;
	assert_int_equal(
	    nt_pmsg_auth_failed_decode("{\"resource_id\":\"r\",\"reason\":\"offline\"}", 38, &f),
	    0);
	assert_int_equal(f.reason, NT_PMSG_OFFLINE);
	n = nt_pmsg_auth_failed_encode(buf, sizeof(buf), &f);
	assert_string_equal(buf, "{\"resource_id\":\"r\",\"reason\":\"offline\"}");
	assert_int_equal(n, 38);
	assert_int_equal(
	    nt_pmsg_auth_failed_decode("{\"resource_id\":\"r\",\"reason\":\"later\"}", 36, &f),
	    -EINVAL);

	n = nt_pmsg_auth_revoked_encode(buf, sizeof(buf), "r-db");
	assert_string_equal(buf, "{\"resource_id\":\"r-db\"}");
	assert_int_equal(nt_pmsg_auth_revoked_decode(buf, (size_t)n, id), 0);
	assert_string_equal(id, "r-db");

	n = nt_pmsg_resource_deleted_encode(buf, sizeof(buf), "r-db");
	assert_string_equal(buf, "\"r-db\"");
	assert_int_equal(nt_pmsg_resource_deleted_decode(buf, (size_t)n, id), 0);
	assert_string_equal(id, "r-db");
	assert_int_equal(nt_pmsg_resource_deleted_decode("{\"id\":\"r\"}", 10, id), -EINVAL);
	assert_int_equal(nt_pmsg_resource_deleted_decode("\"\"", 2, id), -EINVAL);
	assert_int_equal(nt_pmsg_resource_deleted_decode("5", 1, id), -EINVAL);

	n = nt_pmsg_request_auth_encode(buf, sizeof(buf), &r);
	assert_string_equal(
	    buf, "{\"resource_id\":\"r-db\",\"connected_gateway_ids\":[\"g-1\",\"g-2\"]}");
	assert_int_equal(nt_pmsg_request_auth_decode(buf, (size_t)n, &r2), 0);
	assert_memory_equal(&r, &r2, sizeof(r));
	assert_int_equal(nt_pmsg_request_auth_decode("{\"resource_id\":\"r\"}", 19, &r2), 0);
	assert_int_equal(r2.n_gateways, 0);
	assert_int_equal(nt_pmsg_request_auth_decode(
			     "{\"resource_id\":\"r\",\"connected_gateway_ids\":[1]}", 47, &r2),
			 -EINVAL);

	n = nt_pmsg_auth_ack_encode(buf, sizeof(buf), "opaque-1");
	assert_string_equal(buf, "{\"ref\":\"opaque-1\"}");
	assert_int_equal(nt_pmsg_auth_ack_decode(buf, (size_t)n, id), 0);
	assert_int_equal(nt_pmsg_auth_ack_decode("{\"ref\":1}", 9, id), -EINVAL);

	n = nt_pmsg_reject_access_encode(buf, sizeof(buf), &x);
	assert_string_equal(buf, "{\"client_id\":\"c-1\",\"resource_id\":\"r-db\"}");
	assert_int_equal(nt_pmsg_reject_access_decode(buf, (size_t)n, &x2), 0);
	assert_memory_equal(&x, &x2, sizeof(x));

	n = nt_pmsg_disconnect_encode(buf, sizeof(buf), "token_revoked");
	assert_int_equal(nt_pmsg_disconnect_decode(buf, (size_t)n, reason), 0);
	assert_true(nt_pmsg_disconnect_fatal(reason));
	assert_false(nt_pmsg_disconnect_fatal("maintenance"));
}

static void test_dns_ctl(void **state)
{
	struct nt_pmsg_assigned_ips a = {.resource_id = "r-w", .domain = "db.corp", .n_ips = 2}, a2;
	struct nt_pmsg_domain_status s = {.resource_id = "r-w", .domain = "db.corp"}, s2;
	uint8_t pkt[NT_PMSG_DNS_CTL_MAX + 8];
	char body[512];
	const char *b;
	size_t blen;
	uint8_t type;
	int n, plen;

	(void)state;
	a.proxy_ips[0].family = AF_INET;
	inet_pton(AF_INET, "100.96.0.1", a.proxy_ips[0].addr);
	a.proxy_ips[1].family = AF_INET6;
	inet_pton(AF_INET6, "fd00:2021:1111:8000::1", a.proxy_ips[1].addr);
	n = nt_pmsg_assigned_ips_encode(body, sizeof(body), &a);
	assert_string_equal(body, "{\"resource_id\":\"r-w\",\"domain\":\"db.corp\",\"proxy_ips\":"
				  "[\"100.96.0.1\",\"fd00:2021:1111:8000::1\"]}");
	plen = nt_pmsg_dns_ctl_build(pkt, sizeof(pkt), NT_PMSG_DNS_ASSIGNED_IPS, body, (size_t)n);
	assert_int_equal(plen, 48 + n);
	/* Known bytes: version 6, payload length, next header 255, hop limit 0, :: to ::. */
	assert_int_equal(pkt[0], 0x60);
	assert_int_equal(pkt[4] << 8 | pkt[5], 8 + n);
	assert_int_equal(pkt[6], 255);
	assert_int_equal(pkt[7], 0);
	assert_true(nt_pmsg_dns_ctl_is(pkt, (size_t)plen));
	assert_int_equal(nt_pmsg_dns_ctl_parse(pkt, (size_t)plen, &type, &b, &blen), 0);
	assert_int_equal(type, NT_PMSG_DNS_ASSIGNED_IPS);
	assert_int_equal(nt_pmsg_assigned_ips_decode(b, blen, &a2), 0);
	assert_memory_equal(&a, &a2, sizeof(a));
	assert_int_equal(nt_pmsg_dns_ctl_parse(pkt, (size_t)plen - 1, &type, &b, &blen), -EINVAL);
	pkt[41] = 1;
	assert_int_equal(nt_pmsg_dns_ctl_parse(pkt, (size_t)plen, &type, &b, &blen), -EINVAL);
	pkt[41] = 0;
	pkt[40] = 2;
	assert_int_equal(nt_pmsg_dns_ctl_parse(pkt, (size_t)plen, &type, &b, &blen), -EINVAL);
	pkt[40] = 0;
	pkt[23] = 1; /* a source other than :: */
	assert_false(nt_pmsg_dns_ctl_is(pkt, (size_t)plen));
	assert_int_equal(
	    nt_pmsg_dns_ctl_build(pkt, sizeof(pkt), 0, body, NT_PMSG_DNS_CTL_BODY_MAX + 1),
	    -EMSGSIZE);
	assert_int_equal(nt_pmsg_dns_ctl_build(pkt, 40, 0, body, 1), -ENOSPC);

	n = nt_pmsg_domain_status_encode(body, sizeof(body), &s);
	assert_string_equal(
	    body, "{\"resource_id\":\"r-w\",\"domain\":\"db.corp\",\"status\":\"failed\"}");
	assert_int_equal(nt_pmsg_domain_status_decode(body, (size_t)n, &s2), 0);
	assert_memory_equal(&s, &s2, sizeof(s));
	s.active = true;
	strcpy(s.reason, "x");
	n = nt_pmsg_domain_status_encode(body, sizeof(body), &s);
	assert_int_equal(nt_pmsg_domain_status_decode(body, (size_t)n, &s2), 0);
	assert_memory_equal(&s, &s2, sizeof(s));
	assert_int_equal(nt_pmsg_assigned_ips_decode("{\"resource_id\":\"r\",\"domain\":\"*.a\","
						     "\"proxy_ips\":[]}",
						     49, &a2),
			 -EINVAL);
	assert_int_equal(nt_pmsg_assigned_ips_decode("{\"resource_id\":\"r\",\"domain\":\"a.b\","
						     "\"proxy_ips\":[\"1.2.3\"]}",
						     56, &a2),
			 -EINVAL);
}

static void expect_ip(int family, const char *text, const uint8_t *got)
{
	uint8_t want[16];

	assert_int_equal(inet_pton(family, text, want), 1);
	assert_memory_equal(got, want, family == AF_INET ? 4 : 16);
}

/* Section 7's ranges: 100.96.0.0/11 and fd00:2021:1111:8000::/107, each
 * index to one address and back, both ends of each range refused. */
static void test_proxy_ips(void **state)
{
	uint8_t a[16], b[16];
	(void)state;

	assert_int_equal(nt_pmsg_proxy_ip(AF_INET, 0, a), 0);
	expect_ip(AF_INET, "100.96.0.1", a);
	assert_int_equal(nt_pmsg_proxy_ip(AF_INET, 300, a), 0);
	expect_ip(AF_INET, "100.96.1.45", a);
	assert_int_equal(nt_pmsg_proxy_index(AF_INET, a), 300);
	assert_int_equal(nt_pmsg_proxy_ip(AF_INET, NT_PMSG_PROXY_SLOTS - 3, a), 0);
	expect_ip(AF_INET, "100.127.255.254", a);
	assert_int_equal(nt_pmsg_proxy_ip(AF_INET, NT_PMSG_PROXY_SLOTS - 2, a), -ERANGE);
	assert_int_equal(nt_pmsg_proxy_ip(AF_INET6, 0, a), 0);
	expect_ip(AF_INET6, "fd00:2021:1111:8000::1", a);
	assert_int_equal(nt_pmsg_proxy_ip(AF_INET6, NT_PMSG_PROXY_SLOTS - 2, a), 0);
	expect_ip(AF_INET6, "fd00:2021:1111:8000::1f:ffff", a);
	assert_int_equal(nt_pmsg_proxy_index(AF_INET6, a), NT_PMSG_PROXY_SLOTS - 2);
	assert_int_equal(nt_pmsg_proxy_ip(AF_INET6, NT_PMSG_PROXY_SLOTS - 1, a), -ERANGE);
	assert_int_equal(nt_pmsg_proxy_ip(AF_UNIX, 0, a), -EAFNOSUPPORT);

	/* Outside, or the ranges' own network and broadcast addresses. */
	static const char *const not4[] = {"100.95.255.255", "100.128.0.1", "100.96.0.0",
					    "100.127.255.255", "10.96.0.1"};
	for (size_t i = 0; i < sizeof(not4) / sizeof(not4[0]); i++) {
		assert_int_equal(inet_pton(AF_INET, not4[i], b), 1);
		assert_int_equal(nt_pmsg_proxy_index(AF_INET, b), -1);
	}
	assert_true(nt_pmsg_is_proxy_ip(AF_INET, b) == false);
	static const char *const not6[] = {"fd00:2021:1111:8000::20:0", "fd00:2021:1111:8001::1",
					    "fd00:2021:1111:8000::", "::1"};
	for (size_t i = 0; i < sizeof(not6) / sizeof(not6[0]); i++) {
		assert_int_equal(inet_pton(AF_INET6, not6[i], b), 1);
		assert_int_equal(nt_pmsg_proxy_index(AF_INET6, b), -1);
	}
	assert_int_equal(inet_pton(AF_INET6, "fd00:2021:1111:8000::1f:0", b), 1);
	assert_true(nt_pmsg_is_proxy_ip(AF_INET6, b));
	assert_int_equal(inet_pton(AF_INET, "100.100.7.9", b), 1);
	assert_true(nt_pmsg_is_proxy_ip(AF_INET, b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resource_decode_example),
	    cmocka_unit_test(test_resource_variants_and_rejections),
	    cmocka_unit_test(test_resource_bounds),
	    cmocka_unit_test(test_name_patterns),
	    cmocka_unit_test(test_client_record),
	    cmocka_unit_test(test_client_init_round_trip),
	    cmocka_unit_test(test_gateway_init_and_create_auth),
	    cmocka_unit_test(test_auth_created),
	    cmocka_unit_test(test_small_payloads),
	    cmocka_unit_test(test_dns_ctl),
	    cmocka_unit_test(test_proxy_ips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
