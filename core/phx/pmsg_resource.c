// SPDX-License-Identifier: MIT
/* The Resource object (section 4): codec, name patterns, filters. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "core/phx/pmsg_int.h"

static const struct {
	const char *name;
	uint8_t proto;
} protos[] = {{"tcp", NT_PMSG_TCP}, {"udp", NT_PMSG_UDP}, {"icmp", NT_PMSG_ICMP}};

static const char *proto_name(uint8_t proto)
{
	for (size_t k = 0; k < sizeof(protos) / sizeof(protos[0]); k++)
		if (protos[k].proto == proto)
			return protos[k].name;
	return "";
}

static int filter_read(const struct nt_json *j, int t, struct nt_pmsg_filter *f)
{
	int ts, te;
	size_t k;

	if (!nt_json_is(j, t, JSMN_OBJECT))
		return -EINVAL;
	for (k = 0; k < sizeof(protos) / sizeof(protos[0]); k++)
		if (nt_json_str_eq(j, nt_json_get(j, t, "protocol"), protos[k].name))
			break;
	if (k == sizeof(protos) / sizeof(protos[0]))
		return -EINVAL;
	f->proto = protos[k].proto;
	f->port_start = 0;
	f->port_end = UINT16_MAX;
	if (f->proto == NT_PMSG_ICMP)
		return 0; /* ICMP has no ports: a range there means nothing */
	ts = nt_json_get(j, t, "port_range_start");
	te = nt_json_get(j, t, "port_range_end");
	if (ts == -ENOENT && te == -ENOENT)
		return 0;
	if (ts < 0 || nt_json_u16(j, ts, &f->port_start))
		return -EINVAL;
	f->port_end = f->port_start;
	if (te >= 0 && nt_json_u16(j, te, &f->port_end))
		return -EINVAL;
	return f->port_start <= f->port_end ? 0 : -EINVAL;
}

static int sites_read(const struct nt_json *j, int t, struct nt_pmsg_resource *r)
{
	int e = nt_json_arr_first(j, t);

	if (t == -ENOENT || nt_json_is_null(j, t))
		return 0;
	if (e == -EINVAL || j->tok[t].size > NT_PMSG_SITES_MAX)
		return -EINVAL;
	for (; r->n_sites < (size_t)j->tok[t].size; e = nt_json_skip(j, e)) {
		struct nt_pmsg_site *s = &r->sites[r->n_sites++];

		if (!nt_json_is(j, e, JSMN_OBJECT) || nt_pmsg_get_id(j, e, "id", s->id) ||
		    nt_pmsg_get_opt(j, e, "name", s->name, sizeof(s->name)))
			return -EINVAL;
	}
	return 0;
}

static int filters_read(const struct nt_json *j, int t, struct nt_pmsg_resource *r)
{
	int e = nt_json_arr_first(j, t);

	if (t == -ENOENT || nt_json_is_null(j, t))
		return 0;
	if (e == -EINVAL || j->tok[t].size > NT_PMSG_FILTERS_MAX)
		return -EINVAL;
	for (; r->n_filters < (size_t)j->tok[t].size; e = nt_json_skip(j, e))
		if (filter_read(j, e, &r->filters[r->n_filters++]))
			return -EINVAL;
	return 0;
}

int nt_pmsg_res_read(const struct nt_json *j, int t, void *out)
{
	struct nt_pmsg_resource *r = out;
	int type;

	memset(r, 0, sizeof(*r));
	if (!nt_json_is(j, t, JSMN_OBJECT) || nt_pmsg_get_id(j, t, "id", r->id))
		return -EINVAL;
	type = nt_json_get(j, t, "type");
	if (!nt_json_is(j, type, JSMN_STRING))
		return -EINVAL;
	if (nt_json_str_eq(j, type, "cidr"))
		r->type = NT_PMSG_RES_CIDR;
	else if (nt_json_str_eq(j, type, "dns"))
		r->type = NT_PMSG_RES_DNS;
	else
		return 0; /* unknown: the rest may mean anything */
	if (nt_json_get_str(j, t, "address", r->address, sizeof(r->address)) < 0)
		return -EINVAL;
	if (r->type == NT_PMSG_RES_CIDR && wg_allowedips_parse_cidr(r->address, &r->cidr))
		return -EINVAL;
	if (r->type == NT_PMSG_RES_DNS && nt_pmsg_pattern_check(r->address))
		return -EINVAL;
	if (nt_pmsg_get_opt(j, t, "name", r->name, sizeof(r->name)) ||
	    filters_read(j, nt_json_get(j, t, "filters"), r) ||
	    sites_read(j, nt_json_get(j, t, "sites"), r))
		return -EINVAL;
	return 0;
}

void nt_pmsg_res_write(struct nt_json_w *w, const void *m)
{
	const struct nt_pmsg_resource *r = m;

	nt_json_w_obj_open(w);
	nt_json_w_kstr(w, "id", r->id);
	if (r->type == NT_PMSG_RES_UNKNOWN) {
		nt_json_w_kstr(w, "type", "unknown");
		nt_json_w_obj_close(w);
		return;
	}
	nt_json_w_kstr(w, "type", r->type == NT_PMSG_RES_CIDR ? "cidr" : "dns");
	nt_json_w_kstr(w, "address", r->address);
	nt_json_w_kstr(w, "name", r->name);
	nt_json_w_key(w, "filters");
	nt_json_w_arr_open(w);
	for (size_t k = 0; k < r->n_filters; k++) {
		const struct nt_pmsg_filter *f = &r->filters[k];

		nt_json_w_obj_open(w);
		nt_json_w_kstr(w, "protocol", proto_name(f->proto));
		if (f->proto != NT_PMSG_ICMP) {
			nt_json_w_kint(w, "port_range_start", f->port_start);
			nt_json_w_kint(w, "port_range_end", f->port_end);
		}
		nt_json_w_obj_close(w);
	}
	nt_json_w_arr_close(w);
	nt_json_w_key(w, "sites");
	nt_json_w_arr_open(w);
	for (size_t k = 0; k < r->n_sites; k++) {
		nt_json_w_obj_open(w);
		nt_json_w_kstr(w, "id", r->sites[k].id);
		nt_json_w_kstr(w, "name", r->sites[k].name);
		nt_json_w_obj_close(w);
	}
	nt_json_w_arr_close(w);
	nt_json_w_obj_close(w);
}

int nt_pmsg_resource_encode(char *buf, size_t cap, const struct nt_pmsg_resource *r)
{
	return nt_pmsg_encode(buf, cap, nt_pmsg_res_write, r);
}

int nt_pmsg_resource_decode(const char *json, size_t len, struct nt_pmsg_resource *out)
{
	return nt_pmsg_decode(json, len, nt_pmsg_res_read, out, sizeof(*out));
}

bool nt_pmsg_filters_allow(const struct nt_pmsg_resource *r, uint8_t proto, uint16_t port)
{
	if (r->n_filters == 0)
		return true;
	for (size_t k = 0; k < r->n_filters; k++) {
		const struct nt_pmsg_filter *f = &r->filters[k];

		if (f->proto == proto && port >= f->port_start && port <= f->port_end)
			return true;
	}
	return false;
}

static bool label_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_';
}

int nt_pmsg_pattern_check(const char *p)
{
	size_t len = strlen(p), label = 0;

	if (len == 0 || len > NT_PMSG_DOMAIN_MAX)
		return -EINVAL;
	/* A wildcard label comes first and is followed by at least one label. */
	if (strncmp(p, "**.", 3) == 0)
		p += 3;
	else if (strncmp(p, "*.", 2) == 0)
		p += 2;
	for (; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return -EINVAL;
			label = 0;
		} else if ((label_char(*p) || *p == '?') && ++label <= 63) {
			continue;
		} else {
			return -EINVAL;
		}
	}
	return label ? 0 : -EINVAL;
}

/* Labels of the same count, each of the same length, '?' matching any one byte. */
static bool labels_match(const char *p, size_t plen, const char *n, size_t nlen)
{
	if (plen != nlen)
		return false;
	for (size_t k = 0; k < plen; k++) {
		if (p[k] == '?' && n[k] != '.')
			continue;
		if (tolower((unsigned char)p[k]) != tolower((unsigned char)n[k]))
			return false;
	}
	return true;
}

bool nt_pmsg_name_match(const char *pattern, const char *name)
{
	size_t nlen = strlen(name), plen;
	const char *dot;

	if (nlen && name[nlen - 1] == '.')
		nlen--;
	if (nlen == 0 || name[0] == '.' || name[nlen - 1] == '.' || memmem(name, nlen, "..", 2) ||
	    memchr(name, '?', nlen) || memchr(name, '*', nlen))
		return false; /* empty labels, or a pattern where a name belongs */
	if (strncmp(pattern, "**.", 3) == 0) {
		size_t off = 0;

		pattern += 3;
		plen = strlen(pattern);
		/* The name itself, then each suffix that starts a label. */
		for (;;) {
			if (labels_match(pattern, plen, name + off, nlen - off))
				return true;
			dot = memchr(name + off, '.', nlen - off);
			if (!dot)
				return false;
			off = (size_t)(dot + 1 - name);
		}
	}
	if (strncmp(pattern, "*.", 2) == 0) {
		dot = memchr(name, '.', nlen);
		if (!dot || dot == name)
			return false;
		pattern += 2;
		return labels_match(pattern, strlen(pattern), dot + 1, nlen - (size_t)(dot + 1 - name));
	}
	return labels_match(pattern, strlen(pattern), name, nlen);
}
