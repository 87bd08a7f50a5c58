// SPDX-License-Identifier: MIT
/* core/portal/portal_from_config.c: a parsed portal.conf as the portal's
 * model (names, token hashes, resources on the wire with Allow lists), and
 * that the model it makes passes the portal's own checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/config/portal_config.h"
#include "core/config/token.h"
#include "core/portal/portal_from_config.h"

#define H1 "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define H2 "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define H3 "AwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

static const char conf[] = "[Portal]\n"
			   "ClientAddresses = 100.64.0.0/16, fd00:6e74::/64\n"
			   "AccessTTL = 2h\n"
			   "[Site office]\n"
			   "[Site lab]\n"
			   "[Gateway gw-lab]\n"
			   "Site = lab\n"
			   "TokenHash = " H1 "\n"
			   "[Client alice]\n"
			   "TokenHash = " H2 "\n"
			   "Groups = eng, ops\n"
			   "[Client bob]\n"
			   "TokenHash = " H3 "\n"
			   "[Resource db]\n"
			   "Address = 10.20.0.0/24\n"
			   "Filters = tcp:5432, udp:53-54, icmp\n"
			   "Sites = office, lab\n"
			   "Allow = ops, bob\n"
			   "[Resource wiki]\n"
			   "Address = *.corp.internal\n"
			   "Sites = lab\n"
			   "Allow = eng\n";

static void parse(const char *text, struct nt_portal_config *cfg)
{
	struct nt_config_error err;

	if (nt_portal_config_parse(text, strlen(text), "portal.conf", cfg, &err))
		fail_msg("unexpected error: %s", err.message);
}

static void assert_hash(const uint8_t *h, const char *b64)
{
	uint8_t want[NT_TOKEN_HASH_LEN];

	assert_int_equal(nt_token_hash_from_base64(want, b64, strlen(b64)), 0);
	assert_memory_equal(h, want, sizeof(want));
}

static void test_every_field(void **state)
{
	struct nt_portal_config cfg;
	struct nt_portal_model_owned own;
	const struct nt_portal_model *m = &own.model;
	const struct nt_portal_resource *db, *wiki;
	char err[256] = "";

	(void)state;
	parse(conf, &cfg);
	assert_int_equal(nt_portal_model_from_config(&cfg, &own, err, sizeof(err)), 0);
	assert_int_equal(m->pool4.family, AF_INET);
	assert_int_equal(m->pool4.prefix_len, 16);
	assert_int_equal(m->pool6.family, AF_INET6);
	assert_int_equal(m->access_ttl_s, 7200);

	assert_int_equal(m->n_sites, 2);
	assert_string_equal(m->sites[1].id, "lab");
	assert_string_equal(m->sites[1].name, "lab");
	assert_int_equal(m->n_gateways, 1);
	assert_string_equal(m->gateways[0].name, "gw-lab");
	assert_string_equal(m->gateways[0].site, "lab");
	assert_hash(m->gateways[0].token_hash, H1);

	assert_int_equal(m->n_clients, 2);
	assert_string_equal(m->clients[0].name, "alice");
	assert_hash(m->clients[0].token_hash, H2);
	assert_int_equal(m->clients[0].n_groups, 2);
	assert_string_equal(m->clients[0].groups[0], "eng");
	assert_string_equal(m->clients[0].groups[1], "ops");
	assert_int_equal(m->clients[1].n_groups, 0);
	assert_hash(m->clients[1].token_hash, H3);

	assert_int_equal(m->n_resources, 2);
	db = &m->resources[0];
	assert_string_equal(db->res.id, "db");
	assert_string_equal(db->res.name, "db");
	assert_int_equal(db->res.type, NT_PMSG_RES_CIDR);
	assert_string_equal(db->res.address, "10.20.0.0/24");
	assert_int_equal(db->res.cidr.prefix_len, 24);
	assert_int_equal(db->res.n_filters, 3);
	assert_int_equal(db->res.filters[0].proto, NT_PMSG_TCP);
	assert_int_equal(db->res.filters[0].port_start, 5432);
	assert_int_equal(db->res.filters[0].port_end, 5432);
	assert_int_equal(db->res.filters[1].proto, NT_PMSG_UDP);
	assert_int_equal(db->res.filters[1].port_start, 53);
	assert_int_equal(db->res.filters[1].port_end, 54);
	assert_int_equal(db->res.filters[2].proto, NT_PMSG_ICMP);
	assert_int_equal(db->res.filters[2].port_start, 0);
	assert_int_equal(db->res.filters[2].port_end, 65535);
	assert_int_equal(db->res.n_sites, 2);
	assert_string_equal(db->res.sites[0].id, "office");
	assert_string_equal(db->res.sites[1].name, "lab");
	assert_int_equal(db->n_allow, 2);
	assert_string_equal(db->allow[0], "ops");
	assert_string_equal(db->allow[1], "bob");

	wiki = &m->resources[1];
	assert_int_equal(wiki->res.type, NT_PMSG_RES_DNS);
	assert_string_equal(wiki->res.address, "*.corp.internal");
	assert_int_equal(wiki->res.n_filters, 0);
	assert_int_equal(wiki->n_allow, 1);
	assert_string_equal(wiki->allow[0], "eng");

	assert_int_equal(nt_portal_model_check(m, err, sizeof(err)), 0);
	nt_portal_model_owned_free(&own);
	assert_null(own.resources);
	nt_portal_config_free(&cfg);
}

/* An empty configuration (only defaults) is a valid, empty model. */
static void test_empty(void **state)
{
	struct nt_portal_config cfg;
	struct nt_portal_model_owned own;
	char err[256] = "";

	(void)state;
	parse("[Portal]\n", &cfg);
	assert_int_equal(nt_portal_model_from_config(&cfg, &own, err, sizeof(err)), 0);
	assert_int_equal(own.model.n_resources, 0);
	assert_int_equal(own.model.access_ttl_s, NT_PORTAL_DEFAULT_ACCESS_TTL);
	assert_int_equal(nt_portal_model_check(&own.model, err, sizeof(err)), 0);
	nt_portal_model_owned_free(&own);
	nt_portal_config_free(&cfg);
}

/* The file allows more Sites per resource than the wire carries: refused
 * with the resource's file and line. */
static void test_too_many_sites(void **state)
{
	char text[2048], *p = text;
	struct nt_portal_config cfg;
	struct nt_portal_model_owned own;
	char err[256] = "";

	(void)state;
	for (int i = 0; i <= NT_PMSG_SITES_MAX; i++)
		p += sprintf(p, "[Site s%d]\n", i);
	p += sprintf(p, "[Client c]\nTokenHash = " H2 "\n[Resource big]\nAddress = 10.0.0.1\n"
			"Allow = c\nSites = s0");
	for (int i = 1; i <= NT_PMSG_SITES_MAX; i++)
		p += sprintf(p, ", s%d", i);
	sprintf(p, "\n");
	parse(text, &cfg);
	assert_int_equal(nt_portal_model_from_config(&cfg, &own, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "portal.conf:12: resource big"));
	assert_null(own.sites);
	nt_portal_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_field),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_too_many_sites),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
