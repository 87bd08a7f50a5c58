/* SPDX-License-Identifier: MIT */
/* The library's limits (README.md's limits table lists them). */
#ifndef NT_CORE_LIB_LIB_INT_H
#define NT_CORE_LIB_LIB_INT_H

#define NT_LIB_CMDS_MAX	      64 /* commands queued for the session's thread: then -EAGAIN */
#define NT_LIB_CMDS_PER_WAKE  32 /* commands carried out per loop wake-up */
#define NT_LIB_EVENTS_RESERVE 4	 /* slots beyond NOTUN_EVENTS_MAX for FATAL and STOPPED */

#endif
