/* fuzz-urlenc.c: url-encoded rows (common/urlenc.c).
 *
 * Checks: the parser accepts or refuses without reading out of bounds;
 * every key it returns is non-empty; and a row built by encoding the
 * parsed keys and values parses back to the same keys and values
 * (NULLs included). */
#include "fuzz.h"

#include "urlenc.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size);
	struct urlrow r = {0}, r2 = {0};
	struct buf b = {0};

	if (urlenc_parse(s, &r) == 0) {
		for (int i = 0; i < r.n; i++) {
			FUZZ_CHECK(r.f[i].key[0] != '\0');
			if (i > 0)
				buf_addch(&b, '&');
			urlenc_encode(&b, r.f[i].key, strlen(r.f[i].key));
			if (r.f[i].val != NULL) {
				buf_addch(&b, '=');
				urlenc_encode(&b, r.f[i].val, strlen(r.f[i].val));
			}
		}
		if (b.data == NULL)
			buf_addstr(&b, "");
		FUZZ_CHECK(urlenc_parse(b.data, &r2) == 0);
		FUZZ_CHECK(r2.n == r.n);
		for (int i = 0; i < r.n; i++) {
			FUZZ_CHECK(strcmp(r.f[i].key, r2.f[i].key) == 0);
			FUZZ_CHECK((r.f[i].val == NULL) == (r2.f[i].val == NULL));
			if (r.f[i].val != NULL)
				FUZZ_CHECK(strcmp(r.f[i].val, r2.f[i].val) == 0);
		}
	}
	urlrow_free(&r);
	urlrow_free(&r2);
	buf_free(&b);
	free(s);
	return 0;
}
