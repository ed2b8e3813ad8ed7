/* walarch.c: list and open what an archive directory holds. */
/* nftw() and FTW_PHYS are X/Open. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "exitcodes.h"
#include "walarch.h"
#include "walfile.h"

char *
walarch_path(const char *archive, const char *sub)
{
	struct buf b = {0};

	buf_printf(&b, "%s/%s", archive, sub);
	return b.data;
}

static int
cmp_ent(const void *a, const void *b)
{
	return strcmp(((const struct walent *)a)->name,
	    ((const struct walent *)b)->name);
}

int
walarch_scan(const char *archive, struct walent **ents, size_t *n,
    size_t *unknown)
{
	char *dir = walarch_path(archive, "wal");
	DIR *d = opendir(dir);
	struct dirent *de;
	struct walent *v = NULL;
	size_t cnt = 0, cap = 0;

	*ents = NULL;
	*n = 0;
	if (unknown != NULL)
		*unknown = 0;
	free(dir);
	if (d == NULL)
		return -1;
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct walent e = {0};
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue;
		e.file = xstrdup(de->d_name);
		e.name = xstrdup(de->d_name);
		if (len > 4 && strcmp(e.name + len - 4, ".zst") == 0) {
			e.name[len - 4] = '\0';
			e.zst = 1;
		}
		if (walname_parse(e.name, &e.w) == WAL_OTHER) {
			if (unknown != NULL)
				(*unknown)++;
			free(e.file);
			free(e.name);
			continue;
		}
		if (cnt == cap) {
			cap = cap ? cap * 2 : 256;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[cnt++] = e;
	}
	if (errno != 0) {
		int e = errno;

		closedir(d);
		walarch_free(v, cnt);
		errno = e;
		return -1;
	}
	closedir(d);
	if (cnt > 0)
		qsort(v, cnt, sizeof(*v), cmp_ent);
	*ents = v;
	*n = cnt;
	return 0;
}

void
walarch_free(struct walent *ents, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(ents[i].name);
		free(ents[i].file);
	}
	free(ents);
}

int
walarch_open(const char *archive, const char *name, char **file)
{
	struct buf b = {0};
	int fd;

	buf_printf(&b, "%s/wal/%s", archive, name);
	fd = open_regular(b.data);
	if (fd < 0 && errno == ENOENT) {
		buf_addstr(&b, ".zst");
		fd = open_regular(b.data);
	}
	if (fd >= 0 && file != NULL)
		*file = b.data;
	else {
		int e = errno;

		free(b.data);
		errno = e;
	}
	return fd;
}

static int
parse_label(const char *path, struct backup *bk)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int have_start = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		char lsn[32], seg[32];
		unsigned tli;

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "START WAL LOCATION: %31s (file %24[0-9A-F])",
		    lsn, seg) == 2 && lsn_parse(lsn, &bk->start_lsn) == 0 &&
		    strlen(seg) == WALNAME_LEN) {
			memcpy(bk->start_seg, seg, WALNAME_LEN + 1);
			have_start = 1;
		} else if (sscanf(line, "START TIMELINE: %u", &tli) == 1)
			bk->tli = tli;
		else if (strncmp(line, "START TIME: ", 12) == 0)
			snprintf(bk->start_time, sizeof(bk->start_time), "%.39s",
			    line + 12);
	}
	fclose(f);
	if (!have_start) {
		errno = EINVAL;
		return -1;
	}
	if (bk->tli == 0) {
		struct walname w;

		walname_parse(bk->start_seg, &w);
		bk->tli = w.tli;
	}
	return 0;
}

static long long du_total;

static int
du_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)p;
	(void)ftw;
	if (flag == FTW_F)
		du_total += (long long)st->st_size;
	return 0;
}

static int
ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

static int
cmp_backup(const void *a, const void *b)
{
	const struct backup *x = a, *y = b;
	int c;

	if (x->live != y->live)
		return x->live ? 1 : -1;
	if (x->live && x->start_lsn != y->start_lsn)
		return x->start_lsn < y->start_lsn ? -1 : 1;
	if ((c = ts_cmp(&x->done, &y->done)) != 0)
		return c;
	return strcmp(x->label, y->label);
}

/* The largest "End-LSN" of the manifest's WAL-Ranges, which close the
 * file: its last few KiB are enough. */
static uint64_t
manifest_end_lsn(const char *path)
{
	char tail[8192], *p;
	uint64_t best = 0, lsn;
	struct stat st;
	ssize_t r;
	off_t off;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return 0;
	}
	off = st.st_size > (off_t)sizeof(tail) - 1 ?
	    st.st_size - (off_t)sizeof(tail) + 1 : 0;
	r = pread(fd, tail, sizeof(tail) - 1, off);
	close(fd);
	if (r <= 0)
		return 0;
	tail[r] = '\0';
	for (p = tail; (p = strstr(p, "\"End-LSN\"")) != NULL; p++) {
		char v[32];

		/* A space in the format matches any white space, or none. */
		if (sscanf(p, "\"End-LSN\" : \"%31[0-9A-Fa-f/]\"", v) == 1 &&
		    lsn_parse(v, &lsn) == 0 && lsn > best)
			best = lsn;
	}
	return best;
}

/* Read the switch points of timeline tli's history file: parents[i] was
 * left at ends[i].  Returns the number of entries, or -1 when the file
 * is missing or unreadable. */
static int
read_switches(const char *archive, uint32_t tli, uint32_t *parents,
    uint64_t *ends, int max)
{
	struct walfile_info info;
	char name[32], msg[256], line[512];
	FILE *tmp;
	int fd, rc, n = 0;

	snprintf(name, sizeof(name), "%08X.history", (unsigned)tli);
	if ((fd = walarch_open(archive, name, NULL)) < 0)
		return -1;
	if ((tmp = tmpfile()) == NULL) {
		close(fd);
		return -1;
	}
	rc = walfile_read(fd, fileno(tmp), -1, &info, msg, sizeof(msg));
	close(fd);
	if (rc != WF_OK) {
		warnx("%s: %s", name, msg);
		fclose(tmp);
		return -1;
	}
	rewind(tmp);
	while (fgets(line, sizeof(line), tmp) != NULL && n < max) {
		char lsn[64];
		unsigned parent;

		if (sscanf(line, "%u %63s", &parent, lsn) == 2 &&
		    lsn_parse(lsn, &ends[n]) == 0)
			parents[n++] = parent;
	}
	fclose(tmp);
	return n;
}

static int
history_exists(const char *archive, uint32_t tli)
{
	char name[32];
	int fd;

	snprintf(name, sizeof(name), "%08X.history", (unsigned)tli);
	if ((fd = walarch_open(archive, name, NULL)) < 0)
		return 0;
	close(fd);
	return 1;
}

/* Mark the backups on the newest timeline's history (see walarch.h). */
static void
mark_live(const char *archive, struct backup *v, size_t cnt)
{
	uint32_t newest = 1, parents[512];
	uint64_t ends[512];
	int nsw;

	for (size_t i = 0; i < cnt; i++)
		if (v[i].tli > newest)
			newest = v[i].tli;
	while (newest < UINT32_MAX && history_exists(archive, newest + 1))
		newest++;
	nsw = newest == 1 ? 0 : read_switches(archive, newest, parents, ends,
	    512);
	for (size_t i = 0; i < cnt; i++) {
		uint64_t upto = v[i].end_lsn ? v[i].end_lsn : v[i].start_lsn;

		v[i].live = nsw < 0 || v[i].tli == newest;
		for (int j = 0; j < nsw && !v[i].live; j++)
			if (parents[j] == v[i].tli)
				v[i].live = upto <= ends[j];
	}
}

int
walarch_backups(const char *archive, struct backup **out, size_t *n)
{
	char *dir = walarch_path(archive, "base");
	DIR *d = opendir(dir);
	struct dirent *de;
	struct backup *v = NULL;
	size_t cnt = 0, cap = 0;

	*out = NULL;
	*n = 0;
	if (d == NULL) {
		free(dir);
		return errno == ENOENT ? 0 : -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct backup bk = {0};
		struct buf p = {0};
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		buf_printf(&p, "%s/%s/backup_label", dir, de->d_name);
		if (parse_label(p.data, &bk) != 0) {
			warnx("%s/%s: not a complete base backup (no usable "
			    "backup_label), skipped", dir, de->d_name);
			buf_free(&p);
			continue;
		}
		if (stat(p.data, &st) == 0)
			bk.done = st.st_mtim;
		buf_reset(&p);
		buf_printf(&p, "%s/%s/backup_manifest", dir, de->d_name);
		if (stat(p.data, &st) == 0) {
			bk.done = st.st_mtim;
			bk.end_lsn = manifest_end_lsn(p.data);
		}
		buf_reset(&p);
		buf_printf(&p, "%s/%s", dir, de->d_name);
		du_total = 0;
		(void)nftw(p.data, du_one, 16, FTW_PHYS);
		bk.bytes = du_total;
		buf_free(&p);
		bk.label = xstrdup(de->d_name);
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[cnt++] = bk;
	}
	free(dir);
	if (errno != 0) {
		int e = errno;

		closedir(d);
		walarch_backups_free(v, cnt);
		errno = e;
		return -1;
	}
	closedir(d);
	mark_live(archive, v, cnt);
	if (cnt > 0)
		qsort(v, cnt, sizeof(*v), cmp_backup);
	*out = v;
	*n = cnt;
	return 0;
}

void
walarch_backups_free(struct backup *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(b[i].label);
	free(b);
}

uint64_t
walarch_segsize_arg(const char *arg)
{
	uint64_t segsize = (uint64_t)parse_num(arg, 1, 1024, "segment size") << 20;

	if (!wal_segsize_ok(segsize))
		errx(EXIT_USAGE, "segment size must be a power "
		    "of 2 from 1 to 1024: %s", arg);
	return segsize;
}

void
walarch_load(const char *archive, struct walent **ents, size_t *n,
    struct backup **bk, size_t *nb, uint64_t *segsize)
{
	struct stat st;

	if (stat(archive, &st) != 0)
		err(EXIT_RETRY, "archive %s", archive);
	if (walarch_scan(archive, ents, n, NULL) != 0 && errno != ENOENT)
		err(EXIT_RETRY, "%s/wal", archive);
	if (walarch_backups(archive, bk, nb) != 0)
		err(EXIT_RETRY, "%s/base", archive);
	if (*segsize == 0)
		*segsize = walarch_segsize(archive, *ents, *n);
}

uint64_t
walarch_segsize(const char *archive, const struct walent *ents, size_t n)
{
	for (size_t i = n; i-- > 0;) {
		struct walfile_info info;
		char msg[256];
		int fd, rc;

		if (ents[i].w.kind != WAL_SEGMENT)
			continue;
		fd = walarch_open(archive, ents[i].name, NULL);
		if (fd < 0)
			continue;
		rc = walfile_trailer(fd, &info, msg, sizeof(msg));
		close(fd);
		if (rc == WF_OK && wal_segsize_ok(info.size))
			return info.size;
	}
	return WAL_SEGSIZE_DEFAULT;
}

void
iso_utc(char *out, size_t len, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M:%S+00", &tm);
}

void
iso_utc_us(char *out, size_t len, const struct timespec *ts)
{
	char sec[32];
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out, len, "%s.%06ld+00", sec, (long)(ts->tv_nsec / 1000));
}
