/* londiste-copy: the initial copy of one table, provider to subscriber,
 * while replay of the other tables goes on. */
#include <err.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "exitcodes.h"
#include "lonpoint.h"
#include "util.h"

#define USAGE "usage: londiste-copy -s provider [-d subscriber] --consumer name" \
	" [--where cond] [--if-registered] table\n"

static void
usage(void)
{
	fprintf(stderr, USAGE);
	exit(EXIT_USAGE);
}

static void
help(void)
{
	printf(USAGE
	    "\n"
	    "Copy a registered table from the provider to the subscriber with COPY,\n"
	    "recording the provider snapshot it copied, so that londiste-apply\n"
	    "continues the table from there without a gap or a duplicate.\n"
	    "\n"
	    "  -s, --provider=CONNINFO  provider database\n"
	    "  -d, --dbname=CONNINFO    subscriber database (default: PG* environment)\n"
	    "  -c, --consumer=NAME      consumer that replays the table's queue\n"
	    "  -w, --where=COND         copy only the rows matching an SQL condition\n"
	    "      --if-registered      exit 1 if the table is not (or no longer) to be\n"
	    "                           copied: removed or resynced meanwhile\n"
	    "  -h, --help               show this help\n"
	    "  -V, --version            show the version\n");
	finish(EXIT_DONE);
}

/* The subscriber's side: one transaction that empties the table (unless
 * it was added with --skip-truncate) and takes the rows with COPY. */
static void
copy_into(PGconn *sub, const struct lontable *t, bool skip_truncate)
{
	struct buf sql = {0};
	PGresult *res;

	db_cmd(sub, "begin", "BEGIN", 0, NULL);
	db_cmd(sub, "set session_replication_role",
	    "SET LOCAL session_replication_role = replica", 0, NULL);
	if (!skip_truncate) {
		buf_printf(&sql, "TRUNCATE %s", t->sqname);
		db_cmd(sub, "truncate", sql.data, 0, NULL);
		buf_reset(&sql);
	}
	buf_printf(&sql, "COPY %s (%s) FROM STDIN", t->sqname, t->cols);
	res = PQexec(sub, sql.data);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		db_die(sub, res, "copy into the subscriber");
	PQclear(res);
	buf_free(&sql);
}

/* The provider's side: COPY out of the snapshot's transaction. */
static void
copy_from(PGconn *prov, const struct lontable *t, const char *where)
{
	struct buf sql = {0};
	PGresult *res;

	if (where != NULL)
		buf_printf(&sql, "COPY (SELECT %s FROM %s WHERE %s) TO STDOUT",
		    t->cols, t->pqname, where);
	else
		buf_printf(&sql, "COPY %s (%s) TO STDOUT", t->pqname, t->cols);
	res = PQexec(prov, sql.data);
	if (PQresultStatus(res) != PGRES_COPY_OUT)
		db_die(prov, res, "copy from the provider");
	PQclear(res);
	buf_free(&sql);
}

/* Rows pass through as COPY sends them: nothing is parsed.  Returns the
 * number of rows, both COPYs finished. */
static long long
pass_rows(PGconn *prov, PGconn *sub)
{
	PGresult *res;
	long long rows = 0;
	char *buf;
	int n;

	while ((n = PQgetCopyData(prov, &buf, 0)) > 0) {
		if (PQputCopyData(sub, buf, n) != 1)
			errx(EXIT_RETRY, "copy into the subscriber: %s", db_errmsg(sub));
		PQfreemem(buf);
		rows++;
	}
	if (n == -2)
		errx(EXIT_RETRY, "copy from the provider: %s", db_errmsg(prov));
	res = PQgetResult(prov);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		db_die(prov, res, "copy from the provider");
	PQclear(res);
	if (PQputCopyEnd(sub, NULL) != 1)
		errx(EXIT_RETRY, "copy into the subscriber: %s", db_errmsg(sub));
	res = PQgetResult(sub);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		db_die(sub, res, "copy into the subscriber");
	PQclear(res);
	while ((res = PQgetResult(sub)) != NULL)
		PQclear(res);
	return rows;
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "consumer", required_argument, NULL, 'c' },
		{ "dbname", required_argument, NULL, 'd' },
		{ "provider", required_argument, NULL, 's' },
		{ "where", required_argument, NULL, 'w' },
		{ "if-registered", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dbname = NULL, *provider = NULL, *consumer = NULL, *where = NULL;
	PGconn *sub, *prov, *ptick;
	char *err = NULL;
	PGresult *res;
	struct lontable t;
	char *snap, *tick;
	const char *p[4];
	long long rows;
	int c;
	bool skip_truncate, if_registered = false;

	while ((c = getopt_long(argc, argv, "c:d:hs:Vw:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			consumer = optarg;
			break;
		case 'd':
			dbname = db_conninfo_arg(optarg);
			break;
		case 'h':
			help();
			break;
		case 's':
			provider = db_conninfo_arg(optarg);
			break;
		case 'V':
			print_version();
			break;
		case 'w':
			where = optarg;
			break;
		case 'R':
			if_registered = true;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1 || provider == NULL || consumer == NULL)
		usage();

	sub = db_connect(dbname);
	prov = db_connect(provider);
	ptick = db_connect(provider);
	/*
	 * Replay lists a table and then starts this copy: remove-table may
	 * come in between.  The key lock keeps the row until copy_begin has
	 * committed, so the table is either gone now (nothing to copy) or
	 * stays registered until the copy has begun.
	 */
	if (if_registered) {
		p[0] = argv[optind];
		db_cmd(sub, "begin", "BEGIN", 0, NULL);
		res = db_exec(sub, "find table",
		    "SELECT 1 FROM londiste.subscriber_table"
		    " WHERE table_name = $1 AND state IN ('new', 'in-copy')"
		    " FOR KEY SHARE", 1, p);
		if (PQntuples(res) == 0) {
			warnx("table %s is no longer to be copied (removed or copied"
			    " meanwhile): nothing copied", argv[optind]);
			finish(EXIT_NO);
		}
		PQclear(res);
	}
	lon_table(sub, consumer, argv[optind], &t);
	lon_provider(prov, &t);

	/* Committed before the snapshot is taken; waits for the batch that
	 * londiste-apply has in flight (see londiste.copy_begin). */
	p[0] = t.queue;
	p[1] = t.name;
	db_cmd(sub, "start copy", "SELECT londiste.copy_begin($1, $2)", 2, p);
	if (if_registered)
		db_cmd(sub, "commit", "COMMIT", 0, NULL);
	/* Added with --skip-truncate: the subscriber's own rows stay. */
	res = db_exec(sub, "read the table's settings",
	    "SELECT skip_truncate FROM londiste.subscriber_table"
	    " WHERE queue_name = $1 AND table_name = $2", 2, p);
	skip_truncate = PQntuples(res) > 0 && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);

	db_cmd(prov, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
	res = db_exec(prov, "take snapshot", "SELECT pg_current_snapshot()::text", 0, NULL);
	snap = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	/* A tick after the snapshot: batches from it on hold nothing the
	 * copy saw, and the table can turn ok. */
	tick = lon_tick(ptick, p, &err);
	if (tick == NULL)
		errx(EXIT_RETRY, "make a tick: %s", err);
	PQfinish(ptick);

	copy_into(sub, &t, skip_truncate);
	copy_from(prov, &t, where);
	rows = pass_rows(prov, sub);

	p[2] = snap;
	p[3] = tick;
	res = PQexecParams(sub, "SELECT londiste.copy_done($1, $2, $3::pg_snapshot, $4)",
	    4, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		/* Removed or resynced while it was copied: the rows are
		 * rolled back, and a table added or resynced is listed again. */
		if (if_registered && st != NULL && strcmp(st, "55000") == 0) {
			warnx("%s: nothing copied", db_resmsg(res));
			finish(EXIT_NO);
		}
		db_die(sub, res, "record the copy's snapshot");
	}
	PQclear(res);
	db_cmd(sub, "commit", "COMMIT", 0, NULL);
	db_cmd(prov, "commit", "COMMIT", 0, NULL);
	/* The table turns ok with the first batch that starts at or after
	 * the sync tick; a tick now lets replay make that batch at once
	 * instead of at the ticker's next idle tick.  The copy is done
	 * either way, so a failure here is only worth a word. */
	free(tick);
	tick = lon_tick(prov, p, &err);
	if (tick == NULL)
		warnx("tick after the copy: %s", err);
	free(err);

	printf("%s\t%lld\n", t.name, rows);
	free(snap);
	free(tick);
	lontable_free(&t);
	PQfinish(sub);
	PQfinish(prov);
	finish(EXIT_DONE);
}
