// SPDX-License-Identifier: MIT
/* Option parsing shared by the subcommands: they run getopt_long the same
 * way and word the same mistakes the same way. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>

#include "core/channel/chan_client.h"
#include "core/cli/cli.h"
#include "core/config/config.h"

int nt_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "notun %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return NT_EXIT_USAGE;
}

void nt_cli_getopt_start(void)
{
	optind = 1; /* getopt's state is global: start again at argv[1] */
	opterr = 0; /* the messages below, prefixed with the subcommand */
}

int nt_cli_option_error(const char *cmd, int opt, char **argv)
{
	if (opt == ':')
		return nt_cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
	return nt_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

int nt_cli_unexpected_arg(const char *cmd, const char *arg)
{
	return nt_cli_usage_error(cmd, "unexpected argument '%s'", arg);
}

int nt_cli_listen_arg(const char *cmd, const char *arg, struct nt_config_listen *out)
{
	if (nt_config_parse_listen(arg, out) != 0)
		return nt_cli_usage_error(cmd, "--listen '%s' is not ADDR:PORT", arg);
	return NT_EXIT_OK;
}

int nt_cli_portal_fatal(const struct nt_config *cfg, const char *role, int fatal)
{
	static const char *const why[] = {
	    [NT_CHAN_FATAL_UNAUTHORIZED] = "the portal refused the token (HTTP 401)",
	    [NT_CHAN_FATAL_TOKEN_EXPIRED] = "the portal says the token expired",
	    [NT_CHAN_FATAL_TOKEN_REVOKED] = "the portal says the token was revoked",
	};

	if (fatal == NT_CHAN_FATAL_GAVE_UP) {
		fprintf(stderr, "notun: %s: gave up reaching the portal at %s\n", role,
			cfg->portal.url);
		return NT_EXIT_FAIL;
	}
	/* A person must fix the token: retrying would not. */
	fprintf(stderr, "notun: %s: %s: fix [Portal] %s in %s\n", role,
		fatal >= 0 && fatal < (int)(sizeof(why) / sizeof(why[0])) ? why[fatal]
									  : "portal error",
		cfg->portal.token_file[0] ? "TokenFile" : "Token", cfg->filename);
	return NT_EXIT_USAGE;
}
