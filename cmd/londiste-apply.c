/* londiste-apply: apply a batch stream of row events to the subscriber,
 * one transaction per batch, exactly once.  With --node, the worker of
 * a cascade node: the position is pgq_node's, londiste 3's events are
 * applied, and a branch copies the batch into its own queue and ticks
 * it with the provider's tick, all in the batch's transaction. */
#include <err.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copytext.h"
#include "db.h"
#include "exitcodes.h"
#include "pgpipe.h"
#include "sqlfrag.h"
#include "stream.h"
#include "urlenc.h"
#include "util.h"

/* Statements in flight before we wait for their results: small enough
 * that neither side's socket buffer fills while the other writes. */
#define WINDOW	1000
/* Consecutive inserts of one shape after which the rest go by COPY. */
#define RUN_MIN	16
#define KEYMAX	160
/* A staged run of updates or deletes is applied at most this many rows
 * (or key bytes) at a time: bounds the key set and the stage table. */
#define STAGE_MAX	10000
#define STAGE_BYTES	(4 << 20)
#define KEYSLOTS	32768	/* power of two, at least 2 * STAGE_MAX */
#define OWNMAX	12	/* our own statements prepared by name */

#define USAGE "usage: londiste-apply [-d conninfo] --consumer name [--node]\n"

enum { ST_NEW, ST_COPY, ST_CATCHUP, ST_OK };

struct snap {
	uint64_t xmin, xmax;
	uint64_t *xip;
	int nxip;
};

struct table {
	char *name;		/* as pgq.logutriga writes ev_extra1 */
	char *qname;		/* quoted, for SQL; NULL when it is gone */
	int state;
	struct snap snap;
	long long sync_tick;
	bool pending;
	char **pk;
	int npk;
	bool uniq;		/* a unique index or exclusion besides the key */
	double est;		/* the planner's idea of its rows; < 0: unknown */
};

struct sent {
	char op;		/* I U D, u d for a stage, 0 for other statements */
	const char *table;
	char key[KEYMAX];
	const struct table *t;	/* of a stage: its key columns */
	int expect;		/* of a stage: the keys it must find */
	const char *what;	/* names a statement without a table */
};

/* A run of updates or deletes of one shape (table, operation, columns)
 * is sent as one statement that joins the table with arrays of the
 * run's values, one array per staged column. */
struct stage {
	int id;			/* prepared as la_aN (plain) and la_dN (dedup) */
	bool ok;		/* false: a column is an array, which would unnest */
	int ncols;		/* staged columns: all of an update, the key of a delete */
	int *col;		/* their index in the row */
	char *delim;		/* array delimiter of each column's type */
};

/* An event of the stream, the fields it is applied by, unescaped; NULL
 * for SQL NULL.  Without --node, extra2..4 are left NULL. */
struct ev {
	const char *txid, *type;
	char *data;
	const char *extra[4];
};

/* What is prepared for one shape of row event: table, operation and
 * columns.  The id names its statements. */
struct shape {
	char *key;
	int id;
	bool prepared;		/* la<id>: the statement for one row */
	bool dup;		/* a column named twice: no row of it applies */
	struct stage *stage;	/* once a run of the shape was staged */
	struct shape *next;
};

/* The state of one run of the program. */
static struct {
	PGconn *conn;
	struct pgpipe pp;	/* the pipeline on conn */
	const char *consumer;
	bool node;		/* --node: the position is pgq_node's */
	bool branch;		/* a branch node: copies the batch and ticks */

	/* The batch being applied. */
	char *queue;
	long long batch_id;
	long long prev_tick;
	char cur_tick[32];
	char *cur_time;		/* its tick's time, for the branch's tick */
	/* The ev_id of the event being applied, for messages; "pending"
	 * for one that waited in londiste.pending while its table was
	 * copied. */
	const char *cur_ev;
	struct table *tables;
	int ntables;
	unsigned long txn_gen;	/* counts batch transactions */
	unsigned long plan_gen;	/* the one that set the join methods */

	/* The current run of inserts: same table and columns. */
	struct buf run_shape;
	const struct table *run_table;
	int run_len;
	bool copying;

	struct shape *shapes[256];
	int nshapes;
	char own[OWNMAX][16];	/* send_own()'s statements prepared so far */

	/* The staged run: one array literal per column, the rows' keys. */
	struct stage *staging;
	const struct table *stage_table;
	char stage_op;
	int stage_rows, stage_keys;
	bool stage_dup;
	struct buf *stage_arr;
	int stage_narr;
	struct buf keyarena;
	size_t keyoff[STAGE_MAX + 1];
	int keyslot[KEYSLOTS];	/* row number + 1 of a key's first row */

	/* On a branch, the local queue's current event table and the
	 * batch's events waiting to go into it, as COPY rows. */
	char *copy_tbl;
	struct buf copy_rows;
	int copy_n;
	long long max_ev_id;

	/* The row being applied, and scratch space for its statements;
	 * a sqltriga fragment's text and the where part of its update. */
	struct urlrow row, where;
	struct buf frag;
	struct buf sb, kb;
	const char **params;
	int nparams_cap;
} la = { .cur_ev = "?" };

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
	    "Apply the batch stream on stdin (from pgq-events) to the subscriber\n"
	    "database, each batch in one transaction that also records its tick,\n"
	    "and write each applied batch as `batch ... end` to stdout.\n"
	    "\n"
	    "  -d, --dbname=CONNINFO  subscriber database (default: PG* environment)\n"
	    "  -c, --consumer=NAME    consumer name the applied ticks are kept under\n"
	    "  -n, --node             the worker of a cascade node: position in\n"
	    "                         pgq_node, londiste 3's events, a branch copies\n"
	    "                         the batch into its queue and ticks it\n"
	    "  -h, --help             show this help\n"
	    "  -V, --version          show the version\n");
	finish(EXIT_DONE);
}

static NORETURN void __attribute__((format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;
	struct buf m = {0};

	va_start(ap, fmt);
	buf_vprintf(&m, fmt, ap);
	va_end(ap);
	/* Exiting drops the connection: the batch's transaction rolls back. */
	errx(EXIT_RETRY, "batch %lld: %s; nothing of the batch was applied",
	    la.batch_id, m.data);
}

/* An event that can never apply, whatever the subscriber holds: exit 2,
 * which stops a supervisor that would otherwise restart for ever. */
static NORETURN void __attribute__((format(printf, 2, 3)))
reject(const char *table, const char *fmt, ...)
{
	va_list ap;
	struct buf m = {0};

	va_start(ap, fmt);
	buf_vprintf(&m, fmt, ap);
	va_end(ap);
	errx(EXIT_USAGE, "batch %lld: event %s%s%s%s: %s; it can never apply,"
	    " nothing of the batch was applied", la.batch_id, la.cur_ev,
	    table ? " (table " : "", table ? table : "", table ? ")" : "", m.data);
}

static const char *
resmsg(const PGresult *res)
{
	static struct buf m;
	const char *ctx;

	buf_reset(&m);
	buf_addstr(&m, res ? db_resmsg(res) : db_errmsg(la.conn));
	ctx = res ? PQresultErrorField(res, PG_DIAG_CONTEXT) : NULL;
	if (ctx != NULL && strncmp(ctx, "COPY ", 5) == 0) {
		buf_addstr(&m, " [");
		buf_add(&m, ctx, strcspn(ctx, "\n"));
		buf_addstr(&m, "]");
	}
	return m.data;
}

/* Plain statement outside the pipeline; exits 3 on any failure. */
static PGresult *
run(const char *what, const char *sql, int n, const char *const *p)
{
	PGresult *res = PQexecParams(la.conn, sql, n, NULL, p, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		fail("%s: %s", what, resmsg(res));
	return res;
}

/* --- snapshots ---------------------------------------------------- */

static void
snap_parse(struct snap *s, const char *text)
{
	const char *p = text;
	char *end;
	int cap = 0;

	free(s->xip);
	memset(s, 0, sizeof(*s));
	s->xmin = strtoull(p, &end, 10);
	if (*end != ':')
		goto bad;
	s->xmax = strtoull(end + 1, &end, 10);
	if (*end != ':')
		goto bad;
	p = end + 1;
	while (*p != '\0') {
		if (s->nxip == cap) {
			cap = cap ? cap * 2 : 16;
			s->xip = xrealloc(s->xip, (size_t)cap * sizeof(*s->xip));
		}
		s->xip[s->nxip++] = strtoull(p, &end, 10);
		if (end == p || (*end != ',' && *end != '\0'))
			goto bad;
		p = *end == ',' ? end + 1 : end;
	}
	return;
bad:
	fail("bad snapshot in londiste.subscriber_table: %s", text);
}

/* As pg_visible_in_snapshot(): committed before the snapshot was taken. */
static bool
snap_visible(const struct snap *s, uint64_t tx)
{
	int lo = 0, hi = s->nxip - 1;

	if (tx < s->xmin)
		return true;
	if (tx >= s->xmax)
		return false;
	while (lo <= hi) {	/* xip is sorted, as PostgreSQL prints it */
		int mid = (lo + hi) / 2;

		if (s->xip[mid] == tx)
			return false;
		if (s->xip[mid] < tx)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return true;
}

/* --- tables --------------------------------------------------------- */

static void
tables_free(void)
{
	int i, j;

	for (i = 0; i < la.ntables; i++) {
		free(la.tables[i].name);
		free(la.tables[i].qname);
		free(la.tables[i].snap.xip);
		for (j = 0; j < la.tables[i].npk; j++)
			free(la.tables[i].pk[j]);
		free(la.tables[i].pk);
	}
	free(la.tables);
	la.tables = NULL;
	la.ntables = 0;
}

static int
table_cmp(const void *a, const void *b)
{
	return strcmp(((const struct table *)a)->name, ((const struct table *)b)->name);
}

/* The catalog is read here rather than through londiste.rel_oid() and
 * friends: SQL functions are planned at every call, and this runs for
 * every batch.  A name is schema.relation as the trigger writes it; on
 * a cascade node the set's table may live here under another name
 * (add-table --dest-table), which its londiste.table_info row holds:
 * events name the set's table, rows go to that relation. */
static const char tables_sql[] =
	"SELECT t.table_name, t.state, t.snapshot::text, t.sync_tick,"
	" EXISTS (SELECT 1 FROM londiste.pending p"
	"  WHERE p.queue_name = t.queue_name AND p.table_name = t.table_name),"
	" CASE WHEN r.oid IS NOT NULL THEN format('%I.%I', r.nspname, r.relname) END,"
	" k.attname,"
	" EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = r.oid"
	"  AND (i.indisunique OR i.indisexclusion) AND NOT i.indisprimary),"
	/* The planner scales the rows-per-page of the last ANALYZE to
	 * the table's pages now; no ANALYZE yet, it guesses from the
	 * row width, which does no harm here.  Not for a table in copy:
	 * pg_relation_size waits for the copy's lock on it, and the copy
	 * waits for this batch (copy_done), a deadlock; its events wait
	 * in londiste.pending anyway. */
	" CASE WHEN t.state IN ('ok', 'catching-up')"
	"  AND r.relkind = 'r' AND r.relpages > 0 AND r.reltuples >= 0"
	"  THEN r.reltuples / r.relpages * (pg_relation_size(r.oid)"
	"  / current_setting('block_size')::float8) END"
	" FROM londiste.subscriber_table t"
	" LEFT JOIN londiste.table_info ti ON ti.queue_name = t.queue_name"
	"  AND ti.table_name = t.table_name AND ti.local"
	" CROSS JOIN LATERAL (SELECT coalesce(ti.dest_table, t.table_name) AS n) d"
	" LEFT JOIN LATERAL (SELECT c.oid, n.nspname, c.relname, c.relkind,"
	"  c.relpages, c.reltuples"
	"  FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid"
	/* londiste._rel()'s rule: a table, the shortest schema wins. */
	"  WHERE starts_with(d.n, n.nspname || '.')"
	"  AND c.relname = substr(d.n, length(n.nspname) + 2)"
	"  AND c.relkind IN ('r', 'p')"
	"  ORDER BY length(n.nspname) LIMIT 1) r ON true"
	" LEFT JOIN LATERAL (SELECT a.attname, k.ord FROM pg_index i"
	"  CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)"
	"  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
	"  WHERE i.indrelid = r.oid AND i.indisprimary) k ON true"
	" WHERE t.queue_name = $1"
	" ORDER BY t.table_name, k.ord FOR SHARE OF t";

/* The queue's table states from tables_sql (res is cleared), which
 * holds them FOR SHARE for the batch: londiste-copy changes a state only
 * between our batches. */
static void
tables_load(PGresult *res)
{
	int i, n;

	tables_free();
	n = PQntuples(res);
	la.tables = xmalloc((size_t)(n ? n : 1) * sizeof(*la.tables));
	for (i = 0; i < n; i++) {
		struct table *t;
		const char *st = PQgetvalue(res, i, 1);

		if (la.ntables > 0 && strcmp(la.tables[la.ntables - 1].name, PQgetvalue(res, i, 0)) == 0) {
			t = &la.tables[la.ntables - 1];
		} else {
			t = &la.tables[la.ntables++];
			memset(t, 0, sizeof(*t));
			t->name = xstrdup(PQgetvalue(res, i, 0));
			t->state = strcmp(st, "ok") == 0 ? ST_OK :
			    strcmp(st, "catching-up") == 0 ? ST_CATCHUP :
			    strcmp(st, "in-copy") == 0 ? ST_COPY : ST_NEW;
			if (t->state == ST_CATCHUP) {
				if (PQgetisnull(res, i, 2))
					fail("table %s is catching-up without a snapshot", t->name);
				snap_parse(&t->snap, PQgetvalue(res, i, 2));
				t->sync_tick = PQgetisnull(res, i, 3) ? 0 :
				    strtoll(PQgetvalue(res, i, 3), NULL, 10);
			}
			t->pending = PQgetvalue(res, i, 4)[0] == 't';
			if (!PQgetisnull(res, i, 5))
				t->qname = xstrdup(PQgetvalue(res, i, 5));
			t->uniq = PQgetvalue(res, i, 7)[0] == 't';
			t->est = PQgetisnull(res, i, 8) ? -1 :
			    strtod(PQgetvalue(res, i, 8), NULL);
		}
		if (!PQgetisnull(res, i, 6)) {
			t->pk = xrealloc(t->pk, (size_t)(t->npk + 1) * sizeof(*t->pk));
			t->pk[t->npk++] = xstrdup(PQgetvalue(res, i, 6));
		}
	}
	PQclear(res);
	/* Already sorted by the server, but in its collation. */
	qsort(la.tables, (size_t)la.ntables, sizeof(*la.tables), table_cmp);
}

static struct table *
table_find(const char *name)
{
	struct table key;

	key.name = (char *)name;
	return bsearch(&key, la.tables, (size_t)la.ntables, sizeof(*la.tables), table_cmp);
}

/* --- pipeline ------------------------------------------------------- */

/* A failure of the pipeline ends us, as any failure in the batch. */
static void
pipe_ok(const char *err)
{
	if (err != NULL)
		fail("%s", err);
}

static void
pipeline_on(void)
{
	pipe_ok(pgpipe_on(&la.pp));
}

/* Wait for every statement sent so far; the first failure ends us. */
static void
pipeline_sync(void)
{
	pipe_ok(pgpipe_sync(&la.pp));
}

static void
pipeline_off(void)
{
	pipe_ok(pgpipe_off(&la.pp));
}

/* A failed statement, named by what it did or by its table and key. */
static void
sent_error(struct buf *err, const struct sent *e, const PGresult *res)
{
	if (e->what != NULL)
		buf_printf(err, "%s: %s", e->what, resmsg(res));
	else if (e->table != NULL)
		buf_printf(err, "table %s%s%s%s: %s", e->table,
		    e->key[0] ? " key (" : "", e->key, e->key[0] ? ")" : "",
		    resmsg(res));
	else
		buf_printf(err, "%s", resmsg(res));
}

/* Statements the server judges alone. */
static void
check_plain(struct buf *err, PGresult *res, void *payload)
{
	if (PQresultStatus(res) == PGRES_FATAL_ERROR)
		sent_error(err, payload, res);
}

/* An update or delete of one row must find it. */
static void
check_change(struct buf *err, PGresult *res, void *payload)
{
	const struct sent *e = payload;

	if (PQresultStatus(res) == PGRES_FATAL_ERROR)
		sent_error(err, e, res);
	else if (PQresultStatus(res) == PGRES_COMMAND_OK &&
	    strcmp(PQcmdTuples(res), "0") == 0)
		buf_printf(err, "table %s key (%s): %s of a missing row",
		    e->table, e->key, e->op == 'U' ? "update" : "delete");
}

static void stage_check(struct buf *err, const struct sent *e, const PGresult *res);

/* A staged run must find every key it holds. */
static void
check_stage(struct buf *err, PGresult *res, void *payload)
{
	if (PQresultStatus(res) == PGRES_FATAL_ERROR)
		sent_error(err, payload, res);
	else if (PQresultStatus(res) == PGRES_TUPLES_OK)
		stage_check(err, payload, res);
}

/* The slot of the next statement, which check judges. */
static struct sent *
sent_slot(pgpipe_check *check, char op, const char *table, const char *what,
    PGresult **keep)
{
	const char *err;
	struct sent *e = pgpipe_slot(&la.pp, check, keep, &err);

	if (e == NULL)
		fail("%s", err);
	e->op = op;
	e->table = table;
	e->what = what;
	return e;
}

/* A londiste or pgq_node function's answer (ret_code, ret_note): 400
 * and up is a refusal. */
static void
check_ret(struct buf *err, PGresult *res, void *payload)
{
	const struct sent *e = payload;

	if (PQresultStatus(res) == PGRES_FATAL_ERROR)
		sent_error(err, e, res);
	else if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    strtol(PQgetvalue(res, 0, 0), NULL, 10) >= 400)
		buf_printf(err, "%s: %s %s", e->what, PQgetvalue(res, 0, 0),
		    PQgetvalue(res, 0, 1));
}

/* A statement of our own bookkeeping into the pipeline, judged by
 * check; with keep, its result is kept there when the pipeline is
 * synced.  With name, it is prepared on first use: these run for every
 * batch. */
static void
send_own_checked(pgpipe_check *check, const char *what, const char *name,
    const char *sql, int n, const char *const *p, PGresult **keep)
{
	int i;

	pipeline_on();
	for (i = 0; name != NULL && i < OWNMAX; i++) {
		if (strcmp(la.own[i], name) == 0)
			break;
		if (la.own[i][0] == '\0') {
			sent_slot(check_plain, 0, NULL, what, NULL);
			if (PQsendPrepare(la.conn, name, sql, n, NULL) != 1)
				fail("prepare: %s", db_errmsg(la.conn));
			snprintf(la.own[i], sizeof(la.own[i]), "%s", name);
			break;
		}
	}
	sent_slot(check, 0, NULL, what, keep);
	if (name != NULL && i < OWNMAX) {
		if (PQsendQueryPrepared(la.conn, name, n, p, NULL, NULL, 0) != 1)
			fail("send: %s", db_errmsg(la.conn));
	} else if (PQsendQueryParams(la.conn, sql, n, NULL, p, NULL, NULL, 0) != 1) {
		fail("send: %s", db_errmsg(la.conn));
	}
}

static void
send_own(const char *what, const char *name, const char *sql, int n,
    const char *const *p, PGresult **keep)
{
	send_own_checked(check_plain, what, name, sql, n, p, keep);
}

static void
send_prepared(const char *name, int n, const char *const *p)
{
	if (PQsendQueryPrepared(la.conn, name, n, p, NULL, NULL, 0) != 1)
		fail("send: %s", db_errmsg(la.conn));
}

/* --- COPY runs ---------------------------------------------------- */

static void
copy_end(void)
{
	PGresult *res;

	if (!la.copying)
		return;
	la.copying = false;
	if (PQputCopyEnd(la.conn, NULL) != 1)
		fail("table %s: end of COPY: %s", la.run_table->name, db_errmsg(la.conn));
	res = PQgetResult(la.conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail("table %s: %s", la.run_table->name, resmsg(res));
	PQclear(res);
	while ((res = PQgetResult(la.conn)) != NULL)
		PQclear(res);
}

static void
copy_start(const struct table *t)
{
	PGresult *res;
	int i;

	pipeline_off();
	buf_reset(&la.sb);
	buf_printf(&la.sb, "COPY %s (", t->qname);
	for (i = 0; i < la.row.n; i++) {
		if (i > 0)
			buf_addch(&la.sb, ',');
		db_quote_ident(&la.sb, la.row.f[i].key);
	}
	buf_addstr(&la.sb, ") FROM STDIN");
	res = PQexec(la.conn, la.sb.data);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		fail("table %s: %s", t->name, resmsg(res));
	PQclear(res);
	la.copying = true;
}

static void
copy_row(const struct table *t)
{
	int i;

	buf_reset(&la.sb);
	for (i = 0; i < la.row.n; i++) {
		if (i > 0)
			buf_addch(&la.sb, '\t');
		if (la.row.f[i].val == NULL)
			buf_addstr(&la.sb, "\\N");
		else
			copytext_escape(&la.sb, la.row.f[i].val, strlen(la.row.f[i].val));
	}
	buf_addch(&la.sb, '\n');
	if (PQputCopyData(la.conn, la.sb.data, (int)la.sb.len) != 1)
		fail("table %s: COPY: %s", t->name, db_errmsg(la.conn));
}

/* --- prepared statements by shape ----------------------------------- */

static unsigned
hash_mem(const char *s, size_t n)
{
	unsigned h = 2166136261u;

	while (n-- > 0)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static unsigned
hash(const char *s)
{
	return hash_mem(s, strlen(s));
}

static int
key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether the current row names a column twice.  Checked once per
 * shape (rows of one shape have the same names): sorted, a repeat sits
 * next to its twin. */
static bool
row_dup(void)
{
	char **k = xmalloc((size_t)(la.row.n ? la.row.n : 1) * sizeof(*k));
	bool dup = false;
	int i;

	for (i = 0; i < la.row.n; i++)
		k[i] = la.row.f[i].key;
	qsort(k, (size_t)la.row.n, sizeof(*k), key_cmp);
	for (i = 1; i < la.row.n && !dup; i++)
		dup = strcmp(k[i - 1], k[i]) == 0;
	free(k);
	return dup;
}

/* The current row's shape as a string into b: op and its column names
 * (after table, when not NULL), each name after its length, so that no
 * names, whatever bytes they hold, read as other names. */
static void
row_shape(struct buf *b, char op, const char *table)
{
	int i;

	buf_reset(b);
	buf_addch(b, op);
	if (table != NULL)
		buf_printf(b, "%zu:%s", strlen(table), table);
	for (i = 0; i < la.row.n; i++)
		buf_printf(b, "%zu:%s", strlen(la.row.f[i].key), la.row.f[i].key);
}

/* The shape of the current row, op on t; created on first use. */
static struct shape *
shape_for(char op, const struct table *t)
{
	struct shape *sh;
	unsigned h;

	row_shape(&la.kb, op, t->qname);
	h = hash(la.kb.data) & 255;
	for (sh = la.shapes[h]; sh != NULL; sh = sh->next)
		if (strcmp(sh->key, la.kb.data) == 0)
			return sh;
	sh = xmalloc(sizeof(*sh));
	sh->key = xstrdup(la.kb.data);
	sh->id = ++la.nshapes;
	sh->prepared = false;
	sh->dup = row_dup();
	sh->stage = NULL;
	sh->next = la.shapes[h];
	la.shapes[h] = sh;
	return sh;
}

/* The statement for one row of the current shape into b; returns its
 * number of parameters. */
static int
stmt_sql(struct buf *b, char op, const struct table *t, const int *pkpos)
{
	int i, j;

	switch (op) {
	case 'I':
		buf_printf(b, "INSERT INTO %s (", t->qname);
		for (i = 0; i < la.row.n; i++) {
			if (i > 0)
				buf_addch(b, ',');
			db_quote_ident(b, la.row.f[i].key);
		}
		buf_addstr(b, ") VALUES (");
		for (i = 0; i < la.row.n; i++)
			buf_printf(b, "%s$%d", i ? "," : "", i + 1);
		buf_addch(b, ')');
		return la.row.n;
	case 'U':
		buf_printf(b, "UPDATE %s SET ", t->qname);
		for (i = 0, j = 0; i < la.row.n; i++) {
			int k;

			for (k = 0; k < t->npk; k++)
				if (pkpos[k] == i)
					break;
			if (k < t->npk)
				continue;
			if (j++ > 0)
				buf_addch(b, ',');
			db_quote_ident(b, la.row.f[i].key);
			buf_printf(b, "=$%d", i + 1);
		}
		if (j == 0) {	/* only key columns: still proves the row exists */
			db_quote_ident(b, t->pk[0]);
			buf_printf(b, "=$%d", pkpos[0] + 1);
		}
		buf_addstr(b, " WHERE ");
		for (i = 0; i < t->npk; i++) {
			if (i > 0)
				buf_addstr(b, " AND ");
			db_quote_ident(b, t->pk[i]);
			buf_printf(b, "=$%d", pkpos[i] + 1);
		}
		return la.row.n;
	default:	/* 'D' */
		buf_printf(b, "DELETE FROM %s WHERE ", t->qname);
		for (i = 0; i < t->npk; i++) {
			if (i > 0)
				buf_addstr(b, " AND ");
			db_quote_ident(b, t->pk[i]);
			buf_printf(b, "=$%d", i + 1);
		}
		return t->npk;
	}
}

/* Name of the prepared statement for the current row's shape,
 * preparing it on first use. */
static const char *
stmt_for(char op, const struct table *t, const int *pkpos)
{
	static char name[32];
	struct shape *sh = shape_for(op, t);
	int np;

	snprintf(name, sizeof(name), "la%d", sh->id);
	if (!sh->prepared) {
		buf_reset(&la.sb);
		np = stmt_sql(&la.sb, op, t, pkpos);
		sent_slot(check_plain, 0, t->name, NULL, NULL);
		if (PQsendPrepare(la.conn, name, la.sb.data, np, NULL) != 1)
			fail("prepare: %s", db_errmsg(la.conn));
		sh->prepared = true;
	}
	return name;
}

/* A statement without parameters into the pipeline. */
static void
send_plain(const char *table, const char *sql)
{
	sent_slot(check_plain, 0, table, NULL, NULL);
	if (PQsendQueryParams(la.conn, sql, 0, NULL, NULL, NULL, NULL, 0) != 1)
		fail("send: %s", db_errmsg(la.conn));
}

/* --- staged runs of updates and deletes ----------------------------- */

/* A long run of updates or deletes of one table goes as one statement
 * that joins the table with arrays of the run's values: per row that
 * costs a fraction of a statement, and it stays in the pipeline.  The
 * join applies the rows in no defined order, which only a unique index
 * (or exclusion) besides the key could tell from applying them one by
 * one, so such tables keep one statement per update. */
static bool
stageable(const struct table *t, char op)
{
	return op == 'D' || (op == 'U' && !t->uniq);
}

/* The key of the current row as bytes that are equal when its values
 * are the same text: per column 'n' for NULL or 'v' and the value, each
 * ended by a NUL (values never hold one). */
static void
key_add(struct buf *b, const struct table *t, const int *pkpos)
{
	int k;

	for (k = 0; k < t->npk; k++) {
		const char *v = la.row.f[pkpos[k]].val;

		if (v == NULL) {
			buf_add(b, "n", 2);
		} else {
			buf_addch(b, 'v');
			buf_add(b, v, strlen(v) + 1);
		}
	}
}

/* Look up the key of staged row r; remember it when new.  Returns the
 * first row with the same key, or -1. */
static int
key_seen(int r)
{
	const char *k = la.keyarena.data + la.keyoff[r];
	size_t n = la.keyoff[r + 1] - la.keyoff[r];
	unsigned i = hash_mem(k, n) & (KEYSLOTS - 1);

	for (; la.keyslot[i] != 0; i = (i + 1) & (KEYSLOTS - 1)) {
		int o = la.keyslot[i] - 1;

		if (la.keyoff[o + 1] - la.keyoff[o] == n &&
		    memcmp(la.keyarena.data + la.keyoff[o], k, n) == 0)
			return o;
	}
	la.keyslot[i] = r + 1;
	return -1;
}

/* Append s as an element of an array literal: always quoted, so no
 * delimiter, brace, space or the word NULL can be misread. */
static void
array_elem(struct buf *b, const char *s)
{
	const char *p;

	if (s == NULL) {
		buf_addstr(b, "NULL");
		return;
	}
	buf_addch(b, '"');
	for (p = s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_addch(b, '\\');
		buf_addch(b, *p);
	}
	buf_addch(b, '"');
}

static void
join_keys(struct buf *b, const struct table *t)
{
	int k;

	for (k = 0; k < t->npk; k++) {
		buf_addstr(b, k ? " AND t." : "t.");
		db_quote_ident(b, t->pk[k]);
		buf_addstr(b, " = s.");
		db_quote_ident(b, t->pk[k]);
	}
}

/* The staged rows as a relation s: the arrays side by side, numbered. */
static void
stage_rel(struct buf *b, const char *const *name, const char *const *type,
    int n, const char *ord)
{
	int i;

	buf_addstr(b, "unnest(");
	for (i = 0; i < n; i++)
		buf_printf(b, "%s$%d::%s[]", i ? ", " : "", i + 1, type[i]);
	buf_addstr(b, ") WITH ORDINALITY AS s(");
	for (i = 0; i < n; i++) {
		db_quote_ident(b, name[i]);
		buf_addch(b, ',');
	}
	db_quote_ident(b, ord);
	buf_addch(b, ')');
}

/* The statement for a stage, into b: the UPDATE or DELETE in a WITH,
 * then the number of rows it found and, only when that is not the number
 * of keys staged (the last parameter), the first staged key the table
 * lacks.  The anti-join is part of the same statement, so it sees the
 * table as it was before the change. */
static void
stage_sql(struct buf *b, const struct table *t, char op, bool dedup,
    const char *const *name, const char *const *type, int n, const char *ord)
{
	struct buf rel = {0};
	int i, j, k;

	stage_rel(&rel, name, type, n, ord);
	if (op == 'U') {
		buf_printf(b, "WITH u AS (UPDATE %s AS t SET ", t->qname);
		for (i = 0, j = 0; i < n; i++) {
			for (k = 0; k < t->npk; k++)
				if (strcmp(name[i], t->pk[k]) == 0)
					break;
			if (k < t->npk)
				continue;
			if (j++ > 0)
				buf_addch(b, ',');
			db_quote_ident(b, name[i]);
			buf_addstr(b, " = s.");
			db_quote_ident(b, name[i]);
		}
		if (j == 0) {	/* only key columns: still proves the row exists */
			db_quote_ident(b, t->pk[0]);
			buf_addstr(b, " = s.");
			db_quote_ident(b, t->pk[0]);
		}
		buf_addstr(b, " FROM ");
		if (dedup) {
			/* Updates of one key: the last wins, as one by one. */
			buf_addstr(b, "(SELECT DISTINCT ON (");
			for (k = 0; k < t->npk; k++) {
				if (k > 0)
					buf_addch(b, ',');
				db_quote_ident(b, t->pk[k]);
			}
			buf_printf(b, ") * FROM %s ORDER BY ", rel.data);
			for (k = 0; k < t->npk; k++) {
				db_quote_ident(b, t->pk[k]);
				buf_addch(b, ',');
			}
			db_quote_ident(b, ord);
			buf_addstr(b, " DESC) AS s");
		} else {
			buf_addstr(b, rel.data);
		}
		buf_addstr(b, " WHERE ");
	} else {
		buf_printf(b, "WITH u AS (DELETE FROM %s AS t USING %s WHERE ",
		    t->qname, rel.data);
	}
	join_keys(b, t);
	buf_addstr(b, " RETURNING 1) SELECT c.n, k.* FROM (SELECT count(*) AS n FROM u) AS c"
	    " LEFT JOIN LATERAL (SELECT true");
	for (k = 0; k < t->npk; k++) {
		buf_addstr(b, ", s.");
		db_quote_ident(b, t->pk[k]);
		buf_addstr(b, "::text");
	}
	buf_printf(b, " FROM %s WHERE c.n <> $%d AND NOT EXISTS (SELECT 1 FROM %s AS t WHERE ",
	    rel.data, n + 1, t->qname);
	join_keys(b, t);
	buf_addstr(b, ") ORDER BY s.");
	db_quote_ident(b, ord);
	buf_addstr(b, " LIMIT 1) AS k ON true");
	buf_free(&rel);
}

/* Into ord, a name for the order column that no staged column has. */
static void
ord_name(struct buf *ord, const char *const *name, int n)
{
	int i, k;

	for (k = 0;; k++) {
		buf_reset(ord);
		buf_addstr(ord, "la_ord");
		if (k > 0)
			buf_printf(ord, "%d", k);
		for (i = 0; i < n; i++)
			if (strcmp(name[i], ord->data) == 0)
				break;
		if (i == n)
			return;
	}
}

/* Read the types of g's columns (named by name) into type and their
 * array delimiters into g; the result, which holds type, is returned
 * for the caller to clear. */
static PGresult *
stage_types(struct stage *g, const struct table *t, const char *const *name,
    const char **type)
{
	struct buf names = {0};
	const char *p[2];
	PGresult *res;
	int i;

	buf_addch(&names, '{');
	for (i = 0; i < g->ncols; i++) {
		if (i > 0)
			buf_addch(&names, ',');
		array_elem(&names, name[i]);
	}
	buf_addch(&names, '}');
	pipeline_off();
	p[0] = t->qname;
	p[1] = names.data;
	res = run("read column types",
	    "SELECT c.name, format_type(a.atttypid, a.atttypmod), y.typdelim,"
	    " y.typcategory = 'A'"
	    " FROM unnest($2::text[]) WITH ORDINALITY AS c(name, i)"
	    " LEFT JOIN pg_attribute a ON a.attrelid = $1::regclass"
	    "  AND a.attname = c.name AND a.attnum > 0 AND NOT a.attisdropped"
	    " LEFT JOIN pg_type y ON y.oid = a.atttypid ORDER BY c.i", 2, p);
	for (i = 0; i < g->ncols; i++) {
		if (PQgetisnull(res, i, 1))
			fail("table %s: no column %s", t->name, name[i]);
		type[i] = PQgetvalue(res, i, 1);
		g->delim[i] = PQgetvalue(res, i, 2)[0];
		if (PQgetvalue(res, i, 3)[0] == 't')
			g->ok = false;
	}
	buf_free(&names);
	return res;
}

/* The stage for the current row's shape; on first use, read the staged
 * columns' types and prepare its statements. */
static struct stage *
stage_for(const struct table *t, char op, const int *pkpos)
{
	struct shape *sh = shape_for(op, t);
	struct stage *g;
	struct buf ord = {0};
	const char **name, **type;
	PGresult *res;
	int i, k, n;

	if (sh->stage != NULL)
		return sh->stage;
	n = op == 'U' ? la.row.n : t->npk;
	g = xmalloc(sizeof(*g));
	g->id = sh->id;
	g->ok = true;
	g->ncols = n;
	g->col = xmalloc((size_t)n * sizeof(*g->col));
	g->delim = xmalloc((size_t)n);
	name = xmalloc((size_t)n * sizeof(*name));
	type = xmalloc((size_t)n * sizeof(*type));
	for (i = 0; i < n; i++) {
		g->col[i] = op == 'U' ? i : pkpos[i];
		name[i] = la.row.f[g->col[i]].key;
	}
	ord_name(&ord, name, n);
	res = stage_types(g, t, name, type);

	pipeline_on();
	for (k = 0; g->ok && k < (op == 'U' ? 2 : 1); k++) {
		char sname[32];

		buf_reset(&la.sb);
		stage_sql(&la.sb, t, op, k == 1, name, type, n, ord.data);
		snprintf(sname, sizeof(sname), "la_%c%d", k ? 'd' : 'a', g->id);
		sent_slot(check_plain, 0, t->name, NULL, NULL);
		if (PQsendPrepare(la.conn, sname, la.sb.data, n + 1, NULL) != 1)
			fail("prepare: %s", db_errmsg(la.conn));
	}
	PQclear(res);
	free(name);
	free(type);
	buf_free(&ord);
	sh->stage = g;
	return g;
}

/* Start staging a run, unless its shape cannot be. */
static void
stage_start(const struct table *t, char op, const int *pkpos)
{
	struct stage *g = stage_for(t, op, pkpos);
	int i;

	if (!g->ok)
		return;

	if (la.stage_narr < g->ncols) {
		la.stage_arr = xrealloc(la.stage_arr, (size_t)g->ncols * sizeof(*la.stage_arr));
		memset(la.stage_arr + la.stage_narr, 0,
		    (size_t)(g->ncols - la.stage_narr) * sizeof(*la.stage_arr));
		la.stage_narr = g->ncols;
	}
	for (i = 0; i < g->ncols; i++) {
		buf_reset(&la.stage_arr[i]);
		buf_addch(&la.stage_arr[i], '{');
	}
	la.staging = g;
	la.stage_table = t;
	la.stage_op = op;
	la.stage_rows = 0;
	la.stage_keys = 0;
	la.stage_dup = false;
	buf_reset(&la.keyarena);
	la.keyoff[0] = 0;
	memset(la.keyslot, 0, sizeof(la.keyslot));
}

/* Send the staged run; its result is checked with the pipeline's. */
static void
stage_flush(void)
{
	struct stage *g = la.staging;
	const char **p;
	char n[24], sname[32];
	struct sent *e;
	int i;

	if (g == NULL)
		return;
	la.staging = NULL;
	pipeline_on();
	/* Each staged row is one probe of the key's index.  A merge join
	 * would read the index from its start for every run, a hash join
	 * the whole table: the planner cannot tell how few rows of a big
	 * table a run touches. */
	if (la.plan_gen != la.txn_gen) {
		la.plan_gen = la.txn_gen;
		send_plain(NULL, "SET LOCAL enable_mergejoin = off");
		send_plain(NULL, "SET LOCAL enable_hashjoin = off");
	}
	/* With a nested loop only, statistics that say the table holds
	 * fewer rows than the run is about to find (a table emptied,
	 * analyzed, and filled again) put the table on the outer side and
	 * rescan the run's rows for every row of it: seconds to minutes
	 * for what takes milliseconds.  An ANALYZE in this transaction
	 * sees the table as the run will. */
	if (la.stage_table->est >= 0 && la.stage_table->est < la.stage_keys) {
		struct table *t = table_find(la.stage_table->name);
		struct buf sql = {0};

		buf_printf(&sql, "ANALYZE %s", t->qname);
		send_plain(NULL, sql.data);
		buf_free(&sql);
		t->est = -1;
	}
	p = xmalloc((size_t)(g->ncols + 1) * sizeof(*p));
	for (i = 0; i < g->ncols; i++) {
		buf_addch(&la.stage_arr[i], '}');
		p[i] = la.stage_arr[i].data;
	}
	snprintf(n, sizeof(n), "%d", la.stage_keys);
	p[g->ncols] = n;
	snprintf(sname, sizeof(sname), "la_%c%d", la.stage_dup ? 'd' : 'a', g->id);
	e = sent_slot(check_stage, la.stage_op == 'U' ? 'u' : 'd', la.stage_table->name,
	    NULL, NULL);
	e->t = la.stage_table;
	e->expect = la.stage_keys;
	send_prepared(sname, g->ncols + 1, p);
	free(p);
}

/* A stage's result: the count it found, else the first missing key. */
static void
stage_check(struct buf *err, const struct sent *e, const PGresult *res)
{
	struct buf key = {0};
	int k;

	if (PQntuples(res) == 1 && strtol(PQgetvalue(res, 0, 0), NULL, 10) == e->expect)
		return;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 1)) {
		buf_printf(err, "table %s: %s of %d rows found %s", e->table,
		    e->op == 'u' ? "update" : "delete", e->expect,
		    PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "none");
		return;
	}
	for (k = 0; k < e->t->npk; k++)
		buf_printf(&key, "%s%s=%s", k ? "," : "", e->t->pk[k],
		    PQgetisnull(res, 0, k + 2) ? "NULL" : PQgetvalue(res, 0, k + 2));
	buf_printf(err, "table %s key (%.*s): %s of a missing row", e->table,
	    KEYMAX, key.data, e->op == 'u' ? "update" : "delete");
	buf_free(&key);
}

/* Add the current row to the staged run. */
static void
stage_row(const struct table *t, char op, const int *pkpos)
{
	size_t bytes;
	int i;

	for (;;) {
		for (i = 0, bytes = la.keyarena.len; i < la.staging->ncols; i++)
			bytes += la.stage_arr[i].len;
		if (la.stage_rows == STAGE_MAX || bytes > STAGE_BYTES) {
			stage_flush();
			stage_start(t, op, pkpos);
		}
		key_add(&la.keyarena, t, pkpos);
		la.keyoff[la.stage_rows + 1] = la.keyarena.len;
		if (key_seen(la.stage_rows) < 0) {
			la.stage_keys++;
			break;
		}
		if (op == 'U') {
			la.stage_dup = true;
			break;
		}
		/* A key deleted twice: the second delete must find the row
		 * gone, as it would one by one. */
		la.keyarena.len = la.keyoff[la.stage_rows];
		stage_flush();
		stage_start(t, op, pkpos);
	}
	for (i = 0; i < la.staging->ncols; i++) {
		if (la.stage_rows > 0)
			buf_addch(&la.stage_arr[i], la.staging->delim[i]);
		array_elem(&la.stage_arr[i], la.row.f[la.staging->col[i]].val);
	}
	la.stage_rows++;
}

/* Anything but the next event of the run's shape ends the run. */
static void
run_break(void)
{
	copy_end();
	stage_flush();
	la.run_table = NULL;
	la.run_len = 0;
	buf_reset(&la.run_shape);
}

/* --- events --------------------------------------------------------- */

static void
key_text(char *dst, const struct table *t, const int *pkpos)
{
	struct buf b = {0};
	int i;

	for (i = 0; i < t->npk; i++)
		buf_printf(&b, "%s%s=%s", i ? "," : "", t->pk[i],
		    la.row.f[pkpos[i]].val ? la.row.f[pkpos[i]].val : "NULL");
	snprintf(dst, KEYMAX, "%s", b.data ? b.data : "");
	buf_free(&b);
}

/* The current row (la.row), op on t, applied: into the run of its
 * shape, or as one statement. */
static void
apply_row(struct table *t, char op)
{
	int pkpos[64], i, k;
	struct sent *e;
	const char *name;

	for (k = 0; k < t->npk; k++) {
		for (i = 0; i < la.row.n; i++)
			if (strcmp(la.row.f[i].key, t->pk[k]) == 0)
				break;
		if (i == la.row.n)
			reject(t->name, "no key column %s", t->pk[k]);
		pkpos[k] = i;
	}

	row_shape(&la.kb, op, NULL);
	if (la.run_table == t && strcmp(la.kb.data, la.run_shape.data) == 0) {
		la.run_len++;
	} else {
		run_break();
		la.run_table = t;
		la.run_len = 1;
		buf_addstr(&la.run_shape, la.kb.data);
		/* A column twice: which value would be meant?  No trigger
		 * writes that; refuse it rather than pick one. */
		if (shape_for(op, t)->dup)
			reject(t->name, "the row of the %c event names a column twice", op);
	}
	if (op == 'I') {
		if (la.copying) {
			copy_row(t);
			return;
		}
		if (la.run_len >= RUN_MIN) {
			copy_start(t);
			copy_row(t);
			return;
		}
	} else if (stageable(t, op)) {
		if (la.staging == NULL && la.run_len >= RUN_MIN)
			stage_start(t, op, pkpos);
		if (la.staging != NULL) {
			stage_row(t, op, pkpos);
			return;
		}
	}

	pipeline_on();
	name = stmt_for(op, t, pkpos);
	if (la.nparams_cap < la.row.n) {
		la.nparams_cap = la.row.n;
		la.params = xrealloc(la.params, (size_t)la.nparams_cap * sizeof(*la.params));
	}
	if (op == 'D') {
		for (k = 0; k < t->npk; k++)
			la.params[k] = la.row.f[pkpos[k]].val;
	} else {
		for (i = 0; i < la.row.n; i++)
			la.params[i] = la.row.f[i].val;
	}
	e = sent_slot(check_change, op, t->name, NULL, NULL);
	key_text(e->key, t, pkpos);
	send_prepared(name, op == 'D' ? t->npk : la.row.n, la.params);
}

static void
rows_swap(void)
{
	struct urlrow r = la.row;

	la.row = la.where;
	la.where = r;
}

/* An update fragment as one row in la.row: its conditions (the key)
 * and the assignments to the other columns.  False when an assignment
 * changes a condition's column (a key update), which a row cannot say;
 * la.row and la.where are then as read. */
static bool
frag_update_row(void)
{
	int nw = la.where.n, i, j;

	for (i = 0; i < la.row.n; i++) {
		const struct urlfield *f = &la.row.f[i];

		for (j = 0; j < nw; j++)
			if (strcmp(f->key, la.where.f[j].key) == 0)
				break;
		if (j == nw) {
			urlrow_add(&la.where, f->key, f->val);
		} else if (f->val == NULL || strcmp(f->val, la.where.f[j].val) != 0) {
			la.where.n = nw;
			return false;
		}
	}
	rows_swap();
	return true;
}

/* An update that moves a row to another key: a statement of its own
 * (quoted names, values as parameters) that must find the row. */
static void
update_key(const struct table *t)
{
	const char **p = xmalloc((size_t)(la.row.n + la.where.n) * sizeof(*p));
	struct buf key = {0};
	struct sent *e;
	int i;

	run_break();
	pipeline_on();
	buf_reset(&la.sb);
	buf_printf(&la.sb, "UPDATE %s SET ", t->qname);
	for (i = 0; i < la.row.n; i++) {
		buf_addstr(&la.sb, i ? ", " : "");
		db_quote_ident(&la.sb, la.row.f[i].key);
		buf_printf(&la.sb, " = $%d", i + 1);
		p[i] = la.row.f[i].val;
	}
	for (i = 0; i < la.where.n; i++) {
		buf_addstr(&la.sb, i ? " AND " : " WHERE ");
		db_quote_ident(&la.sb, la.where.f[i].key);
		buf_printf(&la.sb, " = $%d", la.row.n + i + 1);
		p[la.row.n + i] = la.where.f[i].val;
		buf_printf(&key, "%s%s=%s", i ? "," : "", la.where.f[i].key, la.where.f[i].val);
	}
	e = sent_slot(check_change, 'U', t->name, NULL, NULL);
	snprintf(e->key, KEYMAX, "%s", key.data);
	if (PQsendQueryParams(la.conn, la.sb.data, la.row.n + la.where.n, NULL, p,
	    NULL, NULL, 0) != 1)
		fail("send: %s", db_errmsg(la.conn));
	buf_free(&key);
	free(p);
}

/* A row event op on t: a url-encoded row, or a sqltriga fragment
 * (plain is true for ev_type I, U or D without a key list). */
static void
apply_change(struct table *t, char op, bool plain, char *data)
{
	if (t->qname == NULL)
		reject(t->name, "the table is registered but does not exist");
	if (t->npk == 0)
		reject(t->name, "the table has no primary key");
	if (t->npk > 64)
		reject(t->name, "too many key columns");
	if (data == NULL)
		reject(t->name, "%c event without row data", op);
	if (plain && sqlfrag_is_sql(data)) {
		if (sqlfrag_parse(op, data, &la.frag, &la.row, &la.where) < 0)
			reject(t->name, "bad SQL fragment in %c event (not as"
			    " pgq.sqltriga writes one)", op);
		if (op == 'D') {
			rows_swap();
		} else if (op == 'U' && !frag_update_row()) {
			update_key(t);
			return;
		}
	} else if (urlenc_parse(data, &la.row) < 0) {
		reject(t->name, "bad row data in %c event (a bad %%-escape"
		    " or an empty column name)", op);
	}
	apply_row(t, op);
}

static void
send_sql(const char *table, const char *sql, int n, const char *const *p)
{
	run_break();
	pipeline_on();
	sent_slot(check_plain, 0, table, NULL, NULL);
	if (PQsendQueryParams(la.conn, sql, n, NULL, p, NULL, NULL, 0) != 1)
		fail("send: %s", db_errmsg(la.conn));
}

/* A call of a londiste or pgq_node function, judged by its ret_code. */
static void
send_call(const char *what, const char *sql, int n, const char *const *p,
    PGresult **keep)
{
	run_break();
	send_own_checked(check_ret, what, NULL, sql, n, p, keep);
}

/* --- a cascade node's own events ------------------------------------ */

/* londiste 3's playback: the set's tables and sequences as the root
 * announces them, through the node's londiste functions.  As there,
 * only a sequence update's answer is judged: adding a table known
 * already or removing one that is gone is no failure. */
static const struct {
	const char *type, *what, *sql;
	bool seq_value;		/* ev_extra1 the sequence, ev_data its value */
} set_events[] = {
	{ "londiste.add-table", "add table to the set",
	  "SELECT ret_code, ret_note FROM londiste.global_add_table($1, $2)", false },
	{ "londiste.remove-table", "remove table from the set",
	  "SELECT ret_code, ret_note FROM londiste.global_remove_table($1, $2)", false },
	{ "londiste.remove-seq", "remove sequence from the set",
	  "SELECT ret_code, ret_note FROM londiste.global_remove_seq($1, $2)", false },
	{ "londiste.update-seq", "update sequence",
	  "SELECT ret_code, ret_note FROM londiste.global_update_seq($1, $2, $3::bigint)", true },
};

static void
set_event(int i, const struct ev *ev)
{
	const char *p[3] = { la.queue, ev->data, NULL };
	struct table *t;

	if (set_events[i].seq_value) {
		p[1] = ev->extra[0];
		p[2] = ev->data;
	}
	if (p[1] == NULL || (set_events[i].seq_value && p[2] == NULL))
		reject(NULL, "%s event without its name or value", ev->type);
	run_break();
	send_own_checked(set_events[i].seq_value ? check_ret : check_plain,
	    set_events[i].what, NULL, set_events[i].sql, set_events[i].seq_value ? 3 : 2,
	    p, NULL);
	/* The rest of the batch has no events for it (as londiste 3
	 * forgets it at once). */
	if (strcmp(ev->type, "londiste.remove-table") == 0 &&
	    (t = table_find(ev->data)) != NULL)
		t->state = ST_NEW;
}

/* An EXECUTE event: the script runs once per node.  execute_start()
 * records it in londiste.applied_execute in this transaction and says
 * 201 when it ran here before (a batch delivered twice, or a node that
 * was moved), so it is skipped then; so is the script, though the
 * file is recorded, when its attributes say it is not for this node
 * (londiste.execute_local_sql).  The script runs inside a DO
 * block's EXECUTE: in the batch's transaction, where a COMMIT or
 * ROLLBACK in it is an error instead of ending the batch halfway; with
 * PostgreSQL's default search_path, as the root's execute runs it (ours
 * is empty, and so is the session's DEFAULT under the wrapper's
 * PGOPTIONS) and, as londiste 3 does, session_replication_role local.  A session-level SET in the script
 * (a role, a search_path, the replication role) would outlive the
 * batch: RESET ALL and our settings again, at session level, end it. */
static void
execute_event(const struct ev *ev)
{
	const char *p[4] = { la.queue, ev->extra[0], ev->data, ev->extra[1] };
	const char *arg[3] = { la.queue, ev->extra[1], ev->data };
	PGresult *res = NULL;
	char *lit, *body;
	struct buf sql = {0};
	char what[256];
	int i;

	if (ev->data == NULL || ev->extra[0] == NULL)
		reject(NULL, "EXECUTE event without SQL or file name");
	send_call("start EXECUTE", "SELECT ret_code, ret_note FROM"
	    " londiste.execute_start($1, $2, $3, false, $4)", 4, p, &res);
	pipeline_sync();
	if (strtol(PQgetvalue(res, 0, 0), NULL, 10) > 200) {
		PQclear(res);
		return;
	}
	PQclear(res);
	/* londiste 3's EXECUTE attributes (ev_extra2) decide whether the
	 * script is for this node and name its tables here: s is NULL
	 * when it is not, and the file is recorded all the same. */
	buf_printf(&sql, "DECLARE s text := londiste.execute_local_sql(");
	for (i = 0; i < 3; i++) {
		if (arg[i] == NULL) {
			buf_printf(&sql, "NULL, ");
			continue;
		}
		if ((lit = PQescapeLiteral(la.conn, arg[i], strlen(arg[i]))) == NULL)
			fail("quote EXECUTE script: %s", db_errmsg(la.conn));
		buf_printf(&sql, "%s%s", lit, i < 2 ? ", " : ");");
		PQfreemem(lit);
	}
	buf_printf(&sql, " BEGIN SET LOCAL search_path = \"$user\", public;"
	    " SET LOCAL session_replication_role = local;"
	    " IF s IS NOT NULL THEN EXECUTE s; END IF;"
	    " RESET ALL; SET session_replication_role = replica;"
	    " PERFORM pg_catalog.set_config('search_path', '', false); END");
	if ((body = PQescapeLiteral(la.conn, sql.data, sql.len)) == NULL)
		fail("quote EXECUTE script: %s", db_errmsg(la.conn));
	buf_reset(&sql);
	buf_printf(&sql, "DO %s", body);
	PQfreemem(body);
	/* An operator stepping over a failed script needs its file name;
	 * the sync that reports it comes before what names it goes. */
	snprintf(what, sizeof(what), "EXECUTE %s", ev->extra[0]);
	send_own(what, NULL, sql.data, 0, NULL, NULL);
	pipeline_sync();
	buf_free(&sql);
	send_call("finish EXECUTE", "SELECT ret_code, ret_note FROM"
	    " londiste.execute_finish($1, $2)", 2, p, NULL);
}

/* A pgq_node call for a cascade event.  Its answer is not judged, as
 * londiste 3's worker does not: 301 for a location not known, 403 for
 * this node's own, 201 for a partition that is not merged here are
 * states of the node map, not failures of the batch. */
static void
send_node(const char *what, const char *sql, int n, const char *const *p)
{
	run_break();
	send_own(what, NULL, sql, n, p, NULL);
}

/* pgq_node's events (pgq/cascade/worker.py's handling): the node map,
 * the global watermark, a merge leaf's tick.  A node keeps a copy of
 * the map, so these apply on a leaf too; the watermark and partition
 * ticks only mean something on a branch. */
static void
cascade_event(const struct ev *ev)
{
	const char *type = ev->type + 4;
	const char *p[4] = { la.queue, ev->data, ev->extra[1], ev->extra[2] };

	if (strcmp(type, "tick-id") == 0) {
		if (ev->extra[0] == NULL || strcmp(ev->extra[0], la.queue) == 0)
			reject(NULL, "pgq.tick-id event for the node's own queue");
		if (!la.branch)
			return;
		p[1] = ev->extra[0];
		p[2] = ev->data;
		send_node("set partition watermark", "SELECT ret_code, ret_note FROM"
		    " pgq_node.set_partition_watermark($1, $2, $3::bigint)", 3, p);
		return;
	}
	if (ev->extra[0] == NULL || strcmp(ev->extra[0], la.queue) != 0)
		reject(NULL, "%s event of another queue (%s)", ev->type,
		    ev->extra[0] ? ev->extra[0] : "NULL");
	if (ev->data == NULL)
		reject(NULL, "%s event without data", ev->type);
	if (strcmp(type, "location-info") == 0) {
		send_node("register location", "SELECT ret_code, ret_note FROM"
		    " pgq_node.register_location($1, $2, $3, $4::boolean)", 4, p);
	} else if (strcmp(type, "unregister-location") == 0) {
		send_node("unregister location", "SELECT ret_code, ret_note FROM"
		    " pgq_node.unregister_location($1, $2)", 2, p);
	} else if (strcmp(type, "global-watermark") == 0) {
		if (la.branch)
			send_node("set global watermark", "SELECT ret_code, ret_note FROM"
			    " pgq_node.set_global_watermark($1, $2::bigint)", 2, p);
	} else {
		reject(NULL, "unknown cascade event type %.40s", ev->type);
	}
}

/* A node's own events; false for any other type. */
static bool
node_event(const struct ev *ev)
{
	size_t i;

	if (strncmp(ev->type, "pgq.", 4) == 0) {
		cascade_event(ev);
		return true;
	}
	if (strcmp(ev->type, "EXECUTE") == 0) {
		execute_event(ev);
		return true;
	}
	for (i = 0; i < sizeof(set_events) / sizeof(set_events[0]); i++) {
		if (strcmp(ev->type, set_events[i].type) == 0) {
			set_event((int)i, ev);
			return true;
		}
	}
	return false;
}

static bool
row_type(const char *type)
{
	return (type[0] == 'I' || type[0] == 'U' || type[0] == 'D') &&
	    (type[1] == '\0' || type[1] == ':');
}

/* Whether an event of a table not replicated here is ignored.  Without
 * --node any is (the queue is the provider's business); a node, as
 * londiste 3, ignores only row events (url-encoded, sqltriga, JSON)
 * and truncates, and refuses a type it does not know. */
static bool
ignorable(const char *type)
{
	return !la.node || row_type(type) || strcmp(type, "R") == 0 ||
	    strncmp(type, "{\"", 2) == 0;
}

/* Apply one event. */
static void
apply_event(struct ev *ev)
{
	struct table *t;

	if (strcmp(ev->type, "SEQ") == 0) {
		const char *p[3] = { la.queue, ev->extra[0], ev->data };

		if (ev->extra[0] == NULL || ev->data == NULL)
			reject(NULL, "SEQ event without sequence name or value");
		send_sql(ev->extra[0], "SELECT londiste.apply_seq($1, $2, $3)", 3, p);
		return;
	}
	if (la.node && node_event(ev))
		return;
	if (ev->extra[0] == NULL || (t = table_find(ev->extra[0])) == NULL) {
		if (!ignorable(ev->type))
			reject(NULL, "unsupported event type %.40s", ev->type);
		return;		/* not replicated here */
	}
	switch (t->state) {
	case ST_NEW:
		return;		/* the copy will bring it */
	case ST_COPY: {
		const char *p[5] = { la.queue, t->name, ev->txid, ev->type, ev->data };

		send_sql(t->name, "INSERT INTO londiste.pending"
		    " (queue_name, table_name, ev_txid, ev_type, ev_data)"
		    " VALUES ($1, $2, $3, $4, $5)", 5, p);
		return;
	}
	case ST_CATCHUP: {
		char *end;
		unsigned long long tx = strtoull(ev->txid, &end, 10);

		if (*ev->txid == '\0' || *end != '\0')
			reject(t->name, "bad ev_txid %.40s", ev->txid);
		if (snap_visible(&t->snap, tx))
			return;	/* the copy already has it */
		break;
	}
	}

	if (row_type(ev->type)) {
		apply_change(t, ev->type[0], ev->type[1] == '\0', ev->data);
	} else if (strcmp(ev->type, "R") == 0) {
		if (t->qname == NULL)
			reject(t->name, "the table is registered but does not exist");
		buf_reset(&la.sb);
		buf_printf(&la.sb, "TRUNCATE %s", t->qname);
		send_sql(t->name, la.sb.data, 0, NULL);
	} else {
		reject(t->name, "unsupported event type %.40s", ev->type);
	}
}

/* Events that waited while their table was copied, oldest first. */
static void
drain_pending(struct table *t)
{
	char last[32] = "0";

	for (;;) {
		const char *p[3] = { la.queue, t->name, last };
		PGresult *res;
		int i, n;

		run_break();
		pipeline_off();
		res = run("read pending events",
		    "SELECT seq, ev_txid, ev_type, ev_data FROM londiste.pending"
		    " WHERE queue_name = $1 AND table_name = $2 AND seq > $3"
		    " ORDER BY seq LIMIT 1000", 3, p);
		n = PQntuples(res);
		la.cur_ev = "pending";
		for (i = 0; i < n; i++) {
			struct ev ev = {
				.txid = PQgetvalue(res, i, 1),
				.type = PQgetvalue(res, i, 2),
				.data = PQgetisnull(res, i, 3) ? NULL :
				    xstrdup(PQgetvalue(res, i, 3)),
				.extra = { t->name },
			};

			apply_event(&ev);
			free(ev.data);
		}
		if (n > 0)
			snprintf(last, sizeof(last), "%s", PQgetvalue(res, n - 1, 0));
		PQclear(res);
		if (n == 0)
			break;
	}
	{
		const char *p[2] = { la.queue, t->name };

		PQclear(run("delete pending events", "DELETE FROM londiste.pending"
		    " WHERE queue_name = $1 AND table_name = $2", 2, p));
	}
}

/* --- a branch's copy of the batch ----------------------------------- */

/* The copies go by COPY into the queue's current event table, whose
 * name batch_begin() read after this transaction took its txid T (its
 * FOR UPDATE of the node's position).  That order is what makes a
 * rotation harmless, as for pgq.insert_event_raw(): a rotation that
 * read saw not yet committed has a step 2 above T, and the next
 * rotation waits for every consumer's tick xmin to pass that step 2,
 * which no tick taken while T runs does; so the table stays the
 * current or the previous one, where batches look, until T ends (and
 * the COPY's lock makes step 1's NOWAIT lock on it fail besides).
 * The stream's fields are COPY text already and go as they came:
 * ev_id, ev_time, type, data and extras of the provider; ev_txid is
 * T, which the tick made at the end counts as committed, so the local
 * queue hands out the same batch. */
static void
copy_flush(void)
{
	PGresult *res;
	struct buf sql = {0};

	if (la.copy_n == 0)
		return;
	copy_end();	/* not inside a COPY run of a table */
	pipeline_off();
	buf_printf(&sql, "COPY %s (ev_id, ev_time, ev_type, ev_data, ev_extra1,"
	    " ev_extra2, ev_extra3, ev_extra4) FROM STDIN", la.copy_tbl);
	res = PQexec(la.conn, sql.data);
	buf_free(&sql);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		fail("copy events into the local queue: %s", resmsg(res));
	PQclear(res);
	if (PQputCopyData(la.conn, la.copy_rows.data, (int)la.copy_rows.len) != 1 ||
	    PQputCopyEnd(la.conn, NULL) != 1)
		fail("copy events into the local queue: %s", db_errmsg(la.conn));
	res = PQgetResult(la.conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail("copy events into the local queue: %s", resmsg(res));
	PQclear(res);
	while ((res = PQgetResult(la.conn)) != NULL)
		PQclear(res);
	buf_reset(&la.copy_rows);
	la.copy_n = 0;
}

/* The event record's fields, still COPY-escaped, for the local queue. */
static void
copy_add(struct stream *st)
{
	static const int col[] = { E_ID, E_TIME, E_TYPE, E_DATA, E_EXTRA1,
	    E_EXTRA2, E_EXTRA3, E_EXTRA4 };
	char *end;
	long long id = strtoll(st->f[E_ID], &end, 10);
	size_t i;

	if (*st->f[E_ID] == '\0' || *end != '\0' || id <= 0)
		reject(NULL, "bad ev_id %.40s", st->f[E_ID]);
	if (id > la.max_ev_id)
		la.max_ev_id = id;
	if (la.copy_tbl == NULL)
		fail("queue %s is a branch here but has no event table", la.queue);
	for (i = 0; i < sizeof(col) / sizeof(col[0]); i++) {
		if (i > 0)
			buf_addch(&la.copy_rows, '\t');
		buf_addstr(&la.copy_rows, st->f[col[i]]);
	}
	buf_addch(&la.copy_rows, '\n');
	if (++la.copy_n == STAGE_MAX || la.copy_rows.len > STAGE_BYTES)
		copy_flush();
}

/* --- batches -------------------------------------------------------- */

static char *
field(char *raw, const char *what, bool nullable)
{
	if (copytext_is_null(raw)) {
		if (!nullable)
			reject(NULL, "%s is NULL", what);
		return NULL;
	}
	if (copytext_unescape(raw) < 0)
		reject(NULL, "bad escape in %s", what);
	return raw;
}

/* The plain position: londiste.completed.  True when the batch was
 * applied before. */
static bool
plain_applied(PGresult *res)
{
	return stream_parse_id(la.cur_tick) <= strtoll(PQgetvalue(res, 0, 0), NULL, 10);
}

/* A node's position: its consumer's row of pgq_node.local_state.  True
 * when the batch was applied before; a batch that does not start where
 * the last one ended is a gap (another provider's batches): refused. */
static bool
node_applied(PGresult *res)
{
	long long last;

	if (PQntuples(res) == 0)
		errx(EXIT_REFUSE, "consumer %s has no position on queue %s here"
		    " (pgq_node.local_state): not a node of that queue", la.consumer, la.queue);
	if (strcmp(PQgetvalue(res, 0, 1), "root") == 0)
		errx(EXIT_USAGE, "queue %s is the root here: its batches are"
		    " not applied from another node", la.queue);
	/* londiste 3's merge leaf copies into another queue and waits
	 * for its ticks: not done here, and applying its batches alone
	 * would leave the combined queue without them. */
	if (!PQgetisnull(res, 0, 2))
		errx(EXIT_USAGE, "queue %s is a merge leaf here (combined queue %s):"
		    " not supported", la.queue, PQgetvalue(res, 0, 2));
	la.branch = strcmp(PQgetvalue(res, 0, 1), "branch") == 0;
	last = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (last >= stream_parse_id(la.cur_tick))
		return true;
	if (last != la.prev_tick)
		errx(EXIT_USAGE, "batch %lld: ticks %lld..%s, but consumer %s is at"
		    " tick %lld here: a gap (a wrong provider, or this node restored"
		    " from a backup: see worker --rewind in londiste(1)); nothing applied",
		    la.batch_id, la.prev_tick, la.cur_tick, la.consumer, last);
	return false;
}

/* The batch record's fields. */
static void
batch_fields(struct stream *s)
{
	la.batch_id = s->batch_id;
	free(la.queue);
	la.queue = xstrdup(field(s->f[B_QUEUE], "queue", false));
	free(la.cur_time);
	la.cur_time = xstrdup(field(s->f[B_CUR_TIME], "cur_tick_time", false));
	snprintf(la.cur_tick, sizeof(la.cur_tick), "%lld", stream_parse_id(s->f[B_CUR_TICK]));
	la.prev_tick = stream_parse_id(s->f[B_PREV_TICK]);
}

/* Returns true when the batch is new and its transaction is open. */
static bool
batch_begin(struct stream *s)
{
	const char *p[2];
	PGresult *res = NULL, *tres = NULL, *qres = NULL;
	bool applied;
	int i;

	batch_fields(s);
	/* One round trip: the table states are read (and locked) even
	 * for a batch that turns out to be applied already. */
	la.txn_gen++;
	p[0] = la.queue;
	p[1] = la.consumer;
	send_own("begin", NULL, "BEGIN", 0, NULL, NULL);
	/* FOR UPDATE: a second londiste-apply of this consumer waits here. */
	if (la.node) {
		send_own("read node position", "la_npos", "SELECT s.last_tick_id, n.node_type,"
		    " n.combined_queue FROM pgq_node.local_state s JOIN pgq_node.node_info n"
		    " ON n.queue_name = s.queue_name"
		    " WHERE s.queue_name = $1 AND s.consumer_name = $2 FOR UPDATE OF s",
		    2, p, &res);
		/* After the statement above took this transaction's txid:
		 * see copy_flush(). */
		send_own("read the queue's event table", "la_ntbl", "SELECT"
		    " (q.queue_data_pfx || '_' || q.queue_cur_table)::regclass::text"
		    " FROM pgq.queue q WHERE q.queue_name = $1", 1, p, &qres);
	} else {
		send_own("record consumer", "la_rec", "INSERT INTO londiste.completed"
		    " (queue_name, consumer_name, last_tick) VALUES ($1, $2, 0)"
		    " ON CONFLICT DO NOTHING", 2, p, NULL);
		send_own("read applied tick", "la_last", "SELECT last_tick FROM londiste.completed"
		    " WHERE queue_name = $1 AND consumer_name = $2 FOR UPDATE", 2, p, &res);
	}
	send_own("read table states", "la_tables", tables_sql, 1, p, &tres);
	pipeline_off();
	applied = la.node ? node_applied(res) : plain_applied(res);
	PQclear(res);
	free(la.copy_tbl);
	la.copy_tbl = qres != NULL && PQntuples(qres) == 1 ? xstrdup(PQgetvalue(qres, 0, 0)) : NULL;
	PQclear(qres);
	if (applied) {
		PQclear(tres);
		return false;
	}

	tables_load(tres);
	buf_reset(&la.copy_rows);
	la.copy_n = 0;
	la.max_ev_id = 0;
	for (i = 0; i < la.ntables; i++)
		if (la.tables[i].state == ST_CATCHUP && la.tables[i].pending)
			drain_pending(&la.tables[i]);
	return true;
}

/* The node's end of a batch: the branch's copies and tick, then the
 * position, with pgq_node's functions. */
static void
node_commit(void)
{
	char maxid[32];
	const char *p[4] = { la.queue, la.cur_tick, la.cur_time, maxid };

	if (la.branch) {
		copy_flush();
		/* The tick's event seq: the highest ev_id copied (the
		 * provider's ids, kept), as londiste 3's worker passes; the
		 * ticker keeps it from moving back when a batch holds only
		 * older ids or none, so the queue's event rate and its count
		 * of events not yet ticked stay true. */
		snprintf(maxid, sizeof(maxid), "%lld", la.max_ev_id);
		send_own("tick the local queue", "la_ntick",
		    "SELECT pgq.ticker($1, $2::bigint, $3::timestamptz, $4::bigint)",
		    4, p, NULL);
	}
	p[1] = la.consumer;
	p[2] = la.cur_tick;
	send_call("record applied tick", "SELECT ret_code, ret_note FROM"
	    " pgq_node.set_consumer_completed($1, $2, $3)", 3, p, NULL);
}

static void
batch_commit(void)
{
	const char *p[3];
	int i;

	run_break();
	p[0] = la.queue;
	p[1] = la.consumer;
	p[2] = la.cur_tick;
	if (la.node)
		node_commit();
	else
		send_own("record applied tick", "la_tick", "UPDATE londiste.completed"
		    " SET last_tick = $3 WHERE queue_name = $1 AND consumer_name = $2",
		    3, p, NULL);
	/* Past the copy's snapshot: nothing later can be in the copy. */
	for (i = 0; i < la.ntables; i++) {
		if (la.tables[i].state != ST_CATCHUP || la.tables[i].sync_tick == 0 ||
		    la.prev_tick < la.tables[i].sync_tick)
			continue;
		p[1] = la.tables[i].name;
		send_own("mark table ok", NULL,
		    "SELECT londiste.copy_caught_up($1, $2)", 2, p, NULL);
	}
	/* Results the server cannot judge (rows found, a function's
	 * ret_code) are checked before the commit is sent; the rest fail
	 * the pipeline by themselves. */
	if (pgpipe_pending(&la.pp, check_change) || pgpipe_pending(&la.pp, check_stage) ||
	    pgpipe_pending(&la.pp, check_ret))
		pipeline_sync();
	send_own("commit", NULL, "COMMIT", 0, NULL, NULL);
	pipeline_off();
}

/* An event record of the stream, applied; on a branch also copied. */
static void
event_record(struct stream *st)
{
	struct ev ev = { 0 };
	int i;

	la.cur_ev = st->f[E_ID];
	/* As it came, before the fields are unescaped in place. */
	if (la.branch)
		copy_add(st);
	ev.txid = field(st->f[E_TXID], "ev_txid", false);
	ev.type = field(st->f[E_TYPE], "ev_type", false);
	ev.data = field(st->f[E_DATA], "ev_data", true);
	ev.extra[0] = field(st->f[E_EXTRA1], "ev_extra1", true);
	if (la.node) {
		for (i = 1; i < 4; i++)
			ev.extra[i] = field(st->f[E_EXTRA1 + i], "ev_extra", true);
		/* A cascade passes batches whole; a retried event would
		 * be out of its batch (londiste 3's worker refuses it). */
		if (!copytext_is_null(st->f[E_RETRY]))
			reject(NULL, "a retried event (ev_retry %.20s) in a cascaded queue",
			    st->f[E_RETRY]);
	}
	apply_event(&ev);
}

static void
la_free(void)
{
	int i;

	tables_free();
	urlrow_free(&la.row);
	urlrow_free(&la.where);
	buf_free(&la.frag);
	buf_free(&la.copy_rows);
	free(la.copy_tbl);
	free(la.cur_time);
	buf_free(&la.sb);
	buf_free(&la.kb);
	buf_free(&la.run_shape);
	buf_free(&la.keyarena);
	for (i = 0; i < la.stage_narr; i++)
		buf_free(&la.stage_arr[i]);
	free(la.stage_arr);
	free(la.params);
	free(la.queue);
	pgpipe_free(&la.pp);
	PQfinish(la.conn);
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "consumer", required_argument, NULL, 'c' },
		{ "dbname", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "node", no_argument, NULL, 'n' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dbname = NULL;
	struct stream st;
	bool applying = false;
	enum rec r;
	int c;

	while ((c = getopt_long(argc, argv, "c:d:hnV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			la.consumer = optarg;
			break;
		case 'd':
			dbname = db_conninfo_arg(optarg);
			break;
		case 'h':
			help();
			break;
		case 'n':
			la.node = true;
			break;
		case 'V':
			print_version();
			break;
		default:
			usage();
		}
	}
	if (optind != argc || la.consumer == NULL || *la.consumer == '\0')
		usage();

	la.conn = db_connect(dbname);
	pgpipe_init(&la.pp, la.conn, WINDOW, sizeof(struct sent));
	/* As logical replication does: subscriber triggers and foreign
	 * keys do not fire for replicated rows. */
	db_cmd(la.conn, "set session_replication_role",
	    "SET session_replication_role = replica", 0, NULL);

	stream_init(&st, 0, "stdin");
	while ((r = stream_next(&st, STREAM_FRAMED)) != REC_EOF) {
		switch (r) {
		case REC_BATCH:
			applying = batch_begin(&st);
			break;
		case REC_EVENT:
			if (applying)
				event_record(&st);
			break;
		case REC_END:
			if (applying)
				batch_commit();
			else
				PQclear(run("rollback", "ROLLBACK", 0, NULL));
			applying = false;
			stream_emit_done(&st, stdout);
			if (fflush(stdout) != 0)
				err(EXIT_RETRY, "write error on stdout");
			break;
		case REC_EOF:
			break;
		}
	}
	stream_free(&st);
	la_free();
	finish(EXIT_DONE);
}
