/* fuzz-copytext.c: COPY text escaping (common/copytext.c).
 *
 * Checks: copytext_valid() says yes exactly when copytext_unescape()
 * accepts the field (or it is \N); unescaping never grows a value; and
 * escaping any NUL-free value then unescaping gives it back unchanged,
 * with no raw TAB or newline in between. */
#include "fuzz.h"

#include "copytext.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), *t = fuzz_str(data, size);
	size_t slen = strlen(s);
	struct buf b = {0};
	long n;

	n = copytext_unescape(t);
	FUZZ_CHECK(copytext_valid(s) == (n >= 0 || copytext_is_null(s)));
	if (n >= 0)
		FUZZ_CHECK((size_t)n <= slen);

	/* Round trip of the raw bytes up to the first NUL. */
	copytext_escape(&b, s, slen);
	FUZZ_CHECK(memchr(b.data ? b.data : "", '\t', b.len) == NULL);
	FUZZ_CHECK(memchr(b.data ? b.data : "", '\n', b.len) == NULL);
	if (b.data == NULL)
		buf_addstr(&b, "");
	if (slen == 2 && memcmp(s, "\\N", 2) == 0)
		FUZZ_CHECK(!copytext_is_null(b.data));
	FUZZ_CHECK(copytext_valid(b.data));
	n = copytext_unescape(b.data);
	FUZZ_CHECK(n == (long)slen);
	FUZZ_CHECK(memcmp(b.data, s, slen) == 0);
	buf_free(&b);
	free(s);
	free(t);
	return 0;
}
