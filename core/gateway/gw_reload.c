// SPDX-License-Identifier: MIT
/* A configuration reload (gateway.h, nt_gateway_reload): the [Peer]s and
 * the Allow rules of the file read again, the sessions of unchanged peers
 * and the flows the new rules still allow left alone. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config/config.h"
#include "core/gateway/gateway.h"
#include "core/gateway/gw_int.h"
#include "core/tunnel/tunnel.h"
#include "platform/log.h"

#define MOD "gateway"

static const uint8_t *key_of(const struct gw_peer *gp)
{
	return gp->peer->hs.remote_static;
}

/* Its flows reset while it still has a session for the RSTs. */
static void peer_drop(struct nt_gateway *gw, struct gw_peer *gp)
{
	nt_gw_flows_recheck(gw, gp, NT_GW_RECHECK_ALL, true);
	nt_info(MOD, "event=peer_removed peer=%s", gp->id);
	nt_tunnel_flush(gw->tunnel);
	nt_tunnel_remove_peer(gw->tunnel, gp->peer);
	gp->peer = NULL;
}

/* old's state in its new slot gp, with next's settings. */
static void peer_keep(struct nt_gateway *gw, const struct nt_config *next,
		      const struct nt_config_peer *was, const struct nt_config_peer *p,
		      struct gw_peer *gp)
{
	struct nt_tunnel_peer_config pc;
	struct sockaddr_storage ss;

	nt_gw_peer_config(next, p, gp, &pc, &ss);
	if (was && nt_config_peer_same_tunnel(was, p)) {
		nt_tunnel_peer_set_user(gp->peer, gp);
		return;
	}
	/* The endpoint the client roamed to stays unless the file's changed. */
	if (was && was->has_endpoint == p->has_endpoint &&
	    (!p->has_endpoint || nt_config_endpoint_same(&was->endpoint, &p->endpoint)))
		pc.endpoint = NULL;
	if (nt_tunnel_update_peer(gw->tunnel, gp->peer, &pc) != 0)
		nt_warn(MOD, "event=peer_update_incomplete line=%u", p->line);
}

int nt_gateway_reload(struct nt_gateway *gw, const struct nt_config *run,
		      const struct nt_config *next)
{
	size_t old_count = gw->peer_count, n = 0, added = 0, removed = 0;
	struct gw_peer *old = gw->peers, *peers;
	size_t *slot;

	peers = calloc(next->peer_count + 1, sizeof(*peers));
	slot = calloc(old_count + 1, sizeof(*slot));
	if (!peers || !slot) {
		free(peers);
		free(slot);
		return -ENOMEM;
	}
	/* First, so that a new peer finds room in the tunnel. */
	for (size_t i = 0; i < old_count; i++) {
		slot[i] = SIZE_MAX;
		if (!nt_config_peer_find(next, key_of(&old[i]))) {
			peer_drop(gw, &old[i]);
			removed++;
		}
	}
	for (size_t j = 0; j < next->peer_count; j++) {
		const struct nt_config_peer *p = &next->peers[j];
		size_t i = 0;

		while (i < old_count &&
		       !(old[i].peer && memcmp(key_of(&old[i]), p->public_key, NT_KEY_LEN) == 0))
			i++;
		if (i < old_count) {
			peers[n] = old[i];
			slot[i] = n;
			peer_keep(gw, next, nt_config_peer_find(run, p->public_key), p, &peers[n]);
		} else if (nt_gw_peer_add(gw, next, p, &peers[n]) == 0) {
			added++;
		} else {
			continue;
		}
		n++;
	}
	/* The flows of the [Peer]s that stay follow them to their new slots. */
	for (struct gw_flow *f = gw->flows; f; f = f->next)
		if (!f->peer->cid[0])
			f->peer = &peers[slot[f->peer - old]];
	gw->peers = peers;
	gw->peer_count = n;
	free(old);
	free(slot);
	gw->publish.global = next->gateway_allow;
	gw->publish.global_count = next->gateway_allow_count;
	nt_gw_flows_recheck(gw, NULL, NT_GW_RECHECK_ALL, false);
	nt_info(MOD, "event=peers_reloaded peers=%zu added=%zu removed=%zu rules=%zu", n, added,
		removed, next->gateway_allow_count);
	return 0;
}
