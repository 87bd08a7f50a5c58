/* SPDX-License-Identifier: MIT */
/* The portal's own certificate: a self-signed ECDSA P-256 pair made once
 * with mbedTLS beside the configuration, and the fingerprint clients pin. */
#include "core/channel/chan_server.h"

#include <errno.h>
#include <fcntl.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "platform/log.h"
#include "platform/random.h"

#define CERT_NAME  "portal-cert.pem"
#define KEY_NAME   "portal-key.pem"
#define PEM_MAX	   4096
#define SUBJECT	   "CN=notun portal"
#define VALID_DAYS (100 * 365)

static int rng(void *ctx, unsigned char *buf, size_t len)
{
	(void)ctx;
	nt_random_bytes(buf, len);
	return 0;
}

/* Writes the whole text to path, mode 0600, through a temporary name so that
 * a crash leaves no half file behind. */
static int write_private(const char *path, const unsigned char *text, size_t len)
{
	char tmp[NT_CHAN_PATH_MAX + 8];
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
		err = errno ? -errno : -EIO;
	close(fd);
	if (!err && rename(tmp, path) != 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static void validity(char from[16], char to[16])
{
	time_t now = time(NULL), start = now - 86400, end = now + (time_t)VALID_DAYS * 86400;
	struct tm tm;

	strftime(from, 16, "%Y%m%d%H%M%S", gmtime_r(&start, &tm));
	strftime(to, 16, "%Y%m%d%H%M%S", gmtime_r(&end, &tm));
}

static int create_pair(const char *cert_path, const char *key_path)
{
	mbedtls_pk_context key;
	mbedtls_x509write_cert crt;
	mbedtls_mpi serial;
	unsigned char pem[PEM_MAX], serial_bytes[16];
	char from[16], to[16];
	int err = -EIO;

	mbedtls_pk_init(&key);
	mbedtls_x509write_crt_init(&crt);
	mbedtls_mpi_init(&serial);
	if (mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), rng, NULL) != 0)
		goto out;
	nt_random_bytes(serial_bytes, sizeof(serial_bytes));
	serial_bytes[0] &= 0x7f; /* a positive serial number */
	serial_bytes[0] |= 0x01;
	validity(from, to);
	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, &key);
	mbedtls_x509write_crt_set_issuer_key(&crt, &key);
	if (mbedtls_mpi_read_binary(&serial, serial_bytes, sizeof(serial_bytes)) != 0 ||
	    mbedtls_x509write_crt_set_serial(&crt, &serial) != 0 ||
	    mbedtls_x509write_crt_set_subject_name(&crt, SUBJECT) != 0 ||
	    mbedtls_x509write_crt_set_issuer_name(&crt, SUBJECT) != 0 ||
	    mbedtls_x509write_crt_set_validity(&crt, from, to) != 0 ||
	    mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1) != 0)
		goto out;
	if (mbedtls_pk_write_key_pem(&key, pem, sizeof(pem)) != 0)
		goto out;
	err = write_private(key_path, pem, strlen((char *)pem));
	if (err)
		goto out;
	err = -EIO;
	if (mbedtls_x509write_crt_pem(&crt, pem, sizeof(pem), rng, NULL) != 0)
		goto out;
	err = write_private(cert_path, pem, strlen((char *)pem));
out:
	sodium_memzero(pem, sizeof(pem));
	mbedtls_mpi_free(&serial);
	mbedtls_x509write_crt_free(&crt);
	mbedtls_pk_free(&key);
	return err;
}

int nt_chan_cert_selfsigned(const char *dir, char cert_path[NT_CHAN_PATH_MAX],
			    char key_path[NT_CHAN_PATH_MAX])
{
	bool have_cert, have_key;
	int err;

	if (snprintf(cert_path, NT_CHAN_PATH_MAX, "%s/" CERT_NAME, dir) >= NT_CHAN_PATH_MAX ||
	    snprintf(key_path, NT_CHAN_PATH_MAX, "%s/" KEY_NAME, dir) >= NT_CHAN_PATH_MAX)
		return -ENAMETOOLONG;
	have_cert = access(cert_path, F_OK) == 0;
	have_key = access(key_path, F_OK) == 0;
	if (have_cert && have_key)
		return 0;
	if (have_cert != have_key) {
		/* Half a pair: someone else's files, or a damaged one; never overwrite. */
		nt_error("chan", "event=cert_incomplete cert=%s key=%s", cert_path, key_path);
		return -EEXIST;
	}
	err = create_pair(cert_path, key_path);
	if (err) {
		nt_error("chan", "event=cert_create_failed dir=%s err=\"%s\"", dir, strerror(-err));
		return err;
	}
	nt_info("chan", "event=cert_created cert=%s key=%s", cert_path, key_path);
	return 0;
}

int nt_chan_cert_fingerprint(const char *cert_path, char out[NT_CHAN_FP_TEXT_MAX])
{
	mbedtls_x509_crt crt;
	uint8_t digest[32];
	int err = 0;

	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_file(&crt, cert_path) != 0) {
		err = -EINVAL;
		goto out;
	}
	mbedtls_sha256_ret(crt.raw.p, crt.raw.len, digest, 0);
	nt_chan_fp_format(digest, out);
out:
	mbedtls_x509_crt_free(&crt);
	return err;
}
