// SPDX-License-Identifier: MIT
/* The renderers' bounded appender and their growing buffer (render.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/ctl/render.h"

void nt_ctl_put(struct nt_ctl_out *o, const char *fmt, ...)
{
	size_t room = o->cap - o->len;
	va_list ap;
	int n;

	if (o->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		o->err = true;
		return;
	}
	o->len += (size_t)n;
}

void nt_ctl_put_label(struct nt_ctl_out *o, const char *s)
{
	for (; *s && !o->err; s++) {
		if (*s == '\\')
			nt_ctl_put(o, "\\\\");
		else if (*s == '"')
			nt_ctl_put(o, "\\\"");
		else if (*s == '\n')
			nt_ctl_put(o, "\\n");
		else
			nt_ctl_put(o, "%c", *s);
	}
}

int nt_ctl_render_alloc(nt_ctl_render_fn fn, const struct nt_ctl_snap *s, char **out, size_t *len)
{
	for (size_t cap = 64u << 10; cap <= NT_CTL_OUT_MAX; cap *= 2) {
		char *buf = malloc(cap);
		int n;

		if (!buf)
			return -ENOMEM;
		n = fn(s, buf, cap);
		if (n >= 0) {
			*out = buf;
			*len = (size_t)n;
			return 0;
		}
		free(buf);
	}
	return -ENOSPC;
}
