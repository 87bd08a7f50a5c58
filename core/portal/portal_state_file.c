/* SPDX-License-Identifier: MIT */
/* The state file on disk: read whole, replaced atomically. The only I/O of
 * core/portal. */
#include "core/portal/portal_state.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = write(fd, s, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		rc = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

int nt_portal_state_write(const char *path, const struct nt_portal_state *st)
{
	char *text = NULL, *tmp = NULL;
	long len = nt_portal_state_format(st, &text);
	int fd = -1, rc;

	if (len < 0)
		return (int)len;
	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
		tmp = NULL;
		rc = -ENOMEM;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	/* An existing temporary (a crash before the rename) keeps its mode. */
	if (fchmod(fd, 0600)) {
		rc = -errno;
		goto unlink;
	}
	rc = write_all(fd, text, (size_t)len);
	if (rc == 0 && fsync(fd))
		rc = -errno;
	if (rc)
		goto unlink;
	if (close(fd)) {
		fd = -1;
		rc = -errno;
		goto unlink;
	}
	fd = -1;
	if (rename(tmp, path)) {
		rc = -errno;
		goto unlink;
	}
	rc = fsync_dir(path);
	goto out;
unlink:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	sodium_memzero(text, (size_t)(len > 0 ? len : 0));
	free(text);
	return rc;
}

int nt_portal_state_read(const char *path, int64_t now_unix, struct nt_portal_state *out, char *err,
			 size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
	struct stat sb;
	char *text = NULL, where[256];
	size_t len = 0;

	memset(out, 0, sizeof(*out));
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || sb.st_size > NT_PORTAL_STATE_FILE_MAX) {
		snprintf(err, errlen, "%s: not a regular file of at most %u bytes", path,
			 NT_PORTAL_STATE_FILE_MAX);
		rc = -EINVAL;
		goto out;
	}
	text = malloc((size_t)sb.st_size + 1);
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	while (len < (size_t)sb.st_size) {
		ssize_t n = read(fd, text + len, (size_t)sb.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EINVAL;
			snprintf(err, errlen, "%s: %s", path, n < 0 ? strerror(errno) : "shrank");
			goto out;
		}
		len += (size_t)n;
	}
	rc = nt_portal_state_parse(text, len, now_unix, out, where, sizeof(where));
	if (rc == -EINVAL)
		snprintf(err, errlen, "%s:%s", path, where);
out:
	close(fd);
	if (text)
		sodium_memzero(text, len);
	free(text);
	return rc;
}
