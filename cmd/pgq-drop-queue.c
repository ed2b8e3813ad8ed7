/* pgq-drop-queue: drop a PgQ queue and its event tables. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "exitcodes.h"
#include "util.h"

static const char usage_line[] =
	"usage: pgq-drop-queue [-d conninfo] [--force] queue\n";

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
	      "  -f, --force            unregister the queue's consumers first\n"
	      "  -h, --help             show this help\n"
	      "  -V, --version          show the version\n", stdout);
	finish(EXIT_DONE);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "dbname",  required_argument, NULL, 'd' },
		{ "force",   no_argument,       NULL, 'f' },
		{ "help",    no_argument,       NULL, 'h' },
		{ "version", no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conninfo = NULL;
	const char *params[2];
	PGresult *res;
	PGconn *conn;
	int c, force = 0, nq, ncons;

	while ((c = getopt_long(argc, argv, "d:fhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': conninfo = db_conninfo_arg(optarg); break;
		case 'f': force = 1; break;
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
	params[1] = force ? "t" : "f";
	/* The checks and the drop share one transaction, so a consumer that
	 * registers in between cannot lose its events unnoticed. */
	db_cmd(conn, "begin", "BEGIN", 0, NULL);
	res = db_exec(conn, "look up queue",
	    "SELECT count(*) FROM pgq.get_queue_info($1)", 1, params);
	nq = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (nq == 0)
		errx(EXIT_USAGE, "no such queue: %s", argv[0]);
	res = db_exec(conn, "list consumers",
	    "SELECT count(*) FROM pgq.get_consumer_info($1)", 1, params);
	ncons = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	/* Dropping a queue that consumers still read loses their pending
	 * events: that takes an explicit --force. */
	if (ncons > 0 && !force)
		errx(EXIT_REFUSE, "queue %s has %d consumer%s (use --force)",
		    argv[0], ncons, ncons == 1 ? "" : "s");
	db_cmd(conn, "drop queue", "SELECT pgq.drop_queue($1, $2::boolean)",
	    2, params);
	db_cmd(conn, "commit", "COMMIT", 0, NULL);
	PQfinish(conn);
	finish(EXIT_DONE);
}
