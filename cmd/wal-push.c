/* wal-push: archive one WAL file durably; PostgreSQL's archive_command.
 *
 * The file is written under a temporary name in ARCHIVE/wal, fsynced,
 * renamed and the directory fsynced, so after a crash the final name
 * holds the whole file or nothing.  An archived name is never replaced:
 * the same content again is success (PostgreSQL retries after a crash),
 * other content is refused.  Pushes of one name are serialized by a lock
 * on its temporary file, which also lets a retry reuse the temporary
 * file a killed push left behind.
 *
 * --async: PostgreSQL runs one archive_command at a time, so a burst of
 * WAL waits for one process per segment.  With --async the call for
 * NAME also pushes up to jobs-1 further ready segments in parallel child
 * processes, each through the same durable steps, and records every
 * finished push as an empty file in the spool directory.  A later call
 * for a recorded segment only checks that the archive holds it.  The
 * server's archive_status is only read, never written: PostgreSQL still
 * acknowledges each segment in order, one call at a time. */
#include <err.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "durable.h"
#include "exitcodes.h"
#include "util.h"
#include "walarch.h"
#include "walfile.h"
#include "walname.h"
#include "walpush.h"

#define DEFAULT_LEVEL 1
#define DEFAULT_JOBS 4
#define MAX_JOBS 64

static const char usage_line[] =
    "usage: wal-push -A archive [--compress zstd | none] [--level n] path name\n"
    "       wal-push -A archive [--compress zstd | none] [--level n] --stdin size name\n"
    "       wal-push -A archive [--compress zstd | none] [--level n] --async --spool dir [--jobs n] path name\n";

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
	fputs("\n"
	    "Archive the WAL file at path as name in archive/wal.\n"
	    "\n"
	    "  -A, --archive=DIR      the archive directory (must exist)\n"
	    "  -a, --async            also push further ready segments in parallel\n"
	    "  -c, --compress=METHOD  zstd or none (default none)\n"
	    "  -j, --jobs=N           with --async: segments at once, 1..64 (default 4)\n"
	    "  -l, --level=N          zstd level, 1..19 (default 1)\n"
	    "  -S, --spool=DIR        with --async: where finished pushes are recorded\n"
	    "  -s, --stdin=SIZE       read the file from stdin: exactly SIZE bytes\n"
	    "  -h, --help             show this help\n"
	    "  -V, --version          show the version\n", stdout);
	finish(EXIT_DONE);
}

/* --stdin: the sender is remote (walmgr over ssh), and a connection
 * that drops must never archive a partial file.  stdin is copied to an
 * unlinked temporary file, so nothing is left behind whatever happens,
 * and only exactly size bytes followed by EOF go on to be archived.
 * The same steps as for a path then run on /dev/fd/N (which reopens the
 * file from its start). */
static const char *
spool_stdin(long long size, char *path, size_t pathlen)
{
	const char *dir = getenv("TMPDIR");
	char buf[65536];
	long long got = 0;
	ssize_t r;
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	if ((size_t)snprintf(path, pathlen, "%s/wal-push.XXXXXX", dir) >= pathlen)
		errx(EXIT_USAGE, "TMPDIR too long");
	if ((fd = mkstemp(path)) < 0)
		err(EXIT_RETRY, "%s", path);
	if (unlink(path) != 0)
		err(EXIT_RETRY, "unlink %s", path);
	while ((r = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err(EXIT_RETRY, "stdin");
		}
		got += r;
		if (got > size)
			errx(EXIT_RETRY, "stdin: more than %lld bytes; nothing "
			    "archived", size);
		if (write_all(fd, buf, (size_t)r) != 0)
			err(EXIT_RETRY, "spool file in %s", dir);
	}
	if (got != size)
		errx(EXIT_RETRY, "stdin: %lld bytes of %lld (the sender or the "
		    "connection went away); nothing archived", got, size);
	snprintf(path, pathlen, "/dev/fd/%d", fd);
	return path;
}

/* --async.  The spool holds one empty file per segment whose push
 * finished: "spool/NAME", made durable (a temporary name, fsync, rename,
 * fsync of the directory) only after the push itself was durable.  The
 * spool is a cache, the archive is the truth: a missing entry costs a
 * second push of the same content (success), an entry without its
 * archived file is dropped and the file pushed again. */

/* Record a finished push of name in the spool; 0 or -1 with errno. */
static int
spool_mark(const char *spooldir, const char *name)
{
	char tmp[PATH_MAX], fin[PATH_MAX];
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", spooldir,
	    name, (long)getpid()) >= sizeof(tmp) ||
	    (size_t)snprintf(fin, sizeof(fin), "%s/%s", spooldir, name) >=
	    sizeof(fin)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0)
		return -1;
	if (fsync(fd) != 0) {
		int e = errno;

		close(fd);
		unlink(tmp);
		errno = e;
		return -1;
	}
	if (close(fd) != 0 || durable_rename(tmp, fin) != 0) {
		int e = errno;

		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

/* Does the spool record name?  An entry whose archived file is gone (or
 * unreadable) does not count and is removed. */
static int
spool_done(const char *spooldir, const char *archive, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", spooldir, name) >=
	    sizeof(path) || lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	if ((fd = walarch_open(archive, name, NULL)) >= 0) {
		close(fd);
		return 1;
	}
	warnx("%s: recorded in the spool but not in the archive: pushing it "
	    "again", name);
	if (unlink(path) != 0 && errno != ENOENT)
		warn("unlink %s", path);
	return 0;
}

/* Remove the entries of segments before name, and temporary files of
 * killed runs.  PostgreSQL hands out ready files oldest first and
 * retries a failed one until it succeeds, so those segments are
 * acknowledged; removing an entry is safe in any case (see above). */
static void
spool_clean(const char *spooldir, const char *name)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct walname w;
	DIR *d;

	if ((d = opendir(spooldir)) == NULL) {
		warn("%s", spooldir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		int tmp = n[0] == '.' && len > 4 && strcmp(n + len - 4, ".tmp") == 0;

		if (!tmp && (walname_parse(n, &w) == WAL_OTHER ||
		    strcmp(n, name) >= 0))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", spooldir, n) >=
		    sizeof(path))
			continue;
		if (unlink(path) != 0 && errno != ENOENT)
			warn("unlink %s", path);
	}
	closedir(d);
}

/* The ready segments after name, oldest first, at most max of them and
 * none the spool records: read from archive_status beside path.  Names
 * go into next (MAX_JOBS entries); returns their count.  An unreadable
 * archive_status only means no extra work. */
static size_t
ready_after(const char *path, const char *name, const char *spooldir,
    const char *archive, char next[][WALNAME_LEN + 1], size_t max)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct dirent *de;
	struct walname w;
	size_t n = 0;
	DIR *d;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), "archive_status");
	else if ((size_t)snprintf(dir, sizeof(dir), "%.*s/archive_status",
	    (int)(slash - path), path) >= sizeof(dir))
		return 0;
	if (max == 0 || (d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char seg[WALNAME_LEN + 1];
		size_t len = strlen(de->d_name), i;

		if (len != WALNAME_LEN + 6 ||
		    strcmp(de->d_name + WALNAME_LEN, ".ready") != 0)
			continue;
		memcpy(seg, de->d_name, WALNAME_LEN);
		seg[WALNAME_LEN] = '\0';
		if (walname_parse(seg, &w) != WAL_SEGMENT ||
		    strcmp(seg, name) <= 0)
			continue;
		/* Keep the max smallest names, sorted. */
		for (i = n; i > 0 && strcmp(next[i - 1], seg) > 0; i--)
			;
		if (i >= max)
			continue;
		memmove(next[i + 1], next[i],
		    (n - i - (n == max)) * sizeof(next[0]));
		memcpy(next[i], seg, sizeof(seg));
		if (n < max)
			n++;
	}
	closedir(d);
	/* Done ones are dropped after the selection: checking every ready
	 * file against the archive would cost a lookup per file. */
	for (size_t i = 0; i < n; ) {
		if (spool_done(spooldir, archive, next[i])) {
			memmove(next[i], next[i + 1], (n - i - 1) * sizeof(next[0]));
			n--;
		} else
			i++;
	}
	return n;
}

/* Push one file and record it in the spool; an exit status. */
static int
push_one(const char *archive, const char *src, const char *name,
    uint32_t comp, int level, const char *spooldir)
{
	char msg[512];
	int rc;

	rc = walpush(archive, src, name, comp, level, msg, sizeof(msg));
	if (msg[0] != '\0')
		warnx("%s", msg);
	if (rc != EXIT_DONE || spooldir == NULL)
		return rc;
	if (spool_mark(spooldir, name) != 0) {
		/* Archived all the same: only the shortcut is lost. */
		warn("%s: spool entry in %s", name, spooldir);
	}
	return rc;
}

/* The call for name with --async; an exit status for name alone. */
static int
push_async(const char *archive, const char *src, const char *name,
    uint32_t comp, int level, const char *spooldir, int jobs)
{
	static char next[MAX_JOBS][WALNAME_LEN + 1];
	char path[PATH_MAX];
	pid_t pids[MAX_JOBS];
	size_t n, started = 0;
	int rc;

	if (durable_mkdir(spooldir, 0700) != 0)
		err(EXIT_RETRY, "%s", spooldir);
	spool_clean(spooldir, name);
	if (spool_done(spooldir, archive, name))
		return EXIT_DONE;
	n = ready_after(src, name, spooldir, archive, next, (size_t)jobs - 1);
	fflush(stderr);
	for (size_t i = 0; i < n; i++) {
		const char *slash = strrchr(src, '/');
		pid_t pid;

		if (slash == NULL)
			snprintf(path, sizeof(path), "%s", next[i]);
		else if ((size_t)snprintf(path, sizeof(path), "%.*s/%s",
		    (int)(slash - src), src, next[i]) >= sizeof(path))
			continue;
		if ((pid = fork()) < 0) {
			warn("fork");
			break;
		}
		if (pid == 0)
			_exit(push_one(archive, path, next[i], comp, level,
			    spooldir));
		pids[started++] = pid;
	}
	rc = push_one(archive, src, name, comp, level, spooldir);
	/* The others are waited for, so that no push of ours still runs
	 * when the server calls for the next segment: that call would find
	 * its own push locked and fail. */
	for (size_t i = 0; i < started; i++) {
		int st;

		while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
			;
	}
	return rc;
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "archive",  required_argument, NULL, 'A' },
		{ "async",    no_argument,       NULL, 'a' },
		{ "compress", required_argument, NULL, 'c' },
		{ "help",     no_argument,       NULL, 'h' },
		{ "jobs",     required_argument, NULL, 'j' },
		{ "level",    required_argument, NULL, 'l' },
		{ "spool",    required_argument, NULL, 'S' },
		{ "stdin",    required_argument, NULL, 's' },
		{ "version",  no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *archive = NULL, *spooldir = NULL, *src, *name;
	struct walname wn;
	char msg[512];
	uint32_t comp = WALFILE_NONE;
	int async = 0, c, jobs = DEFAULT_JOBS, level = DEFAULT_LEVEL, rc;
	long long insize = -1;
	char spool[PATH_MAX];

	while ((c = getopt_long(argc, argv, "A:ac:hj:l:S:s:V", opts, NULL)) != -1) {
		switch (c) {
		case 'A':
			archive = optarg;
			break;
		case 'a':
			async = 1;
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
		case 'j':
			jobs = (int)parse_num(optarg, 1, MAX_JOBS, "jobs");
			break;
		case 'l':
			level = (int)parse_num(optarg, 1, 19, "level");
			break;
		case 'S':
			spooldir = optarg;
			break;
		case 's':
			insize = parse_num(optarg, 0, LLONG_MAX, "size");
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
	if (argc != (insize >= 0 ? 1 : 2) || archive == NULL)
		usage();
	/* --stdin has no server directory to look for ready segments in. */
	if (async != (spooldir != NULL) || (async && insize >= 0))
		usage();
	src = insize >= 0 ? NULL : argv[0];
	name = argv[argc - 1];
	if (walname_parse(name, &wn) == WAL_OTHER)
		errx(EXIT_USAGE, "not a WAL file name: %s", name);

	/* Before anything is read: a size no segment has would be spooled
	 * whole (to TMPDIR, up to the sender's word) only to be refused. */
	if (insize >= 0 && wn.kind == WAL_SEGMENT &&
	    !wal_segsize_ok((uint64_t)insize))
		errx(EXIT_USAGE, "--stdin %lld: not WAL segment %s: not a "
		    "segment size (a power of 2 from 1 MiB to 1 GiB); nothing "
		    "archived", insize, name);
	umask(077);
	if (insize >= 0)
		src = spool_stdin(insize, spool, sizeof(spool));
	if (async) {
		rc = push_async(archive, src, name, comp, level, spooldir, jobs);
		if (rc == EXIT_DONE)
			finish(EXIT_DONE);
		exit(rc);
	}
	/* The archive module runs the same steps inside the server. */
	rc = walpush(archive, src, name, comp, level, msg, sizeof(msg));
	if (msg[0] != '\0')
		warnx("%s", msg);
	if (rc == EXIT_DONE)
		finish(EXIT_DONE);
	exit(rc);
}
