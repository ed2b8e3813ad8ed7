/* Tier: product (libpq, the stream, PgQ, Londiste or WAL; may include any header). */
/* walpush.h: archive one WAL file into ARCHIVE/wal, as a function.
 *
 * The steps and guarantees of wal-push(1), for callers that must not
 * exit: the archive module (server/skytools_wal.c) runs it inside the
 * server's archiver process, so it returns a status, closes every file
 * it opened and frees what it allocated. */
#ifndef WALPUSH_H
#define WALPUSH_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Archive the file at src as name (a WAL file name) in archive/wal:
 * written to "archive/wal/.NAME.tmp" under an flock, fsynced, renamed to
 * NAME (NAME.zst with comp WALFILE_ZSTD at level) and the directory
 * fsynced.  An archived name is never replaced: the same content again
 * is success, other content or a damaged archived copy is refused.
 * A segment must be the one its name says (walseg.h), else nothing is
 * archived.
 * Returns an exit status of exitcodes.h: EXIT_DONE, EXIT_USAGE (not a
 * WAL file name, or not that segment), EXIT_RETRY (I/O errors, a missing archive, a
 * concurrent push), EXIT_REFUSE; msg gets the reason (and, with
 * EXIT_DONE, a note when the file was already archived, else ""). */
MUST_CHECK int walpush(const char *archive, const char *src,
    const char *name, uint32_t comp, int level, char *msg, size_t msglen);

#endif
