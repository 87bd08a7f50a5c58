// SPDX-License-Identifier: MIT
/* The proxy environment for `notun run`, `env` and `connect` (pure). */
#include "core/cli/runenv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JAVA_NAME_MAX 512 /* one converted NO_PROXY entry ("name|*.name") */

/* ---- a growing string; old copies are wiped, they may hold the password ---- */

struct sbuf {
	char *buf;
	size_t len, cap;
	bool nomem;
};

static void sb_add(struct sbuf *sb, const char *s, size_t n)
{
	if (sb->nomem)
		return;
	if (sb->len + n + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 64;
		char *grown;

		while (cap < sb->len + n + 1)
			cap *= 2;
		grown = malloc(cap);
		if (!grown) {
			sb->nomem = true;
			return;
		}
		if (sb->buf) {
			memcpy(grown, sb->buf, sb->len);
			sodium_memzero(sb->buf, sb->cap);
			free(sb->buf);
		}
		sb->buf = grown;
		sb->cap = cap;
	}
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

static void sb_str(struct sbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

static void sb_port(struct sbuf *sb, uint16_t port)
{
	char text[8];

	snprintf(text, sizeof(text), "%u", port);
	sb_str(sb, text);
}

/* Hands the string over: NULL when memory ran out (then nothing is left). */
static char *sb_take(struct sbuf *sb)
{
	if (sb->nomem || !sb->buf) {
		if (sb->buf) {
			sodium_memzero(sb->buf, sb->cap);
			free(sb->buf);
		}
		sb->buf = NULL;
		return sb->nomem ? NULL : strdup("");
	}
	return sb->buf;
}

static void wipe_free(char *s)
{
	if (s) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

/* ---- NO_PROXY ---- */

struct np_entry {
	const char *s;
	size_t len;
};

struct np_list {
	struct np_entry e[NT_RUNENV_NO_PROXY_MAX];
	size_t n;
	size_t dropped;
	bool star; /* "*": no proxy for any host */
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Splits a comma-separated list, trims each entry, keeps the first of equal
 * (case-insensitive) entries. */
static void np_add(struct np_list *l, const char *text)
{
	const char *p = text;

	while (p && *p) {
		const char *end = strchr(p, ',');
		const char *next = end ? end + 1 : NULL;
		size_t i, len;

		if (!end)
			end = p + strlen(p);
		while (p < end && is_blank(*p))
			p++;
		while (end > p && is_blank(end[-1]))
			end--;
		len = (size_t)(end - p);
		if (len == 1 && *p == '*')
			l->star = true;
		for (i = 0; len && i < l->n; i++)
			if (l->e[i].len == len && strncasecmp(l->e[i].s, p, len) == 0)
				break;
		if (len && i == l->n) {
			if (l->n < NT_RUNENV_NO_PROXY_MAX)
				l->e[l->n++] = (struct np_entry){p, len};
			else
				l->dropped++;
		}
		p = next;
	}
}

static void np_format(const struct np_list *l, struct sbuf *sb)
{
	if (l->star) {
		sb_str(sb, "*");
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			sb_str(sb, ",");
		sb_add(sb, l->e[i].s, l->e[i].len);
	}
}

/* One NO_PROXY entry as http.nonProxyHosts patterns ("*" only at either
 * end): ".example.com" -> "*.example.com", a name -> "name|*.name" (as curl
 * reads a name: the host and its subdomains), an IPv6 address gets brackets.
 * Java has no CIDR and no ports: such entries give nothing (0), as do
 * entries with characters JAVA_TOOL_OPTIONS would split or unquote on. */
static size_t java_pattern(const struct np_entry *e, char *out, size_t size)
{
	char host[JAVA_NAME_MAX / 2 - 4];
	unsigned char addr[16];
	int n;

	if (e->len >= sizeof(host))
		return 0;
	memcpy(host, e->s, e->len);
	host[e->len] = '\0';
	if (strcspn(host, "/|\"' \t\\") != e->len)
		return 0;
	if (host[0] == '[' || host[0] == '*' || inet_pton(AF_INET, host, addr) == 1)
		n = snprintf(out, size, "%s", host);
	else if (inet_pton(AF_INET6, host, addr) == 1)
		n = snprintf(out, size, "[%s]", host);
	else if (strchr(host, ':'))
		return 0;
	else if (host[0] == '.')
		n = snprintf(out, size, "*%s", host);
	else
		n = snprintf(out, size, "%s|*.%s", host, host);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static void java_non_proxy_hosts(const struct np_list *l, struct sbuf *sb)
{
	char pattern[JAVA_NAME_MAX];
	bool first = true;

	if (l->star) {
		sb_str(sb, "*");
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		size_t n = java_pattern(&l->e[i], pattern, sizeof(pattern));

		if (!n)
			continue;
		if (!first)
			sb_str(sb, "|");
		sb_add(sb, pattern, n);
		first = false;
	}
}

/* ---- the variables ---- */

static bool url_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static void sb_percent_encoded(struct sbuf *sb, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[3] = {'%', hex[c >> 4], hex[c & 15]};

		if (url_unreserved(c))
			sb_add(sb, s, 1);
		else
			sb_add(sb, esc, 3);
	}
}

static char *proxy_url(const struct nt_runenv_in *in, const char *scheme)
{
	struct sbuf sb = {0};

	sb_str(&sb, scheme);
	sb_str(&sb, "://");
	if (in->username) {
		sb_percent_encoded(&sb, in->username);
		sb_str(&sb, ":");
		sb_percent_encoded(&sb, in->password);
		sb_str(&sb, "@");
	}
	if (strchr(in->host, ':')) {
		sb_str(&sb, "[");
		sb_str(&sb, in->host);
		sb_str(&sb, "]");
	} else {
		sb_str(&sb, in->host);
	}
	sb_str(&sb, ":");
	sb_port(&sb, in->port);
	return sb_take(&sb);
}

static char *java_options(const struct nt_runenv_in *in, const struct np_list *np)
{
	static const char *const props[] = {"http.proxy", "https.proxy", "socksProxy"};
	struct sbuf sb = {0};
	const char *prev = in->java_tool_options;

	if (prev && prev[strspn(prev, " \t\n")]) {
		sb_str(&sb, prev);
		sb_str(&sb, " ");
	}
	for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
		sb_str(&sb, i ? " -D" : "-D");
		sb_str(&sb, props[i]);
		sb_str(&sb, "Host=");
		sb_str(&sb, in->host);
		sb_str(&sb, " -D");
		sb_str(&sb, props[i]);
		sb_str(&sb, "Port=");
		sb_port(&sb, in->port);
	}
	sb_str(&sb, " -Dhttp.nonProxyHosts=");
	java_non_proxy_hosts(np, &sb);
	return sb_take(&sb);
}

static int add_var(struct nt_runenv *env, const char *name, char *value)
{
	if (!value)
		return -ENOMEM;
	env->vars[env->count++] = (struct nt_runenv_var){name, value};
	return 0;
}

static bool credential_ok(const char *s)
{
	return s && s[0] && strlen(s) <= NT_PROXY_URL_CREDENTIAL_MAX;
}

int nt_runenv_build(const struct nt_runenv_in *in, struct nt_runenv *out)
{
	struct np_list *np;
	struct sbuf sb = {0};
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (!in->host || !in->host[0] || in->port == 0 || !in->username != !in->password ||
	    (in->username && (!credential_ok(in->username) || !credential_ok(in->password))))
		return -EINVAL;
	np = calloc(1, sizeof(*np));
	if (!np)
		return -ENOMEM;
	np_add(np, NT_RUNENV_BUILTIN_NO_PROXY);
	np_add(np, in->no_proxy);
	np_add(np, in->no_proxy_lower);
	out->no_proxy_dropped = np->dropped;
	np_format(np, &sb);

	static const char *const url_vars[][3] = {
	    {"HTTP_PROXY", "http_proxy", "http"},
	    {"HTTPS_PROXY", "https_proxy", "http"},
	    {"ALL_PROXY", "all_proxy", "socks5h"},
	};
	for (size_t i = 0; ret == 0 && i < 3; i++) {
		ret = add_var(out, url_vars[i][0], proxy_url(in, url_vars[i][2]));
		if (ret == 0)
			ret = add_var(out, url_vars[i][1], proxy_url(in, url_vars[i][2]));
	}
	if (ret == 0)
		ret = add_var(out, "NO_PROXY", sb_take(&sb));
	else
		wipe_free(sb_take(&sb));
	if (ret == 0)
		ret = add_var(out, "no_proxy", strdup(out->vars[out->count - 1].value));
	if (ret == 0)
		ret = add_var(out, "NODE_USE_ENV_PROXY", strdup("1"));
	if (ret == 0)
		ret = add_var(out, "JAVA_TOOL_OPTIONS", java_options(in, np));
	free(np);
	return ret;
}

const char *nt_runenv_get(const struct nt_runenv *env, const char *name)
{
	for (size_t i = 0; i < env->count; i++)
		if (strcmp(env->vars[i].name, name) == 0)
			return env->vars[i].value;
	return NULL;
}

void nt_runenv_free(struct nt_runenv *env)
{
	for (size_t i = 0; i < env->count; i++)
		wipe_free(env->vars[i].value);
	memset(env, 0, sizeof(*env));
}

/* ---- the environment of a command, and the shell's view of it ---- */

static bool env_sets(const struct nt_runenv *env, const char *entry)
{
	const char *eq = strchr(entry, '=');
	size_t len = eq ? (size_t)(eq - entry) : strlen(entry);

	for (size_t i = 0; i < env->count; i++)
		if (strlen(env->vars[i].name) == len && memcmp(env->vars[i].name, entry, len) == 0)
			return true;
	return false;
}

int nt_runenv_environ(const struct nt_runenv *env, char *const *base, char ***out)
{
	size_t n = 0, k = 0;
	char **envp;

	while (base && base[n])
		n++;
	envp = calloc(n + env->count + 1, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (env_sets(env, base[i]))
			continue;
		envp[k] = strdup(base[i]);
		if (!envp[k++])
			goto err_nomem;
	}
	for (size_t i = 0; i < env->count; i++) {
		struct sbuf sb = {0};

		sb_str(&sb, env->vars[i].name);
		sb_str(&sb, "=");
		sb_str(&sb, env->vars[i].value);
		envp[k] = sb_take(&sb);
		if (!envp[k++])
			goto err_nomem;
	}
	*out = envp;
	return 0;

err_nomem:
	nt_runenv_environ_free(envp);
	return -ENOMEM;
}

void nt_runenv_environ_free(char **envp)
{
	if (!envp)
		return;
	for (char **p = envp; *p; p++)
		wipe_free(*p);
	free(envp);
}

/* 'value', with each ' written as '\'' (close, escaped quote, reopen). */
static void sb_shell_quoted(struct sbuf *sb, const char *s)
{
	sb_str(sb, "'");
	for (; *s; s++) {
		if (*s == '\'')
			sb_str(sb, "'\\''");
		else
			sb_add(sb, s, 1);
	}
	sb_str(sb, "'");
}

int nt_runenv_exports(const struct nt_runenv *env, char **out)
{
	struct sbuf sb = {0};

	for (size_t i = 0; i < env->count; i++) {
		sb_str(&sb, "export ");
		sb_str(&sb, env->vars[i].name);
		sb_str(&sb, "=");
		sb_shell_quoted(&sb, env->vars[i].value);
		sb_str(&sb, "\n");
	}
	*out = sb_take(&sb);
	return *out ? 0 : -ENOMEM;
}

void nt_runenv_text_free(char *text)
{
	wipe_free(text);
}

void nt_runenv_dial_host(const struct nt_config_listen *l, char *out, size_t size)
{
	static const uint8_t any[16];
	bool v4 = l->ip.family == AF_INET;

	if (memcmp(l->ip.addr, any, v4 ? 4 : 16) == 0)
		snprintf(out, size, "%s", v4 ? "127.0.0.1" : "::1");
	else if (!inet_ntop(l->ip.family, l->ip.addr, out, (socklen_t)size) && size)
		out[0] = '\0';
}

void nt_runenv_random_credentials(char username[NT_RUNENV_USERNAME_LEN + 1],
				     char password[NT_RUNENV_PASSWORD_LEN + 1])
{
	uint8_t raw[NT_RUNENV_PASSWORD_LEN * 3 / 4];
	const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

	randombytes_buf(raw, NT_RUNENV_USERNAME_LEN * 3 / 4);
	sodium_bin2base64(username, NT_RUNENV_USERNAME_LEN + 1, raw,
			  NT_RUNENV_USERNAME_LEN * 3 / 4, variant);
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(password, NT_RUNENV_PASSWORD_LEN + 1, raw, sizeof(raw), variant);
	sodium_memzero(raw, sizeof(raw));
}

/* ---- proxy URLs ---- */

/* Decodes len bytes of s into out (NUL-terminated); -EINVAL for a bad
 * escape, %00, or more than NT_PROXY_URL_CREDENTIAL_MAX bytes. */
static int percent_decode(const char *s, size_t len, char out[NT_PROXY_URL_CREDENTIAL_MAX + 1])
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			unsigned char byte;
			size_t got;

			if (i + 2 >= len ||
			    sodium_hex2bin(&byte, 1, s + i + 1, 2, NULL, &got, NULL) != 0 ||
			    got != 1 || byte == 0)
				return -EINVAL;
			c = byte;
			i += 2;
		}
		if (n == NT_PROXY_URL_CREDENTIAL_MAX)
			return -EINVAL;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

static int parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static bool host_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

static int parse_hostport(const char *s, size_t len, struct nt_runenv_url *out)
{
	const char *host = s, *colon;
	size_t host_len;
	unsigned char addr[16];

	if (len && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close)
			return -EINVAL;
		host = s + 1;
		host_len = (size_t)(close - host);
		colon = close + 1 < s + len ? close + 1 : NULL;
		if (colon && *colon != ':')
			return -EINVAL;
	} else {
		colon = memchr(s, ':', len);
		host_len = colon ? (size_t)(colon - s) : len;
		for (size_t i = 0; i < host_len; i++)
			if (!host_char(s[i]))
				return -EINVAL;
	}
	if (host_len == 0 || host_len > NT_PROXY_URL_HOST_MAX)
		return -EINVAL;
	memcpy(out->host, host, host_len);
	out->host[host_len] = '\0';
	if (s[0] == '[' && inet_pton(AF_INET6, out->host, addr) != 1)
		return -EINVAL;
	out->port = NT_PROXY_URL_DEFAULT_PORT;
	if (colon)
		return parse_port(colon + 1, (size_t)(s + len - colon - 1), &out->port);
	return 0;
}

int nt_runenv_url_parse(const char *url, struct nt_runenv_url *out)
{
	const char *sep = strstr(url, "://");
	const char *auth, *end, *at;
	size_t scheme_len;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!sep)
		return -EINVAL;
	scheme_len = (size_t)(sep - url);
	if (scheme_len == 7 && strncasecmp(url, "socks5h", 7) == 0)
		out->scheme = NT_PROXY_URL_SOCKS5H;
	else if (scheme_len == 6 && strncasecmp(url, "socks5", 6) == 0)
		out->scheme = NT_PROXY_URL_SOCKS5;
	else
		return -EINVAL;
	auth = sep + 3;
	end = auth + strcspn(auth, "/?#");
	if (*end && strcmp(end, "/") != 0)
		return -EINVAL;
	/* A password may hold an unescaped '@'; a host never does. */
	at = NULL;
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (at) {
		const char *colon = memchr(auth, ':', (size_t)(at - auth));
		const char *user_end = colon ? colon : at;

		ret = percent_decode(auth, (size_t)(user_end - auth), out->username);
		if (ret == 0 && colon)
			ret = percent_decode(colon + 1, (size_t)(at - colon - 1), out->password);
		if (ret != 0 || !out->username[0])
			goto err;
		out->has_credentials = true;
		auth = at + 1;
	}
	ret = parse_hostport(auth, (size_t)(end - auth), out);
	if (ret != 0)
		goto err;
	return 0;

err:
	sodium_memzero(out, sizeof(*out));
	return -EINVAL;
}
