// SPDX-License-Identifier: MIT
/* core/config/: the portal's configuration grammar, the gateway's [Portal]
 * section and portal tokens: every key, every error. */
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
#include "core/config/portal_config.h"
#include "core/config/token.h"

/* Computed with Python's base64 and hashlib.blake2b(digest_size=32), not
 * with notun: the token of the bytes 0..31, and its TokenHash. */
#define KA_TOKEN "ntg_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
#define KA_HASH	 "eIMbIorQrXv6VVs8PNv4Hm9N3RkzzSSzkHwIlWRuTFU="
/* The token of 32 bytes 0xff (client). */
#define KA_TOKEN2 "ntc___________________________________________8"
#define KA_HASH2  "Fdq3aaA2uU0VerWAJfK1Z1Wc4pwRC07B6nBijnnHrlQ="

#define H1 "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define H2 "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define H3 "AwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

#define ALICE_PRIV "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
/* Three lines: a gateway's [Interface]; [Portal] errors below are on line 4+. */
#define GW_IFACE "[Interface]\nPrivateKey = " ALICE_PRIV "\nListenPort = 51820\n"

static int setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

static void assert_cidr(const struct wg_cidr *c, const char *text)
{
	char out[WG_CIDR_STRLEN];

	assert_int_equal(wg_allowedips_format_cidr(c, out), 0);
	assert_string_equal(out, text);
}

/* ---- tokens ---- */

static void test_token_known_answer(void **state)
{
	uint8_t raw[NT_TOKEN_RAW_LEN], h[NT_TOKEN_HASH_LEN], want[NT_TOKEN_HASH_LEN];
	char token[NT_TOKEN_LEN + 1], b64[NT_TOKEN_HASH_B64_LEN + 1];
	enum nt_token_kind kind = NT_TOKEN_CLIENT;

	(void)state;
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)i;
	nt_token_from_bytes(token, NT_TOKEN_GATEWAY, raw);
	assert_string_equal(token, KA_TOKEN);
	assert_true(nt_token_check(token, strlen(token), &kind));
	assert_int_equal(kind, NT_TOKEN_GATEWAY);

	/* The hash is libsodium's unkeyed BLAKE2b-256 of the whole string. */
	crypto_generichash(want, sizeof(want), (const unsigned char *)KA_TOKEN, strlen(KA_TOKEN),
			   NULL, 0);
	nt_token_hash(h, KA_TOKEN, strlen(KA_TOKEN));
	assert_memory_equal(h, want, sizeof(h));
	nt_token_hash_to_base64(b64, h);
	assert_string_equal(b64, KA_HASH);

	memset(raw, 0xff, sizeof(raw));
	nt_token_from_bytes(token, NT_TOKEN_CLIENT, raw);
	assert_string_equal(token, KA_TOKEN2);
	assert_true(nt_token_check(token, strlen(token), &kind));
	assert_int_equal(kind, NT_TOKEN_CLIENT);
	nt_token_hash(h, token, strlen(token));
	nt_token_hash_to_base64(b64, h);
	assert_string_equal(b64, KA_HASH2);
}

static void test_token_check_rejects_malformed(void **state)
{
	char t[NT_TOKEN_LEN + 2];

	(void)state;
	assert_false(nt_token_check("", 0, NULL));
	assert_false(nt_token_check(KA_TOKEN, strlen(KA_TOKEN) - 1, NULL));
	snprintf(t, sizeof(t), "%sA", KA_TOKEN);
	assert_false(nt_token_check(t, strlen(t), NULL));
	snprintf(t, sizeof(t), "%s", KA_TOKEN);
	t[2] = 'x'; /* ntx_ */
	assert_false(nt_token_check(t, strlen(t), NULL));
	snprintf(t, sizeof(t), "%s", KA_TOKEN);
	t[10] = '+'; /* standard, not url-safe, alphabet */
	assert_false(nt_token_check(t, strlen(t), NULL));
	snprintf(t, sizeof(t), "%s", KA_TOKEN);
	t[NT_TOKEN_LEN - 1] = '9'; /* low bits of the last character set */
	assert_false(nt_token_check(t, strlen(t), NULL));
}

static void test_token_hash_base64(void **state)
{
	uint8_t h[NT_TOKEN_HASH_LEN];
	char b64[NT_TOKEN_HASH_B64_LEN + 1];

	(void)state;
	assert_int_equal(nt_token_hash_from_base64(h, KA_HASH, strlen(KA_HASH)), 0);
	nt_token_hash_to_base64(b64, h);
	assert_string_equal(b64, KA_HASH);
	assert_int_equal(nt_token_hash_from_base64(h, KA_HASH, 43), -EINVAL);
	assert_int_equal(
	    nt_token_hash_from_base64(h, "eIMbIorQrXv6VVs8PNv4Hm9N3RkzzSSzkHwIlWRuTF_=", 44),
	    -EINVAL);
}

static void test_token_find_every_position(void **state)
{
	struct {
		char pad[3];
		uint8_t hash[NT_TOKEN_HASH_LEN];
	} recs[3];
	const char *tokens[3] = {KA_TOKEN, KA_TOKEN2, "ntc_other"};

	(void)state;
	for (int i = 0; i < 3; i++)
		nt_token_hash(recs[i].hash, tokens[i], strlen(tokens[i]));
	for (int i = 0; i < 3; i++)
		assert_int_equal(
		    nt_token_find(tokens[i], strlen(tokens[i]), recs[0].hash, 3, sizeof(recs[0])),
		    i);
	assert_int_equal(nt_token_find("ntc_nope", 8, recs[0].hash, 3, sizeof(recs[0])), -1);
	assert_int_equal(nt_token_find(KA_TOKEN, strlen(KA_TOKEN), NULL, 0, sizeof(recs[0])), -1);
}

/* ---- the portal grammar ---- */

static const char example[] = "[Portal]\n"
			      "Listen = 127.0.0.1:9443          # not the default\n"
			      "Certificate = portal.crt\n"
			      "Key = portal.key\n"
			      "State = /var/lib/notun/portal.state\n"
			      "ClientAddresses = 100.80.0.0/12, fd00:1::/96\n"
			      "AccessTTL = 15m\n"
			      "[Site office]\n"
			      "[Site lab]\n"
			      "[Gateway gw-office-1]\n"
			      "Site = office\n"
			      "TokenHash = " KA_HASH "\n"
			      "[Client alice-laptop]\n"
			      "TokenHash = " KA_HASH2 "\n"
			      "Groups = eng, ops\n"
			      "[Client bob-ci]\n"
			      "TokenHash = " H1 "\n"
			      "[Client carol]\n"
			      "TokenHash = " H2 "\n"
			      "Groups = ops\n"
			      "[Resource db]\n"
			      "Address = 10.20.0.5/32\n"
			      "Filters = tcp:5432, icmp\n"
			      "Filters = udp:8000-8100, tcp\n"
			      "Sites = office, lab\n"
			      "Allow = eng, bob-ci\n"
			      "[Resource web]\n"
			      "Address = **.Corp.Internal.\n"
			      "Sites = lab\n"
			      "Allow = carol\n"
			      "[Resource v6]\n"
			      "Address = fd00:20::/64\n"
			      "Sites = office\n"
			      "Allow = ops\n";

static void parse_ok(const char *text, const char *file, struct nt_portal_config *cfg)
{
	struct nt_config_error err;
	int ret = nt_portal_config_parse(text, strlen(text), file, cfg, &err);

	if (ret)
		fail_msg("unexpected error: %s", err.message);
}

static void test_portal_every_key_parsed(void **state)
{
	struct nt_portal_config cfg;
	const struct nt_portal_cfg_resource *db, *web, *v6;
	uint8_t h[NT_TOKEN_HASH_LEN];
	char ip[INET6_ADDRSTRLEN];

	(void)state;
	parse_ok(example, "portal.conf", &cfg);
	assert_int_equal(cfg.listen.ip.family, AF_INET);
	inet_ntop(AF_INET, cfg.listen.ip.addr, ip, sizeof(ip));
	assert_string_equal(ip, "127.0.0.1");
	assert_int_equal(cfg.listen.port, 9443);
	assert_string_equal(cfg.certificate, "portal.crt");
	assert_string_equal(cfg.key, "portal.key");
	assert_false(cfg.self_signed);
	assert_string_equal(cfg.state, "/var/lib/notun/portal.state");
	assert_cidr(&cfg.client_v4, "100.80.0.0/12");
	assert_cidr(&cfg.client_v6, "fd00:1::/96");
	assert_int_equal(cfg.access_ttl, 15 * 60);

	assert_int_equal(cfg.site_count, 2);
	assert_string_equal(cfg.sites[1].name, "lab");
	assert_int_equal(cfg.sites[1].line, 9);
	assert_int_equal(cfg.gateway_count, 1);
	assert_string_equal(cfg.gateways[0].name, "gw-office-1");
	assert_int_equal(cfg.gateways[0].site, 0);
	assert_int_equal(nt_token_hash_from_base64(h, KA_HASH, 44), 0);
	assert_memory_equal(cfg.gateways[0].token_hash, h, sizeof(h));

	assert_int_equal(cfg.client_count, 3);
	assert_int_equal(cfg.group_count, 2);
	assert_string_equal(cfg.groups[0], "eng");
	assert_string_equal(cfg.groups[1], "ops");
	assert_int_equal(cfg.clients[0].group_count, 2);
	assert_int_equal(cfg.clients[2].group_count, 1);
	assert_int_equal(cfg.clients[2].groups[0], 1);

	assert_int_equal(cfg.resource_count, 3);
	db = &cfg.resources[0];
	assert_string_equal(db->name, "db");
	assert_int_equal(db->type, NT_PORTAL_RESOURCE_CIDR);
	assert_cidr(&db->cidr, "10.20.0.5/32");
	assert_int_equal(db->filter_count, 4);
	assert_int_equal(db->filters[0].proto, NT_PORTAL_PROTO_TCP);
	assert_int_equal(db->filters[0].first, 5432);
	assert_int_equal(db->filters[0].last, 5432);
	assert_int_equal(db->filters[1].proto, NT_PORTAL_PROTO_ICMP);
	assert_int_equal(db->filters[2].proto, NT_PORTAL_PROTO_UDP);
	assert_int_equal(db->filters[2].first, 8000);
	assert_int_equal(db->filters[2].last, 8100);
	assert_int_equal(db->filters[3].proto, NT_PORTAL_PROTO_TCP);
	assert_int_equal(db->filters[3].first, 0);
	assert_int_equal(db->filters[3].last, 65535);
	assert_int_equal(db->site_count, 2);
	assert_int_equal(db->sites[1], 1);
	assert_int_equal(db->allow_count, 2);
	assert_true(db->allow[0].is_group);
	assert_false(db->allow[1].is_group);
	assert_int_equal(db->allow[1].index, 1);
	web = &cfg.resources[1];
	assert_int_equal(web->type, NT_PORTAL_RESOURCE_DNS);
	assert_string_equal(web->pattern, "**.corp.internal");
	assert_int_equal(web->filter_count, 0);
	v6 = &cfg.resources[2];
	assert_cidr(&v6->cidr, "fd00:20::/64");

	/* Allow: alice through eng, bob by name, carol through ops. */
	assert_true(nt_portal_config_allows(&cfg, db, 0));
	assert_true(nt_portal_config_allows(&cfg, db, 1));
	assert_false(nt_portal_config_allows(&cfg, db, 2));
	assert_false(nt_portal_config_allows(&cfg, web, 0));
	assert_true(nt_portal_config_allows(&cfg, web, 2));
	assert_true(nt_portal_config_allows(&cfg, v6, 0));
	assert_false(nt_portal_config_allows(&cfg, v6, 1));

	assert_int_equal(nt_portal_config_find_resource(&cfg, "web"), 1);
	assert_int_equal(nt_portal_config_find_resource(&cfg, "Web"), -1);
	assert_int_equal(nt_portal_config_find_site(&cfg, "lab"), 1);
	assert_int_equal(nt_portal_config_find_client(&cfg, "carol"), 2);
	assert_int_equal(nt_portal_config_find_gateway(&cfg, "gw-office-1"), 0);
	assert_int_equal(nt_portal_config_client_by_token(&cfg, KA_TOKEN2, strlen(KA_TOKEN2)), 0);
	assert_int_equal(nt_portal_config_client_by_token(&cfg, KA_TOKEN, strlen(KA_TOKEN)), -1);
	assert_int_equal(nt_portal_config_gateway_by_token(&cfg, KA_TOKEN, strlen(KA_TOKEN)), 0);
	nt_portal_config_free(&cfg);
}

static void test_portal_defaults(void **state)
{
	struct nt_portal_config cfg;

	(void)state;
	parse_ok("", "/etc/notun/office.conf", &cfg);
	assert_int_equal(cfg.listen.ip.family, AF_INET);
	assert_int_equal(cfg.listen.ip.addr[0], 127);
	assert_int_equal(cfg.listen.ip.addr[3], 1);
	assert_int_equal(cfg.listen.port, 8443);
	assert_true(cfg.self_signed);
	assert_string_equal(cfg.certificate, "office.crt");
	assert_string_equal(cfg.key, "office.key");
	assert_string_equal(cfg.state, "office.state");
	assert_cidr(&cfg.client_v4, "100.64.0.0/11");
	assert_cidr(&cfg.client_v6, "fd00:6e74::/64");
	assert_int_equal(cfg.access_ttl, 8 * 3600);
	assert_int_equal(cfg.site_count + cfg.client_count + cfg.resource_count, 0);
	nt_portal_config_free(&cfg);

	parse_ok("[Portal]\nClientAddresses = 10.99.0.0/16\n", NULL, &cfg);
	assert_string_equal(cfg.state, "portal.state");
	assert_cidr(&cfg.client_v4, "10.99.0.0/16");
	assert_cidr(&cfg.client_v6, "fd00:6e74::/64");
	nt_portal_config_free(&cfg);
}

static void test_portal_access_ttl_units(void **state)
{
	static const struct {
		const char *text;
		uint32_t seconds;
	} ok[] = {{"30s", 30}, {"15m", 900},	    {"8h", 28800}, {"1d", 86400},
		  {"90", 90},  {"30D", 30 * 86400}, {"1s", 1}};
	struct nt_portal_config cfg;
	char text[64];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "[Portal]\nAccessTTL = %s\n", ok[i].text);
		parse_ok(text, "p.conf", &cfg);
		assert_int_equal(cfg.access_ttl, ok[i].seconds);
		nt_portal_config_free(&cfg);
	}
}

static void expect_portal_error(const char *text, const char *message)
{
	struct nt_portal_config cfg;
	struct nt_config_error err;
	int ret = nt_portal_config_parse(text, strlen(text), "p.conf", &cfg, &err);

	if (ret != -EINVAL)
		fail_msg("parsed, expected: %s", message);
	assert_string_equal(err.message, message);
	assert_int_equal(cfg.site_count + cfg.client_count + cfg.resource_count, 0);
	nt_portal_config_free(&cfg);
}

#define SITE   "[Site office]\n"
#define CLIENT "[Client alice]\nTokenHash = " H1 "\nGroups = eng\n"
/* Five lines: a site and a client; a resource below starts on line 6. */
#define BASE SITE CLIENT "[Site lab]\n"

static void test_portal_errors(void **state)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
	    /* sections */
	    {"[Site]\n", "p.conf:1: [Site] needs a name: [Site NAME]"},
	    {"[Portal main]\n", "p.conf:1: [Portal] takes no name"},
	    {"[Site of/fice]\n", "p.conf:1: 'of/fice' is not a name (1..64 of A-Z a-z 0-9 . _ -)"},
	    {"[Site aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n",
	     "p.conf:1: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' is "
	     "not a "
	     "name (1..64 of A-Z a-z 0-9 . _ -)"},
	    {SITE "[Site office]\n", "p.conf:2: a second [Site office] (the first is at line 1)"},
	    {"[Peer]\n", "p.conf:1: unknown section [Peer]"},
	    {"[Site s]\nFoo = 1\n", "p.conf:2: Foo: unknown key in [Site]"},
	    {"[Client c]\nSite = x\n", "p.conf:2: Site: belongs in [Gateway], not [Client]"},
	    /* [Portal] */
	    {"[Portal]\nListen = localhost:8443\n",
	     "p.conf:2: Listen: 'localhost:8443' is not ADDRESS:PORT or [IPv6]:PORT"},
	    {"[Portal]\nListen = 127.0.0.1:1\nListen = 127.0.0.1:2\n",
	     "p.conf:3: Listen: duplicate key (first set at line 2)"},
	    {"[Portal]\nCertificate = c.pem\n", "p.conf:2: Key: Certificate is set but Key is not"},
	    {"[Portal]\nKey = k.pem\n", "p.conf:2: Certificate: Key is set but Certificate is not"},
	    {"[Portal]\nClientAddresses = 100.64.0.1/11\n",
	     "p.conf:2: ClientAddresses: '100.64.0.1/11' has host bits set (the prefix's own "
	     "address ends in zeros)"},
	    {"[Portal]\nClientAddresses = 10.0.0.0/8, 11.0.0.0/8\n",
	     "p.conf:2: ClientAddresses: more than one IPv4 prefix"},
	    {"[Portal]\nClientAddresses = fd00::/64\nClientAddresses = fd01::/64\n",
	     "p.conf:3: ClientAddresses: more than one IPv6 prefix"},
	    {"[Portal]\nClientAddresses = 10.0.0.0/31\n",
	     "p.conf:2: ClientAddresses: '10.0.0.0/31' is too small: /30 at most"},
	    {"[Portal]\nClientAddresses = fd00::/121\n",
	     "p.conf:2: ClientAddresses: 'fd00::/121' is too small: /120 at most"},
	    {"[Portal]\nClientAddresses = office\n",
	     "p.conf:2: ClientAddresses: 'office' is not an IP prefix"},
	    {"[Portal]\nAccessTTL = 8x\n",
	     "p.conf:2: AccessTTL: '8x' is not a duration (30s, 15m, 8h, 1d)"},
	    {"[Portal]\nAccessTTL = h\n",
	     "p.conf:2: AccessTTL: 'h' is not a duration (30s, 15m, 8h, 1d)"},
	    {"[Portal]\nAccessTTL = 0s\n", "p.conf:2: AccessTTL: '0s' is out of range (1s..30d)"},
	    {"[Portal]\nAccessTTL = 31d\n", "p.conf:2: AccessTTL: '31d' is out of range (1s..30d)"},
	    {"[Portal]\nAccessTTL = 99999999999\n",
	     "p.conf:2: AccessTTL: '99999999999' is out of range (1s..30d)"},
	    /* [Gateway NAME] */
	    {"[Gateway g]\nTokenHash = " H2 "\n", "p.conf:1: Site: [Gateway g] has no Site"},
	    {SITE "[Gateway g]\nSite = office\n",
	     "p.conf:2: TokenHash: [Gateway g] has no TokenHash"},
	    {"[Gateway g]\nSite = nowhere\nTokenHash = " H2 "\n",
	     "p.conf:2: Site: 'nowhere' is not a [Site]"},
	    {"[Gateway g]\nSite = a b\n",
	     "p.conf:2: Site: 'a b' is not a site name (1..64 of A-Z a-z 0-9 . _ -)"},
	    {SITE CLIENT "[Gateway g]\nSite = office\nTokenHash = " H1 "\n",
	     "p.conf:2: TokenHash: the same TokenHash as [Gateway g]"},
	    /* [Client NAME] */
	    {"[Client c]\n", "p.conf:1: TokenHash: [Client c] has no TokenHash"},
	    {"[Client c]\nTokenHash = AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
	     "p.conf:2: TokenHash: 'AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' is not a "
	     "TokenHash "
	     "(44 base64 characters, as notun portal token prints)"},
	    {CLIENT "[Client bob]\nTokenHash = " H1 "\n",
	     "p.conf:4: TokenHash: the same TokenHash as [Client alice]"},
	    {"[Client c]\nTokenHash = " H1 "\nGroups = eng, eng\n",
	     "p.conf:3: Groups: 'eng' is listed twice"},
	    {"[Client c]\nTokenHash = " H1 "\nGroups = e/g\n",
	     "p.conf:3: Groups: 'e/g' is not a group name (1..64 of A-Z a-z 0-9 . _ -)"},
	    {"[Client c]\nTokenHash = " H1 "\nGroups = a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q\n",
	     "p.conf:3: Groups: more than 16 groups"},
	    {CLIENT "[Client eng]\nTokenHash = " H2 "\n",
	     "p.conf:4: 'eng' is both a client and a group"},
	    /* [Resource NAME] */
	    {BASE "[Resource r]\nSites = office\nAllow = alice\n",
	     "p.conf:6: Address: [Resource r] has no Address"},
	    {BASE "[Resource r]\nAddress = 10.0.0.0/8\nAllow = alice\n",
	     "p.conf:6: Sites: [Resource r] has no Sites"},
	    {BASE "[Resource r]\nAddress = 10.0.0.0/8\nSites = office\n",
	     "p.conf:6: Allow: [Resource r] has no Allow"},
	    /* found by fuzz_config: a list key set to nothing is not a value */
	    {BASE "[Resource r]\nAddress = 10.0.0.0/8\nSites = office\nAllow =\n",
	     "p.conf:6: Allow: [Resource r] has no Allow"},
	    {BASE "[Resource r]\nAddress = 10.0.0.0/8\nSites =\nAllow = alice\n",
	     "p.conf:6: Sites: [Resource r] has no Sites"},
	    {BASE "[Resource r]\nAddress = 10.0.0.1/8\n",
	     "p.conf:7: Address: '10.0.0.1/8' has host bits set (the prefix's own address ends in "
	     "zeros)"},
	    {BASE "[Resource r]\nAddress = 10.0.0.300\n",
	     "p.conf:7: Address: '10.0.0.300' is not an IP prefix"},
	    {BASE "[Resource r]\nAddress = **\n",
	     "p.conf:7: Address: '**' is not an IP prefix or a DNS name pattern (db.corp.internal, "
	     "*.corp.internal, **.corp.internal, db?.corp.internal)"},
	    {BASE "[Resource r]\nAddress = *.*.corp\n",
	     "p.conf:7: Address: '*.*.corp' is not an IP prefix or a DNS name pattern "
	     "(db.corp.internal, *.corp.internal, **.corp.internal, db?.corp.internal)"},
	    {BASE "[Resource r]\nAddress = db*.corp\n",
	     "p.conf:7: Address: 'db*.corp' is not an IP prefix or a DNS name pattern "
	     "(db.corp.internal, *.corp.internal, **.corp.internal, db?.corp.internal)"},
	    {BASE "[Resource r]\nAddress = a..corp\n",
	     "p.conf:7: Address: 'a..corp' is not an IP prefix or a DNS name pattern "
	     "(db.corp.internal, *.corp.internal, **.corp.internal, db?.corp.internal)"},
	    {BASE "[Resource r]\nFilters = sctp\n",
	     "p.conf:7: Filters: 'sctp' is not tcp[:PORTS], udp[:PORTS] or icmp"},
	    {BASE "[Resource r]\nFilters = icmp:8\n",
	     "p.conf:7: Filters: 'icmp:8' is not tcp[:PORTS], udp[:PORTS] or icmp"},
	    {BASE "[Resource r]\nFilters = tcp:0\n",
	     "p.conf:7: Filters: '0' is not a port or port range (1..65535)"},
	    {BASE "[Resource r]\nFilters = udp:9-8\n",
	     "p.conf:7: Filters: '9-8' is an empty port range"},
	    {BASE "[Resource r]\nFilters = tcp:1,tcp:2,tcp:3,tcp:4,tcp:5,tcp:6,tcp:7,tcp:8,tcp:9,"
		  "tcp:10,tcp:11,tcp:12,tcp:13,tcp:14,tcp:15,tcp:16,tcp:17\n",
	     "p.conf:7: Filters: more than 16 filters"},
	    {BASE "[Resource r]\nAddress = 10.0.0.0/8\nSites = office, elsewhere\nAllow = alice\n",
	     "p.conf:8: Sites: 'elsewhere' is not a [Site]"},
	    {BASE "[Resource r]\nAddress = 10.0.0.0/8\nSites = office\nSites = office\nAllow = "
		  "alice\n",
	     "p.conf:9: Sites: 'office' is listed twice"},
	    {BASE "[Resource r]\nAddress = 10.0.0.0/8\nSites = office\nAllow = alice, mallory\n",
	     "p.conf:9: Allow: 'mallory' is neither a [Client] nor a group of one"},
	    {BASE "[Resource r]\nAddress = 10.0.0.0/8\nSites = office\nAllow = eng, eng\n",
	     "p.conf:9: Allow: 'eng' is listed twice"},
	    {BASE "[Resource r]\nAllow = al ice\n",
	     "p.conf:7: Allow: 'al ice' is not a client or group name (1..64 of A-Z a-z 0-9 . _ "
	     "-)"},
	    {BASE "[Resource r]\nAddress = 10.0.0.0/8\nAddress = 10.0.0.0/9\n",
	     "p.conf:8: Address: duplicate key (first set at line 7)"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_portal_error(cases[i].text, cases[i].message);
}

/* A later reference to a name defined further down resolves. */
static void test_portal_forward_references(void **state)
{
	struct nt_portal_config cfg;

	(void)state;
	parse_ok("[Resource r]\nAddress = db?.x.internal\nSites = s\nAllow = late\n"
		 "[Gateway g]\nSite = s\nTokenHash = " H3 "\n"
		 "[Client late]\nTokenHash = " H1 "\n[Site s]\n",
		 "p.conf", &cfg);
	assert_int_equal(cfg.resources[0].sites[0], 0);
	assert_false(cfg.resources[0].allow[0].is_group);
	assert_string_equal(cfg.resources[0].pattern, "db?.x.internal");
	nt_portal_config_free(&cfg);
}

static void test_portal_section_limit(void **state)
{
	size_t n = NT_PORTAL_MAX_SITES + 1, len = 0;
	char *text = malloc(n * 16 + 1), want[96];

	(void)state;
	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "[Site s%zu]\n", i);
	snprintf(want, sizeof(want), "p.conf:%zu: more than %d sites", n, NT_PORTAL_MAX_SITES);
	expect_portal_error(text, want);
	free(text);
}

/* ---- the gateway's [Portal] ---- */

static void gw_parse_ok(const char *text, struct nt_config *cfg)
{
	struct nt_config_error err;
	int ret = nt_config_parse(text, strlen(text), "gw.conf", cfg, &err);

	if (ret)
		fail_msg("unexpected error: %s", err.message);
}

static void test_gateway_portal_every_key(void **state)
{
	struct nt_config cfg, again;
	struct nt_config_error err;
	char out[2048];
	uint8_t want[32];

	(void)state;
	gw_parse_ok(GW_IFACE "[Portal]\n"
			     "URL = wss://portal.example.com:8443/base/\n"
			     "Token = " KA_TOKEN "\n"
			     "Fingerprint = SHA256:eIMbIorQrXv6VVs8PNv4Hm9N3RkzzSSzkHwIlWRuTFU\n"
			     "Advertise = 192.0.2.7:51820\n"
			     "GiveUpAfter = 2h\n",
		    &cfg);
	assert_int_equal(cfg.portal.line, 4);
	assert_int_equal(cfg.portal.give_up_after_s, 7200);
	assert_true(cfg.portal.tls);
	assert_string_equal(cfg.portal.host, "portal.example.com");
	assert_int_equal(cfg.portal.port, 8443);
	assert_string_equal(cfg.portal.path, "/base");
	assert_string_equal(cfg.portal.token, KA_TOKEN);
	assert_true(cfg.portal.has_fingerprint);
	assert_int_equal(nt_token_hash_from_base64(want, KA_HASH, 44), 0);
	assert_memory_equal(cfg.portal.fingerprint, want, 32);
	assert_true(cfg.portal.has_advertise);
	assert_string_equal(cfg.portal.advertise.host, "192.0.2.7");
	assert_int_equal(cfg.portal.advertise.port, 51820);
	/* A portal gateway needs no [Peer] and no Allow rule. */
	assert_int_equal(nt_config_validate_gateway(&cfg, &err), 0);
	assert_int_equal(nt_config_validate_client(&cfg, &err), -EINVAL);
	assert_string_equal(err.message,
			    "gw.conf:4: Advertise: Advertise is for a gateway, not a client");
	/* Written back, it parses to the same. */
	assert_int_equal(nt_config_format(&cfg, out, sizeof(out), NULL), 0);
	gw_parse_ok(out, &again);
	assert_string_equal(again.portal.url, cfg.portal.url);
	assert_string_equal(again.portal.token, KA_TOKEN);
	assert_memory_equal(again.portal.fingerprint, want, 32);
	assert_int_equal(again.portal.advertise.port, 51820);
	assert_int_equal(again.portal.give_up_after_s, 7200);
	nt_config_free(&again);
	nt_config_free(&cfg);

	/* A portal client: no PrivateKey, Address or [Peer]; a client token. */
	gw_parse_ok("[Interface]\n[Portal]\nURL = wss://127.0.0.1\nToken = " KA_TOKEN2 "\n", &cfg);
	assert_false(cfg.has_private_key);
	assert_int_equal(nt_config_validate_client(&cfg, &err), 0);
	assert_int_equal(nt_config_validate_gateway(&cfg, &err), -EINVAL);
	assert_int_equal(nt_config_format(&cfg, out, sizeof(out), NULL), 0);
	assert_null(strstr(out, "PrivateKey"));
	nt_config_free(&cfg);
	gw_parse_ok("[Interface]\n[Portal]\nURL = wss://127.0.0.1\nToken = " KA_TOKEN "\n", &cfg);
	assert_int_equal(nt_config_validate_client(&cfg, &err), -EINVAL);
	assert_string_equal(err.message, "gw.conf:4: Token: a client needs a client token "
					 "(ntc_...: notun portal token client)");
	nt_config_free(&cfg);

	gw_parse_ok(GW_IFACE "[Portal]\nURL = wss://[2001:db8::1]\nTokenFile = gw.token\n"
			     "CA = ca.pem\nAdvertise = gw.example.com:51820\n",
		    &cfg);
	assert_string_equal(cfg.portal.host, "2001:db8::1");
	assert_int_equal(cfg.portal.port, 443);
	assert_string_equal(cfg.portal.path, "");
	assert_string_equal(cfg.portal.token_file, "gw.token");
	assert_string_equal(cfg.portal.token, "");
	assert_string_equal(cfg.portal.ca_file, "ca.pem");
	assert_string_equal(cfg.portal.advertise.host, "gw.example.com");
	assert_int_equal(cfg.portal.give_up_after_s, 0); /* never */
	nt_config_free(&cfg);

	gw_parse_ok(GW_IFACE "[Portal]\nURL = ws://127.0.0.1\nToken = " KA_TOKEN "\n", &cfg);
	assert_false(cfg.portal.tls);
	assert_int_equal(cfg.portal.port, 80);
	nt_config_free(&cfg);
	gw_parse_ok(GW_IFACE "[Portal]\nURL = ws://[::1]:4000/\nToken = " KA_TOKEN "\n", &cfg);
	assert_int_equal(cfg.portal.port, 4000);
	nt_config_free(&cfg);
}

static void expect_gw_error(const char *text, const char *message)
{
	struct nt_config cfg;
	struct nt_config_error err;
	int ret = nt_config_parse(text, strlen(text), "gw.conf", &cfg, &err);

	if (ret == 0) {
		ret = nt_config_validate_gateway(&cfg, &err);
		nt_config_free(&cfg);
	}
	if (ret != -EINVAL)
		fail_msg("accepted, expected: %s", message);
	assert_string_equal(err.message, message);
	/* The token is a credential: never in a message. */
	assert_null(strstr(err.message, "AAECAwQFBgcICQoL"));
}

#define PORTAL_URL GW_IFACE "[Portal]\nURL = "
#define TOKEN_LINE "\nToken = " KA_TOKEN "\n"

static void test_gateway_portal_errors(void **state)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
	    {PORTAL_URL "https://p.example.com" TOKEN_LINE,
	     "gw.conf:5: URL: 'https://p.example.com' is not a wss:// (or loopback ws://) URL"},
	    {PORTAL_URL "ws://10.0.0.1:80" TOKEN_LINE,
	     "gw.conf:5: URL: 'ws://10.0.0.1:80': ws:// only to a loopback address; use wss://"},
	    {PORTAL_URL "ws://localhost" TOKEN_LINE,
	     "gw.conf:5: URL: 'ws://localhost': ws:// only to a loopback address; use wss://"},
	    {PORTAL_URL "wss://p.example.com:0" TOKEN_LINE,
	     "gw.conf:5: URL: 'wss://p.example.com:0' has no valid port (1..65535)"},
	    {PORTAL_URL "wss://user@p.example.com" TOKEN_LINE,
	     "gw.conf:5: URL: 'wss://user@p.example.com': no user, query or fragment in the URL"},
	    {PORTAL_URL "wss://p.example.com/?a=b" TOKEN_LINE,
	     "gw.conf:5: URL: 'wss://p.example.com/?a=b': no user, query or fragment in the URL"},
	    {PORTAL_URL "wss://p.example.com/a%20b" TOKEN_LINE,
	     "gw.conf:5: URL: 'wss://p.example.com/a%20b' has an invalid path"},
	    {PORTAL_URL "wss://[10.0.0.1]" TOKEN_LINE,
	     "gw.conf:5: URL: 'wss://[10.0.0.1]': only IPv6 addresses go in brackets"},
	    {PORTAL_URL "wss://fd00::1" TOKEN_LINE,
	     "gw.conf:5: URL: 'wss://fd00::1': an IPv6 host needs brackets"},
	    {PORTAL_URL "wss://" TOKEN_LINE, "gw.conf:5: URL: 'wss://' has no host"},
	    {PORTAL_URL "wss://bad_host!" TOKEN_LINE,
	     "gw.conf:5: URL: 'wss://bad_host!' has no valid host"},
	    {GW_IFACE "[Portal]\nToken = " KA_TOKEN "\n", "gw.conf:4: URL: [Portal] has no URL"},
	    {PORTAL_URL "wss://p\n", "gw.conf:4: Token: [Portal] needs Token or TokenFile"},
	    {PORTAL_URL "wss://p" TOKEN_LINE "TokenFile = t\n",
	     "gw.conf:7: TokenFile: Token and TokenFile are both set; keep one"},
	    {PORTAL_URL "wss://p" TOKEN_LINE "CA = a\nFingerprint = SHA256:" KA_HASH "\n",
	     "gw.conf:8: Fingerprint: CA and Fingerprint are both set; keep one"},
	    {PORTAL_URL "wss://p\nToken = ntg_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh\n",
	     "gw.conf:6: Token: not a token (ntc_ or ntg_ and 43 base64url characters, as notun "
	     "portal token prints)"},
	    {PORTAL_URL "wss://p\nToken = " KA_TOKEN2 "\n",
	     "gw.conf:6: Token: a gateway needs a gateway token (ntg_...: notun portal token "
	     "gateway)"},
	    {PORTAL_URL "wss://p" TOKEN_LINE "Fingerprint = MD5:" KA_HASH "\n",
	     "gw.conf:7: Fingerprint: 'MD5:" KA_HASH
	     "' is not SHA256:BASE64 (a SHA-256 certificate fingerprint)"},
	    {PORTAL_URL "wss://p" TOKEN_LINE "Fingerprint = SHA256:abc\n",
	     "gw.conf:7: Fingerprint: 'SHA256:abc' is not SHA256:BASE64 (a SHA-256 certificate "
	     "fingerprint)"},
	    {PORTAL_URL "wss://p" TOKEN_LINE "Advertise = 192.0.2.1\n",
	     "gw.conf:7: Advertise: '192.0.2.1' has no port (HOST:PORT or [IPv6]:PORT)"},
	    {PORTAL_URL "wss://p" TOKEN_LINE "GiveUpAfter = soon\n",
	     "gw.conf:7: GiveUpAfter: 'soon' is not a duration (30s, 15m, 8h, 1d)"},
	    {PORTAL_URL "wss://p" TOKEN_LINE "GiveUpAfter = 0\n",
	     "gw.conf:7: GiveUpAfter: '0' is out of range (1s..30d)"},
	    {PORTAL_URL "wss://p" TOKEN_LINE "GiveUpAfter = 31d\n",
	     "gw.conf:7: GiveUpAfter: '31d' is out of range (1s..30d)"},
	    {PORTAL_URL "wss://p" TOKEN_LINE "URL = wss://q\n",
	     "gw.conf:7: URL: duplicate key (first set at line 5)"},
	    {GW_IFACE "[Portal x]\n", "gw.conf:4: [Portal] takes no name"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_gw_error(cases[i].text, cases[i].message);
}

/* ---- loading: TokenFile, relative paths ---- */

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_gateway_portal_token_file(void **state)
{
	char dir[] = "/tmp/nt_portal_cfg_XXXXXX", conf[64], tok[64];
	struct nt_config cfg;
	struct nt_config_error err;
	bool exposed;
	unsigned int mode;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/gw.conf", dir);
	snprintf(tok, sizeof(tok), "%s/gw.token", dir);
	write_file(conf, GW_IFACE "[Portal]\nURL = wss://p\nTokenFile = gw.token\nCA = ca.pem\n",
		   0600);

	/* Private token file: read, no warning; relative names beside the config. */
	write_file(tok, "  " KA_TOKEN "\n", 0600);
	assert_int_equal(nt_config_load(conf, &cfg, &err, &exposed, &mode), 0);
	assert_string_equal(cfg.portal.token, KA_TOKEN);
	assert_string_equal(cfg.portal.token_file, tok);
	assert_true(strncmp(cfg.portal.ca_file, dir, strlen(dir)) == 0);
	assert_string_equal(cfg.portal.ca_file + strlen(dir), "/ca.pem");
	assert_int_equal(cfg.warning_count, 0);
	assert_int_equal(nt_config_validate_gateway(&cfg, &err), 0);
	nt_config_free(&cfg);

	/* Readable by others: a warning naming the file and its mode. */
	assert_int_equal(chmod(tok, 0644), 0);
	assert_int_equal(nt_config_load(conf, &cfg, &err, &exposed, &mode), 0);
	assert_int_equal(cfg.warning_count, 1);
	assert_string_equal(cfg.warnings[0].key, "TokenFile");
	assert_non_null(strstr(cfg.warnings[0].message, "is readable by group or others (mode "
							"0644); chmod 600"));
	assert_true(strncmp(cfg.warnings[0].message, conf, strlen(conf)) == 0);
	nt_config_free(&cfg);

	/* Not a token. */
	write_file(tok, "hello\n", 0600);
	assert_int_equal(nt_config_load(conf, &cfg, &err, &exposed, &mode), -EINVAL);
	assert_non_null(strstr(err.message, ":6: TokenFile: "));
	assert_non_null(strstr(err.message, "does not hold a token"));

	/* Missing. */
	assert_int_equal(unlink(tok), 0);
	assert_int_equal(nt_config_load(conf, &cfg, &err, &exposed, &mode), -EINVAL);
	assert_non_null(strstr(err.message, ":6: TokenFile: cannot read "));
	assert_non_null(strstr(err.message, "No such file or directory"));

	/* An inline token makes the configuration itself secret. */
	write_file(conf, GW_IFACE "[Portal]\nURL = wss://p\nToken = " KA_TOKEN "\n", 0644);
	assert_int_equal(nt_config_load(conf, &cfg, &err, &exposed, &mode), 0);
	assert_true(exposed);
	nt_config_free(&cfg);

	assert_int_equal(unlink(conf), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_portal_load_resolves_paths(void **state)
{
	char dir[] = "/tmp/nt_portal_cfg_XXXXXX", conf[64], want[160];
	struct nt_portal_config cfg;
	struct nt_config_error err;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/main.conf", dir);
	write_file(conf, "[Portal]\nState = /abs/main.state\n", 0644);
	assert_int_equal(nt_portal_config_load(conf, &cfg, &err), 0);
	snprintf(want, sizeof(want), "%s/main.crt", dir);
	assert_string_equal(cfg.certificate, want);
	snprintf(want, sizeof(want), "%s/main.key", dir);
	assert_string_equal(cfg.key, want);
	assert_string_equal(cfg.state, "/abs/main.state");
	nt_portal_config_free(&cfg);

	write_file(conf, "[Site x]\n[Site x]\n", 0644);
	assert_int_equal(nt_portal_config_load(conf, &cfg, &err), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: a second [Site x] (the first is at line 1)", conf);
	assert_string_equal(err.message, want);
	assert_int_equal(unlink(conf), 0);
	assert_int_equal(nt_portal_config_load(conf, &cfg, &err), -ENOENT);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_known_answer),
	    cmocka_unit_test(test_token_check_rejects_malformed),
	    cmocka_unit_test(test_token_hash_base64),
	    cmocka_unit_test(test_token_find_every_position),
	    cmocka_unit_test(test_portal_every_key_parsed),
	    cmocka_unit_test(test_portal_defaults),
	    cmocka_unit_test(test_portal_access_ttl_units),
	    cmocka_unit_test(test_portal_errors),
	    cmocka_unit_test(test_portal_forward_references),
	    cmocka_unit_test(test_portal_section_limit),
	    cmocka_unit_test(test_gateway_portal_every_key),
	    cmocka_unit_test(test_gateway_portal_errors),
	    cmocka_unit_test(test_gateway_portal_token_file),
	    cmocka_unit_test(test_portal_load_resolves_paths),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
