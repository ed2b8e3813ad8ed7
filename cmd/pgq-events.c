/* pgq-events: expand batches into their events, streamed with COPY. */
#include <err.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copytext.h"
#include "db.h"
#include "exitcodes.h"
#include "json.h"
#include "stream.h"
#include "util.h"

enum fmt { FMT_STREAM, FMT_RAW, FMT_JSON };

static const char *const ev_names[EVENT_NF] = {
	"ev_id", "ev_time", "ev_txid", "ev_retry", "ev_type", "ev_data",
	"ev_extra1", "ev_extra2", "ev_extra3", "ev_extra4"
};

static void
usage(void)
{
	fprintf(stderr, "usage: pgq-events [-d conninfo] [--raw | --json] [batch_id ...]\n");
	exit(EXIT_USAGE);
}

static void
help(void)
{
	printf("usage: pgq-events [-d conninfo] [--raw | --json] [batch_id ...]\n"
	    "\n"
	    "Print each batch with its events as a batch stream.  Without ids,\n"
	    "read batch records (from pgq-next-batch) on stdin.\n"
	    "\n"
	    "  -d, --dbname=CONNINFO  database (default: PG* environment)\n"
	    "  -r, --raw              event fields only, no framing\n"
	    "  -j, --json             one JSON object per event, and an end\n"
	    "                         object after each batch\n"
	    "  -h, --help             show this help\n"
	    "  -V, --version          show the version\n");
	finish(EXIT_DONE);
}

/* One event row (COPY text, with newline) as a JSON object. */
static void
put_json(struct buf *out, char *row, size_t len, const char *batch_id)
{
	char *f[EVENT_NF];
	int n, i;

	row[len - 1] = '\0';
	n = copytext_split(row, f, EVENT_NF);
	if (n < 0)
		errx(EXIT_RETRY, "batch %s: event row has too many columns", batch_id);
	if (n != EVENT_NF)
		errx(EXIT_RETRY, "batch %s: event row has %d columns", batch_id, n);

	buf_reset(out);
	buf_printf(out, "{\"batch_id\":%s", batch_id);
	for (i = 0; i < EVENT_NF; i++) {
		long vlen;

		buf_printf(out, ",\"%s\":", ev_names[i]);
		if (copytext_is_null(f[i])) {
			buf_addstr(out, "null");
			continue;
		}
		vlen = copytext_unescape(f[i]);
		if (vlen < 0)
			errx(EXIT_RETRY, "batch %s: bad escape in %s", batch_id, ev_names[i]);
		/* ids, txid and retry count are numbers; the rest strings */
		if (i == 0 || i == 2 || i == 3)
			buf_add(out, f[i], (size_t)vlen);
		else
			json_string(out, f[i], (size_t)vlen);
	}
	buf_addstr(out, "}\n");
	fwrite(out->data, 1, out->len, stdout);
}

/* Stream the events of one batch; returns how many. */
static long long
copy_events(PGconn *conn, const char *batch_id, enum fmt fmt, bool stream_named)
{
	const char *params[1] = { batch_id };
	struct buf cmd = {0}, json = {0};
	PGresult *res;
	long long n = 0;
	char *row;
	int len;

	/* batch_event_sql() is the query over exactly the event tables the
	 * batch spans, ordered by ev_id; COPY of it streams from the tables
	 * instead of materializing get_batch_events()' result set. */
	res = PQexecParams(conn, "SELECT pgq.batch_event_sql($1)", 1, NULL,
	    params, NULL, NULL, 0);
	/* A batch the stream named (its record was read above, so it
	 * existed) that is gone now was finished meanwhile by another
	 * process of the same consumer, such as what is left of a killed
	 * pipeline: a restart reads the next batch, so it is no bad input. */
	if (PQresultStatus(res) != PGRES_TUPLES_OK && stream_named &&
	    strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE) ?
	    PQresultErrorField(res, PG_DIAG_SQLSTATE) : "", "P0002") == 0)
		errx(EXIT_RETRY, "batch %s: already finished (by another"
		    " process of its consumer, or by hand); pgq-next-batch"
		    " gives the next one", batch_id);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		db_die(conn, res, "batch_event_sql");
	buf_printf(&cmd, "COPY (%s) TO STDOUT", PQgetvalue(res, 0, 0));
	PQclear(res);

	res = PQexec(conn, cmd.data);
	if (PQresultStatus(res) != PGRES_COPY_OUT)
		db_die(conn, res, "copy events");
	PQclear(res);
	while ((len = PQgetCopyData(conn, &row, 0)) > 0) {
		switch (fmt) {
		case FMT_STREAM:
			stream_write_event(stdout, row, (size_t)len);
			break;
		case FMT_RAW:
			fwrite(row, 1, (size_t)len, stdout);
			break;
		case FMT_JSON:
			put_json(&json, row, (size_t)len, batch_id);
			break;
		}
		PQfreemem(row);
		n++;
	}
	if (len == -2)
		errx(EXIT_RETRY, "copy events of batch %s: %s", batch_id, db_errmsg(conn));
	res = PQgetResult(conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		db_die(conn, res, "copy events");
	PQclear(res);
	buf_free(&cmd);
	buf_free(&json);
	return n;
}

/* The batch record of a batch given by id. */
static void
put_batch_by_id(PGconn *conn, const char *batch_id)
{
	const char *params[1] = { batch_id };
	const char *v[BATCH_NF];
	PGresult *res;

	res = db_exec(conn, "get_batch_info",
	    "SELECT tick_id, prev_tick_id, batch_end, batch_start, queue_name, "
	    "consumer_name FROM pgq.get_batch_info($1)", 1, params);
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		errx(EXIT_USAGE, "batch %s not found", batch_id);
	v[B_ID] = batch_id;
	v[B_CUR_TICK] = PQgetvalue(res, 0, 0);
	v[B_PREV_TICK] = PQgetvalue(res, 0, 1);
	v[B_CUR_TIME] = PQgetvalue(res, 0, 2);
	v[B_PREV_TIME] = PQgetvalue(res, 0, 3);
	v[B_QUEUE] = PQgetvalue(res, 0, 4);
	v[B_CONSUMER] = PQgetvalue(res, 0, 5);
	stream_write_batch(stdout, v);
	PQclear(res);
}

static void
expand(PGconn *conn, const char *batch_id, const char *batch_line, enum fmt fmt)
{
	long long n;

	if (fmt == FMT_STREAM) {
		if (batch_line != NULL)
			printf("%s\n", batch_line);
		else
			put_batch_by_id(conn, batch_id);
	}
	n = copy_events(conn, batch_id, fmt, batch_line != NULL);
	if (fmt == FMT_STREAM)
		stream_write_end(stdout, batch_id, n);
	/* JSON's framing: a consumer knows it has the whole batch, and
	 * hands its id to pgq-finish-batch --ids once it is handled. */
	else if (fmt == FMT_JSON)
		printf("{\"end\":{\"batch_id\":%s,\"event_count\":%lld}}\n", batch_id, n);
	/* A follower downstream must see each batch as soon as it is whole. */
	if (fflush(stdout) != 0)
		err(EXIT_RETRY, "write stdout");
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "dbname",  required_argument, NULL, 'd' },
		{ "raw",     no_argument,       NULL, 'r' },
		{ "json",    no_argument,       NULL, 'j' },
		{ "help",    no_argument,       NULL, 'h' },
		{ "version", no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	static char obuf[1 << 16];
	const char *conninfo = NULL;
	enum fmt fmt = FMT_STREAM;
	PGconn *conn;
	int c, i;

	while ((c = getopt_long(argc, argv, "d:hjrV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': conninfo = db_conninfo_arg(optarg); break;
		case 'h': help(); break;
		case 'j': fmt = FMT_JSON; break;
		case 'r': fmt = FMT_RAW; break;
		case 'V': print_version(); break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	for (i = 0; i < argc; i++)
		if (stream_parse_id(argv[i]) == 0)
			errx(EXIT_USAGE, "not a batch id: %s", argv[i]);

	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
	conn = db_connect(conninfo);
	if (argc > 0) {
		for (i = 0; i < argc; i++)
			expand(conn, argv[i], NULL, fmt);
	} else {
		struct stream in;

		stream_init(&in, STDIN_FILENO, "stdin");
		while (stream_next(&in, STREAM_BATCHES) == REC_BATCH)
			expand(conn, in.f[B_ID], stream_batch_line(&in), fmt);
		stream_free(&in);
	}
	PQfinish(conn);
	finish(EXIT_DONE);
}
