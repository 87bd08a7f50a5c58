// SPDX-License-Identifier: MIT
/* The metrics page: Prometheus text format 0.0.4. Every family is written
 * whole (HELP, TYPE, its samples) before the next; label values are
 * escaped; peers and resources are the snapshot's bounded lists. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/ctl/fields.h"
#include "core/ctl/render.h"

#define SETS_MAX 8

static void family(struct nt_ctl_out *o, const char *name, const char *suffix, bool gauge,
		   const char *help)
{
	nt_ctl_put(o, "# HELP notun_%s%s %s\n# TYPE notun_%s%s %s\n", name, suffix, help, name,
		   suffix, gauge ? "gauge" : "counter");
}

static void peer_labels(struct nt_ctl_out *o, const struct nt_ctl_peer *p)
{
	nt_ctl_put(o, "{peer=\"");
	nt_ctl_put_label(o, p->public_key);
	nt_ctl_put(o, "\",name=\"");
	nt_ctl_put_label(o, p->name);
	nt_ctl_put(o, "\"}");
}

static void resource_labels(struct nt_ctl_out *o, const struct nt_ctl_resource *r,
			    const char *state)
{
	nt_ctl_put(o, "{resource=\"");
	nt_ctl_put_label(o, r->id);
	nt_ctl_put(o, "\",name=\"");
	nt_ctl_put_label(o, r->name);
	if (state)
		nt_ctl_put(o, "\",state=\"%s", state);
	nt_ctl_put(o, "\"}");
}

enum peer_value { PV_RX, PV_TX, PV_HS, PV_LAST, PV_SESSION, PV_STAGED };

static uint64_t peer_value(const struct nt_ctl_peer *p, enum peer_value v)
{
	switch (v) {
	case PV_RX:
		return p->info.c.rx_bytes;
	case PV_TX:
		return p->info.c.tx_bytes;
	case PV_HS:
		return p->info.c.handshakes_completed;
	case PV_LAST:
		return (uint64_t)p->last_handshake;
	case PV_SESSION:
		return p->has_session;
	default:
		return p->info.staged;
	}
}

static void peers(struct nt_ctl_out *o, const struct nt_ctl_snap *s)
{
	static const struct {
		const char *name;
		bool gauge;
		const char *help;
	} fams[] = {
	    [PV_RX] = {"peer_rx_bytes", false, "bytes received from the peer (inner packets)"},
	    [PV_TX] = {"peer_tx_bytes", false, "bytes sent to the peer (inner packets)"},
	    [PV_HS] = {"peer_handshakes", false, "handshakes completed with the peer"},
	    [PV_LAST] = {"peer_last_handshake_timestamp_seconds", true,
			 "when the latest handshake completed (0: never)"},
	    [PV_SESSION] = {"peer_session", true, "1 while the peer has a session to send with"},
	    [PV_STAGED] = {"peer_staged_packets", true, "packets waiting for a session"},
	};

	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		if (!s->n_peers)
			break;
		family(o, fams[f].name, fams[f].gauge ? "" : "_total", fams[f].gauge, fams[f].help);
		for (size_t i = 0; i < s->n_peers; i++) {
			nt_ctl_put(o, "notun_%s%s", fams[f].name, fams[f].gauge ? "" : "_total");
			peer_labels(o, &s->peers[i]);
			nt_ctl_put(o, " %" PRIu64 "\n", peer_value(&s->peers[i], f));
		}
	}
	if (s->role != NT_CTL_GATEWAY || !s->n_peers)
		return;
	for (size_t f = 0; f < nt_ctl_gw_peer_field_count; f++) {
		const struct nt_ctl_field *fd = &nt_ctl_gw_peer_fields[f];
		const char *m = fd->metric ? fd->metric : fd->key;
		const char *suffix = fd->gauge ? "" : "_total";

		nt_ctl_put(o, "# HELP notun_gateway_peer_%s%s %s\n", m, suffix, fd->help);
		nt_ctl_put(o, "# TYPE notun_gateway_peer_%s%s %s\n", m, suffix,
			   fd->gauge ? "gauge" : "counter");
		for (size_t i = 0; i < s->n_peers; i++) {
			uint64_t v = nt_ctl_u64_at(&s->peers[i].gw, fd->off);

			nt_ctl_put(o, "notun_gateway_peer_%s%s", m, suffix);
			peer_labels(o, &s->peers[i]);
			nt_ctl_put(o, " %" PRIu64 "\n", v);
		}
	}
}

static void resources(struct nt_ctl_out *o, const struct nt_ctl_snap *s)
{
	static const char *const states[] = {"none", "pending", "granted"};
	size_t i;

	if (!s->n_resources)
		return;
	family(o, "resource_access", "", true, "1 for the resource's access state");
	for (i = 0; i < s->n_resources; i++)
		for (size_t k = 0; k < 3; k++) {
			nt_ctl_put(o, "notun_resource_access");
			resource_labels(o, &s->resources[i], states[k]);
			nt_ctl_put(o, " %d\n", !strcmp(s->resources[i].access, states[k]));
		}
	family(o, "resource_expiry_timestamp_seconds", "", true,
	       "when the resource's grant ends (0: not granted)");
	for (i = 0; i < s->n_resources; i++) {
		nt_ctl_put(o, "notun_resource_expiry_timestamp_seconds");
		resource_labels(o, &s->resources[i], NULL);
		nt_ctl_put(o, " %" PRId64 "\n", s->resources[i].expires_at);
	}
	family(o, "resource_pending_packets", "", true, "packets held while access is requested");
	for (i = 0; i < s->n_resources; i++) {
		nt_ctl_put(o, "notun_resource_pending_packets");
		resource_labels(o, &s->resources[i], NULL);
		nt_ctl_put(o, " %" PRIu64 "\n", s->resources[i].pending_packets);
	}
	family(o, "resource_pending_bytes", "", true, "bytes held while access is requested");
	for (i = 0; i < s->n_resources; i++) {
		nt_ctl_put(o, "notun_resource_pending_bytes");
		resource_labels(o, &s->resources[i], NULL);
		nt_ctl_put(o, " %" PRIu64 "\n", s->resources[i].pending_bytes);
	}
}

static void sets(struct nt_ctl_out *o, const struct nt_ctl_snap *s)
{
	const struct nt_ctl_set *list[SETS_MAX];
	size_t n = nt_ctl_sets(s, list, SETS_MAX);

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < list[i]->n; j++) {
			const struct nt_ctl_field *f = &list[i]->fields[j];
			const char *m = f->metric ? f->metric : f->key;
			const char *suffix = f->gauge ? "" : "_total";

			nt_ctl_put(o, "# HELP notun_%s_%s%s %s\n# TYPE notun_%s_%s%s %s\n",
				   list[i]->name, m, suffix, f->help, list[i]->name, m, suffix,
				   f->gauge ? "gauge" : "counter");
			nt_ctl_put(o, "notun_%s_%s%s %" PRIu64 "\n", list[i]->name, m, suffix,
				   nt_ctl_field_get(s, list[i], f));
		}
	if (!s->has_proxy)
		return;
	family(o, "proxy_connect_failed", "_total", false, "proxy connections failed, by reason");
	for (int f = 1; f < NT_FAIL_COUNT; f++)
		nt_ctl_put(o, "notun_proxy_connect_failed_total{reason=\"%s\"} %" PRIu64 "\n",
			   nt_ctl_fail_label(f), s->proxy.connect_failed[f]);
}

int nt_ctl_render_prom(const struct nt_ctl_snap *s, char *buf, size_t cap)
{
	struct nt_ctl_out o = {buf, cap, 0, false};

	family(&o, "info", "", true, "the role of this process");
	nt_ctl_put(&o, "notun_info{role=\"%s\",name=\"",
		   s->role == NT_CTL_CLIENT ? "client" : "gateway");
	nt_ctl_put_label(&o, s->name);
	nt_ctl_put(&o, "\"} 1\n");
	family(&o, "start_time_seconds", "", true, "when the process started (Unix seconds)");
	nt_ctl_put(&o, "notun_start_time_seconds %" PRId64 "\n", s->started_at);
	family(&o, "ready", "", true, "1 once listening and, under a portal, joined");
	nt_ctl_put(&o, "notun_ready %d\n", s->ready);
	if (s->has_portal) {
		family(&o, "portal_joined", "", true, "1 while joined to the portal");
		nt_ctl_put(&o, "notun_portal_joined %d\n", s->portal_joined);
	}
	family(&o, "peers_omitted", "", true, "peers beyond the listed limit");
	nt_ctl_put(&o, "notun_peers_omitted %zu\n", s->peers_omitted);
	family(&o, "resources_omitted", "", true, "resources beyond the listed limit");
	nt_ctl_put(&o, "notun_resources_omitted %zu\n", s->resources_omitted);
	peers(&o, s);
	resources(&o, s);
	sets(&o, s);
	if (o.err)
		return -ENOSPC;
	return (int)o.len;
}
