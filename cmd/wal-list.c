/* wal-list: the contents of a WAL archive as TSV, for sort and awk. */
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

static const char usage_line[] = "usage: wal-list -A archive [--backups]\n";

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
	    "List WAL files and base backups of the archive as TSV:\n"
	    "kind, name, timeline, size, compressed, time.\n"
	    "\n"
	    "  -A, --archive=DIR  the archive directory\n"
	    "  -b, --backups      only the base backups, in detail\n"
	    "  -h, --help         show this help\n"
	    "  -V, --version      show the version\n", stdout);
	finish(EXIT_DONE);
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "archive", required_argument, NULL, 'A' },
		{ "backups", no_argument,       NULL, 'b' },
		{ "help",    no_argument,       NULL, 'h' },
		{ "version", no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *archive = NULL;
	struct walent *ents;
	struct backup *bk;
	size_t n, nb;
	struct stat st;
	char when[40], msg[256];
	int c, ret = EXIT_DONE, only_backups = 0;

	while ((c = getopt_long(argc, argv, "A:bhV", opts, NULL)) != -1) {
		switch (c) {
		case 'A':
			archive = optarg;
			break;
		case 'b':
			only_backups = 1;
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
	if (argc != optind || archive == NULL)
		usage();
	if (stat(archive, &st) != 0)
		err(EXIT_RETRY, "archive %s", archive);
	if (walarch_backups(archive, &bk, &nb) != 0)
		err(EXIT_RETRY, "%s/base", archive);
	if (only_backups) {
		/* What walmgr chooses a backup by: the order, the LSNs, the
		 * finish time to the microsecond, and whether recovery from
		 * it can follow the newest timeline. */
		printf("label\ttimeline\tstart_lsn\tend_lsn\ttime\tlive\n");
		for (size_t i = 0; i < nb; i++) {
			iso_utc_us(when, sizeof(when), &bk[i].done);
			printf("%s\t%u\t%X/%X\t", bk[i].label, (unsigned)bk[i].tli,
			    (unsigned)(bk[i].start_lsn >> 32),
			    (unsigned)bk[i].start_lsn);
			if (bk[i].end_lsn != 0)
				printf("%X/%X", (unsigned)(bk[i].end_lsn >> 32),
				    (unsigned)bk[i].end_lsn);
			else
				printf("\\N");
			printf("\t%s\t%s\n", when, bk[i].live ? "t" : "f");
		}
		walarch_backups_free(bk, nb);
		finish(EXIT_DONE);
	}
	if (walarch_scan(archive, &ents, &n, NULL) != 0 && errno != ENOENT)
		err(EXIT_RETRY, "%s/wal", archive);

	printf("kind\tname\ttimeline\tsize\tcompressed\ttime\n");
	for (size_t i = 0; i < n; i++) {
		struct walfile_info info;
		char *path;
		int fd;

		path = walarch_path(archive, "wal/");
		path = xrealloc(path, strlen(path) + strlen(ents[i].file) + 1);
		strcat(path, ents[i].file);
		fd = open(path, O_RDONLY);
		if (fd < 0 || fstat(fd, &st) != 0) {
			warn("%s", path);
			ret = EXIT_RETRY;
			if (fd >= 0)
				close(fd);
			free(path);
			continue;
		}
		iso_utc(when, sizeof(when), st.st_mtime);
		printf("%s\t%s\t%u\t", walkind_str(ents[i].w.kind), ents[i].name,
		    (unsigned)ents[i].w.tli);
		if (walfile_trailer(fd, &info, msg, sizeof(msg)) == WF_OK)
			printf("%llu", (unsigned long long)info.size);
		else {
			warnx("%s: %s", path, msg);
			printf("\\N");
		}
		printf("\t%s\t%s\n", ents[i].zst ? "zstd" : "none", when);
		close(fd);
		free(path);
	}
	for (size_t i = 0; i < nb; i++) {
		/* walmgr's compressed backups are tar files of zstd. */
		char *p = walarch_path(archive, "base/");
		const char *tail = "/base.tar.zst";

		p = xrealloc(p, strlen(p) + strlen(bk[i].label) + strlen(tail) + 1);
		strcat(strcat(p, bk[i].label), tail);
		iso_utc(when, sizeof(when), bk[i].done.tv_sec);
		printf("base\t%s\t%u\t%lld\t%s\t%s\n", bk[i].label,
		    (unsigned)bk[i].tli, bk[i].bytes,
		    access(p, F_OK) == 0 ? "zstd" : "none", when);
		free(p);
	}
	walarch_free(ents, n);
	walarch_backups_free(bk, nb);
	finish(ret);
}
