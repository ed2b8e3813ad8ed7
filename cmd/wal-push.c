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
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "exitcodes.h"
#include "util.h"
#include "walfile.h"
#include "walname.h"
#include "walpush.h"

#define DEFAULT_LEVEL 1

static const char usage_line[] =
    "usage: wal-push -A archive [--compress zstd | none] [--level n] path name\n"
    "       wal-push -A archive [--compress zstd | none] [--level n] --stdin size name\n";

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
	    "  -c, --compress=METHOD  zstd or none (default none)\n"
	    "  -l, --level=N          zstd level, 1..19 (default 1)\n"
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

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "archive",  required_argument, NULL, 'A' },
		{ "compress", required_argument, NULL, 'c' },
		{ "help",     no_argument,       NULL, 'h' },
		{ "level",    required_argument, NULL, 'l' },
		{ "stdin",    required_argument, NULL, 's' },
		{ "version",  no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *archive = NULL, *src, *name;
	struct walname wn;
	char msg[512];
	uint32_t comp = WALFILE_NONE;
	int c, level = DEFAULT_LEVEL, rc;
	long long insize = -1;
	char spool[PATH_MAX];

	while ((c = getopt_long(argc, argv, "A:c:hl:s:V", opts, NULL)) != -1) {
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
	src = insize >= 0 ? NULL : argv[0];
	name = argv[argc - 1];
	if (walname_parse(name, &wn) == WAL_OTHER)
		errx(EXIT_USAGE, "not a WAL file name: %s", name);

	umask(077);
	if (insize >= 0)
		src = spool_stdin(insize, spool, sizeof(spool));
	/* The archive module runs the same steps inside the server. */
	rc = walpush(archive, src, name, comp, level, msg, sizeof(msg));
	if (msg[0] != '\0')
		warnx("%s", msg);
	if (rc == EXIT_DONE)
		finish(EXIT_DONE);
	exit(rc);
}
