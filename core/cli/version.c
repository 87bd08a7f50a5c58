// SPDX-License-Identifier: MIT
/* `notun --version`: notun's version and its libraries'. */
#include <mbedtls/version.h>
#include <sodium.h>
#include <string.h>

#include <libwebsockets.h>

#include "core/cli/cli.h"
#include "netstack/stack.h"

#ifndef NT_VERSION
#define NT_VERSION "unknown"
#endif

void nt_version_print(FILE *out)
{
	char mbedtls[18];
	const char *lws = lws_get_library_version();
	/* lws appends "-<git hash>"; a release build leaves the hash empty. */
	size_t lws_len = strcspn(lws, "- ");

	mbedtls_version_get_string(mbedtls);
	fprintf(out, "notun %s\n", NT_VERSION);
	fprintf(out, "lwIP %s\n", nt_stack_version());
	fprintf(out, "libsodium %s\n", sodium_version_string());
	fprintf(out, "mbedTLS %s\n", mbedtls);
	fprintf(out, "libwebsockets %.*s\n", (int)lws_len, lws);
}
