/* SPDX-License-Identifier: MIT */
/* The portal's URL, the upgrade request's query and the public key it carries. */
#include "core/channel/chan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool nt_chan_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

static int parse_port(const char *text, size_t len, uint16_t *out)
{
	unsigned v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(text[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static bool host_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

int nt_chan_url_parse(const char *text, struct nt_chan_url *out)
{
	const char *p, *host, *end;
	size_t host_len;

	memset(out, 0, sizeof(*out));
	if (strncmp(text, "wss://", 6) == 0) {
		out->tls = true;
		p = text + 6;
	} else if (strncmp(text, "ws://", 5) == 0) {
		p = text + 5;
	} else {
		return -EINVAL;
	}
	end = p + strcspn(p, "/");
	if (*end == '/' && end[1] != '\0')
		return -EINVAL; /* the path belongs to the role, not to the URL */
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));
		struct in6_addr a6;

		if (!close)
			return -EINVAL;
		host = p + 1;
		host_len = (size_t)(close - host);
		p = close + 1;
		if (host_len == 0 || host_len > NT_CHAN_HOST_MAX)
			return -EINVAL;
		memcpy(out->host, host, host_len);
		if (inet_pton(AF_INET6, out->host, &a6) != 1)
			return -EINVAL;
	} else {
		host = p;
		while (p < end && *p != ':')
			p++;
		host_len = (size_t)(p - host);
		if (host_len == 0 || host_len > NT_CHAN_HOST_MAX)
			return -EINVAL;
		for (size_t i = 0; i < host_len; i++)
			if (!host_char_ok(host[i]))
				return -EINVAL;
		memcpy(out->host, host, host_len);
	}
	if (p < end) {
		if (*p != ':' || parse_port(p + 1, (size_t)(end - p - 1), &out->port) != 0)
			return -EINVAL;
	} else {
		out->port = out->tls ? 443 : 80;
	}
	if (!out->tls && !nt_chan_host_is_loopback(out->host))
		return -EPERM;
	return 0;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int nt_chan_query_add(char *buf, size_t cap, size_t *len, const char *key, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = *len;
	int w =
	    snprintf(buf + n, cap > n ? cap - n : 0, "%c%s=", memchr(buf, '?', n) ? '&' : '?', key);

	if (w < 0 || (size_t)w >= (cap > n ? cap - n : 0))
		return -ENOSPC;
	n += (size_t)w;
	for (const unsigned char *v = (const unsigned char *)value; *v; v++) {
		if (n + 4 > cap)
			return -ENOSPC;
		if (unreserved(*v)) {
			buf[n++] = (char)*v;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[*v >> 4];
			buf[n++] = hex[*v & 15];
		}
	}
	buf[n] = '\0';
	*len = n;
	return 0;
}

int nt_chan_key_parse(const char *text, uint8_t key[NT_CHAN_KEY_LEN])
{
	char b64[48];
	size_t len = strlen(text), bin_len;
	const char *end;

	/* An unencoded '+' reaches us as ' ' (form decoding); base64 has no spaces. */
	if (len != 44)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		b64[i] = text[i] == ' ' ? '+' : text[i];
	b64[len] = '\0';
	if (sodium_base642bin(key, NT_CHAN_KEY_LEN, b64, len, NULL, &bin_len, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    bin_len != NT_CHAN_KEY_LEN || *end != '\0')
		return -EINVAL;
	return 0;
}
