/* SPDX-License-Identifier: MIT */
/* Private to proxy/: what the listener (proxy.c), the SOCKS5 state machine
 * (socks5_conn.c) and the UDP relay (socks5_udp.c) share. Not for callers of
 * the proxy: they use proxy/proxy.h.
 */
#ifndef NT_PROXY_SOCKS5_CONN_H
#define NT_PROXY_SOCKS5_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/engine/engine.h"
#include "proxy/proxy.h"

/* Every client the proxy holds is on its list: that is what max_clients
 * counts and what nt_proxy_free() closes. */
struct nt_proxy_client {
	struct nt_proxy_client *prev, *next;
	/* Frees the client and all it holds (it calls nt_proxy_client_remove). */
	void (*destroy)(struct nt_proxy_client *c);
};

/* ---- proxy.c ---- */
struct nt_loop *nt_proxy_loop(const struct nt_proxy *p);
struct nt_engine *nt_proxy_engine(const struct nt_proxy *p);
struct nt_proxy_counters *nt_proxy_stats(struct nt_proxy *p);
uint64_t nt_proxy_handshake_timeout_ns(const struct nt_proxy *p);
/* Both NULL when no authentication is configured. */
const char *nt_proxy_username(const struct nt_proxy *p);
const char *nt_proxy_password(const struct nt_proxy *p);
void nt_proxy_client_add(struct nt_proxy *p, struct nt_proxy_client *c);
void nt_proxy_client_remove(struct nt_proxy *p, struct nt_proxy_client *c);
/* One receive buffer for every UDP relay of the proxy (single-threaded). */
uint8_t *nt_proxy_udp_buffer(struct nt_proxy *p, size_t *len);
/* Closes a client socket after a last reply without losing that reply to an
 * RST: what the client sent and we did not read is read and dropped first. */
void nt_proxy_close_gently(int fd);
/* A connection from the engine that no client will get: aborted or closed. */
void nt_proxy_release_result(const struct nt_open_result *res);

/* ---- socks5_conn.c ---- */
/* Takes fd, whose unread first byte is 0x05, and runs the negotiation until
 * deadline_ns (CLOCK_MONOTONIC). fd may be watched by the proxy's loop: the
 * registration is taken over (nt_loop_take_fd). Reads at once: the client
 * may be closed before this returns. Closes fd when it fails (-ENOMEM, ...). */
int nt_socks5_conn_start(struct nt_proxy *p, int fd, uint64_t deadline_ns);

/* ---- socks5_udp.c ---- */
struct nt_socks5_udp;

/* A relay for the client on control_fd: a UDP socket on the local address
 * that connection reached, port 0, taking datagrams from the client's IP
 * only, and from hint's port when it is not 0 (otherwise the first valid
 * datagram from a socket of the control connection's owner fixes the port).
 * bound is the relay's address, for the reply. */
int nt_socks5_udp_open(struct nt_proxy *p, int control_fd, const struct nt_target *hint,
		       struct nt_socks5_udp **out, struct sockaddr_storage *bound,
		       socklen_t *bound_len);
void nt_socks5_udp_close(struct nt_socks5_udp *u);

#endif
