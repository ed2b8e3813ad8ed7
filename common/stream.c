/* stream.c: strict reader and writer of the batch stream. */
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "copytext.h"
#include "exitcodes.h"
#include "linein.h"
#include "stream.h"
#include "util.h"

void
stream_init(struct stream *s, int fd, const char *name)
{
	memset(s, 0, sizeof(*s));
	linein_init(&s->in, fd, STDOUT_FILENO, name);
	s->name = name;
}

void
stream_free(struct stream *s)
{
	linein_free(&s->in);
	free(s->batch_line);
	memset(s, 0, sizeof(*s));
}

long long
stream_parse_id(const char *s)
{
	char *end;
	long long v;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		return 0;
	return v;
}

static void __attribute__((noreturn, format(printf, 2, 3)))
bad(const struct stream *s, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errx(EXIT_USAGE, "%s line %ld: %s", s->name, s->lineno, msg);
}

/* Split the line at TABs; returns the tag. */
static const char *
split(struct stream *s, char *line, size_t len)
{
	char *p = line, *tab;

	if (memchr(line, '\0', len) != NULL)
		bad(s, "NUL byte in input");
	s->nf = 0;
	tab = strchr(p, '\t');
	if (tab == NULL)
		return p;
	*tab = '\0';
	s->nf = copytext_split(tab + 1, s->f, EVENT_NF);
	if (s->nf < 0)
		bad(s, "too many fields");
	return line;
}

static void
want_fields(struct stream *s, const char *tag, int n)
{
	if (s->nf != n)
		bad(s, "%s record has %d fields, expected %d", tag, s->nf, n);
}

enum rec
stream_next(struct stream *s, enum stream_mode mode)
{
	ssize_t len;
	const char *tag;
	bool complete;

	len = linein_next(&s->in, &s->line, &complete);
	if (len < 0) {
		if (s->in_batch)
			errx(EXIT_RETRY, "%s: stream ended inside batch %lld "
			    "(upstream died?); nothing of it was applied",
			    s->name, s->batch_id);
		return REC_EOF;
	}
	s->lineno++;
	/* A writer that dies mid-line leaves exactly this: a dead upstream,
	 * which a restart fixes, not input that is wrong. */
	if (!complete)
		errx(EXIT_RETRY, "%s line %ld: stream ended inside a line "
		    "(upstream died?); nothing of it was applied",
		    s->name, s->lineno);

	/* Keep a raw copy of a batch record before split() cuts it up. */
	if (strncmp(s->line, "batch\t", 6) == 0) {
		if ((size_t)len + 1 > s->batch_cap) {
			s->batch_cap = (size_t)len + 1;
			s->batch_line = xrealloc(s->batch_line, s->batch_cap);
		}
		memcpy(s->batch_line, s->line, (size_t)len + 1);
	}

	tag = split(s, s->line, (size_t)len);
	if (strcmp(tag, "batch") == 0) {
		want_fields(s, tag, BATCH_NF);
		if (s->in_batch)
			bad(s, "batch record inside batch %lld (no end)", s->batch_id);
		s->batch_id = stream_parse_id(s->f[B_ID]);
		if (s->batch_id == 0)
			bad(s, "bad batch id: %.40s", s->f[B_ID]);
		if (stream_parse_id(s->f[B_CUR_TICK]) == 0)
			bad(s, "bad tick id: %.40s", s->f[B_CUR_TICK]);
		s->in_batch = mode == STREAM_FRAMED;
		s->nevents = 0;
		return REC_BATCH;
	}
	if (strcmp(tag, "event") == 0) {
		want_fields(s, tag, EVENT_NF);
		if (mode != STREAM_FRAMED)
			bad(s, "event record where only batch records are expected");
		if (!s->in_batch)
			bad(s, "event record outside a batch");
		if (stream_parse_id(s->f[E_ID]) == 0)
			bad(s, "bad event id: %.40s", s->f[E_ID]);
		s->nevents++;
		return REC_EVENT;
	}
	if (strcmp(tag, "end") == 0) {
		long long n;

		want_fields(s, tag, END_NF);
		if (mode != STREAM_FRAMED)
			bad(s, "end record where only batch records are expected");
		if (!s->in_batch)
			bad(s, "end record outside a batch");
		if (stream_parse_id(s->f[0]) != s->batch_id)
			bad(s, "end of batch %.40s inside batch %lld", s->f[0], s->batch_id);
		/* "0" or a positive number: "abc", "-0" and "" are no count,
		 * even for a batch without events. */
		n = strcmp(s->f[1], "0") == 0 ? 0 : stream_parse_id(s->f[1]);
		if (n == 0 && strcmp(s->f[1], "0") != 0)
			bad(s, "batch %lld: bad event count: %.40s", s->batch_id, s->f[1]);
		if (n != s->nevents)
			bad(s, "batch %lld: end says %.40s events, stream had %lld",
			    s->batch_id, s->f[1], s->nevents);
		s->in_batch = false;
		return REC_END;
	}
	bad(s, "unknown record type: %.40s", tag);
}

const char *
stream_batch_line(const struct stream *s)
{
	return s->batch_line;
}

void
stream_emit_done(const struct stream *s, FILE *out)
{
	fprintf(out, "%s\nend\t%lld\t0\n", s->batch_line, s->batch_id);
}

void
stream_write_batch(FILE *out, const char *const v[BATCH_NF])
{
	struct buf b = {0};
	int i;

	buf_addstr(&b, "batch");
	for (i = 0; i < BATCH_NF; i++) {
		buf_addch(&b, '\t');
		if (v[i] == NULL)
			buf_addstr(&b, "\\N");
		else
			copytext_escape(&b, v[i], strlen(v[i]));
	}
	buf_addch(&b, '\n');
	fwrite(b.data, 1, b.len, out);
	buf_free(&b);
}

void
stream_write_event(FILE *out, const char *row, size_t len)
{
	fputs("event\t", out);
	fwrite(row, 1, len, out);
}

void
stream_write_end(FILE *out, const char *batch_id, long long count)
{
	fprintf(out, "end\t%s\t%lld\n", batch_id, count);
}
