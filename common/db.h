/* Tier: product (libpq, the stream, PgQ, Londiste or WAL; may include any header). */
/* db.h: libpq connections with the project's conventions.
 *
 * Every connection carries application_name (the program's name, unless
 * the connection string sets one), DateStyle=ISO and TimeZone=UTC, so
 * times in the stream read the same everywhere.  Every failure maps to
 * an exit status of exitcodes.h and a one-line message with passwords
 * masked. */
#ifndef DB_H
#define DB_H

#include <libpq-fe.h>

#include "util.h"

/* Connect (conninfo may be NULL: PG* environment).  Exits EXIT_USAGE on
 * a malformed connection string, EXIT_RETRY with a message on any other
 * failure. */
PGconn *db_connect(const char *conninfo);

/* Same, but returns NULL and fills msg (masked) instead of exiting. */
PGconn *db_try_connect(const char *conninfo, struct buf *msg);

/* Start a non-blocking connection (for daemons serving many databases);
 * NULL only when out of memory. */
PGconn *db_connect_start(const char *conninfo);
/* Settings to send once a db_connect_start() connection is up. */
extern const char db_session_setup_sql[];

/* Exit EXIT_USAGE with a message when conninfo is a connection string
 * (key=value or URI) that libpq cannot parse: no retry can fix it.
 * db_connect and db_conninfo_arg call it. */
void db_check_conninfo(const char *conninfo);

/* A copy of conninfo with any password replaced by "********". */
char *db_mask(const char *conninfo);

/* A copy of a conninfo given on the command line, with the password in
 * arg itself overwritten by asterisks so that ps does not show it, and
 * checked with db_check_conninfo.  Call it on the optarg of every -d/-s
 * option. */
char *db_conninfo_arg(char *arg);

/* libpq's last error for conn, one line, without the trailing newline. */
const char *db_errmsg(PGconn *conn);

/* The error of a result, one line (primary message, plus detail). */
const char *db_resmsg(const PGresult *res);

/* Exit status for a failed result: EXIT_USAGE for errors a retry cannot
 * fix (bad data, unknown object, our own RAISEs), EXIT_RETRY for the rest
 * (connection, server, lock, serialization). */
int db_status_for(PGconn *conn, const PGresult *res);

/* Run sql with optional text parameters; on failure print
 * "prog: what: message" and exit with db_status_for().  Returns the
 * result (PGRES_TUPLES_OK or PGRES_COMMAND_OK); caller clears it. */
PGresult *db_exec(PGconn *conn, const char *what, const char *sql,
                  int nparams, const char *const *params);

/* db_exec() for statements without a useful result. */
void db_cmd(PGconn *conn, const char *what, const char *sql,
            int nparams, const char *const *params);

/* Report a failed result and exit with its status. */
NORETURN void db_die(PGconn *conn, const PGresult *res, const char *what);

/* Append name to b as a quoted identifier: always in double quotes, a
 * double quote doubled (what PQescapeIdentifier() writes, without
 * needing a connection). */
void db_quote_ident(struct buf *b, const char *name);

/* Quote an identifier; caller frees with PQfreemem.  Exits on failure. */
char *db_ident(PGconn *conn, const char *name);

#endif
