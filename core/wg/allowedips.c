// SPDX-License-Identifier: MIT
/* AllowedIPs: a longest-prefix trie from addresses to peers. */
#include "core/wg/allowedips.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A node holds a prefix (bits masked to cidr). Invariants the pruning keeps:
 * children extend their parent's prefix by at least one bit, and a node
 * without an owner exists only to branch, so it has both children. Each step
 * down lengthens the prefix, so a path has at most MAX_BITS + 1 nodes. */
struct wg_allowedips_node {
	struct wg_allowedips_node *child[2];
	void *owner;
	uint8_t bits[16];
	uint8_t cidr;
};

#define MAX_BITS 128

static unsigned int family_bits(int family)
{
	if (family == AF_INET)
		return 32;
	if (family == AF_INET6)
		return 128;
	return 0;
}

static struct wg_allowedips_node **root_of(struct wg_allowedips *t, int family)
{
	return family == AF_INET ? &t->root4 : &t->root6;
}

static unsigned int bit_at(const uint8_t *key, unsigned int i)
{
	return (key[i >> 3] >> (7 - (i & 7))) & 1;
}

static void mask_copy(uint8_t out[16], const uint8_t *in, unsigned int bits, unsigned int cidr)
{
	unsigned int i;

	memset(out, 0, 16);
	for (i = 0; i < bits / 8; i++) {
		if (cidr >= 8 * (i + 1))
			out[i] = in[i];
		else if (cidr > 8 * i)
			out[i] = in[i] & (uint8_t)(0xff << (8 - (cidr - 8 * i)));
	}
}

/* How many leading bits a and b share, at most limit. */
static unsigned int common_bits(const uint8_t *a, const uint8_t *b, unsigned int limit)
{
	unsigned int n = 0, i = 0;

	while (n < limit) {
		uint8_t x = a[i] ^ b[i];

		if (x) {
			n += (unsigned int)__builtin_clz(x) - 24;
			break;
		}
		n += 8;
		i++;
	}
	return n < limit ? n : limit;
}

static bool node_holds(const struct wg_allowedips_node *n, const uint8_t *key)
{
	return common_bits(n->bits, key, n->cidr) == n->cidr;
}

static struct wg_allowedips_node *node_new(struct wg_allowedips *t, const uint8_t *key,
					   unsigned int bits, unsigned int cidr, void *owner)
{
	struct wg_allowedips_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	mask_copy(n->bits, key, bits, cidr);
	n->cidr = (uint8_t)cidr;
	n->owner = owner;
	t->nodes++;
	return n;
}

static void node_free(struct wg_allowedips *t, struct wg_allowedips_node *n)
{
	free(n);
	t->nodes--;
}

/* Removes the node at slot if it no longer carries a prefix or a branch. */
static void prune(struct wg_allowedips *t, struct wg_allowedips_node **slot)
{
	struct wg_allowedips_node *n = *slot;

	if (!n || n->owner || (n->child[0] && n->child[1]))
		return;
	*slot = n->child[0] ? n->child[0] : n->child[1];
	node_free(t, n);
}

void wg_allowedips_init(struct wg_allowedips *t, size_t max_nodes)
{
	memset(t, 0, sizeof(*t));
	t->max_nodes = max_nodes ? max_nodes : WG_ALLOWEDIPS_DEFAULT_MAX_NODES;
}

static void free_tree(struct wg_allowedips *t, struct wg_allowedips_node *n)
{
	if (!n)
		return;
	free_tree(t, n->child[0]);
	free_tree(t, n->child[1]);
	node_free(t, n);
}

void wg_allowedips_clear(struct wg_allowedips *t)
{
	free_tree(t, t->root4);
	free_tree(t, t->root6);
	t->root4 = t->root6 = NULL;
	t->prefixes = 0;
}

static bool room_for(struct wg_allowedips *t, size_t need)
{
	if (t->nodes + need <= t->max_nodes)
		return true;
	t->refused_nospc++;
	return false;
}

int wg_allowedips_insert(struct wg_allowedips *t, const struct wg_cidr *cidr, void *owner)
{
	struct wg_allowedips_node **slot, *n, *leaf, *mid;
	unsigned int bits, plen, common;
	uint8_t key[16];

	bits = cidr ? family_bits(cidr->family) : 0;
	if (!bits || !owner || cidr->prefix_len > bits)
		return -EINVAL;
	plen = cidr->prefix_len;
	mask_copy(key, cidr->addr, bits, plen);

	slot = root_of(t, cidr->family);
	while ((n = *slot)) {
		common = common_bits(n->bits, key, n->cidr < plen ? n->cidr : plen);
		if (common == n->cidr && common == plen) {
			if (!n->owner)
				t->prefixes++;
			n->owner = owner;
			return 0;
		}
		if (common == n->cidr) {
			slot = &n->child[bit_at(key, n->cidr)];
			continue;
		}
		/* The new prefix splits off above n: either it contains n, or a
		 * branch node at their common length parents both. */
		if (!room_for(t, common == plen ? 1 : 2))
			return -ENOSPC;
		leaf = node_new(t, key, bits, plen, owner);
		if (!leaf)
			return -ENOMEM;
		if (common == plen) {
			leaf->child[bit_at(n->bits, plen)] = n;
			*slot = leaf;
		} else {
			mid = node_new(t, key, bits, common, NULL);
			if (!mid)
				goto err_leaf;
			mid->child[bit_at(key, common)] = leaf;
			mid->child[bit_at(n->bits, common)] = n;
			*slot = mid;
		}
		t->prefixes++;
		return 0;
	}
	if (!room_for(t, 1))
		return -ENOSPC;
	leaf = node_new(t, key, bits, plen, owner);
	if (!leaf)
		return -ENOMEM;
	*slot = leaf;
	t->prefixes++;
	return 0;

err_leaf:
	node_free(t, leaf);
	return -ENOMEM;
}

int wg_allowedips_remove(struct wg_allowedips *t, const struct wg_cidr *cidr)
{
	struct wg_allowedips_node **path[MAX_BITS + 1], **slot, *n;
	unsigned int bits, plen, depth = 0;
	uint8_t key[16];

	bits = cidr ? family_bits(cidr->family) : 0;
	if (!bits || cidr->prefix_len > bits)
		return -ENOENT;
	plen = cidr->prefix_len;
	mask_copy(key, cidr->addr, bits, plen);

	slot = root_of(t, cidr->family);
	while ((n = *slot)) {
		if (n->cidr > plen || !node_holds(n, key))
			return -ENOENT;
		path[depth++] = slot;
		if (n->cidr == plen)
			break;
		slot = &n->child[bit_at(key, n->cidr)];
	}
	if (!n || !n->owner)
		return -ENOENT;
	n->owner = NULL;
	t->prefixes--;
	/* Dropping a leaf may leave its parent a branch with one child. */
	prune(t, path[depth - 1]);
	if (depth >= 2)
		prune(t, path[depth - 2]);
	return 0;
}

/* Post-order, so each node is pruned after its subtrees have settled. */
static size_t remove_owner_at(struct wg_allowedips *t, struct wg_allowedips_node **slot,
			      const void *owner)
{
	struct wg_allowedips_node *n = *slot;
	size_t removed;

	if (!n)
		return 0;
	removed = remove_owner_at(t, &n->child[0], owner) + remove_owner_at(t, &n->child[1], owner);
	if (n->owner == owner) {
		n->owner = NULL;
		removed++;
	}
	prune(t, slot);
	return removed;
}

size_t wg_allowedips_remove_owner(struct wg_allowedips *t, const void *owner)
{
	size_t removed;

	if (!owner)
		return 0;
	removed = remove_owner_at(t, &t->root4, owner) + remove_owner_at(t, &t->root6, owner);
	t->prefixes -= removed;
	return removed;
}

void *wg_allowedips_lookup(const struct wg_allowedips *t, int family, const void *addr)
{
	const struct wg_allowedips_node *n;
	unsigned int bits = family_bits(family);
	const uint8_t *key = addr;
	void *best = NULL;

	if (!bits || !addr)
		return NULL;
	n = family == AF_INET ? t->root4 : t->root6;
	while (n && node_holds(n, key)) {
		if (n->owner)
			best = n->owner;
		if (n->cidr == bits)
			break;
		n = n->child[bit_at(key, n->cidr)];
	}
	return best;
}

bool wg_allowedips_owner_matches(const struct wg_allowedips *t, int family, const void *addr,
				 const void *owner)
{
	return owner && wg_allowedips_lookup(t, family, addr) == owner;
}

static int walk_at(const struct wg_allowedips_node *n, int family, const void *owner,
		   wg_allowedips_walk_fn fn, void *ctx)
{
	struct wg_cidr c;
	int ret;

	if (!n)
		return 0;
	if (n->owner == owner) {
		memset(&c, 0, sizeof(c));
		c.family = family;
		memcpy(c.addr, n->bits, sizeof(c.addr));
		c.prefix_len = n->cidr;
		ret = fn(&c, ctx);
		if (ret)
			return ret;
	}
	ret = walk_at(n->child[0], family, owner, fn, ctx);
	if (ret)
		return ret;
	return walk_at(n->child[1], family, owner, fn, ctx);
}

int wg_allowedips_walk_owner(const struct wg_allowedips *t, const void *owner,
			     wg_allowedips_walk_fn fn, void *ctx)
{
	int ret;

	if (!owner || !fn)
		return 0;
	ret = walk_at(t->root4, AF_INET, owner, fn, ctx);
	if (ret)
		return ret;
	return walk_at(t->root6, AF_INET6, owner, fn, ctx);
}

/* "0" or 1..3 digits without a leading zero, at most max. */
static int parse_prefix_len(const char *p, unsigned int max, uint8_t *out)
{
	unsigned int v = 0, i;

	if (p[0] == '\0' || (p[0] == '0' && p[1] != '\0'))
		return -EINVAL;
	for (i = 0; p[i]; i++) {
		if (i == 3 || p[i] < '0' || p[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned int)(p[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = (uint8_t)v;
	return 0;
}

int wg_allowedips_parse_cidr(const char *text, struct wg_cidr *out)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash;
	size_t len;
	unsigned int bits;

	if (!text || !out)
		return -EINVAL;
	slash = strchr(text, '/');
	len = slash ? (size_t)(slash - text) : strlen(text);
	if (len == 0 || len >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, text, len);
	addr[len] = '\0';

	memset(out, 0, sizeof(*out));
	/* Only IPv6 text has a colon; inet_pton rejects zones and short forms. */
	out->family = memchr(addr, ':', len) ? AF_INET6 : AF_INET;
	bits = family_bits(out->family);
	if (inet_pton(out->family, addr, out->addr) != 1)
		goto err_out;
	if (!slash) {
		out->prefix_len = (uint8_t)bits;
		return 0;
	}
	if (parse_prefix_len(slash + 1, bits, &out->prefix_len) < 0)
		goto err_out;
	return 0;

err_out:
	memset(out, 0, sizeof(*out));
	return -EINVAL;
}

int wg_allowedips_format_cidr(const struct wg_cidr *cidr, char out[WG_CIDR_STRLEN])
{
	char addr[INET6_ADDRSTRLEN];
	unsigned int bits = cidr ? family_bits(cidr->family) : 0;

	if (!bits || cidr->prefix_len > bits)
		return -EINVAL;
	if (!inet_ntop(cidr->family, cidr->addr, addr, sizeof(addr)))
		return -EINVAL;
	snprintf(out, WG_CIDR_STRLEN, "%s/%u", addr, (unsigned int)cidr->prefix_len);
	return 0;
}
