/* pgq-status: queues and consumers as TSV or Prometheus metrics. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copytext.h"
#include "db.h"
#include "exitcodes.h"
#include "util.h"

static const char usage_line[] =
	"usage: pgq-status [-d conninfo] [--prometheus] [queue [consumer]]\n";

/* Columns of the queue and consumer queries. */
enum { Q_NAME, Q_TICKER_LAG, Q_EV_PER_SEC, Q_EV_NEW, Q_LAST_TICK, Q_NF };
enum { C_QUEUE, C_NAME, C_LAG, C_LAST_SEEN, C_PENDING, C_LAST_TICK,
       C_BATCH, C_NF };

/* Seconds with millisecond precision read better than intervals in
 * scripts and are what Prometheus wants. */
static const char queue_sql[] =
	"SELECT queue_name,"
	" round(extract(epoch FROM ticker_lag)::numeric, 3)::text,"
	" round(ev_per_sec::numeric, 3)::text, ev_new::text,"
	" last_tick_id::text"
	" FROM pgq.get_queue_info()"
	" WHERE $1::text IS NULL OR queue_name = $1"
	" ORDER BY queue_name";
static const char consumer_sql[] =
	"SELECT queue_name, consumer_name,"
	" round(extract(epoch FROM lag)::numeric, 3)::text,"
	" round(extract(epoch FROM last_seen)::numeric, 3)::text,"
	" pending_events::text, last_tick::text, current_batch::text"
	" FROM pgq.get_consumer_info()"
	" WHERE ($1::text IS NULL OR queue_name = $1)"
	" AND ($2::text IS NULL OR consumer_name = $2)"
	" ORDER BY queue_name, consumer_name";

static NORETURN void
usage(void)
{
	fputs(usage_line, stderr);
	exit(EXIT_USAGE);
}

static NORETURN void
help(void)
{
	fputs(usage_line, stdout);
	fputs("  -d, --dbname=CONNINFO  database (default: PG* environment)\n"
	      "  -p, --prometheus       print metrics in the Prometheus text format\n"
	      "  -h, --help             show this help\n"
	      "  -V, --version          show the version\n", stdout);
	finish(EXIT_DONE);
}

static void
field(struct buf *b, const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		buf_addstr(b, "\\N");
	else
		copytext_escape(b, PQgetvalue(res, row, col),
		    (size_t)PQgetlength(res, row, col));
}

static void
print_tsv(const PGresult *q, const PGresult *c)
{
	static const int qcols[] = { Q_TICKER_LAG, Q_EV_PER_SEC, Q_EV_NEW };
	static const int ccols[] = { C_NAME, C_LAG, C_LAST_SEEN, C_PENDING,
	                             C_LAST_TICK, C_BATCH };
	struct buf b = {0};
	int i, j, k, any;

	/* One flat table, a row per consumer with its queue's columns
	 * repeated, so that cut and awk need no section logic.  A queue
	 * without consumers gets one row with \N consumer columns. */
	fputs("queue\tticker_lag\tev_per_sec\tev_new\tconsumer\tlag\t"
	    "last_seen\tpending_events\tlast_tick\tcurrent_batch\n", stdout);
	for (i = 0; i < PQntuples(q); i++) {
		const char *qn = PQgetvalue(q, i, Q_NAME);

		any = 0;
		for (j = 0; j <= PQntuples(c); j++) {
			if (j < PQntuples(c) &&
			    strcmp(PQgetvalue(c, j, C_QUEUE), qn) != 0)
				continue;
			if (j == PQntuples(c) && any)
				break;
			buf_reset(&b);
			field(&b, q, i, Q_NAME);
			for (k = 0; k < 3; k++) {
				buf_addch(&b, '\t');
				field(&b, q, i, qcols[k]);
			}
			for (k = 0; k < 6; k++) {
				buf_addch(&b, '\t');
				if (j == PQntuples(c))
					buf_addstr(&b, "\\N");
				else
					field(&b, c, j, ccols[k]);
			}
			buf_addch(&b, '\n');
			fwrite(b.data, 1, b.len, stdout);
			any = 1;
		}
	}
	buf_free(&b);
}

/* Label values escape backslash, double quote and newline. */
static void
label(const char *name, const char *v, int first)
{
	printf("%s%s=\"", first ? "" : ",", name);
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			fputs("\\\\", stdout);
		else if (*v == '"')
			fputs("\\\"", stdout);
		else if (*v == '\n')
			fputs("\\n", stdout);
		else
			putchar(*v);
	}
	putchar('"');
}

static void
family(const char *name, const char *type, const char *helptext,
       const PGresult *res, int col, int consumer, const char *db)
{
	int i;

	printf("# HELP %s %s\n# TYPE %s %s\n", name, helptext, name, type);
	for (i = 0; i < PQntuples(res); i++) {
		/* No value (no ticks yet): leave the sample out rather than
		 * invent one. */
		if (PQgetisnull(res, i, col))
			continue;
		printf("%s{", name);
		label("database", db, 1);
		label("queue", PQgetvalue(res, i, consumer ? C_QUEUE : Q_NAME), 0);
		if (consumer)
			label("consumer", PQgetvalue(res, i, C_NAME), 0);
		printf("} %s\n", PQgetvalue(res, i, col));
	}
}

static void
print_prometheus(const PGresult *q, const PGresult *c, const char *db)
{
	family("pgq_queue_ticker_lag_seconds", "gauge",
	    "Seconds since the last tick of the queue.", q, Q_TICKER_LAG, 0, db);
	family("pgq_queue_events_per_second", "gauge",
	    "Events per second over the last ticks.", q, Q_EV_PER_SEC, 0, db);
	family("pgq_queue_new_events", "gauge",
	    "Events inserted since the last tick.", q, Q_EV_NEW, 0, db);
	family("pgq_queue_last_tick_id", "gauge",
	    "Id of the last tick of the queue.", q, Q_LAST_TICK, 0, db);
	family("pgq_consumer_lag_seconds", "gauge",
	    "Age of the last tick the consumer finished.", c, C_LAG, 1, db);
	family("pgq_consumer_last_seen_seconds", "gauge",
	    "Seconds since the consumer last finished a batch.", c,
	    C_LAST_SEEN, 1, db);
	family("pgq_consumer_pending_events", "gauge",
	    "Events in ticks the consumer has not finished.", c, C_PENDING, 1, db);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "dbname",     required_argument, NULL, 'd' },
		{ "help",       no_argument,       NULL, 'h' },
		{ "prometheus", no_argument,       NULL, 'p' },
		{ "version",    no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conninfo = NULL, *params[2] = { NULL, NULL };
	PGresult *q, *c, *d;
	PGconn *conn;
	int ch, prom = 0;

	while ((ch = getopt_long(argc, argv, "d:hpV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': conninfo = db_conninfo_arg(optarg); break;
		case 'h': help();
		case 'p': prom = 1; break;
		case 'V': print_version();
		default:  usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 2)
		usage();
	if (argc >= 1)
		params[0] = argv[0];
	if (argc == 2)
		params[1] = argv[1];

	conn = db_connect(conninfo);
	/* One snapshot for both queries, so queue and consumer numbers
	 * agree with each other. */
	db_cmd(conn, "begin",
	    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
	/* Name the fix rather than the missing schema. */
	q = db_exec(conn, "look for PgQ",
	    "SELECT to_regclass('pgq.queue') IS NOT NULL", 0, NULL);
	if (strcmp(PQgetvalue(q, 0, 0), "t") != 0)
		errx(EXIT_USAGE, "no PgQ in this database (run: pgqadm -d CONNINFO install)");
	PQclear(q);
	q = db_exec(conn, "read queues", queue_sql, 1, params);
	c = db_exec(conn, "read consumers", consumer_sql, 2, params);
	d = db_exec(conn, "read database name", "SELECT current_database()",
	    0, NULL);
	if (params[0] != NULL && PQntuples(q) == 0)
		errx(EXIT_USAGE, "no such queue: %s", params[0]);
	if (params[1] != NULL && PQntuples(c) == 0)
		errx(EXIT_USAGE, "consumer %s is not registered on queue %s",
		    params[1], params[0]);
	if (prom)
		print_prometheus(q, c, PQgetvalue(d, 0, 0));
	else
		print_tsv(q, c);
	PQclear(q);
	PQclear(c);
	PQclear(d);
	db_cmd(conn, "commit", "COMMIT", 0, NULL);
	PQfinish(conn);
	finish(EXIT_DONE);
}
