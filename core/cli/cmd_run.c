// SPDX-License-Identifier: MIT
/* notun run -c FILE [--no-auth] [--listen ADDR:PORT] [--own] -- CMD [ARGS...]:
 * the client for the lifetime of one command, which alone gets the proxy
 * environment (core/cli/runenv.h).
 *
 *   shared:  a `notun up` of FILE already runs (its control socket says so,
 *            core/cli/running.h): CMD gets its proxy, with FILE's
 *            credentials, and no second client starts: two clients with
 *            one key would take the session from each other. Not with
 *            --own, --listen, or --no-auth when FILE has credentials.
 *   start:   client on --listen (default 127.0.0.1, a free port) with fresh
 *            random credentials (none with --no-auth); its listener is
 *            bound before CMD starts, and CMD does not wait for the tunnel:
 *            the engine's pending buffer holds the first packets.
 *   spawn:   posix_spawnp(CMD) with the caller's signal mask and SIGPIPE
 *            disposition (ours are changed for the loop), in our process
 *            group, with our stdin/stdout/stderr.
 *   running: SIGINT, SIGTERM, SIGHUP -> forwarded to CMD (CMD decides
 *            what a signal means), except a terminal's Ctrl-C (SIGINT from
 *            the kernel), which CMD, in our process group, got too;
 *            SIGCHLD (signalfd) -> reap CMD.
 *   reaped:  stop the loop, close the proxy and its connections, exit with
 *            CMD's status (128 + N when a signal N killed it).
 *
 * A command that cannot be started gives 127 (not found) or 126, as a
 * shell does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cli/cli.h"
#include "core/cli/client.h"
#include "core/cli/runenv.h"
#include "core/cli/running.h"
#include "platform/log.h"
#include "platform/loop.h"

#define MOD "run"

#define EXIT_NOT_FOUND 127
#define EXIT_NOT_EXEC  126
#define EXIT_SIGNALED  128

struct run {
	pid_t child; /* -1 once reaped (a pid we may no longer signal) */
	int status;  /* its wait status */
};

static void on_forward(struct nt_loop *loop, int signo, void *arg)
{
	struct run *r = arg;

	if (r->child <= 0)
		return;
	/* A SIGINT from the kernel is a terminal's Ctrl-C, sent to the whole
	 * foreground process group, CMD included: a second copy from us would
	 * be a second Ctrl-C, which many programs take for "quit now". */
	if (signo == SIGINT && nt_loop_signal_code(loop) == SI_KERNEL) {
		nt_debug(
		    MOD,
		    "event=signal_not_forwarded signal=%s reason=\"sent to CMD's process group\"",
		    strsignal(signo));
		return;
	}
	nt_debug(MOD, "event=forward_signal signal=%s pid=%d", strsignal(signo), (int)r->child);
	kill(r->child, signo);
}

static void on_child(struct nt_loop *loop, int signo, void *arg)
{
	struct run *r = arg;
	int status;

	(void)signo;
	if (r->child <= 0 || waitpid(r->child, &status, WNOHANG) != r->child)
		return;
	r->status = status;
	r->child = -1;
	nt_loop_stop(loop);
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return EXIT_SIGNALED + WTERMSIG(status);
	return NT_EXIT_FAIL;
}

static int spawn(char **argv, char **envp, const sigset_t *mask, bool pipe_default, pid_t *pid)
{
	posix_spawnattr_t attr;
	sigset_t defaults;
	int err;

	err = posix_spawnattr_init(&attr);
	if (err)
		return -err;
	sigemptyset(&defaults);
	if (pipe_default)
		sigaddset(&defaults, SIGPIPE);
	err = posix_spawnattr_setsigmask(&attr, mask);
	if (!err)
		err = posix_spawnattr_setsigdefault(&attr, &defaults);
	if (!err)
		err =
		    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!err)
		err = posix_spawnp(pid, argv[0], NULL, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	return -err;
}

/* Whether CMD can be started, as posix_spawnp will look for it (a name
 * with a slash as it is, else each directory of PATH): checked before the
 * client starts, so a typo costs no tunnel. 0, -ENOENT or -EACCES. */
static int command_check(const char *cmd)
{
	const char *path = getenv("PATH"), *dir, *end;
	char full[4096];
	int err = -ENOENT, n;

	if (strchr(cmd, '/'))
		return access(cmd, X_OK) == 0 ? 0 : -errno;
	if (!path || !*path)
		path = "/bin:/usr/bin";
	for (dir = path;; dir = end + 1) {
		size_t len;

		end = strchrnul(dir, ':');
		len = (size_t)(end - dir);
		/* An empty entry is the current directory. */
		n = snprintf(full, sizeof(full), "%.*s/%s", len ? (int)len : 1, len ? dir : ".",
			     cmd);
		if (n > 0 && (size_t)n < sizeof(full)) {
			if (access(full, X_OK) == 0)
				return 0;
			if (errno == EACCES)
				err = -EACCES;
		}
		if (!*end)
			return err;
	}
}

/* The environment of CMD: ours plus the proxy's variables. */
static int command_environ(const struct nt_config_listen *l, uint16_t port, const char *user,
			   const char *pass, char ***envp)
{
	char host[INET6_ADDRSTRLEN];
	struct nt_runenv env;
	struct nt_runenv_in in = {
	    .host = host,
	    .port = port,
	    .username = user,
	    .password = pass,
	    .no_proxy = getenv("NO_PROXY"),
	    .no_proxy_lower = getenv("no_proxy"),
	    .java_tool_options = getenv("JAVA_TOOL_OPTIONS"),
	};
	int ret;

	nt_runenv_dial_host(l, host, sizeof(host));
	ret = nt_runenv_build(&in, &env);
	if (ret == 0 && env.no_proxy_dropped)
		nt_warn(MOD, "event=no_proxy_truncated dropped=%zu max=%d", env.no_proxy_dropped,
			NT_RUNENV_NO_PROXY_MAX);
	if (ret == 0)
		ret = nt_runenv_environ(&env, environ, envp);
	nt_runenv_free(&env);
	return ret;
}

struct run_args {
	const char *config_path;
	bool no_auth;
	bool own; /* --own: never share a running notun up */
	bool has_listen;
	struct nt_config_listen listen;
	const char *control;
	char **command;
};

static int parse_args(int argc, char **argv, struct run_args *a)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},  {"no-auth", no_argument, NULL, 'n'},
	    {"own", no_argument, NULL, 'o'},	       {"listen", required_argument, NULL, 'l'},
	    {"control", required_argument, NULL, 'C'}, {NULL, 0, NULL, 0},
	};
	int opt;

	nt_cli_getopt_start();
	/* '+': options end at CMD, whose own options are its business. */
	while ((opt = getopt_long(argc, argv, "+:c:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			a->config_path = optarg;
			break;
		case 'n':
			a->no_auth = true;
			break;
		case 'o':
			a->own = true;
			break;
		case 'l':
			if (a->has_listen)
				return nt_cli_usage_error("run", "--listen may be given once");
			if (nt_cli_listen_arg("run", optarg, &a->listen))
				return NT_EXIT_USAGE;
			a->has_listen = true;
			break;
		case 'C':
			a->control = optarg;
			break;
		default:
			return nt_cli_option_error("run", opt, argv);
		}
	}
	if (!a->config_path)
		return nt_cli_usage_error("run", "needs -c FILE (a wg-quick configuration)");
	if (optind >= argc)
		return nt_cli_usage_error("run",
					  "needs a command: notun run -c FILE -- CMD [ARGS]");
	a->command = argv + optind;
	return NT_EXIT_OK;
}

/* The environment for the proxy of a running `notun up` of the file, with
 * the file's credentials: NT_EXIT_OK (*envp set), NT_EXIT_USAGE (the file
 * is refused, said on stderr), NT_EXIT_FAIL, or -1 when that client cannot
 * serve CMD as asked (--no-auth, but it takes credentials). */
static int shared_environ(const struct run_args *a, const struct nt_running *up, char ***envp)
{
	struct nt_client_options opts = {.config_path = a->config_path};
	struct nt_config cfg;
	bool auth;
	int ret, code;

	code = nt_client_load_config(&opts, &cfg);
	if (code != NT_EXIT_OK)
		return code;
	auth = cfg.username[0] != '\0';
	if (a->no_auth && auth) {
		nt_info(MOD, "event=own_client reason=\"--no-auth, and the running client "
			     "takes credentials\"");
		nt_config_free(&cfg);
		return -1;
	}
	ret = command_environ(&up->up.listen, up->up.listen.port, auth ? cfg.username : NULL,
			      auth ? cfg.password : NULL, envp);
	nt_config_free(&cfg);
	if (ret != 0) {
		fprintf(stderr, "notun run: cannot build the environment: %s\n", strerror(-ret));
		return NT_EXIT_FAIL;
	}
	nt_info(MOD, "event=using_running_client pid=%lld proxy=%s:%u control=%s",
		(long long)up->up.pid, up->host, up->up.listen.port, up->path);
	return NT_EXIT_OK;
}

int nt_cmd_run(int argc, char **argv)
{
	struct run_args a = {.listen = {.ip = {.family = AF_INET, .addr = {127, 0, 0, 1}}}};
	char user[NT_RUNENV_USERNAME_LEN + 1], pass[NT_RUNENV_PASSWORD_LEN + 1];
	struct nt_client_options opts = {0};
	struct run r = {.child = -1};
	struct nt_running up;
	struct nt_loop *loop = NULL;
	struct nt_client *client = NULL;
	struct sigaction pipe_action;
	char **envp = NULL;
	sigset_t mask;
	int ret, code;

	code = parse_args(argc, argv, &a);
	if (code != NT_EXIT_OK)
		return code;
	ret = command_check(a.command[0]);
	if (ret != 0) {
		fprintf(stderr, "notun run: %s: %s\n", a.command[0],
			ret == -ENOENT ? "command not found" : strerror(-ret));
		return ret == -ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXEC;
	}
	/* What CMD would have had without us: the loop blocks signals and the
	 * client ignores SIGPIPE. */
	pthread_sigmask(SIG_SETMASK, NULL, &mask);
	sigaction(SIGPIPE, NULL, &pipe_action);

	nt_runenv_random_credentials(user, pass);
	opts.config_path = a.config_path;
	opts.listen = &a.listen;
	opts.listen_count = 1;
	opts.no_auth = a.no_auth;
	opts.control = a.control;
	opts.command = "run";
	opts.username = user;
	opts.password = pass;

	code = NT_EXIT_FAIL;
	ret = nt_loop_new(&loop);
	if (ret != 0) {
		fprintf(stderr, "notun run: cannot create the event loop: %s\n", strerror(-ret));
		goto out_secrets;
	}
	if (nt_loop_add_signal(loop, SIGCHLD, on_child, &r) != 0 ||
	    nt_loop_add_signal(loop, SIGINT, on_forward, &r) != 0 ||
	    nt_loop_add_signal(loop, SIGTERM, on_forward, &r) != 0 ||
	    nt_loop_add_signal(loop, SIGHUP, on_forward, &r) != 0) {
		fprintf(stderr, "notun run: cannot watch signals\n");
		goto out_loop;
	}
	code = -1;
	if (!a.own && !a.has_listen && nt_running_find(MOD, a.config_path, a.control, &up)) {
		code = shared_environ(&a, &up, &envp);
		if (code > 0)
			goto out_loop;
	}
	if (code != NT_EXIT_OK) {
		code = nt_client_start(loop, &opts, &client);
		if (code != NT_EXIT_OK)
			goto out_loop;
		code = NT_EXIT_FAIL;
		ret = command_environ(&a.listen, nt_client_bound_port(client, 0),
				      a.no_auth ? NULL : user, a.no_auth ? NULL : pass, &envp);
		if (ret != 0) {
			fprintf(stderr, "notun run: cannot build the environment: %s\n",
				strerror(-ret));
			goto out_client;
		}
	}
	ret = spawn(a.command, envp, &mask, pipe_action.sa_handler != SIG_IGN, &r.child);
	if (ret != 0) {
		fprintf(stderr, "notun run: %s: %s\n", a.command[0], strerror(-ret));
		code = ret == -ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXEC;
		r.child = -1;
		goto out_env;
	}
	if (client)
		nt_info(MOD, "event=started cmd=\"%s\" pid=%d port=%u auth=%s", a.command[0],
			(int)r.child, nt_client_bound_port(client, 0),
			a.no_auth ? "none" : "password");
	else
		nt_info(MOD, "event=started cmd=\"%s\" pid=%d client=shared", a.command[0],
			(int)r.child);
	ret = nt_loop_run(loop);
	if (r.child > 0) {
		/* The loop failed under a running command, which has no proxy
		 * left: end it rather than wait for it unbounded. */
		nt_error(MOD, "event=loop_failed err=\"%s\" action=kill pid=%d", strerror(-ret),
			 (int)r.child);
		kill(r.child, SIGKILL);
		while (waitpid(r.child, &r.status, 0) < 0 && errno == EINTR)
			;
	}
	code = exit_code(r.status);
	nt_debug(MOD, "event=command_exited code=%d", code);
out_env:
	nt_runenv_environ_free(envp);
out_client:
	nt_client_stop(client);
out_loop:
	nt_loop_free(loop);
out_secrets:
	sodium_memzero(pass, sizeof(pass));
	return code;
}
