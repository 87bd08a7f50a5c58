/* SPDX-License-Identifier: MIT */
/* The portal's event entry points: connections, joins, heartbeats, replies,
 * the init messages, the timer and the state the file keeps. */
#include "core/portal/portal_int.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/phx/json_w.h"
#include "platform/log.h"

static const char *topic_of(enum nt_portal_role role)
{
	return role == NT_PORTAL_CLIENT ? "client" : "gateway";
}

static const char *id_key(enum nt_portal_role role)
{
	return role == NT_PORTAL_CLIENT ? "cid" : "gid";
}

static void send_frame(struct nt_portal *p, uint64_t conn, const char *topic, const char *event,
		       int pay_len, int64_t ref)
{
	int n = pay_len < 0 ? -ENOSPC
			    : nt_phx_encode(p->frame, NT_PHX_FRAME_MAX, topic, event, p->pay,
					    (size_t)pay_len, ref);

	if (n < 0) {
		p->stats.send_too_big++;
		nt_error(PT_MOD, "event=send_too_big conn=%llu topic=%s msg=%s",
			 (unsigned long long)conn, topic, event);
		return;
	}
	p->ops.send(p->ops.ctx, conn, p->frame, (size_t)n);
	/* Payloads may carry pre-shared keys. */
	sodium_memzero(p->frame, (size_t)n);
	if (pay_len > 0)
		sodium_memzero(p->pay, (size_t)pay_len);
}

bool pt_push(struct nt_portal *p, const struct pt_conn *c, const char *event, int len)
{
	send_frame(p, c->info.conn, topic_of(c->info.role), event, len, -1);
	return len >= 0;
}

void pt_reply(struct nt_portal *p, uint64_t conn, const struct nt_phx_frame *f, const char *reason)
{
	int n = nt_phx_reply_build(p->pay, NT_PHX_FRAME_MAX, "{}", 2, reason);

	send_frame(p, conn, f->topic, NT_PHX_EV_REPLY, n, f->has_ref ? f->ref : -1);
}

static struct pt_conn *conn_by_id(struct nt_portal *p, uint64_t conn)
{
	for (size_t i = 0; i < p->n_conns; i++)
		if (p->conns[i].info.conn == conn)
			return &p->conns[i];
	return NULL;
}

struct pt_conn *pt_conn_of(struct nt_portal *p, enum nt_portal_role role, const char *name)
{
	for (size_t i = 0; i < p->n_conns; i++)
		if (p->conns[i].joined && p->conns[i].info.role == role &&
		    !strcmp(p->conns[i].info.name, name))
			return &p->conns[i];
	return NULL;
}

void pt_push_failed(struct nt_portal *p, const char *client, const char *resource,
		    enum nt_pmsg_fail_reason reason)
{
	struct pt_conn *c = pt_conn_of(p, NT_PORTAL_CLIENT, client);
	struct nt_pmsg_auth_failed m = {.reason = reason};

	nt_info(PT_MOD, "event=authorization_failed cid=%s rid=%s reason=%s", client, resource,
		nt_pmsg_fail_reason_name(reason));
	if (!c)
		return;
	snprintf(m.resource_id, sizeof(m.resource_id), "%s", resource);
	pt_push(p, c, "authorization_creation_failed",
		nt_pmsg_auth_failed_encode(p->pay, NT_PHX_FRAME_MAX, &m));
}

void pt_push_revoked(struct nt_portal *p, const char *client, const char *resource)
{
	struct pt_conn *c = pt_conn_of(p, NT_PORTAL_CLIENT, client);

	if (c)
		pt_push(p, c, "authorization_revoked",
			nt_pmsg_auth_revoked_encode(p->pay, NT_PHX_FRAME_MAX, resource));
}

void pt_push_reject(struct nt_portal *p, const char *gateway, const char *client,
		    const char *resource)
{
	struct pt_conn *g = pt_conn_of(p, NT_PORTAL_GATEWAY, gateway);
	struct nt_pmsg_reject_access m;

	if (!g)
		return;
	snprintf(m.client_id, sizeof(m.client_id), "%s", client);
	snprintf(m.resource_id, sizeof(m.resource_id), "%s", resource);
	pt_push(p, g, "reject_access", nt_pmsg_reject_access_encode(p->pay, NT_PHX_FRAME_MAX, &m));
}

static void client_init(struct nt_portal *p, struct pt_conn *c)
{
	const struct nt_portal_client *cl = pt_client(&p->model, c->info.name);
	struct nt_pmsg_client_init m = {0};
	int n;

	m.resources = calloc(p->model.n_resources ? p->model.n_resources : 1, sizeof(*m.resources));
	if (!m.resources) {
		nt_error(PT_MOD, "event=init_failed cid=%s err=ENOMEM", c->info.name);
		return;
	}
	pt_iface(p, NT_PORTAL_CLIENT, c->info.name, &m.iface);
	for (size_t i = 0; cl && i < p->model.n_resources; i++)
		if (pt_allowed(cl, &p->model.resources[i]))
			m.resources[m.n++] = p->model.resources[i].res;
	m.cap = m.n;
	n = nt_pmsg_client_init_encode(p->pay, NT_PHX_FRAME_MAX, &m);
	nt_info(PT_MOD, "event=client_init cid=%s resources=%zu", c->info.name, m.n);
	pt_push(p, c, "init", n);
	free(m.resources);
}

static void gateway_init(struct nt_portal *p, struct pt_conn *c)
{
	struct nt_pmsg_gateway_init m = {0};
	size_t cap = 0;
	int n;

	for (size_t i = 0; i < p->n_grants; i++)
		cap += !strcmp(p->grants[i].gateway, c->info.name);
	m.authorizations = calloc(cap ? cap : 1, sizeof(*m.authorizations));
	if (!m.authorizations) {
		nt_error(PT_MOD, "event=init_failed gid=%s err=ENOMEM", c->info.name);
		return;
	}
	pt_iface(p, NT_PORTAL_GATEWAY, c->info.name, &m.iface);
	for (size_t i = 0; i < p->n_grants; i++)
		if (!strcmp(p->grants[i].gateway, c->info.name))
			pt_grant_msg(p, &p->grants[i], &m.authorizations[m.n++]);
	m.cap = m.n;
	n = nt_pmsg_gateway_init_encode(p->pay, NT_PHX_FRAME_MAX, &m);
	nt_info(PT_MOD, "event=gateway_init gid=%s authorizations=%zu", c->info.name, m.n);
	pt_push(p, c, "init", n);
	sodium_memzero(m.authorizations, cap * sizeof(*m.authorizations));
	free(m.authorizations);
}

static void on_join(struct nt_portal *p, struct pt_conn *c, const struct nt_phx_frame *f)
{
	const char *reason = NULL;

	if (strcmp(f->topic, topic_of(c->info.role)))
		reason = "unknown_topic";
	else if (c->joined)
		reason = "already_joined";
	pt_reply(p, c->info.conn, f, reason);
	if (reason) {
		nt_info(PT_MOD, "event=join_refused %s=%s topic=%s reason=%s", id_key(c->info.role),
			c->info.name, f->topic, reason);
		return;
	}
	c->joined = true;
	nt_info(PT_MOD, "event=joined %s=%s", id_key(c->info.role), c->info.name);
	if (c->info.role == NT_PORTAL_CLIENT)
		client_init(p, c);
	else
		gateway_init(p, c);
}

static void dispatch(struct nt_portal *p, struct pt_conn *c, const struct nt_phx_frame *f,
		     struct nt_portal_now now)
{
	bool client = c->info.role == NT_PORTAL_CLIENT;

	if (!strcmp(f->topic, NT_PHX_TOPIC_PHOENIX) && !strcmp(f->event, NT_PHX_EV_HEARTBEAT))
		pt_reply(p, c->info.conn, f, NULL);
	else if (!strcmp(f->event, NT_PHX_EV_JOIN))
		on_join(p, c, f);
	else if (strcmp(f->topic, topic_of(c->info.role)))
		pt_reply(p, c->info.conn, f, "unknown_topic");
	else if (!c->joined)
		pt_reply(p, c->info.conn, f, "not_joined");
	else if (client && !strcmp(f->event, "request_authorization"))
		pt_request(p, c, f, now);
	else if (!client && !strcmp(f->event, "authorization_created"))
		pt_ack(p, c, f);
	else {
		nt_debug(PT_MOD, "event=unknown_message %s=%s msg=%s", id_key(c->info.role),
			 c->info.name, f->event);
		pt_reply(p, c->info.conn, f, "unknown_message");
	}
}

/* The next deadline: an ack timeout or a grant's expiry. */
static void arm(struct nt_portal *p, struct nt_portal_now now)
{
	int64_t at = -1;

	for (size_t i = 0; i < p->n_pending; i++)
		if (at < 0 || p->pending[i].deadline_ms < at)
			at = p->pending[i].deadline_ms;
	for (size_t i = 0; i < p->n_grants; i++) {
		int64_t g = now.mono_ms + (p->grants[i].expires_at - now.unix_s) * 1000;

		if (at < 0 || g < at)
			at = g;
	}
	if (at == p->timer_at)
		return;
	p->timer_at = at;
	p->ops.timer(p->ops.ctx, at < 0 ? -1 : at > now.mono_ms ? at - now.mono_ms : 0);
}

void pt_conn_gone(struct nt_portal *p, uint64_t conn)
{
	struct pt_conn *c = conn_by_id(p, conn);
	struct nt_portal_conn_info info;

	if (!c)
		return;
	info = c->info;
	*c = p->conns[--p->n_conns];
	nt_info(PT_MOD, "event=closed %s=%s", id_key(info.role), info.name);
	if (info.role == NT_PORTAL_GATEWAY)
		pt_fail_gateway_pending(p, info.name);
}

void nt_portal_on_open(struct nt_portal *p, const struct nt_portal_conn_info *info,
		       struct nt_portal_now now)
{
	const struct nt_portal_client *cl = pt_client(&p->model, info->name);
	const struct nt_portal_gateway *gw = pt_gateway(&p->model, info->name);
	const uint8_t *hash = info->role == NT_PORTAL_CLIENT ? (cl ? cl->token_hash : NULL)
							     : (gw ? gw->token_hash : NULL);
	/* The transport checked the token against the configuration it had;
	 * a reload may have changed it since. */
	bool known = hash && !sodium_memcmp(hash, info->token_hash, NT_PORTAL_TOKEN_HASH_LEN);

	for (size_t i = 0; i < p->n_conns; i++)
		if (p->conns[i].info.role == info->role &&
		    !strcmp(p->conns[i].info.name, info->name)) {
			uint64_t old = p->conns[i].info.conn;

			nt_info(PT_MOD, "event=replaced %s=%s", id_key(info->role), info->name);
			pt_conn_gone(p, old);
			p->ops.close(p->ops.ctx, old, 1000);
			break;
		}
	if (!known || conn_by_id(p, info->conn) ||
	    pt_reserve((void **)&p->conns, &p->cap_conns, p->n_conns + 1, sizeof(*p->conns))) {
		nt_warn(PT_MOD, "event=open_refused %s=%s", id_key(info->role), info->name);
		p->ops.close(p->ops.ctx, info->conn, 1008);
		goto out;
	}
	p->conns[p->n_conns++] = (struct pt_conn){.info = *info};
	nt_info(PT_MOD, "event=opened %s=%s", id_key(info->role), info->name);
out:
	arm(p, now);
}

void nt_portal_on_frame(struct nt_portal *p, uint64_t conn, const struct nt_phx_frame *f,
			struct nt_portal_now now)
{
	struct pt_conn *c = conn_by_id(p, conn);

	if (c)
		dispatch(p, c, f, now);
	arm(p, now);
}

void nt_portal_on_close(struct nt_portal *p, uint64_t conn, struct nt_portal_now now)
{
	pt_conn_gone(p, conn);
	arm(p, now);
}

void nt_portal_on_timer(struct nt_portal *p, struct nt_portal_now now)
{
	p->timer_at = -1;
	pt_expire(p, now);
	arm(p, now);
}

int nt_portal_reload(struct nt_portal *p, const struct nt_portal_model *m, struct nt_portal_now now,
		     char *err, size_t errlen)
{
	struct pt_model old = p->model, neu;
	struct nt_portal_addr_rec *addrs;
	size_t n_addrs = p->n_addrs;
	int rc = nt_portal_model_check(m, err, errlen);

	if (rc)
		return rc;
	addrs = malloc((n_addrs ? n_addrs : 1) * sizeof(*addrs));
	if (!addrs || pt_model_copy(&neu, m)) {
		free(addrs);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(addrs, p->addrs, n_addrs * sizeof(*addrs));
	p->model = neu;
	if ((rc = pt_addrs_sync(p))) {
		/* Back to the running configuration, addresses included:
		 * nothing was pushed yet. */
		p->model = old;
		pt_model_free(&neu);
		memcpy(p->addrs, addrs, n_addrs * sizeof(*addrs));
		p->n_addrs = n_addrs;
		free(addrs);
		snprintf(err, errlen, "ClientAddresses has no room for every client and gateway");
		return rc;
	}
	free(addrs);
	nt_info(PT_MOD, "event=reload clients=%zu gateways=%zu resources=%zu", m->n_clients,
		m->n_gateways, m->n_resources);
	pt_reload_diff(p, &old);
	pt_model_free(&old);
	arm(p, now);
	return 0;
}

static int restore(struct nt_portal *p, const struct nt_portal_state *st, int64_t now_unix)
{
	for (size_t i = 0; i < st->n_addrs; i++) {
		if (pt_reserve((void **)&p->addrs, &p->cap_addrs, p->n_addrs + 1,
			       sizeof(*p->addrs)))
			return -ENOMEM;
		p->addrs[p->n_addrs++] = st->addrs[i];
	}
	for (size_t i = 0; i < st->n_psks; i++) {
		const struct nt_portal_psk_rec *k = &st->psks[i];

		if (!pt_client(&p->model, k->client) || !pt_gateway(&p->model, k->gateway))
			continue;
		if (pt_reserve((void **)&p->psks, &p->cap_psks, p->n_psks + 1, sizeof(*p->psks)))
			return -ENOMEM;
		p->psks[p->n_psks++] = *k;
	}
	for (size_t i = 0; i < st->n_grants && p->n_grants < NT_PORTAL_GRANTS_MAX; i++) {
		const struct nt_portal_grant_rec *g = &st->grants[i];

		if (g->expires_at <= now_unix ||
		    !pt_grant_valid(&p->model, g->client, g->gateway, g->resource))
			continue;
		if (pt_reserve((void **)&p->grants, &p->cap_grants, p->n_grants + 1,
			       sizeof(*p->grants)))
			return -ENOMEM;
		p->grants[p->n_grants++] = *g;
	}
	return 0;
}

int nt_portal_create(struct nt_portal **out, const struct nt_portal_model *m,
		     const struct nt_portal_state *st, const struct nt_portal_ops *ops,
		     struct nt_portal_now now, char *err, size_t errlen)
{
	struct nt_portal *p;
	int rc = nt_portal_model_check(m, err, errlen);

	if (rc)
		return rc;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto nomem;
	p->ops = *ops;
	p->timer_at = -1;
	p->started_ms = now.mono_ms;
	p->pay = malloc(NT_PHX_FRAME_MAX);
	p->frame = malloc(NT_PHX_FRAME_MAX);
	p->res_a = malloc(PT_RES_JSON_MAX);
	p->res_b = malloc(PT_RES_JSON_MAX);
	if (!p->pay || !p->frame || !p->res_a || !p->res_b || pt_model_copy(&p->model, m) ||
	    (st && restore(p, st, now.unix_s)))
		goto nomem;
	if ((rc = pt_addrs_sync(p))) {
		snprintf(err, errlen, "ClientAddresses has no room for every client and gateway");
		goto fail;
	}
	/* Whatever restore dropped must leave the file too. */
	p->dirty = !st || p->n_grants != st->n_grants || p->n_psks != st->n_psks || p->dirty;
	*out = p;
	arm(p, now);
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	rc = -ENOMEM;
fail:
	nt_portal_destroy(p);
	return rc;
}

void nt_portal_destroy(struct nt_portal *p)
{
	if (!p)
		return;
	pt_model_free(&p->model);
	free(p->conns);
	free(p->addrs);
	if (p->psks)
		sodium_memzero(p->psks, p->cap_psks * sizeof(*p->psks));
	free(p->psks);
	free(p->grants);
	free(p->pending);
	free(p->pay);
	free(p->frame);
	free(p->res_a);
	free(p->res_b);
	free(p);
}

bool nt_portal_take_dirty(struct nt_portal *p)
{
	bool d = p->dirty;

	p->dirty = false;
	return d;
}

static void *dup_n(const void *src, size_t n, size_t size)
{
	void *a = malloc(n ? n * size : 1);

	if (a && n)
		memcpy(a, src, n * size);
	return a;
}

int nt_portal_export(const struct nt_portal *p, struct nt_portal_state *out)
{
	memset(out, 0, sizeof(*out));
	out->addrs = dup_n(p->addrs, p->n_addrs, sizeof(*p->addrs));
	out->psks = dup_n(p->psks, p->n_psks, sizeof(*p->psks));
	out->grants = dup_n(p->grants, p->n_grants, sizeof(*p->grants));
	out->n_addrs = p->n_addrs;
	out->n_psks = p->n_psks;
	out->n_grants = p->n_grants;
	if (!out->addrs || !out->psks || !out->grants) {
		nt_portal_state_free(out);
		return -ENOMEM;
	}
	return 0;
}

const struct nt_portal_stats *nt_portal_stats(const struct nt_portal *p)
{
	return &p->stats;
}
