/* pgq-next-batch: hand out a consumer's next batch as a batch record. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "exitcodes.h"
#include "sig.h"
#include "stream.h"
#include "util.h"

/* Re-check interval when notifications are expected (our PgQ sends them
 * on every tick and finish): a safety net only. */
#define RECHECK_NOTIFY_MS	10000
/* The original PgQ never notifies: polling is all there is. */
#define RECHECK_POLL_MS		500
#define BACKOFF_MAX_MS		30000

static struct opts {
	const char *conninfo;
	const char *queue;
	const char *consumer;
	const char *subconsumer;
	const char *min_count;
	const char *min_lag;
	const char *min_interval;
	const char *dead_interval;
	const char *batch_events;
	bool wait;
	bool follow;
	bool reg;
} o;

static void
usage(void)
{
	fprintf(stderr, "usage: pgq-next-batch [-d conninfo] [--wait | --follow] "
	    "[--register] [--batch-events n] [--min-count n] [--min-lag s] "
	    "[--min-interval s] [--subconsumer sub [--dead-interval s]] "
	    "queue consumer\n");
	exit(EXIT_USAGE);
}

static void
help(void)
{
	printf("usage: pgq-next-batch [-d conninfo] [--wait | --follow] "
	    "[--register] [--batch-events n] [--min-count n] [--min-lag s] "
	    "[--min-interval s] [--subconsumer sub [--dead-interval s]] "
	    "queue consumer\n"
	    "\n"
	    "Print the consumer's next batch as a batch record; exit 1 when\n"
	    "none is ready.\n"
	    "\n"
	    "  -d, --dbname=CONNINFO    database (default: PG* environment)\n"
	    "  -w, --wait               block until a batch is ready\n"
	    "  -f, --follow             keep printing each next batch once the\n"
	    "                           previous one is finished\n"
	    "  -r, --register           register the consumer first if it is not\n"
	    "  -b, --batch-events=N     under a backlog, batch spans ticks until it\n"
	    "                           has N events; else the next tick as usual\n"
	    "  -n, --min-count=N        batch spans ticks until it has N events\n"
	    "  -l, --min-lag=S          only batches whose end is S seconds old\n"
	    "  -i, --min-interval=S     batch spans ticks covering S seconds\n"
	    "  -s, --subconsumer=SUB    cooperative subconsumer (pgq_coop)\n"
	    "  -D, --dead-interval=S    take over a subconsumer idle this long\n"
	    "  -h, --help               show this help\n"
	    "  -V, --version            show the version\n");
	finish(EXIT_DONE);
}

/* An interval literal from seconds, validated by parse_seconds_ms. */
static const char *
interval_arg(const char *s, const char *what)
{
	struct buf b = {0};

	(void)parse_seconds_ms(s, what);
	buf_printf(&b, "%s seconds", s);
	return b.data;
}

struct session {
	PGconn *conn;
	bool    ours;	/* our PgQ: ticks and finishes are notified */
};

/* Query or reconnect failure that a retry may fix: false.  Errors that
 * a retry cannot fix (unknown queue or consumer) exit here. */
static bool
check(struct session *ss, PGresult *res, ExecStatusType want, const char *what)
{
	int code;

	if (PQresultStatus(res) == want)
		return true;
	code = db_status_for(ss->conn, res);
	/* The first run of a new consumer ends here: say how to go on. */
	if (code == EXIT_USAGE && PQresultErrorField(res, PG_DIAG_SQLSTATE) &&
	    strncmp(db_resmsg(res), "Not subscriber", 14) == 0)
		errx(EXIT_USAGE, "%s: %s (register it with pgq-register, or "
		    "run with --register)", what, db_resmsg(res));
	if (code != EXIT_RETRY || !(o.wait || o.follow))
		db_die(ss->conn, res, what);
	logx("%s: %s; reconnecting", what, PQresultErrorField(res, PG_DIAG_SQLSTATE)
	    ? db_resmsg(res) : db_errmsg(ss->conn));
	PQclear(res);
	return false;
}

static bool
session_open(struct session *ss)
{
	struct buf msg = {0};
	PGresult *res;
	char *chan, *sql;

	ss->conn = db_try_connect(o.conninfo, &msg);
	if (ss->conn == NULL) {
		if (!(o.wait || o.follow))
			errx(EXIT_RETRY, "%s", msg.data);
		logx("%s", msg.data);
		buf_free(&msg);
		return false;
	}
	res = PQexec(ss->conn, "SELECT to_regprocedure('pgq.skytools_c_version()') IS NOT NULL");
	if (!check(ss, res, PGRES_TUPLES_OK, "probe pgq"))
		return false;
	ss->ours = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (o.reg) {
		/* Once: a consumer unregistered while we run stays so. */
		const char *p[2] = { o.queue, o.consumer };

		res = PQexecParams(ss->conn, "SELECT pgq.register_consumer($1, $2)",
		    2, NULL, p, NULL, NULL, 0);
		if (!check(ss, res, PGRES_TUPLES_OK, "register"))
			return false;
		PQclear(res);
		o.reg = false;
	}
	if (!(o.wait || o.follow))
		return true;
	/* LISTEN before the first look, so that no tick between the look
	 * and the wait goes unnoticed. */
	chan = db_ident(ss->conn, o.queue);
	sql = xmalloc(strlen(chan) + 8);
	sprintf(sql, "LISTEN %s", chan);
	PQfreemem(chan);
	res = PQexec(ss->conn, sql);
	free(sql);
	return check(ss, res, PGRES_COMMAND_OK, "listen");
}

static void
session_close(struct session *ss)
{
	PQfinish(ss->conn);
	ss->conn = NULL;
}

/* Ask for the next batch.  Returns 1 with *res holding a row whose
 * batch_id is set, 0 when none is ready, -1 on a retryable failure. */
static int
fetch(struct session *ss, PGresult **out)
{
	const char *params[8];
	const char *sql;
	PGresult *res;
	int n = 0;

	params[n++] = o.queue;
	params[n++] = o.consumer;
	if (o.subconsumer != NULL) {
		params[n++] = o.subconsumer;
		params[n++] = o.min_lag;
		params[n++] = o.min_count;
		params[n++] = o.min_interval;
		if (o.dead_interval != NULL) {
			params[n++] = o.dead_interval;
			sql = "SELECT pgq_coop.next_batch_custom($1, $2, $3, "
			    "$4::interval, $5::int4, $6::interval, $7::interval)";
		} else {
			sql = "SELECT pgq_coop.next_batch_custom($1, $2, $3, "
			    "$4::interval, $5::int4, $6::interval)";
		}
	} else {
		params[n++] = o.min_lag;
		/* Under a backlog, one batch over many ticks: the per-batch
		 * round trips and commits then cost little against the rows. */
		params[n++] = o.batch_events != NULL ? o.batch_events : o.min_count;
		params[n++] = o.min_interval;
		sql = "SELECT batch_id, cur_tick_id, prev_tick_id, cur_tick_time, "
		    "prev_tick_time, $2 FROM pgq.next_batch_custom($1, $2, "
		    "$3::interval, $4::int4, $5::interval)";
	}
	res = PQexecParams(ss->conn, sql, n, NULL, params, NULL, NULL, 0);
	if (!check(ss, res, PGRES_TUPLES_OK, "next batch"))
		return -1;
	if (o.batch_events != NULL &&
	    (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))) {
		/* Fewer events wait than the count: take every tick there
		 * is, up to the queue's last one, which is the first tick
		 * as far from the consumer's as the last.  Without a tick
		 * time (NULL) this is the plain next tick. */
		PQclear(res);
		res = PQexecParams(ss->conn, "SELECT batch_id, cur_tick_id, "
		    "prev_tick_id, cur_tick_time, prev_tick_time, $2 "
		    "FROM pgq.next_batch_custom($1, $2, $3::interval, NULL, "
		    "(SELECT c.lag - q.ticker_lag FROM pgq.get_consumer_info($1, $2) c, "
		    "pgq.get_queue_info($1) q))", 3, NULL, params, NULL, NULL, 0);
		if (!check(ss, res, PGRES_TUPLES_OK, "next batch"))
			return -1;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		PQclear(res);
		return 0;
	}
	if (o.subconsumer != NULL) {
		/* pgq_coop hands out a bare id; the ticks come from
		 * get_batch_info, asked once the batch is committed as ours. */
		char *id = xstrdup(PQgetvalue(res, 0, 0));
		const char *p1[1] = { id };

		PQclear(res);
		res = PQexecParams(ss->conn, "SELECT $1::int8, tick_id, "
		    "prev_tick_id, batch_end, batch_start, consumer_name "
		    "FROM pgq.get_batch_info($1)", 1, NULL, p1, NULL, NULL, 0);
		free(id);
		if (!check(ss, res, PGRES_TUPLES_OK, "batch info"))
			return -1;
	}
	*out = res;
	return 1;
}

static void
print_batch(PGresult *res)
{
	const char *v[BATCH_NF];

	v[B_ID] = PQgetvalue(res, 0, 0);
	v[B_CUR_TICK] = PQgetvalue(res, 0, 1);
	v[B_PREV_TICK] = PQgetvalue(res, 0, 2);
	v[B_CUR_TIME] = PQgetvalue(res, 0, 3);
	v[B_PREV_TIME] = PQgetvalue(res, 0, 4);
	v[B_QUEUE] = o.queue;
	/* For a subconsumer this is PgQ's own name of its batch owner. */
	v[B_CONSUMER] = PQgetisnull(res, 0, 5) ? o.consumer : PQgetvalue(res, 0, 5);
	stream_write_batch(stdout, v);
	if (fflush(stdout) != 0)
		err(EXIT_RETRY, "write stdout");
}

/* Sleep until a notification, the timeout, a signal, or the reader of
 * stdout going away.  Returns false when the connection broke. */
static bool
wait_wakeup(struct session *ss, int timeout_ms)
{
	struct pollfd pfd[2];
	PGnotify *n;
	int nfd = 0;

	if (ss->conn != NULL) {
		pfd[nfd].fd = PQsocket(ss->conn);
		pfd[nfd++].events = POLLIN;
	}
	pfd[nfd].fd = STDOUT_FILENO;
	pfd[nfd++].events = 0;	/* errors only: downstream gone */
	if (poll(pfd, (nfds_t)nfd, timeout_ms) < 0) {
		if (errno != EINTR)
			err(EXIT_RETRY, "poll");
		return true;
	}
	if (pfd[nfd - 1].revents & (POLLERR | POLLHUP | POLLNVAL))
		errx(EXIT_RETRY, "stdout closed (downstream died?)");
	if (ss->conn == NULL || pfd[0].revents == 0)
		return true;
	if (!PQconsumeInput(ss->conn)) {
		logx("connection lost: %s; reconnecting", db_errmsg(ss->conn));
		return false;
	}
	while ((n = PQnotifies(ss->conn)) != NULL)
		PQfreemem(n);
	return true;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "dbname",        required_argument, NULL, 'd' },
		{ "wait",          no_argument,       NULL, 'w' },
		{ "follow",        no_argument,       NULL, 'f' },
		{ "min-count",     required_argument, NULL, 'n' },
		{ "min-lag",       required_argument, NULL, 'l' },
		{ "min-interval",  required_argument, NULL, 'i' },
		{ "subconsumer",   required_argument, NULL, 's' },
		{ "dead-interval", required_argument, NULL, 'D' },
		{ "batch-events",  required_argument, NULL, 'b' },
		{ "register",      no_argument,       NULL, 'r' },
		{ "help",          no_argument,       NULL, 'h' },
		{ "version",       no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct session ss = {0};
	long long last = 0, backoff = 0;
	int c;

	while ((c = getopt_long(argc, argv, "b:D:d:fhi:l:n:rs:Vw", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			parse_num(optarg, 1, 1000000000, "batch events");
			o.batch_events = optarg;
			break;
		case 'D': o.dead_interval = interval_arg(optarg, "dead interval"); break;
		case 'd': o.conninfo = db_conninfo_arg(optarg); break;
		case 'f': o.follow = true; break;
		case 'h': help(); break;
		case 'i': o.min_interval = interval_arg(optarg, "min interval"); break;
		case 'l': o.min_lag = interval_arg(optarg, "min lag"); break;
		case 'n':
			parse_num(optarg, 1, 1000000000, "min count");
			o.min_count = optarg;
			break;
		case 'r': o.reg = true; break;
		case 's': o.subconsumer = optarg; break;
		case 'V': print_version(); break;
		case 'w': o.wait = true; break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();
	if (o.dead_interval != NULL && o.subconsumer == NULL)
		errx(EXIT_USAGE, "--dead-interval needs --subconsumer");
	if (o.reg && o.subconsumer != NULL)
		errx(EXIT_USAGE, "--register does not go with --subconsumer");
	if (o.batch_events != NULL && (o.subconsumer != NULL ||
	    o.min_count != NULL || o.min_interval != NULL))
		errx(EXIT_USAGE, "--batch-events goes with neither --subconsumer, "
		    "--min-count nor --min-interval");
	o.queue = argv[optind];
	o.consumer = argv[optind + 1];
	if (o.wait || o.follow)
		sig_catch_stop();

	while (!sig_stop) {
		PGresult *res = NULL;
		int got;

		if (ss.conn == NULL && !session_open(&ss)) {
			session_close(&ss);
			backoff = backoff ? backoff * 2 : 500;
			if (backoff > BACKOFF_MAX_MS)
				backoff = BACKOFF_MAX_MS;
			logx("reconnecting in %lld ms", backoff);
			wait_wakeup(&ss, (int)backoff);
			continue;
		}
		got = fetch(&ss, &res);
		if (got < 0) {
			session_close(&ss);
			continue;
		}
		backoff = 0;
		if (got > 0) {
			long long id = stream_parse_id(PQgetvalue(res, 0, 0));

			/* An unfinished batch comes back from next_batch until
			 * it is finished; print it only once. */
			if (id != last) {
				print_batch(res);
				last = id;
				PQclear(res);
				if (!o.follow)
					break;
				continue;
			}
			PQclear(res);
		}
		if (!(o.wait || o.follow)) {
			PQfinish(ss.conn);
			finish(EXIT_NO);
		}
		if (!wait_wakeup(&ss, ss.ours ? RECHECK_NOTIFY_MS : RECHECK_POLL_MS))
			session_close(&ss);
	}
	PQfinish(ss.conn);
	finish(EXIT_DONE);
}
