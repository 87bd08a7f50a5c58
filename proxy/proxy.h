/* SPDX-License-Identifier: MIT */
/* The proxy front: TCP listeners on which applications speak SOCKS5 or
 * HTTP, one port for both, told apart by the first byte.
 *
 *   accept -> over max_clients? close at once (counted)
 *          -> first byte: 0x05 SOCKS5 state machine (socks5_conn.c)
 *                         0x04 SOCKS4: refused with a SOCKS4 reject, closed
 *                         'A'..'Z' HTTP/1.1 proxy (http_conn.c)
 *                         else garbage: closed
 *   A client that has not finished negotiating handshake_timeout_ms after
 *   its accept is closed. Connected clients go to netstack/splice.
 *
 * Single-threaded: everything runs on the loop's thread.
 */
#ifndef NT_PROXY_PROXY_H
#define NT_PROXY_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/engine/engine.h"

struct nt_loop;
struct nt_proxy;

#define NT_PROXY_MAX_LISTEN		      64
#define NT_PROXY_MAX_CLIENTS_DEFAULT	      4096
#define NT_PROXY_HANDSHAKE_TIMEOUT_MS_DEFAULT 10000
#define NT_PROXY_CREDENTIAL_MAX		      255 /* RFC 1929 */

struct nt_proxy_config {
	/* AF_INET or AF_INET6 addresses with their port (0: ephemeral, see
	 * nt_proxy_bound_port). An IPv6 listener takes IPv6 clients only. */
	const struct sockaddr_storage *listen;
	size_t listen_count; /* 1..NT_PROXY_MAX_LISTEN */
	/* Both set: SOCKS5 clients must authenticate (RFC 1929). Both NULL:
	 * no authentication. 1..255 bytes each. Copied. */
	const char *username;
	const char *password;
	/* Clients at once: negotiating, waiting for the engine, holding a
	 * UDP association, or connected (the splice's active count). */
	size_t max_clients;
	uint32_t handshake_timeout_ms;
};

struct nt_proxy_counters {
	uint64_t accepted;
	uint64_t active;	/* gauge: clients held now (see max_clients) */
	uint64_t rejected_full; /* closed at accept: max_clients reached */
	uint64_t accept_errors; /* accept() failed (EMFILE and the like) */
	uint64_t rejected_no_fd; /* accepted on the reserve descriptor and closed: EMFILE */
	uint64_t socks4_refused;
	uint64_t garbage;	     /* a first byte that is no protocol we speak */
	uint64_t handshake_timeouts; /* closed: negotiation not done in time */
	uint64_t closed_early;	     /* the client left before its reply */
	uint64_t no_acceptable_method;
	uint64_t auth_failed;	   /* wrong credentials or a malformed auth message */
	uint64_t malformed;	   /* greeting or request refused as malformed */
	uint64_t cmd_unsupported;  /* BIND and unknown commands: 0x07 */
	uint64_t atyp_unsupported; /* 0x08 */
	uint64_t connect_ok;
	uint64_t connect_failed[NT_FAIL_COUNT]; /* by enum nt_fail */
	uint64_t engine_canceled; /* requests canceled because the client left */
	uint64_t splice_failed;	  /* connected, but the splice could not start */
	uint64_t udp_associations;
	uint64_t udp_active;	      /* gauge */
	uint64_t udp_rx, udp_tx;      /* datagrams client -> engine, engine -> client */
	uint64_t udp_frag_dropped;    /* FRAG != 0: not reassembled */
	uint64_t udp_foreign_dropped; /* from an address that is not the client's */
	uint64_t udp_foreign_owner;   /* a first datagram from another user's socket */
	uint64_t udp_malformed;	      /* bad header */
	uint64_t udp_send_failed;     /* the engine refused the datagram */
	uint64_t udp_tx_dropped;      /* could not be sent to the client */
};

/* Defaults: no listener, no credentials, the limits above. */
void nt_proxy_config_init(struct nt_proxy_config *cfg);

/* Binds and listens on every address. 0, -EINVAL (bad config), -ENOMEM, or
 * the socket's error (-EADDRINUSE, -EACCES, ...; logged with the address). */
int nt_proxy_new(struct nt_loop *loop, struct nt_engine *engine, const struct nt_proxy_config *cfg,
		 struct nt_proxy **out);
/* Closes the listeners and every client the proxy still holds (pending
 * engine requests are canceled). Spliced connections are not the proxy's. */
void nt_proxy_free(struct nt_proxy *p);
/* The port listener index is bound to (host order); 0 for a bad index. */
uint16_t nt_proxy_bound_port(const struct nt_proxy *p, size_t index);
/* The address listener index is bound to, with its port; NULL for a bad
 * index. */
const struct sockaddr_storage *nt_proxy_bound_addr(const struct nt_proxy *p, size_t index);
void nt_proxy_counters(const struct nt_proxy *p, struct nt_proxy_counters *out);
/* New credentials (both, or both NULL: none), copied, for the clients that
 * negotiate from now on (a configuration reload). 0, or -EINVAL or
 * -ENOMEM with nothing changed. */
int nt_proxy_set_credentials(struct nt_proxy *p, const char *username, const char *password);

#endif
