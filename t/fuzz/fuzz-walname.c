/* fuzz-walname.c: WAL file names and LSNs (common/walname.c).
 *
 * Checks: a name parsed as a segment (or partial, or backup) formats
 * back to its first 24 characters for every segment size whose "log"
 * holds its segment number; kinds agree with the shape of the name; an
 * LSN that parses prints back to the same value. */
#include "fuzz.h"

#include <inttypes.h>

#include "walname.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size);
	size_t len = strlen(s);
	struct walname w;
	enum walkind k = walname_parse(s, &w);
	uint64_t lsn;

	FUZZ_CHECK(k == w.kind || k == WAL_OTHER);
	FUZZ_CHECK(walkind_str(k) != NULL);
	switch (k) {
	case WAL_HISTORY:
		FUZZ_CHECK(len == 16 && w.tli != 0);
		break;
	case WAL_SEGMENT:
		FUZZ_CHECK(len == WALNAME_LEN);
		/* FALLTHROUGH */
	case WAL_PARTIAL:
	case WAL_BACKUP:
		FUZZ_CHECK(w.tli != 0);
		for (uint64_t sz = 1u << 20; sz <= 1u << 30; sz <<= 1) {
			char out[WALNAME_LEN + 1];

			FUZZ_CHECK(wal_segsize_ok(sz));
			if (w.seg >= 0x100000000ull / sz)
				continue;
			walname_format(out, w.tli, walname_segno(&w, sz), sz);
			FUZZ_CHECK(memcmp(out, s, WALNAME_LEN) == 0);
		}
		break;
	default:
		break;
	}
	if (lsn_parse(s, &lsn) == 0) {
		char out[32];
		uint64_t back;

		snprintf(out, sizeof(out), "%X/%X", (unsigned)(lsn >> 32),
		    (unsigned)lsn);
		FUZZ_CHECK(lsn_parse(out, &back) == 0 && back == lsn);
	}
	free(s);
	return 0;
}
