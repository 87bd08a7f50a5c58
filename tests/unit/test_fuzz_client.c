// SPDX-License-Identifier: MIT
/* The whole-client fuzz harness (tests/fuzz/fuzz_client.c), compiled here
 * with its entry called from cmocka, so that it builds and works in every
 * make test: each seed of tests/fuzz/corpus/fuzz_client runs (twice, to see
 * that a run depends on its input alone and leaves nothing behind), and the
 * seeds that say where they get must get there. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/fuzz/fuzz_client.c"

#define CORPUS	 "tests/fuzz/corpus/fuzz_client"
#define SEED_MAX 4096

static size_t load(const char *name, uint8_t *buf)
{
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", CORPUS, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(buf, 1, SEED_MAX, f);
	assert_true(feof(f));
	fclose(f);
	return n;
}

static const struct fc_result *run_seed(const char *name)
{
	static uint8_t buf[SEED_MAX];
	size_t n = load(name, buf);

	assert_int_equal(LLVMFuzzerTestOneInput(buf, n), 0);
	return &fc_last;
}

static int open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(dir);
	while (readdir(dir) != NULL)
		n++;
	closedir(dir);
	return n;
}

static void every_seed_runs_the_same_twice(void **state)
{
	struct fc_result first;
	struct dirent *d;
	DIR *dir;
	int seeds = 0, fds;

	(void)state;
	/* The first run sets up what stays (the log's /dev/null): then count. */
	assert_int_equal(LLVMFuzzerTestOneInput(NULL, 0), 0);
	fds = open_fds();
	dir = opendir(CORPUS);
	assert_non_null(dir);
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		first = *run_seed(d->d_name);
		run_seed(d->d_name);
		assert_int_equal(fc_last.handshakes, first.handshakes);
		assert_int_equal(fc_last.packets_from_client, first.packets_from_client);
		assert_int_equal(fc_last.proxy.accepted, first.proxy.accepted);
		assert_memory_equal(fc_last.read_len, first.read_len, sizeof(first.read_len));
		assert_memory_equal(&fc_last.first_initiation, &first.first_initiation,
				    sizeof(first.first_initiation));
		seeds++;
	}
	closedir(dir);
	assert_true(seeds >= 4);
	/* libFuzzer runs millions of inputs in one process. */
	assert_int_equal(open_fds(), fds);
}

/* Handshake answered, the SYN-ACK taken, the SOCKS5 success reply and the
 * peer's bytes at the proxy's client. */
static void socks5_seed_carries_data(void **state)
{
	static const uint8_t method[] = {5, 0}, ok[] = {5, 0, 0};
	const struct fc_result *res = run_seed("socks5_connect_data");

	(void)state;
	assert_int_equal(res->handshakes, 1);
	assert_true(res->peer_up >= 1);
	assert_true(res->packets_from_client >= 2); /* the SYN, the ACK of the SYN-ACK */
	assert_int_equal(res->proxy.connect_ok, 1);
	assert_int_equal(res->read_len[0], 2 + 10 + 5);
	assert_memory_equal(res->read[0], method, 2);
	assert_memory_equal(res->read[0] + 2, ok, 3);
	assert_memory_equal(res->read[0] + 12, "hello", 5);
}

/* The origin's response through the HTTP proxy. */
static void http_seed_gets_the_response(void **state)
{
	const struct fc_result *res = run_seed("http_get");
	static const char want[] = "HTTP/1.1 200 OK\r\n";

	(void)state;
	assert_int_equal(res->handshakes, 1);
	assert_true(res->read_len[0] > strlen(want));
	assert_memory_equal(res->read[0], want, strlen(want));
	assert_memory_equal(res->read[0] + res->read_len[0] - 2, "ok", 2);
}

/* A name: the A and AAAA queries go through the tunnel, the harness's
 * answers come back, and the connection goes to the answered address. */
static void name_seed_resolves_in_the_tunnel(void **state)
{
	static const uint8_t ok[] = {5, 0, 5, 0, 0};
	const struct fc_result *res = run_seed("socks5_name_dns");

	(void)state;
	assert_int_equal(res->proxy.connect_ok, 1);
	assert_int_equal(res->read_len[0], 2 + 10);
	assert_memory_equal(res->read[0], ok, sizeof(ok));
}

/* UDP ASSOCIATE: a datagram through the relay and the tunnel, the peer's
 * answer back at the relay's client. */
static void udp_seed_comes_back(void **state)
{
	const struct fc_result *res = run_seed("socks5_udp_assoc");

	(void)state;
	assert_int_equal(res->handshakes, 1);
	assert_int_equal(res->proxy.udp_associations, 1);
	assert_int_equal(res->relayed_back, 1);
}

/* Without an answer the client tries again after Rekey-Timeout, and the
 * proxy's client hears that the host was not reached (SOCKS5 reply 4 or 6). */
static void unanswered_seed_times_out(void **state)
{
	const struct fc_result *res = run_seed("no_answer");

	(void)state;
	assert_int_equal(res->handshakes, 0);
	assert_int_equal(res->proxy.connect_ok, 0);
	assert_int_equal(res->read_len[0], 2 + 10);
	assert_int_equal(res->read[0][2], 5);
	assert_true(res->read[0][3] == 4 || res->read[0][3] == 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_seed_runs_the_same_twice),
	    cmocka_unit_test(socks5_seed_carries_data),
	    cmocka_unit_test(http_seed_gets_the_response),
	    cmocka_unit_test(name_seed_resolves_in_the_tunnel),
	    cmocka_unit_test(udp_seed_comes_back),
	    cmocka_unit_test(unanswered_seed_times_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
