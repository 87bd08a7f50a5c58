// SPDX-License-Identifier: MIT
/* chantool: either side of the portal channel (core/channel/) for tests,
 * until `notun portal` and the gateway's portal mode exist.
 *
 *   chantool server --listen ADDR --port N (--cert F --key F | --selfsigned-dir DIR)
 *                   --token T [--idle-ms MS] [--max-conns N]
 *     Accepts upgrades with "Authorization: Bearer T" (401 otherwise),
 *     answers phx_join and heartbeats with an ok reply, echoes every other
 *     frame back as is; a message that is no Phoenix frame closes with 1007.
 *     Prints "listening fingerprint=SHA256:..." on stdout once it listens.
 *     --idle-ms shortens the 30 s idle limit for tests.
 *
 *   chantool client --url URL --token T --topic gateway|client
 *                   [--fingerprint SHA256:... | --ca FILE] [--public-key B64]
 *                   [--name N] [--endpoint HOST:PORT] [--heartbeat-ms MS]
 *     Prints one JSON line per event on stdout ({"event":"joined"},
 *     {"event":"message","frame":FRAME}, {"event":"disconnected",...},
 *     {"event":"fatal",...}); each stdin line is a Phoenix frame whose topic,
 *     event and payload are pushed. --heartbeat-ms shortens the 10 s
 *     interval for tests. Exit 2 on unauthorized / token_expired /
 *     token_revoked, 1 when it gave up or could not start, 0 on stdin EOF.
 *
 * Bad arguments exit 64. Logs go to stderr (NT_LOG_LEVEL=debug for more).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/channel/chan_client.h"
#include "core/channel/chan_server.h"
#include "core/phx/phx.h"
#include "platform/log.h"
#include "platform/random.h"
#include "tests/tools/tool_args.h"

#define EXIT_USAGE 64
#define LINE_MAX_LEN (NT_PHX_FRAME_MAX + 2)

static struct nt_chan_server *server;
static const char *server_token;

static void on_signal(int sig)
{
	(void)sig;
	if (server)
		nt_chan_server_stop(server);
}

static enum nt_chan_auth srv_authorize(void *arg, const struct nt_chan_query *q,
				       const char *token, struct nt_chan_auth_result *out)
{
	(void)arg;
	if (!token || strlen(token) != strlen(server_token) ||
	    sodium_memcmp(token, server_token, strlen(token)) != 0)
		return NT_CHAN_AUTH_UNAUTHORIZED;
	snprintf(out->identity, sizeof(out->identity), "%s:%.40s",
		 q->role == NT_CHAN_ROLE_GATEWAY ? "gateway" : "client",
		 q->name[0] ? q->name : "-");
	return NT_CHAN_AUTH_OK;
}

static void srv_connected(void *arg, nt_chan_conn_id id, const char *identity,
			  const struct nt_chan_query *q)
{
	(void)arg;
	printf("{\"event\":\"connected\",\"conn\":%llu,\"identity\":\"%s\",\"endpoint\":\"%s\"}\n",
	       (unsigned long long)id, identity, q->endpoint);
	fflush(stdout);
}

static int srv_message(void *arg, nt_chan_conn_id id, const char *text, size_t len)
{
	static char out[4096];
	struct nt_phx_frame f;
	char reply[64];
	int err = nt_phx_decode(text, len, &f), n, r;

	(void)arg;
	if (err)
		return err;
	if (strcmp(f.event, NT_PHX_EV_JOIN) == 0 || strcmp(f.event, NT_PHX_EV_HEARTBEAT) == 0) {
		r = nt_phx_reply_build(reply, sizeof(reply), "{}", 2, NULL);
		n = nt_phx_encode(out, sizeof(out), f.topic, NT_PHX_EV_REPLY, reply, (size_t)r,
				  f.has_ref ? f.ref : -1);
		return n < 0 ? 0 : (nt_chan_server_send(server, id, out, (size_t)n), 0);
	}
	nt_chan_server_send(server, id, text, len);
	return 0;
}

static void srv_closed(void *arg, nt_chan_conn_id id, enum nt_chan_close_reason reason)
{
	(void)arg;
	printf("{\"event\":\"closed\",\"conn\":%llu,\"reason\":\"%s\"}\n", (unsigned long long)id,
	       nt_chan_close_reason_name(reason));
	fflush(stdout);
}

static int run_server(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'}, {"port", required_argument, NULL, 'p'},
	    {"cert", required_argument, NULL, 'c'},   {"key", required_argument, NULL, 'k'},
	    {"selfsigned-dir", required_argument, NULL, 's'},
	    {"token", required_argument, NULL, 't'},  {"idle-ms", required_argument, NULL, 'i'},
	    {"max-conns", required_argument, NULL, 'm'}, {NULL, 0, NULL, 0}};
	static const struct nt_chan_server_ops ops = {.authorize = srv_authorize,
						      .connected = srv_connected,
						      .message = srv_message,
						      .closed = srv_closed};
	struct nt_chan_server_config cfg = {0};
	char cert[NT_CHAN_PATH_MAX], key[NT_CHAN_PATH_MAX], fp[NT_CHAN_FP_TEXT_MAX];
	const char *dir = NULL;
	uint32_t v;
	int c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': cfg.listen = optarg; break;
		case 'p':
			if (tool_parse_u32(optarg, 1, 65535, &v))
				return EXIT_USAGE;
			cfg.port = (uint16_t)v;
			break;
		case 'c': cfg.cert_path = optarg; break;
		case 'k': cfg.key_path = optarg; break;
		case 's': dir = optarg; break;
		case 't': server_token = optarg; break;
		case 'i':
			if (tool_parse_u32(optarg, 1, 3600000, &cfg.idle_timeout_ms))
				return EXIT_USAGE;
			break;
		case 'm':
			if (tool_parse_u32(optarg, 1, 1u << 20, &cfg.max_conns))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (!server_token || (!dir && (!cfg.cert_path || !cfg.key_path)))
		return EXIT_USAGE;
	if (dir) {
		if (nt_chan_cert_selfsigned(dir, cert, key) != 0)
			return 1;
		cfg.cert_path = cert;
		cfg.key_path = key;
	}
	if (nt_chan_cert_fingerprint(cfg.cert_path, fp) != 0)
		return 1;
	err = nt_chan_server_new(&server, &cfg, &ops, NULL);
	if (err)
		return 1;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("listening fingerprint=%s\n", fp);
	fflush(stdout);
	err = nt_chan_server_run(server);
	nt_chan_server_free(server);
	return err ? 1 : 0;
}

/* One event as a JSON line; returns the exit status when it ends the tool, else -1. */
static int print_event(struct nt_chan_event *ev)
{
	switch (ev->type) {
	case NT_CHAN_EV_JOINED:
		printf("{\"event\":\"joined\"}\n");
		break;
	case NT_CHAN_EV_MESSAGE:
		printf("{\"event\":\"message\",\"frame\":%.*s}\n", (int)ev->len, ev->text);
		break;
	case NT_CHAN_EV_DISCONNECTED:
		printf("{\"event\":\"disconnected\",\"reason\":\"%s\",\"retry_ms\":%u}\n", ev->reason,
		       ev->retry_ms);
		break;
	case NT_CHAN_EV_FATAL:
		printf("{\"event\":\"fatal\",\"reason\":\"%s\"}\n", nt_chan_fatal_name(ev->fatal));
		fflush(stdout);
		return ev->fatal == NT_CHAN_FATAL_GAVE_UP ? 1 : 2;
	}
	fflush(stdout);
	return -1;
}

/* A stdin line: a Phoenix frame to push. */
static void push_line(struct nt_chan_client *c, const char *line, size_t len)
{
	struct nt_phx_frame f;

	if (nt_phx_decode(line, len, &f) != 0) {
		fprintf(stderr, "chantool: not a Phoenix frame: %.*s\n", (int)len, line);
		return;
	}
	if (nt_chan_client_push(c, f.topic, f.event, f.payload, f.payload_len) != 0)
		fprintf(stderr, "chantool: push refused\n");
}

static int client_loop(struct nt_chan_client *c)
{
	static char line[LINE_MAX_LEN];
	size_t have = 0;
	struct pollfd pfd[2] = {{.fd = nt_chan_client_fd(c), .events = POLLIN},
				{.fd = STDIN_FILENO, .events = POLLIN}};
	struct nt_chan_event ev;
	int status;

	for (;;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			return 1;
		while (nt_chan_client_next(c, &ev) == 0) {
			status = print_event(&ev);
			nt_chan_event_release(&ev);
			if (status >= 0)
				return status;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(STDIN_FILENO, line + have, sizeof(line) - 1 - have);
			char *nl;

			if (n <= 0)
				return 0;
			have += (size_t)n;
			while ((nl = memchr(line, '\n', have))) {
				push_line(c, line, (size_t)(nl - line));
				have -= (size_t)(nl - line) + 1;
				memmove(line, nl + 1, have);
			}
			if (have == sizeof(line) - 1)
				have = 0; /* a line over the frame limit is dropped */
		}
	}
}

static int run_client(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},	   {"token", required_argument, NULL, 't'},
	    {"topic", required_argument, NULL, 'o'},	   {"fingerprint", required_argument, NULL, 'f'},
	    {"ca", required_argument, NULL, 'a'},	   {"public-key", required_argument, NULL, 'k'},
	    {"name", required_argument, NULL, 'n'},	   {"endpoint", required_argument, NULL, 'e'},
	    {"heartbeat-ms", required_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	struct nt_chan_client_config cfg = {
	    .public_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="};
	struct nt_chan_client *c;
	int opt, status;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'u': cfg.url = optarg; break;
		case 't': cfg.token = optarg; break;
		case 'o': cfg.topic = optarg; break;
		case 'f': cfg.fingerprint = optarg; break;
		case 'a': cfg.ca_file = optarg; break;
		case 'k': cfg.public_key = optarg; break;
		case 'n': cfg.name = optarg; break;
		case 'e': cfg.endpoint = optarg; break;
		case 'h':
			if (tool_parse_u32(optarg, 1, 3600000, &cfg.heartbeat_ms))
				return EXIT_USAGE;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (!cfg.url || !cfg.token || !cfg.topic)
		return EXIT_USAGE;
	if (nt_chan_client_start(&c, &cfg) != 0) {
		fprintf(stderr, "chantool: cannot start the channel for %s\n", cfg.url);
		return 1;
	}
	status = client_loop(c);
	nt_chan_client_stop(c);
	return status;
}

int main(int argc, char **argv)
{
	const char *level = getenv("NT_LOG_LEVEL");
	enum nt_log_level l;

	if (nt_platform_init() != 0)
		return 1;
	nt_log_set_level(level && nt_log_parse_level(level, &l) == 0 ? l : NT_LOG_INFO);
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && strcmp(argv[1], "server") == 0)
		return run_server(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "client") == 0)
		return run_client(argc - 1, argv + 1);
	fprintf(stderr, "usage: chantool server|client ... (see tests/tools/chantool.c)\n");
	return EXIT_USAGE;
}
