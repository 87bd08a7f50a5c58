// SPDX-License-Identifier: MIT
/* libFuzzer harness for the configuration parsers (nt_config_parse and the
 * portal's nt_portal_config_parse, fed the same input), the role checks and
 * the formatter.
 *
 * Oracle, besides the sanitizers: every error message is one line that
 * starts with the file name, and every accepted config formats to text that
 * parses again and formats to the same text.
 *
 * An input whose first byte is 0xfe is not taken as is: the rest is XORed
 * over a complete client-and-gateway config, so the fuzzer starts from deep
 * inside the grammar instead of having to discover "[Interface]" and a
 * 44-character key first. 0xfd appends the rest to that config instead.
 * 0xfc XORs the rest over a complete portal config.
 *
 * Portal oracle: an accepted config's references are in range, every
 * resource has a site and an Allow name, and the defaults are filled.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "core/config/config.h"
#include "core/config/portal_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 8192

static const char genuine[] = "[Interface]\n"
			      "PrivateKey = dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n"
			      "Address = 10.0.0.2/32, fd00::2/128\n"
			      "DNS = 10.0.0.1, corp.example.com\n"
			      "MTU = 1420\n"
			      "ListenPort = 51820\n"
			      "PostUp = true\n"
			      "[Peer]\n"
			      "PublicKey = 3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=\n"
			      "PresharedKey = AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n"
			      "Endpoint = [2001:db8::1]:51820\n"
			      "AllowedIPs = 10.0.0.0/24, fd00::/64\n"
			      "PersistentKeepalive = 25\n"
			      "Allow = 10.1.0.0/16, 10.2.0.0/16 tcp:22,80-89\n"
			      "[Proxy]\n"
			      "Listen = 127.0.0.1:1080, [::1]:1080\n"
			      "Username = u\n"
			      "Password = p\n"
			      "Bypass = reject\n"
			      "ConnectTimeout = 1500ms\n"
			      "MaxConnections = 10\n"
			      "[Gateway]\n"
			      "Allow = 192.168.0.0/16 any:53\n"
			      "[Portal]\n"
			      "URL = wss://portal.example.com:8443/base\n"
			      "Token = ntg_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"
			      "Fingerprint = SHA256:eIMbIorQrXv6VVs8PNv4Hm9N3RkzzSSzkHwIlWRuTFU=\n"
			      "Advertise = [2001:db8::7]:51820\n";

static const char genuine_portal[] = "[Portal]\n"
				     "Listen = 127.0.0.1:8443\n"
				     "Certificate = portal.crt\n"
				     "Key = portal.key\n"
				     "State = portal.state\n"
				     "ClientAddresses = 100.64.0.0/11, fd00:6e74::/64\n"
				     "AccessTTL = 8h\n"
				     "[Site office]\n"
				     "[Gateway gw-office-1]\n"
				     "Site = office\n"
				     "TokenHash = eIMbIorQrXv6VVs8PNv4Hm9N3RkzzSSzkHwIlWRuTFU=\n"
				     "[Client alice-laptop]\n"
				     "TokenHash = Fdq3aaA2uU0VerWAJfK1Z1Wc4pwRC07B6nBijnnHrlQ=\n"
				     "Groups = eng\n"
				     "[Resource db]\n"
				     "Address = 10.20.0.5/32\n"
				     "Filters = tcp:5432, udp:53-54, icmp\n"
				     "Sites = office\n"
				     "Allow = eng, alice-laptop\n"
				     "[Resource web]\n"
				     "Address = *.corp.internal\n"
				     "Sites = office\n"
				     "Allow = alice-laptop\n";

static void must(int ok)
{
	if (!ok)
		abort();
}

static void check_error(const struct nt_config_error *err)
{
	size_t n = strlen(err->file);

	must(n > 0 && strncmp(err->message, err->file, n) == 0 && err->message[n] == ':');
	must(strchr(err->message, '\n') == NULL);
}

/* The formatted text, in a buffer of its own size (an Allow line with many
 * CIDRs becomes one line each, so it may be longer than the input). */
static char *format(const struct nt_config *cfg, size_t *len)
{
	char *out;

	must(nt_config_format(cfg, NULL, 0, len) == -ENOSPC);
	out = malloc(*len + 1);
	must(out != NULL);
	must(nt_config_format(cfg, out, *len + 1, NULL) == 0);
	return out;
}

static void exercise(const char *text, size_t len)
{
	struct nt_config a, b;
	struct nt_config_error err;
	size_t n1 = 0, n2 = 0;
	char *out1, *out2;

	if (nt_config_parse(text, len, "fuzz.conf", &a, &err) != 0) {
		check_error(&err);
		nt_config_free(&a);
		return;
	}
	if (nt_config_validate_client(&a, &err) != 0)
		check_error(&err);
	if (nt_config_validate_gateway(&a, &err) != 0)
		check_error(&err);
	out1 = format(&a, &n1);
	must(nt_config_parse(out1, n1, "fuzz.conf", &b, &err) == 0);
	out2 = format(&b, &n2);
	must(n1 == n2 && memcmp(out1, out2, n1) == 0);
	must(a.peer_count == b.peer_count && a.listen_count == b.listen_count);
	free(out1);
	free(out2);
	nt_config_free(&a);
	nt_config_free(&b);
}

static void exercise_portal(const char *text, size_t len)
{
	struct nt_portal_config c;
	struct nt_config_error err;

	if (nt_portal_config_parse(text, len, "fuzz.conf", &c, &err) != 0) {
		check_error(&err);
		nt_portal_config_free(&c);
		return;
	}
	must(c.listen.ip.family != 0 && c.access_ttl > 0 && c.client_v4.family == AF_INET &&
	     c.client_v6.family == AF_INET6);
	for (size_t i = 0; i < c.gateway_count; i++)
		must(c.gateways[i].site < c.site_count);
	for (size_t i = 0; i < c.client_count; i++)
		for (size_t k = 0; k < c.clients[i].group_count; k++)
			must(c.clients[i].groups[k] < c.group_count);
	for (size_t i = 0; i < c.resource_count; i++) {
		const struct nt_portal_cfg_resource *r = &c.resources[i];

		must(r->site_count > 0 && r->allow_count > 0);
		for (size_t k = 0; k < r->site_count; k++)
			must(r->sites[k] < c.site_count);
		for (size_t k = 0; k < r->allow_count; k++)
			must(r->allow[k].index <
			     (r->allow[k].is_group ? c.group_count : c.client_count));
		for (size_t k = 0; k < c.client_count; k++)
			(void)nt_portal_config_allows(&c, r, k);
	}
	nt_portal_config_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[sizeof(genuine) + sizeof(genuine_portal) + FUZZ_MAX_INPUT];
	static int ready;
	size_t len, i;

	if (!ready) {
		must(sodium_init() >= 0);
		ready = 1;
	}
	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (size >= 1 && data[0] == 0xfe) {
		len = sizeof(genuine) - 1;
		memcpy(buf, genuine, len);
		for (i = 1; i < size && i - 1 < len; i++)
			buf[i - 1] ^= (char)data[i];
	} else if (size >= 1 && data[0] == 0xfd) {
		len = sizeof(genuine) - 1;
		memcpy(buf, genuine, len);
		memcpy(buf + len, data + 1, size - 1);
		len += size - 1;
	} else if (size >= 1 && data[0] == 0xfc) {
		len = sizeof(genuine_portal) - 1;
		memcpy(buf, genuine_portal, len);
		for (i = 1; i < size && i - 1 < len; i++)
			buf[i - 1] ^= (char)data[i];
	} else {
		len = size;
		memcpy(buf, data, len);
	}
	exercise(buf, len);
	exercise_portal(buf, len);
	return 0;
}
