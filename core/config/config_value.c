// SPDX-License-Identifier: MIT
/* The configuration parser's value syntax, shared by the key handlers:
 * lists, numbers, IP addresses, host names, HOST:PORT, growing arrays.
 * Messages quote values through Q/QA (config_parse_int.h). */
#include "core/config/config_parse_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

/* Quoting a value in a message: at most QUOTE_MAX bytes, cut on a UTF-8
 * character boundary. */
int nt_config_quote_len(const char *s)
{
	size_t n = strlen(s);

	if (n <= QUOTE_MAX)
		return (int)n;
	n = QUOTE_MAX;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return (int)n;
}

char *nt_config_trim(char *s)
{
	size_t n;

	while (nt_config_is_blank(*s))
		s++;
	n = strlen(s);
	while (n > 0 && nt_config_is_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Splits s on ',' and calls fn on each trimmed item. An empty item is an
 * error; an empty s has no items. */
int nt_config_for_each_item(struct parser *p, char *s, int (*fn)(struct parser *p, char *item))
{
	char *comma;
	int ret;

	if (*s == '\0')
		return 0;
	for (;;) {
		comma = strchr(s, ',');
		if (comma)
			*comma = '\0';
		s = nt_config_trim(s);
		if (*s == '\0')
			return nt_config_fail_key(p, "empty entry in the list");
		ret = fn(p, s);
		if (ret)
			return ret;
		if (!comma)
			return 0;
		s = comma + 1;
	}
}

/* Decimal digits only, at most max. -EINVAL when not a number, -ERANGE above max. */
int nt_config_parse_uint(const char *s, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return -ERANGE;
	}
	*out = (uint32_t)v;
	return 0;
}

int nt_config_parse_duration(const char *s, uint32_t max, uint32_t *seconds)
{
	static const struct {
		char suffix;
		uint32_t seconds;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	size_t n = strlen(s);
	uint32_t unit = 1, t;
	char num[16];
	int ret;

	for (size_t i = 0; n > 1 && i < sizeof(units) / sizeof(units[0]); i++) {
		if ((s[n - 1] | 0x20) == units[i].suffix) {
			unit = units[i].seconds;
			n--;
			break;
		}
	}
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	ret = nt_config_parse_uint(num, max, &t);
	if (ret)
		return ret;
	if ((uint64_t)t * unit > max)
		return -ERANGE;
	*seconds = t * unit;
	return 0;
}

int nt_config_number_in(struct parser *p, const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	int ret = nt_config_parse_uint(v, max, out);

	if (ret == -EINVAL)
		return nt_config_fail_key(p, Q " is not a number", QA(v));
	if (ret == -ERANGE || *out < min)
		return nt_config_fail_key(p, Q " is out of range (%u..%u)", QA(v), min, max);
	return 0;
}

int nt_config_parse_ip(const char *s, struct nt_config_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = strchr(s, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(ip->family, s, ip->addr) != 1)
		return -EINVAL;
	return 0;
}

/* Text that can only have been meant as an address: a colon, or nothing
 * but digits and dots. */
bool nt_config_looks_like_ip(const char *s)
{
	if (strchr(s, ':'))
		return true;
	return s[strspn(s, "0123456789.")] == '\0';
}

/* Labels of letters, digits, '-' and '_', 1..63 bytes, separated by dots; one
 * trailing dot allowed; NT_CONFIG_HOST_MAX bytes at most. */
bool nt_config_is_host_name(const char *s)
{
	size_t n = strlen(s), label = 0, i;

	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > NT_CONFIG_HOST_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/* Splits "HOST:PORT" or "[V6]:PORT" in place; host has no brackets. On
 * failure v is unchanged and, when p is not NULL, the error is set. */
int nt_config_split_host_port(struct parser *p, char *v, char **host, char **port)
{
	const char *why = NULL;
	char *colon, *close;

	if (*v == '[') {
		close = strchr(v, ']');
		if (!close || close[1] != ':')
			why = " is not [IPv6]:PORT";
		else if (!memchr(v, ':', (size_t)(close - v)))
			why = ": only IPv6 addresses go in brackets";
		colon = close ? close + 1 : NULL;
	} else {
		colon = strrchr(v, ':');
		if (!colon)
			why = " has no port (HOST:PORT or [IPv6]:PORT)";
		else if (memchr(v, ':', (size_t)(colon - v)))
			why = ": an IPv6 address needs brackets ([ADDRESS]:PORT)";
		close = NULL;
	}
	if (why)
		return p ? nt_config_fail_key(p, Q "%s", QA(v), why) : -EINVAL;
	if (close)
		*close = '\0';
	*colon = '\0';
	*host = close ? v + 1 : v;
	*port = colon + 1;
	return 0;
}

/* Puts back what split_host_port took out, for messages. */
void nt_config_join_host_port(char *v, char *host, char *port)
{
	if (host != v) {
		host[-1] = '[';
		port[-2] = ']';
	}
	port[-1] = ':';
}

int nt_config_grow(void **arr, size_t *cap, size_t count, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : 8;
	void *n;

	if (count < *cap)
		return 0;
	n = calloc(ncap, elem);
	if (!n)
		return -ENOMEM;
	if (count) {
		memcpy(n, *arr, count * elem);
		/* A peer array holds preshared nt_config_keys: leave no copy behind. */
		sodium_memzero(*arr, count * elem);
	}
	free(*arr);
	*arr = n;
	*cap = ncap;
	return 0;
}
