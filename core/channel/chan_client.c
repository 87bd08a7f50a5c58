/* SPDX-License-Identifier: MIT */
/* The channel's client: one thread, one connection at a time, the Phoenix
 * session (join, heartbeats) and section 3's reconnect policy. */
#include "core/channel/chan_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <mbedtls/sha256.h>
#include <netdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/channel/chan_lws.h"
#include "core/phx/json_r.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/queue.h"
#include "platform/random.h"

#define SYSTEM_CA      "/etc/ssl/certs/ca-certificates.crt"
#define PATH_MAX_LEN   1024
#define TOKEN_MAX      256
#define RX_CHUNK       16384
#define SENDQ_MSGS     256
#define SENDQ_BYTES    (4u << 20)
#define HANDSHAKE_SECS 10
#define CONTROL_MAX    256 /* a join or heartbeat frame */
#define PROTOCOL       "notun-chan"

enum cmd_type { CMD_PUSH, CMD_STOP };

struct cmd {
	enum cmd_type type;
	char topic[NT_PHX_NAME_MAX + 1];
	char event[NT_PHX_NAME_MAX + 1];
	char *payload;
	size_t len;
};

enum state { ST_WAIT, ST_CONNECTING, ST_JOINING, ST_JOINED, ST_FATAL };

struct nt_chan_client {
	struct nt_chan_url url;
	char path[PATH_MAX_LEN];
	size_t path_len;	/* without the per-attempt endpoint */
	uint16_t endpoint_port; /* set: endpoint=SOURCE:PORT on every attempt */
	char token[TOKEN_MAX];
	char topic[NT_PHX_NAME_MAX + 1];
	char ca_file[PATH_MAX_LEN];
	bool has_pin;
	uint8_t pin[32];
	uint32_t heartbeat_ms, join_timeout_ms;

	struct nt_queue *cmdq, *evq;
	pthread_t thread;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct lws *wsi;
	struct lws_protocols protocols[2];

	enum state st;
	bool stopping;
	int64_t next_ref, join_ref;
	unsigned hb_unanswered;
	const char *drop_reason; /* set: close the connection at the next writeable */
	const char *fail_reason; /* why the attempt failed, when we know better than lws */
	uint32_t retry_after_ms;
	struct nt_chan_retry retry;
	lws_sorted_usec_list_t sul_retry, sul_hb, sul_join;
	struct nt_chan_sendq sendq;
	struct nt_chan_rxbuf rx;
	uint64_t pin_logged_ms;
	_Atomic uint64_t connects, joins, pushes_dropped, events_dropped, pin_mismatches;
};

/* The client from a scheduler entry embedded in it. */
#define FROM_SUL(sul, field)                                                                       \
	((struct nt_chan_client *)((char *)(sul)-offsetof(struct nt_chan_client, field)))

const char *nt_chan_fatal_name(enum nt_chan_fatal f)
{
	static const char *const names[] = {"unauthorized", "token_expired", "token_revoked",
					    "gave_up"};

	return (unsigned)f < sizeof(names) / sizeof(names[0]) ? names[f] : "?";
}

static uint64_t now_ms(void)
{
	return nt_clock_mono_ns() / 1000000u;
}

static void emit(struct nt_chan_client *c, struct nt_chan_event *ev)
{
	if (nt_queue_push(c->evq, ev) != 0) {
		atomic_fetch_add(&c->events_dropped, 1);
		free(ev->text);
	}
}

static void emit_simple(struct nt_chan_client *c, enum nt_chan_ev_type type,
			enum nt_chan_fatal fatal, const char *reason, uint32_t retry_ms)
{
	struct nt_chan_event ev = {.type = type, .fatal = fatal, .retry_ms = retry_ms};

	snprintf(ev.reason, sizeof(ev.reason), "%s", reason);
	emit(c, &ev);
}

static void go_fatal(struct nt_chan_client *c, enum nt_chan_fatal f)
{
	c->st = ST_FATAL;
	lws_sul_cancel(&c->sul_retry);
	nt_error("chan", "event=portal_fatal reason=%s", nt_chan_fatal_name(f));
	emit_simple(c, NT_CHAN_EV_FATAL, f, nt_chan_fatal_name(f), 0);
}

static void connect_now(lws_sorted_usec_list_t *sul);

/* The current connection is gone (or never came): schedule the next one. */
static void conn_lost(struct nt_chan_client *c, const char *reason)
{
	int64_t delay;

	c->wsi = NULL;
	lws_sul_cancel(&c->sul_hb);
	lws_sul_cancel(&c->sul_join);
	nt_chan_sendq_clear(&c->sendq);
	nt_chan_rxbuf_free(&c->rx);
	c->drop_reason = NULL;
	c->fail_reason = NULL;
	if (c->st == ST_FATAL || c->stopping)
		return;
	c->st = ST_WAIT;
	delay = nt_chan_retry_failed(&c->retry, now_ms(), nt_random_u32_uniform(UINT32_MAX),
				     c->retry_after_ms);
	c->retry_after_ms = 0;
	if (delay < 0) {
		go_fatal(c, NT_CHAN_FATAL_GAVE_UP);
		return;
	}
	nt_info("chan", "event=portal_disconnected reason=%s retry_ms=%lld", reason,
		(long long)delay);
	emit_simple(c, NT_CHAN_EV_DISCONNECTED, 0, reason, (uint32_t)delay);
	lws_sul_schedule(c->ctx, 0, &c->sul_retry, connect_now, (lws_usec_t)delay * 1000);
}

/* Closes the connection from outside its callbacks: at its next writeable. */
static void drop(struct nt_chan_client *c, const char *reason)
{
	if (!c->wsi || c->drop_reason)
		return;
	c->drop_reason = reason;
	lws_callback_on_writable(c->wsi);
}

static int queue_frame(struct nt_chan_client *c, const char *topic, const char *event,
		       const char *payload, size_t len)
{
	size_t cap = len + CONTROL_MAX;
	struct nt_chan_msg *m = nt_chan_msg_new(cap);
	int n;

	if (!m)
		return -ENOMEM;
	n = nt_phx_encode((char *)m->buf + LWS_PRE, cap, topic, event, payload, len, c->next_ref);
	if (n < 0) {
		free(m);
		return n;
	}
	m->len = (size_t)n;
	if (nt_chan_sendq_push(&c->sendq, m, SENDQ_MSGS, SENDQ_BYTES) != 0) {
		drop(c, "send_overflow");
		return -ENOBUFS;
	}
	c->next_ref++;
	lws_callback_on_writable(c->wsi);
	return 0;
}

static void heartbeat(lws_sorted_usec_list_t *sul)
{
	struct nt_chan_client *c = FROM_SUL(sul, sul_hb);

	if (!c->wsi)
		return;
	if (c->hb_unanswered >= NT_CHAN_HEARTBEAT_MISS) {
		nt_warn("chan", "event=heartbeat_lost unanswered=%u", c->hb_unanswered);
		drop(c, "heartbeat_timeout");
		return;
	}
	c->hb_unanswered++;
	queue_frame(c, NT_PHX_TOPIC_PHOENIX, NT_PHX_EV_HEARTBEAT, "{}", 2);
	lws_sul_schedule(c->ctx, 0, &c->sul_hb, heartbeat, (lws_usec_t)c->heartbeat_ms * 1000);
}

static void join_timeout(lws_sorted_usec_list_t *sul)
{
	struct nt_chan_client *c = FROM_SUL(sul, sul_join);

	nt_warn("chan", "event=join_timeout topic=%s ms=%u", c->topic, c->join_timeout_ms);
	drop(c, "join_timeout");
}

/* The address a connection to the portal leaves from, as the kernel picks
 * it: connect() on a UDP socket routes without sending anything. Runs on the
 * channel's thread, like libwebsockets' own (blocking) name lookup. */
static int source_address(const struct nt_chan_client *c, char *text, size_t size)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const void *addr;
	char port[8];
	int fd, err;

	snprintf(port, sizeof(port), "%u", c->url.port);
	if (getaddrinfo(c->url.host, port, &hints, &res) != 0)
		return -EHOSTUNREACH;
	fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	err = fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0 ||
		      getsockname(fd, (struct sockaddr *)&ss, &len) != 0
		  ? -errno
		  : 0;
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	if (err)
		return err;
	addr = ss.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
					: (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
	if (!inet_ntop(ss.ss_family, addr, text, (socklen_t)size))
		return -EAFNOSUPPORT;
	return ss.ss_family;
}

/* endpoint=SOURCE:endpoint_port for this attempt; without a source address
 * none is sent (the portal then uses the connection's, with port 51820). */
static void set_endpoint(struct nt_chan_client *c)
{
	char ip[INET6_ADDRSTRLEN], ep[INET6_ADDRSTRLEN + 8];
	size_t len = c->path_len;
	int family = source_address(c, ip, sizeof(ip));

	c->path[len] = '\0';
	if (family < 0) {
		nt_warn("chan", "event=endpoint_unknown host=%s err=%s", c->url.host,
			strerror(-family));
		return;
	}
	snprintf(ep, sizeof(ep), family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, c->endpoint_port);
	if (nt_chan_query_add(c->path, sizeof(c->path), &len, "endpoint", ep) != 0) {
		c->path[c->path_len] = '\0';
		nt_warn("chan", "event=endpoint_unknown host=%s err=path_too_long", c->url.host);
		return;
	}
	nt_debug("chan", "event=endpoint_source endpoint=%s", ep);
}

static void connect_now(lws_sorted_usec_list_t *sul)
{
	struct nt_chan_client *c = FROM_SUL(sul, sul_retry);
	struct lws_client_connect_info i;

	if (c->stopping || c->st == ST_FATAL)
		return;
	if (c->endpoint_port)
		set_endpoint(c);
	memset(&i, 0, sizeof(i));
	i.context = c->ctx;
	i.vhost = c->vh;
	i.address = c->url.host;
	i.port = c->url.port;
	i.path = c->path;
	i.host = c->url.host;
	i.origin = NULL;
	i.protocol = NULL; /* no subprotocol header: the portal speaks one */
	i.local_protocol_name = PROTOCOL;
	if (c->url.tls) {
		i.ssl_connection = LCCSCF_USE_SSL;
		/* A pin replaces the chain and the name; the pin itself is checked
		 * before the request (and its token) leaves. */
		if (c->has_pin)
			i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
					    LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
					    LCCSCF_ALLOW_EXPIRED;
	}
	i.pwsi = &c->wsi;
	c->st = ST_CONNECTING;
	c->next_ref = 0;
	c->hb_unanswered = 0;
	atomic_fetch_add(&c->connects, 1);
	nt_debug("chan", "event=portal_connecting host=%s port=%u", c->url.host, c->url.port);
	if (!lws_client_connect_via_info(&i)) {
		c->wsi = NULL;
		conn_lost(c, "connect_failed");
	}
}

/* The peer's certificate against the pin; false (logged, rate-limited) on
 * a mismatch or when there is no certificate. */
static bool pin_ok(struct nt_chan_client *c, struct lws *wsi)
{
	size_t der_len = 0;
	const unsigned char *der = nt_chan_peer_cert_der(wsi, &der_len);
	uint8_t digest[32];
	char got[NT_CHAN_FP_TEXT_MAX] = "none";
	uint64_t now;

	if (der) {
		mbedtls_sha256_ret(der, der_len, digest, 0);
		if (sodium_memcmp(digest, c->pin, 32) == 0)
			return true;
		nt_chan_fp_format(digest, got);
	}
	atomic_fetch_add(&c->pin_mismatches, 1);
	now = now_ms();
	if (!c->pin_logged_ms || now - c->pin_logged_ms >= NT_CHAN_PIN_LOG_MS) {
		c->pin_logged_ms = now;
		nt_warn("chan",
			"event=tls_pin_mismatch host=%s got=%s count=%llu reason=\"the portal's "
			"certificate does not match Fingerprint\"",
			c->url.host, got, (unsigned long long)atomic_load(&c->pin_mismatches));
	}
	return false;
}

static int append_headers(struct nt_chan_client *c, struct lws *wsi, char **p, size_t room)
{
	int n;

	if (c->has_pin && !pin_ok(c, wsi)) {
		c->fail_reason = "tls_pin_mismatch";
		return -1;
	}
	n = snprintf(*p, room, "Authorization: Bearer %s\r\n", c->token);
	if (n < 0 || (size_t)n >= room)
		return -1;
	*p += n;
	return 0;
}

/* disconnect {reason}: true when the reason is fatal (the event is out). */
static bool disconnect_fatal(struct nt_chan_client *c, const struct nt_phx_frame *f)
{
	jsmntok_t tok[16];
	struct nt_json j;
	char reason[32];

	if (nt_json_parse(&j, f->payload, f->payload_len, tok, 16) != 0 ||
	    nt_json_get_str(&j, 0, "reason", reason, sizeof(reason)) < 0)
		return false;
	if (strcmp(reason, "token_expired") == 0)
		go_fatal(c, NT_CHAN_FATAL_TOKEN_EXPIRED);
	else if (strcmp(reason, "token_revoked") == 0)
		go_fatal(c, NT_CHAN_FATAL_TOKEN_REVOKED);
	else
		return false;
	return true;
}

/* A whole message: the session's own frames are consumed, the rest go out. */
static void on_message(struct nt_chan_client *c)
{
	struct nt_chan_event ev = {.type = NT_CHAN_EV_MESSAGE};
	bool ok;
	const char *resp;
	size_t resp_len;

	if (nt_phx_decode(c->rx.data, c->rx.len, &ev.frame) != 0) {
		nt_warn("chan", "event=portal_bad_frame len=%zu", c->rx.len);
		drop(c, "bad_frame");
		return;
	}
	if (strcmp(ev.frame.event, NT_PHX_EV_REPLY) == 0 && ev.frame.has_ref) {
		if (c->st == ST_JOINING && ev.frame.ref == c->join_ref) {
			lws_sul_cancel(&c->sul_join);
			if (nt_phx_reply_parse(ev.frame.payload, ev.frame.payload_len, &ok, &resp,
					       &resp_len) != 0 ||
			    !ok) {
				nt_warn("chan", "event=join_refused topic=%s", c->topic);
				drop(c, "join_refused");
				return;
			}
			c->st = ST_JOINED;
			nt_chan_retry_joined(&c->retry);
			atomic_fetch_add(&c->joins, 1);
			nt_info("chan", "event=portal_joined topic=%s", c->topic);
			emit_simple(c, NT_CHAN_EV_JOINED, 0, "", 0);
			return;
		}
		if (strcmp(ev.frame.topic, NT_PHX_TOPIC_PHOENIX) == 0) {
			c->hb_unanswered = 0;
			return;
		}
	}
	if (strcmp(ev.frame.event, NT_PHX_EV_CLOSE) == 0) {
		drop(c, "phx_close");
		return;
	}
	if (strcmp(ev.frame.event, "disconnect") == 0 && disconnect_fatal(c, &ev.frame)) {
		drop(c, "disconnect");
		return;
	}
	/* The event takes the buffer; the frame points into it. */
	ev.text = c->rx.data;
	ev.len = c->rx.len;
	c->rx.data = NULL;
	c->rx.len = c->rx.cap = 0;
	emit(c, &ev);
}

static void on_commands(struct nt_chan_client *c)
{
	struct cmd cmd;

	while (nt_queue_pop(c->cmdq, &cmd) == 0) {
		if (cmd.type == CMD_STOP) {
			c->stopping = true;
			if (c->wsi)
				drop(c, "stop");
			lws_cancel_service(c->ctx);
			continue;
		}
		if (c->st != ST_JOINED || !c->wsi ||
		    queue_frame(c, cmd.topic, cmd.event, cmd.payload, cmd.len) != 0) {
			atomic_fetch_add(&c->pushes_dropped, 1);
			nt_debug("chan", "event=push_dropped topic=%s ev=%s", cmd.topic, cmd.event);
		}
		free(cmd.payload);
	}
}

static void on_connection_error(struct nt_chan_client *c, struct lws *wsi, const char *why)
{
	unsigned status = lws_http_client_http_response(wsi);
	char retry[16];

	/* libwebsockets may have let go of the response's headers by now; its
	 * reason text still names a 401. */
	if (status == 401 || (why && strstr(why, "unauthorized"))) {
		c->wsi = NULL;
		nt_error("chan", "event=portal_unauthorized host=%s", c->url.host);
		go_fatal(c, NT_CHAN_FATAL_UNAUTHORIZED);
		return;
	}
	if (status == 503 &&
	    lws_hdr_copy(wsi, retry, sizeof(retry), WSI_TOKEN_HTTP_RETRY_AFTER) > 0)
		c->retry_after_ms = nt_chan_retry_after_parse(retry);
	nt_info("chan", "event=portal_connect_failed host=%s status=%u why=\"%s\"", c->url.host,
		status, c->fail_reason ? c->fail_reason : (why ? why : "?"));
	conn_lost(c, c->fail_reason ? c->fail_reason : status ? "http_status" : "connect_failed");
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct nt_chan_client *c = ctx ? lws_context_user(ctx) : NULL;

	(void)user;
	if (!c)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		on_commands(c);
		return 0;
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return append_headers(c, wsi, in, len);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (wsi == c->wsi || c->st == ST_CONNECTING)
			on_connection_error(c, wsi, in);
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->st = ST_JOINING;
		c->join_ref = c->next_ref;
		queue_frame(c, c->topic, NT_PHX_EV_JOIN, "{}", 2);
		lws_sul_schedule(c->ctx, 0, &c->sul_join, join_timeout,
				 (lws_usec_t)c->join_timeout_ms * 1000);
		lws_sul_schedule(c->ctx, 0, &c->sul_hb, heartbeat,
				 (lws_usec_t)c->heartbeat_ms * 1000);
		nt_debug("chan", "event=portal_connected host=%s", c->url.host);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (c->drop_reason)
			return 0;
		if (lws_frame_is_binary(wsi) || nt_chan_rxbuf_add(&c->rx, in, len) != 0) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
			c->fail_reason = "bad_message";
			return -1;
		}
		if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
			on_message(c);
			c->rx.len = 0;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (c->drop_reason) {
			c->fail_reason = c->drop_reason;
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
			return -1;
		}
		if (nt_chan_sendq_write_one(&c->sendq, wsi) == -EIO)
			return -1;
		if (c->sendq.head)
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (wsi == c->wsi)
			conn_lost(c, c->fail_reason ? c->fail_reason : "closed");
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		/* Any end the two above did not report (e.g. a refused header). */
		if (wsi == c->wsi)
			conn_lost(c, c->fail_reason ? c->fail_reason : "closed");
		return 0;
	default:
		return 0;
	}
}

static void *run(void *arg)
{
	struct nt_chan_client *c = arg;

	lws_sul_schedule(c->ctx, 0, &c->sul_retry, connect_now, 1);
	while (!c->stopping || c->wsi)
		if (lws_service(c->ctx, 0) < 0)
			break;
	return NULL;
}

static int make_context(struct nt_chan_client *c)
{
	struct lws_context_creation_info info;
	lws_sock_file_fd_type fd;

	c->protocols[0] = (struct lws_protocols){
	    .name = PROTOCOL, .callback = callback, .rx_buffer_size = RX_CHUNK};
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = c->protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.client_ssl_ca_filepath = c->ca_file;
	info.user = c;
	info.timeout_secs = HANDSHAKE_SECS;
	info.fd_limit_per_thread = 16;
	c->ctx = lws_create_context(&info);
	if (!c->ctx)
		return -EIO;
	c->vh = lws_get_vhost_by_name(c->ctx, "default");
	/* The command queue's wake-up, watched by the service loop; a duplicate,
	 * since libwebsockets closes what it adopted. */
	fd.filefd = dup(nt_queue_fd(c->cmdq));
	if (fd.filefd < 0 ||
	    !lws_adopt_descriptor_vhost(c->vh, LWS_ADOPT_RAW_FILE_DESC, fd, PROTOCOL, NULL)) {
		lws_context_destroy(c->ctx);
		return -EIO;
	}
	return 0;
}

static int configure(struct nt_chan_client *c, const struct nt_chan_client_config *cfg)
{
	const char *prefix = cfg->path ? cfg->path : "";
	size_t len = 0;
	int err;

	if (!cfg->url || !cfg->topic || !cfg->token || !cfg->public_key ||
	    strlen(cfg->token) >= sizeof(c->token) || strlen(cfg->topic) > NT_PHX_NAME_MAX ||
	    (strcmp(cfg->topic, "gateway") != 0 && strcmp(cfg->topic, "client") != 0) ||
	    (prefix[0] && prefix[0] != '/') || strpbrk(prefix, "?#"))
		return -EINVAL;
	err = nt_chan_url_parse(cfg->url, &c->url);
	if (err) {
		nt_error("chan", "event=portal_url_refused url=%s reason=%s", cfg->url,
			 err == -EPERM ? "ws_needs_loopback" : "invalid");
		return err;
	}
	if (cfg->fingerprint) {
		if (nt_chan_fp_parse(cfg->fingerprint, c->pin) != 0) {
			nt_error("chan", "event=portal_fingerprint_invalid");
			return -EINVAL;
		}
		c->has_pin = true;
	}
	snprintf(c->topic, sizeof(c->topic), "%s", cfg->topic);
	snprintf(c->token, sizeof(c->token), "%s", cfg->token);
	if (snprintf(c->ca_file, sizeof(c->ca_file), "%s",
		     cfg->ca_file ? cfg->ca_file : SYSTEM_CA) >= (int)sizeof(c->ca_file) ||
	    snprintf(c->path, sizeof(c->path), "%s/%s/websocket", prefix, cfg->topic) >=
		(int)sizeof(c->path))
		return -EINVAL;
	len = strlen(c->path);
	if (nt_chan_query_add(c->path, sizeof(c->path), &len, "public_key", cfg->public_key) ||
	    (cfg->name && nt_chan_query_add(c->path, sizeof(c->path), &len, "name", cfg->name)) ||
	    (cfg->endpoint &&
	     nt_chan_query_add(c->path, sizeof(c->path), &len, "endpoint", cfg->endpoint)))
		return -EINVAL;
	c->path_len = len;
	c->endpoint_port = cfg->endpoint ? 0 : cfg->endpoint_port;
	c->heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : NT_CHAN_HEARTBEAT_MS;
	c->join_timeout_ms = cfg->join_timeout_ms ? cfg->join_timeout_ms : NT_CHAN_JOIN_TIMEOUT_MS;
	c->retry.give_up_after_ms = cfg->give_up_after_ms;
	return 0;
}

static void drain_events(struct nt_chan_client *c)
{
	struct nt_chan_event ev;

	while (nt_queue_pop(c->evq, &ev) == 0)
		nt_chan_event_release(&ev);
}

static void client_free(struct nt_chan_client *c)
{
	struct cmd cmd;

	if (c->cmdq) {
		while (nt_queue_pop(c->cmdq, &cmd) == 0)
			free(cmd.payload);
		nt_queue_free(c->cmdq);
	}
	if (c->evq) {
		drain_events(c);
		nt_queue_free(c->evq);
	}
	sodium_memzero(c->token, sizeof(c->token));
	free(c);
}

int nt_chan_client_start(struct nt_chan_client **out, const struct nt_chan_client_config *cfg)
{
	struct nt_chan_client *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return -ENOMEM;
	err = configure(c, cfg);
	if (!err)
		err = nt_queue_new(&c->cmdq, NT_CHAN_QUEUE_LEN, sizeof(struct cmd));
	if (!err)
		err = nt_queue_new(&c->evq, NT_CHAN_QUEUE_LEN, sizeof(struct nt_chan_event));
	if (err)
		goto fail;
	nt_chan_lws_log_init();
	err = make_context(c);
	if (err)
		goto fail;
	err = -pthread_create(&c->thread, NULL, run, c);
	if (err) {
		lws_context_destroy(c->ctx);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	client_free(c);
	return err;
}

void nt_chan_client_stop(struct nt_chan_client *c)
{
	struct cmd cmd = {.type = CMD_STOP};

	if (!c)
		return;
	/* A full queue still wakes the thread; keep trying until the stop is in. */
	while (nt_queue_push(c->cmdq, &cmd) != 0)
		usleep(1000);
	pthread_join(c->thread, NULL);
	lws_context_destroy(c->ctx);
	nt_chan_sendq_clear(&c->sendq);
	nt_chan_rxbuf_free(&c->rx);
	client_free(c);
}

int nt_chan_client_fd(const struct nt_chan_client *c)
{
	return nt_queue_fd(c->evq);
}

int nt_chan_client_next(struct nt_chan_client *c, struct nt_chan_event *ev)
{
	return nt_queue_pop(c->evq, ev);
}

void nt_chan_event_release(struct nt_chan_event *ev)
{
	free(ev->text);
	ev->text = NULL;
}

int nt_chan_client_push(struct nt_chan_client *c, const char *topic, const char *event,
			const char *payload, size_t len)
{
	struct cmd cmd = {.type = CMD_PUSH, .len = len};

	if (strlen(topic) > NT_PHX_NAME_MAX || strlen(event) > NT_PHX_NAME_MAX ||
	    len > NT_PHX_FRAME_MAX)
		return -EINVAL;
	memcpy(cmd.topic, topic, strlen(topic) + 1);
	memcpy(cmd.event, event, strlen(event) + 1);
	cmd.payload = malloc(len + 1);
	if (!cmd.payload)
		return -ENOMEM;
	memcpy(cmd.payload, payload, len);
	cmd.payload[len] = '\0';
	if (nt_queue_push(c->cmdq, &cmd) != 0) {
		free(cmd.payload);
		return -EAGAIN;
	}
	return 0;
}

void nt_chan_client_stats(const struct nt_chan_client *c, struct nt_chan_client_stats *out)
{
	out->connects = atomic_load(&c->connects);
	out->joins = atomic_load(&c->joins);
	out->pushes_dropped = atomic_load(&c->pushes_dropped);
	out->events_dropped = atomic_load(&c->events_dropped);
	out->pin_mismatches = atomic_load(&c->pin_mismatches);
}
