/* SPDX-License-Identifier: MIT */
/* Known-answer values shared by the WireGuard unit tests, copied from
 * /work/shared/vectors/wireguard-handshake.txt (hex), plus a hex decoder. */
#ifndef NT_TESTS_WG_TEST_VECTORS_H
#define NT_TESTS_WG_TEST_VECTORS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define VEC_C0		  "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36"
#define VEC_H0		  "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3"
#define VEC_I_STATIC_PRIV "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
#define VEC_I_STATIC_PUB  "c1532e1b3d3508fc7ebc354fa679620f33f287149542e684c67b7b0d81362b29"
#define VEC_R_STATIC_PRIV "c0b79d4d7d4cfae3a0e2d8cc0e4c1d63b6b1e3c63a0e3a4f1b3a9e9c5d0f1e55"
#define VEC_R_STATIC_PUB  "f798beddd2c84878a006f5adee1fbeba46d6eab4770b4317c0daa79cf013a41f"
#define VEC_I_EPH_PRIV	  "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
#define VEC_R_EPH_PRIV	  "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
#define VEC_PSK		  "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
#define VEC_TIMESTAMP	  "400000006553f10a00000000"
#define VEC_MAC1_KEY	  "20ce0e9026788a36ba1e66d6f648f767d6d175da2ba9e9f3686a064ffae8d644"
#define VEC_COOKIE_KEY	  "3ab45b8d5378666c9c9d3595b6b2ea9e60f23b1a7c183e203d1123cdcd554175"
#define VEC_I_INDEX	  0x11223344u
#define VEC_R_INDEX	  0x55667788u
#define VEC_INITIATION                                                                             \
	"0100000044332211358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254f645a98d" \
	"83cbc57f10abdaf193d9c5cab9b737f33e8dec3a7157c4f41584a2c9d3b1658c06549435005910c72236c794" \
	"cf5eac00372068150b1723d80f6413d53537d4352864545e24c8e659790ac70e621b39cf1d41ca988322e9fe" \
	"00000000000000000000000000000000"
#define VEC_RESPONSE                                                                               \
	"02000000887766554433221179a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a" \
	"b661efc5ab3073c26540b3fad1f5d0c0229d042d475816644977df61ebccc9e3000000000000000000000000" \
	"00000000"
#define VEC_T_SEND_I "b435ac684efda3fbeb4cb367c631f3f4822673ea00f8d968432f39667cbd280a"
#define VEC_T_RECV_I "9f004175acb77b74172da94ded415a69b843fe4804df43dc7abd359d547a903f"
#define VEC_COOKIE   "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
#define VEC_INITIATION_WITH_MAC2                                                                   \
	"0100000044332211358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254f645a98d" \
	"83cbc57f10abdaf193d9c5cab9b737f33e8dec3a7157c4f41584a2c9d3b1658c06549435005910c72236c794" \
	"cf5eac00372068150b1723d80f6413d53537d4352864545e24c8e659790ac70e621b39cf1d41ca988322e9fe" \
	"5cb3aee0d30b0064ddf4d9b37192b508"
#define VEC_KEEPALIVE "04000000887766550000000000000000e9474181271c057a775bde31870f9d1b"

static inline int vec_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes hex into out; returns the byte count, or 0 if it does not fit or is not hex. */
static inline size_t vec_hex(uint8_t *out, size_t cap, const char *hex)
{
	size_t n = strlen(hex) / 2, i;

	if (strlen(hex) % 2 || n > cap)
		return 0;
	for (i = 0; i < n; i++) {
		int hi = vec_nibble(hex[2 * i]), lo = vec_nibble(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return 0;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return n;
}

#endif
