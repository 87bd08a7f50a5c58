// SPDX-License-Identifier: MIT
/* The configuration parser: wg-quick's INI syntax, notun's sections.
 *
 * One pass over the text, one line at a time: check the bytes (UTF-8, no
 * control characters), strip the comment, then a section header or a
 * "Key = Value" line, dispatched through the key table (config_keys.c,
 * one handler per key; value syntax in config_value.c). Checks that
 * need a whole section (a [Peer] without PublicKey) run when the section
 * closes; checks that need the whole file (PrivateKey present, a peer using
 * our own key, Username without Password) run at the end. The first error
 * stops the parse. config.h has the grammar. The role checks are in
 * config_validate.c, writing a config back as text in config_format.c.
 */
#include "core/config/config_parse_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <sodium.h>

static const struct section_def sections[] = {
    {"Interface", SEC_INTERFACE, false}, {"Peer", SEC_PEER, false},	{"Proxy", SEC_PROXY, false},
    {"Gateway", SEC_GATEWAY, false},	 {"Portal", SEC_PORTAL, false},
    {"Metrics", SEC_METRICS, false},
};

static const char *section_name(const struct parser *p, enum section sec)
{
	for (size_t i = 0; i < p->g->section_count; i++)
		if (p->g->sections[i].sec == sec)
			return p->g->sections[i].name;
	return "";
}

static size_t key_index(const struct parser *p, const struct key_def *k)
{
	return (size_t)(k - p->g->keys);
}

const struct key_def *nt_config_key_find(const struct parser *p, enum section sec, const char *name)
{
	size_t i;

	for (i = 0; i < p->g->key_count; i++) {
		if (p->g->keys[i].sec == sec && strcasecmp(p->g->keys[i].name, name) == 0)
			return &p->g->keys[i];
	}
	return NULL;
}

static const struct key_def *key_find_any(const struct parser *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->g->key_count; i++) {
		if (strcasecmp(p->g->keys[i].name, name) == 0)
			return &p->g->keys[i];
	}
	return NULL;
}

unsigned int nt_config_key_line(const struct parser *p, enum section sec, const char *name)
{
	const struct key_def *k = nt_config_key_find(p, sec, name);

	return k ? p->seen[key_index(p, k)] : 0;
}

void nt_config_keys_reset(struct parser *p, enum section sec)
{
	for (size_t i = 0; i < p->g->key_count; i++) {
		if (p->g->keys[i].sec == sec)
			p->seen[i] = 0;
	}
}

/* Checks on a section once all its lines are in. */
static int section_close(struct parser *p)
{
	if (p->sec == SEC_PEER && !nt_config_key_line(p, SEC_PEER, "PublicKey"))
		return nt_config_fail_at(p, p->peer->line, "PublicKey", "[Peer] has no PublicKey");
	return 0;
}

static int section_open(struct parser *p, const char *name)
{
	struct nt_config *cfg = p->cfg;

	(void)name;
	switch (p->sec) {
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
	case SEC_PORTAL:
		if (!cfg->portal.line)
			cfg->portal.line = p->line;
		break;
	case SEC_METRICS:
		if (!cfg->metrics_line)
			cfg->metrics_line = p->line;
		break;
	case SEC_PEER:
		if (cfg->peer_count == NT_CONFIG_MAX_PEERS)
			return nt_config_fail_at(p, p->line, NULL, "more than %d [Peer] sections",
						 NT_CONFIG_MAX_PEERS);
		if (nt_config_grow((void **)&cfg->peers, &cfg->peer_cap, cfg->peer_count,
				   sizeof(*cfg->peers)) != 0)
			return nt_config_fail_nomem(p);
		p->peer = &cfg->peers[cfg->peer_count++];
		p->peer->line = p->line;
		/* Each [Peer] is new: its keys may be set again. */
		nt_config_keys_reset(p, SEC_PEER);
		break;
	default:
		break;
	}
	return 0;
}

/* "[Name]" or "[Name NAME]": finds the section, closes the open one, opens
 * the new one through the grammar. */
static int header(struct parser *p, char *text)
{
	const struct section_def *def = NULL;
	char *name = text + strcspn(text, " \t");
	size_t i;
	int ret;

	if (*name) {
		*name++ = '\0';
		name = nt_config_trim(name);
	}
	for (i = 0; i < p->g->section_count; i++) {
		if (strcasecmp(text, p->g->sections[i].name) == 0)
			def = &p->g->sections[i];
	}
	if (!def) {
		if (*name)
			name[-1] = ' ';
		return nt_config_fail_at(p, p->line, NULL, "unknown section [%.*s%s]", QA(text));
	}
	if (def->named && !*name)
		return nt_config_fail_at(p, p->line, NULL, "[%s] needs a name: [%s NAME]",
					 def->name, def->name);
	if (!def->named && *name)
		return nt_config_fail_at(p, p->line, NULL, "[%s] takes no name", def->name);
	ret = p->g->close(p);
	if (ret)
		return ret;
	p->sec = def->sec;
	p->peer = NULL;
	return p->g->open(p, def->named ? name : NULL);
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
	k = key_find_any(p, s);
	if (k)
		return nt_config_fail_at(p, p->line, k->name, "missing '=' (expected Key = Value)");
	return nt_config_fail_at(p, p->line, NULL, "expected [Section] or Key = Value");
}

static int key_value(struct parser *p, char *s)
{
	char *eq = strchr(s, '='), *name, *value;
	const struct key_def *k;
	size_t idx;

	if (!eq)
		return not_key_value(p, s);
	*eq = '\0';
	name = nt_config_trim(s);
	value = nt_config_trim(eq + 1);
	if (*name == '\0')
		return nt_config_fail_at(p, p->line, NULL, "no key before '='");
	if (!is_key_name(name))
		return not_key_value(p, name);
	if (p->sec == SEC_NONE)
		return nt_config_fail_at(p, p->line, name, "key outside a section");
	k = nt_config_key_find(p, p->sec, name);
	if (!k) {
		const struct key_def *other = key_find_any(p, name);

		if (other)
			return nt_config_fail_at(
			    p, p->line, other->name, "belongs in [%s], not [%s]",
			    section_name(p, other->sec), section_name(p, p->sec));
		return nt_config_fail_at(p, p->line, name, "unknown key in [%s]",
					 section_name(p, p->sec));
	}
	p->key = k;
	idx = key_index(p, k);
	if (!(k->flags & (KEY_LIST | KEY_REPEAT | KEY_IGNORED)) && p->seen[idx])
		return nt_config_fail_key(p, "duplicate key (first set at line %u)", p->seen[idx]);
	if (*value == '\0' && !(k->flags & (KEY_LIST | KEY_IGNORED)))
		return nt_config_fail_key(p, "empty value");
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
		return nt_config_fail_at(p, p->line, NULL, "the line is longer than %d bytes",
					 NT_CONFIG_MAX_LINE);
	problem = line_bytes_problem((const unsigned char *)line, n, msg, sizeof(msg));
	if (problem)
		return nt_config_fail_at(p, p->line, NULL, "%s", problem);
	memcpy(p->buf, line, n);
	p->buf[n] = '\0';
	hash = strchr(p->buf, '#');
	if (hash)
		*hash = '\0';
	s = nt_config_trim(p->buf);
	if (*s == '\0')
		return 0;
	p->key = NULL;
	if (*s != '[')
		return key_value(p, s);
	close = strchr(s, ']');
	if (!close)
		return nt_config_fail_at(p, p->line, NULL, "section header without ']'");
	if (close[1] != '\0')
		return nt_config_fail_at(p, p->line, NULL, "text after the section header");
	*close = '\0';
	return header(p, nt_config_trim(s + 1));
}

/* Whole-file checks, after the last line. */
static int finish(struct parser *p)
{
	struct nt_config *cfg = p->cfg;
	unsigned int user = nt_config_key_line(p, SEC_PROXY, "Username");
	unsigned int pass = nt_config_key_line(p, SEC_PROXY, "Password");
	unsigned int priv = nt_config_key_line(p, SEC_INTERFACE, "PrivateKey");
	size_t i;
	int ret;

	ret = section_close(p);
	if (ret)
		return ret;
	if (!cfg->interface_line)
		return nt_config_fail_at(p, 0, "PrivateKey", "no [Interface] section");
	/* Under a portal the key may be left out: the client makes a fresh
	 * one per start (the portal learns it at every join). */
	if (!priv && !cfg->portal.line)
		return nt_config_fail_at(p, cfg->interface_line, "PrivateKey",
					 "[Interface] has no PrivateKey");
	cfg->has_private_key = priv != 0;
	if (priv && nt_key_public(cfg->public_key, cfg->private_key) != 0)
		return nt_config_fail_at(p, priv, "PrivateKey",
					 "not a usable Curve25519 private key");
	for (i = 0; i < cfg->peer_count; i++) {
		if (memcmp(cfg->peers[i].public_key, cfg->public_key, NT_KEY_LEN) == 0)
			return nt_config_fail_at(
			    p, cfg->peers[i].public_key_line, "PublicKey",
			    "our own public key (from PrivateKey) cannot be a peer");
	}
	if (user && !pass)
		return nt_config_fail_at(p, user, "Password",
					 "Username is set but Password is not");
	if (pass && !user)
		return nt_config_fail_at(p, pass, "Username",
					 "Password is set but Username is not");
	ret = nt_config_portal_finish(p);
	if (ret == 0)
		ret = nt_config_metrics_finish(p);
	if (ret)
		return ret;
	if (cfg->listen_count == 0) {
		cfg->listen[0].ip.family = AF_INET;
		cfg->listen[0].ip.addr[0] = 127;
		cfg->listen[0].ip.addr[3] = 1;
		cfg->listen[0].port = NT_CONFIG_DEFAULT_LISTEN_PORT;
		cfg->listen_count = 1;
	}
	return 0;
}

void nt_config_set_filename(char out[NT_CONFIG_FILE_MAX], const char *filename)
{
	size_t i;

	snprintf(out, NT_CONFIG_FILE_MAX, "%s", filename ? filename : "config");
	for (i = 0; out[i]; i++) {
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = '?';
	}
}

static int run_lines(struct parser *p, const char *text, size_t len)
{
	size_t pos = 0;
	int ret;

	if (len > NT_CONFIG_MAX_FILE)
		return nt_config_fail_at(p, 0, NULL, "the file is larger than %d bytes",
					 NT_CONFIG_MAX_FILE);
	if (!text && len)
		return nt_config_fail_at(p, 0, NULL, "no text");
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
			return ret;
	}
	return p->g->finish(p);
}

int nt_config_run(const struct grammar *g, const char *filename, struct nt_config *cfg,
		  struct nt_portal_config *portal, struct nt_config_error *err, const char *text,
		  size_t len)
{
	struct parser *p;
	int ret;

	/* On the heap: a 4 KiB line buffer is a lot of stack for a library. */
	p = calloc(1, sizeof(*p));
	if (!p) {
		nt_config_set_error(err, filename, 0, NULL, "out of memory");
		return -ENOMEM;
	}
	p->g = g;
	p->filename = filename;
	p->cfg = cfg;
	p->portal = portal;
	p->err = err;
	ret = run_lines(p, text, len);
	/* The line buffer held the last line read: a key, maybe. */
	sodium_memzero(p, sizeof(*p));
	free(p);
	return ret;
}

int nt_config_parse(const char *text, size_t len, const char *filename, struct nt_config *out,
		    struct nt_config_error *err)
{
	const struct grammar g = {
	    sections,	  ARRAY_SIZE(sections), nt_config_keys, nt_config_key_count,
	    section_open, section_close,	finish};
	int ret;

	memset(out, 0, sizeof(*out));
	if (err)
		memset(err, 0, sizeof(*err));
	nt_config_set_filename(out->filename, filename);
	out->bypass = NT_CONFIG_BYPASS_DIRECT;
	out->connect_timeout_ms = NT_CONFIG_DEFAULT_TIMEOUT_MS;
	out->max_connections = NT_CONFIG_DEFAULT_MAX_CONNS;
	ret = nt_config_run(&g, out->filename, out, NULL, err, text, len);
	if (ret)
		nt_config_free(out);
	return ret;
}

const uint8_t *nt_config_address(const struct nt_config *cfg, int family)
{
	for (size_t i = 0; i < cfg->address_count; i++)
		if (cfg->addresses[i].family == family)
			return cfg->addresses[i].addr;
	return NULL;
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
