// SPDX-License-Identifier: MIT
/* libFuzzer harness for the DNS response parser, against a fixed A query
 * and a fixed AAAA query for the same name (the first input byte picks one).
 *
 * An input whose second byte is 0xfe is not taken as is: the rest is XORed
 * over a genuine response (a CNAME chain with compression pointers), so the
 * fuzzer starts from messages that pass the header and question checks.
 * With 0xfd, the rest follows a copy of the query turned into a response
 * (QR set, ANCOUNT from the third byte): the answer section alone is fuzzed.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/resolver/dns_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSG 4096

static const uint8_t genuine[] = {
    0x12, 0x34, 0x81, 0x80, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, /* header */
    3,	  'w',	'w',  'w',  7,	  'e',	'x',  'a',  'm',  'p',	'l',  'e',
    3,	  'c',	'o',  'm',  0,	  0x00, 0x01, 0x00, 0x01,		    /* question */
    0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x02, 0x58, 0x00, 0x04, /* CNAME */
    1,	  'a',	0xc0, 0x10,						    /* a.example.com */
    0xc0, 0x2d, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x04, /* A */
    192,  0,	2,    7,    0xc0, 0x2d, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, /* AAAA */
    0x01, 0x2c, 0x00, 0x10, 0x20, 0x01, 0x0d, 0xb8, 0,	  0,	0,    0,
    0,	  0,	0,    0,    0,	  0,	0,    1,
};

static void must(int ok)
{
	if (!ok)
		abort(); /* the harness itself is broken */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t query[2][NT_DNS_QUERY_MAX];
	static size_t query_len[2];
	static uint8_t genuine_for[2][sizeof(genuine)]; /* question type A, AAAA */
	static int ready;
	uint8_t *msg, addrs[4][16];
	struct nt_dns_answer ans;
	size_t len, q;
	int err;

	if (!ready) {
		must(nt_dns_query_build(0x1234, "www.example.com", NT_DNS_TYPE_A, query[0],
					sizeof(query[0]), &query_len[0]) == 0);
		must(nt_dns_query_build(0x1234, "www.example.com", NT_DNS_TYPE_AAAA, query[1],
					sizeof(query[1]), &query_len[1]) == 0);
		memcpy(genuine_for[0], genuine, sizeof(genuine));
		memcpy(genuine_for[1], genuine, sizeof(genuine));
		genuine_for[1][30] = NT_DNS_TYPE_AAAA;
		must(nt_dns_response_parse(query[0], query_len[0], genuine_for[0], sizeof(genuine),
					   addrs, 4, &ans) == 0 &&
		     ans.n_addrs == 1 && ans.cnames == 1 && ans.ttl == 300);
		must(nt_dns_response_parse(query[1], query_len[1], genuine_for[1], sizeof(genuine),
					   addrs, 4, &ans) == 0 &&
		     ans.n_addrs == 1 && addrs[0][15] == 1);
		ready = 1;
	}
	if (size < 2 || size > MAX_MSG)
		return 0;
	q = data[0] & 1;
	/* An exactly sized copy, so that ASan sees any read past the end. */
	if (data[1] == 0xfe) {
		len = sizeof(genuine);
		msg = malloc(len);
		must(msg != NULL);
		memcpy(msg, genuine_for[q], len);
		for (size_t i = 2; i < size && i - 2 < len; i++)
			msg[i - 2] ^= data[i];
	} else if (data[1] == 0xfd && size >= 3) {
		len = query_len[q] + size - 3;
		msg = malloc(len);
		must(msg != NULL);
		memcpy(msg, query[q], query_len[q]);
		msg[2] |= 0x80;
		msg[7] = data[2];
		memcpy(msg + query_len[q], data + 3, size - 3);
	} else {
		len = size - 2;
		msg = malloc(len ? len : 1);
		must(msg != NULL);
		memcpy(msg, data + 2, len);
	}
	err = nt_dns_response_parse(query[q], query_len[q], msg, len, addrs, 4, &ans);
	if (err == 0) {
		must(ans.n_addrs <= 4 && ans.n_addrs <= ans.n_found);
		must(ans.cnames <= NT_DNS_MAX_CNAME);
		must(ans.rcode <= 15);
	} else {
		must(err == -EBADMSG || err == -EPROTO);
		must(ans.n_addrs == 0);
	}
	free(msg);
	return 0;
}
