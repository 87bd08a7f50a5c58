/* SPDX-License-Identifier: MIT */
/* Certificate fingerprints as text: SHA256:BASE64 of the DER certificate. */
#include "core/channel/chan.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#define FP_PREFIX "SHA256:"

void nt_chan_fp_format(const uint8_t sha256[32], char out[NT_CHAN_FP_TEXT_MAX])
{
	memcpy(out, FP_PREFIX, sizeof(FP_PREFIX) - 1);
	sodium_bin2base64(out + sizeof(FP_PREFIX) - 1,
			  NT_CHAN_FP_TEXT_MAX - (sizeof(FP_PREFIX) - 1), sha256, 32,
			  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

int nt_chan_fp_parse(const char *text, uint8_t sha256[32])
{
	size_t len, bin_len;
	const char *b64, *end;

	if (strncmp(text, FP_PREFIX, sizeof(FP_PREFIX) - 1) != 0)
		return -EINVAL;
	b64 = text + sizeof(FP_PREFIX) - 1;
	len = strlen(b64);
	if (len == 44 && b64[43] == '=')
		len = 43;
	if (len != 43)
		return -EINVAL;
	if (sodium_base642bin(sha256, 32, b64, len, NULL, &bin_len, &end,
			      sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
	    bin_len != 32 || end != b64 + len)
		return -EINVAL;
	return 0;
}
