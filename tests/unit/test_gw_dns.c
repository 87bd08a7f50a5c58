// SPDX-License-Identifier: MIT
/* dns resources at the gateway (core/gateway/gw_dns.c): which assigned_ips
 * a client may have resolved, the real address each proxy address gets,
 * RFC 6761 names, the limits and their counters, and removal with the
 * grant. Resources and assigned_ips come from protocol JSON, as the gateway
 * gets them. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/gateway/gw_dns.h"

#define NOW 1700000000

#define CORP "{\"id\":\"r-corp\",\"type\":\"dns\",\"address\":\"*.corp.internal\",\"name\":\"c\"}"
#define NET  "{\"id\":\"r-net\",\"type\":\"cidr\",\"address\":\"10.30.0.0/16\",\"name\":\"n\"}"

static struct nt_pmsg_resource res(const char *json)
{
	struct nt_pmsg_resource r;

	if (nt_pmsg_resource_decode(json, strlen(json), &r) != 0)
		fail_msg("bad resource %s", json);
	return r;
}

/* assigned_ips for rid/domain with the proxy addresses in ips ("a","b"). */
static struct nt_pmsg_assigned_ips ask(const char *rid, const char *domain, const char *ips)
{
	struct nt_pmsg_assigned_ips m;
	char json[512];

	snprintf(json, sizeof(json),
		 "{\"resource_id\":\"%s\",\"domain\":\"%s\",\"proxy_ips\":[%s]}", rid, domain, ips);
	if (nt_pmsg_assigned_ips_decode(json, strlen(json), &m) != 0)
		fail_msg("bad assigned_ips %s", json);
	return m;
}

static struct nt_resolver_addr addr(const char *text)
{
	struct nt_resolver_addr a = {0};

	if (inet_pton(AF_INET, text, a.addr) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, text, a.addr) == 1)
		a.family = AF_INET6;
	else
		fail_msg("bad address %s", text);
	return a;
}

static const struct nt_gw_dns_entry *lookup(const struct nt_gw_dns *t, const char *cid,
					    const char *proxy)
{
	struct nt_resolver_addr p = addr(proxy);

	return nt_gw_dns_find(t, cid, p.family, p.addr);
}

#define V4V6 "\"100.96.0.1\",\"fd00:2021:1111:8000::1\""

static void test_check(void **state)
{
	struct nt_gw_grants g;
	struct nt_pmsg_resource corp = res(CORP), net = res(NET);
	struct nt_pmsg_assigned_ips m = ask("r-corp", "db.corp.internal", V4V6);

	(void)state;
	nt_gw_grants_init(&g, 0);
	/* no grant at all */
	assert_int_equal(nt_gw_dns_check(&g, "c", &m, NOW), -EPERM);
	assert_int_equal(nt_gw_grants_put(&g, "c", &corp, NOW + 60), 0);
	assert_int_equal(nt_gw_grants_put(&g, "c", &net, NOW + 60), 0);
	assert_int_equal(nt_gw_dns_check(&g, "c", &m, NOW), 0);
	/* another client's grant does not count */
	assert_int_equal(nt_gw_dns_check(&g, "d", &m, NOW), -EPERM);
	/* expired */
	assert_int_equal(nt_gw_dns_check(&g, "c", &m, NOW + 60), -EPERM);
	/* a cidr grant is no grant of a name */
	m = ask("r-net", "db.corp.internal", V4V6);
	assert_int_equal(nt_gw_dns_check(&g, "c", &m, NOW), -EPERM);
	/* the pattern: one label under corp.internal, not two, not the apex */
	m = ask("r-corp", "a.b.corp.internal", V4V6);
	assert_int_equal(nt_gw_dns_check(&g, "c", &m, NOW), -EPERM);
	m = ask("r-corp", "corp.internal", V4V6);
	assert_int_equal(nt_gw_dns_check(&g, "c", &m, NOW), -EPERM);
	m = ask("r-corp", "example.com", V4V6);
	assert_int_equal(nt_gw_dns_check(&g, "c", &m, NOW), -EPERM);
	/* proxy addresses outside the ranges: a real address must not be
	 * taken over */
	m = ask("r-corp", "db.corp.internal", "\"10.30.0.1\"");
	assert_int_equal(nt_gw_dns_check(&g, "c", &m, NOW), -EINVAL);
	m = ask("r-corp", "db.corp.internal", "\"100.96.0.1\",\"fd00::1\"");
	assert_int_equal(nt_gw_dns_check(&g, "c", &m, NOW), -EINVAL);
	m = ask("r-corp", "db.corp.internal", "\"100.128.0.1\"");
	assert_int_equal(nt_gw_dns_check(&g, "c", &m, NOW), -EINVAL);
	/* none */
	m = ask("r-corp", "db.corp.internal", "");
	assert_int_equal(nt_gw_dns_check(&g, "c", &m, NOW), -EINVAL);
	/* more than NT_PMSG_PROXY_IPS_MAX never decodes */
	{
		const char *nine = "{\"resource_id\":\"r-corp\",\"domain\":\"db.corp.internal\","
				   "\"proxy_ips\":[\"100.96.0.1\",\"100.96.0.2\",\"100.96.0.3\","
				   "\"100.96.0.4\",\"100.96.0.5\",\"100.96.0.6\",\"100.96.0.7\","
				   "\"100.96.0.8\",\"100.96.0.9\"]}";

		assert_int_equal(nt_pmsg_assigned_ips_decode(nine, strlen(nine), &m), -EINVAL);
		m = ask("r-corp", "db.corp.internal", V4V6);
		m.n_ips = NT_PMSG_PROXY_IPS_MAX + 1;
		assert_int_equal(nt_gw_dns_check(&g, "c", &m, NOW), -EINVAL);
	}
	nt_gw_grants_fini(&g);
}

static void test_special_names(void **state)
{
	struct nt_resolver_addr lo[2];

	(void)state;
	assert_int_equal(nt_gw_dns_special_of("localhost"), NT_GW_DNS_LOCALHOST);
	assert_int_equal(nt_gw_dns_special_of("app.localhost."), NT_GW_DNS_LOCALHOST);
	assert_int_equal(nt_gw_dns_special_of("A.B.LocalHost"), NT_GW_DNS_LOCALHOST);
	assert_int_equal(nt_gw_dns_special_of("x.invalid"), NT_GW_DNS_INVALID);
	assert_int_equal(nt_gw_dns_special_of("invalid"), NT_GW_DNS_INVALID);
	assert_int_equal(nt_gw_dns_special_of("notlocalhost"), NT_GW_DNS_ORDINARY);
	assert_int_equal(nt_gw_dns_special_of("localhost.example.com"), NT_GW_DNS_ORDINARY);
	assert_int_equal(nt_gw_dns_special_of("xinvalid"), NT_GW_DNS_ORDINARY);
	assert_int_equal(nt_gw_dns_localhost(lo), 2);
	assert_int_equal(lo[0].family, AF_INET);
	assert_memory_equal(lo[0].addr, addr("127.0.0.1").addr, 16);
	assert_int_equal(lo[1].family, AF_INET6);
	assert_memory_equal(lo[1].addr, addr("::1").addr, 16);
}

/* Each proxy address gets the first address of its family, else the first
 * at all. */
static void test_mapping_families(void **state)
{
	struct nt_gw_dns t;
	struct nt_resolver_addr both[] = {addr("192.0.2.7"), addr("2001:db8::7"),
					  addr("192.0.2.8")};
	struct nt_resolver_addr v6only[] = {addr("2001:db8::9")};
	struct nt_pmsg_assigned_ips m = ask("r-corp", "db.corp.internal", V4V6);
	const struct nt_gw_dns_entry *e;

	(void)state;
	nt_gw_dns_init(&t, 0, 0);
	assert_int_equal(nt_gw_dns_map(&t, "c", &m, both, 3, NOW), 0);
	e = lookup(&t, "c", "100.96.0.1");
	assert_non_null(e);
	assert_int_equal(e->real.family, AF_INET);
	assert_memory_equal(e->real.addr, both[0].addr, 16);
	assert_string_equal(e->rid, "r-corp");
	assert_string_equal(e->domain, "db.corp.internal");
	e = lookup(&t, "c", "fd00:2021:1111:8000::1");
	assert_non_null(e);
	assert_int_equal(e->real.family, AF_INET6);
	assert_memory_equal(e->real.addr, both[1].addr, 16);
	/* another client's proxy addresses are its own */
	assert_null(lookup(&t, "d", "100.96.0.1"));
	/* re-resolved to IPv6 only: the IPv4 proxy crosses families, in place */
	assert_int_equal(nt_gw_dns_map(&t, "c", &m, v6only, 1, NOW + 5), 0);
	assert_int_equal(t.n, 2);
	e = lookup(&t, "c", "100.96.0.1");
	assert_int_equal(e->real.family, AF_INET6);
	assert_memory_equal(e->real.addr, v6only[0].addr, 16);
	/* nothing to map */
	assert_int_equal(nt_gw_dns_map(&t, "c", &m, v6only, 0, NOW), -ENOENT);
	assert_null(nt_gw_dns_pick(AF_INET, v6only, 0));
	nt_gw_dns_fini(&t);
}

static void test_fresh(void **state)
{
	struct nt_gw_dns t;
	struct nt_resolver_addr a[] = {addr("192.0.2.7")};
	struct nt_pmsg_assigned_ips m = ask("r-corp", "db.corp.internal", V4V6);
	struct nt_pmsg_assigned_ips other = ask("r-corp", "web.corp.internal", V4V6);
	struct nt_pmsg_assigned_ips more =
	    ask("r-corp", "db.corp.internal", V4V6 ",\"100.96.0.2\"");

	(void)state;
	nt_gw_dns_init(&t, 0, 0);
	assert_false(nt_gw_dns_fresh(&t, "c", &m, NOW, 60));
	assert_int_equal(nt_gw_dns_map(&t, "c", &m, a, 1, NOW), 0);
	assert_true(nt_gw_dns_fresh(&t, "c", &m, NOW + 60, 60));
	assert_false(nt_gw_dns_fresh(&t, "c", &m, NOW + 61, 60));
	assert_false(nt_gw_dns_fresh(&t, "d", &m, NOW, 60));
	/* the same proxy addresses given to another name */
	assert_false(nt_gw_dns_fresh(&t, "c", &other, NOW, 60));
	/* one proxy address not mapped yet */
	assert_false(nt_gw_dns_fresh(&t, "c", &more, NOW, 60));
	nt_gw_dns_fini(&t);
}

/* Per client and in all, whole names refused and counted. */
static void test_limits(void **state)
{
	struct nt_gw_dns t;
	struct nt_resolver_addr a[] = {addr("192.0.2.7")};
	struct nt_pmsg_assigned_ips one = ask("r-corp", "a.corp.internal", "\"100.96.0.1\"");
	struct nt_pmsg_assigned_ips two = ask("r-corp", "b.corp.internal", "\"100.96.0.2\"");
	struct nt_pmsg_assigned_ips pair =
	    ask("r-corp", "c.corp.internal", "\"100.96.0.3\",\"100.96.0.4\"");

	(void)state;
	nt_gw_dns_init(&t, 3, 2);
	assert_int_equal(nt_gw_dns_map(&t, "c", &one, a, 1, NOW), 0);
	/* all or none: one address would fit, two do not */
	assert_int_equal(nt_gw_dns_map(&t, "c", &pair, a, 1, NOW), -ENOSPC);
	assert_int_equal(t.c.limit_client, 1);
	assert_null(lookup(&t, "c", "100.96.0.3"));
	assert_int_equal(nt_gw_dns_map(&t, "c", &two, a, 1, NOW), 0);
	/* again, at the client's limit: replaces, no new entry */
	assert_int_equal(nt_gw_dns_map(&t, "c", &two, a, 1, NOW + 1), 0);
	assert_int_equal(t.n, 2);
	assert_int_equal(nt_gw_dns_map(&t, "d", &one, a, 1, NOW), 0);
	assert_int_equal(nt_gw_dns_map(&t, "e", &one, a, 1, NOW), -ENOSPC);
	assert_int_equal(t.c.limit_total, 1);
	assert_int_equal(t.c.limit_client, 1);
	nt_gw_dns_fini(&t);
}

/* A grant's end takes its mappings, a client's end all of them, a changed
 * pattern the names it no longer matches. */
static void test_removal(void **state)
{
	struct nt_gw_dns t;
	struct nt_gw_grants g;
	struct nt_pmsg_resource corp = res(CORP);
	struct nt_pmsg_resource lab =
	    res("{\"id\":\"r-lab\",\"type\":\"dns\",\"address\":\"**.lab\",\"name\":\"l\"}");
	struct nt_resolver_addr a[] = {addr("192.0.2.7")};
	struct nt_pmsg_assigned_ips db = ask("r-corp", "db.corp.internal", V4V6);
	struct nt_pmsg_assigned_ips ci = ask("r-lab", "ci.lab", "\"100.96.0.9\"");

	(void)state;
	nt_gw_dns_init(&t, 0, 0);
	nt_gw_grants_init(&g, 0);
	assert_int_equal(nt_gw_grants_put(&g, "c", &corp, NOW + 60), 0);
	assert_int_equal(nt_gw_grants_put(&g, "c", &lab, NOW + 60), 0);
	assert_int_equal(nt_gw_grants_put(&g, "d", &corp, NOW + 60), 0);
	assert_int_equal(nt_gw_dns_map(&t, "c", &db, a, 1, NOW), 0);
	assert_int_equal(nt_gw_dns_map(&t, "c", &ci, a, 1, NOW), 0);
	assert_int_equal(nt_gw_dns_map(&t, "d", &db, a, 1, NOW), 0);
	assert_int_equal(nt_gw_dns_retain(&t, &g, NOW), 0);
	/* (c, r-corp) ends */
	assert_int_equal(nt_gw_dns_remove(&t, "c", "r-corp"), 2);
	assert_null(lookup(&t, "c", "100.96.0.1"));
	assert_non_null(lookup(&t, "c", "100.96.0.9"));
	assert_non_null(lookup(&t, "d", "100.96.0.1"));
	/* r-corp now names only *.example: d's db.corp.internal goes */
	corp = res("{\"id\":\"r-corp\",\"type\":\"dns\",\"address\":\"*.example\",\"name\":\"c\"}");
	assert_int_equal(nt_gw_grants_update(&g, &corp), 2);
	assert_int_equal(nt_gw_dns_retain(&t, &g, NOW), 2);
	assert_null(lookup(&t, "d", "100.96.0.1"));
	/* the client goes */
	assert_int_equal(nt_gw_dns_map(&t, "c", &db, a, 1, NOW), 0);
	assert_int_equal(nt_gw_dns_remove(&t, "c", NULL), 3);
	assert_int_equal(t.n, 0);
	nt_gw_grants_fini(&g);
	nt_gw_dns_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_special_names),
	    cmocka_unit_test(test_mapping_families),
	    cmocka_unit_test(test_fresh),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_removal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
