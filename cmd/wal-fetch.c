/* wal-fetch: restore one archived WAL file; PostgreSQL's restore_command.
 *
 * The file is verified while it is copied (and decompressed), into a
 * temporary name beside path that is renamed only when every check
 * passed: a damaged file never appears under path.  "Not in the archive"
 * is exit 1, which PostgreSQL takes as the end of the archive, so a
 * missing archive directory (an unmounted disk) must not look like it. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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

static const char usage_line[] = "usage: wal-fetch -A archive name path\n";

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
	fputs("Restore the archived WAL file name to path (- for stdout).\n"
	    "  -A, --archive DIR  the archive directory\n"
	    "  -h, --help         this help\n"
	    "  -V, --version      print the version\n", stdout);
	finish(EXIT_DONE);
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "archive", required_argument, NULL, 'A' },
		{ "help",    no_argument,       NULL, 'h' },
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

	while ((c = getopt_long(argc, argv, "A:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'A':
			archive = optarg;
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
		errx(EXIT_USAGE, "not a WAL file name: %s", name);

	waldir = walarch_path(archive, "wal");
	if (stat(waldir, &st) != 0)
		err(EXIT_RETRY, "%s", waldir);
	if (!S_ISDIR(st.st_mode))
		errx(EXIT_RETRY, "%s: not a directory", waldir);
	fd = walarch_open(archive, name, &file);
	if (fd < 0) {
		if (errno == ENOENT)
			finish(EXIT_NO);
		err(EXIT_RETRY, "%s/%s", waldir, name);
	}

	if (strcmp(path, "-") == 0) {
		/* Nothing can be taken back from a pipe: verify first, then
		 * copy. */
		rc = walfile_read(fd, -1, -1, &info, msg, sizeof(msg));
		if (rc == WF_OK) {
			if (fflush(stdout) != 0)
				err(EXIT_RETRY, "stdout");
			rc = walfile_read(fd, STDOUT_FILENO, -1, &info, msg,
			    sizeof(msg));
		}
		if (rc == WF_CORRUPT)
			errx(EXIT_REFUSE, "%s: damaged: %s", file, msg);
		if (rc != WF_OK)
			errx(EXIT_RETRY, "%s: %s", file, msg);
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
	out = open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		err(EXIT_RETRY, "%s", tmp.data);
	rc = walfile_read(fd, out, -1, &info, msg, sizeof(msg));
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
			errx(EXIT_REFUSE, "%s: damaged, not restored: %s", file, msg);
		errx(EXIT_RETRY, "%s: %s", file, msg);
	}
	free(file);
	free(waldir);
	buf_free(&tmp);
	finish(EXIT_DONE);
}
