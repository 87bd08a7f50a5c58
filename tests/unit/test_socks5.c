// SPDX-License-Identifier: MIT
/* The SOCKS5 codec: every message, every address type, every malformed
 * input with its reply code, and every split point. Each prefix is parsed
 * from a heap copy of exactly its length, so ASan catches any read past
 * what has arrived. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/socks5.h"

enum which { GREETING, AUTH, REQUEST, UDP };

static struct nt_socks5_greeting g_out;
static struct nt_socks5_auth a_out;
static struct nt_socks5_request r_out;
static struct nt_socks5_udp_header u_out;

/* Parses a heap copy of buf[0..len) with the chosen parser. */
static int parse(enum which w, const uint8_t *buf, size_t len, uint8_t *reply)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc = -1;

	assert_non_null(copy);
	if (len)
		memcpy(copy, buf, len);
	*reply = 0xee; /* the UDP parser leaves it alone */
	switch (w) {
	case GREETING:
		rc = nt_socks5_parse_greeting(copy, len, &g_out, reply);
		break;
	case AUTH:
		rc = nt_socks5_parse_auth(copy, len, &a_out, reply);
		break;
	case REQUEST:
		rc = nt_socks5_parse_request(copy, len, &r_out, reply);
		break;
	case UDP:
		rc = nt_socks5_parse_udp_header(copy, len, &u_out);
		break;
	}
	free(copy);
	return rc;
}

/* A valid message: every prefix needs more, one byte at a time; the whole
 * message (and the message followed by more bytes) parses to its length. */
static void check_valid(enum which w, const uint8_t *msg, size_t len)
{
	uint8_t reply, longer[1024];
	size_t k;

	assert_true(len + 7 <= sizeof(longer));
	for (k = 0; k < len; k++)
		assert_int_equal(parse(w, msg, k, &reply), 0);
	memcpy(longer, msg, len);
	memset(longer + len, 0x5a, 7); /* pipelined bytes stay unconsumed */
	assert_int_equal(parse(w, longer, len + 7, &reply), (int)len);
	assert_int_equal(parse(w, msg, len, &reply), (int)len);
}

/* A malformed message whose fault is at byte bad: shorter prefixes need
 * more, every longer one fails with err and the same reply. */
static void check_bad(enum which w, const uint8_t *msg, size_t len, size_t bad, int err,
		      uint8_t want_reply)
{
	uint8_t reply;
	size_t k;

	assert_true(bad < len);
	for (k = 0; k <= bad; k++)
		assert_int_equal(parse(w, msg, k, &reply), 0);
	for (k = bad + 1; k <= len; k++) {
		assert_int_equal(parse(w, msg, k, &reply), err);
		if (w != UDP)
			assert_int_equal(reply, want_reply);
	}
}

/* ---- greeting ---- */

static void test_greeting_one_method_split_at_every_byte(void **state)
{
	static const uint8_t msg[] = {0x05, 0x01, 0x00};

	(void)state;
	check_valid(GREETING, msg, sizeof(msg));
	assert_int_equal(g_out.nmethods, 1);
	assert_int_equal(g_out.methods[0], 0x00);
}

static void test_greeting_255_methods(void **state)
{
	uint8_t msg[2 + 255];
	size_t i;

	(void)state;
	msg[0] = 0x05;
	msg[1] = 255;
	for (i = 0; i < 255; i++)
		msg[2 + i] = (uint8_t)(i + 1);
	check_valid(GREETING, msg, sizeof(msg));
	assert_int_equal(g_out.nmethods, 255);
	assert_int_equal(g_out.methods[0], 1);
	assert_int_equal(g_out.methods[254], 255);
}

static void test_greeting_wrong_version_refused_with_no_acceptable_method(void **state)
{
	static const uint8_t msg[] = {0x04, 0x01, 0x00};

	(void)state;
	check_bad(GREETING, msg, sizeof(msg), 0, -EPROTO, 0xff);
}

static void test_greeting_zero_methods_refused(void **state)
{
	static const uint8_t msg[] = {0x05, 0x00, 0x00};

	(void)state;
	check_bad(GREETING, msg, sizeof(msg), 1, -EINVAL, 0xff);
}

static void test_choose_method_follows_configuration(void **state)
{
	struct nt_socks5_greeting none = {1, {0x00}}, up = {1, {0x02}}, both = {2, {0x02, 0x00}},
				  gssapi = {1, {0x01}};

	(void)state;
	assert_int_equal(nt_socks5_choose_method(&none, false), 0x00);
	assert_int_equal(nt_socks5_choose_method(&both, false), 0x00);
	assert_int_equal(nt_socks5_choose_method(&up, false), 0x02);
	assert_int_equal(nt_socks5_choose_method(&gssapi, false), 0xff);
	assert_int_equal(nt_socks5_choose_method(&none, true), 0xff);
	assert_int_equal(nt_socks5_choose_method(&both, true), 0x02);
	assert_int_equal(nt_socks5_choose_method(&up, true), 0x02);
	assert_int_equal(nt_socks5_choose_method(&gssapi, true), 0xff);
}

/* ---- username/password ---- */

static size_t make_auth(uint8_t *out, const char *user, const char *pass)
{
	size_t ul = strlen(user), pl = strlen(pass);

	out[0] = 0x01;
	out[1] = (uint8_t)ul;
	memcpy(out + 2, user, ul);
	out[2 + ul] = (uint8_t)pl;
	memcpy(out + 3 + ul, pass, pl);
	return 3 + ul + pl;
}

static void test_auth_parses_split_at_every_byte(void **state)
{
	uint8_t msg[NT_SOCKS5_AUTH_MAX];
	size_t len = make_auth(msg, "alice", "s3cret");

	(void)state;
	check_valid(AUTH, msg, len);
	assert_int_equal(a_out.ulen, 5);
	assert_memory_equal(a_out.user, "alice", 5);
	assert_int_equal(a_out.plen, 6);
	assert_memory_equal(a_out.pass, "s3cret", 6);
	assert_true(nt_socks5_auth_check(&a_out, "alice", "s3cret"));
	nt_socks5_auth_wipe(&a_out);
	assert_int_equal(a_out.plen, 0);
	assert_int_equal(a_out.pass[0], 0);
}

static void test_auth_longest_credentials(void **state)
{
	char user[256], pass[256];
	uint8_t msg[NT_SOCKS5_AUTH_MAX];
	size_t len;

	(void)state;
	memset(user, 'u', 255);
	user[255] = '\0';
	memset(pass, 'p', 255);
	pass[255] = '\0';
	len = make_auth(msg, user, pass);
	assert_int_equal(len, NT_SOCKS5_AUTH_MAX);
	check_valid(AUTH, msg, len);
	assert_true(nt_socks5_auth_check(&a_out, user, pass));
	pass[254] = 'q';
	assert_false(nt_socks5_auth_check(&a_out, user, pass));
}

static void test_auth_malformed_gets_failure_status(void **state)
{
	static const uint8_t bad_version[] = {0x05, 0x01, 'a', 0x01, 'b'};
	static const uint8_t empty_user[] = {0x01, 0x00, 0x01, 'b'};
	static const uint8_t empty_pass[] = {0x01, 0x01, 'a', 0x00, 'x'};

	(void)state;
	check_bad(AUTH, bad_version, sizeof(bad_version), 0, -EPROTO, 0x01);
	check_bad(AUTH, empty_user, sizeof(empty_user), 1, -EINVAL, 0x01);
	check_bad(AUTH, empty_pass, sizeof(empty_pass), 3, -EINVAL, 0x01);
}

static void test_auth_check_rejects_wrong_credentials(void **state)
{
	uint8_t msg[NT_SOCKS5_AUTH_MAX], reply;
	struct nt_socks5_auth a;

	(void)state;
	assert_int_equal(nt_socks5_parse_auth(msg, make_auth(msg, "alice", "s3cret"), &a, &reply),
			 3 + 5 + 6);
	assert_true(nt_socks5_auth_check(&a, "alice", "s3cret"));
	assert_false(nt_socks5_auth_check(&a, "alice", "s3creT"));
	assert_false(nt_socks5_auth_check(&a, "alicf", "s3cret"));
	assert_false(nt_socks5_auth_check(&a, "alice", "s3cre"));
	assert_false(nt_socks5_auth_check(&a, "alice", "s3crets"));
	assert_false(nt_socks5_auth_check(&a, "alic", "s3cret"));
	assert_false(nt_socks5_auth_check(&a, "s3cret", "alice"));
	nt_socks5_auth_wipe(&a);
}

/* ---- requests ---- */

static void test_request_connect_ipv4(void **state)
{
	static const uint8_t msg[] = {0x05, 0x01, 0x00, 0x01, 10, 1, 2, 3, 0x01, 0xbb};

	(void)state;
	check_valid(REQUEST, msg, sizeof(msg));
	assert_int_equal(r_out.cmd, NT_SOCKS5_CMD_CONNECT);
	assert_int_equal(r_out.target.kind, NT_TARGET_IPV4);
	assert_memory_equal(r_out.target.addr, ((uint8_t[]){10, 1, 2, 3}), 4);
	assert_int_equal(r_out.target.port, 443);
}

static void test_request_connect_ipv6(void **state)
{
	uint8_t msg[22] = {0x05, 0x01, 0x00, 0x04};
	struct in6_addr a;

	(void)state;
	assert_int_equal(inet_pton(AF_INET6, "fd00::1:2", &a), 1);
	memcpy(msg + 4, &a, 16);
	msg[20] = 0x1f;
	msg[21] = 0x90;
	check_valid(REQUEST, msg, sizeof(msg));
	assert_int_equal(r_out.target.kind, NT_TARGET_IPV6);
	assert_memory_equal(r_out.target.addr, &a, 16);
	assert_int_equal(r_out.target.port, 8080);
}

static void test_request_connect_domain(void **state)
{
	static const uint8_t msg[] = {0x05, 0x01, 0x00, 0x03, 11,  'e', 'x', 'a',  'm',
				      'p',  'l',  'e',	'.',  'c', 'o', 'm', 0x00, 0x50};

	(void)state;
	check_valid(REQUEST, msg, sizeof(msg));
	assert_int_equal(r_out.target.kind, NT_TARGET_NAME);
	assert_string_equal(r_out.target.name, "example.com");
	assert_int_equal(r_out.target.port, 80);
}

static void test_request_longest_domain(void **state)
{
	uint8_t msg[NT_SOCKS5_REQUEST_MAX] = {0x05, 0x01, 0x00, 0x03, 255};

	(void)state;
	memset(msg + 5, 'a', 255);
	msg[260] = 0xff;
	msg[261] = 0xff;
	check_valid(REQUEST, msg, sizeof(msg));
	assert_int_equal(strlen(r_out.target.name), 255);
	assert_int_equal(r_out.target.port, 65535);
}

static void test_request_bind_and_udp_associate_parse(void **state)
{
	static const uint8_t bind[] = {0x05, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
	static const uint8_t udp[] = {0x05, 0x03, 0x00, 0x01, 127, 0, 0, 1, 0x30, 0x39};

	(void)state;
	check_valid(REQUEST, bind, sizeof(bind));
	assert_int_equal(r_out.cmd, NT_SOCKS5_CMD_BIND);
	check_valid(REQUEST, udp, sizeof(udp));
	assert_int_equal(r_out.cmd, NT_SOCKS5_CMD_UDP_ASSOCIATE);
	assert_int_equal(r_out.target.port, 12345);
}

static void test_request_malformed_gets_its_reply_code(void **state)
{
	static const uint8_t bad_version[] = {0x04, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0, 80};
	static const uint8_t cmd_zero[] = {0x05, 0x00, 0x00, 0x01, 1, 2, 3, 4, 0, 80};
	static const uint8_t cmd_four[] = {0x05, 0x04, 0x00, 0x01, 1, 2, 3, 4, 0, 80};
	static const uint8_t rsv[] = {0x05, 0x01, 0x01, 0x01, 1, 2, 3, 4, 0, 80};
	static const uint8_t atyp_two[] = {0x05, 0x01, 0x00, 0x02, 1, 2, 3, 4, 0, 80};
	static const uint8_t atyp_five[] = {0x05, 0x01, 0x00, 0x05, 1, 2, 3, 4, 0, 80};
	static const uint8_t atyp_zero[] = {0x05, 0x01, 0x00, 0x00, 1, 2, 3, 4, 0, 80};
	static const uint8_t empty_name[] = {0x05, 0x01, 0x00, 0x03, 0, 0, 80};
	static const uint8_t nul_name[] = {0x05, 0x01, 0x00, 0x03, 3, 'a', 0, 'b', 0, 80};

	(void)state;
	check_bad(REQUEST, bad_version, sizeof(bad_version), 0, -EPROTO, 0x01);
	check_bad(REQUEST, cmd_zero, sizeof(cmd_zero), 1, -ENOTSUP, 0x07);
	check_bad(REQUEST, cmd_four, sizeof(cmd_four), 1, -ENOTSUP, 0x07);
	check_bad(REQUEST, rsv, sizeof(rsv), 2, -EPROTO, 0x01);
	check_bad(REQUEST, atyp_two, sizeof(atyp_two), 3, -EAFNOSUPPORT, 0x08);
	check_bad(REQUEST, atyp_five, sizeof(atyp_five), 3, -EAFNOSUPPORT, 0x08);
	check_bad(REQUEST, atyp_zero, sizeof(atyp_zero), 3, -EAFNOSUPPORT, 0x08);
	check_bad(REQUEST, empty_name, sizeof(empty_name), 4, -EINVAL, 0x01);
	check_bad(REQUEST, nul_name, sizeof(nul_name), 6, -EINVAL, 0x01);
}

/* ---- UDP header ---- */

static void udp_round_trip(const struct nt_target *t, size_t want_len)
{
	uint8_t dgram[NT_SOCKS5_UDP_HDR_MAX + 5], reply;
	int n = nt_socks5_build_udp_header(dgram, sizeof(dgram), t);

	assert_int_equal(n, (int)want_len);
	memcpy(dgram + n, "hello", 5);
	assert_int_equal(parse(UDP, dgram, (size_t)n + 5, &reply), n);
	assert_int_equal(u_out.frag, 0);
	assert_int_equal(u_out.target.kind, t->kind);
	assert_int_equal(u_out.target.port, t->port);
	if (t->kind == NT_TARGET_NAME)
		assert_string_equal(u_out.target.name, t->name);
	else
		assert_memory_equal(u_out.target.addr, t->addr, t->kind == NT_TARGET_IPV4 ? 4 : 16);
	assert_memory_equal(dgram + n, "hello", 5);
	check_valid(UDP, dgram, (size_t)n);
	/* One byte short of the header: as malformed as any datagram gets. */
	assert_int_equal(nt_socks5_build_udp_header(dgram, want_len - 1, t), -ENOBUFS);
}

static void test_udp_header_round_trip_every_address_type(void **state)
{
	struct nt_target v4 = {.kind = NT_TARGET_IPV4, .addr = {192, 0, 2, 7}, .port = 53};
	struct nt_target v6 = {.kind = NT_TARGET_IPV6, .addr = {0xfd, 0, [15] = 9}, .port = 5353};
	struct nt_target name = {.kind = NT_TARGET_NAME, .name = "db.internal", .port = 1};
	struct nt_target longest = {.kind = NT_TARGET_NAME, .port = 65535};

	(void)state;
	memset(longest.name, 'n', 255);
	udp_round_trip(&v4, 10);
	udp_round_trip(&v6, 22);
	udp_round_trip(&name, 7 + 11);
	udp_round_trip(&longest, NT_SOCKS5_UDP_HDR_MAX);
}

static void test_udp_header_exact_bytes(void **state)
{
	static const uint8_t want[] = {0, 0, 0, 0x01, 192, 0, 2, 7, 0x00, 0x35};
	struct nt_target v4 = {.kind = NT_TARGET_IPV4, .addr = {192, 0, 2, 7}, .port = 53};
	uint8_t out[32];

	(void)state;
	assert_int_equal(nt_socks5_build_udp_header(out, sizeof(out), &v4), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
}

static void test_udp_header_malformed(void **state)
{
	static const uint8_t frag[] = {0, 0, 1, 0x01, 1, 2, 3, 4, 0, 53, 'x'};
	static const uint8_t rsv0[] = {1, 0, 0, 0x01, 1, 2, 3, 4, 0, 53, 'x'};
	static const uint8_t rsv1[] = {0, 1, 0, 0x01, 1, 2, 3, 4, 0, 53, 'x'};
	static const uint8_t atyp[] = {0, 0, 0, 0x02, 1, 2, 3, 4, 0, 53, 'x'};
	static const uint8_t empty_name[] = {0, 0, 0, 0x03, 0, 0, 53};
	static const uint8_t nul_name[] = {0, 0, 0, 0x03, 2, 0, 'a', 0, 53};

	(void)state;
	check_bad(UDP, frag, sizeof(frag), 2, -ENOTSUP, 0);
	check_bad(UDP, rsv0, sizeof(rsv0), 0, -EPROTO, 0);
	check_bad(UDP, rsv1, sizeof(rsv1), 1, -EPROTO, 0);
	check_bad(UDP, atyp, sizeof(atyp), 3, -EAFNOSUPPORT, 0);
	check_bad(UDP, empty_name, sizeof(empty_name), 4, -EINVAL, 0);
	check_bad(UDP, nul_name, sizeof(nul_name), 5, -EINVAL, 0);
}

static void test_udp_header_builder_refuses_bad_names(void **state)
{
	struct nt_target empty = {.kind = NT_TARGET_NAME};
	struct nt_target unterminated = {.kind = NT_TARGET_NAME};
	uint8_t out[NT_SOCKS5_UDP_HDR_MAX + 8];

	(void)state;
	memset(unterminated.name, 'x', sizeof(unterminated.name));
	assert_int_equal(nt_socks5_build_udp_header(out, sizeof(out), &empty), -EINVAL);
	assert_int_equal(nt_socks5_build_udp_header(out, sizeof(out), &unterminated), -EINVAL);
}

/* ---- builders ---- */

static void test_method_and_auth_status_bytes(void **state)
{
	uint8_t out[2];

	(void)state;
	assert_int_equal(nt_socks5_build_method(out, 0x00), 2);
	assert_memory_equal(out, ((uint8_t[]){0x05, 0x00}), 2);
	assert_int_equal(nt_socks5_build_method(out, 0xff), 2);
	assert_memory_equal(out, ((uint8_t[]){0x05, 0xff}), 2);
	assert_int_equal(nt_socks5_build_auth_status(out, 0x00), 2);
	assert_memory_equal(out, ((uint8_t[]){0x01, 0x00}), 2);
	assert_int_equal(nt_socks5_build_auth_status(out, 0x01), 2);
	assert_memory_equal(out, ((uint8_t[]){0x01, 0x01}), 2);
}

static void test_reply_bytes_for_each_bound_family(void **state)
{
	static const uint8_t want4[] = {0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0x04, 0x38};
	static const uint8_t want6[] = {0x05, 0x00, 0x00, 0x04, 0, 0, 0, 0, 0, 0,    0,
					0,    0,    0,	  0,	0, 0, 0, 0, 1, 0x04, 0x38};
	static const uint8_t mapped[] = {0x05, 0x00, 0x00, 0x01, 10, 0, 0, 2, 0x00, 0x16};
	static const uint8_t none[] = {0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(1080)};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(1080)};
	struct sockaddr_un_like {
		sa_family_t family;
		char path[20];
	} other = {AF_UNIX, "x"};
	uint8_t out[NT_SOCKS5_REPLY_MAX];

	(void)state;
	s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s6.sin6_addr = in6addr_loopback;
	assert_int_equal(nt_socks5_build_reply(out, 0x00, (struct sockaddr *)&s4, sizeof(s4)),
			 sizeof(want4));
	assert_memory_equal(out, want4, sizeof(want4));
	assert_int_equal(nt_socks5_build_reply(out, 0x00, (struct sockaddr *)&s6, sizeof(s6)),
			 sizeof(want6));
	assert_memory_equal(out, want6, sizeof(want6));
	assert_int_equal(inet_pton(AF_INET6, "::ffff:10.0.0.2", &s6.sin6_addr), 1);
	s6.sin6_port = htons(22);
	assert_int_equal(nt_socks5_build_reply(out, 0x00, (struct sockaddr *)&s6, sizeof(s6)),
			 sizeof(mapped));
	assert_memory_equal(out, mapped, sizeof(mapped));
	assert_int_equal(nt_socks5_build_reply(out, 0x05, NULL, 0), sizeof(none));
	assert_memory_equal(out, none, sizeof(none));
	assert_int_equal(nt_socks5_build_reply(out, 0x05, (struct sockaddr *)&other, sizeof(other)),
			 sizeof(none));
	assert_memory_equal(out, none, sizeof(none));
	/* A length too short for the family claimed is not trusted. */
	assert_int_equal(nt_socks5_build_reply(out, 0x05, (struct sockaddr *)&s4, 4), sizeof(none));
	assert_memory_equal(out, none, sizeof(none));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_greeting_one_method_split_at_every_byte),
	    cmocka_unit_test(test_greeting_255_methods),
	    cmocka_unit_test(test_greeting_wrong_version_refused_with_no_acceptable_method),
	    cmocka_unit_test(test_greeting_zero_methods_refused),
	    cmocka_unit_test(test_choose_method_follows_configuration),
	    cmocka_unit_test(test_auth_parses_split_at_every_byte),
	    cmocka_unit_test(test_auth_longest_credentials),
	    cmocka_unit_test(test_auth_malformed_gets_failure_status),
	    cmocka_unit_test(test_auth_check_rejects_wrong_credentials),
	    cmocka_unit_test(test_request_connect_ipv4),
	    cmocka_unit_test(test_request_connect_ipv6),
	    cmocka_unit_test(test_request_connect_domain),
	    cmocka_unit_test(test_request_longest_domain),
	    cmocka_unit_test(test_request_bind_and_udp_associate_parse),
	    cmocka_unit_test(test_request_malformed_gets_its_reply_code),
	    cmocka_unit_test(test_udp_header_round_trip_every_address_type),
	    cmocka_unit_test(test_udp_header_exact_bytes),
	    cmocka_unit_test(test_udp_header_malformed),
	    cmocka_unit_test(test_udp_header_builder_refuses_bad_names),
	    cmocka_unit_test(test_method_and_auth_status_bytes),
	    cmocka_unit_test(test_reply_bytes_for_each_bound_family),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
