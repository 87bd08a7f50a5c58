/* SPDX-License-Identifier: MIT */
/* notun's configuration file: the wg-quick INI format plus notun's own
 * [Proxy] and [Gateway] sections. core/config/config.md describes it for users.
 *
 * Parsing is I/O free (text in, a struct nt_config out); nt_config_load() in
 * config_file.c is the thin layer that reads a file.
 *
 * Syntax, as wg(8) and wg-quick(8) read it: "[Section]" headers, "Key = Value"
 * lines, '#' starts a comment anywhere on a line, blank lines are ignored,
 * whitespace around section names, keys, values and list items is trimmed,
 * section names and keys are case-insensitive, list values are
 * comma-separated and a repeated list key adds to the list. Lines end in LF
 * or CRLF; a UTF-8 byte order mark at the start is skipped. The text must be
 * UTF-8 without NUL bytes or control characters other than tab.
 *
 *   [Interface]  PrivateKey (required), Address*, DNS*, MTU, ListenPort;
 *                wg-quick's Table, PreUp, PostUp, PreDown, PostDown,
 *                SaveConfig, FwMark are ignored with a warning (notun has no
 *                network interface to run them on).
 *   [Peer]       PublicKey (required), PresharedKey, Endpoint, AllowedIPs*,
 *                PersistentKeepalive, Allow* (one or more sections)
 *   [Proxy]      Listen*, Username, Password, Bypass, ConnectTimeout,
 *                MaxConnections (client)
 *   [Gateway]    Allow* (gateway)
 *   [Portal]     URL, Token | TokenFile, CA | Fingerprint, Advertise
 *                (gateway; config.md)
 *   [Metrics]    Listen, AllowRemote (both roles; off without the section)
 *   (* list keys; every other key may appear once per section)
 *
 * Allow rules (gateway access control):
 *
 *   rule   = cidrs [ spec ]
 *   cidrs  = CIDR *( "," CIDR )          whitespace allowed around ","
 *   spec   = proto [ ":" ports ] | ":" ports
 *   proto  = "tcp" | "udp" | "any"       case-insensitive; default any
 *   ports  = range *( "," range )        at most NT_CONFIG_MAX_ALLOW_PORTS
 *   range  = PORT [ "-" PORT ]           1..65535, first <= last
 *
 *   Allow = 10.0.0.0/8                   everything in 10/8
 *   Allow = 192.168.1.10/32 tcp:22,80-89
 *   Allow = fd00::/64 udp:53
 *   Allow = 10.1.0.0/16, 10.2.0.0/16 :443    TCP and UDP port 443
 *
 * Each CIDR of a line becomes one struct nt_config_allow, and counts as one
 * rule against NT_CONFIG_MAX_ALLOW. "any" without ports matches every
 * protocol; "any" with ports matches TCP and UDP on those ports. Default
 * deny: a flow needs a [Gateway] rule that matches and, when the peer's
 * [Peer] section has Allow rules, one of those too (they narrow, never widen).
 *
 * MTU is 1280..65535, not wg-quick's 576: notun's netstack speaks IPv6, and
 * IPv6 requires every link to carry 1280-byte packets (netstack refuses
 * less), so a smaller tunnel MTU could only break IPv6 flows inside it.
 *
 * Role checks are separate functions rather than a role argument to the
 * parser: the syntax and the values are the same for both roles, tests and
 * tools can parse any file, and each role's command states its own
 * requirements in one place.
 */
#ifndef NT_CORE_CONFIG_H
#define NT_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/wg/allowedips.h"
#include "core/wg/key.h"

/* Limits; each has its own error when passed. */
#define NT_CONFIG_MAX_FILE	  (1024 * 1024) /* bytes */
#define NT_CONFIG_MAX_LINE	  4096		/* bytes, not counting the line ending */
#define NT_CONFIG_MAX_PEERS	  256
#define NT_CONFIG_MAX_ALLOWED_IPS 1024 /* per [Peer] */
#define NT_CONFIG_MAX_LISTEN	  64
#define NT_CONFIG_MAX_ALLOW	  256 /* per [Peer] and in [Gateway] */
#define NT_CONFIG_MAX_ALLOW_PORTS 16  /* port ranges in one Allow rule */
#define NT_CONFIG_MAX_ADDRESSES	  16
#define NT_CONFIG_MAX_DNS_SERVERS 8
#define NT_CONFIG_MAX_DNS_SEARCH  8
#define NT_CONFIG_MAX_WARNINGS	  32 /* more are counted in warnings_dropped */

#define NT_CONFIG_MTU_MIN	      1280
#define NT_CONFIG_CREDENTIAL_MAX      255 /* RFC 1929: Username and Password */
#define NT_CONFIG_HOST_MAX	      253 /* a DNS name, without the trailing dot */
#define NT_CONFIG_DEFAULT_LISTEN_PORT 1080
#define NT_CONFIG_DEFAULT_TIMEOUT_MS  15000
#define NT_CONFIG_MIN_TIMEOUT_MS      1000
#define NT_CONFIG_MAX_TIMEOUT_MS      300000
#define NT_CONFIG_MAX_GIVE_UP_S	      (30 * 86400) /* [Portal] GiveUpAfter */
#define NT_CONFIG_DEFAULT_MAX_CONNS   4096
#define NT_CONFIG_MAX_CONNS_LIMIT     65536

#define NT_CONFIG_PATH_MAX 1024 /* a file a key names (CA, TokenFile, Certificate...) */
#define NT_CONFIG_URL_MAX  512	/* [Portal] URL */

#define NT_CONFIG_FILE_MAX    256 /* file name kept for messages (truncated) */
#define NT_CONFIG_KEY_MAX     32
#define NT_CONFIG_MESSAGE_MAX 512

/* An address, family AF_INET or AF_INET6, network order. */
struct nt_config_ip {
	int family;
	uint8_t addr[16];
};

/* A proxy listener: a literal address and a port (host order; 0 = any free
 * port, for tests). */
struct nt_config_listen {
	struct nt_config_ip ip;
	uint16_t port;
};

/* A peer's Endpoint. host is a name or an address literal (without the
 * brackets of "[v6]:port"); names are resolved elsewhere. */
struct nt_config_endpoint {
	char host[NT_CONFIG_HOST_MAX + 1];
	uint16_t port;	 /* 1..65535 */
	bool is_literal; /* host is an address, and ip holds it */
	struct nt_config_ip ip;
};

enum nt_config_proto { NT_CONFIG_PROTO_ANY = 0, NT_CONFIG_PROTO_TCP, NT_CONFIG_PROTO_UDP };

struct nt_config_port_range {
	uint16_t first, last; /* inclusive, 1..65535 */
};

struct nt_config_allow {
	struct wg_cidr cidr;
	enum nt_config_proto proto;
	unsigned int nports; /* 0: every port (and with ANY, every protocol) */
	struct nt_config_port_range ports[NT_CONFIG_MAX_ALLOW_PORTS];
	unsigned int line;
};

struct nt_config_peer {
	uint8_t public_key[NT_KEY_LEN];
	bool has_preshared_key;
	uint8_t preshared_key[NT_KEY_LEN];
	bool has_endpoint;
	struct nt_config_endpoint endpoint;
	struct wg_cidr *allowed_ips; /* as written; host bits kept */
	size_t allowed_ips_count;
	uint16_t persistent_keepalive; /* seconds, 0 = off */
	struct nt_config_allow *allow;
	size_t allow_count;
	unsigned int line;	      /* of its [Peer] header */
	unsigned int public_key_line; /* of its PublicKey */
	/* private to the parser */
	size_t allowed_ips_cap, allow_cap;
};

enum nt_config_bypass { NT_CONFIG_BYPASS_DIRECT = 0, NT_CONFIG_BYPASS_REJECT };

/* [Portal] of a gateway (and, later, a client): how to reach the portal.
 * The URL is "wss://HOST[:PORT][/PATH]" or, to a loopback address only,
 * "ws://..."; the transport appends "/gateway/websocket" (or the client's
 * path) to path. */
struct nt_config_portal {
	unsigned int line; /* its first header; 0 when absent */
	char url[NT_CONFIG_URL_MAX + 1];
	bool tls;			   /* wss:// */
	char host[NT_CONFIG_HOST_MAX + 1]; /* a name or an address, no brackets */
	uint16_t port;			   /* default 443 (wss) or 80 (ws) */
	char path[NT_CONFIG_URL_MAX + 1];  /* "" or "/prefix", no trailing '/' */
	char token[64];			   /* secret; from Token or TokenFile ("" before load) */
	char token_file[NT_CONFIG_PATH_MAX + 1]; /* "" when Token is inline */
	unsigned int token_line;		 /* of Token or TokenFile */
	char ca_file[NT_CONFIG_PATH_MAX + 1];	 /* "" when not set */
	bool has_fingerprint;
	uint8_t fingerprint[32]; /* SHA-256 of the portal's certificate (DER) */
	bool has_advertise;
	struct nt_config_endpoint advertise; /* the endpoint clients should use */
	uint32_t give_up_after_s;	     /* GiveUpAfter: one outage's bound; 0: never */
};

struct nt_config_warning {
	unsigned int line;
	char key[NT_CONFIG_KEY_MAX];
	char message[NT_CONFIG_MESSAGE_MAX]; /* "file:line: Key: ignored ..." */
};

struct nt_config {
	char filename[NT_CONFIG_FILE_MAX];

	/* [Interface] */
	unsigned int interface_line; /* its first header; 0 when absent */
	bool has_private_key;	     /* false only with [Portal]: a fresh key per start */
	uint8_t private_key[NT_KEY_LEN];
	uint8_t public_key[NT_KEY_LEN];			   /* derived from private_key */
	struct wg_cidr addresses[NT_CONFIG_MAX_ADDRESSES]; /* our tunnel addresses */
	size_t address_count;
	struct nt_config_ip dns_servers[NT_CONFIG_MAX_DNS_SERVERS];
	size_t dns_server_count;
	char dns_search[NT_CONFIG_MAX_DNS_SEARCH][NT_CONFIG_HOST_MAX + 1];
	size_t dns_search_count;
	uint16_t mtu; /* 0: not set, netstack's default (1420) */
	bool has_listen_port;
	uint16_t listen_port;

	/* [Peer] sections, in file order */
	struct nt_config_peer *peers;
	size_t peer_count;

	/* [Proxy]; the defaults are filled in whether or not it is present */
	unsigned int proxy_line;			      /* its first header; 0 when absent */
	struct nt_config_listen listen[NT_CONFIG_MAX_LISTEN]; /* default 127.0.0.1:1080 */
	size_t listen_count;
	char username[NT_CONFIG_CREDENTIAL_MAX + 1]; /* "" when not set */
	char password[NT_CONFIG_CREDENTIAL_MAX + 1];
	enum nt_config_bypass bypass; /* default direct */
	uint32_t connect_timeout_ms;  /* default 15000 */
	uint32_t max_connections;     /* default 4096 */

	/* [Gateway] */
	unsigned int gateway_line; /* its first header; 0 when absent */
	struct nt_config_allow *gateway_allow;
	size_t gateway_allow_count;

	/* [Portal] */
	struct nt_config_portal portal;

	/* [Metrics]: the HTTP metrics endpoint, on when metrics_line is set.
	 * Listen is a loopback address unless AllowRemote = yes. */
	unsigned int metrics_line; /* its first header; 0 when absent */
	struct nt_config_listen metrics_listen;
	bool metrics_allow_remote;

	struct nt_config_warning warnings[NT_CONFIG_MAX_WARNINGS];
	size_t warning_count;
	size_t warnings_dropped;

	/* private to the parser */
	size_t peer_cap, gateway_allow_cap;
};

struct nt_config_error {
	char file[NT_CONFIG_FILE_MAX];
	unsigned int line;	     /* 0: not about one line */
	char key[NT_CONFIG_KEY_MAX]; /* "" when the error is not about a key */
	/* One line, e.g. "client.conf:7: AllowedIPs: '10.0.0.300/24' is not an
	 * IP prefix". Secret values are never quoted. */
	char message[NT_CONFIG_MESSAGE_MAX];
};

/* Parses len bytes of text (no terminating NUL needed). filename is only for
 * messages (NULL: "config"). Returns 0 (out filled, free it with
 * nt_config_free), -EINVAL (err filled, out empty) or -ENOMEM. out need not
 * be initialised; nt_config_free is safe on it after any return. */
int nt_config_parse(const char *text, size_t len, const char *filename, struct nt_config *out,
		    struct nt_config_error *err);

/* Role requirements on a parsed config. 0 or -EINVAL with err filled.
 * Client: at least one Address, at least one [Peer], each with an Endpoint;
 *         no Allow rules (only a gateway enforces them). With [Portal]: a
 *         client token (ntc_), no Advertise; Address, [Peer] and PrivateKey
 *         are optional (static peers keep the addresses they hold).
 * Gateway: ListenPort set; no [Proxy] section; a [Portal] has a URL and a
 *         gateway token (ntg_). Without [Portal], a gateway with no Allow
 *         rule denies everything; with it, the grants come from the portal;
 *         a PrivateKey always. */
int nt_config_validate_client(const struct nt_config *cfg, struct nt_config_error *err);
int nt_config_validate_gateway(const struct nt_config *cfg, struct nt_config_error *err);

/* "HOST:PORT", or "[IPv6]:PORT" for an IPv6 literal; snprintf's return. */
int nt_config_endpoint_format(const struct nt_config_endpoint *ep, char *buf, size_t size);

/* Writes cfg back as text that parses to the same config (keys included:
 * the output is as secret as the file). Always NUL-terminates when size > 0.
 * *needed (optional) gets the length without the NUL. 0, or -ENOSPC when
 * size was too small. */
int nt_config_format(const struct nt_config *cfg, char *buf, size_t size, size_t *needed);

/* One Listen value, "ADDRESS:PORT" or "[IPv6]:PORT" (port 0..65535), as the
 * command line's --listen takes it: no surrounding spaces. 0 or -EINVAL. */
int nt_config_parse_listen(const char *text, struct nt_config_listen *out);

/* Our first tunnel Address of a family (AF_INET: 4 bytes, AF_INET6: 16),
 * or NULL when there is none: the one lwIP and the gateway use. */
const uint8_t *nt_config_address(const struct nt_config *cfg, int family);

/* ---- reloading (config_reload.c): a running process reads its file
 * again. [Peer]s, [Gateway] Allow rules and [Proxy] Username, Password and
 * Bypass are taken in place; the rest needs a restart. ---- */

/* The keys that differ between the running run and the file's next and
 * that only a restart applies, as "PrivateKey,Listen,[Portal]" into buf
 * ("" when none). Returns how many. */
size_t nt_config_restart_keys(const struct nt_config *run, const struct nt_config *next,
			      char *buf, size_t cap);
/* The reloadable settings of next go to run and run's old ones to next
 * (free next after, once nothing points into it). */
void nt_config_take_reloadable(struct nt_config *run, struct nt_config *next);
/* The [Peer] with this PublicKey, or NULL. */
const struct nt_config_peer *nt_config_peer_find(const struct nt_config *cfg,
						 const uint8_t key[NT_KEY_LEN]);
/* a and b give the tunnel the same peer: PresharedKey, Endpoint,
 * AllowedIPs and PersistentKeepalive (not the Allow rules). */
bool nt_config_peer_same_tunnel(const struct nt_config_peer *a, const struct nt_config_peer *b);
bool nt_config_endpoint_same(const struct nt_config_endpoint *a,
			     const struct nt_config_endpoint *b);

/* Wipes the secrets and frees everything; out is left empty. */
void nt_config_free(struct nt_config *cfg);

/* config_file.c: reads path (at most NT_CONFIG_MAX_FILE bytes) and parses it.
 * On success *secrets_exposed (optional) tells whether the file is readable
 * by group or others while it holds a PrivateKey, PresharedKey, Password or
 * Token; *mode (optional) gets its permission bits, for the warning. A
 * [Portal] TokenFile is read here (whitespace around the token trimmed);
 * when group or others can read it, a warning is added. Returns 0,
 * -EINVAL (err filled), -ENOMEM, or the negative errno of open/read (err
 * filled too). */
int nt_config_load(const char *path, struct nt_config *out, struct nt_config_error *err,
		   bool *secrets_exposed, unsigned int *mode);

#endif
