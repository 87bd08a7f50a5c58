// SPDX-License-Identifier: MIT
/* The engine: routes a proxy's connection to a peer (a TCP flow in lwIP,
 * through the tunnel), to a direct OS socket, or to a refusal, and moves IP
 * packets between lwIP and the tunnel.
 *
 * A request's life:
 *
 *   open_tcp --name--> RESOLVING --address--> route:
 *       peer in AllowedIPs  -> CONNECTING (flow)   -> CONNECTED / ERROR
 *       bypass = direct     -> CONNECTING (socket) -> writable: SO_ERROR
 *         (one of our own listeners -> refused (NT_FAIL_LOOP))
 *       bypass = reject     -> refused (NT_FAIL_NOT_ALLOWED)
 *   one timer covers the whole request: ConnectTimeout after open_tcp the
 *   request fails (HOST_UNREACH when the peer never completed a handshake,
 *   TIMEOUT otherwise), whatever state it is in. The same timer, armed at
 *   zero, delivers results that are known at once, so the callback never
 *   runs inside open_tcp.
 *
 * Packets: lwIP output -> nt_tunnel_xmit (the destination's peer, longest
 * prefix over AllowedIPs; staged while the peer has no session: the pending
 * buffer); tunnel deliver -> ICMP errors end their flow at once -> lwIP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "core/config/config.h"
#include "core/engine/engine.h"
#include "core/engine/engine_int.h"
#include "core/engine/engine_portal.h"
#include "core/engine/own_listen.h"
#include "core/engine/pending.h"
#include "core/engine/rnames.h"
#include "core/engine/rtable.h"
#include "core/phx/pmsg.h"
#include "core/resolver/resolver.h"
#include "core/tunnel/tunnel.h"
#include "netstack/flow.h"
#include "netstack/stack.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "platform/sockaddr.h"

#define MOD "engine"

struct nt_engine_req {
	struct nt_engine *e;
	struct nt_engine_req *prev, *next;
	struct nt_target target;
	nt_engine_open_cb cb;
	void *arg;
	struct nt_timer timer;
	struct nt_resolver_req *resolving;
	struct nt_flow *flow;
	struct wg_peer *peer;
	struct nt_rentry *res; /* a portal resource it waits for (or uses) */
	struct nt_rname *name; /* through this name of a dns resource */
	uint64_t id;	       /* for the logs (cid=): the opens counter when it came */
	int fd;
	enum nt_route route; /* tunnel or direct once routed */
	enum nt_fail fail;   /* set when the result is known and waits for the timer */
	bool done;
	char detail[NT_PORTAL_DETAIL_MAX]; /* a failure naming its resource, or "" */
};

/* ---- requests ---- */

static void req_unlink(struct nt_engine_req *r)
{
	struct nt_engine *e = r->e;

	if (r->prev)
		r->prev->next = r->next;
	else
		e->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

/* Releases what the request still holds; the callback is not called. */
static void req_free(struct nt_engine_req *r)
{
	nt_timer_cancel(r->e->loop, &r->timer);
	if (r->res)
		nt_engine_portal_unwant(r->e, r->res, r->name);
	if (r->resolving)
		nt_resolver_cancel(r->resolving);
	if (r->flow)
		nt_flow_abort(r->flow);
	if (r->fd >= 0) {
		nt_loop_del_fd(r->e->loop, r->fd);
		close(r->fd);
	}
	req_unlink(r);
	free(r);
}

static void req_finish(struct nt_engine_req *r, const struct nt_open_result *res)
{
	struct nt_engine *e = r->e;
	nt_engine_open_cb cb = r->cb;
	void *arg = r->arg;
	struct nt_open_result out = *res;
	char detail[NT_PORTAL_DETAIL_MAX], host[INET6_ADDRSTRLEN + NT_TARGET_NAME_MAX];

	out.route = r->route;
	if (res->fail == NT_FAIL_NOT_ALLOWED || res->fail == NT_FAIL_LOOP ||
	    res->fail == NT_FAIL_FORBIDDEN)
		out.route = NT_ROUTE_REJECTED;
	out.peer = r->peer ? nt_tunnel_peer_id(r->peer) : NULL;
	out.rid = r->res ? r->res->res.id : NULL;
	out.gid = r->res ? nt_engine_portal_gid(r->res) : NULL;
	if (res->fail == NT_FAIL_NONE) {
		e->counters.connected++;
	} else if (r->detail[0]) {
		e->counters.failed++;
		/* About a portal resource: the line and the HTTP body name it. */
		memcpy(detail, r->detail, sizeof(detail));
		out.detail = detail;
		nt_info(MOD, "event=connect_failed cid=%" PRIu64 " rid=%s port=%u reason=\"%s\"",
			r->id, r->res ? r->res->res.id : "-", r->target.port, detail);
	} else {
		e->counters.failed++;
		nt_debug(MOD,
			 "event=connect_failed cid=%" PRIu64 " target=%s port=%u reason=\"%s\"",
			 r->id, nt_target_host(&r->target, host, sizeof(host)), r->target.port,
			 nt_fail_text(res->fail));
	}
	req_free(r);
	cb(arg, &out);
}

static void req_fail(struct nt_engine_req *r, enum nt_fail fail)
{
	struct nt_open_result res = {.fail = fail, .fd = -1};

	req_finish(r, &res);
}

/* A result known now is delivered from the loop, never inside open_tcp. */
static void req_fail_later(struct nt_engine_req *r, enum nt_fail fail)
{
	r->fail = fail;
	nt_timer_arm(r->e->loop, &r->timer, 0);
}

static void req_timer(struct nt_loop *loop, struct nt_timer *t, void *arg)
{
	struct nt_engine_req *r = arg;
	(void)loop;
	(void)t;

	if (r->fail != NT_FAIL_NONE) {
		req_fail(r, r->fail);
		return;
	}
	r->e->counters.timeouts++;
	if (r->res && !r->peer) {
		/* The portal or the gateway never answered. */
		snprintf(r->detail, sizeof(r->detail),
			 "resource %s: no access granted within ConnectTimeout", r->res->res.id);
		req_fail(r, NT_FAIL_TIMEOUT);
		return;
	}
	/* A peer that never answered our handshake: the tunnel is down; one
	 * that did but whose destination stays silent: a timeout. */
	if (r->peer && !nt_tunnel_peer_has_session(r->peer))
		req_fail(r, NT_FAIL_TUNNEL_DOWN);
	else
		req_fail(r, NT_FAIL_TIMEOUT);
}

/* ---- tunnel flows ---- */

static void flow_event(void *arg, struct nt_flow *f, enum nt_flow_event ev)
{
	struct nt_engine_req *r = arg;
	struct nt_open_result res = {.fd = -1};

	switch (ev) {
	case NT_FLOW_CONNECTED:
		/* r dies below; until the splice takes the flow, events wait in it. */
		nt_flow_set_ops(f, NULL, NULL);
		res.flow = f;
		res.bound_len = sizeof(res.bound);
		if (nt_flow_local_addr(f, &res.bound, &res.bound_len) != 0)
			res.bound_len = 0;
		r->flow = NULL; /* now the caller's */
		req_finish(r, &res);
		break;
	case NT_FLOW_ERROR:
		req_fail(r, nt_flow_error(f));
		break;
	default:
		/* Data before CONNECTED cannot happen; EOF/WRITABLE wait for the owner. */
		break;
	}
}

static const struct nt_flow_ops flow_ops = {.event = flow_event};

/* ---- direct (bypass) connections ---- */

/* A connected socket handed to the caller that did not take its loop
 * registration over. */
static void direct_orphan(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	(void)events;
	(void)arg;
	nt_loop_del_fd(loop, fd);
}

static void direct_ready(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct nt_engine_req *r = arg;
	struct nt_open_result res = {.fd = -1};
	int err = 0;
	socklen_t len = sizeof(err);

	/* Writable without an error: connected, no need to ask. A failed
	 * connect always comes with EPOLLERR (and EPOLLHUP). */
	if ((events & NT_EV_ERROR) && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if ((events & NT_EV_ERROR) && !err)
		err = ECONNRESET; /* hung up, the error already taken */
	if (err) {
		req_fail(r, nt_fail_from_errno(err));
		return;
	}
	/* The socket goes to the caller still registered, so that it can take
	 * the registration over (nt_loop_take_fd) instead of leaving the epoll
	 * set and entering it again. Until it does, events go nowhere. */
	(void)nt_loop_take_fd(loop, fd, NT_EV_WRITE, direct_orphan, NULL);
	res.fd = fd;
	r->fd = -1; /* now the caller's */
	req_finish(r, &res);
	/* Not taken over (closed, or kept aside): the registration goes. */
	if (nt_loop_fd_owner(loop, fd, NULL) == direct_orphan)
		nt_loop_del_fd(loop, fd);
}

static void direct_connect(struct nt_engine_req *r, int family, const uint8_t *addr)
{
	struct sockaddr_storage ss;
	socklen_t len = nt_sockaddr_set(&ss, family, addr, r->target.port);
	int fd;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		req_fail_later(r, nt_fail_from_errno(errno));
		return;
	}
	if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS) {
		int err = errno;

		close(fd);
		req_fail_later(r, nt_fail_from_errno(err));
		return;
	}
	if (nt_loop_add_fd(r->e->loop, fd, NT_EV_WRITE, direct_ready, r) != 0) {
		close(fd);
		req_fail_later(r, NT_FAIL_GENERAL);
		return;
	}
	r->fd = fd;
}

/* ---- routing ---- */

static void flow_connect(struct nt_engine_req *r, int family, const uint8_t *addr)
{
	int ret = nt_flow_tcp_connect(family, addr, r->target.port, &flow_ops, r, &r->flow);

	if (ret == -ENETUNREACH || ret == -EAFNOSUPPORT)
		req_fail_later(r, NT_FAIL_ADDR_TYPE);
	else if (ret != 0)
		req_fail_later(r, NT_FAIL_GENERAL);
}

/* A portal resource (through name rn of a dns resource, or NULL): outside
 * its filters, refused here with nothing sent; else the flow opens at once,
 * its packets held until access is granted (and the name mapped). */
static void route_resource(struct nt_engine_req *r, struct nt_rentry *re, struct nt_rname *rn,
			   int family, const uint8_t *addr)
{
	struct nt_engine *e = r->e;
	enum nt_fail fail =
	    nt_engine_portal_admit(e, re, r->target.port, r->detail, sizeof(r->detail));

	if (fail != NT_FAIL_NONE) {
		e->counters.portal_refused++;
		req_fail_later(r, fail);
		return;
	}
	e->counters.via_portal++;
	r->route = NT_ROUTE_TUNNEL;
	r->res = re;
	r->name = rn;
	r->peer = nt_engine_portal_want(e, re, rn);
	flow_connect(r, family, addr);
}

/* Under a portal, static peers keep the addresses they hold; the rest is
 * the portal's resources, then the bypass. */
static struct wg_peer *static_peer(struct nt_engine *e, int family, const uint8_t *addr)
{
	if (e->portal)
		return wg_allowedips_lookup(&e->static_ips, family, addr);
	return nt_tunnel_peer_for_dst(e->tunnel, family, addr);
}

static void route(struct nt_engine_req *r, int family, const uint8_t *addr)
{
	struct nt_engine *e = r->e;
	struct wg_peer *peer = static_peer(e, family, addr);
	struct nt_rentry *re;

	if (peer) {
		e->counters.via_tunnel++;
		r->route = NT_ROUTE_TUNNEL;
		r->peer = peer;
		flow_connect(r, family, addr);
		return;
	}
	re = nt_engine_portal_match(e, family, addr);
	if (re) {
		route_resource(r, re, NULL, family, addr);
		return;
	}
	/* A proxy address of a dns resource's name, given as an address. */
	if (e->portal && nt_pmsg_is_proxy_ip(family, addr)) {
		struct nt_rname *rn = nt_engine_portal_name_at(e, family, addr);

		if (rn && rn->re)
			route_resource(r, rn->re, rn, family, addr);
		else
			req_fail_later(r, NT_FAIL_HOST_UNREACH);
		return;
	}
	if (e->bypass == NT_CONFIG_BYPASS_REJECT) {
		e->counters.rejected++;
		req_fail_later(r, NT_FAIL_NOT_ALLOWED);
		return;
	}
	/* Here, on the address connect() would be given, after any name was
	 * resolved: every front end and every way of naming us is covered. */
	if (nt_own_listener(e->own, e->own_count, family, addr, r->target.port, nt_own_host_has)) {
		char ip[INET6_ADDRSTRLEN] = "?";

		e->counters.own_refused++;
		inet_ntop(family, addr, ip, sizeof(ip));
		nt_info(MOD, "event=own_listener_refused req=%" PRIu64 " target=%s addr=%s port=%u",
			r->id, r->target.kind == NT_TARGET_NAME ? r->target.name : ip, ip,
			r->target.port);
		req_fail_later(r, NT_FAIL_LOOP);
		return;
	}
	e->counters.via_direct++;
	r->route = NT_ROUTE_DIRECT;
	direct_connect(r, family, addr);
}

static void resolved(void *arg, int status, const struct nt_resolver_addr *addrs, size_t n)
{
	struct nt_engine_req *r = arg;

	r->resolving = NULL;
	if (status != 0 || n == 0) {
		req_fail(r, status == -ETIMEDOUT ? NT_FAIL_TIMEOUT : NT_FAIL_NAME);
		return;
	}
	route(r, addrs[0].family, addrs[0].addr);
}

int nt_engine_open_tcp(struct nt_engine *e, const struct nt_target *target, nt_engine_open_cb cb,
		       void *arg, struct nt_engine_req **out)
{
	struct nt_engine_req *r;
	int ret;

	if (!cb || target->port == 0)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->e = e;
	r->target = *target;
	r->cb = cb;
	r->arg = arg;
	r->fd = -1;
	nt_timer_init(&r->timer, req_timer, r);
	r->next = e->reqs;
	if (e->reqs)
		e->reqs->prev = r;
	e->reqs = r;
	r->id = ++e->counters.opens;
	*out = r;

	if (target->kind == NT_TARGET_NAME && e->portal) {
		/* A dns resource's name is never resolved here (section 7). */
		struct nt_rname *rn;

		ret = nt_engine_portal_name(e, target->name, &rn);
		if (ret < 0) {
			snprintf(r->detail, sizeof(r->detail), "%.120s: too many names of dns resources",
				 target->name);
			req_fail_later(r, NT_FAIL_GENERAL);
			return 0;
		}
		if (rn) {
			route_resource(r, rn->re, rn, AF_INET, rn->v4);
			if (r->fail == NT_FAIL_NONE)
				nt_timer_arm(e->loop, &r->timer, e->connect_timeout_ns);
			return 0;
		}
	}
	if (target->kind == NT_TARGET_NAME) {
		ret = nt_resolver_lookup(e->resolver, target->name, NT_RESOLVER_V4_FIRST, resolved,
					 r, &r->resolving);
		if (ret != 0) {
			r->resolving = NULL;
			req_fail_later(r, ret == -EINVAL ? NT_FAIL_NAME : NT_FAIL_GENERAL);
			return 0;
		}
	} else {
		route(r, target->kind == NT_TARGET_IPV4 ? AF_INET : AF_INET6, target->addr);
	}
	if (r->fail == NT_FAIL_NONE)
		nt_timer_arm(e->loop, &r->timer, e->connect_timeout_ns);
	return 0;
}

int nt_engine_set_own_listeners(struct nt_engine *e, const struct sockaddr_storage *addrs, size_t n)
{
	if (n > NT_ENGINE_OWN_MAX)
		return -EINVAL;
	memcpy(e->own, addrs, n * sizeof(*addrs));
	e->own_count = n;
	return 0;
}

void nt_engine_fail_waiting(struct nt_engine *e, const struct nt_rentry *re,
			    const struct nt_rname *rn, enum nt_fail fail, const char *detail)
{
	struct nt_engine_req *r;

	/* From the head each time: a callback may open or cancel others. */
	for (;;) {
		for (r = e->reqs; r && (r->res != re || (rn && r->name != rn)); r = r->next)
			;
		if (!r)
			return;
		snprintf(r->detail, sizeof(r->detail), "%s", detail);
		req_fail(r, fail);
	}
}

void nt_engine_granted(struct nt_engine *e, const struct nt_rentry *re, struct wg_peer *peer)
{
	for (struct nt_engine_req *r = e->reqs; r; r = r->next)
		if (r->res == re)
			r->peer = peer;
}

uint64_t nt_engine_req_id(const struct nt_engine_req *r)
{
	return r->id;
}

void nt_engine_cancel(struct nt_engine_req *r)
{
	r->e->counters.canceled++;
	req_free(r);
}

struct nt_loop *nt_engine_loop(const struct nt_engine *e)
{
	return e->loop;
}

void nt_engine_get_counters(const struct nt_engine *e, struct nt_engine_counters *out)
{
	*out = e->counters;
}

/* ---- packets between lwIP and the tunnel ---- */

static int stack_output(void *arg, const uint8_t *pkt, size_t len)
{
	struct nt_engine *e = arg;
	int ret = e->tunnel ? nt_tunnel_xmit(e->tunnel, pkt, len) : -EHOSTUNREACH;

	/* No peer holds it: a resource whose access is being requested may. */
	if (ret == -EHOSTUNREACH && e->portal)
		ret = nt_engine_portal_hold(e, pkt, len);
	if (ret == -EHOSTUNREACH)
		e->counters.out_no_route++;
	else if (ret != 0)
		e->counters.out_dropped++;
	return ret;
}

static void tunnel_control(void *arg, struct wg_peer *peer, const uint8_t *pkt, size_t len)
{
	nt_engine_portal_control(arg, peer, pkt, len);
}

static void tunnel_deliver(void *arg, struct wg_peer *peer, const uint8_t *pkt, size_t len)
{
	struct nt_engine *e = arg;
	(void)peer;

	if (nt_flow_handle_icmp_error(pkt, len) > 0) {
		e->counters.in_icmp_errors++;
		return;
	}
	if (nt_stack_input(pkt, len) != 0)
		e->counters.in_dropped++;
}

/* ---- peer endpoints given as names ---- */

static void endpoint_resolved(void *arg, int status, const struct nt_resolver_addr *addrs, size_t n)
{
	struct engine_peer *ep = arg;
	struct sockaddr_storage ss;
	socklen_t len;

	ep->resolving = NULL;
	if (status != 0 || n == 0) {
		nt_warn(MOD, "event=endpoint_unresolved peer=%s host=%s err=\"%s\"",
			nt_tunnel_peer_id(ep->peer), ep->endpoint->host,
			status ? strerror(-status) : "no address");
		return;
	}
	len = nt_sockaddr_set(&ss, addrs[0].family, addrs[0].addr, ep->endpoint->port);
	if (len &&
	    nt_tunnel_peer_set_endpoint(ep->e->tunnel, ep->peer, (struct sockaddr *)&ss, len) == 0)
		nt_info(MOD, "event=endpoint_resolved peer=%s host=%s", nt_tunnel_peer_id(ep->peer),
			ep->endpoint->host);
}

/* The endpoint's name is looked up again (it may point elsewhere now). */
static void endpoint_refresh(struct nt_engine *e, struct engine_peer *ep)
{
	if (!ep || !ep->endpoint || ep->endpoint->is_literal || ep->resolving ||
	    !e->endpoint_resolver)
		return;
	if (nt_resolver_lookup(e->endpoint_resolver, ep->endpoint->host, NT_RESOLVER_V4_FIRST,
			       endpoint_resolved, ep, &ep->resolving) != 0)
		ep->resolving = NULL;
}

void nt_engine_observe_peer(struct nt_engine *e, struct wg_peer *peer, bool up)
{
	struct nt_engine_peer_state st = {.public_key = peer->hs.remote_static, .up = up};
	uint64_t last = peer->timers.last_handshake_ns, mono = nt_clock_mono_ns();

	if (!e->obs.peer)
		return;
	if (!nt_tunnel_peer_endpoint(peer, &st.endpoint))
		st.endpoint.ss_family = AF_UNSPEC;
	if (last && last <= mono)
		st.last_handshake_ms = (int64_t)((nt_clock_real_ns() - (mono - last)) / 1000000u);
	e->obs.peer(e->obs.arg, &st);
}

static void tunnel_peer_event(void *arg, struct wg_peer *peer, enum nt_tunnel_peer_event ev)
{
	struct nt_engine *e = arg;

	if (ev == NT_TUNNEL_HANDSHAKE_COMPLETE)
		nt_engine_observe_peer(e, peer, true);
	else if (ev == NT_TUNNEL_KEYS_ZEROED || ev == NT_TUNNEL_HANDSHAKE_GIVE_UP)
		nt_engine_observe_peer(e, peer, false);
	/* Handshakes keep failing: the name may point elsewhere now. */
	if (ev == NT_TUNNEL_HANDSHAKE_GIVE_UP)
		endpoint_refresh(e, nt_tunnel_peer_user(peer));
}

/* At start-up, before the loop runs, a blocking lookup is acceptable and
 * gives the first handshake an address at once. */
static int endpoint_resolve_now(const struct nt_config_endpoint *ep, struct sockaddr_storage *ss,
				socklen_t *len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_ADDRCONFIG};
	struct addrinfo *res;
	int ret;

	if (ep->is_literal) {
		*len = nt_sockaddr_set(ss, ep->ip.family, ep->ip.addr, ep->port);
		return *len ? 0 : -EAFNOSUPPORT;
	}
	ret = getaddrinfo(ep->host, NULL, &hints, &res);
	if (ret != 0) {
		nt_warn(MOD, "event=endpoint_unresolved host=%s reason=\"%s\"", ep->host,
			gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	((struct sockaddr_in *)ss)->sin_port = htons(ep->port); /* same offset in sockaddr_in6 */
	freeaddrinfo(res);
	return 0;
}

/* ---- construction ---- */

static int stack_up(struct nt_engine *e, const struct nt_config *cfg)
{
	struct nt_stack_config sc = {.mtu = cfg->mtu, .output = stack_output, .output_arg = e};
	const uint8_t *a4 = nt_config_address(cfg, AF_INET), *a6 = nt_config_address(cfg, AF_INET6);

	if ((sc.has_ipv4 = a4 != NULL))
		memcpy(&sc.ipv4, a4, 4);
	if ((sc.has_ipv6 = a6 != NULL))
		memcpy(&sc.ipv6, a6, 16);
	/* A portal gives the address in its init. */
	sc.no_address_yet = cfg->portal.line != 0;
	return nt_stack_init(e->loop, &sc);
}

static void peer_config(const struct nt_config_peer *p, struct engine_peer *ep,
			struct nt_tunnel_peer_config *pc)
{
	*pc = (struct nt_tunnel_peer_config){
	    .psk = p->has_preshared_key ? p->preshared_key : NULL,
	    .allowed_ips = p->allowed_ips,
	    .allowed_ips_count = p->allowed_ips_count,
	    .persistent_keepalive_s = p->persistent_keepalive,
	    .user = ep,
	};
	memcpy(pc->public_key, p->public_key, sizeof(pc->public_key));
}

/* p's endpoint into ep's slot; an address literal (a name too at start-up,
 * when block is set) into pc, else it is left to endpoint_refresh. */
static void peer_endpoint(const struct nt_config_peer *p, struct engine_peer *ep,
			  struct nt_config_endpoint *slot, bool block,
			  struct nt_tunnel_peer_config *pc, struct sockaddr_storage *ss)
{
	socklen_t len;

	ep->endpoint = NULL;
	if (!p->has_endpoint)
		return;
	*slot = p->endpoint;
	ep->endpoint = slot;
	if ((block || p->endpoint.is_literal) && endpoint_resolve_now(&p->endpoint, ss, &len) == 0) {
		pc->endpoint = (struct sockaddr *)ss;
		pc->endpoint_len = len;
	}
}

static int peer_add(struct nt_engine *e, const struct nt_config_peer *p, struct engine_peer *ep,
		    struct nt_config_endpoint *slot, bool block)
{
	struct nt_tunnel_peer_config pc;
	struct sockaddr_storage ss;
	int ret;

	peer_config(p, ep, &pc);
	ep->e = e;
	peer_endpoint(p, ep, slot, block, &pc, &ss);
	ret = nt_tunnel_add_peer(e->tunnel, &pc, &ep->peer);
	if (ret != 0)
		nt_error(MOD, "event=peer_rejected line=%u err=\"%s\"", p->line, strerror(-ret));
	return ret;
}

/* Under a portal: the static peers' AllowedIPs, which the portal's
 * resources do not take. */
static int static_ips_fill(struct nt_engine *e, const struct nt_config *cfg)
{
	int ret = 0;

	wg_allowedips_clear(&e->static_ips);
	for (size_t i = 0; cfg->portal.line && i < e->peer_count && ret == 0; i++) {
		const struct nt_config_peer *p =
		    nt_config_peer_find(cfg, e->peers[i].peer->hs.remote_static);

		for (size_t j = 0; p && j < p->allowed_ips_count && ret == 0; j++)
			ret = wg_allowedips_insert(&e->static_ips, &p->allowed_ips[j],
						   e->peers[i].peer);
	}
	return ret;
}

static int peers_up(struct nt_engine *e, const struct nt_config *cfg, bool *any_name)
{
	int ret;

	e->peers = calloc(cfg->peer_count, sizeof(*e->peers));
	e->endpoints = calloc(cfg->peer_count, sizeof(*e->endpoints));
	if (!e->peers || !e->endpoints)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->peer_count; i++) {
		const struct nt_config_peer *p = &cfg->peers[i];

		*any_name |= p->has_endpoint && !p->endpoint.is_literal;
		ret = peer_add(e, p, &e->peers[i], &e->endpoints[i], true);
		if (ret != 0)
			return ret;
		e->peer_count++;
	}
	return static_ips_fill(e, cfg);
}

static int resolvers_up(struct nt_engine *e, const struct nt_config *cfg, bool any_name)
{
	struct nt_resolver_config rc = {0};
	int ret;

	rc.n_servers = cfg->dns_server_count;
	for (size_t i = 0; i < cfg->dns_server_count; i++) {
		rc.servers[i].family = cfg->dns_servers[i].family;
		memcpy(rc.servers[i].addr, cfg->dns_servers[i].addr, 16);
	}
	rc.n_search = cfg->dns_search_count;
	for (size_t i = 0; i < cfg->dns_search_count; i++)
		snprintf(rc.search[i], sizeof(rc.search[i]), "%s", cfg->dns_search[i]);
	ret = nt_resolver_new(e->loop, &rc, &e->resolver);
	if (ret != 0 || !any_name)
		return ret;
	struct nt_resolver_config sys = {0};
	return nt_resolver_new(e->loop, &sys, &e->endpoint_resolver);
}

int nt_engine_new(struct nt_loop *loop, const struct nt_config *cfg,
		  const struct wg_timers_params *timers, struct nt_engine **out)
{
	static const struct nt_tunnel_ops tunnel_ops_template = {
	    .deliver = tunnel_deliver,
	    .peer_event = tunnel_peer_event,
	    .control = tunnel_control,
	};
	struct nt_tunnel_ops tops = tunnel_ops_template;
	struct nt_flow_config fc = {.trim = nt_tunnel_trim_hook};
	struct nt_tunnel_config tc;
	struct nt_engine *e;
	bool any_name = false;
	int ret;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->loop = loop;
	wg_allowedips_init(&e->static_ips, 0);
	fc.trim_arg = &e->tunnel;
	/* Each proxied connection may hold one flow: a MaxConnections above the
	 * flow layer's default would be refused by it, so it raises the cap. */
	if (cfg->max_connections > NT_FLOW_DEFAULT_MAX_FLOWS)
		fc.max_flows = cfg->max_connections;
	e->bypass = cfg->bypass;
	e->connect_timeout_ns = (uint64_t)cfg->connect_timeout_ms * 1000000u;

	ret = stack_up(e, cfg);
	if (ret != 0) {
		nt_error(MOD, "event=stack_failed err=\"%s\"", strerror(-ret));
		goto err;
	}
	e->stack_up = true;
	ret = nt_flow_init(loop, &fc);
	if (ret != 0)
		goto err;
	e->flows_up = true;

	nt_tunnel_config_init(&tc);
	memcpy(tc.private_key, cfg->private_key, sizeof(tc.private_key));
	tc.listen_port = cfg->has_listen_port ? cfg->listen_port : 0;
	if (cfg->mtu)
		tc.mtu = cfg->mtu;
	tc.timers = timers;
	tc.stage_supersedes = nt_pending_supersedes;
	tops.arg = e;
	ret = nt_tunnel_new(loop, &tc, &tops, &e->tunnel);
	sodium_memzero(tc.private_key, sizeof(tc.private_key));
	if (ret != 0) {
		nt_error(MOD, "event=tunnel_failed err=\"%s\"", strerror(-ret));
		goto err;
	}
	ret = peers_up(e, cfg, &any_name);
	if (ret != 0)
		goto err;
	ret = resolvers_up(e, cfg, any_name);
	if (ret != 0) {
		nt_error(MOD, "event=resolver_failed err=\"%s\"", strerror(-ret));
		goto err;
	}
	if (cfg->portal.line) {
		ret = nt_engine_portal_start(e, cfg);
		if (ret != 0)
			goto err;
	}
	nt_info(
	    MOD, "event=engine_up peers=%zu portal=%s dns=%s bypass=%s connect_timeout_ms=%u",
	    e->peer_count, e->portal ? "yes" : "no", cfg->dns_server_count ? "tunnel" : "system",
	    e->bypass == NT_CONFIG_BYPASS_REJECT ? "reject" : "direct", cfg->connect_timeout_ms);
	*out = e;
	return 0;
err:
	nt_engine_free(e);
	return ret;
}

void nt_engine_set_observer(struct nt_engine *e, const struct nt_engine_observer *obs)
{
	static const struct nt_engine_observer none;

	e->obs = obs ? *obs : none;
}

void nt_engine_reset(struct nt_engine *e)
{
	nt_info(MOD, "event=reset peers=%zu portal=%s", e->peer_count, e->portal ? "yes" : "no");
	for (size_t i = 0; i < e->peer_count; i++) {
		endpoint_refresh(e, &e->peers[i]);
		/* Too soon after the last one (the timers' rule): it is due anyway. */
		(void)nt_tunnel_initiate(e->tunnel, e->peers[i].peer);
	}
	nt_engine_portal_reset(e);
}

/* ---- reload ---- */

static struct engine_peer *peer_of_key(struct nt_engine *e, const uint8_t *key)
{
	for (size_t i = 0; i < e->peer_count; i++)
		if (e->peers[i].peer &&
		    memcmp(e->peers[i].peer->hs.remote_static, key, NT_KEY_LEN) == 0)
			return &e->peers[i];
	return NULL;
}

/* A static peer the file no longer has: its requests keep waiting (their
 * packets find no route) until ConnectTimeout. */
static void peer_drop(struct nt_engine *e, struct engine_peer *ep)
{
	for (struct nt_engine_req *r = e->reqs; r; r = r->next)
		if (r->peer == ep->peer)
			r->peer = NULL;
	nt_info(MOD, "event=peer_removed peer=%s", nt_tunnel_peer_id(ep->peer));
	nt_tunnel_remove_peer(e->tunnel, ep->peer);
	ep->peer = NULL;
}

/* A peer in both files, moved to its new slot; its session stays. */
static void peer_keep(struct nt_engine *e, const struct nt_config_peer *was,
		      const struct nt_config_peer *p, struct engine_peer *ep,
		      struct nt_config_endpoint *slot)
{
	struct nt_tunnel_peer_config pc;
	struct sockaddr_storage ss;

	if (was && nt_config_peer_same_tunnel(was, p)) {
		ep->endpoint = p->has_endpoint ? slot : NULL;
		*slot = p->endpoint;
		nt_tunnel_peer_set_user(ep->peer, ep);
		return;
	}
	peer_config(p, ep, &pc);
	/* The endpoint it has now (maybe learnt from the peer) stays unless
	 * the file's changed. */
	peer_endpoint(p, ep, slot, false, &pc, &ss);
	if (was && was->has_endpoint == p->has_endpoint &&
	    (!p->has_endpoint || nt_config_endpoint_same(&was->endpoint, &p->endpoint)))
		pc.endpoint = NULL;
	else if (!pc.endpoint)
		ep->lookup_due = true;
	if (nt_tunnel_update_peer(e->tunnel, ep->peer, &pc) != 0)
		nt_warn(MOD, "event=peer_update_incomplete line=%u", p->line);
}

int nt_engine_reload(struct nt_engine *e, const struct nt_config *run,
		     const struct nt_config *next)
{
	struct engine_peer *peers = calloc(next->peer_count + 1, sizeof(*peers));
	struct nt_config_endpoint *endpoints = calloc(next->peer_count + 1, sizeof(*endpoints));
	size_t n = 0, added = 0, removed = 0;

	if (!peers || !endpoints) {
		free(peers);
		free(endpoints);
		return -ENOMEM;
	}
	/* Their callbacks hold the old slots; looked up again below. */
	for (size_t i = 0; i < e->peer_count; i++) {
		if (e->peers[i].resolving)
			nt_resolver_cancel(e->peers[i].resolving);
		e->peers[i].lookup_due = e->peers[i].resolving != NULL;
		e->peers[i].resolving = NULL;
	}
	/* First, so that a peer taking a removed one's place finds room. */
	for (size_t i = 0; i < e->peer_count; i++)
		if (!nt_config_peer_find(next, e->peers[i].peer->hs.remote_static)) {
			peer_drop(e, &e->peers[i]);
			removed++;
		}
	if (!e->endpoint_resolver) {
		struct nt_resolver_config sys = {0};

		(void)nt_resolver_new(e->loop, &sys, &e->endpoint_resolver);
	}
	for (size_t j = 0; j < next->peer_count; j++) {
		const struct nt_config_peer *p = &next->peers[j];
		struct engine_peer *old = peer_of_key(e, p->public_key);

		if (old) {
			peers[n] = *old;
			peer_keep(e, nt_config_peer_find(run, p->public_key), p, &peers[n],
				  &endpoints[n]);
		} else if (peer_add(e, p, &peers[n], &endpoints[n], false) == 0) {
			peers[n].lookup_due = p->has_endpoint && !p->endpoint.is_literal;
			added++;
		} else {
			continue;
		}
		n++;
	}
	free(e->peers);
	free(e->endpoints);
	e->peers = peers;
	e->endpoints = endpoints;
	e->peer_count = n;
	for (size_t i = 0; i < n; i++)
		if (e->peers[i].lookup_due) {
			e->peers[i].lookup_due = false;
			endpoint_refresh(e, &e->peers[i]);
		}
	if (static_ips_fill(e, next) != 0)
		nt_warn(MOD, "event=static_routes_incomplete");
	e->bypass = next->bypass;
	nt_info(MOD, "event=peers_reloaded peers=%zu added=%zu removed=%zu bypass=%s", n, added,
		removed, e->bypass == NT_CONFIG_BYPASS_REJECT ? "reject" : "direct");
	return 0;
}

int nt_engine_resource_disable(struct nt_engine *e, const char *rid, bool disabled)
{
	return nt_engine_portal_disable(e, rid, disabled);
}

void nt_engine_free(struct nt_engine *e)
{
	if (!e)
		return;
	while (e->reqs)
		req_free(e->reqs);
	nt_engine_portal_free(e);
	wg_allowedips_clear(&e->static_ips);
	for (size_t i = 0; i < e->peer_count; i++)
		if (e->peers[i].resolving)
			nt_resolver_cancel(e->peers[i].resolving);
	nt_resolver_free(e->endpoint_resolver);
	nt_resolver_free(e->resolver);
	/* lwIP's last words (RSTs of aborted flows) still go out through the tunnel. */
	if (e->flows_up)
		nt_flow_fini();
	if (e->stack_up)
		nt_stack_shutdown();
	nt_tunnel_free(e->tunnel);
	free(e->peers);
	free(e->endpoints);
	free(e);
}
