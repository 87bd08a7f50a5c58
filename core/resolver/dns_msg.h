/* SPDX-License-Identifier: MIT */
/* DNS messages for the resolver: A and AAAA queries out, their answers in.
 *
 * No I/O: bytes in, results out. Responses come from the network and are
 * untrusted: every length, count and compression pointer is checked against
 * the message before it is used, pointers must point strictly backwards
 * (so a name can never loop), and CNAME chains are followed at most
 * NT_DNS_MAX_CNAME steps.
 */
#ifndef NT_CORE_DNS_MSG_H
#define NT_CORE_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NT_DNS_NAME_MAX	 253 /* text form, without the trailing dot */
#define NT_DNS_LABEL_MAX 63
/* Header, the name in wire form (one byte more than the text, plus the root
 * label), type and class. */
#define NT_DNS_QUERY_MAX (12 + NT_DNS_NAME_MAX + 2 + 4)
#define NT_DNS_MAX_CNAME 8 /* aliases followed before giving up */

#define NT_DNS_TYPE_A	  1
#define NT_DNS_TYPE_CNAME 5
#define NT_DNS_TYPE_AAAA  28
#define NT_DNS_CLASS_IN	  1

#define NT_DNS_RCODE_NOERROR  0
#define NT_DNS_RCODE_FORMERR  1
#define NT_DNS_RCODE_SERVFAIL 2
#define NT_DNS_RCODE_NXDOMAIN 3
#define NT_DNS_RCODE_NOTIMP   4
#define NT_DNS_RCODE_REFUSED  5

/* A host name we are willing to ask about: labels of 1..63 letters, digits,
 * hyphens or underscores, at most 253 characters, one trailing dot allowed.
 * Returns 0 or -EINVAL. */
int nt_dns_name_check(const char *name);

/* Writes a standard query (RD set, one question, class IN) for name, which
 * must pass nt_dns_name_check, with qtype NT_DNS_TYPE_A or NT_DNS_TYPE_AAAA.
 * id should be random. Returns 0 and the length in *len, -EINVAL, or
 * -ENOSPC when cap is too small (NT_DNS_QUERY_MAX always suffices). */
int nt_dns_query_build(uint16_t id, const char *name, uint16_t qtype, uint8_t *buf, size_t cap,
		       size_t *len);

struct nt_dns_answer {
	uint8_t rcode;	/* NT_DNS_RCODE_*; addresses are only looked for on NOERROR */
	bool truncated; /* TC: the server could not fit its whole answer */
	/* Addresses of the query's type found for the name at the end of the
	 * CNAME chain; the first max_addrs of them are stored. */
	size_t n_found;
	size_t n_addrs;
	/* Minimum over the CNAMEs followed and the addresses found, in seconds
	 * (RFC 2181: values with the top bit set count as 0); 0 when none. */
	uint32_t ttl;
	unsigned cnames; /* aliases followed */
};

/* Parses msg as the answer to query (a message from nt_dns_query_build).
 * Addresses go to addrs, 16 bytes each; an A record fills the first 4 and
 * zeroes the rest.
 *
 * Returns 0 for a well-formed response to this query, whatever its rcode;
 * -EPROTO when msg is not a response to this query (id, QR bit, opcode or
 * question differ); -EBADMSG when it is malformed (lengths, counts,
 * pointers, address sizes). A record cut short is malformed unless TC is
 * set, in which case the answer section ends at the last whole record.
 * -EINVAL when query itself is not one of ours. */
int nt_dns_response_parse(const uint8_t *query, size_t query_len, const uint8_t *msg, size_t len,
			  uint8_t (*addrs)[16], size_t max_addrs, struct nt_dns_answer *out);

#endif
