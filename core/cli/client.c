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

static void on_signal(struct nt_loop *loop, int signo, void *arg)
{
	(void)arg;
	nt_info(MOD, "event=stopping signal=%s", strsignal(signo));
	nt_loop_stop(loop);
}

struct nt_client {
	struct nt_config cfg;
	struct nt_wire w;
	struct nt_ctl *ctl; /* NULL: engine_only */
};

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

int nt_client_load_config(const struct nt_client_options *opts, struct nt_config *cfg)
{
	struct nt_config_error err;
	bool exposed = false;
	unsigned int mode = 0;
	int ret;

	ret = nt_config_load(opts->config_path, cfg, &err, &exposed, &mode);
	if (ret == 0)
		ret = nt_config_validate_client(cfg, &err);
	if (ret != 0) {
		fprintf(stderr, "notun: %s\n", err.message);
		return NT_EXIT_USAGE;
	}
	nt_wire_prepare(cfg);
	if (exposed)
		nt_warn(MOD, "event=config_readable_by_others file=%s mode=%04o hint=\"chmod 600\"",
			opts->config_path, mode);
	if (opts->listen_count) {
		memcpy(cfg->listen, opts->listen, opts->listen_count * sizeof(*opts->listen));
		cfg->listen_count = opts->listen_count;
	}
	apply_credentials(opts, cfg);
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

int nt_client_run(const struct nt_client_options *opts)
{
	struct nt_loop *loop = NULL;
	struct nt_client *c = NULL;
	int ret, code = NT_EXIT_FAIL;

	ret = nt_loop_new(&loop);
	if (ret != 0) {
		fprintf(stderr, "notun: cannot create the event loop: %s\n", strerror(-ret));
		return NT_EXIT_FAIL;
	}
	if (nt_loop_add_signal(loop, SIGINT, on_signal, NULL) != 0 ||
	    nt_loop_add_signal(loop, SIGTERM, on_signal, NULL) != 0)
		goto out_loop;
	code = nt_client_start(loop, opts, &c);
	if (code != NT_EXIT_OK)
		goto out_loop;
	ret = nt_loop_run(loop);
	code = ret == 0 ? NT_EXIT_OK : NT_EXIT_FAIL;
	if (nt_engine_portal_fatal(c->w.engine) >= 0)
		code = nt_cli_portal_fatal(&c->cfg, "client", nt_engine_portal_fatal(c->w.engine));
	nt_client_stop(c);
out_loop:
	nt_loop_free(loop);
	return code;
}
