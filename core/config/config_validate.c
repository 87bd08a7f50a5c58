// SPDX-License-Identifier: MIT
/* Role checks on a parsed config: what a client and a gateway each need
 * beyond valid syntax (config.h lists them). */
#include "core/config/config_int.h"

#include <stddef.h>
#include <string.h>

#include "core/config/token.h"

static int role_error(const struct nt_config *cfg, struct nt_config_error *err, unsigned int line,
		      const char *key, const char *what)
{
	return nt_config_set_error(err, cfg->filename, line, key, "%s", what);
}

int nt_config_validate_client(const struct nt_config *cfg, struct nt_config_error *err)
{
	size_t i;

	/* Checked first: a portal client will need neither Address nor [Peer]. */
	if (cfg->portal.line)
		return role_error(cfg, err, cfg->portal.line, NULL,
				  "[Portal] in a client's configuration is not supported yet");
	if (cfg->address_count == 0)
		return role_error(cfg, err, cfg->interface_line, "Address",
				  "a client needs at least one Address in [Interface]");
	if (cfg->peer_count == 0)
		return role_error(cfg, err, 0, NULL, "a client needs at least one [Peer]");
	for (i = 0; i < cfg->peer_count; i++) {
		if (!cfg->peers[i].has_endpoint)
			return role_error(cfg, err, cfg->peers[i].line, "Endpoint",
					  "a client's [Peer] needs an Endpoint");
		if (cfg->peers[i].allow_count)
			return role_error(cfg, err, cfg->peers[i].allow[0].line, "Allow",
					  "Allow rules are for a gateway, not a client");
	}
	if (cfg->gateway_line)
		return role_error(cfg, err, cfg->gateway_line, NULL,
				  "[Gateway] is for a gateway, not a client");
	return 0;
}

int nt_config_validate_gateway(const struct nt_config *cfg, struct nt_config_error *err)
{
	if (!cfg->has_listen_port)
		return role_error(cfg, err, cfg->interface_line, "ListenPort",
				  "a gateway needs a ListenPort in [Interface]");
	enum nt_token_kind kind;
	const char *token = cfg->portal.token;

	if (cfg->proxy_line)
		return role_error(cfg, err, cfg->proxy_line, NULL,
				  "[Proxy] is for a client, not a gateway");
	/* A TokenFile's token is there only after nt_config_load. */
	if (cfg->portal.line && token[0] &&
	    (!nt_token_check(token, strlen(token), &kind) || kind != NT_TOKEN_GATEWAY))
		return role_error(cfg, err, cfg->portal.token_line,
				  cfg->portal.token_file[0] ? "TokenFile" : "Token",
				  "a gateway needs a gateway token (ntg_...: notun portal token "
				  "gateway)");
	return 0;
}
