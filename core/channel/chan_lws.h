/* SPDX-License-Identifier: MIT */
/* What both sides of the channel share on libwebsockets: its log routed to
 * notun's, and queued outgoing messages. Private to core/channel/. */
#ifndef NT_CORE_CHANNEL_CHAN_LWS_H
#define NT_CORE_CHANNEL_CHAN_LWS_H

#include <libwebsockets.h>
#include <stddef.h>
#include <stdint.h>

/* libwebsockets' own lines go to notun's log at debug (mod=lws); idempotent. */
void nt_chan_lws_log_init(void);

/* One outgoing text message with libwebsockets' headroom in front. */
struct nt_chan_msg {
	struct nt_chan_msg *next;
	size_t len;
	unsigned char buf[]; /* LWS_PRE + len */
};

/* A bounded FIFO of messages. */
struct nt_chan_sendq {
	struct nt_chan_msg *head, *tail;
	uint32_t msgs;
	size_t bytes;
};

struct nt_chan_msg *nt_chan_msg_new(size_t len);
/* Appends m unless the queue would pass max_msgs or max_bytes: -ENOBUFS
 * (m is freed then). */
int nt_chan_sendq_push(struct nt_chan_sendq *q, struct nt_chan_msg *m, uint32_t max_msgs,
		       size_t max_bytes);
/* Writes the oldest message as one text frame and drops it. 0, -EAGAIN
 * (empty) or -EIO. */
int nt_chan_sendq_write_one(struct nt_chan_sendq *q, struct lws *wsi);
void nt_chan_sendq_clear(struct nt_chan_sendq *q);

/* A whole message assembled from fragments, at most NT_PHX_FRAME_MAX bytes
 * and NUL-terminated. */
struct nt_chan_rxbuf {
	char *data;
	size_t len, cap;
};
/* Appends one fragment: 0, -EMSGSIZE (over NT_PHX_FRAME_MAX) or -ENOMEM. */
int nt_chan_rxbuf_add(struct nt_chan_rxbuf *b, const void *in, size_t len);
void nt_chan_rxbuf_free(struct nt_chan_rxbuf *b);

/* The DER certificate the server of client connection wsi presented (valid
 * during the callback), or NULL (chan_peercert.c). */
const unsigned char *nt_chan_peer_cert_der(struct lws *wsi, size_t *len);

#endif
