// SPDX-License-Identifier: MIT
/* lwIP port: time, assertions, diagnostics, thread ownership, TCP ISNs. */
#include "lwip/opt.h"

#include "lwip/sys.h"

#include "arch/hooks.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/random.h"

#include <pthread.h>
#include <sodium/crypto_shorthash_siphash24.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "lwip"

u32_t sys_now(void)
{
	/* lwIP compares these with wrap-around arithmetic; truncation is fine. */
	return (u32_t)(nt_clock_mono_ns() / NT_NS_PER_MS);
}

void nt_lwip_assert_failed(const char *msg, const char *file, int line)
{
	nt_error(MOD, "event=assert_failed file=%s line=%d msg=\"%s\"", file, line, msg);
	abort();
}

void nt_lwip_diag(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	nt_debug(MOD, "event=diag msg=\"%s\"", buf);
}

static pthread_t core_owner;
static bool core_owned;

void nt_lwip_core_claim(void)
{
	core_owner = pthread_self();
	core_owned = true;
}

void nt_lwip_core_release(void)
{
	core_owned = false;
}

void nt_lwip_assert_core_locked(void)
{
	if (core_owned && !pthread_equal(core_owner, pthread_self()))
		nt_lwip_assert_failed("lwIP called from a thread that does not own it", __FILE__,
				      __LINE__);
}

static unsigned char isn_key[crypto_shorthash_siphash24_KEYBYTES];
static bool isn_key_set;

static size_t isn_put_addr(unsigned char *out, const ip_addr_t *addr)
{
	if (IP_IS_V6(addr)) {
		memcpy(out, ip_2_ip6(addr)->addr, 16);
		return 16;
	}
	memcpy(out, &ip_2_ip4(addr)->addr, 4);
	return 4;
}

u32_t nt_lwip_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
		      u16_t remote_port)
{
	unsigned char msg[2 * 16 + 2 * 2];
	unsigned char hash[crypto_shorthash_siphash24_BYTES];
	size_t n = 0;
	u32_t h;

	if (!isn_key_set) {
		nt_random_bytes(isn_key, sizeof(isn_key));
		isn_key_set = true;
	}
	n += isn_put_addr(msg + n, local_ip);
	n += isn_put_addr(msg + n, remote_ip);
	memcpy(msg + n, &local_port, 2);
	memcpy(msg + n + 2, &remote_port, 2);
	n += 4;
	crypto_shorthash_siphash24(hash, msg, n, isn_key);
	memcpy(&h, hash, sizeof(h));
	/* M: a clock ticking every 4 us (RFC 6528 section 3). */
	return (u32_t)(nt_clock_mono_ns() / 4000) + h;
}
