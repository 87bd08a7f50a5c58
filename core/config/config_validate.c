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

/* A TokenFile's token is there only after nt_config_load. */
static int check_token(const struct nt_config *cfg, struct nt_config_error *err,
		       enum nt_token_kind want, const char *what)
{
	const char *token = cfg->portal.token;
	enum nt_token_kind kind;

	if (cfg->portal.line && token[0] &&
	    (!nt_token_check(token, strlen(token), &kind) || kind != want))
		return role_error(cfg, err, cfg->portal.token_line,
				  cfg->portal.token_file[0] ? "TokenFile" : "Token", what);
	return 0;
}

/* Under a portal, the tunnel address comes from the portal's init and
 * the peers from its grants: Address and [Peer] are optional. */
static int validate_portal_client(const struct nt_config *cfg, struct nt_config_error *err)
{
	if (cfg->portal.has_advertise)
		return role_error(cfg, err, cfg->portal.line, "Advertise",
				  "Advertise is for a gateway, not a client");
	return check_token(cfg, err, NT_TOKEN_CLIENT,
			   "a client needs a client token (ntc_...: notun portal token client)");
}

int nt_config_validate_client(const struct nt_config *cfg, struct nt_config_error *err)
{
	size_t i;
	int ret;

	if (cfg->portal.line) {
		ret = validate_portal_client(cfg, err);
		if (ret)
			return ret;
	} else if (cfg->address_count == 0) {
		return role_error(cfg, err, cfg->interface_line, "Address",
				  "a client needs at least one Address in [Interface]");
	} else if (cfg->peer_count == 0) {
		return role_error(cfg, err, 0, NULL, "a client needs at least one [Peer]");
	}
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
	if (!cfg->has_private_key)
		return role_error(cfg, err, cfg->interface_line, "PrivateKey",
				  "[Interface] has no PrivateKey");
	if (cfg->proxy_line)
		return role_error(cfg, err, cfg->proxy_line, NULL,
				  "[Proxy] is for a client, not a gateway");
	return check_token(cfg, err, NT_TOKEN_GATEWAY,
			   "a gateway needs a gateway token (ntg_...: notun portal token gateway)");
}
