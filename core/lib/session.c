// SPDX-License-Identifier: MIT
/* A session of the library (notun.h): the configuration, the engine thread
 * (a loop with the engine and the proxy, core/lib/wire.h), the command queue
 * into that loop and the event queue out of it.
 *
 * The engine never calls the host: its observer (engine.h) and the session's
 * own steps turn into events in the bounded queue (evq.h). Commands travel
 * through platform/queue.h, whose eventfd the loop watches.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/channel/chan_client.h"
#include "core/config/config.h"
#include "core/engine/engine.h"
#include "core/engine/engine_portal.h"
#include "core/lib/evq.h"
#include "core/lib/lib_int.h"
#include "core/lib/notun.h"
#include "core/lib/wire.h"
#include "core/phx/pmsg.h"
#include "core/wg/key.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "platform/queue.h"
#include "platform/sockaddr.h"
#include "proxy/proxy.h"

#define MOD "lib"

_Static_assert(NOTUN_LISTEN_MAX <= NT_CONFIG_MAX_LISTEN, "the options' listeners fit the config");
_Static_assert(NOTUN_ID_MAX == NT_PMSG_ID_MAX, "resource and gateway ids fit the events");
_Static_assert((int)NOTUN_LOG_OFF == (int)NT_LOG_OFF, "the levels are the log's");

struct cmd {
	enum notun_command type;
	int level;
	char id[NOTUN_ID_MAX + 1];
};

struct notun_session {
	struct nt_config cfg;
	struct nt_evq *events;
	struct nt_queue *cmds;
	int log_fd;
	enum nt_log_level log_level;
	/* Set by start, cleared by stop after the join: one thread at a time. */
	bool started;
	atomic_bool running; /* commands accepted */
	pthread_t thread;
	struct nt_loop *loop;
	struct nt_wire w;
	sem_t up; /* the thread's start-up is over: start_err tells how */
	int start_err;
};

/* lwIP is one stack per process. */
static atomic_bool claimed;

/* ---- events ---- */

static void emit(struct notun_session *s, const struct notun_event *ev, const char *key)
{
	bool urgent = ev->type == NOTUN_EVENT_STOPPED || ev->type == NOTUN_EVENT_FATAL;

	if (nt_evq_push(s->events, ev, key, urgent) != 0)
		nt_debug(MOD, "event=host_event_dropped type=%s", notun_event_name(ev->type));
}

static void on_peer(void *arg, const struct nt_engine_peer_state *st)
{
	struct notun_event ev = {.type = st->up ? NOTUN_EVENT_TUNNEL_UP : NOTUN_EVENT_TUNNEL_DOWN};
	char key[NT_EVQ_KEY_MAX];

	nt_key_to_base64(ev.u.tunnel.public_key, st->public_key);
	if (st->endpoint.ss_family) /* else "": learnt from its first handshake */
		nt_sockaddr_str(&st->endpoint, ev.u.tunnel.endpoint, sizeof(ev.u.tunnel.endpoint));
	ev.u.tunnel.last_handshake_ms = st->last_handshake_ms;
	snprintf(key, sizeof(key), "tunnel %s", ev.u.tunnel.public_key);
	emit(arg, &ev, key);
}

static void on_portal(void *arg, bool joined, const char *reason, uint32_t retry_ms)
{
	struct notun_event ev = {.type = joined ? NOTUN_EVENT_PORTAL_CONNECTED
						: NOTUN_EVENT_PORTAL_DISCONNECTED};

	snprintf(ev.u.portal.reason, sizeof(ev.u.portal.reason), "%s", reason);
	ev.u.portal.retry_ms = retry_ms;
	emit(arg, &ev, "portal");
}

static void on_resources(void *arg, size_t count)
{
	struct notun_event ev = {.type = NOTUN_EVENT_RESOURCES_UPDATED};

	ev.u.resources.count = count;
	emit(arg, &ev, "resources");
}

static void on_access(void *arg, const char *rid, enum nt_engine_access st, const char *gid,
		      int64_t expires_at, const char *why)
{
	static const enum notun_access_state map[] = {
	    [NT_ENGINE_ACCESS_NONE] = NOTUN_ACCESS_NONE,
	    [NT_ENGINE_ACCESS_PENDING] = NOTUN_ACCESS_PENDING,
	    [NT_ENGINE_ACCESS_GRANTED] = NOTUN_ACCESS_GRANTED,
	    [NT_ENGINE_ACCESS_DENIED] = NOTUN_ACCESS_DENIED,
	    [NT_ENGINE_ACCESS_FAILED] = NOTUN_ACCESS_FAILED,
	};
	struct notun_event ev = {.type = NOTUN_EVENT_ACCESS};
	char key[NT_EVQ_KEY_MAX];

	snprintf(ev.u.access.resource_id, sizeof(ev.u.access.resource_id), "%s", rid);
	ev.u.access.state = map[st];
	snprintf(ev.u.access.gateway_id, sizeof(ev.u.access.gateway_id), "%s", gid);
	ev.u.access.expires_at = expires_at;
	snprintf(ev.u.access.text, sizeof(ev.u.access.text), "%s", why);
	snprintf(key, sizeof(key), "access %s", rid);
	emit(arg, &ev, key);
}

static void emit_listeners(struct notun_session *s)
{
	struct notun_event ev = {.type = NOTUN_EVENT_LISTENER_READY};

	for (size_t i = 0; i < s->cfg.listen_count && i < NOTUN_LISTEN_MAX; i++)
		nt_sockaddr_str(nt_proxy_bound_addr(s->w.proxy, i), ev.u.listener.addr[i],
				   NOTUN_ADDR_MAX);
	ev.u.listener.count =
	    s->cfg.listen_count < NOTUN_LISTEN_MAX ? s->cfg.listen_count : NOTUN_LISTEN_MAX;
	emit(s, &ev, NULL);
}

static void emit_fatal(struct notun_session *s, int err, const char *text)
{
	struct notun_event ev = {.type = NOTUN_EVENT_FATAL};

	ev.u.fatal.error = err;
	snprintf(ev.u.fatal.text, sizeof(ev.u.fatal.text), "%s", text);
	emit(s, &ev, NULL);
}

/* ---- commands, on the loop ---- */

static void run_cmd(struct notun_session *s, const struct cmd *c)
{
	struct notun_event ev = {.type = NOTUN_EVENT_COMMAND_FAILED};
	int ret = 0;

	switch (c->type) {
	case NOTUN_CMD_STOP:
		nt_info(MOD, "event=stop_requested");
		nt_loop_stop(s->loop);
		break;
	case NOTUN_CMD_RESET:
		nt_engine_reset(s->w.engine);
		break;
	case NOTUN_CMD_RESOURCE_DISABLE:
	case NOTUN_CMD_RESOURCE_ENABLE:
		ret = nt_engine_resource_disable(s->w.engine, c->id,
						 c->type == NOTUN_CMD_RESOURCE_DISABLE);
		break;
	case NOTUN_CMD_SET_LOG_LEVEL:
		nt_log_set_level((enum nt_log_level)c->level);
		break;
	}
	if (ret == 0)
		return;
	ev.u.command.command = c->type;
	ev.u.command.error = ret;
	memcpy(ev.u.command.resource_id, c->id, sizeof(c->id));
	emit(s, &ev, NULL);
}

static void on_cmds(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct notun_session *s = arg;
	struct cmd c;

	(void)loop;
	(void)fd;
	(void)events;
	/* Level-triggered: what is left wakes the loop again. */
	for (unsigned i = 0; i < NT_LIB_CMDS_PER_WAKE && nt_queue_pop(s->cmds, &c) == 0; i++)
		run_cmd(s, &c);
}

static int send_cmd(struct notun_session *s, const struct cmd *c)
{
	if (!s || !atomic_load(&s->running))
		return -ENOTCONN;
	return nt_queue_push(s->cmds, c);
}

/* ---- the session's thread ---- */

static void *session_main(void *arg)
{
	struct notun_session *s = arg;
	const char *what;
	int ret, fatal;

	nt_wire_prepare(&s->cfg);
	ret = nt_loop_add_fd(s->loop, nt_queue_fd(s->cmds), NT_EV_READ, on_cmds, s);
	if (ret == 0) {
		ret = nt_wire_up(s->loop, &s->cfg, false, &s->w, &what);
		if (ret != 0) {
			nt_error(MOD, "event=start_failed what=\"%s\" err=%s", what,
				 strerror(-ret));
			nt_loop_del_fd(s->loop, nt_queue_fd(s->cmds));
		}
	}
	s->start_err = ret;
	if (ret != 0) {
		sem_post(&s->up);
		return NULL;
	}
	static const struct nt_engine_observer obs_template = {
	    .peer = on_peer, .portal = on_portal, .resources = on_resources, .access = on_access};
	struct nt_engine_observer obs = obs_template;

	obs.arg = s;
	nt_engine_set_observer(s->w.engine, &obs);
	emit_listeners(s);
	atomic_store(&s->running, true);
	sem_post(&s->up);

	ret = nt_loop_run(s->loop);
	atomic_store(&s->running, false);
	fatal = nt_engine_portal_fatal(s->w.engine);
	if (ret != 0)
		emit_fatal(s, ret, "the event loop failed");
	else if (fatal >= 0)
		emit_fatal(s, fatal == NT_CHAN_FATAL_GAVE_UP ? -ETIMEDOUT : -EACCES,
			   nt_chan_fatal_name((enum nt_chan_fatal)fatal));
	nt_loop_del_fd(s->loop, nt_queue_fd(s->cmds));
	nt_engine_set_observer(s->w.engine, NULL);
	nt_wire_down(&s->w);
	/* Commands that came too late. */
	struct cmd c;

	while (nt_queue_pop(s->cmds, &c) == 0)
		;
	struct notun_event ev = {.type = NOTUN_EVENT_STOPPED};

	emit(s, &ev, NULL);
	return NULL;
}

/* ---- the API ---- */

void notun_options_init(struct notun_options *o)
{
	memset(o, 0, sizeof(*o));
	o->log_fd = -1;
	o->log_level = NOTUN_LOG_INFO;
}

static int load(struct notun_session *s, const struct notun_options *o, char *msg, size_t cap)
{
	struct nt_config_error err = {0};
	int ret;

	if (!o->config_path == !o->config_text || o->listen_count > NOTUN_LISTEN_MAX ||
	    o->log_level < NOTUN_LOG_TRACE || o->log_level > NOTUN_LOG_OFF) {
		snprintf(err.message, sizeof(err.message),
			 "bad options: one of config_path and config_text, at most %d listeners",
			 NOTUN_LISTEN_MAX);
		ret = -EINVAL;
		goto out;
	}
	ret = o->config_path ? nt_config_load(o->config_path, &s->cfg, &err, NULL, NULL)
			     : nt_config_parse(o->config_text, o->config_len, NULL, &s->cfg, &err);
	if (ret == 0)
		ret = nt_config_validate_client(&s->cfg, &err);
	for (size_t i = 0; ret == 0 && i < o->listen_count; i++) {
		ret = o->listen[i] ? nt_config_parse_listen(o->listen[i], &s->cfg.listen[i])
				   : -EINVAL;
		if (ret)
			snprintf(err.message, sizeof(err.message), "listen %zu: not ADDRESS:PORT",
				 i);
	}
	if (ret == 0 && o->listen_count)
		s->cfg.listen_count = o->listen_count;
out:
	if (ret && msg && cap)
		snprintf(msg, cap, "%s", err.message);
	return ret;
}

int notun_session_new(const struct notun_options *o, struct notun_session **out, char *msg,
		      size_t msg_cap)
{
	struct notun_session *s;
	int ret;

	if (!o || !out)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = load(s, o, msg, msg_cap);
	if (ret)
		goto err_cfg;
	s->log_fd = o->log_fd;
	s->log_level = o->log_fd < 0 ? NT_LOG_OFF : (enum nt_log_level)o->log_level;
	ret = nt_evq_new(&s->events, NOTUN_EVENTS_MAX, NT_LIB_EVENTS_RESERVE,
			 sizeof(struct notun_event));
	if (ret)
		goto err_cfg;
	ret = nt_queue_new(&s->cmds, NT_LIB_CMDS_MAX, sizeof(struct cmd));
	if (ret)
		goto err_events;
	if (sem_init(&s->up, 0, 0) != 0) {
		ret = -errno;
		goto err_cmds;
	}
	*out = s;
	return 0;

err_cmds:
	nt_queue_free(s->cmds);
err_events:
	nt_evq_free(s->events);
err_cfg:
	nt_config_free(&s->cfg);
	free(s);
	return ret;
}

int notun_session_start(struct notun_session *s)
{
	sigset_t all, old;
	int ret;

	if (!s)
		return -EINVAL;
	if (s->started)
		return -EALREADY;
	if (atomic_exchange(&claimed, true))
		return -EBUSY;
	nt_log_set_fd(s->log_fd);
	nt_log_set_level(s->log_level);
	ret = nt_loop_new(&s->loop);
	if (ret)
		goto err_claim;
	/* The thread (and the channel's and resolver's it starts) inherit
	 * this mask: signals are the host's threads' business. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&s->thread, NULL, session_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		goto err_loop;
	while (sem_wait(&s->up) != 0 && errno == EINTR)
		;
	ret = s->start_err;
	if (ret) {
		pthread_join(s->thread, NULL);
		goto err_loop;
	}
	s->started = true;
	return 0;

err_loop:
	nt_loop_free(s->loop);
	s->loop = NULL;
err_claim:
	nt_log_set_level(NT_LOG_OFF);
	nt_log_set_fd(-1);
	atomic_store(&claimed, false);
	return ret;
}

int notun_session_stop(struct notun_session *s)
{
	if (!s || !s->started)
		return -EINVAL;
	nt_loop_stop(s->loop);
	pthread_join(s->thread, NULL);
	nt_loop_free(s->loop);
	s->loop = NULL;
	s->started = false;
	/* The host's fd is not written any more. */
	nt_log_set_level(NT_LOG_OFF);
	nt_log_set_fd(-1);
	atomic_store(&claimed, false);
	return 0;
}

void notun_session_free(struct notun_session *s)
{
	if (!s)
		return;
	if (s->started)
		(void)notun_session_stop(s);
	sem_destroy(&s->up);
	nt_queue_free(s->cmds);
	nt_evq_free(s->events);
	nt_config_free(&s->cfg);
	free(s);
}

int notun_request_stop(struct notun_session *s)
{
	struct cmd c = {.type = NOTUN_CMD_STOP};

	return send_cmd(s, &c);
}

int notun_reset(struct notun_session *s)
{
	struct cmd c = {.type = NOTUN_CMD_RESET};

	return send_cmd(s, &c);
}

static int resource_cmd(struct notun_session *s, enum notun_command type, const char *id)
{
	struct cmd c = {.type = type};

	if (!id || !id[0] || strlen(id) > NOTUN_ID_MAX)
		return -EINVAL;
	memcpy(c.id, id, strlen(id) + 1);
	return send_cmd(s, &c);
}

int notun_resource_disable(struct notun_session *s, const char *resource_id)
{
	return resource_cmd(s, NOTUN_CMD_RESOURCE_DISABLE, resource_id);
}

int notun_resource_enable(struct notun_session *s, const char *resource_id)
{
	return resource_cmd(s, NOTUN_CMD_RESOURCE_ENABLE, resource_id);
}

int notun_set_log_level(struct notun_session *s, enum notun_log_level level)
{
	struct cmd c = {.type = NOTUN_CMD_SET_LOG_LEVEL, .level = (int)level};

	if (level < NOTUN_LOG_TRACE || level > NOTUN_LOG_OFF)
		return -EINVAL;
	/* Without a log fd the log stays off. */
	if (s && s->log_fd < 0)
		c.level = NT_LOG_OFF;
	return send_cmd(s, &c);
}

int notun_next_event(struct notun_session *s, struct notun_event *ev)
{
	uint32_t lost;

	if (!s || !ev)
		return -EINVAL;
	if (nt_evq_pop(s->events, ev, &lost) != 0)
		return -EAGAIN;
	ev->dropped = lost;
	return 0;
}

int notun_event_fd(const struct notun_session *s)
{
	return s ? nt_evq_fd(s->events) : -EINVAL;
}

uint64_t notun_events_dropped(const struct notun_session *s)
{
	return s ? nt_evq_lost(s->events) : 0;
}
