/* Tier: product (libpq, the stream, PgQ, Londiste or WAL; may include any header). */
/* walarch.h: the archive directory: ARCHIVE/wal and ARCHIVE/base.
 *
 * ARCHIVE/wal holds one file per WAL file, named as PostgreSQL names it,
 * with ".zst" appended when compressed (format: walfile.h).  Names that
 * start with '.' are temporary files of a push in progress (or killed).
 * ARCHIVE/base/LABEL holds one plain-format pg_basebackup with its
 * backup_label and backup_manifest. */
#ifndef WALARCH_H
#define WALARCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util.h"
#include "walname.h"

struct walent {
	char *name;		/* the WAL file name PostgreSQL uses */
	char *file;		/* the file name in ARCHIVE/wal */
	int zst;		/* file carries ".zst" */
	struct walname w;
};

struct backup {
	char *label;		/* directory name under ARCHIVE/base */
	uint32_t tli;
	uint64_t start_lsn;
	uint64_t end_lsn;	/* from backup_manifest, 0 when unknown */
	char start_seg[WALNAME_LEN + 1];
	char start_time[40];	/* as backup_label says, "" if absent */
	struct timespec done;	/* mtime of backup_manifest (or backup_label) */
	long long bytes;	/* total size of the files */
	int live;		/* on the history of the newest timeline */
};

/* "ARCHIVE/sub" in a new string. */
char *walarch_path(const char *archive, const char *sub);

/* The files of ARCHIVE/wal, sorted by name; temporary and unknown names
 * are skipped (unknown ones counted in *unknown when not NULL).  Returns
 * 0, or -1 with errno (ENOENT when ARCHIVE/wal is missing). */
MUST_CHECK int walarch_scan(const char *archive, struct walent **ents,
    size_t *n, size_t *unknown);
void walarch_free(struct walent *ents, size_t n);

/* Open the archived file for name (plain or ".zst") read-only.  Returns
 * the fd, or -1 with errno (ENOENT when neither exists); *file gets the
 * path opened when not NULL. */
int walarch_open(const char *archive, const char *name, char **file);

/* The base backups, oldest first.  The newest timeline is the highest
 * one whose history file the archive holds (probed upward as PostgreSQL
 * does); a backup is live when the WAL from it to that timeline's end is
 * one history: taken on that timeline, or on an ancestor and ending no
 * later than the switch away from it.  Backups that are not live (taken
 * on a branch a point-in-time restore abandoned) come first, by the time
 * they finished; then the live ones by their place along the history
 * (start LSN).  So the last one is the newest backup recovery can follow
 * to the newest timeline, whatever the LSNs of abandoned branches.  When
 * the newest history cannot be read every backup counts as live.  A
 * directory that is not a complete backup (no readable backup_label) is
 * skipped with a warning.  A missing ARCHIVE/base is no backups.
 * Returns 0 or -1. */
MUST_CHECK int walarch_backups(const char *archive, struct backup **b,
    size_t *n);
void walarch_backups_free(struct backup *b, size_t n);

/* The WAL segment size the archive uses: the original size of the newest
 * full segment when it is a valid size, else 16 MiB. */
uint64_t walarch_segsize(const char *archive, const struct walent *ents,
    size_t n);

/* The argument of --wal-segsize: megabytes, a power of 2 from 1 to 1024,
 * returned in bytes; anything else exits EXIT_USAGE. */
uint64_t walarch_segsize_arg(const char *arg);

/* What wal-check and wal-prune read first: ARCHIVE/wal (missing is empty)
 * and ARCHIVE/base, exiting EXIT_RETRY when the archive or either cannot
 * be read; a *segsize of 0 becomes walarch_segsize's. */
void walarch_load(const char *archive, struct walent **ents, size_t *n,
    struct backup **bk, size_t *nb, uint64_t *segsize);

/* Format t as PostgreSQL prints a timestamptz in UTC with DateStyle ISO
 * ("2024-01-02 03:04:05+00") into out (at least 32 bytes). */
void iso_utc(char *out, size_t len, time_t t);

/* The same with six digits of fraction, always ("...:05.000000+00"), so
 * that such strings compare as the times they denote. */
void iso_utc_us(char *out, size_t len, const struct timespec *ts);

#endif
