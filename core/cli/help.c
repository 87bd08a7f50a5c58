// SPDX-License-Identifier: MIT
/* `notun COMMAND --help`: every option of every command with its default,
 * in one table. notun(1) is made from these texts (core/cli/help2man.py
 * runs `notun --help` and each `notun COMMAND --help`), so the page and the
 * help cannot drift apart; tests/integration/test_manpages.py checks that
 * every long option a command's getopt table takes is listed here. */
#include <stdio.h>
#include <string.h>

#include "core/cli/cli.h"

struct help {
	const char *cmd;
	const char *text; /* after the "usage:" line: description, options */
};

#define CONTROL                                                                              \
	"  --control PATH|none   the control socket `notun status` asks (mode 0600, this\n"     \
	"                        user only); none: no socket. Default:\n"                       \
	"                        $XDG_RUNTIME_DIR/notun/NAME.sock, else NAME.sock beside\n"     \
	"                        FILE (NAME: FILE's name without .conf)\n"

static const struct help helps[] = {
    {"up",
     "Runs the client in the foreground until SIGINT or SIGTERM: one port that\n"
     "speaks both SOCKS5 (CONNECT, UDP ASSOCIATE, RFC 1929 username/password)\n"
     "and HTTP/1.1 (CONNECT, and forwarding of http:// requests), routed into\n"
     "WireGuard peers or portal resources, else the Bypass policy. SIGUSR1 logs\n"
     "its counters; SIGHUP rereads FILE: peers, Username/Password and Bypass\n"
     "change at once, keys that need a restart are named in a warning.\n\n"
     "Options:\n"
     "  -c, --config FILE     the configuration (notun.conf(5)); required\n"
     "  --listen ADDR:PORT    listen here instead of [Proxy] Listen (default\n"
     "                        127.0.0.1:1080); [IPv6]:PORT for IPv6\n" CONTROL},
    {"run",
     "Runs CMD with HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY (and their\n"
     "lower-case forms), NODE_USE_ENV_PROXY and JAVA_TOOL_OPTIONS pointing at the\n"
     "`notun up` of FILE when one runs (found through its control socket: one\n"
     "key, one client), else at a client of its own, which lives as long as CMD;\n"
     "exits with CMD's status\n"
     "(127: not found, 126: not executable, 128+N: killed by signal N). Its\n"
     "stderr is CMD's: warnings and errors only unless --log-level is given.\n\n"
     "Options:\n"
     "  -c, --config FILE     the configuration (notun.conf(5)); required\n"
     "  --listen ADDR:PORT    the proxy's address (default 127.0.0.1, a free port)\n"
     "  --no-auth             a client of its own without credentials (default: a\n"
     "                        random username and password that only CMD is given)\n"
     "  --own                 a client of its own even when a notun up of FILE runs\n" CONTROL},
    {"env",
     "Prints shell export lines (the variables of `notun run`) for a `notun up -c\n"
     "FILE` running elsewhere: eval \"$(notun env -c FILE)\". The proxy is FILE's\n"
     "first [Proxy] Listen address with its Username and Password.\n\n"
     "A first comment line says whether a notun up of FILE runs; when one does,\n"
     "its bound port is used.\n\n"
     "Options:\n"
     "  -c, --config FILE     the configuration; required\n"
     "  --control PATH        the running notun up's control socket (default: as\n"
     "                        notun up finds it, see up --control)\n"},
    {"connect",
     "Joins stdin and stdout to one TCP connection to HOST PORT, for ssh's\n"
     "ProxyCommand (ssh -o ProxyCommand='notun connect %h %p'). Without -c through\n"
     "the proxy in ALL_PROXY (socks5h://, as `notun run` sets it); with -c through\n"
     "the `notun up` of FILE when one runs, else an engine of its own. Exit 0 on a\n"
     "clean close, 1 when the connection failed\n"
     "or broke (the reason on stderr), 2 for bad arguments. Logs warnings only\n"
     "unless --log-level is given.\n\n"
     "Options:\n"
     "  -c, --config FILE     the client of this configuration: a running notun up\n"
     "                        of it, else an engine of its own (default: the proxy\n"
     "                        in ALL_PROXY)\n"
     "  --own                 with -c, an engine of its own even when notun up runs\n"
     "  --control PATH        with -c, the running notun up's control socket\n"
     "                        (default: as notun up finds it, see up --control)\n"},
    {"status",
     "Asks a running `notun up`, `run` or `gateway` through its control socket\n"
     "and prints peers (endpoint, latest handshake, bytes), resources (access,\n"
     "expiry), flows, held packets and counters. Exit 0, 1 (no such socket, refused,\n"
     "no answer), 2 (usage).\n\n"
     "Options:\n"
     "  -c, --config FILE     the running role's configuration: its socket is found\n"
     "                        as that role finds it (see up --control)\n"
     "  --control PATH        the socket itself\n"
     "  --json                the JSON object (version 1, every field in\n"
     "                        core/ctl/status.md) instead of text\n"},
    {"gateway",
     "Runs the gateway in the foreground until SIGINT or SIGTERM: a WireGuard\n"
     "listener whose clients' TCP and UDP flows end in notun and leave as\n"
     "ordinary sockets of this host, to destinations [Gateway] Allow rules or\n"
     "portal grants permit (default deny). SIGUSR1 logs its counters; SIGHUP\n"
     "rereads FILE: peers and Allow rules change at once (flows no rule allows\n"
     "any more are reset), keys that need a restart are named in a warning.\n\n"
     "Options:\n"
     "  -c, --config FILE             the configuration (notun.conf(5)); required\n"
     "  --max-flows N                 TCP and UDP flows of all clients (default 8192)\n"
     "  --max-flows-per-peer N        flows of one client (default 1024)\n"
     "  --connect-timeout SECONDS     the connect() to a destination (default 10)\n"
     "  --udp-idle SECONDS            a UDP flow without traffic is closed (default 60)\n"
     "  --control PATH|none           the control socket `notun status` asks (mode\n"
     "                                0600, this user only); none: no socket. Default:\n"
     "                                $XDG_RUNTIME_DIR/notun/NAME.sock, else NAME.sock\n"
     "                                beside FILE (NAME: FILE's name without .conf)\n"},
    {"portal",
     "The control plane. `notun portal token client` or `token gateway` prints a\n"
     "new token (give it to the client or gateway) and its TokenHash line (for\n"
     "the portal's file). `notun portal -c FILE` runs the portal in the\n"
     "foreground: wss:// only, a self-signed certificate made beside FILE unless\n"
     "[Portal] names one; SIGHUP reloads FILE, SIGINT/SIGTERM stop it.\n\n"
     "Options:\n"
     "  -c FILE               the portal's configuration (notun.conf(5))\n"},
    {"genkey", "Prints a new private key in base64, as `wg genkey` does.\n"},
    {"pubkey", "Reads a private key on stdin and prints its public key, as `wg pubkey`.\n"},
    {"genpsk", "Prints a new pre-shared key in base64, as `wg genpsk` does.\n"},
};

int nt_cli_help(const struct nt_cmd *cmd, FILE *out)
{
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
		if (strcmp(helps[i].cmd, cmd->name) == 0) {
			fprintf(out, "usage: notun %s%s%s\n%s\n\n%s", cmd->name,
				cmd->args[0] ? " " : "", cmd->args, cmd->summary, helps[i].text);
			return NT_EXIT_OK;
		}
	fprintf(out, "usage: notun %s%s%s\n%s\n", cmd->name, cmd->args[0] ? " " : "", cmd->args,
		cmd->summary);
	return NT_EXIT_OK;
}
