/* SPDX-License-Identifier: MIT */
/* The gateway's link to its portal ([Portal] of its configuration): the
 * channel client (core/channel/chan_client.h) on its own thread, its events
 * applied to the gateway on the loop's thread. While the portal is away the
 * grants stay (they end at their expires_at); a fatal end of the channel
 * (401, a revoked or expired token, GiveUpAfter) stops the loop. */
#ifndef NT_CORE_GATEWAY_GW_LINK_H
#define NT_CORE_GATEWAY_GW_LINK_H

#include <stdbool.h>

struct nt_config;
struct nt_gateway;
struct nt_gw_link;
struct nt_loop;

/* Starts the channel to cfg->portal (cfg->portal.line set) for gw, whose
 * ListenPort is announced with Advertise, or else with the source address
 * of each connection attempt. cfg, gw and loop outlive the link.
 * 0 or a negative errno (logged). */
int nt_gw_link_start(struct nt_loop *loop, struct nt_gateway *gw, const struct nt_config *cfg,
		     struct nt_gw_link **out);
/* Stops the channel's thread and frees; NULL is a no-op. */
void nt_gw_link_stop(struct nt_gw_link *l);
/* After the loop stopped: the channel's fatal end (enum nt_chan_fatal), or
 * -1 when it had none. */
int nt_gw_link_fatal(const struct nt_gw_link *l);
/* Joined to the portal and not away since; false for NULL. */
bool nt_gw_link_up(const struct nt_gw_link *l);

#endif
