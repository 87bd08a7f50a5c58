/* SPDX-License-Identifier: MIT */
/* A byte buffer of the HTTP proxy, one per direction of a client: allocated
 * on first use, wiped (as far as it was ever written) when it held secrets.
 * Pure: no I/O. */
#ifndef NT_PROXY_HTTP_BUF_H
#define NT_PROXY_HTTP_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Data in [off, len); nothing was ever written past hw (a wipe stops there:
 * wiping the whole capacity, 16 KiB or more, was a memset per connection). */
struct nt_http_buf {
	uint8_t *p;
	size_t cap, off, len, hw;
};

/* Allocates cap bytes unless already allocated; false when out of memory. */
bool nt_http_buf_ensure(struct nt_http_buf *b, size_t cap);
void nt_http_buf_free(struct nt_http_buf *b, bool wipe);
size_t nt_http_buf_avail(const struct nt_http_buf *b);
/* Room once compacted; cap when not allocated yet. */
size_t nt_http_buf_room(const struct nt_http_buf *b, size_t cap);
void nt_http_buf_consume(struct nt_http_buf *b, size_t n, bool wipe);
/* Makes room at the tail; offsets relative to b->off stay valid. */
void nt_http_buf_compact(struct nt_http_buf *b);

#endif
