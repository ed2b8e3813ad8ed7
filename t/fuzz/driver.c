/* driver.c: main() for the harnesses when libFuzzer is not at hand.
 *
 * Feeds each file named on the command line (or every file of a named
 * directory) to LLVMFuzzerTestOneInput once, as libFuzzer does when it
 * is given files: how `make check` replays the corpora with any C
 * compiler and the sanitizers. */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long nrun;

static void
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL) {
		perror(path);
		exit(2);
	}
	do {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 65536;
			if ((buf = realloc(buf, cap)) == NULL)
				abort();
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		perror(path);
		exit(2);
	}
	fclose(f);
	if (getenv("FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "driver: %s (%zu bytes)\n", path, len);
	/* A copy of exactly len bytes, so ASan sees reads past the end. */
	{
		uint8_t *exact = malloc(len ? len : 1);

		if (exact == NULL)
			abort();
		memcpy(exact, buf, len);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	free(buf);
	nrun++;
}

static int
cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			return 2;
		}
		if (!S_ISDIR(st.st_mode)) {
			run_file(argv[i]);
			continue;
		}
		struct dirent **ents;
		int n = scandir(argv[i], &ents, NULL, NULL);

		if (n < 0) {
			perror(argv[i]);
			return 2;
		}
		char **names = malloc(sizeof(char *) * (size_t)(n ? n : 1));
		int k = 0;

		for (int j = 0; j < n; j++) {
			if (ents[j]->d_name[0] != '.') {
				size_t l = strlen(argv[i]) + strlen(ents[j]->d_name) + 2;

				names[k] = malloc(l);
				snprintf(names[k++], l, "%s/%s", argv[i], ents[j]->d_name);
			}
			free(ents[j]);
		}
		free(ents);
		qsort(names, (size_t)k, sizeof(char *), cmp);
		for (int j = 0; j < k; j++) {
			struct stat fst;

			if (stat(names[j], &fst) == 0 && S_ISREG(fst.st_mode))
				run_file(names[j]);
			free(names[j]);
		}
		free(names);
	}
	printf("%ld inputs\n", nrun);
	return 0;
}
