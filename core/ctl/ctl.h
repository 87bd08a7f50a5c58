/* SPDX-License-Identifier: MIT */
/* The roles' observability: the control socket that `notun status` asks
 * (a unix stream socket, mode 0600, peers of our own uid only) and the
 * [Metrics] HTTP endpoint (/metrics, /readyz, /healthz), both served on the
 * role's loop from one snapshot (snap.h). README.md in this folder
 * documents both, status.md the JSON. */
#ifndef NT_CORE_CTL_CTL_H
#define NT_CORE_CTL_CTL_H

#include <stddef.h>

#include "core/ctl/snap.h"

struct nt_config;
struct nt_ctl;
struct nt_loop;

#define NT_CTL_MAX_CONNS     8	    /* control socket connections at once */
#define NT_CTL_REQ_MAX	     64	    /* a control request line */
#define NT_CTL_TIMEOUT_MS    5000   /* a connection's whole life */
#define NT_CTL_METRICS_CONNS 16	    /* metrics connections at once */
#define NT_CTL_NONE	     "none" /* --control none */

struct nt_ctl_config {
	struct nt_ctl_source src;    /* src.command: the status's "command" */
	const char *control;	     /* NULL: the default path; NT_CTL_NONE: none */
	const char *config_path;     /* for the default path */
	const struct nt_config *cfg; /* its [Metrics] */
};

/* 0, or a negative errno when the metrics endpoint cannot listen (logged).
 * A control socket that cannot be made is logged and left out. */
int nt_ctl_start(struct nt_loop *loop, const struct nt_ctl_config *cfg, struct nt_ctl **out);
/* Closes both and removes the socket file. NULL is a no-op. */
void nt_ctl_stop(struct nt_ctl *c);
/* SIGUSR1: the counters now, one info line per counter set ("event=counters
 * set=engine opens=..."), keys as in the JSON, and one per peer
 * ("event=peer_counters"). log.c. */
void nt_ctl_log_counters(struct nt_ctl *c);
void nt_ctl_log_snap(const struct nt_ctl_snap *s, const char *mod);

/* The control socket of the configuration at config_path:
 * $XDG_RUNTIME_DIR/notun/NAME.sock, or DIR/NAME.sock beside the file
 * without XDG_RUNTIME_DIR (NAME: the file's name without ".conf"). 0 or
 * -ENAMETOOLONG. */
int nt_ctl_default_path(const char *config_path, char *out, size_t cap);
/* The socket a role of config_path serves: control as given (NULL: the
 * default path above). 0, -ENOENT (control is NT_CTL_NONE) or
 * -ENAMETOOLONG. */
int nt_ctl_socket_path(const char *config_path, const char *control, char *out, size_t cap);
/* The configuration's NAME as above. */
void nt_ctl_config_name(const char *config_path, char *out, size_t cap);

#endif
