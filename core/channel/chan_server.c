/* SPDX-License-Identifier: MIT */
/* The portal's listener: upgrades checked before they happen, connections in
 * a bounded table, limits of section 2, timers for the portal's logic. */
#include "core/channel/chan_server.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/channel/chan_lws.h"
#include "core/phx/phx.h"
#include "platform/log.h"

#define RX_CHUNK	 16384
#define HEADER_DATA_MAX	 4096 /* request line and headers of an upgrade */
#define FULL_RETRY_AFTER 5    /* seconds, when every connection slot is taken */
#define HANDSHAKE_SECS	 10

struct conn {
	struct nt_chan_server *s;
	struct lws *wsi;
	nt_chan_conn_id id;
	uint32_t slot;
	bool established, closing;
	uint16_t close_status;
	enum nt_chan_close_reason why;
	char identity[NT_CHAN_IDENTITY_MAX + 1];
	struct nt_chan_query q;
	struct nt_chan_sendq sendq;
	struct nt_chan_rxbuf rx;
};

struct nt_chan_server {
	struct lws_context *ctx;
	struct nt_chan_server_ops ops;
	void *arg;
	struct conn **slots;
	uint32_t max_conns, nconns, next_slot;
	uint32_t gen;
	uint32_t idle_ms;
	bool shutting_down;
	volatile sig_atomic_t stop, wake;
	struct nt_chan_server_stats st;
	struct lws_protocols protocols[2];
};

struct nt_chan_timer {
	lws_sorted_usec_list_t sul; /* first: the callback finds the timer from it */
	struct nt_chan_server *s;
	nt_chan_timer_cb cb;
	void *arg;
};

const char *nt_chan_close_reason_name(enum nt_chan_close_reason reason)
{
	static const char *const names[] = {"peer",	"idle",	 "too_big", "invalid",
					    "overflow", "owner", "shutdown"};

	return (unsigned)reason < sizeof(names) / sizeof(names[0]) ? names[reason] : "?";
}

static struct conn *conn_by_id(const struct nt_chan_server *s, nt_chan_conn_id id)
{
	uint32_t slot = (uint32_t)id;

	if (slot >= s->max_conns || !s->slots[slot] || s->slots[slot]->id != id)
		return NULL;
	return s->slots[slot];
}

static struct conn *conn_new(struct nt_chan_server *s)
{
	struct conn *c;
	uint32_t slot = s->next_slot;

	while (s->slots[slot])
		slot = (slot + 1) % s->max_conns;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->s = s;
	c->slot = slot;
	if (++s->gen == 0)
		s->gen = 1;
	c->id = ((uint64_t)s->gen << 32) | slot;
	s->slots[slot] = c;
	s->next_slot = (slot + 1) % s->max_conns;
	s->nconns++;
	return c;
}

static void conn_free(struct conn *c)
{
	struct nt_chan_server *s = c->s;

	if (c->established) {
		nt_info("chan", "event=conn_closed conn=%llx peer=%s reason=%s",
			(unsigned long long)c->id, c->identity, nt_chan_close_reason_name(c->why));
		s->ops.closed(s->arg, c->id, s->shutting_down ? NT_CHAN_CLOSED_SHUTDOWN : c->why);
	}
	s->slots[c->slot] = NULL;
	s->nconns--;
	nt_chan_sendq_clear(&c->sendq);
	nt_chan_rxbuf_free(&c->rx);
	free(c);
}

/* Answers an upgrade or a plain request with a bodiless status and closes.
 * Written by hand: libwebsockets would answer an upgrade it has not accepted
 * yet as HTTP/1.0, which WebSocket clients refuse to read. Returns what
 * HTTP_CONFIRM_UPGRADE wants for "answered" (1), or -1. */
static int reply_status(struct lws *wsi, unsigned status, uint32_t retry_after_s)
{
	unsigned char buf[LWS_PRE + 256];
	char *start = (char *)buf + LWS_PRE, retry[40] = "";
	const char *text = status == HTTP_STATUS_UNAUTHORIZED	       ? "Unauthorized"
			   : status == HTTP_STATUS_NOT_FOUND	       ? "Not Found"
			   : status == HTTP_STATUS_BAD_REQUEST	       ? "Bad Request"
			   : status == HTTP_STATUS_SERVICE_UNAVAILABLE ? "Service Unavailable"
								       : "Error";
	int n;

	if (retry_after_s)
		snprintf(retry, sizeof(retry), "Retry-After: %u\r\n", retry_after_s);
	n = snprintf(start, sizeof(buf) - LWS_PRE,
		     "HTTP/1.1 %u %s\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n", status,
		     text, retry);
	if (n < 0 || (size_t)n >= sizeof(buf) - LWS_PRE ||
	    lws_write(wsi, (unsigned char *)start, (size_t)n, LWS_WRITE_HTTP_HEADERS) < 0)
		return -1;
	return 1;
}

/* The query's parameters, as libwebsockets hands them: one "key=value"
 * fragment each, percent-decoded. -EINVAL without a valid public_key. */
static int read_query(struct lws *wsi, struct nt_chan_query *q)
{
	char frag[256];
	bool have_key = false;

	for (int i = 0;
	     lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) > 0; i++) {
		if (strncmp(frag, "public_key=", 11) == 0) {
			if (nt_chan_key_parse(frag + 11, q->public_key) != 0)
				return -EINVAL;
			have_key = true;
		} else if (strncmp(frag, "name=", 5) == 0) {
			snprintf(q->name, sizeof(q->name), "%.*s", NT_CHAN_NAME_MAX, frag + 5);
		} else if (strncmp(frag, "endpoint=", 9) == 0) {
			if (strlen(frag + 9) > NT_CHAN_ENDPOINT_MAX)
				return -EINVAL;
			memcpy(q->endpoint, frag + 9, strlen(frag + 9) + 1);
		}
	}
	return have_key ? 0 : -EINVAL;
}

/* "Bearer TOKEN" into token; false when missing or malformed. */
static bool read_token(struct lws *wsi, char *token, size_t cap)
{
	char hdr[NT_CHAN_TOKEN_MAX + 16];
	int n = lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION);

	if (n <= 7 || strncasecmp(hdr, "Bearer ", 7) != 0 || (size_t)(n - 7) >= cap)
		return false;
	memcpy(token, hdr + 7, (size_t)n - 6);
	sodium_memzero(hdr, sizeof(hdr));
	return token[0] != '\0';
}

static int confirm_upgrade(struct nt_chan_server *s, struct lws *wsi, const char *upgrade)
{
	struct nt_chan_query q = {0};
	struct nt_chan_auth_result res = {0};
	char path[HEADER_DATA_MAX], token[NT_CHAN_TOKEN_MAX + 1];
	socklen_t alen = sizeof(q.peer);
	enum nt_chan_auth verdict;
	bool have_token;
	struct conn *c;

	if (strcasecmp(upgrade, "websocket") != 0 ||
	    lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0) {
		s->st.not_found++;
		nt_debug("chan", "event=upgrade_not_found upgrade=\"%s\"", upgrade);
		return reply_status(wsi, HTTP_STATUS_NOT_FOUND, 0);
	}
	if (strcmp(path, NT_CHAN_PATH_CLIENT) == 0) {
		q.role = NT_CHAN_ROLE_CLIENT;
	} else if (strcmp(path, NT_CHAN_PATH_GATEWAY) == 0) {
		q.role = NT_CHAN_ROLE_GATEWAY;
	} else {
		s->st.not_found++;
		nt_debug("chan", "event=upgrade_not_found path=\"%s\"", path);
		return reply_status(wsi, HTTP_STATUS_NOT_FOUND, 0);
	}
	getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&q.peer, &alen);
	if (read_query(wsi, &q) != 0) {
		nt_debug("chan", "event=upgrade_bad_query path=%s", path);
		return reply_status(wsi, HTTP_STATUS_BAD_REQUEST, 0);
	}
	if (s->nconns >= s->max_conns) {
		s->st.refused_full++;
		nt_warn("chan", "event=conn_refused reason=full limit=%u", s->max_conns);
		return reply_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, FULL_RETRY_AFTER);
	}
	have_token = read_token(wsi, token, sizeof(token));
	verdict = s->ops.authorize(s->arg, &q, have_token ? token : NULL, &res);
	sodium_memzero(token, sizeof(token));
	if (verdict == NT_CHAN_AUTH_UNAUTHORIZED) {
		s->st.unauthorized++;
		nt_info("chan", "event=upgrade_unauthorized path=%s token=%s", path,
			have_token ? "bad" : "missing");
		return reply_status(wsi, HTTP_STATUS_UNAUTHORIZED, 0);
	}
	if (verdict != NT_CHAN_AUTH_OK)
		return reply_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE,
				    res.retry_after_s ? res.retry_after_s : 1);
	c = conn_new(s);
	if (!c)
		return -1;
	c->wsi = wsi;
	c->q = q;
	memcpy(c->identity, res.identity, sizeof(c->identity));
	c->identity[NT_CHAN_IDENTITY_MAX] = '\0';
	/* The opaque pointer outlives the protocol (re)binding of the upgrade. */
	lws_set_opaque_user_data(wsi, c);
	return 0;
}

static int close_now(struct conn *c, enum nt_chan_close_reason why, uint16_t status,
		     const char *text)
{
	c->why = why;
	lws_close_reason(c->wsi, (enum lws_close_status)status, (unsigned char *)text,
			 strlen(text));
	return -1;
}

static int on_receive(struct conn *c, const void *in, size_t len)
{
	struct nt_chan_server *s = c->s;
	struct lws *wsi = c->wsi;
	int err;

	lws_set_timer_usecs(wsi, (lws_usec_t)s->idle_ms * 1000);
	if (c->closing)
		return 0;
	if (lws_frame_is_binary(wsi)) {
		s->st.closed_invalid++;
		nt_info("chan", "event=conn_invalid conn=%llx peer=%s reason=binary",
			(unsigned long long)c->id, c->identity);
		return close_now(c, NT_CHAN_CLOSED_INVALID, NT_CHAN_CLOSE_INVALID, "text only");
	}
	err = nt_chan_rxbuf_add(&c->rx, in, len);
	if (err == -EMSGSIZE) {
		s->st.closed_too_big++;
		nt_warn("chan", "event=conn_too_big conn=%llx peer=%s limit=%u",
			(unsigned long long)c->id, c->identity, NT_PHX_FRAME_MAX);
		return close_now(c, NT_CHAN_CLOSED_TOO_BIG, NT_CHAN_CLOSE_TOO_BIG, "too big");
	}
	if (err)
		return -1;
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return 0;
	err = s->ops.message(s->arg, c->id, c->rx.data, c->rx.len);
	c->rx.len = 0;
	if (c->rx.cap > RX_CHUNK) /* a big message's buffer is not kept */
		nt_chan_rxbuf_free(&c->rx);
	if (err < 0) {
		s->st.closed_invalid++;
		nt_info("chan", "event=conn_invalid conn=%llx peer=%s err=%d",
			(unsigned long long)c->id, c->identity, err);
		return close_now(c, NT_CHAN_CLOSED_INVALID, NT_CHAN_CLOSE_INVALID, "invalid");
	}
	return 0;
}

static int on_writeable(struct conn *c)
{
	if (nt_chan_sendq_write_one(&c->sendq, c->wsi) == -EIO)
		return -1;
	if (c->sendq.head) {
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	if (c->closing)
		return close_now(c, c->why, c->close_status, nt_chan_close_reason_name(c->why));
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct nt_chan_server *s = ctx ? lws_context_user(ctx) : NULL;
	struct conn *c = lws_get_opaque_user_data(wsi);

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return confirm_upgrade(s, wsi, in);
	case LWS_CALLBACK_HTTP:
		/* Plain HTTP: nothing is served but the two upgrade paths. */
		s->st.not_found++;
		if (reply_status(wsi, HTTP_STATUS_NOT_FOUND, 0) < 0)
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_ESTABLISHED:
		if (!c)
			return -1;
		c->established = true;
		s->st.accepted++;
		lws_set_timer_usecs(wsi, (lws_usec_t)s->idle_ms * 1000);
		nt_info("chan", "event=conn_open conn=%llx peer=%s role=%s",
			(unsigned long long)c->id, c->identity,
			c->q.role == NT_CHAN_ROLE_GATEWAY ? "gateway" : "client");
		s->ops.connected(s->arg, c->id, c->identity, &c->q);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return c ? on_receive(c, in, len) : -1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c ? on_writeable(c) : 0;
	case LWS_CALLBACK_TIMER:
		if (!c)
			return -1;
		s->st.closed_idle++;
		nt_info("chan", "event=conn_idle conn=%llx peer=%s idle_ms=%u",
			(unsigned long long)c->id, c->identity, s->idle_ms);
		return close_now(c, NT_CHAN_CLOSED_IDLE, NT_CHAN_CLOSE_NORMAL, "idle");
	case LWS_CALLBACK_WSI_DESTROY:
		if (c) {
			lws_set_opaque_user_data(wsi, NULL);
			conn_free(c);
		}
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (s && s->wake) {
			s->wake = 0;
			if (s->ops.wake)
				s->ops.wake(s->arg);
		}
		return 0;
	default:
		return 0;
	}
}

int nt_chan_server_new(struct nt_chan_server **out, const struct nt_chan_server_config *cfg,
		       const struct nt_chan_server_ops *ops, void *arg)
{
	struct lws_context_creation_info info;
	struct nt_chan_server *s;

	if (!cfg->cert_path || !cfg->key_path || !ops->authorize || !ops->connected ||
	    !ops->message || !ops->closed)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ops = *ops;
	s->arg = arg;
	s->max_conns = cfg->max_conns ? cfg->max_conns : NT_CHAN_CONNS_DEFAULT;
	s->idle_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : NT_CHAN_IDLE_DEFAULT_MS;
	s->slots = calloc(s->max_conns, sizeof(*s->slots));
	if (!s->slots) {
		free(s);
		return -ENOMEM;
	}
	s->protocols[0] = (struct lws_protocols){
	    .name = "notun-portal", .callback = callback, .rx_buffer_size = RX_CHUNK};
	nt_chan_lws_log_init();
	memset(&info, 0, sizeof(info));
	info.port = cfg->port ? cfg->port : NT_CHAN_PORT_DEFAULT;
	info.iface = cfg->listen ? cfg->listen : NT_CHAN_LISTEN_DEFAULT;
	info.protocols = s->protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.ssl_cert_filepath = cfg->cert_path;
	info.ssl_private_key_filepath = cfg->key_path;
	info.user = s;
	info.timeout_secs = HANDSHAKE_SECS;
	info.max_http_header_data = HEADER_DATA_MAX;
	/* Connections, plus the listener and libwebsockets' own descriptors. */
	info.fd_limit_per_thread = s->max_conns + 16;
	s->ctx = lws_create_context(&info);
	if (!s->ctx) {
		nt_error("chan", "event=listen_failed addr=%s port=%d", info.iface, info.port);
		free(s->slots);
		free(s);
		return -EIO;
	}
	nt_info("chan", "event=listening addr=%s port=%d", info.iface, info.port);
	*out = s;
	return 0;
}

void nt_chan_server_free(struct nt_chan_server *s)
{
	if (!s)
		return;
	s->shutting_down = true;
	lws_context_destroy(s->ctx);
	free(s->slots);
	free(s);
}

int nt_chan_server_run(struct nt_chan_server *s)
{
	while (!s->stop)
		if (lws_service(s->ctx, 0) < 0)
			return -EIO;
	s->stop = 0;
	return 0;
}

void nt_chan_server_stop(struct nt_chan_server *s)
{
	s->stop = 1;
	lws_cancel_service(s->ctx);
}

void nt_chan_server_wake(struct nt_chan_server *s)
{
	s->wake = 1;
	lws_cancel_service(s->ctx);
}

int nt_chan_server_send(struct nt_chan_server *s, nt_chan_conn_id id, const char *text, size_t len)
{
	struct conn *c = conn_by_id(s, id);
	struct nt_chan_msg *m;

	if (!c || !c->established || c->closing)
		return -ENOENT;
	m = nt_chan_msg_new(len);
	if (!m)
		return -ENOMEM;
	memcpy(m->buf + LWS_PRE, text, len);
	if (nt_chan_sendq_push(&c->sendq, m, NT_CHAN_SENDQ_MSGS, NT_CHAN_SENDQ_BYTES) != 0) {
		/* A peer that does not read is dropped, not waited for. */
		s->st.dropped_overflow++;
		nt_warn("chan", "event=conn_overflow conn=%llx peer=%s queued=%u",
			(unsigned long long)c->id, c->identity, c->sendq.msgs);
		nt_chan_sendq_clear(&c->sendq);
		c->closing = true;
		c->why = NT_CHAN_CLOSED_OVERFLOW;
		c->close_status = NT_CHAN_CLOSE_POLICY;
		lws_callback_on_writable(c->wsi);
		return -ENOBUFS;
	}
	lws_callback_on_writable(c->wsi);
	return 0;
}

int nt_chan_server_close(struct nt_chan_server *s, nt_chan_conn_id id, uint16_t status,
			 const char *reason)
{
	struct conn *c = conn_by_id(s, id);

	if (!c || !c->established)
		return -ENOENT;
	if (!c->closing) {
		c->closing = true;
		c->why = NT_CHAN_CLOSED_OWNER;
		c->close_status = status;
		nt_debug("chan", "event=conn_close conn=%llx status=%u reason=\"%s\"",
			 (unsigned long long)id, status, reason ? reason : "");
	}
	lws_callback_on_writable(c->wsi);
	return 0;
}

void nt_chan_server_stats(const struct nt_chan_server *s, struct nt_chan_server_stats *out)
{
	*out = s->st;
	out->conns = s->nconns;
}

static void timer_fire(lws_sorted_usec_list_t *sul)
{
	struct nt_chan_timer *t = (struct nt_chan_timer *)sul;

	t->cb(t, t->arg);
}

int nt_chan_timer_new(struct nt_chan_server *s, nt_chan_timer_cb cb, void *arg,
		      struct nt_chan_timer **out)
{
	struct nt_chan_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->s = s;
	t->cb = cb;
	t->arg = arg;
	*out = t;
	return 0;
}

void nt_chan_timer_arm(struct nt_chan_timer *t, uint64_t delay_ms)
{
	lws_sul_schedule(t->s->ctx, 0, &t->sul, timer_fire, (lws_usec_t)delay_ms * 1000);
}

void nt_chan_timer_cancel(struct nt_chan_timer *t)
{
	lws_sul_cancel(&t->sul);
}

void nt_chan_timer_free(struct nt_chan_timer *t)
{
	if (t) {
		lws_sul_cancel(&t->sul);
		free(t);
	}
}
