/* pgq-config: show or change a queue's settings. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copytext.h"
#include "db.h"
#include "exitcodes.h"
#include "util.h"

static const char usage_line[] =
	"usage: pgq-config [-d conninfo] queue [key=value ...]\n";

/* The settings pgq.set_queue_config accepts: the first six are shown
 * (pgq.get_queue_info has them, in the original PgQ too), the others can
 * only be set. */
static const char *const keys[] = {
	"ticker_max_count", "ticker_max_lag", "ticker_idle_period",
	"ticker_paused", "rotation_period", "external_ticker",
	"disable_insert", "per_tx_limit", NULL
};
#define NSHOWN 6

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
	      "  -V, --version          show the version\n"
	      "keys: ticker_max_count ticker_max_lag ticker_idle_period\n"
	      "      ticker_paused rotation_period external_ticker\n"
	      "      disable_insert per_tx_limit (set only)\n"
	      "      each also with Skytools' queue_ prefix\n", stdout);
	finish(EXIT_DONE);
}

static void
show(PGconn *conn, const char *queue)
{
	struct buf line = {0};
	const char *params[1] = { queue };
	PGresult *res;
	int i;

	res = db_exec(conn, "read queue settings",
	    "SELECT queue_ticker_max_count::text, queue_ticker_max_lag::text,"
	    " queue_ticker_idle_period::text, queue_ticker_paused::text,"
	    " queue_rotation_period::text, queue_external_ticker::text"
	    " FROM pgq.get_queue_info($1)", 1, params);
	if (PQntuples(res) == 0)
		errx(EXIT_USAGE, "no such queue: %s", queue);
	printf("key\tvalue\n");
	for (i = 0; i < NSHOWN; i++) {
		buf_reset(&line);
		buf_addstr(&line, keys[i]);
		buf_addch(&line, '\t');
		if (PQgetisnull(res, 0, i))
			buf_addstr(&line, "\\N");
		else
			copytext_escape(&line, PQgetvalue(res, 0, i),
			    (size_t)PQgetlength(res, 0, i));
		buf_addch(&line, '\n');
		fwrite(line.data, 1, line.len, stdout);
	}
	buf_free(&line);
	PQclear(res);
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
	PGresult *res;
	PGconn *conn;
	int c, i, k;

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
	if (argc < 1 || argv[0][0] == '\0')
		usage();
	/* Check every pair before connecting: nothing is changed unless
	 * all of them are well formed. */
	for (i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		const char *key;

		if (eq == NULL || eq == argv[i])
			errx(EXIT_USAGE, "not a key=value pair: %s", argv[i]);
		/* Skytools' pgqadm documents the column names (queue_...);
		 * the original pgq.set_queue_config takes only the short
		 * ones, so the prefix goes before it is called. */
		if (strncmp(argv[i], "queue_", 6) == 0 && eq - argv[i] > 6)
			argv[i] += 6;
		key = argv[i];
		for (k = 0; keys[k] != NULL; k++)
			if (strlen(keys[k]) == (size_t)(eq - key) &&
			    strncmp(keys[k], key, (size_t)(eq - key)) == 0)
				break;
		if (keys[k] == NULL)
			errx(EXIT_USAGE, "unknown setting: %.*s",
			    (int)(eq - argv[i]), argv[i]);
	}

	conn = db_connect(conninfo);
	if (argc == 1) {
		show(conn, argv[0]);
		PQfinish(conn);
		finish(EXIT_DONE);
	}
	/* All pairs in one transaction: all of them apply or none. */
	db_cmd(conn, "begin", "BEGIN", 0, NULL);
	{
		const char *params[1] = { argv[0] };

		res = db_exec(conn, "look up queue",
		    "SELECT 1 FROM pgq.get_queue_info($1)", 1, params);
		if (PQntuples(res) == 0)
			errx(EXIT_USAGE, "no such queue: %s", argv[0]);
		PQclear(res);
	}
	for (i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		const char *params[3];

		*eq = '\0';
		params[0] = argv[0];
		params[1] = argv[i];
		params[2] = eq + 1;
		db_cmd(conn, "set queue config",
		    "SELECT pgq.set_queue_config($1, $2, $3)", 3, params);
	}
	db_cmd(conn, "commit", "COMMIT", 0, NULL);
	PQfinish(conn);
	finish(EXIT_DONE);
}
