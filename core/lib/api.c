// SPDX-License-Identifier: MIT
/* The library's version, error texts and names (notun.h). */
#include <errno.h>
#include <string.h>

#include "core/lib/notun.h"

int notun_api_version(void)
{
	return NOTUN_API_VERSION;
}

const char *notun_version(void)
{
	return NT_VERSION;
}

const char *notun_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -EBUSY:
		return "a session already runs in this process (lwIP: one stack per process)";
	case -EALREADY:
		return "the session already runs";
	case -ENOTCONN:
		return "the session is not running";
	case -EAGAIN:
		return "the queue is full: try again later";
	case -ENOENT:
		return "no such file or resource";
	}
	return strerror(err < 0 ? -err : err);
}

const char *notun_event_name(enum notun_event_type type)
{
	static const char *const names[] = {
	    [NOTUN_EVENT_LISTENER_READY] = "listener_ready",
	    [NOTUN_EVENT_PORTAL_CONNECTED] = "portal_connected",
	    [NOTUN_EVENT_PORTAL_DISCONNECTED] = "portal_disconnected",
	    [NOTUN_EVENT_RESOURCES_UPDATED] = "resources_updated",
	    [NOTUN_EVENT_ACCESS] = "access",
	    [NOTUN_EVENT_TUNNEL_UP] = "tunnel_up",
	    [NOTUN_EVENT_TUNNEL_DOWN] = "tunnel_down",
	    [NOTUN_EVENT_COMMAND_FAILED] = "command_failed",
	    [NOTUN_EVENT_FATAL] = "fatal",
	    [NOTUN_EVENT_STOPPED] = "stopped",
	};

	if ((unsigned)type >= sizeof(names) / sizeof(names[0]) || !names[type])
		return "unknown";
	return names[type];
}

const char *notun_access_name(enum notun_access_state state)
{
	static const char *const names[] = {
	    [NOTUN_ACCESS_NONE] = "none",	[NOTUN_ACCESS_PENDING] = "pending",
	    [NOTUN_ACCESS_GRANTED] = "granted", [NOTUN_ACCESS_DENIED] = "denied",
	    [NOTUN_ACCESS_FAILED] = "failed",
	};

	if ((unsigned)state >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[state];
}
