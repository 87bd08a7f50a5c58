// SPDX-License-Identifier: MIT
/* DNS message codec (RFC 1035 section 4, RFC 2181), A and AAAA only. */
#include "core/resolver/dns_msg.h"

#include <errno.h>
#include <string.h>

#define HDR_LEN	     12
#define WIRE_MAX     255 /* a name in wire form, root label included */
#define PTR_HOPS_MAX 64	 /* far more than any real compressor produces */

#define FLAG_QR	    0x8000u
#define FLAG_TC	    0x0200u
#define FLAG_RD	    0x0100u
#define OPCODE_MASK 0x7800u
#define RCODE_MASK  0x000fu

/* Where a resource record's fields live inside the message. */
struct rr {
	size_t owner;
	uint16_t type;
	uint16_t class_;
	uint32_t ttl;
	size_t rdata;
	uint16_t rdlen;
};

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

int nt_dns_name_check(const char *name)
{
	size_t len, label = 0;

	if (!name)
		return -EINVAL;
	len = strnlen(name, NT_DNS_NAME_MAX + 2);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > NT_DNS_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '.') {
			if (label == 0)
				return -EINVAL;
			label = 0;
		} else if (!name_char_ok(name[i]) || ++label > NT_DNS_LABEL_MAX) {
			return -EINVAL;
		}
	}
	return label == 0 ? -EINVAL : 0;
}

int nt_dns_query_build(uint16_t id, const char *name, uint16_t qtype, uint8_t *buf, size_t cap,
		       size_t *len)
{
	size_t n, need, pos, start;

	if (nt_dns_name_check(name) != 0 || (qtype != NT_DNS_TYPE_A && qtype != NT_DNS_TYPE_AAAA))
		return -EINVAL;
	n = strlen(name);
	if (name[n - 1] == '.')
		n--;
	need = HDR_LEN + n + 2 + 4;
	if (!buf || cap < need)
		return -ENOSPC;
	memset(buf, 0, HDR_LEN);
	wr16(buf, id);
	wr16(buf + 2, FLAG_RD);
	wr16(buf + 4, 1); /* QDCOUNT */
	pos = HDR_LEN;
	start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && name[i] != '.')
			continue;
		buf[pos++] = (uint8_t)(i - start);
		memcpy(buf + pos, name + start, i - start);
		pos += i - start;
		start = i + 1;
	}
	buf[pos++] = 0;
	wr16(buf + pos, qtype);
	wr16(buf + pos + 2, NT_DNS_CLASS_IN);
	*len = pos + 4;
	return 0;
}

/* Reads the possibly compressed name at off into out, in lowercase wire
 * form. *end gets the offset just after the name where it sits (after its
 * first pointer, if any). Every pointer must point before the start of the
 * labels that led to it, so the walk moves strictly backwards at each jump
 * and always ends. */
static int name_read(const uint8_t *msg, size_t len, size_t off, uint8_t out[WIRE_MAX],
		     size_t *out_len, size_t *end)
{
	size_t pos = off, seg_start = off, n = 0;
	bool jumped = false;
	unsigned hops = 0;

	for (;;) {
		uint8_t c;

		if (pos >= len)
			return -EBADMSG;
		c = msg[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t target;

			if (pos + 1 >= len)
				return -EBADMSG;
			target = (size_t)(c & 0x3f) << 8 | msg[pos + 1];
			if (target < HDR_LEN || target >= seg_start || ++hops > PTR_HOPS_MAX)
				return -EBADMSG;
			if (!jumped)
				*end = pos + 2;
			jumped = true;
			pos = seg_start = target;
			continue;
		}
		if (c & 0xc0)
			return -EBADMSG; /* extended label types (RFC 6891 retired them) */
		if (n + 1 + c > WIRE_MAX)
			return -EBADMSG;
		out[n++] = c;
		if (c == 0)
			break;
		if (pos + 1 + c > len)
			return -EBADMSG;
		for (size_t i = 0; i < c; i++)
			out[n++] = lower(msg[pos + 1 + i]);
		pos += 1 + (size_t)c;
	}
	if (!jumped)
		*end = pos + 1;
	*out_len = n;
	return 0;
}

static int rr_read(const uint8_t *msg, size_t len, size_t *pos, struct rr *rr)
{
	uint8_t name[WIRE_MAX];
	size_t name_len, p;
	int err;

	err = name_read(msg, len, *pos, name, &name_len, &p);
	if (err)
		return err;
	if (len - p < 10)
		return -EBADMSG;
	rr->owner = *pos;
	rr->type = rd16(msg + p);
	rr->class_ = rd16(msg + p + 2);
	rr->ttl = rd32(msg + p + 4);
	if (rr->ttl > 0x7fffffffu)
		rr->ttl = 0;
	rr->rdlen = rd16(msg + p + 8);
	rr->rdata = p + 10;
	if (len - rr->rdata < rr->rdlen)
		return -EBADMSG;
	*pos = rr->rdata + rr->rdlen;
	return 0;
}

static bool name_is(const uint8_t *msg, size_t len, size_t off, const uint8_t *want,
		    size_t want_len)
{
	uint8_t name[WIRE_MAX];
	size_t name_len, end;

	/* Every owner was read once already when the section was checked. */
	return name_read(msg, len, off, name, &name_len, &end) == 0 && name_len == want_len &&
	       memcmp(name, want, want_len) == 0;
}

/* Checks the answer section; returns how many whole records it holds. */
static int answers_count(const uint8_t *msg, size_t len, size_t start, uint16_t ancount,
			 bool truncated, size_t *count)
{
	size_t pos = start;
	struct rr rr;

	*count = 0;
	for (uint16_t i = 0; i < ancount; i++) {
		int err = rr_read(msg, len, &pos, &rr);

		if (err)
			return truncated ? 0 : err;
		(*count)++;
	}
	return 0;
}

struct chain_step {
	bool found;	   /* addresses for this name */
	bool has_cname;	   /* an alias for it, when no addresses */
	struct rr cname;   /* the first alias record */
	uint32_t addr_ttl; /* minimum over the addresses found */
};

/* One pass over the answer section for the records owned by target. */
static int chain_scan(const uint8_t *msg, size_t len, size_t start, size_t count,
		      const uint8_t *target, size_t target_len, uint16_t qtype,
		      uint8_t (*addrs)[16], size_t max_addrs, struct nt_dns_answer *out,
		      struct chain_step *step)
{
	size_t pos = start, alen = qtype == NT_DNS_TYPE_A ? 4 : 16;
	struct rr rr;

	memset(step, 0, sizeof(*step));
	step->addr_ttl = UINT32_MAX;
	for (size_t i = 0; i < count; i++) {
		if (rr_read(msg, len, &pos, &rr) != 0)
			return -EBADMSG; /* cannot happen: answers_count read them */
		if (rr.class_ != NT_DNS_CLASS_IN ||
		    (rr.type != qtype && rr.type != NT_DNS_TYPE_CNAME))
			continue;
		if (!name_is(msg, len, rr.owner, target, target_len))
			continue;
		if (rr.type == NT_DNS_TYPE_CNAME) {
			if (!step->has_cname)
				step->cname = rr;
			step->has_cname = true;
			continue;
		}
		if (rr.rdlen != alen)
			return -EBADMSG;
		if (out->n_addrs < max_addrs) {
			memset(addrs[out->n_addrs], 0, 16);
			memcpy(addrs[out->n_addrs], msg + rr.rdata, alen);
			out->n_addrs++;
		}
		out->n_found++;
		step->found = true;
		if (rr.ttl < step->addr_ttl)
			step->addr_ttl = rr.ttl;
	}
	return 0;
}

static int answers_follow(const uint8_t *msg, size_t len, size_t start, size_t count,
			  const uint8_t *qname, size_t qname_len, uint16_t qtype,
			  uint8_t (*addrs)[16], size_t max_addrs, struct nt_dns_answer *out)
{
	uint8_t target[WIRE_MAX];
	size_t target_len = qname_len, end;
	uint32_t ttl = UINT32_MAX;
	struct chain_step step;
	int err;

	memcpy(target, qname, qname_len);
	for (;;) {
		err = chain_scan(msg, len, start, count, target, target_len, qtype, addrs,
				 max_addrs, out, &step);
		if (err)
			return err;
		if (step.found) {
			out->ttl = step.addr_ttl < ttl ? step.addr_ttl : ttl;
			return 0;
		}
		if (!step.has_cname || out->cnames == NT_DNS_MAX_CNAME)
			return 0; /* no data for this name */
		err = name_read(msg, len, step.cname.rdata, target, &target_len, &end);
		if (err || end != step.cname.rdata + step.cname.rdlen)
			return -EBADMSG;
		if (step.cname.ttl < ttl)
			ttl = step.cname.ttl;
		out->cnames++;
	}
}

int nt_dns_response_parse(const uint8_t *query, size_t query_len, const uint8_t *msg, size_t len,
			  uint8_t (*addrs)[16], size_t max_addrs, struct nt_dns_answer *out)
{
	uint8_t qname[WIRE_MAX], rname[WIRE_MAX];
	size_t qname_len, rname_len, qend, rend, count;
	uint16_t flags, qtype;
	int err;

	memset(out, 0, sizeof(*out));
	if (!query || query_len < HDR_LEN || rd16(query + 4) != 1)
		return -EINVAL;
	if (name_read(query, query_len, HDR_LEN, qname, &qname_len, &qend) != 0 ||
	    query_len - qend < 4)
		return -EINVAL;
	qtype = rd16(query + qend);
	if (qtype != NT_DNS_TYPE_A && qtype != NT_DNS_TYPE_AAAA)
		return -EINVAL;

	if (!msg || len < HDR_LEN)
		return -EBADMSG;
	flags = rd16(msg + 2);
	if (rd16(msg) != rd16(query) || !(flags & FLAG_QR) || (flags & OPCODE_MASK) != 0 ||
	    rd16(msg + 4) != 1)
		return -EPROTO;
	out->truncated = (flags & FLAG_TC) != 0;
	out->rcode = (uint8_t)(flags & RCODE_MASK);

	err = name_read(msg, len, HDR_LEN, rname, &rname_len, &rend);
	if (err)
		return err;
	if (len - rend < 4)
		return -EBADMSG;
	if (rname_len != qname_len || memcmp(rname, qname, qname_len) != 0 ||
	    memcmp(msg + rend, query + qend, 4) != 0)
		return -EPROTO;
	rend += 4;
	if (out->rcode != NT_DNS_RCODE_NOERROR)
		return 0;

	err = answers_count(msg, len, rend, rd16(msg + 6), out->truncated, &count);
	if (err)
		return err;
	err = answers_follow(msg, len, rend, count, qname, qname_len, qtype, addrs, max_addrs, out);
	if (err) {
		out->n_addrs = out->n_found = 0;
		out->ttl = 0;
	}
	return err;
}
