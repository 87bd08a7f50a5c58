// SPDX-License-Identifier: MIT
/* platform/fail: what a failed socket() or connect() means to a proxy client,
 * shared by the engine's direct connections and the gateway's. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "platform/fail.h"

static void test_fail_from_errno_maps_connect_errors(void **state)
{
	static const struct {
		int err;
		enum nt_fail fail;
	} cases[] = {
	    {ECONNREFUSED, NT_FAIL_REFUSED},   {EHOSTUNREACH, NT_FAIL_HOST_UNREACH},
	    {EHOSTDOWN, NT_FAIL_HOST_UNREACH}, {ENETUNREACH, NT_FAIL_NET_UNREACH},
	    {ENETDOWN, NT_FAIL_NET_UNREACH},   {ETIMEDOUT, NT_FAIL_TIMEOUT},
	    {EACCES, NT_FAIL_NOT_ALLOWED},     {EPERM, NT_FAIL_NOT_ALLOWED},
	    {EAFNOSUPPORT, NT_FAIL_ADDR_TYPE}, {ENOMEM, NT_FAIL_GENERAL},
	    {EMFILE, NT_FAIL_GENERAL},	       {0, NT_FAIL_GENERAL},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(nt_fail_from_errno(cases[i].err), cases[i].fail);
}

static void test_fail_from_errno_reaches_the_socks5_reply(void **state)
{
	(void)state;
	assert_int_equal(nt_fail_socks5(nt_fail_from_errno(ECONNREFUSED)), 0x05);
	assert_int_equal(nt_fail_socks5(nt_fail_from_errno(ENETUNREACH)), 0x03);
	assert_int_equal(nt_fail_socks5(nt_fail_from_errno(EHOSTUNREACH)), 0x04);
	assert_int_equal(nt_fail_http(nt_fail_from_errno(EACCES)), 403);
	assert_int_equal(nt_fail_http(nt_fail_from_errno(ETIMEDOUT)), 504);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fail_from_errno_maps_connect_errors),
	    cmocka_unit_test(test_fail_from_errno_reaches_the_socks5_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
