/* SPDX-License-Identifier: MIT */
/* The peer's certificate (DER) of a client connection, for the pin.
 *
 * libwebsockets 4.1 on mbedTLS has no call that hands out the peer's
 * certificate itself (lws_get_ssl() is OpenSSL-only, and the certificate
 * information it offers has no DER). Its lws_tls_peer_cert_info() looks the
 * certificate up through ssl_get_peer_mbedtls_x509_crt(); the Makefile links
 * with --wrap for that symbol, and this wrapper remembers what the lookup
 * returned, per thread, for nt_chan_peer_cert_der(). */
#include "core/channel/chan_lws.h"

#include <mbedtls/x509_crt.h>

mbedtls_x509_crt *__real_ssl_get_peer_mbedtls_x509_crt(void *ssl);
mbedtls_x509_crt *__wrap_ssl_get_peer_mbedtls_x509_crt(void *ssl);

static _Thread_local mbedtls_x509_crt *last_peer;

mbedtls_x509_crt *__wrap_ssl_get_peer_mbedtls_x509_crt(void *ssl)
{
	last_peer = __real_ssl_get_peer_mbedtls_x509_crt(ssl);
	return last_peer;
}

const unsigned char *nt_chan_peer_cert_der(struct lws *wsi, size_t *len)
{
	union lws_tls_cert_info_results info;

	last_peer = NULL;
	if (lws_tls_peer_cert_info(wsi, LWS_TLS_CERT_INFO_USAGE, &info, 0) != 0 || !last_peer ||
	    !last_peer->raw.p)
		return NULL;
	*len = last_peer->raw.len;
	return last_peer->raw.p;
}
