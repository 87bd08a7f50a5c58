// SPDX-License-Identifier: MIT
/* core/wg/key.c: keys as text, as wg(8) writes them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/wg/key.h"

/* RFC 7748 section 6.1: Alice's key pair. */
static const char alice_priv_b64[] = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
static const char alice_pub_b64[] = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";

static int setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

static void decode(uint8_t key[NT_KEY_LEN], const char *text)
{
	assert_int_equal(nt_key_from_base64(key, text, strlen(text)), 0);
}

static void test_key_public_matches_rfc7748(void **state)
{
	uint8_t priv[NT_KEY_LEN], pub[NT_KEY_LEN];
	char text[NT_KEY_B64_LEN + 1];
	(void)state;

	decode(priv, alice_priv_b64);
	assert_int_equal(nt_key_public(pub, priv), 0);
	nt_key_to_base64(text, pub);
	assert_string_equal(text, alice_pub_b64);
}

static void test_key_base64_round_trips(void **state)
{
	uint8_t key[NT_KEY_LEN], back[NT_KEY_LEN];
	char text[NT_KEY_B64_LEN + 1];
	(void)state;

	for (int i = 0; i < 256; i++) {
		randombytes_buf(key, sizeof(key));
		nt_key_to_base64(text, key);
		assert_int_equal(strlen(text), NT_KEY_B64_LEN);
		assert_int_equal(text[43], '=');
		decode(back, text);
		assert_memory_equal(key, back, NT_KEY_LEN);
	}
}

static void test_key_base64_rejects_malformed_text(void **state)
{
	uint8_t key[NT_KEY_LEN];
	char text[64];
	(void)state;

	static const char *const bad[] = {
		"",
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC=",   /* 43 characters */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo",   /* no padding */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCp=",  /* padding bits set */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25L*o=",  /* bad character */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo==", /* 45 characters */
		"dwdtCnMYpX08FsFyUbJm d9ML4frwJkqsXf7pR25LCo=",  /* space inside */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR2=LCo=",  /* '=' inside */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25L-o=",  /* URL-safe alphabet */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(nt_key_from_base64(key, bad[i], strlen(bad[i])), -EINVAL);

	/* The length is the caller's: a valid key followed by more is refused. */
	snprintf(text, sizeof(text), "%s\n", alice_priv_b64);
	assert_int_equal(nt_key_from_base64(key, text, strlen(text)), -EINVAL);
	assert_int_equal(nt_key_from_base64(key, text, NT_KEY_B64_LEN), 0);
}

static void test_key_generate_private_is_clamped_and_fresh(void **state)
{
	uint8_t a[NT_KEY_LEN], b[NT_KEY_LEN], copy[NT_KEY_LEN];
	(void)state;

	nt_key_generate_private(a);
	nt_key_generate_private(b);
	assert_memory_not_equal(a, b, NT_KEY_LEN);
	assert_int_equal(a[0] & 7, 0);
	assert_int_equal(a[31] & 0xc0, 0x40);
	memcpy(copy, a, sizeof(copy));
	nt_key_clamp(copy);
	assert_memory_equal(a, copy, NT_KEY_LEN);
}

static void test_key_clamp_sets_the_curve25519_bits(void **state)
{
	uint8_t key[NT_KEY_LEN];
	(void)state;

	memset(key, 0xff, sizeof(key));
	nt_key_clamp(key);
	assert_int_equal(key[0], 0xf8);
	assert_int_equal(key[31], 0x7f);
	memset(key, 0, sizeof(key));
	nt_key_clamp(key);
	assert_int_equal(key[31], 0x40);
}

static void test_key_public_is_independent_of_clamping(void **state)
{
	uint8_t priv[NT_KEY_LEN], clamped[NT_KEY_LEN], p1[NT_KEY_LEN], p2[NT_KEY_LEN];
	(void)state;

	/* wg pubkey accepts unclamped keys; X25519 clamps internally. */
	memset(priv, 0xff, sizeof(priv));
	memcpy(clamped, priv, sizeof(priv));
	nt_key_clamp(clamped);
	assert_int_equal(nt_key_public(p1, priv), 0);
	assert_int_equal(nt_key_public(p2, clamped), 0);
	assert_memory_equal(p1, p2, NT_KEY_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_public_matches_rfc7748),
		cmocka_unit_test(test_key_base64_round_trips),
		cmocka_unit_test(test_key_base64_rejects_malformed_text),
		cmocka_unit_test(test_key_generate_private_is_clamped_and_fresh),
		cmocka_unit_test(test_key_clamp_sets_the_curve25519_bits),
		cmocka_unit_test(test_key_public_is_independent_of_clamping),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
