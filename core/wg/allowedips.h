/* SPDX-License-Identifier: MIT */
/* AllowedIPs: longest-prefix match from IPv4/IPv6 prefixes to an owner (a peer).
 *
 * Outbound, the owner of the longest prefix holding a destination is the peer
 * to send to; inbound, a decrypted packet is accepted only if its sender owns
 * the longest prefix holding the packet's source. One path-compressed binary
 * trie per family; a prefix has one owner, and inserting it again moves it.
 * Lookups walk at most one node per prefix length and never allocate.
 *
 * Limit: the table holds at most max_nodes trie nodes over both families
 * (a prefix costs one or two); an insert that would pass it fails with
 * -ENOSPC and is counted in refused_nospc.
 */
#ifndef NT_CORE_ALLOWEDIPS_H
#define NT_CORE_ALLOWEDIPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WG_ALLOWEDIPS_DEFAULT_MAX_NODES 65536
/* The longest IPv6 text (45), "/128" and the terminating NUL. */
#define WG_CIDR_STRLEN 50

/* family is AF_INET or AF_INET6; addr holds 4 or 16 bytes in network order. */
struct wg_cidr {
	int family;
	uint8_t addr[16];
	uint8_t prefix_len;
};

struct wg_allowedips_node;

struct wg_allowedips {
	struct wg_allowedips_node *root4;
	struct wg_allowedips_node *root6;
	size_t nodes;
	size_t max_nodes;
	size_t prefixes;
	uint64_t refused_nospc;
};

/* max_nodes 0 means WG_ALLOWEDIPS_DEFAULT_MAX_NODES. */
void wg_allowedips_init(struct wg_allowedips *t, size_t max_nodes);
/* Frees every node; the table is empty and usable again afterwards. */
void wg_allowedips_clear(struct wg_allowedips *t);

/* Host bits beyond prefix_len are ignored. owner must not be NULL.
 * 0, -EINVAL (bad family, length or owner), -ENOSPC (node limit) or -ENOMEM. */
int wg_allowedips_insert(struct wg_allowedips *t, const struct wg_cidr *cidr, void *owner);
/* 0 or -ENOENT (no such prefix; host bits are ignored here too). */
int wg_allowedips_remove(struct wg_allowedips *t, const struct wg_cidr *cidr);
/* Removes every prefix of owner; returns how many. */
size_t wg_allowedips_remove_owner(struct wg_allowedips *t, const void *owner);

/* The owner of the longest prefix holding addr (4 or 16 bytes as family
 * says), or NULL. */
void *wg_allowedips_lookup(const struct wg_allowedips *t, int family, const void *addr);
/* The inbound source check: true iff owner (non-NULL) owns the longest match. */
bool wg_allowedips_owner_matches(const struct wg_allowedips *t, int family, const void *addr,
				 const void *owner);

/* Calls fn for each prefix of owner, in address order, v4 first; stops early and
 * returns fn's value when it is not 0. The table must not change meanwhile. */
typedef int (*wg_allowedips_walk_fn)(const struct wg_cidr *cidr, void *ctx);
int wg_allowedips_walk_owner(const struct wg_allowedips *t, const void *owner,
			     wg_allowedips_walk_fn fn, void *ctx);

/* "10.0.0.0/8", "fd00::/64", or a bare address (/32, /128). The address is kept
 * as written (host bits included). Strict: no spaces, no leading zeros in the
 * length, no zone. 0 or -EINVAL. */
int wg_allowedips_parse_cidr(const char *text, struct wg_cidr *out);
/* Writes "ADDR/LEN" into out (WG_CIDR_STRLEN bytes). 0 or -EINVAL. */
int wg_allowedips_format_cidr(const struct wg_cidr *cidr, char out[WG_CIDR_STRLEN]);

#endif
