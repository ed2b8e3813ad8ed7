/* Tier: product (libpq, the stream, PgQ, Londiste or WAL; may include any header). */
/* sqlfrag.h: the SQL fragments of pgq.sqltriga events, read as data.
 *
 * pgq.sqltriga writes ev_type I, U or D and ev_data
 *   I  (col,"Col 2") values ('v',null)
 *   U  col='v',c2=NULL where pk='1' and pk2=E'a\\b'
 *   D  pk='1' and pk2='2'
 * with quote_ident()'s identifiers and quote_literal()'s values.  The
 * reader accepts exactly that grammar and returns names and values, so
 * a fragment is applied through the same parameterised statements as a
 * url-encoded row and never runs as SQL: whatever a provider writes, it
 * can at most change the row it names. */
#ifndef SQLFRAG_H
#define SQLFRAG_H

#include <stdbool.h>

#include "urlenc.h"
#include "util.h"

/* Whether ev_data of a plain I/U/D event is a fragment rather than a
 * url-encoded row (Skytools 2's logutriga wrote those plain types too):
 * url-encoding never holds a space, quote or parenthesis. */
bool sqlfrag_is_sql(const char *data);

/* Read fragment s of operation op ('I', 'U' or 'D').  Names and values
 * are decoded into arena (reset here) and pointed to by set (the
 * columns of an insert, the assignments of an update) and where (the
 * conditions of an update or delete); a NULL value is SQL NULL.
 * Returns 0, or -1 for anything outside the grammar. */
MUST_CHECK int sqlfrag_parse(char op, const char *s, struct buf *arena,
    struct urlrow *set, struct urlrow *where);

#endif
