/* SPDX-License-Identifier: MIT */
/* The engine under a portal ([Portal] in the client's configuration): the
 * channel (core/channel/chan_link.h) on its own thread, the routing table of
 * the portal's cidr resources (rtable.h), access requested per resource
 * with the flows' packets held meanwhile (pending.h), one WireGuard peer per
 * gateway shared by the resources it serves (the life of a resource's
 * access: engine_portal.c). Decisions: init's interface addresses become
 * lwIP's at once (replacing a configured Address; TCP flows bound to an old
 * address end); before the first init, destinations go to the static peers
 * or the bypass; a gateway's peer goes, keys wiped, with its last grant; a
 * grant is renewed at NT_PORTAL_RENEW_PERCENT while a TCP flow to its prefix
 * is open. dns resources (section 7): a name that matches one gets stable
 * proxy addresses (rnames.h) and its flows go there; once the resource is
 * granted, the gateway is asked in-tunnel to map them (assigned_ips, asked
 * again every NT_PORTAL_ASSIGN_EVERY_MS), and the name's packets wait until
 * it answers active (the addresses then route to it) or failed (its
 * connections fail with NT_FAIL_NAME). Loop thread only; engine.c calls in. */
#ifndef NT_CORE_ENGINE_PORTAL_H
#define NT_CORE_ENGINE_PORTAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/fail.h"

struct nt_config;
struct nt_engine;
struct nt_rentry;
struct nt_rname;
struct wg_peer;

#define NT_PORTAL_REQUEST_EVERY_MS 2000u /* request_authorization again while pending */
#define NT_PORTAL_TICK_MS	   500u	 /* the clock of re-requests, renewals, expiry */
#define NT_PORTAL_RENEW_PERCENT	   90u	 /* of a grant's lifetime, while flows use it */
#define NT_PORTAL_DETAIL_MAX	   200u	 /* a failure's line naming the resource */
#define NT_PORTAL_ASSIGN_EVERY_MS  1000u /* assigned_ips again while unanswered */

int nt_engine_portal_start(struct nt_engine *e, const struct nt_config *cfg);
void nt_engine_portal_free(struct nt_engine *e);

/* The resource whose prefix holds addr, or NULL. */
struct nt_rentry *nt_engine_portal_match(struct nt_engine *e, int family, const uint8_t *addr);
/* Whether a TCP connection to port may use re: NT_FAIL_NONE, or
 * NT_FAIL_FORBIDDEN with detail filled (outside the resource's filters). */
enum nt_fail nt_engine_portal_admit(struct nt_engine *e, const struct nt_rentry *re, uint16_t port,
				    char *detail, size_t cap);
/* A name that matches a dns resource: *out is its entry (proxy addresses,
 * the resource in rn->re), or NULL when the name matches none (it follows
 * the usual path). 0, or -ENOSPC (NT_RNAMES_MAX names) / -ENOMEM. */
int nt_engine_portal_name(struct nt_engine *e, const char *name, struct nt_rname **out);
/* The name whose proxy address addr is, or NULL. */
struct nt_rname *nt_engine_portal_name_at(struct nt_engine *e, int family, const uint8_t *addr);
/* A connection waits for re (through name rn, or NULL for a cidr
 * resource): access is requested unless granted, a granted name's mapping
 * unless asked for. Returns the gateway's peer when re is granted, else
 * NULL. */
struct wg_peer *nt_engine_portal_want(struct nt_engine *e, struct nt_rentry *re,
				      struct nt_rname *rn);
/* That connection no longer waits (connected, failed, cancelled). */
void nt_engine_portal_unwant(struct nt_engine *e, struct nt_rentry *re, struct nt_rname *rn);
/* The tunnel's control packet from peer (source ::): a domain_status. */
void nt_engine_portal_control(struct nt_engine *e, struct wg_peer *peer, const uint8_t *pkt,
			      size_t len);
/* A packet from lwIP no peer holds: held when its destination's resource
 * is pending. 0 (held) or -EHOSTUNREACH (dropped; the caller counts). */
int nt_engine_portal_hold(struct nt_engine *e, const uint8_t *pkt, size_t len);
/* The id of the gateway re is granted through, or NULL. */
const char *nt_engine_portal_gid(const struct nt_rentry *re);
/* nt_engine_reset's part: gateways' handshakes, the portal's join. */
void nt_engine_portal_reset(struct nt_engine *e);
/* As nt_engine_resource_disable. */
int nt_engine_portal_disable(struct nt_engine *e, const char *rid, bool disabled);
/* After the loop stopped: the channel's fatal end, or -1. */
int nt_engine_portal_fatal(const struct nt_engine *e);

#endif
