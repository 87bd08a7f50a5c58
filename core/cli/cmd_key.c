// SPDX-License-Identifier: MIT
/* notun genkey | genpsk | pubkey: the same text as wg(8)'s, so keys move
 * freely between notun, wg-quick files and any WireGuard peer. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cli/cli.h"
#include "core/wg/key.h"

/* Generous for a key plus whitespace; anything longer is not a key. */
#define PUBKEY_INPUT_MAX 256

static int no_args(int argc, char **argv)
{
	if (argc > 1)
		return nt_cli_usage_error(argv[0], "takes no arguments (got '%s')", argv[1]);
	return NT_EXIT_OK;
}

/* Private keys printed to a file others can read are a mistake worth naming. */
static void warn_if_world_readable(void)
{
	struct stat st;

	if (fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IRWXO))
		fprintf(stderr, "notun: warning: writing a key to a world-accessible file; "
				"consider umask 077\n");
}

static int print_key(const uint8_t key[NT_KEY_LEN])
{
	char text[NT_KEY_B64_LEN + 1];

	nt_key_to_base64(text, key);
	int ok = printf("%s\n", text) > 0 && fflush(stdout) == 0;
	sodium_memzero(text, sizeof(text));
	if (!ok) {
		fprintf(stderr, "notun: cannot write key: %s\n", strerror(errno));
		return NT_EXIT_FAIL;
	}
	return NT_EXIT_OK;
}

static int print_random_key(int argc, char **argv, int clamp)
{
	uint8_t key[NT_KEY_LEN];
	int ret = no_args(argc, argv);

	if (ret != NT_EXIT_OK)
		return ret;
	warn_if_world_readable();
	if (clamp)
		nt_key_generate_private(key);
	else
		randombytes_buf(key, sizeof(key));
	ret = print_key(key);
	sodium_memzero(key, sizeof(key));
	return ret;
}

int nt_cmd_genkey(int argc, char **argv)
{
	return print_random_key(argc, argv, 1);
}

int nt_cmd_genpsk(int argc, char **argv)
{
	return print_random_key(argc, argv, 0);
}

int nt_cmd_pubkey(int argc, char **argv)
{
	char input[PUBKEY_INPUT_MAX + 1];
	uint8_t priv[NT_KEY_LEN], pub[NT_KEY_LEN];
	size_t len;
	int ret = no_args(argc, argv);

	if (ret != NT_EXIT_OK)
		return ret;
	len = fread(input, 1, sizeof(input), stdin);
	if (ferror(stdin)) {
		ret = nt_cli_usage_error("pubkey", "cannot read stdin: %s", strerror(errno));
		goto out;
	}
	if (len > PUBKEY_INPUT_MAX) {
		ret = nt_cli_usage_error("pubkey", "input too long: expected one base64 key");
		goto out;
	}
	/* Surrounding whitespace (the newline of `notun genkey`) is fine. */
	size_t start = 0;
	while (start < len && strchr(" \t\r\n", input[start]))
		start++;
	while (len > start && strchr(" \t\r\n", input[len - 1]))
		len--;
	if (nt_key_from_base64(priv, input + start, len - start) != 0) {
		ret = nt_cli_usage_error("pubkey", "stdin is not a private key "
						   "(expected 44 base64 characters)");
		goto out;
	}
	if (nt_key_public(pub, priv) != 0) {
		ret = nt_cli_usage_error("pubkey", "private key gives a degenerate public key");
		goto out;
	}
	ret = print_key(pub);
out:
	sodium_memzero(input, sizeof(input));
	sodium_memzero(priv, sizeof(priv));
	return ret;
}
