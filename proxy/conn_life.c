// SPDX-License-Identifier: MIT
/* One line per proxied connection when it ends (conn_life.h). A spliced
 * connection outlives the SOCKS5 or HTTP state that made it: its life is
 * copied and told from the splice's end. */
#include "proxy/conn_life.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netstack/splice.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "platform/sockaddr.h"

#define MOD "proxy"

static const char *const route_names[] = {
    [NT_ROUTE_FAILED] = "failed",
    [NT_ROUTE_TUNNEL] = "tunnel",
    [NT_ROUTE_DIRECT] = "direct",
    [NT_ROUTE_REJECTED] = "rejected",
};

void nt_conn_life_begin(struct nt_conn_life *l, struct nt_loop *loop, int client_fd,
			const struct nt_target *t)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(l, 0, sizeof(*l));
	l->active = true;
	l->loop = loop;
	l->start_ns = nt_loop_now(loop);
	l->target = *t;
	if (getpeername(client_fd, (struct sockaddr *)&ss, &len) == 0)
		nt_sockaddr_str(&ss, l->client, sizeof(l->client));
	else
		snprintf(l->client, sizeof(l->client), "-");
}

static void copy_id(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

void nt_conn_life_opened(struct nt_conn_life *l, const struct nt_open_result *res)
{
	l->r.route = res->route;
	copy_id(l->r.peer, sizeof(l->r.peer), res->peer);
	copy_id(l->r.rid, sizeof(l->r.rid), res->rid);
	copy_id(l->r.gid, sizeof(l->r.gid), res->gid);
	if (res->fail != NT_FAIL_NONE)
		nt_conn_life_fail(l, res->detail ? res->detail : nt_fail_text(res->fail));
}

void nt_conn_life_fail(struct nt_conn_life *l, const char *reason)
{
	if (reason && !l->reason[0])
		snprintf(l->reason, sizeof(l->reason), "%s", reason);
}

void nt_conn_life_end(struct nt_conn_life *l, const char *reason)
{
	char host[INET6_ADDRSTRLEN + NT_TARGET_NAME_MAX], req[32] = "";
	const struct nt_conn_route *r = &l->r;

	if (!l->active)
		return;
	l->active = false;
	nt_conn_life_fail(l, reason);
	if (l->requests)
		snprintf(req, sizeof(req), " requests=%u", l->requests);
	nt_info(MOD,
		"event=conn_closed cid=%" PRIu64 " client=%s target=%s port=%u route=%s%s%s%s%s%s%s"
		" bytes_up=%" PRIu64 " bytes_down=%" PRIu64 " duration_ms=%" PRIu64 "%s%s%s%s",
		r->cid, l->client, nt_target_host(&l->target, host, sizeof(host)), l->target.port,
		route_names[r->route], r->gid[0] ? " gid=" : "", r->gid, r->rid[0] ? " rid=" : "",
		r->rid, r->peer[0] ? " peer=" : "", r->peer, l->bytes_up, l->bytes_down,
		(uint64_t)((nt_loop_now(l->loop) - l->start_ns) / NT_NS_PER_MS), req,
		l->reason[0] ? " reason=\"" : "", l->reason, l->reason[0] ? "\"" : "");
}

static void spliced(void *arg, const struct nt_splice_result *res)
{
	struct nt_conn_life *l = arg;

	l->bytes_up += res->bytes_up;
	l->bytes_down += res->bytes_down;
	nt_conn_life_end(l, NULL);
	free(l);
}

int nt_conn_life_splice(struct nt_conn_life *l, int client_fd, const struct nt_open_result *res,
			const uint8_t *pending, size_t pending_len)
{
	struct nt_conn_life *copy = malloc(sizeof(*copy));
	nt_splice_done_fn done = copy ? spliced : NULL;

	/* Without memory for the copy the connection still goes; its line
	 * is told now, without its bytes. */
	if (copy)
		*copy = *l;
	else
		nt_conn_life_end(l, NULL);
	l->active = false;
	if (res->flow)
		return nt_splice_start_flow_notify(l->loop, client_fd, res->flow, pending,
						   pending_len, done, copy);
	return nt_splice_start_fd_notify(l->loop, client_fd, res->fd, pending, pending_len, done,
					 copy);
}
