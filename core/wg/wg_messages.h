/* SPDX-License-Identifier: MIT */
/* The four WireGuard messages on the wire. All integers are little-endian;
 * the first byte is the type and the next three are reserved (zero).
 *
 *   initiation   148  type sender ephemeral[32] static[32+16] timestamp[12+16] mac1 mac2
 *   response      92  type sender receiver ephemeral[32] empty[0+16] mac1 mac2
 *   cookie reply  64  type receiver nonce[24] cookie[16+16]
 *   transport   >=32  type receiver counter(le64) packet[n+16]
 *
 * The structs below are made of byte arrays only, so they have alignment 1,
 * no padding, and may overlay any buffer. */
#ifndef NT_CORE_WG_MESSAGES_H
#define NT_CORE_WG_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

#define WG_AEAD_TAG_LEN	    16
#define WG_TAI64N_LEN	    12
#define WG_COOKIE_LEN	    16
#define WG_COOKIE_NONCE_LEN 24
#define WG_PUBLIC_KEY_LEN   32

enum wg_message_type {
	WG_MSG_INITIATION = 1,
	WG_MSG_RESPONSE = 2,
	WG_MSG_COOKIE_REPLY = 3,
	WG_MSG_TRANSPORT = 4,
};

struct wg_msg_header {
	uint8_t type[4]; /* type, 0, 0, 0 */
};

/* mac1 and mac2 sit at the end of both handshake messages: */
struct wg_msg_macs {
	uint8_t mac1[16];
	uint8_t mac2[16];
};

struct wg_msg_initiation {
	uint8_t type[4];
	uint8_t sender[4];
	uint8_t ephemeral[WG_PUBLIC_KEY_LEN];
	uint8_t static_enc[WG_PUBLIC_KEY_LEN + WG_AEAD_TAG_LEN];
	uint8_t timestamp_enc[WG_TAI64N_LEN + WG_AEAD_TAG_LEN];
	struct wg_msg_macs macs;
};

struct wg_msg_response {
	uint8_t type[4];
	uint8_t sender[4];
	uint8_t receiver[4];
	uint8_t ephemeral[WG_PUBLIC_KEY_LEN];
	uint8_t empty_enc[WG_AEAD_TAG_LEN];
	struct wg_msg_macs macs;
};

struct wg_msg_cookie_reply {
	uint8_t type[4];
	uint8_t receiver[4];
	uint8_t nonce[WG_COOKIE_NONCE_LEN];
	uint8_t cookie_enc[WG_COOKIE_LEN + WG_AEAD_TAG_LEN];
};

struct wg_msg_transport {
	uint8_t type[4];
	uint8_t receiver[4];
	uint8_t counter[8];
	/* followed by the encrypted packet and its tag */
};

#define WG_MSG_INITIATION_LEN	    148
#define WG_MSG_RESPONSE_LEN	    92
#define WG_MSG_COOKIE_REPLY_LEN	    64
#define WG_MSG_TRANSPORT_HEADER_LEN 16
#define WG_MSG_TRANSPORT_MIN_LEN    (WG_MSG_TRANSPORT_HEADER_LEN + WG_AEAD_TAG_LEN)

_Static_assert(sizeof(struct wg_msg_initiation) == WG_MSG_INITIATION_LEN, "initiation layout");
_Static_assert(sizeof(struct wg_msg_response) == WG_MSG_RESPONSE_LEN, "response layout");
_Static_assert(sizeof(struct wg_msg_cookie_reply) == WG_MSG_COOKIE_REPLY_LEN, "cookie layout");
_Static_assert(sizeof(struct wg_msg_transport) == WG_MSG_TRANSPORT_HEADER_LEN, "data layout");

/* A classified message: pointers into the caller's buffer, integers decoded. */
struct wg_message {
	enum wg_message_type type;
	const uint8_t *buf;
	size_t len;
	uint32_t sender;   /* initiation, response */
	uint32_t receiver; /* response, cookie reply, transport */
	uint64_t counter;  /* transport */
	union {
		const struct wg_msg_initiation *initiation;
		const struct wg_msg_response *response;
		const struct wg_msg_cookie_reply *cookie_reply;
		const struct wg_msg_transport *transport;
	};
	const uint8_t *payload; /* transport: ciphertext and tag */
	size_t payload_len;
};

/* Classifies buf and checks its length: exact for the handshake messages and
 * the cookie reply, at least WG_MSG_TRANSPORT_MIN_LEN for transport data.
 * Returns 0, -EINVAL (bad length or non-zero reserved bytes) or -EPROTO
 * (unknown type). out is only written on success. */
int wg_message_parse(const uint8_t *buf, size_t len, struct wg_message *out);

/* The type word, as written at the start of every outgoing message. */
static inline void wg_message_set_type(uint8_t type_field[4], enum wg_message_type type)
{
	type_field[0] = (uint8_t)type;
	type_field[1] = 0;
	type_field[2] = 0;
	type_field[3] = 0;
}

static inline uint32_t wg_le32_load(const uint8_t p[4])
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void wg_le32_store(uint8_t p[4], uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint64_t wg_le64_load(const uint8_t p[8])
{
	return (uint64_t)wg_le32_load(p) | (uint64_t)wg_le32_load(p + 4) << 32;
}

static inline void wg_le64_store(uint8_t p[8], uint64_t v)
{
	wg_le32_store(p, (uint32_t)v);
	wg_le32_store(p + 4, (uint32_t)(v >> 32));
}

#endif
