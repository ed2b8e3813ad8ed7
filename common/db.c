/* db.c: connections, error messages, exit status mapping. */
#include <ctype.h>
#include <err.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "exitcodes.h"
#include "util.h"

static const char *oneline(const char *m, char *dst, size_t cap);

/* READ COMMITTED whatever the database's default: a tick needs it (a
 * REPEATABLE READ one is refused, for good once a rolled-back tick left
 * the tick sequence ahead of the last tick), and what needs a snapshot
 * for longer asks for it in its BEGIN. */
const char db_session_setup_sql[] =
	"SELECT pg_catalog.set_config('search_path', '', false);"
	" SET DateStyle = ISO; SET TimeZone = 'UTC'; SET extra_float_digits = 3;"
	" SET default_transaction_isolation = 'read committed'";

static PGconn *
start(const char *conninfo, int async)
{
	const char *keys[] = { "dbname", "fallback_application_name", NULL };
	const char *vals[] = { conninfo, getprogname(), NULL };

	if (conninfo == NULL || *conninfo == '\0')
		vals[0] = NULL;
	/* expand_dbname: dbname may be a whole conninfo string or URI. */
	return async ? PQconnectStartParams(keys, vals, 1)
	             : PQconnectdbParams(keys, vals, 1);
}

PGconn *
db_connect_start(const char *conninfo)
{
	return start(conninfo, 1);
}

PGconn *
db_try_connect(const char *conninfo, struct buf *msg)
{
	PGconn *conn = start(conninfo, 0);
	PGresult *res;

	if (conn == NULL) {
		buf_addstr(msg, "out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		char *m = db_mask(conninfo ? conninfo : "");

		buf_printf(msg, "connection to \"%s\" failed: %s", m, db_errmsg(conn));
		free(m);
		PQfinish(conn);
		return NULL;
	}
	res = PQexec(conn, db_session_setup_sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		buf_printf(msg, "session setup failed: %s", db_resmsg(res));
		PQclear(res);
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	return conn;
}

static int
is_uri(const char *ci)
{
	return strncmp(ci, "postgresql://", 13) == 0 ||
	    strncmp(ci, "postgres://", 11) == 0;
}

void
db_check_conninfo(const char *conninfo)
{
	PQconninfoOption *opts;
	char *err = NULL, *m;
	char line[512];

	/* libpq reads a dbname with '=' or a URI prefix as a whole
	 * connection string (expand_dbname); anything else is a name. */
	if (conninfo == NULL || (strchr(conninfo, '=') == NULL && !is_uri(conninfo)))
		return;
	opts = PQconninfoParse(conninfo, &err);
	if (opts != NULL) {
		PQconninfoFree(opts);
		return;
	}
	m = db_mask(conninfo);
	/* libpq quotes a bad URI whole, password included: then its words
	 * stay out.  Its key=value messages name keys only. */
	if (err != NULL && (!is_uri(conninfo) || strcmp(m, conninfo) == 0))
		errx(EXIT_USAGE, "invalid connection string \"%s\": %s", m,
		    oneline(err, line, sizeof(line)));
	errx(EXIT_USAGE, "invalid connection string \"%s\"", m);
}

PGconn *
db_connect(const char *conninfo)
{
	struct buf msg = {0};
	PGconn *conn;

	db_check_conninfo(conninfo);
	conn = db_try_connect(conninfo, &msg);

	if (conn == NULL)
		errx(EXIT_RETRY, "%s", msg.data);
	return conn;
}

/* Passwords in a connection string, or in a message that quotes one
 * (libpq's errors echo a bad URI whole).  Both forms, as libpq parses
 * them: key=value with any white space around "=" (password=x,
 * password = 'x y', password\t=a\ b), and URI (scheme://user:secret@host,
 * ?password=x, the key percent-encoded too: ?pass%77ord=x).  Calls
 * mark(ctx, offset, length) for each secret, left to right. */
typedef void mark_fn(void *ctx, size_t off, size_t len);

/* Whether s[0..n) percent-decodes to "password". */
static int
is_password_key(const char *s, size_t n)
{
	static const char want[] = "password";
	size_t i, j = 0;

	for (i = 0; i < n; i++, j++) {
		int c = (unsigned char)s[i];

		if (c == '%' && i + 2 < n && hex_digit(s[i + 1]) >= 0 &&
		    hex_digit(s[i + 2]) >= 0) {
			c = hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]);
			i += 2;
		}
		if (j >= sizeof(want) - 1 || c != want[j])
			return 0;
	}
	return j == sizeof(want) - 1;
}

/* The URI body at p (after "://"), up to its end: percent-encoding
 * keeps white space and quotes out of a URI, so they end it in a
 * message.  Marks the user:secret@ part and password query values;
 * returns the end. */
static const char *
uri_secrets(const char *ci, const char *p, mark_fn *mark, void *ctx)
{
	const char *end = p, *q, *at = NULL, *colon = NULL;

	while (*end != '\0' && !isspace((unsigned char)*end) && *end != '"' &&
	    *end != '\'')
		end++;
	/* libpq ends the user part at the first @ before a /; the last
	 * one also covers a password that holds a raw @. */
	for (q = p; q < end && *q != '/'; q++)
		if (*q == '@')
			at = q;
	for (q = p; at != NULL && q < at; q++)
		if (*q == ':') {
			colon = q;
			break;
		}
	if (colon != NULL)
		mark(ctx, (size_t)(colon + 1 - ci), (size_t)(at - colon - 1));
	for (q = at ? at : p; q < end && *q != '?'; q++)
		;
	while (q < end) {
		const char *key = q + 1, *eq, *val, *amp;

		for (amp = key; amp < end && *amp != '&'; amp++)
			;
		for (eq = key; eq < amp && *eq != '='; eq++)
			;
		if (eq < amp && is_password_key(key, (size_t)(eq - key))) {
			val = eq + 1;
			mark(ctx, (size_t)(val - ci), (size_t)(amp - val));
		}
		q = amp;
	}
	return end;
}

static void
find_secrets(const char *ci, mark_fn *mark, void *ctx)
{
	const char *p = ci, *v, *e;

	while (*p != '\0') {
		if (strncmp(p, "://", 3) == 0) {
			p = uri_secrets(ci, p + 3, mark, ctx);
			continue;
		}
		if (strncmp(p, "password", 8) != 0) {
			p++;
			continue;
		}
		v = p + 8;
		while (isspace((unsigned char)*v))
			v++;
		if (*v != '=') {
			p += 8;
			continue;
		}
		v++;
		while (isspace((unsigned char)*v))
			v++;
		e = v;
		if (*e == '\'') {
			for (e++; *e != '\0' && *e != '\''; e++)
				if (*e == '\\' && e[1] != '\0')
					e++;
			if (*e == '\'')
				e++;
		} else {
			for (; *e != '\0' && !isspace((unsigned char)*e); e++)
				if (*e == '\\' && e[1] != '\0')
					e++;
		}
		mark(ctx, (size_t)(v - ci), (size_t)(e - v));
		p = e;
	}
}

struct masking {
	const char *src;
	struct buf out;
	size_t done;
};

static void
mask_span(void *ctx, size_t off, size_t len)
{
	struct masking *m = ctx;

	buf_add(&m->out, m->src + m->done, off - m->done);
	buf_add(&m->out, "********", 8);
	m->done = off + len;
}

char *
db_mask(const char *conninfo)
{
	struct masking m = { conninfo, {0}, 0 };

	find_secrets(conninfo, mask_span, &m);
	buf_add(&m.out, conninfo + m.done, strlen(conninfo + m.done));
	return m.out.data ? m.out.data : xstrdup("");
}

static void
scrub_span(void *ctx, size_t off, size_t len)
{
	memset((char *)ctx + off, '*', len);
}

char *
db_conninfo_arg(char *arg)
{
	char *copy = xstrdup(arg);

	/* ps reads the argument vector from the process's own memory, so
	 * overwriting it in place hides the secret from other users. */
	find_secrets(copy, scrub_span, arg);
	db_check_conninfo(copy);
	return copy;
}

/* libpq messages end in a newline and may span lines; stderr gets one.
 * Masked: libpq's errors about a bad URI quote it whole, secret and all. */
static const char *
oneline(const char *msg, char *dst, size_t cap)
{
	char *m = db_mask(msg);
	size_t i, j = 0;

	for (i = 0; m[i] != '\0' && j + 1 < cap; i++) {
		char c = m[i];

		if (c == '\n') {
			if (m[i + 1] == '\0')
				break;
			if (j + 2 < cap) {
				dst[j++] = ';';
				dst[j++] = ' ';
			}
			continue;
		}
		dst[j++] = c == '\t' ? ' ' : c;
	}
	dst[j] = '\0';
	free(m);
	return dst;
}

const char *
db_errmsg(PGconn *conn)
{
	static char line[1024];

	if (conn == NULL)
		return "out of memory";
	return oneline(PQerrorMessage(conn), line, sizeof(line));
}

const char *
db_resmsg(const PGresult *res)
{
	static char line[1024];
	const char *prim, *det;
	char tmp[1024];

	if (res == NULL)
		return "no result (out of memory or lost connection)";
	prim = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	det = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	if (prim == NULL)
		return oneline(PQresultErrorMessage(res), line, sizeof(line));
	if (det != NULL)
		snprintf(tmp, sizeof(tmp), "%s (%s)", prim, det);
	else
		snprintf(tmp, sizeof(tmp), "%s", prim);
	return oneline(tmp, line, sizeof(line));
}

int
db_status_for(PGconn *conn, const PGresult *res)
{
	const char *st;

	if (conn != NULL && PQstatus(conn) != CONNECTION_OK)
		return EXIT_RETRY;
	st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (st == NULL)
		return EXIT_RETRY;
	/* 22 data exception, 23 constraint, 42 syntax/undefined object,
	 * 2B/3F missing objects, P0 our own RAISEs (unknown queue ...). */
	if (strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0 ||
	    strncmp(st, "42", 2) == 0 || strncmp(st, "3F", 2) == 0 ||
	    strncmp(st, "P0", 2) == 0)
		return EXIT_USAGE;
	return EXIT_RETRY;
}

void
db_die(PGconn *conn, const PGresult *res, const char *what)
{
	int code = db_status_for(conn, res);

	if (res == NULL || PQresultStatus(res) == PGRES_FATAL_ERROR ||
	    PQresultStatus(res) == PGRES_NONFATAL_ERROR)
		warnx("%s: %s", what, res && PQresultErrorField(res, PG_DIAG_SQLSTATE)
		    ? db_resmsg(res) : db_errmsg(conn));
	else
		warnx("%s: unexpected result %s", what,
		    PQresStatus(PQresultStatus(res)));
	exit(code);
}

PGresult *
db_exec(PGconn *conn, const char *what, const char *sql,
        int nparams, const char *const *params)
{
	PGresult *res;

	if (nparams == 0)
		res = PQexec(conn, sql);
	else
		res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_COMMAND_OK)
		db_die(conn, res, what);
	return res;
}

void
db_cmd(PGconn *conn, const char *what, const char *sql,
       int nparams, const char *const *params)
{
	PQclear(db_exec(conn, what, sql, nparams, params));
}

void
db_quote_ident(struct buf *b, const char *name)
{
	buf_addch(b, '"');
	for (; *name != '\0'; name++) {
		if (*name == '"')
			buf_addch(b, '"');
		buf_addch(b, *name);
	}
	buf_addch(b, '"');
}

char *
db_ident(PGconn *conn, const char *name)
{
	char *q = PQescapeIdentifier(conn, name, strlen(name));

	if (q == NULL)
		errx(EXIT_USAGE, "cannot quote identifier: %s", db_errmsg(conn));
	return q;
}
