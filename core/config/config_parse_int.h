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

enum section { SEC_NONE, SEC_INTERFACE, SEC_PEER, SEC_PROXY, SEC_GATEWAY };

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

/* ---- config_keys.c ---- */

/* Every key of every section; seen[] is indexed like it. */
extern const struct key_def nt_config_keys[];
extern const size_t nt_config_key_count;

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
