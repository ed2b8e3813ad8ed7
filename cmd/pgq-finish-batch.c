/* pgq-finish-batch: finish each batch a previous stage completed. */
#include <err.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "exitcodes.h"
#include "linein.h"
#include "stream.h"
#include "util.h"

static void
usage(void)
{
	fprintf(stderr, "usage: pgq-finish-batch [-d conninfo] [--ids | batch_id ...]\n");
	exit(EXIT_USAGE);
}

static void
help(void)
{
	printf("usage: pgq-finish-batch [-d conninfo] [--ids | batch_id ...]\n"
	    "\n"
	    "Finish each batch whose end record arrives on stdin, or the\n"
	    "batches given by id.\n"
	    "\n"
	    "  -d, --dbname=CONNINFO  database (default: PG* environment)\n"
	    "  -i, --ids              stdin holds batch ids, one per line (what a\n"
	    "                         consumer of pgq-events --json prints)\n"
	    "  -h, --help             show this help\n"
	    "  -V, --version          show the version\n");
	finish(EXIT_DONE);
}

/* PgQ warns "finish_batch: batch N not found" for a batch that is not
 * open, and finish_one says the same in the program's words: print the
 * server's other notices only. */
static void
notice(void *arg, const char *msg)
{
	(void)arg;
	if (strstr(msg, "finish_batch: batch ") == NULL ||
	    strstr(msg, " not found") == NULL)
		fputs(msg, stderr);
}

/* pgq_coop.finish_batch also releases a subconsumer's batch; it is only
 * there when pgq_coop is installed. */
static const char *
finish_sql(PGconn *conn)
{
	PGresult *res = db_exec(conn, "probe pgq_coop",
	    "SELECT to_regprocedure('pgq_coop.finish_batch(bigint)') IS NOT NULL",
	    0, NULL);
	bool coop = strcmp(PQgetvalue(res, 0, 0), "t") == 0;

	PQclear(res);
	return coop ? "SELECT pgq_coop.finish_batch($1)" : "SELECT pgq.finish_batch($1)";
}

static void
finish_one(PGconn *conn, const char *sql, const char *batch_id)
{
	const char *params[1] = { batch_id };
	PGresult *res = db_exec(conn, "finish batch", sql, 1, params);

	/* finish_batch returns 0 for a batch that is not open: finished
	 * already, or never handed out.  Not an error for a pipeline that
	 * was restarted, but worth a word. */
	if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "0") == 0)
		warnx("batch %s was not open (already finished?)", batch_id);
	PQclear(res);
}

/* --ids: one batch id per line, each finished as it arrives. */
static void
finish_ids(PGconn *conn, const char *sql)
{
	struct linein in;
	long lineno = 0;
	bool complete;
	char *line;

	linein_init(&in, STDIN_FILENO, -1, "stdin");
	while (linein_next(&in, &line, &complete) >= 0) {
		lineno++;
		if (!complete)
			errx(EXIT_RETRY, "stdin line %ld: no newline at end of input (truncated?)",
			    lineno);
		if (stream_parse_id(line) == 0)
			errx(EXIT_USAGE, "stdin line %ld: not a batch id", lineno);
		finish_one(conn, sql, line);
	}
	linein_free(&in);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "dbname",  required_argument, NULL, 'd' },
		{ "ids",     no_argument,       NULL, 'i' },
		{ "help",    no_argument,       NULL, 'h' },
		{ "version", no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conninfo = NULL, *sql;
	bool ids = false;
	PGconn *conn;
	int c, i;

	while ((c = getopt_long(argc, argv, "d:hiV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': conninfo = db_conninfo_arg(optarg); break;
		case 'h': help(); break;
		case 'i': ids = true; break;
		case 'V': print_version(); break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (ids && argc > 0)
		usage();
	for (i = 0; i < argc; i++)
		if (stream_parse_id(argv[i]) == 0)
			errx(EXIT_USAGE, "not a batch id: %s", argv[i]);

	conn = db_connect(conninfo);
	PQsetNoticeProcessor(conn, notice, NULL);
	sql = finish_sql(conn);
	if (argc > 0) {
		for (i = 0; i < argc; i++)
			finish_one(conn, sql, argv[i]);
	} else if (ids) {
		finish_ids(conn, sql);
	} else {
		struct stream in;
		enum rec r;
		char id[32];

		stream_init(&in, STDIN_FILENO, "stdin");
		while ((r = stream_next(&in, STREAM_FRAMED)) != REC_EOF) {
			if (r != REC_END)
				continue;
			snprintf(id, sizeof(id), "%lld", in.batch_id);
			finish_one(conn, sql, id);
		}
		stream_free(&in);
	}
	PQfinish(conn);
	finish(EXIT_DONE);
}
