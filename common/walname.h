/* Tier: product (libpq, the stream, PgQ, Londiste or WAL; may include any header). */
/* walname.h: PostgreSQL WAL file names and segment arithmetic.
 *
 * A segment is named TTTTTTTTLLLLLLLLSSSSSSSS (timeline, log, segment
 * within the log, 8 upper-case hex digits each); a timeline history file
 * TTTTTTTT.history; a backup history file SEGMENT.OOOOOOOO.backup (the
 * start offset); a segment cut short at a timeline switch SEGMENT.partial.
 * How many segments one "log" holds depends on the segment size, so
 * every conversion between names and segment numbers takes it. */
#ifndef WALNAME_H
#define WALNAME_H

#include <stddef.h>
#include <stdint.h>

enum walkind {
	WAL_OTHER = 0,	/* not a WAL file name */
	WAL_SEGMENT,
	WAL_PARTIAL,
	WAL_HISTORY,
	WAL_BACKUP
};

struct walname {
	enum walkind kind;
	uint32_t tli;
	uint32_t log;		/* not set for WAL_HISTORY */
	uint32_t seg;
	uint32_t offset;	/* WAL_BACKUP only */
};

#define WALNAME_LEN 24		/* a segment name, without NUL */
#define WAL_SEGSIZE_DEFAULT (16u * 1024 * 1024)

/* Parse name; returns its kind (WAL_OTHER for anything else) and fills w. */
enum walkind walname_parse(const char *name, struct walname *w);

/* Short word for a kind: "segment", "partial", "history", "backup". */
const char *walkind_str(enum walkind k);

/* True for a power of two from 1 MiB to 1 GiB, the sizes initdb allows. */
int wal_segsize_ok(uint64_t segsize);

/* The absolute segment number of a parsed segment/partial/backup name. */
uint64_t walname_segno(const struct walname *w, uint64_t segsize);

/* Format the segment name of (tli, segno) into out[WALNAME_LEN + 1]. */
void walname_format(char *out, uint32_t tli, uint64_t segno, uint64_t segsize);

/* Parse an LSN "X/Y" (hex); returns 0, or -1 when malformed. */
int lsn_parse(const char *s, uint64_t *lsn);

#endif
