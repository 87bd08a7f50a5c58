// SPDX-License-Identifier: MIT
/* An example host of libnotun: starts a session from a configuration file,
 * prints its events one per line, takes commands from stdin (a line each:
 * `disable RID`, `enable RID`, `reset`, `log LEVEL`, `stop`) and stops
 * cleanly on Ctrl-C or SIGTERM.
 *
 *   cc notun-events.c $(pkg-config --cflags --libs notun) -o notun-events
 *   ./notun-events client.conf [LISTEN_ADDR:PORT]
 *
 * Log lines go to stderr. The host owns its signals: here they arrive through
 * a signalfd polled beside the session's event fd, so the main thread sleeps
 * in poll() alone. A GUI would watch notun_event_fd() in its main loop the
 * same way and call the notun_* commands from any thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <notun.h>

static void print_event(const struct notun_event *ev)
{
	printf("event=%s", notun_event_name(ev->type));
	switch (ev->type) {
	case NOTUN_EVENT_LISTENER_READY:
		for (size_t i = 0; i < ev->u.listener.count; i++)
			printf(" addr=%s", ev->u.listener.addr[i]);
		break;
	case NOTUN_EVENT_PORTAL_DISCONNECTED:
		printf(" reason=\"%s\" retry_ms=%u", ev->u.portal.reason, ev->u.portal.retry_ms);
		break;
	case NOTUN_EVENT_RESOURCES_UPDATED:
		printf(" count=%zu", ev->u.resources.count);
		break;
	case NOTUN_EVENT_ACCESS:
		printf(" rid=%s state=%s", ev->u.access.resource_id,
		       notun_access_name(ev->u.access.state));
		if (ev->u.access.state == NOTUN_ACCESS_GRANTED)
			printf(" gid=%s expires_at=%" PRId64, ev->u.access.gateway_id,
			       ev->u.access.expires_at);
		if (ev->u.access.text[0])
			printf(" why=\"%s\"", ev->u.access.text);
		break;
	case NOTUN_EVENT_TUNNEL_UP:
	case NOTUN_EVENT_TUNNEL_DOWN:
		printf(" key=%s endpoint=%s last_handshake_ms=%" PRId64, ev->u.tunnel.public_key,
		       ev->u.tunnel.endpoint[0] ? ev->u.tunnel.endpoint : "-",
		       ev->u.tunnel.last_handshake_ms);
		break;
	case NOTUN_EVENT_COMMAND_FAILED:
		printf(" command=%d error=\"%s\" rid=%s", (int)ev->u.command.command,
		       notun_strerror(ev->u.command.error), ev->u.command.resource_id);
		break;
	case NOTUN_EVENT_FATAL:
		printf(" error=\"%s\" text=\"%s\"", notun_strerror(ev->u.fatal.error),
		       ev->u.fatal.text);
		break;
	default:
		break;
	}
	if (ev->dropped)
		printf(" dropped=%u", ev->dropped);
	printf("\n");
	fflush(stdout);
}

/* One line from stdin as a command; the result of queueing it is printed
 * (what it did comes as events). */
static void command(struct notun_session *s, char *line)
{
	char *arg = strchr(line, ' ');
	int ret = -EINVAL;

	line[strcspn(line, "\r")] = '\0';
	if (arg)
		*arg++ = '\0';
	if (!strcmp(line, "disable") && arg)
		ret = notun_resource_disable(s, arg);
	else if (!strcmp(line, "enable") && arg)
		ret = notun_resource_enable(s, arg);
	else if (!strcmp(line, "reset"))
		ret = notun_reset(s);
	else if (!strcmp(line, "stop"))
		ret = notun_request_stop(s);
	else if (!strcmp(line, "log") && arg) {
		static const char *const levels[] = {"trace", "debug", "info", "warn", "error", "off"};

		for (int l = 0; l < 6; l++)
			if (!strcmp(arg, levels[l]))
				ret = notun_set_log_level(s, (enum notun_log_level)l);
	}
	printf("command=%s result=\"%s\"\n", line, ret ? notun_strerror(ret) : "queued");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct notun_options o;
	struct notun_session *s;
	struct notun_event ev;
	char msg[256] = "";
	sigset_t mask;
	char line[256];
	size_t used = 0;
	int sfd, ret, stopped = 0, in = STDIN_FILENO;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s CONFIG [LISTEN_ADDR:PORT]\n", argv[0]);
		return 2;
	}
	if (notun_api_version() / 10000 != NOTUN_API_MAJOR) {
		fprintf(stderr, "libnotun %s does not match this header\n", notun_version());
		return 1;
	}
	/* Blocked before the session starts, so its threads inherit the mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("signalfd");
		return 1;
	}

	notun_options_init(&o);
	o.config_path = argv[1];
	o.log_fd = STDERR_FILENO;
	o.log_level = NOTUN_LOG_INFO;
	if (argc == 3) {
		o.listen[0] = argv[2];
		o.listen_count = 1;
	}
	ret = notun_session_new(&o, &s, msg, sizeof(msg));
	if (ret) {
		fprintf(stderr, "notun: %s: %s\n", notun_strerror(ret), msg);
		return 2;
	}
	ret = notun_session_start(s);
	if (ret) {
		fprintf(stderr, "notun: cannot start: %s\n", notun_strerror(ret));
		notun_session_free(s);
		return 1;
	}
	while (!stopped) {
		struct pollfd p[3] = {{.fd = notun_event_fd(s), .events = POLLIN},
				      {.fd = sfd, .events = POLLIN},
				      {.fd = in, .events = POLLIN}};

		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[2].revents & (POLLIN | POLLHUP)) {
			/* Whole lines to command(); at the end of stdin, no more. */
			ssize_t n = read(in, line + used, sizeof(line) - 1 - used);
			char *nl;

			if (n <= 0)
				in = -1;
			used += n > 0 ? (size_t)n : 0;
			line[used] = '\0';
			while ((nl = strchr(line, '\n'))) {
				*nl = '\0';
				command(s, line);
				used -= (size_t)(nl + 1 - line);
				memmove(line, nl + 1, used + 1);
			}
			if (used == sizeof(line) - 1)
				used = 0; /* a line too long for any command */
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				printf("signal=%s\n", strsignal((int)si.ssi_signo));
			/* Commands never block; the STOPPED event ends the loop. */
			if (notun_request_stop(s) == -EAGAIN)
				break;
		}
		while (notun_next_event(s, &ev) == 0) {
			print_event(&ev);
			stopped |= ev.type == NOTUN_EVENT_STOPPED;
		}
	}
	notun_session_free(s); /* joins the session's thread */
	close(sfd);
	return 0;
}
