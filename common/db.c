/* db.c: connections, error messages, exit status mapping. */
#include <err.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "exitcodes.h"
#include "util.h"

static const char *oneline(const char *m, char *dst, size_t cap);

const char db_session_setup_sql[] =
	"SET DateStyle = ISO; SET TimeZone = 'UTC'; SET extra_float_digits = 3";

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

/* The next password in conninfo at or after *pos: its value's offset
 * and length (quotes included).  Both forms: key=value (password=x,
 * password = 'x y') and URI (scheme://user:secret@host, ?password=x).
 * Returns 0 when there is none. */
static int
next_secret(const char *ci, size_t *pos, size_t *off, size_t *len)
{
	const char *p, *v, *e;

	for (p = ci + *pos; (p = strstr(p, "password")) != NULL; p += 8) {
		v = p + 8;
		while (*v == ' ')
			v++;
		if (*v != '=')
			continue;
		v++;
		while (*v == ' ')
			v++;
		e = v;
		if (*e == '\'') {
			for (e++; *e != '\0' && *e != '\''; e++)
				if (*e == '\\' && e[1] != '\0')
					e++;
			if (*e == '\'')
				e++;
		} else {
			while (*e != '\0' && *e != ' ' && *e != '&')
				e++;
		}
		*off = (size_t)(v - ci);
		*len = (size_t)(e - v);
		*pos = (size_t)(e - ci);
		return 1;
	}
	return 0;
}

/* The span of the secret of a URI's user:secret@ part, if any. */
static int
uri_secret(const char *ci, size_t *off, size_t *len)
{
	const char *p = strstr(ci, "://"), *at, *colon, *slash;

	if (p == NULL)
		return 0;
	at = strchr(p + 3, '@');
	colon = strchr(p + 3, ':');
	slash = strchr(p + 3, '/');
	if (at == NULL || colon == NULL || colon > at ||
	    (slash != NULL && slash < at))
		return 0;
	*off = (size_t)(colon + 1 - ci);
	*len = (size_t)(at - colon - 1);
	return 1;
}

char *
db_mask(const char *conninfo)
{
	struct buf out = {0};
	size_t pos = 0, done = 0, off, len;
	const char *ci = conninfo;

	if (uri_secret(ci, &off, &len)) {
		buf_add(&out, ci, off);
		buf_add(&out, "********", 8);
		done = pos = off + len;
	}
	while (next_secret(ci, &pos, &off, &len)) {
		buf_add(&out, ci + done, off - done);
		buf_add(&out, "********", 8);
		done = off + len;
	}
	buf_add(&out, ci + done, strlen(ci + done));
	return out.data ? out.data : xstrdup("");
}

char *
db_conninfo_arg(char *arg)
{
	char *copy = xstrdup(arg);
	size_t pos = 0, off, len;

	/* ps reads the argument vector from the process's own memory, so
	 * overwriting it in place hides the secret from other users. */
	if (uri_secret(arg, &off, &len)) {
		memset(arg + off, '*', len);
		pos = off + len;
	}
	while (next_secret(arg, &pos, &off, &len))
		memset(arg + off, '*', len);
	db_check_conninfo(copy);
	return copy;
}

/* libpq messages end in a newline and may span lines; stderr gets one. */
static const char *
oneline(const char *m, char *dst, size_t cap)
{
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

char *
db_ident(PGconn *conn, const char *name)
{
	char *q = PQescapeIdentifier(conn, name, strlen(name));

	if (q == NULL)
		errx(EXIT_USAGE, "cannot quote identifier: %s", db_errmsg(conn));
	return q;
}

int
db_has_our_pgq(PGconn *conn)
{
	PGresult *res = db_exec(conn, "probe pgq flavour",
	    "SELECT to_regprocedure('pgq.skytools_c_version()') IS NOT NULL", 0, NULL);
	int ours = strcmp(PQgetvalue(res, 0, 0), "t") == 0;

	PQclear(res);
	return ours;
}
