// SPDX-License-Identifier: MIT
/* The gateway's peers copied out (gateway.h, nt_gateway_each_peer). */
#include "core/gateway/gw_int.h"

void nt_gateway_each_peer(const struct nt_gateway *gw, nt_gateway_peer_fn fn, void *arg)
{
	for (size_t i = 0; i < gw->peer_count; i++)
		fn(arg, gw->peers[i].peer, "", &gw->peers[i].c);
	for (const struct gw_peer *gp = gw->portal_peers; gp; gp = gp->pnext)
		fn(arg, gp->peer, gp->cid, &gp->c);
}

const struct nt_tunnel *nt_gateway_tunnel(const struct nt_gateway *gw)
{
	return gw->tunnel;
}
