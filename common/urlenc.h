/* Tier: product (libpq, the stream, PgQ, Londiste or WAL; may include any header). */
/* urlenc.h: the url-encoded rows of pgq.logutriga events (key=value&...). */
#ifndef URLENC_H
#define URLENC_H

#include <stddef.h>

#include "util.h"

/* One column of a row: val is NULL for SQL NULL (a key without '='). */
struct urlfield {
	char *key;
	char *val;
};

struct urlrow {
	struct urlfield *f;
	int n;
	int cap;
};

/* Split s at '&' and '=' and decode %XX and '+' in place; r->f points
 * into s afterwards.  Returns 0, or -1 for a malformed escape, a NUL
 * byte or an empty key.  A key given twice is the caller's to refuse:
 * a row of a known shape needs no check (londiste-apply checks each
 * shape once). */
MUST_CHECK int urlenc_parse(char *s, struct urlrow *r);

/* Append a column to r. */
void urlrow_add(struct urlrow *r, char *key, char *val);

void urlrow_free(struct urlrow *r);

/* Append s[0..n) url-encoded as pgq.logutriga does (space as '+'). */
void urlenc_encode(struct buf *b, const char *s, size_t n);

#endif
