// SPDX-License-Identifier: MIT
/* The client role: configuration to a running engine and proxy on a loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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
#include "core/wg/key.h"
#include "netstack/splice.h"
#include "platform/log.h"
#include "platform/loop.h"
#include "platform/sockaddr.h"
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
	struct nt_engine *engine;
	struct nt_proxy *proxy; /* NULL: engine_only */
	struct nt_ctl *ctl;	/* NULL: engine_only */
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
	for (size_t i = 0; i < cfg->warning_count; i++)
		nt_warn(MOD, "event=config_warning msg=\"%s\"", cfg->warnings[i].message);
	if (exposed)
		nt_warn(MOD, "event=config_readable_by_others file=%s mode=%04o hint=\"chmod 600\"",
			opts->config_path, mode);
	if (opts->listen_count) {
		memcpy(cfg->listen, opts->listen, opts->listen_count * sizeof(*opts->listen));
		cfg->listen_count = opts->listen_count;
	}
	apply_credentials(opts, cfg);
	/* A portal client without a key: a fresh one, never written anywhere. */
	if (!cfg->has_private_key) {
		nt_key_generate_private(cfg->private_key);
		(void)nt_key_public(cfg->public_key, cfg->private_key);
	}
	return NT_EXIT_OK;
}

_Static_assert(NT_CONFIG_MAX_LISTEN <= NT_ENGINE_OWN_MAX, "every listener is told to the engine");

static int proxy_up(struct nt_loop *loop, struct nt_engine *engine, const struct nt_config *cfg,
		    struct nt_proxy **out)
{
	struct sockaddr_storage listen[NT_CONFIG_MAX_LISTEN];
	struct nt_proxy_config pc;
	size_t i;
	int ret;

	nt_proxy_config_init(&pc);
	for (i = 0; i < cfg->listen_count; i++)
		nt_sockaddr_set(&listen[i], cfg->listen[i].ip.family, cfg->listen[i].ip.addr,
				cfg->listen[i].port);
	pc.listen = listen;
	pc.listen_count = cfg->listen_count;
	if (cfg->username[0]) {
		pc.username = cfg->username;
		pc.password = cfg->password;
	}
	pc.max_clients = cfg->max_connections;
	ret = nt_proxy_new(loop, engine, &pc, out);
	if (ret != 0)
		return ret;
	/* The engine refuses to connect back to these: a request naming the
	 * proxy would otherwise nest without end. */
	for (i = 0; i < cfg->listen_count; i++)
		listen[i] = *nt_proxy_bound_addr(*out, i);
	(void)nt_engine_set_own_listeners(engine, listen, cfg->listen_count);
	for (i = 0; i < cfg->listen_count; i++) {
		char addr[INET6_ADDRSTRLEN];

		inet_ntop(cfg->listen[i].ip.family, cfg->listen[i].ip.addr, addr, sizeof(addr));
		nt_info(MOD, "event=listening proxy=socks5+http addr=%s port=%u auth=%s", addr,
			nt_proxy_bound_port(*out, i), pc.username ? "password" : "none");
	}
	return 0;
}

int nt_client_start(struct nt_loop *loop, const struct nt_client_options *opts,
		    struct nt_client **out)
{
	struct nt_client *c;
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
	ret = nt_engine_new(loop, &c->cfg, NULL, &c->engine);
	if (ret != 0) {
		fprintf(stderr, "notun: cannot start the engine: %s\n", strerror(-ret));
		goto err_config;
	}
	if (!opts->engine_only) {
		ret = proxy_up(loop, c->engine, &c->cfg, &c->proxy);
		if (ret != 0) {
			fprintf(stderr, "notun: cannot listen: %s\n", strerror(-ret));
			goto err_engine;
		}
		ret = nt_ctl_start(loop,
				   &(struct nt_ctl_config){
				       .src = {.role = NT_CTL_CLIENT, .engine = c->engine,
					       .proxy = c->proxy},
				       .control = opts->control,
				       .config_path = opts->config_path,
				       .cfg = &c->cfg},
				   &c->ctl);
		if (ret != 0) {
			fprintf(stderr, "notun: cannot serve [Metrics]: %s\n", strerror(-ret));
			goto err_proxy;
		}
	}
	*out = c;
	return NT_EXIT_OK;

err_proxy:
	nt_proxy_free(c->proxy);
err_engine:
	nt_engine_free(c->engine);
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
	nt_proxy_free(c->proxy);
	/* Spliced connections are no longer the proxy's; they die with us. */
	nt_splice_close_all();
	nt_engine_free(c->engine);
	nt_config_free(&c->cfg);
	free(c);
}

struct nt_engine *nt_client_engine(const struct nt_client *c)
{
	return c->engine;
}

uint16_t nt_client_bound_port(const struct nt_client *c, size_t index)
{
	return c->proxy ? nt_proxy_bound_port(c->proxy, index) : 0;
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
	if (nt_engine_portal_fatal(c->engine) >= 0)
		code = nt_cli_portal_fatal(&c->cfg, "client", nt_engine_portal_fatal(c->engine));
	nt_client_stop(c);
out_loop:
	nt_loop_free(loop);
	return code;
}
