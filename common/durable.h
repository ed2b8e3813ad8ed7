/* Tier: generic (no libpq, nothing of PgQ, Londiste or WAL; includes generic headers only). */
/* durable.h: crash-safe file writes (temp name, fsync, rename, fsync dir).
 *
 * The rule: a file that must survive a crash is written under a temporary
 * name in its final directory, fsynced, closed (the close checked),
 * renamed, and then the directory is fsynced.  Any failure unlinks the
 * temporary file.  A failed fsync is never retried: the kernel may have
 * dropped the dirty pages, so the data is reported lost.
 *
 * Functions return 0 on success and -1 with errno set on failure. */
#ifndef DURABLE_H
#define DURABLE_H

#include <stddef.h>
#include <sys/types.h>

#include "util.h"

/* write(2) until all n bytes are written; EINTR is retried, a short
 * write continues, 0 bytes written is reported as ENOSPC. */
MUST_CHECK int write_all(int fd, const void *p, size_t n);

/* read(2) until n bytes or EOF; returns the byte count or -1. */
MUST_CHECK ssize_t read_full(int fd, void *p, size_t n);

/* fsync the directory at path. */
MUST_CHECK int fsync_dir(const char *path);

/* fsync the directory that contains path ("." when path has no '/'). */
MUST_CHECK int fsync_parent(const char *path);

/* rename(from, to) and fsync the directory of `to` (and of `from` when it
 * lies in another directory). */
MUST_CHECK int durable_rename(const char *from, const char *to);

/* mkdir(path, mode) and fsync its parent; an existing directory is
 * success. */
MUST_CHECK int durable_mkdir(const char *path, mode_t mode);

/* open(path, O_RDONLY) of a regular file only: never blocks on a FIFO;
 * -1 with errno (EINVAL: it exists and is not a regular file). */
MUST_CHECK int open_regular(const char *path);

#endif
