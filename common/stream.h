/* Tier: product (libpq, the stream, PgQ, Londiste or WAL; may include any header). */
/* stream.h: the batch stream between programs (its contract is pgq-stream(5)).
 *
 * A reader hands out one record at a time with its fields still
 * COPY-escaped, so a stage that only passes values on never decodes them.
 * It enforces the framing (batch, events, end with matching id and
 * count) and exits with EXIT_USAGE naming the line on anything malformed. */
#ifndef STREAM_H
#define STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "linein.h"

enum rec {
	REC_EOF = 0,	/* clean end of input, between batches */
	REC_BATCH,
	REC_EVENT,
	REC_END
};

/* Field counts after the tag. */
#define BATCH_NF 7	/* batch_id cur_tick prev_tick cur_time prev_time queue consumer */
#define EVENT_NF 10	/* ev_id ev_time ev_txid ev_retry ev_type ev_data extra1..4 */
#define END_NF   2	/* batch_id event_count */

/* Indexes into f[] of a batch record. */
enum { B_ID, B_CUR_TICK, B_PREV_TICK, B_CUR_TIME, B_PREV_TIME, B_QUEUE, B_CONSUMER };
/* Indexes into f[] of an event record. */
enum { E_ID, E_TIME, E_TXID, E_RETRY, E_TYPE, E_DATA, E_EXTRA1, E_EXTRA2,
       E_EXTRA3, E_EXTRA4 };

struct stream {
	struct linein in;
	const char *name;	/* for messages: "stdin" */
	char	   *line;	/* the current line, NUL terminated, in in.buf */
	long	    lineno;
	char	   *f[EVENT_NF];	/* fields after the tag, raw */
	int	    nf;
	/* framing state */
	bool	    in_batch;
	long long   batch_id;
	long long   nevents;
	/* the open batch record, kept raw for re-emitting */
	char	   *batch_line;
	size_t	    batch_cap;
};

/* Read from fd.  While it waits for input, the reader also watches
 * stdout: when the stage downstream has gone (the pipe's read end is
 * closed) it exits EXIT_RETRY at once instead of blocking forever, so a
 * pipeline whose last stage died unwinds from the end. */
void stream_init(struct stream *s, int fd, const char *name);
void stream_free(struct stream *s);

/* What a reader accepts: whole batches (batch, events, end), or bare
 * batch records one per line as pgq-next-batch prints them. */
enum stream_mode { STREAM_FRAMED, STREAM_BATCHES };

/* Read the next record.  Malformed input exits EXIT_USAGE with the line
 * number; EOF inside a batch or a line (a dead upstream) exits
 * EXIT_RETRY.  Both
 * exits happen before the caller acted on the batch, so nothing of it is
 * committed. */
enum rec stream_next(struct stream *s, enum stream_mode mode);

/* The batch record of the open (or just ended) batch, as read, without
 * its newline: "batch\t...". */
const char *stream_batch_line(const struct stream *s);

/* Write `batch` ... `end` with no events for the batch just ended:
 * how a stage reports that it made the batch durable. */
void stream_emit_done(const struct stream *s, FILE *out);

/* Write a batch record from PQ values (already plain text, escaped here). */
void stream_write_batch(FILE *out, const char *const v[BATCH_NF]);
/* Write an event record from a row as COPY of the event columns (in
 * pgq-stream(5)'s order) writes it: escaped, with its newline. */
void stream_write_event(FILE *out, const char *row, size_t len);
void stream_write_end(FILE *out, const char *batch_id, long long count);

/* Parse a batch id; 0 on bad input. */
long long stream_parse_id(const char *s);

#endif
