/* SPDX-License-Identifier: MIT */
/* Inside the configuration parser: what config.c (the line loop, sections,
 * whole-file checks), config_keys.c (one handler per key, the key table)
 * and config_value.c (value syntax) share. config_format.c and
 * config_validate.c do not include this. */
#ifndef NT_CORE_CONFIG_PARSE_INT_H
#define NT_CORE_CONFIG_PARSE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config/config_int.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The sections of both grammars: the wg-quick one (nt_config) and the
 * portal's (nt_portal_config, SEC_P_*). */
enum section {
	SEC_NONE,
	SEC_INTERFACE,
	SEC_PEER,
	SEC_PROXY,
	SEC_GATEWAY,
	SEC_PORTAL,
	SEC_METRICS,
	SEC_P_PORTAL,
	SEC_P_SITE,
	SEC_P_GATEWAY,
	SEC_P_CLIENT,
	SEC_P_RESOURCE,
};

struct parser;
struct key_def;
struct nt_portal_config;

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

/* A section header: "[Name]", or "[Name NAME]" when named. */
struct section_def {
	const char *name;
	enum section sec;
	bool named;
};

/* What the line loop (config.c) needs to know of a grammar. open runs when a
 * header has been read (p->sec set, name NULL or the section's name), close
 * when the section ends, finish after the last line. */
struct grammar {
	const struct section_def *sections;
	size_t section_count;
	const struct key_def *keys; /* seen[] is indexed like it */
	size_t key_count;
	int (*open)(struct parser *p, const char *name);
	int (*close)(struct parser *p);
	int (*finish)(struct parser *p);
};

struct parser {
	const struct grammar *g;
	const char *filename;		 /* for messages */
	struct nt_config *cfg;		 /* the wg-quick grammar's result */
	struct nt_portal_config *portal; /* the portal grammar's result */
	struct nt_config_error *err;
	unsigned int line;
	enum section sec;
	const struct key_def *key;   /* the key being parsed */
	struct nt_config_peer *peer; /* the open [Peer], or NULL */
	size_t item;		     /* the open named portal section's index */
	unsigned int seen[48];	     /* line where each key of the table was set */
	char buf[NT_CONFIG_MAX_LINE + 1];
};

/* ---- config.c: the line loop ---- */

/* Parses len bytes with grammar g into cfg (the wg-quick grammar) or portal
 * (the portal's); filename names the file in messages. 0, -EINVAL or
 * -ENOMEM (err set). */
int nt_config_run(const struct grammar *g, const char *filename, struct nt_config *cfg,
		  struct nt_portal_config *portal, struct nt_config_error *err, const char *text,
		  size_t len);
/* The key of the current section called name, or NULL. */
const struct key_def *nt_config_key_find(const struct parser *p, enum section sec,
					 const char *name);
/* The line where key name of section sec was set, 0 when it was not. */
unsigned int nt_config_key_line(const struct parser *p, enum section sec, const char *name);
/* Forgets which keys of sec were set: a new section of that kind opens. */
void nt_config_keys_reset(struct parser *p, enum section sec);
/* The file name as it will appear in messages: one line, bounded. */
void nt_config_set_filename(char out[NT_CONFIG_FILE_MAX], const char *filename);

/* ---- config_keys.c ---- */

/* Every key of the wg-quick grammar (nt_config), every section. */
extern const struct key_def nt_config_keys[];
extern const size_t nt_config_key_count;

/* One port or port range "N" or "N-M" (1..65535), or an error about the
 * current key. */
int nt_config_parse_port_range(struct parser *p, char *v, struct nt_config_port_range *r);
/* HOST:PORT with a name or an address literal and a port 1..65535. */
int nt_config_parse_endpoint(struct parser *p, char *v, struct nt_config_endpoint *ep);
/* A file name: relative ones are taken relative to the configuration file's
 * directory. out gets at most NT_CONFIG_PATH_MAX bytes. */
int nt_config_parse_path(struct parser *p, const char *v, char out[NT_CONFIG_PATH_MAX + 1]);

/* ---- config_portal.c: [Portal] of the wg-quick grammar ---- */

int nt_config_k_url(struct parser *p, char *v);
int nt_config_k_token(struct parser *p, char *v);
int nt_config_k_token_file(struct parser *p, char *v);
int nt_config_k_ca(struct parser *p, char *v);
int nt_config_k_fingerprint(struct parser *p, char *v);
int nt_config_k_advertise(struct parser *p, char *v);
int nt_config_k_give_up_after(struct parser *p, char *v);
/* Whole-file checks of [Portal]: URL, one of Token and TokenFile, at most
 * one of CA and Fingerprint. */
int nt_config_portal_finish(struct parser *p);

/* ---- config_metrics.c: [Metrics] ---- */

int nt_config_k_metrics_listen(struct parser *p, char *v);
int nt_config_k_metrics_allow_remote(struct parser *p, char *v);
/* Whole-file checks of [Metrics]: a Listen, on loopback unless AllowRemote. */
int nt_config_metrics_finish(struct parser *p);

/* ---- config_error.c: errors stop the parse ---- */

/* An error on the current line about the current key. Returns -EINVAL. */
int nt_config_fail_key(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* An error on a given line (0: the file) about key (or none). Returns -EINVAL. */
int nt_config_fail_at(struct parser *p, unsigned int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "out of memory" on the current line. Returns -ENOMEM. */
int nt_config_fail_nomem(struct parser *p);

/* ---- config_value.c ---- */

/* Quoting a value in a message: printf(Q, QA(value)). */
#define QUOTE_MAX 64
#define Q	  "'%.*s%s'"
#define QA(s)	  nt_config_quote_len(s), (s), strlen(s) > QUOTE_MAX ? "..." : ""

int nt_config_quote_len(const char *s);

static inline bool nt_config_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Strips blanks at both ends, in place. */
char *nt_config_trim(char *s);
/* Splits s on ',' and calls fn on each trimmed item. An empty item is an
 * error; an empty s has no items. */
int nt_config_for_each_item(struct parser *p, char *s, int (*fn)(struct parser *p, char *item));
/* Decimal digits only, at most max. -EINVAL when not a number, -ERANGE above max. */
int nt_config_parse_uint(const char *s, uint32_t max, uint32_t *out);
/* "90" (seconds), "30s", "15m", "8h" or "1d", at most max seconds. -EINVAL
 * when not a duration, -ERANGE above max. */
int nt_config_parse_duration(const char *s, uint32_t max, uint32_t *seconds);
/* A number in min..max, or an error about the current key. */
int nt_config_number_in(struct parser *p, const char *v, uint32_t min, uint32_t max, uint32_t *out);
int nt_config_parse_ip(const char *s, struct nt_config_ip *ip);
/* Text that can only have been meant as an address. */
bool nt_config_looks_like_ip(const char *s);
/* A DNS name of at most NT_CONFIG_HOST_MAX bytes. */
bool nt_config_is_host_name(const char *s);
/* Splits "HOST:PORT" or "[V6]:PORT" in place; host has no brackets. On
 * failure v is unchanged and, when p is not NULL, the error is set. */
int nt_config_split_host_port(struct parser *p, char *v, char **host, char **port);
/* Puts back what nt_config_split_host_port took out, for messages. */
void nt_config_join_host_port(char *v, char *host, char *port);
/* Makes room for one more element (count < *cap afterwards); wipes the old
 * array. 0 or -ENOMEM. */
int nt_config_grow(void **arr, size_t *cap, size_t count, size_t elem);

#endif
