// SPDX-License-Identifier: MIT
/* The portal process: configuration, certificate, state file and the
 * listener around the I/O-free role, all on the loop's thread. Signals
 * only set a flag and wake the loop (nt_chan_server_wake is
 * async-signal-safe); the reload itself runs on the loop's thread. */
#include "core/portal/portal_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/channel/chan_server.h"
#include "core/config/portal_config.h"
#include "core/portal/portal.h"
#include "core/portal/portal_from_config.h"
#include "core/portal/portal_state.h"
#include "platform/clock.h"
#include "platform/log.h"

#define MOD "portal"

_Static_assert(NT_CHAN_KEY_LEN == NT_KEY_LEN, "public key sizes");

struct nt_portal_server {
	char path[NT_CONFIG_PATH_MAX + 1];
	char state[NT_CONFIG_PATH_MAX + 1]; /* State as at start: a reload keeps it */
	struct nt_portal_config cfg;	    /* the running one: tokens are looked up here */
	struct nt_portal *portal;
	struct nt_chan_server *chan;
	struct nt_chan_timer *timer;
	bool state_unsaved; /* a write failed: retried after the next event */
	volatile sig_atomic_t reload_asked;
};

static struct nt_portal_now now(void)
{
	return (struct nt_portal_now){.mono_ms = (int64_t)(nt_clock_mono_ns() / NT_NS_PER_MS),
				      .unix_s = (int64_t)(nt_clock_real_ns() / NT_NS_PER_SEC)};
}

static void save_state(struct nt_portal_server *ps, bool force)
{
	struct nt_portal_state st = {0};
	int rc;

	if (!nt_portal_take_dirty(ps->portal) && !ps->state_unsaved && !force)
		return;
	rc = nt_portal_export(ps->portal, &st);
	if (rc == 0)
		rc = nt_portal_state_write(ps->state, &st);
	nt_portal_state_free(&st);
	if (rc && !ps->state_unsaved)
		nt_error(MOD, "event=state_write_failed file=%s err=\"%s\"", ps->state,
			 strerror(-rc));
	ps->state_unsaved = rc != 0;
}

/* ---- the role's outputs ---- */

static void op_send(void *ctx, uint64_t conn, const char *text, size_t len)
{
	struct nt_portal_server *ps = ctx;

	nt_chan_server_send(ps->chan, conn, text, len);
}

static void op_close(void *ctx, uint64_t conn, uint16_t status)
{
	struct nt_portal_server *ps = ctx;

	nt_chan_server_close(ps->chan, conn, status, "closed by the portal");
}

static void op_timer(void *ctx, int64_t delay_ms)
{
	struct nt_portal_server *ps = ctx;

	if (!ps->timer) /* shutting down */
		return;
	if (delay_ms < 0)
		nt_chan_timer_cancel(ps->timer);
	else
		nt_chan_timer_arm(ps->timer, (uint64_t)delay_ms);
}

static void on_timer(struct nt_chan_timer *t, void *arg)
{
	struct nt_portal_server *ps = arg;

	(void)t;
	nt_portal_on_timer(ps->portal, now());
	save_state(ps, false);
}

/* ---- the listener's events ---- */

static enum nt_chan_auth ch_authorize(void *arg, const struct nt_chan_query *q, const char *token,
				      struct nt_chan_auth_result *out)
{
	struct nt_portal_server *ps = arg;
	size_t len = token ? strlen(token) : 0;
	long i;

	if (q->role == NT_CHAN_ROLE_CLIENT) {
		i = nt_portal_config_client_by_token(&ps->cfg, token ? token : "", len);
		if (i >= 0)
			snprintf(out->identity, sizeof(out->identity), "%s",
				 ps->cfg.clients[i].name);
	} else {
		i = nt_portal_config_gateway_by_token(&ps->cfg, token ? token : "", len);
		if (i >= 0)
			snprintf(out->identity, sizeof(out->identity), "%s",
				 ps->cfg.gateways[i].name);
	}
	return i >= 0 ? NT_CHAN_AUTH_OK : NT_CHAN_AUTH_UNAUTHORIZED;
}

/* "IPv4:PORT" or "[IPv6]:PORT"; an IPv4-mapped IPv6 address as IPv4. */
static void endpoint_format(char *out, size_t cap, int family, const uint8_t *addr, uint16_t port)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char ip[INET6_ADDRSTRLEN] = "";

	if (family == AF_INET6 && memcmp(addr, mapped, sizeof(mapped)) == 0) {
		family = AF_INET;
		addr += sizeof(mapped);
	}
	inet_ntop(family, addr, ip, sizeof(ip));
	snprintf(out, cap, family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
}

/* The endpoint clients are told to use: the query's endpoint= when it is
 * a literal address and port, else (absent) the connection's source
 * address with NT_PORTAL_GATEWAY_PORT_DEFAULT. -EINVAL: a malformed one. */
static int gateway_endpoint(const struct nt_chan_query *q, char *out, size_t cap)
{
	const struct sockaddr_storage *ss = &q->peer;
	struct nt_config_listen l;

	if (q->endpoint[0]) {
		if (nt_config_parse_listen(q->endpoint, &l) != 0 || l.port == 0)
			return -EINVAL;
		endpoint_format(out, cap, l.ip.family, l.ip.addr, l.port);
	} else if (ss->ss_family == AF_INET) {
		endpoint_format(out, cap, AF_INET,
				(const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr,
				NT_PORTAL_GATEWAY_PORT_DEFAULT);
	} else if (ss->ss_family == AF_INET6) {
		endpoint_format(out, cap, AF_INET6,
				((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr,
				NT_PORTAL_GATEWAY_PORT_DEFAULT);
	} else {
		return -EINVAL;
	}
	return 0;
}

static void ch_connected(void *arg, nt_chan_conn_id id, const char *identity,
			 const struct nt_chan_query *q)
{
	struct nt_portal_server *ps = arg;
	struct nt_portal_conn_info info = {.conn = id};
	long i;

	snprintf(info.name, sizeof(info.name), "%s", identity);
	memcpy(info.public_key, q->public_key, sizeof(info.public_key));
	if (q->role == NT_CHAN_ROLE_CLIENT) {
		info.role = NT_PORTAL_CLIENT;
		i = nt_portal_config_find_client(&ps->cfg, identity);
		if (i >= 0)
			memcpy(info.token_hash, ps->cfg.clients[i].token_hash, NT_TOKEN_HASH_LEN);
	} else {
		info.role = NT_PORTAL_GATEWAY;
		i = nt_portal_config_find_gateway(&ps->cfg, identity);
		if (i >= 0)
			memcpy(info.token_hash, ps->cfg.gateways[i].token_hash, NT_TOKEN_HASH_LEN);
		if (i >= 0 && gateway_endpoint(q, info.endpoint, sizeof(info.endpoint)) != 0) {
			nt_warn(MOD, "event=bad_endpoint gid=%s hint=\"endpoint= takes IP:PORT\"",
				identity);
			nt_chan_server_close(ps->chan, id, NT_CHAN_CLOSE_POLICY, "bad endpoint");
			return;
		}
	}
	/* A reload between the upgrade and now removed the identity. */
	if (i < 0) {
		nt_chan_server_close(ps->chan, id, NT_CHAN_CLOSE_POLICY, "token revoked");
		return;
	}
	nt_portal_on_open(ps->portal, &info, now());
	save_state(ps, false);
}

static int ch_message(void *arg, nt_chan_conn_id id, const char *text, size_t len)
{
	struct nt_portal_server *ps = arg;
	struct nt_phx_frame f;
	int rc = nt_phx_decode(text, len, &f);

	if (rc)
		return rc; /* the listener closes this connection only, 1007 */
	nt_portal_on_frame(ps->portal, id, &f, now());
	save_state(ps, false);
	return 0;
}

static void ch_closed(void *arg, nt_chan_conn_id id, enum nt_chan_close_reason reason)
{
	struct nt_portal_server *ps = arg;

	(void)reason;
	nt_portal_on_close(ps->portal, id, now());
	save_state(ps, false);
}

static void reload(struct nt_portal_server *ps)
{
	struct nt_portal_config cfg;
	struct nt_config_error cerr;
	struct nt_portal_model_owned own;
	char err[256];
	int rc;

	rc = nt_portal_config_load(ps->path, &cfg, &cerr);
	if (rc) {
		nt_warn(MOD,
			"event=reload_failed file=%s line=%u key=%s reason=\"%s\" "
			"hint=\"the running configuration stays\"",
			cerr.file, cerr.line, cerr.key[0] ? cerr.key : "-", cerr.message);
		return;
	}
	rc = nt_portal_model_from_config(&cfg, &own, err, sizeof(err));
	if (rc == 0) {
		rc = nt_portal_reload(ps->portal, &own.model, now(), err, sizeof(err));
		nt_portal_model_owned_free(&own);
	}
	if (rc) {
		nt_warn(MOD,
			"event=reload_failed file=%s reason=\"%s\" "
			"hint=\"the running configuration stays\"",
			ps->path, err);
		nt_portal_config_free(&cfg);
		return;
	}
	nt_portal_config_free(&ps->cfg);
	ps->cfg = cfg;
	nt_info(MOD, "event=reloaded file=%s clients=%zu gateways=%zu resources=%zu", ps->path,
		cfg.client_count, cfg.gateway_count, cfg.resource_count);
	save_state(ps, false);
}

static void ch_wake(void *arg)
{
	struct nt_portal_server *ps = arg;

	if (ps->reload_asked) {
		ps->reload_asked = 0;
		reload(ps);
	}
}

/* ---- start and stop ---- */

static int certificate(struct nt_portal_server *ps, char cert[NT_CHAN_PATH_MAX],
		       char key[NT_CHAN_PATH_MAX], char *err, size_t errlen)
{
	char dir[NT_CHAN_PATH_MAX], fp[NT_CHAN_FP_TEXT_MAX];
	const char *slash = strrchr(ps->path, '/');
	int rc;

	if (ps->cfg.self_signed) {
		/* Beside the configuration file. */
		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else
			snprintf(dir, sizeof(dir), "%.*s",
				 (int)(slash == ps->path ? 1 : slash - ps->path), ps->path);
		rc = nt_chan_cert_selfsigned(dir, cert, key);
		if (rc) {
			snprintf(
			    err, errlen, "%s: cannot make the self-signed certificate: %s", dir,
			    rc == -EEXIST ? "only one of portal-cert.pem and portal-key.pem exists"
					  : strerror(-rc));
			return rc;
		}
	} else {
		snprintf(cert, NT_CHAN_PATH_MAX, "%s", ps->cfg.certificate);
		snprintf(key, NT_CHAN_PATH_MAX, "%s", ps->cfg.key);
	}
	rc = nt_chan_cert_fingerprint(cert, fp);
	if (rc) {
		snprintf(err, errlen, "%s: not a PEM certificate", cert);
		return -EIO;
	}
	nt_info(MOD, "event=certificate fingerprint=%s file=%s self_signed=%s", fp, cert,
		ps->cfg.self_signed ? "yes" : "no");
	return 0;
}

static int listen_portal(struct nt_portal_server *ps, char *err, size_t errlen)
{
	static const struct nt_chan_server_ops ops = {.authorize = ch_authorize,
						      .connected = ch_connected,
						      .message = ch_message,
						      .closed = ch_closed,
						      .wake = ch_wake};
	char cert[NT_CHAN_PATH_MAX], key[NT_CHAN_PATH_MAX], ip[INET6_ADDRSTRLEN];
	struct nt_chan_server_config cc = {
	    .cert_path = cert, .key_path = key, .port = ps->cfg.listen.port};
	int rc = certificate(ps, cert, key, err, errlen);

	if (rc)
		return rc;
	inet_ntop(ps->cfg.listen.ip.family, ps->cfg.listen.ip.addr, ip, sizeof(ip));
	cc.listen = ip;
	rc = nt_chan_server_new(&ps->chan, &cc, &ops, ps);
	if (rc) {
		snprintf(err, errlen, "cannot listen on %s port %u: %s", ip, ps->cfg.listen.port,
			 strerror(-rc));
		return rc;
	}
	rc = nt_chan_timer_new(ps->chan, on_timer, ps, &ps->timer);
	if (rc)
		snprintf(err, errlen, "cannot make the timer: %s", strerror(-rc));
	return rc;
}

static int start_portal(struct nt_portal_server *ps, const struct nt_portal_model *m, char *err,
			size_t errlen)
{
	const struct nt_portal_ops ops = {
	    .send = op_send, .close = op_close, .timer = op_timer, .ctx = ps};
	struct nt_portal_state st = {0};
	char why[256] = "";
	int rc;

	snprintf(ps->state, sizeof(ps->state), "%s", ps->cfg.state);
	rc = nt_portal_state_read(ps->state, now().unix_s, &st, why, sizeof(why));
	if (rc == -ENOENT) {
		nt_info(MOD, "event=state_new file=%s", ps->cfg.state);
	} else if (rc) {
		snprintf(err, errlen, "%s", why[0] ? why : strerror(-rc));
		return rc == -EINVAL ? -EBADMSG : rc;
	}
	rc = nt_portal_create(&ps->portal, m, rc ? NULL : &st, &ops, now(), err, errlen);
	nt_portal_state_free(&st);
	if (rc == 0) {
		nt_info(MOD,
			"event=started file=%s clients=%zu gateways=%zu resources=%zu state=%s",
			ps->path, ps->cfg.client_count, ps->cfg.gateway_count,
			ps->cfg.resource_count, ps->cfg.state);
		save_state(ps, false);
	}
	return rc;
}

int nt_portal_server_new(struct nt_portal_server **out, const char *config_path, char *err,
			 size_t errlen)
{
	struct nt_portal_server *ps;
	struct nt_config_error cerr;
	struct nt_portal_model_owned own = {0};
	int rc;

	*out = NULL;
	if (strlen(config_path) >= sizeof(ps->path)) {
		snprintf(err, errlen, "%s: path too long", config_path);
		return -EINVAL;
	}
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	snprintf(ps->path, sizeof(ps->path), "%s", config_path);
	rc = nt_portal_config_load(config_path, &ps->cfg, &cerr);
	if (rc) {
		snprintf(err, errlen, "%s", cerr.message);
		free(ps);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	rc = nt_portal_model_from_config(&ps->cfg, &own, err, errlen);
	if (rc == 0)
		rc = nt_portal_model_check(&own.model, err, errlen);
	if (rc == 0) {
		rc = listen_portal(ps, err, errlen);
		/* Only the configuration says -EINVAL: exit 2. */
		rc = rc == -EINVAL ? -EIO : rc;
	}
	if (rc == 0)
		rc = start_portal(ps, &own.model, err, errlen);
	nt_portal_model_owned_free(&own);
	if (rc) {
		nt_portal_server_free(ps);
		return rc;
	}
	*out = ps;
	return 0;
}

int nt_portal_server_run(struct nt_portal_server *ps)
{
	return nt_chan_server_run(ps->chan);
}

void nt_portal_server_reload(struct nt_portal_server *ps)
{
	ps->reload_asked = 1;
	nt_chan_server_wake(ps->chan);
}

void nt_portal_server_stop(struct nt_portal_server *ps)
{
	nt_chan_server_stop(ps->chan);
}

void nt_portal_server_free(struct nt_portal_server *ps)
{
	if (!ps)
		return;
	if (ps->timer)
		nt_chan_timer_free(ps->timer);
	ps->timer = NULL;
	/* Its closed() events still reach the portal. */
	if (ps->chan)
		nt_chan_server_free(ps->chan);
	if (ps->portal) {
		save_state(ps, true);
		nt_portal_destroy(ps->portal);
	}
	nt_portal_config_free(&ps->cfg);
	free(ps);
}
