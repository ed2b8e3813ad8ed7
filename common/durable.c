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
dfile_open(struct dfile *f, const char *path, mode_t mode)
{
	const char *slash = strrchr(path, '/');
	size_t n = strlen(path) + 32;

	f->fd = -1;
	f->tmp = malloc(n);
	f->path = strdup(path);
	if (f->tmp == NULL || f->path == NULL) {
		free(f->tmp);
		free(f->path);
		f->tmp = f->path = NULL;
		errno = ENOMEM;
		return -1;
	}
	if (slash != NULL)
		snprintf(f->tmp, n, "%.*s/.%s.tmp.%ld", (int)(slash - path), path,
		    slash + 1, (long)getpid());
	else
		snprintf(f->tmp, n, ".%s.tmp.%ld", path, (long)getpid());
	f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode);
	if (f->fd < 0) {
		int e = errno;

		free(f->tmp);
		free(f->path);
		f->tmp = f->path = NULL;
		errno = e;
		return -1;
	}
	return 0;
}

int
dfile_write(struct dfile *f, const void *p, size_t n)
{
	if (write_all(f->fd, p, n) != 0) {
		int e = errno;

		dfile_abort(f);
		errno = e;
		return -1;
	}
	return 0;
}

int
dfile_commit(struct dfile *f)
{
	int e;

	if (fsync(f->fd) != 0)
		goto fail;
	e = close(f->fd);
	f->fd = -1;
	if (e != 0)
		goto fail;
	if (rename(f->tmp, f->path) != 0)
		goto fail;
	free(f->tmp);
	f->tmp = NULL;
	e = fsync_parent(f->path);
	free(f->path);
	f->path = NULL;
	return e;
fail:
	e = errno;
	dfile_abort(f);
	errno = e;
	return -1;
}

void
dfile_abort(struct dfile *f)
{
	int e = errno;

	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->tmp != NULL)
		unlink(f->tmp);
	free(f->tmp);
	free(f->path);
	f->tmp = f->path = NULL;
	errno = e;
}
