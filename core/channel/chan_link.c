// SPDX-License-Identifier: MIT
/* A role's portal link: channel events on the loop's thread (chan_link.h). */
#include "core/channel/chan_link.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/channel/chan_client.h"
#include "core/config/config.h"
#include "core/wg/key.h"
#include "platform/log.h"
#include "platform/loop.h"

#define REPLY_LOG_MAX 160 /* bytes of an error reply's response in the log */

struct nt_chan_link {
	struct nt_loop *loop;
	struct nt_chan_client *chan;
	struct nt_chan_link_config cfg;
	const struct nt_chan_link_ops *ops;
	void *arg;
	int fatal;
	bool up;
};

/* A reply to one of our pushes: only errors matter. */
static void on_reply(const struct nt_chan_link *l, const struct nt_phx_frame *f)
{
	const char *resp;
	size_t len;
	bool ok;

	if (nt_phx_reply_parse(f->payload, f->payload_len, &ok, &resp, &len) != 0) {
		nt_warn(l->cfg.mod, "event=portal_reply_invalid ref=%lld", (long long)f->ref);
		return;
	}
	if (!ok)
		nt_warn(l->cfg.mod, "event=portal_reply_error ref=%lld response=%.*s",
			(long long)f->ref, (int)(len < REPLY_LOG_MAX ? len : REPLY_LOG_MAX), resp);
}

static void on_event(struct nt_chan_link *l, const struct nt_chan_event *ev)
{
	switch (ev->type) {
	case NT_CHAN_EV_JOINED:
		l->up = true;
		nt_info(l->cfg.mod, "event=portal_joined");
		if (l->ops->joined)
			l->ops->joined(l->arg);
		break;
	case NT_CHAN_EV_MESSAGE:
		if (strcmp(ev->frame.event, NT_PHX_EV_REPLY) == 0)
			on_reply(l, &ev->frame);
		else if (strcmp(ev->frame.topic, l->cfg.topic) != 0)
			nt_debug(l->cfg.mod, "event=portal_message_ignored topic=%s ev=%s",
				 ev->frame.topic, ev->frame.event);
		else
			l->ops->message(l->arg, &ev->frame);
		break;
	case NT_CHAN_EV_DISCONNECTED:
		l->up = false;
		nt_info(l->cfg.mod,
			"event=portal_away reason=%s retry_ms=%u hint=\"granted access "
			"keeps working until it expires\"",
			ev->reason, ev->retry_ms);
		if (l->ops->away)
			l->ops->away(l->arg, ev->reason, ev->retry_ms);
		break;
	case NT_CHAN_EV_FATAL:
		l->up = false;
		l->fatal = (int)ev->fatal;
		nt_loop_stop(l->loop);
		break;
	}
}

static void on_chan(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct nt_chan_link *l = arg;
	struct nt_chan_event ev;

	(void)loop;
	(void)fd;
	(void)events;
	/* Level-triggered: what is left wakes the loop again. */
	for (unsigned i = 0; i < NT_CHAN_LINK_EVENTS_PER_WAKE && l->fatal < 0; i++) {
		if (nt_chan_client_next(l->chan, &ev) != 0)
			break;
		on_event(l, &ev);
		/* Payloads carry pre-shared keys. */
		if (ev.text)
			sodium_memzero(ev.text, ev.len);
		nt_chan_event_release(&ev);
	}
}

/* A channel client from l->cfg, watched by the loop. 0 or a negative errno. */
static int link_open(struct nt_chan_link *l)
{
	const struct nt_config_portal *pt = l->cfg.portal;
	char url[NT_CONFIG_HOST_MAX + 32], key[NT_KEY_B64_LEN + 1], fp[NT_CHAN_FP_TEXT_MAX];
	struct nt_chan_client_config cc = {
	    .url = url,
	    .topic = l->cfg.topic,
	    .path = pt->path,
	    .token = pt->token,
	    .public_key = key,
	    .endpoint = l->cfg.endpoint,
	    .endpoint_port = l->cfg.endpoint ? 0 : l->cfg.endpoint_port,
	    .ca_file = pt->ca_file[0] ? pt->ca_file : NULL,
	    .fingerprint = pt->has_fingerprint ? fp : NULL,
	    .give_up_after_ms = (uint64_t)pt->give_up_after_s * 1000u,
	};
	int ret;

	snprintf(url, sizeof(url), strchr(pt->host, ':') ? "%s://[%s]:%u" : "%s://%s:%u",
		 pt->tls ? "wss" : "ws", pt->host, pt->port);
	nt_key_to_base64(key, l->cfg.public_key);
	if (pt->has_fingerprint)
		nt_chan_fp_format(pt->fingerprint, fp);
	ret = nt_chan_client_start(&l->chan, &cc);
	if (ret) {
		nt_error(l->cfg.mod, "event=portal_start_failed url=%s err=%s", pt->url,
			 strerror(-ret));
		return ret;
	}
	ret = nt_loop_add_fd(l->loop, nt_chan_client_fd(l->chan), NT_EV_READ, on_chan, l);
	if (ret) {
		nt_chan_client_stop(l->chan);
		l->chan = NULL;
	}
	return ret;
}

int nt_chan_link_start(struct nt_loop *loop, const struct nt_chan_link_config *cfg,
		       const struct nt_chan_link_ops *ops, void *arg, struct nt_chan_link **out)
{
	struct nt_chan_link *l = calloc(1, sizeof(*l));
	int ret;

	if (!l)
		return -ENOMEM;
	l->loop = loop;
	l->cfg = *cfg;
	l->ops = ops;
	l->arg = arg;
	l->fatal = -1;
	ret = link_open(l);
	if (ret) {
		free(l);
		return ret;
	}
	*out = l;
	return 0;
}

int nt_chan_link_reconnect(struct nt_chan_link *l)
{
	if (l->fatal >= 0)
		return -ENOTCONN;
	if (l->chan) {
		nt_loop_del_fd(l->loop, nt_chan_client_fd(l->chan));
		nt_chan_client_stop(l->chan);
		l->chan = NULL;
	}
	if (l->up) {
		l->up = false;
		nt_info(l->cfg.mod, "event=portal_away reason=reset retry_ms=0");
		if (l->ops->away)
			l->ops->away(l->arg, "reset", 0);
	}
	return link_open(l);
}

void nt_chan_link_stop(struct nt_chan_link *l)
{
	if (!l)
		return;
	if (l->chan) {
		nt_loop_del_fd(l->loop, nt_chan_client_fd(l->chan));
		nt_chan_client_stop(l->chan);
	}
	free(l);
}

int nt_chan_link_push(struct nt_chan_link *l, const char *event, const char *payload, size_t len)
{
	if (!l->chan)
		return -ENOTCONN;
	return nt_chan_client_push(l->chan, l->cfg.topic, event, payload, len);
}

int nt_chan_link_fatal(const struct nt_chan_link *l)
{
	return l ? l->fatal : -1;
}

bool nt_chan_link_up(const struct nt_chan_link *l)
{
	return l && l->up;
}
