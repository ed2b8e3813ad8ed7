/* Tier: product (libpq, the stream, PgQ, Londiste or WAL; may include any header). */
/* pgpipe.h: libpq pipeline mode with a window of statements in flight,
 * each judged by its own check when the pipeline is synced.
 *
 * A caller takes a slot for every statement it sends; the slot carries a
 * caller-sized payload (what the check needs to name or judge the
 * statement).  Failures come back as a message for the caller to report:
 * the caller decides the exit status. */
#ifndef PGPIPE_H
#define PGPIPE_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "util.h"

/* Judges one result of a statement while no earlier one failed; appends
 * a message to err to fail the pipeline.  payload is NULL for a result
 * that belongs to no slot. */
typedef void pgpipe_check(struct buf *err, PGresult *res, void *payload);

struct pgpipe {
	PGconn *conn;
	bool on;		/* in pipeline mode */
	int window;		/* slots; a full window is synced first */
	int n;			/* statements in flight */
	size_t size;		/* of a payload */
	struct pgpipe_slot {
		pgpipe_check *check;	/* NULL: only errors fail */
		PGresult **keep;	/* where an accepted result goes */
	} *slot;
	char *payload;		/* window * size bytes */
	struct buf err;
};

void pgpipe_init(struct pgpipe *p, PGconn *conn, int window, size_t size);
void pgpipe_free(struct pgpipe *p);

/* Enter pipeline mode unless in it; NULL or the error. */
MUST_CHECK const char *pgpipe_on(struct pgpipe *p);

/* Wait for every statement sent so far, checking each result; NULL or
 * the first failure.  Either way no statement is in flight after. */
MUST_CHECK const char *pgpipe_sync(struct pgpipe *p);

/* Sync and leave pipeline mode; NULL or the error. */
MUST_CHECK const char *pgpipe_off(struct pgpipe *p);

/* A slot for the next statement (syncing a full window first: *errp is
 * then set when that failed, and NULL is returned).  With keep, the
 * statement's result is stored there instead of cleared once check
 * accepted it.  The payload returned is zeroed. */
MUST_CHECK void *pgpipe_slot(struct pgpipe *p, pgpipe_check *check,
    PGresult **keep, const char **errp);

/* Whether a statement with this check is in flight. */
bool pgpipe_pending(const struct pgpipe *p, pgpipe_check *check);

#endif
