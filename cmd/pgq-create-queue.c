/* pgq-create-queue: create a PgQ queue. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "exitcodes.h"
#include "util.h"

static const char usage_line[] = "usage: pgq-create-queue [-d conninfo] queue\n";

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
	      "  -h, --help             show this help\n"
	      "  -V, --version          show the version\n", stdout);
	finish(EXIT_DONE);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "dbname",  required_argument, NULL, 'd' },
		{ "help",    no_argument,       NULL, 'h' },
		{ "version", no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conninfo = NULL;
	const char *params[1];
	PGconn *conn;
	int c;

	while ((c = getopt_long(argc, argv, "d:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': conninfo = db_conninfo_arg(optarg); break;
		case 'h': help();
		case 'V': print_version();
		default:  usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1 || argv[0][0] == '\0')
		usage();

	conn = db_connect(conninfo);
	params[0] = argv[0];
	/* create_queue returns 0 for an existing queue: creating is
	 * idempotent, so scripts can run it unconditionally. */
	db_cmd(conn, "create queue", "SELECT pgq.create_queue($1)", 1, params);
	PQfinish(conn);
	finish(EXIT_DONE);
}
