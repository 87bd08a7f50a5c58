// SPDX-License-Identifier: MIT
/* dns resources at the gateway, the I/O half (gw_dns.h holds the table):
 * a portal client's assigned_ips control packet, checked against its
 * grants, the name resolved off the loop's thread by core/resolver's system
 * backend (getaddrinfo on its workers), and the domain_status answer.
 *
 *   assigned_ips --no live grant matching--> failed forbidden (no lookup)
 *                --*.invalid--> failed not_found; --*.localhost--> loopback
 *                --mapped within NT_GATEWAY_DNS_FRESH_S--> active again
 *                --the same name resolving--> nothing (its answer comes)
 *                --max_dns_lookups resolving--> failed busy
 *                --else--> lookup; result or NT_GATEWAY_DNS_LOOKUP_TIMEOUT_MS
 *                          --> the grant checked again, mapped, answered
 *
 * Everything runs on the loop's thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/gateway/gw_int.h"
#include "core/resolver/resolver.h"
#include "core/tunnel/tunnel.h"
#include "platform/log.h"

#define MOD "gateway"

struct gw_lookup {
	struct gw_lookup *next;
	struct nt_gateway *gw;
	char cid[NT_PMSG_ID_MAX + 1];
	struct nt_pmsg_assigned_ips m;
	struct nt_resolver_req *req;
	struct nt_timer timer;
};

static void reply(struct nt_gateway *gw, struct gw_peer *gp, const struct nt_pmsg_assigned_ips *m,
		  const char *reason)
{
	struct nt_pmsg_domain_status st = {.active = reason == NULL};
	char body[NT_PMSG_DNS_CTL_BODY_MAX + 1];
	uint8_t pkt[NT_PMSG_DNS_CTL_MAX];
	int n;

	strcpy(st.resource_id, m->resource_id);
	strcpy(st.domain, m->domain);
	if (reason)
		strcpy(st.reason, reason);
	if (reason)
		gw->c.dns_failed++;
	else
		gw->c.dns_active++;
	if (nt_gw_log_ok(gw, gp))
		nt_info(MOD, "event=dns_status cid=%s rid=%s domain=%s status=%s%s%s", gp->cid,
			m->resource_id, m->domain, reason ? "failed" : "active",
			reason ? " reason=" : "", reason ? reason : "");
	n = nt_pmsg_domain_status_encode(body, sizeof(body), &st);
	if (n >= 0)
		n = nt_pmsg_dns_ctl_build(pkt, sizeof(pkt), NT_PMSG_DNS_DOMAIN_STATUS, body,
					  (size_t)n);
	if (n < 0) {
		nt_warn(MOD, "event=dns_status_unsent cid=%s rid=%s err=\"%s\"", gp->cid,
			m->resource_id, strerror(-n));
		return;
	}
	nt_gw_send(gw, gp, pkt, (size_t)n);
}

static const char *reason_of(int status)
{
	switch (status) {
	case -ENOENT:
		return "not_found";
	case -ETIMEDOUT:
		return "timeout";
	case -ENOSPC:
		return "limit";
	default:
		return "error";
	}
}

/* A lookup's outcome (addrs[0..n) when status is 0): mapped and answered. */
static void finish(struct nt_gateway *gw, struct gw_peer *gp, const struct nt_pmsg_assigned_ips *m,
		   int status, const struct nt_resolver_addr *addrs, size_t n)
{
	const char *reason = NULL;

	if (status == 0 && n == 0)
		reason = "no_address";
	else if (status == 0) {
		status = nt_gw_dns_map(&gw->dns, gp->cid, m, addrs, n, gw->clock());
		gw->c.dns_limit_names = gw->dns.c.limit_client + gw->dns.c.limit_total;
		gw->c.dns_mappings = gw->dns.n;
	}
	if (!reason && status != 0)
		reason = reason_of(status);
	reply(gw, gp, m, reason);
}

static void lookup_unlink(struct gw_lookup *l)
{
	struct gw_lookup **pp = &l->gw->lookups;

	while (*pp != l)
		pp = &(*pp)->next;
	*pp = l->next;
	l->gw->n_lookups--;
	nt_timer_cancel(l->gw->loop, &l->timer);
}

/* The grant may have ended while the name resolved: checked again. */
static void lookup_done(struct gw_lookup *l, int status, const struct nt_resolver_addr *addrs,
			size_t n)
{
	struct nt_gateway *gw = l->gw;
	struct gw_peer *gp = nt_gw_portal_peer(gw, l->cid);

	lookup_unlink(l);
	if (gp && nt_gw_dns_check(&gw->grants, gp->cid, &l->m, gw->clock()) != 0) {
		gw->c.dns_refused++;
		reply(gw, gp, &l->m, "forbidden");
	} else if (gp)
		finish(gw, gp, &l->m, status, addrs, n);
	free(l);
}

static void resolved(void *arg, int status, const struct nt_resolver_addr *addrs, size_t n)
{
	struct gw_lookup *l = arg;

	l->req = NULL;
	lookup_done(l, status, addrs, n);
}

static void on_timeout(struct nt_loop *loop, struct nt_timer *t, void *arg)
{
	struct gw_lookup *l = arg;

	(void)loop;
	(void)t;
	nt_resolver_cancel(l->req);
	l->req = NULL;
	lookup_done(l, -ETIMEDOUT, NULL, 0);
}

static bool resolving(const struct nt_gateway *gw, const char *cid,
		      const struct nt_pmsg_assigned_ips *m)
{
	for (const struct gw_lookup *l = gw->lookups; l; l = l->next)
		if (strcmp(l->cid, cid) == 0 && strcmp(l->m.resource_id, m->resource_id) == 0 &&
		    strcasecmp(l->m.domain, m->domain) == 0)
			return true;
	return false;
}

static int lookup_start(struct nt_gateway *gw, struct gw_peer *gp,
			const struct nt_pmsg_assigned_ips *m)
{
	struct gw_lookup *l;
	int ret;

	if (!gw->resolver) {
		struct nt_resolver_config rc = {.max_inflight = gw->limits.max_dns_lookups};

		ret = nt_resolver_new(gw->loop, &rc, &gw->resolver);
		if (ret != 0)
			return ret;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->gw = gw;
	strcpy(l->cid, gp->cid);
	l->m = *m;
	nt_timer_init(&l->timer, on_timeout, l);
	ret =
	    nt_resolver_lookup(gw->resolver, m->domain, NT_RESOLVER_V4_FIRST, resolved, l, &l->req);
	if (ret == 0)
		ret = nt_timer_arm(gw->loop, &l->timer,
				   (uint64_t)NT_GATEWAY_DNS_LOOKUP_TIMEOUT_MS * 1000000u);
	if (ret != 0) {
		if (l->req)
			nt_resolver_cancel(l->req);
		free(l);
		return ret;
	}
	l->next = gw->lookups;
	gw->lookups = l;
	gw->n_lookups++;
	gw->c.dns_lookups++;
	nt_info(MOD, "event=dns_lookup cid=%s rid=%s domain=%s", gp->cid, m->resource_id,
		m->domain);
	return 0;
}

static void request(struct nt_gateway *gw, struct gw_peer *gp, const struct nt_pmsg_assigned_ips *m)
{
	struct nt_resolver_addr lo[2];
	int64_t now = gw->clock();
	int ret = nt_gw_dns_check(&gw->grants, gp->cid, m, now);

	if (ret != 0) {
		gw->c.dns_refused++;
		if (nt_gw_log_ok(gw, gp))
			nt_warn(MOD, "event=dns_refused cid=%s rid=%s domain=%s why=%s", gp->cid,
				m->resource_id, m->domain,
				ret == -EPERM ? "no_grant" : "proxy_ips");
		reply(gw, gp, m, "forbidden");
		return;
	}
	switch (nt_gw_dns_special_of(m->domain)) {
	case NT_GW_DNS_INVALID:
		finish(gw, gp, m, -ENOENT, NULL, 0);
		return;
	case NT_GW_DNS_LOCALHOST:
		finish(gw, gp, m, 0, lo, nt_gw_dns_localhost(lo));
		return;
	case NT_GW_DNS_ORDINARY:
		break;
	}
	if (nt_gw_dns_fresh(&gw->dns, gp->cid, m, now, NT_GATEWAY_DNS_FRESH_S)) {
		reply(gw, gp, m, NULL);
		return;
	}
	if (resolving(gw, gp->cid, m))
		return;
	if (gw->n_lookups >= gw->limits.max_dns_lookups) {
		gw->c.dns_busy++;
		reply(gw, gp, m, "busy");
		return;
	}
	ret = lookup_start(gw, gp, m);
	if (ret != 0) {
		if (ret == -EAGAIN)
			gw->c.dns_busy++;
		reply(gw, gp, m, ret == -EAGAIN ? "busy" : "error");
	}
}

void nt_gw_dnsctl_packet(void *arg, struct wg_peer *peer, const uint8_t *pkt, size_t len)
{
	struct nt_gateway *gw = arg;
	struct gw_peer *gp = nt_tunnel_peer_user(peer);
	struct nt_pmsg_assigned_ips m;
	const char *body;
	size_t body_len;
	uint8_t type;

	/* Only portal clients have dns resources. */
	if (!gp || !gp->cid[0]) {
		gw->c.dns_ctl_dropped++;
		return;
	}
	if (nt_pmsg_dns_ctl_parse(pkt, len, &type, &body, &body_len) != 0 ||
	    (type == NT_PMSG_DNS_ASSIGNED_IPS &&
	     nt_pmsg_assigned_ips_decode(body, body_len, &m) != 0)) {
		gw->c.dns_ctl_malformed++;
		nt_debug(MOD, "event=dns_ctl_malformed cid=%s len=%zu", gp->cid, len);
		return;
	}
	if (type != NT_PMSG_DNS_ASSIGNED_IPS) {
		gw->c.dns_ctl_dropped++;
		return;
	}
	gw->c.dns_requests++;
	request(gw, gp, &m);
}

void nt_gw_dnsctl_forget(struct nt_gateway *gw, const char *cid, const char *rid)
{
	struct gw_lookup *l = gw->lookups, *next;

	nt_gw_dns_remove(&gw->dns, cid, rid);
	gw->c.dns_mappings = gw->dns.n;
	if (rid)
		return; /* its lookups are checked again when they end */
	for (; l; l = next) {
		next = l->next;
		if (strcmp(l->cid, cid) != 0)
			continue;
		nt_resolver_cancel(l->req);
		lookup_unlink(l);
		free(l);
	}
}

void nt_gw_dnsctl_prune(struct nt_gateway *gw)
{
	nt_gw_dns_retain(&gw->dns, &gw->grants, gw->clock());
	gw->c.dns_mappings = gw->dns.n;
}

void nt_gw_dnsctl_fini(struct nt_gateway *gw)
{
	while (gw->lookups) {
		struct gw_lookup *l = gw->lookups;

		lookup_unlink(l);
		free(l);
	}
	/* Cancels what the workers still hold. */
	nt_resolver_free(gw->resolver);
	gw->resolver = NULL;
	nt_gw_dns_fini(&gw->dns);
}
