// SPDX-License-Identifier: MIT
/* core/wg/wg_hash.c: BLAKE2s, MAC, HMAC, KDF known answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <blake2.h>
#include <cmocka.h>
#include <sodium.h>

#include "core/wg/wg_hash.h"
#include "tests/unit/wg_test_vectors.h"

static void assert_hex(const uint8_t *got, size_t len, const char *hex)
{
	uint8_t want[128];

	assert_int_equal(vec_hex(want, sizeof(want), hex), len);
	assert_memory_equal(got, want, len);
}

static void key_00_1f(uint8_t key[32])
{
	size_t i;

	for (i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
}

static void test_hash_matches_rfc7693_abc(void **state)
{
	uint8_t out[WG_HASH_LEN];
	(void)state;

	wg_hash(out, "abc", 3);
	assert_hex(out, sizeof(out),
		   "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
}

static void test_hash2_equals_hash_of_concatenation(void **state)
{
	uint8_t a[WG_HASH_LEN], b[WG_HASH_LEN];
	(void)state;

	wg_hash2(a, "ab", 2, "c", 1);
	wg_hash(b, "abc", 3);
	assert_memory_equal(a, b, sizeof(a));
}

/* The BLAKE2 reference keyed KAT (key 00..1f), through libb2's one-shot with
 * the argument order this module relies on: out, in, key, outlen, inlen, keylen. */
static void test_libb2_keyed_matches_reference_kat(void **state)
{
	uint8_t key[32], out[32], zero = 0;
	(void)state;

	key_00_1f(key);
	assert_int_equal(blake2s(out, NULL, key, sizeof(out), 0, sizeof(key)), 0);
	assert_hex(out, sizeof(out),
		   "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49");
	assert_int_equal(blake2s(out, &zero, key, sizeof(out), 1, sizeof(key)), 0);
	assert_hex(out, sizeof(out),
		   "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1");
}

/* MAC is keyed BLAKE2s with a 16-byte digest (a different parameter block,
 * not a truncation). Values from Python's hashlib.blake2s(digest_size=16). */
static void test_mac_is_keyed_blake2s_128(void **state)
{
	uint8_t key[32], out[WG_MAC_LEN], full[32], zero = 0;
	(void)state;

	key_00_1f(key);
	wg_mac(out, key, sizeof(key), NULL, 0);
	assert_hex(out, sizeof(out), "9536f9b267655743dee97b8a670f9f53");
	wg_mac(out, key, sizeof(key), &zero, 1);
	assert_hex(out, sizeof(out), "13bacfb85b48a1223c595f8c1e7e82cb");
	blake2s(full, &zero, key, sizeof(full), 1, sizeof(key));
	assert_memory_not_equal(out, full, sizeof(out));
}

/* Values from Python's hmac.new(key, msg, hashlib.blake2s). */
static void test_hmac_matches_python_hmac_blake2s(void **state)
{
	uint8_t out[WG_HASH_LEN], key64[64], key100[100];
	size_t i;
	(void)state;

	wg_hmac(out, (const uint8_t *)"keykeykey", 9, "The quick brown fox", 19);
	assert_hex(out, sizeof(out),
		   "acb993cf2c0811d4b6cfd60bbff875cebc870b7ead665cc83b53303c3d9bf23a");
	for (i = 0; i < sizeof(key64); i++)
		key64[i] = (uint8_t)i;
	wg_hmac(out, key64, sizeof(key64), "x", 1);
	assert_hex(out, sizeof(out),
		   "25e7db8c0aaa0908fe4971b1b9b3ff1f3dd29049f8a6b0d7a45e98918336ec48");
	for (i = 0; i < sizeof(key100); i++)
		key100[i] = (uint8_t)i;
	wg_hmac(out, key100, sizeof(key100), "long key", 8);
	assert_hex(out, sizeof(out),
		   "096d2dec44b647196383c466daf27592cf0c187793f83d1e9f8a19efc137d0d1");
	wg_hmac(out, NULL, 0, NULL, 0);
	assert_hex(out, sizeof(out),
		   "eaf4bb25938f4d20e72656bbbc7a9bf63c0c18537333c35bdb67db1402661acd");
}

static void test_kdf3_matches_hkdf_on_hmac_blake2s(void **state)
{
	uint8_t ck[32], t1[32], t2[32], t3[32];
	(void)state;

	key_00_1f(ck);
	wg_kdf(t1, t2, t3, ck, "input", 5);
	assert_hex(t1, 32, "87b7f70b24183c6db5dc4f6d9f4c47cdb203321aa2a0bef714896adb3107a040");
	assert_hex(t2, 32, "538a02e1eb2e31b7e4d4b82476d1fe2acf50085d3fb584537279195f5d1f5824");
	assert_hex(t3, 32, "9ad858025593be88de0f9442a589cfe84a88dc19e4753d93684d1c5efc4837f9");
}

static void test_kdf1_kdf2_are_prefixes_of_kdf3(void **state)
{
	uint8_t ck[32], a1[32], b1[32], b2[32], c1[32], c2[32], c3[32], only3[32];
	(void)state;

	randombytes_buf(ck, sizeof(ck));
	wg_kdf(a1, NULL, NULL, ck, "abc", 3);
	wg_kdf(b1, b2, NULL, ck, "abc", 3);
	wg_kdf(c1, c2, c3, ck, "abc", 3);
	wg_kdf(c1, NULL, only3, ck, "abc", 3);
	assert_memory_equal(a1, b1, 32);
	assert_memory_equal(a1, c1, 32);
	assert_memory_equal(b2, c2, 32);
	assert_memory_equal(c3, only3, 32);
	assert_memory_not_equal(c1, c2, 32);
	assert_memory_not_equal(c2, c3, 32);
}

static void test_kdf_output_may_alias_chaining_key(void **state)
{
	uint8_t ck[32], t1[32], t2[32], key[32];
	(void)state;

	randombytes_buf(ck, sizeof(ck));
	wg_kdf(t1, t2, NULL, ck, "in", 2);
	wg_mix_key(ck, key, "in", 2);
	assert_memory_equal(ck, t1, 32);
	assert_memory_equal(key, t2, 32);
}

static void test_initial_chaining_key_and_hash_match_vectors(void **state)
{
	uint8_t ck[WG_HASH_LEN], h[WG_HASH_LEN];
	(void)state;

	wg_hash_initial(ck, h);
	assert_hex(ck, sizeof(ck), VEC_C0);
	assert_hex(h, sizeof(h), VEC_H0);
}

static void test_label_keys_match_vectors(void **state)
{
	uint8_t pub[32], out[WG_HASH_LEN];
	(void)state;

	vec_hex(pub, sizeof(pub), VEC_R_STATIC_PUB);
	wg_hash2(out, WG_LABEL_MAC1, 8, pub, sizeof(pub));
	assert_hex(out, sizeof(out), VEC_MAC1_KEY);
	wg_hash2(out, WG_LABEL_COOKIE, 8, pub, sizeof(pub));
	assert_hex(out, sizeof(out), VEC_COOKIE_KEY);
}

static void test_mix_psk_is_kdf3_then_mix_hash(void **state)
{
	uint8_t ck[32], h[32], psk[32], key[32];
	uint8_t ck2[32], h2[32], tau[32], key2[32];
	(void)state;

	randombytes_buf(ck, sizeof(ck));
	randombytes_buf(h, sizeof(h));
	randombytes_buf(psk, sizeof(psk));
	memcpy(ck2, ck, 32);
	memcpy(h2, h, 32);
	wg_mix_psk(ck, h, key, psk);
	wg_kdf(ck2, tau, key2, ck2, psk, 32);
	wg_hash2(h2, h2, 32, tau, 32);
	assert_memory_equal(ck, ck2, 32);
	assert_memory_equal(h, h2, 32);
	assert_memory_equal(key, key2, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_matches_rfc7693_abc),
	    cmocka_unit_test(test_hash2_equals_hash_of_concatenation),
	    cmocka_unit_test(test_libb2_keyed_matches_reference_kat),
	    cmocka_unit_test(test_mac_is_keyed_blake2s_128),
	    cmocka_unit_test(test_hmac_matches_python_hmac_blake2s),
	    cmocka_unit_test(test_kdf3_matches_hkdf_on_hmac_blake2s),
	    cmocka_unit_test(test_kdf1_kdf2_are_prefixes_of_kdf3),
	    cmocka_unit_test(test_kdf_output_may_alias_chaining_key),
	    cmocka_unit_test(test_initial_chaining_key_and_hash_match_vectors),
	    cmocka_unit_test(test_label_keys_match_vectors),
	    cmocka_unit_test(test_mix_psk_is_kdf3_then_mix_hash),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
