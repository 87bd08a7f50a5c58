// SPDX-License-Identifier: MIT
/* core/engine/own_listen: which destinations are the proxy's own listeners, the
 * check that keeps a request naming the proxy from looping back into it.
 * The host's addresses come from a stand-in that records being asked. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/engine/own_listen.h"
#include "platform/sockaddr.h"

#define PORT 1080

static int host_asked;

/* The host's only non-loopback addresses: 192.0.2.7 and 2001:db8::7. */
static bool fake_host_has(int family, const uint8_t *addr)
{
	uint8_t want[16];

	host_asked++;
	inet_pton(family, family == AF_INET ? "192.0.2.7" : "2001:db8::7", want);
	return memcmp(addr, want, family == AF_INET ? 4 : 16) == 0;
}

static void listener(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	uint8_t a[16];
	int family = strchr(ip, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(family, ip, a), 1);
	assert_true(nt_sockaddr_set(ss, family, a, port) > 0);
}

static bool own(const struct sockaddr_storage *ls, size_t n, const char *ip, uint16_t port)
{
	uint8_t a[16];
	int family = strchr(ip, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(family, ip, a), 1);
	return nt_own_listener(ls, n, family, a, port, fake_host_has);
}

static void test_own_specific_listener_is_its_address_and_port_only(void **state)
{
	struct sockaddr_storage ls[1];

	(void)state;
	listener(&ls[0], "127.0.0.1", PORT);
	host_asked = 0;
	assert_true(own(ls, 1, "127.0.0.1", PORT));
	assert_true(own(ls, 1, "::ffff:127.0.0.1", PORT)); /* mapped: the same socket */
	assert_true(own(ls, 1, "0.0.0.0", PORT));	   /* the kernel takes it as 127.0.0.1 */
	assert_false(own(ls, 1, "127.0.0.1", PORT + 1));
	assert_false(own(ls, 1, "127.0.0.2", PORT)); /* bound to .1: .2 does not reach it */
	assert_false(own(ls, 1, "192.0.2.7", PORT));
	assert_false(own(ls, 1, "::1", PORT)); /* an IPv4 listener: not over IPv6 */
	assert_int_equal(host_asked, 0);
}

static void test_own_wildcard_listener_is_every_host_address(void **state)
{
	struct sockaddr_storage ls[2];

	(void)state;
	listener(&ls[0], "0.0.0.0", PORT);
	listener(&ls[1], "::", PORT + 1);
	host_asked = 0;
	assert_true(own(ls, 2, "127.0.0.1", PORT));
	assert_true(own(ls, 2, "127.9.8.7", PORT)); /* all of 127/8 is the host's */
	assert_int_equal(host_asked, 0);	    /* loopback needs no interface list */
	assert_true(own(ls, 2, "192.0.2.7", PORT));
	assert_true(own(ls, 2, "::ffff:192.0.2.7", PORT));
	assert_false(own(ls, 2, "192.0.2.8", PORT)); /* another host */
	assert_true(own(ls, 2, "::1", PORT + 1));
	assert_true(own(ls, 2, "::", PORT + 1));
	assert_true(own(ls, 2, "2001:db8::7", PORT + 1));
	assert_false(own(ls, 2, "2001:db8::8", PORT + 1));
	/* The IPv6 wildcard is IPv6 only; the IPv4 one takes no IPv6. */
	assert_false(own(ls, 2, "127.0.0.1", PORT + 1));
	assert_false(own(ls, 2, "::1", PORT));
}

static void test_own_interface_list_asked_only_for_a_wildcard_port(void **state)
{
	struct sockaddr_storage ls[2];

	(void)state;
	listener(&ls[0], "0.0.0.0", PORT);
	listener(&ls[1], "10.1.2.3", PORT + 1);
	host_asked = 0;
	assert_false(own(ls, 2, "192.0.2.7", 443));
	assert_false(own(ls, 2, "192.0.2.7", PORT + 1));
	assert_true(own(ls, 2, "10.1.2.3", PORT + 1));
	assert_int_equal(host_asked, 0);
	assert_false(own(ls, 0, "127.0.0.1", PORT)); /* no listener told: nothing is ours */
}

static void test_own_unknown_family_is_not_ours(void **state)
{
	struct sockaddr_storage ls[1];
	uint8_t a[16] = {0};

	(void)state;
	listener(&ls[0], "0.0.0.0", PORT);
	assert_false(nt_own_listener(ls, 1, AF_UNIX, a, PORT, fake_host_has));
}

static void test_own_host_has_its_loopback_and_not_a_documentation_address(void **state)
{
	uint8_t lo[4] = {127, 0, 0, 1}, doc[4] = {192, 0, 2, 255};

	(void)state;
	assert_true(nt_own_host_has(AF_INET, lo));
	assert_false(nt_own_host_has(AF_INET, doc));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_own_specific_listener_is_its_address_and_port_only),
	    cmocka_unit_test(test_own_wildcard_listener_is_every_host_address),
	    cmocka_unit_test(test_own_interface_list_asked_only_for_a_wildcard_port),
	    cmocka_unit_test(test_own_unknown_family_is_not_ours),
	    cmocka_unit_test(test_own_host_has_its_loopback_and_not_a_documentation_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
