/* londiste-repair: the SQL that makes a subscriber table equal to the
 * provider's, from both sides streamed in key order and merged. */
#include <err.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copytext.h"
#include "db.h"
#include "exitcodes.h"
#include "lonpoint.h"
#include "util.h"

#define USAGE "usage: londiste-repair -s provider [-d subscriber] --consumer name" \
	" [--apply] [--lock-timeout seconds] table\n"

/* One side's COPY stream, one row at a time. */
struct side {
	PGconn *conn;
	const char *what;
	char *raw;		/* the row as COPY sent it, without newline */
	int len;
	char **f;		/* decoded fields (copies) */
	bool *null;
	int nf;
	bool eof;
};

static struct lontable t;
static PGconn *slock;
static bool apply;
static long long ndiff;
static struct buf out;

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
	    "Compare a table row by row at one point of the stream and print the\n"
	    "SQL (one transaction) that makes the subscriber equal to the provider.\n"
	    "\n"
	    "  -s, --provider=CONNINFO    provider database\n"
	    "  -d, --dbname=CONNINFO      subscriber database (default: PG* environment)\n"
	    "  -c, --consumer=NAME        consumer that replays the queue\n"
	    "  -a, --apply                also run the SQL on the subscriber\n"
	    "  -t, --lock-timeout=SECONDS wait for the provider lock and the\n"
	    "                             subscriber at most this long (default 10)\n"
	    "  -h, --help                 show this help\n"
	    "  -V, --version              show the version\n");
	finish(EXIT_DONE);
}

static void
side_next(struct side *s)
{
	char *buf, *p;
	int n, i;

	PQfreemem(s->raw);
	s->raw = NULL;
	for (i = 0; i < s->nf; i++)
		free(s->f[i]);
	s->nf = 0;
	n = PQgetCopyData(s->conn, &buf, 0);
	if (n == -1) {
		PGresult *res = PQgetResult(s->conn);

		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			db_die(s->conn, res, s->what);
		PQclear(res);
		s->eof = true;
		return;
	}
	if (n < 0)
		errx(EXIT_RETRY, "%s: %s", s->what, db_errmsg(s->conn));
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	s->raw = buf;
	s->len = n;
	for (p = buf; ; ) {
		char *tab = strchr(p, '\t');
		size_t l = tab ? (size_t)(tab - p) : strlen(p);

		if (s->nf == t.ncol)
			errx(EXIT_RETRY, "%s: row has too many columns", s->what);
		s->f[s->nf] = xmalloc(l + 1);
		memcpy(s->f[s->nf], p, l);
		s->f[s->nf][l] = '\0';
		s->null[s->nf] = copytext_is_null(s->f[s->nf]);
		if (!s->null[s->nf] && copytext_unescape(s->f[s->nf]) < 0)
			errx(EXIT_RETRY, "%s: bad COPY escape", s->what);
		s->nf++;
		if (tab == NULL)
			break;
		p = tab + 1;
	}
	if (s->nf != t.ncol)
		errx(EXIT_RETRY, "%s: row has %d columns, expected %d", s->what, s->nf, t.ncol);
}

/* Key columns come first in both streams, ordered bytewise (COLLATE "C"
 * on their text form), so strcmp orders them as the server did. */
static int
keycmp(const struct side *a, const struct side *b)
{
	int i, c;

	for (i = 0; i < t.npk; i++)
		if ((c = strcmp(a->f[i], b->f[i])) != 0)
			return c < 0 ? -1 : 1;
	return 0;
}

static void
literal(struct buf *b, const struct side *s, int i)
{
	const char *v;

	if (s->null[i]) {
		buf_addstr(b, "NULL");
		return;
	}
	buf_addch(b, '\'');
	for (v = s->f[i]; *v != '\0'; v++) {
		if (*v == '\'')
			buf_addch(b, '\'');
		buf_addch(b, *v);
	}
	buf_addch(b, '\'');
}

static int *order;		/* stream position -> column index */

static void
where(struct buf *b, const struct side *s)
{
	int i;

	buf_addstr(b, " WHERE ");
	for (i = 0; i < t.npk; i++) {
		if (i > 0)
			buf_addstr(b, " AND ");
		buf_printf(b, "%s = ", t.colv[order[i]]);
		literal(b, s, i);
	}
}

static void
emit(void)
{
	PGresult *res;

	if (ndiff++ == 0) {
		fputs("BEGIN;\nSET LOCAL session_replication_role = replica;\n", stdout);
	}
	fwrite(out.data, 1, out.len, stdout);
	fputs(";\n", stdout);
	if (apply) {
		res = PQexec(slock, out.data);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			db_die(slock, res, "repair");
		PQclear(res);
	}
	buf_reset(&out);
}

/* order[]: keys first, then the other columns. */
static void
key_order(void)
{
	int i, j, k = t.npk;

	order = xmalloc((size_t)t.ncol * sizeof(*order));
	for (i = 0; i < t.npk; i++)
		order[i] = t.pkidx[i];
	for (j = 0; j < t.ncol; j++) {
		for (i = 0; i < t.npk; i++)
			if (t.pkidx[i] == j)
				break;
		if (i == t.npk)
			order[k++] = j;
	}
}

/* Start the COPY of the table, in key order, on both sides. */
static void
start_copies(struct side *ps, struct side *ss)
{
	struct buf sel = {0}, sql = {0};
	PGresult *res;
	char *tail;
	int i;

	buf_addstr(&sel, "COPY (SELECT ");
	for (i = 0; i < t.ncol; i++)
		buf_printf(&sel, "%s%s", i ? "," : "", t.colv[order[i]]);
	buf_addstr(&sel, " FROM ");
	buf_addstr(&sql, " ORDER BY ");
	for (i = 0; i < t.npk; i++)
		buf_printf(&sql, "%s(%s)::text COLLATE \"C\"", i ? "," : "", t.colv[order[i]]);
	buf_addstr(&sql, ") TO STDOUT");
	tail = xstrdup(sql.data);
	buf_reset(&sql);

	ps->f = xmalloc((size_t)t.ncol * sizeof(*ps->f));
	ss->f = xmalloc((size_t)t.ncol * sizeof(*ss->f));
	ps->null = xmalloc((size_t)t.ncol * sizeof(*ps->null));
	ss->null = xmalloc((size_t)t.ncol * sizeof(*ss->null));
	buf_printf(&sql, "%s%s%s", sel.data, t.pqname, tail);
	res = PQexec(ps->conn, sql.data);
	if (PQresultStatus(res) != PGRES_COPY_OUT)
		db_die(ps->conn, res, ps->what);
	PQclear(res);
	buf_reset(&sql);
	buf_printf(&sql, "%s%s%s", sel.data, t.sqname, tail);
	res = PQexec(ss->conn, sql.data);
	if (PQresultStatus(res) != PGRES_COPY_OUT)
		db_die(ss->conn, res, ss->what);
	PQclear(res);
	free(tail);
	buf_free(&sel);
	buf_free(&sql);
}

/* A row only the provider has. */
static void
emit_insert(const struct side *ps)
{
	int i;

	buf_printf(&out, "INSERT INTO %s (", t.sqname);
	for (i = 0; i < t.ncol; i++)
		buf_printf(&out, "%s%s", i ? "," : "", t.colv[order[i]]);
	buf_addstr(&out, ") VALUES (");
	for (i = 0; i < t.ncol; i++) {
		if (i > 0)
			buf_addch(&out, ',');
		literal(&out, ps, i);
	}
	buf_addch(&out, ')');
	emit();
}

/* A row both have, with other values on the provider. */
static void
emit_update(const struct side *ps)
{
	int i;

	buf_printf(&out, "UPDATE %s SET ", t.sqname);
	for (i = t.npk; i < t.ncol; i++) {
		buf_printf(&out, "%s%s = ", i > t.npk ? ", " : "",
		    t.colv[order[i]]);
		literal(&out, ps, i);
	}
	if (t.npk == t.ncol)
		buf_printf(&out, "%s = %s", t.colv[order[0]],
		    t.colv[order[0]]);
	where(&out, ps);
	emit();
}

/* Merge the two key-ordered streams, emitting a statement per difference. */
static void
merge_sides(struct side *ps, struct side *ss)
{
	side_next(ps);
	side_next(ss);
	while (!ps->eof || !ss->eof) {
		int d = ps->eof ? 1 : ss->eof ? -1 : keycmp(ps, ss);

		if (d < 0) {
			emit_insert(ps);
			side_next(ps);
		} else if (d > 0) {
			buf_printf(&out, "DELETE FROM %s", t.sqname);
			where(&out, ss);
			emit();
			side_next(ss);
		} else {
			if (ps->len != ss->len ||
			    memcmp(ps->raw, ss->raw, (size_t)ps->len) != 0)
				emit_update(ps);
			side_next(ps);
			side_next(ss);
		}
	}
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "apply", no_argument, NULL, 'a' },
		{ "consumer", required_argument, NULL, 'c' },
		{ "dbname", required_argument, NULL, 'd' },
		{ "lock-timeout", required_argument, NULL, 't' },
		{ "provider", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dbname = NULL, *provider = NULL, *consumer = NULL;
	long long timeout_ms = 10000;
	PGconn *sub, *plock;
	struct side ps = {0}, ss = {0};
	char *only_p, *only_s;
	int c;

	while ((c = getopt_long(argc, argv, "ac:d:hs:t:V", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			apply = true;
			break;
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
		case 't':
			timeout_ms = lon_timeout_arg(optarg);
			break;
		case 'V':
			print_version();
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1 || provider == NULL || consumer == NULL)
		usage();

	sub = db_connect(dbname);
	ss.conn = db_connect(dbname);
	plock = db_connect(provider);
	ps.conn = db_connect(provider);
	ps.what = "read the provider";
	ss.what = "read the subscriber";
	lon_table(sub, consumer, argv[optind], &t);
	if (t.npk == 0)
		errx(EXIT_USAGE, "table %s has no primary key", t.name);
	lon_provider(ps.conn, &t);
	/* The columns both sides have, as londiste-copy copies them: a
	 * row only the provider has is inserted with those, the others
	 * taking their defaults, and only those are updated. */
	if (lon_common_columns(ps.conn, &t, &only_p, &only_s) < 0)
		errx(EXIT_USAGE, "table %s: a key column is not on the provider"
		    " (subscriber only: %s)", t.name, only_s);
	if (only_p != NULL)
		warnx("table %s: column(s) %s of the provider are not here:"
		    " left out", t.name, only_p);
	if (only_s != NULL)
		warnx("table %s: column(s) %s here are not on the provider:"
		    " left as they are", t.name, only_s);
	free(only_p);
	free(only_s);
	if (apply)
		slock = sub;
	lon_point(plock, ps.conn, ss.conn, slock, consumer, &t, timeout_ms);

	key_order();
	start_copies(&ps, &ss);
	merge_sides(&ps, &ss);
	if (ndiff > 0)
		fputs("COMMIT;\n", stdout);
	if (apply)
		db_cmd(slock, "commit the repair", "COMMIT", 0, NULL);
	db_cmd(ps.conn, "end", "COMMIT", 0, NULL);
	db_cmd(ss.conn, "end", "COMMIT", 0, NULL);
	if (ndiff > 0)
		warnx("table %s: %lld differences%s", t.name, ndiff,
		    apply ? ", repaired" : "");

	free(order);
	free(ps.f);
	free(ss.f);
	free(ps.null);
	free(ss.null);
	buf_free(&out);
	lontable_free(&t);
	PQfinish(sub);
	PQfinish(ss.conn);
	PQfinish(plock);
	PQfinish(ps.conn);
	finish(ndiff > 0 ? EXIT_NO : EXIT_DONE);
}
