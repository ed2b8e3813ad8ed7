/* walpush.c: archive one WAL file (see walpush.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "exitcodes.h"
#include "walfile.h"
#include "walname.h"
#include "walpush.h"
#include "walseg.h"

/* A path into a PATH_MAX buffer; the caller checked the lengths. */
static void
pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
pathf(char *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
}

/* Create and lock the temporary file; -1 with msg on failure.
 *
 * It is created with O_EXCL | O_NOFOLLOW and mode 0600, never reused: a
 * leftover of a killed push may have another mode (a 0644 file would make
 * the archived segment world-readable), and whatever sits at the name
 * (a hard link to another file, a symbolic link) must never be written
 * through.  A leftover that nobody holds locked is removed first; one
 * that is locked belongs to a push of this file that is running.  The
 * check that the path still names the locked inode guards against a
 * push that removed or renamed our file between its creation and our
 * lock. */
static int
lock_tmp(const char *tmp, char *msg, size_t msglen)
{
	for (int tries = 0; tries < 100; tries++) {
		struct stat a, b;
		int fd;

		fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0600);
		if (fd < 0 && errno == EEXIST) {
			int old = open(tmp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
			    O_CLOEXEC);

			if (old < 0) {
				if (errno == ENOENT)
					continue;
				/* A symbolic link (ELOOP) or something we may
				 * not open: only the name goes. */
				if (unlink(tmp) != 0 && errno != ENOENT)
					return walfile_msg(-1, msg, msglen,
					    "remove stale %s: %s", tmp,
					    strerror(errno));
				continue;
			}
			if (flock(old, LOCK_EX | LOCK_NB) != 0 &&
			    errno == EWOULDBLOCK) {
				close(old);
				return walfile_msg(-1, msg, msglen, "%s: another "
				    "push of this file is running", tmp);
			}
			/* Stale: remove the name while holding its lock, if
			 * it still names the file we locked. */
			if (fstat(old, &a) == 0 && lstat(tmp, &b) == 0 &&
			    a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
			    unlink(tmp) != 0 && errno != ENOENT) {
				int e = errno;

				close(old);
				return walfile_msg(-1, msg, msglen,
				    "remove stale %s: %s", tmp, strerror(e));
			}
			close(old);
			continue;
		}
		if (fd < 0)
			return walfile_msg(-1, msg, msglen, "%s: %s", tmp, strerror(errno));
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			int e = errno;

			/* Another push took our new file for a leftover and
			 * is removing it: start again. */
			if (e == EWOULDBLOCK) {
				close(fd);
				continue;
			}
			/* A filesystem without locks: PostgreSQL archives
			 * one file at a time, so go on unlocked. */
			if (e != ENOLCK && e != EOPNOTSUPP && e != EINVAL) {
				close(fd);
				unlink(tmp);
				return walfile_msg(-1, msg, msglen, "lock %s: %s", tmp,
				    strerror(e));
			}
		}
		if (fstat(fd, &a) == 0 && lstat(tmp, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return fd;
		close(fd);
	}
	return walfile_msg(-1, msg, msglen, "%s: cannot lock, it keeps changing", tmp);
}

/* A name that is there but leads nowhere: a symbolic link whose target
 * is gone (an archive linked into a file system not mounted).  Taken for
 * "nothing archived", it would be archived again and the link lost. */
static int
dangling(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* The archived copy of name, plain or ".zst", opened read-only; -1 with
 * errno (ENOENT when neither exists).  path (PATH_MAX bytes) gets the
 * name opened.  Not walarch_open(): that one allocates with xmalloc. */
static int
open_archived(const char *waldir, const char *name, char *path)
{
	int fd;

	pathf(path, "%s/%s", waldir, name);
	fd = open_regular(path);
	if (fd < 0 && errno == ENOENT && !dangling(path)) {
		pathf(path, "%s/%s.zst", waldir, name);
		fd = open_regular(path);
		if (fd < 0 && errno == ENOENT && dangling(path))
			errno = ENOLINK;
	} else if (fd < 0 && errno == ENOENT)
		errno = ENOLINK;
	return fd;
}

/* A segment is refused before anything is written when it is not one:
 * PostgreSQL would refuse it at recovery, long after the archive took it.
 * Only a regular file can be looked at before it is read; the copy is
 * checked again in any case.  EXIT_DONE when it may go on. */
static int
precheck(int in, const char *src, const char *name, const struct walname *wn,
    char *msg, size_t msglen)
{
	unsigned char head[WALSEG_HDR];
	char why[256];
	struct stat st;
	ssize_t r;

	if (fstat(in, &st) != 0)
		return walfile_msg(EXIT_RETRY, msg, msglen, "%s: %s", src,
		    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return EXIT_DONE;
	do
		r = pread(in, head, sizeof(head), 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return walfile_msg(EXIT_RETRY, msg, msglen, "%s: %s", src,
		    strerror(errno));
	if (walseg_check(head, (size_t)r, (uint64_t)st.st_size, wn, NULL,
	    why, sizeof(why)) != 0)
		return walfile_msg(EXIT_USAGE, msg, msglen, "%s: not WAL "
		    "segment %s: %s; nothing archived", src, name, why);
	return EXIT_DONE;
}

int
walpush(const char *archive, const char *src, const char *name,
    uint32_t comp, int level, char *msg, size_t msglen)
{
	struct walfile_info info;
	struct walname wn;
	char why[512], waldir[PATH_MAX], tmp[PATH_MAX], final[PATH_MAX],
	    existing[PATH_MAX];
	int in = -1, tfd = -1, afd, rc, ret;
	struct stat st;

	msg[0] = '\0';
	if (walname_parse(name, &wn) == WAL_OTHER)
		return walfile_msg(EXIT_USAGE, msg, msglen, "not a WAL file name: %s", name);
	/* Every path is built in fixed buffers (this runs inside the
	 * server: no allocation that could exit); the longest is checked. */
	if (strlen(archive) + strlen(name) + 16 >= PATH_MAX)
		return walfile_msg(EXIT_USAGE, msg, msglen, "archive path too long: %s",
		    archive);
	/* A missing archive is most likely an unmounted filesystem:
	 * creating it would fill the wrong disk, so only wal/ is created. */
	if (stat(archive, &st) != 0)
		return walfile_msg(EXIT_RETRY, msg, msglen, "archive %s: %s", archive,
		    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return walfile_msg(EXIT_RETRY, msg, msglen, "archive %s: not a directory",
		    archive);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return walfile_msg(EXIT_RETRY, msg, msglen, "%s: %s", src,
		    strerror(errno));
	if (wn.kind == WAL_SEGMENT && (ret = precheck(in, src, name, &wn,
	    msg, msglen)) != EXIT_DONE)
		goto out;
	pathf(waldir, "%s/wal", archive);
	if (durable_mkdir(waldir, 0700) != 0) {
		ret = walfile_msg(EXIT_RETRY, msg, msglen, "%s: %s", waldir,
		    strerror(errno));
		goto out;
	}
	pathf(tmp, "%s/.%s.tmp", waldir, name);
	tfd = lock_tmp(tmp, msg, msglen);
	if (tfd < 0) {
		ret = EXIT_RETRY;
		goto out;
	}

	afd = open_archived(waldir, name, existing);
	if (afd >= 0) {
		rc = walfile_read(afd, -1, in, &info, why, sizeof(why));
		if (rc == WF_OK || rc == WF_DIFFER)
			rc = walfile_check_name(&info, name, rc, why, sizeof(why));
		close(afd);
		unlink(tmp);
		switch (rc) {
		case WF_OK:
			ret = walfile_msg(EXIT_DONE, msg, msglen,
			    "%s: already archived with the same content", name);
			break;
		case WF_DIFFER:
			ret = walfile_msg(EXIT_REFUSE, msg, msglen, "%s: already archived "
			    "with different content; archived copy left as is",
			    existing);
			break;
		case WF_CORRUPT:
			ret = walfile_msg(EXIT_REFUSE, msg, msglen, "%s: already archived, "
			    "but the archived copy is damaged (%s); left as is",
			    existing, why);
			break;
		default:
			ret = walfile_msg(EXIT_RETRY, msg, msglen, "compare with %s: %s",
			    existing, why);
		}
		goto out;
	}
	if (errno == ENOLINK || errno == EINVAL) {
		ret = walfile_msg(EXIT_REFUSE, msg, msglen, "%s/%s: %s; left as is",
		    waldir, name, errno == ENOLINK ?
		    "a symbolic link to nothing stands at the name (archive not mounted?)" :
		    "exists and is not a regular file");
		unlink(tmp);
		goto out;
	}
	if (errno != ENOENT) {
		ret = walfile_msg(EXIT_RETRY, msg, msglen, "%s/%s: %s", waldir, name,
		    strerror(errno));
		unlink(tmp);
		goto out;
	}

	pathf(final, "%s/%s%s", waldir, name, comp == WALFILE_ZSTD ? ".zst" : "");
	ret = EXIT_RETRY;
	rc = walfile_store(in, tfd, comp, level, wn.kind == WAL_SEGMENT ?
	    WALSEG_MAX : UINT64_MAX, name, &info, why, sizeof(why));
	if (rc == WF_CORRUPT) {
		ret = walfile_msg(EXIT_USAGE, msg, msglen, "%s: not WAL segment "
		    "%s: %s; nothing archived", src, name, why);
		goto fail;
	}
	if (rc != WF_OK) {
		walfile_msg(0, msg, msglen, "%s -> %s: %s", src, tmp, why);
		goto fail;
	}
	/* Again on what was copied: a source that is not a regular file
	 * was not checked before, and a file may change while it is read. */
	if (wn.kind == WAL_SEGMENT && walseg_check(info.head, info.headlen,
	    info.size, &wn, NULL, why, sizeof(why)) != 0) {
		ret = walfile_msg(EXIT_USAGE, msg, msglen, "%s: not WAL segment "
		    "%s: %s; nothing archived", src, name, why);
		goto fail;
	}
	if (fsync(tfd) != 0) {
		walfile_msg(0, msg, msglen, "fsync %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (rename(tmp, final) != 0) {
		walfile_msg(0, msg, msglen, "rename %s to %s: %s", tmp, final,
		    strerror(errno));
		goto fail;
	}
	if (fsync_dir(waldir) != 0) {
		/* The file is complete under its name; the rename may not
		 * survive a crash, and a retry will find it or push again. */
		walfile_msg(0, msg, msglen, "fsync %s: %s", waldir, strerror(errno));
		goto out;
	}
	rc = close(tfd);
	tfd = -1;
	if (rc != 0) {
		walfile_msg(0, msg, msglen, "close %s: %s", final, strerror(errno));
		goto out;
	}
	ret = EXIT_DONE;
	goto out;
fail:
	/* Unlink while still holding the lock, so no other push is using it. */
	unlink(tmp);
out:
	if (tfd >= 0)
		close(tfd);
	if (in >= 0)
		close(in);
	return ret;
}
