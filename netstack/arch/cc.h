/* SPDX-License-Identifier: MIT */
/* lwIP port: compiler and platform glue (included by lwIP's arch.h).
 *
 * Linux, GCC or clang, glibc. lwIP's defaults cover the integer types,
 * printf formats and structure packing; this file adds byte order, the
 * random source, and where assertions and diagnostics go.
 */
#ifndef NT_LWIP_ARCH_CC_H
#define NT_LWIP_ARCH_CC_H

/* glibc's BYTE_ORDER; arch.h's LITTLE_ENDIAN/BIG_ENDIAN values agree with it. */
#include <endian.h>
#include <sodium/randombytes.h>

#include "chksum.h"

/* Byte swaps as compiler builtins instead of lwIP's portable functions. */
#if BYTE_ORDER == LITTLE_ENDIAN
#define lwip_htons(x) ((u16_t)__builtin_bswap16((u16_t)(x)))
#define lwip_htonl(x) ((u32_t)__builtin_bswap32((u32_t)(x)))
#endif

/* The Internet checksum 8 bytes at a time (arch/chksum.h). */
#define LWIP_CHKSUM nt_lwip_chksum

/* Ports, DNS ids and the like come from libsodium (getrandom underneath). */
#define LWIP_RAND() ((u32_t)randombytes_random())

/* An lwIP assertion means its internal state is corrupt (double free, broken
 * list): logged at error level, then the process stops, because carrying on
 * with a corrupt stack that parses network input is worse. */
#define LWIP_PLATFORM_ASSERT(msg) nt_lwip_assert_failed((msg), __FILE__, __LINE__)
#define LWIP_PLATFORM_DIAG(args)  nt_lwip_diag args

/* Implemented in netstack/arch/sys_arch.c. */
void nt_lwip_assert_failed(const char *msg, const char *file, int line) __attribute__((noreturn));
void nt_lwip_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The thread that calls nt_lwip_core_claim() owns lwIP until it calls
 * nt_lwip_core_release(); a raw API call from any other thread asserts. */
void nt_lwip_core_claim(void);
void nt_lwip_core_release(void);
void nt_lwip_assert_core_locked(void);

#endif
