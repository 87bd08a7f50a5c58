// SPDX-License-Identifier: MIT
/* Secrets: a process that keeps them to itself, and comparisons that do
 * not tell an attacker how close a guess came. */
#include "platform/secret.h"

#include <errno.h>
#include <pthread.h>
#include <sys/prctl.h>

#include <sodium.h>

int nt_secret_protect_process(void)
{
	return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 ? 0 : -errno;
}

static unsigned char eq_key[crypto_generichash_KEYBYTES];
static pthread_once_t eq_key_once = PTHREAD_ONCE_INIT;

static void eq_key_init(void)
{
	randombytes_buf(eq_key, sizeof(eq_key));
}

/* A length compared first would return early on a wrong length; digests
 * of equal length are compared whatever was given. The key keeps the
 * digests of one process from being precomputed elsewhere. */
bool nt_secret_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	unsigned char da[crypto_generichash_BYTES], db[crypto_generichash_BYTES];
	bool equal;

	pthread_once(&eq_key_once, eq_key_init);
	crypto_generichash(da, sizeof(da), a, alen, eq_key, sizeof(eq_key));
	crypto_generichash(db, sizeof(db), b, blen, eq_key, sizeof(eq_key));
	equal = sodium_memcmp(da, db, sizeof(da)) == 0;
	sodium_memzero(da, sizeof(da));
	sodium_memzero(db, sizeof(db));
	return equal;
}
