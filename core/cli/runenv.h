/* SPDX-License-Identifier: MIT */
/* Proxy settings as other programs read them: the environment `notun run`
 * gives its command and `notun env` prints, and the ALL_PROXY URL that
 * `notun connect` follows.
 *
 * The variables, for a proxy at HOST:PORT with credentials USER:PASS:
 *
 *   HTTP_PROXY, http_proxy, HTTPS_PROXY, https_proxy
 *                        http://USER:PASS@HOST:PORT
 *   ALL_PROXY, all_proxy socks5h://USER:PASS@HOST:PORT (names resolved by notun)
 *   NO_PROXY, no_proxy   localhost,127.0.0.1,::1 plus the entries of the
 *                        caller's NO_PROXY and no_proxy, each once
 *   NODE_USE_ENV_PROXY   1 (Node.js 24+ reads the variables above)
 *   JAVA_TOOL_OPTIONS    the caller's value, then -Dhttp.proxyHost/Port,
 *                        -Dhttps.proxyHost/Port, -DsocksProxyHost/Port and
 *                        -Dhttp.nonProxyHosts (NO_PROXY in Java's syntax).
 *                        No credentials: the JVM prints this variable on
 *                        stderr, and its HTTP client takes proxy credentials
 *                        only from code (an Authenticator).
 *
 * Credentials are percent-encoded in the URLs; HOST is an address literal
 * (an IPv6 one gets brackets). Everything here is pure (strings in, strings
 * out) but nt_runenv_random_credentials.
 */
#ifndef NT_CORE_CLI_RUNENV_H
#define NT_CORE_CLI_RUNENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config/config.h"

#define NT_RUNENV_VARS 10
/* Entries of the merged NO_PROXY; more of the caller's are left out, counted
 * in no_proxy_dropped. */
#define NT_RUNENV_NO_PROXY_MAX     256
#define NT_RUNENV_BUILTIN_NO_PROXY "localhost,127.0.0.1,::1"

/* nt_runenv_random_credentials: base64url of 9 and 24 random bytes. */
#define NT_RUNENV_USERNAME_LEN 12
#define NT_RUNENV_PASSWORD_LEN 32

struct nt_runenv_in {
	const char *host; /* the proxy's address literal: "127.0.0.1", "::1" */
	uint16_t port;
	const char *username; /* both or neither; 1..255 bytes each */
	const char *password;
	/* The caller's own values, NULL when unset. */
	const char *no_proxy;	    /* NO_PROXY */
	const char *no_proxy_lower; /* no_proxy */
	const char *java_tool_options;
};

struct nt_runenv_var {
	const char *name; /* static */
	char *value;
};

struct nt_runenv {
	struct nt_runenv_var vars[NT_RUNENV_VARS];
	size_t count;
	size_t no_proxy_dropped; /* the caller's entries over NT_RUNENV_NO_PROXY_MAX */
};

/* Fills out (free it with nt_runenv_free after any return). 0, -EINVAL
 * (no host, port 0, one credential without the other, or one longer than
 * 255 bytes) or -ENOMEM. */
int nt_runenv_build(const struct nt_runenv_in *in, struct nt_runenv *out);
/* The value of one of the variables above; NULL for any other name. */
const char *nt_runenv_get(const struct nt_runenv *env, const char *name);
/* Wipes the values (they hold the password) and frees them. */
void nt_runenv_free(struct nt_runenv *env);

/* A new NULL-terminated "NAME=VALUE" array: base without the variables env
 * sets (under either spelling of their name), then env's. *out is freed
 * with nt_runenv_environ_free. 0 or -ENOMEM. */
int nt_runenv_environ(const struct nt_runenv *env, char *const *base, char ***out);
void nt_runenv_environ_free(char **envp);

/* "export NAME='VALUE'\n" for every variable, quoted for any POSIX shell;
 * *out is a NUL-terminated string to free with nt_runenv_text_free.
 * 0 or -ENOMEM. */
int nt_runenv_exports(const struct nt_runenv *env, char **out);
void nt_runenv_text_free(char *text);

/* The address a program on this host dials to reach listener l: its own,
 * or the loopback address for 0.0.0.0 and ::. size >= INET6_ADDRSTRLEN. */
void nt_runenv_dial_host(const struct nt_config_listen *l, char *out, size_t size);

/* Fresh credentials from libsodium, letters, digits, '-' and '_' only (safe
 * in URLs and shells unquoted). */
void nt_runenv_random_credentials(char username[NT_RUNENV_USERNAME_LEN + 1],
				     char password[NT_RUNENV_PASSWORD_LEN + 1]);

/* ---- proxy URLs, as ALL_PROXY holds them ---- */

#define NT_PROXY_URL_HOST_MAX	    253
#define NT_PROXY_URL_CREDENTIAL_MAX 255
#define NT_PROXY_URL_DEFAULT_PORT   1080 /* curl's default for a proxy */

enum nt_runenv_url_scheme {
	NT_PROXY_URL_SOCKS5,  /* the client resolves names */
	NT_PROXY_URL_SOCKS5H, /* the proxy resolves names */
};

struct nt_runenv_url {
	enum nt_runenv_url_scheme scheme;
	char host[NT_PROXY_URL_HOST_MAX + 1]; /* a name or an address; no brackets */
	uint16_t port;
	bool has_credentials;
	char username[NT_PROXY_URL_CREDENTIAL_MAX + 1]; /* percent-decoded */
	char password[NT_PROXY_URL_CREDENTIAL_MAX + 1];
};

/* "socks5h://[USER[:PASS]@]HOST[:PORT][/]", scheme case-insensitive, HOST a
 * name, an IPv4 address or "[IPv6]", PORT 1..65535 (default 1080). 0 or
 * -EINVAL (another scheme, a bad port, %00 or a bad %-escape, a path).
 * Wipe out->password with sodium_memzero when done. */
int nt_runenv_url_parse(const char *url, struct nt_runenv_url *out);

#endif
