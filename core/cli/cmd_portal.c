// SPDX-License-Identifier: MIT
/* notun portal: the control plane. "token client|gateway" prints a new
 * token and its TokenHash line; "-c FILE" runs the portal
 * (core/portal/portal_server.h). One table of actions, so more fit in. */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/cli/cli.h"
#include "core/config/portal_config.h"
#include "core/config/token.h"
#include "core/portal/portal_server.h"
#include "platform/log.h"

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

static struct nt_portal_server *running;

/* Async-signal-safe: both only set a flag and wake the loop. */
static void on_signal(int signo)
{
	if (!running)
		return;
	if (signo == SIGHUP)
		nt_portal_server_reload(running);
	else
		nt_portal_server_stop(running);
}

/* The handlers are in place before the portal starts, with the signals
 * held until it exists: a SIGHUP or SIGTERM sent right after the
 * "event=started" line is delivered, not lost or fatal. */
static int hold_signals(sigset_t *held)
{
	static const int sigs[] = {SIGHUP, SIGINT, SIGTERM};
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};

	sigemptyset(&sa.sa_mask);
	sigemptyset(held);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(held, sigs[i]);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, held, NULL) != 0)
		return -errno;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) != 0)
			return -errno;
	return 0;
}

/* notun portal -c FILE: the portal in the foreground until SIGINT or
 * SIGTERM; SIGHUP rereads FILE. Exit 2: the configuration; 1: the rest. */
static int cmd_run(int argc, char **argv)
{
	char err[512] = "";
	sigset_t held;
	int rc;

	if (argc != 2)
		return nt_cli_usage_error(CMD, "usage: notun portal -c FILE");
	rc = hold_signals(&held);
	if (rc == 0)
		rc = nt_portal_server_new(&running, argv[1], err, sizeof(err));
	if (rc) {
		fprintf(stderr, "notun: %s\n", err[0] ? err : strerror(-rc));
		return rc == -EINVAL ? NT_EXIT_USAGE : NT_EXIT_FAIL;
	}
	sigprocmask(SIG_UNBLOCK, &held, NULL);
	rc = nt_portal_server_run(running);
	nt_info(CMD, "event=stopping err=%d", rc);
	nt_portal_server_free(running);
	running = NULL;
	return rc ? NT_EXIT_FAIL : NT_EXIT_OK;
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
