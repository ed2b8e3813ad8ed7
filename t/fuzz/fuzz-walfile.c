/* fuzz-walfile.c: archived WAL files and their trailer (common/walfile.c).
 *
 * Byte 0 picks what the rest is:
 *   0  an archived file as found on disk: reading it says OK or CORRUPT
 *   1  the same, after the trailer's magic, version and both CRCs that a
 *      fuzzer cannot guess are made right (compression from the flags
 *      byte), so the size checks and the zstd decoder are reached
 *   2  content to store (compressed when byte 1 is odd): storing
 *      succeeds, and reading back with the original as comparison gives
 *      OK; every single-byte flip of the stored file then reads CORRUPT
 *      (checked at a few offsets picked by the input). */
#include "fuzz.h"

#include "crc32c.h"
#include "walfile.h"

static void
put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int
read_back(const uint8_t *file, size_t n, int cmpfd)
{
	struct walfile_info info;
	char msg[256];
	int fd = fuzz_memfd(file, n), rc;

	rc = walfile_read(fd, -1, cmpfd, &info, msg, sizeof(msg));
	close(fd);
	FUZZ_CHECK(rc == WF_OK || rc == WF_CORRUPT || rc == WF_DIFFER);
	if (rc == WF_OK)
		FUZZ_CHECK(info.stored == n);
	return rc;
}

static void
roundtrip(const uint8_t *data, size_t size, int comp)
{
	struct walfile_info info;
	char msg[256];
	int in = fuzz_memfd(data, size);
	int out = memfd_create("out", MFD_CLOEXEC), cmp;
	uint8_t *file;
	off_t n;

	FUZZ_CHECK(out >= 0);
	FUZZ_CHECK(walfile_store(in, out, (uint32_t)comp, 1, UINT64_MAX,
	    "000000010000000000000001", &info, msg, sizeof(msg)) == WF_OK);
	FUZZ_CHECK(info.size == size);
	n = lseek(out, 0, SEEK_END);
	FUZZ_CHECK(n == (off_t)info.stored);
	file = malloc((size_t)n);
	FUZZ_CHECK(file != NULL && pread(out, file, (size_t)n, 0) == n);
	close(out);

	cmp = fuzz_memfd(data, size);
	FUZZ_CHECK(read_back(file, (size_t)n, cmp) == WF_OK);
	close(cmp);
	/* Other content of the same length differs, never passes. */
	if (size > 0) {
		uint8_t *other = malloc(size);

		memcpy(other, data, size);
		other[size / 2] ^= 0x01;
		cmp = fuzz_memfd(other, size);
		FUZZ_CHECK(read_back(file, (size_t)n, cmp) == WF_DIFFER);
		close(cmp);
		free(other);
	}
	/* Damage is found wherever it is. */
	for (size_t i = 0; i < 4 && i < size; i++) {
		size_t at = (size_t)data[i] * 7919u % (size_t)n;

		file[at] ^= (uint8_t)(1u << (data[i] & 7));
		FUZZ_CHECK(read_back(file, (size_t)n, -1) == WF_CORRUPT);
		file[at] ^= (uint8_t)(1u << (data[i] & 7));
	}
	/* So is a cut: one byte short. */
	if (n > WALFILE_TRAILER)
		FUZZ_CHECK(read_back(file, (size_t)n - 1, -1) == WF_CORRUPT);
	free(file);
	close(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	switch (data[0] % 3) {
	case 0:
		read_back(data + 1, size - 1, -1);
		break;
	case 1: {
		size_t n = size - 2;
		uint8_t *f = malloc(n ? n : 1), *t;

		memcpy(f, data + 2, n);
		/* A format 1 trailer (still read). */
		if (n >= WALFILE_TRAILER_V1) {
			t = f + n - WALFILE_TRAILER_V1;
			put32(t, 0x184D2A5Bu);
			put32(t + 4, WALFILE_TRAILER_V1 - 8);
			memcpy(t + 8, "SKYW", 4);
			put32(t + 12, 1);
			put32(t + 16, data[1] & 1);
			put32(t + 20, crc32c(0, f, n - WALFILE_TRAILER_V1));
			if (data[1] & 2)	/* a plausible size, often right */
				put32(t + 28, 0);
			put32(t + 36, crc32c(0, t, 36));
		}
		read_back(f, n, -1);
		free(f);
		break;
	}
	default:
		roundtrip(data + 2, size - 2, data[1] & 1);
		break;
	}
	return 0;
}
