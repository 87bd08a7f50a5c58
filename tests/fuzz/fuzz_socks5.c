// SPDX-License-Identifier: MIT
/* libFuzzer harness for every SOCKS5 parser. The first input byte picks the
 * parser (greeting, auth, request, UDP header); the rest is the message.
 *
 * Beyond memory safety, it checks the incremental contract: fed one byte
 * more at a time, a parser returns 0 until the message is complete, then the
 * same length for every longer input; an error, once shown, stays the same
 * error with the same reply. A parsed address is built back into a UDP header
 * and must parse to the same target.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/socks5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_IN 1024

static void must(int ok)
{
	if (!ok)
		abort();
}

/* Parses exactly len bytes from a heap copy, so reads past them are caught. */
static int parse(uint8_t which, const uint8_t *buf, size_t len, uint8_t *reply,
		 struct nt_target *target)
{
	struct nt_socks5_greeting g;
	struct nt_socks5_auth a;
	struct nt_socks5_request r;
	struct nt_socks5_udp_header u;
	uint8_t *copy = malloc(len ? len : 1);
	int rc = 0;

	must(copy != NULL);
	if (len)
		memcpy(copy, buf, len);
	*reply = 0;
	switch (which) {
	case 0:
		rc = nt_socks5_parse_greeting(copy, len, &g, reply);
		if (rc > 0)
			(void)nt_socks5_choose_method(&g, len & 1);
		break;
	case 1:
		rc = nt_socks5_parse_auth(copy, len, &a, reply);
		if (rc > 0) {
			(void)nt_socks5_auth_check(&a, "user", "password");
			nt_socks5_auth_wipe(&a);
		}
		break;
	case 2:
		rc = nt_socks5_parse_request(copy, len, &r, reply);
		if (rc > 0)
			*target = r.target;
		break;
	default:
		rc = nt_socks5_parse_udp_header(copy, len, &u);
		if (rc > 0) {
			must(u.frag == 0);
			*target = u.target;
		}
		break;
	}
	free(copy);
	return rc;
}

static int same_target(const struct nt_target *a, const struct nt_target *b)
{
	if (a->kind != b->kind || a->port != b->port)
		return 0;
	if (a->kind == NT_TARGET_NAME)
		return strcmp(a->name, b->name) == 0;
	return memcmp(a->addr, b->addr, a->kind == NT_TARGET_IPV4 ? 4 : 16) == 0;
}

static void round_trip(const struct nt_target *t)
{
	uint8_t hdr[NT_SOCKS5_UDP_HDR_MAX], reply;
	struct nt_target back;
	int n = nt_socks5_build_udp_header(hdr, sizeof(hdr), t);

	must(n > 0);
	must(parse(3, hdr, (size_t)n, &reply, &back) == n);
	must(same_target(t, &back));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nt_target target, scratch;
	uint8_t which, reply, final_reply;
	int final, rc;
	size_t k, len;

	if (size < 1 || size > MAX_IN)
		return 0;
	which = data[0] % 4;
	data++;
	len = size - 1;
	final = parse(which, data, len, &final_reply, &target);
	must(final <= (int)len);
	if (final > 0 && which >= 2)
		round_trip(&target);
	for (k = 0; k < len; k++) {
		rc = parse(which, data, k, &reply, &scratch);
		if (final > 0) {
			must(rc == (k < (size_t) final ? 0 : final));
		} else if (final == 0) {
			must(rc == 0);
		} else if (rc != 0) {
			must(rc == final);
			must(which == 3 || reply == final_reply);
		}
	}
	return 0;
}
