// SPDX-License-Identifier: MIT
/* Portal grants at the gateway (core/gateway/gw_grants.c): coverage by
 * address and filters, expiry and its order, init's replacement, reject,
 * resource_updated, the limit, and the combination with static rules.
 * Resources come from protocol JSON, as the gateway gets them. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/gateway/gw_grants.h"

#define NOW 1700000000

static struct nt_pmsg_resource res(const char *json)
{
	struct nt_pmsg_resource r;

	if (nt_pmsg_resource_decode(json, strlen(json), &r) != 0)
		fail_msg("bad resource %s", json);
	return r;
}

#define DB                                                                                         \
	"{\"id\":\"r-db\",\"type\":\"cidr\",\"address\":\"10.20.0.5/32\",\"name\":\"db\","         \
	"\"filters\":[{\"protocol\":\"tcp\",\"port_range_start\":5432,\"port_range_end\":5432},"   \
	"{\"protocol\":\"icmp\"}]}"
#define NET                                                                                        \
	"{\"id\":\"r-net\",\"type\":\"cidr\",\"address\":\"10.30.0.0/16\",\"name\":\"net\","       \
	"\"filters\":[{\"protocol\":\"udp\",\"port_range_start\":1000,\"port_range_end\":2000}]}"
#define ALL6 "{\"id\":\"r-v6\",\"type\":\"cidr\",\"address\":\"fd00:20::/64\",\"name\":\"v6\"}"

static struct nt_gw_dest dest(const char *addr, uint8_t proto, uint16_t port)
{
	struct nt_gw_dest d = {.proto = proto, .port = port};

	if (inet_pton(AF_INET, addr, d.addr) == 1)
		d.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, d.addr) == 1)
		d.family = AF_INET6;
	else
		fail_msg("bad address %s", addr);
	return d;
}

static bool allows(const struct nt_gw_grants *g, const char *cid, const char *addr, uint8_t proto,
		   uint16_t port, int64_t now)
{
	struct nt_gw_dest d = dest(addr, proto, port);

	return nt_gw_grants_allow(g, cid, &d, now);
}

static void test_address_and_filters(void **state)
{
	struct nt_gw_grants g;
	struct nt_pmsg_resource db = res(DB), net = res(NET), v6 = res(ALL6);

	(void)state;
	nt_gw_grants_init(&g, 0);
	assert_int_equal(nt_gw_grants_put(&g, "c-1", &db, NOW + 60), 0);
	assert_int_equal(nt_gw_grants_put(&g, "c-1", &net, NOW + 60), 0);
	assert_int_equal(nt_gw_grants_put(&g, "c-2", &v6, NOW + 60), 0);
	/* tcp:5432 and icmp to the /32 only */
	assert_true(allows(&g, "c-1", "10.20.0.5", 6, 5432, NOW));
	assert_false(allows(&g, "c-1", "10.20.0.5", 6, 5433, NOW));
	assert_false(allows(&g, "c-1", "10.20.0.5", 17, 5432, NOW));
	assert_true(allows(&g, "c-1", "10.20.0.5", 1, 0, NOW));
	assert_false(allows(&g, "c-1", "10.20.0.6", 6, 5432, NOW));
	/* a port range, both ends included */
	assert_true(allows(&g, "c-1", "10.30.255.1", 17, 1000, NOW));
	assert_true(allows(&g, "c-1", "10.30.0.1", 17, 2000, NOW));
	assert_false(allows(&g, "c-1", "10.30.0.1", 17, 999, NOW));
	assert_false(allows(&g, "c-1", "10.30.0.1", 17, 2001, NOW));
	assert_false(allows(&g, "c-1", "10.31.0.1", 17, 1500, NOW));
	assert_false(allows(&g, "c-1", "10.30.0.1", 6, 1500, NOW));
	/* no filters: everything, IPv6 */
	assert_true(allows(&g, "c-2", "fd00:20::9", 6, 1, NOW));
	assert_true(allows(&g, "c-2", "fd00:20::9", 17, 65535, NOW));
	assert_false(allows(&g, "c-2", "fd00:21::9", 6, 1, NOW));
	/* grants are per client */
	assert_false(allows(&g, "c-2", "10.20.0.5", 6, 5432, NOW));
	assert_false(allows(&g, "c-3", "10.20.0.5", 6, 5432, NOW));
	assert_int_equal(nt_gw_grants_count(&g, "c-1"), 2);
	assert_int_equal(nt_gw_grants_count(&g, "c-3"), 0);
	nt_gw_grants_fini(&g);
}

/* Grants never open the gateway host or link-local addresses, even when a
 * resource names them exactly; only static rules may. */
static void test_special_destinations(void **state)
{
	struct nt_gw_grants g;
	struct nt_pmsg_resource lo = res("{\"id\":\"r-lo\",\"type\":\"cidr\",\"address\":"
					 "\"127.0.0.1/32\",\"name\":\"lo\"}");
	struct nt_pmsg_resource md = res("{\"id\":\"r-md\",\"type\":\"cidr\",\"address\":"
					 "\"169.254.169.254/32\",\"name\":\"md\"}");
	struct nt_pmsg_resource self = res("{\"id\":\"r-gw\",\"type\":\"cidr\",\"address\":"
					   "\"10.9.0.1/32\",\"name\":\"gw\"}");
	struct nt_pmsg_resource world = res("{\"id\":\"r-all\",\"type\":\"cidr\",\"address\":"
					    "\"0.0.0.0/0\",\"name\":\"all\"}");
	struct nt_gw_rules none = {0};
	struct nt_gw_dest d;

	(void)state;
	nt_gw_grants_init(&g, 0);
	assert_int_equal(nt_gw_grants_put(&g, "c", &lo, NOW + 60), 0);
	assert_int_equal(nt_gw_grants_put(&g, "c", &md, NOW + 60), 0);
	assert_int_equal(nt_gw_grants_put(&g, "c", &self, NOW + 60), 0);
	assert_int_equal(nt_gw_grants_put(&g, "c", &world, NOW + 60), 0);
	d = dest("127.0.0.1", 6, 80);
	assert_int_equal(nt_gw_decide(&none, NULL, &g, "c", &d, NOW), NT_GW_DENY_MARTIAN);
	d = dest("169.254.169.254", 6, 80);
	assert_int_equal(nt_gw_decide(&none, NULL, &g, "c", &d, NOW), NT_GW_DENY_MARTIAN);
	d = dest("10.9.0.1", 6, 80);
	d.self = true;
	assert_int_equal(nt_gw_decide(&none, NULL, &g, "c", &d, NOW), NT_GW_DENY_MARTIAN);
	d = dest("224.0.0.1", 17, 80);
	assert_int_equal(nt_gw_decide(&none, NULL, &g, "c", &d, NOW), NT_GW_DENY_MARTIAN);
	/* the same 0.0.0.0/0 grant opens an ordinary address */
	d = dest("192.0.2.1", 6, 80);
	assert_int_equal(nt_gw_decide(&none, NULL, &g, "c", &d, NOW), NT_GW_ALLOW);
	/* a static peer (no cid) gets nothing from grants */
	assert_int_equal(nt_gw_decide(&none, NULL, &g, "", &d, NOW), NT_GW_DENY);
	nt_gw_grants_fini(&g);
}

static struct nt_config_allow allow_rule(const char *addr, unsigned len, int proto, uint16_t port)
{
	struct nt_config_allow a = {.proto = proto};
	struct nt_gw_dest d = dest(addr, 0, 0);

	a.cidr.family = d.family;
	a.cidr.prefix_len = (uint8_t)len;
	memcpy(a.cidr.addr, d.addr, sizeof(a.cidr.addr));
	if (port) {
		a.nports = 1;
		a.ports[0].first = a.ports[0].last = port;
	}
	return a;
}

/* The gateway's own rules publish a special destination to grants: a rule
 * naming its range explicitly, the grant covering it too. Never the
 * always-refused classes, never by a wide rule. */
static void test_published_special_destinations(void **state)
{
	struct nt_gw_grants g;
	struct nt_pmsg_resource world = res("{\"id\":\"r-all\",\"type\":\"cidr\",\"address\":"
					    "\"0.0.0.0/0\",\"name\":\"all\"}");
	struct nt_pmsg_resource web = res("{\"id\":\"r-web\",\"type\":\"cidr\",\"address\":"
					  "\"10.9.0.1/32\",\"name\":\"web\",\"filters\":"
					  "[{\"protocol\":\"tcp\",\"port_range_start\":8080,"
					  "\"port_range_end\":8080}]}");
	struct nt_config_allow rules[] = {
	    allow_rule("127.0.0.1", 32, NT_CONFIG_PROTO_TCP, 8081),
	    allow_rule("10.9.0.1", 32, NT_CONFIG_PROTO_TCP, 8080),
	    allow_rule("224.0.0.0", 4, NT_CONFIG_PROTO_ANY, 0),
	    allow_rule("0.0.0.0", 0, NT_CONFIG_PROTO_ANY, 0),
	};
	struct nt_gw_rules none = {0}, publish = {.global = rules, .global_count = 4};
	struct nt_gw_dest d;

	(void)state;
	nt_gw_grants_init(&g, 0);
	assert_int_equal(nt_gw_grants_put(&g, "c", &world, NOW + 60), 0);
	assert_int_equal(nt_gw_grants_put(&g, "w", &web, NOW + 60), 0);
	d = dest("127.0.0.1", 6, 8081);
	assert_int_equal(nt_gw_decide(&none, &publish, &g, "c", &d, NOW), NT_GW_ALLOW);
	/* not without the grant, nor after it */
	assert_int_equal(nt_gw_decide(&none, &publish, &g, "x", &d, NOW), NT_GW_DENY_MARTIAN);
	assert_int_equal(nt_gw_decide(&none, &publish, &g, "c", &d, NOW + 60), NT_GW_DENY_MARTIAN);
	/* another port of the host: the rule does not name it; 0.0.0.0/0 is no
	 * explicit range */
	d = dest("127.0.0.1", 6, 22);
	assert_int_equal(nt_gw_decide(&none, &publish, &g, "c", &d, NOW), NT_GW_DENY_MARTIAN);
	d = dest("169.254.169.254", 6, 80);
	assert_int_equal(nt_gw_decide(&none, &publish, &g, "c", &d, NOW), NT_GW_DENY_MARTIAN);
	/* the tunnel address as a /32 publishes the host on that port, to a
	 * grant whose filters let it through */
	d = dest("10.9.0.1", 6, 8080);
	d.self = true;
	assert_int_equal(nt_gw_decide(&none, &publish, &g, "w", &d, NOW), NT_GW_ALLOW);
	assert_int_equal(nt_gw_decide(&none, NULL, &g, "w", &d, NOW), NT_GW_DENY_MARTIAN);
	/* the grant's filters do not let 8081 through */
	d.port = 8081;
	assert_int_equal(nt_gw_decide(&none, &publish, &g, "w", &d, NOW), NT_GW_DENY_MARTIAN);
	/* multicast stays refused whatever the rules say */
	d = dest("224.0.0.1", 17, 80);
	assert_int_equal(nt_gw_decide(&none, &publish, &g, "c", &d, NOW), NT_GW_DENY_MARTIAN);
	/* the rules never widen what a portal client reaches elsewhere */
	d = dest("192.0.2.1", 6, 80);
	assert_int_equal(nt_gw_decide(&none, &publish, &g, "w", &d, NOW), NT_GW_DENY);
	nt_gw_grants_fini(&g);
}

static void test_static_rules_or_grants(void **state)
{
	struct nt_gw_grants g;
	struct nt_pmsg_resource db = res(DB);
	struct nt_config_allow rule = {.cidr = {.family = AF_INET, .prefix_len = 24},
				       .proto = NT_CONFIG_PROTO_TCP};
	struct nt_gw_rules r = {.global = &rule, .global_count = 1};
	struct nt_gw_dest d;

	(void)state;
	inet_pton(AF_INET, "10.40.0.0", rule.cidr.addr);
	nt_gw_grants_init(&g, 0);
	assert_int_equal(nt_gw_grants_put(&g, "c", &db, NOW + 60), 0);
	d = dest("10.40.0.7", 6, 22);
	assert_int_equal(nt_gw_decide(&r, NULL, &g, "c", &d, NOW), NT_GW_ALLOW);
	d = dest("10.20.0.5", 6, 5432);
	assert_int_equal(nt_gw_decide(&r, NULL, &g, "c", &d, NOW), NT_GW_ALLOW);
	assert_int_equal(nt_gw_decide(&r, NULL, &g, "c", &d, NOW + 60), NT_GW_DENY);
	d = dest("10.20.0.5", 6, 22);
	assert_int_equal(nt_gw_decide(&r, NULL, &g, "c", &d, NOW), NT_GW_DENY);
	nt_gw_grants_fini(&g);
}

static void test_expiry_order(void **state)
{
	struct nt_gw_grants g;
	struct nt_pmsg_resource db = res(DB), net = res(NET), v6 = res(ALL6);
	struct nt_gw_grant out;

	(void)state;
	nt_gw_grants_init(&g, 0);
	assert_int_equal(nt_gw_grants_next_expiry(&g), INT64_MAX);
	assert_int_equal(nt_gw_grants_put(&g, "a", &db, NOW + 30), 0);
	assert_int_equal(nt_gw_grants_put(&g, "b", &net, NOW + 10), 0);
	assert_int_equal(nt_gw_grants_put(&g, "a", &v6, NOW + 20), 0);
	assert_int_equal(nt_gw_grants_next_expiry(&g), NOW + 10);
	/* live until expires_at, not at it */
	assert_true(allows(&g, "b", "10.30.0.1", 17, 1500, NOW + 9));
	assert_false(allows(&g, "b", "10.30.0.1", 17, 1500, NOW + 10));
	assert_false(nt_gw_grants_pop_expired(&g, NOW + 9, &out));
	assert_true(nt_gw_grants_pop_expired(&g, NOW + 25, &out));
	assert_string_equal(out.cid, "b");
	assert_string_equal(out.res.id, "r-net");
	assert_true(nt_gw_grants_pop_expired(&g, NOW + 25, &out));
	assert_string_equal(out.res.id, "r-v6");
	assert_false(nt_gw_grants_pop_expired(&g, NOW + 25, &out));
	assert_int_equal(nt_gw_grants_next_expiry(&g), NOW + 30);
	/* a repeated grant refreshes the expiry (the client's re-request) */
	assert_int_equal(nt_gw_grants_put(&g, "a", &db, NOW + 90), 1);
	assert_int_equal(nt_gw_grants_next_expiry(&g), NOW + 90);
	assert_int_equal(g.n, 1);
	nt_gw_grants_fini(&g);
}

static struct {
	int n;
	char ended[4][2][NT_PMSG_ID_MAX + 1];
} seen;

static void on_ended(void *arg, const struct nt_gw_grant *gr)
{
	(void)arg;
	assert_true(seen.n < 4);
	strcpy(seen.ended[seen.n][0], gr->cid);
	strcpy(seen.ended[seen.n][1], gr->res.id);
	seen.n++;
}

static void test_init_replaces(void **state)
{
	struct nt_gw_grants g;
	struct nt_pmsg_resource db = res(DB), net = res(NET);
	struct nt_pmsg_grant list[2];

	(void)state;
	memset(&seen, 0, sizeof(seen));
	memset(list, 0, sizeof(list));
	nt_gw_grants_init(&g, 0);
	assert_int_equal(nt_gw_grants_put(&g, "a", &db, NOW + 30), 0);
	assert_int_equal(nt_gw_grants_put(&g, "a", &net, NOW + 30), 0);
	assert_int_equal(nt_gw_grants_put(&g, "b", &db, NOW + 30), 0);
	/* the portal's list: (a, r-net) stays, (c, r-db) is new */
	strcpy(list[0].client.id, "a");
	list[0].resource = net;
	strcpy(list[1].client.id, "c");
	list[1].resource = db;
	nt_gw_grants_retain(&g, list, 2, on_ended, NULL);
	assert_int_equal(seen.n, 2);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.v[0].cid, "a");
	assert_string_equal(g.v[0].res.id, "r-net");
	for (int i = 0; i < seen.n; i++)
		assert_string_equal(seen.ended[i][1], "r-db");
	assert_false(allows(&g, "b", "10.20.0.5", 6, 5432, NOW));
	/* an empty list ends everything */
	nt_gw_grants_retain(&g, NULL, 0, on_ended, NULL);
	assert_int_equal(seen.n, 3);
	assert_int_equal(g.n, 0);
	nt_gw_grants_fini(&g);
}

static void test_reject_and_update(void **state)
{
	struct nt_gw_grants g;
	struct nt_pmsg_resource db = res(DB), net = res(NET);
	struct nt_pmsg_resource moved = res("{\"id\":\"r-db\",\"type\":\"cidr\",\"address\":"
					    "\"10.20.0.6/32\",\"name\":\"db\",\"filters\":"
					    "[{\"protocol\":\"tcp\"}]}");
	struct nt_gw_grant out;

	(void)state;
	nt_gw_grants_init(&g, 0);
	assert_int_equal(nt_gw_grants_put(&g, "a", &db, NOW + 30), 0);
	assert_int_equal(nt_gw_grants_put(&g, "b", &db, NOW + 30), 0);
	assert_int_equal(nt_gw_grants_put(&g, "a", &net, NOW + 30), 0);
	assert_int_equal(nt_gw_grants_update(&g, &moved), 2);
	assert_false(allows(&g, "a", "10.20.0.5", 6, 5432, NOW));
	assert_true(allows(&g, "a", "10.20.0.6", 6, 80, NOW));
	assert_true(allows(&g, "b", "10.20.0.6", 6, 80, NOW));
	assert_false(allows(&g, "b", "10.20.0.6", 17, 80, NOW));
	assert_int_equal(nt_gw_grants_del(&g, "a", "r-db", &out), 0);
	assert_string_equal(out.res.address, "10.20.0.6/32");
	assert_int_equal(nt_gw_grants_del(&g, "a", "r-db", NULL), -ENOENT);
	assert_false(allows(&g, "a", "10.20.0.6", 6, 80, NOW));
	assert_true(allows(&g, "b", "10.20.0.6", 6, 80, NOW));
	assert_int_equal(nt_gw_grants_count(&g, "a"), 1);
	nt_gw_grants_fini(&g);
}

static void test_limit_and_refusals(void **state)
{
	struct nt_gw_grants g;
	struct nt_pmsg_resource db = res(DB), net = res(NET), v6 = res(ALL6);
	struct nt_pmsg_resource name = res("{\"id\":\"r-n\",\"type\":\"dns\",\"address\":"
					   "\"*.corp.internal\",\"name\":\"n\"}");
	struct nt_pmsg_resource unknown = {.id = "r-u"};

	(void)state;
	nt_gw_grants_init(&g, 2);
	assert_int_equal(nt_gw_grants_put(&g, "a", &unknown, NOW + 30), -EINVAL);
	assert_int_equal(nt_gw_grants_put(&g, "", &db, NOW + 30), -EINVAL);
	assert_int_equal(nt_gw_grants_put(&g, "a", &db, NOW + 30), 0);
	assert_int_equal(nt_gw_grants_put(&g, "a", &net, NOW + 30), 0);
	assert_int_equal(nt_gw_grants_put(&g, "a", &v6, NOW + 30), -ENOSPC);
	/* a refresh at the limit is no new grant */
	assert_int_equal(nt_gw_grants_put(&g, "a", &net, NOW + 40), 1);
	nt_gw_grants_fini(&g);
	/* a dns grant is held but covers no address by itself */
	nt_gw_grants_init(&g, 0);
	assert_int_equal(nt_gw_grants_put(&g, "a", &name, NOW + 30), 0);
	assert_non_null(nt_gw_grants_find(&g, "a", "r-n", NOW));
	assert_null(nt_gw_grants_find(&g, "a", "r-n", NOW + 30));
	assert_false(allows(&g, "a", "0.0.0.0", 6, 80, NOW));
	assert_false(allows(&g, "a", "192.0.2.1", 6, 80, NOW));
	nt_gw_grants_fini(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_address_and_filters),
	    cmocka_unit_test(test_special_destinations),
	    cmocka_unit_test(test_published_special_destinations),
	    cmocka_unit_test(test_static_rules_or_grants),
	    cmocka_unit_test(test_expiry_order),
	    cmocka_unit_test(test_init_replaces),
	    cmocka_unit_test(test_reject_and_update),
	    cmocka_unit_test(test_limit_and_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
