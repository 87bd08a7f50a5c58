// SPDX-License-Identifier: MIT
/* The four WireGuard messages: parsing and building. */
#include "core/wg/wg_messages.h"

#include <errno.h>

int wg_message_parse(const uint8_t *buf, size_t len, struct wg_message *out)
{
	struct wg_message m = {.buf = buf, .len = len};

	if (!buf || len < sizeof(struct wg_msg_header))
		return -EINVAL;
	if (buf[1] | buf[2] | buf[3])
		return -EINVAL;

	switch (buf[0]) {
	case WG_MSG_INITIATION:
		if (len != WG_MSG_INITIATION_LEN)
			return -EINVAL;
		m.initiation = (const struct wg_msg_initiation *)buf;
		m.sender = wg_le32_load(m.initiation->sender);
		break;
	case WG_MSG_RESPONSE:
		if (len != WG_MSG_RESPONSE_LEN)
			return -EINVAL;
		m.response = (const struct wg_msg_response *)buf;
		m.sender = wg_le32_load(m.response->sender);
		m.receiver = wg_le32_load(m.response->receiver);
		break;
	case WG_MSG_COOKIE_REPLY:
		if (len != WG_MSG_COOKIE_REPLY_LEN)
			return -EINVAL;
		m.cookie_reply = (const struct wg_msg_cookie_reply *)buf;
		m.receiver = wg_le32_load(m.cookie_reply->receiver);
		break;
	case WG_MSG_TRANSPORT:
		if (len < WG_MSG_TRANSPORT_MIN_LEN)
			return -EINVAL;
		m.transport = (const struct wg_msg_transport *)buf;
		m.receiver = wg_le32_load(m.transport->receiver);
		m.counter = wg_le64_load(m.transport->counter);
		m.payload = buf + WG_MSG_TRANSPORT_HEADER_LEN;
		m.payload_len = len - WG_MSG_TRANSPORT_HEADER_LEN;
		break;
	default:
		return -EPROTO;
	}
	m.type = (enum wg_message_type)buf[0];
	*out = m;
	return 0;
}
