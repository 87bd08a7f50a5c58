/* SPDX-License-Identifier: MIT */
/* Command-line values of the test tools (udprelay, wgflood, wgtun): numbers,
 * IP:PORT (read by the configuration's own parser), key files and where the
 * tools may send. Static inline: each tool is one file, linked with libnotun. */
#ifndef NT_TESTS_TOOL_ARGS_H
#define NT_TESTS_TOOL_ARGS_H

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "core/config/config.h"
#include "core/wg/key.h"
#include "platform/sockaddr.h"

/* Decimal digits only, in min..max. 0 or -EINVAL. */
static inline int tool_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static inline int tool_parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (tool_parse_u64(text, min, max, &v) != 0)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* A finite number in min..max. 0 or -EINVAL. */
static inline int tool_parse_double(const char *text, double min, double max, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(text, &end);
	if (errno || *end || end == text || !isfinite(*out) || *out < min || *out > max)
		return -EINVAL;
	return 0;
}

/* "1.2.3.4:PORT" or "[v6]:PORT", the port in port_min..65535 (0 asks for an
 * ephemeral one). 0 or -EINVAL. */
static inline int tool_parse_hostport(const char *text, uint16_t port_min,
				      struct sockaddr_storage *ss, socklen_t *len)
{
	struct nt_config_listen l;

	if (nt_config_parse_listen(text, &l) != 0 || l.port < port_min)
		return -EINVAL;
	*len = nt_sockaddr_set(ss, l.ip.family, l.ip.addr, l.port);
	return 0;
}

/* A base64 key in a file, surrounded by whitespace at most. 0 or -errno. */
static inline int tool_read_key_file(const char *path, uint8_t key[NT_KEY_LEN])
{
	char buf[128];
	size_t n, start = 0;
	FILE *f = fopen(path, "r");
	int ret;

	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (start < n && (buf[start] == ' ' || buf[start] == '\t' || buf[start] == '\n' ||
			     buf[start] == '\r'))
		start++;
	while (n > start && (buf[n - 1] == ' ' || buf[n - 1] == '\t' || buf[n - 1] == '\n' ||
			     buf[n - 1] == '\r'))
		n--;
	ret = nt_key_from_base64(key, buf + start, n - start);
	sodium_memzero(buf, sizeof(buf));
	return ret;
}

/* Safety: loopback and the test namespaces' veth range (10.213.0.0/16) only. */
static inline bool tool_address_allowed(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;

		return a[0] == 127 || (a[0] == 10 && a[1] == 213);
	}
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

#endif
