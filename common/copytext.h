/* Tier: generic (no libpq, nothing of PgQ, Londiste or WAL; includes generic headers only). */
/* copytext.h: PostgreSQL COPY text-format escaping of one field value. */
#ifndef COPYTEXT_H
#define COPYTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* True when a raw field is the NULL marker \N. */
bool copytext_is_null(const char *raw);

/* Unescape a raw field in place; returns the new length (the value may
 * hold NUL bytes only if the input spelled one, which COPY never does),
 * or -1 when the field holds a malformed escape or is \N. */
MUST_CHECK long copytext_unescape(char *s);

/* True when a raw field is \N or a well-formed escaped value (what
 * copytext_unescape() accepts), checked without changing it. */
bool copytext_valid(const char *raw);

/* Cut a line (without its newline) at its TABs, in place, into at most
 * max raw fields f[]; returns how many, or -1 when it has more. */
MUST_CHECK int copytext_split(char *line, char **f, int max);

/* Append s[0..n) to b, escaped for COPY text format. */
void copytext_escape(struct buf *b, const char *s, size_t n);

#endif
