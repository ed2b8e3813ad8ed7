/*
 * copyfsync: the floor for wal-push in the benchmark.  Copies each file
 * into dir the way a durable archiver must at the least (temporary name,
 * write, fsync, rename, fsync of the directory), all in one process,
 * with nothing else: no checksum, no locking, no exec per file.
 *
 * usage: copyfsync dir file ...
 */
#include <err.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 128 KiB: a buffer that stays in cache; a larger one made this floor
 * slower than wal-push on the machine it was written on. */
static char buf[1 << 17];

int
main(int argc, char **argv)
{
	char tmp[4096], dst[4096];
	int dfd, i;

	if (argc < 3) {
		fprintf(stderr, "usage: copyfsync dir file ...\n");
		return 2;
	}
	if ((dfd = open(argv[1], O_RDONLY | O_DIRECTORY)) < 0)
		err(3, "%s", argv[1]);
	for (i = 2; i < argc; i++) {
		char *name = basename(argv[i]);
		ssize_t n;
		int in, out;

		snprintf(tmp, sizeof tmp, "%s/.%s.tmp", argv[1], name);
		snprintf(dst, sizeof dst, "%s/%s", argv[1], name);
		if ((in = open(argv[i], O_RDONLY)) < 0)
			err(3, "%s", argv[i]);
		if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
			err(3, "%s", tmp);
		while ((n = read(in, buf, sizeof buf)) > 0)
			if (write(out, buf, n) != n)
				err(3, "write %s", tmp);
		if (n < 0)
			err(3, "read %s", argv[i]);
		if (fsync(out) != 0 || close(out) != 0)
			err(3, "fsync %s", tmp);
		close(in);
		if (rename(tmp, dst) != 0)
			err(3, "rename %s", tmp);
		if (fsync(dfd) != 0)
			err(3, "fsync %s", argv[1]);
	}
	return 0;
}
