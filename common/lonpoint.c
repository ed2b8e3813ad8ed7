/* lonpoint.c: table lookup and the consistent point of Londiste tools. */
#include <err.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "exitcodes.h"
#include "lonpoint.h"
#include "util.h"

char *
lon_queue(PGconn *sub, const char *consumer)
{
	const char *p[1] = { consumer };
	PGresult *res = db_exec(sub, "find the consumer's queue",
	    "SELECT queue_name FROM londiste.completed WHERE consumer_name = $1"
	    " UNION SELECT queue_name FROM londiste.subscriber_table"
	    "  WHERE NOT EXISTS (SELECT 1 FROM londiste.completed"
	    "                    WHERE consumer_name = $1)", 1, p);
	char *q;

	if (PQntuples(res) != 1)
		errx(EXIT_USAGE, "consumer %s: %s", consumer, PQntuples(res) == 0 ?
		    "no queue known on the subscriber (no table registered?)" :
		    "reads several queues; name a table");
	q = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return q;
}

void
lon_table(PGconn *sub, const char *consumer, const char *arg, struct lontable *t)
{
	const char *p[2] = { arg, consumer };
	PGresult *res;
	struct buf b = {0};
	int i, n, l3;

	memset(t, 0, sizeof(*t));
	/*
	 * On a cascade node the set's table may live here under another
	 * name (add-table --dest-table): the table_info row says which, as
	 * londiste-apply reads it.  An install older than table_info has
	 * none.
	 */
	res = db_exec(sub, "find table",
	    "SELECT to_regclass('londiste.table_info') IS NOT NULL", 0, NULL);
	l3 = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	/* Exact registered name first; else resolve it like the SQL side. */
	for (i = 0; i < 2; i++) {
		res = db_exec(sub, "find table", l3 ?
		    "SELECT t.queue_name, t.table_name, t.state,"
		    "       londiste.quoted_name(coalesce(i.dest_table, t.table_name)),"
		    "       coalesce(i.dest_table, t.table_name)"
		    "  FROM londiste.subscriber_table t"
		    "  LEFT JOIN londiste.table_info i ON i.queue_name = t.queue_name"
		    "       AND i.table_name = t.table_name AND i.local"
		    " WHERE t.table_name = $1"
		    " ORDER BY (t.queue_name IN (SELECT queue_name FROM londiste.completed"
		    "           WHERE consumer_name = $2)) DESC" :
		    "SELECT t.queue_name, t.table_name, t.state,"
		    "       londiste.quoted_name(t.table_name), t.table_name"
		    "  FROM londiste.subscriber_table t WHERE t.table_name = $1"
		    " ORDER BY (t.queue_name IN (SELECT queue_name FROM londiste.completed"
		    "           WHERE consumer_name = $2)) DESC", 2, p);
		if (i == 1 || PQntuples(res) > 0)
			break;
		PQclear(res);
		/* A bare set name first: the relation may have another
		 * name here (dest_table), and find_table looks for it. */
		res = db_exec(sub, "find table",
		    "SELECT coalesce((SELECT s.table_name FROM londiste.subscriber_table s"
		    "  WHERE s.table_name = 'public.' || $1 AND strpos($1, '.') = 0 LIMIT 1),"
		    " londiste.find_table($1))", 1, p);
		b.data = xstrdup(PQgetvalue(res, 0, 0));
		p[0] = b.data;
		PQclear(res);
	}
	free(b.data);
	b.data = NULL;
	n = PQntuples(res);
	if (n == 0)
		errx(EXIT_USAGE, "table %s is not registered on the subscriber", arg);
	if (n > 1 && strcmp(PQgetvalue(res, 0, 0), PQgetvalue(res, 1, 0)) != 0) {
		/* Several queues: the consumer's one wins if it is first. */
		PGresult *r2;
		const char *p2[2] = { PQgetvalue(res, 0, 0), consumer };

		r2 = db_exec(sub, "find table", "SELECT 1 FROM londiste.completed"
		    " WHERE queue_name = $1 AND consumer_name = $2", 2, p2);
		if (PQntuples(r2) == 0)
			errx(EXIT_USAGE, "table %s is registered for several queues", arg);
		PQclear(r2);
	}
	t->queue = xstrdup(PQgetvalue(res, 0, 0));
	t->name = xstrdup(PQgetvalue(res, 0, 1));
	t->state = xstrdup(PQgetvalue(res, 0, 2));
	t->lname = xstrdup(PQgetvalue(res, 0, 4));
	if (PQgetisnull(res, 0, 3)) {
		if (strcmp(t->lname, t->name) != 0)
			errx(EXIT_USAGE, "table %s is registered (here as %s) but %s does"
			    " not exist", t->name, t->lname, t->lname);
		errx(EXIT_USAGE, "table %s is registered but does not exist", t->name);
	}
	t->sqname = xstrdup(PQgetvalue(res, 0, 3));
	PQclear(res);

	p[0] = t->lname;
	res = db_exec(sub, "read columns",
	    "SELECT quote_ident(c), c = ANY (londiste.pkey_columns(londiste.rel_oid($1))),"
	    "       array_position(londiste.pkey_columns(londiste.rel_oid($1)), c)"
	    "  FROM unnest(londiste.table_columns(londiste.rel_oid($1))) AS c", 1, p);
	t->ncol = PQntuples(res);
	t->colv = xmalloc((size_t)(t->ncol + 1) * sizeof(*t->colv));
	t->pkidx = xmalloc((size_t)(t->ncol + 1) * sizeof(*t->pkidx));
	for (i = 0; i < t->ncol; i++) {
		t->colv[i] = xstrdup(PQgetvalue(res, i, 0));
		if (i > 0)
			buf_addch(&b, ',');
		buf_addstr(&b, t->colv[i]);
		if (PQgetvalue(res, i, 1)[0] == 't')
			t->npk++;
	}
	for (i = 0; i < t->ncol; i++)
		if (PQgetvalue(res, i, 1)[0] == 't')
			t->pkidx[atoi(PQgetvalue(res, i, 2)) - 1] = i;
	PQclear(res);
	if (t->ncol == 0)
		errx(EXIT_USAGE, "table %s has no columns", t->name);
	t->cols = b.data;
}

/*
 * The quoted name of the set's table name of queue on a node, or NULL
 * when the node does not replicate it.  Skytools 2 lists its tables in
 * provider_table, a Londiste 3 node (root or branch) in table_info,
 * where it may hold the table under a name of its own (dest_table); the
 * original londiste 3 has only the latter and no londiste.quoted_name,
 * hence quote_ident.
 */
static char *
node_qname(PGconn *conn, const char *queue, const char *name, const char *what)
{
	const char *p[2] = { queue, name };
	PGresult *res;
	char *q = NULL;
	int s2, l3;

	res = db_exec(conn, what,
	    "SELECT to_regclass('londiste.provider_table') IS NOT NULL,"
	    "       to_regclass('londiste.table_info') IS NOT NULL", 0, NULL);
	s2 = PQgetvalue(res, 0, 0)[0] == 't';
	l3 = PQgetvalue(res, 0, 1)[0] == 't';
	PQclear(res);
	res = NULL;
	if (s2)
		res = db_exec(conn, what,
		    "SELECT londiste.quoted_name(table_name) FROM londiste.provider_table"
		    " WHERE queue_name = $1 AND table_name = $2", 2, p);
	if (l3 && (res == NULL || PQntuples(res) == 0)) {
		if (res != NULL)
			PQclear(res);
		res = db_exec(conn, what,
		    "SELECT quote_ident(split_part(n, '.', 1)) || '.' ||"
		    "       quote_ident(substr(n, strpos(n, '.') + 1))"
		    "  FROM (SELECT coalesce(dest_table, table_name) AS n"
		    "          FROM londiste.table_info"
		    "         WHERE queue_name = $1 AND table_name = $2 AND local) x", 2, p);
	}
	if (res != NULL && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		q = xstrdup(PQgetvalue(res, 0, 0));
	if (res != NULL)
		PQclear(res);
	return q;
}

/* Whether the database is a cascade node of the queue (ours or the
 * original londiste 3's).  Two statements: one that names
 * pgq_node.node_info fails to parse where there is no pgq_node (a
 * Skytools 2 provider, the original PgQ), whatever the tests before it
 * in its WHERE. */
bool
lon_is_node(PGconn *conn, const char *queue)
{
	const char *p[1] = { queue };
	PGresult *res;
	bool node;

	res = db_exec(conn, "read the node's kind",
	    "SELECT to_regprocedure('londiste.get_table_list(text)') IS NOT NULL"
	    "   AND to_regclass('pgq_node.node_info') IS NOT NULL", 0, NULL);
	node = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!node)
		return false;
	res = db_exec(conn, "read the node's kind",
	    "SELECT EXISTS (SELECT 1 FROM pgq_node.node_info WHERE queue_name = $1)",
	    1, p);
	node = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return node;
}

/*
 * The provider's state of the set's table, as londiste 3's
 * get_table_list gives it (ours and the original's): NULL where the
 * provider is no cascade node or does not list the table; else
 * "local:" and its merge_state ("t:ok" on a root, or on a branch whose
 * own copy is done and caught up), or "f:" for a table in the set that
 * the provider does not replicate (yet).
 */
static char *
provider_state(PGconn *prov, const struct lontable *t)
{
	const char *p[2] = { t->queue, t->name };
	PGresult *res;
	char *st = NULL;

	if (!lon_is_node(prov, t->queue))
		return NULL;
	res = db_exec(prov, "read the provider's table state",
	    "SELECT CASE WHEN local THEN 't:' ELSE 'f:' END"
	    "       || coalesce(merge_state, '')"
	    "  FROM londiste.get_table_list($1) WHERE table_name = $2", 2, p);
	if (PQntuples(res) > 0)
		st = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return st;
}

bool
lon_provider_has(PGconn *prov, struct lontable *t)
{
	char *st;

	free(t->pqname);
	t->pqname = node_qname(prov, t->queue, t->name, "find table on the provider");
	if (t->pqname != NULL)
		return true;
	/* A cascade node that lists the table may replicate it later: its
	 * add-table comes after ours, as londiste 3 lets it. */
	st = provider_state(prov, t);
	if (st != NULL && st[0] == 'f')
		errx(EXIT_RETRY, "table %s is in the set of queue %s but the provider does"
		    " not replicate it (yet): add-table there first", t->name, t->queue);
	free(st);
	return false;
}

void
lon_provider(PGconn *prov, struct lontable *t)
{
	if (!lon_provider_has(prov, t))
		errx(EXIT_USAGE, "table %s is not replicated by queue %s on the provider",
		    t->name, t->queue);
}

/*
 * A copy from a branch takes the branch's rows as its snapshot shows
 * them: until the branch's own copy of the table is done and caught up
 * with its queue (merge_state ok), they are not the rows of the tick the
 * copy syncs at, and the copy would turn ok with rows missing (or with
 * changes replay cannot apply).  Read in the transaction of the copy's
 * snapshot: a state of ok there holds for the rows that snapshot reads.
 * londiste 3's copy waits for the same ("not in sync yet on provider").
 */
void
lon_provider_synced(PGconn *prov, const struct lontable *t)
{
	char *st = provider_state(prov, t);

	if (st != NULL && strcmp(st, "t:ok") != 0)
		errx(EXIT_RETRY, "table %s is not in sync on the provider yet (its state"
		    " there: %s): copy later", t->name, st[2] != '\0' ? st + 2 :
		    st[0] == 't' ? "not copied" : "not replicated");
	free(st);
}

int
lon_common_columns(PGconn *prov, struct lontable *t, char **only_p, char **only_s)
{
	/* From the catalog, as londiste.table_columns: the provider may
	 * be the original londiste 3, which has no such function. */
	const char *p[1] = { t->pqname };
	PGresult *res = db_exec(prov, "read the provider's columns",
	    "SELECT quote_ident(attname) FROM pg_catalog.pg_attribute"
	    " WHERE attrelid = $1::pg_catalog.regclass AND attnum > 0"
	    "   AND NOT attisdropped AND attgenerated = ''"
	    " ORDER BY attnum", 1, p);
	struct buf op = {0}, os = {0}, cols = {0};
	int i, j, k, n = PQntuples(res), *at, ret = 0;

	for (i = 0; i < n; i++) {
		for (j = 0; j < t->ncol; j++)
			if (strcmp(PQgetvalue(res, i, 0), t->colv[j]) == 0)
				break;
		if (j == t->ncol)
			buf_printf(&op, "%s%s", op.len ? ", " : "", PQgetvalue(res, i, 0));
	}
	/* at[j]: where the subscriber's column j is now, -1 if left out. */
	at = xmalloc((size_t)t->ncol * sizeof(*at));
	for (j = k = 0; j < t->ncol; j++) {
		for (i = 0; i < n; i++)
			if (strcmp(PQgetvalue(res, i, 0), t->colv[j]) == 0)
				break;
		if (i == n) {
			buf_printf(&os, "%s%s", os.len ? ", " : "", t->colv[j]);
			free(t->colv[j]);
			at[j] = -1;
			continue;
		}
		at[j] = k;
		buf_printf(&cols, "%s%s", k ? "," : "", t->colv[j]);
		t->colv[k++] = t->colv[j];
	}
	PQclear(res);
	for (i = 0; i < t->npk && ret == 0; i++)
		if ((t->pkidx[i] = at[t->pkidx[i]]) < 0)
			ret = -1;
	if (ret < 0)
		t->npk = 0;
	free(at);
	t->ncol = k;
	free(t->cols);
	t->cols = cols.data;
	if (k == 0)
		errx(EXIT_USAGE, "table %s has no column in common with the provider's", t->name);
	*only_p = op.data;
	*only_s = os.data;
	return ret;
}

void
lontable_free(struct lontable *t)
{
	int i;

	for (i = 0; i < t->ncol; i++)
		free(t->colv[i]);
	free(t->colv);
	free(t->pkidx);
	free(t->queue);
	free(t->name);
	free(t->lname);
	free(t->sqname);
	free(t->pqname);
	free(t->cols);
	free(t->state);
	memset(t, 0, sizeof(*t));
}

/* Whether the subscriber applied tick p[2] of queue p[0] as consumer p[1]. */
static int
applied(PGconn *sread, const char **p)
{
	PGresult *res = db_exec(sread, "read applied tick", "SELECT 1 FROM londiste.completed"
	    " WHERE queue_name = $1 AND consumer_name = $2 AND last_tick >= $3", 3, p);
	int done = PQntuples(res) > 0;

	PQclear(res);
	if (done)
		return 1;
	/* A Londiste 3 node's worker records its ticks in pgq_node. */
	res = db_exec(sread, "read applied tick",
	    "SELECT to_regclass('pgq_node.local_state') IS NOT NULL", 0, NULL);
	done = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!done)
		return 0;
	res = db_exec(sread, "read applied tick", "SELECT 1 FROM pgq_node.local_state"
	    " WHERE queue_name = $1 AND consumer_name = $2 AND last_tick_id >= $3", 3, p);
	done = PQntuples(res) > 0;
	PQclear(res);
	return done;
}

static void
nap50(void)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/*
 * The next tick of a queue that its worker ticks (an original londiste 3
 * branch: its pgq.force_tick refuses such a queue), as our
 * londiste.force_tick waits for it on our branch: the first tick newer
 * than the newest one now.  The worker copies the provider's ticks, and
 * the root ticks at least every ticker_idle_period.  NULL (and *err)
 * after a minute without one or when the provider fails.
 */
static char *
next_external_tick(PGconn *prov, const char **p, const char *top, char **err)
{
	const char *q[2] = { p[0], top };
	long long deadline = now_ms() + 60000;
	PGresult *res;
	char *tick = NULL;

	for (;;) {
		res = PQexecParams(prov, "SELECT max(t.tick_id) FROM pgq.tick t JOIN pgq.queue q"
		    "    ON q.queue_id = t.tick_queue WHERE q.queue_name = $1"
		    "   HAVING max(t.tick_id) > $2::bigint", 2, NULL, q, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			*err = xstrdup(db_resmsg(res));
			break;
		}
		if (PQntuples(res) > 0) {
			tick = xstrdup(PQgetvalue(res, 0, 0));
			break;
		}
		if (now_ms() > deadline) {
			*err = xstrdup("no tick from its external ticker within a minute"
			    " (is the worker of that node running?)");
			break;
		}
		PQclear(res);
		nap50();
	}
	PQclear(res);
	return tick;
}

/*
 * A tick of the queue on the provider made after the call; its id.
 * The original londiste 3 has no londiste.force_tick: there its PgQ
 * forces a tick, which pgq.ticker makes at once (or its ticker did); on
 * its branch, whose worker ticks the queue, the next tick is waited for.
 * NULL (and the message in *err) when the provider refuses.
 */
char *
lon_tick(PGconn *prov, const char **p, char **err)
{
	static const char *q[] = {
		"SELECT pgq.force_tick($1)",
		"SELECT pgq.ticker($1)",
		"SELECT max(t.tick_id) FROM pgq.tick t JOIN pgq.queue q"
		"    ON q.queue_id = t.tick_queue WHERE q.queue_name = $1",
	};
	PGresult *res = PQexec(prov,
	    "SELECT to_regprocedure('londiste.force_tick(text)') IS NOT NULL");
	char *tick = NULL;
	size_t i, n = 1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't') {
		PQclear(res);
		res = PQexecParams(prov, "SELECT londiste.force_tick($1)", 1, NULL, p,
		    NULL, NULL, 0);
		n = 0;
	} else if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		PQclear(res);
		res = PQexecParams(prov, "SELECT q.queue_external_ticker, coalesce(max(t.tick_id), 0)"
		    "  FROM pgq.queue q LEFT JOIN pgq.tick t ON t.tick_queue = q.queue_id"
		    " WHERE q.queue_name = $1 GROUP BY 1", 1, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		    PQgetvalue(res, 0, 0)[0] == 't') {
			tick = next_external_tick(prov, p, PQgetvalue(res, 0, 1), err);
			PQclear(res);
			return tick;
		}
	}
	for (i = 0; n > 0 && i < sizeof(q) / sizeof(q[0]); i++) {
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			break;
		PQclear(res);
		res = PQexecParams(prov, q[i], 1, NULL, p, NULL, NULL, 0);
	}
	if (PQresultStatus(res) == PGRES_TUPLES_OK && !PQgetisnull(res, 0, 0))
		tick = xstrdup(PQgetvalue(res, 0, 0));
	else
		*err = xstrdup(PQresultStatus(res) == PGRES_TUPLES_OK ?
		    "no tick" : db_resmsg(res));
	PQclear(res);
	return tick;
}

static void
lon_point_tick(PGconn *conn, const char **p, char *tick, size_t size, const char *where)
{
	char *err = NULL, *k = lon_tick(conn, p, &err);

	if (k == NULL)
		errx(EXIT_RETRY, "make a tick on the %s: %s", where, err);
	snprintf(tick, size, "%s", k);
	free(k);
}

/*
 * Where the point of the stream is made: the node whose queue makes its
 * own ticks, so that a tick made there now exists at once and the
 * table's writers are there.  That is the provider when it is a root or
 * a Skytools 2 provider; below a branch, the root of the cascade.
 */
struct origin {
	PGconn *lock;	/* holds the table's SHARE lock */
	PGconn *tick;	/* makes the ticks, outside any transaction */
	const char *qname;	/* the table there, quoted */
	char *root;	/* the root's node name when it is not the provider */
	PGconn *own[2];	/* connections opened for the root */
	char *ownq;
};

/* Connect to node (at loc) on the way up from below; exits 3 when it is
 * unreachable, naming it. */
static PGconn *
origin_reach(const char *loc, const char *node, const char *below, const char *queue)
{
	struct buf msg = {0};
	PGconn *c = db_try_connect(loc, &msg);

	if (c == NULL)
		errx(EXIT_RETRY, "cannot reach node %s of queue %s (the provider of %s, on"
		    " the way to the root, where the point is taken): %s", node, queue,
		    below, msg.data);
	return c;
}

/* pgq_node.get_node_info(queue) on conn: node_type, node_name,
 * provider_node, provider_location; node_type NULL when the queue is no
 * cascade node there. */
static PGresult *
node_info(PGconn *conn, const char *queue, const char *what)
{
	const char *p[1] = { queue };

	return db_exec(conn, what, "SELECT node_type, node_name, provider_node,"
	    " provider_location FROM pgq_node.get_node_info($1)", 1, p);
}

static void
origin_find(PGconn *plock, PGconn *pread, const struct lontable *t, struct origin *o)
{
	PGresult *res;
	PGconn *c = pread;
	char *below = NULL, *node = NULL, *loc = NULL;
	int cascade, hop;

	memset(o, 0, sizeof(*o));
	o->lock = plock;
	o->tick = pread;
	o->qname = t->pqname;
	res = db_exec(pread, "read the provider's node",
	    "SELECT to_regprocedure('pgq_node.get_node_info(text)') IS NOT NULL", 0, NULL);
	cascade = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!cascade)
		return;		/* Skytools 2 */
	for (hop = 0;; hop++) {
		res = node_info(c, t->queue, c == pread ? "read the provider's node" :
		    "read a node on the way to the root");
		if (PQgetisnull(res, 0, 0)) {
			if (c == pread) {
				/* A Skytools 2 queue beside a cascade. */
				PQclear(res);
				return;
			}
			errx(EXIT_USAGE, "node %s, the provider of %s, has no node of queue %s",
			    node, below, t->queue);
		}
		if (strcmp(PQgetvalue(res, 0, 0), "root") == 0)
			break;
		if (hop == 32)
			errx(EXIT_USAGE, "queue %s: no root within 32 providers up from the"
			    " provider (do the providers form a loop?)", t->queue);
		if (PQgetisnull(res, 0, 3))
			errx(EXIT_USAGE, "node %s of queue %s has no provider location",
			    PQgetvalue(res, 0, 1), t->queue);
		free(below);
		free(node);
		free(loc);
		below = xstrdup(PQgetvalue(res, 0, 1));
		node = xstrdup(PQgetvalue(res, 0, 2));
		loc = xstrdup(PQgetvalue(res, 0, 3));
		PQclear(res);
		if (c != pread)
			PQfinish(c);
		c = origin_reach(loc, node, below, t->queue);
	}
	PQclear(res);
	if (c != pread) {
		o->root = node;
		node = NULL;
		o->own[0] = o->lock = c;
		o->own[1] = o->tick = origin_reach(loc, o->root, below, t->queue);
		o->ownq = node_qname(c, t->queue, t->name, "find table on the root");
		if (o->ownq == NULL)
			errx(EXIT_USAGE, "table %s is not replicated by queue %s on its root %s",
			    t->name, t->queue, o->root);
		o->qname = o->ownq;
	}
	free(below);
	free(node);
	free(loc);
}

static void
origin_free(struct origin *o)
{
	if (o->own[0] != NULL)
		PQfinish(o->own[0]);
	if (o->own[1] != NULL)
		PQfinish(o->own[1]);
	free(o->root);
	free(o->ownq);
	memset(o, 0, sizeof(*o));
}

/*
 * Open a REPEATABLE READ snapshot on the provider, a branch, that holds
 * tick p[2] of the root's queue p[0] applied (the branch's worker
 * records the root's tick ids in pgq_node.local_state in the transaction
 * that applies the batch); 0, with no transaction open, while it does
 * not yet.
 */
static int
provider_passed(PGconn *pread, const char **p)
{
	const char *q[2] = { p[0], p[2] };
	PGresult *res;
	int done;

	db_cmd(pread, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
	res = db_exec(pread, "read the provider's applied tick",
	    "SELECT coalesce(worker_last_tick >= $2::bigint, false)"
	    "  FROM pgq_node.get_node_info($1)", 2, q);
	done = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!done)
		db_cmd(pread, "rollback", "ROLLBACK", 0, NULL);
	return done;
}

/*
 * Why both snapshots hold the same rows of the table.  The origin (the
 * provider, or the root above a branch) is where every change of the
 * table is written and queued, in the writer's transaction.  Its table
 * is locked SHARE first: once granted, no transaction that wrote it is
 * in flight, and none can write it until we release.  The tick T made
 * then holds every change of the table ever queued, and no batch after
 * T holds one until the release.  The snapshots are taken before the
 * release, each once its node has applied T: whatever batches a node
 * applied after T were ticked at the origin before the release, so they
 * cannot touch the table.  A branch copies the root's events and ticks
 * unchanged (same tick ids), so the node below a branch applied the
 * root's events up to T when its tick says T, whatever the depth.  Both
 * sides then show the table as of T.  Locking the provider instead when
 * it is a branch would block its own worker, the one that must bring it
 * to T: the wait could never end.
 */
void
lon_point(PGconn *plock, PGconn *pread, PGconn *sread, PGconn *slock,
    const char *consumer, const struct lontable *t, long long timeout_ms)
{
	char tmo[32], tick[32], where[256];
	const char *p[3];
	struct buf sql = {0};
	struct origin o;
	PGresult *res;
	long long deadline;

	origin_find(plock, pread, t, &o);
	if (o.root != NULL)
		snprintf(where, sizeof(where), "root %s", o.root);
	else
		snprintf(where, sizeof(where), "provider");
	deadline = now_ms() + timeout_ms;

	/*
	 * Catch up first, holding no lock: a subscriber far behind (or a
	 * replay that is stopped or stuck) then costs the origin's writers
	 * nothing, and the wait under the lock below is one batch at most.
	 */
	p[0] = t->queue;
	lon_point_tick(o.tick, p, tick, sizeof(tick), where);
	p[1] = consumer;
	p[2] = tick;
	while (!applied(sread, p)) {
		if (now_ms() > deadline)
			errx(EXIT_RETRY, "the subscriber did not apply tick %s of queue %s"
			    " within the lock timeout; nothing was locked (replay is"
			    " stopped, stuck or far behind: see londiste status)",
			    tick, t->queue);
		nap50();
	}

	/* lock_timeout takes at most INT_MAX ms (24.8 days); a longer
	 * --lock-timeout made set_config fail (exit 2), and that only after
	 * the catch-up wait.  0 would mean no limit: lon_timeout_arg
	 * refuses it. */
	snprintf(tmo, sizeof(tmo), "%lld",
	    timeout_ms > INT_MAX ? (long long)INT_MAX : timeout_ms);
	p[0] = tmo;
	db_cmd(o.lock, "begin", "BEGIN", 0, NULL);
	PQclear(db_exec(o.lock, "set lock_timeout",
	    "SELECT set_config('lock_timeout', $1, true)", 1, p));
	buf_printf(&sql, "LOCK TABLE %s IN SHARE MODE", o.qname);
	res = PQexec(o.lock, sql.data);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		warnx("lock %s on the %s: %s", t->name, where, db_resmsg(res));
		exit(EXIT_RETRY);
	}
	PQclear(res);
	deadline = now_ms() + timeout_ms;

	/* No write to the table is in flight now: the tick holds them all. */
	p[0] = t->queue;
	lon_point_tick(o.tick, p, tick, sizeof(tick), where);
	p[1] = consumer;
	p[2] = tick;
	if (o.root == NULL) {
		db_cmd(pread, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
		    0, NULL);
		db_cmd(pread, "take snapshot", "SELECT 1", 0, NULL);
	} else {
		while (!provider_passed(pread, p)) {
			if (now_ms() > deadline)
				errx(EXIT_RETRY, "the provider did not apply tick %s of queue"
				    " %s from the %s within the lock timeout (its worker is"
				    " stopped, paused or behind: see londiste status)",
				    tick, t->queue, where);
			nap50();
		}
	}

	while (!applied(sread, p)) {
		if (now_ms() > deadline)
			errx(EXIT_RETRY, "the subscriber did not apply tick %s of queue %s"
			    " within the lock timeout (replay is stuck or slow: see"
			    " londiste status)", tick, t->queue);
		nap50();
	}
	if (slock != NULL) {
		db_cmd(slock, "begin", "BEGIN", 0, NULL);
		db_cmd(slock, "set session_replication_role",
		    "SET LOCAL session_replication_role = replica", 0, NULL);
		buf_reset(&sql);
		buf_printf(&sql, "LOCK TABLE %s IN EXCLUSIVE MODE", t->sqname);
		db_cmd(slock, "lock the subscriber table", sql.data, 0, NULL);
	}
	db_cmd(sread, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
	db_cmd(sread, "take snapshot", "SELECT 1", 0, NULL);
	db_cmd(o.lock, "release lock", "COMMIT", 0, NULL);
	origin_free(&o);
	buf_free(&sql);
}

/*
 * 0 cannot mean "no limit" as lock_timeout's 0 does: the wait for the
 * lock would then hold the origin's writers behind it for as long as
 * a long transaction runs there.  It made every table exit 3 at once.
 */
long long
lon_timeout_arg(const char *s)
{
	long long ms = parse_seconds_ms(s, "lock timeout");

	if (ms < 1)
		errx(EXIT_USAGE, "lock timeout must be at least 0.001 seconds: %s", s);
	return ms;
}
