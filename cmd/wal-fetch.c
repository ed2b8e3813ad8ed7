/* wal-fetch: restore one archived WAL file; PostgreSQL's restore_command.
 *
 * The file is verified while it is copied (and decompressed), into a
 * temporary name beside path that is renamed only when every check
 * passed: a damaged file never appears under path.  "Not in the archive"
 * is exit 1, which PostgreSQL takes as the end of the archive, so a
 * missing archive directory (an unmounted disk) must not look like it.
 *
 * PostgreSQL takes every restore_command status from 1 to 125 as "not in
 * the archive": recovery ends there and the server promotes, losing the
 * WAL after it.  With --restore-command every failure but "not in the
 * archive" exits 128 plus its ordinary status (130, 131, 132), which
 * PostgreSQL treats like a command that could not run: recovery stops
 * with a FATAL error and nothing is promoted.  A status, not a signal
 * raised on ourselves: the server logs "exit code 131" beside our own
 * message, and SIGTERM, the one signal that would not stop recovery,
 * cannot be picked by mistake. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exitcodes.h"
#include "util.h"
#include "walarch.h"
#include "walfile.h"
#include "walname.h"
#include "walseg.h"

static const char usage_line[] =
    "usage: wal-fetch [--restore-command] -A archive name path\n";

/* Exit statuses above 125 for PostgreSQL's restore_command. */
#define RESTORE_STOP 128

static int restore_mode;

static NORETURN void
fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* errx() with the status restore_mode asks for, and the reason the
 * server stops in the server log. */
static void
fail(int code, const char *fmt, ...)
{
	char m[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	if (!restore_mode)
		errx(code, "%s", m);
	errx(RESTORE_STOP + code, "%s; recovery stopped (exit %d), not ended: "
	    "fix the archive (wal-check(1), Repairing the archive) and start "
	    "the server again", m, RESTORE_STOP + code);
}

/* The name, plain or ".zst", is a symbolic link whose target is gone. */
static int
dangling(const char *waldir, const char *name)
{
	struct buf b = {0};
	struct stat st;
	int r;

	buf_printf(&b, "%s/%s", waldir, name);
	r = lstat(b.data, &st) == 0;
	if (!r) {
		buf_addstr(&b, ".zst");
		r = lstat(b.data, &st) == 0;
	}
	free(b.data);
	return r;
}

/* A segment missing while a later one of its timeline is archived is a
 * hole, not the end of the archive: PostgreSQL's archiver pushes a
 * timeline's segments in order, so only damage leaves one.  Answering
 * "not archived" would end recovery at the hole and promote a copy
 * without the WAL after it. */
static void
check_gap(const char *archive, const char *name, const struct walname *wn)
{
	struct walent *ents;
	size_t n, i;
	const char *later = NULL;

	if (walarch_scan(archive, &ents, &n, NULL) != 0)
		fail(EXIT_RETRY, "%s: cannot list the archive: %s", archive,
		    strerror(errno));
	for (i = 0; i < n && later == NULL; i++)
		if (ents[i].w.kind == WAL_SEGMENT && ents[i].w.tli == wn->tli &&
		    strcmp(ents[i].name, name) > 0)
			later = ents[i].name;
	if (later != NULL)
		fail(EXIT_REFUSE, "%s: missing from the archive, but the later "
		    "segment %s of its timeline is there: the archive has a hole",
		    name, later);
	walarch_free(ents, n);
}

/* The checks every restored file passes after its checksums: the name
 * in its trailer and, for a segment, its size and page header.  A
 * segment that fails them would be refused by recovery for its size, or
 * taken as the end of the WAL for its header, ending recovery early. */
static int
check_restored(const struct walfile_info *info, const char *name,
    const struct walname *wn, int rc, char *msg, size_t msglen)
{
	char why[256];

	if (rc == WF_OK)
		rc = walfile_check_name(info, name, rc, msg, msglen);
	if (rc == WF_OK && wn->kind == WAL_SEGMENT &&
	    walseg_check(info->head, info->headlen, info->size, wn, NULL,
	    why, sizeof(why)) != 0)
		rc = walfile_msg(WF_CORRUPT, msg, msglen, "not WAL segment %s: %s",
		    name, why);
	return rc;
}

static void
usage(void)
{
	fputs(usage_line, stderr);
	exit(restore_mode ? RESTORE_STOP + EXIT_USAGE : EXIT_USAGE);
}

static void
help(void)
{
	fputs(usage_line, stdout);
	fputs("\n"
	    "Restore the archived WAL file name to path (- for stdout).\n"
	    "\n"
	    "  -A, --archive=DIR  the archive directory\n"
	    "  -R, --restore-command\n"
	    "                     as restore_command: every failure but \"not in\n"
	    "                     the archive\" exits 128 + status, stopping recovery\n"
	    "  -h, --help         show this help\n"
	    "  -V, --version      show the version\n", stdout);
	finish(EXIT_DONE);
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "archive", required_argument, NULL, 'A' },
		{ "help",    no_argument,       NULL, 'h' },
		{ "restore-command", no_argument, NULL, 'R' },
		{ "version", no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *archive = NULL, *name, *path;
	struct walfile_info info;
	struct walname wn;
	struct buf tmp = {0};
	char msg[512], *waldir, *file = NULL;
	struct stat st;
	int c, fd, out, rc;

	/* Known before getopt can fail: a misspelt restore_command must
	 * stop recovery too. */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--restore-command") == 0 ||
		    strcmp(argv[i], "-R") == 0)
			restore_mode = 1;
	while ((c = getopt_long(argc, argv, "A:hRV", opts, NULL)) != -1) {
		switch (c) {
		case 'A':
			archive = optarg;
			break;
		case 'R':
			restore_mode = 1;
			break;
		case 'h':
			help();
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
	name = argv[0];
	path = argv[1];
	if (walname_parse(name, &wn) == WAL_OTHER)
		fail(EXIT_USAGE, "not a WAL file name: %s", name);
	/* Only a new file or a regular one is replaced: rename() over a
	 * device, a directory or a socket would destroy it. */
	if (strcmp(path, "-") != 0 && lstat(path, &st) == 0 &&
	    !S_ISREG(st.st_mode))
		fail(EXIT_USAGE, "%s: exists and is not a regular file", path);

	waldir = walarch_path(archive, "wal");
	if (stat(waldir, &st) != 0)
		fail(EXIT_RETRY, "%s: %s (archive unreachable)", waldir,
		    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		fail(EXIT_RETRY, "%s: not a directory", waldir);
	fd = walarch_open(archive, name, &file);
	if (fd < 0) {
		if (errno == EINVAL)
			fail(EXIT_REFUSE, "%s/%s: exists and is not a regular file",
			    waldir, name);
		if (errno != ENOENT)
			fail(EXIT_RETRY, "%s/%s: %s", waldir, name,
			    strerror(errno));
		if (dangling(waldir, name))
			fail(EXIT_RETRY, "%s/%s: a symbolic link to nothing "
			    "(archive not mounted?)", waldir, name);
		if (wn.kind == WAL_SEGMENT)
			check_gap(archive, name, &wn);
		finish(EXIT_NO);
	}

	if (strcmp(path, "-") == 0) {
		/* Nothing can be taken back from a pipe: verify first, then
		 * copy. */
		rc = walfile_read(fd, -1, -1, &info, msg, sizeof(msg));
		rc = check_restored(&info, name, &wn, rc, msg, sizeof(msg));
		if (rc == WF_OK) {
			if (fflush(stdout) != 0)
				fail(EXIT_RETRY, "stdout: %s", strerror(errno));
			rc = walfile_read(fd, STDOUT_FILENO, -1, &info, msg,
			    sizeof(msg));
		}
		if (rc == WF_CORRUPT)
			fail(EXIT_REFUSE, "%s: damaged: %s", file, msg);
		if (rc != WF_OK)
			fail(EXIT_RETRY, "%s: %s", file, msg);
		free(file);
		free(waldir);
		finish(EXIT_DONE);
	}

	{
		const char *slash = strrchr(path, '/');

		if (slash != NULL)
			buf_printf(&tmp, "%.*s/.%s.wal-fetch.%ld",
			    (int)(slash - path), path, slash + 1, (long)getpid());
		else
			buf_printf(&tmp, ".%s.wal-fetch.%ld", path, (long)getpid());
	}
	out = open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (out < 0)
		fail(EXIT_RETRY, "%s: %s", tmp.data, strerror(errno));
	rc = walfile_read(fd, out, -1, &info, msg, sizeof(msg));
	/* The trailer names the file it was archived as: a link or a copy
	 * in the archive from another name is not handed over. */
	rc = check_restored(&info, name, &wn, rc, msg, sizeof(msg));
	close(fd);
	/* PostgreSQL makes the file durable itself when it keeps it, so no
	 * fsync here: recovery would pay it for every segment. */
	if (close(out) != 0 && rc == WF_OK) {
		snprintf(msg, sizeof(msg), "close: %s", strerror(errno));
		rc = WF_IO;
	}
	if (rc == WF_OK && rename(tmp.data, path) != 0) {
		snprintf(msg, sizeof(msg), "rename to %s: %s", path,
		    strerror(errno));
		rc = WF_IO;
	}
	if (rc != WF_OK) {
		unlink(tmp.data);
		if (rc == WF_CORRUPT)
			fail(EXIT_REFUSE, "%s: damaged, not restored: %s", file, msg);
		fail(EXIT_RETRY, "%s: %s", file, msg);
	}
	free(file);
	free(waldir);
	buf_free(&tmp);
	finish(EXIT_DONE);
}
