// SPDX-License-Identifier: MIT
/* Configuration errors: one message naming file, line and key, the first
 * error of a parse (config.c, config_keys.c, config_value.c) and of the role
 * checks (config_validate.c). */
#include "core/config/config_parse_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

void nt_config_add_warning(struct nt_config *cfg, unsigned int line, const char *key,
			   const char *fmt, ...)
{
	struct nt_config_warning *w;
	char file[NT_CONFIG_FILE_MAX]; /* a copy: snprintf must not read what it writes */
	size_t n;
	va_list ap;

	if (cfg->warning_count == NT_CONFIG_MAX_WARNINGS) {
		cfg->warnings_dropped++;
		return;
	}
	w = &cfg->warnings[cfg->warning_count++];
	w->line = line;
	snprintf(w->key, sizeof(w->key), "%s", key);
	snprintf(file, sizeof(file), "%s", cfg->filename);
	if (line)
		snprintf(w->message, sizeof(w->message), "%s:%u: %s: ", file, line, key);
	else
		snprintf(w->message, sizeof(w->message), "%s: %s: ", file, key);
	n = strlen(w->message);
	va_start(ap, fmt);
	vsnprintf(w->message + n, sizeof(w->message) - n, fmt, ap);
	va_end(ap);
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
int nt_config_fail_key(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = set_error_v(p->err, p->filename, p->line, p->key ? p->key->name : NULL, fmt, ap);
	va_end(ap);
	return ret;
}

int nt_config_fail_at(struct parser *p, unsigned int line, const char *key, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = set_error_v(p->err, p->filename, line, key, fmt, ap);
	va_end(ap);
	return ret;
}

int nt_config_fail_nomem(struct parser *p)
{
	nt_config_fail_at(p, p->line, NULL, "out of memory");
	return -ENOMEM;
}
