/* wal-check: is the archived WAL complete from a start point to the newest
 * segment, following timeline switches; optionally verify every file.
 *
 * The timeline to follow is the newest one whose history descends from
 * the start's timeline.  For each segment number the expected timeline is
 * the newest one of that history that had begun by that segment, which is
 * the file recovery would read. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "exitcodes.h"
#include "util.h"
#include "walarch.h"
#include "walfile.h"
#include "walname.h"
#include "walseg.h"

#define MAXTLI 512

static const char usage_line[] =
    "usage: wal-check -A archive [--from segment | --backup label] [--verify]\n";

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
	    "Check that the archive holds every WAL segment from the start\n"
	    "(default: the oldest base backup, else the oldest segment) to the\n"
	    "newest one.  Prints TSV: missing, damaged, checked.\n"
	    "\n"
	    "  -A, --archive=DIR    the archive directory\n"
	    "  -b, --backup=LABEL   start at the start of this base backup\n"
	    "  -f, --from=SEGMENT   start at this segment\n"
	    "  -s, --wal-segsize=MB WAL segment size (default: from the archive)\n"
	    "  -v, --verify         also verify the checksums of every file\n"
	    "  -h, --help           show this help\n"
	    "  -V, --version        show the version\n", stdout);
	finish(EXIT_DONE);
}

/* One timeline of the followed history: it begins at segment `begin` and
 * ends (switches to the next) at LSN `end`, UINT64_MAX for the last. */
struct tl {
	uint32_t tli;
	uint64_t begin;
	uint64_t end;
};

static const char *archive;
static struct walent *ents;
static size_t nents;
static int problems;
/* The start's base backup, when the check starts at one. */
static const struct backup *start_backup;

/* Read the history of tli into chain (oldest first, tli itself last).
 * Returns the number of entries; on a missing or damaged history file the
 * chain is tli alone and the problem is reported. */
static size_t
read_history(uint32_t tli, struct tl *chain, uint64_t segsize)
{
	char name[32], msg[256], line[512];
	struct walfile_info info;
	size_t n = 0;
	FILE *tmp;
	int fd, rc;

	if (tli == 1)
		goto self;
	snprintf(name, sizeof(name), "%08X.history", (unsigned)tli);
	fd = walarch_open(archive, name, NULL);
	if (fd < 0) {
		printf("missing\t%s\n", name);
		problems = 1;
		goto self;
	}
	if ((tmp = tmpfile()) == NULL)
		err(EXIT_RETRY, "tmpfile");
	rc = walfile_read(fd, fileno(tmp), -1, &info, msg, sizeof(msg));
	close(fd);
	if (rc == WF_IO)
		errx(EXIT_RETRY, "%s: %s", name, msg);
	if (rc != WF_OK) {
		printf("damaged\t%s\t%s\n", name, msg);
		problems = 1;
		fclose(tmp);
		goto self;
	}
	rewind(tmp);
	uint64_t begin = 0;
	while (fgets(line, sizeof(line), tmp) != NULL && n < MAXTLI - 1) {
		unsigned parent;
		char lsn[64];
		uint64_t end;

		if (sscanf(line, "%u %63s", &parent, lsn) != 2 ||
		    lsn_parse(lsn, &end) != 0)
			continue;
		chain[n].tli = parent;
		chain[n].begin = begin;
		chain[n].end = end;
		begin = end / segsize;
		n++;
	}
	fclose(tmp);
	chain[n].tli = tli;
	chain[n].begin = begin;
	chain[n].end = UINT64_MAX;
	return n + 1;
self:
	chain[0].tli = tli;
	chain[0].begin = 0;
	chain[0].end = UINT64_MAX;
	return 1;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint32_t
expected_tli(const struct tl *chain, size_t n, uint64_t segno)
{
	for (size_t i = n; i-- > 0;)
		if (chain[i].begin <= segno)
			return chain[i].tli;
	return chain[0].tli;
}

/* The start point: the --from segment, the --backup (default: the oldest
 * base backup of the newest history), else the oldest segment. */
static void
find_start(const char *from, const struct walname *wn, const char *label,
    const struct backup *bk, size_t nb, uint64_t segsize,
    uint32_t *start_tli, uint64_t *start, uint64_t *start_lsn)
{
	if (from != NULL) {
		*start_tli = wn->tli;
		*start = walname_segno(wn, segsize);
		*start_lsn = *start * segsize;
	} else if (label != NULL || nb > 0) {
		size_t i = 0;

		if (label != NULL)
			for (i = 0; i < nb && strcmp(bk[i].label, label) != 0; i++)
				;
		else	/* the oldest backup of the newest history */
			while (i + 1 < nb && !bk[i].live)
				i++;
		if (i == nb)
			errx(EXIT_USAGE, "%s/base/%s: no such base backup",
			    archive, label);
		*start_tli = bk[i].tli;
		*start_lsn = bk[i].start_lsn;
		start_backup = &bk[i];
		*start = *start_lsn / segsize;
	} else {
		size_t first = nents;

		for (size_t i = 0; i < nents; i++) {
			if (ents[i].w.kind != WAL_SEGMENT)
				continue;
			if (first == nents || walname_segno(&ents[i].w, segsize) <
			    walname_segno(&ents[first].w, segsize))
				first = i;
		}
		if (first == nents) {
			warnx("%s: the archive holds no WAL segment", archive);
			finish(EXIT_NO);
		}
		*start_tli = ents[first].w.tli;
		*start = walname_segno(&ents[first].w, segsize);
		*start_lsn = *start * segsize;
	}
}

/* Fill best with the history to follow: the newest timeline that descends
 * from the start's timeline after the start point (a fork before it is
 * another history).  Returns its length. */
static size_t
follow_history(uint32_t start_tli, uint64_t start_lsn, uint64_t segsize,
    struct tl *best)
{
	struct tl chain[MAXTLI];
	size_t nchain, nbest = 0;
	uint32_t tli, maxtli = 0;

	for (size_t i = 0; i < nents; i++)
		if (ents[i].w.tli > maxtli)
			maxtli = ents[i].w.tli;
	for (tli = maxtli; tli >= start_tli && tli > 0; tli--) {
		int has = 0;

		for (size_t i = 0; i < nents && !has; i++)
			has = ents[i].w.tli == tli && (ents[i].w.kind ==
			    WAL_SEGMENT || ents[i].w.kind == WAL_HISTORY);
		if (!has)
			continue;
		nchain = read_history(tli, chain, segsize);
		for (size_t i = 0; i < nchain; i++)
			if (chain[i].tli == start_tli && start_lsn < chain[i].end) {
				/* Drop what came before the start's timeline. */
				memcpy(best, chain + i, (nchain - i) * sizeof(*chain));
				nbest = nchain - i;
				break;
			}
		if (nbest > 0)
			break;
	}
	if (nbest == 0) {
		best[0].tli = start_tli;
		best[0].begin = 0;
		best[0].end = UINT64_MAX;
		nbest = 1;
	}
	best[0].begin = 0;
	return nbest;
}

/* The newest segment of the followed history at or after start. */
static uint64_t
find_end(const struct tl *best, size_t nbest, uint64_t start, uint64_t segsize)
{
	uint64_t end = start;
	int have_end = 0;

	for (size_t i = 0; i < nents; i++) {
		uint64_t s;

		if (ents[i].w.kind != WAL_SEGMENT)
			continue;
		s = walname_segno(&ents[i].w, segsize);
		if (s >= start && ents[i].w.tli == expected_tli(best, nbest, s) &&
		    (!have_end || s > end)) {
			end = s;
			have_end = 1;
		}
	}
	return end;
}

/* Print each run of missing segments from start to end.  Gaps are found
 * between the segments present, never by walking the numbers between
 * them: an archive may span 2^40 segments. */
static void
report_gaps(const struct tl *best, size_t nbest, uint64_t start, uint64_t end,
    uint64_t segsize)
{
	char a[WALNAME_LEN + 1], b[WALNAME_LEN + 1];
	uint64_t *have = NULL, next = start;
	size_t nhave = 0;

	if (nents > 0)
		have = xmalloc(nents * sizeof(*have));
	for (size_t i = 0; i < nents; i++) {
		uint64_t s;

		if (ents[i].w.kind != WAL_SEGMENT)
			continue;
		s = walname_segno(&ents[i].w, segsize);
		if (s >= start && s <= end &&
		    ents[i].w.tli == expected_tli(best, nbest, s))
			have[nhave++] = s;
	}
	if (nhave > 1)
		qsort(have, nhave, sizeof(*have), cmp_u64);
	for (size_t i = 0; i <= nhave; i++) {
		uint64_t upto = i < nhave ? have[i] : end + 1;

		if (upto > next) {
			walname_format(a, expected_tli(best, nbest, next),
			    next, segsize);
			walname_format(b, expected_tli(best, nbest,
			    upto - 1), upto - 1, segsize);
			printf("missing\t%s\t%s\n", a, b);
			problems = 1;
		}
		if (i < nhave && have[i] + 1 > next)
			next = have[i] + 1;
	}
	free(have);
}

/* The system identifier of the start's base backup: the first field of
 * its global/pg_control, in every server version.  0 when there is no
 * backup or it has no readable pg_control (a tar backup). */
static uint64_t
backup_sysid(void)
{
	unsigned char b[8];
	uint64_t v = 0;
	char *path;
	int fd;

	if (start_backup == NULL)
		return 0;
	path = walarch_path(archive, "base/");
	path = xrealloc(path, strlen(path) + strlen(start_backup->label) + 20);
	strcat(path, start_backup->label);
	strcat(path, "/global/pg_control");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return 0;
	if (read_full(fd, b, sizeof(b)) == (ssize_t)sizeof(b))
		for (int i = 7; i >= 0; i--)
			v = v << 8 | b[i];
	close(fd);
	return v;
}

static uint64_t
bswap64(uint64_t v)
{
	uint64_t r = 0;

	for (int i = 0; i < 8; i++, v >>= 8)
		r = r << 8 | (v & 0xff);
	return r;
}

/* --verify: read every archived file and check its checksums and name,
 * and that a segment is one (its size and page header, after
 * decompression): wal-push of an earlier version, or a copy made by
 * hand, may have stored anything under a segment's name.  The segments
 * that recovery from the start replays (start to end, on the followed
 * history) must also be of one cluster: its system identifier, the start
 * backup's or else the first such segment's.  Recovery stops at WAL of
 * another cluster ("WAL file is from different database system"). */
static void
verify_files(const struct tl *best, size_t nbest, uint64_t start,
    uint64_t end, uint64_t segsize)
{
	uint64_t want = backup_sysid();
	char msg[256], from[WALNAME_LEN + 64];

	if (want != 0)
		snprintf(from, sizeof(from), "base backup %s", start_backup->label);

	for (size_t i = 0; i < nents; i++) {
		struct walfile_info info;
		char *path;
		int fd, rc;

		path = walarch_path(archive, "wal/");
		path = xrealloc(path, strlen(path) + strlen(ents[i].file) + 1);
		strcat(path, ents[i].file);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			err(EXIT_RETRY, "%s", path);
		rc = walfile_read(fd, -1, -1, &info, msg, sizeof(msg));
		if (rc == WF_OK)
			rc = walfile_check_name(&info, ents[i].name, rc,
			    msg, sizeof(msg));
		uint64_t sysid, s = walname_segno(&ents[i].w, segsize);

		if (rc == WF_OK && ents[i].w.kind == WAL_SEGMENT &&
		    walseg_check(info.head, info.headlen, info.size,
		    &ents[i].w, &sysid, msg, sizeof(msg)) != 0)
			rc = WF_CORRUPT;
		else if (rc == WF_OK && ents[i].w.kind == WAL_SEGMENT &&
		    s >= start && s <= end &&
		    ents[i].w.tli == expected_tli(best, nbest, s)) {
			/* Without a backup's, the first one of the range
			 * sets it: ents is sorted by name, so the oldest of
			 * the oldest timeline. */
			if (want == 0) {
				want = sysid;
				snprintf(from, sizeof(from), "segment %s",
				    ents[i].name);
			} else if (sysid != want && bswap64(sysid) != want) {
				snprintf(msg, sizeof(msg), "system identifier "
				    "%llu, not %llu of %s: WAL of another cluster",
				    (unsigned long long)sysid,
				    (unsigned long long)want, from);
				rc = WF_CORRUPT;
			}
		}
		close(fd);
		if (rc == WF_IO)
			errx(EXIT_RETRY, "%s: %s", path, msg);
		if (rc != WF_OK) {
			printf("damaged\t%s\t%s\n", ents[i].file, msg);
			problems = 1;
		}
		free(path);
	}
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "archive",     required_argument, NULL, 'A' },
		{ "backup",      required_argument, NULL, 'b' },
		{ "from",        required_argument, NULL, 'f' },
		{ "help",        no_argument,       NULL, 'h' },
		{ "wal-segsize", required_argument, NULL, 's' },
		{ "verify",      no_argument,       NULL, 'v' },
		{ "version",     no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *from = NULL, *label = NULL;
	struct tl best[MAXTLI];
	size_t nbest, nb;
	struct backup *bk;
	struct walname wn;
	uint64_t segsize = 0, start, start_lsn, end;
	uint32_t start_tli;
	char a[WALNAME_LEN + 1], b[WALNAME_LEN + 1];
	int c, verify = 0;

	while ((c = getopt_long(argc, argv, "A:b:f:hs:vV", opts, NULL)) != -1) {
		switch (c) {
		case 'A':
			archive = optarg;
			break;
		case 'b':
			label = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 'h':
			help();
			break;
		case 's':
			segsize = walarch_segsize_arg(optarg);
			break;
		case 'v':
			verify = 1;
			break;
		case 'V':
			print_version();
			break;
		default:
			usage();
		}
	}
	if (argc != optind || archive == NULL || (from != NULL && label != NULL))
		usage();
	if (from != NULL && walname_parse(from, &wn) != WAL_SEGMENT)
		errx(EXIT_USAGE, "not a WAL segment name: %s", from);
	walarch_load(archive, &ents, &nents, &bk, &nb, &segsize);

	find_start(from, &wn, label, bk, nb, segsize, &start_tli, &start,
	    &start_lsn);
	nbest = follow_history(start_tli, start_lsn, segsize, best);
	end = find_end(best, nbest, start, segsize);
	report_gaps(best, nbest, start, end, segsize);
	if (verify)
		verify_files(best, nbest, start, end, segsize);
	walname_format(a, expected_tli(best, nbest, start), start, segsize);
	walname_format(b, expected_tli(best, nbest, end), end, segsize);
	printf("checked\t%s\t%s\n", a, b);
	walarch_free(ents, nents);
	walarch_backups_free(bk, nb);
	finish(problems ? EXIT_NO : EXIT_DONE);
}
