/* qadmin: a small console for PgQ, with the statements of Skytools'
 * qadmin (connect, install, create/drop/alter queue, register and
 * unregister consumer, show ...), read from a terminal, -c, -f or stdin.
 * Results are TSV with a header line, as pgq-status prints them. */
#include <err.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "copytext.h"
#include "db.h"
#include "exitcodes.h"
#include "util.h"

static const char usage_line[] =
	"usage: qadmin [-h host] [-p port] [-U user] [-d dbname | conninfo] "
	"[-Q queue] [-c commands | -f file] [dbname | conninfo]\n";

static PGconn *conn;
static char *queue;		/* the default queue, or NULL */
static bool interactive;

/* A token of a statement: a bare word, a quoted string or name, or one
 * of the characters = and ,. */
enum tkind { T_WORD, T_QUOTED, T_EQ, T_COMMA };
struct tok {
	enum tkind kind;
	char	  *s;
};

struct stmt {
	struct tok *t;
	size_t	    n, i;
	const char *text;	/* for messages */
};

static NORETURN void
usage(void)
{
	fputs(usage_line, stderr);
	exit(EXIT_USAGE);
}

static const char commands_help[] =
	"connect [conninfo | key=value ...] [queue=Q];\n"
	"install pgq | pgq_coop;\n"
	"create queue Q;\n"
	"drop queue Q;\n"
	"alter queue Q|* set key = value [, key = value ...];\n"
	"register consumer C [on Q] [at TICK | copy C2];\n"
	"unregister consumer C|* [from Q];\n"
	"register subconsumer S for C [on Q];\n"
	"unregister subconsumer S for C [from Q] [close batch];\n"
	"show queue [Q|*];\n"
	"show consumer [C|* [on Q]];\n"
	"show batch ID | C [on Q];\n"
	"show batch_events ID;\n"
	"show help;  help;  quit;  exit;  \\q\n";

static NORETURN void
help(void)
{
	fputs(usage_line, stdout);
	fputs("  -h HOST              server host or socket directory\n"
	      "  -p PORT              server port\n"
	      "  -U USER              user name\n"
	      "  -d DBNAME|CONNINFO   database name, or a libpq connection string\n"
	      "  -Q QUEUE             the default queue\n"
	      "  -c COMMANDS          run these statements, then exit\n"
	      "  -f FILE              run the statements in FILE, then exit\n"
	      "      --help           show this help\n"
	      "  -V, --version        show the version\n"
	      "Statements end with ';':\n", stdout);
	fputs(commands_help, stdout);
	finish(EXIT_DONE);
}

/* ---- output ---- */

/* The header line of res, or its row r (r >= 0). */
static void
print_line(const PGresult *res, int r)
{
	struct buf line = {0};
	int c, nf = PQnfields(res);

	for (c = 0; c < nf; c++) {
		if (c > 0)
			buf_addch(&line, '\t');
		if (r < 0)
			buf_addstr(&line, PQfname(res, c));
		else if (PQgetisnull(res, r, c))
			buf_addstr(&line, "\\N");
		else
			copytext_escape(&line, PQgetvalue(res, r, c),
			    (size_t)PQgetlength(res, r, c));
	}
	buf_addch(&line, '\n');
	fwrite(line.data, 1, line.len, stdout);
	buf_free(&line);
}

/* ---- the database ---- */

/* The statement being run, for run() and missing(); NULL between statements. */
static const char *cur_text;

/* Run sql; on failure say why and set *st (0 stays 0 on success). */
static PGresult *
run(const char *what, const char *sql, int n, const char *const *params, int *st)
{
	PGresult *res;
	const char *msg;

	if (conn == NULL) {
		warnx("%s: not connected (use connect)", what);
		*st = EXIT_RETRY;
		return NULL;
	}
	res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK ||
	    PQresultStatus(res) == PGRES_COMMAND_OK)
		return res;
	*st = db_status_for(conn, res);
	msg = res && PQresultErrorField(res, PG_DIAG_SQLSTATE) ?
	    db_resmsg(res) : db_errmsg(conn);
	/* As missing() does: in a script the server's words alone do not
	 * say which statement stopped it. */
	if (cur_text != NULL)
		warnx("%s: %s, in \"%s\"", what, msg, cur_text);
	else
		warnx("%s: %s", what, msg);
	PQclear(res);
	return NULL;
}

static int
run_cmd(const char *what, const char *sql, int n, const char *const *params)
{
	int st = 0;
	PGresult *res = run(what, sql, n, params, &st);

	PQclear(res);
	return st;
}

/* A queue or consumer that is not there.  The message names the
 * statement too: in a script of many, the name alone does not say
 * which one stopped it. */
static void __attribute__((format(printf, 1, 2)))
missing(const char *fmt, ...)
{
	struct buf msg = {0};
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	if (cur_text != NULL) {
		char *text = db_mask(cur_text);

		warnx("%s, in \"%s\"", msg.data, text);
		free(text);
	} else
		warnx("%s", msg.data);
	buf_free(&msg);
}

/* 0 when queue q exists, else the status to exit with, "no such
 * queue" said: "no such consumer" would send one looking for a
 * consumer when a typo in the queue's name is the cause. */
static int
queue_missing(const char *q)
{
	const char *p[1] = { q };
	int st = 0;
	PGresult *res = run("queue", "SELECT 1 FROM pgq.get_queue_info($1)",
	    1, p, &st);

	if (res == NULL)
		return st;
	if (PQntuples(res) == 0) {
		missing("no such queue: %s", q);
		st = EXIT_USAGE;
	}
	PQclear(res);
	return st;
}

/* Consumer c is not on queue q: which of the two is missing. */
static int
consumer_missing(const char *q, const char *c)
{
	int st = queue_missing(q);

	if (st != 0)
		return st;
	missing("no such consumer on queue %s: %s", q, c);
	return EXIT_USAGE;
}

/* Show the rows of a query as they come (single-row mode: a batch's
 * events are never all in memory); none is "no such ..." when miss
 * names what was asked for. */
static int
show(const char *what, const char *sql, int n, const char *const *params,
     const char *miss)
{
	PGresult *res;
	bool header = false;
	int st = 0;

	if (conn == NULL) {
		warnx("%s: not connected (use connect)", what);
		return EXIT_RETRY;
	}
	if (!PQsendQueryParams(conn, sql, n, NULL, params, NULL, NULL, 0)) {
		warnx("%s: %s", what, db_errmsg(conn));
		return EXIT_RETRY;
	}
	PQsetSingleRowMode(conn);
	while ((res = PQgetResult(conn)) != NULL) {
		switch (PQresultStatus(res)) {
		case PGRES_SINGLE_TUPLE:
			if (st == 0) {
				if (!header)
					print_line(res, -1);
				header = true;
				print_line(res, 0);
			}
			break;
		case PGRES_TUPLES_OK:
			if (st != 0 || header)
				break;
			if (miss != NULL) {
				missing("%s", miss);
				st = EXIT_USAGE;
			} else {
				print_line(res, -1);
			}
			break;
		default:
			if (st == 0) {
				st = db_status_for(conn, res);
				warnx("%s: %s", what, PQresultErrorField(res, PG_DIAG_SQLSTATE)
				    ? db_resmsg(res) : db_errmsg(conn));
			}
			break;
		}
		PQclear(res);
	}
	fflush(stdout);
	return st;
}

/* Every session pins search_path: the statements below qualify their
 * names too, but the install scripts run with this setting. */
static PGconn *
open_db(const char *conninfo)
{
	struct buf msg = {0};
	PGconn *c = db_try_connect(conninfo, &msg);
	PGresult *res;

	if (c == NULL) {
		warnx("%s", msg.data);
		buf_free(&msg);
		return NULL;
	}
	res = PQexec(c, "SELECT pg_catalog.set_config('search_path', 'pg_catalog', false)");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		warnx("session setup failed: %s", db_resmsg(res));
		PQclear(res);
		PQfinish(c);
		return NULL;
	}
	PQclear(res);
	return c;
}

/* ---- the statement's tokens ---- */

static struct tok *
peek(struct stmt *s)
{
	return s->i < s->n ? &s->t[s->i] : NULL;
}

static bool
is_kw(const struct tok *t, const char *kw)
{
	return t != NULL && t->kind == T_WORD && strcasecmp(t->s, kw) == 0;
}

static bool
accept(struct stmt *s, const char *kw)
{
	if (!is_kw(peek(s), kw))
		return false;
	s->i++;
	return true;
}

static int
syntax(struct stmt *s, const char *expected)
{
	struct tok *t = peek(s);
	/* A connect statement may hold a password. */
	char *text = db_mask(s->text), *at = db_mask(t ? t->s : "");

	warnx("syntax error in \"%s\": expected %s%s%s", text, expected,
	    t ? " at " : " at the end", at);
	free(text);
	free(at);
	return EXIT_USAGE;
}

/* A name: a word or a quoted name, not = or ,. */
static const char *
name(struct stmt *s)
{
	struct tok *t = peek(s);

	if (t == NULL || (t->kind != T_WORD && t->kind != T_QUOTED))
		return NULL;
	s->i++;
	return t->s;
}

static bool
is_star(const struct tok *t)
{
	return t != NULL && t->kind == T_WORD && strcmp(t->s, "*") == 0;
}

static bool
at_end(struct stmt *s)
{
	return s->i == s->n;
}

/* The queue of "on Q" / "from Q", or the default queue. */
static const char *
queue_of(struct stmt *s, const char *kw, int *st)
{
	const char *q = queue;

	if (accept(s, kw) && (q = name(s)) == NULL) {
		*st = syntax(s, "a queue name");
		return NULL;
	}
	if (q == NULL) {
		warnx("\"%s\": no queue given and no default queue "
		    "(connect queue=NAME or -Q)", s->text);
		*st = EXIT_USAGE;
	}
	return q;
}

/* ---- statements ---- */

/* Append key='value' to a connection string. */
static void
ci_add(struct buf *ci, const char *key, const char *v)
{
	buf_printf(ci, "%s='", key);
	for (; *v != '\0'; v++) {
		if (*v == '\'' || *v == '\\')
			buf_addch(ci, '\\');
		buf_addch(ci, *v);
	}
	buf_addstr(ci, "' ");
}

/* connect [NAME | 'conninfo' | key=value ...] [queue=Q]: key db= is
 * dbname=, queue= sets the default queue, the rest go to libpq. */
static int
do_connect(struct stmt *s)
{
	struct buf ci = {0};
	char *newq = NULL;
	bool db = false;
	PGconn *c;
	int st = 0;

	while (!at_end(s)) {
		struct tok *k = peek(s);
		const char *v;

		if (k->kind != T_WORD && k->kind != T_QUOTED) {
			st = syntax(s, "a database, a connection string or key=value");
			goto out;
		}
		s->i++;
		if (at_end(s) || peek(s)->kind != T_EQ) {
			if (k->kind == T_QUOTED) {
				buf_addstr(&ci, k->s);
				buf_addch(&ci, ' ');
			} else {
				ci_add(&ci, "dbname", k->s);
			}
			db = true;
			continue;
		}
		s->i++;
		if ((v = name(s)) == NULL) {
			st = syntax(s, "a value");
			goto out;
		}
		if (strcasecmp(k->s, "queue") == 0) {
			free(newq);
			newq = xstrdup(v);
			continue;
		}
		ci_add(&ci, strcasecmp(k->s, "db") == 0 ? "dbname" : k->s, v);
		db = true;
	}
	if (db) {
		if ((c = open_db(ci.data)) == NULL) {
			st = EXIT_RETRY;
			goto out;
		}
		PQfinish(conn);
		conn = c;
		free(queue);
		queue = NULL;
	} else if (newq == NULL) {
		st = syntax(s, "a database or queue=NAME");
		goto out;
	}
	if (newq != NULL) {
		const char *p[1] = { newq };
		int qst = 0;
		PGresult *res = run("look up queue",
		    "SELECT 1 FROM pgq.get_queue_info($1)", 1, p, &qst);

		if (res == NULL) {
			st = qst;
			goto out;
		}
		if (PQntuples(res) == 0) {
			missing("no such queue: %s", newq);
			PQclear(res);
			st = EXIT_USAGE;
			goto out;
		}
		PQclear(res);
		free(queue);
		queue = newq;
		newq = NULL;
	}
out:
	free(newq);
	buf_free(&ci);
	return st;
}

/* The directory with pgq.sql: $SKYTOOLS_SQLDIR, else beside our own
 * binary (the build tree's bin/../sql, or an install's
 * bin/../share/skytools-c/sql). */
static char *
sql_dir(void)
{
	static const char *const rel[] = { "/../sql", "/../share/skytools-c/sql" };
	const char *env = getenv("SKYTOOLS_SQLDIR");
	char exe[PATH_MAX], *slash;
	struct buf b = {0};
	ssize_t n;
	size_t i;

	if (env != NULL && *env != '\0')
		return xstrdup(env);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		buf_reset(&b);
		buf_printf(&b, "%s%s/pgq.sql", exe, rel[i]);
		if (access(b.data, R_OK) == 0) {
			b.data[b.len - strlen("/pgq.sql")] = '\0';
			return b.data;
		}
	}
	buf_free(&b);
	return NULL;
}

static int
do_install(struct stmt *s)
{
	const char *what = name(s);
	struct buf sql = {0}, path = {0};
	char *dir, *line = NULL;
	size_t cap = 0;
	ssize_t len;
	PGresult *res;
	FILE *f;
	int st = 0;

	if (what == NULL || (strcmp(what, "pgq") != 0 &&
	    strcmp(what, "pgq_coop") != 0))
		return syntax(s, "pgq or pgq_coop");
	if (!at_end(s))
		return syntax(s, "the end of the statement");
	if ((dir = sql_dir()) == NULL) {
		warnx("install %s: cannot find pgq.sql (set SKYTOOLS_SQLDIR)", what);
		return EXIT_USAGE;
	}
	buf_printf(&path, "%s/%s.sql", dir, what);
	free(dir);
	/* An extension's objects belong to it: loading plain SQL over them
	 * would split ownership, as pgqadm install says too. */
	res = run("install", "SELECT extname FROM pg_catalog.pg_extension"
	    " WHERE extname IN ('pgq', 'pgq_coop')", 0, NULL, &st);
	if (res == NULL)
		goto out;
	if (PQntuples(res) > 0) {
		warnx("install %s: PgQ is installed as an extension here (%s);"
		    " upgrade it with ALTER EXTENSION ... UPDATE", what,
		    PQgetvalue(res, 0, 0));
		PQclear(res);
		st = EXIT_REFUSE;
		goto out;
	}
	PQclear(res);
	if ((f = fopen(path.data, "r")) == NULL) {
		warn("install %s: %s", what, path.data);
		st = EXIT_USAGE;
		goto out;
	}
	/* The scripts are written for psql -f; their only psql commands
	 * are \set lines (ON_ERROR_STOP), which a simple query has anyway:
	 * it stops at the first error and rolls back. */
	while ((len = getline(&line, &cap, f)) != -1) {
		if (strncmp(line, "\\set ", 5) == 0)
			continue;
		buf_add(&sql, line, (size_t)len);
	}
	free(line);
	if (ferror(f)) {
		warn("install %s: %s", what, path.data);
		fclose(f);
		st = EXIT_RETRY;
		goto out;
	}
	fclose(f);
	res = PQexec(conn, sql.data ? sql.data : "");
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_EMPTY_QUERY) {
		st = db_status_for(conn, res);
		warnx("install %s: %s", what, PQresultErrorField(res, PG_DIAG_SQLSTATE)
		    ? db_resmsg(res) : db_errmsg(conn));
	}
	PQclear(res);
out:
	buf_free(&path);
	buf_free(&sql);
	return st;
}

static int
do_alter(struct stmt *s)
{
	const char *q, *k, *v;
	size_t first;
	int st;

	if (!accept(s, "queue"))
		return syntax(s, "queue");
	if (is_star(peek(s))) {
		s->i++;
		q = NULL;
	} else if ((q = name(s)) == NULL) {
		return syntax(s, "a queue name or *");
	}
	if (!accept(s, "set"))
		return syntax(s, "set");
	/* Check the whole list before changing anything. */
	first = s->i;
	for (;;) {
		if (name(s) == NULL)
			return syntax(s, "a setting name");
		if (peek(s) == NULL || peek(s)->kind != T_EQ)
			return syntax(s, "=");
		s->i++;
		if (name(s) == NULL)
			return syntax(s, "a value");
		if (at_end(s))
			break;
		if (peek(s)->kind != T_COMMA)
			return syntax(s, ", or the end of the statement");
		s->i++;
	}
	if ((st = run_cmd("alter queue", "BEGIN", 0, NULL)) != 0)
		return st;
	for (s->i = first; !at_end(s); ) {
		const char *p[3];

		k = s->t[s->i].s;
		v = s->t[s->i + 2].s;
		/* The original pgq.set_queue_config takes only the short
		 * names; Skytools documents the columns (queue_...). */
		if (strncasecmp(k, "queue_", 6) == 0 && k[6] != '\0')
			k += 6;
		s->i += 3;
		if (!at_end(s))
			s->i++;
		p[0] = q;
		p[1] = k;
		p[2] = v;
		if (q != NULL) {
			PGresult *res = run("alter queue",
			    "SELECT 1 FROM pgq.get_queue_info($1)", 1, p, &st);

			if (res == NULL)
				break;
			if (PQntuples(res) == 0) {
				missing("no such queue: %s", q);
				PQclear(res);
				st = EXIT_USAGE;
				break;
			}
			PQclear(res);
			st = run_cmd("alter queue",
			    "SELECT pgq.set_queue_config($1, $2, $3)", 3, p);
		} else {
			st = run_cmd("alter queue",
			    "SELECT pgq.set_queue_config(queue_name, $1, $2)"
			    " FROM pgq.get_queue_info()", 2, p + 1);
		}
		if (st != 0)
			break;
	}
	if (st != 0) {
		if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
			PQclear(PQexec(conn, "ROLLBACK"));
		return st;
	}
	return run_cmd("alter queue", "COMMIT", 0, NULL);
}

/* "S for C [WORD Q]" of the subconsumer statements: p[0] the queue,
 * p[1] the consumer, p[2] the subconsumer.  0, or the statement's
 * status. */
static int
sub_names(struct stmt *s, const char **p, const char *word)
{
	int st = 0;

	if ((p[2] = name(s)) == NULL)
		return syntax(s, "a subconsumer name");
	if (!accept(s, "for") || (p[1] = name(s)) == NULL)
		return syntax(s, "for and a consumer name");
	if ((p[0] = queue_of(s, word, &st)) == NULL)
		return st;
	return 0;
}

/* register subconsumer S for C [on Q]: a pgq_coop subconsumer. */
static int
do_register_sub(struct stmt *s)
{
	const char *p[3];
	int st;

	if ((st = sub_names(s, p, "on")) != 0)
		return st;
	if (!at_end(s))
		return syntax(s, "on or the end of the statement");
	return run_cmd("register subconsumer",
	    "SELECT pgq_coop.register_subconsumer($1, $2, $3)", 3, p);
}

/* unregister subconsumer S for C [from Q] [close batch] */
static int
do_unregister_sub(struct stmt *s)
{
	const char *p[4];
	PGresult *res;
	int st;

	if ((st = sub_names(s, p, "from")) != 0)
		return st;
	p[3] = "0";
	if (accept(s, "close")) {
		accept(s, "batch");
		p[3] = "1";
	}
	if (!at_end(s))
		return syntax(s, "from, close batch or the end of the statement");
	res = run("unregister subconsumer",
	    "SELECT pgq_coop.unregister_subconsumer($1, $2, $3, $4::integer)",
	    4, p, &st);
	if (res == NULL)
		return st;
	if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
		missing("no such subconsumer on queue %s: %s for %s", p[0], p[2], p[1]);
		st = EXIT_USAGE;
	}
	PQclear(res);
	return st;
}

static int
do_register(struct stmt *s)
{
	const char *c, *q, *at = NULL, *copy = NULL;
	int st = 0;

	if (accept(s, "subconsumer"))
		return do_register_sub(s);
	if (!accept(s, "consumer"))
		return syntax(s, "consumer or subconsumer");
	if ((c = name(s)) == NULL)
		return syntax(s, "a consumer name");
	q = queue;
	while (!at_end(s)) {
		if (accept(s, "on")) {
			if ((q = name(s)) == NULL)
				return syntax(s, "a queue name");
		} else if (accept(s, "at")) {
			if ((at = name(s)) == NULL)
				return syntax(s, "a tick id");
		} else if (accept(s, "copy")) {
			if ((copy = name(s)) == NULL)
				return syntax(s, "a consumer name");
		} else {
			return syntax(s, "on, at, copy or the end of the statement");
		}
	}
	if (at != NULL && copy != NULL)
		return syntax(s, "at or copy, not both");
	if (q == NULL) {
		warnx("\"%s\": no queue given and no default queue "
		    "(connect queue=NAME or -Q)", s->text);
		return EXIT_USAGE;
	}
	if (copy != NULL) {
		const char *p[2] = { q, copy };
		PGresult *res = run("register consumer",
		    "SELECT last_tick::text FROM pgq.get_consumer_info($1, $2)",
		    2, p, &st);

		if (res == NULL)
			return st;
		if (PQntuples(res) == 0) {
			PQclear(res);
			return consumer_missing(q, copy);
		}
		{
			const char *p3[3] = { q, c, PQgetvalue(res, 0, 0) };

			st = run_cmd("register consumer",
			    "SELECT pgq.register_consumer_at($1, $2, $3::bigint)",
			    3, p3);
		}
		PQclear(res);
		return st;
	}
	if (at != NULL) {
		const char *p[3] = { q, c, at };

		return run_cmd("register consumer",
		    "SELECT pgq.register_consumer_at($1, $2, $3::bigint)", 3, p);
	}
	{
		const char *p[2] = { q, c };

		return run_cmd("register consumer",
		    "SELECT pgq.register_consumer($1, $2)", 2, p);
	}
}

static int
do_unregister(struct stmt *s)
{
	const char *c = NULL, *q;
	PGresult *res;
	bool all = false;
	int st = 0;

	if (accept(s, "subconsumer"))
		return do_unregister_sub(s);
	if (!accept(s, "consumer"))
		return syntax(s, "consumer or subconsumer");
	if (is_star(peek(s))) {
		s->i++;
		all = true;
	} else if ((c = name(s)) == NULL) {
		return syntax(s, "a consumer name or *");
	}
	q = queue_of(s, "from", &st);
	if (q == NULL)
		return st;
	if (!at_end(s))
		return syntax(s, "from or the end of the statement");
	if (all) {
		const char *p[1] = { q };

		return run_cmd("unregister consumer",
		    "SELECT pgq.unregister_consumer(queue_name, consumer_name)"
		    " FROM pgq.get_consumer_info($1)", 1, p);
	}
	{
		const char *p[2] = { q, c };

		res = run("unregister consumer",
		    "SELECT 1 FROM pgq.get_consumer_info($1, $2)", 2, p, &st);
		if (res == NULL)
			return st;
		if (PQntuples(res) == 0) {
			PQclear(res);
			return consumer_missing(q, c);
		}
		PQclear(res);
		return run_cmd("unregister consumer",
		    "SELECT pgq.unregister_consumer($1, $2)", 2, p);
	}
}

static int
do_show(struct stmt *s)
{
	struct buf miss = {0};
	const char *n, *q;
	int st = 0;

	if (accept(s, "help")) {
		if (!at_end(s))
			return syntax(s, "the end of the statement");
		fputs(commands_help, stdout);
		fflush(stdout);
		return 0;
	}
	if (accept(s, "queue") || accept(s, "queues")) {
		if (at_end(s) || is_star(peek(s))) {
			if (!at_end(s))
				s->i++;
			if (!at_end(s))
				return syntax(s, "the end of the statement");
			return show("show queue", "SELECT * FROM pgq.get_queue_info()"
			    " ORDER BY queue_name", 0, NULL, NULL);
		}
		if ((n = name(s)) == NULL || !at_end(s))
			return syntax(s, "a queue name");
		buf_printf(&miss, "no such queue: %s", n);
		st = show("show queue", "SELECT * FROM pgq.get_queue_info($1)",
		    1, &n, miss.data);
		buf_free(&miss);
		return st;
	}
	if (accept(s, "consumer") || accept(s, "consumers")) {
		const char *p[2];

		if (at_end(s) || is_star(peek(s))) {
			if (!at_end(s))
				s->i++;
			if (at_end(s)) {
				if (queue == NULL)
					return show("show consumer",
					    "SELECT * FROM pgq.get_consumer_info()"
					    " ORDER BY 1, 2", 0, NULL, NULL);
				p[0] = queue;
				return show("show consumer",
				    "SELECT * FROM pgq.get_consumer_info($1)"
				    " ORDER BY 1, 2", 1, p, NULL);
			}
			if ((q = queue_of(s, "on", &st)) == NULL)
				return st;
			if (!at_end(s))
				return syntax(s, "the end of the statement");
			p[0] = q;
			return show("show consumer",
			    "SELECT * FROM pgq.get_consumer_info($1) ORDER BY 1, 2",
			    1, p, NULL);
		}
		if ((n = name(s)) == NULL)
			return syntax(s, "a consumer name");
		p[1] = n;
		if (at_end(s) && queue == NULL) {
			buf_printf(&miss, "no such consumer: %s", n);
			st = show("show consumer", "SELECT * FROM pgq.get_consumer_info()"
			    " WHERE consumer_name = $1 ORDER BY 1", 1, &n, miss.data);
			buf_free(&miss);
			return st;
		}
		if ((q = queue_of(s, "on", &st)) == NULL)
			return st;
		if (!at_end(s))
			return syntax(s, "on or the end of the statement");
		p[0] = q;
		if ((st = queue_missing(q)) != 0)
			return st;
		buf_printf(&miss, "no such consumer on queue %s: %s", q, n);
		st = show("show consumer", "SELECT * FROM pgq.get_consumer_info($1, $2)",
		    2, p, miss.data);
		buf_free(&miss);
		return st;
	}
	if (accept(s, "batch")) {
		const char *p[2];
		PGresult *res;

		if ((n = name(s)) == NULL)
			return syntax(s, "a batch id or a consumer name");
		if (n[strspn(n, "0123456789")] == '\0' && *n != '\0') {
			if (!at_end(s))
				return syntax(s, "the end of the statement");
			return show("show batch",
			    "SELECT * FROM pgq.get_batch_info($1::bigint)", 1, &n, NULL);
		}
		/* show batch CONSUMER [on Q]: its open batch. */
		if ((q = queue_of(s, "on", &st)) == NULL)
			return st;
		if (!at_end(s))
			return syntax(s, "on or the end of the statement");
		p[0] = q;
		p[1] = n;
		res = run("show batch", "SELECT current_batch::text"
		    " FROM pgq.get_consumer_info($1, $2)", 2, p, &st);
		if (res == NULL)
			return st;
		if (PQntuples(res) == 0) {
			st = consumer_missing(q, n);
		} else if (PQgetisnull(res, 0, 0)) {
			warnx("consumer %s has no open batch on queue %s", n, q);
			st = EXIT_NO;
		} else {
			const char *id = PQgetvalue(res, 0, 0);

			st = show("show batch",
			    "SELECT * FROM pgq.get_batch_info($1::bigint)", 1, &id, NULL);
		}
		PQclear(res);
		return st;
	}
	if (accept(s, "batch_events")) {
		if ((n = name(s)) == NULL || !at_end(s))
			return syntax(s, "a batch id");
		return show("show batch_events",
		    "SELECT * FROM pgq.get_batch_events($1::bigint) ORDER BY ev_id",
		    1, &n, NULL);
	}
	return syntax(s, "queue, consumer, batch, batch_events or help");
}

static int
execute(struct stmt *s)
{
	const char *q;
	int st = 0;

	if (accept(s, "connect"))
		return do_connect(s);
	if (accept(s, "help")) {
		if (!at_end(s))
			return syntax(s, "the end of the statement");
		fputs(commands_help, stdout);
		fflush(stdout);
		return 0;
	}
	if (accept(s, "show"))
		return do_show(s);
	if (accept(s, "install"))
		return do_install(s);
	if (accept(s, "alter"))
		return do_alter(s);
	if (accept(s, "register"))
		return do_register(s);
	if (accept(s, "unregister"))
		return do_unregister(s);
	if (accept(s, "create") || accept(s, "drop")) {
		bool create = strcasecmp(s->t[0].s, "create") == 0;
		const char *p[1];

		if (!accept(s, "queue"))
			return syntax(s, "queue");
		if ((q = name(s)) == NULL || !at_end(s))
			return syntax(s, "a queue name");
		p[0] = q;
		if (create)
			return run_cmd("create queue",
			    "SELECT pgq.create_queue($1)", 1, p);
		{
			PGresult *res = run("drop queue",
			    "SELECT 1 FROM pgq.get_queue_info($1)", 1, p, &st);

			if (res == NULL)
				return st;
			if (PQntuples(res) == 0) {
				missing("no such queue: %s", q);
				PQclear(res);
				return EXIT_USAGE;
			}
			PQclear(res);
			/* Their pending events would be lost: refused, as
			 * pgq-drop-queue refuses it, not a failure to retry. */
			res = run("drop queue",
			    "SELECT count(*) FROM pgq.get_consumer_info($1)", 1, p, &st);
			if (res == NULL)
				return st;
			if (strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
				warnx("drop queue: queue %s has %s consumer(s); unregister"
				    " them first", q, PQgetvalue(res, 0, 0));
				PQclear(res);
				return EXIT_REFUSE;
			}
			PQclear(res);
		}
		return run_cmd("drop queue", "SELECT pgq.drop_queue($1)", 1, p);
	}
	return syntax(s, "a statement (try help;)");
}

/* ---- reading statements ---- */

struct reader {
	struct buf  text;	/* the statement so far */
	int	    quote;	/* open quote character, or 0 */
};

/* Split text into tokens; false when a quote is left open. */
static bool
tokenize(const char *p, struct stmt *s)
{
	while (*p != '\0') {
		struct buf w = {0};
		enum tkind k = T_WORD;

		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			p++;
			continue;
		}
		if (*p == '=' || *p == ',') {
			k = *p == '=' ? T_EQ : T_COMMA;
			buf_addch(&w, *p++);
		} else if (*p == '\'' || *p == '"') {
			char qc = *p++;

			k = T_QUOTED;
			for (;;) {
				if (*p == '\0') {
					buf_free(&w);
					return false;
				}
				if (*p == qc && p[1] == qc) {
					buf_addch(&w, qc);
					p += 2;
				} else if (*p == qc) {
					p++;
					break;
				} else {
					buf_addch(&w, *p++);
				}
			}
			buf_addstr(&w, "");
		} else {
			while (*p != '\0' && strchr(" \t\r\n=,'\"", *p) == NULL)
				buf_addch(&w, *p++);
		}
		s->t = xrealloc(s->t, (s->n + 1) * sizeof(*s->t));
		s->t[s->n].kind = k;
		s->t[s->n].s = w.data;
		s->n++;
	}
	return true;
}

/* Run one statement's text; returns its status. */
static int
statement(const char *text)
{
	struct stmt s = {0};
	struct buf one = {0};
	const char *p;
	size_t i;
	int st;

	/* The statement on one line, for messages. */
	for (p = text; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
		;
	buf_addstr(&one, p);
	for (i = 0; i < one.len; i++)
		if (one.data[i] == '\n' || one.data[i] == '\t' || one.data[i] == '\r')
			one.data[i] = ' ';
	while (one.len > 0 && one.data[one.len - 1] == ' ')
		one.data[--one.len] = '\0';
	if (one.len == 0) {
		buf_free(&one);
		return 0;
	}
	s.text = one.data;
	if (!tokenize(text, &s)) {
		warnx("syntax error in \"%s\": unterminated quote", s.text);
		st = EXIT_USAGE;
	} else {
		/* A lost connection: try once to get it back before the
		 * statement, so an interactive session survives a restart. */
		if (conn != NULL && PQstatus(conn) != CONNECTION_OK) {
			PQreset(conn);
			if (PQstatus(conn) == CONNECTION_OK)
				PQclear(PQexec(conn, db_session_setup_sql));
		}
		cur_text = s.text;
		st = execute(&s);
		cur_text = NULL;
	}
	for (i = 0; i < s.n; i++)
		free(s.t[i].s);
	free(s.t);
	buf_free(&one);
	return st;
}

/* quit, exit, \q: with or without a ';'. */
static bool
is_quit(const char *text)
{
	char w[8];
	size_t n = 0;

	while (*text == ' ' || *text == '\t' || *text == '\n')
		text++;
	while (*text != '\0' && *text != ' ' && *text != '\t' && *text != '\n' &&
	    *text != ';' && n < sizeof(w) - 1)
		w[n++] = *text++;
	w[n] = '\0';
	while (*text == ' ' || *text == '\t' || *text == '\n' || *text == ';')
		text++;
	return *text == '\0' && (strcasecmp(w, "quit") == 0 ||
	    strcasecmp(w, "exit") == 0 || strcmp(w, "\\q") == 0);
}

/* Feed a chunk of input; runs each complete statement.  Returns
 * -1 to go on, else the status to exit with. */
static int
feed(struct reader *r, const char *line)
{
	const char *p;
	int st;

	for (p = line; *p != '\0'; p++) {
		if (r->quote != 0) {
			if (*p == r->quote)
				r->quote = 0;
			buf_addch(&r->text, *p);
			continue;
		}
		if (*p == '\'' || *p == '"') {
			r->quote = *p;
			buf_addch(&r->text, *p);
			continue;
		}
		if (*p == '-' && p[1] == '-') {
			/* A comment to the end of the line. */
			while (p[1] != '\0' && p[1] != '\n')
				p++;
			continue;
		}
		if (*p != ';') {
			buf_addch(&r->text, *p);
			continue;
		}
		buf_addstr(&r->text, "");
		if (is_quit(r->text.data))
			return 0;
		st = statement(r->text.data);
		buf_reset(&r->text);
		if (st != 0 && !interactive)
			return st;
	}
	buf_addstr(&r->text, "");
	/* quit and \q need no ';' at the end of a line. */
	if (r->quote == 0 && strchr(line, '\n') != NULL && is_quit(r->text.data))
		return 0;
	return -1;
}

/* The end of the input: a last statement without ';' still runs. */
static int
feed_end(struct reader *r)
{
	int st = 0;

	buf_addstr(&r->text, "");
	if (r->quote != 0) {
		warnx("syntax error in \"%s\": unterminated quote", r->text.data);
		st = EXIT_USAGE;
	} else if (!is_quit(r->text.data)) {
		st = statement(r->text.data);
	}
	buf_reset(&r->text);
	return interactive ? 0 : st;
}

static int
run_file(FILE *f)
{
	struct reader r = {0};
	char *line = NULL;
	size_t cap = 0;
	int st = -1;

	for (;;) {
		if (interactive) {
			printf("%s%s%s%s ", conn ? PQdb(conn) : "(none)",
			    queue ? "/" : "", queue ? queue : "",
			    r.text.len > 0 && strspn(r.text.data, " \t\n") < r.text.len
			    ? "->" : "=>");
			fflush(stdout);
		}
		if (getline(&line, &cap, f) == -1)
			break;
		if ((st = feed(&r, line)) >= 0)
			break;
	}
	if (st < 0) {
		if (ferror(f)) {
			warn("read");
			st = EXIT_RETRY;
		} else {
			if (interactive)
				putchar('\n');
			st = feed_end(&r);
		}
	}
	free(line);
	buf_free(&r.text);
	return st;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "command", required_argument, NULL, 'c' },
		{ "dbname",  required_argument, NULL, 'd' },
		{ "file",    required_argument, NULL, 'f' },
		{ "help",    no_argument,       NULL, 'H' },
		{ "host",    required_argument, NULL, 'h' },
		{ "port",    required_argument, NULL, 'p' },
		{ "queue",   required_argument, NULL, 'Q' },
		{ "username", required_argument, NULL, 'U' },
		{ "version", no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cmds = NULL, *file = NULL;
	char *dbarg = NULL;
	struct buf ci = {0};
	int c, st;

	while ((c = getopt_long(argc, argv, "c:d:f:h:p:Q:U:V", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': cmds = optarg; break;
		case 'd': dbarg = db_conninfo_arg(optarg); break;
		case 'f': file = optarg; break;
		case 'H': help();
		/* -h -p -U are libpq's defaults: keys of a conninfo given with
		 * -d still take precedence, as in every libpq program. */
		case 'h': setenv("PGHOST", optarg, 1); break;
		case 'p': setenv("PGPORT", optarg, 1); break;
		case 'Q': queue = xstrdup(optarg); break;
		case 'U': setenv("PGUSER", optarg, 1); break;
		case 'V': print_version();
		default:  usage();
		}
	}
	/* psql's form: the database as an operand, when -d is not given. */
	if (optind == argc - 1 && dbarg == NULL)
		dbarg = db_conninfo_arg(argv[optind++]);
	if (optind != argc || (cmds != NULL && file != NULL))
		usage();
	if (dbarg != NULL) {
		/* A connection string has '=' or is a URI; else a name. */
		if (strchr(dbarg, '=') != NULL || strncmp(dbarg, "postgres://", 11) == 0 ||
		    strncmp(dbarg, "postgresql://", 13) == 0) {
			buf_addstr(&ci, dbarg);
		} else {
			const char *v;

			buf_addstr(&ci, "dbname='");
			for (v = dbarg; *v; v++) {
				if (*v == '\'' || *v == '\\')
					buf_addch(&ci, '\\');
				buf_addch(&ci, *v);
			}
			buf_addch(&ci, '\'');
		}
	}
	interactive = cmds == NULL && file == NULL && isatty(STDIN_FILENO);
	conn = open_db(ci.data);
	buf_free(&ci);
	free(dbarg);
	if (conn == NULL && !interactive)
		exit(EXIT_RETRY);
	if (queue != NULL && conn != NULL) {
		const char *p[1] = { queue };
		PGresult *res = run("look up queue",
		    "SELECT 1 FROM pgq.get_queue_info($1)", 1, p, &st);

		if (res == NULL && !interactive)
			exit(st);
		if (res != NULL && PQntuples(res) == 0) {
			missing("no such queue: %s", queue);
			if (!interactive)
				exit(EXIT_USAGE);
		}
		PQclear(res);
	}
	if (cmds != NULL) {
		struct reader r = {0};

		st = feed(&r, cmds);
		if (st < 0)
			st = feed_end(&r);
		buf_free(&r.text);
	} else if (file != NULL) {
		FILE *f = fopen(file, "r");

		if (f == NULL)
			err(EXIT_USAGE, "%s", file);
		st = run_file(f);
		fclose(f);
	} else {
		st = run_file(stdin);
	}
	PQfinish(conn);
	free(queue);
	finish(st);
}
