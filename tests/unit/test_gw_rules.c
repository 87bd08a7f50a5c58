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
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
