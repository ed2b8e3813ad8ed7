/* pgq-tick: PgQ's ticker and maintenance, one pass (cron) or a daemon.
 *
 * Every database is a target with its own non-blocking connection and a
 * small state machine; one poll() loop drives them all, so a slow or
 * dead database only delays itself.  With --all-databases a "list"
 * target reads pg_database now and then and adds a target per database,
 * which first probes for the pgq schema.
 *
 * The daemon also LISTENs on pgq_ticker, which inserts into a queue
 * with ticker_max_lag 0 notify at commit (sql/pgq/30-insert.sql): it
 * then ticks at once instead of at the next interval.  A notification
 * says only "tick now"; pgq.ticker() decides which queues get a tick,
 * so a NOTIFY from anyone else costs one call of it and never makes a
 * tick the queues' settings do not call for.  Notifications that come
 * while a step is running are folded into one tick after it. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "db.h"
#include "exitcodes.h"
#include "sig.h"
#include "util.h"

static const char usage_line[] =
	"usage: pgq-tick [-d conninfo ...] [--all-databases] [--loop] "
	"[--interval ms] [--maint-interval seconds] [--check-interval seconds]\n";

#define CONNECT_TIMEOUT_MS 10000
#define BACKOFF_MIN_MS     1000
#define BACKOFF_MAX_MS     60000
/* Maintenance functions ask to be called again while they have work;
 * the caps keep a misbehaving one from starving the ticker. */
#define OP_REPEAT_MAX      100
#define RETRY_REPEAT_MAX   1000

enum kind { K_DB, K_FOUND, K_LIST };
enum phase { P_IDLE, P_SETUP, P_PROBE, P_LISTEN, P_LIST, P_TICK, P_OPS,
             P_OP, P_RETRY, P_VACLIST, P_VACUUM };
enum pgq { PGQ_UNKNOWN, PGQ_YES, PGQ_NO };

struct op {
	char *func;
	char *arg;		/* NULL: call without argument */
};

struct target {
	enum kind   kind;
	char	   *conninfo;	/* NULL: PG* environment */
	char	   *name;	/* for messages: masked conninfo or datname */
	PGconn	   *conn;
	int	    connecting;	/* PQconnectPoll in progress */
	short	    want;	/* poll events PQconnectPoll asked for */
	int	    busy;	/* a query is in flight */
	int	    flushing;	/* PQflush has more to send */
	enum phase  phase;
	PGresult   *res;	/* result of the query in flight */
	enum pgq    pgq;
	int	    seen;	/* in the latest database list */
	int	    gone;	/* to be freed at the top of the loop */
	int	    done;	/* one pass finished */
	int	    ever;	/* has connected once */
	long long   connect_at;	/* when to (re)connect */
	long long   deadline;	/* connection attempt gives up */
	long long   backoff;
	long long   tick_at;
	long long   maint_at;
	struct op  *ops;
	size_t	    nops, iop;
	char	  **vac;
	size_t	    nvac, ivac;
	int	    repeat;
	int	    wake;	/* a producer's commit asked for a tick */
	long long   wake_at;	/* no wake-up tick before (see WAKE_GAP_MS) */
};

/* The channel of the commit wake-up; the payload is empty (tick and
 * finish notifications of a queue of that name carry one). */
#define WAKE_CHANNEL "pgq_ticker"
/* Wake-up ticks are this far apart at least (or --interval, if
 * shorter): under a stream of commits a queue gets a tick every few
 * milliseconds, not one per ticker round trip, which cost the
 * producers a quarter of their rate on two cores (each tick is a
 * transaction that wakes every consumer).  A single commit still
 * waits for nothing. */
#define WAKE_GAP_MS 5

static struct target **targets;
static size_t ntargets;
static int loop_mode;
static long long interval_ms = 1000;
static long long maint_ms = 30000;
/* How often --all-databases lists the databases; 0: every maint_ms. */
static long long check_ms;
static int worst;		/* exit status of a one-pass run */
static int selfpipe[2] = { -1, -1 };

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
	fputs("  -d, --dbname=CONNINFO        a database to serve (repeatable;\n"
	      "                               default: PG* environment)\n"
	      "  -a, --all-databases          serve every database with PgQ;\n"
	      "                               -d names the one to list them from\n"
	      "  -l, --loop                   keep running (the ticker daemon)\n"
	      "  -i, --interval=MS            ticker period (default 1000)\n"
	      "  -m, --maint-interval=SECONDS maintenance period (default 30)\n"
	      "  -c, --check-interval=SECONDS with -a: look for new databases\n"
	      "                               this often (default: maintenance period)\n"
	      "  -h, --help                   show this help\n"
	      "  -V, --version                show the version\n", stdout);
	finish(EXIT_DONE);
}

static void
say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The daemon logs with timestamps; a cron run prints plain warnings. */
static void
say(const char *fmt, ...)
{
	struct buf b = {0};
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (loop_mode)
		logx("%s", b.data);
	else
		warnx("%s", b.data);
	buf_free(&b);
}

static void
note(int status)
{
	if (status > worst)
		worst = status;
}

static void
on_notice(void *arg, const char *msg)
{
	const struct target *t = arg;
	size_t n = strlen(msg);

	while (n > 0 && msg[n - 1] == '\n')
		n--;
	say("%s: %.*s", t->name, (int)n, msg);
}

static void
on_signal(int signo)
{
	int saved = errno;

	(void)signo;
	sig_stop = 1;
	/* Wakes poll() even when the signal lands just before it. */
	if (write(selfpipe[1], "x", 1) < 0) {
		/* pipe full: a wake-up is already pending */
	}
	errno = saved;
}

/* A connection string for database `db` with everything else from `base`
 * (which may be a URI or NULL for the environment). */
static char *
conninfo_for(const char *base, const char *db)
{
	PQconninfoOption *opts, *o;
	struct buf b = {0};
	char *errmsg = NULL;
	const char *s;

	opts = PQconninfoParse(base ? base : "", &errmsg);
	/* libpq's parse errors may quote the whole string, secret and all */
	if (opts == NULL)
		errx(EXIT_USAGE, "bad connection string: %s",
		    errmsg ? db_mask(strtok(errmsg, "\n")) : "out of memory");
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || strcmp(o->keyword, "dbname") == 0)
			continue;
		buf_printf(&b, "%s='", o->keyword);
		for (s = o->val; *s != '\0'; s++) {
			if (*s == '\'' || *s == '\\')
				buf_addch(&b, '\\');
			buf_addch(&b, *s);
		}
		buf_addstr(&b, "' ");
	}
	PQconninfoFree(opts);
	buf_addstr(&b, "dbname='");
	for (s = db; *s != '\0'; s++) {
		if (*s == '\'' || *s == '\\')
			buf_addch(&b, '\\');
		buf_addch(&b, *s);
	}
	buf_addch(&b, '\'');
	return b.data;
}

static struct target *
target_add(enum kind kind, char *conninfo, char *name)
{
	struct target *t = xmalloc(sizeof(*t));

	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->conninfo = conninfo;
	t->name = name;
	t->backoff = BACKOFF_MIN_MS;
	t->connect_at = now_ms();
	targets = xrealloc(targets, (ntargets + 1) * sizeof(*targets));
	targets[ntargets++] = t;
	return t;
}

static void
maint_free(struct target *t)
{
	size_t i;

	for (i = 0; i < t->nops; i++) {
		free(t->ops[i].func);
		free(t->ops[i].arg);
	}
	free(t->ops);
	t->ops = NULL;
	t->nops = t->iop = 0;
	for (i = 0; i < t->nvac; i++)
		free(t->vac[i]);
	free(t->vac);
	t->vac = NULL;
	t->nvac = t->ivac = 0;
}

static void
target_close(struct target *t)
{
	if (t->conn != NULL)
		PQfinish(t->conn);
	t->conn = NULL;
	t->connecting = t->busy = t->flushing = 0;
	t->phase = P_IDLE;
	PQclear(t->res);
	t->res = NULL;
	maint_free(t);
}

static void
target_free(struct target *t)
{
	target_close(t);
	free(t->conninfo);
	free(t->name);
	free(t);
}

/* A pass ends without error (one-pass mode) or the connection waits
 * for its next use (the list target). */
static void
target_rest(struct target *t, long long again_at)
{
	target_close(t);
	t->connect_at = again_at;
	if (!loop_mode)
		t->done = 1;
}

static void
target_fail(struct target *t, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Give up on this connection: a cron run records the status, the
 * daemon tries again later, waiting longer each time. */
static void
target_fail(struct target *t, int status, const char *fmt, ...)
{
	struct buf b = {0};
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (loop_mode)
		say("%s: %s (retrying in %lld s)", t->name, b.data,
		    t->backoff / 1000);
	else
		say("%s: %s", t->name, b.data);
	buf_free(&b);
	target_close(t);
	note(status);
	t->connect_at = now_ms() + t->backoff;
	t->backoff = t->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
	                                             : t->backoff * 2;
	if (!loop_mode)
		t->done = 1;
}

static void
flush(struct target *t)
{
	int r = PQflush(t->conn);

	if (r < 0)
		target_fail(t, EXIT_RETRY, "lost connection: %s",
		    db_errmsg(t->conn));
	else
		t->flushing = r;
}

static void
send_query(struct target *t, enum phase phase, const char *sql,
           const char *param)
{
	int ok;

	if (param != NULL)
		ok = PQsendQueryParams(t->conn, sql, 1, NULL, &param, NULL,
		    NULL, 0);
	else
		ok = PQsendQuery(t->conn, sql);
	if (!ok) {
		target_fail(t, EXIT_RETRY, "lost connection: %s",
		    db_errmsg(t->conn));
		return;
	}
	t->phase = phase;
	t->busy = 1;
	flush(t);
}

static void
start_connect(struct target *t)
{
	t->conn = db_connect_start(t->conninfo);
	if (t->conn == NULL || PQstatus(t->conn) == CONNECTION_BAD) {
		target_fail(t, EXIT_RETRY, "connection failed: %s",
		    db_errmsg(t->conn));
		return;
	}
	PQsetNoticeProcessor(t->conn, on_notice, t);
	t->connecting = 1;
	/* libpq: start as if PQconnectPoll had asked to write. */
	t->want = POLLOUT;
	t->deadline = now_ms() + CONNECT_TIMEOUT_MS;
}

static void
connect_step(struct target *t)
{
	switch (PQconnectPoll(t->conn)) {
	case PGRES_POLLING_READING:
		t->want = POLLIN;
		break;
	case PGRES_POLLING_WRITING:
		t->want = POLLOUT;
		break;
	case PGRES_POLLING_OK:
		t->connecting = 0;
		if (PQsetnonblocking(t->conn, 1) != 0) {
			target_fail(t, EXIT_RETRY, "cannot set non-blocking: %s",
			    db_errmsg(t->conn));
			return;
		}
		send_query(t, P_SETUP, db_session_setup_sql, NULL);
		break;
	default:
		target_fail(t, EXIT_RETRY, "connection failed: %s",
		    db_errmsg(t->conn));
		break;
	}
}

static int
res_ok(const PGresult *res)
{
	return res != NULL && (PQresultStatus(res) == PGRES_TUPLES_OK ||
	    PQresultStatus(res) == PGRES_COMMAND_OK);
}

/* An SQL error that leaves the connection usable: log it, remember it
 * for the exit status, and carry on with the next step. */
static void
sql_error(struct target *t, const char *what, const PGresult *res)
{
	say("%s: %s: %s", t->name, what, db_resmsg(res));
	note(db_status_for(t->conn, res));
}

static const char *
sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return s ? s : "";
}

static void maint_end(struct target *t);

/* A tick's commit does not wait for its WAL flush: the flush was half
 * of a commit wake-up's way to the consumer.  Nothing acts on a tick
 * before a later transaction flushes it: a consumer gets a batch from
 * next_batch, whose commit (it records the batch as open) flushes the
 * WAL up to its own commit record, so past the tick's, and the queue's
 * notification only makes consumers ask next_batch.  A tick lost in a
 * crash was therefore seen by no one, and the next tick covers its
 * events.  next_batch waits for that flush also in a session set to
 * commit without waiting (sql/pgq/50-consumer.sql). */
static void
send_tick(struct target *t)
{
	long long now = now_ms();

	if (t->wake)
		t->wake_at = now + (interval_ms < WAKE_GAP_MS ? interval_ms
		    : WAKE_GAP_MS);
	t->wake = 0;
	t->tick_at = now + interval_ms;
	send_query(t, P_TICK, "SELECT pg_catalog.set_config('synchronous_commit',"
	    " 'off', true), pgq.ticker()", NULL);
}

static void
start_maint(struct target *t)
{
	t->maint_at = now_ms() + maint_ms;
	send_query(t, P_OPS,
	    "SELECT func_name, func_arg FROM pgq.maint_operations()", NULL);
}

/* "schema.table" as pgq hands it out, quoted part by part. */
static char *
quote_table(const char *name)
{
	const char *dot = strchr(name, '.');
	struct buf b = {0};

	if (strchr(name, '"') != NULL)
		return xstrdup(name);	/* already quoted by the server */
	if (dot != NULL) {
		char *schema = xstrdup(name);

		schema[dot - name] = '\0';
		db_quote_ident(&b, schema);
		buf_addch(&b, '.');
		free(schema);
		name = dot + 1;
	}
	db_quote_ident(&b, name);
	return b.data;
}

static void
send_vacuum(struct target *t, enum phase phase, const char *table)
{
	char *q = quote_table(table);
	struct buf sql = {0};

	/* Alone in its query string: VACUUM refuses a transaction block. */
	buf_printf(&sql, "VACUUM %s", q);
	free(q);
	send_query(t, phase, sql.data, NULL);
	buf_free(&sql);
}

static void next_op(struct target *t);

static void
send_op(struct target *t)
{
	const struct op *o = &t->ops[t->iop];
	struct buf sql = {0};

	if (strcasecmp(o->func, "vacuum") == 0) {
		if (o->arg == NULL) {
			t->iop++;
			next_op(t);
			return;
		}
		send_vacuum(t, P_OP, o->arg);
		return;
	}
	/* The name comes from pgq itself ("schema.function"), so it is used
	 * as written; anything beyond a plain qualified name is refused. */
	if (o->func[strspn(o->func, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.\"")] != '\0') {
		say("%s: skipping maintenance function with odd name: %s",
		    t->name, o->func);
		t->iop++;
		next_op(t);
		return;
	}
	buf_printf(&sql, "SELECT %s(%s)", o->func, o->arg ? "$1" : "");
	send_query(t, P_OP, sql.data, o->arg);
	buf_free(&sql);
}

static void
next_op(struct target *t)
{
	t->repeat = 0;
	if (t->iop < t->nops)
		send_op(t);
	else
		send_query(t, P_RETRY, "SELECT pgq.maint_retry_events()", NULL);
}

static void
next_vac(struct target *t)
{
	if (t->ivac < t->nvac)
		send_vacuum(t, P_VACUUM, t->vac[t->ivac]);
	else
		maint_end(t);
}

static void
maint_end(struct target *t)
{
	maint_free(t);
	t->phase = P_IDLE;
	if (!loop_mode)
		target_rest(t, 0);
}

/* The database has no PgQ (any more): a found one waits for the next
 * listing, a named one is an error. */
static void
no_pgq(struct target *t, const PGresult *res)
{
	if (t->kind == K_FOUND) {
		if (loop_mode && t->pgq == PGQ_YES)
			say("%s: PgQ is gone, not ticking it", t->name);
		t->pgq = PGQ_NO;
		target_rest(t, 0);
		return;
	}
	target_fail(t, EXIT_USAGE, "no PgQ: %s", db_resmsg(res));
}

static struct target *
find_found(const char *datname)
{
	size_t i;

	for (i = 0; i < ntargets; i++)
		if (targets[i]->kind == K_FOUND && !targets[i]->gone &&
		    strcmp(targets[i]->name, datname) == 0)
			return targets[i];
	return NULL;
}

static void
take_list(struct target *lt, const PGresult *res)
{
	size_t i;
	int r;

	for (i = 0; i < ntargets; i++)
		targets[i]->seen = 0;
	for (r = 0; r < PQntuples(res); r++) {
		const char *dn = PQgetvalue(res, r, 0);
		struct target *t = find_found(dn);

		if (t == NULL) {
			t = target_add(K_FOUND, conninfo_for(lt->conninfo, dn),
			    xstrdup(dn));
		} else if (t->pgq == PGQ_NO) {
			/* Look again: PgQ may have been installed since. */
			t->pgq = PGQ_UNKNOWN;
			t->connect_at = 0;
		}
		t->seen = 1;
	}
	for (i = 0; i < ntargets; i++) {
		struct target *t = targets[i];

		if (t->kind == K_FOUND && !t->seen && !t->gone) {
			if (t->pgq == PGQ_YES)
				say("%s: database is gone", t->name);
			target_close(t);
			t->gone = 1;
		}
	}
}

/* Set up (and probed): ready to tick.  The daemon LISTENs first, so
 * that its first tick covers every commit it was not told of. */
static void
ready(struct target *t)
{
	t->phase = P_IDLE;
	if (!loop_mode)
		send_tick(t);
	else
		send_query(t, P_LISTEN, "LISTEN " WAKE_CHANNEL, NULL);
}

static void
on_listen(struct target *t, PGresult *res, int ok)
{
	/* Without it (a standby refuses LISTEN) the interval still ticks. */
	if (!ok)
		sql_error(t, "listen", res);
	t->phase = P_IDLE;
	t->tick_at = now_ms();
}

static void
on_setup(struct target *t, PGresult *res, int ok)
{
	if (!ok) {
		target_fail(t, EXIT_RETRY, "session setup: %s", db_resmsg(res));
		return;
	}
	t->backoff = BACKOFF_MIN_MS;
	if (t->kind == K_LIST) {
		send_query(t, P_LIST,
		    "SELECT datname FROM pg_catalog.pg_database"
		    " WHERE datallowconn AND NOT datistemplate"
		    " ORDER BY datname", NULL);
		return;
	}
	if (loop_mode && t->kind == K_DB)
		say("%s: connected%s", t->name, t->ever ? " again" : "");
	t->ever = 1;
	if (t->kind == K_FOUND) {
		send_query(t, P_PROBE, "SELECT EXISTS (SELECT 1 FROM"
		    " pg_catalog.pg_namespace WHERE nspname = 'pgq')",
		    NULL);
		return;
	}
	ready(t);
}

static void
on_probe(struct target *t, PGresult *res, int ok)
{
	if (!ok) {
		target_fail(t, db_status_for(t->conn, res), "probe: %s",
		    db_resmsg(res));
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		t->pgq = PGQ_NO;
		target_rest(t, 0);
		return;
	}
	if (loop_mode)
		say("%s: connected, ticking", t->name);
	t->pgq = PGQ_YES;
	ready(t);
}

static void
on_list(struct target *t, PGresult *res, int ok)
{
	if (!ok) {
		target_fail(t, db_status_for(t->conn, res),
		    "list databases: %s", db_resmsg(res));
		return;
	}
	take_list(t, res);
	target_rest(t, now_ms() + (check_ms > 0 ? check_ms : maint_ms));
}

static void
on_tick(struct target *t, PGresult *res, int ok)
{
	if (!ok) {
		if (strcmp(sqlstate(res), "3F000") == 0 ||
		    strcmp(sqlstate(res), "42883") == 0) {
			no_pgq(t, res);
			return;
		}
		sql_error(t, "ticker", res);
	}
	t->phase = P_IDLE;
	/* A due maintenance goes next: the ticks that keep coming due
	 * (wake-ups a few ms apart, anyone's NOTIFY, a short --interval
	 * under a slow ticker()) must not put it off for ever. */
	if (!loop_mode || now_ms() >= t->maint_at)
		start_maint(t);
}

static void
on_ops(struct target *t, PGresult *res, int ok)
{
	int r, n;

	if (!ok) {
		sql_error(t, "maint_operations", res);
		maint_end(t);
		return;
	}
	n = PQntuples(res);
	maint_free(t);
	t->ops = xmalloc((size_t)n * sizeof(*t->ops));
	for (r = 0; r < n; r++) {
		t->ops[r].func = xstrdup(PQgetvalue(res, r, 0));
		t->ops[r].arg = PQgetisnull(res, r, 1) ? NULL
		    : xstrdup(PQgetvalue(res, r, 1));
	}
	t->nops = (size_t)n;
	t->iop = 0;
	next_op(t);
}

static void
on_op(struct target *t, PGresult *res, int ok)
{
	if (!ok) {
		sql_error(t, t->ops[t->iop].func, res);
	} else if (PQresultStatus(res) == PGRES_TUPLES_OK &&
	    PQntuples(res) == 1 && PQnfields(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 0), "1") == 0 &&
	    ++t->repeat < OP_REPEAT_MAX) {
		send_op(t);
		return;
	}
	t->iop++;
	t->repeat = 0;
	next_op(t);
}

static void
on_retry(struct target *t, PGresult *res, int ok)
{
	if (!ok) {
		sql_error(t, "maint_retry_events", res);
	} else if (atoi(PQgetvalue(res, 0, 0)) > 0 &&
	    ++t->repeat < RETRY_REPEAT_MAX) {
		send_query(t, P_RETRY, "SELECT pgq.maint_retry_events()", NULL);
		return;
	}
	send_query(t, P_VACLIST,
	    "SELECT * FROM pgq.maint_tables_to_vacuum()", NULL);
}

static void
on_vaclist(struct target *t, PGresult *res, int ok)
{
	int r, n;
	size_t i;

	if (!ok) {
		sql_error(t, "maint_tables_to_vacuum", res);
		maint_end(t);
		return;
	}
	n = PQntuples(res);
	t->vac = xmalloc((size_t)n * sizeof(*t->vac));
	/* maint_operations may already have listed them. */
	for (r = 0; r < n; r++) {
		const char *tb = PQgetvalue(res, r, 0);

		for (i = 0; i < t->nops; i++)
			if (strcasecmp(t->ops[i].func, "vacuum") == 0 &&
			    t->ops[i].arg != NULL &&
			    strcmp(t->ops[i].arg, tb) == 0)
				break;
		if (i == t->nops && !PQgetisnull(res, r, 0))
			t->vac[t->nvac++] = xstrdup(tb);
	}
	t->ivac = 0;
	next_vac(t);
}

static void
on_vacuum(struct target *t, PGresult *res, int ok)
{
	if (!ok)
		sql_error(t, "vacuum", res);
	t->ivac++;
	next_vac(t);
}

/* What to do when the query in flight has finished: the handler of
 * the phase it was sent in. */
static void
on_result(struct target *t, PGresult *res)
{
	int ok = res_ok(res);

	if (!ok && PQstatus(t->conn) != CONNECTION_OK) {
		target_fail(t, EXIT_RETRY, "lost connection: %s",
		    res ? db_resmsg(res) : db_errmsg(t->conn));
		return;
	}
	switch (t->phase) {
	case P_SETUP:	on_setup(t, res, ok);	break;
	case P_PROBE:	on_probe(t, res, ok);	break;
	case P_LISTEN:	on_listen(t, res, ok);	break;
	case P_LIST:	on_list(t, res, ok);	break;
	case P_TICK:	on_tick(t, res, ok);	break;
	case P_OPS:	on_ops(t, res, ok);	break;
	case P_OP:	on_op(t, res, ok);	break;
	case P_RETRY:	on_retry(t, res, ok);	break;
	case P_VACLIST:	on_vaclist(t, res, ok);	break;
	case P_VACUUM:	on_vacuum(t, res, ok);	break;
	case P_IDLE:	break;
	}
}

static void
take_notifies(struct target *t)
{
	PGnotify *n;

	while ((n = PQnotifies(t->conn)) != NULL) {
		if (n->extra == NULL || n->extra[0] == '\0')
			t->wake = 1;
		PQfreemem(n);
	}
}

static void
on_io(struct target *t, short revents)
{
	PGresult *r;

	if (t->connecting) {
		connect_step(t);
		return;
	}
	if (t->busy && t->flushing && (revents & POLLOUT)) {
		flush(t);
		if (t->conn == NULL)
			return;
	}
	if (!(revents & (POLLIN | POLLERR | POLLHUP)))
		return;
	if (!PQconsumeInput(t->conn)) {
		target_fail(t, EXIT_RETRY, "lost connection: %s",
		    db_errmsg(t->conn));
		return;
	}
	if (!t->busy) {
		/* Idle: a wake-up, or a closing server. */
		take_notifies(t);
		if (PQstatus(t->conn) != CONNECTION_OK)
			target_fail(t, EXIT_RETRY, "lost connection: %s",
			    db_errmsg(t->conn));
		return;
	}
	while (t->conn != NULL && t->busy && !PQisBusy(t->conn)) {
		r = PQgetResult(t->conn);
		if (r == NULL) {
			PGresult *res = t->res;

			t->res = NULL;
			t->busy = 0;
			on_result(t, res);
			PQclear(res);
			break;
		}
		/* Several statements (the session setup) give several
		 * results: keep the first error, else the last result. */
		if (t->res != NULL && !res_ok(t->res)) {
			PQclear(r);
		} else {
			PQclear(t->res);
			t->res = r;
		}
	}
	/* Those that came with the results: a tick after this step. */
	if (t->conn != NULL)
		take_notifies(t);
}

/* Start whatever is due on an idle target. */
static void
kick(struct target *t, long long now)
{
	if (t->gone || t->done || t->connecting || t->busy)
		return;
	if (t->conn == NULL) {
		if (t->kind == K_FOUND && t->pgq == PGQ_NO)
			return;
		if (now >= t->connect_at)
			start_connect(t);
		return;
	}
	if (!loop_mode || t->phase != P_IDLE)
		return;
	if (now >= t->tick_at || (t->wake && now >= t->wake_at))
		send_tick(t);
	else if (now >= t->maint_at)
		start_maint(t);
}

/* Milliseconds until the earliest timed event of t, or -1. */
static long long
due_in(const struct target *t, long long now)
{
	long long at;

	if (t->gone || t->done || t->busy)
		return -1;
	if (t->connecting)
		at = t->deadline;
	else if (t->conn == NULL) {
		if (t->kind == K_FOUND && t->pgq == PGQ_NO)
			return -1;
		at = t->connect_at;
	} else if (loop_mode && t->phase == P_IDLE) {
		at = t->tick_at < t->maint_at ? t->tick_at : t->maint_at;
		if (t->wake && t->wake_at < at)
			at = t->wake_at;
	} else
		return -1;
	return at > now ? at - now : 0;
}

static void
reap(void)
{
	size_t i, j = 0;

	for (i = 0; i < ntargets; i++) {
		if (targets[i]->gone)
			target_free(targets[i]);
		else
			targets[j++] = targets[i];
	}
	ntargets = j;
}

/* Once: every target has finished its one round. */
static int
all_done(void)
{
	size_t i;

	for (i = 0; i < ntargets; i++)
		if (!targets[i]->done && !targets[i]->gone)
			return 0;
	return 1;
}

/* Fill pfd/map (room for ntargets + 1) with the self-pipe and each
 * target's socket; return how many, and in *timeout how long poll may
 * wait for the next due target (at most a minute). */
static size_t
fill_poll(struct pollfd *pfd, struct target **map, long long now,
    long long *timeout)
{
	size_t i, n = 0;
	long long d;

	if (selfpipe[0] >= 0) {
		pfd[n].fd = selfpipe[0];
		pfd[n].events = POLLIN;
		map[n++] = NULL;
	}
	*timeout = -1;
	for (i = 0; i < ntargets; i++) {
		struct target *t = targets[i];

		d = due_in(t, now);
		if (d >= 0 && (*timeout < 0 || d < *timeout))
			*timeout = d;
		if (t->conn == NULL || t->gone || PQsocket(t->conn) < 0)
			continue;
		pfd[n].fd = PQsocket(t->conn);
		if (t->connecting)
			pfd[n].events = t->want;
		else
			pfd[n].events = POLLIN | (t->flushing ? POLLOUT : 0);
		pfd[n].revents = 0;
		map[n++] = t;
	}
	if (*timeout > 60000 || *timeout < 0)
		*timeout = 60000;
	return n;
}

static void
run(void)
{
	struct pollfd *pfd = NULL;
	struct target **map = NULL;
	size_t i, n, cap = 0;
	long long now, timeout;
	int r;

	for (;;) {
		if (sig_stop)
			break;
		reap();
		now = now_ms();
		for (i = 0; i < ntargets; i++) {
			struct target *t = targets[i];

			if (t->connecting && now >= t->deadline)
				target_fail(t, EXIT_RETRY, "connection timed out");
			kick(t, now);
		}
		if (!loop_mode && all_done())
			break;
		if (cap < ntargets + 1) {
			cap = ntargets + 1;
			pfd = xrealloc(pfd, cap * sizeof(*pfd));
			map = xrealloc(map, cap * sizeof(*map));
		}
		n = fill_poll(pfd, map, now, &timeout);
		r = poll(pfd, n, (int)timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err(EXIT_RETRY, "poll");
		}
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (map[i] == NULL) {
				char drain[64];

				while (read(selfpipe[0], drain, sizeof(drain)) > 0)
					;
				continue;
			}
			if (!map[i]->gone && map[i]->conn != NULL)
				on_io(map[i], pfd[i].revents);
		}
	}
	free(pfd);
	free(map);
}

static void
catch_signals(void)
{
	struct sigaction sa;
	int i;

	if (pipe(selfpipe) != 0)
		err(EXIT_RETRY, "pipe");
	for (i = 0; i < 2; i++) {
		fcntl(selfpipe[i], F_SETFL, fcntl(selfpipe[i], F_GETFL) | O_NONBLOCK);
		fcntl(selfpipe[i], F_SETFD, FD_CLOEXEC);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* Closed sockets show up as errors from libpq, not as signals. */
	signal(SIGPIPE, SIG_IGN);
	/* The log is stderr, opened by the caller: nothing to reopen, and a
	 * hangup must not stop the ticker. */
	signal(SIGHUP, SIG_IGN);
}

/* Each -d must parse as a connection string; a bare name is a dbname.
 * Checked before any target starts, so a typo is a usage error. */
static void
check_conninfos(const char **dbs, size_t ndbs)
{
	size_t i;

	for (i = 0; i < ndbs; i++) {
		char *errmsg = NULL;
		PQconninfoOption *o;

		/* A bare database name, as libpq's dbname takes it. */
		if (strchr(dbs[i], '=') == NULL && strncmp(dbs[i], "postgres://", 11) != 0 &&
		    strncmp(dbs[i], "postgresql://", 13) != 0)
			dbs[i] = conninfo_for(NULL, dbs[i]);
		o = PQconninfoParse(dbs[i], &errmsg);

		if (o == NULL) {
			char *m = db_mask(dbs[i]);

			errx(EXIT_USAGE, "bad connection string \"%s\": %s", m,
			    errmsg ? db_mask(strtok(errmsg, "\n")) : "out of memory");
		}
		PQconninfoFree(o);
	}
}

/* The targets: the listing database of --all-databases, else each -d,
 * else libpq's default database. */
static void
add_targets(int all, const char **dbs, size_t ndbs)
{
	size_t i;

	if (all) {
		const char *base = ndbs ? dbs[0] : NULL;
		char *ci;
		PQconninfoOption *o, *opts;

		/* The listing database: -d's own, else "postgres". */
		ci = NULL;
		if (base != NULL) {
			opts = PQconninfoParse(base, NULL);
			for (o = opts; o != NULL && o->keyword != NULL; o++)
				if (strcmp(o->keyword, "dbname") == 0 && o->val != NULL)
					ci = xstrdup(base);
			PQconninfoFree(opts);
		}
		if (ci == NULL)
			ci = conninfo_for(base, "postgres");
		target_add(K_LIST, ci, db_mask(ci));
	} else if (ndbs == 0) {
		target_add(K_DB, NULL, xstrdup("(default database)"));
	} else {
		for (i = 0; i < ndbs; i++)
			target_add(K_DB, xstrdup(dbs[i]), db_mask(dbs[i]));
	}
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "all-databases",  no_argument,       NULL, 'a' },
		{ "check-interval", required_argument, NULL, 'c' },
		{ "dbname",         required_argument, NULL, 'd' },
		{ "help",           no_argument,       NULL, 'h' },
		{ "interval",       required_argument, NULL, 'i' },
		{ "loop",           no_argument,       NULL, 'l' },
		{ "maint-interval", required_argument, NULL, 'm' },
		{ "version",        no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char **dbs = NULL;
	size_t ndbs = 0, i;
	int c, all = 0;

	while ((c = getopt_long(argc, argv, "ac:d:hi:lm:V", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': all = 1; break;
		case 'c':
			check_ms = parse_seconds_ms(optarg, "check interval");
			if (check_ms <= 0)
				errx(EXIT_USAGE, "check interval must be positive: %s",
				    optarg);
			break;
		case 'd':
			dbs = xrealloc(dbs, (ndbs + 1) * sizeof(*dbs));
			dbs[ndbs++] = db_conninfo_arg(optarg);
			break;
		case 'h': help();
		case 'i': interval_ms = parse_num(optarg, 1, 86400000, "interval"); break;
		case 'l': loop_mode = 1; break;
		case 'm':
			maint_ms = parse_seconds_ms(optarg, "maintenance interval");
			if (maint_ms <= 0)
				errx(EXIT_USAGE, "maintenance interval must be positive: %s",
				    optarg);
			break;
		case 'V': print_version();
		default:  usage();
		}
	}
	if (optind != argc)
		usage();
	if (all && ndbs > 1)
		errx(EXIT_USAGE, "--all-databases takes at most one -d "
		    "(the database to list the others from)");
	check_conninfos(dbs, ndbs);
	add_targets(all, dbs, ndbs);
	free(dbs);

	if (loop_mode) {
		catch_signals();
		logx("starting: %zu %s, tick every %lld ms, maintenance every %lld ms",
		    ntargets, all ? "listing database" : ntargets == 1 ? "database"
		    : "databases", interval_ms, maint_ms);
	}
	run();
	for (i = 0; i < ntargets; i++)
		target_free(targets[i]);
	free(targets);
	if (loop_mode) {
		logx("stopping");
		finish(EXIT_DONE);
	}
	finish(worst);
}
