/* SPDX-License-Identifier: MIT */
/* The snapshot's three renderings: the JSON object of `notun status --json`
 * (status.md documents it; "version" changes only when a field changes
 * meaning or goes), the text of `notun status`, and the Prometheus text
 * format of the metrics page. Pure: no I/O, no clock (the snapshot has
 * the time it was taken). */
#ifndef NT_CORE_CTL_RENDER_H
#define NT_CORE_CTL_RENDER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/ctl/snap.h"

#define NT_CTL_JSON_VERSION 1
#define NT_CTL_OUT_MAX	    (4u << 20) /* the largest rendering, any of the three */

/* A bounded text being appended to; err once anything did not fit. */
struct nt_ctl_out {
	char *buf;
	size_t cap, len;
	bool err;
};
void nt_ctl_put(struct nt_ctl_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a Prometheus label value: backslash, double quote and newline escaped. */
void nt_ctl_put_label(struct nt_ctl_out *o, const char *s);

/* Each writes into buf[cap] (NUL-terminated) and returns the length, or
 * -ENOSPC when it did not fit. */
typedef int (*nt_ctl_render_fn)(const struct nt_ctl_snap *s, char *buf, size_t cap);
int nt_ctl_render_json(const struct nt_ctl_snap *s, char *buf, size_t cap);
int nt_ctl_render_text(const struct nt_ctl_snap *s, char *buf, size_t cap);
int nt_ctl_render_prom(const struct nt_ctl_snap *s, char *buf, size_t cap);

/* fn into a buffer that grows until the text fits, up to NT_CTL_OUT_MAX:
 * 0 (*out malloc'd, *len set), -ENOMEM or -ENOSPC. */
int nt_ctl_render_alloc(nt_ctl_render_fn fn, const struct nt_ctl_snap *s, char **out, size_t *len);

#endif
