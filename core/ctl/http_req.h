/* SPDX-License-Identifier: MIT */
/* The metrics endpoint's request parser: an HTTP/1.x request line and
 * header section, read whole before any answer (a GET has no body; the
 * answer closes the connection). Pure. */
#ifndef NT_CORE_CTL_HTTP_REQ_H
#define NT_CORE_CTL_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>

#define NT_CTL_HTTP_TARGET_MAX 1024 /* longer: 414 */
#define NT_CTL_HTTP_HEAD_MAX   8192 /* request line and headers; more: 431 */

struct nt_ctl_http_req {
	bool head;			       /* HEAD: the answer without its body */
	char path[NT_CTL_HTTP_TARGET_MAX + 1]; /* the target without its query */
};

/* buf[len]: what arrived so far; full: no more will fit. Returns 0 when the
 * header section is not complete yet (and not full), 200 with out filled,
 * or the status to answer: 400 (malformed), 405 (not GET or HEAD), 414,
 * 431 (full without the end of the headers), 505 (not HTTP/1.x). */
int nt_ctl_http_parse(const char *buf, size_t len, bool full, struct nt_ctl_http_req *out);

#endif
