// SPDX-License-Identifier: MIT
/* libFuzzer harness for the portal protocol's codec (core/phx): the first
 * byte picks the decoder (a frame, a reply, each payload, the DNS control
 * packet); whatever decodes is encoded again, and that must decode to the
 * same thing and encode to the same bytes. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/phx/phx.h"
#include "core/phx/pmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSG 4096
#define ENC_MAX (64 * 1024)
#define LIST_MAX 4

static void must(int ok)
{
	if (!ok)
		abort(); /* the codec disagrees with itself */
}

/* Structs decoded twice compare equal after encode/decode. */
#define ROUND_TRIP(T, enc, dec, first, ...)                                                        \
	do {                                                                                       \
		static T second;                                                                   \
		int n1 = enc(out1, ENC_MAX, first), n2;                                            \
		must(n1 > 0);                                                                      \
		must(dec(out1, (size_t)n1, &second) == 0);                                         \
		__VA_ARGS__;                                                                       \
		n2 = enc(out2, ENC_MAX, &second);                                                  \
		must(n2 == n1 && memcmp(out1, out2, (size_t)n1) == 0);                             \
	} while (0)

static char out1[ENC_MAX], out2[ENC_MAX];

static void frame(const char *m, size_t len)
{
	struct nt_phx_frame f, g;
	int n;

	if (nt_phx_decode(m, len, &f) != 0)
		return;
	n = nt_phx_encode(out1, ENC_MAX, f.topic, f.event, f.payload, f.payload_len,
			  f.has_ref ? f.ref : -1);
	must(n > 0);
	must(nt_phx_decode(out1, (size_t)n, &g) == 0);
	must(strcmp(f.topic, g.topic) == 0 && strcmp(f.event, g.event) == 0);
	must(f.has_ref == g.has_ref && (!f.has_ref || f.ref == g.ref));
	must(f.payload_len == g.payload_len && memcmp(f.payload, g.payload, f.payload_len) == 0);
}

static void reply(const char *m, size_t len)
{
	const char *r, *r2;
	size_t rlen, rlen2;
	bool ok, ok2;
	int n;

	if (nt_phx_reply_parse(m, len, &ok, &r, &rlen) != 0 || !ok)
		return;
	n = nt_phx_reply_build(out1, ENC_MAX, r, rlen, NULL);
	must(n > 0);
	must(nt_phx_reply_parse(out1, (size_t)n, &ok2, &r2, &rlen2) == 0 && ok2);
	must(rlen == rlen2 && memcmp(r, r2, rlen) == 0);
}

static void payload(uint8_t which, const char *m, size_t len)
{
	static struct nt_pmsg_resource r, res[LIST_MAX], res2[LIST_MAX];
	static struct nt_pmsg_grant g, grants[LIST_MAX], grants2[LIST_MAX];
	static struct nt_pmsg_client c;
	static struct nt_pmsg_auth_created ac;
	static struct nt_pmsg_auth_failed af;
	static struct nt_pmsg_request_auth ra;
	static struct nt_pmsg_reject_access rj;
	static struct nt_pmsg_assigned_ips ai;
	static struct nt_pmsg_domain_status ds;
	char id[NT_PMSG_ID_MAX + 1], id2[NT_PMSG_ID_MAX + 1];
	struct nt_pmsg_client_init ci = {.resources = res, .cap = LIST_MAX};
	struct nt_pmsg_client_init ci2 = {.resources = res2, .cap = LIST_MAX};
	struct nt_pmsg_gateway_init gi = {.authorizations = grants, .cap = LIST_MAX};
	struct nt_pmsg_gateway_init gi2 = {.authorizations = grants2, .cap = LIST_MAX};
	int n;

	switch (which % 14) {
	case 0:
		if (nt_pmsg_resource_decode(m, len, &r) == 0)
			ROUND_TRIP(struct nt_pmsg_resource, nt_pmsg_resource_encode,
				   nt_pmsg_resource_decode, &r,
				   must(memcmp(&r, &second, sizeof(r)) == 0));
		break;
	case 1:
		if (nt_pmsg_client_decode(m, len, &c) == 0)
			ROUND_TRIP(struct nt_pmsg_client, nt_pmsg_client_encode,
				   nt_pmsg_client_decode, &c, must(memcmp(&c, &second, sizeof(c)) == 0));
		break;
	case 2:
		if (nt_pmsg_client_init_decode(m, len, &ci) == 0) {
			n = nt_pmsg_client_init_encode(out1, ENC_MAX, &ci);
			must(n > 0 && nt_pmsg_client_init_decode(out1, (size_t)n, &ci2) == 0);
			must(ci.n == ci2.n && memcmp(&ci.iface, &ci2.iface, sizeof(ci.iface)) == 0);
			must(memcmp(res, res2, ci.n * sizeof(res[0])) == 0);
			must(nt_pmsg_client_init_encode(out2, ENC_MAX, &ci2) == n &&
			     memcmp(out1, out2, (size_t)n) == 0);
		}
		break;
	case 3:
		if (nt_pmsg_gateway_init_decode(m, len, &gi) == 0) {
			n = nt_pmsg_gateway_init_encode(out1, ENC_MAX, &gi);
			must(n > 0 && nt_pmsg_gateway_init_decode(out1, (size_t)n, &gi2) == 0);
			must(gi.n == gi2.n && memcmp(grants, grants2, gi.n * sizeof(grants[0])) == 0);
			must(nt_pmsg_gateway_init_encode(out2, ENC_MAX, &gi2) == n &&
			     memcmp(out1, out2, (size_t)n) == 0);
		}
		break;
	case 4:
		if (nt_pmsg_create_auth_decode(m, len, &g) == 0)
			ROUND_TRIP(struct nt_pmsg_grant, nt_pmsg_create_auth_encode,
				   nt_pmsg_create_auth_decode, &g, must(memcmp(&g, &second, sizeof(g)) == 0));
		break;
	case 5:
		if (nt_pmsg_auth_created_decode(m, len, &ac) == 0)
			ROUND_TRIP(struct nt_pmsg_auth_created, nt_pmsg_auth_created_encode,
				   nt_pmsg_auth_created_decode, &ac,
				   must(memcmp(&ac, &second, sizeof(ac)) == 0));
		break;
	case 6:
		if (nt_pmsg_auth_failed_decode(m, len, &af) == 0)
			ROUND_TRIP(struct nt_pmsg_auth_failed, nt_pmsg_auth_failed_encode,
				   nt_pmsg_auth_failed_decode, &af,
				   must(memcmp(&af, &second, sizeof(af)) == 0));
		break;
	case 7:
		if (nt_pmsg_request_auth_decode(m, len, &ra) == 0)
			ROUND_TRIP(struct nt_pmsg_request_auth, nt_pmsg_request_auth_encode,
				   nt_pmsg_request_auth_decode, &ra,
				   must(memcmp(&ra, &second, sizeof(ra)) == 0));
		break;
	case 8:
		if (nt_pmsg_reject_access_decode(m, len, &rj) == 0)
			ROUND_TRIP(struct nt_pmsg_reject_access, nt_pmsg_reject_access_encode,
				   nt_pmsg_reject_access_decode, &rj,
				   must(memcmp(&rj, &second, sizeof(rj)) == 0));
		break;
	case 9:
		if (nt_pmsg_assigned_ips_decode(m, len, &ai) == 0)
			ROUND_TRIP(struct nt_pmsg_assigned_ips, nt_pmsg_assigned_ips_encode,
				   nt_pmsg_assigned_ips_decode, &ai,
				   must(memcmp(&ai, &second, sizeof(ai)) == 0));
		break;
	case 10:
		if (nt_pmsg_domain_status_decode(m, len, &ds) == 0)
			ROUND_TRIP(struct nt_pmsg_domain_status, nt_pmsg_domain_status_encode,
				   nt_pmsg_domain_status_decode, &ds,
				   must(memcmp(&ds, &second, sizeof(ds)) == 0));
		break;
	case 11:
		if (nt_pmsg_resource_deleted_decode(m, len, id) == 0) {
			n = nt_pmsg_resource_deleted_encode(out1, ENC_MAX, id);
			must(n > 0 && nt_pmsg_resource_deleted_decode(out1, (size_t)n, id2) == 0);
			must(strcmp(id, id2) == 0);
		}
		break;
	case 12: /* the one-member payloads share one codec: the ack stands for them */
		if (nt_pmsg_auth_ack_decode(m, len, id) == 0) {
			n = nt_pmsg_auth_ack_encode(out1, ENC_MAX, id);
			must(n > 0 && nt_pmsg_auth_ack_decode(out1, (size_t)n, id2) == 0);
			must(strcmp(id, id2) == 0);
		}
		break;
	default:
		reply(m, len);
		break;
	}
}

static void dns_ctl(const uint8_t *pkt, size_t len)
{
	static uint8_t again[NT_PMSG_DNS_CTL_MAX];
	const char *body, *body2;
	size_t blen, blen2;
	uint8_t type, type2 = 0;
	int n;

	if (nt_pmsg_dns_ctl_parse(pkt, len, &type, &body, &blen) != 0)
		return;
	must(nt_pmsg_dns_ctl_is(pkt, len));
	n = nt_pmsg_dns_ctl_build(again, sizeof(again), type, body, blen);
	must(n == (int)len && nt_pmsg_dns_ctl_parse(again, (size_t)n, &type2, &body2, &blen2) == 0);
	must(type == type2 && blen == blen2 && memcmp(body, body2, blen) == 0);
	payload(type == NT_PMSG_DNS_ASSIGNED_IPS ? 9 : 10, body, blen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *msg;
	size_t len;

	if (size < 1 || size > MAX_MSG)
		return 0;
	/* An exactly sized copy, so that ASan sees any read past the end. */
	len = size - 1;
	msg = malloc(len ? len : 1);
	must(msg != NULL);
	memcpy(msg, data + 1, len);
	if (data[0] < 0x20)
		frame((const char *)msg, len);
	else if (data[0] < 0x40)
		dns_ctl(msg, len);
	else
		payload(data[0], (const char *)msg, len);
	free(msg);
	return 0;
}
