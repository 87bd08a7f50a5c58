// SPDX-License-Identifier: MIT
/* The client role's parts on a loop (wire.h). */
#include "core/lib/wire.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "core/config/config.h"
#include "core/engine/engine.h"
#include "core/wg/key.h"
#include "netstack/splice.h"
#include "platform/log.h"
#include "platform/sockaddr.h"
#include "proxy/proxy.h"

#define MOD "client"

_Static_assert(NT_CONFIG_MAX_LISTEN <= NT_ENGINE_OWN_MAX, "every listener is told to the engine");

void nt_wire_prepare(struct nt_config *cfg)
{
	for (size_t i = 0; i < cfg->warning_count; i++)
		nt_warn(MOD, "event=config_warning msg=\"%s\"", cfg->warnings[i].message);
	if (!cfg->has_private_key) {
		nt_key_generate_private(cfg->private_key);
		(void)nt_key_public(cfg->public_key, cfg->private_key);
	}
}

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

int nt_wire_up(struct nt_loop *loop, const struct nt_config *cfg, bool engine_only,
	       struct nt_wire *w, const char **what)
{
	int ret;

	memset(w, 0, sizeof(*w));
	*what = "start the engine";
	ret = nt_engine_new(loop, cfg, NULL, &w->engine);
	if (ret != 0)
		return ret;
	if (engine_only)
		return 0;
	*what = "listen";
	ret = proxy_up(loop, w->engine, cfg, &w->proxy);
	if (ret != 0) {
		nt_engine_free(w->engine);
		w->engine = NULL;
	}
	return ret;
}

void nt_wire_down(struct nt_wire *w)
{
	nt_proxy_free(w->proxy);
	/* Spliced connections are no longer the proxy's; they die with us. */
	nt_splice_close_all();
	nt_engine_free(w->engine);
	memset(w, 0, sizeof(*w));
}
