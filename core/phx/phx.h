/* SPDX-License-Identifier: MIT */
/* Phoenix V1 channel frames (the portal protocol's section 2), without I/O.
 *
 * One WebSocket text message is one JSON object:
 *   {"topic": STRING, "event": STRING, "payload": OBJECT|STRING|null, "ref": INT|null}
 * Unknown members are ignored; duplicate members, trailing bytes, invalid
 * UTF-8 and anything over NT_PHX_FRAME_MAX are refused. Decoding copies the
 * topic and the event (unescaped) into the frame and points at the payload's
 * JSON text inside the input, for the payload readers (core/phx/pmsg.h).
 */
#ifndef NT_CORE_PHX_PHX_H
#define NT_CORE_PHX_PHX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NT_PHX_FRAME_MAX (1u << 20) /* bytes of one message; over it: close 1009 */
#define NT_PHX_NAME_MAX	 64	    /* topic and event names */

/* Topics and events of section 2. */
#define NT_PHX_TOPIC_PHOENIX "phoenix"
#define NT_PHX_EV_JOIN	     "phx_join"
#define NT_PHX_EV_REPLY	     "phx_reply"
#define NT_PHX_EV_CLOSE	     "phx_close"
#define NT_PHX_EV_HEARTBEAT  "heartbeat"

struct nt_phx_frame {
	char topic[NT_PHX_NAME_MAX + 1];
	char event[NT_PHX_NAME_MAX + 1];
	bool has_ref;	     /* false: "ref": null or absent */
	int64_t ref;	     /* 0 .. 2^53 - 1 */
	const char *payload; /* the payload's JSON text, inside the input */
	size_t payload_len;  /* 4 ("null") when the payload is null or absent */
};

/* 0 with *out filled, -EMSGSIZE (over NT_PHX_FRAME_MAX), -EILSEQ (invalid
 * UTF-8: close 1007), -EINVAL (not JSON, not an object, a member of the
 * wrong type, a name over NT_PHX_NAME_MAX, a ref out of range). */
int nt_phx_decode(const char *msg, size_t len, struct nt_phx_frame *out);

/* Writes one frame into buf: payload is JSON text (an object, a string or
 * "null"), copied as is; ref < 0 writes null. Returns the length, or
 * -ENOSPC when it does not fit (nothing useful is left in buf). */
int nt_phx_encode(char *buf, size_t cap, const char *topic, const char *event, const char *payload,
		  size_t payload_len, int64_t ref);

/* A reply's payload: {"status":"ok"|"error","response":OBJECT}. status_ok
 * tells which; response points at the response's JSON text inside payload.
 * 0 or -EINVAL. */
int nt_phx_reply_parse(const char *payload, size_t len, bool *status_ok, const char **response,
		       size_t *response_len);
/* {"status":"ok","response":RESPONSE} or, with reason set,
 * {"status":"error","response":{"reason":REASON}} (response then unused).
 * Returns the length or -ENOSPC. */
int nt_phx_reply_build(char *buf, size_t cap, const char *response, size_t response_len,
		       const char *reason);

#endif
