/* pgq-register: subscribe a consumer (or a subconsumer) to a queue. */
#include <err.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "exitcodes.h"
#include "util.h"

static const char usage_line[] =
	"usage: pgq-register [-d conninfo] [--at tick | --subconsumer sub] "
	"queue consumer\n";

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
	      "  -a, --at=TICK            start (or move an existing consumer) "
	      "at this tick\n"
	      "  -s, --subconsumer=SUB    register a pgq_coop subconsumer\n"
	      "  -h, --help               show this help\n"
	      "  -V, --version            show the version\n", stdout);
	finish(EXIT_DONE);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "at",          required_argument, NULL, 'a' },
		{ "dbname",      required_argument, NULL, 'd' },
		{ "help",        no_argument,       NULL, 'h' },
		{ "subconsumer", required_argument, NULL, 's' },
		{ "version",     no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conninfo = NULL, *at = NULL, *sub = NULL;
	const char *params[3];
	PGconn *conn;
	int c;

	while ((c = getopt_long(argc, argv, "a:d:hs:V", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': at = optarg; break;
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
	/* pgq_coop has no way to place a subconsumer at a tick: they all
	 * share the position of their main consumer. */
	if (at != NULL && sub != NULL)
		errx(EXIT_USAGE, "--at and --subconsumer exclude each other");
	if (at != NULL)
		parse_num(at, 1, INT64_MAX, "tick");
	if (sub != NULL && *sub == '\0')
		errx(EXIT_USAGE, "empty subconsumer name");

	conn = db_connect(conninfo);
	params[0] = argv[0];
	params[1] = argv[1];
	/* Registering again is not an error (the functions return 0), so
	 * scripts can run this unconditionally; with --at it repositions. */
	if (sub != NULL) {
		params[2] = sub;
		db_cmd(conn, "register subconsumer",
		    "SELECT pgq_coop.register_subconsumer($1, $2, $3)", 3, params);
	} else if (at != NULL) {
		params[2] = at;
		db_cmd(conn, "register consumer",
		    "SELECT pgq.register_consumer_at($1, $2, $3::bigint)", 3, params);
	} else {
		db_cmd(conn, "register consumer",
		    "SELECT pgq.register_consumer($1, $2)", 2, params);
	}
	PQfinish(conn);
	finish(EXIT_DONE);
}
