// SPDX-License-Identifier: MIT
/* notun connect [-c FILE [--own] [--control PATH]] HOST PORT: stdin and
 * stdout joined to one TCP
 * connection, for ssh's ProxyCommand (`ssh -o ProxyCommand='notun connect
 * %h %p'`), rsync and git over ssh.
 *
 * The connection comes from one of two places:
 *   without -c  the proxy in ALL_PROXY (or all_proxy), as `notun run` and
 *               `notun env` set it: socks5h://[USER:PASS@]HOST:PORT, a
 *               SOCKS5 CONNECT with the name (never resolved here), and
 *               username/password authentication when the URL has them;
 *   with -c     the proxy of a `notun up` of FILE that runs already (its
 *               control socket says where: core/cli/running.h), with
 *               FILE's credentials, as above: a second client with the
 *               same key would take the session from it. Without one,
 *               or with --own, an engine of our own, without a listener:
 *               one nt_engine_open_tcp, its stream spliced to one end of
 *               a socketpair.
 * Either way the bytes end up on a socket S, and two threads copy them with
 * blocking I/O (which serves stdin and stdout of every kind: pipes,
 * terminals, and regular files, which epoll refuses):
 *   up:   stdin -> S; stdin EOF -> shutdown(S, SHUT_WR), the remote sees EOF
 *   down: S -> stdout; EOF from the remote -> exit once stdout has it all
 * Exit: 0 on a clean close, 1 when the connection failed or broke (the
 * reason on stderr), 2 for bad arguments. The default log level (info)
 * becomes warn here, since stderr is the user's ssh session; --log-level
 * debug or trace still applies.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/cli/cli.h"
#include "core/cli/client.h"
#include "core/cli/runenv.h"
#include "core/cli/running.h"
#include "core/engine/engine.h"
#include "netstack/splice.h"
#include "platform/log.h"
#include "platform/loop.h"

#define RELAY_BUF (64 * 1024)
/* SOCKS5 negotiation with the proxy: above the longest ConnectTimeout
 * (300 s), so that the proxy's own answer always comes first. */
#define SOCKS_TIMEOUT_S 330

struct endpoint {
	const char *host; /* as given, brackets removed */
	char host_buf[NT_TARGET_NAME_MAX + 1];
	uint16_t port;
};

static int fail(const struct endpoint *ep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(const struct endpoint *ep, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "notun connect: %s:%u: ", ep->host, ep->port);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return NT_EXIT_FAIL;
}

/* ---- the relay ---- */

struct relay {
	int sock;
	int done_fd; /* eventfd written when down ends; -1: the caller joins */
	pthread_t up, down;
	bool up_started, down_started;
	/* Set by down before it ends; read after pthread_join. */
	int err;	   /* 0, or the errno that ended it */
	const char *where; /* "connection" or "stdout" */
};

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *relay_up(void *arg)
{
	struct relay *r = arg;
	uint8_t buf[RELAY_BUF];

	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, RELAY_BUF);

		if (n < 0 && errno == EINTR)
			continue;
		/* A read error on stdin ends our side like EOF: nothing more
		 * will come from it. */
		if (n <= 0)
			break;
		/* The remote stopped taking data: down tells why. */
		if (write_all(r->sock, buf, (size_t)n) != 0)
			return NULL;
	}
	shutdown(r->sock, SHUT_WR);
	return NULL;
}

static void *relay_down(void *arg)
{
	struct relay *r = arg;
	uint8_t buf[RELAY_BUF];
	const uint64_t one = 1;

	r->err = 0;
	r->where = "connection";
	for (;;) {
		ssize_t n = read(r->sock, buf, RELAY_BUF);
		int ret;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r->err = n < 0 ? errno : 0;
			break;
		}
		ret = write_all(STDOUT_FILENO, buf, (size_t)n);
		if (ret != 0) {
			r->err = -ret;
			r->where = "stdout";
			break;
		}
	}
	if (r->done_fd >= 0 && write(r->done_fd, &one, sizeof(one)) < 0)
		r->err = r->err ? r->err : errno;
	return NULL;
}

static int relay_start(struct relay *r)
{
	int err = pthread_create(&r->down, NULL, relay_down, r);

	if (err)
		return -err;
	r->down_started = true;
	err = pthread_create(&r->up, NULL, relay_up, r);
	if (err)
		return -err;
	r->up_started = true;
	return 0;
}

/* Waits for down; up may still be blocked reading stdin: it is canceled
 * (read and write are cancellation points, and it holds nothing). */
static void relay_finish(struct relay *r)
{
	if (r->down_started)
		pthread_join(r->down, NULL);
	if (r->up_started) {
		pthread_cancel(r->up);
		pthread_join(r->up, NULL);
	}
	r->down_started = r->up_started = false;
}

static int relay_result(const struct endpoint *ep, const struct relay *r)
{
	if (r->err == 0)
		return NT_EXIT_OK;
	if (strcmp(r->where, "stdout") == 0)
		return fail(ep, "cannot write to stdout: %s", strerror(r->err));
	return fail(ep, "connection broken: %s", strerror(r->err));
}

/* ---- through the proxy in ALL_PROXY ---- */

static int recv_exact(int fd, uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = recv(fd, buf, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static const char *socks5_reply_text(uint8_t rep)
{
	static const char *const text[] = {
	    [1] = "general failure at the proxy",
	    [2] = "not allowed (the proxy or the gateway refused this destination)",
	    [3] = "network unreachable",
	    [4] = "host unreachable, no answer in time, or the name does not resolve",
	    [5] = "connection refused",
	    [6] = "TTL expired",
	    [7] = "command not supported by the proxy",
	    [8] = "address type not supported by the proxy",
	};

	return rep < sizeof(text) / sizeof(text[0]) && text[rep] ? text[rep]
								 : "unknown SOCKS5 reply";
}

static int proxy_dial(const struct nt_runenv_url *u, const struct endpoint *ep, int *out)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct timeval tv = {.tv_sec = SOCKS_TIMEOUT_S};
	struct addrinfo *res, *ai;
	char port[8];
	int fd = -1, err, saved = ECONNREFUSED;

	snprintf(port, sizeof(port), "%u", u->port);
	err = getaddrinfo(u->host, port, &hints, &res);
	if (err)
		return fail(ep, "cannot resolve the proxy %s from ALL_PROXY: %s", u->host,
			    gai_strerror(err));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return fail(ep, "cannot reach the proxy %s:%u from ALL_PROXY: %s", u->host, u->port,
			    strerror(saved));
	*out = fd;
	return NT_EXIT_OK;
}

static int socks5_auth(int fd, const struct nt_runenv_url *u, const struct endpoint *ep)
{
	uint8_t msg[3 + 2 * NT_PROXY_URL_CREDENTIAL_MAX], reply[2];
	size_t ulen = strlen(u->username), plen = strlen(u->password), len = 0;
	int ret;

	if (!u->has_credentials)
		return fail(ep, "the proxy requires a username and password; ALL_PROXY has none");
	msg[len++] = 0x01;
	msg[len++] = (uint8_t)ulen;
	memcpy(msg + len, u->username, ulen);
	len += ulen;
	msg[len++] = (uint8_t)plen;
	memcpy(msg + len, u->password, plen);
	len += plen;
	ret = write_all(fd, msg, len);
	sodium_memzero(msg, sizeof(msg));
	if (ret == 0)
		ret = recv_exact(fd, reply, sizeof(reply));
	if (ret != 0)
		return fail(ep, "proxy authentication: %s", strerror(-ret));
	if (reply[1] != 0x00)
		return fail(ep, "the proxy refused the username and password from ALL_PROXY");
	return NT_EXIT_OK;
}

/* The rest of a reply after VER REP RSV ATYP: BND.ADDR and BND.PORT. */
static int socks5_skip_bound(int fd, uint8_t atyp)
{
	uint8_t buf[256 + 2];
	size_t len;
	int ret;

	if (atyp == 0x01) {
		len = 4;
	} else if (atyp == 0x04) {
		len = 16;
	} else if (atyp == 0x03) {
		ret = recv_exact(fd, buf, 1);
		if (ret != 0)
			return ret;
		len = buf[0];
	} else {
		return -EPROTO;
	}
	return recv_exact(fd, buf, len + 2);
}

static int socks5_connect(int fd, const struct nt_runenv_url *u, const struct endpoint *ep)
{
	uint8_t msg[4 + 1 + NT_TARGET_NAME_MAX + 2], reply[4];
	size_t len = 0, hlen = strlen(ep->host);
	int ret, code;

	msg[0] = 0x05;
	msg[1] = 0x01;
	msg[2] = u->has_credentials ? 0x02 : 0x00;
	ret = write_all(fd, msg, 3);
	if (ret == 0)
		ret = recv_exact(fd, reply, 2);
	if (ret != 0)
		return fail(ep, "SOCKS5 greeting to the proxy: %s", strerror(-ret));
	if (reply[0] != 0x05)
		return fail(ep, "the proxy in ALL_PROXY does not speak SOCKS5");
	if (reply[1] == 0x02) {
		code = socks5_auth(fd, u, ep);
		if (code != NT_EXIT_OK)
			return code;
	} else if (reply[1] != 0x00) {
		return fail(ep, u->has_credentials ? "the proxy does not take username/password "
						     "authentication"
						   : "the proxy requires credentials; ALL_PROXY "
						     "has none");
	}

	msg[len++] = 0x05;
	msg[len++] = 0x01; /* CONNECT */
	msg[len++] = 0x00;
	if (inet_pton(AF_INET, ep->host, msg + len + 1) == 1) {
		msg[len] = 0x01;
		len += 1 + 4;
	} else if (inet_pton(AF_INET6, ep->host, msg + len + 1) == 1) {
		msg[len] = 0x04;
		len += 1 + 16;
	} else {
		msg[len++] = 0x03;
		msg[len++] = (uint8_t)hlen;
		memcpy(msg + len, ep->host, hlen);
		len += hlen;
	}
	msg[len++] = (uint8_t)(ep->port >> 8);
	msg[len++] = (uint8_t)ep->port;
	ret = write_all(fd, msg, len);
	if (ret == 0)
		ret = recv_exact(fd, reply, sizeof(reply));
	if (ret != 0)
		return fail(ep, "SOCKS5 request to the proxy: %s", strerror(-ret));
	if (reply[1] != 0x00)
		return fail(ep, "%s (SOCKS5 reply 0x%02x)", socks5_reply_text(reply[1]), reply[1]);
	ret = socks5_skip_bound(fd, reply[3]);
	if (ret != 0)
		return fail(ep, "SOCKS5 reply from the proxy: %s", strerror(-ret));
	return NT_EXIT_OK;
}

/* u is wiped. */
static int connect_via_proxy(struct nt_runenv_url *u, const struct endpoint *ep)
{
	const struct timeval none = {0};
	struct relay r = {.done_fd = -1};
	int fd = -1, code, ret;

	/* A peer that goes away must be an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	code = proxy_dial(u, ep, &fd);
	if (code == NT_EXIT_OK)
		code = socks5_connect(fd, u, ep);
	sodium_memzero(u, sizeof(*u));
	if (code != NT_EXIT_OK)
		goto out;
	/* The negotiation's timeouts must not cut an idle session. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
	r.sock = fd;
	ret = relay_start(&r);
	if (ret != 0)
		code = fail(ep, "cannot start: %s", strerror(-ret));
	relay_finish(&r);
	if (ret == 0)
		code = relay_result(ep, &r);
out:
	if (fd >= 0)
		close(fd);
	return code;
}

/* ---- through an engine of our own ---- */

struct own {
	struct nt_loop *loop;
	const struct endpoint *ep;
	struct nt_engine_req *req;
	int pair[2]; /* [0] the splice's, [1] the relay's */
	struct relay relay;
	enum nt_fail fail;
	int error;	  /* a local failure (negative errno) */
	bool connected;	  /* the splice runs */
	bool interrupted; /* a signal came first */
};

static void on_stop_signal(struct nt_loop *loop, int signo, void *arg)
{
	struct own *o = arg;

	(void)signo;
	o->interrupted = true;
	nt_loop_stop(loop);
}

static void on_relay_done(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	uint64_t n;

	(void)events;
	(void)arg;
	if (read(fd, &n, sizeof(n)) == sizeof(n) || errno != EAGAIN)
		nt_loop_stop(loop);
}

static void on_open(void *arg, const struct nt_open_result *res)
{
	struct own *o = arg;
	int ret;

	o->req = NULL;
	if (res->fail != NT_FAIL_NONE) {
		o->fail = res->fail;
		nt_loop_stop(o->loop);
		return;
	}
	/* The splice owns pair[0] and the stream from here, in all cases. */
	if (res->flow)
		ret = nt_splice_start_flow(o->loop, o->pair[0], res->flow, NULL, 0);
	else
		ret = nt_splice_start_fd(o->loop, o->pair[0], res->fd, NULL, 0);
	o->pair[0] = -1;
	if (ret == 0)
		ret = relay_start(&o->relay);
	if (ret != 0) {
		o->error = ret;
		nt_loop_stop(o->loop);
		return;
	}
	o->connected = true;
}

static void endpoint_target(const struct endpoint *ep, struct nt_target *t)
{
	memset(t, 0, sizeof(*t));
	t->port = ep->port;
	if (inet_pton(AF_INET, ep->host, t->addr) == 1) {
		t->kind = NT_TARGET_IPV4;
	} else if (inet_pton(AF_INET6, ep->host, t->addr) == 1) {
		t->kind = NT_TARGET_IPV6;
	} else {
		t->kind = NT_TARGET_NAME;
		snprintf(t->name, sizeof(t->name), "%s", ep->host);
	}
}

/* The outcome, once the loop has stopped and the relay is joined. */
static int own_result(const struct own *o)
{
	struct nt_splice_stats st;

	if (o->fail != NT_FAIL_NONE)
		return fail(o->ep, "%s", nt_fail_text(o->fail));
	if (o->error)
		return fail(o->ep, "cannot start: %s", strerror(-o->error));
	if (!o->connected || o->interrupted)
		return fail(o->ep, "interrupted");
	/* A reset arrives over the socketpair as a plain EOF: the splice
	 * knows better. */
	nt_splice_get_stats(&st);
	if (st.closed_remote_err)
		return fail(o->ep, "connection reset by the remote end");
	return relay_result(o->ep, &o->relay);
}

static int connect_own(const char *config_path, const struct endpoint *ep)
{
	struct nt_client_options opts = {.config_path = config_path, .engine_only = true};
	struct own o = {.ep = ep, .pair = {-1, -1}, .relay = {.sock = -1, .done_fd = -1}};
	struct nt_client *client = NULL;
	struct nt_target target;
	int ret, code = NT_EXIT_FAIL;

	ret = nt_loop_new(&o.loop);
	if (ret != 0)
		return fail(ep, "cannot create the event loop: %s", strerror(-ret));
	/* Signals first: the relay threads inherit the blocked mask. */
	if (nt_loop_add_signal(o.loop, SIGINT, on_stop_signal, &o) != 0 ||
	    nt_loop_add_signal(o.loop, SIGTERM, on_stop_signal, &o) != 0 ||
	    nt_loop_add_signal(o.loop, SIGHUP, on_stop_signal, &o) != 0) {
		code = fail(ep, "cannot watch signals");
		goto out_loop;
	}
	o.relay.done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (o.relay.done_fd < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, o.pair) != 0) {
		code = fail(ep, "cannot start: %s", strerror(errno));
		goto out_fds;
	}
	o.relay.sock = o.pair[1];
	ret = nt_loop_add_fd(o.loop, o.relay.done_fd, NT_EV_READ, on_relay_done, &o);
	if (ret != 0) {
		code = fail(ep, "cannot start: %s", strerror(-ret));
		goto out_fds;
	}
	/* The splice wants its end non-blocking; the relay's stays blocking. */
	if (fcntl(o.pair[0], F_SETFL, O_NONBLOCK) != 0) {
		code = fail(ep, "cannot start: %s", strerror(errno));
		goto out_watch;
	}
	code = nt_client_start(o.loop, &opts, &client);
	if (code != NT_EXIT_OK)
		goto out_watch;
	endpoint_target(ep, &target);
	ret = nt_engine_open_tcp(nt_client_engine(client), &target, on_open, &o, &o.req);
	if (ret != 0) {
		code = fail(ep, "cannot start: %s", strerror(-ret));
		goto out_client;
	}
	ret = nt_loop_run(o.loop);
	if (o.req)
		nt_engine_cancel(o.req);
	if (ret != 0)
		o.error = ret;
	/* Our end first: down sees EOF at once if the loop stopped for a
	 * signal while the flow was open. */
	shutdown(o.pair[1], SHUT_RDWR);
	relay_finish(&o.relay);
	code = own_result(&o);
out_client:
	nt_client_stop(client);
out_watch:
	nt_loop_del_fd(o.loop, o.relay.done_fd);
out_fds:
	for (int i = 0; i < 2; i++)
		if (o.pair[i] >= 0)
			close(o.pair[i]);
	if (o.relay.done_fd >= 0)
		close(o.relay.done_fd);
out_loop:
	nt_loop_free(o.loop);
	return code;
}

/* ---- through a running notun up of the file ---- */

/* NT_EXIT_OK with *u set to its proxy and the file's credentials, or
 * NT_EXIT_USAGE (the file is refused, said on stderr). */
static int running_url(const char *config_path, const struct nt_running *up,
		       struct nt_runenv_url *u)
{
	struct nt_client_options opts = {.config_path = config_path};
	struct nt_config cfg;
	int code = nt_client_load_config(&opts, &cfg);

	if (code != NT_EXIT_OK)
		return code;
	memset(u, 0, sizeof(*u));
	u->scheme = NT_PROXY_URL_SOCKS5H;
	snprintf(u->host, sizeof(u->host), "%s", up->host);
	u->port = up->up.listen.port;
	if (cfg.username[0]) {
		u->has_credentials = true;
		snprintf(u->username, sizeof(u->username), "%s", cfg.username);
		snprintf(u->password, sizeof(u->password), "%s", cfg.password);
	}
	nt_config_free(&cfg);
	nt_info("connect", "event=using_running_client pid=%lld proxy=%s:%u control=%s",
		(long long)up->up.pid, up->host, up->up.listen.port, up->path);
	return NT_EXIT_OK;
}

/* ---- arguments ---- */

static int parse_endpoint(const char *host, const char *port, struct endpoint *ep)
{
	size_t len = strlen(host);
	char *end;
	unsigned long v;

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host++;
		len -= 2;
	}
	if (len == 0 || len > NT_TARGET_NAME_MAX)
		return nt_cli_usage_error("connect", "HOST must be 1..%d characters",
					  NT_TARGET_NAME_MAX);
	memcpy(ep->host_buf, host, len);
	ep->host_buf[len] = '\0';
	ep->host = ep->host_buf;
	errno = 0;
	v = strtoul(port, &end, 10);
	if (errno || *end || end == port || port[0] == '-' || v == 0 || v > 65535)
		return nt_cli_usage_error("connect", "PORT '%s' is not 1..65535", port);
	ep->port = (uint16_t)v;
	return NT_EXIT_OK;
}

int nt_cmd_connect(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"own", no_argument, NULL, 'o'},
	    {"control", required_argument, NULL, 'C'},
	    {NULL, 0, NULL, 0},
	};
	const char *config_path = NULL, *control = NULL, *url;
	struct nt_runenv_url u;
	struct nt_running up;
	struct endpoint ep;
	bool own = false;
	int opt, code;

	nt_cli_getopt_start();
	while ((opt = getopt_long(argc, argv, "+:c:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'o':
			own = true;
			break;
		case 'C':
			control = optarg;
			break;
		default:
			return nt_cli_option_error("connect", opt, argv);
		}
	}
	if (argc - optind != 2)
		return nt_cli_usage_error("connect", "needs HOST PORT");
	code = parse_endpoint(argv[optind], argv[optind + 1], &ep);
	if (code != NT_EXIT_OK)
		return code;
	if (nt_log_get_level() == NT_LOG_INFO)
		nt_log_set_level(NT_LOG_WARN);
	if ((own || control) && !config_path)
		return nt_cli_usage_error("connect", "--own and --control go with -c FILE");
	if (config_path && !own && nt_running_find("connect", config_path, control, &up)) {
		code = running_url(config_path, &up, &u);
		return code == NT_EXIT_OK ? connect_via_proxy(&u, &ep) : code;
	}
	if (config_path)
		return connect_own(config_path, &ep);
	url = getenv("ALL_PROXY");
	if (!url || !url[0])
		url = getenv("all_proxy");
	if (!url || !url[0])
		return nt_cli_usage_error("connect", "needs -c FILE, or ALL_PROXY (as notun run "
						     "and notun env set it)");
	if (nt_runenv_url_parse(url, &u) != 0)
		return nt_cli_usage_error("connect", "ALL_PROXY is not a socks5h:// (or socks5://) "
						     "proxy URL; use -c FILE without one");
	return connect_via_proxy(&u, &ep);
}
