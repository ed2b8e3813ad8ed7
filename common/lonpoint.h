/* Tier: product (libpq, the stream, PgQ, Londiste or WAL; may include any header). */
/* lonpoint.h: Londiste helpers shared by copy, compare and repair:
 * which queue a subscriber table belongs to, and a point in the stream
 * where provider and subscriber hold the same rows of a table. */
#ifndef LONPOINT_H
#define LONPOINT_H

#include <libpq-fe.h>
#include <stdbool.h>

/* A table registered on the subscriber. */
struct lontable {
	char *queue;
	char *name;	/* canonical: schema.relation as in ev_extra1 */
	char *lname;	/* the relation here, canonical: dest_table or name */
	char *sqname;	/* quoted name on the subscriber */
	char *pqname;	/* quoted name on the provider (after lon_provider) */
	char *cols;	/* quoted column list of the subscriber, comma separated */
	char **colv;	/* the same, one per column, quoted */
	int ncol;
	int *pkidx;	/* key columns as indexes into colv, in key order */
	int npk;
	char *state;
};

/* The queue consumer reads on the subscriber; exits 2 if ambiguous or
 * unknown. */
char *lon_queue(PGconn *sub, const char *consumer);

/* Resolve a table given on the command line (canonical name, bare name
 * or quoted SQL name) to its registration on the subscriber; exits 2 when
 * it is not registered.  consumer decides between queues.  The table of
 * a cascade node's set may be held here under its dest_table name
 * (londiste.table_info): sqname, lname and the columns are that
 * relation's. */
void lon_table(PGconn *sub, const char *consumer, const char *arg, struct lontable *t);

/* Check that the provider replicates t in t->queue and fill t->pqname;
 * exits 2 if not. */
void lon_provider(PGconn *prov, struct lontable *t);
bool lon_is_node(PGconn *conn, const char *queue);
void lon_provider_synced(PGconn *prov, const struct lontable *t);

/*
 * Narrow t's columns to those the provider's table has too, by name and
 * in the subscriber's order (after lon_provider): copy, compare and
 * repair read and write only those, as londiste 3 does.  *only_p and
 * *only_s get the quoted names only the provider, only the subscriber
 * has, ", " separated (malloc'd; NULL when none).  Returns 0, or -1 when
 * a key column is one the provider lacks (t->npk is then 0).  Exits 2
 * when the two tables have no column in common.
 */
int lon_common_columns(PGconn *prov, struct lontable *t, char **only_p, char **only_s);

/* The same, false instead of the exit: for a caller to which a table
 * the provider no longer has is a removal still on its way. */
bool lon_provider_has(PGconn *prov, struct lontable *t);

void lontable_free(struct lontable *t);

/* Make a tick of queue p[0] on the provider; its id (malloc'd), made
 * after the call, or NULL with the provider's message in *err. */
char *lon_tick(PGconn *prov, const char **p, char **err);

/* Bring both sides to one point of the stream for table t.
 * The origin is the provider when it is a root or a Skytools 2
 * provider; when it is a cascade branch (pgq_node says so), the root
 * found up its providers, reached on two connections of its own (exits
 * 3 naming the node that cannot be reached).  Make a tick at the origin
 * and wait (at most timeout_ms, holding no lock) until the subscriber
 * applied it, so that a stopped or lagging replay never blocks the
 * origin's writers; then lock the origin's table (plock on the
 * provider, SHARE mode, waiting at most timeout_ms), make a tick there,
 * open a REPEATABLE READ snapshot on pread (below a branch: once the
 * provider applied that tick), wait until the subscriber applied it
 * (these two waits: at most timeout_ms in all), open one on sread (and,
 * when slock is not NULL, lock the subscriber table EXCLUSIVE in a
 * transaction there, so replay waits until the caller commits), then
 * release the lock.  Exits 3 on timeout. */
void lon_point(PGconn *plock, PGconn *pread, PGconn *sread, PGconn *slock,
    const char *consumer, const struct lontable *t, long long timeout_ms);

/* --lock-timeout's seconds in ms; exits 2 unless more than 0. */
long long lon_timeout_arg(const char *s);

#endif
