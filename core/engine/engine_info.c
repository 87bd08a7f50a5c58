// SPDX-License-Identifier: MIT
/* The engine's state copied out (engine_info.h). */
#include "core/engine/engine_info.h"

#include "core/engine/engine_int.h"

bool nt_engine_view(const struct nt_engine *e, const struct nt_engine_view_ops *ops, void *arg,
		    struct nt_engine_portal_info *portal)
{
	for (size_t i = 0; i < e->peer_count; i++)
		if (e->peers[i].peer)
			ops->peer(arg, e->peers[i].peer, "");
	return nt_engine_portal_view(e, ops, arg, portal);
}

const struct nt_tunnel *nt_engine_tunnel(const struct nt_engine *e)
{
	return e->tunnel;
}
