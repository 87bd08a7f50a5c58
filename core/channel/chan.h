/* SPDX-License-Identifier: MIT */
/* The portal channel's pure parts (section 1 and 3 of the portal protocol):
 * URLs, query encoding, certificate fingerprints, the reconnect policy. No
 * I/O; chan_server.h and chan_client.h build the transport on them. */
#ifndef NT_CORE_CHANNEL_CHAN_H
#define NT_CORE_CHANNEL_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NT_CHAN_HOST_MAX     255 /* a URL's host: a DNS name or an address literal */
#define NT_CHAN_FP_TEXT_MAX  52	 /* "SHA256:" + 43 base64 characters (no padding) + NUL */
#define NT_CHAN_KEY_LEN	     32	 /* a WireGuard public key */
#define NT_CHAN_PATH_CLIENT  "/client/websocket"
#define NT_CHAN_PATH_GATEWAY "/gateway/websocket"

struct nt_chan_url {
	bool tls;			 /* wss:// */
	char host[NT_CHAN_HOST_MAX + 1]; /* without the brackets of an IPv6 literal */
	uint16_t port;			 /* 443 / 80 when the URL names none */
};

/* wss://HOST[:PORT][/] or ws://HOST[:PORT][/]; HOST a name, an IPv4 address
 * or [IPv6]. ws:// only when the host is a loopback address (127.0.0.0/8,
 * ::1, localhost): -EPERM otherwise. 0, -EINVAL or -EPERM. */
int nt_chan_url_parse(const char *text, struct nt_chan_url *out);
bool nt_chan_host_is_loopback(const char *host);

/* Appends "&KEY=VALUE" ("?KEY=VALUE" when buf has no '?' yet) to buf, VALUE
 * percent-encoded (everything but RFC 3986's unreserved characters).
 * *len is the text's length so far. 0 or -ENOSPC. */
int nt_chan_query_add(char *buf, size_t cap, size_t *len, const char *key, const char *value);

/* A query value as libwebsockets hands it (already percent-decoded, with '+'
 * turned into ' ') to the 32-byte public key it carries: standard base64
 * with padding. 0 or -EINVAL. */
int nt_chan_key_parse(const char *text, uint8_t key[NT_CHAN_KEY_LEN]);

/* "SHA256:" + base64 of the digest, without padding (OpenSSH's form). */
void nt_chan_fp_format(const uint8_t sha256[32], char out[NT_CHAN_FP_TEXT_MAX]);
/* The same form, padding accepted. 0 or -EINVAL. */
int nt_chan_fp_parse(const char *text, uint8_t sha256[32]);

/* The reconnect policy of section 3. Before the first successful join an
 * attempt every NT_CHAN_RETRY_EARLY_MS until NT_CHAN_RETRY_EARLY_FOR_MS have
 * passed since the first failure; after it, exponential backoff from
 * NT_CHAN_BACKOFF_FIRST_MS, factor 1.5, jitter +-50 %, at most
 * NT_CHAN_BACKOFF_MAX_MS, reset by a join; give_up_after_ms (0: never)
 * bounds one outage. */
#define NT_CHAN_RETRY_EARLY_MS	   1000u
#define NT_CHAN_RETRY_EARLY_FOR_MS 15000u
#define NT_CHAN_BACKOFF_FIRST_MS   500u
#define NT_CHAN_BACKOFF_MAX_MS	   60000u

struct nt_chan_retry {
	bool joined_once;
	uint32_t failures;	   /* since the last join (or the start) */
	uint64_t outage_start_ms;  /* the first failure since then */
	uint64_t give_up_after_ms; /* 0: never (after the first join) */
};

/* A failure at now_ms: returns the delay before the next attempt in ms, or
 * -1 to give up. rnd is a uniform random 32-bit number (the jitter);
 * retry_after_ms (a 503's Retry-After, 0 when none) is a floor. */
int64_t nt_chan_retry_failed(struct nt_chan_retry *r, uint64_t now_ms, uint32_t rnd,
			     uint64_t retry_after_ms);
/* A successful join: the backoff starts over. */
void nt_chan_retry_joined(struct nt_chan_retry *r);

/* A 503's Retry-After header in ms: delta-seconds (RFC 9110), at most
 * NT_CHAN_RETRY_AFTER_MAX_MS so that a portal cannot park its gateways for
 * days; 0 for an HTTP-date or anything else (the backoff alone decides). */
#define NT_CHAN_RETRY_AFTER_MAX_MS NT_CHAN_BACKOFF_MAX_MS
uint32_t nt_chan_retry_after_parse(const char *text);

#endif
