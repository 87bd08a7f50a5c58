// SPDX-License-Identifier: MIT
/* gwportal -c gateway.conf: a notun gateway whose portal is this tool's
 * stdin, for tests of the gateway's portal API without the WebSocket
 * channel. Each stdin line is "EVENT JSON" (a gateway-topic push of
 * portal-protocol.md section 6); after applying it the tool writes one
 * stdout line: "authorization_created JSON" (the acknowledgement), "ok EVENT"
 * or "error EVENT ERRNO". Logs go to stderr. SIGTERM or EOF ends it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "core/config/config.h"
#include "core/gateway/gateway.h"
#include "platform/log.h"
#include "platform/loop.h"

#define LINE_MAX_BYTES (1u << 20) /* the protocol's frame limit */

struct app {
	struct nt_gateway *gw;
	char *buf;
	size_t len;
};

static void apply(struct app *a, char *line)
{
	static char ack[256];
	char *sp = strchr(line, ' ');
	const char *payload = sp ? sp + 1 : "";
	int ret;

	if (sp)
		*sp = '\0';
	ret = nt_gateway_portal_message(a->gw, line, payload, strlen(payload), ack, sizeof(ack));
	if (ret > 0)
		printf("authorization_created %s\n", ack);
	else if (ret == 0)
		printf("ok %s\n", line);
	else
		printf("error %s %d\n", line, -ret);
	fflush(stdout);
	sodium_memzero(a->buf, a->len);
}

static void on_stdin(struct nt_loop *loop, int fd, uint32_t events, void *arg)
{
	struct app *a = arg;
	ssize_t n;
	char *nl;

	(void)events;
	n = read(fd, a->buf + a->len, LINE_MAX_BYTES - a->len);
	if (n <= 0) {
		nt_loop_stop(loop);
		return;
	}
	a->len += (size_t)n;
	while ((nl = memchr(a->buf, '\n', a->len))) {
		size_t used = (size_t)(nl - a->buf) + 1;

		*nl = '\0';
		apply(a, a->buf);
		a->len -= used;
		memmove(a->buf, a->buf + used, a->len);
	}
	if (a->len == LINE_MAX_BYTES)
		nt_loop_stop(loop);
}

static void on_stop(struct nt_loop *loop, int signo, void *arg)
{
	(void)signo;
	(void)arg;
	nt_loop_stop(loop);
}

int main(int argc, char **argv)
{
	struct app a = {0};
	struct nt_config cfg;
	struct nt_config_error err;
	struct nt_loop *loop = NULL;
	bool exposed;
	unsigned mode;
	int code = 1;

	if (argc != 3 || strcmp(argv[1], "-c") != 0) {
		fprintf(stderr, "usage: gwportal -c gateway.conf\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	nt_log_set_level(NT_LOG_DEBUG);
	if (nt_config_load(argv[2], &cfg, &err, &exposed, &mode) != 0 ||
	    nt_config_validate_gateway(&cfg, &err) != 0) {
		fprintf(stderr, "gwportal: %s\n", err.message);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	a.buf = malloc(LINE_MAX_BYTES);
	if (!a.buf || nt_loop_new(&loop) != 0)
		goto out;
	if (nt_loop_add_signal(loop, SIGTERM, on_stop, NULL) != 0 ||
	    nt_gateway_new(loop, &cfg, NULL, NULL, &a.gw) != 0 ||
	    nt_loop_add_fd(loop, STDIN_FILENO, NT_EV_READ, on_stdin, &a) != 0)
		goto out;
	printf("ready %u\n", nt_gateway_port(a.gw));
	fflush(stdout);
	code = nt_loop_run(loop) == 0 ? 0 : 1;
	nt_gateway_log_counters(a.gw);
out:
	nt_gateway_free(a.gw);
	nt_loop_free(loop);
	nt_config_free(&cfg);
	free(a.buf);
	return code;
}
