/* wal-prune: remove archived WAL that no kept base backup needs, and with
 * --keep-backups the base backups beyond the newest N.
 *
 * Backups go first: if we are stopped halfway, the archive holds extra
 * WAL, never a backup whose WAL is gone.  A backup directory is renamed
 * to a hidden name before it is deleted, so it is never seen half
 * removed.  Timeline history files are never removed. */
#define _XOPEN_SOURCE 700	/* nftw */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "exitcodes.h"
#include "util.h"
#include "walarch.h"
#include "walname.h"

static const char usage_line[] =
    "usage: wal-prune -A archive [--dry-run] [--keep-from segment] --before segment\n"
    "       wal-prune -A archive [--dry-run] [--keep-from segment] [--keep-backups n] [--keep-days d] [--wal-backups k]\n";

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
	    "Remove archived WAL older than a segment or than the oldest of\n"
	    "the newest n base backups (and the older backups).  Prints what\n"
	    "it removes as TSV: kind, name.\n"
	    "\n"
	    "  -A, --archive=DIR       the archive directory\n"
	    "  -b, --before=SEGMENT    remove WAL older than this segment\n"
	    "  -k, --keep-backups=N    keep the newest N base backups\n"
	    "  -d, --keep-days=D       also keep the backups of the last D days\n"
	    "  -w, --wal-backups=K     keep WAL only for the newest K backups kept\n"
	    "  -f, --keep-from=SEGMENT never remove this segment or later ones\n"
	    "  -n, --dry-run           only print what would be removed\n"
	    "  -s, --wal-segsize=MB    WAL segment size (default: from the archive)\n"
	    "  -h, --help              show this help\n"
	    "  -V, --version           show the version\n", stdout);
	finish(EXIT_DONE);
}

static int
ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	    (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(p) : unlink(p)) != 0) {
		warn("remove %s", p);
		return -1;
	}
	return 0;
}

static int
rm_tree(const char *dir)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Finish removals a killed run left behind (base/.LABEL.removing). */
static int
rm_leftovers(const char *basedir, int dry)
{
	DIR *d = opendir(basedir);
	struct dirent *de;
	int ret = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		struct buf p = {0};

		if (de->d_name[0] != '.' || l < 10 ||
		    strcmp(de->d_name + l - 9, ".removing") != 0)
			continue;
		buf_printf(&p, "%s/%s", basedir, de->d_name);
		if (!dry && rm_tree(p.data) != 0)
			ret = -1;
		buf_free(&p);
	}
	closedir(d);
	return ret;
}

/* --keep-backups/--keep-days: mark in drop[] (nb bytes, returned) the
 * backups to remove, count them in *ndrop, and return the first segment
 * the kept ones need.
 *
 * Keep the newest n backups of the newest timeline's history (the last
 * ones in walarch_backups' order).  A backup off that history (a branch a
 * point-in-time restore left behind, or a master still running on the old
 * timeline after a test promotion) goes only when it finished before the
 * oldest backup kept: LSNs of different timelines say nothing about which
 * one is newer, and time is all that orders them.  The cut-off is the
 * lowest start kept. */
static uint64_t
choose_backups(const struct backup *bk, size_t nb, long long keep,
    long long days, long long walk, uint64_t segsize, char **dropp,
    size_t *ndrop)
{
	size_t live = 0, kept = 0, walkept = 0;
	struct timespec t0 = { 0, 0 }, now;
	uint64_t cutoff;
	char *drop;

	if (clock_gettime(CLOCK_REALTIME, &now) != 0)
		err(EXIT_RETRY, "clock_gettime");
	drop = xmalloc(nb);
	for (size_t i = 0; i < nb; i++)
		live += bk[i].live != 0;
	for (size_t i = nb; i-- > 0;) {
		/* Young enough, or among the newest n: kept.  The
		 * newest backup always is. */
		int want = kept < (size_t)keep || kept == 0 ||
		    (days > 0 && now.tv_sec - bk[i].done.tv_sec <
		    days * 86400);

		drop[i] = 1;
		if (want && (live == 0 || bk[i].live)) {
			drop[i] = 0;
			kept++;
			if (kept == 1 || ts_before(&bk[i].done, &t0))
				t0 = bk[i].done;
		}
	}
	for (size_t i = 0; i < nb; i++)
		if (!bk[i].live && drop[i] && live > 0 &&
		    !ts_before(&bk[i].done, &t0)) {
			warnx("keeping base backup %s: not on the newest "
			    "timeline's history, but newer than the backups "
			    "kept", bk[i].label);
			drop[i] = 0;
		}
	/* With --wal-backups only the newest k kept backups keep
	 * the archived WAL from their start: the older ones restore
	 * to their own end from the WAL they hold (pg_basebackup -X). */
	cutoff = UINT64_MAX;
	for (size_t i = nb; i-- > 0;) {
		if (drop[i])
			(*ndrop)++;
		else if ((walk == 0 || walkept++ < (size_t)walk) &&
		    bk[i].start_lsn / segsize < cutoff)
			cutoff = bk[i].start_lsn / segsize;
	}
	*dropp = drop;
	return cutoff;
}

/* --before: the cut-off is that segment, or the start of an older backup.
 * Any backup, whatever its timeline, keeps its WAL. */
static uint64_t
cutoff_before(const struct walname *wn, const struct backup *bk, size_t nb,
    uint64_t segsize)
{
	uint64_t cutoff = walname_segno(wn, segsize);
	size_t need = nb;

	for (size_t i = 0; i < nb; i++)
		if (bk[i].start_lsn / segsize < cutoff) {
			cutoff = bk[i].start_lsn / segsize;
			need = i;
		}
	if (need < nb)
		warnx("keeping WAL from %s on: base backup %s needs it",
		    bk[need].start_seg, bk[need].label);
	return cutoff;
}

/* Remove the backups marked in drop: renamed to .LABEL.removing first so
 * a killed run leaves a name rm_leftovers finishes.  Returns the exit
 * code so far. */
static int
drop_backups(const char *basedir, const struct backup *bk, size_t nb,
    const char *drop, int dry, int ret)
{
	for (size_t i = 0; i < nb; i++) {
		struct buf from = {0}, to = {0};

		if (drop == NULL || !drop[i])
			continue;
		printf("base\t%s\n", bk[i].label);
		if (dry)
			continue;
		buf_printf(&from, "%s/%s", basedir, bk[i].label);
		buf_printf(&to, "%s/.%s.removing", basedir, bk[i].label);
		if (durable_rename(from.data, to.data) != 0)
			err(EXIT_RETRY, "rename %s", from.data);
		if (rm_tree(to.data) != 0)
			ret = EXIT_RETRY;
		buf_free(&from);
		buf_free(&to);
	}
	return ret;
}

/* Remove the archived segments (and backup labels) before cutoff; history
 * files stay.  Returns the exit code so far. */
static int
drop_wal(const char *waldir, const struct walent *ents, size_t n,
    uint64_t cutoff, uint64_t segsize, int dry, int ret)
{
	int removed = 0;

	for (size_t i = 0; i < n; i++) {
		struct buf p = {0};

		if (ents[i].w.kind == WAL_HISTORY ||
		    walname_segno(&ents[i].w, segsize) >= cutoff)
			continue;
		printf("%s\t%s\n", walkind_str(ents[i].w.kind), ents[i].name);
		if (dry)
			continue;
		buf_printf(&p, "%s/%s", waldir, ents[i].file);
		if (unlink(p.data) != 0) {
			warn("remove %s", p.data);
			ret = EXIT_RETRY;
		} else
			removed = 1;
		buf_free(&p);
	}
	if (removed && fsync_dir(waldir) != 0)
		err(EXIT_RETRY, "fsync %s", waldir);
	return ret;
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "archive",      required_argument, NULL, 'A' },
		{ "before",       required_argument, NULL, 'b' },
		{ "dry-run",      no_argument,       NULL, 'n' },
		{ "help",         no_argument,       NULL, 'h' },
		{ "keep-backups", required_argument, NULL, 'k' },
		{ "keep-days",    required_argument, NULL, 'd' },
		{ "keep-from",    required_argument, NULL, 'f' },
		{ "wal-backups",  required_argument, NULL, 'w' },
		{ "wal-segsize",  required_argument, NULL, 's' },
		{ "version",      no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *archive = NULL, *before = NULL, *keepfrom = NULL;
	struct walname fn;
	long long days = 0, walk = 0;
	struct walent *ents;
	struct backup *bk;
	struct walname wn;
	size_t n, nb, ndrop = 0;
	char *drop = NULL;
	long long keep = 0;
	uint64_t segsize = 0, cutoff;
	char *basedir, *waldir;
	int c, dry = 0, ret = EXIT_DONE;

	while ((c = getopt_long(argc, argv, "A:b:d:f:hk:ns:Vw:", opts, NULL)) != -1) {
		switch (c) {
		case 'A':
			archive = optarg;
			break;
		case 'b':
			before = optarg;
			break;
		case 'd':
			days = parse_num(optarg, 1, 365000, "number of days");
			break;
		case 'f':
			keepfrom = optarg;
			break;
		case 'h':
			help();
			break;
		case 'k':
			keep = parse_num(optarg, 1, 1000000, "number of backups");
			break;
		case 'n':
			dry = 1;
			break;
		case 's':
			segsize = walarch_segsize_arg(optarg);
			break;
		case 'V':
			print_version();
			break;
		case 'w':
			walk = parse_num(optarg, 1, 1000000, "number of backups");
			break;
		default:
			usage();
		}
	}
	if (argc != optind || archive == NULL ||
	    (before == NULL) == (keep == 0 && days == 0) ||
	    (walk > 0 && before != NULL))
		usage();
	if (before != NULL && walname_parse(before, &wn) != WAL_SEGMENT)
		errx(EXIT_USAGE, "not a WAL segment name: %s", before);
	if (keepfrom != NULL && walname_parse(keepfrom, &fn) != WAL_SEGMENT)
		errx(EXIT_USAGE, "not a WAL segment name: %s", keepfrom);
	walarch_load(archive, &ents, &n, &bk, &nb, &segsize);
	basedir = walarch_path(archive, "base");
	waldir = walarch_path(archive, "wal");

	if (keep > 0 || days > 0) {
		if (nb == 0) {
			warnx("%s: no base backup; nothing removed", archive);
			finish(EXIT_DONE);
		}
		cutoff = choose_backups(bk, nb, keep, days, walk, segsize,
		    &drop, &ndrop);
	} else
		cutoff = cutoff_before(&wn, bk, nb, segsize);

	if (keepfrom != NULL && walname_segno(&fn, segsize) < cutoff) {
		cutoff = walname_segno(&fn, segsize);
		warnx("keeping WAL from %s on (--keep-from)", keepfrom);
	}

	if (rm_leftovers(basedir, dry) != 0)
		ret = EXIT_RETRY;
	ret = drop_backups(basedir, bk, nb, drop, dry, ret);
	ret = drop_wal(waldir, ents, n, cutoff, segsize, dry, ret);
	if (ndrop > 0 && !dry && fsync_dir(basedir) != 0)
		err(EXIT_RETRY, "fsync %s", basedir);
	walarch_free(ents, n);
	walarch_backups_free(bk, nb);
	free(drop);
	free(basedir);
	free(waldir);
	finish(ret);
}
