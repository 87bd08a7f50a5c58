/* The configuration parser: wg-quick's INI syntax, notun's sections.
 *
 * One pass over the text, one line at a time: check the bytes (UTF-8, no
 * control characters), strip the comment, then a section header or a
 * "Key = Value" line, dispatched through the key table below. Checks that
 * need a whole section (a [Peer] without PublicKey) run when the section
 * closes; checks that need the whole file (PrivateKey present, a peer using
 * our own key, Username without Password) run at the end. The first error
 * stops the parse. config.h has the grammar. The role checks are in
 * config_validate.c, writing a config back as text in config_format.c.
 */
#include "core/config_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <sodium.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum section { SEC_NONE, SEC_INTERFACE, SEC_PEER, SEC_PROXY, SEC_GATEWAY };

static const char *const section_names[] = {"", "Interface", "Peer", "Proxy", "Gateway"};

struct parser;
struct key_def;

typedef int (*key_parse_fn)(struct parser *p, char *value);

/* KEY_LIST: comma-separated, may repeat, an empty value adds nothing.
 * KEY_REPEAT: may repeat (one item per line). KEY_IGNORED: wg-quick's,
 * accepted with a warning. */
enum { KEY_LIST = 1, KEY_REPEAT = 2, KEY_IGNORED = 4 };

struct key_def {
	const char *name;
	enum section sec;
	unsigned int flags;
	key_parse_fn parse;
};

struct parser {
	struct nt_config *cfg;
	struct nt_config_error *err;
	unsigned int line;
	enum section sec;
	const struct key_def *key;   /* the key being parsed */
	struct nt_config_peer *peer; /* the open [Peer], or NULL */
	unsigned int seen[32];	     /* line where each key of the table was set */
	char buf[NT_CONFIG_MAX_LINE + 1];
};

static int set_error_v(struct nt_config_error *err, const char *file, unsigned int line,
		       const char *key, const char *fmt, va_list ap)
{
	size_t size = sizeof(err->message), n;

	if (!err)
		return -EINVAL;
	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", file);
	err->line = line;
	snprintf(err->key, sizeof(err->key), "%s", key ? key : "");
	/* file and key are bounded well below the message size. */
	if (line)
		snprintf(err->message, size, "%s:%u: ", err->file, line);
	else
		snprintf(err->message, size, "%s: ", err->file);
	n = strlen(err->message);
	if (err->key[0])
		snprintf(err->message + n, size - n, "%s: ", err->key);
	n = strlen(err->message);
	vsnprintf(err->message + n, size - n, fmt, ap);
	return -EINVAL;
}

int nt_config_set_error(struct nt_config_error *err, const char *file, unsigned int line,
			const char *key, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = set_error_v(err, file, line, key, fmt, ap);
	va_end(ap);
	return ret;
}

/* An error on the current line about the current key. */
__attribute__((format(printf, 2, 3))) static int fail_key(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = set_error_v(p->err, p->cfg->filename, p->line, p->key ? p->key->name : NULL, fmt, ap);
	va_end(ap);
	return ret;
}

__attribute__((format(printf, 4, 5))) static int fail_at(struct parser *p, unsigned int line,
							 const char *key, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = set_error_v(p->err, p->cfg->filename, line, key, fmt, ap);
	va_end(ap);
	return ret;
}

static int fail_nomem(struct parser *p)
{
	fail_at(p, p->line, NULL, "out of memory");
	return -ENOMEM;
}

/* Quoting a value in a message: at most QUOTE_MAX bytes, cut on a UTF-8
 * character boundary. */
#define QUOTE_MAX 64
#define Q	  "'%.*s%s'"
#define QA(s)	  quote_len(s), (s), strlen(s) > QUOTE_MAX ? "..." : ""

static int quote_len(const char *s)
{
	size_t n = strlen(s);

	if (n <= QUOTE_MAX)
		return (int)n;
	n = QUOTE_MAX;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return (int)n;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static char *trim(char *s)
{
	size_t n;

	while (is_blank(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Splits s on ',' and calls fn on each trimmed item. An empty item is an
 * error; an empty s has no items. */
static int for_each_item(struct parser *p, char *s, int (*fn)(struct parser *p, char *item))
{
	char *comma;
	int ret;

	if (*s == '\0')
		return 0;
	for (;;) {
		comma = strchr(s, ',');
		if (comma)
			*comma = '\0';
		s = trim(s);
		if (*s == '\0')
			return fail_key(p, "empty entry in the list");
		ret = fn(p, s);
		if (ret)
			return ret;
		if (!comma)
			return 0;
		s = comma + 1;
	}
}

/* Decimal digits only, at most max. -EINVAL when not a number, -ERANGE above max. */
static int parse_uint(const char *s, uint32_t max, uint32_t *out)
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

static int number_in(struct parser *p, const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	int ret = parse_uint(v, max, out);

	if (ret == -EINVAL)
		return fail_key(p, Q " is not a number", QA(v));
	if (ret == -ERANGE || *out < min)
		return fail_key(p, Q " is out of range (%u..%u)", QA(v), min, max);
	return 0;
}

static int parse_ip(const char *s, struct nt_config_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	ip->family = strchr(s, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(ip->family, s, ip->addr) != 1)
		return -EINVAL;
	return 0;
}

/* Text that can only have been meant as an address: a colon, or nothing
 * but digits and dots. */
static bool looks_like_ip(const char *s)
{
	if (strchr(s, ':'))
		return true;
	return s[strspn(s, "0123456789.")] == '\0';
}

/* Labels of letters, digits, '-' and '_', 1..63 bytes, separated by dots; one
 * trailing dot allowed; NT_CONFIG_HOST_MAX bytes at most. */
static bool is_host_name(const char *s)
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
static int split_host_port(struct parser *p, char *v, char **host, char **port)
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
		return p ? fail_key(p, Q "%s", QA(v), why) : -EINVAL;
	if (close)
		*close = '\0';
	*colon = '\0';
	*host = close ? v + 1 : v;
	*port = colon + 1;
	return 0;
}

/* Puts back what split_host_port took out, for messages. */
static void join_host_port(char *v, char *host, char *port)
{
	if (host != v) {
		host[-1] = '[';
		port[-2] = ']';
	}
	port[-1] = ':';
}

static int grow(void **arr, size_t *cap, size_t count, size_t elem)
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
		/* A peer array holds preshared keys: leave no copy behind. */
		sodium_memzero(*arr, count * elem);
	}
	free(*arr);
	*arr = n;
	*cap = ncap;
	return 0;
}

/* [Interface] */

static int k_private_key(struct parser *p, char *v)
{
	if (nt_key_from_base64(p->cfg->private_key, v, strlen(v)) != 0)
		return fail_key(p, "not a base64 WireGuard key (44 characters)");
	return 0;
}

static int address_item(struct parser *p, char *v)
{
	struct nt_config *cfg = p->cfg;

	if (cfg->address_count == NT_CONFIG_MAX_ADDRESSES)
		return fail_key(p, "more than %d addresses", NT_CONFIG_MAX_ADDRESSES);
	if (wg_allowedips_parse_cidr(v, &cfg->addresses[cfg->address_count]) != 0)
		return fail_key(p, Q " is not an IP prefix", QA(v));
	cfg->address_count++;
	return 0;
}

static int k_address(struct parser *p, char *v)
{
	return for_each_item(p, v, address_item);
}

static int dns_item(struct parser *p, char *v)
{
	struct nt_config *cfg = p->cfg;

	if (looks_like_ip(v)) {
		if (cfg->dns_server_count == NT_CONFIG_MAX_DNS_SERVERS)
			return fail_key(p, "more than %d servers", NT_CONFIG_MAX_DNS_SERVERS);
		if (parse_ip(v, &cfg->dns_servers[cfg->dns_server_count]) != 0)
			return fail_key(p, Q " is not an IP address", QA(v));
		cfg->dns_server_count++;
		return 0;
	}
	if (!is_host_name(v))
		return fail_key(p, Q " is not an IP address or a domain name", QA(v));
	if (cfg->dns_search_count == NT_CONFIG_MAX_DNS_SEARCH)
		return fail_key(p, "more than %d search domains", NT_CONFIG_MAX_DNS_SEARCH);
	snprintf(cfg->dns_search[cfg->dns_search_count++], NT_CONFIG_HOST_MAX + 1, "%s", v);
	return 0;
}

static int k_dns(struct parser *p, char *v)
{
	return for_each_item(p, v, dns_item);
}

static int k_mtu(struct parser *p, char *v)
{
	uint32_t n;
	int ret = number_in(p, v, NT_CONFIG_MTU_MIN, 65535, &n);

	if (ret)
		return ret;
	p->cfg->mtu = (uint16_t)n;
	return 0;
}

static int k_listen_port(struct parser *p, char *v)
{
	uint32_t n;
	int ret = number_in(p, v, 0, 65535, &n);

	if (ret)
		return ret;
	p->cfg->listen_port = (uint16_t)n;
	p->cfg->has_listen_port = true;
	return 0;
}

static int k_ignored(struct parser *p, char *v)
{
	struct nt_config *cfg = p->cfg;
	struct nt_config_warning *w;
	char msg[NT_CONFIG_FILE_MAX];

	(void)v;
	if (cfg->warning_count == NT_CONFIG_MAX_WARNINGS) {
		cfg->warnings_dropped++;
		return 0;
	}
	w = &cfg->warnings[cfg->warning_count++];
	w->line = p->line;
	snprintf(w->key, sizeof(w->key), "%s", p->key->name);
	snprintf(msg, sizeof(msg), "%s", cfg->filename);
	snprintf(w->message, sizeof(w->message),
		 "%s:%u: %s: ignored (wg-quick key; notun creates no network interface)", msg,
		 p->line, p->key->name);
	return 0;
}

/* [Peer] */

static int k_public_key(struct parser *p, char *v)
{
	struct nt_config *cfg = p->cfg;
	struct nt_config_peer *peer = p->peer;
	size_t i;

	if (nt_key_from_base64(peer->public_key, v, strlen(v)) != 0)
		return fail_key(p, Q " is not a base64 WireGuard key (44 characters)", QA(v));
	peer->public_key_line = p->line;
	for (i = 0; i + 1 < cfg->peer_count; i++) {
		if (memcmp(cfg->peers[i].public_key, peer->public_key, NT_KEY_LEN) == 0)
			return fail_key(p, "the same key as the [Peer] at line %u",
					cfg->peers[i].line);
	}
	return 0;
}

static int k_preshared_key(struct parser *p, char *v)
{
	if (nt_key_from_base64(p->peer->preshared_key, v, strlen(v)) != 0)
		return fail_key(p, "not a base64 WireGuard key (44 characters)");
	p->peer->has_preshared_key = true;
	return 0;
}

static int k_endpoint(struct parser *p, char *v)
{
	struct nt_config_endpoint *ep = &p->peer->endpoint;
	char *host, *port;
	uint32_t n;
	int ret;

	ret = split_host_port(p, v, &host, &port);
	if (ret)
		return ret;
	if (parse_uint(port, 65535, &n) != 0 || n == 0) {
		join_host_port(v, host, port);
		return fail_key(p, Q " has no valid port (1..65535)", QA(v));
	}
	ep->port = (uint16_t)n;
	if (parse_ip(host, &ep->ip) == 0) {
		ep->is_literal = true;
	} else if (looks_like_ip(host) || !is_host_name(host)) {
		join_host_port(v, host, port);
		return fail_key(p, Q " is not HOST:PORT with a host name or IP address", QA(v));
	}
	snprintf(ep->host, sizeof(ep->host), "%s", host);
	p->peer->has_endpoint = true;
	return 0;
}

static int allowed_ip_item(struct parser *p, char *v)
{
	struct nt_config_peer *peer = p->peer;
	struct wg_cidr c;

	if (wg_allowedips_parse_cidr(v, &c) != 0)
		return fail_key(p, Q " is not an IP prefix", QA(v));
	if (peer->allowed_ips_count == NT_CONFIG_MAX_ALLOWED_IPS)
		return fail_key(p, "more than %d prefixes in one [Peer]",
				NT_CONFIG_MAX_ALLOWED_IPS);
	if (grow((void **)&peer->allowed_ips, &peer->allowed_ips_cap, peer->allowed_ips_count,
		 sizeof(c)) != 0)
		return fail_nomem(p);
	peer->allowed_ips[peer->allowed_ips_count++] = c;
	return 0;
}

static int k_allowed_ips(struct parser *p, char *v)
{
	return for_each_item(p, v, allowed_ip_item);
}

static int k_persistent_keepalive(struct parser *p, char *v)
{
	uint32_t n;
	int ret;

	if (strcasecmp(v, "off") == 0) {
		p->peer->persistent_keepalive = 0;
		return 0;
	}
	ret = parse_uint(v, 65535, &n);
	if (ret == -EINVAL)
		return fail_key(p, Q " is not a number of seconds or 'off'", QA(v));
	if (ret)
		return fail_key(p, Q " is out of range (0..65535)", QA(v));
	p->peer->persistent_keepalive = (uint16_t)n;
	return 0;
}

/* Allow (both sections): "CIDR[,CIDR...] [PROTO][:PORTS]", see config.h. */

static int parse_port_item(struct parser *p, char *v, struct nt_config_port_range *r)
{
	char *dash = strchr(v, '-');
	uint32_t first, last;

	if (dash)
		*dash = '\0';
	if (parse_uint(v, 65535, &first) != 0 || first == 0 ||
	    (dash && (parse_uint(dash + 1, 65535, &last) != 0 || last == 0))) {
		if (dash)
			*dash = '-';
		return fail_key(p, Q " is not a port or port range (1..65535)", QA(v));
	}
	if (!dash)
		last = first;
	if (last < first) {
		*dash = '-';
		return fail_key(p, Q " is an empty port range", QA(v));
	}
	r->first = (uint16_t)first;
	r->last = (uint16_t)last;
	return 0;
}

static int parse_allow_spec(struct parser *p, char *spec, struct nt_config_allow *rule)
{
	char *ports = strchr(spec, ':'), *item, *comma;
	int ret;

	if (ports)
		*ports++ = '\0';
	spec = trim(spec);
	if (*spec == '\0' && ports)
		rule->proto = NT_CONFIG_PROTO_ANY;
	else if (strcasecmp(spec, "tcp") == 0)
		rule->proto = NT_CONFIG_PROTO_TCP;
	else if (strcasecmp(spec, "udp") == 0)
		rule->proto = NT_CONFIG_PROTO_UDP;
	else if (strcasecmp(spec, "any") == 0)
		rule->proto = NT_CONFIG_PROTO_ANY;
	else
		return fail_key(p, Q " is not tcp, udp or any", QA(spec));
	if (!ports)
		return 0;
	for (item = ports;; item = comma + 1) {
		comma = strchr(item, ',');
		if (comma)
			*comma = '\0';
		item = trim(item);
		if (*item == '\0')
			return fail_key(p, "empty entry in the port list");
		if (rule->nports == NT_CONFIG_MAX_ALLOW_PORTS)
			return fail_key(p, "more than %d port ranges in one rule",
					NT_CONFIG_MAX_ALLOW_PORTS);
		ret = parse_port_item(p, item, &rule->ports[rule->nports]);
		if (ret)
			return ret;
		rule->nports++;
		if (!comma)
			return 0;
	}
}

static int k_allow(struct parser *p, char *v)
{
	struct nt_config *cfg = p->cfg;
	struct nt_config_allow **rules = p->peer ? &p->peer->allow : &cfg->gateway_allow;
	size_t *count = p->peer ? &p->peer->allow_count : &cfg->gateway_allow_count;
	size_t *cap = p->peer ? &p->peer->allow_cap : &cfg->gateway_allow_cap;
	size_t first = *count, i;
	struct nt_config_allow spec;
	struct wg_cidr cidr;
	char *s = v, *end, save;
	int ret;

	/* The CIDR list: one rule each, its items up to the first blank that
	 * is not next to a comma. */
	for (;;) {
		while (is_blank(*s))
			s++;
		end = s + strcspn(s, ", \t");
		if (end == s)
			return fail_key(p, "empty entry in the list");
		save = *end;
		*end = '\0';
		if (*count == NT_CONFIG_MAX_ALLOW)
			return fail_key(p, "more than %d rules in one section",
					NT_CONFIG_MAX_ALLOW);
		if (wg_allowedips_parse_cidr(s, &cidr) != 0)
			return fail_key(p, Q " is not an IP prefix", QA(s));
		if (grow((void **)rules, cap, *count, sizeof(**rules)) != 0)
			return fail_nomem(p);
		(*rules)[(*count)++].cidr = cidr;
		*end = save;
		s = end;
		while (is_blank(*s))
			s++;
		if (*s != ',')
			break;
		s++;
	}
	/* The protocol and ports, shared by the line's rules. */
	memset(&spec, 0, sizeof(spec));
	spec.line = p->line;
	if (*s != '\0') {
		ret = parse_allow_spec(p, s, &spec);
		if (ret)
			return ret;
	}
	for (i = first; i < *count; i++) {
		spec.cidr = (*rules)[i].cidr;
		(*rules)[i] = spec;
	}
	return 0;
}

/* [Proxy] */

/* A literal address and a port 0..65535. p as for split_host_port. */
static int listen_parse(struct parser *p, char *v, struct nt_config_listen *l)
{
	char *host, *port;
	uint32_t n;
	bool ok;
	int ret;

	ret = split_host_port(p, v, &host, &port);
	if (ret)
		return ret;
	memset(l, 0, sizeof(*l));
	ok = parse_ip(host, &l->ip) == 0 && parse_uint(port, 65535, &n) == 0;
	join_host_port(v, host, port);
	if (!ok)
		return p ? fail_key(p, Q " is not ADDRESS:PORT or [IPv6]:PORT", QA(v)) : -EINVAL;
	l->port = (uint16_t)n;
	return 0;
}

int nt_config_parse_listen(const char *text, struct nt_config_listen *out)
{
	char buf[64]; /* "[" IPv6 "]:" port */
	size_t n = text ? strlen(text) : 0;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, text, n + 1);
	return listen_parse(NULL, buf, out);
}

static int listen_item(struct parser *p, char *v)
{
	struct nt_config *cfg = p->cfg;
	struct nt_config_listen l;
	size_t i;
	int ret;

	if (cfg->listen_count == NT_CONFIG_MAX_LISTEN)
		return fail_key(p, "more than %d addresses", NT_CONFIG_MAX_LISTEN);
	ret = listen_parse(p, v, &l);
	if (ret)
		return ret;
	for (i = 0; i < cfg->listen_count; i++) {
		if (memcmp(&cfg->listen[i], &l, sizeof(l)) == 0)
			return fail_key(p, Q " is listed twice", QA(v));
	}
	cfg->listen[cfg->listen_count++] = l;
	return 0;
}

static int k_listen(struct parser *p, char *v)
{
	return for_each_item(p, v, listen_item);
}

/* RFC 1929 allows 1..255 bytes; printable ASCII because SOCKS and HTTP
 * clients disagree on how to encode anything else. */
static int credential(struct parser *p, const char *v, char out[NT_CONFIG_CREDENTIAL_MAX + 1],
		      bool quote)
{
	size_t n = strlen(v), i;

	if (n > NT_CONFIG_CREDENTIAL_MAX)
		return fail_key(p, "longer than %d bytes", NT_CONFIG_CREDENTIAL_MAX);
	for (i = 0; i < n; i++) {
		if (v[i] < 0x20 || v[i] > 0x7e) {
			if (quote)
				return fail_key(p, Q " is not printable ASCII", QA(v));
			return fail_key(p, "not printable ASCII");
		}
	}
	memcpy(out, v, n + 1);
	return 0;
}

static int k_username(struct parser *p, char *v)
{
	return credential(p, v, p->cfg->username, true);
}

static int k_password(struct parser *p, char *v)
{
	return credential(p, v, p->cfg->password, false);
}

static int k_bypass(struct parser *p, char *v)
{
	if (strcasecmp(v, "direct") == 0)
		p->cfg->bypass = NT_CONFIG_BYPASS_DIRECT;
	else if (strcasecmp(v, "reject") == 0)
		p->cfg->bypass = NT_CONFIG_BYPASS_REJECT;
	else
		return fail_key(p, Q " is not direct or reject", QA(v));
	return 0;
}

/* "15", "15s" or "1500ms". */
static int k_connect_timeout(struct parser *p, char *v)
{
	size_t n = strlen(v);
	uint32_t unit = 1000, t;
	char num[16];

	if (n > 2 && strcasecmp(v + n - 2, "ms") == 0) {
		unit = 1;
		n -= 2;
	} else if (n > 1 && (v[n - 1] == 's' || v[n - 1] == 'S')) {
		n -= 1;
	}
	if (n == 0 || n >= sizeof(num))
		goto bad;
	memcpy(num, v, n);
	num[n] = '\0';
	switch (parse_uint(num, UINT32_MAX / 1000, &t)) {
	case 0:
		break;
	case -ERANGE:
		goto range;
	default:
		goto bad;
	}
	t *= unit;
	if (t < NT_CONFIG_MIN_TIMEOUT_MS || t > NT_CONFIG_MAX_TIMEOUT_MS)
		goto range;
	p->cfg->connect_timeout_ms = t;
	return 0;
bad:
	return fail_key(p, Q " is not a duration (15, 15s or 1500ms)", QA(v));
range:
	return fail_key(p, Q " is out of range (%ds..%ds)", QA(v), NT_CONFIG_MIN_TIMEOUT_MS / 1000,
			NT_CONFIG_MAX_TIMEOUT_MS / 1000);
}

static int k_max_connections(struct parser *p, char *v)
{
	return number_in(p, v, 1, NT_CONFIG_MAX_CONNS_LIMIT, &p->cfg->max_connections);
}

static const struct key_def keys[] = {
    {"PrivateKey", SEC_INTERFACE, 0, k_private_key},
    {"Address", SEC_INTERFACE, KEY_LIST, k_address},
    {"DNS", SEC_INTERFACE, KEY_LIST, k_dns},
    {"MTU", SEC_INTERFACE, 0, k_mtu},
    {"ListenPort", SEC_INTERFACE, 0, k_listen_port},
    {"Table", SEC_INTERFACE, KEY_IGNORED, k_ignored},
    {"PreUp", SEC_INTERFACE, KEY_IGNORED, k_ignored},
    {"PostUp", SEC_INTERFACE, KEY_IGNORED, k_ignored},
    {"PreDown", SEC_INTERFACE, KEY_IGNORED, k_ignored},
    {"PostDown", SEC_INTERFACE, KEY_IGNORED, k_ignored},
    {"SaveConfig", SEC_INTERFACE, KEY_IGNORED, k_ignored},
    {"FwMark", SEC_INTERFACE, KEY_IGNORED, k_ignored},
    {"PublicKey", SEC_PEER, 0, k_public_key},
    {"PresharedKey", SEC_PEER, 0, k_preshared_key},
    {"Endpoint", SEC_PEER, 0, k_endpoint},
    {"AllowedIPs", SEC_PEER, KEY_LIST, k_allowed_ips},
    {"PersistentKeepalive", SEC_PEER, 0, k_persistent_keepalive},
    {"Allow", SEC_PEER, KEY_REPEAT, k_allow},
    {"Listen", SEC_PROXY, KEY_LIST, k_listen},
    {"Username", SEC_PROXY, 0, k_username},
    {"Password", SEC_PROXY, 0, k_password},
    {"Bypass", SEC_PROXY, 0, k_bypass},
    {"ConnectTimeout", SEC_PROXY, 0, k_connect_timeout},
    {"MaxConnections", SEC_PROXY, 0, k_max_connections},
    {"Allow", SEC_GATEWAY, KEY_REPEAT, k_allow},
};

_Static_assert(ARRAY_SIZE(keys) <= ARRAY_SIZE(((struct parser *)0)->seen), "seen[] too small");

static size_t key_index(const struct key_def *k)
{
	return (size_t)(k - keys);
}

static const struct key_def *key_find(enum section sec, const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		if (keys[i].sec == sec && strcasecmp(keys[i].name, name) == 0)
			return &keys[i];
	}
	return NULL;
}

static const struct key_def *key_find_any(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		if (strcasecmp(keys[i].name, name) == 0)
			return &keys[i];
	}
	return NULL;
}

static bool key_seen(const struct parser *p, const char *name)
{
	const struct key_def *k = key_find(p->sec, name);

	return k && p->seen[key_index(k)] != 0;
}

/* Checks on a section once all its lines are in. */
static int section_close(struct parser *p)
{
	if (p->sec == SEC_PEER && !key_seen(p, "PublicKey"))
		return fail_at(p, p->peer->line, "PublicKey", "[Peer] has no PublicKey");
	return 0;
}

static int section_open(struct parser *p, char *name)
{
	struct nt_config *cfg = p->cfg;
	enum section sec = SEC_NONE;
	size_t i;
	int ret;

	for (i = 1; i < ARRAY_SIZE(section_names); i++) {
		if (strcasecmp(name, section_names[i]) == 0)
			sec = (enum section)i;
	}
	if (sec == SEC_NONE)
		return fail_at(p, p->line, NULL, "unknown section [%.*s%s]", QA(name));
	ret = section_close(p);
	if (ret)
		return ret;
	p->sec = sec;
	p->peer = NULL;
	switch (sec) {
	case SEC_INTERFACE:
		if (!cfg->interface_line)
			cfg->interface_line = p->line;
		break;
	case SEC_PROXY:
		if (!cfg->proxy_line)
			cfg->proxy_line = p->line;
		break;
	case SEC_GATEWAY:
		if (!cfg->gateway_line)
			cfg->gateway_line = p->line;
		break;
	case SEC_PEER:
		if (cfg->peer_count == NT_CONFIG_MAX_PEERS)
			return fail_at(p, p->line, NULL, "more than %d [Peer] sections",
				       NT_CONFIG_MAX_PEERS);
		if (grow((void **)&cfg->peers, &cfg->peer_cap, cfg->peer_count,
			 sizeof(*cfg->peers)) != 0)
			return fail_nomem(p);
		p->peer = &cfg->peers[cfg->peer_count++];
		p->peer->line = p->line;
		/* Each [Peer] is new: its keys may be set again. */
		for (i = 0; i < ARRAY_SIZE(keys); i++) {
			if (keys[i].sec == SEC_PEER)
				p->seen[i] = 0;
		}
		break;
	case SEC_NONE:
		break;
	}
	return 0;
}

/* Keys are short words of letters. Anything else is not echoed back as a
 * key: a misplaced '=' can make a secret look like one. */
static bool is_key_name(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n >= NT_CONFIG_KEY_MAX)
		return false;
	for (i = 0; i < n; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	}
	return true;
}

/* A line that is not "Key = Value" with a one-word key. Nothing past the
 * first word is shown: it may be a key, as in "PrivateKey yAnz...=". */
static int not_key_value(struct parser *p, char *s)
{
	const struct key_def *k;

	s[strcspn(s, " \t=")] = '\0';
	k = key_find_any(s);
	if (k)
		return fail_at(p, p->line, k->name, "missing '=' (expected Key = Value)");
	return fail_at(p, p->line, NULL, "expected [Section] or Key = Value");
}

static int key_value(struct parser *p, char *s)
{
	char *eq = strchr(s, '='), *name, *value;
	const struct key_def *k;
	size_t idx;

	if (!eq)
		return not_key_value(p, s);
	*eq = '\0';
	name = trim(s);
	value = trim(eq + 1);
	if (*name == '\0')
		return fail_at(p, p->line, NULL, "no key before '='");
	if (!is_key_name(name))
		return not_key_value(p, name);
	if (p->sec == SEC_NONE)
		return fail_at(p, p->line, name, "key outside a section");
	k = key_find(p->sec, name);
	if (!k) {
		const struct key_def *other = key_find_any(name);

		if (other)
			return fail_at(p, p->line, other->name, "belongs in [%s], not [%s]",
				       section_names[other->sec], section_names[p->sec]);
		return fail_at(p, p->line, name, "unknown key in [%s]", section_names[p->sec]);
	}
	p->key = k;
	idx = key_index(k);
	if (!(k->flags & (KEY_LIST | KEY_REPEAT | KEY_IGNORED)) && p->seen[idx])
		return fail_key(p, "duplicate key (first set at line %u)", p->seen[idx]);
	if (*value == '\0' && !(k->flags & (KEY_LIST | KEY_IGNORED)))
		return fail_key(p, "empty value");
	if (!p->seen[idx])
		p->seen[idx] = p->line;
	return k->parse(p, value);
}

/* NULL when the line is UTF-8 without control characters other than tab;
 * otherwise what is wrong with it, in msg. */
static const char *line_bytes_problem(const unsigned char *s, size_t n, char *msg, size_t size)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		unsigned char lo = 0x80, hi = 0xbf;
		size_t more;
		uint32_t cp;

		if (c == 0)
			return "NUL byte in the line";
		if (c < 0x80) {
			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				snprintf(msg, size, "control character 0x%02x in the line", c);
				return msg;
			}
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			more = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			more = 2;
			if (c == 0xe0)
				lo = 0xa0; /* overlong */
			if (c == 0xed)
				hi = 0x9f; /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			if (c == 0xf0)
				lo = 0x90; /* overlong */
			if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
		} else {
			return "the line is not valid UTF-8";
		}
		if (n - i <= more || s[i + 1] < lo || s[i + 1] > hi)
			return "the line is not valid UTF-8";
		cp = c & (0x3f >> more);
		for (size_t k = 1; k <= more; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return "the line is not valid UTF-8";
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp >= 0x80 && cp <= 0x9f) {
			snprintf(msg, size, "control character U+%04X in the line", (unsigned)cp);
			return msg;
		}
		i += more + 1;
	}
	return NULL;
}

static int parse_line(struct parser *p, const char *line, size_t n)
{
	char msg[64];
	const char *problem;
	char *s, *hash, *close;

	if (n > NT_CONFIG_MAX_LINE)
		return fail_at(p, p->line, NULL, "the line is longer than %d bytes",
			       NT_CONFIG_MAX_LINE);
	problem = line_bytes_problem((const unsigned char *)line, n, msg, sizeof(msg));
	if (problem)
		return fail_at(p, p->line, NULL, "%s", problem);
	memcpy(p->buf, line, n);
	p->buf[n] = '\0';
	hash = strchr(p->buf, '#');
	if (hash)
		*hash = '\0';
	s = trim(p->buf);
	if (*s == '\0')
		return 0;
	p->key = NULL;
	if (*s != '[')
		return key_value(p, s);
	close = strchr(s, ']');
	if (!close)
		return fail_at(p, p->line, NULL, "section header without ']'");
	if (close[1] != '\0')
		return fail_at(p, p->line, NULL, "text after the section header");
	*close = '\0';
	return section_open(p, trim(s + 1));
}

/* Whole-file checks, after the last line. */
static int finish(struct parser *p)
{
	struct nt_config *cfg = p->cfg;
	const struct key_def *user = key_find(SEC_PROXY, "Username");
	const struct key_def *pass = key_find(SEC_PROXY, "Password");
	size_t i;
	int ret;

	ret = section_close(p);
	if (ret)
		return ret;
	if (!cfg->interface_line)
		return fail_at(p, 0, "PrivateKey", "no [Interface] section");
	if (!p->seen[key_index(key_find(SEC_INTERFACE, "PrivateKey"))])
		return fail_at(p, cfg->interface_line, "PrivateKey",
			       "[Interface] has no PrivateKey");
	if (nt_key_public(cfg->public_key, cfg->private_key) != 0)
		return fail_at(p, p->seen[key_index(key_find(SEC_INTERFACE, "PrivateKey"))],
			       "PrivateKey", "not a usable Curve25519 private key");
	for (i = 0; i < cfg->peer_count; i++) {
		if (memcmp(cfg->peers[i].public_key, cfg->public_key, NT_KEY_LEN) == 0)
			return fail_at(p, cfg->peers[i].public_key_line, "PublicKey",
				       "our own public key (from PrivateKey) cannot be a peer");
	}
	if (p->seen[key_index(user)] && !p->seen[key_index(pass)])
		return fail_at(p, p->seen[key_index(user)], "Password",
			       "Username is set but Password is not");
	if (p->seen[key_index(pass)] && !p->seen[key_index(user)])
		return fail_at(p, p->seen[key_index(pass)], "Username",
			       "Password is set but Username is not");
	if (cfg->listen_count == 0) {
		cfg->listen[0].ip.family = AF_INET;
		cfg->listen[0].ip.addr[0] = 127;
		cfg->listen[0].ip.addr[3] = 1;
		cfg->listen[0].port = NT_CONFIG_DEFAULT_LISTEN_PORT;
		cfg->listen_count = 1;
	}
	return 0;
}

/* The file name as it will appear in messages: one line, bounded. */
static void set_filename(struct nt_config *cfg, const char *filename)
{
	size_t i;

	snprintf(cfg->filename, sizeof(cfg->filename), "%s", filename ? filename : "config");
	for (i = 0; cfg->filename[i]; i++) {
		if ((unsigned char)cfg->filename[i] < 0x20 || cfg->filename[i] == 0x7f)
			cfg->filename[i] = '?';
	}
}

int nt_config_parse(const char *text, size_t len, const char *filename, struct nt_config *out,
		    struct nt_config_error *err)
{
	struct parser *p;
	size_t pos = 0;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (err)
		memset(err, 0, sizeof(*err));
	set_filename(out, filename);
	out->bypass = NT_CONFIG_BYPASS_DIRECT;
	out->connect_timeout_ms = NT_CONFIG_DEFAULT_TIMEOUT_MS;
	out->max_connections = NT_CONFIG_DEFAULT_MAX_CONNS;

	if (len > NT_CONFIG_MAX_FILE)
		return nt_config_set_error(err, out->filename, 0, NULL,
					   "the file is larger than %d bytes", NT_CONFIG_MAX_FILE);
	if (!text && len)
		return nt_config_set_error(err, out->filename, 0, NULL, "no text");
	/* On the heap: a 4 KiB line buffer is a lot of stack for a library. */
	p = calloc(1, sizeof(*p));
	if (!p) {
		nt_config_set_error(err, out->filename, 0, NULL, "out of memory");
		return -ENOMEM;
	}
	p->cfg = out;
	p->err = err;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;

		pos += n + (nl ? 1 : 0);
		p->line++;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		ret = parse_line(p, line, n);
		if (ret)
			goto err_parse;
	}
	ret = finish(p);
	if (ret)
		goto err_parse;
	sodium_memzero(p, sizeof(*p));
	free(p);
	return 0;

err_parse:
	sodium_memzero(p, sizeof(*p));
	free(p);
	nt_config_free(out);
	return ret;
}

void nt_config_free(struct nt_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->peer_count; i++) {
		free(cfg->peers[i].allowed_ips);
		free(cfg->peers[i].allow);
	}
	if (cfg->peers)
		sodium_memzero(cfg->peers, cfg->peer_cap * sizeof(*cfg->peers));
	free(cfg->peers);
	free(cfg->gateway_allow);
	sodium_memzero(cfg, sizeof(*cfg));
}
