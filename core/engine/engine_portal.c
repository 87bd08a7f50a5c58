// SPDX-License-Identifier: MIT
/* The engine under a portal (engine_portal.h).
 *
 * A resource's access:
 *
 *   NONE --a connection wants it--> PENDING: request_authorization now and
 *     every NT_PORTAL_REQUEST_EVERY_MS while the portal is joined; lwIP's
 *     packets for it wait in its pending buffer
 *   PENDING --authorization_created--> GRANTED: the gateway's peer (added,
 *     or shared with its other resources) gets the prefix, the buffer leaves
 *     in order through it
 *   PENDING --authorization_creation_failed--> NONE: its connections fail
 *     at once (forbidden / not_found -> FORBIDDEN, offline -> OFFLINE)
 *   PENDING --no connection waits any more (ConnectTimeout)--> NONE
 *   GRANTED --revoked, deleted, address changed, expired--> NONE: its
 *     flows are reset, the prefix leaves the peer, a peer without grants
 *     goes (its keys wiped)
 *   GRANTED at NT_PORTAL_RENEW_PERCENT of its lifetime, flows open: asked
 *     again; the answer installs the new expiry, flows untouched.
 */
#include "core/engine/engine_portal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "core/channel/chan_link.h"
#include "core/config/config.h"
#include "core/engine/engine_info.h"
#include "core/engine/engine_int.h"
#include "core/engine/rnames.h"
#include "core/engine/rtable.h"
#include "core/phx/pmsg.h"
#include "core/tunnel/tunnel.h"
#include "netstack/flow.h"
#include "netstack/ippkt.h"
#include "netstack/stack.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "platform/sockaddr.h"

#define MOD	    "engine"
#define REQUEST_MAX 1400 /* request_authorization with NT_PMSG_GATEWAY_IDS_MAX ids */

struct engine_gw {
	struct engine_gw *next;
	char id[NT_PMSG_ID_MAX + 1];
	struct wg_peer *peer;
	unsigned grants;
};

struct engine_portal {
	struct nt_engine *e;
	struct nt_chan_link *link;
	struct nt_rtable rt;
	struct nt_rnames names;
	struct nt_pending_counters pc;
	struct engine_gw *gws;
	struct nt_timer tick;
	uint64_t requests, unrequested, invalid;
	/* dns resources' names */
	uint64_t names_refused;	   /* over NT_RNAMES_MAX: the connection failed */
	uint64_t assigns;	   /* assigned_ips sent, repeats included */
	uint64_t names_active;	   /* domain_status active taken */
	uint64_t names_failed;	   /* domain_status failed taken */
	uint64_t status_unexpected; /* control packets not answering an assignment of ours */
	bool inited;		    /* an init was taken: the client is ready */
};

static int64_t real_now(void)
{
	return (int64_t)(nt_clock_real_ns() / NT_NS_PER_SEC);
}

/* The host's view of re's access (engine.h, nt_engine_observer). */
static void observe(struct engine_portal *p, const struct nt_rentry *re, enum nt_engine_access st,
		    const char *why)
{
	const struct nt_engine_observer *o = &p->e->obs;
	const struct engine_gw *gw = re->gw;

	if (o->access)
		o->access(o->arg, re->res.id, st, st == NT_ENGINE_ACCESS_GRANTED ? gw->id : "",
			  st == NT_ENGINE_ACCESS_GRANTED ? re->expires_at : 0, why ? why : "");
}

static void observe_count(struct engine_portal *p)
{
	if (p->e->obs.resources)
		p->e->obs.resources(p->e->obs.arg, p->rt.n);
}

/* ---- gateways: one peer each, shared by their grants ---- */

static struct engine_gw *gw_get(struct engine_portal *p, const struct nt_pmsg_auth_created *ac)
{
	struct nt_tunnel_peer_config pc = {.psk = ac->preshared_key};
	struct sockaddr_storage ss;
	struct engine_gw *gw;
	int ret;

	for (gw = p->gws; gw; gw = gw->next)
		if (strcmp(gw->id, ac->gateway_id) == 0)
			return gw;
	gw = calloc(1, sizeof(*gw));
	if (!gw)
		return NULL;
	pc.endpoint_len =
	    nt_sockaddr_set(&ss, ac->endpoint_family, ac->endpoint_addr, ac->endpoint_port);
	pc.endpoint = (struct sockaddr *)&ss;
	memcpy(pc.public_key, ac->gateway_public_key, sizeof(pc.public_key));
	ret = nt_tunnel_add_peer(p->e->tunnel, &pc, &gw->peer);
	sodium_memzero(&pc, sizeof(pc));
	if (ret) {
		nt_warn(MOD, "event=gateway_peer_failed gid=%s err=%s", ac->gateway_id,
			strerror(-ret));
		free(gw);
		return NULL;
	}
	snprintf(gw->id, sizeof(gw->id), "%s", ac->gateway_id);
	gw->next = p->gws;
	p->gws = gw;
	nt_info(MOD, "event=gateway_peer_added gid=%s peer=%s endpoint=%s", gw->id,
		nt_tunnel_peer_id(gw->peer), ac->gateway_endpoint);
	return gw;
}

static void gw_release(struct engine_portal *p, struct engine_gw *gw)
{
	struct engine_gw **pp = &p->gws;

	if (--gw->grants)
		return;
	nt_info(MOD, "event=gateway_peer_removed gid=%s peer=%s", gw->id,
		nt_tunnel_peer_id(gw->peer));
	/* The RSTs of the reset flows leave while the session exists. */
	nt_tunnel_flush(p->e->tunnel);
	nt_tunnel_remove_peer(p->e->tunnel, gw->peer);
	while (*pp != gw)
		pp = &(*pp)->next;
	*pp = gw->next;
	free(gw);
}

/* ---- requests ---- */

static void request(struct engine_portal *p, struct nt_rentry *re)
{
	struct nt_pmsg_request_auth m = {0};
	char buf[REQUEST_MAX];
	int len, ret;

	re->last_request_ns = nt_clock_mono_ns();
	if (!nt_chan_link_up(p->link))
		return; /* sent at the join */
	snprintf(m.resource_id, sizeof(m.resource_id), "%s", re->res.id);
	for (struct engine_gw *gw = p->gws; gw && m.n_gateways < NT_PMSG_GATEWAY_IDS_MAX;
	     gw = gw->next)
		snprintf(m.connected_gateway_ids[m.n_gateways++], NT_PMSG_ID_MAX + 1, "%s", gw->id);
	len = nt_pmsg_request_auth_encode(buf, sizeof(buf), &m);
	if (len < 0)
		return;
	ret = nt_chan_link_push(p->link, "request_authorization", buf, (size_t)len);
	p->requests++;
	nt_info(MOD, "event=access_requested rid=%s name=%s renew=%s%s%s", re->res.id,
		re->res.name[0] ? re->res.name : "-", re->renewing ? "yes" : "no",
		ret ? " err=" : "", ret ? strerror(-ret) : "");
}

static void detail_of(char *buf, size_t cap, const struct nt_rentry *re, const char *what)
{
	/* Cut at cap: the line is for people. */
	int n = snprintf(buf, cap, "resource %s (", re->res.id);

	if (n > 0 && (size_t)n < cap)
		snprintf(buf + n, cap - (size_t)n, "%s): %s",
			 re->res.name[0] ? re->res.name : re->res.address, what);
}

/* ---- names of dns resources ---- */

static bool is_dns(const struct nt_rentry *re)
{
	return re->res.type == NT_PMSG_RES_DNS;
}

static struct wg_cidr host_cidr(int family, const uint8_t *addr)
{
	struct wg_cidr c = {.family = family, .prefix_len = family == AF_INET ? 32 : 128};

	memcpy(c.addr, addr, family == AF_INET ? 4 : 16);
	return c;
}

/* Open TCP flows to rn's proxy addresses: counted (why NONE) or reset. */
static size_t name_flows(const struct nt_rname *rn, enum nt_fail why)
{
	return nt_flow_tcp_to(AF_INET, rn->v4, 32, why) + nt_flow_tcp_to(AF_INET6, rn->v6, 128, why);
}

/* Open TCP flows that use re's access: counted (why NONE) or reset. */
static size_t resource_flows(struct engine_portal *p, const struct nt_rentry *re, enum nt_fail why)
{
	size_t n = 0;

	if (!is_dns(re))
		return nt_flow_tcp_to(re->res.cidr.family, re->res.cidr.addr,
				      re->res.cidr.prefix_len, why);
	for (struct nt_rname *rn = p->names.head; rn; rn = rn->next)
		if (rn->re == re)
			n += name_flows(rn, why);
	return n;
}

/* ---- held packets (the pending buffers) ---- */

struct held_out {
	struct nt_engine *e;
	struct wg_peer *peer;
};

static void send_held(void *arg, const uint8_t *pkt, size_t len)
{
	struct held_out *h = arg;

	if (nt_tunnel_send(h->e->tunnel, h->peer, pkt, len) != 0)
		h->e->counters.out_dropped++;
}

/* rn: the name they were held for, or NULL (re's addresses). */
static void held_flush(struct nt_engine *e, struct nt_pending_q *q, const struct nt_rentry *re,
		       const struct nt_rname *rn, struct wg_peer *peer)
{
	struct held_out h = {e, peer};

	if (q->n)
		nt_debug(MOD, "event=held_flushed rid=%s domain=%s peer=%s packets=%zu", re->res.id,
			 rn ? rn->name : "-", nt_tunnel_peer_id(peer), q->n);
	nt_pending_flush(q, send_held, &h);
}

static void held_drop(struct nt_pending_q *q, const struct nt_rentry *re, const struct nt_rname *rn)
{
	if (q->n)
		nt_debug(MOD, "event=held_dropped rid=%s domain=%s packets=%zu cause=ended",
			 re ? re->res.id : "-", rn ? rn->name : "-", q->n);
	nt_pending_clear(q);
}

/* rn no longer goes to a gateway: its routes leave, its held packets drop. */
static void name_reset(struct engine_portal *p, struct nt_rname *rn)
{
	struct wg_cidr c4 = host_cidr(AF_INET, rn->v4), c6 = host_cidr(AF_INET6, rn->v6);

	if (rn->st == NT_RNAME_ACTIVE) {
		(void)nt_tunnel_disallow(p->e->tunnel, &c4);
		(void)nt_tunnel_disallow(p->e->tunnel, &c6);
	}
	rn->st = NT_RNAME_IDLE;
	held_drop(&rn->q, rn->re, rn);
}

/* Asks re's gateway to map rn's proxy addresses (section 7); the answer
 * comes as a domain_status control packet (nt_engine_portal_control). */
static void assign(struct engine_portal *p, struct nt_rname *rn)
{
	struct nt_pmsg_assigned_ips m = {.n_ips = 2};
	struct engine_gw *gw = rn->re->gw;
	uint8_t pkt[NT_PMSG_DNS_CTL_MAX];
	char body[NT_PMSG_DNS_CTL_BODY_MAX + 1];
	int blen, plen, ret;

	snprintf(m.resource_id, sizeof(m.resource_id), "%s", rn->re->res.id);
	snprintf(m.domain, sizeof(m.domain), "%s", rn->name);
	m.proxy_ips[0].family = AF_INET;
	memcpy(m.proxy_ips[0].addr, rn->v4, 4);
	m.proxy_ips[1].family = AF_INET6;
	memcpy(m.proxy_ips[1].addr, rn->v6, 16);
	rn->st = NT_RNAME_ASSIGNING;
	rn->last_sent_ns = nt_clock_mono_ns();
	blen = nt_pmsg_assigned_ips_encode(body, sizeof(body), &m);
	plen = blen < 0 ? blen
			: nt_pmsg_dns_ctl_build(pkt, sizeof(pkt), NT_PMSG_DNS_ASSIGNED_IPS, body,
						(size_t)blen);
	ret = plen < 0 ? plen : nt_tunnel_send(p->e->tunnel, gw->peer, pkt, (size_t)plen);
	p->assigns++;
	nt_info(MOD, "event=name_assigning rid=%s gid=%s domain=%s%s%s", rn->re->res.id, gw->id,
		rn->name, ret ? " err=" : "", ret ? strerror(-ret) : "");
}

/* Access to re ends: a grant's flows are reset, waiting connections fail. */
static void end_access(struct engine_portal *p, struct nt_rentry *re, enum nt_fail fail,
		       const char *why, enum nt_engine_access st)
{
	char detail[NT_PORTAL_DETAIL_MAX];
	size_t flows;

	if (re->access != NT_RACCESS_NONE)
		observe(p, re, st, why);
	for (struct nt_rname *rn = p->names.head; rn; rn = rn->next)
		if (rn->re == re && re->access == NT_RACCESS_PENDING)
			name_reset(p, rn);
	if (re->access == NT_RACCESS_GRANTED) {
		struct engine_gw *gw = re->gw;

		if (!is_dns(re))
			(void)nt_tunnel_disallow(p->e->tunnel, &re->res.cidr);
		flows = resource_flows(p, re, fail);
		for (struct nt_rname *rn = p->names.head; rn; rn = rn->next)
			if (rn->re == re)
				name_reset(p, rn);
		nt_info(MOD, "event=access_ended rid=%s gid=%s reason=%s flows_reset=%zu",
			re->res.id, gw->id, why, flows);
		re->access = NT_RACCESS_NONE;
		re->gw = NULL;
		re->renewing = false;
		gw_release(p, gw);
		/* Connections still opening through it (a name not yet active). */
		detail_of(detail, sizeof(detail), re, why);
		nt_engine_fail_waiting(p->e, re, NULL, fail, detail);
	} else if (re->access == NT_RACCESS_PENDING) {
		nt_info(MOD, "event=access_ended rid=%s reason=%s waiting=%u", re->res.id, why,
			re->waiting);
		detail_of(detail, sizeof(detail), re, why);
		re->access = NT_RACCESS_NONE;
		held_drop(&re->q, re, NULL);
		nt_engine_fail_waiting(p->e, re, NULL, fail, detail);
	}
}

/* ---- messages ---- */

static void on_granted(struct engine_portal *p, const struct nt_pmsg_auth_created *ac)
{
	struct nt_rentry *re = nt_rtable_find(&p->rt, ac->resource_id);
	struct engine_gw *gw;
	int ret;

	if (!re || !(re->access == NT_RACCESS_PENDING ||
		     (re->access == NT_RACCESS_GRANTED && re->renewing))) {
		p->unrequested++;
		nt_info(MOD, "event=authorization_unrequested rid=%s gid=%s hint=\"ignored\"",
			ac->resource_id, ac->gateway_id);
		return;
	}
	if (re->access == NT_RACCESS_GRANTED) {
		struct engine_gw *old = re->gw;

		if (strcmp(old->id, ac->gateway_id) == 0) {
			re->renewing = false;
			re->granted_at = real_now();
			re->expires_at = ac->expires_at;
			nt_info(MOD, "event=access_renewed rid=%s gid=%s expires_at=%" PRId64,
				re->res.id, old->id, re->expires_at);
			observe(p, re, NT_ENGINE_ACCESS_GRANTED, NULL);
			return;
		}
		/* Another gateway now: the prefix moves to its peer below; names
		 * are assigned there afresh. */
		for (struct nt_rname *rn = p->names.head; rn; rn = rn->next)
			if (rn->re == re && rn->st != NT_RNAME_IDLE) {
				name_reset(p, rn);
				rn->st = NT_RNAME_ASSIGNING;
			}
		re->access = NT_RACCESS_PENDING;
		re->gw = NULL;
		gw_release(p, old);
	}
	gw = gw_get(p, ac);
	if (!gw)
		return; /* asked again in NT_PORTAL_REQUEST_EVERY_MS */
	/* A dns resource's routes are its names' proxy addresses, each added
	 * when the gateway has resolved it. */
	ret = is_dns(re) ? 0 : nt_tunnel_peer_allow(p->e->tunnel, gw->peer, &re->res.cidr);
	if (ret) {
		nt_warn(MOD, "event=route_failed rid=%s gid=%s err=%s", re->res.id, gw->id,
			strerror(-ret));
		gw->grants++;
		gw_release(p, gw);
		return;
	}
	gw->grants++;
	re->gw = gw;
	re->access = NT_RACCESS_GRANTED;
	re->renewing = false;
	re->granted_at = real_now();
	re->expires_at = ac->expires_at;
	nt_info(MOD, "event=access_granted rid=%s gid=%s peer=%s held=%zu expires_at=%" PRId64,
		re->res.id, gw->id, nt_tunnel_peer_id(gw->peer), re->q.n, re->expires_at);
	nt_engine_granted(p->e, re, gw->peer);
	observe(p, re, NT_ENGINE_ACCESS_GRANTED, NULL);
	held_flush(p->e, &re->q, re, NULL, gw->peer);
	for (struct nt_rname *rn = p->names.head; rn; rn = rn->next)
		if (rn->re == re && (rn->waiting || rn->st != NT_RNAME_IDLE))
			assign(p, rn);
}

static void on_refused(struct engine_portal *p, const struct nt_pmsg_auth_failed *af)
{
	struct nt_rentry *re = nt_rtable_find(&p->rt, af->resource_id);
	const char *why = nt_pmsg_fail_reason_name(af->reason);

	if (!re || re->access != NT_RACCESS_PENDING) {
		nt_info(MOD, "event=refusal_unrequested rid=%s reason=%s", af->resource_id, why);
		return;
	}
	nt_info(MOD, "event=access_refused rid=%s reason=%s waiting=%u", re->res.id, why,
		re->waiting);
	end_access(p, re, af->reason == NT_PMSG_OFFLINE ? NT_FAIL_OFFLINE : NT_FAIL_FORBIDDEN,
		   af->reason == NT_PMSG_OFFLINE     ? "offline (no gateway online)"
		   : af->reason == NT_PMSG_FORBIDDEN ? "forbidden (no policy allows it)"
						     : "not_found (no such resource)",
		   NT_ENGINE_ACCESS_DENIED);
}

/* re goes or matches other names now: its names match afresh next time. */
static void names_unbind(struct engine_portal *p, const struct nt_rentry *re)
{
	for (struct nt_rname *rn = p->names.head; rn; rn = rn->next)
		if (rn->re == re)
			rn->re = NULL;
}

static void delete_resource(struct engine_portal *p, const char *id);

/* A resource listed or updated: a changed address ends its access first. */
static void apply_resource(struct engine_portal *p, const struct nt_pmsg_resource *res)
{
	struct nt_rentry *re = nt_rtable_find(&p->rt, res->id);
	int ret;

	if (res->type != NT_PMSG_RES_CIDR && res->type != NT_PMSG_RES_DNS) {
		nt_debug(MOD, "event=resource_ignored rid=%s hint=\"unknown type\"", res->id);
		if (re)
			delete_resource(p, res->id);
		return;
	}
	if (re && (re->res.type != res->type ||
		   (is_dns(re) ? strcmp(re->res.address, res->address) != 0
			       : !nt_rtable_same_prefix(&re->res.cidr, &res->cidr)))) {
		end_access(p, re, NT_FAIL_FORBIDDEN, "address changed", NT_ENGINE_ACCESS_NONE);
		names_unbind(p, re);
	}
	ret = nt_rtable_put(&p->rt, res, NULL);
	if (ret < 0)
		nt_warn(MOD, "event=resource_refused rid=%s err=%s", res->id, strerror(-ret));
}

static void delete_resource(struct engine_portal *p, const char *id)
{
	struct nt_rentry *re = nt_rtable_find(&p->rt, id);

	if (!re)
		return;
	end_access(p, re, NT_FAIL_FORBIDDEN, "resource deleted", NT_ENGINE_ACCESS_NONE);
	names_unbind(p, re);
	nt_rtable_del(&p->rt, re);
	nt_info(MOD, "event=resource_deleted rid=%s", id);
}

static void set_address(const struct nt_pmsg_iface *ifc)
{
	static const uint8_t zero[16];
	int r4 = 0, r6 = 0;

	if (memcmp(ifc->ipv4, zero, 4) != 0)
		r4 = nt_stack_set_address(AF_INET, ifc->ipv4);
	if (memcmp(ifc->ipv6, zero, 16) != 0)
		r6 = nt_stack_set_address(AF_INET6, ifc->ipv6);
	if (r4 || r6)
		nt_warn(MOD, "event=address_refused err4=%d err6=%d", r4, r6);
}

static int on_init(struct engine_portal *p, const char *json, size_t len)
{
	struct nt_pmsg_client_init m = {.cap = NT_RTABLE_MAX};
	struct nt_rentry *re, *next;
	int ret;

	m.resources = calloc(m.cap, sizeof(*m.resources));
	if (!m.resources)
		return -ENOMEM;
	ret = nt_pmsg_client_init_decode(json, len, &m);
	if (ret) {
		free(m.resources);
		return ret;
	}
	set_address(&m.iface);
	/* The list replaces ours; grants of listed resources stay. */
	for (re = p->rt.head; re; re = next) {
		size_t i;

		next = re->next;
		for (i = 0; i < m.n && strcmp(m.resources[i].id, re->res.id) != 0; i++)
			;
		if (i == m.n)
			delete_resource(p, re->res.id);
	}
	for (size_t i = 0; i < m.n; i++)
		apply_resource(p, &m.resources[i]);
	nt_info(MOD, "event=portal_init resources=%zu routed=%zu", m.n, p->rt.n);
	p->inited = true;
	free(m.resources);
	observe_count(p);
	return 0;
}

static int dispatch(struct engine_portal *p, const struct nt_phx_frame *f)
{
	char id[NT_PMSG_ID_MAX + 1];
	int ret;

	if (strcmp(f->event, "init") == 0)
		return on_init(p, f->payload, f->payload_len);
	if (strcmp(f->event, "resource_created_or_updated") == 0) {
		struct nt_pmsg_resource r;

		ret = nt_pmsg_resource_decode(f->payload, f->payload_len, &r);
		if (ret == 0) {
			apply_resource(p, &r);
			observe_count(p);
		}
		return ret;
	}
	if (strcmp(f->event, "resource_deleted") == 0) {
		ret = nt_pmsg_resource_deleted_decode(f->payload, f->payload_len, id);
		if (ret == 0) {
			delete_resource(p, id);
			observe_count(p);
		}
		return ret;
	}
	if (strcmp(f->event, "authorization_created") == 0) {
		struct nt_pmsg_auth_created ac;

		ret = nt_pmsg_auth_created_decode(f->payload, f->payload_len, &ac);
		if (ret == 0)
			on_granted(p, &ac);
		sodium_memzero(&ac, sizeof(ac));
		return ret;
	}
	if (strcmp(f->event, "authorization_creation_failed") == 0) {
		struct nt_pmsg_auth_failed af;

		ret = nt_pmsg_auth_failed_decode(f->payload, f->payload_len, &af);
		if (ret == 0)
			on_refused(p, &af);
		return ret;
	}
	if (strcmp(f->event, "authorization_revoked") == 0) {
		struct nt_rentry *re;

		ret = nt_pmsg_auth_revoked_decode(f->payload, f->payload_len, id);
		if (ret == 0 && (re = nt_rtable_find(&p->rt, id)))
			end_access(p, re, NT_FAIL_FORBIDDEN, "access revoked",
				   NT_ENGINE_ACCESS_NONE);
		return ret;
	}
	return -ENOTSUP;
}

static void on_message(void *arg, const struct nt_phx_frame *f)
{
	struct engine_portal *p = arg;
	int ret = dispatch(p, f);

	if (ret == -ENOTSUP)
		nt_debug(MOD, "event=portal_event_unknown ev=%s", f->event);
	else if (ret < 0) {
		p->invalid++;
		nt_warn(MOD, "event=portal_message_invalid ev=%s err=%s", f->event, strerror(-ret));
	}
}

/* Joined (again): what waited for the portal is asked now. */
static void on_joined(void *arg)
{
	struct engine_portal *p = arg;

	if (p->e->obs.portal)
		p->e->obs.portal(p->e->obs.arg, true, "", 0);
	for (struct nt_rentry *re = p->rt.head; re; re = re->next)
		if (re->access == NT_RACCESS_PENDING || re->renewing)
			request(p, re);
}

static void on_away(void *arg, const char *reason, uint32_t retry_ms)
{
	struct engine_portal *p = arg;

	if (p->e->obs.portal)
		p->e->obs.portal(p->e->obs.arg, false, reason, retry_ms);
}

static const struct nt_chan_link_ops link_ops = {
    .joined = on_joined, .message = on_message, .away = on_away};

/* ---- the clock: re-requests, renewals, expiry ---- */

static bool renew_due(struct engine_portal *p, const struct nt_rentry *re, int64_t now)
{
	int64_t life = re->expires_at - re->granted_at;

	return now >= re->granted_at + life * NT_PORTAL_RENEW_PERCENT / 100 &&
	       resource_flows(p, re, NT_FAIL_NONE) > 0;
}

static void on_tick(struct nt_loop *loop, struct nt_timer *t, void *arg)
{
	struct engine_portal *p = arg;
	uint64_t mono = nt_clock_mono_ns();
	int64_t now = real_now();

	for (struct nt_rentry *re = p->rt.head; re; re = re->next) {
		bool again = mono - re->last_request_ns >= NT_PORTAL_REQUEST_EVERY_MS * 1000000ull;

		if (re->access == NT_RACCESS_PENDING && again) {
			request(p, re);
		} else if (re->access == NT_RACCESS_GRANTED && now >= re->expires_at) {
			end_access(p, re, NT_FAIL_FORBIDDEN, "access expired",
				   NT_ENGINE_ACCESS_NONE);
		} else if (re->access == NT_RACCESS_GRANTED && (!re->renewing || again) &&
			   renew_due(p, re, now)) {
			re->renewing = true;
			request(p, re);
		}
	}
	/* A lost assigned_ips or domain_status (UDP) is asked again. */
	for (struct nt_rname *rn = p->names.head; rn; rn = rn->next)
		if (rn->st == NT_RNAME_ASSIGNING && rn->re &&
		    rn->re->access == NT_RACCESS_GRANTED &&
		    mono - rn->last_sent_ns >= NT_PORTAL_ASSIGN_EVERY_MS * 1000000ull)
			assign(p, rn);
	(void)nt_timer_arm(loop, t, NT_PORTAL_TICK_MS * 1000000ull);
}

/* ---- the engine's calls ---- */

struct nt_rentry *nt_engine_portal_match(struct nt_engine *e, int family, const uint8_t *addr)
{
	return e->portal ? nt_rtable_lookup(&e->portal->rt, family, addr) : NULL;
}

enum nt_fail nt_engine_portal_admit(struct nt_engine *e, const struct nt_rentry *re, uint16_t port,
				    char *detail, size_t cap)
{
	(void)e;
	if (re->disabled) {
		detail_of(detail, cap, re, "disabled on this device");
		nt_info(MOD, "event=port_refused rid=%s port=%u hint=\"disabled: no request\"",
			re->res.id, port);
		return NT_FAIL_NOT_ALLOWED;
	}
	if (nt_pmsg_filters_allow(&re->res, NT_PMSG_TCP, port))
		return NT_FAIL_NONE;
	detail_of(detail, cap, re, "the port is outside the resource's filters");
	nt_info(MOD, "event=port_refused rid=%s port=%u hint=\"outside the filters: no request\"",
		re->res.id, port);
	return NT_FAIL_FORBIDDEN;
}

struct wg_peer *nt_engine_portal_want(struct nt_engine *e, struct nt_rentry *re,
				      struct nt_rname *rn)
{
	struct engine_portal *p = e->portal;

	re->waiting++;
	if (rn)
		rn->waiting++;
	if (re->access == NT_RACCESS_NONE) {
		re->access = NT_RACCESS_PENDING;
		request(p, re);
		observe(p, re, NT_ENGINE_ACCESS_PENDING, NULL);
	}
	if (re->access != NT_RACCESS_GRANTED)
		return NULL;
	if (rn && rn->st == NT_RNAME_IDLE)
		assign(p, rn);
	return ((struct engine_gw *)re->gw)->peer;
}

const char *nt_engine_portal_gid(const struct nt_rentry *re)
{
	const struct engine_gw *gw = re->gw;

	return gw ? gw->id : NULL;
}

void nt_engine_portal_unwant(struct nt_engine *e, struct nt_rentry *re, struct nt_rname *rn)
{
	(void)e;
	if (rn && rn->waiting && --rn->waiting == 0 && rn->st != NT_RNAME_ACTIVE &&
	    name_flows(rn, NT_FAIL_NONE) == 0) {
		rn->st = NT_RNAME_IDLE;
		held_drop(&rn->q, rn->re, rn);
	}
	if (re->waiting && --re->waiting == 0 && re->access == NT_RACCESS_PENDING) {
		/* Nobody waits: the held packets are of flows that gave up. */
		re->access = NT_RACCESS_NONE;
		held_drop(&re->q, re, NULL);
		observe(e->portal, re, NT_ENGINE_ACCESS_NONE, "no connection waits for it");
	}
}

int nt_engine_portal_name(struct nt_engine *e, const char *name, struct nt_rname **out)
{
	struct engine_portal *p = e->portal;
	char norm[NT_PMSG_DOMAIN_MAX + 1];
	struct nt_rentry *re;
	struct nt_rname *rn;
	int ret;

	*out = NULL;
	if (!p || !nt_rnames_normalize(name, norm) || !(re = nt_rtable_match_name(&p->rt, norm)))
		return 0;
	ret = nt_rnames_get(&p->names, norm, &rn);
	if (ret < 0) {
		p->names_refused++;
		nt_warn(MOD, "event=name_refused rid=%s domain=%s err=%s", re->res.id, norm,
			strerror(-ret));
		return ret;
	}
	/* A name in use keeps its resource; an idle one follows the table. */
	if (!rn->re || (rn->st == NT_RNAME_IDLE && !rn->waiting))
		rn->re = re;
	if (ret == 1)
		nt_info(MOD, "event=name_added rid=%s domain=%s", re->res.id, rn->name);
	*out = rn;
	return 0;
}

struct nt_rname *nt_engine_portal_name_at(struct nt_engine *e, int family, const uint8_t *addr)
{
	return e->portal ? nt_rnames_by_addr(&e->portal->names, family, addr) : NULL;
}

int nt_engine_portal_hold(struct nt_engine *e, const uint8_t *pkt, size_t len)
{
	struct nt_ippkt_head h;
	struct nt_pending_q *q = NULL;
	struct nt_rentry *re = NULL;
	struct nt_rname *rn;
	int ret;

	if (!e->portal || nt_ippkt_head(pkt, len, &h) != 0)
		return -EHOSTUNREACH;
	rn = nt_rnames_by_addr(&e->portal->names, h.family, h.dst);
	/* A name's packets wait while its assignment is asked for, or while
	 * its resource's access is and a connection waits for it. */
	if (rn && rn->re &&
	    (rn->st == NT_RNAME_ASSIGNING ||
	     (rn->waiting && rn->re->access == NT_RACCESS_PENDING))) {
		q = &rn->q;
	} else if (!rn) {
		re = nt_rtable_lookup(&e->portal->rt, h.family, h.dst);
		if (re && re->access == NT_RACCESS_PENDING)
			q = &re->q;
	}
	if (!q)
		return -EHOSTUNREACH;
	ret = nt_pending_push(q, pkt, len);
	if (ret < 0) {
		nt_debug(MOD, "event=held_dropped rid=%s domain=%s cause=%s",
			 rn ? rn->re->res.id : re->res.id, rn ? rn->name : "-",
			 ret == -ENOMEM ? "no_memory" : "full");
		return -ENOBUFS;
	}
	nt_debug(MOD, "event=packet_held rid=%s domain=%s held=%zu%s",
		 rn ? rn->re->res.id : re->res.id, rn ? rn->name : "-", q->n,
		 ret == 1 ? " replaced=yes" : "");
	nt_flow_tcp_syn_held(pkt, len);
	return 0;
}

/* The gateway's domain_status, for a name we asked it to map. */
static void on_domain_status(struct engine_portal *p, struct wg_peer *peer,
			     const struct nt_pmsg_domain_status *m)
{
	char norm[NT_PMSG_DOMAIN_MAX + 1], detail[NT_PORTAL_DETAIL_MAX];
	struct nt_rname *rn = nt_rnames_normalize(m->domain, norm)
				  ? nt_rnames_find(&p->names, norm)
				  : NULL;
	struct engine_gw *gw;

	if (!rn || !rn->re || strcmp(rn->re->res.id, m->resource_id) != 0 ||
	    rn->re->access != NT_RACCESS_GRANTED || rn->st != NT_RNAME_ASSIGNING ||
	    ((struct engine_gw *)rn->re->gw)->peer != peer) {
		p->status_unexpected++;
		nt_debug(MOD, "event=domain_status_unexpected rid=%s domain=%s", m->resource_id,
			 m->domain);
		return;
	}
	gw = rn->re->gw;
	if (!m->active) {
		struct nt_rentry *re = rn->re;

		p->names_failed++;
		nt_info(MOD, "event=name_failed rid=%s gid=%s domain=%s reason=%s waiting=%u",
			re->res.id, gw->id, rn->name, m->reason[0] ? m->reason : "-", rn->waiting);
		name_reset(p, rn);
		snprintf(detail, sizeof(detail), "resource %.40s: %.80s does not resolve at the gateway (%.24s)",
			 re->res.id, rn->name, m->reason[0] ? m->reason : "failed");
		nt_engine_fail_waiting(p->e, re, rn, NT_FAIL_NAME, detail);
		observe(p, re, NT_ENGINE_ACCESS_FAILED, detail);
		return;
	}
	struct wg_cidr c4 = host_cidr(AF_INET, rn->v4), c6 = host_cidr(AF_INET6, rn->v6);
	int ret = nt_tunnel_peer_allow(p->e->tunnel, peer, &c4);

	if (ret == 0)
		ret = nt_tunnel_peer_allow(p->e->tunnel, peer, &c6);
	if (ret) {
		nt_warn(MOD, "event=route_failed rid=%s gid=%s domain=%s err=%s", rn->re->res.id,
			gw->id, rn->name, strerror(-ret));
		(void)nt_tunnel_disallow(p->e->tunnel, &c4);
		return; /* asked again in NT_PORTAL_ASSIGN_EVERY_MS */
	}
	p->names_active++;
	rn->st = NT_RNAME_ACTIVE;
	nt_info(MOD, "event=name_active rid=%s gid=%s domain=%s held=%zu", rn->re->res.id, gw->id,
		rn->name, rn->q.n);
	held_flush(p->e, &rn->q, rn->re, rn, peer);
}

void nt_engine_portal_control(struct nt_engine *e, struct wg_peer *peer, const uint8_t *pkt,
			      size_t len)
{
	struct engine_portal *p = e->portal;
	struct nt_pmsg_domain_status m;
	const char *body;
	size_t body_len;
	uint8_t type;

	if (!p)
		return;
	if (nt_pmsg_dns_ctl_parse(pkt, len, &type, &body, &body_len) != 0 ||
	    type != NT_PMSG_DNS_DOMAIN_STATUS ||
	    nt_pmsg_domain_status_decode(body, body_len, &m) != 0) {
		p->status_unexpected++;
		nt_debug(MOD, "event=control_dropped peer=%s len=%zu", nt_tunnel_peer_id(peer), len);
		return;
	}
	on_domain_status(p, peer, &m);
}

void nt_engine_portal_reset(struct nt_engine *e)
{
	struct engine_portal *p = e->portal;

	if (!p)
		return;
	for (struct engine_gw *gw = p->gws; gw; gw = gw->next)
		(void)nt_tunnel_initiate(e->tunnel, gw->peer);
	(void)nt_chan_link_reconnect(p->link);
}

int nt_engine_portal_disable(struct nt_engine *e, const char *rid, bool disabled)
{
	struct nt_rentry *re = e->portal ? nt_rtable_find(&e->portal->rt, rid) : NULL;

	if (!re)
		return -ENOENT;
	if (disabled && !re->disabled)
		end_access(e->portal, re, NT_FAIL_NOT_ALLOWED, "disabled on this device",
			   NT_ENGINE_ACCESS_NONE);
	re->disabled = disabled;
	nt_info(MOD, "event=resource_%s rid=%s", disabled ? "disabled" : "enabled", rid);
	return 0;
}

int nt_engine_portal_fatal(const struct nt_engine *e)
{
	return e->portal ? nt_chan_link_fatal(e->portal->link) : -1;
}

int nt_engine_portal_start(struct nt_engine *e, const struct nt_config *cfg)
{
	struct nt_chan_link_config lc = {
	    .portal = &cfg->portal, .topic = "client", .public_key = cfg->public_key, .mod = MOD};
	struct engine_portal *p = calloc(1, sizeof(*p));
	int ret;

	if (!p)
		return -ENOMEM;
	p->e = e;
	nt_rtable_init(&p->rt, NT_RTABLE_MAX, &p->pc);
	if (nt_rnames_init(&p->names, NT_RNAMES_MAX, &p->pc) != 0) {
		nt_rtable_fini(&p->rt);
		free(p);
		return -ENOMEM;
	}
	nt_timer_init(&p->tick, on_tick, p);
	e->portal = p;
	ret = nt_chan_link_start(e->loop, &lc, &link_ops, p, &p->link);
	if (ret == 0)
		ret = nt_timer_arm(e->loop, &p->tick, NT_PORTAL_TICK_MS * 1000000ull);
	if (ret)
		return ret; /* nt_engine_portal_free undoes */
	nt_info(MOD, "event=portal_starting url=%s", cfg->portal.url);
	return 0;
}

void nt_engine_portal_free(struct nt_engine *e)
{
	struct engine_portal *p = e->portal;

	if (!p)
		return;
	nt_timer_cancel(e->loop, &p->tick);
	nt_chan_link_stop(p->link);
	nt_rtable_fini(&p->rt);
	nt_rnames_fini(&p->names);
	while (p->gws) {
		struct engine_gw *gw = p->gws;

		p->gws = gw->next;
		free(gw); /* the tunnel frees its peer */
	}
	nt_info(MOD,
		"event=portal_stats requests=%" PRIu64 " unrequested=%" PRIu64 " invalid=%" PRIu64
		" held=%" PRIu64 " replaced=%" PRIu64 " dropped_full=%" PRIu64
		" dropped_ended=%" PRIu64 " flushed=%" PRIu64 " names=%zu names_refused=%" PRIu64
		" assigns=%" PRIu64 " names_active=%" PRIu64 " names_failed=%" PRIu64
		" status_unexpected=%" PRIu64,
		p->requests, p->unrequested, p->invalid, p->pc.held, p->pc.replaced,
		p->pc.dropped_full, p->pc.dropped_ended, p->pc.flushed, p->names.n,
		p->names_refused, p->assigns, p->names_active, p->names_failed,
		p->status_unexpected);
	free(p);
	e->portal = NULL;
}

static const char *const access_names[] = {
    [NT_RACCESS_NONE] = "none", [NT_RACCESS_PENDING] = "pending", [NT_RACCESS_GRANTED] = "granted"};

bool nt_engine_portal_view(const struct nt_engine *e, const struct nt_engine_view_ops *ops,
			   void *arg, struct nt_engine_portal_info *portal)
{
	const struct engine_portal *p = e->portal;

	if (!p)
		return false;
	*portal = (struct nt_engine_portal_info){
	    .joined = p->inited && nt_chan_link_up(p->link),
	    .resources = p->rt.n,
	    .names = p->names.n,
	    .requests = p->requests,
	    .unrequested = p->unrequested,
	    .invalid = p->invalid,
	    .names_refused = p->names_refused,
	    .assigns = p->assigns,
	    .names_active = p->names_active,
	    .names_failed = p->names_failed,
	    .status_unexpected = p->status_unexpected,
	    .pending = p->pc,
	};
	for (const struct engine_gw *gw = p->gws; gw; gw = gw->next) {
		portal->gateways++;
		ops->peer(arg, gw->peer, gw->id);
	}
	for (const struct nt_rentry *re = p->rt.head; re; re = re->next) {
		const struct engine_gw *gw = re->access == NT_RACCESS_GRANTED ? re->gw : NULL;
		struct nt_engine_resource_info r = {
		    .id = re->res.id,
		    .name = re->res.name,
		    .type = is_dns(re) ? "dns" : "cidr",
		    .address = re->res.address,
		    .access = access_names[re->access],
		    .granted_at = gw ? re->granted_at : 0,
		    .expires_at = gw ? re->expires_at : 0,
		    .gateway_id = gw ? gw->id : "",
		    .pending_packets = re->q.n,
		    .pending_bytes = re->q.bytes,
		    .waiting = re->waiting,
		    .renewing = re->renewing,
		};

		ops->resource(arg, &r);
	}
	return true;
}
