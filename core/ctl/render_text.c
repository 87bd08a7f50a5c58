// SPDX-License-Identifier: MIT
/* `notun status`: the snapshot for people. The counters that are not zero
 * close it, set by set. */
#include <errno.h>
#include <inttypes.h>

#include "core/ctl/fields.h"
#include "core/ctl/render.h"

#define SETS_MAX 8

static void put_age(struct nt_ctl_out *o, int64_t secs)
{
	if (secs < 120)
		nt_ctl_put(o, "%" PRId64 " s ago", secs);
	else if (secs < 7200)
		nt_ctl_put(o, "%" PRId64 " min ago", secs / 60);
	else
		nt_ctl_put(o, "%" PRId64 " h ago", secs / 3600);
}

static void peers(struct nt_ctl_out *o, const struct nt_ctl_snap *s)
{
	nt_ctl_put(o, "\n%s: %zu\n", s->role == NT_CTL_CLIENT ? "peers" : "clients",
		   s->n_peers + s->peers_omitted);
	for (size_t i = 0; i < s->n_peers; i++) {
		const struct nt_ctl_peer *p = &s->peers[i];

		nt_ctl_put(o, "  peer %s%s%s%s\n", p->public_key, p->name[0] ? " (" : "", p->name,
			   p->name[0] ? ")" : "");
		nt_ctl_put(o, "    endpoint: %s\n", p->endpoint[0] ? p->endpoint : "(unknown)");
		nt_ctl_put(o, "    latest handshake: ");
		if (p->last_handshake)
			put_age(o, s->now - p->last_handshake);
		else
			nt_ctl_put(o, "never");
		nt_ctl_put(o, "%s\n", p->has_session ? "" : " (no session)");
		nt_ctl_put(o, "    transfer: %" PRIu64 " B received, %" PRIu64 " B sent\n",
			   p->info.c.rx_bytes, p->info.c.tx_bytes);
		if (p->info.staged)
			nt_ctl_put(o, "    waiting for a session: %zu packets\n", p->info.staged);
		if (p->has_gw)
			nt_ctl_put(o,
				   "    flows: %" PRIu64 " open, %" PRIu64 " tcp, %" PRIu64
				   " udp, %" PRIu64 " denied; %" PRIu64 " B up, %" PRIu64
				   " B down\n",
				   p->gw.flows_open, p->gw.tcp_flows, p->gw.udp_flows, p->gw.denied,
				   p->gw.bytes_up, p->gw.bytes_down);
	}
	if (s->peers_omitted)
		nt_ctl_put(o, "  (%zu more not shown)\n", s->peers_omitted);
}

static void resources(struct nt_ctl_out *o, const struct nt_ctl_snap *s)
{
	nt_ctl_put(o, "\nresources: %zu\n", s->n_resources + s->resources_omitted);
	for (size_t i = 0; i < s->n_resources; i++) {
		const struct nt_ctl_resource *r = &s->resources[i];

		nt_ctl_put(o, "  %s%s%s%s %s %s: %s", r->id, r->name[0] ? " (" : "", r->name,
			   r->name[0] ? ")" : "", r->type, r->address, r->access);
		if (r->expires_at)
			nt_ctl_put(o, " via %s, expires in %" PRId64 " s%s", r->gateway,
				   r->expires_at - s->now, r->renewing ? " (renewing)" : "");
		if (r->waiting || r->pending_packets)
			nt_ctl_put(
			    o, ", %" PRIu64 " waiting, %" PRIu64 " packets (%" PRIu64 " B) held",
			    r->waiting, r->pending_packets, r->pending_bytes);
		nt_ctl_put(o, "\n");
	}
	if (s->resources_omitted)
		nt_ctl_put(o, "  (%zu more not shown)\n", s->resources_omitted);
}

static void counters(struct nt_ctl_out *o, const struct nt_ctl_snap *s)
{
	const struct nt_ctl_set *sets[SETS_MAX];
	size_t n = nt_ctl_sets(s, sets, SETS_MAX);

	nt_ctl_put(o, "\ncounters (not zero):\n");
	for (size_t i = 0; i < n; i++) {
		size_t shown = 0;

		for (size_t j = 0; j < sets[i]->n; j++) {
			uint64_t v = nt_ctl_field_get(s, sets[i], &sets[i]->fields[j]);

			if (!v)
				continue;
			if (!shown++)
				nt_ctl_put(o, "  %s:", sets[i]->name);
			nt_ctl_put(o, " %s=%" PRIu64, sets[i]->fields[j].key, v);
		}
		if (shown)
			nt_ctl_put(o, "\n");
	}
}

int nt_ctl_render_text(const struct nt_ctl_snap *s, char *buf, size_t cap)
{
	struct nt_ctl_out o = {buf, cap, 0, false};

	nt_ctl_put(&o, "notun %s %s (pid %" PRId64 "), up %" PRId64 " s, %s\n",
		   s->role == NT_CTL_CLIENT ? "client" : "gateway", s->name, s->pid,
		   s->now - s->started_at, s->ready ? "ready" : "not ready");
	if (s->has_portal)
		nt_ctl_put(&o, "portal: %s\n", s->portal_joined ? "joined" : "not joined");
	nt_ctl_put(&o, "flows open: %" PRIu64 " tcp, %" PRIu64 " udp", s->flow.tcp_open,
		   s->flow.udp_open);
	if (s->role == NT_CTL_GATEWAY)
		nt_ctl_put(&o, " (%" PRIu64 " through the gateway)", s->gateway.flows_open);
	nt_ctl_put(&o, "\n");
	if (s->has_portal)
		nt_ctl_put(&o,
			   "pending buffers: %" PRIu64 " held, %" PRIu64 " flushed, %" PRIu64
			   " dropped\n",
			   s->portal.pending.held, s->portal.pending.flushed,
			   s->portal.pending.dropped_full + s->portal.pending.dropped_nomem +
			       s->portal.pending.dropped_ended);
	peers(&o, s);
	if (s->has_portal)
		resources(&o, s);
	counters(&o, s);
	if (o.err)
		return -ENOSPC;
	return (int)o.len;
}
