// SPDX-License-Identifier: MIT
/* Transport data messages, encrypted and decrypted in place. */
#include "core/wg/transport.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "core/wg/wg_constants.h"

#define NONCE_LEN crypto_aead_chacha20poly1305_IETF_NPUBBYTES

_Static_assert(NONCE_LEN == 12, "IETF ChaCha20-Poly1305 nonce");

/* 4 zero bytes, then the counter little-endian. */
static inline void make_nonce(uint8_t nonce[NONCE_LEN], uint64_t counter)
{
	memset(nonce, 0, 4);
	wg_le64_store(nonce + 4, counter);
}

void wg_transport_init(struct wg_transport *t, const uint8_t send_key[WG_KEY_LEN],
		       const uint8_t recv_key[WG_KEY_LEN], uint32_t local_index,
		       uint32_t remote_index)
{
	memcpy(t->send_key, send_key, WG_KEY_LEN);
	memcpy(t->recv_key, recv_key, WG_KEY_LEN);
	t->local_index = local_index;
	t->remote_index = remote_index;
	t->send_counter = 0;
	wg_replay_init(&t->replay);
}

void wg_transport_clear(struct wg_transport *t)
{
	sodium_memzero(t, sizeof(*t));
}

int wg_transport_encrypt(struct wg_transport *t, uint8_t *buf, size_t cap, size_t plain_len,
			 size_t mtu, size_t *msg_len)
{
	size_t padded = wg_transport_padded_len(plain_len, mtu);
	size_t total = WG_MSG_TRANSPORT_HEADER_LEN + padded + WG_AEAD_TAG_LEN;
	uint8_t *payload = buf + WG_MSG_TRANSPORT_HEADER_LEN;
	uint8_t nonce[NONCE_LEN];
	uint64_t counter;

	if (total > cap || total < plain_len)
		return -ENOBUFS;
	if (t->send_counter >= WG_REJECT_AFTER_MESSAGES)
		return -EKEYEXPIRED;
	counter = t->send_counter++;

	wg_message_set_type(buf, WG_MSG_TRANSPORT);
	wg_le32_store(buf + 4, t->remote_index);
	wg_le64_store(buf + 8, counter);
	memset(payload + plain_len, 0, padded - plain_len);
	make_nonce(nonce, counter);
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(
	    payload, payload + padded, NULL, payload, padded, NULL, 0, NULL, nonce, t->send_key);
	*msg_len = total;
	return 0;
}

int wg_transport_decrypt(struct wg_transport *t, uint8_t *buf, size_t len, uint8_t **plain,
			 size_t *plain_len, uint64_t *counter)
{
	uint8_t *payload = buf + WG_MSG_TRANSPORT_HEADER_LEN;
	size_t clen;
	uint8_t nonce[NONCE_LEN];
	uint64_t ctr;
	int ret;

	if (len < WG_MSG_TRANSPORT_MIN_LEN || buf[0] != WG_MSG_TRANSPORT ||
	    (buf[1] | buf[2] | buf[3]))
		return -EINVAL;
	if (wg_le32_load(buf + 4) != t->local_index)
		return -ENOENT;
	ctr = wg_le64_load(buf + 8);
	/* Cheap refusals before spending a decryption on them. */
	if (ctr >= WG_REJECT_AFTER_MESSAGES)
		return -ERANGE;
	clen = len - WG_MSG_TRANSPORT_MIN_LEN;
	make_nonce(nonce, ctr);
	if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
		payload, NULL, payload, clen, payload + clen, NULL, 0, nonce, t->recv_key) != 0)
		return -EBADMSG;
	/* Only an authentic counter may move the window. */
	ret = wg_replay_check_and_update(&t->replay, ctr, WG_REJECT_AFTER_MESSAGES);
	if (ret != 0)
		return ret;
	*plain = payload;
	*plain_len = clen;
	*counter = ctr;
	return 0;
}
