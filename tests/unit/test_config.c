// SPDX-License-Identifier: MIT
/* core/config/: the wg-quick parser, every key, every error. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/config/config.h"

/* RFC 7748 section 6.1 key pairs (Alice, Bob), and filler keys. */
#define ALICE_PRIV "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
#define ALICE_PUB  "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
#define BOB_PRIV   "XasIfmJKikt54X+Lg4AO5m87sSkmGLb9HC+LJ/+I4Os="
#define BOB_PUB	   "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08="
#define KEY1	   "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define KEY2	   "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
#define KEY3	   "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="

/* Two lines: errors below them are on line 3. */
#define IFACE "[Interface]\nPrivateKey = " ALICE_PRIV "\n"
/* Four lines: IFACE, then a [Peer] on line 3. */
#define IFACE_PEER IFACE "[Peer]\nPublicKey = " BOB_PUB "\n"

static int setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

static void key_of(uint8_t key[NT_KEY_LEN], const char *b64)
{
	assert_int_equal(nt_key_from_base64(key, b64, strlen(b64)), 0);
}

static void assert_key(const uint8_t key[NT_KEY_LEN], const char *b64)
{
	uint8_t want[NT_KEY_LEN];

	key_of(want, b64);
	assert_memory_equal(key, want, NT_KEY_LEN);
}

static void assert_cidr(const struct wg_cidr *c, const char *text)
{
	char out[WG_CIDR_STRLEN];

	assert_int_equal(wg_allowedips_format_cidr(c, out), 0);
	assert_string_equal(out, text);
}

static void assert_ip(const struct nt_config_ip *ip, const char *text)
{
	char out[INET6_ADDRSTRLEN];

	assert_non_null(inet_ntop(ip->family, ip->addr, out, sizeof(out)));
	assert_string_equal(out, text);
}

/* The error's fields agree with its message: "file[:line]: [key: ]...". */
static void assert_error_consistent(const struct nt_config_error *err)
{
	char prefix[NT_CONFIG_MESSAGE_MAX];
	int n;

	if (err->line)
		n = snprintf(prefix, sizeof(prefix), "%s:%u: ", err->file, err->line);
	else
		n = snprintf(prefix, sizeof(prefix), "%s: ", err->file);
	if (err->key[0])
		snprintf(prefix + n, sizeof(prefix) - (size_t)n, "%s: ", err->key);
	assert_true(strncmp(err->message, prefix, strlen(prefix)) == 0);
	assert_null(strchr(err->message, '\n'));
}

static void parse_len_ok(const char *text, size_t len, const char *file, struct nt_config *cfg)
{
	struct nt_config_error err;
	int ret = nt_config_parse(text, len, file, cfg, &err);

	if (ret != 0)
		print_error("unexpected error: %s\n", err.message);
	assert_int_equal(ret, 0);
}

static void parse_ok(const char *text, struct nt_config *cfg)
{
	parse_len_ok(text, strlen(text), "client.conf", cfg);
}

static void expect_error_len(const char *text, size_t len, const char *message)
{
	struct nt_config cfg;
	struct nt_config_error err;

	assert_int_equal(nt_config_parse(text, len, "client.conf", &cfg, &err), -EINVAL);
	assert_string_equal(err.message, message);
	assert_string_equal(err.file, "client.conf");
	assert_error_consistent(&err);
	/* A failed parse leaves nothing behind. */
	assert_int_equal(cfg.peer_count, 0);
	assert_null(cfg.peers);
	nt_config_free(&cfg);
}

static void expect_error(const char *text, const char *message)
{
	expect_error_len(text, strlen(text), message);
}

/* A growing text buffer for generated files. */
struct text {
	char *buf;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	if (t->len + (size_t)n + 1 > t->cap) {
		t->cap = (t->len + (size_t)n + 1) * 2;
		t->buf = realloc(t->buf, t->cap);
		assert_non_null(t->buf);
	}
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* A distinct public key for peer i. */
static void peer_key(char out[NT_KEY_B64_LEN + 1], unsigned int i)
{
	uint8_t key[NT_KEY_LEN];

	memset(key, 0x5a, sizeof(key));
	key[0] = (uint8_t)i;
	key[1] = (uint8_t)(i >> 8);
	nt_key_to_base64(out, key);
}

static const char full_client[] = "[Interface]\n"
				  "PrivateKey = " ALICE_PRIV "\n"
				  "Address = 10.0.0.2/24, fd00::2/64\n"
				  "Address = 10.0.1.2\n"
				  "DNS = 10.0.0.1, fd00::1, corp.example.com, example.org.\n"
				  "MTU = 1380\n"
				  "ListenPort = 51821\n"
				  "\n"
				  "[Peer]\n"
				  "PublicKey = " BOB_PUB "\n"
				  "PresharedKey = " KEY3 "\n"
				  "Endpoint = gw.example.com:51820\n"
				  "AllowedIPs = 10.0.0.0/24, fd00::/64\n"
				  "AllowedIPs = 192.168.10.0/24\n"
				  "PersistentKeepalive = 25\n"
				  "\n"
				  "[Peer]\n"
				  "PublicKey = " KEY1 "\n"
				  "Endpoint = [2001:db8::1]:51820\n"
				  "PersistentKeepalive = off\n"
				  "\n"
				  "[Peer]\n"
				  "PublicKey = " KEY2 "\n"
				  "Endpoint = 127.0.0.1:51820\n"
				  "AllowedIPs =\n"
				  "\n"
				  "[Proxy]\n"
				  "Listen = 127.0.0.1:1081, [::1]:1081\n"
				  "Listen = 127.0.0.2:0\n"
				  "Username = alice\n"
				  "Password = s3cret pass!\n"
				  "Bypass = reject\n"
				  "ConnectTimeout = 2500ms\n"
				  "MaxConnections = 100\n";

static void test_config_client_every_key_parsed(void **state)
{
	struct nt_config cfg;
	struct nt_config_error err;
	uint8_t pub[NT_KEY_LEN];
	(void)state;

	parse_ok(full_client, &cfg);
	assert_string_equal(cfg.filename, "client.conf");
	assert_int_equal(cfg.interface_line, 1);
	assert_key(cfg.private_key, ALICE_PRIV);
	key_of(pub, ALICE_PUB);
	assert_memory_equal(cfg.public_key, pub, NT_KEY_LEN);
	assert_int_equal(cfg.address_count, 3);
	assert_cidr(&cfg.addresses[0], "10.0.0.2/24");
	assert_cidr(&cfg.addresses[1], "fd00::2/64");
	assert_cidr(&cfg.addresses[2], "10.0.1.2/32");
	assert_int_equal(cfg.dns_server_count, 2);
	assert_int_equal(cfg.dns_servers[0].family, AF_INET);
	assert_ip(&cfg.dns_servers[0], "10.0.0.1");
	assert_int_equal(cfg.dns_servers[1].family, AF_INET6);
	assert_ip(&cfg.dns_servers[1], "fd00::1");
	assert_int_equal(cfg.dns_search_count, 2);
	assert_string_equal(cfg.dns_search[0], "corp.example.com");
	assert_string_equal(cfg.dns_search[1], "example.org.");
	assert_int_equal(cfg.mtu, 1380);
	assert_true(cfg.has_listen_port);
	assert_int_equal(cfg.listen_port, 51821);

	assert_int_equal(cfg.peer_count, 3);
	assert_int_equal(cfg.peers[0].line, 9);
	assert_int_equal(cfg.peers[0].public_key_line, 10);
	assert_key(cfg.peers[0].public_key, BOB_PUB);
	assert_true(cfg.peers[0].has_preshared_key);
	assert_key(cfg.peers[0].preshared_key, KEY3);
	assert_true(cfg.peers[0].has_endpoint);
	assert_string_equal(cfg.peers[0].endpoint.host, "gw.example.com");
	assert_false(cfg.peers[0].endpoint.is_literal);
	assert_int_equal(cfg.peers[0].endpoint.port, 51820);
	assert_int_equal(cfg.peers[0].allowed_ips_count, 3);
	assert_cidr(&cfg.peers[0].allowed_ips[0], "10.0.0.0/24");
	assert_cidr(&cfg.peers[0].allowed_ips[1], "fd00::/64");
	assert_cidr(&cfg.peers[0].allowed_ips[2], "192.168.10.0/24");
	assert_int_equal(cfg.peers[0].persistent_keepalive, 25);
	assert_int_equal(cfg.peers[0].allow_count, 0);

	assert_key(cfg.peers[1].public_key, KEY1);
	assert_false(cfg.peers[1].has_preshared_key);
	assert_string_equal(cfg.peers[1].endpoint.host, "2001:db8::1");
	assert_true(cfg.peers[1].endpoint.is_literal);
	assert_int_equal(cfg.peers[1].endpoint.ip.family, AF_INET6);
	assert_ip(&cfg.peers[1].endpoint.ip, "2001:db8::1");
	assert_int_equal(cfg.peers[1].endpoint.port, 51820);
	assert_int_equal(cfg.peers[1].allowed_ips_count, 0);
	assert_int_equal(cfg.peers[1].persistent_keepalive, 0);

	assert_key(cfg.peers[2].public_key, KEY2);
	assert_true(cfg.peers[2].endpoint.is_literal);
	assert_int_equal(cfg.peers[2].endpoint.ip.family, AF_INET);
	assert_ip(&cfg.peers[2].endpoint.ip, "127.0.0.1");
	assert_int_equal(cfg.peers[2].allowed_ips_count, 0);

	assert_int_equal(cfg.proxy_line, 27);
	assert_int_equal(cfg.listen_count, 3);
	assert_ip(&cfg.listen[0].ip, "127.0.0.1");
	assert_int_equal(cfg.listen[0].port, 1081);
	assert_int_equal(cfg.listen[1].ip.family, AF_INET6);
	assert_ip(&cfg.listen[1].ip, "::1");
	assert_int_equal(cfg.listen[1].port, 1081);
	assert_ip(&cfg.listen[2].ip, "127.0.0.2");
	assert_int_equal(cfg.listen[2].port, 0);
	assert_string_equal(cfg.username, "alice");
	assert_string_equal(cfg.password, "s3cret pass!");
	assert_int_equal(cfg.bypass, NT_CONFIG_BYPASS_REJECT);
	assert_int_equal(cfg.connect_timeout_ms, 2500);
	assert_int_equal(cfg.max_connections, 100);
	assert_int_equal(cfg.gateway_line, 0);
	assert_int_equal(cfg.warning_count, 0);

	assert_int_equal(nt_config_validate_client(&cfg, &err), 0);
	assert_int_equal(nt_config_validate_gateway(&cfg, &err), -EINVAL);
	nt_config_free(&cfg);
	assert_null(cfg.peers);
	assert_int_equal(cfg.peer_count, 0);
}

static const char full_gateway[] = "[Interface]\n"
				   "PrivateKey = " BOB_PRIV "\n"
				   "ListenPort = 51820\n"
				   "Address = 10.0.0.1/32\n"
				   "\n"
				   "[Peer]\n"
				   "PublicKey = " ALICE_PUB "\n"
				   "AllowedIPs = 10.0.0.2/32\n"
				   "Allow = 10.1.0.0/16\n"
				   "Allow = 192.168.1.10/32, 192.168.1.11/32 tcp:22,80-89\n"
				   "Allow = fd00::/64 udp:53\n"
				   "Allow = 10.2.0.0/16 :443\n"
				   "Allow = 10.3.0.0/16 ANY\n"
				   "Allow = 10.4.0.0/16 any:1-1024 , 8080\n"
				   "\n"
				   "[Gateway]\n"
				   "Allow = 172.16.0.0/12 tcp\n";

static void test_config_gateway_allow_rules_parsed(void **state)
{
	struct nt_config cfg;
	struct nt_config_error err;
	const struct nt_config_allow *a;
	(void)state;

	parse_ok(full_gateway, &cfg);
	assert_true(cfg.has_listen_port);
	assert_int_equal(cfg.listen_port, 51820);
	assert_int_equal(cfg.peer_count, 1);
	assert_int_equal(cfg.peers[0].allow_count, 7);
	a = cfg.peers[0].allow;

	assert_cidr(&a[0].cidr, "10.1.0.0/16");
	assert_int_equal(a[0].proto, NT_CONFIG_PROTO_ANY);
	assert_int_equal(a[0].nports, 0);
	assert_int_equal(a[0].line, 9);

	for (int i = 1; i <= 2; i++) {
		assert_cidr(&a[i].cidr, i == 1 ? "192.168.1.10/32" : "192.168.1.11/32");
		assert_int_equal(a[i].proto, NT_CONFIG_PROTO_TCP);
		assert_int_equal(a[i].nports, 2);
		assert_int_equal(a[i].ports[0].first, 22);
		assert_int_equal(a[i].ports[0].last, 22);
		assert_int_equal(a[i].ports[1].first, 80);
		assert_int_equal(a[i].ports[1].last, 89);
		assert_int_equal(a[i].line, 10);
	}

	assert_cidr(&a[3].cidr, "fd00::/64");
	assert_int_equal(a[3].proto, NT_CONFIG_PROTO_UDP);
	assert_int_equal(a[3].nports, 1);
	assert_int_equal(a[3].ports[0].first, 53);

	assert_cidr(&a[4].cidr, "10.2.0.0/16");
	assert_int_equal(a[4].proto, NT_CONFIG_PROTO_ANY);
	assert_int_equal(a[4].nports, 1);
	assert_int_equal(a[4].ports[0].first, 443);
	assert_int_equal(a[4].ports[0].last, 443);

	assert_int_equal(a[5].proto, NT_CONFIG_PROTO_ANY);
	assert_int_equal(a[5].nports, 0);

	assert_int_equal(a[6].nports, 2);
	assert_int_equal(a[6].ports[0].first, 1);
	assert_int_equal(a[6].ports[0].last, 1024);
	assert_int_equal(a[6].ports[1].first, 8080);
	assert_int_equal(a[6].ports[1].last, 8080);

	assert_int_equal(cfg.gateway_line, 16);
	assert_int_equal(cfg.gateway_allow_count, 1);
	assert_cidr(&cfg.gateway_allow[0].cidr, "172.16.0.0/12");
	assert_int_equal(cfg.gateway_allow[0].proto, NT_CONFIG_PROTO_TCP);
	assert_int_equal(cfg.gateway_allow[0].nports, 0);

	assert_int_equal(nt_config_validate_gateway(&cfg, &err), 0);
	assert_int_equal(nt_config_validate_client(&cfg, &err), -EINVAL);
	nt_config_free(&cfg);
}

/* As a VPN provider hands it out, saved by a Windows editor: a byte order
 * mark, CRLF, comments everywhere (one with '#' inside), odd case and
 * spacing, wg-quick hooks, no newline at the end. */
static const char provider_file[] =
    "\xef\xbb\xbf# ExampleVPN configuration for device \"laptop\"\r\n"
    "# Generated 2024-05-01; NL-FREE#123\r\n"
    "\r\n"
    "[Interface]\r\n"
    "  # Key for laptop\r\n"
    "privatekey=" ALICE_PRIV "  \r\n"
    "Address = 10.66.12.34/32,fc00:bbbb:bbbb:bb01::3:c21/128\r\n"
    "DNS\t=\t10.64.0.1   # provider resolver\r\n"
    "PostUp = iptables -I OUTPUT ! -o %i -m mark ! --mark $(wg show "
    "%i fwmark) -j REJECT\r\n"
    "PreDown = iptables -D OUTPUT ! -o %i -j REJECT\r\n"
    "Table = off\r\n"
    "\r\n"
    "[ Peer ]\r\n"
    "# NL#42 (Amsterdam)\r\n"
    "PublicKey  =  " BOB_PUB "\r\n"
    "ALLOWEDIPS = 0.0.0.0/1 ,128.0.0.0/1,\t::/1, 8000::/1\r\n"
    "Endpoint = nl42.examplevpn.net:51820#port 51820\r\n"
    "PersistentKeepAlive = 25";

static void test_config_provider_file_with_crlf_and_comments(void **state)
{
	struct nt_config cfg;
	struct nt_config_error err;
	(void)state;

	parse_len_ok(provider_file, sizeof(provider_file) - 1, "nl42.conf", &cfg);
	assert_key(cfg.private_key, ALICE_PRIV);
	assert_int_equal(cfg.address_count, 2);
	assert_cidr(&cfg.addresses[0], "10.66.12.34/32");
	assert_cidr(&cfg.addresses[1], "fc00:bbbb:bbbb:bb01::3:c21/128");
	assert_int_equal(cfg.dns_server_count, 1);
	assert_ip(&cfg.dns_servers[0], "10.64.0.1");
	assert_int_equal(cfg.dns_search_count, 0);
	assert_int_equal(cfg.peer_count, 1);
	assert_int_equal(cfg.peers[0].line, 13);
	assert_key(cfg.peers[0].public_key, BOB_PUB);
	assert_int_equal(cfg.peers[0].allowed_ips_count, 4);
	assert_cidr(&cfg.peers[0].allowed_ips[0], "0.0.0.0/1");
	assert_cidr(&cfg.peers[0].allowed_ips[1], "128.0.0.0/1");
	assert_cidr(&cfg.peers[0].allowed_ips[2], "::/1");
	assert_cidr(&cfg.peers[0].allowed_ips[3], "8000::/1");
	assert_string_equal(cfg.peers[0].endpoint.host, "nl42.examplevpn.net");
	assert_int_equal(cfg.peers[0].endpoint.port, 51820);
	assert_int_equal(cfg.peers[0].persistent_keepalive, 25);
	assert_int_equal(cfg.warning_count, 3);
	assert_string_equal(cfg.warnings[0].key, "PostUp");
	assert_int_equal(cfg.warnings[0].line, 9);
	assert_string_equal(cfg.warnings[1].key, "PreDown");
	assert_string_equal(cfg.warnings[2].key, "Table");
	assert_int_equal(nt_config_validate_client(&cfg, &err), 0);
	nt_config_free(&cfg);
}

static void test_config_defaults(void **state)
{
	struct nt_config cfg;
	(void)state;

	parse_ok(IFACE_PEER, &cfg);
	assert_int_equal(cfg.address_count, 0);
	assert_int_equal(cfg.dns_server_count, 0);
	assert_int_equal(cfg.dns_search_count, 0);
	assert_int_equal(cfg.mtu, 0);
	assert_false(cfg.has_listen_port);
	assert_false(cfg.peers[0].has_preshared_key);
	assert_false(cfg.peers[0].has_endpoint);
	assert_int_equal(cfg.peers[0].allowed_ips_count, 0);
	assert_int_equal(cfg.peers[0].persistent_keepalive, 0);
	assert_int_equal(cfg.peers[0].allow_count, 0);
	assert_int_equal(cfg.proxy_line, 0);
	assert_int_equal(cfg.listen_count, 1);
	assert_int_equal(cfg.listen[0].ip.family, AF_INET);
	assert_ip(&cfg.listen[0].ip, "127.0.0.1");
	assert_int_equal(cfg.listen[0].port, NT_CONFIG_DEFAULT_LISTEN_PORT);
	assert_int_equal(cfg.listen[0].port, 1080);
	assert_string_equal(cfg.username, "");
	assert_string_equal(cfg.password, "");
	assert_int_equal(cfg.bypass, NT_CONFIG_BYPASS_DIRECT);
	assert_int_equal(cfg.connect_timeout_ms, 15000);
	assert_int_equal(cfg.max_connections, 4096);
	assert_int_equal(cfg.gateway_line, 0);
	assert_int_equal(cfg.gateway_allow_count, 0);
	nt_config_free(&cfg);

	/* A [Proxy] without Listen gets the default listener too. */
	parse_ok(IFACE "[Proxy]\nBypass = direct\n", &cfg);
	assert_int_equal(cfg.proxy_line, 3);
	assert_int_equal(cfg.listen_count, 1);
	assert_int_equal(cfg.listen[0].port, 1080);
	nt_config_free(&cfg);
}

static void test_config_connect_timeout_units(void **state)
{
	static const struct {
		const char *text;
		uint32_t ms;
	} cases[] = {
	    {"15", 15000}, {"20s", 20000},  {"20S", 20000},	  {"1500ms", 1500},
	    {"1s", 1000},  {"300", 300000}, {"300000ms", 300000}, {"1000MS", 1000},
	};
	char text[256];
	struct nt_config cfg;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), IFACE "[Proxy]\nConnectTimeout = %s\n", cases[i].text);
		parse_ok(text, &cfg);
		assert_int_equal(cfg.connect_timeout_ms, cases[i].ms);
		nt_config_free(&cfg);
	}
}

static void test_config_syntax_is_lenient_like_wg_quick(void **state)
{
	struct nt_config cfg;
	(void)state;

	/* Case-insensitive sections and keys, a reopened section, comments after
	 * values, blank lines, tabs, no final newline, an empty list value. */
	parse_ok("\n\n[INTERFACE]\n\tPRIVATEKEY\t=\t" ALICE_PRIV "\t# ours\n"
		 "[peer]\npublickey=" BOB_PUB "\nallowedips=\n"
		 "[interface]\naddress = 10.0.0.2/32#tunnel\n\n"
		 "[proxy]\nbypass = REJECT\nlisten = 127.0.0.1:9999",
		 &cfg);
	assert_int_equal(cfg.interface_line, 3);
	assert_key(cfg.private_key, ALICE_PRIV);
	assert_int_equal(cfg.address_count, 1);
	assert_cidr(&cfg.addresses[0], "10.0.0.2/32");
	assert_int_equal(cfg.bypass, NT_CONFIG_BYPASS_REJECT);
	assert_int_equal(cfg.listen[0].port, 9999);
	nt_config_free(&cfg);

	/* Keepalive "OFF", range edges. */
	parse_ok(IFACE_PEER "PersistentKeepalive = OFF\n[Interface]\nMTU = 65535\n"
			    "ListenPort = 0\n[Proxy]\nMaxConnections = 65536\n",
		 &cfg);
	assert_int_equal(cfg.mtu, 65535);
	assert_true(cfg.has_listen_port);
	assert_int_equal(cfg.listen_port, 0);
	assert_int_equal(cfg.max_connections, 65536);
	nt_config_free(&cfg);

	/* Secrets may hold any printable character but '#'. */
	parse_ok(IFACE "[Proxy]\nUsername = a b=c\nPassword = ~!@$%^&*()_+{}|:\"<>?`-=[]\\;',./\n",
		 &cfg);
	assert_string_equal(cfg.username, "a b=c");
	assert_string_equal(cfg.password, "~!@$%^&*()_+{}|:\"<>?`-=[]\\;',./");
	nt_config_free(&cfg);
}

struct bad_case {
	const char *text;
	size_t len;
	const char *message;
};

#define BAD(t, m)                                                                                  \
	{                                                                                          \
		t, sizeof(t) - 1, m                                                                \
	}

static const struct bad_case bad_cases[] = {
    /* Structure. */
    BAD(IFACE "[Foo]\n", "client.conf:3: unknown section [Foo]"),
    BAD("[Interface\n", "client.conf:1: section header without ']'"),
    BAD("[Interface] x\n", "client.conf:1: text after the section header"),
    BAD("PrivateKey = " ALICE_PRIV "\n", "client.conf:1: PrivateKey: key outside a section"),
    BAD(IFACE "Foo = 1\n", "client.conf:3: Foo: unknown key in [Interface]"),
    BAD(IFACE "Endpoint = 192.0.2.1:51820\n",
	"client.conf:3: Endpoint: belongs in [Peer], not [Interface]"),
    BAD(IFACE "[Gateway]\nListen = 127.0.0.1:1080\n",
	"client.conf:4: Listen: belongs in [Proxy], not [Gateway]"),
    BAD(IFACE "MTU 1400\n", "client.conf:3: MTU: missing '=' (expected Key = Value)"),
    /* The value of a line without '=' is never shown: it may be a key. */
    BAD("[Interface]\nPrivateKey " ALICE_PRIV "\n",
	"client.conf:2: PrivateKey: missing '=' (expected Key = Value)"),
    BAD(IFACE "%%% oops\n", "client.conf:3: expected [Section] or Key = Value"),
    BAD(IFACE "= 1400\n", "client.conf:3: no key before '='"),
    BAD(IFACE "MTU =\n", "client.conf:3: MTU: empty value"),
    BAD(IFACE "MTU = # later\n", "client.conf:3: MTU: empty value"),
    BAD(IFACE "MTU = 1400\nMTU = 1400\n",
	"client.conf:4: MTU: duplicate key (first set at line 3)"),
    BAD(IFACE "PrivateKey = " BOB_PRIV "\n",
	"client.conf:3: PrivateKey: duplicate key (first set at line 2)"),
    BAD(IFACE "[Proxy]\nBypass = direct\n[Interface]\nmtu = 1400\n[Proxy]\nbypass = reject\n",
	"client.conf:8: Bypass: duplicate key (first set at line 4)"),
    /* Bytes. */
    BAD(IFACE "MTU = 14\0"
	      "00\n",
	"client.conf:3: NUL byte in the line"),
    BAD(IFACE "# bell \x07\n", "client.conf:3: control character 0x07 in the line"),
    BAD(IFACE "MTU = 1\r400\n", "client.conf:3: control character 0x0d in the line"),
    BAD(IFACE "MTU = 1400\x1b[0m\n", "client.conf:3: control character 0x1b in the line"),
    BAD(IFACE "# del \x7f\n", "client.conf:3: control character 0x7f in the line"),
    BAD(IFACE "# next line \xc2\x85\n", "client.conf:3: control character U+0085 in the line"),
    BAD(IFACE "# caf\xe9 (Latin-1)\n", "client.conf:3: the line is not valid UTF-8"),
    BAD(IFACE "# \xc0\xaf overlong\n", "client.conf:3: the line is not valid UTF-8"),
    BAD(IFACE "# \xe0\x80\xaf overlong\n", "client.conf:3: the line is not valid UTF-8"),
    BAD(IFACE "# \xed\xa0\x80 surrogate\n", "client.conf:3: the line is not valid UTF-8"),
    BAD(IFACE "# \xf4\x90\x80\x80 too big\n", "client.conf:3: the line is not valid UTF-8"),
    BAD(IFACE "# cut \xe2\x82", "client.conf:3: the line is not valid UTF-8"),
    BAD(IFACE "# \xff\n", "client.conf:3: the line is not valid UTF-8"),
    /* [Interface] values. Secret values are never quoted. */
    BAD("[Interface]\nPrivateKey = abc\n",
	"client.conf:2: PrivateKey: not a base64 WireGuard key (44 characters)"),
    BAD("[Interface]\nPrivateKey = " ALICE_PUB "x\n",
	"client.conf:2: PrivateKey: not a base64 WireGuard key (44 characters)"),
    BAD(IFACE "Address = 10.0.0.300/24\n",
	"client.conf:3: Address: '10.0.0.300/24' is not an IP prefix"),
    BAD(IFACE "Address = 10.0.0.2/33\n",
	"client.conf:3: Address: '10.0.0.2/33' is not an IP prefix"),
    BAD(IFACE "Address = 10.0.0.1/32,,10.0.0.2/32\n",
	"client.conf:3: Address: empty entry in the list"),
    BAD(IFACE "Address = 10.0.0.1/32,\n", "client.conf:3: Address: empty entry in the list"),
    BAD(IFACE "DNS = 1.1.1.256\n", "client.conf:3: DNS: '1.1.1.256' is not an IP address"),
    BAD(IFACE "DNS = fe80::1%eth0\n", "client.conf:3: DNS: 'fe80::1%eth0' is not an IP address"),
    BAD(IFACE "DNS = bad domain!\n",
	"client.conf:3: DNS: 'bad domain!' is not an IP address or a domain name"),
    BAD(IFACE "DNS = a..b\n", "client.conf:3: DNS: 'a..b' is not an IP address or a domain name"),
    BAD(IFACE "MTU = big\n", "client.conf:3: MTU: 'big' is not a number"),
    BAD(IFACE "MTU = 1279\n", "client.conf:3: MTU: '1279' is out of range (1280..65535)"),
    BAD(IFACE "MTU = 65536\n", "client.conf:3: MTU: '65536' is out of range (1280..65535)"),
    BAD(IFACE "MTU = 99999999999999999999\n",
	"client.conf:3: MTU: '99999999999999999999' is out of range (1280..65535)"),
    BAD(IFACE "ListenPort = -1\n", "client.conf:3: ListenPort: '-1' is not a number"),
    BAD(IFACE "ListenPort = 65536\n",
	"client.conf:3: ListenPort: '65536' is out of range (0..65535)"),
    /* [Peer] values. */
    BAD(IFACE "[Peer]\nPublicKey = abc\n",
	"client.conf:4: PublicKey: 'abc' is not a base64 WireGuard key (44 characters)"),
    BAD(IFACE_PEER "PresharedKey = not-a-key\n",
	"client.conf:5: PresharedKey: not a base64 WireGuard key (44 characters)"),
    BAD(IFACE_PEER "Endpoint = vpn.example.com\n",
	"client.conf:5: Endpoint: 'vpn.example.com' has no port (HOST:PORT or [IPv6]:PORT)"),
    BAD(IFACE_PEER "Endpoint = fd00::1:51820\n",
	"client.conf:5: Endpoint: 'fd00::1:51820': an IPv6 address needs brackets "
	"([ADDRESS]:PORT)"),
    BAD(IFACE_PEER "Endpoint = [fd00::1:51820\n",
	"client.conf:5: Endpoint: '[fd00::1:51820' is not [IPv6]:PORT"),
    BAD(IFACE_PEER "Endpoint = [fd00::1]51820\n",
	"client.conf:5: Endpoint: '[fd00::1]51820' is not [IPv6]:PORT"),
    BAD(IFACE_PEER "Endpoint = [192.0.2.1]:51820\n",
	"client.conf:5: Endpoint: '[192.0.2.1]:51820': only IPv6 addresses go in brackets"),
    BAD(IFACE_PEER "Endpoint = 192.0.2.1:0\n",
	"client.conf:5: Endpoint: '192.0.2.1:0' has no valid port (1..65535)"),
    BAD(IFACE_PEER "Endpoint = [fd00::1]:65536\n",
	"client.conf:5: Endpoint: '[fd00::1]:65536' has no valid port (1..65535)"),
    BAD(IFACE_PEER "Endpoint = host:\n",
	"client.conf:5: Endpoint: 'host:' has no valid port (1..65535)"),
    BAD(IFACE_PEER "Endpoint = 192.0.2.300:51820\n",
	"client.conf:5: Endpoint: '192.0.2.300:51820' is not HOST:PORT with a host name or IP "
	"address"),
    BAD(IFACE_PEER "Endpoint = [fd00::zz]:51820\n",
	"client.conf:5: Endpoint: '[fd00::zz]:51820' is not HOST:PORT with a host name or IP "
	"address"),
    BAD(IFACE_PEER "Endpoint = bad/host:51820\n",
	"client.conf:5: Endpoint: 'bad/host:51820' is not HOST:PORT with a host name or IP "
	"address"),
    BAD(IFACE_PEER "Endpoint = 192.0.2.1:51820\nEndpoint = 192.0.2.1:51820\n",
	"client.conf:6: Endpoint: duplicate key (first set at line 5)"),
    /* The example of the brief, on line 7. */
    BAD(IFACE_PEER "# routes\nAllowedIPs = 10.0.0.0/8\nAllowedIPs = 192.168.0.0/16, "
		   "10.0.0.300/24\n",
	"client.conf:7: AllowedIPs: '10.0.0.300/24' is not an IP prefix"),
    BAD(IFACE_PEER "AllowedIPs = 10.0.0.0/08\n",
	"client.conf:5: AllowedIPs: '10.0.0.0/08' is not an IP prefix"),
    BAD(IFACE_PEER "AllowedIPs = 10.0.0.0/8 192.168.0.0/16\n",
	"client.conf:5: AllowedIPs: '10.0.0.0/8 192.168.0.0/16' is not an IP prefix"),
    BAD(IFACE_PEER "PersistentKeepalive = sometimes\n",
	"client.conf:5: PersistentKeepalive: 'sometimes' is not a number of seconds or 'off'"),
    BAD(IFACE_PEER "PersistentKeepalive = 65536\n",
	"client.conf:5: PersistentKeepalive: '65536' is out of range (0..65535)"),
    /* Allow. */
    BAD(IFACE_PEER "Allow =\n", "client.conf:5: Allow: empty value"),
    BAD(IFACE_PEER "Allow = 10.0.0.0/33\n",
	"client.conf:5: Allow: '10.0.0.0/33' is not an IP prefix"),
    BAD(IFACE_PEER "Allow = 10.0.0.0/8:22\n",
	"client.conf:5: Allow: '10.0.0.0/8:22' is not an IP prefix"),
    BAD(IFACE_PEER "Allow = 10.0.0.0/8,\n", "client.conf:5: Allow: empty entry in the list"),
    BAD(IFACE_PEER "Allow = 10.0.0.0/8, tcp:22\n",
	"client.conf:5: Allow: 'tcp:22' is not an IP prefix"),
    BAD(IFACE_PEER "Allow = 10.0.0.0/8 icmp\n",
	"client.conf:5: Allow: 'icmp' is not tcp, udp or any"),
    BAD(IFACE_PEER "Allow = 10.0.0.0/8 tcp udp\n",
	"client.conf:5: Allow: 'tcp udp' is not tcp, udp or any"),
    BAD(IFACE_PEER "Allow = 10.0.0.0/8 tcp:\n",
	"client.conf:5: Allow: empty entry in the port list"),
    BAD(IFACE_PEER "Allow = 10.0.0.0/8 tcp:22,\n",
	"client.conf:5: Allow: empty entry in the port list"),
    BAD(IFACE_PEER "Allow = 10.0.0.0/8 tcp:0\n",
	"client.conf:5: Allow: '0' is not a port or port range (1..65535)"),
    BAD(IFACE_PEER "Allow = 10.0.0.0/8 udp:53-65536\n",
	"client.conf:5: Allow: '53-65536' is not a port or port range (1..65535)"),
    BAD(IFACE_PEER "Allow = 10.0.0.0/8 udp:ssh\n",
	"client.conf:5: Allow: 'ssh' is not a port or port range (1..65535)"),
    BAD(IFACE_PEER "Allow = 10.0.0.0/8 tcp:90-80\n",
	"client.conf:5: Allow: '90-80' is an empty port range"),
    BAD(IFACE_PEER "Allow = 10.0.0.0/8 tcp:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\n",
	"client.conf:5: Allow: more than 16 port ranges in one rule"),
    BAD(IFACE "[Gateway]\nAllow = 10.0.0.0/8 tcp:x\n",
	"client.conf:4: Allow: 'x' is not a port or port range (1..65535)"),
    /* [Proxy] values. */
    BAD(IFACE "[Proxy]\nListen = localhost:1080\n",
	"client.conf:4: Listen: 'localhost:1080' is not ADDRESS:PORT or [IPv6]:PORT"),
    BAD(IFACE "[Proxy]\nListen = 127.0.0.1:65536\n",
	"client.conf:4: Listen: '127.0.0.1:65536' is not ADDRESS:PORT or [IPv6]:PORT"),
    BAD(IFACE "[Proxy]\nListen = 127.0.0.1\n",
	"client.conf:4: Listen: '127.0.0.1' has no port (HOST:PORT or [IPv6]:PORT)"),
    BAD(IFACE "[Proxy]\nListen = ::1:1080\n",
	"client.conf:4: Listen: '::1:1080': an IPv6 address needs brackets ([ADDRESS]:PORT)"),
    BAD(IFACE "[Proxy]\nListen = 127.0.0.1:1080\nListen = [::1]:1080, 127.0.0.1:1080\n",
	"client.conf:5: Listen: '127.0.0.1:1080' is listed twice"),
    BAD(IFACE "[Proxy]\nUsername = bob\n",
	"client.conf:4: Password: Username is set but Password is not"),
    BAD(IFACE "[Proxy]\nBypass = direct\nPassword = x\n",
	"client.conf:5: Username: Password is set but Username is not"),
    BAD(IFACE "[Proxy]\nUsername = b\xc3\xb6rk\nPassword = x\n",
	"client.conf:4: Username: 'b\xc3\xb6rk' is not printable ASCII"),
    BAD(IFACE "[Proxy]\nUsername = bob\nPassword = p\xc3\xa4ss\n",
	"client.conf:5: Password: not printable ASCII"),
    BAD(IFACE "[Proxy]\nBypass = maybe\n",
	"client.conf:4: Bypass: 'maybe' is not direct or reject"),
    BAD(IFACE "[Proxy]\nConnectTimeout = soon\n",
	"client.conf:4: ConnectTimeout: 'soon' is not a duration (15, 15s or 1500ms)"),
    BAD(IFACE "[Proxy]\nConnectTimeout = 5m\n",
	"client.conf:4: ConnectTimeout: '5m' is not a duration (15, 15s or 1500ms)"),
    BAD(IFACE "[Proxy]\nConnectTimeout = ms\n",
	"client.conf:4: ConnectTimeout: 'ms' is not a duration (15, 15s or 1500ms)"),
    BAD(IFACE "[Proxy]\nConnectTimeout = 1.5s\n",
	"client.conf:4: ConnectTimeout: '1.5s' is not a duration (15, 15s or 1500ms)"),
    BAD(IFACE "[Proxy]\nConnectTimeout = 0\n",
	"client.conf:4: ConnectTimeout: '0' is out of range (1s..300s)"),
    BAD(IFACE "[Proxy]\nConnectTimeout = 301s\n",
	"client.conf:4: ConnectTimeout: '301s' is out of range (1s..300s)"),
    BAD(IFACE "[Proxy]\nConnectTimeout = 999ms\n",
	"client.conf:4: ConnectTimeout: '999ms' is out of range (1s..300s)"),
    BAD(IFACE "[Proxy]\nConnectTimeout = 99999999999\n",
	"client.conf:4: ConnectTimeout: '99999999999' is out of range (1s..300s)"),
    BAD(IFACE "[Proxy]\nMaxConnections = 0\n",
	"client.conf:4: MaxConnections: '0' is out of range (1..65536)"),
    BAD(IFACE "[Proxy]\nMaxConnections = 65537\n",
	"client.conf:4: MaxConnections: '65537' is out of range (1..65536)"),
    /* Whole sections and files. */
    BAD(IFACE "[Peer]\nEndpoint = 192.0.2.1:51820\n[Peer]\nPublicKey = " BOB_PUB "\n",
	"client.conf:3: PublicKey: [Peer] has no PublicKey"),
    BAD(IFACE_PEER "[Peer]\n# nothing\n", "client.conf:5: PublicKey: [Peer] has no PublicKey"),
    BAD("[Interface]\nAddress = 10.0.0.2/32\n",
	"client.conf:1: PrivateKey: [Interface] has no PrivateKey"),
    BAD("", "client.conf: PrivateKey: no [Interface] section"),
    BAD("# only a comment\n[Peer]\nPublicKey = " BOB_PUB "\n",
	"client.conf: PrivateKey: no [Interface] section"),
    BAD(IFACE "[Peer]\nPublicKey = " ALICE_PUB "\n",
	"client.conf:4: PublicKey: our own public key (from PrivateKey) cannot be a peer"),
    /* Our own key is known only at the end, wherever PrivateKey is. */
    BAD("[Peer]\nPublicKey = " ALICE_PUB "\n[Interface]\nPrivateKey = " ALICE_PRIV "\n",
	"client.conf:2: PublicKey: our own public key (from PrivateKey) cannot be a peer"),
    BAD(IFACE_PEER "[Peer]\nPublicKey = " KEY1 "\n[Peer]\npublickey = " BOB_PUB "\n",
	"client.conf:8: PublicKey: the same key as the [Peer] at line 3"),
};

static void test_config_every_error_names_file_line_and_key(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
		expect_error_len(bad_cases[i].text, bad_cases[i].len, bad_cases[i].message);
}

static void test_config_error_fields(void **state)
{
	struct nt_config cfg;
	struct nt_config_error err;
	static const char text[] = IFACE_PEER "AllowedIPs = 10.0.0.300/24\n";
	static const char unknown[] = IFACE "fOO = 1\nmtu = 1\n";
	static const char lower[] = IFACE "mtu = 1\n";
	static const char long_dns[] =
	    IFACE "DNS = 1111111111.2222222222.3333333333.4444444444.5555555555.6666666666."
		  "77777777\n";
	(void)state;

	assert_int_equal(nt_config_parse(text, strlen(text), "dir/c.conf", &cfg, &err), -EINVAL);
	assert_string_equal(err.file, "dir/c.conf");
	assert_int_equal(err.line, 5);
	assert_string_equal(err.key, "AllowedIPs");
	nt_config_free(&cfg);

	/* The key as the user wrote it when it is unknown; the canonical name
	 * otherwise. */
	assert_int_equal(nt_config_parse(unknown, strlen(unknown), NULL, &cfg, &err), -EINVAL);
	assert_string_equal(err.message, "config:3: fOO: unknown key in [Interface]");
	assert_string_equal(err.key, "fOO");
	nt_config_free(&cfg);
	assert_int_equal(nt_config_parse(lower, strlen(lower), NULL, &cfg, &err), -EINVAL);
	assert_string_equal(err.key, "MTU");
	nt_config_free(&cfg);

	/* A file name with a newline stays on one line. */
	assert_int_equal(nt_config_parse("[x]", 3, "a\nb", &cfg, &err), -EINVAL);
	assert_string_equal(err.message, "a?b:1: unknown section [x]");
	nt_config_free(&cfg);

	/* Long values are cut in messages. */
	expect_error(long_dns, "client.conf:3: DNS: '1111111111.2222222222.3333333333."
			       "4444444444.5555555555.666666666...' is not an IP address");
}

/* Values that would be secrets never appear in a message. */
static void test_config_errors_never_show_secrets(void **state)
{
	static const char *const texts[] = {
	    "[Interface]\nPrivateKey = " ALICE_PRIV "x\n",
	    "[Interface]\nPrivateKey " ALICE_PRIV "\n",
	    IFACE_PEER "PresharedKey = " ALICE_PRIV "=\n",
	    IFACE "[Proxy]\nUsername = u\nPassword = " ALICE_PRIV "\x01\n",
	    IFACE "[Proxy]\nUsername = u\nPassword = " ALICE_PRIV "\xc3\xa4\n",
	};
	struct nt_config cfg;
	struct nt_config_error err;
	(void)state;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(nt_config_parse(texts[i], strlen(texts[i]), "c", &cfg, &err),
				 -EINVAL);
		assert_null(strstr(err.message, "dwdtCnMY"));
		nt_config_free(&cfg);
	}
}

static void test_config_role_requirements(void **state)
{
	static const struct {
		const char *text;
		bool gateway;
		const char *message;
	} cases[] = {
	    {IFACE_PEER "Endpoint = 192.0.2.1:1\n", false,
	     "client.conf:1: Address: a client needs at least one Address in [Interface]"},
	    {IFACE "Address = 10.0.0.2/32\n", false,
	     "client.conf: a client needs at least one [Peer]"},
	    {IFACE "Address = 10.0.0.2/32\n[Peer]\nPublicKey = " BOB_PUB "\n", false,
	     "client.conf:4: Endpoint: a client's [Peer] needs an Endpoint"},
	    {IFACE "Address = 10.0.0.2/32\n[Peer]\nPublicKey = " BOB_PUB
		   "\nEndpoint = 192.0.2.1:1\nAllow = 10.0.0.0/8\n",
	     false, "client.conf:7: Allow: Allow rules are for a gateway, not a client"},
	    {IFACE "Address = 10.0.0.2/32\n[Peer]\nPublicKey = " BOB_PUB
		   "\nEndpoint = 192.0.2.1:1\n[Gateway]\n",
	     false, "client.conf:7: [Gateway] is for a gateway, not a client"},
	    {IFACE_PEER, true,
	     "client.conf:1: ListenPort: a gateway needs a ListenPort in [Interface]"},
	    {IFACE "ListenPort = 51820\n[Proxy]\n", true,
	     "client.conf:4: [Proxy] is for a client, not a gateway"},
	};
	struct nt_config cfg;
	struct nt_config_error err;
	int ret;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse_ok(cases[i].text, &cfg);
		ret = cases[i].gateway ? nt_config_validate_gateway(&cfg, &err)
				       : nt_config_validate_client(&cfg, &err);
		assert_int_equal(ret, -EINVAL);
		assert_string_equal(err.message, cases[i].message);
		assert_error_consistent(&err);
		nt_config_free(&cfg);
	}
}

static void test_config_ignored_wg_quick_keys_warn(void **state)
{
	static const char text[] = IFACE "Table = off\n"
					 "PreUp = true\n"
					 "PostUp = iptables -A FORWARD -i %i -j ACCEPT\n"
					 "PostUp = ip rule add\n"
					 "PreDown = true\n"
					 "PostDown = iptables -D FORWARD -i %i -j ACCEPT\n"
					 "SaveConfig = true\n"
					 "fwmark = 0xca6c\n"
					 "PostUp =\n";
	static const char *const keys[] = {"Table",    "PreUp",	     "PostUp", "PostUp", "PreDown",
					   "PostDown", "SaveConfig", "FwMark", "PostUp"};
	struct nt_config cfg;
	struct text many = {0};
	(void)state;

	parse_ok(text, &cfg);
	assert_int_equal(cfg.warning_count, 9);
	assert_int_equal(cfg.warnings_dropped, 0);
	for (size_t i = 0; i < cfg.warning_count; i++) {
		assert_string_equal(cfg.warnings[i].key, keys[i]);
		assert_int_equal(cfg.warnings[i].line, 3 + i);
	}
	assert_string_equal(
	    cfg.warnings[2].message,
	    "client.conf:5: PostUp: ignored (wg-quick key; notun creates no network interface)");
	assert_string_equal(
	    cfg.warnings[7].message,
	    "client.conf:10: FwMark: ignored (wg-quick key; notun creates no network interface)");
	nt_config_free(&cfg);

	/* Bounded: the rest are counted. */
	add(&many, IFACE);
	for (int i = 0; i < NT_CONFIG_MAX_WARNINGS + 5; i++)
		add(&many, "PostUp = echo %d\n", i);
	parse_len_ok(many.buf, many.len, "client.conf", &cfg);
	assert_int_equal(cfg.warning_count, NT_CONFIG_MAX_WARNINGS);
	assert_int_equal(cfg.warnings_dropped, 5);
	nt_config_free(&cfg);
	free(many.buf);
}

static void test_config_limit_peers(void **state)
{
	char key[NT_KEY_B64_LEN + 1];
	struct nt_config cfg;
	struct text t = {0};
	char msg[128];
	(void)state;

	add(&t, IFACE);
	for (unsigned int i = 0; i < NT_CONFIG_MAX_PEERS; i++) {
		peer_key(key, i);
		add(&t, "[Peer]\nPublicKey = %s\nAllowedIPs = 10.%u.%u.0/24\n", key, i >> 8,
		    i & 0xff);
	}
	parse_len_ok(t.buf, t.len, "client.conf", &cfg);
	assert_int_equal(cfg.peer_count, NT_CONFIG_MAX_PEERS);
	assert_int_equal(cfg.peers[255].line, 3 + 255 * 3);
	assert_cidr(&cfg.peers[255].allowed_ips[0], "10.0.255.0/24");
	nt_config_free(&cfg);

	peer_key(key, NT_CONFIG_MAX_PEERS);
	add(&t, "[Peer]\nPublicKey = %s\n", key);
	snprintf(msg, sizeof(msg), "client.conf:%d: more than 256 [Peer] sections",
		 3 + NT_CONFIG_MAX_PEERS * 3);
	expect_error_len(t.buf, t.len, msg);
	free(t.buf);
}

static void test_config_limit_allowed_ips(void **state)
{
	struct nt_config cfg;
	struct text t = {0};
	char msg[128];
	(void)state;

	add(&t, IFACE_PEER);
	/* 8 to a line: lines 5..132. */
	for (int i = 0; i < NT_CONFIG_MAX_ALLOWED_IPS; i++)
		add(&t, "%s10.%d.%d.0/24%s", i % 8 ? ", " : "AllowedIPs = ", i >> 8, i & 0xff,
		    i % 8 == 7 ? "\n" : "");
	parse_len_ok(t.buf, t.len, "client.conf", &cfg);
	assert_int_equal(cfg.peers[0].allowed_ips_count, NT_CONFIG_MAX_ALLOWED_IPS);
	assert_cidr(&cfg.peers[0].allowed_ips[1023], "10.3.255.0/24");
	nt_config_free(&cfg);

	add(&t, "AllowedIPs = 192.168.0.0/16\n");
	snprintf(msg, sizeof(msg),
		 "client.conf:%d: AllowedIPs: more than 1024 prefixes in one [Peer]",
		 5 + NT_CONFIG_MAX_ALLOWED_IPS / 8);
	expect_error_len(t.buf, t.len, msg);

	/* The limit is per peer. */
	t.len = 0;
	add(&t, IFACE);
	for (int p = 0; p < 2; p++) {
		add(&t, "[Peer]\nPublicKey = %s\n", p ? KEY1 : KEY2);
		for (int i = 0; i < NT_CONFIG_MAX_ALLOWED_IPS; i++)
			add(&t, "AllowedIPs = 10.%d.%d.0/24\n", i >> 8, i & 0xff);
	}
	parse_len_ok(t.buf, t.len, "client.conf", &cfg);
	assert_int_equal(cfg.peers[1].allowed_ips_count, NT_CONFIG_MAX_ALLOWED_IPS);
	nt_config_free(&cfg);
	free(t.buf);
}

static void test_config_limit_listen(void **state)
{
	struct nt_config cfg;
	struct text t = {0};
	(void)state;

	add(&t, IFACE "[Proxy]\n");
	for (int i = 0; i < NT_CONFIG_MAX_LISTEN; i++)
		add(&t, "Listen = 127.0.0.1:%d\n", 20000 + i);
	parse_len_ok(t.buf, t.len, "client.conf", &cfg);
	assert_int_equal(cfg.listen_count, NT_CONFIG_MAX_LISTEN);
	assert_int_equal(cfg.listen[63].port, 20063);
	nt_config_free(&cfg);

	add(&t, "Listen = [::1]:1080\n");
	expect_error_len(t.buf, t.len, "client.conf:68: Listen: more than 64 addresses");
	free(t.buf);
}

static void test_config_limit_allow_rules(void **state)
{
	struct nt_config cfg;
	struct text t = {0};
	(void)state;

	/* Each CIDR is one rule: 128 lines of two. */
	add(&t, IFACE_PEER);
	for (int i = 0; i < NT_CONFIG_MAX_ALLOW; i += 2)
		add(&t, "Allow = 10.%d.0.0/16, 10.%d.0.0/16 tcp:22\n", i, i + 1);
	parse_len_ok(t.buf, t.len, "client.conf", &cfg);
	assert_int_equal(cfg.peers[0].allow_count, NT_CONFIG_MAX_ALLOW);
	assert_cidr(&cfg.peers[0].allow[255].cidr, "10.255.0.0/16");
	assert_int_equal(cfg.peers[0].allow[255].ports[0].first, 22);
	nt_config_free(&cfg);
	add(&t, "Allow = 192.168.0.0/16\n");
	expect_error_len(t.buf, t.len,
			 "client.conf:133: Allow: more than 256 rules in one section");

	/* [Gateway] has its own 256, and a line past it fails as a whole. */
	t.len = 0;
	add(&t, IFACE "[Gateway]\n");
	for (int i = 0; i < NT_CONFIG_MAX_ALLOW - 1; i++)
		add(&t, "Allow = 10.%d.%d.0/24\n", i >> 8, i & 0xff);
	parse_len_ok(t.buf, t.len, "client.conf", &cfg);
	assert_int_equal(cfg.gateway_allow_count, NT_CONFIG_MAX_ALLOW - 1);
	nt_config_free(&cfg);
	add(&t, "Allow = 172.16.0.0/12, 192.168.0.0/16 udp\n");
	expect_error_len(t.buf, t.len,
			 "client.conf:259: Allow: more than 256 rules in one section");
	free(t.buf);
}

static void test_config_limit_small_lists(void **state)
{
	struct nt_config cfg;
	struct text t = {0};
	size_t base;
	(void)state;

	add(&t, IFACE);
	for (int i = 0; i < NT_CONFIG_MAX_ADDRESSES; i++)
		add(&t, "Address = 10.0.0.%d/32\n", i + 1);
	for (int i = 0; i < NT_CONFIG_MAX_DNS_SERVERS; i++)
		add(&t, "DNS = 10.0.1.%d, d%d.example\n", i + 1, i);
	parse_len_ok(t.buf, t.len, "client.conf", &cfg);
	assert_int_equal(cfg.address_count, NT_CONFIG_MAX_ADDRESSES);
	assert_int_equal(cfg.dns_server_count, NT_CONFIG_MAX_DNS_SERVERS);
	assert_int_equal(cfg.dns_search_count, NT_CONFIG_MAX_DNS_SEARCH);
	nt_config_free(&cfg);

	base = t.len;
	add(&t, "Address = 10.0.0.99/32\n");
	expect_error_len(t.buf, t.len, "client.conf:27: Address: more than 16 addresses");
	t.len = base;
	add(&t, "DNS = 10.9.9.9\n");
	expect_error_len(t.buf, t.len, "client.conf:27: DNS: more than 8 servers");
	t.len = base;
	add(&t, "DNS = extra.example\n");
	expect_error_len(t.buf, t.len, "client.conf:27: DNS: more than 8 search domains");
	free(t.buf);
}

static void test_config_limit_line_length(void **state)
{
	struct nt_config cfg;
	struct text t = {0};
	char *comment = malloc(NT_CONFIG_MAX_LINE + 2);
	(void)state;

	assert_non_null(comment);
	memset(comment, 'x', NT_CONFIG_MAX_LINE + 1);
	comment[0] = '#';
	comment[NT_CONFIG_MAX_LINE] = '\0';
	/* Exactly the limit, with either line ending. */
	add(&t, IFACE "%s\n%s\r\n", comment, comment);
	parse_len_ok(t.buf, t.len, "client.conf", &cfg);
	nt_config_free(&cfg);

	comment[NT_CONFIG_MAX_LINE] = 'x';
	comment[NT_CONFIG_MAX_LINE + 1] = '\0';
	t.len = 0;
	add(&t, IFACE "%s\n", comment);
	expect_error_len(t.buf, t.len, "client.conf:3: the line is longer than 4096 bytes");
	free(comment);
	free(t.buf);
}

static void test_config_limit_file_size(void **state)
{
	struct nt_config cfg;
	size_t len = NT_CONFIG_MAX_FILE + 1, head = strlen(IFACE_PEER);
	char *text = malloc(len);
	(void)state;

	/* The head, then 64-byte comment lines up to exactly 1 MiB. */
	assert_non_null(text);
	memcpy(text, IFACE_PEER, head);
	for (size_t i = head; i < len; i++)
		text[i] = (i - head) % 64 == 63 ? '\n' : (i - head) % 64 == 0 ? '#' : 'x';
	parse_len_ok(text, NT_CONFIG_MAX_FILE, "client.conf", &cfg);
	nt_config_free(&cfg);
	expect_error_len(text, len, "client.conf: the file is larger than 1048576 bytes");
	free(text);
}

static void round_trip(const char *text, const char *expected, bool gateway)
{
	struct nt_config a, b;
	struct nt_config_error err;
	char out1[4096], out2[4096];
	size_t needed;

	parse_ok(text, &a);
	assert_int_equal(gateway ? nt_config_validate_gateway(&a, &err)
				 : nt_config_validate_client(&a, &err),
			 0);
	assert_int_equal(nt_config_format(&a, out1, sizeof(out1), &needed), 0);
	assert_int_equal(needed, strlen(out1));
	assert_string_equal(out1, expected);
	parse_ok(out1, &b);
	assert_int_equal(nt_config_format(&b, out2, sizeof(out2), NULL), 0);
	assert_string_equal(out1, out2);
	assert_memory_equal(a.private_key, b.private_key, NT_KEY_LEN);
	assert_int_equal(a.peer_count, b.peer_count);
	nt_config_free(&a);
	nt_config_free(&b);
}

static void test_config_round_trip_minimal_client(void **state)
{
	(void)state;
	round_trip("[Interface]\nPrivateKey=" ALICE_PRIV "\nAddress=10.0.0.2/32\n"
		   "[Peer]\nPublicKey=" BOB_PUB
		   "\nEndpoint=127.0.0.1:51820\nAllowedIPs=10.0.0.0/24\n",
		   "[Interface]\n"
		   "PrivateKey = " ALICE_PRIV "\n"
		   "Address = 10.0.0.2/32\n"
		   "\n"
		   "[Peer]\n"
		   "PublicKey = " BOB_PUB "\n"
		   "Endpoint = 127.0.0.1:51820\n"
		   "AllowedIPs = 10.0.0.0/24\n",
		   false);
	/* Every client key, including a [Proxy] section. */
	round_trip(full_client,
		   "[Interface]\n"
		   "PrivateKey = " ALICE_PRIV "\n"
		   "Address = 10.0.0.2/24, fd00::2/64, 10.0.1.2/32\n"
		   "DNS = 10.0.0.1, fd00::1\n"
		   "DNS = corp.example.com, example.org.\n"
		   "MTU = 1380\n"
		   "ListenPort = 51821\n"
		   "\n"
		   "[Peer]\n"
		   "PublicKey = " BOB_PUB "\n"
		   "PresharedKey = " KEY3 "\n"
		   "Endpoint = gw.example.com:51820\n"
		   "AllowedIPs = 10.0.0.0/24, fd00::/64, 192.168.10.0/24\n"
		   "PersistentKeepalive = 25\n"
		   "\n"
		   "[Peer]\n"
		   "PublicKey = " KEY1 "\n"
		   "Endpoint = [2001:db8::1]:51820\n"
		   "\n"
		   "[Peer]\n"
		   "PublicKey = " KEY2 "\n"
		   "Endpoint = 127.0.0.1:51820\n"
		   "\n"
		   "[Proxy]\n"
		   "Listen = 127.0.0.1:1081, [::1]:1081, 127.0.0.2:0\n"
		   "Username = alice\n"
		   "Password = s3cret pass!\n"
		   "Bypass = reject\n"
		   "ConnectTimeout = 2500ms\n"
		   "MaxConnections = 100\n",
		   false);
}

static void test_config_metrics_section(void **state)
{
	struct nt_config cfg;
	(void)state;

	parse_ok("[Interface]\nPrivateKey = " BOB_PRIV "\nListenPort = 51820\n"
		 "[Metrics]\nListen = 127.0.0.1:9101\n",
		 &cfg);
	assert_true(cfg.metrics_line > 0);
	assert_ip(&cfg.metrics_listen.ip, "127.0.0.1");
	assert_int_equal(cfg.metrics_listen.port, 9101);
	assert_false(cfg.metrics_allow_remote);
	nt_config_free(&cfg);
	parse_ok("[Interface]\nPrivateKey = " BOB_PRIV "\n"
		 "[Metrics]\nListen = [::]:9101\nAllowRemote = yes\n",
		 &cfg);
	assert_true(cfg.metrics_allow_remote);
	nt_config_free(&cfg);
	/* Off without the section. */
	parse_ok("[Interface]\nPrivateKey = " BOB_PRIV "\n", &cfg);
	assert_int_equal(cfg.metrics_line, 0);
	nt_config_free(&cfg);
	expect_error("[Interface]\nPrivateKey = " BOB_PRIV "\n[Metrics]\nListen = 0.0.0.0:9101\n",
		     "client.conf:4: Listen: not a loopback address: the page shows keys, "
		     "endpoints and resources; add AllowRemote = yes to serve it there");
	expect_error("[Interface]\nPrivateKey = " BOB_PRIV "\n[Metrics]\nAllowRemote = no\n",
		     "client.conf:3: Listen: [Metrics] has no Listen (e.g. 127.0.0.1:9101)");
	expect_error("[Interface]\nPrivateKey = " BOB_PRIV "\n[Metrics]\nListen = localhost:1\n",
		     "client.conf:4: Listen: 'localhost:1' is not ADDRESS:PORT or [IPv6]:PORT");
	expect_error("[Interface]\nPrivateKey = " BOB_PRIV "\n[Metrics]\nListen = 127.0.0.1:1\n"
		     "AllowRemote = maybe\n",
		     "client.conf:5: AllowRemote: 'maybe' is not yes or no");
}

static void test_config_round_trip_minimal_gateway(void **state)
{
	(void)state;
	round_trip("[Interface]\nPrivateKey = " BOB_PRIV "\nListenPort = 51820\n"
		   "[Peer]\nPublicKey = " ALICE_PUB "\nAllowedIPs = 10.0.0.2/32\n"
		   "Allow = 10.1.0.0/16 tcp:22,80-89\n[Gateway]\nAllow = fd00::/64 udp:53\n",
		   "[Interface]\n"
		   "PrivateKey = " BOB_PRIV "\n"
		   "ListenPort = 51820\n"
		   "\n"
		   "[Peer]\n"
		   "PublicKey = " ALICE_PUB "\n"
		   "AllowedIPs = 10.0.0.2/32\n"
		   "Allow = 10.1.0.0/16 tcp:22,80-89\n"
		   "\n"
		   "[Gateway]\n"
		   "Allow = fd00::/64 udp:53\n",
		   true);
	round_trip(full_gateway,
		   "[Interface]\n"
		   "PrivateKey = " BOB_PRIV "\n"
		   "Address = 10.0.0.1/32\n"
		   "ListenPort = 51820\n"
		   "\n"
		   "[Peer]\n"
		   "PublicKey = " ALICE_PUB "\n"
		   "AllowedIPs = 10.0.0.2/32\n"
		   "Allow = 10.1.0.0/16\n"
		   "Allow = 192.168.1.10/32 tcp:22,80-89\n"
		   "Allow = 192.168.1.11/32 tcp:22,80-89\n"
		   "Allow = fd00::/64 udp:53\n"
		   "Allow = 10.2.0.0/16 any:443\n"
		   "Allow = 10.3.0.0/16\n"
		   "Allow = 10.4.0.0/16 any:1-1024,8080\n"
		   "\n"
		   "[Gateway]\n"
		   "Allow = 172.16.0.0/12 tcp\n",
		   true);
}

static void test_config_format_reports_needed_size(void **state)
{
	struct nt_config cfg;
	char small[16], *big;
	size_t needed = 0;
	(void)state;

	parse_ok(full_client, &cfg);
	assert_int_equal(nt_config_format(&cfg, small, sizeof(small), &needed), -ENOSPC);
	assert_true(needed > sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(nt_config_format(&cfg, NULL, 0, &needed), -ENOSPC);
	big = malloc(needed + 1);
	assert_non_null(big);
	assert_int_equal(nt_config_format(&cfg, big, needed + 1, NULL), 0);
	assert_int_equal(strlen(big), needed);
	free(big);
	nt_config_free(&cfg);
}

static void test_config_parse_listen_for_the_command_line(void **state)
{
	static const char *const bad[] = {
	    "",
	    "127.0.0.1",
	    "localhost:1080",
	    "::1:1080",
	    "[::1]",
	    "[127.0.0.1]:80",
	    "127.0.0.1:65536",
	    " 127.0.0.1:1080",
	    "127.0.0.1:x",
	    "[::1]:",
	    "[fe80::1%lo]:1080",
	    "[::1]:1080,127.0.0.1:1",
	    "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:1080111111111111",
	};
	struct nt_config_listen l;
	(void)state;

	assert_int_equal(nt_config_parse_listen("127.0.0.1:1080", &l), 0);
	assert_int_equal(l.ip.family, AF_INET);
	assert_ip(&l.ip, "127.0.0.1");
	assert_int_equal(l.port, 1080);
	assert_int_equal(nt_config_parse_listen("[::1]:0", &l), 0);
	assert_int_equal(l.ip.family, AF_INET6);
	assert_ip(&l.ip, "::1");
	assert_int_equal(l.port, 0);
	assert_int_equal(
	    nt_config_parse_listen("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535", &l), 0);
	assert_int_equal(l.port, 65535);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(nt_config_parse_listen(bad[i], &l), -EINVAL);
	assert_int_equal(nt_config_parse_listen(NULL, &l), -EINVAL);
}

/* nt_config_load: a scratch directory under /tmp. */
static void write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_config_load_file_and_permission_warning(void **state)
{
	char dir[] = "/tmp/nt_config_test.XXXXXX", path[64], missing[64];
	struct nt_config cfg;
	struct nt_config_error err;
	bool exposed = true;
	unsigned int mode = 0;
	char *huge;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/client.conf", dir);
	snprintf(missing, sizeof(missing), "%s/missing.conf", dir);

	write_file(path, full_client, strlen(full_client), 0600);
	assert_int_equal(nt_config_load(path, &cfg, &err, &exposed, &mode), 0);
	assert_false(exposed);
	assert_int_equal(mode, 0600);
	assert_string_equal(cfg.filename, path);
	assert_int_equal(cfg.peer_count, 3);
	nt_config_free(&cfg);

	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(nt_config_load(path, &cfg, &err, &exposed, &mode), 0);
	assert_true(exposed);
	assert_int_equal(mode, 0644);
	nt_config_free(&cfg);

	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(nt_config_load(path, &cfg, &err, &exposed, NULL), 0);
	assert_true(exposed);
	nt_config_free(&cfg);

	/* Writable by others is a different problem; readable is what leaks. */
	assert_int_equal(chmod(path, 0602), 0);
	assert_int_equal(nt_config_load(path, &cfg, &err, &exposed, NULL), 0);
	assert_false(exposed);
	nt_config_free(&cfg);

	/* Parse errors name the path. */
	write_file(path, IFACE "MTU = 1\n", strlen(IFACE "MTU = 1\n"), 0600);
	assert_int_equal(nt_config_load(path, &cfg, &err, &exposed, NULL), -EINVAL);
	assert_int_equal(err.line, 3);
	assert_string_equal(err.file, path);
	assert_non_null(strstr(err.message, "client.conf:3: MTU: '1' is out of range"));
	nt_config_free(&cfg);

	/* A file one byte past the limit. */
	huge = malloc(NT_CONFIG_MAX_FILE + 1);
	assert_non_null(huge);
	memset(huge, '\n', NT_CONFIG_MAX_FILE + 1);
	write_file(path, huge, NT_CONFIG_MAX_FILE + 1, 0600);
	free(huge);
	assert_int_equal(nt_config_load(path, &cfg, &err, NULL, NULL), -EINVAL);
	assert_non_null(strstr(err.message, "the file is larger than 1048576 bytes"));
	nt_config_free(&cfg);

	assert_int_equal(nt_config_load(missing, &cfg, &err, &exposed, NULL), -ENOENT);
	assert_non_null(strstr(err.message, "missing.conf: cannot open: "));
	nt_config_free(&cfg);
	assert_int_equal(nt_config_load(dir, &cfg, &err, &exposed, NULL), -EISDIR);
	nt_config_free(&cfg);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_client_every_key_parsed),
	    cmocka_unit_test(test_config_gateway_allow_rules_parsed),
	    cmocka_unit_test(test_config_provider_file_with_crlf_and_comments),
	    cmocka_unit_test(test_config_defaults),
	    cmocka_unit_test(test_config_connect_timeout_units),
	    cmocka_unit_test(test_config_syntax_is_lenient_like_wg_quick),
	    cmocka_unit_test(test_config_every_error_names_file_line_and_key),
	    cmocka_unit_test(test_config_error_fields),
	    cmocka_unit_test(test_config_errors_never_show_secrets),
	    cmocka_unit_test(test_config_role_requirements),
	    cmocka_unit_test(test_config_ignored_wg_quick_keys_warn),
	    cmocka_unit_test(test_config_limit_peers),
	    cmocka_unit_test(test_config_limit_allowed_ips),
	    cmocka_unit_test(test_config_limit_listen),
	    cmocka_unit_test(test_config_limit_allow_rules),
	    cmocka_unit_test(test_config_limit_small_lists),
	    cmocka_unit_test(test_config_limit_line_length),
	    cmocka_unit_test(test_config_limit_file_size),
	    cmocka_unit_test(test_config_round_trip_minimal_client),
	    cmocka_unit_test(test_config_round_trip_minimal_gateway),
	    cmocka_unit_test(test_config_metrics_section),
	    cmocka_unit_test(test_config_format_reports_needed_size),
	    cmocka_unit_test(test_config_parse_listen_for_the_command_line),
	    cmocka_unit_test(test_config_load_file_and_permission_warning),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
