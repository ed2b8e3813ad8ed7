/* wal-push: archive one WAL file durably; PostgreSQL's archive_command.
 *
 * The file is written under a temporary name in ARCHIVE/wal, fsynced,
 * renamed and the directory fsynced, so after a crash the final name
 * holds the whole file or nothing.  An archived name is never replaced:
 * the same content again is success (PostgreSQL retries after a crash),
 * other content is refused.  Pushes of one name are serialized by a lock
 * on its temporary file, which also lets a retry reuse the temporary
 * file a killed push left behind. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "exitcodes.h"
#include "util.h"
#include "walarch.h"
#include "walfile.h"
#include "walname.h"

#define DEFAULT_LEVEL 1

static const char usage_line[] =
    "usage: wal-push -A archive [--compress zstd|none] [--level n] path name\n";

static void
usage(void)
{
	fputs(usage_line, stderr);
	exit(EXIT_USAGE);
}

static void
help(void)
{
	fputs(usage_line, stdout);
	fputs("Archive the WAL file at path as name in archive/wal.\n"
	    "  -A, --archive DIR      the archive directory (must exist)\n"
	    "  -c, --compress METHOD  zstd or none (default none)\n"
	    "  -l, --level N          zstd level, 1..19 (default 1)\n"
	    "  -h, --help             this help\n"
	    "  -V, --version          print the version\n", stdout);
	finish(EXIT_DONE);
}

/* Open and lock the temporary file.  The check that the path still names
 * the locked inode guards against a push that renamed its temporary file
 * to the final name between our open and our lock. */
static int
lock_tmp(const char *tmp)
{
	for (int tries = 0; tries < 100; tries++) {
		struct stat a, b;
		int fd;

		fd = open(tmp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			err(EXIT_RETRY, "%s", tmp);
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			if (errno == EWOULDBLOCK)
				errx(EXIT_RETRY, "%s: another wal-push of this "
				    "file is running", tmp);
			/* A filesystem without locks: PostgreSQL runs one
			 * archive_command at a time, so go on unlocked. */
			if (errno != ENOLCK && errno != EOPNOTSUPP &&
			    errno != EINVAL)
				err(EXIT_RETRY, "lock %s", tmp);
		}
		if (fstat(fd, &a) == 0 && stat(tmp, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return fd;
		close(fd);
	}
	errx(EXIT_RETRY, "%s: cannot lock, it keeps changing", tmp);
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "archive",  required_argument, NULL, 'A' },
		{ "compress", required_argument, NULL, 'c' },
		{ "help",     no_argument,       NULL, 'h' },
		{ "level",    required_argument, NULL, 'l' },
		{ "version",  no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *archive = NULL, *src, *name;
	struct walfile_info info;
	struct walname wn;
	struct buf tmp = {0}, final = {0};
	char msg[512], *waldir, *existing = NULL;
	uint32_t comp = WALFILE_NONE;
	int c, level = DEFAULT_LEVEL, in, tfd, afd, rc;
	struct stat st;

	while ((c = getopt_long(argc, argv, "A:c:hl:V", opts, NULL)) != -1) {
		switch (c) {
		case 'A':
			archive = optarg;
			break;
		case 'c':
			if (strcmp(optarg, "zstd") == 0)
				comp = WALFILE_ZSTD;
			else if (strcmp(optarg, "none") == 0)
				comp = WALFILE_NONE;
			else
				errx(EXIT_USAGE, "unknown compression: %s", optarg);
			break;
		case 'h':
			help();
			break;
		case 'l':
			level = (int)parse_num(optarg, 1, 19, "level");
			break;
		case 'V':
			print_version();
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2 || archive == NULL)
		usage();
	src = argv[0];
	name = argv[1];
	if (walname_parse(name, &wn) == WAL_OTHER)
		errx(EXIT_USAGE, "not a WAL file name: %s", name);

	umask(077);
	/* A missing archive is most likely an unmounted filesystem: creating
	 * it would fill the wrong disk, so only wal/ is created. */
	if (stat(archive, &st) != 0)
		err(EXIT_RETRY, "archive %s", archive);
	if (!S_ISDIR(st.st_mode))
		errx(EXIT_RETRY, "archive %s: not a directory", archive);
	waldir = walarch_path(archive, "wal");
	if (durable_mkdir(waldir, 0700) != 0)
		err(EXIT_RETRY, "%s", waldir);

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		err(EXIT_RETRY, "%s", src);

	buf_printf(&tmp, "%s/.%s.tmp", waldir, name);
	tfd = lock_tmp(tmp.data);

	afd = walarch_open(archive, name, &existing);
	if (afd >= 0) {
		rc = walfile_read(afd, -1, in, &info, msg, sizeof(msg));
		close(afd);
		unlink(tmp.data);
		switch (rc) {
		case WF_OK:
			warnx("%s: already archived with the same content", name);
			finish(EXIT_DONE);
		case WF_DIFFER:
			errx(EXIT_REFUSE, "%s: already archived with different "
			    "content; archived copy left as is", existing);
		case WF_CORRUPT:
			errx(EXIT_REFUSE, "%s: already archived, but the archived "
			    "copy is damaged (%s); left as is", existing, msg);
		default:
			errx(EXIT_RETRY, "compare with %s: %s", existing, msg);
		}
	}
	if (errno != ENOENT) {
		warn("%s/%s", waldir, name);
		unlink(tmp.data);
		exit(EXIT_RETRY);
	}

	buf_printf(&final, "%s/%s%s", waldir, name,
	    comp == WALFILE_ZSTD ? ".zst" : "");
	if (ftruncate(tfd, 0) != 0) {
		warn("%s", tmp.data);
		goto fail;
	}
	rc = walfile_store(in, tfd, comp, level, &info, msg, sizeof(msg));
	if (rc != WF_OK) {
		warnx("%s -> %s: %s", src, tmp.data, msg);
		goto fail;
	}
	if (fsync(tfd) != 0) {
		warn("fsync %s", tmp.data);
		goto fail;
	}
	if (rename(tmp.data, final.data) != 0) {
		warn("rename %s to %s", tmp.data, final.data);
		goto fail;
	}
	if (fsync_dir(waldir) != 0)
		/* The file is complete under its name; the rename may not
		 * survive a crash, and a retry will find it or push again. */
		err(EXIT_RETRY, "fsync %s", waldir);
	if (close(tfd) != 0)
		err(EXIT_RETRY, "close %s", final.data);
	close(in);
	free(waldir);
	buf_free(&tmp);
	buf_free(&final);
	free(existing);
	finish(EXIT_DONE);
fail:
	/* Unlink while still holding the lock, so no other push is using it. */
	unlink(tmp.data);
	exit(EXIT_RETRY);
}
