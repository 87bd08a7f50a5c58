/* Names follow the whitepaper: ck = chaining key C, h = hash H, key = kappa.
 * Every function works on local copies and commits them to the handshake
 * only on success; the copies are wiped on every exit path. */
#include "core/noise.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "core/wg_constants.h"

static const uint8_t zero_nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

static int dh(uint8_t out[WG_KEY_LEN], const uint8_t priv[WG_KEY_LEN],
	      const uint8_t pub[WG_KEY_LEN])
{
	/* libsodium refuses (-1) when the result is all zeros: a low-order point. */
	return crypto_scalarmult_curve25519(out, priv, pub) == 0 ? 0 : -EBADMSG;
}

/* The handshake uses each key once, so the nonce is always zero. */
static void seal(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[WG_KEY_LEN],
		 const uint8_t h[WG_HASH_LEN])
{
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(dst, dst + len, NULL, src, len, h,
							   WG_HASH_LEN, NULL, zero_nonce, key);
}

static int open_box(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[WG_KEY_LEN],
		    const uint8_t h[WG_HASH_LEN])
{
	if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(dst, NULL, src, len, src + len, h,
							       WG_HASH_LEN, zero_nonce, key) != 0)
		return -EBADMSG;
	return 0;
}

static void new_ephemeral(const struct wg_noise_upcalls *up, uint8_t priv[WG_KEY_LEN])
{
	if (up && up->ephemeral_private)
		up->ephemeral_private(up->arg, priv);
	else
		randombytes_buf(priv, WG_KEY_LEN);
}

int wg_noise_static_init(struct wg_noise_static *s, const uint8_t private_key[WG_KEY_LEN])
{
	memcpy(s->private_key, private_key, WG_KEY_LEN);
	if (crypto_scalarmult_curve25519_base(s->public_key, s->private_key) != 0) {
		wg_noise_static_clear(s);
		return -EINVAL;
	}
	return 0;
}

void wg_noise_static_clear(struct wg_noise_static *s)
{
	sodium_memzero(s, sizeof(*s));
}

int wg_noise_handshake_init(struct wg_noise_handshake *hs, const struct wg_noise_static *local,
			    const uint8_t remote_static[WG_KEY_LEN], const uint8_t *psk)
{
	sodium_memzero(hs, sizeof(*hs));
	memcpy(hs->remote_static, remote_static, WG_KEY_LEN);
	wg_noise_handshake_set_psk(hs, psk);
	if (dh(hs->static_static, local->private_key, remote_static) != 0) {
		wg_noise_handshake_wipe(hs);
		return -EINVAL;
	}
	return 0;
}

void wg_noise_handshake_set_psk(struct wg_noise_handshake *hs, const uint8_t *psk)
{
	if (psk)
		memcpy(hs->psk, psk, WG_KEY_LEN);
	else
		sodium_memzero(hs->psk, WG_KEY_LEN);
}

void wg_noise_handshake_clear(struct wg_noise_handshake *hs)
{
	hs->state = WG_NOISE_ZEROED;
	hs->local_index = 0;
	hs->remote_index = 0;
	sodium_memzero(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	sodium_memzero(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
	sodium_memzero(hs->hash, sizeof(hs->hash));
	sodium_memzero(hs->chaining_key, sizeof(hs->chaining_key));
}

void wg_noise_handshake_wipe(struct wg_noise_handshake *hs)
{
	sodium_memzero(hs, sizeof(*hs));
}

int wg_noise_create_initiation(struct wg_noise_handshake *hs, const struct wg_noise_static *local,
			       const struct wg_noise_upcalls *up, uint32_t local_index,
			       const uint8_t timestamp[WG_TAI64N_LEN],
			       struct wg_msg_initiation *out)
{
	uint8_t ck[WG_HASH_LEN], h[WG_HASH_LEN], key[WG_KEY_LEN], shared[WG_KEY_LEN];
	uint8_t e_priv[WG_KEY_LEN];
	int ret = -EINVAL;

	wg_hash_initial(ck, h);
	wg_mix_hash(h, hs->remote_static, WG_KEY_LEN);

	new_ephemeral(up, e_priv);
	if (crypto_scalarmult_curve25519_base(out->ephemeral, e_priv) != 0)
		goto out;
	wg_message_set_type(out->type, WG_MSG_INITIATION);
	wg_le32_store(out->sender, local_index);
	wg_mix_ck(ck, out->ephemeral, WG_KEY_LEN);
	wg_mix_hash(h, out->ephemeral, WG_KEY_LEN);

	if (dh(shared, e_priv, hs->remote_static) != 0)
		goto out;
	wg_mix_key(ck, key, shared, WG_KEY_LEN);
	seal(out->static_enc, local->public_key, WG_KEY_LEN, key, h);
	wg_mix_hash(h, out->static_enc, sizeof(out->static_enc));

	wg_mix_key(ck, key, hs->static_static, WG_KEY_LEN);
	seal(out->timestamp_enc, timestamp, WG_TAI64N_LEN, key, h);
	wg_mix_hash(h, out->timestamp_enc, sizeof(out->timestamp_enc));
	memset(&out->macs, 0, sizeof(out->macs));

	wg_noise_handshake_clear(hs);
	hs->state = WG_NOISE_INITIATION_CREATED;
	hs->local_index = local_index;
	memcpy(hs->ephemeral_private, e_priv, WG_KEY_LEN);
	memcpy(hs->hash, h, WG_HASH_LEN);
	memcpy(hs->chaining_key, ck, WG_HASH_LEN);
	ret = 0;
out:
	if (ret != 0)
		sodium_memzero(out, sizeof(*out));
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(h, sizeof(h));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(shared, sizeof(shared));
	sodium_memzero(e_priv, sizeof(e_priv));
	return ret;
}

int wg_noise_consume_initiation(const struct wg_noise_static *local,
				const struct wg_noise_upcalls *up,
				const struct wg_msg_initiation *msg, uint64_t now_ns,
				struct wg_noise_handshake **hs_out)
{
	uint8_t ck[WG_HASH_LEN], h[WG_HASH_LEN], key[WG_KEY_LEN], shared[WG_KEY_LEN];
	uint8_t remote_static[WG_KEY_LEN], timestamp[WG_TAI64N_LEN];
	struct wg_noise_handshake *hs;
	int ret;

	wg_hash_initial(ck, h);
	wg_mix_hash(h, local->public_key, WG_KEY_LEN);
	wg_mix_ck(ck, msg->ephemeral, WG_KEY_LEN);
	wg_mix_hash(h, msg->ephemeral, WG_KEY_LEN);

	ret = dh(shared, local->private_key, msg->ephemeral);
	if (ret != 0)
		goto out;
	wg_mix_key(ck, key, shared, WG_KEY_LEN);
	ret = open_box(remote_static, msg->static_enc, WG_KEY_LEN, key, h);
	if (ret != 0)
		goto out;
	wg_mix_hash(h, msg->static_enc, sizeof(msg->static_enc));

	hs = up->peer_by_static(up->arg, remote_static);
	if (!hs || sodium_memcmp(hs->remote_static, remote_static, WG_KEY_LEN) != 0) {
		ret = -ENOENT;
		goto out;
	}
	wg_mix_key(ck, key, hs->static_static, WG_KEY_LEN);
	ret = open_box(timestamp, msg->timestamp_enc, WG_TAI64N_LEN, key, h);
	if (ret != 0)
		goto out;
	wg_mix_hash(h, msg->timestamp_enc, sizeof(msg->timestamp_enc));

	/* TAI64N is big-endian, so byte order is time order. */
	if (memcmp(timestamp, hs->latest_timestamp, WG_TAI64N_LEN) <= 0) {
		ret = -ESTALE;
		goto out;
	}
	/* Fresh initiations from a genuine peer, but too many: each would
	 * throw away the handshake in progress. */
	if (hs->initiation_seen &&
	    now_ns - hs->last_initiation_ns < WG_SEC(1) / WG_INITIATIONS_PER_SECOND) {
		ret = -EBUSY;
		goto out;
	}

	wg_noise_handshake_clear(hs);
	hs->state = WG_NOISE_INITIATION_CONSUMED;
	hs->remote_index = wg_le32_load(msg->sender);
	memcpy(hs->remote_ephemeral, msg->ephemeral, WG_KEY_LEN);
	memcpy(hs->latest_timestamp, timestamp, WG_TAI64N_LEN);
	hs->last_initiation_ns = now_ns;
	hs->initiation_seen = true;
	memcpy(hs->hash, h, WG_HASH_LEN);
	memcpy(hs->chaining_key, ck, WG_HASH_LEN);
	*hs_out = hs;
out:
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(h, sizeof(h));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(shared, sizeof(shared));
	sodium_memzero(remote_static, sizeof(remote_static));
	sodium_memzero(timestamp, sizeof(timestamp));
	return ret;
}

int wg_noise_create_response(struct wg_noise_handshake *hs, const struct wg_noise_upcalls *up,
			     uint32_t local_index, struct wg_msg_response *out)
{
	uint8_t ck[WG_HASH_LEN], h[WG_HASH_LEN], key[WG_KEY_LEN], shared[WG_KEY_LEN];
	uint8_t e_priv[WG_KEY_LEN];
	int ret = -EINVAL;

	if (hs->state != WG_NOISE_INITIATION_CONSUMED)
		return -EINVAL;
	memcpy(ck, hs->chaining_key, WG_HASH_LEN);
	memcpy(h, hs->hash, WG_HASH_LEN);

	new_ephemeral(up, e_priv);
	if (crypto_scalarmult_curve25519_base(out->ephemeral, e_priv) != 0)
		goto out;
	wg_message_set_type(out->type, WG_MSG_RESPONSE);
	wg_le32_store(out->sender, local_index);
	wg_le32_store(out->receiver, hs->remote_index);
	wg_mix_ck(ck, out->ephemeral, WG_KEY_LEN);
	wg_mix_hash(h, out->ephemeral, WG_KEY_LEN);

	if (dh(shared, e_priv, hs->remote_ephemeral) != 0)
		goto out;
	wg_mix_ck(ck, shared, WG_KEY_LEN);
	if (dh(shared, e_priv, hs->remote_static) != 0)
		goto out;
	wg_mix_ck(ck, shared, WG_KEY_LEN);
	wg_mix_psk(ck, h, key, hs->psk);
	seal(out->empty_enc, NULL, 0, key, h);
	wg_mix_hash(h, out->empty_enc, sizeof(out->empty_enc));
	memset(&out->macs, 0, sizeof(out->macs));

	hs->state = WG_NOISE_RESPONSE_CREATED;
	hs->local_index = local_index;
	sodium_memzero(hs->remote_ephemeral, WG_KEY_LEN);
	memcpy(hs->hash, h, WG_HASH_LEN);
	memcpy(hs->chaining_key, ck, WG_HASH_LEN);
	ret = 0;
out:
	if (ret != 0)
		sodium_memzero(out, sizeof(*out));
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(h, sizeof(h));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(shared, sizeof(shared));
	sodium_memzero(e_priv, sizeof(e_priv));
	return ret;
}

int wg_noise_consume_response(const struct wg_noise_static *local,
			      const struct wg_noise_upcalls *up, const struct wg_msg_response *msg,
			      struct wg_noise_handshake **hs_out)
{
	uint8_t ck[WG_HASH_LEN], h[WG_HASH_LEN], key[WG_KEY_LEN], shared[WG_KEY_LEN];
	uint8_t empty[1];
	uint32_t receiver = wg_le32_load(msg->receiver);
	struct wg_noise_handshake *hs;
	int ret;

	hs = up->handshake_by_index(up->arg, receiver);
	if (!hs || hs->state != WG_NOISE_INITIATION_CREATED || hs->local_index != receiver)
		return -ENOENT;
	memcpy(ck, hs->chaining_key, WG_HASH_LEN);
	memcpy(h, hs->hash, WG_HASH_LEN);

	wg_mix_ck(ck, msg->ephemeral, WG_KEY_LEN);
	wg_mix_hash(h, msg->ephemeral, WG_KEY_LEN);
	ret = dh(shared, hs->ephemeral_private, msg->ephemeral);
	if (ret != 0)
		goto out;
	wg_mix_ck(ck, shared, WG_KEY_LEN);
	ret = dh(shared, local->private_key, msg->ephemeral);
	if (ret != 0)
		goto out;
	wg_mix_ck(ck, shared, WG_KEY_LEN);
	wg_mix_psk(ck, h, key, hs->psk);
	ret = open_box(empty, msg->empty_enc, 0, key, h);
	if (ret != 0)
		goto out;
	wg_mix_hash(h, msg->empty_enc, sizeof(msg->empty_enc));

	hs->state = WG_NOISE_RESPONSE_CONSUMED;
	hs->remote_index = wg_le32_load(msg->sender);
	sodium_memzero(hs->ephemeral_private, WG_KEY_LEN);
	memcpy(hs->hash, h, WG_HASH_LEN);
	memcpy(hs->chaining_key, ck, WG_HASH_LEN);
	*hs_out = hs;
out:
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(h, sizeof(h));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(shared, sizeof(shared));
	return ret;
}

int wg_noise_derive_keys(struct wg_noise_handshake *hs, struct wg_noise_keys *keys)
{
	bool initiator;

	if (hs->state == WG_NOISE_RESPONSE_CONSUMED)
		initiator = true;
	else if (hs->state == WG_NOISE_RESPONSE_CREATED)
		initiator = false;
	else
		return -EINVAL;

	/* The initiator's first key is its sending key, the responder's its receiving key. */
	if (initiator)
		wg_kdf(keys->send, keys->recv, NULL, hs->chaining_key, NULL, 0);
	else
		wg_kdf(keys->recv, keys->send, NULL, hs->chaining_key, NULL, 0);
	keys->local_index = hs->local_index;
	keys->remote_index = hs->remote_index;
	keys->initiator = initiator;
	wg_noise_handshake_clear(hs);
	return 0;
}

void wg_noise_keys_clear(struct wg_noise_keys *keys)
{
	sodium_memzero(keys, sizeof(*keys));
}
