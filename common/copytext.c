/* copytext.c: COPY text escaping, strict about what it accepts. */
#include <stdlib.h>
#include <string.h>

#include "copytext.h"
#include "util.h"

bool
copytext_is_null(const char *raw)
{
	return raw[0] == '\\' && raw[1] == 'N' && raw[2] == '\0';
}

bool
copytext_valid(const char *raw)
{
	const char *p;

	if (copytext_is_null(raw))
		return true;
	for (p = strchr(raw, '\\'); p != NULL; p = strchr(p, '\\')) {
		switch (p[1]) {
		case '\\': case 'b': case 'f': case 'n': case 'r': case 't': case 'v':
			p += 2;
			continue;
		default:
			break;
		}
		/* Rare escapes: let the unescaper judge a scratch copy. */
		{
			char *tmp = xstrdup(p);
			bool ok = copytext_unescape(tmp) >= 0;

			free(tmp);
			return ok;
		}
	}
	return true;
}

long
copytext_unescape(char *s)
{
	char *r = s, *w = s;

	if (copytext_is_null(s))
		return -1;
	while (*r != '\0') {
		int c = (unsigned char)*r++;

		if (c != '\\') {
			*w++ = (char)c;
			continue;
		}
		c = (unsigned char)*r++;
		switch (c) {
		case '\\': *w++ = '\\'; break;
		case 'b':  *w++ = '\b'; break;
		case 'f':  *w++ = '\f'; break;
		case 'n':  *w++ = '\n'; break;
		case 'r':  *w++ = '\r'; break;
		case 't':  *w++ = '\t'; break;
		case 'v':  *w++ = '\v'; break;
		case '0': case '1': case '2': case '3':
		case '4': case '5': case '6': case '7': {
			int v = c - '0', i;

			for (i = 0; i < 2 && *r >= '0' && *r <= '7'; i++)
				v = v * 8 + (*r++ - '0');
			if (v == 0 || v > 255)
				return -1;
			*w++ = (char)v;
			break;
		}
		case 'x': {
			int v = hex_digit((unsigned char)*r);

			if (v < 0)
				return -1;
			r++;
			if (hex_digit((unsigned char)*r) >= 0)
				v = v * 16 + hex_digit((unsigned char)*r++);
			if (v == 0)
				return -1;
			*w++ = (char)v;
			break;
		}
		default:
			/* A lone trailing backslash, \N inside a value, or an
			 * escape COPY never writes: reject rather than guess. */
			return -1;
		}
	}
	*w = '\0';
	return (long)(w - s);
}

void
copytext_escape(struct buf *b, const char *s, size_t n)
{
	size_t i, start = 0;

	buf_reserve(b, n);
	for (i = 0; i < n; i++) {
		const char *e;

		switch (s[i]) {
		case '\\': e = "\\\\"; break;
		case '\t': e = "\\t"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\b': e = "\\b"; break;
		case '\f': e = "\\f"; break;
		case '\v': e = "\\v"; break;
		default: continue;
		}
		buf_add(b, s + start, i - start);
		buf_add(b, e, 2);
		start = i + 1;
	}
	buf_add(b, s + start, n - start);
}

int
copytext_split(char *line, char **f, int max)
{
	char *p = line, *tab;
	int n = 0;

	for (;;) {
		if (n == max)
			return -1;
		f[n++] = p;
		tab = strchr(p, '\t');
		if (tab == NULL)
			return n;
		*tab = '\0';
		p = tab + 1;
	}
}
