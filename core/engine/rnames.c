// SPDX-License-Identifier: MIT
/* A portal client's names of dns resources and their proxy addresses
 * (rnames.h). Found by name with a walk over at most NT_RNAMES_MAX entries
 * (once per connection) and by address with the index the address encodes
 * (once per held packet). */
#include "core/engine/rnames.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int nt_rnames_init(struct nt_rnames *t, size_t max, struct nt_pending_counters *pc)
{
	memset(t, 0, sizeof(*t));
	t->max = max ? max : NT_RNAMES_MAX;
	if (t->max > NT_PMSG_PROXY_SLOTS - 2)
		t->max = NT_PMSG_PROXY_SLOTS - 2;
	t->pending_c = pc;
	t->by_index = calloc(t->max, sizeof(*t->by_index));
	return t->by_index ? 0 : -ENOMEM;
}

void nt_rnames_fini(struct nt_rnames *t)
{
	while (t->head) {
		struct nt_rname *n = t->head;

		t->head = n->next;
		nt_pending_clear(&n->q);
		free(n);
	}
	free(t->by_index);
	memset(t, 0, sizeof(*t));
}

bool nt_rnames_normalize(const char *name, char out[NT_PMSG_DOMAIN_MAX + 1])
{
	size_t len = strlen(name), label = 0;

	if (len && name[len - 1] == '.')
		len--;
	if (len == 0 || len > NT_PMSG_DOMAIN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
		out[i] = (char)tolower(c);
	}
	out[len] = '\0';
	return label > 0;
}

struct nt_rname *nt_rnames_find(const struct nt_rnames *t, const char *name)
{
	for (struct nt_rname *n = t->head; n; n = n->next)
		if (strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

int nt_rnames_get(struct nt_rnames *t, const char *name, struct nt_rname **out)
{
	struct nt_rname *n = nt_rnames_find(t, name);

	if (n) {
		*out = n;
		return 0;
	}
	if (t->n >= t->max)
		return -ENOSPC;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	snprintf(n->name, sizeof(n->name), "%s", name);
	/* Index n: never reused, since entries stay for the session. */
	if (nt_pmsg_proxy_ip(AF_INET, (uint32_t)t->n, n->v4) != 0 ||
	    nt_pmsg_proxy_ip(AF_INET6, (uint32_t)t->n, n->v6) != 0) {
		free(n);
		return -ENOSPC;
	}
	n->q.c = t->pending_c;
	t->by_index[t->n++] = n;
	n->next = t->head;
	t->head = n;
	*out = n;
	return 1;
}

struct nt_rname *nt_rnames_by_addr(const struct nt_rnames *t, int family, const uint8_t *addr)
{
	int64_t i = nt_pmsg_proxy_index(family, addr);

	return i >= 0 && (size_t)i < t->n ? t->by_index[i] : NULL;
}
