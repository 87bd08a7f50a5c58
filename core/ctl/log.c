// SPDX-License-Identifier: MIT
/* SIGUSR1: the snapshot's counters as log lines (ctl.h), named as in the
 * JSON (fields.c), so that a log and `notun status --json` agree. */
#include <inttypes.h>

#include "core/ctl/ctl.h"
#include "core/ctl/fields.h"
#include "core/ctl/render.h"
#include "platform/log.h"

#define SETS_MAX 8
#define TEXT_MAX 960 /* under the log's line limit, with its prefix */

void nt_ctl_log_snap(const struct nt_ctl_snap *s, const char *mod)
{
	const struct nt_ctl_set *sets[SETS_MAX];
	size_t n = nt_ctl_sets(s, sets, SETS_MAX);
	char line[TEXT_MAX];

	for (size_t i = 0; i < n; i++) {
		struct nt_ctl_out o = {.buf = line, .cap = sizeof(line)};

		for (size_t j = 0; j < sets[i]->n; j++)
			nt_ctl_put(&o, " %s=%" PRIu64, sets[i]->fields[j].key,
				   nt_ctl_field_get(s, sets[i], &sets[i]->fields[j]));
		nt_info(mod, "event=counters set=%s%s%s", sets[i]->name, line,
			o.err ? " truncated=yes" : "");
	}
	for (size_t i = 0; i < s->n_peers; i++) {
		const struct nt_ctl_peer *p = &s->peers[i];

		nt_info(mod,
			"event=peer_counters peer=%.8s%s%s endpoint=%s session=%s "
			"last_handshake=%" PRId64 " rx_bytes=%" PRIu64 " tx_bytes=%" PRIu64
			" handshakes=%" PRIu64 " staged=%zu",
			p->public_key,
			!p->name[0]		   ? ""
			: s->role == NT_CTL_CLIENT ? " gid="
						   : " cid=",
			p->name, p->endpoint[0] ? p->endpoint : "unknown",
			p->has_session ? "yes" : "no", p->last_handshake, p->info.c.rx_bytes,
			p->info.c.tx_bytes, p->info.c.handshakes_completed, p->info.staged);
	}
}
