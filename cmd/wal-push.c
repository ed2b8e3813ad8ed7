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
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exitcodes.h"
#include "util.h"
#include "walfile.h"
#include "walname.h"
#include "walpush.h"

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
	struct walname wn;
	char msg[512];
	uint32_t comp = WALFILE_NONE;
	int c, level = DEFAULT_LEVEL, rc;

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
	/* The archive module runs the same steps inside the server. */
	rc = walpush(archive, src, name, comp, level, msg, sizeof(msg));
	if (msg[0] != '\0')
		warnx("%s", msg);
	if (rc == EXIT_DONE)
		finish(EXIT_DONE);
	exit(rc);
}
