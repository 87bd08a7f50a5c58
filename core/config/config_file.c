// SPDX-License-Identifier: MIT
/* Reading a configuration file: the only I/O of the config module. The
 * text is read whole (bounded by NT_CONFIG_MAX_FILE), handed to the parser,
 * and wiped, since it holds keys. */
#include "core/config/config_int.h"
#include "core/config/token.h"

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

int nt_config_read_text(const char *path, char **text, size_t *len, unsigned int *mode,
			struct nt_config_error *err)
{
	struct stat st;
	char *buf;
	int fd, ret;

	*text = NULL;
	*len = 0;
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
	ret = read_all(fd, buf, NT_CONFIG_MAX_FILE + 1, len);
	if (ret) {
		file_error(err, path, "cannot read", -ret);
		sodium_memzero(buf, *len);
		free(buf);
		*len = 0;
		goto err_fd;
	}
	*text = buf;
	/* Only a regular file can be chmod-ed to private. */
	*mode = S_ISREG(st.st_mode) ? (unsigned int)(st.st_mode & 07777) : 0600;
err_fd:
	close(fd);
	return ret;
}

int nt_config_resolve_path(const char *config_path, char path[NT_CONFIG_PATH_MAX + 1])
{
	const char *slash = strrchr(config_path, '/');
	size_t dir = slash ? (size_t)(slash - config_path) + 1 : 0, n = strlen(path);

	if (path[0] == '/' || dir == 0)
		return 0;
	if (dir + n > NT_CONFIG_PATH_MAX)
		return -ENAMETOOLONG;
	memmove(path + dir, path, n + 1);
	memcpy(path, config_path, dir);
	return 0;
}

static bool holds_secrets(const struct nt_config *cfg)
{
	size_t i;

	if (cfg->interface_line || cfg->password[0] || cfg->portal.token[0])
		return true; /* a parsed [Interface] always has a PrivateKey */
	for (i = 0; i < cfg->peer_count; i++) {
		if (cfg->peers[i].has_preshared_key)
			return true;
	}
	return false;
}

/* [Portal] TokenFile: read now, so that a bad file stops the start. */
static int load_token_file(const char *path, struct nt_config *cfg, struct nt_config_error *err)
{
	struct nt_config_portal *pt = &cfg->portal;
	char *text = NULL, *s;
	size_t len = 0, n;
	unsigned int mode = 0;
	int ret;

	if (nt_config_resolve_path(path, pt->token_file) != 0)
		return nt_config_set_error(err, cfg->filename, pt->token_line, "TokenFile",
					   "the file name is too long");
	ret = nt_config_read_text(pt->token_file, &text, &len, &mode, err);
	if (ret)
		return nt_config_set_error(err, cfg->filename, pt->token_line, "TokenFile",
					   "cannot read %s: %s", pt->token_file, strerror(-ret));
	s = text;
	n = len;
	while (n > 0 && strchr(" \t\r\n", s[n - 1]))
		n--;
	while (n > 0 && strchr(" \t\r\n", *s)) {
		s++;
		n--;
	}
	if (!nt_token_check(s, n, NULL)) {
		ret = nt_config_set_error(err, cfg->filename, pt->token_line, "TokenFile",
					  "%s does not hold a token (ntc_ or ntg_ and 43 base64url "
					  "characters)",
					  pt->token_file);
		goto out;
	}
	memcpy(pt->token, s, n);
	pt->token[n] = '\0';
	if (mode & (S_IRGRP | S_IROTH))
		nt_config_add_warning(cfg, pt->token_line, "TokenFile",
				      "%s is readable by group or others (mode %04o); chmod 600",
				      pt->token_file, mode);
out:
	sodium_memzero(text, len);
	free(text);
	return ret;
}

/* Files named in the configuration are relative to its directory. */
static int resolve_paths(const char *path, struct nt_config *cfg, struct nt_config_error *err)
{
	if (cfg->portal.ca_file[0] && nt_config_resolve_path(path, cfg->portal.ca_file) != 0)
		return nt_config_set_error(err, cfg->filename, 0, "CA",
					   "the file name is too long");
	if (cfg->portal.token_file[0])
		return load_token_file(path, cfg, err);
	return 0;
}

int nt_config_load(const char *path, struct nt_config *out, struct nt_config_error *err,
		   bool *secrets_exposed, unsigned int *mode)
{
	char *buf = NULL;
	size_t len = 0;
	unsigned int bits = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if (secrets_exposed)
		*secrets_exposed = false;
	if (mode)
		*mode = 0;
	ret = nt_config_read_text(path, &buf, &len, &bits, err);
	if (ret)
		return ret;
	ret = nt_config_parse(buf, len, path, out, err);
	if (ret)
		goto out;
	ret = resolve_paths(path, out, err);
	if (ret) {
		nt_config_free(out);
		goto out;
	}
	if (mode)
		*mode = bits;
	if (secrets_exposed)
		*secrets_exposed = (bits & (S_IRGRP | S_IROTH)) && holds_secrets(out);
out:
	sodium_memzero(buf, len);
	free(buf);
	return ret;
}
