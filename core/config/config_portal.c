// SPDX-License-Identifier: MIT
/* The [Portal] section of the wg-quick grammar: how a gateway (and, later,
 * a client) reaches the portal. URL, Token or TokenFile, CA or Fingerprint,
 * Advertise, GiveUpAfter; config.md documents them. */
#include "core/config/config_parse_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <sodium.h>

#include "core/config/token.h"

#define FINGERPRINT_PREFIX "SHA256:"

static bool is_loopback(const struct nt_config_ip *ip)
{
	static const uint8_t v6_loopback[16] = {[15] = 1};

	if (ip->family == AF_INET)
		return ip->addr[0] == 127;
	return memcmp(ip->addr, v6_loopback, sizeof(v6_loopback)) == 0;
}

/* RFC 3986 unreserved characters and '/': a path prefix needs no more. */
static bool is_path(const char *s)
{
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("-._~/", *s)))
			return false;
	}
	return true;
}

/* "HOST", "HOST:PORT", "[V6]" or "[V6]:PORT", in place. */
static int url_authority(struct parser *p, char *a, struct nt_config_portal *pt, const char *v)
{
	struct nt_config_ip ip;
	char *host = a, *port = NULL, *close;
	uint32_t n;

	if (*a == '[') {
		close = strchr(a, ']');
		if (!close || (close[1] != '\0' && close[1] != ':'))
			return nt_config_fail_key(p, Q " has no valid [IPv6] host", QA(v));
		*close = '\0';
		host = a + 1;
		if (close[1] == ':')
			port = close + 2;
		if (!strchr(host, ':'))
			return nt_config_fail_key(p, Q ": only IPv6 addresses go in brackets",
						  QA(v));
	} else if ((port = strchr(a, ':')) != NULL) {
		*port++ = '\0';
		if (strchr(port, ':'))
			return nt_config_fail_key(p, Q ": an IPv6 host needs brackets", QA(v));
	}
	if (port && (nt_config_parse_uint(port, 65535, &n) != 0 || n == 0))
		return nt_config_fail_key(p, Q " has no valid port (1..65535)", QA(v));
	pt->port = port ? (uint16_t)n : (pt->tls ? 443 : 80);
	if (nt_config_parse_ip(host, &ip) == 0) {
		if (!pt->tls && !is_loopback(&ip))
			return nt_config_fail_key(
			    p, Q ": ws:// only to a loopback address; use wss://", QA(v));
	} else if (nt_config_looks_like_ip(host) || !nt_config_is_host_name(host)) {
		return nt_config_fail_key(p, Q " has no valid host", QA(v));
	} else if (!pt->tls) {
		return nt_config_fail_key(p, Q ": ws:// only to a loopback address; use wss://",
					  QA(v));
	}
	/* A valid host is a name of at most NT_CONFIG_HOST_MAX or a literal. */
	memcpy(pt->host, host, strlen(host) + 1);
	return 0;
}

int nt_config_k_url(struct parser *p, char *v)
{
	struct nt_config_portal *pt = &p->cfg->portal;
	char buf[NT_CONFIG_URL_MAX + 1];
	char *rest, *slash;
	size_t n;
	int ret;

	if (strlen(v) > NT_CONFIG_URL_MAX)
		return nt_config_fail_key(p, "longer than %d bytes", NT_CONFIG_URL_MAX);
	if (strncasecmp(v, "wss://", 6) == 0)
		pt->tls = true;
	else if (strncasecmp(v, "ws://", 5) == 0)
		pt->tls = false;
	else
		return nt_config_fail_key(p, Q " is not a wss:// (or loopback ws://) URL", QA(v));
	snprintf(buf, sizeof(buf), "%s", v + (pt->tls ? 6 : 5));
	rest = buf;
	if (strpbrk(rest, "@?"))
		return nt_config_fail_key(p, Q ": no user, query or fragment in the URL", QA(v));
	slash = strchr(rest, '/');
	if (slash) {
		if (!is_path(slash))
			return nt_config_fail_key(p, Q " has an invalid path", QA(v));
		n = strlen(slash);
		while (n > 0 && slash[n - 1] == '/')
			slash[--n] = '\0';
		snprintf(pt->path, sizeof(pt->path), "%s", slash);
		*slash = '\0';
	}
	if (*rest == '\0')
		return nt_config_fail_key(p, Q " has no host", QA(v));
	ret = url_authority(p, rest, pt, v);
	if (ret)
		return ret;
	snprintf(pt->url, sizeof(pt->url), "%s", v);
	return 0;
}

int nt_config_k_token(struct parser *p, char *v)
{
	struct nt_config_portal *pt = &p->cfg->portal;

	/* Never quoted: it is a credential. */
	if (!nt_token_check(v, strlen(v), NULL))
		return nt_config_fail_key(p, "not a token (ntc_ or ntg_ and 43 base64url "
					     "characters, as notun portal token prints)");
	memcpy(pt->token, v, NT_TOKEN_LEN + 1);
	pt->token_line = p->line;
	return 0;
}

int nt_config_k_token_file(struct parser *p, char *v)
{
	p->cfg->portal.token_line = p->line;
	return nt_config_parse_path(p, v, p->cfg->portal.token_file);
}

int nt_config_k_ca(struct parser *p, char *v)
{
	return nt_config_parse_path(p, v, p->cfg->portal.ca_file);
}

/* "SHA256:" and the standard base64 of 32 bytes, padded or not (OpenSSH
 * prints it without). */
int nt_config_k_fingerprint(struct parser *p, char *v)
{
	struct nt_config_portal *pt = &p->cfg->portal;
	const size_t plen = sizeof(FINGERPRINT_PREFIX) - 1;
	const char *b64 = v + plen, *end = NULL;
	size_t n, bin_len = 0;
	int variant;

	if (strncasecmp(v, FINGERPRINT_PREFIX, plen) != 0)
		goto bad;
	n = strlen(b64);
	if (n == 44)
		variant = sodium_base64_VARIANT_ORIGINAL;
	else if (n == 43)
		variant = sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
	else
		goto bad;
	if (sodium_base642bin(pt->fingerprint, sizeof(pt->fingerprint), b64, n, NULL, &bin_len,
			      &end, variant) != 0 ||
	    bin_len != sizeof(pt->fingerprint) || end != b64 + n)
		goto bad;
	pt->has_fingerprint = true;
	return 0;
bad:
	return nt_config_fail_key(p, Q " is not SHA256:BASE64 (a SHA-256 certificate fingerprint)",
				  QA(v));
}

int nt_config_k_advertise(struct parser *p, char *v)
{
	int ret = nt_config_parse_endpoint(p, v, &p->cfg->portal.advertise);

	if (ret == 0)
		p->cfg->portal.has_advertise = true;
	return ret;
}

int nt_config_k_give_up_after(struct parser *p, char *v)
{
	uint32_t t;

	switch (nt_config_parse_duration(v, NT_CONFIG_MAX_GIVE_UP_S, &t)) {
	case 0:
		if (t == 0)
			break;
		p->cfg->portal.give_up_after_s = t;
		return 0;
	case -ERANGE:
		break;
	default:
		return nt_config_fail_key(p, Q " is not a duration (30s, 15m, 8h, 1d)", QA(v));
	}
	return nt_config_fail_key(p, Q " is out of range (1s..30d)", QA(v));
}

int nt_config_portal_finish(struct parser *p)
{
	const struct nt_config_portal *pt = &p->cfg->portal;
	unsigned int token = nt_config_key_line(p, SEC_PORTAL, "Token");
	unsigned int file = nt_config_key_line(p, SEC_PORTAL, "TokenFile");
	unsigned int ca = nt_config_key_line(p, SEC_PORTAL, "CA");
	unsigned int pin = nt_config_key_line(p, SEC_PORTAL, "Fingerprint");

	if (!pt->line)
		return 0;
	if (!nt_config_key_line(p, SEC_PORTAL, "URL"))
		return nt_config_fail_at(p, pt->line, "URL", "[Portal] has no URL");
	if (!token && !file)
		return nt_config_fail_at(p, pt->line, "Token", "[Portal] needs Token or TokenFile");
	if (token && file)
		return nt_config_fail_at(p, token > file ? token : file,
					 token > file ? "Token" : "TokenFile",
					 "Token and TokenFile are both set; keep one");
	if (ca && pin)
		return nt_config_fail_at(p, ca > pin ? ca : pin, ca > pin ? "CA" : "Fingerprint",
					 "CA and Fingerprint are both set; keep one");
	return 0;
}
