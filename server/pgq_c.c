/* pgq_c.c: PgQ's hot paths in C: the event insert and the row triggers.
 *
 * The PL/pgSQL versions in sql/pgq/30-insert.sql and 80-triggers.sql are
 * the specification and the fallback where no C module can be loaded;
 * sql/pgq/90-c-fastpath.sql switches to these functions when this
 * library loads.  Events must come out byte-identical, so every check
 * runs in the PL/pgSQL order with the same message and SQLSTATE, and
 * every value is formatted by the same server function the SQL uses
 * (type output functions, quote_identifier, quote_literal_cstr,
 * escape_json, JsonEncodeDateTime).
 *
 * Speed comes from storing an event without planning an INSERT (see
 * EvTable), from reading a queue's row once a transaction (see
 * QueueInfo), from the triggers calling the insert without fmgr's
 * per-call settings (see ie_direct) and from caching what the triggers
 * learn about a table (columns, output functions, primary key,
 * expression plans) until a relcache invalidation says the table
 * changed. */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

PG_MODULE_MAGIC;

void _PG_init(void);

/* ---- the event insert ---- */

/* Longest event table or queue name whose plan or row is cached; a
 * longer one (only a hand-edited pgq.queue row makes one) is read and
 * planned on every call. */
#define TBLKEY 256

/* The event's columns in insert_event_raw's parameter order.  The
 * PL/pgSQL insert_event names ev_id and the last six; ev_time, ev_owner
 * and ev_retry then take the table's defaults, as every column that
 * neither names. */
enum { C_ID, C_TIME, C_OWNER, C_RETRY, C_TYPE, C_DATA, C_X1, C_X2, C_X3,
	C_X4, NEVCOL };
static const Oid ev_types[NEVCOL] = { INT8OID, TIMESTAMPTZOID, INT4OID,
	INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID };

/* One event on its way in.  raw: every column given (insert_event_raw);
 * otherwise ev_time, ev_owner and ev_retry are not. */
typedef struct EvRow {
	bool raw;
	Datum v[NEVCOL];
	bool null[NEVCOL];
} EvRow;

static bool
given(bool raw, int k)
{
	return raw || k < C_TIME || k > C_RETRY;
}

typedef struct InsertPlan {
	char key[TBLKEY];	/* 'e' or 'r' (raw), then the table name */
	SPIPlanPtr plan;
} InsertPlan;

static SPIPlanPtr queue_plan;
static HTAB *insert_plans;

static SPIPlanPtr
prepare(const char *sql, int nargs, Oid *types, bool keep)
{
	SPIPlanPtr p = SPI_prepare(sql, nargs, types);

	if (p == NULL)
		elog(ERROR, "pgq_c: SPI_prepare of \"%s\": %s", sql,
		    SPI_result_code_string(SPI_result));
	if (keep && SPI_keepplan(p) != 0)
		elog(ERROR, "pgq_c: SPI_keepplan failed");
	return p;
}

static HTAB *
string_hash(const char *name, long n, Size entry)
{
	HASHCTL ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = TBLKEY;
	ctl.entrysize = entry;
	return hash_create(name, n, &ctl, HASH_ELEM | HASH_STRINGS);
}

/* The INSERT the PL/pgSQL version runs, table name spliced in as it
 * does; saved per table unless the name is too long for the key (then
 * valid only until SPI_finish). */
static SPIPlanPtr
insert_plan(const char *tbl, bool raw)
{
	InsertPlan *ip = NULL;
	char key[TBLKEY];
	bool found;
	char *sql;
	Oid types[NEVCOL];
	int n = 0, k;

	if (strlen(tbl) + 2 <= TBLKEY) {
		if (insert_plans == NULL)
			insert_plans = string_hash("pgq_c insert plans", 64,
			    sizeof(InsertPlan));
		memset(key, 0, sizeof(key));
		key[0] = raw ? 'r' : 'e';
		strcpy(key + 1, tbl);
		ip = hash_search(insert_plans, key, HASH_ENTER, &found);
		if (!found)
			ip->plan = NULL;
		if (ip->plan != NULL)
			return ip->plan;
	}
	if (raw)
		sql = psprintf("INSERT INTO %s (ev_id, ev_time, ev_owner, ev_retry,"
		    " ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4)"
		    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", tbl);
	else
		sql = psprintf("INSERT INTO %s (ev_id, ev_type, ev_data, ev_extra1,"
		    " ev_extra2, ev_extra3, ev_extra4)"
		    " VALUES ($1, $2, $3, $4, $5, $6, $7)", tbl);
	for (k = 0; k < NEVCOL; k++)
		if (given(raw, k))
			types[n++] = ev_types[k];
	if (ip == NULL)
		return prepare(sql, n, types, false);
	ip->plan = prepare(sql, n, types, true);
	return ip->plan;
}

/* ---- the direct insert ---- */

/* The start of the entries of the caches kept per table, which a
 * relcache invalidation marks stale. */
typedef struct RelKey {
	Oid relid;		/* hash key */
	bool valid;
} RelKey;

/* The executor's single-row insert takes a ResultRelInfo from
 * PostgreSQL 14 on; built against an older server, every event goes
 * through the planned INSERT. */
#define DIRECT_INSERT (PG_VERSION_NUM >= 140000)
#if DIRECT_INSERT
static const char *const ev_cols[NEVCOL] = { "ev_id", "ev_time",
	"ev_owner", "ev_retry", "ev_type", "ev_data", "ev_extra1", "ev_extra2",
	"ev_extra3", "ev_extra4" };

/* How an event table takes a row.  Most take it directly: the row is
 * formed here, the table's defaults filled in, and stored, checked and
 * indexed by the executor's single-row insert (the one logical
 * replication applies rows with).  Planning, executor start-up and the
 * VALUES projection of a planned INSERT were most of an event's cost.
 * A table that INSERT would treat in any way this does not (triggers,
 * rules, row security, a partition, generated, identity or domain
 * columns, an event column missing or of another type) keeps the
 * planned INSERT.  Kept until a relcache invalidation of the table. */
typedef struct EvTable {
	RelKey key;
	bool direct;
	MemoryContext cxt;	/* defval */
	AttrNumber att[NEVCOL];	/* where each event column is */
	ExprState **defval;	/* per attribute; NULL: no default */
} EvTable;

static HTAB *ev_cache;

/* Whether rel takes the direct insert; att[] filled in when it does. */
static bool
direct_ok(Relation rel, AttrNumber *att)
{
	TupleDesc desc = RelationGetDescr(rel);
	int i, k;

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
	    rel->rd_rel->relispartition || rel->rd_rel->relrowsecurity ||
	    rel->rd_rules != NULL || rel->trigdesc != NULL)
		return false;
	for (k = 0; k < NEVCOL; k++)
		att[k] = InvalidAttrNumber;
	for (i = 0; i < desc->natts; i++) {
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (a->attisdropped)
			continue;
		if (a->attgenerated != '\0' || a->attidentity != '\0' ||
		    get_typtype(a->atttypid) == TYPTYPE_DOMAIN)
			return false;
		for (k = 0; k < NEVCOL; k++) {
			if (strcmp(NameStr(a->attname), ev_cols[k]) != 0)
				continue;
			if (a->atttypid != ev_types[k])
				return false;
			att[k] = i + 1;
		}
	}
	for (k = 0; k < NEVCOL; k++)
		if (att[k] == InvalidAttrNumber)
			return false;
	return true;
}

/* The defaults, as the rewriter finds them for columns an INSERT does
 * not name, ready to evaluate. */
static void
load_evtable(EvTable *et, Relation rel)
{
	TupleDesc desc = RelationGetDescr(rel);
	MemoryContext cxt, old;
	int i;

	if (et->cxt != NULL)
		MemoryContextDelete(et->cxt);
	et->cxt = NULL;
	et->defval = NULL;
	et->key.valid = true;	/* an invalidation during loading clears it */
	et->direct = direct_ok(rel, et->att);
	if (!et->direct)
		return;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pgq_c event table",
	    ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	et->defval = palloc0(sizeof(ExprState *) * (desc->natts + 1));
	for (i = 0; i < desc->natts; i++) {
		Node *d;

		if (TupleDescAttr(desc, i)->attisdropped)
			continue;
		d = build_column_default(rel, i + 1);
		if (d != NULL)
			et->defval[i] = ExecInitExpr(expression_planner((Expr *)d),
			    NULL);
	}
	MemoryContextSwitchTo(old);
	MemoryContextSetParent(cxt, CacheMemoryContext);
	et->cxt = cxt;
}

/* The entry of relid in a per-backend cache keyed by relation oid,
 * made on first use. */
static void *
oid_cache_enter(HTAB **cache, const char *name, long nelem, Size entrysize,
    Oid relid, bool *found)
{
	if (*cache == NULL) {
		HASHCTL ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = entrysize;
		*cache = hash_create(name, nelem, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	return hash_search(*cache, &relid, HASH_ENTER, found);
}

static EvTable *
get_evtable(Relation rel)
{
	Oid relid = RelationGetRelid(rel);
	EvTable *et;
	bool found;

	et = oid_cache_enter(&ev_cache, "pgq_c event tables", 16,
	    sizeof(EvTable), relid, &found);
	if (!found) {
		et->key.valid = false;
		et->cxt = NULL;
	}
	if (!et->key.valid)
		load_evtable(et, rel);
	return et;
}

/* The executor state of the direct insert into one table: the EState,
 * the ResultRelInfo with the table's indexes open, the slot.  Built at
 * the first event of a (sub)transaction into the table and kept until
 * that (sub)transaction ends, the table or one of its indexes sees a
 * relcache invalidation, the next event goes to another table, or a
 * utility statement runs: building it for every event cost about as
 * much as storing the event.
 *
 * The table and its indexes are opened under the resource owner of the
 * (sub)transaction, not the statement's, so that they outlive the
 * statement; they are closed at its commit and forgotten at its abort,
 * whose resource owner releases them.  Other sessions cannot change
 * them meanwhile: the RowExclusiveLock held keeps their DDL out, and
 * CREATE INDEX CONCURRENTLY waits for this transaction to end before
 * its index takes rows.  This session's own DDL would find them open
 * ("being used by active queries"): every utility statement closes them
 * first (see utility_hook); a change without one (a catalog edited by
 * hand) still sends the invalidation that marks them stale. */
typedef struct DirectIns {
	Oid relid;		/* InvalidOid: none open */
	bool stale;
	bool busy;		/* in use: a default or CHECK may insert too */
	SubTransactionId subid;	/* the (sub)transaction that opened it */
	ResourceOwner owner;	/* and its resource owner */
	Relation rel;
	EState *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	bool *set;
} DirectIns;

static DirectIns dins;

/* Close what dins holds (release: under the owner that opened it) or,
 * when that owner is being released anyway, just forget it. */
static void
dins_close(bool release)
{
	ResourceOwner save = CurrentResourceOwner;

	if (!OidIsValid(dins.relid) || (release && dins.busy))
		return;
	dins.relid = InvalidOid;
	dins.busy = false;
	if (!release)
		return;
	/* the slot's pin of the descriptor is that owner's too */
	CurrentResourceOwner = dins.owner;
	ExecCloseIndices(dins.rri);
	table_close(dins.rel, NoLock);
	ExecResetTupleTable(dins.estate->es_tupleTable, false);
	CurrentResourceOwner = save;
	FreeExecutorState(dins.estate);
}

static void
dins_open(Relation rel)
{
	ResourceOwner save = CurrentResourceOwner;
	MemoryContext old = MemoryContextSwitchTo(CurTransactionContext);
	TupleDesc desc = RelationGetDescr(rel);

	/* an error in here leaves dins closed; its owner releases the rest */
	CurrentResourceOwner = CurTransactionResourceOwner;
	dins.estate = CreateExecutorState();
	MemoryContextSwitchTo(dins.estate->es_query_cxt);
	dins.rel = table_open(RelationGetRelid(rel), NoLock);
	dins.rri = makeNode(ResultRelInfo);
	InitResultRelInfo(dins.rri, dins.rel, 0, NULL, 0);
	ExecOpenIndices(dins.rri, false);
	dins.slot = ExecInitExtraTupleSlot(dins.estate, desc, &TTSOpsVirtual);
	dins.set = palloc(sizeof(bool) * (desc->natts + 1));
	CurrentResourceOwner = save;
	MemoryContextSwitchTo(old);
	dins.owner = CurTransactionResourceOwner;
	dins.subid = GetCurrentSubTransactionId();
	dins.stale = false;
	dins.relid = RelationGetRelid(rel);
}

static void
dins_xact_cb(XactEvent ev, void *arg)
{
	switch (ev) {
	case XACT_EVENT_PRE_COMMIT:
	case XACT_EVENT_PARALLEL_PRE_COMMIT:
	case XACT_EVENT_PRE_PREPARE:
		dins_close(true);
		break;
	case XACT_EVENT_ABORT:
	case XACT_EVENT_PARALLEL_ABORT:
		dins_close(false);
		break;
	default:
		break;
	}
}

static void
dins_subxact_cb(SubXactEvent ev, SubTransactionId sub,
    SubTransactionId parent, void *arg)
{
	if (!OidIsValid(dins.relid) || dins.subid != sub)
		return;
	if (ev == SUBXACT_EVENT_PRE_COMMIT_SUB)
		dins_close(true);
	else if (ev == SUBXACT_EVENT_ABORT_SUB)
		dins_close(false);
}

/* An invalidation of the table or of one of its indexes. */
static void
dins_inval(Oid relid)
{
	int i;

	if (!OidIsValid(dins.relid))
		return;
	if (!OidIsValid(relid) || relid == dins.relid)
		dins.stale = true;
	for (i = 0; i < dins.rri->ri_NumIndices; i++)
		if (RelationGetRelid(dins.rri->ri_IndexRelationDescs[i]) == relid)
			dins.stale = true;
}

/* Fill dins's slot with r and the defaults, and store it. */
static void
dins_insert(EvTable *et, const EvRow *r)
{
	TupleTableSlot *slot = dins.slot;
	ExprContext *ec = GetPerTupleExprContext(dins.estate);
	int natts = slot->tts_tupleDescriptor->natts;
	MemoryContext old;
	int i, k;

	dins.estate->es_output_cid = GetCurrentCommandId(true);
	/* an insert that failed in a subtransaction may have left it full */
	ExecClearTuple(slot);
	ResetExprContext(ec);
	old = MemoryContextSwitchTo(ec->ecxt_per_tuple_memory);
	memset(dins.set, 0, sizeof(bool) * (natts + 1));
	for (k = 0; k < NEVCOL; k++) {
		if (!given(r->raw, k))
			continue;
		i = et->att[k] - 1;
		slot->tts_values[i] = r->v[k];
		slot->tts_isnull[i] = r->null[k];
		dins.set[i] = true;
	}
	for (i = 0; i < natts; i++) {
		if (dins.set[i])
			continue;
		slot->tts_values[i] = (Datum)0;
		slot->tts_isnull[i] = true;
		if (et->defval[i] != NULL)
			slot->tts_values[i] = ExecEvalExpr(et->defval[i], ec,
			    &slot->tts_isnull[i]);
	}
	ExecStoreVirtualTuple(slot);
	ExecSimpleRelationInsert(dins.rri, dins.estate, slot);
	ExecClearTuple(slot);
	MemoryContextSwitchTo(old);
	ResetExprContext(ec);
}

static ProcessUtility_hook_type prev_utility;

/* DDL in this session finds the event table closed (see DirectIns). */
static void
utility_hook(PlannedStmt *pstmt, const char *query, bool ro,
    ProcessUtilityContext ctx, ParamListInfo params, QueryEnvironment *env,
    DestReceiver *dest, QueryCompletion *qc)
{
	dins_close(true);
	(prev_utility != NULL ? prev_utility : standard_ProcessUtility)(pstmt,
	    query, ro, ctx, params, env, dest, qc);
}

static void
direct_insert(EvTable *et, Relation rel, const EvRow *r)
{
	if (OidIsValid(dins.relid) &&
	    (dins.stale || dins.relid != RelationGetRelid(rel)))
		dins_close(true);
	if (!OidIsValid(dins.relid))
		dins_open(rel);
	dins.busy = true;
	PG_TRY();
	{
		dins_insert(et, r);
	}
	PG_FINALLY();
	{
		dins.busy = false;
	}
	PG_END_TRY();
}
#endif

/* ---- the queue's row ---- */

/* The queue name as RAISE prints it. */
static char *
queue_name(Datum queue, bool isnull)
{
	return isnull ? "<NULL>" : TextDatumGetCString(queue);
}

/* queue_per_tx_limit, as pgq._tx_limit_count counts it: in the same
 * transaction-local setting, so that both implementations agree. */
static void
tx_limit_count(int32 qid, const char *qname, int32 limit)
{
	char var[64], val[32];
	const char *cur;
	long n;

	snprintf(var, sizeof(var), "skytools_pgq.tx_events_%d", qid);
	cur = GetConfigOption(var, true, false);
	n = (cur == NULL || *cur == '\0') ? 1 : strtol(cur, NULL, 10) + 1;
	if (n > limit)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
		    errmsg("Queue '%s' allows max %d events from one TX", qname,
		    limit)));
	snprintf(val, sizeof(val), "%ld", n);
	(void)set_config_option(var, val, PGC_USERSET, PGC_S_SESSION,
	    GUC_ACTION_LOCAL, true, 0, false);
}

/* What an insert needs to know about a queue, read from its pgq.queue
 * row.  A transaction reads the row at its first insert into the queue
 * and keeps what it read until it ends; the next transaction reads it
 * again.  Why that is as safe as reading the row for every event:
 *
 * - It is what the per-event read does under REPEATABLE READ, where
 *   every read of the row sees the transaction's one snapshot.
 * - The read is followed at once, in the same call, by the insert,
 *   which assigns the transaction its txid X (kept even if a savepoint
 *   around the insert rolls back; the entry is marked read only once
 *   the insert succeeded, so a failed first insert leaves it unread).
 *   While X runs, every consumer's tick snapshot has an xmin <= X.
 *   Step 1 of a rotation needs every consumer's xmin above the previous
 *   rotation's step 2, and the step 2 that follows the first rotation
 *   X did not see gets a txid above X (it runs after that rotation
 *   committed, X already had its txid); so no second rotation, the
 *   one that could empty X's table (with two tables; a later one with
 *   more), completes while X runs.  After the one rotation X's table
 *   is the previous one, which batch_event_tables reads for every
 *   batch starting below that step 2, as it does for the events of an
 *   insert that read the row just before the rotation committed (the
 *   window that PgQ's per-event read has too).  Besides, each insert
 *   holds a lock on its table until X ends, which step 1's NOWAIT
 *   lock on the table to empty does not get.
 * - The only writer the snapshot argument does not cover is this very
 *   transaction (create, drop, set_queue_config or a rotation inside
 *   it): every statement on pgq.queue fires pgq_c_queue_changed (a
 *   statement trigger that 90-c-fastpath.sql installs with the C
 *   functions), which throws away everything read so far.
 * Between transactions nothing is trusted, so a queue dropped and made
 * again under the same name by another session is seen at once.  The
 * table's oid is read with the row and so lives as long; the table
 * cannot be dropped by another session while this one holds the lock
 * the read took. */
typedef struct QueueInfo {
	char name[TBLKEY];	/* hash key */
	FullTransactionId fxid;	/* the transaction that read it */
	uint64 gen;		/* queue_gen when read */
	int32 qid;
	bool disabled;
	bool has_limit;
	int32 limit;
	Oid seqid;
	char *tbl;		/* the current event table, as named in the row */
	Oid relid;		/* its oid; InvalidOid: use the planned INSERT */
	bool wake;		/* NOTIFY the ticker (see wake_ticker) */
	SubTransactionId woke;	/* the (sub)transaction that last did; reset
				 * with every read of the row (the ids start
				 * again in each transaction) */
} QueueInfo;

static HTAB *queue_cache;
static uint64 queue_gen = 1;

/* The cache entry of a queue, or NULL when the name cannot be a key;
 * *fresh when its row is to be read again. */
static QueueInfo *
queue_entry(Datum queue, bool queue_null, bool *fresh)
{
	FullTransactionId fxid = GetTopFullTransactionIdIfAny();
	QueueInfo *qi;
	char key[TBLKEY];
	text *t;
	size_t len;
	bool found;

	*fresh = true;
	if (queue_null)
		return NULL;
	t = DatumGetTextPP(queue);
	len = VARSIZE_ANY_EXHDR(t);
	if (len >= TBLKEY)
		return NULL;
	if (queue_cache == NULL)
		queue_cache = string_hash("pgq_c queues", 16, sizeof(QueueInfo));
	memset(key, 0, sizeof(key));
	memcpy(key, VARDATA_ANY(t), len);
	qi = hash_search(queue_cache, key, HASH_ENTER, &found);
	if (!found) {
		qi->fxid = InvalidFullTransactionId;
		qi->tbl = NULL;
	}
	*fresh = !FullTransactionIdIsValid(fxid) ||
	    !FullTransactionIdEquals(qi->fxid, fxid) || qi->gen != queue_gen;
	return qi;
}

/* Whether the INSERT would read name as it is, lower-case letters,
 * digits and '_', one optional dot: then the direct insert may look
 * it up itself (anything else goes through the planned INSERT, whose
 * parser gives what it gives, errors included). */
static bool
plain_name(const char *name)
{
	const char *p;
	int dots = 0;

	if (*name == '\0' || *name == '.')
		return false;
	for (p = name; *p; p++) {
		if (*p == '.') {
			if (++dots > 1 || p[1] == '\0')
				return false;
		} else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '_'))
			return false;
	}
	return true;
}

/* pin: the settings of pgq.insert_event (its search_path) when the
 * caller did not go through the function, which would have set them;
 * everything here that resolves a name runs under them. */
static int
pin_settings(ArrayType *pin)
{
	int nest;

	if (pin == NULL)
		return -1;
	nest = NewGUCNestLevel();
	ProcessGUCArray(pin, superuser() ? PGC_SUSET : PGC_USERSET,
	    PGC_S_SESSION, GUC_ACTION_SAVE);
	return nest;
}

static void
unpin_settings(int nest)
{
	if (nest >= 0)
		AtEOXact_GUC(true, nest);
}

/* Read the queue's row into qi (see QueueInfo); tbl is allocated in
 * cxt. */
static void
read_queue(QueueInfo *qi, Datum queue, bool queue_null, ArrayType *pin,
    MemoryContext cxt)
{
	HeapTuple row;
	TupleDesc desc;
	bool isnull;
	char *pfx, *seq;
	Datum lim;
	int rc, nest;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pgq_c: SPI_connect failed");
	nest = pin_settings(pin);
	if (queue_plan == NULL) {
		Oid t = TEXTOID;

		/* Qualified names and operators: the function is SECURITY
		 * DEFINER and the caller chooses search_path. */
		queue_plan = prepare("SELECT queue_data_pfx,"
		    " queue_cur_table, queue_event_seq,"
		    " queue_disable_insert, queue_id, queue_per_tx_limit,"
		    " queue_ticker_max_lag OPERATOR(pg_catalog.<=)"
		    " '0'::pg_catalog.interval AND NOT queue_external_ticker"
		    " FROM pgq.queue"
		    " WHERE queue_name OPERATOR(pg_catalog.=) $1", 1, &t, true);
	}
	qi->fxid = InvalidFullTransactionId;
	qi->gen = queue_gen;
	rc = SPI_execute_plan(queue_plan, &queue, queue_null ? "n" : " ",
	    false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "pgq_c: queue lookup: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND),
		    errmsg("No such event queue: %s",
		    queue_name(queue, queue_null))));
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	pfx = SPI_getvalue(row, desc, 1);
	seq = SPI_getvalue(row, desc, 3);
	qi->disabled = DatumGetBool(SPI_getbinval(row, desc, 4, &isnull));
	qi->qid = DatumGetInt32(SPI_getbinval(row, desc, 5, &isnull));
	lim = SPI_getbinval(row, desc, 6, &isnull);
	qi->has_limit = !isnull;
	qi->limit = isnull ? 0 : DatumGetInt32(lim);
	qi->wake = DatumGetBool(SPI_getbinval(row, desc, 7, &isnull));
	qi->woke = InvalidSubTransactionId;
	/* nextval(text) casts through regclass: the same name lookup */
	qi->seqid = RangeVarGetRelid(makeRangeVarFromNameList(
	    stringToQualifiedNameList(seq)), NoLock, false);
	if (qi->tbl != NULL && cxt == TopMemoryContext)
		pfree(qi->tbl);
	qi->tbl = MemoryContextStrdup(cxt, psprintf("%s_%d", pfx,
	    DatumGetInt32(SPI_getbinval(row, desc, 2, &isnull))));
	/* the lock the INSERT would take, taken now */
	qi->relid = plain_name(qi->tbl) ? RangeVarGetRelid(
	    makeRangeVarFromNameList(stringToQualifiedNameList(qi->tbl)),
	    RowExclusiveLock, true) : InvalidOid;
	unpin_settings(nest);
	SPI_finish();
}

/* The planned INSERT: tables the direct insert does not take. */
static void
spi_insert(QueueInfo *qi, const EvRow *r, ArrayType *pin, Datum queue,
    bool queue_null)
{
	Datum vals[NEVCOL];
	char nulls[NEVCOL];
	int n = 0, k, rc, nest;

	for (k = 0; k < NEVCOL; k++) {
		if (!given(r->raw, k))
			continue;
		vals[n] = r->v[k];
		nulls[n++] = r->null[k] ? 'n' : ' ';
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pgq_c: SPI_connect failed");
	nest = pin_settings(pin);
	rc = SPI_execute_plan(insert_plan(qi->tbl, r->raw), vals, nulls, false,
	    0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "pgq_c: insert into queue %s: %s",
		    queue_name(queue, queue_null), SPI_result_code_string(rc));
	unpin_settings(nest);
	SPI_finish();
}

/* Store the event in the queue's current table. */
static void
store_event(QueueInfo *qi, const EvRow *r, ArrayType *pin, Datum queue,
    bool queue_null)
{
#if DIRECT_INSERT
	/* An event inserted while one is stored (by a default or a CHECK)
	 * takes the planned INSERT, and leaves the event tables' cache
	 * alone: reloading an entry would free the defaults being
	 * evaluated. */
	if (OidIsValid(qi->relid) && !dins.busy) {
		Relation rel = try_table_open(qi->relid, RowExclusiveLock);

		if (rel != NULL) {
			EvTable *et = get_evtable(rel);

			/* without the right, the INSERT says so */
			if (et->direct && pg_class_aclcheck(qi->relid,
			    GetUserId(), ACL_INSERT) == ACLCHECK_OK) {
				direct_insert(et, rel, r);
				table_close(rel, NoLock);
				return;
			}
			table_close(rel, NoLock);
		}
	}
#endif
	spi_insert(qi, r, pin, queue, queue_null);
}

/* A queue whose ticker_max_lag is 0 wakes pgq-tick --loop at the
 * commit of a transaction that inserted into it, as the PL/pgSQL
 * insert does (sql/pgq/30-insert.sql says why and what it costs).  The
 * setting comes with the queue's row, read once a transaction; the
 * notification is queued once per (sub)transaction: one that a rolled
 * back savepoint took away is queued again by the next insert outside
 * it, and the server sends equal notifications of a transaction once. */
static void
wake_ticker(QueueInfo *qi)
{
	SubTransactionId cur = GetCurrentSubTransactionId();

	if (!qi->wake || qi->woke == cur)
		return;
	Async_Notify("pgq_ticker", "");
	qi->woke = cur;
}

/* Event types that a cascade node acts on as its replication user:
 * EXECUTE runs SQL there, pgq.* moves its provider and watermarks,
 * londiste.* changes its set.  Only a superuser or a member of
 * pgq_admin may put them into a queue (the setup tools and workers
 * do), not every role that may write events (pgq_writer: every writer
 * of a replicated table).  The session's user decides, as the
 * functions run as their owner. */
static void
check_event_type(const EvRow *r)
{
	const char *t;
	int n;
	Oid who, admin;

	if (r->null[C_TYPE])
		return;
	t = VARDATA_ANY(DatumGetPointer(r->v[C_TYPE]));
	n = VARSIZE_ANY_EXHDR(DatumGetPointer(r->v[C_TYPE]));
	if (!((n == 7 && memcmp(t, "EXECUTE", 7) == 0) ||
	    (n >= 4 && memcmp(t, "pgq.", 4) == 0) ||
	    (n >= 9 && memcmp(t, "londiste.", 9) == 0)))
		return;
	who = GetSessionUserId();
	admin = get_role_oid("pgq_admin", true);
	if (superuser_arg(who) ||
	    (OidIsValid(admin) && has_privs_of_role(who, admin)))
		return;
	ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
	    errmsg("event type %.*s is reserved to superusers and members of pgq_admin",
	    n, t)));
}

/* Insert one event into the queue's current table; ev_id (r->v[C_ID])
 * is filled in unless raw gave one.  Returns the event id. */
static int64
insert_event(Datum queue, bool queue_null, EvRow *r, ArrayType *pin)
{
	QueueInfo *qi, tmp;
	bool fresh;
	int64 id;

	check_event_type(r);
	qi = queue_entry(queue, queue_null, &fresh);
	if (fresh) {
		if (qi == NULL) {
			memset(&tmp, 0, sizeof(tmp));
			qi = &tmp;
		}
		read_queue(qi, queue, queue_null, pin,
		    qi == &tmp ? CurrentMemoryContext : TopMemoryContext);
	}
	if (qi->disabled &&
	    SessionReplicationRole != SESSION_REPLICATION_ROLE_REPLICA)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		    errmsg("Insert into queue %s disallowed",
		    queue_name(queue, queue_null))));
	/* insert_event only: retries and movers use the raw insert */
	if (!r->raw && qi->has_limit)
		tx_limit_count(qi->qid, queue_name(queue, queue_null), qi->limit);
	if (r->raw && !r->null[C_ID]) {
		id = DatumGetInt64(r->v[C_ID]);
	} else {
		id = nextval_internal(qi->seqid, true);
		r->v[C_ID] = Int64GetDatum(id);
		r->null[C_ID] = false;
	}
	store_event(qi, r, pin, queue, queue_null);
	wake_ticker(qi);
	if (fresh && qi != &tmp && qi->gen == queue_gen) {
		/* the insert assigned the txid that the argument above needs */
		qi->fxid = GetTopFullTransactionId();
	}
	return id;
}

/* pgq.queue changed in this backend: see QueueInfo. */
PG_FUNCTION_INFO_V1(pgq_c_queue_changed);
Datum
pgq_c_queue_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "pgq_c_queue_changed: not called as a trigger");
	queue_gen++;
	return PointerGetDatum(NULL);
}

/* pgq.insert_event(queue, type, data [, extra1 .. extra4]) */
PG_FUNCTION_INFO_V1(pgq_c_insert_event);
Datum
pgq_c_insert_event(PG_FUNCTION_ARGS)
{
	EvRow r;
	int k, a;

	memset(&r, 0, sizeof(r));
	r.null[C_ID] = true;
	for (k = C_TYPE; k < NEVCOL; k++) {
		a = k - C_TYPE + 1;
		r.null[k] = a >= PG_NARGS() || PG_ARGISNULL(a);
		r.v[k] = r.null[k] ? (Datum)0 : PG_GETARG_DATUM(a);
	}
	PG_RETURN_INT64(insert_event(PG_GETARG_DATUM(0), PG_ARGISNULL(0), &r,
	    NULL));
}

/* pgq.insert_event_raw(queue, ev_id, ev_time, ev_owner, ev_retry, type,
 * data, extra1 .. extra4) */
PG_FUNCTION_INFO_V1(pgq_c_insert_event_raw);
Datum
pgq_c_insert_event_raw(PG_FUNCTION_ARGS)
{
	EvRow r;
	int k;

	r.raw = true;
	for (k = 0; k < NEVCOL; k++) {
		r.null[k] = PG_ARGISNULL(k + 1);
		r.v[k] = r.null[k] ? (Datum)0 : PG_GETARG_DATUM(k + 1);
	}
	if (r.null[C_TIME]) {
		/* coalesce(ev_time, now()) */
		r.v[C_TIME] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		r.null[C_TIME] = false;
	}
	PG_RETURN_INT64(insert_event(PG_GETARG_DATUM(0), PG_ARGISNULL(0), &r,
	    NULL));
}
/* ---- the row triggers ---- */

enum fmt { FMT_URLENC, FMT_SQL, FMT_JSON };

typedef struct Col {
	int attnum;		/* in the tuple descriptor */
	char *name;
	Oid typid;
	FmgrInfo out;
} Col;

typedef struct ExprPlan {
	struct ExprPlan *next;
	char *expr;
	SPIPlanPtr plan;
} ExprPlan;

/* What the triggers know about one table, until it changes. */
typedef struct RelInfo {
	RelKey key;
	int busy;		/* calls using it (a trigger expression may nest) */
	MemoryContext cxt;
	char *fqname;		/* schema.table, unquoted, as PgQ writes it */
	char *nspname;
	char *relname;
	Oid rowtype;
	int ncols;
	Col *cols;
	int npk;
	char **pk;		/* primary key columns in index order */
	ExprPlan *exprs;
} RelInfo;

static HTAB *rel_cache;

/* pgq.insert_event(7 args), which the triggers call as the PL/pgSQL
 * triggers do: with its permission check, as its owner, under its
 * settings.  When it is this library's own function (as
 * 90-c-fastpath.sql makes it), the triggers call insert_event() above
 * directly: as its owner, as fmgr would call a SECURITY DEFINER
 * function, but its settings (a pinned search_path) only around what
 * resolves names (read_queue, spi_insert), not for every row.  The
 * direct insert resolves nothing by name: the table and sequence are
 * oids read with the queue's row, and the column defaults are parsed
 * expressions. */
static Oid ie_oid;
static bool ie_valid;
static FmgrInfo ie_flinfo;
static MemoryContext ie_cxt;
static bool ie_direct;		/* see above */
static Oid ie_owner;
static ArrayType *ie_config;	/* proconfig, NULL when none */

/* Mark stale the entries for relid (all of them for InvalidOid) of a
 * cache whose entries begin with a RelKey. */
static void
invalidate(HTAB *h, Oid relid)
{
	HASH_SEQ_STATUS st;
	RelKey *k;

	if (h == NULL)
		return;
	if (OidIsValid(relid)) {
		k = hash_search(h, &relid, HASH_FIND, NULL);
		if (k != NULL)
			k->valid = false;
		return;
	}
	hash_seq_init(&st, h);
	while ((k = hash_seq_search(&st)) != NULL)
		k->valid = false;
}

static void
relcache_cb(Datum arg, Oid relid)
{
	invalidate(rel_cache, relid);
#if DIRECT_INSERT
	invalidate(ev_cache, relid);
	dins_inval(relid);
#endif
}

/* A renamed schema changes ev_extra1 without touching the relcache. */
static void
namespace_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	invalidate(rel_cache, InvalidOid);
}

static void
proc_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	ie_valid = false;
}

void
_PG_init(void)
{
	CacheRegisterRelcacheCallback(relcache_cb, (Datum)0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, namespace_cb, (Datum)0);
	CacheRegisterSyscacheCallback(PROCOID, proc_cb, (Datum)0);
#if DIRECT_INSERT
	RegisterXactCallback(dins_xact_cb, NULL);
	RegisterSubXactCallback(dins_subxact_cb, NULL);
	prev_utility = ProcessUtility_hook;
	ProcessUtility_hook = utility_hook;
#endif
}

/* Settings that name nothing but search_path: the direct call pins
 * those itself; any other makes the triggers go through fmgr. */
static bool
only_search_path(ArrayType *a)
{
	Datum *d;
	bool *nulls;
	int n, i;

	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &d, &nulls, &n);
	for (i = 0; i < n; i++)
		if (nulls[i] || strncmp(TextDatumGetCString(d[i]),
		    "search_path=", 12) != 0)
			return false;
	return true;
}

/* Whether ie_oid is pgq_c_insert_event of this library, SECURITY
 * DEFINER, with no settings but search_path and no fmgr hook. */
static void
load_direct(HeapTuple pt)
{
	Form_pg_proc p = (Form_pg_proc)GETSTRUCT(pt);
	Datum cfg;
	bool isnull;
	char *bin, *src;

	ie_direct = false;
	ie_owner = p->proowner;
	ie_config = NULL;
	if (p->prolang != ClanguageId || !p->prosecdef ||
	    FmgrHookIsNeeded(ie_oid))
		return;
	cfg = SysCacheGetAttr(PROCOID, pt, Anum_pg_proc_proconfig, &isnull);
	if (!isnull) {
		ie_config = DatumGetArrayTypePCopy(cfg);
		if (!only_search_path(ie_config))
			return;
	}
	src = TextDatumGetCString(SysCacheGetAttr(PROCOID, pt,
	    Anum_pg_proc_prosrc, &isnull));
	bin = TextDatumGetCString(SysCacheGetAttr(PROCOID, pt,
	    Anum_pg_proc_probin, &isnull));
	ie_direct = !isnull && load_external_function(bin, src, false, NULL) ==
	    (void *)pgq_c_insert_event;
}

static void
load_insert_event(void)
{
	Oid types[7];
	MemoryContext old;
	HeapTuple pt;
	int i;

	for (i = 0; i < 7; i++)
		types[i] = TEXTOID;
	if (ie_cxt == NULL)
		ie_cxt = AllocSetContextCreate(TopMemoryContext, "pgq_c insert_event",
		    ALLOCSET_SMALL_SIZES);
	ie_valid = true;	/* an invalidation during the lookup clears it */
	MemoryContextReset(ie_cxt);
	ie_oid = LookupFuncName(list_make2(makeString("pgq"),
	    makeString("insert_event")), 7, types, false);
	fmgr_info_cxt(ie_oid, &ie_flinfo, ie_cxt);
	pt = SearchSysCache1(PROCOID, ObjectIdGetDatum(ie_oid));
	if (!HeapTupleIsValid(pt))
		elog(ERROR, "pgq_c: cache lookup failed for function %u", ie_oid);
	old = MemoryContextSwitchTo(ie_cxt);
	load_direct(pt);
	MemoryContextSwitchTo(old);
	ReleaseSysCache(pt);
}

static void
check_insert_event(void)
{
	AclResult acl;

	if (!ie_valid)
		load_insert_event();
	acl = pg_proc_aclcheck(ie_oid, GetUserId(), ACL_EXECUTE);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_FUNCTION, "insert_event");
}

/* The event fields ev[] (type, data, extra1..4; NULL for NULL) into
 * the queue, through pgq.insert_event. */
static void
call_insert_event(const char *queue, char **ev)
{
	LOCAL_FCINFO(fcinfo, 7);
	Datum q = CStringGetTextDatum(queue);
	int i;

	if (ie_direct) {
		EvRow r;
		Oid user;
		int sec;

		memset(&r, 0, sizeof(r));
		r.null[C_ID] = true;
		for (i = 0; i < 6; i++) {
			r.null[C_TYPE + i] = ev[i] == NULL;
			r.v[C_TYPE + i] = ev[i] == NULL ? (Datum)0 :
			    CStringGetTextDatum(ev[i]);
		}
		/* an error restores the user with the (sub)transaction */
		GetUserIdAndSecContext(&user, &sec);
		SetUserIdAndSecContext(ie_owner, sec | SECURITY_LOCAL_USERID_CHANGE);
		(void)insert_event(q, false, &r, ie_config);
		SetUserIdAndSecContext(user, sec);
		return;
	}
	InitFunctionCallInfoData(*fcinfo, &ie_flinfo, 7, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = q;
	fcinfo->args[0].isnull = false;
	for (i = 0; i < 6; i++) {
		fcinfo->args[i + 1].isnull = ev[i] == NULL;
		fcinfo->args[i + 1].value = ev[i] == NULL ? (Datum)0 :
		    CStringGetTextDatum(ev[i]);
	}
	(void)FunctionCallInvoke(fcinfo);
}

static void
free_relinfo(RelInfo *ri)
{
	ExprPlan *e;

	for (e = ri->exprs; e != NULL; e = e->next)
		if (e->plan != NULL)
			SPI_freeplan(e->plan);
	ri->exprs = NULL;
	if (ri->cxt != NULL)
		MemoryContextDelete(ri->cxt);
	ri->cxt = NULL;
}

/* The primary key's columns as pgq._row_event finds them: every column
 * of the index marked indisprimary (INCLUDE columns too), in index
 * order, whatever its validity or deferrability. */
static void
load_pkey(RelInfo *ri, Relation rel)
{
	List *idx = RelationGetIndexList(rel);
	TupleDesc desc = RelationGetDescr(rel);
	ListCell *lc;

	ri->npk = 0;
	ri->pk = NULL;
	foreach(lc, idx) {
		HeapTuple t = SearchSysCache1(INDEXRELID,
		    ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index ix;
		int k, j, n = 0;

		if (!HeapTupleIsValid(t))
			continue;
		ix = (Form_pg_index)GETSTRUCT(t);
		if (!ix->indisprimary) {
			ReleaseSysCache(t);
			continue;
		}
		ri->pk = palloc(sizeof(char *) * (ix->indnatts + 1));
		for (k = 0; k < ix->indnatts; k++) {
			AttrNumber a = ix->indkey.values[k];
			bool dup = false;

			/* ordered by the first position of each column */
			for (j = 0; j < k; j++)
				if (ix->indkey.values[j] == a)
					dup = true;
			if (dup || a <= 0 || a > desc->natts)
				continue;
			ri->pk[n++] = pstrdup(NameStr(TupleDescAttr(desc, a - 1)->attname));
		}
		ri->npk = n;
		ReleaseSysCache(t);
		break;
	}
	list_free(idx);
}

/* Built in a context of the current transaction and moved under
 * CacheMemoryContext only when complete, so an error while loading
 * leaves nothing half-built behind (ri->cxt stays NULL). */
static void
load_relinfo(RelInfo *ri, Relation rel)
{
	TupleDesc desc = RelationGetDescr(rel);
	MemoryContext cxt, old;
	int i;

	free_relinfo(ri);
	ri->key.valid = true;	/* an invalidation during loading clears it */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pgq_c table",
	    ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	ri->nspname = get_namespace_name(RelationGetNamespace(rel));
	if (ri->nspname == NULL)
		ri->nspname = pstrdup("");
	ri->relname = pstrdup(RelationGetRelationName(rel));
	ri->fqname = psprintf("%s.%s", ri->nspname, ri->relname);
	ri->rowtype = rel->rd_rel->reltype;
	ri->cols = palloc(sizeof(Col) * (desc->natts + 1));
	ri->ncols = 0;
	for (i = 0; i < desc->natts; i++) {
		Form_pg_attribute a = TupleDescAttr(desc, i);
		Col *c = &ri->cols[ri->ncols];
		Oid outfn;
		bool varlena;

		if (a->attisdropped)
			continue;
		c->attnum = i + 1;
		c->name = pstrdup(NameStr(a->attname));
		c->typid = a->atttypid;
		getTypeOutputInfo(a->atttypid, &outfn, &varlena);
		fmgr_info_cxt(outfn, &c->out, cxt);
		ri->ncols++;
	}
	load_pkey(ri, rel);
	MemoryContextSwitchTo(old);
	MemoryContextSetParent(cxt, CacheMemoryContext);
	ri->cxt = cxt;
}

static RelInfo *
get_relinfo(Relation rel)
{
	Oid relid = RelationGetRelid(rel);
	RelInfo *ri;
	bool found;

	ri = oid_cache_enter(&rel_cache, "pgq_c tables", 64,
	    sizeof(RelInfo), relid, &found);
	if (!found) {
		ri->key.valid = false;
		ri->busy = 0;
		ri->cxt = NULL;
		ri->exprs = NULL;
	}
	/* A nested call keeps what its caller is using. */
	if (ri->cxt == NULL || (!ri->key.valid && ri->busy == 0))
		load_relinfo(ri, rel);
	return ri;
}

/* A comma list as string_to_array(s, ',') makes it: '' is no items. */
typedef struct StrList {
	int n;
	char **v;
} StrList;

static StrList
split_list(const char *s)
{
	StrList l = { 0, NULL };
	const char *p;
	int n = 1, i = 0;

	if (*s == '\0')
		return l;
	for (p = s; *p; p++)
		if (*p == ',')
			n++;
	l.v = palloc(sizeof(char *) * n);
	for (;;) {
		const char *e = strchr(s, ',');

		if (e == NULL) {
			l.v[i++] = pstrdup(s);
			break;
		}
		l.v[i++] = pnstrdup(s, e - s);
		s = e + 1;
	}
	l.n = i;
	return l;
}

static bool
in_list(const StrList *l, const char *s)
{
	int i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

/* Evaluate a trigger argument's expression over the row, as
 * pgq._row_expr does (the same query, its plan kept per table). */
static char *
row_expr(RelInfo *ri, const char *expr, HeapTuple tuple, TupleDesc desc)
{
	MemoryContext callcxt = CurrentMemoryContext;
	ExprPlan *e;
	Datum row;
	bool isnull;
	char *res = NULL;
	int rc, nest;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pgq_c: SPI_connect failed");
	/* The writer's search_path must not choose what the expression's
	 * names and operators mean: a function or operator planted in a
	 * schema on that path would run with the writer's rights (a
	 * superuser's, often).  Pin the path the PL/pgSQL triggers run
	 * with, for parsing and running alike, as a function's SET clause
	 * would; only around expressions, so plain rows pay nothing.  An
	 * error unwinds the nesting level with the transaction. */
	nest = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pgq, pg_temp",
	    PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	for (e = ri->exprs; e != NULL; e = e->next)
		if (strcmp(e->expr, expr) == 0)
			break;
	if (e == NULL || e->plan == NULL) {
		char *sql = psprintf("SELECT (%s)::text FROM (SELECT ($1).*) _row",
		    expr);
		Oid t = ri->rowtype;
		SPIPlanPtr p = prepare(sql, 1, &t, true);

		if (e == NULL) {
			e = MemoryContextAllocZero(ri->cxt, sizeof(*e));
			e->expr = MemoryContextStrdup(ri->cxt, expr);
			e->next = ri->exprs;
			ri->exprs = e;
		}
		e->plan = p;
	}
	row = heap_copy_tuple_as_datum(tuple, desc);
	rc = SPI_execute_plan(e->plan, &row, " ", false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "pgq_c: trigger expression: %s",
		    SPI_result_code_string(rc));
	if (SPI_processed > 0) {
		Datum d = SPI_getbinval(SPI_tuptable->vals[0],
		    SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			res = MemoryContextStrdup(callcxt, TextDatumGetCString(d));
	}
	AtEOXact_GUC(true, nest);
	SPI_finish();
	return res;
}

/* pgq._urlenc: letters, digits, '_', '.', '-' pass, space is '+', every
 * other byte %xx in lower-case hex.  Written in chunks with room for
 * the worst case, not a call per byte. */
static void
urlenc(StringInfo b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	char *o;
	int n;

	while (*p) {
		enlargeStringInfo(b, 3 * 256);
		o = b->data + b->len;
		for (n = 0; n < 256 && *p; n++, p++) {
			if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
			    *p == '-')
				*o++ = (char)*p;
			else if (*p == ' ')
				*o++ = '+';
			else {
				*o++ = '%';
				*o++ = hex[*p >> 4];
				*o++ = hex[*p & 15];
			}
		}
		*o = '\0';
		b->len = o - b->data;
	}
}

/* The urlencoded row: col=val pairs joined by '&', a NULL is the bare
 * name; NULL when every column is ignored (string_agg of nothing). */
static char *
urlenc_row(RelInfo *ri, char **v, const bool *ign)
{
	StringInfoData b;
	bool any = false;
	int i;

	initStringInfo(&b);
	for (i = 0; i < ri->ncols; i++) {
		if (ign[i])
			continue;
		if (any)
			appendStringInfoChar(&b, '&');
		any = true;
		urlenc(&b, ri->cols[i].name);
		if (v[i] != NULL) {
			appendStringInfoChar(&b, '=');
			urlenc(&b, v[i]);
		}
	}
	return any ? b.data : NULL;
}

static void
json_str(StringInfo b, const char *s)
{
	escape_json(b, s);
}

/* pgq._json_type */
static char *
json_type(RelInfo *ri, const char *op, const StrList *pk)
{
	StringInfoData b;
	int i;

	initStringInfo(&b);
	appendStringInfoString(&b, "{\"op\":");
	json_str(&b, op);
	appendStringInfoString(&b, ",\"table\":[");
	json_str(&b, ri->nspname);
	appendStringInfoChar(&b, ',');
	json_str(&b, ri->relname);
	appendStringInfoString(&b, "],\"pkey\":[");
	for (i = 0; i < pk->n; i++) {
		if (i > 0)
			appendStringInfoChar(&b, ',');
		json_str(&b, pk->v[i]);
	}
	appendStringInfoString(&b, "]}");
	return b.data;
}

static void
json_datetime(StringInfo b, const char *s, Oid typid)
{
	char buf[MAXDATELEN + 1];
	Datum d;

	/* to_json(text::timestamptz): the cast first, as the SQL does */
	if (typid == TIMESTAMPTZOID)
		d = DirectFunctionCall3(timestamptz_in, CStringGetDatum(s),
		    ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	else
		d = DirectFunctionCall3(timestamp_in, CStringGetDatum(s),
		    ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	JsonEncodeDateTime(buf, d, typid, NULL);
	appendStringInfoChar(b, '"');
	appendStringInfoString(b, buf);
	appendStringInfoChar(b, '"');
}

/* pgq._json_row */
static char *
json_row(RelInfo *ri, char **v, const bool *ign)
{
	StringInfoData b;
	bool any = false;
	int i;

	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	for (i = 0; i < ri->ncols; i++) {
		Oid t = ri->cols[i].typid;

		if (ign[i])
			continue;
		if (any)
			appendStringInfoChar(&b, ',');
		any = true;
		json_str(&b, ri->cols[i].name);
		appendStringInfoChar(&b, ':');
		if (v[i] == NULL)
			appendStringInfoString(&b, "null");
		else if (t == INT2OID || t == INT4OID || t == INT8OID)
			appendStringInfoString(&b, v[i]);
		else if (t == BOOLOID)
			appendStringInfoString(&b,
			    DatumGetBool(DirectFunctionCall1(boolin,
			    CStringGetDatum(v[i]))) ? "true" : "false");
		else if (t == TIMESTAMPTZOID || t == TIMESTAMPOID)
			json_datetime(&b, v[i], t);
		else
			json_str(&b, v[i]);
	}
	appendStringInfoChar(&b, '}');
	return b.data;
}

static void
append_literal(StringInfo b, const char *v)
{
	if (v == NULL)
		appendStringInfoString(b, "null");
	else
		appendStringInfoString(b, quote_literal_cstr(v));
}

/* The text form of every column, NULL for NULL: what pgq._row_values_sql
 * reads back out of record_out. */
static char **
row_values(RelInfo *ri, HeapTuple tuple, TupleDesc desc)
{
	char **v = palloc(sizeof(char *) * (ri->ncols + 1));
	int i;

	for (i = 0; i < ri->ncols; i++) {
		bool isnull;
		Datum d = heap_getattr(tuple, ri->cols[i].attnum, desc, &isnull);

		v[i] = isnull ? NULL : OutputFunctionCall(&ri->cols[i].out, d);
	}
	return v;
}

static bool
same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static const char *
op_word(TriggerEvent ev)
{
	if (TRIGGER_FIRED_BY_INSERT(ev))
		return "INSERT";
	if (TRIGGER_FIRED_BY_UPDATE(ev))
		return "UPDATE";
	if (TRIGGER_FIRED_BY_DELETE(ev))
		return "DELETE";
	return "TRUNCATE";
}

/* A trigger's arguments: the queue name, then options. */
typedef struct TrigArgs {
	const char *queue;
	bool skip;
	bool backup;
	StrList ignore;
	StrList pk;		/* pkey=, else the primary key */
	const char *when;	/* when=EXPR or NULL */
	int nov;		/* ev_*=EXPR overrides: */
	int *ov_field;		/* the event field, index into ev[] */
	const char **ov_expr;
} TrigArgs;

/* The event field (index into ev[]) an ev_*=EXPR argument sets, or -1. */
static int
override_field(const char *arg)
{
	static const char *const f[6] = { "ev_type=", "ev_data=",
	    "ev_extra1=", "ev_extra2=", "ev_extra3=", "ev_extra4=" };
	int k;

	for (k = 0; k < 6; k++)
		if (strncmp(arg, f[k], strlen(f[k])) == 0)
			return k;
	return -1;
}

/* As pgq._trigger_args: a statement trigger (row false) only honours
 * deny and pkey= and passes over the rest. */
static void
parse_args(Trigger *tr, RelInfo *ri, const char *opword, bool row,
    TrigArgs *a)
{
	bool have_pk = false;
	int i, k;

	memset(a, 0, sizeof(*a));
	if (tr->tgnargs < 1)
		ereport(ERROR, (errcode(ERRCODE_RAISE_EXCEPTION),
		    errmsg("pgq trigger on %s: queue name argument missing",
		    ri->fqname)));
	a->queue = tr->tgargs[0];
	a->ov_field = palloc(sizeof(int) * tr->tgnargs);
	a->ov_expr = palloc(sizeof(char *) * tr->tgnargs);
	for (i = 1; i < tr->tgnargs; i++) {
		const char *s = tr->tgargs[i];

		if (strcmp(s, "deny") == 0)
			ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			    errmsg("Table '%s' to queue '%s': change not allowed (%s)",
			    ri->fqname, a->queue, opword)));
		else if (strncmp(s, "pkey=", 5) == 0) {
			a->pk = split_list(s + 5);
			have_pk = true;
		} else if (!row)
			continue;
		else if (strcmp(s, "SKIP") == 0)
			a->skip = true;
		else if (strcmp(s, "backup") == 0)
			a->backup = true;
		else if (strncmp(s, "ignore=", 7) == 0)
			a->ignore = split_list(s + 7);
		else if (strncmp(s, "when=", 5) == 0)
			a->when = s + 5;
		else if ((k = override_field(s)) >= 0) {
			a->ov_field[a->nov] = k;
			a->ov_expr[a->nov++] = strchr(s, '=') + 1;
		} else
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			    errmsg("pgq trigger on %s: unknown argument \"%s\"",
			    ri->fqname, s)));
	}
	if (!have_pk) {
		a->pk.n = ri->npk;
		a->pk.v = ri->pk;
	}
}

/* pgq._truncate_event: every statement-level call. */
static void
truncate_event(TriggerData *tg, RelInfo *ri, enum fmt fmt)
{
	TrigArgs a;
	char *ev[6] = { NULL, NULL, NULL, NULL, NULL, NULL };

	parse_args(tg->tg_trigger, ri, "TRUNCATE", false, &a);
	if (fmt == FMT_JSON) {
		ev[0] = json_type(ri, "TRUNCATE", &a.pk);
		ev[1] = "{}";
	} else {
		ev[0] = "R";
		ev[1] = "";
	}
	ev[2] = ri->fqname;
	call_insert_event(a.queue, ev);
}

/* The event field (index into ev[]) a deprecated _pgq_ev_* column
 * gives, or -1 for an ordinary column. */
static int
magic_field(const char *name)
{
	static const char *const f[6] = { "type", "data", "extra1", "extra2",
	    "extra3", "extra4" };
	int k;

	if (strncmp(name, "_pgq_ev_", 8) != 0)
		return -1;
	for (k = 0; k < 6; k++)
		if (strcmp(name + 8, f[k]) == 0)
			return k;
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
	    errmsg("Unknown magic column: %s", name)));
	return -1;
}

/* One row change as the event builders see it. */
typedef struct Change {
	RelInfo *ri;
	char op;		/* 'I', 'U' or 'D' */
	char **nv;		/* text form of each column, new row (not D) */
	char **ov;		/* old row (not I) */
	char **v;		/* the row the event carries: ov for D, else nv */
	bool *ign;		/* left out of the row data */
	bool *inpk;		/* a key column */
	int *magic;		/* the event field a _pgq_ev_* column gives, or -1 */
} Change;

static void
mark_columns(Change *c, const TrigArgs *a)
{
	RelInfo *ri = c->ri;
	int i;

	c->ign = palloc(sizeof(bool) * (ri->ncols + 1));
	c->inpk = palloc(sizeof(bool) * (ri->ncols + 1));
	c->magic = palloc(sizeof(int) * (ri->ncols + 1));
	for (i = 0; i < ri->ncols; i++) {
		c->magic[i] = magic_field(ri->cols[i].name);
		/* the deprecated event-field columns are not row data */
		c->ign[i] = c->magic[i] >= 0 || in_list(&a->ignore, ri->cols[i].name);
		c->inpk[i] = in_list(&a->pk, ri->cols[i].name);
	}
}

/* An UPDATE: refuses a key change; true when only ignored columns
 * changed, which tells nothing. */
static bool
only_ignored_changed(const Change *c, const TrigArgs *a)
{
	bool changed = false, anydiff = false;
	int i;

	for (i = 0; i < c->ri->ncols; i++) {
		if (same(c->nv[i], c->ov[i]))
			continue;
		anydiff = true;
		if (c->inpk[i])
			ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			    errmsg("primary key update not allowed")));
		if (!c->ign[i])
			changed = true;
	}
	return !changed && a->ignore.n > 0 && anydiff;
}

static void
urlenc_event(const Change *c, const TrigArgs *a, char **ev)
{
	StringInfoData b;
	int i;

	initStringInfo(&b);
	appendStringInfoChar(&b, c->op);
	appendStringInfoChar(&b, ':');
	for (i = 0; i < a->pk.n; i++) {
		if (i > 0)
			appendStringInfoChar(&b, ',');
		appendStringInfoString(&b, a->pk.v[i]);
	}
	ev[0] = b.data;
	ev[1] = urlenc_row(c->ri, c->v, c->ign);
	if (c->op == 'U' && a->backup)
		ev[3] = urlenc_row(c->ri, c->ov, c->ign);
}

static void
json_event(const Change *c, const TrigArgs *a, char **ev)
{
	ev[0] = json_type(c->ri, c->op == 'I' ? "INSERT" : c->op == 'U' ?
	    "UPDATE" : "DELETE", &a->pk);
	ev[1] = json_row(c->ri, c->v, c->ign);
	if (c->op == 'U' && a->backup)
		ev[3] = json_row(c->ri, c->ov, c->ign);
}

/* sqltriga's INSERT: (cols) values (vals); NULL when every column is
 * left out. */
static char *
sql_insert(const Change *c)
{
	StringInfoData cols, vals;
	bool any = false;
	int i;

	initStringInfo(&cols);
	initStringInfo(&vals);
	for (i = 0; i < c->ri->ncols; i++) {
		if (c->ign[i])
			continue;
		if (any) {
			appendStringInfoChar(&cols, ',');
			appendStringInfoChar(&vals, ',');
		}
		any = true;
		appendStringInfoString(&cols, quote_identifier(c->ri->cols[i].name));
		append_literal(&vals, c->nv[i]);
	}
	return any ? psprintf("(%s) values (%s)", cols.data, vals.data) : NULL;
}

/* The key of the old row, k=v joined by " and "; string_agg drops the
 * NULL key parts, and gives NULL for none. */
static char *
sql_where(const Change *c)
{
	StringInfoData b;
	bool any = false;
	int i;

	initStringInfo(&b);
	for (i = 0; i < c->ri->ncols; i++) {
		if (!c->inpk[i] || c->ov[i] == NULL)
			continue;
		if (any)
			appendStringInfoString(&b, " and ");
		any = true;
		appendStringInfo(&b, "%s=%s", quote_identifier(c->ri->cols[i].name),
		    quote_literal_cstr(c->ov[i]));
	}
	return any ? b.data : NULL;
}

/* An UPDATE's assignments of the changed columns; when none changed, a
 * no-op assignment of the first key column keeps the SQL valid (NULL
 * if that one is NULL). */
static char *
sql_set(const Change *c, const TrigArgs *a)
{
	RelInfo *ri = c->ri;
	StringInfoData b;
	bool any = false;
	int i;

	initStringInfo(&b);
	for (i = 0; i < ri->ncols; i++) {
		if (c->ign[i] || same(c->nv[i], c->ov[i]))
			continue;
		if (any)
			appendStringInfoChar(&b, ',');
		any = true;
		appendStringInfo(&b, "%s=", quote_identifier(ri->cols[i].name));
		append_literal(&b, c->nv[i]);
	}
	if (any)
		return b.data;
	for (i = 0; i < ri->ncols; i++)
		if (strcmp(ri->cols[i].name, a->pk.v[0]) == 0)
			break;
	if (i == ri->ncols || c->nv[i] == NULL)
		return NULL;
	return psprintf("%s=%s", quote_identifier(a->pk.v[0]),
	    quote_literal_cstr(c->nv[i]));
}

static void
sql_event(const Change *c, const TrigArgs *a, char **ev)
{
	char *where, *setc;

	ev[0] = c->op == 'I' ? "I" : c->op == 'U' ? "U" : "D";
	if (c->op != 'I' && a->pk.n == 0)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		    errmsg("pgq.sqltriga: table %s has no primary key (give pkey=)",
		    c->ri->fqname)));
	if (c->op == 'I') {
		ev[1] = sql_insert(c);
		return;
	}
	where = sql_where(c);
	if (c->op == 'D') {
		ev[1] = where;
		return;
	}
	setc = sql_set(c, a);
	if (setc != NULL && where != NULL)
		ev[1] = psprintf("%s where %s", setc, where);
}

/* The _pgq_ev_* columns, then the ev_*=EXPR arguments, over what the
 * format made. */
static void
event_overrides(const Change *c, const TrigArgs *a, HeapTuple rowt,
    TupleDesc desc, char **ev)
{
	int i;

	for (i = 0; i < c->ri->ncols; i++)
		if (c->magic[i] >= 0)
			ev[c->magic[i]] = c->v[i];
	for (i = 0; i < a->nov; i++)
		ev[a->ov_field[i]] = row_expr(c->ri, a->ov_expr[i], rowt, desc);
}

/* pgq._row_event: returns true when a BEFORE trigger is to skip the
 * change (SKIP). */
static bool
row_event(TriggerData *tg, RelInfo *ri, enum fmt fmt)
{
	TupleDesc desc = RelationGetDescr(tg->tg_relation);
	TriggerEvent tev = tg->tg_event;
	Change c;
	TrigArgs a;
	HeapTuple rowt;
	char *ev[6] = { NULL, NULL, NULL, NULL, NULL, NULL };

	memset(&c, 0, sizeof(c));
	c.ri = ri;
	c.op = TRIGGER_FIRED_BY_INSERT(tev) ? 'I' :
	    TRIGGER_FIRED_BY_UPDATE(tev) ? 'U' : 'D';
	parse_args(tg->tg_trigger, ri, op_word(tev), true, &a);
	if (c.op != 'I' && fmt != FMT_SQL && a.pk.n == 0)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		    errmsg("Update/Delete on table without pkey")));
	/* tg_trigtuple is the new row of an INSERT, else the old one */
	rowt = c.op == 'U' ? tg->tg_newtuple : tg->tg_trigtuple;
	if (a.when != NULL) {
		char *r = row_expr(ri, a.when, rowt, desc);

		if (r == NULL || !DatumGetBool(DirectFunctionCall1(boolin,
		    CStringGetDatum(r))))
			return false;
	}
	mark_columns(&c, &a);
	if (c.op != 'D')
		c.nv = row_values(ri, rowt, desc);
	if (c.op != 'I')
		c.ov = row_values(ri, tg->tg_trigtuple, desc);
	c.v = c.op == 'D' ? c.ov : c.nv;
	if (c.op == 'U' && only_ignored_changed(&c, &a))
		return false;

	ev[2] = ri->fqname;
	if (fmt == FMT_URLENC)
		urlenc_event(&c, &a, ev);
	else if (fmt == FMT_SQL)
		sql_event(&c, &a, ev);
	else
		json_event(&c, &a, ev);
	event_overrides(&c, &a, rowt, desc, ev);
	call_insert_event(a.queue, ev);
	return a.skip;
}

static Datum
pgq_trigger(FunctionCallInfo fcinfo, enum fmt fmt)
{
	TriggerData *tg;
	RelInfo *volatile ri;
	MemoryContext cxt, old;
	HeapTuple ret = NULL;
	volatile bool skip = false;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
		    errmsg("trigger functions can only be called as triggers")));
	tg = (TriggerData *)fcinfo->context;
	/* As PgQ: silent in the 'local' role (in 'replica' the server fires
	 * only triggers enabled for it, and those queue). */
	if (SessionReplicationRole == SESSION_REPLICATION_ROLE_LOCAL) {
		if (TRIGGER_FIRED_FOR_STATEMENT(tg->tg_event))
			return PointerGetDatum(NULL);
		return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(tg->tg_event) ?
		    tg->tg_newtuple : tg->tg_trigtuple);
	}
	check_insert_event();
	ri = get_relinfo(tg->tg_relation);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pgq_c trigger",
	    ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	ri->busy++;
	PG_TRY();
	{
		if (TRIGGER_FIRED_FOR_STATEMENT(tg->tg_event))
			truncate_event(tg, ri, fmt);
		else
			skip = row_event(tg, ri, fmt);
	}
	PG_FINALLY();
	{
		ri->busy--;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);

	if (TRIGGER_FIRED_FOR_STATEMENT(tg->tg_event))
		return PointerGetDatum(NULL);
	if (skip && TRIGGER_FIRED_BEFORE(tg->tg_event))
		return PointerGetDatum(NULL);
	if (TRIGGER_FIRED_BY_UPDATE(tg->tg_event))
		ret = tg->tg_newtuple;
	else
		ret = tg->tg_trigtuple;
	return PointerGetDatum(ret);
}

PG_FUNCTION_INFO_V1(pgq_c_logutriga);
Datum
pgq_c_logutriga(PG_FUNCTION_ARGS)
{
	return pgq_trigger(fcinfo, FMT_URLENC);
}

PG_FUNCTION_INFO_V1(pgq_c_sqltriga);
Datum
pgq_c_sqltriga(PG_FUNCTION_ARGS)
{
	return pgq_trigger(fcinfo, FMT_SQL);
}

PG_FUNCTION_INFO_V1(pgq_c_jsontriga);
Datum
pgq_c_jsontriga(PG_FUNCTION_ARGS)
{
	return pgq_trigger(fcinfo, FMT_JSON);
}
