/* urlenc.c: decode and encode pgq.logutriga's url-encoded rows. */
#include <stdlib.h>
#include <string.h>

#include "urlenc.h"
#include "util.h"

/* Decode s[0..] up to its NUL in place. */
static int
decode(char *s)
{
	char *r = s, *w = s;

	for (; *r != '\0'; r++) {
		if (*r == '+') {
			*w++ = ' ';
		} else if (*r == '%') {
			int hi = hex_digit((unsigned char)r[1]), lo;

			if (hi < 0)
				return -1;
			lo = hex_digit((unsigned char)r[2]);
			if (lo < 0 || (hi == 0 && lo == 0))
				return -1;
			*w++ = (char)(hi * 16 + lo);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return 0;
}

int
urlenc_parse(char *s, struct urlrow *r)
{
	char *p = s;

	r->n = 0;
	if (*s == '\0')
		return 0;
	for (;;) {
		char *amp = strchr(p, '&'), *eq;

		if (amp != NULL)
			*amp = '\0';
		eq = strchr(p, '=');
		if (eq != NULL)
			*eq = '\0';
		if (*p == '\0')
			return -1;
		if (decode(p) < 0 || (eq != NULL && decode(eq + 1) < 0))
			return -1;
		urlrow_add(r, p, eq ? eq + 1 : NULL);
		if (amp == NULL)
			break;
		p = amp + 1;
	}
	return 0;
}

void
urlrow_add(struct urlrow *r, char *key, char *val)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->f = xrealloc(r->f, (size_t)r->cap * sizeof(*r->f));
	}
	r->f[r->n].key = key;
	r->f[r->n].val = val;
	r->n++;
}

void
urlrow_free(struct urlrow *r)
{
	free(r->f);
	memset(r, 0, sizeof(*r));
}

void
urlenc_encode(struct buf *b, const char *s, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-') {
			buf_addch(b, (char)c);
		} else if (c == ' ') {
			buf_addch(b, '+');
		} else {
			buf_addch(b, '%');
			buf_addch(b, hx[c >> 4]);
			buf_addch(b, hx[c & 15]);
		}
	}
}
