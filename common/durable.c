/* durable.c: crash-safe file writes. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "util.h"

int
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

ssize_t
read_full(int fd, void *p, size_t n)
{
	char *c = p;
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, c + got, n - got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int
fsync_dir(const char *path)
{
	int fd, e;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fsync(fd) != 0) {
		/* Some filesystems cannot fsync a directory; the rename is then
		 * as durable as that filesystem makes it. */
		if (errno != EINVAL && errno != EBADF && errno != EROFS) {
			e = errno;
			close(fd);
			errno = e;
			return -1;
		}
	}
	return close(fd);
}

/* No xstrdup or buf here: the archive module links this file and must
 * get errors back, never an exit. */
int
fsync_parent(const char *path)
{
	char *copy = strdup(path);
	int r, e;

	if (copy == NULL)
		return -1;
	r = fsync_dir(dirname(copy));
	e = errno;
	free(copy);
	errno = e;
	return r;
}

static int
same_dir(const char *a, const char *b)
{
	const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
	size_t la = sa ? (size_t)(sa - a) : 0, lb = sb ? (size_t)(sb - b) : 0;

	return la == lb && strncmp(a, b, la) == 0;
}

int
durable_rename(const char *from, const char *to)
{
	if (rename(from, to) != 0)
		return -1;
	if (fsync_parent(to) != 0)
		return -1;
	if (!same_dir(from, to) && fsync_parent(from) != 0)
		return -1;
	return 0;
}

int
durable_mkdir(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) != 0) {
		if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		return -1;
	}
	return fsync_parent(path);
}

int
open_regular(const char *path)
{
	struct stat st;
	int fd, fl, e;

	/* Non-blocking: a FIFO at the name would otherwise hang open() for
	 * ever (an archiver or a recovery stalled without a word). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0) {
		e = errno;
	} else if (!S_ISREG(st.st_mode)) {
		e = EINVAL;
	} else if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		e = errno;
	} else
		return fd;
	close(fd);
	errno = e;
	return -1;
}
