// SPDX-License-Identifier: MIT
/* The WireGuard device: set-up, peers and accessors. The paths live in
 * tunnel_tx.c (send, output queue, timers) and tunnel_rx.c (receive).
 * Map of the per-peer flow (I = initiator, R = responder):
 *
 *   I: no session + data   -> stage, initiation (timers allow: REKEY_TIMEOUT apart)
 *   R: initiation          -> response, keys into next (not yet usable to send)
 *   I: response            -> keys into current, flush staged (or a keepalive)
 *   R: first data on next  -> next becomes current, flush staged
 *   either: cookie reply   -> remembered; the retransmission carries mac2
 *   timers                 -> retransmit, keepalives, rekey, give up, zero keys
 */
#include "core/tunnel/tunnel_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "platform/clock.h"
#include "platform/log.h"
#include "platform/random.h"
#include "platform/sockaddr.h"

#define MOD "tunnel"

#define SOCK_BUF_BYTES (4 * 1024 * 1024)
/* A peer costs at most four indexes: a handshake and three keypairs. */
#define INDEXES_PER_PEER 4

static uint32_t timers_rand(void *ctx, uint32_t bound)
{
	(void)ctx;
	return nt_random_u32_uniform(bound);
}

void nt_tunnel_emit(struct nt_tunnel *t, struct nt_tunnel_peer *tp, enum nt_tunnel_peer_event ev)
{
	if (t->ops.peer_event)
		t->ops.peer_event(t->ops.arg, &tp->wg, ev);
}

/* ---- set-up ---- */

void nt_tunnel_config_init(struct nt_tunnel_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->under_load_threshold = NT_TUNNEL_UNDER_LOAD_DEFAULT;
	cfg->max_peers = NT_TUNNEL_MAX_PEERS_DEFAULT;
	cfg->txq_max = NT_TUNNEL_TXQ_DEFAULT;
	cfg->mtu = NT_TUNNEL_MTU_DEFAULT;
}

/* Kernels before 4.18 (UDP_SEGMENT) and 5.0 (UDP_GRO) refuse the options:
 * then one datagram per message, as before. A path that refuses segmented
 * sends later turns gso off again (tunnel_tx.c). */
static void offload_probe(struct nt_tunnel *t, int fd)
{
	int one = 1, size = 0;
	socklen_t len = sizeof(size);

	t->gso = getsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, &len) == 0;
	t->gro = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
	nt_debug(MOD, "event=udp_offload gso=%d gro=%d", t->gso, t->gro);
}

static int open_socket(struct nt_tunnel *t, const struct nt_tunnel_config *cfg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, zero = 0, size = SOCK_BUF_BYTES, ret;
	char why[160];

	memset(&ss, 0, sizeof(ss));
	if (cfg->listen_addr) {
		if ((cfg->listen_addr->sa_family == AF_INET &&
		     cfg->listen_addr_len >= (socklen_t)sizeof(struct sockaddr_in)) ||
		    (cfg->listen_addr->sa_family == AF_INET6 &&
		     cfg->listen_addr_len >= (socklen_t)sizeof(struct sockaddr_in6)))
			len = cfg->listen_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
								     : sizeof(struct sockaddr_in6);
		else
			return -EINVAL;
		memcpy(&ss, cfg->listen_addr, len);
	} else {
		struct sockaddr_in6 *s6 = (void *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons(cfg->listen_port);
		len = sizeof(*s6);
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && errno == EAFNOSUPPORT && !cfg->listen_addr) {
		/* No IPv6 on this host: IPv4 only. */
		struct sockaddr_in *s4 = (void *)&ss;

		memset(&ss, 0, sizeof(ss));
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
		s4->sin_port = htons(cfg->listen_port);
		len = sizeof(*s4);
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return -errno;
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	/* Best effort: bursts of a fast tunnel outgrow the defaults. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		goto err_close;
	if (!cfg->no_offload)
		offload_probe(t, fd);
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		goto err_close;
	t->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						: ((struct sockaddr_in6 *)&ss)->sin6_port);
	t->family = ss.ss_family;
	t->fd = fd;
	return 0;

err_close:
	ret = -errno;
	close(fd);
	nt_error(MOD, "event=bind_failed err=\"%s\"",
		 nt_bind_error_text(&ss, "UDP", -ret, why, sizeof(why)));
	return ret;
}

int nt_tunnel_new(struct nt_loop *loop, const struct nt_tunnel_config *cfg,
		  const struct nt_tunnel_ops *ops, struct nt_tunnel **out)
{
	struct nt_tunnel *t;
	char pub[WG_KEY_LEN * 2];
	int ret;

	if (!loop || !cfg || !ops || !ops->deliver || !out || !cfg->max_peers || !cfg->txq_max)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->loop = loop;
	t->ops = *ops;
	t->fd = -1;
	t->mtu = cfg->mtu;
	t->max_peers = cfg->max_peers;
	t->load_threshold = cfg->under_load_threshold;
	t->stage_supersedes = cfg->stage_supersedes;
	t->send_hook = cfg->send_hook;
	t->send_hook_arg = cfg->send_hook_arg;
	if (cfg->timers)
		t->tparams = *cfg->timers;
	else
		wg_timers_params_default(&t->tparams);
	ret = wg_noise_static_init(&t->local, cfg->private_key);
	if (ret)
		goto err_free;
	wg_cookie_checker_init(&t->checker, t->local.public_key);
	t->up = (struct wg_noise_upcalls){.arg = t,
					  .peer_by_static = nt_tunnel_up_peer_by_static,
					  .handshake_by_index = nt_tunnel_up_handshake_by_index};
	ret = wg_index_new(&t->index, cfg->max_peers * INDEXES_PER_PEER);
	if (ret)
		goto err_static;
	wg_allowedips_init(&t->aips, 0);
	ret = -ENOMEM;
	/* Mapped, not malloc'd: nt_tunnel_trim gives its pages back. */
	t->rx_bufs = mmap(NULL, NT_TUNNEL_RX_BUFS_BYTES, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->rx_bufs == MAP_FAILED)
		goto err_index;
	t->txq = calloc(cfg->txq_max, sizeof(*t->txq));
	if (!t->txq)
		goto err_rx;
	t->txq_cap = cfg->txq_max;
	ret = open_socket(t, cfg);
	if (ret)
		goto err_txq;
	ret = nt_loop_add_fd(loop, t->fd, NT_EV_READ, nt_tunnel_on_socket, t);
	if (ret)
		goto err_sock;
	nt_timer_init(&t->flush_timer, nt_tunnel_flush_timer_cb, t);
	sodium_bin2base64(pub, sizeof(pub), t->local.public_key, WG_KEY_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
	nt_info(MOD, "event=listening port=%u family=%s id=%.8s", t->port,
		t->family == AF_INET6 ? "dual" : "ipv4", pub);
	*out = t;
	return 0;

err_sock:
	close(t->fd);
err_txq:
	free(t->txq);
err_rx:
	munmap(t->rx_bufs, NT_TUNNEL_RX_BUFS_BYTES);
err_index:
	wg_allowedips_clear(&t->aips);
	wg_index_free(t->index);
err_static:
	wg_cookie_checker_clear(&t->checker);
err_free:
	wg_noise_static_clear(&t->local);
	free(t);
	return ret;
}

static void peer_destroy(struct nt_tunnel *t, struct nt_tunnel_peer *tp)
{
	nt_timer_cancel(t->loop, &tp->timer);
	wg_allowedips_remove_owner(&t->aips, &tp->wg);
	wg_peer_uninit(&tp->wg);
	sodium_memzero(tp, sizeof(*tp));
	free(tp);
}

void nt_tunnel_free(struct nt_tunnel *t)
{
	if (!t)
		return;
	nt_tunnel_tx_drain(t);
	while (t->peers) {
		struct nt_tunnel_peer *tp = t->peers;

		t->peers = tp->next_peer;
		peer_destroy(t, tp);
	}
	nt_timer_cancel(t->loop, &t->flush_timer);
	nt_loop_del_fd(t->loop, t->fd);
	close(t->fd);
	for (size_t i = 0; i < t->txq_cap; i++)
		free(t->txq[i].buf);
	free(t->txq);
	munmap(t->rx_bufs, NT_TUNNEL_RX_BUFS_BYTES);
	wg_allowedips_clear(&t->aips);
	wg_index_free(t->index);
	wg_cookie_checker_clear(&t->checker);
	wg_noise_static_clear(&t->local);
	free(t);
}

uint16_t nt_tunnel_port(const struct nt_tunnel *t)
{
	return t->port;
}

void nt_tunnel_public_key(const struct nt_tunnel *t, uint8_t out[32])
{
	memcpy(out, t->local.public_key, WG_KEY_LEN);
}

int nt_tunnel_add_peer(struct nt_tunnel *t, const struct nt_tunnel_peer_config *cfg,
		       struct wg_peer **out)
{
	struct nt_tunnel_peer *tp;
	uint64_t now = nt_clock_mono_ns();
	int ret;

	if (!cfg || (cfg->allowed_ips_count && !cfg->allowed_ips))
		return -EINVAL;
	if (sodium_memcmp(cfg->public_key, t->local.public_key, WG_KEY_LEN) == 0)
		return -EINVAL;
	for (struct nt_tunnel_peer *o = t->peers; o; o = o->next_peer)
		if (sodium_memcmp(o->wg.hs.remote_static, cfg->public_key, WG_KEY_LEN) == 0)
			return -EEXIST;
	if (t->npeers >= t->max_peers)
		return -ENOSPC;
	tp = calloc(1, sizeof(*tp));
	if (!tp)
		return -ENOMEM;
	ret = wg_peer_init(&tp->wg, &t->local, cfg->public_key, cfg->psk, t->index, &t->tparams,
			   timers_rand, NULL);
	if (ret)
		goto err_free;
	tp->tun = t;
	tp->user = cfg->user;
	nt_timer_init(&tp->timer, nt_tunnel_peer_timer_cb, tp);
	if (cfg->endpoint && !wg_peer_set_endpoint(&tp->wg, cfg->endpoint, cfg->endpoint_len)) {
		ret = -EINVAL;
		goto err_peer;
	}
	for (size_t i = 0; i < cfg->allowed_ips_count; i++) {
		ret = wg_allowedips_insert(&t->aips, &cfg->allowed_ips[i], &tp->wg);
		if (ret)
			goto err_aips;
	}
	tp->next_peer = t->peers;
	t->peers = tp;
	t->npeers++;
	if (cfg->persistent_keepalive_s) {
		wg_timers_set_persistent_keepalive(&tp->wg.timers, now,
						   cfg->persistent_keepalive_s);
		nt_tunnel_peer_timer_sync(tp);
	}
	nt_info(MOD, "event=peer_added peer=%s allowed_ips=%zu", tp->wg.short_id,
		cfg->allowed_ips_count);
	if (out)
		*out = &tp->wg;
	return 0;

err_aips:
	wg_allowedips_remove_owner(&t->aips, &tp->wg);
err_peer:
	wg_peer_uninit(&tp->wg);
err_free:
	free(tp);
	return ret;
}

void nt_tunnel_remove_peer(struct nt_tunnel *t, struct wg_peer *peer)
{
	struct nt_tunnel_peer *tp = tp_of(peer);

	for (struct nt_tunnel_peer **pp = &t->peers; *pp; pp = &(*pp)->next_peer) {
		if (*pp == tp) {
			*pp = tp->next_peer;
			t->npeers--;
			peer_destroy(t, tp);
			return;
		}
	}
}

int nt_tunnel_update_peer(struct nt_tunnel *t, struct wg_peer *peer,
			  const struct nt_tunnel_peer_config *cfg)
{
	struct nt_tunnel_peer *tp = tp_of(peer);
	int ret = 0;

	if (cfg->allowed_ips_count && !cfg->allowed_ips)
		return -EINVAL;
	if (cfg->endpoint && !wg_peer_set_endpoint(peer, cfg->endpoint, cfg->endpoint_len))
		return -EINVAL;
	tp->user = cfg->user;
	wg_noise_handshake_set_psk(&peer->hs, cfg->psk);
	wg_allowedips_remove_owner(&t->aips, peer);
	for (size_t i = 0; i < cfg->allowed_ips_count && ret == 0; i++)
		ret = wg_allowedips_insert(&t->aips, &cfg->allowed_ips[i], peer);
	wg_timers_set_persistent_keepalive(&peer->timers, nt_clock_mono_ns(),
					   cfg->persistent_keepalive_s);
	nt_tunnel_peer_timer_sync(tp);
	nt_info(MOD, "event=peer_updated peer=%s allowed_ips=%zu keepalive=%u", peer->short_id,
		cfg->allowed_ips_count, cfg->persistent_keepalive_s);
	return ret;
}

void nt_tunnel_peer_set_user(struct wg_peer *peer, void *user)
{
	tp_of(peer)->user = user;
}

int nt_tunnel_peer_set_endpoint(struct nt_tunnel *t, struct wg_peer *peer,
				const struct sockaddr *sa, socklen_t len)
{
	(void)t;
	if (!sa || !((sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) ||
		     (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6))))
		return -EINVAL;
	wg_peer_set_endpoint(peer, sa, len);
	return 0;
}

int nt_tunnel_peer_allow(struct nt_tunnel *t, struct wg_peer *peer, const struct wg_cidr *cidr)
{
	return wg_allowedips_insert(&t->aips, cidr, peer);
}

int nt_tunnel_disallow(struct nt_tunnel *t, const struct wg_cidr *cidr)
{
	return wg_allowedips_remove(&t->aips, cidr);
}

struct wg_peer *nt_tunnel_peer_for_dst(const struct nt_tunnel *t, int family, const void *addr)
{
	return wg_allowedips_lookup(&t->aips, family, addr);
}

void nt_tunnel_counters(const struct nt_tunnel *t, struct nt_tunnel_counters *out)
{
	*out = t->c;
}

const struct wg_peer_counters *nt_tunnel_peer_counters(const struct wg_peer *peer)
{
	return &peer->counters;
}

void *nt_tunnel_peer_user(const struct wg_peer *peer)
{
	return tp_of_const(peer)->user;
}

const char *nt_tunnel_peer_id(const struct wg_peer *peer)
{
	return peer->short_id;
}

bool nt_tunnel_peer_endpoint(const struct wg_peer *peer, struct sockaddr_storage *out)
{
	if (!wg_peer_has_endpoint(peer))
		return false;
	*out = peer->endpoint;
	return true;
}

bool nt_tunnel_peer_has_session(const struct wg_peer *peer)
{
	return wg_peer_send_keypair(peer, nt_clock_mono_ns()) != NULL;
}

void nt_tunnel_peer_info(const struct wg_peer *peer, struct nt_tunnel_peer_info *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->public_key, peer->hs.remote_static, sizeof(out->public_key));
	if (!nt_tunnel_peer_endpoint(peer, &out->endpoint))
		out->endpoint.ss_family = AF_UNSPEC;
	out->has_session = nt_tunnel_peer_has_session(peer);
	out->last_handshake_ns = peer->timers.last_handshake_ns;
	out->staged = wg_peer_staged_count(peer);
	out->c = peer->counters;
}
