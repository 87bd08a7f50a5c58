// SPDX-License-Identifier: MIT
/* The same key in two processes, from endpoint returns (flap.h). */
#include "core/wg/flap.h"

#include <string.h>

#include "core/wg/peer.h"

void wg_flap_init(struct wg_flap *f)
{
	memset(f, 0, sizeof(*f));
}

static bool addr_set(union wg_flap_addr *a, const struct sockaddr_storage *ss)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET)
		memcpy(&a->in, ss, sizeof(a->in));
	else if (ss->ss_family == AF_INET6)
		memcpy(&a->in6, ss, sizeof(a->in6));
	else
		return false;
	return true;
}

bool wg_flap_feed(struct wg_flap *f, const struct sockaddr_storage *ep, uint64_t now_ns)
{
	union wg_flap_addr e, old;

	if (!addr_set(&e, ep) || wg_endpoint_equal(&e.sa, &f->cur.sa))
		return false;
	old = f->cur;
	f->cur = e;
	if (!wg_endpoint_equal(&e.sa, &f->prev.sa)) {
		/* A roam to an address not seen just before. */
		f->prev = old;
		f->returns = 0;
		return false;
	}
	f->prev = old;
	if (f->episode && now_ns - f->last_return_ns >= WG_FLAP_QUIET_NS) {
		f->episode = false;
		f->returns = 0;
	}
	f->last_return_ns = now_ns;
	if (f->episode || (f->returns && now_ns - f->counted_ns < WG_FLAP_MERGE_NS))
		return false;
	if (!f->returns || now_ns - f->window_ns >= WG_FLAP_WINDOW_NS) {
		f->returns = 0;
		f->window_ns = now_ns;
	}
	f->returns++;
	f->counted_ns = now_ns;
	if (f->returns < WG_FLAP_RETURNS)
		return false;
	f->episode = true;
	return true;
}

static void addr_get(const union wg_flap_addr *a, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (a->sa.sa_family == AF_INET)
		memcpy(out, &a->in, sizeof(a->in));
	else if (a->sa.sa_family == AF_INET6)
		memcpy(out, &a->in6, sizeof(a->in6));
}

void wg_flap_pair(const struct wg_flap *f, struct sockaddr_storage *a, struct sockaddr_storage *b)
{
	addr_get(&f->cur, a);
	addr_get(&f->prev, b);
}
