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

#endif
