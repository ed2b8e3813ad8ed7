/* walpush.c: archive one WAL file (see walpush.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "exitcodes.h"
#include "walarch.h"
#include "walfile.h"
#include "walname.h"
#include "walpush.h"

/* Open and lock the temporary file; -1 with msg on failure.  The check
 * that the path still names the locked inode guards against a push that
 * renamed its temporary file to the final name between our open and our
 * lock. */
static int
lock_tmp(const char *tmp, char *msg, size_t msglen)
{
	for (int tries = 0; tries < 100; tries++) {
		struct stat a, b;
		int fd;

		fd = open(tmp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return walfile_msg(-1, msg, msglen, "%s: %s", tmp, strerror(errno));
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			int e = errno;

			if (e == EWOULDBLOCK) {
				close(fd);
				return walfile_msg(-1, msg, msglen, "%s: another push of "
				    "this file is running", tmp);
			}
			/* A filesystem without locks: PostgreSQL archives
			 * one file at a time, so go on unlocked. */
			if (e != ENOLCK && e != EOPNOTSUPP && e != EINVAL) {
				close(fd);
				return walfile_msg(-1, msg, msglen, "lock %s: %s", tmp,
				    strerror(e));
			}
		}
		if (fstat(fd, &a) == 0 && stat(tmp, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return fd;
		close(fd);
	}
	return walfile_msg(-1, msg, msglen, "%s: cannot lock, it keeps changing", tmp);
}

int
walpush(const char *archive, const char *src, const char *name,
    uint32_t comp, int level, char *msg, size_t msglen)
{
	struct walfile_info info;
	struct walname wn;
	struct buf tmp = {0}, final = {0};
	char why[512], *waldir = NULL, *existing = NULL;
	int in = -1, tfd = -1, afd, rc, ret;
	struct stat st;

	msg[0] = '\0';
	if (walname_parse(name, &wn) == WAL_OTHER)
		return walfile_msg(EXIT_USAGE, msg, msglen, "not a WAL file name: %s", name);
	/* A missing archive is most likely an unmounted filesystem:
	 * creating it would fill the wrong disk, so only wal/ is created. */
	if (stat(archive, &st) != 0)
		return walfile_msg(EXIT_RETRY, msg, msglen, "archive %s: %s", archive,
		    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return walfile_msg(EXIT_RETRY, msg, msglen, "archive %s: not a directory",
		    archive);
	waldir = walarch_path(archive, "wal");
	if (durable_mkdir(waldir, 0700) != 0) {
		ret = walfile_msg(EXIT_RETRY, msg, msglen, "%s: %s", waldir, strerror(errno));
		goto out;
	}
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		ret = walfile_msg(EXIT_RETRY, msg, msglen, "%s: %s", src, strerror(errno));
		goto out;
	}
	buf_printf(&tmp, "%s/.%s.tmp", waldir, name);
	tfd = lock_tmp(tmp.data, msg, msglen);
	if (tfd < 0) {
		ret = EXIT_RETRY;
		goto out;
	}

	afd = walarch_open(archive, name, &existing);
	if (afd >= 0) {
		rc = walfile_read(afd, -1, in, &info, why, sizeof(why));
		close(afd);
		unlink(tmp.data);
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
	if (errno != ENOENT) {
		ret = walfile_msg(EXIT_RETRY, msg, msglen, "%s/%s: %s", waldir, name,
		    strerror(errno));
		unlink(tmp.data);
		goto out;
	}

	buf_printf(&final, "%s/%s%s", waldir, name,
	    comp == WALFILE_ZSTD ? ".zst" : "");
	ret = EXIT_RETRY;
	if (ftruncate(tfd, 0) != 0) {
		walfile_msg(0, msg, msglen, "%s: %s", tmp.data, strerror(errno));
		goto fail;
	}
	rc = walfile_store(in, tfd, comp, level, &info, why, sizeof(why));
	if (rc != WF_OK) {
		walfile_msg(0, msg, msglen, "%s -> %s: %s", src, tmp.data, why);
		goto fail;
	}
	if (fsync(tfd) != 0) {
		walfile_msg(0, msg, msglen, "fsync %s: %s", tmp.data, strerror(errno));
		goto fail;
	}
	if (rename(tmp.data, final.data) != 0) {
		walfile_msg(0, msg, msglen, "rename %s to %s: %s", tmp.data, final.data,
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
		walfile_msg(0, msg, msglen, "close %s: %s", final.data, strerror(errno));
		goto out;
	}
	ret = EXIT_DONE;
	goto out;
fail:
	/* Unlink while still holding the lock, so no other push is using it. */
	unlink(tmp.data);
out:
	if (tfd >= 0)
		close(tfd);
	if (in >= 0)
		close(in);
	free(waldir);
	free(existing);
	buf_free(&tmp);
	buf_free(&final);
	return ret;
}
