// SPDX-License-Identifier: MIT
/* core/config/config_reload.c: what a reload takes, what needs a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/config/config.h"

#define PRIV1 "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
#define PRIV2 "XasIfmJKikt54X+Lg4AO5m87sSkmGLb9HC+LJ/+I4Os="
#define KEY1  "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define KEY2  "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
#define PSK   "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="

#define BASE                                                                                       \
	"[Interface]\nPrivateKey = " PRIV1 "\nAddress = 10.0.0.2/32\n"                             \
	"[Peer]\nPublicKey = " KEY1 "\nEndpoint = 192.0.2.1:51820\nAllowedIPs = 10.0.0.0/24\n"     \
	"[Proxy]\nListen = 127.0.0.1:1080\nUsername = u\nPassword = old\n"

static int setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

static void parse(const char *text, struct nt_config *cfg)
{
	struct nt_config_error err;

	assert_int_equal(nt_config_parse(text, strlen(text), "t.conf", cfg, &err), 0);
}

/* The keys nt_config_restart_keys names between BASE and text. */
static size_t restart_keys(const char *text, char *keys, size_t cap)
{
	struct nt_config run, next;
	size_t n;

	parse(BASE, &run);
	parse(text, &next);
	n = nt_config_restart_keys(&run, &next, keys, cap);
	nt_config_free(&run);
	nt_config_free(&next);
	return n;
}

static void test_reloadable_changes_need_no_restart(void **state)
{
	char keys[128];

	(void)state;
	assert_int_equal(restart_keys(BASE, keys, sizeof(keys)), 0);
	assert_string_equal(keys, "");
	/* A new password, bypass, peer and a changed peer: all taken live. */
	assert_int_equal(
	    restart_keys("[Interface]\nPrivateKey = " PRIV1 "\nAddress = 10.0.0.2/32\n"
			 "[Peer]\nPublicKey = " KEY1 "\nPresharedKey = " PSK
			 "\nEndpoint = 192.0.2.9:51820\nAllowedIPs = 10.0.1.0/24\n"
			 "PersistentKeepalive = 25\n"
			 "[Peer]\nPublicKey = " KEY2 "\nEndpoint = 192.0.2.2:51820\nAllowedIPs = "
			 "10.0.2.0/24\n"
			 "[Proxy]\nListen = 127.0.0.1:1080\nUsername = u\nPassword = new\n"
			 "Bypass = reject\n",
			 keys, sizeof(keys)),
	    0);
}

static void test_restart_keys_are_named(void **state)
{
	char keys[128];

	(void)state;
	assert_int_equal(
	    restart_keys("[Interface]\nPrivateKey = " PRIV2 "\nAddress = 10.0.0.3/32\nMTU = 1380\n"
			 "[Peer]\nPublicKey = " KEY1 "\nEndpoint = 192.0.2.1:51820\nAllowedIPs = "
			 "10.0.0.0/24\n"
			 "[Proxy]\nListen = 127.0.0.1:1081\nUsername = u\nPassword = old\n"
			 "ConnectTimeout = 5\n",
			 keys, sizeof(keys)),
	    5);
	assert_string_equal(keys, "PrivateKey,Address,MTU,Listen,ConnectTimeout");
}

static void test_take_reloadable_swaps_peers_and_credentials(void **state)
{
	struct nt_config run, next;
	uint8_t key2[NT_KEY_LEN];

	(void)state;
	parse(BASE, &run);
	parse("[Interface]\nPrivateKey = " PRIV1 "\nAddress = 10.0.0.2/32\n"
	      "[Peer]\nPublicKey = " KEY2 "\nEndpoint = 192.0.2.2:51820\nAllowedIPs = 10.0.2.0/24\n"
	      "[Proxy]\nListen = 127.0.0.1:1081\nPassword = new\nUsername = v\nBypass = reject\n",
	      &next);
	nt_config_take_reloadable(&run, &next);
	memset(key2, 2, sizeof(key2));
	assert_int_equal(run.peer_count, 1);
	assert_non_null(nt_config_peer_find(&run, key2));
	assert_null(nt_config_peer_find(&next, key2));
	assert_string_equal(run.username, "v");
	assert_string_equal(run.password, "new");
	assert_string_equal(next.password, "old");
	assert_int_equal(run.bypass, NT_CONFIG_BYPASS_REJECT);
	/* A restart key stays as it runs. */
	assert_int_equal(run.listen[0].port, 1080);
	nt_config_free(&run);
	nt_config_free(&next);
}

static void test_peer_same_tunnel(void **state)
{
	struct nt_config a, b;

	(void)state;
	parse(BASE, &a);
	parse(BASE, &b);
	assert_true(nt_config_peer_same_tunnel(&a.peers[0], &b.peers[0]));
	b.peers[0].persistent_keepalive = 25;
	assert_false(nt_config_peer_same_tunnel(&a.peers[0], &b.peers[0]));
	b.peers[0].persistent_keepalive = 0;
	b.peers[0].allowed_ips[0].prefix_len = 16;
	assert_false(nt_config_peer_same_tunnel(&a.peers[0], &b.peers[0]));
	nt_config_free(&a);
	nt_config_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reloadable_changes_need_no_restart),
	    cmocka_unit_test(test_restart_keys_are_named),
	    cmocka_unit_test(test_take_reloadable_swaps_peers_and_credentials),
	    cmocka_unit_test(test_peer_same_tunnel),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
