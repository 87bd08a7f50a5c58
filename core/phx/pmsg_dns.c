// SPDX-License-Identifier: MIT
/* Section 7: the in-tunnel DNS control packet and its two JSON bodies. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "core/phx/pmsg_int.h"
#include "netstack/ippkt.h"

#define NH_CTL 255 /* IPv6 next header: reserved, never a real protocol */

static const uint8_t proxy4[4] = {100, 96, 0, 0};
static const uint8_t proxy6[16] = {0xfd, 0x00, 0x20, 0x21, 0x11, 0x11, 0x80, 0x00};

/* ---- proxy addresses ---- */

/* The range's low 21 bits as a number: v4's are its last 21 bits, v6's the
 * last 21 of 128 (the /107 leaves them). */
static uint32_t low21(int family, const uint8_t *addr)
{
	const uint8_t *a = addr + (family == AF_INET ? 0 : 12);

	return (uint32_t)nt_ippkt_get32(a) & (NT_PMSG_PROXY_SLOTS - 1);
}

bool nt_pmsg_is_proxy_ip(int family, const uint8_t *addr)
{
	if (family == AF_INET)
		return addr[0] == proxy4[0] && (addr[1] & 0xe0) == proxy4[1];
	return family == AF_INET6 && memcmp(addr, proxy6, 13) == 0 && (addr[13] & 0xe0) == 0;
}

int nt_pmsg_proxy_ip(int family, uint32_t i, uint8_t *out)
{
	uint32_t n = i + 1;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	if (n >= NT_PMSG_PROXY_SLOTS - (family == AF_INET))
		return -ERANGE;
	if (family == AF_INET) {
		nt_ippkt_put32(out, nt_ippkt_get32(proxy4) | n);
		return 0;
	}
	memcpy(out, proxy6, 16);
	nt_ippkt_put32(out + 12, n);
	return 0;
}

int64_t nt_pmsg_proxy_index(int family, const uint8_t *addr)
{
	uint32_t n;

	if (!nt_pmsg_is_proxy_ip(family, addr))
		return -1;
	n = low21(family, addr);
	if (n == 0 || n >= NT_PMSG_PROXY_SLOTS - (family == AF_INET))
		return -1;
	return (int64_t)n - 1;
}

/* A name, as the proxy saw it: LDH labels of 1-63 bytes, at most 253. */
static int domain_check(const char *d)
{
	/* The pattern grammar without wildcards. */
	return strchr(d, '*') || strchr(d, '?') ? -EINVAL : nt_pmsg_pattern_check(d);
}

static int dns_head_read(const struct nt_json *j, int t, char *rid, char *domain)
{
	if (!nt_json_is(j, t, JSMN_OBJECT) || nt_pmsg_get_id(j, t, "resource_id", rid) ||
	    nt_json_get_str(j, t, "domain", domain, NT_PMSG_DOMAIN_MAX + 1) < 0 ||
	    domain_check(domain))
		return -EINVAL;
	return 0;
}

static int assigned_read(const struct nt_json *j, int t, void *out)
{
	struct nt_pmsg_assigned_ips *m = out;
	int a, e;

	if (dns_head_read(j, t, m->resource_id, m->domain))
		return -EINVAL;
	a = nt_json_get(j, t, "proxy_ips");
	e = nt_json_arr_first(j, a);
	if (e == -EINVAL || j->tok[a].size > NT_PMSG_PROXY_IPS_MAX)
		return -EINVAL;
	for (; m->n_ips < (size_t)j->tok[a].size; e = nt_json_skip(j, e)) {
		char text[INET6_ADDRSTRLEN];

		if (nt_json_str(j, e, text, sizeof(text)) < 0 ||
		    nt_pmsg_ip_any(text, &m->proxy_ips[m->n_ips].family,
				   m->proxy_ips[m->n_ips].addr))
			return -EINVAL;
		m->n_ips++;
	}
	return 0;
}

static void assigned_write(struct nt_json_w *w, const void *p)
{
	const struct nt_pmsg_assigned_ips *m = p;

	nt_json_w_obj_open(w);
	nt_json_w_kstr(w, "resource_id", m->resource_id);
	nt_json_w_kstr(w, "domain", m->domain);
	nt_json_w_key(w, "proxy_ips");
	nt_json_w_arr_open(w);
	for (size_t k = 0; k < m->n_ips; k++)
		nt_pmsg_put_ip(w, NULL, m->proxy_ips[k].family, m->proxy_ips[k].addr);
	nt_json_w_arr_close(w);
	nt_json_w_obj_close(w);
}

int nt_pmsg_assigned_ips_encode(char *buf, size_t cap, const struct nt_pmsg_assigned_ips *m)
{
	return nt_pmsg_encode(buf, cap, assigned_write, m);
}

int nt_pmsg_assigned_ips_decode(const char *json, size_t len, struct nt_pmsg_assigned_ips *out)
{
	return nt_pmsg_decode(json, len, assigned_read, out, sizeof(*out));
}

static int status_read(const struct nt_json *j, int t, void *out)
{
	struct nt_pmsg_domain_status *m = out;
	int s;

	if (dns_head_read(j, t, m->resource_id, m->domain))
		return -EINVAL;
	s = nt_json_get(j, t, "status");
	if (nt_json_str_eq(j, s, "active"))
		m->active = true;
	else if (!nt_json_str_eq(j, s, "failed"))
		return -EINVAL;
	return nt_pmsg_get_opt(j, t, "reason", m->reason, sizeof(m->reason));
}

static void status_write(struct nt_json_w *w, const void *p)
{
	const struct nt_pmsg_domain_status *m = p;

	nt_json_w_obj_open(w);
	nt_json_w_kstr(w, "resource_id", m->resource_id);
	nt_json_w_kstr(w, "domain", m->domain);
	nt_json_w_kstr(w, "status", m->active ? "active" : "failed");
	if (m->reason[0])
		nt_json_w_kstr(w, "reason", m->reason);
	nt_json_w_obj_close(w);
}

int nt_pmsg_domain_status_encode(char *buf, size_t cap, const struct nt_pmsg_domain_status *m)
{
	return nt_pmsg_encode(buf, cap, status_write, m);
}

int nt_pmsg_domain_status_decode(const char *json, size_t len, struct nt_pmsg_domain_status *out)
{
	return nt_pmsg_decode(json, len, status_read, out, sizeof(*out));
}

int nt_pmsg_dns_ctl_build(uint8_t *buf, size_t cap, uint8_t type, const char *body, size_t body_len)
{
	size_t len = NT_IPPKT_V6_HDR + NT_PMSG_DNS_CTL_HDR + body_len;

	if (body_len > NT_PMSG_DNS_CTL_BODY_MAX)
		return -EMSGSIZE;
	if (len > cap)
		return -ENOSPC;
	memset(buf, 0, NT_IPPKT_V6_HDR + NT_PMSG_DNS_CTL_HDR);
	buf[0] = 0x60;
	nt_ippkt_put16(buf + 4, (uint16_t)(len - NT_IPPKT_V6_HDR));
	buf[6] = NH_CTL;
	buf[7] = 0; /* hop limit 0: no router forwards it */
	buf[NT_IPPKT_V6_HDR] = type;
	memcpy(buf + NT_IPPKT_V6_HDR + NT_PMSG_DNS_CTL_HDR, body, body_len);
	return (int)len;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t k = 0; k < n; k++)
		acc |= p[k];
	return acc == 0;
}

bool nt_pmsg_dns_ctl_is(const uint8_t *pkt, size_t len)
{
	return len >= NT_IPPKT_V6_HDR && pkt[0] >> 4 == 6 && pkt[6] == NH_CTL && pkt[7] == 0 &&
	       all_zero(pkt + 8, 32);
}

int nt_pmsg_dns_ctl_parse(const uint8_t *pkt, size_t len, uint8_t *type, const char **body,
			  size_t *body_len)
{
	const uint8_t *h = pkt + NT_IPPKT_V6_HDR;

	if (!nt_pmsg_dns_ctl_is(pkt, len) || len < NT_IPPKT_V6_HDR + NT_PMSG_DNS_CTL_HDR ||
	    len > NT_PMSG_DNS_CTL_MAX || nt_ippkt_get16(pkt + 4) != len - NT_IPPKT_V6_HDR ||
	    h[0] > NT_PMSG_DNS_DOMAIN_STATUS || !all_zero(h + 1, NT_PMSG_DNS_CTL_HDR - 1))
		return -EINVAL;
	*type = h[0];
	*body = (const char *)h + NT_PMSG_DNS_CTL_HDR;
	*body_len = len - NT_IPPKT_V6_HDR - NT_PMSG_DNS_CTL_HDR;
	return 0;
}
