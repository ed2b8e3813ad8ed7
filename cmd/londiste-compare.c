/* londiste-compare: row count and an order-independent hash of a table
 * on provider and subscriber, at the same point of the stream. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "exitcodes.h"
#include "lonpoint.h"
#include "util.h"

#define USAGE "usage: londiste-compare -s provider [-d subscriber] --consumer name" \
	" [--lock-timeout seconds] [--count-only] [table ...]\n"

static void
usage(void)
{
	fprintf(stderr, USAGE);
	exit(EXIT_USAGE);
}

static void
help(void)
{
	printf(USAGE
	    "\n"
	    "Compare replicated tables on both sides at one point of the stream and\n"
	    "print one line per table: name, provider rows, subscriber rows,\n"
	    "provider hash, subscriber hash, \"equal\" or \"differ\".\n"
	    "\n"
	    "  -s, --provider=CONNINFO    provider database\n"
	    "  -d, --dbname=CONNINFO      subscriber database (default: PG* environment)\n"
	    "  -c, --consumer=NAME        consumer that replays the queue\n"
	    "  -t, --lock-timeout=SECONDS wait for the provider lock and the\n"
	    "                             subscriber at most this long (default 10)\n"
	    "      --count-only           count the rows only, without hashing them\n"
	    "                             (both hashes are printed as -)\n"
	    "  -h, --help                 show this help\n"
	    "  -V, --version              show the version\n");
	finish(EXIT_DONE);
}

/* --count-only: londiste 3's switch for tables too big to hash in the
 * time one can hold the point of the stream; equal counts say less. */
static int count_only;

/* Row count and the sum of a 64-bit hash of each row: equal sums of
 * equal multisets, whatever the order. */
static void
summary(PGconn *conn, const char *qname, const char *cols, char **count, char **hash)
{
	struct buf sql = {0};
	PGresult *res;

	if (count_only)
		buf_printf(&sql, "SELECT count(*), '-' FROM %s", qname);
	else
		buf_printf(&sql, "SELECT count(*), coalesce(sum(('x' || substr(md5(ROW(%s)::text),"
		    " 1, 16))::bit(64)::bigint::numeric), 0) FROM %s", cols, qname);
	res = db_exec(conn, "hash rows", sql.data, 0, NULL);
	*count = xstrdup(PQgetvalue(res, 0, 0));
	*hash = xstrdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	buf_free(&sql);
}

/* The columns only one side has, as "provider only: a, b; subscriber
 * only: c", or NULL when both have the same (in any order).  t is left
 * with the columns both have, the ones compared. */
static char *
column_diff(PGconn *prov, struct lontable *t)
{
	struct buf out = {0};
	char *only_p, *only_s;

	lon_common_columns(prov, t, &only_p, &only_s);
	if (only_p != NULL)
		buf_printf(&out, "provider only: %s", only_p);
	if (only_s != NULL)
		buf_printf(&out, "%ssubscriber only: %s", out.len ? "; " : "", only_s);
	free(only_p);
	free(only_s);
	return out.data;
}

static int
compare(PGconn *plock, PGconn *pread, PGconn *sread, const char *consumer,
    struct lontable *t, long long timeout_ms)
{
	char *pc, *ph, *sc, *sh, *cdiff;
	int same;

	lon_provider(pread, t);
	/* A column on one side only: the rows are compared on the columns
	 * both have, as londiste 3's compare does (and as the copy copied
	 * them), and the line names the others. */
	cdiff = column_diff(pread, t);
	lon_point(plock, pread, sread, NULL, consumer, t, timeout_ms);
	summary(pread, t->pqname, t->cols, &pc, &ph);
	summary(sread, t->sqname, t->cols, &sc, &sh);
	db_cmd(pread, "end", "COMMIT", 0, NULL);
	db_cmd(sread, "end", "COMMIT", 0, NULL);
	same = strcmp(pc, sc) == 0 && strcmp(ph, sh) == 0;
	printf("%s\t%s\t%s\t%s\t%s\t%s", t->name, pc, sc, ph, sh,
	    same ? "equal" : "differ");
	if (cdiff != NULL)
		printf("\tcolumns: %s", cdiff);
	putchar('\n');
	if (fflush(stdout) != 0)
		err(EXIT_RETRY, "write error on stdout");
	free(pc);
	free(ph);
	free(sc);
	free(sh);
	free(cdiff);
	return same;
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "consumer", required_argument, NULL, 'c' },
		{ "count-only", no_argument, &count_only, 1 },
		{ "dbname", required_argument, NULL, 'd' },
		{ "lock-timeout", required_argument, NULL, 't' },
		{ "provider", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dbname = NULL, *provider = NULL, *consumer = NULL;
	long long timeout_ms = 10000;
	PGconn *sub, *plock, *pread;
	struct lontable t;
	int c, i, differ = 0;

	while ((c = getopt_long(argc, argv, "c:d:hs:t:V", opts, NULL)) != -1) {
		switch (c) {
		case 0:
			break;
		case 'c':
			consumer = optarg;
			break;
		case 'd':
			dbname = db_conninfo_arg(optarg);
			break;
		case 'h':
			help();
			break;
		case 's':
			provider = db_conninfo_arg(optarg);
			break;
		case 't':
			timeout_ms = lon_timeout_arg(optarg);
			break;
		case 'V':
			print_version();
			break;
		default:
			usage();
		}
	}
	if (provider == NULL || consumer == NULL)
		usage();

	sub = db_connect(dbname);
	plock = db_connect(provider);
	pread = db_connect(provider);

	if (optind < argc) {
		for (i = optind; i < argc; i++) {
			lon_table(sub, consumer, argv[i], &t);
			differ |= !compare(plock, pread, sub, consumer, &t, timeout_ms);
			lontable_free(&t);
		}
	} else {
		/* Every table of the queue that replay keeps up to date. */
		char *queue = lon_queue(sub, consumer);
		const char *p[1] = { queue };
		PGresult *res = db_exec(sub, "list tables", "SELECT table_name"
		    " FROM londiste.subscriber_table WHERE queue_name = $1"
		    " AND state IN ('ok', 'catching-up') ORDER BY table_name", 1, p);

		for (i = 0; i < PQntuples(res); i++) {
			lon_table(sub, consumer, PQgetvalue(res, i, 0), &t);
			differ |= !compare(plock, pread, sub, consumer, &t, timeout_ms);
			lontable_free(&t);
		}
		PQclear(res);
		free(queue);
	}
	PQfinish(sub);
	PQfinish(plock);
	PQfinish(pread);
	finish(differ ? EXIT_NO : EXIT_DONE);
}
