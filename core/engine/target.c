// SPDX-License-Identifier: MIT
/* A connection's target as text, for the engine's and the proxy's logs.
 * Apart from engine.c so that the proxy's tests, which stand in a fake
 * engine, link it alone. */
#include <arpa/inet.h>
#include <stdio.h>

#include "core/engine/engine.h"

const char *nt_target_host(const struct nt_target *t, char *buf, size_t len)
{
	size_t i;

	if (!len)
		return buf;
	if (t->kind != NT_TARGET_NAME) {
		if (!inet_ntop(t->kind == NT_TARGET_IPV4 ? AF_INET : AF_INET6, t->addr, buf,
			       (socklen_t)len))
			snprintf(buf, len, "?");
		return buf;
	}
	for (i = 0; i + 1 < len && i < NT_TARGET_NAME_MAX && t->name[i]; i++) {
		unsigned char ch = (unsigned char)t->name[i];

		buf[i] = ch > ' ' && ch < 0x7f && ch != '"' ? (char)ch : '?';
	}
	buf[i] = '\0';
	return buf;
}
