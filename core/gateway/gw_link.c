// SPDX-License-Identifier: MIT
/* The gateway's portal link: channel events to nt_gateway_portal_message(),
 * acknowledgements back as pushes. */
#include "core/gateway/gw_link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/channel/chan_client.h"
#include "core/config/config.h"
#include "core/gateway/gateway.h"
#include "core/wg/key.h"
#include "platform/log.h"
#include "platform/loop.h"

#define MOD	      "gateway"
#define TOPIC	      "gateway"
#define ACK_MAX	      256 /* {"ref": ...} with an escaped ref of NT_PMSG_ID_MAX */
#define REPLY_LOG_MAX 160 /* bytes of an error reply's response in the log */
#define ENDPOINT_TEXT (NT_CONFIG_HOST_MAX + 16)

struct nt_gw_link {
	struct nt_loop *loop;
	struct nt_gateway *gw;
	struct nt_chan_client *chan;
	int fatal;
};

/* A reply to one of our pushes (the acknowledgements): only errors matter. */
static void on_reply(const struct nt_phx_frame *f)
{
	const char *resp;
	size_t len;
	bool ok;

	if (nt_phx_reply_parse(f->payload, f->payload_len, &ok, &resp, &len) != 0) {
		nt_warn(MOD, "event=portal_reply_invalid ref=%lld", (long long)f->ref);
		return;
	}
	if (!ok)
		nt_warn(MOD, "event=portal_reply_error ref=%lld response=%.*s", (long long)f->ref,
			(int)(len < REPLY_LOG_MAX ? len : REPLY_LOG_MAX), resp);
}

static void on_message(struct nt_gw_link *l, const struct nt_phx_frame *f)
{
	char ack[ACK_MAX];
	int ret;

	if (strcmp(f->event, NT_PHX_EV_REPLY) == 0) {
		on_reply(f);
		return;
	}
	if (strcmp(f->topic, TOPIC) != 0) {
		nt_debug(MOD, "event=portal_message_ignored topic=%s ev=%s", f->topic, f->event);
		return;
	}
	ret = nt_gateway_portal_message(l->gw, f->event, f->payload, f->payload_len, ack,
					sizeof(ack));
	if (ret == -ENOTSUP) {
		nt_debug(MOD, "event=portal_event_unknown ev=%s", f->event);
		return;
	}
	if (ret < 0) {
		/* No acknowledgement: the portal answers its client "offline"
		 * once its own deadline passes. */
		nt_warn(MOD, "event=portal_event_failed ev=%s err=%s", f->event, strerror(-ret));
		return;
	}
	if (ret > 0) {
		ret =
		    nt_chan_client_push(l->chan, TOPIC, "authorization_created", ack, (size_t)ret);
		if (ret)
			nt_warn(MOD, "event=portal_ack_dropped err=%s", strerror(-ret));
	}
}

static void on_event(struct nt_gw_link *l, const struct nt_chan_event *ev)
{
	switch (ev->type) {
	case NT_CHAN_EV_JOINED:
		nt_info(MOD, "event=portal_joined");
		break;
	case NT_CHAN_EV_MESSAGE:
		on_message(l, &ev->frame);
		break;
	case NT_CHAN_EV_DISCONNECTED:
		nt_info(MOD,
			"event=portal_away reason=%s retry_ms=%u hint=\"granted access "
			"keeps working until it expires\"",
			ev->reason, ev->retry_ms);
		break;
	case NT_CHAN_EV_FATAL:
		l->fatal = (int)ev->fatal;
		nt_loop_stop(l->loop);
		break;
	}
}

static void on_chan(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct nt_gw_link *l = arg;
	struct nt_chan_event ev;

	(void)loop;
	(void)fd;
	(void)events;
	/* Level-triggered: what is left wakes the loop again. */
	for (unsigned i = 0; i < NT_GW_LINK_EVENTS_PER_WAKE && l->fatal < 0; i++) {
		if (nt_chan_client_next(l->chan, &ev) != 0)
			break;
		on_event(l, &ev);
		/* Payloads carry pre-shared keys. */
		if (ev.text)
			sodium_memzero(ev.text, ev.len);
		nt_chan_event_release(&ev);
	}
}

int nt_gw_link_start(struct nt_loop *loop, struct nt_gateway *gw, const struct nt_config *cfg,
		     struct nt_gw_link **out)
{
	const struct nt_config_portal *pt = &cfg->portal;
	char url[NT_CONFIG_HOST_MAX + 32], key[NT_KEY_B64_LEN + 1], fp[NT_CHAN_FP_TEXT_MAX];
	char endpoint[ENDPOINT_TEXT];
	struct nt_chan_client_config cc = {
	    .url = url,
	    .topic = TOPIC,
	    .path = pt->path,
	    .token = pt->token,
	    .public_key = key,
	    .endpoint = pt->has_advertise ? endpoint : NULL,
	    .endpoint_port = nt_gateway_port(gw),
	    .ca_file = pt->ca_file[0] ? pt->ca_file : NULL,
	    .fingerprint = pt->has_fingerprint ? fp : NULL,
	    .give_up_after_ms = (uint64_t)pt->give_up_after_s * 1000u,
	};
	struct nt_gw_link *l = calloc(1, sizeof(*l));
	int ret;

	if (!l)
		return -ENOMEM;
	l->loop = loop;
	l->gw = gw;
	l->fatal = -1;
	snprintf(url, sizeof(url), strchr(pt->host, ':') ? "%s://[%s]:%u" : "%s://%s:%u",
		 pt->tls ? "wss" : "ws", pt->host, pt->port);
	nt_key_to_base64(key, cfg->public_key);
	if (pt->has_fingerprint)
		nt_chan_fp_format(pt->fingerprint, fp);
	if (pt->has_advertise)
		nt_config_endpoint_format(&pt->advertise, endpoint, sizeof(endpoint));
	ret = nt_chan_client_start(&l->chan, &cc);
	if (ret) {
		nt_error(MOD, "event=portal_start_failed url=%s err=%s", pt->url, strerror(-ret));
		free(l);
		return ret;
	}
	ret = nt_loop_add_fd(loop, nt_chan_client_fd(l->chan), NT_EV_READ, on_chan, l);
	if (ret) {
		nt_chan_client_stop(l->chan);
		free(l);
		return ret;
	}
	nt_info(MOD, "event=portal_starting url=%s endpoint=%s port=%u", pt->url,
		pt->has_advertise ? endpoint : "source", nt_gateway_port(gw));
	*out = l;
	return 0;
}

void nt_gw_link_stop(struct nt_gw_link *l)
{
	if (!l)
		return;
	nt_loop_del_fd(l->loop, nt_chan_client_fd(l->chan));
	nt_chan_client_stop(l->chan);
	free(l);
}

int nt_gw_link_fatal(const struct nt_gw_link *l)
{
	return l ? l->fatal : -1;
}
