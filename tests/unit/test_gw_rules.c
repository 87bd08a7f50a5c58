// SPDX-License-Identifier: MIT
/* Gateway Allow rules: default deny, CIDR/protocol/port matching, and
 * per-peer rules narrowing the [Gateway] ones. Rules come from real config
 * text, as the gateway gets them. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/config/config.h"
#include "core/gateway/gw_rules.h"

#define PRIV "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
#define PUB1 "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08="
#define PUB2 "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="

#define IFACE "[Interface]\nPrivateKey = " PRIV "\nListenPort = 51820\nAddress = 10.9.0.1/32\n"

static int setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

static void parse(struct nt_config *cfg, const char *text)
{
	struct nt_config_error err;
	int rc = nt_config_parse(text, strlen(text), "gw.conf", cfg, &err);

	if (rc != 0)
		fail_msg("%s", err.message);
}

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

/* The rules peer i (or no peer: -1) gets. */
static struct nt_gw_rules rules_of(const struct nt_config *cfg, int i)
{
	struct nt_gw_rules r = {.global = cfg->gateway_allow,
				.global_count = cfg->gateway_allow_count};

	if (i >= 0) {
		r.peer = cfg->peers[i].allow;
		r.peer_count = cfg->peers[i].allow_count;
	}
	return r;
}

static bool allowed(const struct nt_config *cfg, int peer, const char *addr, uint8_t proto,
		    uint16_t port)
{
	struct nt_gw_rules r = rules_of(cfg, peer);
	struct nt_gw_dest d = dest(addr, proto, port);

	return nt_gw_rules_allow(&r, &d);
}

#define TCP NT_GW_PROTO_TCP
#define UDP NT_GW_PROTO_UDP

static void test_gw_rules_default_deny_without_rules(void **state)
{
	struct nt_config cfg;
	(void)state;

	parse(&cfg, IFACE "[Peer]\nPublicKey = " PUB1 "\nAllowedIPs = 10.9.0.2/32\n");
	assert_false(allowed(&cfg, 0, "10.9.0.1", TCP, 80));
	assert_false(allowed(&cfg, 0, "127.0.0.1", UDP, 53));
	assert_false(allowed(&cfg, -1, "::1", TCP, 22));
	nt_config_free(&cfg);
}

static void test_gw_rules_cidr_matches_prefix_and_ignores_host_bits(void **state)
{
	struct nt_config cfg;
	(void)state;

	/* 10.20.30.40/16 as written: the host bits do not narrow it. */
	parse(&cfg, IFACE "[Gateway]\nAllow = 10.20.30.40/16\nAllow = 192.168.1.0/25\n");
	assert_true(allowed(&cfg, -1, "10.20.0.1", TCP, 1));
	assert_true(allowed(&cfg, -1, "10.20.255.255", UDP, 65535));
	assert_false(allowed(&cfg, -1, "10.21.0.1", TCP, 80));
	assert_true(allowed(&cfg, -1, "192.168.1.127", TCP, 80));
	assert_false(allowed(&cfg, -1, "192.168.1.128", TCP, 80));
	/* An IPv4 rule says nothing about IPv6, even ::ffff:10.20.0.1. */
	assert_false(allowed(&cfg, -1, "::ffff:10.20.0.1", TCP, 80));
	nt_config_free(&cfg);
}

static void test_gw_rules_host_and_zero_length_prefixes(void **state)
{
	struct nt_config cfg;
	(void)state;

	parse(&cfg, IFACE "[Gateway]\nAllow = 10.9.0.1\nAllow = ::/0 udp:53\n");
	assert_true(allowed(&cfg, -1, "10.9.0.1", TCP, 8080));
	assert_false(allowed(&cfg, -1, "10.9.0.2", TCP, 8080));
	assert_true(allowed(&cfg, -1, "fd00::1", UDP, 53));
	assert_true(allowed(&cfg, -1, "2001:db8::ffff", UDP, 53));
	assert_false(allowed(&cfg, -1, "fd00::1", TCP, 53));
	nt_config_free(&cfg);
}

static void test_gw_rules_protocol_and_port_ranges(void **state)
{
	struct nt_config cfg;
	(void)state;

	parse(&cfg, IFACE "[Gateway]\nAllow = 10.0.0.0/8 tcp:22,80-89\n"
			  "Allow = fd00::/64 udp:53\nAllow = 172.16.0.0/12 :443\n");
	assert_true(allowed(&cfg, -1, "10.1.2.3", TCP, 22));
	assert_true(allowed(&cfg, -1, "10.1.2.3", TCP, 80));
	assert_true(allowed(&cfg, -1, "10.1.2.3", TCP, 89));
	assert_false(allowed(&cfg, -1, "10.1.2.3", TCP, 90));
	assert_false(allowed(&cfg, -1, "10.1.2.3", TCP, 79));
	assert_false(allowed(&cfg, -1, "10.1.2.3", TCP, 23));
	assert_false(allowed(&cfg, -1, "10.1.2.3", UDP, 22));
	assert_true(allowed(&cfg, -1, "fd00::53", UDP, 53));
	assert_false(allowed(&cfg, -1, "fd00::53", TCP, 53));
	assert_false(allowed(&cfg, -1, "fd00:0:0:1::53", UDP, 53));
	/* "any" with ports: TCP and UDP on those ports, nothing else. */
	assert_true(allowed(&cfg, -1, "172.16.0.1", TCP, 443));
	assert_true(allowed(&cfg, -1, "172.31.255.1", UDP, 443));
	assert_false(allowed(&cfg, -1, "172.16.0.1", TCP, 444));
	assert_false(allowed(&cfg, -1, "172.16.0.1", 1 /* ICMP */, 0));
	nt_config_free(&cfg);
}

static void test_gw_rules_any_without_ports_accepts_every_protocol(void **state)
{
	struct nt_config cfg;
	(void)state;

	parse(&cfg, IFACE "[Gateway]\nAllow = 10.20.0.0/16\nAllow = 10.30.0.0/16 tcp\n");
	assert_true(allowed(&cfg, -1, "10.20.1.1", 1, 0));
	assert_true(allowed(&cfg, -1, "10.20.1.1", TCP, 1));
	assert_true(allowed(&cfg, -1, "10.30.1.1", TCP, 65535));
	assert_false(allowed(&cfg, -1, "10.30.1.1", UDP, 65535));
	nt_config_free(&cfg);
}

static void test_gw_rules_peer_rules_narrow_global_ones(void **state)
{
	struct nt_config cfg;
	(void)state;

	parse(&cfg, IFACE "[Gateway]\nAllow = 10.0.0.0/8\n"
			  "[Peer]\nPublicKey = " PUB1 "\nAllowedIPs = 10.9.0.2/32\n"
			  "Allow = 10.1.0.0/16 tcp:443\n"
			  "[Peer]\nPublicKey = " PUB2 "\nAllowedIPs = 10.9.0.3/32\n");
	/* Peer 0: inside both. */
	assert_true(allowed(&cfg, 0, "10.1.2.3", TCP, 443));
	/* Outside its own rules, though the global rule allows it. */
	assert_false(allowed(&cfg, 0, "10.1.2.3", TCP, 80));
	assert_false(allowed(&cfg, 0, "10.2.0.1", TCP, 443));
	assert_false(allowed(&cfg, 0, "10.1.2.3", UDP, 443));
	/* Peer 1 has no rules of its own: the global ones. */
	assert_true(allowed(&cfg, 1, "10.2.0.1", UDP, 53));
	assert_true(allowed(&cfg, 1, "10.1.2.3", TCP, 80));
	assert_false(allowed(&cfg, 1, "11.0.0.1", TCP, 80));
	nt_config_free(&cfg);
}

static void test_gw_rules_peer_rules_never_widen(void **state)
{
	struct nt_config cfg;
	(void)state;

	/* No [Gateway] rules: a peer's own rule alone allows nothing. */
	parse(&cfg, IFACE "[Peer]\nPublicKey = " PUB1 "\nAllowedIPs = 10.9.0.2/32\n"
			  "Allow = 10.0.0.0/8\n");
	assert_false(allowed(&cfg, 0, "10.1.2.3", TCP, 443));
	nt_config_free(&cfg);
	/* A peer rule wider than the global one: the global one bounds it. */
	parse(&cfg,
	      IFACE "[Gateway]\nAllow = 10.1.0.0/16 tcp:80\n"
		    "[Peer]\nPublicKey = " PUB1 "\nAllowedIPs = 10.9.0.2/32\nAllow = 10.0.0.0/8\n");
	assert_true(allowed(&cfg, 0, "10.1.0.1", TCP, 80));
	assert_false(allowed(&cfg, 0, "10.1.0.1", TCP, 81));
	assert_false(allowed(&cfg, 0, "10.2.0.1", TCP, 80));
	nt_config_free(&cfg);
}

static void test_gw_rules_rejects_unknown_family(void **state)
{
	struct nt_config cfg;
	struct nt_gw_dest d = {.family = AF_UNIX, .proto = TCP, .port = 80};
	struct nt_gw_rules r;
	(void)state;

	parse(&cfg, IFACE "[Gateway]\nAllow = 0.0.0.0/0\nAllow = ::/0\n");
	r = rules_of(&cfg, -1);
	assert_false(nt_gw_rules_allow(&r, &d));
	assert_true(allowed(&cfg, -1, "203.0.113.9", TCP, 80));
	assert_true(allowed(&cfg, -1, "2001:db8::9", UDP, 9));
	nt_config_free(&cfg);
}

static enum nt_gw_verdict decide(const struct nt_config *cfg, int peer, const char *addr,
				 uint8_t proto, uint16_t port, bool self)
{
	struct nt_gw_rules r = rules_of(cfg, peer);
	struct nt_gw_dest d = dest(addr, proto, port);

	d.self = self;
	return nt_gw_rules_decide(&r, &d);
}

/* Every special form under the broadest rules there are: refused as a
 * martian, while ordinary addresses pass. */
static void test_gw_rules_broad_rules_never_open_special_destinations(void **state)
{
	static const char *const martians[] = {
	    "127.0.0.1",
	    "127.255.255.254",
	    "0.0.0.0",
	    "0.1.2.3",
	    "169.254.169.254",
	    "169.254.0.1",
	    "224.0.0.1",
	    "239.255.255.250",
	    "255.255.255.255",
	    "240.0.0.1",
	    "::1",
	    "::",
	    "fe80::1",
	    "febf::1",
	    "ff02::1",
	    "ff05::2",
	    "::ffff:127.0.0.1",
	    "::ffff:0.0.0.0",
	    "::ffff:10.1.2.3",
	    "::ffff:169.254.169.254",
	    "::127.0.0.1",
	    "::0.0.0.2",
	};
	static const char *const ordinary[] = {
	    "10.1.2.3",	   "192.168.1.1", "126.255.255.255", "128.0.0.1",
	    "169.253.0.1", "169.255.0.1", "223.255.255.255", "fd00::1",
	    "2001:db8::1", "fec0::1",	  "64:ff9b::7f00:1", "::1:0:0:1"};
	struct nt_config cfg;
	(void)state;

	parse(&cfg, IFACE "[Gateway]\nAllow = 0.0.0.0/0, ::/0\nAllow = 0.0.0.0/1, 128.0.0.0/1\n");
	for (size_t i = 0; i < sizeof(martians) / sizeof(martians[0]); i++) {
		assert_int_equal(decide(&cfg, -1, martians[i], TCP, 80, false), NT_GW_DENY_MARTIAN);
		assert_int_equal(decide(&cfg, -1, martians[i], UDP, 53, false), NT_GW_DENY_MARTIAN);
	}
	for (size_t i = 0; i < sizeof(ordinary) / sizeof(ordinary[0]); i++)
		assert_int_equal(decide(&cfg, -1, ordinary[i], TCP, 80, false), NT_GW_ALLOW);
	/* The gateway's own tunnel address: its host, not opened by 0.0.0.0/0. */
	assert_int_equal(decide(&cfg, -1, "10.9.0.1", TCP, 22, true), NT_GW_DENY_MARTIAN);
	assert_int_equal(decide(&cfg, -1, "fd00:9::1", UDP, 53, true), NT_GW_DENY_MARTIAN);
	assert_false(allowed(&cfg, -1, "127.0.0.1", TCP, 80));
	nt_config_free(&cfg);
}

/* A rule inside the special range opens it (as far as the rule goes); a
 * rule covering it only as part of a wider prefix does not. */
static void test_gw_rules_explicit_rule_opens_host_and_link_scope(void **state)
{
	struct nt_config cfg;
	(void)state;

	parse(&cfg, IFACE "[Gateway]\nAllow = 0.0.0.0/0, ::/0\n"
			  "Allow = 127.0.0.0/8 tcp:8080\nAllow = 169.254.169.254/32\n"
			  "Allow = ::1/128 udp:53\nAllow = fe80::/10 tcp:22\n"
			  "Allow = 10.9.0.1/32 tcp:8443\nAllow = 10.9.0.0/24 tcp:9000\n"
			  "Allow = 224.0.0.0/4, ff00::/8, 0.0.0.0/8, ::ffff:0:0/96\n");
	assert_int_equal(decide(&cfg, -1, "127.0.0.1", TCP, 8080, false), NT_GW_ALLOW);
	assert_int_equal(decide(&cfg, -1, "127.1.2.3", TCP, 8080, false), NT_GW_ALLOW);
	assert_int_equal(decide(&cfg, -1, "127.0.0.1", TCP, 8081, false), NT_GW_DENY_MARTIAN);
	assert_int_equal(decide(&cfg, -1, "127.0.0.1", UDP, 8080, false), NT_GW_DENY_MARTIAN);
	assert_int_equal(decide(&cfg, -1, "169.254.169.254", TCP, 80, false), NT_GW_ALLOW);
	assert_int_equal(decide(&cfg, -1, "169.254.169.253", TCP, 80, false), NT_GW_DENY_MARTIAN);
	assert_int_equal(decide(&cfg, -1, "::1", UDP, 53, false), NT_GW_ALLOW);
	assert_int_equal(decide(&cfg, -1, "::1", TCP, 53, false), NT_GW_DENY_MARTIAN);
	assert_int_equal(decide(&cfg, -1, "fe80::5", TCP, 22, false), NT_GW_ALLOW);
	/* The tunnel address needs its own /32: the /24 around it is wider. */
	assert_int_equal(decide(&cfg, -1, "10.9.0.1", TCP, 8443, true), NT_GW_ALLOW);
	assert_int_equal(decide(&cfg, -1, "10.9.0.1", TCP, 9000, true), NT_GW_DENY_MARTIAN);
	assert_int_equal(decide(&cfg, -1, "10.9.0.2", TCP, 9000, false), NT_GW_ALLOW);
	/* Nothing opens what no connection can go to, nor IPv4 in IPv6. */
	assert_int_equal(decide(&cfg, -1, "224.0.0.1", UDP, 5000, false), NT_GW_DENY_MARTIAN);
	assert_int_equal(decide(&cfg, -1, "ff02::1", UDP, 5000, false), NT_GW_DENY_MARTIAN);
	assert_int_equal(decide(&cfg, -1, "0.0.0.0", TCP, 80, false), NT_GW_DENY_MARTIAN);
	assert_int_equal(decide(&cfg, -1, "::ffff:127.0.0.1", TCP, 8080, false),
			 NT_GW_DENY_MARTIAN);
	assert_int_equal(decide(&cfg, -1, "::ffff:10.0.0.1", TCP, 80, false), NT_GW_DENY_MARTIAN);
	nt_config_free(&cfg);
	/* Per-peer rules still narrow an explicit one, and cannot name a range
	 * the [Gateway] rules only cover widely. */
	parse(&cfg, IFACE "[Gateway]\nAllow = 0.0.0.0/0\nAllow = 127.0.0.0/8 tcp:8080\n"
			  "[Peer]\nPublicKey = " PUB1 "\nAllowedIPs = 10.9.0.2/32\n"
			  "Allow = 127.0.0.1/32 tcp:8080\nAllow = 169.254.169.254/32\n");
	assert_int_equal(decide(&cfg, 0, "127.0.0.1", TCP, 8080, false), NT_GW_ALLOW);
	assert_int_equal(decide(&cfg, 0, "127.0.0.2", TCP, 8080, false), NT_GW_DENY);
	assert_int_equal(decide(&cfg, 0, "169.254.169.254", TCP, 80, false), NT_GW_DENY_MARTIAN);
	nt_config_free(&cfg);
}

static void test_gw_rules_broad_rule_threshold(void **state)
{
	struct nt_config cfg;
	static const bool want[] = {true, false, true, false, true, true};
	(void)state;

	parse(&cfg, IFACE "[Gateway]\nAllow = 0.0.0.0/7, 10.0.0.0/8, 2000::/31, 2001:db8::/32\n"
			  "Allow = 0.0.0.0/0, ::/0\n");
	assert_int_equal(cfg.gateway_allow_count, 6);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(nt_gw_rule_broad(&cfg.gateway_allow[i]), want[i]);
	nt_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gw_rules_default_deny_without_rules),
	    cmocka_unit_test(test_gw_rules_cidr_matches_prefix_and_ignores_host_bits),
	    cmocka_unit_test(test_gw_rules_host_and_zero_length_prefixes),
	    cmocka_unit_test(test_gw_rules_protocol_and_port_ranges),
	    cmocka_unit_test(test_gw_rules_any_without_ports_accepts_every_protocol),
	    cmocka_unit_test(test_gw_rules_peer_rules_narrow_global_ones),
	    cmocka_unit_test(test_gw_rules_peer_rules_never_widen),
	    cmocka_unit_test(test_gw_rules_rejects_unknown_family),
	    cmocka_unit_test(test_gw_rules_broad_rules_never_open_special_destinations),
	    cmocka_unit_test(test_gw_rules_explicit_rule_opens_host_and_link_scope),
	    cmocka_unit_test(test_gw_rules_broad_rule_threshold),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
