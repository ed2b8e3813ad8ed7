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

/*
 * Why a copy that began may not finish: the registration it began on
 * (the row version copy_begin wrote, told by its xmin) is gone or was
 * changed: removed, resynced, or begun again by another copy.  KEPT when
 * it is still this copy's.  With lock, the row is also locked FOR KEY
 * SHARE, NOWAIT: a remove-table that deleted it and has not committed
 * (it may be waiting for this copy's table lock: the same transaction's
 * DROP TABLE, or the trigger drop of local_remove_table) is "being
 * removed" here instead of a deadlock.  Replay's FOR SHARE and
 * resync's update do not conflict with it.
 */
enum lost { KEPT, REMOVED, REMOVING, CHANGED };

static const char *const lost_why[] = {
	[REMOVED] = "was removed meanwhile",
	[REMOVING] = "is being removed",
	[CHANGED] = "was resynced or copied again meanwhile",
};

static enum lost
copy_lost(PGconn *sub, const char **p, bool lock)
{
	PGresult *res;
	const char *st;
	enum lost l;

	res = PQexecParams(sub, lock ?
	    "SELECT state = 'in-copy' AND xmin = $3::xid FROM londiste.subscriber_table"
	    " WHERE queue_name = $1 AND table_name = $2 FOR KEY SHARE NOWAIT" :
	    "SELECT state = 'in-copy' AND xmin = $3::xid FROM londiste.subscriber_table"
	    " WHERE queue_name = $1 AND table_name = $2", 3, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (st == NULL || strcmp(st, "55P03") != 0)
			db_die(sub, res, "check the registration");
		l = REMOVING;
	} else if (PQntuples(res) == 0)
		l = REMOVED;
	else
		l = PQgetvalue(res, 0, 0)[0] == 't' ? KEPT : CHANGED;
	PQclear(res);
	return l;
}

/* Give up a copy whose table left: its transaction is rolled back (the
 * TRUNCATE and the rows with it).  By hand (no --if-registered) a table
 * no longer registered is exit 2, as lon_table says; one that changed
 * under the copy may be copied again: 3. */
static NORETURN void
copy_abandon(PGconn *sub, const char *name, enum lost l, bool if_registered)
{
	PQclear(PQexec(sub, "ROLLBACK"));
	warnx("table %s %s: nothing copied", name, lost_why[l]);
	finish(if_registered ? EXIT_NO : l == REMOVED ? EXIT_USAGE : EXIT_RETRY);
}

/*
 * The subscriber's transaction of the copy, begun right after copy_begin
 * committed: first the lock on the table, then a look at the
 * registration.  From the lock on, a DROP TABLE (or anything else that
 * needs the table) waits for this transaction; what happened before the
 * lock, the look sees, as it reads after the lock was granted.  So there
 * is no window between copy_begin and the TRUNCATE/COPY any more:
 *
 * - remove-table, then DROP, before the lock: the LOCK fails (the
 *   relation is gone) or succeeds on a table re-created since; either
 *   way the row is gone: exit 1, nothing copied.
 * - DROP without remove-table before the lock: the row is still this
 *   copy's but the relation is gone: exit 2 (the set says the table is
 *   here and it is not; replay of a table in that state stops too), as
 *   when it was dropped before the copy began (lon_table).  remove-table
 *   and a restart of replay go on.
 * - remove-table during the copy (after the lock): the Skytools 2 verb
 *   deletes the row at once (it needs no lock on the table); a cascade
 *   node's local_remove_table deletes it before it drops the table's
 *   triggers (which waits for this lock).  The check after the COPY sees
 *   the row gone or locked for delete: rollback, exit 1; the table is
 *   as it was before the copy, and the remove-table (and a DROP behind
 *   it) goes on when the rollback releases the lock.
 * - DROP (with or without remove-table) during the copy: waits for the
 *   copy's end; without remove-table the copy commits first (exit 0) and
 *   the table then turns out missing for replay.
 * - resync, or another copy_begin, during the copy: the row version is
 *   no longer the one this copy's copy_begin wrote: exit 1 (copy_done
 *   refuses a table no longer in-copy too).
 * - kill -9 anywhere: this transaction rolls back; copy_begin's
 *   in-copy stays, and replay's next look copies the table again first.
 *
 * No deadlock with replay: londiste-apply holds the state rows FOR SHARE
 * for its batch and touches no table in copy, so the copy waits for the
 * batch in flight only in copy_done, holding nothing that batch needs;
 * a batch that itself removes the table (cascade londiste.remove-table)
 * deletes the row before it waits for the table, and the check sees it.
 * Only if the check passed just before such a batch deleted the row
 * would the two wait for each other; the server then cancels one and
 * both are retried (copy exit 3; replay restarts).
 */
static void
copy_into(PGconn *sub, const struct lontable *t, const char **p,
    bool skip_truncate, bool if_registered)
{
	struct buf sql = {0};
	PGresult *res;
	const char *st;
	enum lost l;

	db_cmd(sub, "begin", "BEGIN", 0, NULL);
	db_cmd(sub, "set session_replication_role",
	    "SET LOCAL session_replication_role = replica", 0, NULL);
	/* The mode the TRUNCATE or the COPY takes anyway. */
	buf_printf(&sql, "LOCK TABLE %s IN %s MODE", t->sqname,
	    skip_truncate ? "ROW EXCLUSIVE" : "ACCESS EXCLUSIVE");
	res = PQexec(sub, sql.data);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (st == NULL || strcmp(st, "42P01") != 0)
			db_die(sub, res, "lock the table");
		PQclear(res);
		PQclear(PQexec(sub, "ROLLBACK"));
		if ((l = copy_lost(sub, p, false)) != KEPT)
			copy_abandon(sub, t->name, l, if_registered);
		errx(EXIT_USAGE, "table %s is registered but %s does not exist"
		    " (dropped without remove-table?)", t->name, t->lname);
	}
	PQclear(res);
	if ((l = copy_lost(sub, p, false)) != KEPT)
		copy_abandon(sub, t->name, l, if_registered);
	buf_reset(&sql);
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

/*
 * The provider no longer replicates the table (copy_from: its relation
 * is gone there).  For replay's copier (--if-registered) that is a
 * removal on its way: on a cascade node the root's remove-table reaches
 * this node through the queue, which replay applies while the copy
 * runs, and the remove-table (then the DROP) may well come between
 * replay's look and the copy's reads of the provider.  Exit 3: the
 * copier tries again after a delay, by which time the removal has
 * usually unregistered the table here; 2 would stop replay of every
 * table for good.  By hand it is exit 2, as lon_provider says, and
 * also from a Skytools 2 provider, whose removals do not travel to the
 * subscriber: there a table the provider does not replicate is a
 * mistake in the set-up that no retry mends.  (retry: the copier's
 * copy from a cascade node.)
 */
static NORETURN void
provider_lost(const struct lontable *t, bool retry)
{
	if (!retry)
		errx(EXIT_USAGE, "table %s is not replicated by queue %s on the provider",
		    t->name, t->queue);
	warnx("table %s is not (or no longer) replicated by queue %s on the provider"
	    " (removed there; the removal reaches this node through the queue):"
	    " nothing copied", t->name, t->queue);
	finish(EXIT_RETRY);
}

/*
 * Copy the columns both sides have (lon_common_columns), as londiste 3
 * does.  One only the provider has is left out: its events then fail
 * in replay until it is here too, also as londiste 3's do, so it is
 * worth a warning.  One only the subscriber has takes its default,
 * unless it has none and is NOT NULL: then no row could go in, and
 * nothing is begun.
 */
static void
copy_columns(PGconn *sub, PGconn *prov, struct lontable *t)
{
	const char *p[1] = { t->sqname };
	struct buf bad = {0};
	char *only_p, *only_s;
	PGresult *res;
	int i, j;

	lon_common_columns(prov, t, &only_p, &only_s);
	if (only_p != NULL)
		warnx("table %s: column(s) %s of the provider are not here:"
		    " left out of the copy (replay of the table's changes fails"
		    " until they are here too)", t->name, only_p);
	if (only_s != NULL) {
		res = db_exec(sub, "read the table's columns",
		    "SELECT quote_ident(attname) FROM pg_catalog.pg_attribute"
		    " WHERE attrelid = $1::pg_catalog.regclass AND attnum > 0"
		    "   AND NOT attisdropped AND attnotnull AND NOT atthasdef"
		    "   AND attidentity = '' AND attgenerated = ''"
		    " ORDER BY attnum", 1, p);
		for (i = 0; i < PQntuples(res); i++) {
			for (j = 0; j < t->ncol; j++)
				if (strcmp(PQgetvalue(res, i, 0), t->colv[j]) == 0)
					break;
			if (j == t->ncol)
				buf_printf(&bad, "%s%s", bad.len ? ", " : "",
				    PQgetvalue(res, i, 0));
		}
		PQclear(res);
		if (bad.len > 0)
			errx(EXIT_USAGE, "table %s: column(s) %s here are not on the"
			    " provider and are NOT NULL without a default: nothing copied",
			    t->name, bad.data);
		warnx("table %s: column(s) %s here are not on the provider:"
		    " they take their defaults", t->name, only_s);
	}
	free(only_p);
	free(only_s);
}

/* The provider's side: COPY out of the snapshot's transaction. */
static void
copy_from(PGconn *prov, const struct lontable *t, const char *where,
    bool retry)
{
	struct buf sql = {0};
	PGresult *res;
	const char *st;

	if (where != NULL)
		buf_printf(&sql, "COPY (SELECT %s FROM %s WHERE %s) TO STDOUT",
		    t->cols, t->pqname, where);
	else
		buf_printf(&sql, "COPY %s (%s) TO STDOUT", t->pqname, t->cols);
	res = PQexec(prov, sql.data);
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		/* Dropped there since lon_provider (DROP waits for a COPY
		 * that began). */
		st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (retry && st != NULL && strcmp(st, "42P01") == 0)
			provider_lost(t, retry);
		db_die(prov, res, "copy from the provider");
	}
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
	char *snap, *tick, *xid;
	const char *p[4];
	enum lost l;
	long long rows;
	int c;
	bool skip_truncate, if_registered = false, retry;

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
	db_cmd(sub, "begin", "BEGIN", 0, NULL);
	if (if_registered) {
		p[0] = argv[optind];
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
	retry = if_registered && lon_is_node(prov, t.queue);
	if (!lon_provider_has(prov, &t))
		provider_lost(&t, retry);
	copy_columns(sub, prov, &t);

	/* Committed before the snapshot is taken; waits for the batch that
	 * londiste-apply has in flight (see londiste.copy_begin).  The
	 * transaction's id tells the row version it writes (copy_lost). */
	p[0] = t.queue;
	p[1] = t.name;
	db_cmd(sub, "start copy", "SELECT londiste.copy_begin($1, $2)", 2, p);
	/* Added with --skip-truncate: the subscriber's own rows stay. */
	res = db_exec(sub, "read the table's settings",
	    "SELECT skip_truncate, pg_current_xact_id()::xid FROM londiste.subscriber_table"
	    " WHERE queue_name = $1 AND table_name = $2", 2, p);
	if (PQntuples(res) == 0)
		errx(EXIT_RETRY, "table %s: its registration vanished in copy_begin", t.name);
	skip_truncate = PQgetvalue(res, 0, 0)[0] == 't';
	xid = xstrdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	db_cmd(sub, "commit", "COMMIT", 0, NULL);
	p[2] = xid;
	copy_into(sub, &t, p, skip_truncate, if_registered);

	db_cmd(prov, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
	res = db_exec(prov, "take snapshot", "SELECT pg_current_snapshot()::text", 0, NULL);
	snap = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	lon_provider_synced(prov, &t);
	/* A tick after the snapshot: batches from it on hold nothing the
	 * copy saw, and the table can turn ok. */
	tick = lon_tick(ptick, p, &err);
	if (tick == NULL)
		errx(EXIT_RETRY, "make a tick: %s", err);
	PQfinish(ptick);

	copy_from(prov, &t, where, retry);
	rows = pass_rows(prov, sub);
	if ((l = copy_lost(sub, p, true)) != KEPT)
		copy_abandon(sub, t.name, l, if_registered);

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
	free(xid);
	lontable_free(&t);
	PQfinish(sub);
	PQfinish(prov);
	finish(EXIT_DONE);
}
