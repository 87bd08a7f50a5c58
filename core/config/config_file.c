// SPDX-License-Identifier: MIT
/* Reading a configuration file: the only I/O of the config module. The
 * text is read whole (bounded by NT_CONFIG_MAX_FILE), handed to the parser,
 * and wiped, since it holds keys. */
#include "core/config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

static int file_error(struct nt_config_error *err, const char *path, const char *what, int e)
{
	if (err) {
		memset(err, 0, sizeof(*err));
		snprintf(err->file, sizeof(err->file), "%s", path);
		snprintf(err->message, sizeof(err->message), "%s: %s: %s", err->file, what,
			 strerror(e));
	}
	return -e;
}

/* Reads up to cap bytes; *len > cap - 1 means the file is at least cap long. */
static int read_all(int fd, char *buf, size_t cap, size_t *len)
{
	ssize_t n;

	*len = 0;
	while (*len < cap) {
		n = read(fd, buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	return 0;
}

static bool holds_secrets(const struct nt_config *cfg)
{
	size_t i;

	if (cfg->interface_line || cfg->password[0])
		return true; /* a parsed [Interface] always has a PrivateKey */
	for (i = 0; i < cfg->peer_count; i++) {
		if (cfg->peers[i].has_preshared_key)
			return true;
	}
	return false;
}

int nt_config_load(const char *path, struct nt_config *out, struct nt_config_error *err,
		   bool *secrets_exposed, unsigned int *mode)
{
	struct stat st;
	char *buf;
	size_t len = 0;
	int fd, ret;

	memset(out, 0, sizeof(*out));
	if (secrets_exposed)
		*secrets_exposed = false;
	if (mode)
		*mode = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return file_error(err, path, "cannot open", errno);
	if (fstat(fd, &st) != 0) {
		ret = file_error(err, path, "cannot stat", errno);
		goto err_fd;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = file_error(err, path, "cannot read", EISDIR);
		goto err_fd;
	}
	/* One extra byte tells a file of exactly the limit from a longer one;
	 * one buffer, never reallocated, so no stray copy of a key is left. */
	buf = malloc(NT_CONFIG_MAX_FILE + 1);
	if (!buf) {
		ret = file_error(err, path, "cannot read", ENOMEM);
		goto err_fd;
	}
	ret = read_all(fd, buf, NT_CONFIG_MAX_FILE + 1, &len);
	if (ret) {
		file_error(err, path, "cannot read", -ret);
		goto err_buf;
	}
	ret = nt_config_parse(buf, len, path, out, err);
	if (ret)
		goto err_buf;
	if (mode)
		*mode = (unsigned int)(st.st_mode & 07777);
	if (secrets_exposed)
		*secrets_exposed =
		    S_ISREG(st.st_mode) && (st.st_mode & (S_IRGRP | S_IROTH)) && holds_secrets(out);
err_buf:
	sodium_memzero(buf, len);
	free(buf);
err_fd:
	close(fd);
	return ret;
}
