// SPDX-License-Identifier: MIT
/* Finding a running `notun up` of a configuration (running.h). */
#include "core/cli/running.h"

#include <errno.h>
#include <string.h>

#include "core/cli/runenv.h"
#include "platform/log.h"

bool nt_running_find(const char *mod, const char *config_path, const char *control,
		     struct nt_running *r)
{
	int ret;

	memset(r, 0, sizeof(*r));
	ret = nt_ctl_find_up(config_path, control, &r->up, r->path, sizeof(r->path));
	if (ret == 0) {
		nt_runenv_dial_host(&r->up.listen, r->host, sizeof(r->host));
		return true;
	}
	if (ret == -ENOENT || ret == -EPERM || ret == -ENAMETOOLONG)
		nt_debug(mod, "event=no_running_client path=%s reason=\"%s\"", r->path,
			 ret == -EPERM ? "not a notun up with a listener" : strerror(-ret));
	else
		nt_warn(mod,
			"event=running_client_unknown path=%s err=\"%s\" action=\"own client\"",
			r->path, strerror(-ret));
	return false;
}
