/* IP headers and the Internet checksum (see ippkt.h). */
#include "netstack/ippkt.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define V6_EXT_MAX 8 /* extension headers walked before giving up */

static bool v6_ext(uint8_t nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_FRAGMENT ||
	       nh == IPPROTO_DSTOPTS;
}

static int parse_v4(const uint8_t *pkt, size_t len, bool quote, const struct nt_ippkt_head *h,
		    struct nt_ippkt *out)
{
	size_t ihl = h->hdr_len, tot = h->len;
	uint16_t frag;

	if (ihl < NT_IPPKT_V4_HDR || tot < ihl)
		return -EINVAL;
	if ((quote ? ihl : tot) > len)
		return -EMSGSIZE;
	frag = nt_ippkt_get16(pkt + 6);
	out->proto = h->next;
	out->fragment = (frag & 0x3fff) != 0; /* MF or an offset */
	out->has_l4 = (frag & 0x1fff) == 0;
	out->l4 = ihl;
	return 0;
}

static int parse_v6(const uint8_t *pkt, size_t len, bool quote, const struct nt_ippkt_head *h,
		    struct nt_ippkt *out)
{
	size_t tot = h->len, end, off = NT_IPPKT_V6_HDR;
	uint8_t nh = h->next;

	if (tot == NT_IPPKT_V6_HDR && nh == IPPROTO_HOPOPTS)
		return -EINVAL; /* a jumbogram */
	if (tot > len && !quote)
		return -EMSGSIZE;
	end = tot < len ? tot : len;
	out->fragment = false;
	out->has_l4 = true;
	out->len = tot;
	for (int i = 0; v6_ext(nh); i++) {
		if (i == V6_EXT_MAX)
			return -EINVAL;
		if (off + 8 > end)
			return -EMSGSIZE;
		if (nh == IPPROTO_FRAGMENT) {
			out->fragment = true;
			out->has_l4 = (nt_ippkt_get16(pkt + off + 2) & 0xfff8) == 0;
			nh = pkt[off];
			off += 8;
			if (!out->has_l4)
				break; /* a later fragment: its next header is the datagram's */
			continue;
		}
		nh = pkt[off];
		off += ((size_t)pkt[off + 1] + 1) * 8;
		if (off > end)
			return -EMSGSIZE;
	}
	out->proto = nh;
	out->l4 = off;
	return 0;
}

static int parse(const uint8_t *pkt, size_t len, bool quote, struct nt_ippkt *out)
{
	struct nt_ippkt_head h;
	int rc = -EINVAL;

	/* Every field is set on success (no memset: this runs per packet). */
	if (len == 0 || (pkt[0] >> 4 != 4 && pkt[0] >> 4 != 6))
		goto err;
	rc = -EMSGSIZE; /* shorter than the fixed header */
	if (nt_ippkt_head(pkt, len, &h) != 0)
		goto err;
	out->family = h.family;
	out->src = h.src;
	out->dst = h.dst;
	out->len = h.len;
	rc = h.family == AF_INET ? parse_v4(pkt, len, quote, &h, out)
				 : parse_v6(pkt, len, quote, &h, out);
	if (rc < 0)
		goto err;
	out->l4_len = (out->len < len ? out->len : len) - out->l4;
	return 0;

err:
	memset(out, 0, sizeof(*out));
	return rc;
}

int nt_ippkt_parse(const uint8_t *pkt, size_t len, struct nt_ippkt *out)
{
	return parse(pkt, len, false, out);
}

int nt_ippkt_parse_quote(const uint8_t *pkt, size_t len, struct nt_ippkt *out)
{
	return parse(pkt, len, true, out);
}

uint32_t nt_ippkt_sum(const uint8_t *p, size_t len, uint32_t acc)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		acc += nt_ippkt_get16(p + i);
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	return acc;
}

uint16_t nt_ippkt_csum(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)~acc;
}

uint32_t nt_ippkt_pseudo_sum(int family, const uint8_t *src, const uint8_t *dst, uint8_t proto,
			     size_t len)
{
	size_t alen = family == AF_INET ? 4 : 16;

	return nt_ippkt_sum(src, alen, 0) + nt_ippkt_sum(dst, alen, 0) + proto +
	       (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff);
}
