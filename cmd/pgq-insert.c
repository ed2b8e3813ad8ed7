/* pgq-insert: the producer; COPY events from stdin into a queue. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copytext.h"
#include "db.h"
#include "exitcodes.h"
#include "linein.h"
#include "stream.h"
#include "util.h"

/* A chunk is committed when input pauses (a live feed reaches consumers
 * at once), or at this size or age (a bulk load commits as it goes).
 * Under a steady flood chunks are large: each chunk's COPY takes a fresh
 * 16 MB bulk-insert ring of shared buffers, and a backend's first touch
 * of each of those pages is a page fault; at a chunk per second that
 * cost a bulk load of 1M events a fifth of its speed. */
#define CHUNK_ROWS	1000000
#define CHUNK_MS	10000
/* Input that stops for this long has paused.  An upstream writer that
 * merely lags a moment behind us (cat, awk, zcat) leaves the pipe empty
 * for a few microseconds again and again; committing at each of those
 * cost a piped bulk load hundreds of commits. */
#define PAUSE_MS	10
/* Bytes gathered before one PQputCopyData call. */
#define SEND_BYTES	(1 << 16)

static struct {
	const char *queue;
	bool single;
	bool stream;
} o;

static PGconn *conn;
static struct buf out;		/* COPY data not yet sent */
static long long chunk_rows;
static long long chunk_start;
static char *ev_time;		/* now() of the open transaction */
static long long tx_limit = -1;	/* the queue's queue_per_tx_limit; -1: none */

static void
usage(void)
{
	fprintf(stderr, "usage: pgq-insert [-d conninfo] [--stream | --single-transaction] queue\n");
	exit(EXIT_USAGE);
}

static void
help(void)
{
	printf("usage: pgq-insert [-d conninfo] [--stream | --single-transaction] queue\n"
	    "\n"
	    "Insert events read from stdin into a queue: one per line,\n"
	    "ev_type TAB ev_data [TAB extra1 .. extra4], COPY text escaping.\n"
	    "\n"
	    "  -d, --dbname=CONNINFO     database (default: PG* environment)\n"
	    "  -s, --stream              read a batch stream; insert each batch in\n"
	    "                            one transaction and re-emit it on commit\n"
	    "  -1, --single-transaction  the whole input is one transaction\n"
	    "  -h, --help                show this help\n"
	    "  -V, --version             show the version\n");
	finish(EXIT_DONE);
}

/* Open a transaction and a COPY into the queue's current event table.
 * The event table's defaults supply ev_id and ev_txid, as they do for
 * pgq.insert_event; current_event_table() refuses a queue with inserts
 * disabled.  With time_col, the COPY takes ev_time from the data.
 * COPY passes by insert_event's check of the queue's per-transaction
 * limit, so the limit is read here and kept by the callers. */
static void
copy_open(bool time_col)
{
	const char *params[1] = { o.queue };
	PGresult *res;
	struct buf sql = {0};

	db_cmd(conn, "begin", "BEGIN", 0, NULL);
	/* Our event tables default ev_time to now(), the original PgQ's have
	 * no default; a default spares the server parsing a time per row. */
	res = db_exec(conn, "current event table",
	    "SELECT t, now(), coalesce((SELECT a.atthasdef FROM pg_catalog.pg_attribute a"
	    " WHERE a.attrelid = t::pg_catalog.regclass AND a.attname = 'ev_time'), false),"
	    " (SELECT q.queue_per_tx_limit FROM pgq.queue q"
	    " WHERE q.queue_name OPERATOR(pg_catalog.=) $1)"
	    " FROM pgq.current_event_table($1) t", 1, params);
	tx_limit = PQgetisnull(res, 0, 3) ? -1 : strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	if (!time_col && strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
		time_col = true;
		free(ev_time);
		ev_time = xstrdup(PQgetvalue(res, 0, 1));
	}
	/* current_event_table() returns a qualified, quoted name. */
	buf_printf(&sql, "COPY %s (%sev_type, ev_data, ev_extra1, ev_extra2, "
	    "ev_extra3, ev_extra4) FROM STDIN", PQgetvalue(res, 0, 0),
	    time_col ? "ev_time, " : "");
	PQclear(res);
	res = PQexec(conn, sql.data);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		db_die(conn, res, "copy into event table");
	PQclear(res);
	buf_free(&sql);
	chunk_rows = 0;
	chunk_start = now_ms();
}

/* A chunk of producer input: ev_time is the transaction's now(), from
 * the table's default when it has one (ev_time then stays NULL here). */
static void
chunk_open(void)
{
	free(ev_time);
	ev_time = NULL;
	copy_open(false);
}

static void
send_out(void)
{
	if (out.len > 0 && PQputCopyData(conn, out.data, (int)out.len) != 1)
		errx(EXIT_RETRY, "copy: %s", db_errmsg(conn));
	buf_reset(&out);
}

static void
chunk_commit(void)
{
	PGresult *res;

	send_out();
	if (PQputCopyEnd(conn, NULL) != 1)
		errx(EXIT_RETRY, "copy end: %s", db_errmsg(conn));
	res = PQgetResult(conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		db_die(conn, res, "copy into event table");
	PQclear(res);
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
	db_cmd(conn, "commit", "COMMIT", 0, NULL);
	chunk_rows = 0;
}

/* Abandon the open chunk: nothing of it is committed. */
static void __attribute__((noreturn))
chunk_abort(const char *why)
{
	PQputCopyEnd(conn, why);
	PQfinish(conn);	/* the server rolls back the open transaction */
	exit(EXIT_USAGE);
}

/* The open transaction already holds as many events as the queue allows
 * in one: say so, roll it back and exit 2 (a retry cannot fix it). */
static void __attribute__((noreturn))
limit_abort(const char *where)
{
	warnx("%s: queue '%s' allows max %lld events from one transaction",
	    where, o.queue, tx_limit);
	chunk_abort("queue_per_tx_limit");
}

/* Cut the line into its fields f[] (at most 6) and check each one's
 * escaping: returns how many, -1 for a bad escape, 7 for too many. */
static int
split_fields(char *line, char **f)
{
	int n = copytext_split(line, f, 6), i;

	if (n < 0)
		return 7;
	for (i = 0; i < n; i++)
		if (!copytext_valid(f[i]))
			return -1;
	return n;
}

/* One COPY row: [ev_time,] the fields as they came, \N for missing
 * extras. */
static void
add_row(char **f, int nfields)
{
	int i;

	if (ev_time != NULL) {
		buf_addstr(&out, ev_time);
		buf_addch(&out, '\t');
	}
	for (i = 0; i < 6; i++) {
		if (i > 0)
			buf_addch(&out, '\t');
		if (i < nfields)
			buf_addstr(&out, f[i]);
		else
			buf_add(&out, "\\N", 2);
	}
	buf_addch(&out, '\n');
	if (out.len >= SEND_BYTES)
		send_out();
	chunk_rows++;
}

/* True when no line is ready and none arrives within PAUSE_MS. */
static bool
input_paused(struct linein *in)
{
	struct pollfd pfd = { .fd = in->fd, .events = POLLIN };

	if (linein_ready(in))
		return false;
	while (poll(&pfd, 1, PAUSE_MS) < 0)
		if (errno != EINTR)
			err(EXIT_RETRY, "poll");
	return pfd.revents == 0;
}

static void
produce(void)
{
	struct linein in;
	long lineno = 0;
	bool complete;
	ssize_t len;
	char *line;

	linein_init(&in, STDIN_FILENO, -1, "stdin");
	for (;;) {
		char *f[6];
		int n;

		/* Commit before waiting, so a live feed is never held back. */
		if (chunk_rows > 0 && !o.single &&
		    (chunk_rows >= CHUNK_ROWS || now_ms() - chunk_start >= CHUNK_MS ||
		     input_paused(&in)))
			chunk_commit();
		len = linein_next(&in, &line, &complete);
		if (len < 0)
			break;
		lineno++;
		if (!complete) {
			warnx("stdin line %ld: no newline at end of input (truncated?)", lineno);
			if (chunk_rows > 0)
				chunk_abort("truncated input");
			exit(EXIT_USAGE);
		}
		/* A NUL would silently cut the line short in COPY. */
		n = memchr(line, '\0', (size_t)len) != NULL ? -2 : split_fields(line, f);
		if (n < 2 || n > 6) {
			warnx("stdin line %ld: %s", lineno, n == -2 ? "NUL byte in input" :
			    n < 0 ? "bad escape sequence" :
			    "expected ev_type TAB ev_data [TAB extra1 .. extra4]");
			if (chunk_rows > 0)
				chunk_abort("bad input");
			exit(EXIT_USAGE);
		}
		if (chunk_rows == 0)
			chunk_open();
		else if (tx_limit > 0 && chunk_rows >= tx_limit && !o.single) {
			/* chunk boundaries are ours: end one at the limit */
			chunk_commit();
			chunk_open();
		}
		if (tx_limit >= 0 && chunk_rows >= tx_limit) {
			char where[64];

			snprintf(where, sizeof(where), "stdin line %ld", lineno);
			limit_abort(where);
		}
		add_row(f, n);
	}
	if (chunk_rows > 0)
		chunk_commit();
	linein_free(&in);
}

/* --stream: each batch of the input stream in one transaction. */
static void
move_batches(void)
{
	struct stream in;
	enum rec r;
	char batch[64] = "";

	stream_init(&in, STDIN_FILENO, "stdin");
	while ((r = stream_next(&in, STREAM_FRAMED)) != REC_EOF) {
		switch (r) {
		case REC_BATCH:
			snprintf(batch, sizeof(batch), "batch %.40s", in.f[B_ID]);
			copy_open(true);
			break;
		case REC_EVENT: {
			/* ev_time, ev_type, ev_data, extras: fields already in
			 * COPY text, passed on unchanged. */
			int i;

			if (tx_limit >= 0 && chunk_rows >= tx_limit)
				limit_abort(batch);
			buf_addstr(&out, in.f[E_TIME]);
			for (i = E_TYPE; i <= E_EXTRA4; i++) {
				buf_addch(&out, '\t');
				buf_addstr(&out, in.f[i]);
			}
			buf_addch(&out, '\n');
			if (out.len >= SEND_BYTES)
				send_out();
			chunk_rows++;
			break;
		}
		case REC_END:
			chunk_commit();
			stream_emit_done(&in, stdout);
			if (fflush(stdout) != 0)
				err(EXIT_RETRY, "write stdout");
			break;
		case REC_EOF:
			break;
		}
	}
	stream_free(&in);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "dbname",             required_argument, NULL, 'd' },
		{ "stream",             no_argument,       NULL, 's' },
		{ "single-transaction", no_argument,       NULL, '1' },
		{ "help",               no_argument,       NULL, 'h' },
		{ "version",            no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conninfo = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "1d:hsV", longopts, NULL)) != -1) {
		switch (c) {
		case '1': o.single = true; break;
		case 'd': conninfo = db_conninfo_arg(optarg); break;
		case 'h': help(); break;
		case 's': o.stream = true; break;
		case 'V': print_version(); break;
		default: usage();
		}
	}
	if (argc - optind != 1)
		usage();
	if (o.stream && o.single)
		errx(EXIT_USAGE, "--stream and --single-transaction exclude each other");
	o.queue = argv[optind];

	conn = db_connect(conninfo);
	/* Up front, so that empty input too fails on a missing queue, a
	 * database without PgQ, or a queue with inserts disabled. */
	PQclear(db_exec(conn, "queue", "SELECT pgq.current_event_table($1)", 1,
	    (const char *const[]){ o.queue }));
	if (o.stream)
		move_batches();
	else
		produce();
	PQfinish(conn);
	free(ev_time);
	buf_free(&out);
	finish(EXIT_DONE);
}
