// SPDX-License-Identifier: MIT
/* The portal client's routing table (rtable.h). */
#include "core/engine/rtable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void nt_rtable_init(struct nt_rtable *t, size_t max, struct nt_pending_counters *pc)
{
	memset(t, 0, sizeof(*t));
	t->max = max ? max : NT_RTABLE_MAX;
	t->pending_c = pc;
	wg_allowedips_init(&t->trie, 0);
}

void nt_rtable_fini(struct nt_rtable *t)
{
	while (t->head)
		nt_rtable_del(t, t->head);
	wg_allowedips_clear(&t->trie);
}

bool nt_rtable_same_prefix(const struct wg_cidr *a, const struct wg_cidr *b)
{
	struct wg_cidr x = *a, y = *b;
	size_t len = a->family == AF_INET ? 4 : 16;

	if (a->family != b->family || a->prefix_len != b->prefix_len)
		return false;
	/* Host bits do not count: the trie ignores them too. */
	for (size_t i = 0; i < len; i++) {
		unsigned bits = a->prefix_len > i * 8 ? a->prefix_len - i * 8 : 0;
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff00u >> bits);

		x.addr[i] &= mask;
		y.addr[i] &= mask;
	}
	return memcmp(x.addr, y.addr, len) == 0;
}

static bool is_cidr(const struct nt_rentry *e)
{
	return e->res.type == NT_PMSG_RES_CIDR;
}

/* After e's prefix left the trie: another entry with it takes it back. */
static void prefix_released(struct nt_rtable *t, const struct nt_rentry *e)
{
	for (struct nt_rentry *o = t->head; o; o = o->next)
		if (o != e && is_cidr(o) && nt_rtable_same_prefix(&o->res.cidr, &e->res.cidr) &&
		    wg_allowedips_insert(&t->trie, &o->res.cidr, o) == 0)
			return;
}

static void prefix_drop(struct nt_rtable *t, struct nt_rentry *e)
{
	if (!is_cidr(e) ||
	    wg_allowedips_lookup(&t->trie, e->res.cidr.family, e->res.cidr.addr) != e)
		return; /* another entry holds it */
	(void)wg_allowedips_remove(&t->trie, &e->res.cidr);
	prefix_released(t, e);
}

int nt_rtable_put(struct nt_rtable *t, const struct nt_pmsg_resource *res, struct nt_rentry **out)
{
	struct nt_rentry *e = nt_rtable_find(t, res->id);
	bool added = !e;
	int ret = 0;

	if (res->type != NT_PMSG_RES_CIDR && res->type != NT_PMSG_RES_DNS)
		return -EINVAL;
	if (!e) {
		if (t->n >= t->max)
			return -ENOSPC;
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->q.c = t->pending_c;
	} else {
		prefix_drop(t, e);
	}
	e->res = *res;
	if (is_cidr(e))
		ret = wg_allowedips_insert(&t->trie, &e->res.cidr, e);
	if (ret) {
		if (added)
			free(e);
		else
			nt_rtable_del(t, e);
		return ret;
	}
	if (added) {
		e->next = t->head;
		t->head = e;
		t->n++;
	}
	if (out)
		*out = e;
	return added ? 0 : 1;
}

struct nt_rentry *nt_rtable_find(const struct nt_rtable *t, const char *id)
{
	for (struct nt_rentry *e = t->head; e; e = e->next)
		if (strcmp(e->res.id, id) == 0)
			return e;
	return NULL;
}

struct nt_rentry *nt_rtable_lookup(const struct nt_rtable *t, int family, const uint8_t *addr)
{
	return wg_allowedips_lookup(&t->trie, family, addr);
}

/* Per label: a literal 4, one with "?" 3, "*" 2, "**" 1; an exact name
 * above every pattern. */
static int specificity(const char *pattern)
{
	int score = 0, label = 4;

	if (!strpbrk(pattern, "*?"))
		return 1 << 16;
	for (const char *c = pattern;; c++) {
		if (*c == '.' || *c == '\0') {
			score += label;
			label = 4;
			if (!*c)
				return score;
		} else if (*c == '*') {
			label = c[1] == '*' ? 1 : 2;
		} else if (*c == '?' && label > 3) {
			label = 3;
		}
	}
}

struct nt_rentry *nt_rtable_match_name(const struct nt_rtable *t, const char *name)
{
	struct nt_rentry *best = NULL;
	int best_score = -1;

	for (struct nt_rentry *e = t->head; e; e = e->next) {
		int score;

		if (e->res.type != NT_PMSG_RES_DNS || !nt_pmsg_name_match(e->res.address, name))
			continue;
		score = specificity(e->res.address);
		if (score > best_score) {
			best = e;
			best_score = score;
		}
	}
	return best;
}

void nt_rtable_del(struct nt_rtable *t, struct nt_rentry *e)
{
	struct nt_rentry **pp = &t->head;

	while (*pp && *pp != e)
		pp = &(*pp)->next;
	if (!*pp)
		return;
	*pp = e->next;
	t->n--;
	prefix_drop(t, e);
	nt_pending_clear(&e->q);
	free(e);
}
