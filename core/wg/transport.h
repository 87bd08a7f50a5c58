/* SPDX-License-Identifier: MIT */
/* Transport data messages: encryption and decryption in place in the
 * caller's buffer, with no allocation and no copy.
 *
 * Outgoing, the caller reserves WG_TRANSPORT_HEADER_ROOM bytes in front of
 * the packet and WG_TRANSPORT_TAIL_ROOM behind it (padding up to 15 bytes and
 * the 16-byte tag), writes the packet at buf + WG_TRANSPORT_HEADER_ROOM and
 * calls encrypt; the whole buffer is then the message to send. Incoming, the
 * packet (padded to 16 bytes; the IP header has the real length) is left at
 * buf + 16. An empty packet is a keepalive.
 *
 * Counters: the send counter starts at 0 and is never reused; at
 * WG_REJECT_AFTER_MESSAGES the key pair refuses to send. Whether to rekey
 * (send_counter >= WG_REKEY_AFTER_MESSAGES, or age) is the timers module's call.
 */
#ifndef NT_CORE_TRANSPORT_H
#define NT_CORE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/wg/replay.h"
#include "core/wg/wg_hash.h"
#include "core/wg/wg_messages.h"

#define WG_TRANSPORT_HEADER_ROOM WG_MSG_TRANSPORT_HEADER_LEN
#define WG_TRANSPORT_TAIL_ROOM	 (15 + WG_AEAD_TAG_LEN)

struct wg_transport {
	uint8_t send_key[WG_KEY_LEN];
	uint8_t recv_key[WG_KEY_LEN];
	uint32_t local_index;  /* expected in the receiver field of incoming messages */
	uint32_t remote_index; /* written in the receiver field of outgoing ones */
	uint64_t send_counter; /* the next counter to send */
	struct wg_replay_window replay;
};

void wg_transport_init(struct wg_transport *t, const uint8_t send_key[WG_KEY_LEN],
		       const uint8_t recv_key[WG_KEY_LEN], uint32_t local_index,
		       uint32_t remote_index);
void wg_transport_clear(struct wg_transport *t);

/* The packet length after padding: a multiple of 16, but never beyond mtu
 * when the packet itself fits in it (mtu 0: no limit), as WireGuard pads. */
static inline size_t wg_transport_padded_len(size_t plain_len, size_t mtu)
{
	size_t padded = (plain_len + 15) & ~(size_t)15;

	if (mtu && padded > mtu && plain_len <= mtu)
		padded = mtu;
	return padded;
}

/* The message length for a packet of plain_len bytes. */
static inline size_t wg_transport_message_len(size_t plain_len, size_t mtu)
{
	return WG_MSG_TRANSPORT_HEADER_LEN + wg_transport_padded_len(plain_len, mtu) +
	       WG_AEAD_TAG_LEN;
}

/* Encrypts the plain_len bytes at buf + 16 into a whole message in buf[0..cap).
 * On success *msg_len = wg_transport_message_len(plain_len, mtu) and the
 * counter used is send_counter - 1. Errors: -ENOBUFS (cap too small),
 * -EKEYEXPIRED (counter exhausted: a new handshake is needed). */
int wg_transport_encrypt(struct wg_transport *t, uint8_t *buf, size_t cap, size_t plain_len,
			 size_t mtu, size_t *msg_len);

/* Authenticates and decrypts the message buf[0..len) in place. On success
 * the packet is at *plain (buf + 16), *plain_len bytes with padding, and
 * *counter is its counter. Errors: -EINVAL (not a transport message), -ENOENT
 * (receiver index is not ours), -EBADMSG (does not authenticate), and the
 * replay window's -EALREADY, -ESTALE, -ERANGE. */
int wg_transport_decrypt(struct wg_transport *t, uint8_t *buf, size_t len, uint8_t **plain,
			 size_t *plain_len, uint64_t *counter);

#endif
