/* SPDX-License-Identifier: MIT */
/* Inside the config module: what config.c (the parser), config_validate.c
 * (the role checks) and config_format.c (writing a config back as text)
 * share. Nothing outside core/config*.c includes this. */
#ifndef NT_CORE_CONFIG_INT_H
#define NT_CORE_CONFIG_INT_H

#include "core/config/config.h"

/* Fills err (when not NULL) with "file:line: key: message" (line 0 and key
 * NULL leave their part out). Returns -EINVAL. */
int nt_config_set_error(struct nt_config_error *err, const char *file, unsigned int line,
			const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Adds "file:line: key: message" to cfg's warnings (or counts it in
 * warnings_dropped when they are full). */
void nt_config_add_warning(struct nt_config *cfg, unsigned int line, const char *key,
			   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* config_file.c, shared with the portal's loader. */

/* Reads path whole (at most NT_CONFIG_MAX_FILE bytes, else an error) into a
 * new buffer; *mode gets its permission bits. The caller wipes and frees
 * *text. 0, or a negative errno with err filled. */
int nt_config_read_text(const char *path, char **text, size_t *len, unsigned int *mode,
			struct nt_config_error *err);
/* A relative file name named in the configuration file config_path is
 * taken relative to that file's directory: path is rewritten in place.
 * 0 or -ENAMETOOLONG. */
int nt_config_resolve_path(const char *config_path, char path[NT_CONFIG_PATH_MAX + 1]);

#endif
