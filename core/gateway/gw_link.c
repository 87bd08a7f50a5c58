// SPDX-License-Identifier: MIT
/* The gateway's portal link: the shared channel glue (core/channel/
 * chan_link.h) with messages to nt_gateway_portal_message() and the
 * acknowledgements back as pushes. */
#include "core/gateway/gw_link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/channel/chan_link.h"
#include "core/config/config.h"
#include "core/gateway/gateway.h"
#include "platform/log.h"

#define MOD	      "gateway"
#define ACK_MAX	      256 /* {"ref": ...} with an escaped ref of NT_PMSG_ID_MAX */
#define ENDPOINT_TEXT (NT_CONFIG_HOST_MAX + 16)

struct nt_gw_link {
	struct nt_gateway *gw;
	struct nt_chan_link *chan;
	char endpoint[ENDPOINT_TEXT];
};

static void on_message(void *arg, const struct nt_phx_frame *f)
{
	struct nt_gw_link *l = arg;
	char ack[ACK_MAX];
	int ret;

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
		ret = nt_chan_link_push(l->chan, "authorization_created", ack, (size_t)ret);
		if (ret)
			nt_warn(MOD, "event=portal_ack_dropped err=%s", strerror(-ret));
	}
}

static const struct nt_chan_link_ops link_ops = {.message = on_message};

int nt_gw_link_start(struct nt_loop *loop, struct nt_gateway *gw, const struct nt_config *cfg,
		     struct nt_gw_link **out)
{
	const struct nt_config_portal *pt = &cfg->portal;
	struct nt_chan_link_config lc = {.portal = pt,
					 .topic = "gateway",
					 .public_key = cfg->public_key,
					 .endpoint_port = nt_gateway_port(gw),
					 .mod = MOD};
	struct nt_gw_link *l = calloc(1, sizeof(*l));
	int ret;

	if (!l)
		return -ENOMEM;
	l->gw = gw;
	if (pt->has_advertise) {
		nt_config_endpoint_format(&pt->advertise, l->endpoint, sizeof(l->endpoint));
		lc.endpoint = l->endpoint;
	}
	ret = nt_chan_link_start(loop, &lc, &link_ops, l, &l->chan);
	if (ret) {
		free(l);
		return ret;
	}
	nt_info(MOD, "event=portal_starting url=%s endpoint=%s port=%u", pt->url,
		pt->has_advertise ? l->endpoint : "source", nt_gateway_port(gw));
	*out = l;
	return 0;
}

void nt_gw_link_stop(struct nt_gw_link *l)
{
	if (!l)
		return;
	nt_chan_link_stop(l->chan);
	free(l);
}

int nt_gw_link_fatal(const struct nt_gw_link *l)
{
	return l ? nt_chan_link_fatal(l->chan) : -1;
}

bool nt_gw_link_up(const struct nt_gw_link *l)
{
	return l && nt_chan_link_up(l->chan);
}
