// SPDX-License-Identifier: MIT
/* [Metrics] of the wg-quick grammar: where the metrics endpoint listens.
 * The page names peers' keys and endpoints and the portal's resources, so
 * it stays on loopback unless the file says AllowRemote = yes. */
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/config/config_parse_int.h"

static bool is_loopback(const struct nt_config_ip *ip)
{
	static const uint8_t v6_loopback[16] = {[15] = 1};

	if (ip->family == AF_INET)
		return ip->addr[0] == 127;
	return memcmp(ip->addr, v6_loopback, 16) == 0;
}

int nt_config_k_metrics_listen(struct parser *p, char *v)
{
	if (nt_config_parse_listen(v, &p->cfg->metrics_listen) != 0)
		return nt_config_fail_key(p, Q " is not ADDRESS:PORT or [IPv6]:PORT", QA(v));
	return 0;
}

int nt_config_k_metrics_allow_remote(struct parser *p, char *v)
{
	if (strcasecmp(v, "yes") == 0)
		p->cfg->metrics_allow_remote = true;
	else if (strcasecmp(v, "no") == 0)
		p->cfg->metrics_allow_remote = false;
	else
		return nt_config_fail_key(p, Q " is not yes or no", QA(v));
	return 0;
}

int nt_config_metrics_finish(struct parser *p)
{
	struct nt_config *cfg = p->cfg;
	unsigned int listen = nt_config_key_line(p, SEC_METRICS, "Listen");

	if (!cfg->metrics_line)
		return 0;
	if (!listen)
		return nt_config_fail_at(p, cfg->metrics_line, "Listen",
					 "[Metrics] has no Listen (e.g. 127.0.0.1:9101)");
	if (!is_loopback(&cfg->metrics_listen.ip) && !cfg->metrics_allow_remote)
		return nt_config_fail_at(p, listen, "Listen",
					 "not a loopback address: the page shows keys, endpoints "
					 "and resources; add AllowRemote = yes to serve it there");
	return 0;
}
