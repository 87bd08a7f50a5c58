// SPDX-License-Identifier: MIT
/* notun gateway -c FILE [limits]: the gateway in the foreground, until
 * SIGINT or SIGTERM; SIGUSR1 logs its counters, SIGHUP reloads its [Peer]s
 * and Allow rules. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/channel/chan_client.h"
#include "core/cli/cli.h"
#include "core/config/config.h"
#include "core/ctl/ctl.h"
#include "core/gateway/gateway.h"
#include "core/gateway/gw_link.h"
#include "core/gateway/gw_rules.h"
#include "platform/log.h"
#include "platform/loop.h"

#define MOD "gateway"
#define CMD "gateway"

static void on_stop(struct nt_loop *loop, int signo, void *arg)
{
	(void)arg;
	nt_info(MOD, "event=stopping signal=%s", strsignal(signo));
	nt_loop_stop(loop);
}

static void on_usr1(struct nt_loop *loop, int signo, void *arg)
{
	(void)loop;
	(void)signo;
	nt_gateway_log_counters(arg);
}

static void warn_broad(const struct nt_config *cfg, const char *section,
		       const struct nt_config_allow *rules, size_t n)
{
	char text[WG_CIDR_STRLEN];

	for (size_t i = 0; i < n; i++) {
		if (!nt_gw_rule_broad(&rules[i]) || wg_allowedips_format_cidr(&rules[i].cidr, text))
			continue;
		nt_warn(MOD,
			"event=broad_allow_rule file=%s line=%u section=%s cidr=%s hint=\"it opens "
			"much of the Internet; the gateway host, loopback and link-local addresses "
			"still need a rule of their own\"",
			cfg->filename, rules[i].line, section, text);
	}
}

/* 0, or a negative errno with err filled. */
static int load_config(const char *path, struct nt_config *cfg, struct nt_config_error *err)
{
	bool exposed = false;
	unsigned int mode = 0;
	int ret;

	ret = nt_config_load(path, cfg, err, &exposed, &mode);
	if (ret == 0)
		ret = nt_config_validate_gateway(cfg, err);
	if (ret != 0)
		return ret;
	if (cfg->address_count == 0) {
		snprintf(err->message, sizeof(err->message),
			 "%s: a gateway needs an Address in [Interface] (its tunnel address, the "
			 "source of its ICMP errors)",
			 cfg->filename);
		snprintf(err->key, sizeof(err->key), "Address");
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->warning_count; i++)
		nt_warn(MOD, "event=config_warning msg=\"%s\"", cfg->warnings[i].message);
	if (exposed)
		nt_warn(MOD, "event=config_readable_by_others file=%s mode=%04o hint=\"chmod 600\"",
			path, mode);
	if (cfg->gateway_allow_count == 0 && !cfg->portal.line)
		nt_warn(MOD, "event=no_allow_rules hint=\"every flow will be denied: add [Gateway] "
			     "Allow rules\"");
	warn_broad(cfg, "Gateway", cfg->gateway_allow, cfg->gateway_allow_count);
	for (size_t i = 0; i < cfg->peer_count; i++)
		warn_broad(cfg, "Peer", cfg->peers[i].allow, cfg->peers[i].allow_count);
	return 0;
}

/* What SIGHUP reloads. */
struct reload_ctx {
	const char *path;
	struct nt_config *cfg; /* running */
	struct nt_gateway *gw;
};

static void on_hup(struct nt_loop *loop, int signo, void *arg)
{
	struct reload_ctx *rc = arg;
	struct nt_config *next = calloc(1, sizeof(*next));
	struct nt_config_error err = {0};
	char keys[160];
	int ret;

	(void)loop;
	(void)signo;
	nt_info(MOD, "event=reloading file=%s", rc->path);
	ret = next ? load_config(rc->path, next, &err) : -ENOMEM;
	if (ret == 0)
		ret = nt_gateway_reload(rc->gw, rc->cfg, next);
	if (ret != 0) {
		nt_error(MOD, "event=reload_failed file=%s line=%u key=%s reason=\"%s\"", rc->path,
			 err.line, err.key[0] ? err.key : "-",
			 err.message[0] ? err.message : strerror(-ret));
		goto out;
	}
	if (nt_config_restart_keys(rc->cfg, next, keys, sizeof(keys)))
		nt_warn(MOD, "event=reload_needs_restart keys=%s", keys);
	/* The gateway now points into next's peers and rules: they move. */
	nt_config_take_reloadable(rc->cfg, next);
	nt_info(MOD, "event=reloaded file=%s peers=%zu rules=%zu", rc->path, rc->cfg->peer_count,
		rc->cfg->gateway_allow_count);
out:
	if (next)
		nt_config_free(next);
	free(next);
}

static int run(const char *path, const char *control, const struct nt_gateway_limits *limits)
{
	struct nt_config cfg;
	struct nt_loop *loop = NULL;
	struct nt_gateway *gw = NULL;
	struct nt_gw_link *link = NULL;
	struct nt_ctl *ctl = NULL;
	struct nt_config_error err;
	struct reload_ctx rc = {.path = path, .cfg = &cfg};
	int ret, code;

	if (load_config(path, &cfg, &err) != 0) {
		fprintf(stderr, "notun: %s\n", err.message);
		code = NT_EXIT_USAGE;
		goto out_config;
	}
	code = NT_EXIT_FAIL;
	/* A destination that went away must not kill us on the next write. */
	signal(SIGPIPE, SIG_IGN);
	if (nt_loop_new(&loop) != 0)
		goto out_config;
	if (nt_loop_add_signal(loop, SIGINT, on_stop, NULL) != 0 ||
	    nt_loop_add_signal(loop, SIGTERM, on_stop, NULL) != 0 ||
	    nt_loop_add_signal(loop, SIGHUP, on_hup, &rc) != 0)
		goto out_loop;
	ret = nt_gateway_new(loop, &cfg, limits, NULL, &gw);
	if (ret != 0) {
		fprintf(stderr, "notun: gateway: %s\n", strerror(-ret));
		goto out_loop;
	}
	rc.gw = gw;
	if (nt_loop_add_signal(loop, SIGUSR1, on_usr1, gw) != 0)
		goto out_gw;
	if (cfg.portal.line && nt_gw_link_start(loop, gw, &cfg, &link) != 0)
		goto out_gw;
	ret = nt_ctl_start(loop,
			   &(struct nt_ctl_config){
			       .src = {.role = NT_CTL_GATEWAY, .gw = gw, .link = link},
			       .control = control,
			       .config_path = path,
			       .cfg = &cfg},
			   &ctl);
	if (ret != 0) {
		fprintf(stderr, "notun: gateway: cannot serve [Metrics]: %s\n", strerror(-ret));
		goto out_link;
	}
	ret = nt_loop_run(loop);
	code = ret == 0 ? NT_EXIT_OK : NT_EXIT_FAIL;
	if (nt_gw_link_fatal(link) >= 0)
		code = nt_cli_portal_fatal(&cfg, "gateway", nt_gw_link_fatal(link));
	nt_ctl_stop(ctl);
	nt_gateway_log_counters(gw);
out_link:
	/* The channel's thread ends before the tunnel its pushes reach. */
	nt_gw_link_stop(link);
out_gw:
	nt_gateway_free(gw);
out_loop:
	nt_loop_free(loop);
out_config:
	nt_config_free(&cfg);
	return code;
}

static int parse_uint(const char *opt, const char *text, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || end == text || *end || v == 0 || v > max || text[0] == '-')
		return nt_cli_usage_error(CMD, "%s takes a number from 1 to %u", opt, max);
	*out = (unsigned)v;
	return 0;
}

int nt_cmd_gateway(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"max-flows", required_argument, NULL, 'F'},
	    {"max-flows-per-peer", required_argument, NULL, 'P'},
	    {"connect-timeout", required_argument, NULL, 'T'},
	    {"udp-idle", required_argument, NULL, 'U'},
	    {"control", required_argument, NULL, 'C'},
	    {NULL, 0, NULL, 0},
	};
	struct nt_gateway_limits limits = {0};
	const char *path = NULL, *control = NULL;
	unsigned v;
	int opt;

	nt_cli_getopt_start();
	while ((opt = getopt_long(argc, argv, ":c:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'F':
			if (parse_uint("--max-flows", optarg, 1u << 20, &limits.max_flows))
				return NT_EXIT_USAGE;
			break;
		case 'P':
			if (parse_uint("--max-flows-per-peer", optarg, 1u << 20,
				       &limits.max_flows_per_peer))
				return NT_EXIT_USAGE;
			break;
		case 'T':
			if (parse_uint("--connect-timeout", optarg, 300, &v))
				return NT_EXIT_USAGE;
			limits.connect_timeout_ms = v * 1000u;
			break;
		case 'U':
			if (parse_uint("--udp-idle", optarg, 3600, &v))
				return NT_EXIT_USAGE;
			limits.udp_idle_ms = v * 1000u;
			break;
		case 'C':
			control = optarg;
			break;
		default:
			return nt_cli_option_error(CMD, opt, argv);
		}
	}
	if (optind < argc)
		return nt_cli_unexpected_arg(CMD, argv[optind]);
	if (!path)
		return nt_cli_usage_error(CMD, "needs -c FILE (a wg-quick configuration with "
					       "[Gateway] Allow rules)");
	return run(path, control, &limits);
}
