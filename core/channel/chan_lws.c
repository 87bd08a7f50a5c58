/* SPDX-License-Identifier: MIT */
/* libwebsockets glue both sides share: the log, send queues, message assembly. */
#include "core/channel/chan_lws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/phx/phx.h"
#include "platform/log.h"

static void lws_emit(int level, const char *line)
{
	size_t len = strlen(line);

	(void)level;
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	nt_debug("lws", "event=lws line=\"%.*s\"", (int)len, line);
}

void nt_chan_lws_log_init(void)
{
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_emit);
}

struct nt_chan_msg *nt_chan_msg_new(size_t len)
{
	struct nt_chan_msg *m = malloc(sizeof(*m) + LWS_PRE + len + 1);

	if (m) {
		m->next = NULL;
		m->len = len;
	}
	return m;
}

int nt_chan_sendq_push(struct nt_chan_sendq *q, struct nt_chan_msg *m, uint32_t max_msgs,
		       size_t max_bytes)
{
	if (q->msgs + 1 > max_msgs || q->bytes + m->len > max_bytes) {
		free(m);
		return -ENOBUFS;
	}
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->msgs++;
	q->bytes += m->len;
	return 0;
}

int nt_chan_sendq_write_one(struct nt_chan_sendq *q, struct lws *wsi)
{
	struct nt_chan_msg *m = q->head;
	int n;

	if (!m)
		return -EAGAIN;
	q->head = m->next;
	if (!q->head)
		q->tail = NULL;
	q->msgs--;
	q->bytes -= m->len;
	n = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
	free(m);
	return n < 0 ? -EIO : 0;
}

void nt_chan_sendq_clear(struct nt_chan_sendq *q)
{
	while (q->head) {
		struct nt_chan_msg *m = q->head;

		q->head = m->next;
		free(m);
	}
	q->tail = NULL;
	q->msgs = 0;
	q->bytes = 0;
}

int nt_chan_rxbuf_add(struct nt_chan_rxbuf *b, const void *in, size_t len)
{
	if (len > NT_PHX_FRAME_MAX - b->len)
		return -EMSGSIZE;
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + len + 1)
			cap *= 2;
		if (cap > NT_PHX_FRAME_MAX + 1)
			cap = NT_PHX_FRAME_MAX + 1;
		p = realloc(b->data, cap);
		if (!p)
			return -ENOMEM;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, in, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

void nt_chan_rxbuf_free(struct nt_chan_rxbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
