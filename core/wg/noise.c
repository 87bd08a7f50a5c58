// SPDX-License-Identifier: MIT
/* The Noise_IKpsk2 handshake of WireGuard (noise.h), without I/O. */
/* Names follow the whitepaper: ck = chaining key C, h = hash H, key = kappa.
 * Every function works on local copies and commits them to the handshake
 * only on success; the copies are wiped on every exit path. */
#include "core/wg/noise.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "core/wg/wg_constants.h"

static const uint8_t zero_nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

/* One message's work: copies of the handshake's chaining key and hash and
 * what is derived on the way, committed to the handshake on success and
 * wiped on every exit. */
struct work {
	uint8_t ck[WG_HASH_LEN], h[WG_HASH_LEN], key[WG_KEY_LEN], shared[WG_KEY_LEN];
	uint8_t e_priv[WG_KEY_LEN]; /* our ephemeral key, in the messages we create */
};

static void work_load(struct work *w, const struct wg_noise_handshake *hs)
{
	memcpy(w->ck, hs->chaining_key, WG_HASH_LEN);
	memcpy(w->h, hs->hash, WG_HASH_LEN);
}

static void work_commit(const struct work *w, struct wg_noise_handshake *hs)
{
	memcpy(hs->chaining_key, w->ck, WG_HASH_LEN);
	memcpy(hs->hash, w->h, WG_HASH_LEN);
}

static int dh(uint8_t out[WG_KEY_LEN], const uint8_t priv[WG_KEY_LEN],
	      const uint8_t pub[WG_KEY_LEN])
{
	/* libsodium refuses (-1) when the result is all zeros: a low-order point. */
	return crypto_scalarmult_curve25519(out, priv, pub) == 0 ? 0 : -EBADMSG;
}

/* ck = KDF1(ck, DH(priv, pub)) */
static int mix_dh(struct work *w, const uint8_t priv[WG_KEY_LEN], const uint8_t pub[WG_KEY_LEN])
{
	if (dh(w->shared, priv, pub) != 0)
		return -EBADMSG;
	wg_mix_ck(w->ck, w->shared, WG_KEY_LEN);
	return 0;
}

/* Either side's ephemeral public key goes into both ck and h. */
static void mix_ephemeral(struct work *w, const uint8_t pub[WG_KEY_LEN])
{
	wg_mix_ck(w->ck, pub, WG_KEY_LEN);
	wg_mix_hash(w->h, pub, WG_KEY_LEN);
}

/* A new ephemeral key pair (the test's, through the upcall, or random):
 * the private half in w, the public half in pub and mixed in. */
static int new_ephemeral(struct work *w, const struct wg_noise_upcalls *up, uint8_t pub[WG_KEY_LEN])
{
	if (up && up->ephemeral_private)
		up->ephemeral_private(up->arg, w->e_priv);
	else
		randombytes_buf(w->e_priv, WG_KEY_LEN);
	if (crypto_scalarmult_curve25519_base(pub, w->e_priv) != 0)
		return -EINVAL;
	mix_ephemeral(w, pub);
	return 0;
}

/* Noise's EncryptAndHash and DecryptAndHash: dst/src is len bytes of
 * plaintext and len + 16 of ciphertext. The handshake uses each key once,
 * so the nonce is always zero. */
static void encrypt_and_hash(struct work *w, uint8_t *dst, const uint8_t *src, size_t len)
{
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(dst, dst + len, NULL, src, len, w->h,
							   WG_HASH_LEN, NULL, zero_nonce, w->key);
	wg_mix_hash(w->h, dst, len + WG_AEAD_TAG_LEN);
}

static int decrypt_and_hash(struct work *w, uint8_t *dst, const uint8_t *src, size_t len)
{
	if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
		dst, NULL, src, len, src + len, w->h, WG_HASH_LEN, zero_nonce, w->key) != 0)
		return -EBADMSG;
	wg_mix_hash(w->h, src, len + WG_AEAD_TAG_LEN);
	return 0;
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
	struct work w;
	int ret = -EINVAL;

	wg_hash_initial(w.ck, w.h);
	wg_mix_hash(w.h, hs->remote_static, WG_KEY_LEN);
	wg_message_set_type(out->type, WG_MSG_INITIATION);
	wg_le32_store(out->sender, local_index);
	if (new_ephemeral(&w, up, out->ephemeral) != 0)
		goto out;

	if (dh(w.shared, w.e_priv, hs->remote_static) != 0)
		goto out;
	wg_mix_key(w.ck, w.key, w.shared, WG_KEY_LEN);
	encrypt_and_hash(&w, out->static_enc, local->public_key, WG_KEY_LEN);

	wg_mix_key(w.ck, w.key, hs->static_static, WG_KEY_LEN);
	encrypt_and_hash(&w, out->timestamp_enc, timestamp, WG_TAI64N_LEN);
	memset(&out->macs, 0, sizeof(out->macs));

	wg_noise_handshake_clear(hs);
	hs->state = WG_NOISE_INITIATION_CREATED;
	hs->local_index = local_index;
	memcpy(hs->ephemeral_private, w.e_priv, WG_KEY_LEN);
	work_commit(&w, hs);
	ret = 0;
out:
	if (ret != 0)
		sodium_memzero(out, sizeof(*out));
	sodium_memzero(&w, sizeof(w));
	return ret;
}

int wg_noise_consume_initiation(const struct wg_noise_static *local,
				const struct wg_noise_upcalls *up,
				const struct wg_msg_initiation *msg, uint64_t now_ns,
				struct wg_noise_handshake **hs_out)
{
	uint8_t remote_static[WG_KEY_LEN], timestamp[WG_TAI64N_LEN];
	struct wg_noise_handshake *hs;
	struct work w;
	int ret;

	wg_hash_initial(w.ck, w.h);
	wg_mix_hash(w.h, local->public_key, WG_KEY_LEN);
	mix_ephemeral(&w, msg->ephemeral);

	ret = dh(w.shared, local->private_key, msg->ephemeral);
	if (ret != 0)
		goto out;
	wg_mix_key(w.ck, w.key, w.shared, WG_KEY_LEN);
	ret = decrypt_and_hash(&w, remote_static, msg->static_enc, WG_KEY_LEN);
	if (ret != 0)
		goto out;

	hs = up->peer_by_static(up->arg, remote_static);
	if (!hs || sodium_memcmp(hs->remote_static, remote_static, WG_KEY_LEN) != 0) {
		ret = -ENOENT;
		goto out;
	}
	wg_mix_key(w.ck, w.key, hs->static_static, WG_KEY_LEN);
	ret = decrypt_and_hash(&w, timestamp, msg->timestamp_enc, WG_TAI64N_LEN);
	if (ret != 0)
		goto out;

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
	work_commit(&w, hs);
	*hs_out = hs;
out:
	sodium_memzero(&w, sizeof(w));
	sodium_memzero(remote_static, sizeof(remote_static));
	sodium_memzero(timestamp, sizeof(timestamp));
	return ret;
}

int wg_noise_create_response(struct wg_noise_handshake *hs, const struct wg_noise_upcalls *up,
			     uint32_t local_index, struct wg_msg_response *out)
{
	struct work w;
	int ret = -EINVAL;

	if (hs->state != WG_NOISE_INITIATION_CONSUMED)
		return -EINVAL;
	work_load(&w, hs);
	wg_message_set_type(out->type, WG_MSG_RESPONSE);
	wg_le32_store(out->sender, local_index);
	wg_le32_store(out->receiver, hs->remote_index);
	if (new_ephemeral(&w, up, out->ephemeral) != 0)
		goto out;

	if (mix_dh(&w, w.e_priv, hs->remote_ephemeral) != 0 ||
	    mix_dh(&w, w.e_priv, hs->remote_static) != 0)
		goto out;
	wg_mix_psk(w.ck, w.h, w.key, hs->psk);
	encrypt_and_hash(&w, out->empty_enc, NULL, 0);
	memset(&out->macs, 0, sizeof(out->macs));

	hs->state = WG_NOISE_RESPONSE_CREATED;
	hs->local_index = local_index;
	sodium_memzero(hs->remote_ephemeral, WG_KEY_LEN);
	work_commit(&w, hs);
	ret = 0;
out:
	if (ret != 0)
		sodium_memzero(out, sizeof(*out));
	sodium_memzero(&w, sizeof(w));
	return ret;
}

int wg_noise_consume_response(const struct wg_noise_static *local,
			      const struct wg_noise_upcalls *up, const struct wg_msg_response *msg,
			      struct wg_noise_handshake **hs_out)
{
	uint32_t receiver = wg_le32_load(msg->receiver);
	struct wg_noise_handshake *hs;
	struct work w;
	uint8_t empty[1];
	int ret;

	hs = up->handshake_by_index(up->arg, receiver);
	if (!hs || hs->state != WG_NOISE_INITIATION_CREATED || hs->local_index != receiver)
		return -ENOENT;
	work_load(&w, hs);
	mix_ephemeral(&w, msg->ephemeral);
	ret = mix_dh(&w, hs->ephemeral_private, msg->ephemeral);
	if (ret == 0)
		ret = mix_dh(&w, local->private_key, msg->ephemeral);
	if (ret != 0)
		goto out;
	wg_mix_psk(w.ck, w.h, w.key, hs->psk);
	ret = decrypt_and_hash(&w, empty, msg->empty_enc, 0);
	if (ret != 0)
		goto out;

	hs->state = WG_NOISE_RESPONSE_CONSUMED;
	hs->remote_index = wg_le32_load(msg->sender);
	sodium_memzero(hs->ephemeral_private, WG_KEY_LEN);
	work_commit(&w, hs);
	*hs_out = hs;
out:
	sodium_memzero(&w, sizeof(w));
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
