/* fuzz-sqlfrag.c: pgq.sqltriga fragments (common/sqlfrag.c).
 *
 * The first byte picks the operation (I, U or D; another byte by its
 * value mod 3),
 * the rest is the fragment.  Checks: the reader accepts or refuses
 * without reading out of bounds; every name it returns is non-empty; a
 * fragment rebuilt from what it returned (names always quoted, values
 * as quote_literal() writes them) reads back to the same names and
 * values. */
#include "fuzz.h"

#include "sqlfrag.h"

static void
ident(struct buf *b, const char *s)
{
	buf_addch(b, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"')
			buf_addch(b, '"');
		buf_addch(b, *s);
	}
	buf_addch(b, '"');
}

static void
literal(struct buf *b, const char *s)
{
	if (s == NULL) {
		buf_addstr(b, "null");
		return;
	}
	if (strchr(s, '\\') != NULL)
		buf_addch(b, 'E');
	buf_addch(b, '\'');
	for (; *s != '\0'; s++) {
		if (*s == '\'' || *s == '\\')
			buf_addch(b, *s);
		buf_addch(b, *s);
	}
	buf_addch(b, '\'');
}

static void
pairs(struct buf *b, const struct urlrow *r, const char *sep)
{
	for (int i = 0; i < r->n; i++) {
		if (i > 0)
			buf_addstr(b, sep);
		ident(b, r->f[i].key);
		buf_addch(b, '=');
		literal(b, r->f[i].val);
	}
}

static void
rebuild(struct buf *b, char op, const struct urlrow *set, const struct urlrow *where)
{
	buf_addstr(b, "");
	if (op == 'I') {
		buf_addch(b, '(');
		for (int i = 0; i < set->n; i++) {
			if (i > 0)
				buf_addch(b, ',');
			ident(b, set->f[i].key);
		}
		buf_addstr(b, ") values (");
		for (int i = 0; i < set->n; i++) {
			if (i > 0)
				buf_addch(b, ',');
			literal(b, set->f[i].val);
		}
		buf_addch(b, ')');
		return;
	}
	if (op == 'U') {
		pairs(b, set, ",");
		buf_addstr(b, " where ");
	}
	pairs(b, where, " and ");
}

static void
same(const struct urlrow *a, const struct urlrow *b)
{
	FUZZ_CHECK(a->n == b->n);
	for (int i = 0; i < a->n; i++) {
		FUZZ_CHECK(a->f[i].key[0] != '\0');
		FUZZ_CHECK(strcmp(a->f[i].key, b->f[i].key) == 0);
		FUZZ_CHECK((a->f[i].val == NULL) == (b->f[i].val == NULL));
		if (a->f[i].val != NULL)
			FUZZ_CHECK(strcmp(a->f[i].val, b->f[i].val) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char op;
	char *s;
	struct buf arena = {0}, arena2 = {0}, b = {0};
	struct urlrow set = {0}, where = {0}, set2 = {0}, where2 = {0};

	if (size == 0)
		return 0;
	op = data[0] == 'I' || data[0] == 'U' || data[0] == 'D' ? (char)data[0] :
	    "IUD"[data[0] % 3];
	s = fuzz_str(data + 1, size - 1);
	if (sqlfrag_parse(op, s, &arena, &set, &where) == 0) {
		rebuild(&b, op, &set, &where);
		FUZZ_CHECK(sqlfrag_parse(op, b.data, &arena2, &set2, &where2) == 0);
		same(&set, &set2);
		same(&where, &where2);
	}
	urlrow_free(&set);
	urlrow_free(&where);
	urlrow_free(&set2);
	urlrow_free(&where2);
	buf_free(&arena);
	buf_free(&arena2);
	buf_free(&b);
	free(s);
	return 0;
}
