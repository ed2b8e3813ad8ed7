/* fuzz.h: what every harness shares.
 *
 * The parsers report bad input with err(3)/errx(3), which exit; a fuzzer
 * must go on with the next input.  The harness defines err, errx, verr
 * and verrx itself: the linker binds the library's calls to these before
 * libc's, and they jump back to the harness instead of exiting.  The exit
 * status the library asked for is checked by the harness, so "bad input
 * exits 2" stays part of what is fuzzed.
 *
 * Included once, by the harness's single .c file. */
#ifndef FUZZ_H
#define FUZZ_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <err.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static jmp_buf fuzz_jmp;
static int fuzz_armed;

/* Messages are noise while fuzzing; FUZZ_VERBOSE=1 shows them. */
static void
fuzz_say(const char *fmt, va_list ap)
{
	if (getenv("FUZZ_VERBOSE") == NULL)
		return;
	fputs("fuzz: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void __attribute__((noreturn))
fuzz_exit(int status)
{
	if (!fuzz_armed) {
		fprintf(stderr, "fuzz: exit %d outside a guarded call\n", status);
		abort();
	}
	fuzz_armed = 0;
	/* +1 so that exit status 0 is still told apart from setjmp's 0. */
	longjmp(fuzz_jmp, status + 1);
}

void
verrx(int status, const char *fmt, va_list ap)
{
	fuzz_say(fmt, ap);
	fuzz_exit(status);
}

void
verr(int status, const char *fmt, va_list ap)
{
	fuzz_say(fmt, ap);
	fuzz_exit(status);
}

void
errx(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verrx(status, fmt, ap);
}

void
err(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(status, fmt, ap);
}

/* Run a guarded section: FUZZ_TRY is 0 on the way in and the library's
 * exit status + 1 when it "exited". */
#define FUZZ_TRY() (fuzz_armed = 1, setjmp(fuzz_jmp))
#define FUZZ_DONE() (fuzz_armed = 0)

/* A memory-backed file descriptor holding data, at offset 0: the readers
 * take descriptors, and a pipe would block on inputs over 64 KiB. */
static __attribute__((unused)) int
fuzz_memfd(const void *data, size_t size)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	const char *p = data;

	if (fd < 0) {
		perror("memfd_create");
		abort();
	}
	while (size > 0) {
		ssize_t w = write(fd, p, size);

		if (w <= 0) {
			perror("write memfd");
			abort();
		}
		p += w;
		size -= (size_t)w;
	}
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	return fd;
}

/* A NUL-terminated copy of data (the string parsers' input). */
static __attribute__((unused)) char *
fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#define FUZZ_CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz: %s:%d: check failed: %s\n", __FILE__, __LINE__, \
	    #cond); abort(); } } while (0)

#endif
