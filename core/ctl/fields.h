/* SPDX-License-Identifier: MIT */
/* The counter sets of a snapshot as tables, so that the JSON object, the
 * text and the metrics page name every counter the same way from one list:
 * a field's JSON key is its struct member's name; its metric is
 * notun_<set>_<metric>, with _total for counters (units in the metric:
 * _bytes). status.md documents them. */
#ifndef NT_CORE_CTL_FIELDS_H
#define NT_CORE_CTL_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctl/snap.h"

struct nt_ctl_field {
	const char *key;    /* JSON */
	const char *metric; /* Prometheus, after notun_<set>_; NULL: key */
	bool gauge;
	size_t off;
	const char *help;
};

struct nt_ctl_set {
	const char *name; /* "engine", "proxy", "tunnel", "flow", "portal", "pending", "gateway" */
	const struct nt_ctl_field *fields;
	size_t n;
	size_t off; /* of the counters in struct nt_ctl_snap */
};

/* The sets that exist in s (by role, portal, proxy), in a fixed order. */
size_t nt_ctl_sets(const struct nt_ctl_snap *s, const struct nt_ctl_set **out, size_t cap);
/* The uint64_t at off in base: a field of a table. */
static inline uint64_t nt_ctl_u64_at(const void *base, size_t off)
{
	uint64_t v;

	__builtin_memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}
static inline uint64_t nt_ctl_field_get(const struct nt_ctl_snap *s, const struct nt_ctl_set *set,
					const struct nt_ctl_field *f)
{
	return nt_ctl_u64_at(s, set->off + f->off);
}

/* A gateway peer's counters (struct nt_gateway_peer_counters). */
extern const struct nt_ctl_field nt_ctl_gw_peer_fields[];
extern const size_t nt_ctl_gw_peer_field_count;

/* enum nt_fail as a label value: "general", "timeout", ... */
const char *nt_ctl_fail_label(int fail);

#endif
