/* sqlfrag.c: read pgq.sqltriga's SQL fragments as names and values. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sqlfrag.h"

struct rd {
	const char *p;
	struct buf *arena;
};

bool
sqlfrag_is_sql(const char *data)
{
	return strpbrk(data, " '\"()") != NULL;
}

static bool
ident_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '$' || c >= 0x80;
}

static void
skip_ws(struct rd *r)
{
	while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
		r->p++;
}

/* The keyword kw (lower case) as a whole word, any case. */
static bool
keyword(struct rd *r, const char *kw)
{
	size_t n = strlen(kw), i;

	for (i = 0; i < n; i++)
		if ((r->p[i] | 0x20) != kw[i])
			return false;
	if (ident_char((unsigned char)r->p[n]))
		return false;
	r->p += n;
	return true;
}

static bool
punct(struct rd *r, char c)
{
	skip_ws(r);
	if (*r->p != c)
		return false;
	r->p++;
	skip_ws(r);
	return true;
}

/* Start a token in the arena; its text follows, then end_token(). */
static char *
token(struct rd *r)
{
	return r->arena->data + r->arena->len;
}

static void
end_token(struct rd *r)
{
	buf_add(r->arena, "", 1);
}

/* A quoted identifier ("" for ") or a bare one, folded to lower case
 * as the server would. */
static char *
ident(struct rd *r)
{
	char *t = token(r);

	if (*r->p == '"') {
		for (r->p++;; r->p++) {
			if (*r->p == '\0')
				return NULL;
			if (*r->p == '"') {
				if (r->p[1] != '"')
					break;
				r->p++;
			}
			buf_addch(r->arena, *r->p);
		}
		r->p++;
		if (t == token(r))
			return NULL;
	} else {
		if (!ident_char((unsigned char)*r->p) || (*r->p >= '0' && *r->p <= '9') ||
		    *r->p == '$')
			return NULL;
		for (; ident_char((unsigned char)*r->p); r->p++)
			buf_addch(r->arena, *r->p >= 'A' && *r->p <= 'Z' ?
			    (char)(*r->p | 0x20) : *r->p);
	}
	end_token(r);
	return t;
}

/* A quote_literal() value: '...' with '' for ', or E'...' where a
 * backslash doubles a backslash or quotes a quote.  *isnull for null. */
static int
value(struct rd *r, char **out)
{
	bool esc = false;
	char *t = token(r);

	*out = NULL;
	if (keyword(r, "null"))
		return 0;
	if ((*r->p == 'E' || *r->p == 'e') && r->p[1] == '\'') {
		esc = true;
		r->p++;
	}
	if (*r->p != '\'')
		return -1;
	for (r->p++;; r->p++) {
		if (*r->p == '\0')
			return -1;
		if (*r->p == '\'') {
			if (r->p[1] != '\'')
				break;
			r->p++;
		} else if (esc && *r->p == '\\') {
			if (r->p[1] != '\\' && r->p[1] != '\'')
				return -1;
			r->p++;
		}
		buf_addch(r->arena, *r->p);
	}
	r->p++;
	end_token(r);
	*out = t;
	return 0;
}

/* name=value; with where, the value may not be NULL (= NULL finds
 * no row). */
static int
pair(struct rd *r, struct urlrow *row, bool where)
{
	char *k, *v;

	skip_ws(r);
	if ((k = ident(r)) == NULL || !punct(r, '=') || value(r, &v) < 0)
		return -1;
	if (where && v == NULL)
		return -1;
	urlrow_add(row, k, v);
	return 0;
}

static int
conditions(struct rd *r, struct urlrow *where)
{
	do {
		if (pair(r, where, true) < 0)
			return -1;
		skip_ws(r);
	} while (keyword(r, "and"));
	return 0;
}

static int
insert(struct rd *r, struct urlrow *set)
{
	int i = 0;
	char *k, *v;

	if (!punct(r, '('))
		return -1;
	do {
		skip_ws(r);
		if ((k = ident(r)) == NULL)
			return -1;
		urlrow_add(set, k, NULL);
	} while (punct(r, ','));
	if (!punct(r, ')') || !keyword(r, "values") || !punct(r, '('))
		return -1;
	do {
		skip_ws(r);
		if (i == set->n || value(r, &v) < 0)
			return -1;
		set->f[i++].val = v;
	} while (punct(r, ','));
	if (i != set->n || !punct(r, ')'))
		return -1;
	return 0;
}

int
sqlfrag_parse(char op, const char *s, struct buf *arena, struct urlrow *set,
    struct urlrow *where)
{
	struct rd r = { s, arena };
	int rc;

	set->n = 0;
	where->n = 0;
	buf_reset(arena);
	/* Every token comes from its own span of s and adds one NUL:
	 * the arena never moves, so the pointers handed out stay valid. */
	buf_reserve(arena, 2 * strlen(s) + 2);
	switch (op) {
	case 'I':
		rc = insert(&r, set);
		break;
	case 'U':
		do {
			rc = pair(&r, set, false);
			skip_ws(&r);
		} while (rc == 0 && punct(&r, ','));
		if (rc == 0)
			rc = keyword(&r, "where") ? conditions(&r, where) : -1;
		break;
	case 'D':
		rc = conditions(&r, where);
		break;
	default:
		rc = -1;
	}
	skip_ws(&r);
	return rc == 0 && *r.p == '\0' ? 0 : -1;
}
