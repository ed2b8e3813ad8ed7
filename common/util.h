/* Tier: generic (no libpq, nothing of PgQ, Londiste or WAL; includes generic headers only). */
/* util.h: small helpers every program uses. */
#ifndef UTIL_H
#define UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#define MUST_CHECK __attribute__((warn_unused_result))
#define NORETURN   __attribute__((noreturn))

/* malloc/realloc/strdup that exit with EXIT_RETRY on failure. */
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Parse a decimal integer in [min, max]; exits EXIT_USAGE naming `what`. */
long long parse_num(const char *s, long long min, long long max, const char *what);

/* Parse seconds as a decimal with optional fraction ("1.5"); exits
 * EXIT_USAGE on bad input.  Returns milliseconds. */
long long parse_seconds_ms(const char *s, const char *what);

/* Print the version line for --version and exit 0. */
NORETURN void print_version(void);

/* Flush and close stdout; exit EXIT_RETRY if that failed (full disk,
 * closed pipe).  Call before every successful exit. */
void finish_stdout(void);

/* exit(code) after finish_stdout() when code is a success-like status. */
NORETURN void finish(int code);

/* A growable byte buffer. */
struct buf {
	char   *data;
	size_t  len;
	size_t  cap;
};
void buf_reserve(struct buf *b, size_t extra);
void buf_add(struct buf *b, const char *s, size_t n);
void buf_addstr(struct buf *b, const char *s);
void buf_addch(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* data is always NUL terminated after any buf_add*. */
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

/* Monotonic clock in milliseconds. */
long long now_ms(void);

/* The value of hex digit c (either case), or -1. */
int hex_digit(int c);

/* Timestamp prefix for long-running modes' log lines:
 * "2026-01-02 03:04:05 UTC prog: message". */
void logx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
