// SPDX-License-Identifier: MIT
/* Proxy settings for other programs: the variables `notun run` sets and
 * `notun env` prints (URLs, credentials, NO_PROXY merging, Java's syntax),
 * the environment handed to a command, shell quoting, and the ALL_PROXY URLs
 * `notun connect` reads. Exact strings throughout. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/cli/runenv.h"
#include "platform/random.h"

static struct nt_runenv env;

static int teardown_env(void **state)
{
	(void)state;
	nt_runenv_free(&env);
	return 0;
}

static void build(const struct nt_runenv_in *in)
{
	assert_int_equal(nt_runenv_build(in, &env), 0);
}

static const char *get(const char *name)
{
	const char *v = nt_runenv_get(&env, name);

	assert_non_null(v);
	return v;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const struct nt_runenv_in plain = {.host = "127.0.0.1", .port = 41000};

static void test_env_sets_every_variable_for_the_proxy(void **state)
{
	struct nt_runenv_in in = plain;

	(void)state;
	in.username = "u1";
	in.password = "p1";
	build(&in);
	assert_int_equal(env.count, NT_RUNENV_VARS);
	assert_string_equal(get("HTTP_PROXY"), "http://u1:p1@127.0.0.1:41000");
	assert_string_equal(get("http_proxy"), "http://u1:p1@127.0.0.1:41000");
	assert_string_equal(get("HTTPS_PROXY"), "http://u1:p1@127.0.0.1:41000");
	assert_string_equal(get("https_proxy"), "http://u1:p1@127.0.0.1:41000");
	assert_string_equal(get("ALL_PROXY"), "socks5h://u1:p1@127.0.0.1:41000");
	assert_string_equal(get("all_proxy"), "socks5h://u1:p1@127.0.0.1:41000");
	assert_string_equal(get("NO_PROXY"), "localhost,127.0.0.1,::1");
	assert_string_equal(get("no_proxy"), "localhost,127.0.0.1,::1");
	assert_string_equal(get("NODE_USE_ENV_PROXY"), "1");
	assert_string_equal(get("JAVA_TOOL_OPTIONS"),
			    "-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=41000 "
			    "-Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=41000 "
			    "-DsocksProxyHost=127.0.0.1 -DsocksProxyPort=41000 "
			    "-Dhttp.nonProxyHosts=localhost|*.localhost|127.0.0.1|[::1]");
	assert_null(nt_runenv_get(&env, "FTP_PROXY"));
}

static void test_env_without_credentials_has_no_userinfo(void **state)
{
	(void)state;
	build(&plain);
	assert_string_equal(get("HTTP_PROXY"), "http://127.0.0.1:41000");
	assert_string_equal(get("ALL_PROXY"), "socks5h://127.0.0.1:41000");
}

static void test_env_percent_encodes_credentials(void **state)
{
	struct nt_runenv_in in = plain;

	(void)state;
	in.username = "a b@c/d";
	in.password = "p:'%~-._Z9";
	build(&in);
	assert_string_equal(get("HTTPS_PROXY"),
			    "http://a%20b%40c%2Fd:p%3A%27%25~-._Z9@127.0.0.1:41000");
	assert_string_equal(get("all_proxy"),
			    "socks5h://a%20b%40c%2Fd:p%3A%27%25~-._Z9@127.0.0.1:41000");
}

static void test_env_ipv6_proxy_gets_brackets_in_urls_only(void **state)
{
	struct nt_runenv_in in = plain;

	(void)state;
	in.host = "::1";
	build(&in);
	assert_string_equal(get("HTTP_PROXY"), "http://[::1]:41000");
	assert_string_equal(get("ALL_PROXY"), "socks5h://[::1]:41000");
	assert_non_null(strstr(get("JAVA_TOOL_OPTIONS"), "-Dhttp.proxyHost=::1 "));
}

static void test_no_proxy_merges_both_caller_lists_once(void **state)
{
	struct nt_runenv_in in = plain;

	(void)state;
	in.no_proxy = " .corp.example , git.internal,,LOCALHOST,10.0.0.0/8 ";
	in.no_proxy_lower = "git.internal, Foo.Test\t,127.0.0.1";
	build(&in);
	assert_string_equal(get("NO_PROXY"), "localhost,127.0.0.1,::1,.corp.example,git.internal,"
					     "10.0.0.0/8,Foo.Test");
	assert_string_equal(get("no_proxy"), get("NO_PROXY"));
}

static void test_no_proxy_star_stays_every_host(void **state)
{
	struct nt_runenv_in in = plain;

	(void)state;
	in.no_proxy = "example.com,*";
	build(&in);
	assert_string_equal(get("NO_PROXY"), "*");
	assert_non_null(strstr(get("JAVA_TOOL_OPTIONS"), " -Dhttp.nonProxyHosts=*"));
}

static void test_no_proxy_entries_over_the_limit_are_counted(void **state)
{
	struct nt_runenv_in in = plain;
	size_t extra = 7, n = NT_RUNENV_NO_PROXY_MAX + extra, commas = 0;
	char *list = malloc(n * 16);
	size_t len = 0;

	(void)state;
	assert_non_null(list);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(list + len, "%sh%zu.test", i ? "," : "", i);
	in.no_proxy = list;
	build(&in);
	/* 3 built in, so 3 more of the caller's than extra are left out. */
	assert_int_equal(env.no_proxy_dropped, extra + 3);
	for (const char *p = get("NO_PROXY"); *p; p++)
		commas += *p == ',';
	assert_int_equal(commas, NT_RUNENV_NO_PROXY_MAX - 1);
	free(list);
}

static void test_java_non_proxy_hosts_in_java_syntax(void **state)
{
	struct nt_runenv_in in = plain;
	const char *java;

	(void)state;
	in.no_proxy = ".corp.example,git.internal,10.1.2.3,fd00::7,[fd00::8],*.svc,"
		      "10.0.0.0/8,host:8080,with space,a|b";
	build(&in);
	java = get("JAVA_TOOL_OPTIONS");
	java = strstr(java, "-Dhttp.nonProxyHosts=");
	assert_non_null(java);
	assert_string_equal(java, "-Dhttp.nonProxyHosts=localhost|*.localhost|127.0.0.1|[::1]|"
				  "*.corp.example|git.internal|*.git.internal|10.1.2.3|[fd00::7]|"
				  "[fd00::8]|*.svc");
}

static void test_java_tool_options_appended_to_callers(void **state)
{
	struct nt_runenv_in in = plain;

	(void)state;
	in.java_tool_options = "-Xmx2g -Dfoo=\"a b\"";
	build(&in);
	assert_true(starts_with(get("JAVA_TOOL_OPTIONS"),
				"-Xmx2g -Dfoo=\"a b\" -Dhttp.proxyHost=127.0.0.1 "));
	nt_runenv_free(&env);
	in.java_tool_options = "  ";
	build(&in);
	assert_true(starts_with(get("JAVA_TOOL_OPTIONS"), "-Dhttp.proxyHost="));
}

static void test_env_refuses_bad_input(void **state)
{
	struct nt_runenv_in in = plain;
	char long_name[300];

	(void)state;
	in.port = 0;
	assert_int_equal(nt_runenv_build(&in, &env), -EINVAL);
	nt_runenv_free(&env);
	in = plain;
	in.host = "";
	assert_int_equal(nt_runenv_build(&in, &env), -EINVAL);
	nt_runenv_free(&env);
	in = plain;
	in.username = "only-user";
	assert_int_equal(nt_runenv_build(&in, &env), -EINVAL);
	nt_runenv_free(&env);
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	in.password = long_name;
	assert_int_equal(nt_runenv_build(&in, &env), -EINVAL);
	assert_int_equal(env.count, 0);
}

static void test_environ_replaces_both_spellings_and_keeps_the_rest(void **state)
{
	char *base[] = {
	    "PATH=/usr/bin", "http_proxy=http://old:1", "HTTP_PROXY=http://old:2", "NO_PROXY=x",
	    "HOME=/root",    "HTTP_PROXYX=kept",	"JAVA_TOOL_OPTIONS",	   NULL};
	char **envp = NULL;
	size_t n = 0;

	(void)state;
	build(&plain);
	assert_int_equal(nt_runenv_environ(&env, base, &envp), 0);
	while (envp[n])
		n++;
	assert_int_equal(n, 3 + NT_RUNENV_VARS);
	assert_string_equal(envp[0], "PATH=/usr/bin");
	assert_string_equal(envp[1], "HOME=/root");
	assert_string_equal(envp[2], "HTTP_PROXYX=kept");
	assert_string_equal(envp[3], "HTTP_PROXY=http://127.0.0.1:41000");
	assert_string_equal(envp[4], "http_proxy=http://127.0.0.1:41000");
	assert_string_equal(envp[9], "NO_PROXY=localhost,127.0.0.1,::1");
	assert_true(starts_with(envp[n - 1], "JAVA_TOOL_OPTIONS=-Dhttp.proxyHost="));
	nt_runenv_environ_free(envp);
}

static void test_exports_are_quoted_for_a_posix_shell(void **state)
{
	struct nt_runenv_in in = plain;
	char *text = NULL;
	const char *line;

	(void)state;
	in.no_proxy = "it's.example";
	build(&in);
	assert_int_equal(nt_runenv_exports(&env, &text), 0);
	assert_true(starts_with(text, "export HTTP_PROXY='http://127.0.0.1:41000'\n"));
	line = strstr(text, "export NO_PROXY=");
	assert_non_null(line);
	assert_true(
	    starts_with(line, "export NO_PROXY='localhost,127.0.0.1,::1,it'\\''s.example'\n"));
	assert_non_null(strstr(text, "export NODE_USE_ENV_PROXY='1'\n"));
	assert_int_equal(text[strlen(text) - 1], '\n');
	nt_runenv_text_free(text);
}

static bool url_safe(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

static void test_random_credentials_are_url_safe_and_fresh(void **state)
{
	char u1[NT_RUNENV_USERNAME_LEN + 1], p1[NT_RUNENV_PASSWORD_LEN + 1];
	char u2[NT_RUNENV_USERNAME_LEN + 1], p2[NT_RUNENV_PASSWORD_LEN + 1];

	(void)state;
	nt_runenv_random_credentials(u1, p1);
	nt_runenv_random_credentials(u2, p2);
	assert_int_equal(strlen(u1), NT_RUNENV_USERNAME_LEN);
	assert_int_equal(strlen(p1), NT_RUNENV_PASSWORD_LEN);
	assert_true(url_safe(u1) && url_safe(p1) && url_safe(u2) && url_safe(p2));
	assert_string_not_equal(u1, u2);
	assert_string_not_equal(p1, p2);
}

static void test_dial_host_maps_any_to_loopback(void **state)
{
	struct nt_config_listen l = {.ip = {.family = AF_INET}, .port = 1080};
	char host[64];

	(void)state;
	nt_runenv_dial_host(&l, host, sizeof(host));
	assert_string_equal(host, "127.0.0.1");
	l.ip.family = AF_INET6;
	nt_runenv_dial_host(&l, host, sizeof(host));
	assert_string_equal(host, "::1");
	l.ip.family = AF_INET;
	memcpy(l.ip.addr, (uint8_t[]){10, 1, 2, 3}, 4);
	nt_runenv_dial_host(&l, host, sizeof(host));
	assert_string_equal(host, "10.1.2.3");
}

/* ---- URLs ---- */

static void test_url_socks5h_with_credentials(void **state)
{
	struct nt_runenv_url u;

	(void)state;
	assert_int_equal(nt_runenv_url_parse("socks5h://ci:s3cret@127.0.0.1:41000", &u), 0);
	assert_int_equal(u.scheme, NT_PROXY_URL_SOCKS5H);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 41000);
	assert_true(u.has_credentials);
	assert_string_equal(u.username, "ci");
	assert_string_equal(u.password, "s3cret");
}

static void test_url_round_trips_what_env_builds(void **state)
{
	struct nt_runenv_in in = plain;
	struct nt_runenv_url u;

	(void)state;
	in.host = "::1";
	in.username = "a b@c/d";
	in.password = "p:'%~@";
	build(&in);
	assert_int_equal(nt_runenv_url_parse(get("ALL_PROXY"), &u), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 41000);
	assert_string_equal(u.username, in.username);
	assert_string_equal(u.password, in.password);
}

static void test_url_forms_without_parts(void **state)
{
	struct nt_runenv_url u;

	(void)state;
	assert_int_equal(nt_runenv_url_parse("SOCKS5://proxy.example/", &u), 0);
	assert_int_equal(u.scheme, NT_PROXY_URL_SOCKS5);
	assert_string_equal(u.host, "proxy.example");
	assert_int_equal(u.port, NT_PROXY_URL_DEFAULT_PORT);
	assert_false(u.has_credentials);
	assert_int_equal(nt_runenv_url_parse("socks5h://user@[fd00::1]:9", &u), 0);
	assert_string_equal(u.host, "fd00::1");
	assert_int_equal(u.port, 9);
	assert_string_equal(u.username, "user");
	assert_string_equal(u.password, "");
	/* an unescaped '@' in the password: the last '@' ends the userinfo */
	assert_int_equal(nt_runenv_url_parse("socks5h://u:p@ss@h:1", &u), 0);
	assert_string_equal(u.password, "p@ss");
	assert_string_equal(u.host, "h");
}

static void test_url_refusals(void **state)
{
	static const char *const bad[] = {
	    "http://127.0.0.1:8080", "socks4://127.0.0.1:1080",
	    "127.0.0.1:1080",	     "socks5h://",
	    "socks5h://:1080",	     "socks5h://h:0",
	    "socks5h://h:65536",     "socks5h://h:",
	    "socks5h://h:12a",	     "socks5h://h:1/path",
	    "socks5h://h:1?q",	     "socks5h://u:p%00@h:1",
	    "socks5h://u:p%zz@h:1",  "socks5h://u:p%4@h:1",
	    "socks5h://:p@h:1",	     "socks5h://[fd00::1:1",
	    "socks5h://[not-v6]:1",  "socks5h://[::1]x",
	    "socks5h://bad host:1",
	};
	struct nt_runenv_url u;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (nt_runenv_url_parse(bad[i], &u) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_false(u.has_credentials);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_env_sets_every_variable_for_the_proxy, teardown_env),
	    cmocka_unit_test_teardown(test_env_without_credentials_has_no_userinfo, teardown_env),
	    cmocka_unit_test_teardown(test_env_percent_encodes_credentials, teardown_env),
	    cmocka_unit_test_teardown(test_env_ipv6_proxy_gets_brackets_in_urls_only, teardown_env),
	    cmocka_unit_test_teardown(test_no_proxy_merges_both_caller_lists_once, teardown_env),
	    cmocka_unit_test_teardown(test_no_proxy_star_stays_every_host, teardown_env),
	    cmocka_unit_test_teardown(test_no_proxy_entries_over_the_limit_are_counted,
				      teardown_env),
	    cmocka_unit_test_teardown(test_java_non_proxy_hosts_in_java_syntax, teardown_env),
	    cmocka_unit_test_teardown(test_java_tool_options_appended_to_callers, teardown_env),
	    cmocka_unit_test_teardown(test_env_refuses_bad_input, teardown_env),
	    cmocka_unit_test_teardown(test_environ_replaces_both_spellings_and_keeps_the_rest,
				      teardown_env),
	    cmocka_unit_test_teardown(test_exports_are_quoted_for_a_posix_shell, teardown_env),
	    cmocka_unit_test(test_random_credentials_are_url_safe_and_fresh),
	    cmocka_unit_test(test_dial_host_maps_any_to_loopback),
	    cmocka_unit_test(test_url_socks5h_with_credentials),
	    cmocka_unit_test_teardown(test_url_round_trips_what_env_builds, teardown_env),
	    cmocka_unit_test(test_url_forms_without_parts),
	    cmocka_unit_test(test_url_refusals),
	};

	if (nt_platform_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
