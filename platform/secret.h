/* SPDX-License-Identifier: MIT */
/* Handling of secrets the process holds: keys, pre-shared keys, proxy
 * credentials. */
#ifndef NT_PLATFORM_SECRET_H
#define NT_PLATFORM_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* Keeps key material out of core dumps and away from other processes of the
 * same user: the process becomes non-dumpable (no core file, no ptrace, and
 * /proc/PID/mem, environ and fd owned by root). A command this process
 * execs is dumpable again, as usual. Returns 0 or a negative errno. */
int nt_secret_protect_process(void);

/* Whether a (alen bytes) equals b (blen bytes), in time that depends on
 * neither content nor which length is whose: both sides are hashed to a
 * fixed length (keyed BLAKE2b, a per-process key) and the digests are
 * compared in constant time. Needs nt_platform_init() first. */
bool nt_secret_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
