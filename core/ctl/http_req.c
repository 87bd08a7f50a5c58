// SPDX-License-Identifier: MIT
/* The metrics endpoint's request parser (http_req.h). */
#include "core/ctl/http_req.h"

#include <string.h>

/* RFC 9110 tchar. */
static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The end of the header section (after its empty line), or NULL. */
static const char *head_end(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n')
			return buf + i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return buf + i + 3;
	}
	return NULL;
}

static size_t line_len(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

	return n && p[n - 1] == '\r' ? n - 1 : n;
}

static int header_lines(const char *p, const char *end)
{
	while (p < end) {
		size_t n = line_len(p, end);
		const char *colon = memchr(p, ':', n);

		if (n == 0)
			return 200;
		/* No folded lines (RFC 9112 5.2), a field name of tchars. */
		if (!colon || colon == p)
			return 400;
		for (const char *q = p; q < colon; q++)
			if (!is_tchar(*q))
				return 400;
		for (const char *q = colon; q < p + n; q++)
			if ((unsigned char)*q < 0x20 && *q != '\t')
				return 400;
		p += n;
		p += *p == '\r' ? 2 : 1;
	}
	return 400;
}

int nt_ctl_http_parse(const char *buf, size_t len, bool full, struct nt_ctl_http_req *out)
{
	const char *end = head_end(buf, len), *p = buf, *sp1, *sp2, *q;
	size_t n, tlen;

	memset(out, 0, sizeof(*out));
	/* Blank lines before the request line may be skipped (RFC 9112 2.2). */
	while (p < buf + len && (*p == '\r' || *p == '\n'))
		p++;
	n = line_len(p, buf + len);
	sp1 = memchr(p, ' ', n);
	if (sp1 && (size_t)(sp1 - p) < n) {
		sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p));
		tlen = (size_t)((sp2 ? sp2 : p + n) - sp1 - 1);
		if (tlen > NT_CTL_HTTP_TARGET_MAX)
			return 414;
	}
	if (!end)
		return full ? 431 : 0;
	if (!sp1 || sp1 == p)
		return 400;
	for (q = p; q < sp1; q++)
		if (!is_tchar(*q))
			return 400;
	sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p));
	if (!sp2 || sp2 == sp1 + 1)
		return 400;
	if (p + n - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return (size_t)(p + n - sp2 - 1) >= 5 && memcmp(sp2 + 1, "HTTP/", 5) == 0 ? 505
											  : 400;
	if (sp2[8] < '0' || sp2[8] > '9')
		return 400;
	if (*(sp1 + 1) != '/')
		return 400;
	for (q = sp1 + 1; q < sp2; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
			return 400;
	tlen = strcspn(sp1 + 1, "? ");
	if (tlen > (size_t)(sp2 - sp1 - 1))
		tlen = (size_t)(sp2 - sp1 - 1);
	memcpy(out->path, sp1 + 1, tlen);
	out->path[tlen] = '\0';
	q = p + n;
	q += *q == '\r' ? 2 : 1;
	if (header_lines(q, end) != 200)
		return 400;
	if ((size_t)(sp1 - p) == 3 && memcmp(p, "GET", 3) == 0)
		return 200;
	if ((size_t)(sp1 - p) == 4 && memcmp(p, "HEAD", 4) == 0) {
		out->head = true;
		return 200;
	}
	return 405;
}
