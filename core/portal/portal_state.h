/* SPDX-License-Identifier: MIT */
/* What the portal keeps across restarts: address assignments, one
 * pre-shared key per (client, gateway) pair, grants. A line format:
 *
 *   notun-portal-state 1
 *   addr client alice-laptop 7
 *   addr gateway gw-office-1 1
 *   psk alice-laptop gw-office-1 BASE64
 *   grant alice-laptop gw-office-1 r-db 1767225600 CLIENT-PUBLIC-KEY
 *
 * The text is a secret (pre-shared keys): written with mode 0600, and the
 * struct is wiped by nt_portal_state_free. portal_state.c formats and
 * parses (pure); portal_state_file.c reads and replaces the file. */
#ifndef NT_CORE_PORTAL_PORTAL_STATE_H
#define NT_CORE_PORTAL_PORTAL_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/portal/portal.h"

#define NT_PORTAL_STATE_VERSION	 1
#define NT_PORTAL_STATE_FILE_MAX (64u << 20) /* bytes; a bigger file is refused */

struct nt_portal_addr_rec {
	enum nt_portal_role role;
	char name[NT_PORTAL_ID_MAX + 1];
	uint32_t index; /* offset into both pools: pool4 + index, pool6 + index */
};

struct nt_portal_psk_rec {
	char client[NT_PORTAL_ID_MAX + 1];
	char gateway[NT_PORTAL_ID_MAX + 1];
	uint8_t psk[NT_KEY_LEN];
};

struct nt_portal_grant_rec {
	char client[NT_PORTAL_ID_MAX + 1];
	char gateway[NT_PORTAL_ID_MAX + 1];
	char resource[NT_PMSG_ID_MAX + 1];
	int64_t expires_at;		/* Unix seconds */
	uint8_t client_key[NT_KEY_LEN]; /* the public key the gateway was given */
};

struct nt_portal_state {
	struct nt_portal_addr_rec *addrs;
	size_t n_addrs;
	struct nt_portal_psk_rec *psks;
	size_t n_psks;
	struct nt_portal_grant_rec *grants;
	size_t n_grants;
};

/* Wipes and frees the arrays; the struct is left empty. */
void nt_portal_state_free(struct nt_portal_state *st);

/* The text of st, allocated (*out, NUL-terminated, wipe and free it).
 * Returns the length or -ENOMEM. */
long nt_portal_state_format(const struct nt_portal_state *st, char **out);
/* Parses text; grants with expires_at <= now_unix are dropped. 0, or
 * -EINVAL with "LINE: reason" in err (the caller prefixes the file name),
 * -ENOMEM. */
int nt_portal_state_parse(const char *text, size_t len, int64_t now_unix,
			  struct nt_portal_state *out, char *err, size_t errlen);

/* Atomic replace: a temporary file beside path (mode 0600), written,
 * fsync'd, renamed over path, then the directory fsync'd. 0 or -errno. */
int nt_portal_state_write(const char *path, const struct nt_portal_state *st);
/* Reads and parses path. -ENOENT when it does not exist (a first start);
 * -EINVAL with "PATH:LINE: reason" in err. */
int nt_portal_state_read(const char *path, int64_t now_unix, struct nt_portal_state *out, char *err,
			 size_t errlen);

#endif
