/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 for a forward proxy (RFC 9110, RFC 9112): message heads, body
 * framing and the few messages the proxy writes itself. No I/O: bytes in,
 * results out.
 *
 * Head parsers are resumable: init the state once, then call the parser
 * with all the bytes received so far (the same prefix each time, longer);
 * it continues where it stopped. It returns
 *   > 0  the length of the complete head (its last CRLF included),
 *     0  not complete yet: read more and call again,
 *   < 0  refused (-EPROTO malformed, -EMSGSIZE a limit, -ENOTSUP a form or
 *        version we do not forward); ->status and ->why then hold the
 *        status code to answer with and a one-line reason.
 * An error is reported as soon as the line that shows it is complete (a
 * limit as soon as it is passed); a prefix of a valid head returns 0.
 * Offsets in the results count from the start of the buffer passed; the
 * bytes they point at are the caller's.
 *
 * Strictness: a line ends with CRLF (a bare LF is taken as well, a bare CR
 * is malformed); obs-fold, whitespace before a colon, control characters in
 * a value, and bytes outside ASCII in a request target are refused. Chunked
 * framing, relayed byte for byte, must use CRLF.
 */
#ifndef NT_PROXY_HTTP_PARSE_H
#define NT_PROXY_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/engine/engine.h"

#define NT_HTTP_HEAD_MAX_DEFAULT   (32u * 1024)	    /* a whole head -> 431 */
#define NT_HTTP_LINE_MAX_DEFAULT   (8u * 1024)	    /* the request line -> 414 */
#define NT_HTTP_FIELDS_MAX_DEFAULT 100u		    /* header fields -> 431 */
#define NT_HTTP_HEAD_MAX_LIMIT	   (64u * 1024 - 1) /* offsets are 16 bits */
#define NT_HTTP_FIELDS_CAP	   128u		    /* room in the results */
#define NT_HTTP_CHUNK_LINE_MAX	   4096u	    /* chunk size + extensions */
#define NT_HTTP_TRAILER_MAX	   (32u * 1024)	    /* the trailer section */
#define NT_HTTP_DEFAULT_PORT	   80

struct nt_http_limits {
	uint32_t head_max;   /* 1..NT_HTTP_HEAD_MAX_LIMIT */
	uint32_t line_max;   /* 1..head_max */
	uint32_t fields_max; /* 0..NT_HTTP_FIELDS_CAP */
};

void nt_http_limits_init(struct nt_http_limits *lim);
bool nt_http_limits_valid(const struct nt_http_limits *lim);

/* A header field: offsets into the head; the value without surrounding
 * whitespace. */
struct nt_http_field {
	uint16_t name, name_len;
	uint16_t value, value_len;
};

enum nt_http_body {
	NT_HTTP_BODY_NONE,
	NT_HTTP_BODY_LENGTH,  /* Content-Length */
	NT_HTTP_BODY_CHUNKED, /* Transfer-Encoding ending in chunked */
	NT_HTTP_BODY_CLOSE,   /* responses only: until the server closes */
};

/* What the request and response parsers share. */
struct nt_http_head {
	/* parser state */
	uint32_t pos;  /* start of the line being read */
	uint32_t scan; /* how far that line was searched for its end */
	uint8_t stage; /* start line, fields, done, failed */
	uint8_t flags; /* what Transfer-Encoding and Connection said so far */
	int result;    /* kept once done or failed */
	/* results */
	int status;	 /* on error: the status to answer with */
	const char *why; /* on error: one line, for the body */
	uint8_t minor;	 /* HTTP/1.0 or HTTP/1.1 (a higher 1.x reads as 1.1) */
	bool keep_alive; /* persistent after this message (version + Connection) */
	enum nt_http_body body;
	uint64_t content_length;
	bool length_and_chunked; /* both framings were sent (responses only) */
	uint8_t te_fields;	 /* Transfer-Encoding fields seen */
	uint8_t cl_fields;	 /* Content-Length fields seen */
	uint32_t nfields;
	struct nt_http_field fields[NT_HTTP_FIELDS_CAP];
};

struct nt_http_request {
	struct nt_http_head h;
	uint16_t line;			      /* the request line (after empty lines) */
	uint16_t method, method_len;	      /* a token, case-sensitive */
	bool is_connect, is_head, idempotent; /* by method */
	struct nt_target target;	      /* host and port, from the target */
	uint16_t authority, authority_len;    /* host[:port] as written: Host */
	uint16_t path, path_len;	      /* origin form; empty means "/" */
	int auth;			      /* Proxy-Authorization field, or -1 */
};

struct nt_http_response {
	struct nt_http_head h;
	bool to_head; /* the request was HEAD: no body whatever the fields say */
	int code;     /* 100..599 */
	uint16_t reason, reason_len;
};

void nt_http_request_init(struct nt_http_request *r);
/* Only CONNECT with an authority (host:port, [v6]:port) and absolute-form
 * http:// targets are proxy requests; origin-form, asterisk-form, https://
 * and userinfo are refused (400). */
int nt_http_parse_request(struct nt_http_request *r, const uint8_t *buf, size_t len,
			  const struct nt_http_limits *lim);

void nt_http_response_init(struct nt_http_response *r, bool to_head);
int nt_http_parse_response(struct nt_http_response *r, const uint8_t *buf, size_t len,
			   const struct nt_http_limits *lim);

/* ---- chunked bodies (RFC 9112, 7.1), scanned, not decoded ---- */

struct nt_http_chunked {
	uint8_t state;
	uint64_t left;	 /* data bytes left in the current chunk */
	uint32_t line;	 /* bytes of the current size line */
	uint32_t extra;	 /* bytes of the trailer section */
	uint64_t chunks; /* chunks seen, the last one included */
};

void nt_http_chunked_init(struct nt_http_chunked *c);
/* Follows len more bytes of a chunked body. Returns how many belong to the
 * body (len, or fewer when the body ended inside buf: the rest is the next
 * message), or -EPROTO for bad framing (a size that is not hex or too big,
 * a missing CRLF, an oversized line or trailer). *done is set once the last
 * byte of the body was consumed; after that it consumes nothing. */
ssize_t nt_http_chunked_scan(struct nt_http_chunked *c, const uint8_t *buf, size_t len, bool *done);
/* Parses one chunk-size line up to its CRLF (for tests and tools): returns
 * the line's length, 0 incomplete, or -EPROTO. */
int nt_http_chunk_size(const uint8_t *buf, size_t len, uint64_t *size);

/* ---- what the proxy writes ---- */

/* Bytes an upstream request head may need: see nt_http_build_request. */
size_t nt_http_request_out_max(const struct nt_http_request *r, size_t head_len);
/* The request for the origin: "METHOD path HTTP/1.1", the fields without
 * hop-by-hop ones (Connection and those it names, Keep-Alive,
 * Proxy-Connection, Proxy-Authorization, TE, Trailer, Upgrade) and without
 * Host, then Host from the target, and Via. No Connection field: the
 * upstream stays open for the proxy's pool whatever the client asked (its
 * answer says close to the client instead). Returns the length or
 * -ENOBUFS. */
int nt_http_build_request(const struct nt_http_request *r, const uint8_t *head, uint8_t *out,
			  size_t cap);

size_t nt_http_response_out_max(const struct nt_http_response *r, size_t head_len);
/* The response head for the client: "HTTP/1.1 code reason", the fields
 * without hop-by-hop ones, Via, and "Connection: close" when close is set.
 * When Transfer-Encoding frames the body, Content-Length is left out, and
 * so is Transfer-Encoding itself when the body is relayed until close. */
int nt_http_build_response(const struct nt_http_response *r, const uint8_t *head, bool close,
			   uint8_t *out, size_t cap);

#define NT_HTTP_ERROR_MAX 512

/* A complete error response: status line, text/plain, Content-Length,
 * Connection: close, a Basic challenge on 407, and "notun: why" as the one
 * line body (left out, not its length, for a HEAD request). */
size_t nt_http_build_error(char out[NT_HTTP_ERROR_MAX], int status, const char *why,
			   bool head_only);
const char *nt_http_status_text(int status);

#define NT_HTTP_CONNECT_OK "HTTP/1.1 200 Connection established\r\n\r\n"

/* Proxy-Authorization: "Basic base64(user:pass)". The credentials are
 * compared in constant time (only their length shows). */
bool nt_http_basic_auth_ok(const uint8_t *value, size_t len, const char *user, const char *pass);

#endif
