// SPDX-License-Identifier: MIT
/* The client role: configuration to a running engine and proxy on a loop. */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cli/cli.h"
#include "core/cli/client.h"
#include "core/ctl/ctl.h"
#include "core/engine/engine.h"
#include "core/engine/engine_portal.h"
#include "core/lib/wire.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "proxy/proxy.h"

#define MOD "client"

struct nt_client {
	struct nt_config cfg;
	struct nt_wire w;
	struct nt_ctl *ctl; /* NULL: engine_only */
};

/* What the signals of `notun up` act on; c is set once it runs. */
struct signal_ctx {
	struct nt_client *c;
	const struct nt_client_options *opts;
};

static void on_signal(struct nt_loop *loop, int signo, void *arg)
{
	(void)arg;
	nt_info(MOD, "event=stopping signal=%s", strsignal(signo));
	nt_loop_stop(loop);
}

static void on_usr1(struct nt_loop *loop, int signo, void *arg)
{
	struct signal_ctx *sc = arg;

	(void)loop;
	(void)signo;
	if (sc->c && sc->c->ctl)
		nt_ctl_log_counters(sc->c->ctl);
}

static void on_hup(struct nt_loop *loop, int signo, void *arg)
{
	struct signal_ctx *sc = arg;

	(void)loop;
	(void)signo;
	if (sc->c)
		nt_client_reload(sc->c, sc->opts);
}

static void apply_credentials(const struct nt_client_options *opts, struct nt_config *cfg)
{
	if (opts->no_auth || (opts->username && opts->password)) {
		sodium_memzero(cfg->username, sizeof(cfg->username));
		sodium_memzero(cfg->password, sizeof(cfg->password));
	}
	if (!opts->no_auth && opts->username && opts->password) {
		snprintf(cfg->username, sizeof(cfg->username), "%s", opts->username);
		snprintf(cfg->password, sizeof(cfg->password), "%s", opts->password);
	}
}

/* 0, or a negative errno with err filled. */
static int load(const struct nt_client_options *opts, struct nt_config *cfg,
		struct nt_config_error *err)
{
	bool exposed = false;
	unsigned int mode = 0;
	int ret;

	ret = nt_config_load(opts->config_path, cfg, err, &exposed, &mode);
	if (ret == 0)
		ret = nt_config_validate_client(cfg, err);
	if (ret != 0)
		return ret;
	nt_wire_prepare(cfg);
	if (exposed)
		nt_warn(MOD, "event=config_readable_by_others file=%s mode=%04o hint=\"chmod 600\"",
			opts->config_path, mode);
	if (opts->listen_count) {
		memcpy(cfg->listen, opts->listen, opts->listen_count * sizeof(*opts->listen));
		cfg->listen_count = opts->listen_count;
	}
	apply_credentials(opts, cfg);
	return 0;
}

int nt_client_load_config(const struct nt_client_options *opts, struct nt_config *cfg)
{
	struct nt_config_error err;

	if (load(opts, cfg, &err) != 0) {
		fprintf(stderr, "notun: %s\n", err.message);
		return NT_EXIT_USAGE;
	}
	return NT_EXIT_OK;
}

int nt_client_start(struct nt_loop *loop, const struct nt_client_options *opts,
		    struct nt_client **out)
{
	struct nt_client *c;
	const char *what;
	int ret, code;

	c = calloc(1, sizeof(*c));
	if (!c) {
		fprintf(stderr, "notun: out of memory\n");
		return NT_EXIT_FAIL;
	}
	code = nt_client_load_config(opts, &c->cfg);
	if (code != NT_EXIT_OK)
		goto err_config;
	code = NT_EXIT_FAIL;
	/* A client that went away must not kill us on the next write. */
	signal(SIGPIPE, SIG_IGN);
	ret = nt_wire_up(loop, &c->cfg, opts->engine_only, &c->w, &what);
	if (ret != 0) {
		fprintf(stderr, "notun: cannot %s: %s\n", what, strerror(-ret));
		goto err_config;
	}
	if (!opts->engine_only) {
		ret = nt_ctl_start(loop,
				   &(struct nt_ctl_config){.src = {.role = NT_CTL_CLIENT,
								   .engine = c->w.engine,
								   .proxy = c->w.proxy,
								   .command = opts->command},
							   .control = opts->control,
							   .config_path = opts->config_path,
							   .cfg = &c->cfg},
				   &c->ctl);
		if (ret != 0) {
			fprintf(stderr, "notun: cannot serve [Metrics]: %s\n", strerror(-ret));
			goto err_wire;
		}
	}
	*out = c;
	return NT_EXIT_OK;

err_wire:
	nt_wire_down(&c->w);
err_config:
	nt_config_free(&c->cfg);
	free(c);
	return code;
}

void nt_client_stop(struct nt_client *c)
{
	if (!c)
		return;
	nt_ctl_stop(c->ctl);
	nt_wire_down(&c->w);
	nt_config_free(&c->cfg);
	free(c);
}

struct nt_engine *nt_client_engine(const struct nt_client *c)
{
	return c->w.engine;
}

uint16_t nt_client_bound_port(const struct nt_client *c, size_t index)
{
	return c->w.proxy ? nt_proxy_bound_port(c->w.proxy, index) : 0;
}

void nt_client_reload(struct nt_client *c, const struct nt_client_options *opts)
{
	struct nt_config *next = calloc(1, sizeof(*next));
	struct nt_config_error err = {0};
	char keys[160];
	int ret;

	nt_info(MOD, "event=reloading file=%s", opts->config_path);
	ret = next ? load(opts, next, &err) : -ENOMEM;
	if (ret == 0)
		ret = nt_engine_reload(c->w.engine, &c->cfg, next);
	if (ret != 0) {
		nt_error(MOD, "event=reload_failed file=%s line=%u key=%s reason=\"%s\"",
			 opts->config_path, err.line, err.key[0] ? err.key : "-",
			 err.message[0] ? err.message : strerror(-ret));
		goto out;
	}
	if (nt_config_restart_keys(&c->cfg, next, keys, sizeof(keys)))
		nt_warn(MOD, "event=reload_needs_restart keys=%s", keys);
	if (c->w.proxy &&
	    nt_proxy_set_credentials(c->w.proxy, next->username[0] ? next->username : NULL,
				     next->username[0] ? next->password : NULL) != 0)
		nt_warn(MOD, "event=reload_credentials_kept reason=\"out of memory\"");
	nt_config_take_reloadable(&c->cfg, next);
	nt_info(MOD, "event=reloaded file=%s peers=%zu auth=%s", opts->config_path,
		c->cfg.peer_count, c->cfg.username[0] ? "password" : "none");
out:
	if (next)
		nt_config_free(next);
	free(next);
}

int nt_client_run(const struct nt_client_options *opts)
{
	struct nt_loop *loop = NULL;
	struct nt_client *c = NULL;
	struct signal_ctx sc = {.opts = opts};
	int ret, code = NT_EXIT_FAIL;

	ret = nt_loop_new(&loop);
	if (ret != 0) {
		fprintf(stderr, "notun: cannot create the event loop: %s\n", strerror(-ret));
		return NT_EXIT_FAIL;
	}
	if (nt_loop_add_signal(loop, SIGINT, on_signal, NULL) != 0 ||
	    nt_loop_add_signal(loop, SIGTERM, on_signal, NULL) != 0 ||
	    nt_loop_add_signal(loop, SIGUSR1, on_usr1, &sc) != 0 ||
	    nt_loop_add_signal(loop, SIGHUP, on_hup, &sc) != 0)
		goto out_loop;
	code = nt_client_start(loop, opts, &c);
	if (code != NT_EXIT_OK)
		goto out_loop;
	sc.c = c;
	ret = nt_loop_run(loop);
	code = ret == 0 ? NT_EXIT_OK : NT_EXIT_FAIL;
	if (nt_engine_portal_fatal(c->w.engine) >= 0)
		code = nt_cli_portal_fatal(&c->cfg, "client", nt_engine_portal_fatal(c->w.engine));
	nt_client_stop(c);
out_loop:
	nt_loop_free(loop);
	return code;
}
