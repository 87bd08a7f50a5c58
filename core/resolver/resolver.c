// SPDX-License-Identifier: MIT
/* Name resolution: the API, IP literals, and the dispatch of results. The
 * backends are resolver_tunnel.c (DNS through lwIP) and resolver_sys.c
 * (getaddrinfo on worker threads).
 *
 * A lookup (struct nt_resolver_req) lives on one of three lists:
 *
 *   active   waiting for answers
 *   done     finished; its callback runs on the next dispatch
 *   batch    being dispatched now (the done list is moved here first, so a
 *            callback that starts a lookup cannot keep a dispatch going)
 *
 * Dispatch is triggered through an eventfd registered once at creation, so
 * finishing a lookup never needs memory and callbacks never run inside
 * nt_resolver_lookup() or inside lwIP.
 */
#include "core/resolver/resolver_int.h"

#include "core/resolver/dns_msg.h"
#include "platform/log.h"
#include "platform/loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MOD "resolver"

#define TRIES_MAX   16
#define THREADS_MAX 16

/* ---- helpers ---- */

static void lowercase_copy(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] + 32) : src[i];
	dst[n] = '\0';
}

/* Copies a name that passed nt_dns_name_check without its trailing dot. */
static bool name_normalize(char dst[NT_DNS_NAME_MAX + 1], const char *src)
{
	size_t n = strlen(src);
	bool absolute = n > 0 && src[n - 1] == '.';

	lowercase_copy(dst, src, absolute ? n - 1 : n);
	return absolute;
}

static void wake(struct nt_resolver *r)
{
	uint64_t one = 1;

	if (r->wake_pending)
		return;
	/* An eventfd write fails only when the counter would overflow. */
	if (write(r->wake_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
		r->wake_pending = true;
}

/* ---- lookups ---- */

static void req_merge(struct nt_resolver_req *q)
{
	static const int order[2][SLOT_N] = {{SLOT_A, SLOT_AAAA}, {SLOT_AAAA, SLOT_A}};
	const int *o = order[q->family == NT_RESOLVER_V6_FIRST || q->family == NT_RESOLVER_V6_ONLY];

	q->n = 0;
	for (int k = 0; k < SLOT_N; k++) {
		const struct slot *s = &q->slot[o[k]];

		if (!s->wanted || s->status != 0)
			continue;
		for (size_t i = 0; i < s->n; i++) {
			struct nt_resolver_addr *a = &q->addrs[q->n++];

			a->family = o[k] == SLOT_A ? AF_INET : AF_INET6;
			memcpy(a->addr, s->addrs[i], 16);
		}
	}
}

void nt_resolver_req_finish(struct nt_resolver_req *q, int status)
{
	struct nt_resolver *r = q->r;

	nt_timer_cancel(r->loop, &q->pair_timer);
	q->status = status;
	if (status == 0)
		req_merge(q);
	if (status == 0 && q->n == 0)
		q->status = -ENOENT;
	list_del(&q->link);
	list_add_tail(&r->done, &q->link);
	wake(r);
}

void nt_resolver_slot_set(struct slot *s, int status, uint8_t (*addrs)[16], size_t n)
{
	if (n > NT_RESOLVER_MAX_ADDRS)
		n = NT_RESOLVER_MAX_ADDRS;
	s->done = true;
	s->status = status;
	s->n = status == 0 ? n : 0;
	if (s->n)
		memcpy(s->addrs, addrs, s->n * 16);
}

/* ---- dispatch ---- */

static void req_release(struct nt_resolver_req *q)
{
	struct nt_resolver *r = q->r;

	for (int i = 0; i < SLOT_N; i++)
		nt_resolver_slot_detach(&q->slot[i]);
	nt_timer_cancel(r->loop, &q->pair_timer);
	list_del(&q->link);
	r->n_reqs--;
	free(q);
}

static void resolver_destroy(struct nt_resolver *r);

static void dispatch(struct nt_resolver *r)
{
	r->dispatching = true;
	list_splice(&r->done, &r->batch);
	while (!list_empty(&r->batch) && !r->free_requested) {
		struct nt_resolver_req *q = list_entry(r->batch.next, struct nt_resolver_req, link);

		if (q->status == -ETIMEDOUT)
			r->stats.timeouts++;
		else if (q->status == -ENOENT)
			r->stats.not_found++;
		else if (q->status < 0)
			r->stats.failures++;
		q->delivering = true;
		q->cb(q->arg, q->status, q->n ? q->addrs : NULL, q->n);
		req_release(q);
	}
	r->dispatching = false;
	if (r->free_requested)
		resolver_destroy(r);
}

static void wake_cb(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct nt_resolver *r = arg;
	uint64_t v;

	(void)loop;
	(void)events;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		nt_warn(MOD, "event=wake_read_failed errno=%d", errno);
	r->wake_pending = false;
	dispatch(r);
}

/* ---- public API ---- */

static int config_apply(const struct nt_resolver_config *in, struct nt_resolver_config *c)
{
	if (in)
		*c = *in;
	else
		memset(c, 0, sizeof(*c));
	if (c->n_servers > NT_RESOLVER_MAX_SERVERS || c->n_search > NT_RESOLVER_MAX_SEARCH)
		return -EINVAL;
	for (size_t i = 0; i < c->n_servers; i++) {
		if (c->servers[i].family != AF_INET && c->servers[i].family != AF_INET6)
			return -EINVAL;
	}
	for (size_t i = 0; i < c->n_search; i++) {
		char *s = c->search[i];

		if (!memchr(s, '\0', sizeof(c->search[i])) || nt_dns_name_check(s) != 0)
			return -EINVAL;
		(void)name_normalize(s, s);
	}
	if (c->tries > TRIES_MAX || c->threads > THREADS_MAX)
		return -EINVAL;
	c->timeout_ms = c->timeout_ms ? c->timeout_ms : NT_RESOLVER_TIMEOUT_MS_DEFAULT;
	c->tries = c->tries ? c->tries : NT_RESOLVER_TRIES_DEFAULT;
	c->max_inflight = c->max_inflight ? c->max_inflight : NT_RESOLVER_MAX_INFLIGHT_DEFAULT;
	c->cache_size = c->cache_size ? c->cache_size : NT_RESOLVER_CACHE_SIZE_DEFAULT;
	c->ttl_max = c->ttl_max ? c->ttl_max : NT_RESOLVER_TTL_MAX_DEFAULT;
	c->neg_ttl = c->neg_ttl ? c->neg_ttl : NT_RESOLVER_NEG_TTL_DEFAULT;
	c->threads = c->threads ? c->threads : NT_RESOLVER_THREADS_DEFAULT;
	return 0;
}

int nt_resolver_new(struct nt_loop *loop, const struct nt_resolver_config *cfg,
		    struct nt_resolver **out)
{
	struct nt_resolver *r;
	int err;

	if (!loop || !out)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	err = config_apply(cfg, &r->cfg);
	if (err)
		goto err_r;
	r->loop = loop;
	r->tunnel = r->cfg.n_servers > 0;
	list_init(&r->active);
	list_init(&r->done);
	list_init(&r->batch);
	list_init(&r->txns);
	list_init(&r->lru);
	list_init(&r->cache_free);
	if (r->tunnel) {
		err = nt_resolver_tunnel_init(r);
		if (err)
			goto err_r;
	}
	r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->wake_fd < 0) {
		err = -errno;
		goto err_tunnel;
	}
	err = nt_loop_add_fd(loop, r->wake_fd, NT_EV_READ, wake_cb, r);
	if (err)
		goto err_wake;
	if (!r->tunnel) {
		err = nt_resolver_sys_start(r);
		if (err)
			goto err_wake_fd;
	}
	nt_info(MOD, "event=up backend=%s servers=%zu search=%zu", r->tunnel ? "tunnel" : "system",
		r->cfg.n_servers, r->cfg.n_search);
	*out = r;
	return 0;

err_wake_fd:
	nt_loop_del_fd(loop, r->wake_fd);
err_wake:
	close(r->wake_fd);
err_tunnel:
	if (r->tunnel)
		nt_resolver_tunnel_fini(r);
err_r:
	free(r);
	return err;
}

static void release_all(struct list *h)
{
	while (!list_empty(h))
		req_release(list_entry(h->next, struct nt_resolver_req, link));
}

static void resolver_destroy(struct nt_resolver *r)
{
	release_all(&r->active);
	release_all(&r->done);
	release_all(&r->batch);
	if (r->tunnel)
		nt_resolver_tunnel_fini(r);
	if (r->pool)
		nt_resolver_sys_stop(r);
	nt_loop_del_fd(r->loop, r->wake_fd);
	close(r->wake_fd);
	free(r);
}

void nt_resolver_free(struct nt_resolver *r)
{
	if (!r)
		return;
	if (r->dispatching) {
		r->free_requested = true; /* dispatch() finishes the job */
		return;
	}
	resolver_destroy(r);
}

int nt_resolver_lookup(struct nt_resolver *r, const char *name, enum nt_resolver_family family,
		       nt_resolver_cb cb, void *arg, struct nt_resolver_req **out)
{
	struct nt_resolver_req *q;
	uint8_t lit[1][16] = {{0}};
	int lit_family = 0, err;
	bool absolute;

	if (!r || !name || !cb || (unsigned)family > NT_RESOLVER_V6_ONLY)
		return -EINVAL;
	if (inet_pton(AF_INET, name, lit[0]) == 1)
		lit_family = AF_INET;
	else if (inet_pton(AF_INET6, name, lit[0]) == 1)
		lit_family = AF_INET6;
	else if (nt_dns_name_check(name) != 0)
		return -EINVAL;
	if (r->n_reqs >= r->cfg.max_inflight || r->free_requested) {
		r->stats.busy++;
		return -EAGAIN;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->family = family;
	list_init(&q->link);
	nt_timer_init(&q->pair_timer, nt_resolver_pair_timer_cb, q);
	for (int i = 0; i < SLOT_N; i++) {
		q->slot[i].req = q;
		q->slot[i].wanted =
		    i == SLOT_A ? family != NT_RESOLVER_V6_ONLY : family != NT_RESOLVER_V4_ONLY;
	}

	if (lit_family) {
		int hit = lit_family == AF_INET ? SLOT_A : SLOT_AAAA;

		for (int i = 0; i < SLOT_N; i++)
			nt_resolver_slot_set(&q->slot[i], i == hit ? 0 : -ENOENT, lit, 1);
		list_add_tail(&r->active, &q->link);
		r->n_reqs++;
		r->stats.lookups++;
		r->stats.literals++;
		nt_resolver_req_finish(q, 0);
		goto out;
	}

	absolute = name_normalize(q->name, name);
	if (!r->tunnel) {
		err = nt_resolver_sys_submit(r, q, absolute);
		if (err) {
			r->stats.busy++;
			free(q);
			return err;
		}
		list_add_tail(&r->active, &q->link);
		r->n_reqs++;
		r->stats.lookups++;
		goto out;
	}
	q->n_cand = absolute || strchr(q->name, '.') ? 1 : (unsigned)r->cfg.n_search + 1;
	list_add_tail(&r->active, &q->link);
	r->n_reqs++;
	r->stats.lookups++;
	nt_resolver_tunnel_start(q);
out:
	if (out)
		*out = q;
	return 0;
}

void nt_resolver_cancel(struct nt_resolver_req *q)
{
	if (!q || q->delivering)
		return;
	req_release(q);
}

void nt_resolver_get_stats(const struct nt_resolver *r, struct nt_resolver_stats *out)
{
	*out = r->stats;
	if (r->pool)
		out->results_dropped = nt_resolver_sys_dropped(r);
}
