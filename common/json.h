/* Tier: generic (no libpq, nothing of PgQ, Londiste or WAL; includes generic headers only). */
/* json.h: JSON string output. */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>

#include "util.h"

/* Append s[0..n) as a quoted JSON string.  Bytes that are not valid
 * UTF-8 become U+FFFD so the output is always valid JSON. */
void json_string(struct buf *b, const char *s, size_t n);

#endif
