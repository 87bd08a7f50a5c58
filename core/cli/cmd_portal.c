// SPDX-License-Identifier: MIT
/* notun portal: the control plane. "token client|gateway" prints a new
 * token and its TokenHash line; "-c FILE" (the portal itself) checks the
 * configuration for now. One table of actions, so more fit in. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/cli/cli.h"
#include "core/config/portal_config.h"
#include "core/config/token.h"

#define CMD "portal"

static int cmd_token(int argc, char **argv)
{
	uint8_t raw[NT_TOKEN_RAW_LEN], hash[NT_TOKEN_HASH_LEN];
	char token[NT_TOKEN_LEN + 1], hash_b64[NT_TOKEN_HASH_B64_LEN + 1];
	enum nt_token_kind kind;
	int ok;

	if (argc != 2 || (strcmp(argv[1], "client") && strcmp(argv[1], "gateway")))
		return nt_cli_usage_error(CMD, "usage: notun portal token client|gateway");
	kind = strcmp(argv[1], "client") == 0 ? NT_TOKEN_CLIENT : NT_TOKEN_GATEWAY;
	randombytes_buf(raw, sizeof(raw));
	nt_token_from_bytes(token, kind, raw);
	nt_token_hash(hash, token, NT_TOKEN_LEN);
	nt_token_hash_to_base64(hash_b64, hash);
	ok = printf("%s\nTokenHash = %s\n", token, hash_b64) > 0 && fflush(stdout) == 0;
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(token, sizeof(token));
	if (!ok) {
		fprintf(stderr, "notun %s: cannot write the token: %s\n", CMD, strerror(errno));
		return NT_EXIT_FAIL;
	}
	return NT_EXIT_OK;
}

/* notun portal -c FILE: the portal role is not built yet; its
 * configuration can be checked already. */
static int cmd_run(int argc, char **argv)
{
	struct nt_portal_config cfg;
	struct nt_config_error err;

	if (argc != 2)
		return nt_cli_usage_error(CMD, "usage: notun portal -c FILE");
	if (nt_portal_config_load(argv[1], &cfg, &err) != 0) {
		fprintf(stderr, "notun: %s\n", err.message);
		return NT_EXIT_USAGE;
	}
	nt_portal_config_free(&cfg);
	fprintf(stderr, "notun %s: %s is valid; the portal itself is not built yet\n", CMD,
		argv[1]);
	return NT_EXIT_FAIL;
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the action */
} actions[] = {
    {"token", cmd_token},
    {"-c", cmd_run},
};

int nt_cmd_portal(int argc, char **argv)
{
	if (argc < 2)
		return nt_cli_usage_error(CMD,
					  "usage: notun portal token client|gateway | -c FILE");
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strcmp(argv[1], actions[i].name) == 0)
			return actions[i].run(argc - 1, argv + 1);
	}
	return nt_cli_usage_error(CMD, "unknown action '%s' (token client|gateway, or -c FILE)",
				  argv[1]);
}
