// SPDX-License-Identifier: MIT
/* `notun status --json` (status.md has every field). */
#include "core/ctl/fields.h"
#include "core/ctl/render.h"
#include "core/phx/json_w.h"

#define SETS_MAX 8

static void kstr_or_null(struct nt_json_w *w, const char *key, const char *s)
{
	nt_json_w_key(w, key);
	if (s[0])
		nt_json_w_str(w, s);
	else
		nt_json_w_null(w);
}

static void kint_or_null(struct nt_json_w *w, const char *key, int64_t v)
{
	nt_json_w_key(w, key);
	if (v)
		nt_json_w_int(w, v);
	else
		nt_json_w_null(w);
}

static void kbool(struct nt_json_w *w, const char *key, bool v)
{
	nt_json_w_key(w, key);
	nt_json_w_bool(w, v);
}

static void kuint(struct nt_json_w *w, const char *key, uint64_t v)
{
	/* Counters stay far below 2^63. */
	nt_json_w_kint(w, key, (int64_t)v);
}

static void peer(struct nt_json_w *w, const struct nt_ctl_snap *s, const struct nt_ctl_peer *p)
{
	nt_json_w_obj_open(w);
	nt_json_w_kstr(w, "public_key", p->public_key);
	kstr_or_null(w, "name", p->name);
	kstr_or_null(w, "endpoint", p->endpoint);
	kbool(w, "session", p->has_session);
	kint_or_null(w, "latest_handshake", p->last_handshake);
	nt_json_w_key(w, "latest_handshake_age_seconds");
	if (p->last_handshake)
		nt_json_w_int(w, s->now - p->last_handshake);
	else
		nt_json_w_null(w);
	kuint(w, "rx_bytes", p->info.c.rx_bytes);
	kuint(w, "tx_bytes", p->info.c.tx_bytes);
	kuint(w, "rx_packets", p->info.c.rx_packets);
	kuint(w, "tx_packets", p->info.c.tx_packets);
	kuint(w, "handshakes_completed", p->info.c.handshakes_completed);
	kuint(w, "handshake_failures", p->info.c.handshake_failures);
	kuint(w, "drop_no_session", p->info.c.drop_no_session);
	kuint(w, "drop_replay", p->info.c.drop_replay);
	kuint(w, "drop_decrypt", p->info.c.drop_decrypt);
	kuint(w, "drop_source", p->info.c.drop_source);
	kuint(w, "staged_packets", p->info.staged);
	if (p->has_gw) {
		nt_json_w_key(w, "flows");
		nt_json_w_obj_open(w);
		for (size_t i = 0; i < nt_ctl_gw_peer_field_count; i++) {
			const struct nt_ctl_field *f = &nt_ctl_gw_peer_fields[i];
			uint64_t v = nt_ctl_u64_at(&p->gw, f->off);

			kuint(w, f->key, v);
		}
		nt_json_w_obj_close(w);
	}
	nt_json_w_obj_close(w);
}

static void resource(struct nt_json_w *w, const struct nt_ctl_snap *s,
		     const struct nt_ctl_resource *r)
{
	nt_json_w_obj_open(w);
	nt_json_w_kstr(w, "id", r->id);
	kstr_or_null(w, "name", r->name);
	nt_json_w_kstr(w, "type", r->type);
	nt_json_w_kstr(w, "address", r->address);
	nt_json_w_kstr(w, "access", r->access);
	kstr_or_null(w, "gateway", r->gateway);
	kint_or_null(w, "granted_at", r->granted_at);
	kint_or_null(w, "expires_at", r->expires_at);
	nt_json_w_key(w, "expires_in_seconds");
	if (r->expires_at)
		nt_json_w_int(w, r->expires_at - s->now);
	else
		nt_json_w_null(w);
	kbool(w, "renewing", r->renewing);
	kuint(w, "waiting", r->waiting);
	kuint(w, "pending_packets", r->pending_packets);
	kuint(w, "pending_bytes", r->pending_bytes);
	nt_json_w_obj_close(w);
}

static void counters(struct nt_json_w *w, const struct nt_ctl_snap *s)
{
	const struct nt_ctl_set *sets[SETS_MAX];
	size_t n = nt_ctl_sets(s, sets, SETS_MAX);

	nt_json_w_key(w, "counters");
	nt_json_w_obj_open(w);
	for (size_t i = 0; i < n; i++) {
		nt_json_w_key(w, sets[i]->name);
		nt_json_w_obj_open(w);
		for (size_t j = 0; j < sets[i]->n; j++)
			kuint(w, sets[i]->fields[j].key,
			      nt_ctl_field_get(s, sets[i], &sets[i]->fields[j]));
		nt_json_w_obj_close(w);
	}
	if (s->has_proxy) {
		nt_json_w_key(w, "proxy_connect_failed");
		nt_json_w_obj_open(w);
		for (int f = 1; f < NT_FAIL_COUNT; f++)
			kuint(w, nt_ctl_fail_label(f), s->proxy.connect_failed[f]);
		nt_json_w_obj_close(w);
	}
	nt_json_w_obj_close(w);
}

int nt_ctl_render_json(const struct nt_ctl_snap *s, char *buf, size_t cap)
{
	struct nt_json_w w;
	size_t i;

	nt_json_w_init(&w, buf, cap);
	nt_json_w_obj_open(&w);
	nt_json_w_kint(&w, "version", NT_CTL_JSON_VERSION);
	nt_json_w_kstr(&w, "role", s->role == NT_CTL_CLIENT ? "client" : "gateway");
	kstr_or_null(&w, "command", s->command);
	nt_json_w_kstr(&w, "name", s->name);
	nt_json_w_kint(&w, "pid", s->pid);
	nt_json_w_kint(&w, "time", s->now);
	nt_json_w_kint(&w, "started_at", s->started_at);
	kbool(&w, "ready", s->ready);
	nt_json_w_key(&w, "listen");
	nt_json_w_arr_open(&w);
	for (i = 0; i < s->n_listen; i++)
		nt_json_w_str(&w, s->listen[i]);
	nt_json_w_arr_close(&w);
	nt_json_w_key(&w, "portal");
	if (s->has_portal) {
		nt_json_w_obj_open(&w);
		kbool(&w, "joined", s->portal_joined);
		nt_json_w_obj_close(&w);
	} else {
		nt_json_w_null(&w);
	}
	nt_json_w_key(&w, "flows");
	nt_json_w_obj_open(&w);
	kuint(&w, "tcp_open", s->flow.tcp_open);
	kuint(&w, "udp_open", s->flow.udp_open);
	if (s->role == NT_CTL_GATEWAY)
		kuint(&w, "gateway_open", s->gateway.flows_open);
	nt_json_w_obj_close(&w);
	nt_json_w_key(&w, "peers");
	nt_json_w_arr_open(&w);
	for (i = 0; i < s->n_peers; i++)
		peer(&w, s, &s->peers[i]);
	nt_json_w_arr_close(&w);
	kuint(&w, "peers_omitted", s->peers_omitted);
	nt_json_w_key(&w, "resources");
	nt_json_w_arr_open(&w);
	for (i = 0; i < s->n_resources; i++)
		resource(&w, s, &s->resources[i]);
	nt_json_w_arr_close(&w);
	kuint(&w, "resources_omitted", s->resources_omitted);
	counters(&w, s);
	nt_json_w_obj_close(&w);
	return nt_json_w_finish(&w);
}
