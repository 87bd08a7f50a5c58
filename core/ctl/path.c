// SPDX-License-Identifier: MIT
/* Where a role's control socket lives (ctl.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctl/ctl.h"

void nt_ctl_config_name(const char *config_path, char *out, size_t cap)
{
	const char *base = strrchr(config_path, '/');
	size_t n;

	base = base ? base + 1 : config_path;
	n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".conf") == 0)
		n -= 5;
	snprintf(out, cap, "%.*s", (int)n, base);
}

int nt_ctl_default_path(const char *config_path, char *out, size_t cap)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	const char *slash = strrchr(config_path, '/');
	char name[256];
	int n;

	nt_ctl_config_name(config_path, name, sizeof(name));
	if (xdg && xdg[0] == '/')
		n = snprintf(out, cap, "%s/notun/%s.sock", xdg, name);
	else if (slash)
		n = snprintf(out, cap, "%.*s/%s.sock", (int)(slash - config_path), config_path,
			     name);
	else
		n = snprintf(out, cap, "%s.sock", name);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int nt_ctl_socket_path(const char *config_path, const char *control, char *out, size_t cap)
{
	int n;

	if (!control)
		return nt_ctl_default_path(config_path, out, cap);
	if (strcmp(control, NT_CTL_NONE) == 0)
		return -ENOENT;
	n = snprintf(out, cap, "%s", control);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}
