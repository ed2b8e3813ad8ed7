/* pgq-retry: put events of an open batch back for a later batch. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "exitcodes.h"
#include "util.h"

static const char usage_line[] =
	"usage: pgq-retry [-d conninfo] [--delay seconds] [--all] batch_id "
	"[event_id ...]\n";

static NORETURN void
usage(void)
{
	fputs(usage_line, stderr);
	exit(EXIT_USAGE);
}

static NORETURN void
help(void)
{
	fputs(usage_line, stdout);
	fputs("  -d, --dbname=CONNINFO  database (default: PG* environment)\n"
	      "  -D, --delay=SECONDS    retry after this many seconds (default 60)\n"
	      "  -a, --all              retry every event of the batch\n"
	      "  -h, --help             show this help\n"
	      "  -V, --version          show the version\n"
	      "Without event ids and --all, reads event ids from stdin, one a line.\n",
	      stdout);
	finish(EXIT_DONE);
}

static void
retry_one(PGconn *conn, const char *batch, const char *ev, const char *delay)
{
	const char *params[3] = { batch, ev, delay };

	/* event_retry answers 0 when the event already waits in the retry
	 * queue: asking twice is harmless. */
	db_cmd(conn, "retry event",
	    "SELECT pgq.event_retry($1::bigint, $2::bigint, $3::integer)",
	    3, params);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "all",     no_argument,       NULL, 'a' },
		{ "dbname",  required_argument, NULL, 'd' },
		{ "delay",   required_argument, NULL, 'D' },
		{ "help",    no_argument,       NULL, 'h' },
		{ "version", no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conninfo = NULL, *delay = "60";
	char **ids = NULL;
	size_t nids = 0, capids = 0, i;
	PGconn *conn;
	int c, all = 0;

	while ((c = getopt_long(argc, argv, "aD:d:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': all = 1; break;
		case 'D': delay = optarg; break;
		case 'd': conninfo = db_conninfo_arg(optarg); break;
		case 'h': help();
		case 'V': print_version();
		default:  usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	/* pgq takes whole seconds. */
	parse_num(delay, 0, INT32_MAX, "delay");
	parse_num(argv[0], 1, INT64_MAX, "batch id");
	if (all && argc > 1)
		errx(EXIT_USAGE, "--all takes no event ids");
	for (c = 1; c < argc; c++)
		parse_num(argv[c], 1, INT64_MAX, "event id");

	/* Read all of stdin before touching the database: a bad line must
	 * leave the batch as it was. */
	if (!all && argc == 1) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		long lineno = 0;
		const char *errstr;

		while ((n = getline(&line, &cap, stdin)) != -1) {
			lineno++;
			if (n > 0 && line[n - 1] == '\n')
				line[--n] = '\0';
			strtonum(line, 1, INT64_MAX, &errstr);
			if (errstr != NULL)
				errx(EXIT_USAGE, "stdin line %ld: bad event id: %s",
				    lineno, line);
			if (nids == capids) {
				capids = capids ? capids * 2 : 64;
				ids = xrealloc(ids, capids * sizeof(*ids));
			}
			ids[nids++] = xstrdup(line);
		}
		if (ferror(stdin))
			err(EXIT_RETRY, "read stdin");
		free(line);
		if (nids == 0)
			errx(EXIT_USAGE, "no event ids on stdin");
	}

	conn = db_connect(conninfo);
	/* One transaction: every event goes back or none does. */
	db_cmd(conn, "begin", "BEGIN", 0, NULL);
	if (all) {
		const char *params[2] = { argv[0], delay };

		db_cmd(conn, "retry batch",
		    "SELECT pgq.batch_retry($1::bigint, $2::integer)", 2, params);
	} else if (argc > 1) {
		for (c = 1; c < argc; c++)
			retry_one(conn, argv[0], argv[c], delay);
	} else {
		for (i = 0; i < nids; i++)
			retry_one(conn, argv[0], ids[i], delay);
	}
	db_cmd(conn, "commit", "COMMIT", 0, NULL);
	PQfinish(conn);
	for (i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
	finish(EXIT_DONE);
}
