// SPDX-License-Identifier: MIT
/* Listeners and the first byte. Map of a fresh connection:
 *
 *   accept --(held + spliced >= max_clients)--> closed at once (rejected_full)
 *     \--> SNIFF: wait for the first byte (peeked, left in the socket)
 *            0x05      -> socks5_conn.c takes the socket
 *            0x04      -> SOCKS4 reject (0x5b), closed
 *            'A'..'Z'  -> http_conn.c takes the socket
 *            other     -> closed (garbage)
 *            EOF/error -> closed (closed_early)
 *   timer: the handshake deadline, set at accept, carried on to the SOCKS5
 *   and HTTP state machines; a client still sniffing then is closed.
 *
 * Out of descriptors (EMFILE, ENFILE), a reserve descriptor held for the
 * purpose is closed to accept one client, which is refused at once (an HTTP
 * client whose request is already there gets a 503, any other is closed),
 * and the reserve is opened again: clients learn at once instead of waiting
 * in the backlog for a descriptor. Without the reserve, or out of memory,
 * the listeners rest for ACCEPT_PAUSE_MS: level-triggered readiness would
 * otherwise spin. Either is logged at most once per ACCEPT_LOG_MS, with the
 * count since the last line.
 */
#include "proxy/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netstack/flow.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "platform/sockaddr.h"
#include "proxy/http_conn.h"
#include "proxy/http_parse.h"
#include "proxy/socks5.h"
#include "proxy/socks5_conn.h"
#include "netstack/splice.h"

#define MOD "proxy"

#define ACCEPT_BATCH	64
#define ACCEPT_PAUSE_MS 100
#define ACCEPT_LOG_MS	10000
#define UDP_BUF_LEN	65536
#define DRAIN_MAX	4096 /* bytes read and dropped before a last reply */

/* SOCKS4: VN 0, CD 91 "request rejected or failed". */
static const uint8_t socks4_reject[8] = {0x00, 0x5b};

struct listener {
	struct nt_proxy *p;
	int fd;
	uint16_t port;
	struct sockaddr_storage bound;
};

struct sniff {
	struct nt_proxy_client link; /* first: the list holds &link */
	struct nt_proxy *p;
	int fd;
	uint64_t deadline_ns;
	struct nt_timer timer;
};

struct nt_proxy {
	struct nt_loop *loop;
	struct nt_engine *engine;
	struct listener *listeners;
	size_t nlisteners;
	char *username, *password;
	size_t max_clients;
	uint64_t handshake_ns;
	struct nt_proxy_client clients; /* list head */
	struct nt_timer accept_pause;
	int reserve_fd; /* /dev/null, given up to refuse a client at EMFILE */
	struct nt_timer shed_log;
	uint64_t shed_unlogged, pauses_unlogged; /* since the last log line */
	uint8_t *udp_buf;
	struct nt_proxy_counters c;
	struct nt_http_proxy http;
};

/* ---- shared with socks5_conn.c and socks5_udp.c ---- */

struct nt_loop *nt_proxy_loop(const struct nt_proxy *p)
{
	return p->loop;
}

struct nt_engine *nt_proxy_engine(const struct nt_proxy *p)
{
	return p->engine;
}

struct nt_proxy_counters *nt_proxy_stats(struct nt_proxy *p)
{
	return &p->c;
}

struct nt_http_proxy *nt_proxy_http(struct nt_proxy *p)
{
	return &p->http;
}

uint64_t nt_proxy_handshake_timeout_ns(const struct nt_proxy *p)
{
	return p->handshake_ns;
}

const char *nt_proxy_username(const struct nt_proxy *p)
{
	return p->username;
}

const char *nt_proxy_password(const struct nt_proxy *p)
{
	return p->password;
}

void nt_proxy_client_add(struct nt_proxy *p, struct nt_proxy_client *c)
{
	c->next = p->clients.next;
	c->prev = &p->clients;
	p->clients.next->prev = c;
	p->clients.next = c;
	p->c.active++;
}

void nt_proxy_client_remove(struct nt_proxy *p, struct nt_proxy_client *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
	c->prev = c->next = NULL;
	p->c.active--;
}

uint8_t *nt_proxy_udp_buffer(struct nt_proxy *p, size_t *len)
{
	*len = UDP_BUF_LEN;
	return p->udp_buf;
}

void nt_proxy_close_gently(int fd)
{
	uint8_t scratch[512];
	size_t total = 0;
	ssize_t n;

	while (total < DRAIN_MAX) {
		n = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	close(fd);
}

void nt_proxy_release_result(const struct nt_open_result *res)
{
	if (res->flow)
		nt_flow_abort(res->flow);
	else if (res->fd >= 0)
		close(res->fd);
}

/* ---- sniffing the first byte ---- */

/* close_fd false: the socket and its registration with the loop pass to
 * the next owner (or to a last reply, then nt_proxy_close_gently). No dup of
 * a client socket exists, so closing it is enough to leave the epoll set. */
static void sniff_free(struct sniff *s, bool close_fd)
{
	nt_timer_cancel(s->p->loop, &s->timer);
	if (close_fd) {
		nt_loop_forget_fd(s->p->loop, s->fd);
		close(s->fd);
	}
	nt_proxy_client_remove(s->p, &s->link);
	free(s);
}

static void sniff_destroy(struct nt_proxy_client *c)
{
	sniff_free((struct sniff *)c, true);
}

/* A last answer on a socket we are about to close; a short send is not
 * worth waiting for: the client gets what fits. */
static void refuse(struct sniff *s, const void *msg, size_t len)
{
	int fd = s->fd;

	nt_loop_forget_fd(s->p->loop, fd);
	sniff_free(s, false);
	if (len)
		(void)send(fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	nt_proxy_close_gently(fd);
}

static void on_sniff(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sniff *s = arg;
	struct nt_proxy *p = s->p;
	uint64_t deadline = s->deadline_ns;
	uint8_t b;
	ssize_t n;

	(void)loop;
	(void)events;
	n = recv(fd, &b, 1, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		p->c.closed_early++;
		sniff_free(s, true);
		return;
	}
	if (b == NT_SOCKS5_VERSION) {
		sniff_free(s, false);
		(void)nt_socks5_conn_start(p, fd, deadline);
	} else if (b == 0x04) {
		p->c.socks4_refused++;
		nt_debug(MOD, "event=socks4_refused");
		refuse(s, socks4_reject, sizeof(socks4_reject));
	} else if (b >= 'A' && b <= 'Z') {
		sniff_free(s, false);
		(void)nt_http_conn_start(p, fd, deadline);
	} else {
		p->c.garbage++;
		nt_debug(MOD, "event=garbage first_byte=0x%02x", b);
		refuse(s, NULL, 0);
	}
}

static void on_sniff_timeout(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	struct sniff *s = arg;

	(void)loop;
	(void)timer;
	s->p->c.handshake_timeouts++;
	nt_debug(MOD, "event=handshake_timeout stage=sniff");
	sniff_free(s, true);
}

static void sniff_start(struct nt_proxy *p, int fd)
{
	struct sniff *s = calloc(1, sizeof(*s));
	int one = 1;

	if (!s) {
		close(fd);
		return;
	}
	s->p = p;
	s->fd = fd;
	s->deadline_ns = nt_loop_now(p->loop) + p->handshake_ns;
	nt_timer_init(&s->timer, on_sniff_timeout, s);
	/* Replies are small and come one per round trip: do not hold them. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (nt_loop_add_fd(p->loop, fd, NT_EV_READ, on_sniff, s) < 0)
		goto err_free;
	if (nt_timer_arm_at(p->loop, &s->timer, s->deadline_ns) < 0)
		goto err_del;
	s->link.destroy = sniff_destroy;
	nt_proxy_client_add(p, &s->link);
	return;

err_del:
	nt_loop_del_fd(p->loop, fd);
err_free:
	free(s);
	close(fd);
}

/* ---- listeners ---- */

static void listeners_set(struct nt_proxy *p, uint32_t events)
{
	size_t i;

	for (i = 0; i < p->nlisteners; i++)
		nt_loop_mod_fd(p->loop, p->listeners[i].fd, events);
}

static void reserve_open(struct nt_proxy *p)
{
	if (p->reserve_fd < 0)
		p->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void on_accept_resume(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	(void)loop;
	(void)timer;
	reserve_open(arg);
	listeners_set(arg, NT_EV_READ);
}

/* What was refused or paused since the last line; re-armed while there is
 * something to tell, so a burst gives one line now and one per interval. */
static void shed_log_flush(struct nt_proxy *p)
{
	if (!p->shed_unlogged && !p->pauses_unlogged)
		return;
	nt_warn(MOD,
		"event=clients_refused reason=\"out of descriptors or memory\" refused=%" PRIu64
		" accept_pauses=%" PRIu64 " interval_ms=%d",
		p->shed_unlogged, p->pauses_unlogged, ACCEPT_LOG_MS);
	p->shed_unlogged = p->pauses_unlogged = 0;
	nt_timer_arm(p->loop, &p->shed_log, ACCEPT_LOG_MS * NT_NS_PER_MS);
}

static void on_shed_log(struct nt_loop *loop, struct nt_timer *timer, void *arg)
{
	(void)loop;
	(void)timer;
	shed_log_flush(arg);
}

static void shed_note(struct nt_proxy *p)
{
	if (!nt_timer_armed(&p->shed_log))
		shed_log_flush(p);
}

static void accept_pause(struct nt_proxy *p)
{
	p->pauses_unlogged++;
	shed_note(p);
	listeners_set(p, 0);
	nt_timer_arm(p->loop, &p->accept_pause, ACCEPT_PAUSE_MS * NT_NS_PER_MS);
}

/* A client accepted on the reserve's descriptor: it has sent nothing, or
 * its first bytes are already here; they are only peeked, never waited for. */
static void shed_client(struct nt_proxy *p, int fd)
{
	char msg[NT_HTTP_ERROR_MAX];
	uint8_t b;

	p->c.rejected_no_fd++;
	p->shed_unlogged++;
	if (recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1 && b >= 'A' && b <= 'Z') {
		size_t n = nt_http_build_error(msg, 503, "out of file descriptors", false);

		(void)send(fd, msg, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		nt_proxy_close_gently(fd);
	} else {
		close(fd);
	}
	shed_note(p);
}

/* errno of the accept on the reserve's descriptor, 0 when a client was
 * refused; EMFILE when there is no reserve. */
static int shed_one(struct nt_proxy *p, int lfd)
{
	int cfd, err = 0;

	if (p->reserve_fd < 0)
		return EMFILE;
	close(p->reserve_fd);
	p->reserve_fd = -1;
	cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		err = errno;
	else
		shed_client(p, cfd);
	reserve_open(p);
	return err;
}

/* Held here, and connected (spliced). */
static uint64_t clients(const struct nt_proxy *p)
{
	struct nt_splice_stats ss;

	nt_splice_get_stats(&ss);
	return p->c.active + ss.active;
}

static bool transient(int err)
{
	return err == EINTR || err == ECONNABORTED || err == EPROTO;
}

static void on_accept(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct listener *l = arg;
	struct nt_proxy *p = l->p;
	int i, cfd, err;

	(void)loop;
	(void)events;
	for (i = 0; i < ACCEPT_BATCH; i++) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			err = errno;
			if (err == EAGAIN || err == EWOULDBLOCK)
				return;
			if (transient(err))
				continue;
			p->c.accept_errors++;
			if (err == EMFILE || err == ENFILE) {
				err = shed_one(p, fd);
				if (err == 0 || transient(err))
					continue;
				if (err == EAGAIN || err == EWOULDBLOCK)
					return;
			}
			if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
				accept_pause(p);
			return;
		}
		p->c.accepted++;
		if (clients(p) >= p->max_clients) {
			p->c.rejected_full++;
			nt_debug(MOD, "event=client_rejected reason=max_clients max=%zu",
				 p->max_clients);
			close(cfd);
			continue;
		}
		sniff_start(p, cfd);
	}
}

static int listener_open(struct nt_proxy *p, struct listener *l, const struct sockaddr_storage *ss)
{
	struct sockaddr_storage *bound = &l->bound;
	socklen_t len, blen = sizeof(*bound);
	char name[INET6_ADDRSTRLEN + 16], why[160];
	int one = 1, rc;

	if (ss->ss_family == AF_INET)
		len = sizeof(struct sockaddr_in);
	else if (ss->ss_family == AF_INET6)
		len = sizeof(struct sockaddr_in6);
	else
		return -EAFNOSUPPORT;
	l->p = p;
	l->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		rc = -errno;
		goto err_log;
	}
	(void)setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* One family per listener: "0.0.0.0" and "::" can then both be listed. */
	if (ss->ss_family == AF_INET6 &&
	    setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto err_close;
	if (bind(l->fd, (const struct sockaddr *)ss, len) < 0 || listen(l->fd, SOMAXCONN) < 0 ||
	    getsockname(l->fd, (struct sockaddr *)bound, &blen) < 0)
		goto err_close;
	l->port = ntohs(bound->ss_family == AF_INET
			    ? ((const struct sockaddr_in *)(const void *)bound)->sin_port
			    : ((const struct sockaddr_in6 *)(const void *)bound)->sin6_port);
	rc = nt_loop_add_fd(p->loop, l->fd, NT_EV_READ, on_accept, l);
	if (rc < 0) {
		close(l->fd);
		l->fd = -1;
		goto err_log;
	}
	nt_info(MOD, "event=listening addr=%s", nt_sockaddr_str(bound, name, sizeof(name)));
	return 0;

err_close:
	rc = -errno;
	close(l->fd);
	l->fd = -1;
err_log:
	nt_error(MOD, "event=listen_failed addr=%s err=\"%s\"", nt_sockaddr_str(ss, name, sizeof(name)),
		 nt_bind_error_text(ss, "TCP", -rc, why, sizeof(why)));
	return rc;
}

/* ---- public ---- */

void nt_proxy_config_init(struct nt_proxy_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_clients = NT_PROXY_MAX_CLIENTS_DEFAULT;
	cfg->handshake_timeout_ms = NT_PROXY_HANDSHAKE_TIMEOUT_MS_DEFAULT;
}

static bool credential_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n >= 1 && n <= NT_PROXY_CREDENTIAL_MAX;
}

static void wipe_string(char *s)
{
	if (s) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

int nt_proxy_set_credentials(struct nt_proxy *p, const char *username, const char *password)
{
	char *u = NULL, *pw = NULL;

	if (!username != !password ||
	    (username && (!credential_ok(username) || !credential_ok(password))))
		return -EINVAL;
	if (username) {
		u = strdup(username);
		pw = strdup(password);
		if (!u || !pw) {
			wipe_string(u);
			wipe_string(pw);
			return -ENOMEM;
		}
	}
	wipe_string(p->username);
	wipe_string(p->password);
	p->username = u;
	p->password = pw;
	return 0;
}

int nt_proxy_new(struct nt_loop *loop, struct nt_engine *engine, const struct nt_proxy_config *cfg,
		 struct nt_proxy **out)
{
	struct nt_proxy *p;
	size_t i;
	int rc = -ENOMEM;

	if (!loop || !engine || !cfg || !cfg->listen || cfg->listen_count == 0 ||
	    cfg->listen_count > NT_PROXY_MAX_LISTEN || cfg->max_clients == 0 ||
	    cfg->handshake_timeout_ms == 0 || !cfg->username != !cfg->password ||
	    (cfg->username && (!credential_ok(cfg->username) || !credential_ok(cfg->password))))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->loop = loop;
	p->engine = engine;
	p->max_clients = cfg->max_clients;
	p->handshake_ns = (uint64_t)cfg->handshake_timeout_ms * NT_NS_PER_MS;
	p->clients.next = p->clients.prev = &p->clients;
	nt_http_config_init(&p->http.cfg);
	nt_timer_init(&p->accept_pause, on_accept_resume, p);
	nt_timer_init(&p->shed_log, on_shed_log, p);
	p->reserve_fd = -1;
	reserve_open(p);
	if (nt_proxy_set_credentials(p, cfg->username, cfg->password) != 0)
		goto err_creds;
	p->udp_buf = malloc(UDP_BUF_LEN);
	if (!p->udp_buf)
		goto err_creds;
	p->listeners = calloc(cfg->listen_count, sizeof(*p->listeners));
	if (!p->listeners)
		goto err_udp;
	for (i = 0; i < cfg->listen_count; i++) {
		rc = listener_open(p, &p->listeners[i], &cfg->listen[i]);
		if (rc < 0)
			goto err_listeners;
		p->nlisteners++;
	}
	*out = p;
	return 0;

err_listeners:
	for (i = 0; i < p->nlisteners; i++) {
		nt_loop_del_fd(loop, p->listeners[i].fd);
		close(p->listeners[i].fd);
	}
	free(p->listeners);
err_udp:
	free(p->udp_buf);
err_creds:
	if (p->reserve_fd >= 0)
		close(p->reserve_fd);
	wipe_string(p->username);
	wipe_string(p->password);
	free(p);
	return rc;
}

void nt_proxy_free(struct nt_proxy *p)
{
	size_t i;

	if (!p)
		return;
	nt_timer_cancel(p->loop, &p->accept_pause);
	nt_timer_cancel(p->loop, &p->shed_log);
	if (p->reserve_fd >= 0)
		close(p->reserve_fd);
	for (i = 0; i < p->nlisteners; i++) {
		nt_loop_del_fd(p->loop, p->listeners[i].fd);
		close(p->listeners[i].fd);
	}
	free(p->listeners);
	/* Bounded by the list: each destroy unlinks its client. */
	while (p->clients.next != &p->clients)
		p->clients.next->destroy(p->clients.next);
	nt_http_proxy_fini(&p->http);
	free(p->udp_buf);
	wipe_string(p->username);
	wipe_string(p->password);
	free(p);
}

uint16_t nt_proxy_bound_port(const struct nt_proxy *p, size_t index)
{
	return index < p->nlisteners ? p->listeners[index].port : 0;
}

const struct sockaddr_storage *nt_proxy_bound_addr(const struct nt_proxy *p, size_t index)
{
	return index < p->nlisteners ? &p->listeners[index].bound : NULL;
}

void nt_proxy_counters(const struct nt_proxy *p, struct nt_proxy_counters *out)
{
	*out = p->c;
}

void nt_proxy_http_counters(const struct nt_proxy *p, struct nt_http_counters *out)
{
	*out = p->http.c;
}

int nt_proxy_http_configure(struct nt_proxy *p, const struct nt_http_config *cfg)
{
	if (!nt_http_limits_valid(&cfg->limits) || cfg->idle_timeout_ms == 0 ||
	    cfg->header_timeout_ms == 0)
		return -EINVAL;
	p->http.cfg = *cfg;
	return 0;
}
