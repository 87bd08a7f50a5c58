// SPDX-License-Identifier: MIT
/* The HTTP proxy's byte buffers (see http_buf.h). */
#include "proxy/http_buf.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

bool nt_http_buf_ensure(struct nt_http_buf *b, size_t cap)
{
	if (b->p)
		return true;
	b->cap = cap;
	b->off = b->len = b->hw = 0;
	b->p = malloc(b->cap);
	return b->p != NULL;
}

void nt_http_buf_free(struct nt_http_buf *b, bool wipe)
{
	if (b->p && wipe)
		sodium_memzero(b->p, b->hw);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

size_t nt_http_buf_avail(const struct nt_http_buf *b)
{
	return b->len - b->off;
}

size_t nt_http_buf_room(const struct nt_http_buf *b, size_t cap)
{
	return b->p ? b->cap - nt_http_buf_avail(b) : cap;
}

void nt_http_buf_consume(struct nt_http_buf *b, size_t n, bool wipe)
{
	if (wipe)
		sodium_memzero(b->p + b->off, n);
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

void nt_http_buf_compact(struct nt_http_buf *b)
{
	if (b->off == 0 || b->len < b->cap)
		return;
	memmove(b->p, b->p + b->off, b->len - b->off);
	b->len -= b->off;
	b->off = 0;
}
