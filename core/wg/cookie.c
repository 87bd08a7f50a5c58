// SPDX-License-Identifier: MIT
/* mac1, mac2 and cookie replies, without I/O. */
#include "core/wg/cookie.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "core/wg/wg_constants.h"

static bool handshake_len(size_t len)
{
	return len == WG_MSG_INITIATION_LEN || len == WG_MSG_RESPONSE_LEN;
}

static bool expired(uint64_t birth_ns, uint64_t now_ns)
{
	/* A clock that went backwards counts as expired too. */
	return now_ns < birth_ns || now_ns - birth_ns >= WG_SEC(WG_COOKIE_SECRET_MAX_AGE_S);
}

/* mac1 covers the message up to mac1; mac2 covers it up to mac2. */
static void mac1_of(uint8_t out[WG_MAC_LEN], const uint8_t key[WG_HASH_LEN], const uint8_t *msg,
		    size_t len)
{
	wg_mac(out, key, WG_HASH_LEN, msg, len - sizeof(struct wg_msg_macs));
}

static void mac2_of(uint8_t out[WG_MAC_LEN], const uint8_t cookie[WG_COOKIE_LEN],
		    const uint8_t *msg, size_t len)
{
	wg_mac(out, cookie, WG_COOKIE_LEN, msg, len - WG_MAC_LEN);
}

static void cookie_for(struct wg_cookie_checker *c, uint8_t cookie[WG_COOKIE_LEN],
		       const uint8_t *src, size_t src_len, uint64_t now_ns)
{
	if (!c->secret_set || expired(c->secret_birth_ns, now_ns)) {
		randombytes_buf(c->secret, sizeof(c->secret));
		c->secret_birth_ns = now_ns;
		c->secret_set = true;
	}
	wg_mac(cookie, c->secret, sizeof(c->secret), src, src_len);
}

void wg_cookie_checker_init(struct wg_cookie_checker *c, const uint8_t local_public[WG_KEY_LEN])
{
	sodium_memzero(c, sizeof(*c));
	wg_hash2(c->mac1_key, WG_LABEL_MAC1, 8, local_public, WG_KEY_LEN);
	wg_hash2(c->cookie_key, WG_LABEL_COOKIE, 8, local_public, WG_KEY_LEN);
}

void wg_cookie_checker_clear(struct wg_cookie_checker *c)
{
	sodium_memzero(c, sizeof(*c));
}

int wg_cookie_validate(struct wg_cookie_checker *c, const uint8_t *msg, size_t len,
		       const uint8_t *src, size_t src_len, bool under_load, uint64_t now_ns)
{
	const struct wg_msg_macs *macs;
	uint8_t mac[WG_MAC_LEN], cookie[WG_COOKIE_LEN];
	int ret = 0;

	if (!handshake_len(len))
		return -EINVAL;
	macs = (const struct wg_msg_macs *)(msg + len - sizeof(*macs));

	mac1_of(mac, c->mac1_key, msg, len);
	if (sodium_memcmp(mac, macs->mac1, WG_MAC_LEN) != 0)
		return -EBADMSG;
	if (!under_load)
		return 0;

	cookie_for(c, cookie, src, src_len, now_ns);
	mac2_of(mac, cookie, msg, len);
	if (sodium_memcmp(mac, macs->mac2, WG_MAC_LEN) != 0)
		ret = -EAGAIN;
	sodium_memzero(cookie, sizeof(cookie));
	return ret;
}

int wg_cookie_create_reply(struct wg_cookie_checker *c, const uint8_t *msg, size_t len,
			   const uint8_t *src, size_t src_len, uint64_t now_ns,
			   struct wg_msg_cookie_reply *out)
{
	const struct wg_msg_macs *macs;
	uint8_t cookie[WG_COOKIE_LEN];

	if (!handshake_len(len))
		return -EINVAL;
	macs = (const struct wg_msg_macs *)(msg + len - sizeof(*macs));

	wg_message_set_type(out->type, WG_MSG_COOKIE_REPLY);
	/* Both handshake messages carry their sender index right after the type. */
	memcpy(out->receiver, msg + 4, sizeof(out->receiver));
	randombytes_buf(out->nonce, sizeof(out->nonce));
	cookie_for(c, cookie, src, src_len, now_ns);
	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
	    out->cookie_enc, out->cookie_enc + WG_COOKIE_LEN, NULL, cookie, WG_COOKIE_LEN,
	    macs->mac1, WG_MAC_LEN, NULL, out->nonce, c->cookie_key);
	sodium_memzero(cookie, sizeof(cookie));
	return 0;
}

void wg_cookie_maker_init(struct wg_cookie_maker *m, const uint8_t remote_public[WG_KEY_LEN])
{
	sodium_memzero(m, sizeof(*m));
	wg_hash2(m->mac1_key, WG_LABEL_MAC1, 8, remote_public, WG_KEY_LEN);
	wg_hash2(m->cookie_key, WG_LABEL_COOKIE, 8, remote_public, WG_KEY_LEN);
}

void wg_cookie_maker_clear(struct wg_cookie_maker *m)
{
	sodium_memzero(m, sizeof(*m));
}

void wg_cookie_add_macs(struct wg_cookie_maker *m, uint8_t *msg, size_t len, uint64_t now_ns)
{
	struct wg_msg_macs *macs;

	if (!handshake_len(len))
		return;
	macs = (struct wg_msg_macs *)(msg + len - sizeof(*macs));

	mac1_of(macs->mac1, m->mac1_key, msg, len);
	memcpy(m->last_mac1, macs->mac1, WG_MAC_LEN);
	m->last_mac1_set = true;

	if (m->cookie_set && !expired(m->cookie_birth_ns, now_ns)) {
		mac2_of(macs->mac2, m->cookie, msg, len);
	} else {
		if (m->cookie_set) {
			sodium_memzero(m->cookie, sizeof(m->cookie));
			m->cookie_set = false;
		}
		memset(macs->mac2, 0, WG_MAC_LEN);
	}
}

int wg_cookie_consume_reply(struct wg_cookie_maker *m, const struct wg_msg_cookie_reply *reply,
			    uint64_t now_ns)
{
	uint8_t cookie[WG_COOKIE_LEN];

	if (!m->last_mac1_set)
		return -ENOENT;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
		cookie, NULL, reply->cookie_enc, WG_COOKIE_LEN, reply->cookie_enc + WG_COOKIE_LEN,
		m->last_mac1, WG_MAC_LEN, reply->nonce, m->cookie_key) != 0)
		return -EBADMSG;
	memcpy(m->cookie, cookie, WG_COOKIE_LEN);
	m->cookie_birth_ns = now_ns;
	m->cookie_set = true;
	m->last_mac1_set = false;
	sodium_memzero(cookie, sizeof(cookie));
	return 0;
}
