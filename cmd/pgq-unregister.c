/* pgq-unregister: remove a consumer (or a subconsumer) from a queue. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "exitcodes.h"
#include "util.h"

static const char usage_line[] =
	"usage: pgq-unregister [-d conninfo] [--subconsumer sub] queue consumer\n";

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
	fputs("  -d, --dbname=CONNINFO    database (default: PG* environment)\n"
	      "  -s, --subconsumer=SUB    remove only this pgq_coop subconsumer\n"
	      "  -h, --help               show this help\n"
	      "  -V, --version            show the version\n", stdout);
	finish(EXIT_DONE);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "dbname",      required_argument, NULL, 'd' },
		{ "help",        no_argument,       NULL, 'h' },
		{ "subconsumer", required_argument, NULL, 's' },
		{ "version",     no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conninfo = NULL, *sub = NULL;
	const char *params[3];
	PGresult *res;
	PGconn *conn;
	int c, n;

	while ((c = getopt_long(argc, argv, "d:hs:V", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': conninfo = db_conninfo_arg(optarg); break;
		case 'h': help();
		case 's': sub = optarg; break;
		case 'V': print_version();
		default:  usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2 || argv[0][0] == '\0' || argv[1][0] == '\0')
		usage();
	if (sub != NULL && *sub == '\0')
		errx(EXIT_USAGE, "empty subconsumer name");

	conn = db_connect(conninfo);
	params[0] = argv[0];
	params[1] = argv[1];
	db_cmd(conn, "begin", "BEGIN", 0, NULL);
	res = db_exec(conn, "look up queue",
	    "SELECT 1 FROM pgq.get_queue_info($1)", 1, params);
	if (PQntuples(res) == 0)
		errx(EXIT_USAGE, "no such queue: %s", argv[0]);
	PQclear(res);
	if (sub != NULL) {
		params[2] = sub;
		/* 0: refuse when the subconsumer holds an open batch rather
		 * than silently dropping its events. */
		res = db_exec(conn, "unregister subconsumer",
		    "SELECT pgq_coop.unregister_subconsumer($1, $2, $3, 0)",
		    3, params);
	} else {
		res = db_exec(conn, "unregister consumer",
		    "SELECT pgq.unregister_consumer($1, $2)", 2, params);
	}
	n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	/* The functions answer 0 for an unknown consumer; a script that
	 * names the wrong one should hear about it. */
	if (n == 0) {
		if (sub != NULL)
			errx(EXIT_USAGE, "subconsumer %s of %s is not registered "
			    "on queue %s", sub, argv[1], argv[0]);
		errx(EXIT_USAGE, "consumer %s is not registered on queue %s",
		    argv[1], argv[0]);
	}
	db_cmd(conn, "commit", "COMMIT", 0, NULL);
	PQfinish(conn);
	finish(EXIT_DONE);
}
