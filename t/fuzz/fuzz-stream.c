/* fuzz-stream.c: the batch stream reader (common/stream.c, linein.c).
 *
 * Byte 0 picks the reader's mode, the rest is the stream.  Checks: the
 * reader either reaches a clean EOF or exits 2 (malformed) or 3 (ended
 * inside a batch or a line), never anything else; a stream cut inside
 * its last line exits 3 whenever the same stream with that line's
 * newline is not malformed (the writer died, the input is not wrong);
 * and what a stage re-emits for each completed batch (stream_emit_done)
 * is itself a stream that a second reader accepts whole, batch for
 * batch. */
#include "fuzz.h"

#include "exitcodes.h"
#include "copytext.h"
#include "stream.h"

static struct stream s, again, whole;

/* Read everything from fd; returns the number of completed batches, or
 * -(exit status + 1) when the reader exited. */
static long
read_all(struct stream *st, int fd, enum stream_mode mode, FILE *emit)
{
	static volatile long done;
	int jumped;

	done = 0;
	stream_init(st, fd, "fuzz");
	st->in.watch_fd = -1;	/* stdout is not a pipeline here */
	jumped = FUZZ_TRY();
	if (jumped) {
		stream_free(st);
		return -(long)jumped;
	}
	for (;;) {
		enum rec r = stream_next(st, mode);

		if (r == REC_EOF)
			break;
		if (r == REC_BATCH) {
			FUZZ_CHECK(strncmp(stream_batch_line(st), "batch\t", 6) == 0);
			if (mode == STREAM_BATCHES)
				done = done + 1;
		}
		if (r == REC_EVENT)
			for (int i = 0; i < st->nf; i++)
				(void)copytext_valid(st->f[i]);
		if (r == REC_END) {
			done = done + 1;
			if (emit != NULL)
				stream_emit_done(st, emit);
		}
	}
	FUZZ_DONE();
	stream_free(st);
	return done;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum stream_mode mode;
	char *out = NULL;
	size_t outlen = 0;
	FILE *emit;
	long n, m;
	int fd;

	if (size < 1)
		return 0;
	mode = data[0] & 1 ? STREAM_BATCHES : STREAM_FRAMED;
	fd = fuzz_memfd(data + 1, size - 1);
	emit = open_memstream(&out, &outlen);
	FUZZ_CHECK(emit != NULL);
	n = read_all(&s, fd, mode, mode == STREAM_FRAMED ? emit : NULL);
	close(fd);
	FUZZ_CHECK(fclose(emit) == 0);
	if (n < 0)
		FUZZ_CHECK(n == -(EXIT_USAGE + 1) || n == -(EXIT_RETRY + 1));
	if (size > 1 && data[size - 1] != '\n') {
		uint8_t *nl = malloc(size);
		long w;

		FUZZ_CHECK(nl != NULL);
		memcpy(nl, data + 1, size - 1);
		nl[size - 1] = '\n';
		fd = fuzz_memfd(nl, size);
		w = read_all(&whole, fd, mode, NULL);
		close(fd);
		free(nl);
		if (w != -(EXIT_USAGE + 1))
			FUZZ_CHECK(n == -(EXIT_RETRY + 1));
	}

	/* Every batch completed before an error or EOF was re-emitted. */
	fd = fuzz_memfd(out, outlen);
	m = read_all(&again, fd, STREAM_FRAMED, NULL);
	close(fd);
	if (mode == STREAM_FRAMED) {
		long want = 0;

		for (char *p = out; (p = strstr(p, "\nend\t")) != NULL; p++)
			want++;
		FUZZ_CHECK(m == want);
		if (n >= 0)
			FUZZ_CHECK(m == n);
	}
	free(out);
	return 0;
}
