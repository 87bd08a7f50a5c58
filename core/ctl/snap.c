// SPDX-License-Identifier: MIT
/* The snapshot's collection (snap.h). */
#include "core/ctl/snap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/wg/key.h"
#include "platform/clock.h"

struct nt_ctl_snap *nt_ctl_snap_new(void)
{
	struct nt_ctl_snap *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->peers = calloc(NT_CTL_PEERS_MAX, sizeof(*s->peers));
	s->resources = calloc(NT_CTL_RESOURCES_MAX, sizeof(*s->resources));
	if (!s->peers || !s->resources) {
		nt_ctl_snap_free(s);
		return NULL;
	}
	return s;
}

void nt_ctl_snap_free(struct nt_ctl_snap *s)
{
	if (!s)
		return;
	free(s->peers);
	free(s->resources);
	free(s);
}

static void format_endpoint(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	out[0] = '\0';
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, cap, "%s:%u", host, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
	}
}

static struct nt_ctl_peer *add_peer(struct nt_ctl_snap *s, const struct wg_peer *peer,
				    const char *name)
{
	struct nt_ctl_peer *p;
	uint64_t mono = nt_clock_mono_ns();

	if (s->n_peers == NT_CTL_PEERS_MAX) {
		s->peers_omitted++;
		return NULL;
	}
	p = &s->peers[s->n_peers++];
	memset(p, 0, sizeof(*p));
	nt_tunnel_peer_info(peer, &p->info);
	nt_key_to_base64(p->public_key, p->info.public_key);
	snprintf(p->name, sizeof(p->name), "%s", name);
	format_endpoint(&p->info.endpoint, p->endpoint, sizeof(p->endpoint));
	p->has_session = p->info.has_session;
	if (p->info.last_handshake_ns && p->info.last_handshake_ns <= mono)
		p->last_handshake =
		    s->now - (int64_t)((mono - p->info.last_handshake_ns) / NT_NS_PER_SEC);
	return p;
}

static void on_engine_peer(void *arg, const struct wg_peer *peer, const char *gateway_id)
{
	add_peer(arg, peer, gateway_id);
}

static void on_resource(void *arg, const struct nt_engine_resource_info *r)
{
	struct nt_ctl_snap *s = arg;
	struct nt_ctl_resource *o;

	if (s->n_resources == NT_CTL_RESOURCES_MAX) {
		s->resources_omitted++;
		return;
	}
	o = &s->resources[s->n_resources++];
	memset(o, 0, sizeof(*o));
	snprintf(o->id, sizeof(o->id), "%s", r->id);
	snprintf(o->name, sizeof(o->name), "%s", r->name);
	snprintf(o->type, sizeof(o->type), "%s", r->type);
	snprintf(o->address, sizeof(o->address), "%s", r->address);
	snprintf(o->access, sizeof(o->access), "%s", r->access);
	snprintf(o->gateway, sizeof(o->gateway), "%s", r->gateway_id);
	o->granted_at = r->granted_at;
	o->expires_at = r->expires_at;
	o->pending_packets = r->pending_packets;
	o->pending_bytes = r->pending_bytes;
	o->waiting = r->waiting;
	o->renewing = r->renewing;
}

static void on_gateway_peer(void *arg, const struct wg_peer *peer, const char *client_id,
			    const struct nt_gateway_peer_counters *c)
{
	struct nt_ctl_peer *p = add_peer(arg, peer, client_id);

	if (p) {
		p->has_gw = true;
		p->gw = *c;
	}
}

void nt_ctl_snap_collect(struct nt_ctl_snap *s, const struct nt_ctl_source *src)
{
	static const struct nt_engine_view_ops view = {.peer = on_engine_peer,
						       .resource = on_resource};
	struct nt_ctl_peer *peers = s->peers;
	struct nt_ctl_resource *resources = s->resources;

	memset(s, 0, sizeof(*s));
	s->peers = peers;
	s->resources = resources;
	s->role = src->role;
	snprintf(s->command, sizeof(s->command), "%s",
		 src->command		       ? src->command
		 : src->role == NT_CTL_GATEWAY ? "gateway"
					       : "");
	snprintf(s->name, sizeof(s->name), "%s", src->name ? src->name : "");
	s->pid = (int64_t)getpid();
	s->now = (int64_t)(nt_clock_real_ns() / NT_NS_PER_SEC);
	s->started_at = src->started_at;
	nt_flow_get_stats(&s->flow);
	if (src->role == NT_CTL_CLIENT) {
		nt_engine_get_counters(src->engine, &s->engine);
		nt_tunnel_counters(nt_engine_tunnel(src->engine), &s->tunnel);
		if (src->proxy) {
			const struct sockaddr_storage *ss;

			s->has_proxy = true;
			nt_proxy_counters(src->proxy, &s->proxy);
			while (s->n_listen < NT_PROXY_MAX_LISTEN &&
			       (ss = nt_proxy_bound_addr(src->proxy, s->n_listen)))
				format_endpoint(ss, s->listen[s->n_listen++], sizeof(s->listen[0]));
		}
		s->has_portal = nt_engine_view(src->engine, &view, s, &s->portal);
		s->portal_joined = s->has_portal && s->portal.joined;
	} else {
		nt_gateway_get_counters(src->gw, &s->gateway);
		nt_tunnel_counters(nt_gateway_tunnel(src->gw), &s->tunnel);
		nt_gateway_each_peer(src->gw, on_gateway_peer, s);
		s->has_portal = src->link != NULL;
		s->portal_joined = nt_gw_link_up(src->link);
	}
	/* The roles start this after their listeners are bound. */
	s->ready = !s->has_portal || s->portal_joined;
}
