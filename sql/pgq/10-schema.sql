-- PgQ, written for Skytools in C.
--
-- Every statement here must be safe to run again on an installed
-- database (psql -f is also the upgrade path): IF NOT EXISTS for
-- objects that hold data, CREATE OR REPLACE for code, DO blocks for
-- roles.  Queued events must survive a re-install.
--
-- Transaction ids and snapshots are stored as PgQ stores them: bigint
-- and txid_snapshot (PostgreSQL 13-17 keep both).  Tools written for
-- PgQ read these columns directly (e.g. txid_visible_in_snapshot(ev_txid,
-- tick_snapshot), ev_txid >= 123); xid8 and pg_snapshot hold the same
-- values but have neither those functions nor operators with bigint.

-- Never install over another PgQ (the original's tables use txid types
-- and would be left half-converted).
DO $guard$
BEGIN
	IF to_regclass('pgq.queue') IS NOT NULL
	   AND to_regprocedure('pgq.skytools_c_version()') IS NULL THEN
		RAISE EXCEPTION 'schema pgq holds another PgQ implementation; drop it first (DROP EXTENSION pgq or DROP SCHEMA pgq CASCADE)'
			USING ERRCODE = '55000';
	END IF;
END
$guard$;

DO $roles$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgq_reader') THEN
		CREATE ROLE pgq_reader NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgq_writer') THEN
		CREATE ROLE pgq_writer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgq_admin') THEN
		CREATE ROLE pgq_admin NOLOGIN;
	END IF;
	-- admin consumes and produces too (pgqd, maintenance scripts)
	IF NOT pg_catalog.pg_has_role('pgq_admin', 'pgq_reader', 'MEMBER') THEN
		GRANT pgq_reader TO pgq_admin;
	END IF;
	IF NOT pg_catalog.pg_has_role('pgq_admin', 'pgq_writer', 'MEMBER') THEN
		GRANT pgq_writer TO pgq_admin;
	END IF;
END
$roles$;

CREATE SCHEMA IF NOT EXISTS pgq;
-- Anyone may call the status functions (as in PgQ); every table and
-- every other function has its own grants.
GRANT USAGE ON SCHEMA pgq TO PUBLIC;

CREATE TABLE IF NOT EXISTS pgq.consumer (
	co_id   serial PRIMARY KEY,
	co_name text NOT NULL,
	CONSTRAINT consumer_name_uq UNIQUE (co_name)
);

CREATE TABLE IF NOT EXISTS pgq.queue (
	queue_id                 serial PRIMARY KEY,
	queue_name               text NOT NULL,
	queue_ntables            integer NOT NULL DEFAULT 3,
	queue_cur_table          integer NOT NULL DEFAULT 0,
	queue_rotation_period    interval NOT NULL DEFAULT '2 hours',
	queue_switch_step1       bigint NOT NULL DEFAULT pg_catalog.txid_current(),
	queue_switch_step2       bigint DEFAULT pg_catalog.txid_current(),
	queue_switch_time        timestamptz NOT NULL DEFAULT pg_catalog.now(),
	queue_external_ticker    boolean NOT NULL DEFAULT false,
	queue_disable_insert     boolean NOT NULL DEFAULT false,
	queue_ticker_paused      boolean NOT NULL DEFAULT false,
	queue_ticker_max_count   integer NOT NULL DEFAULT 500,
	queue_ticker_max_lag     interval NOT NULL DEFAULT '3 seconds',
	queue_ticker_idle_period interval NOT NULL DEFAULT '1 minute',
	queue_per_tx_limit       integer,
	queue_data_pfx           text NOT NULL,
	queue_event_seq          text NOT NULL,
	queue_tick_seq           text NOT NULL,
	queue_extra_maint        text[],
	CONSTRAINT queue_name_uq UNIQUE (queue_name),
	CONSTRAINT queue_name_nonempty CHECK (queue_name <> ''),
	CONSTRAINT queue_ntables_ok CHECK (queue_ntables >= 2),
	CONSTRAINT queue_cur_table_ok CHECK (queue_cur_table >= 0 AND queue_cur_table < queue_ntables)
);

CREATE TABLE IF NOT EXISTS pgq.tick (
	tick_queue     integer NOT NULL REFERENCES pgq.queue (queue_id),
	tick_id        bigint NOT NULL,
	tick_time      timestamptz NOT NULL DEFAULT pg_catalog.now(),
	tick_snapshot  txid_snapshot NOT NULL DEFAULT pg_catalog.txid_current_snapshot(),
	tick_event_seq bigint NOT NULL,
	PRIMARY KEY (tick_queue, tick_id)
);

CREATE SEQUENCE IF NOT EXISTS pgq.batch_id_seq;

-- sub_main is ours: for a pgq_coop subconsumer it is the co_id of the
-- consumer whose stream it shares, and its sub_last_tick is set only
-- while it holds a batch (so an idle subconsumer never holds back
-- rotation).
CREATE TABLE IF NOT EXISTS pgq.subscription (
	sub_id        serial NOT NULL,
	sub_queue     integer NOT NULL REFERENCES pgq.queue (queue_id),
	sub_consumer  integer NOT NULL REFERENCES pgq.consumer (co_id),
	sub_last_tick bigint,
	sub_active    timestamptz NOT NULL DEFAULT pg_catalog.now(),
	sub_batch     bigint,
	sub_next_tick bigint,
	sub_main      integer,
	PRIMARY KEY (sub_queue, sub_consumer),
	CONSTRAINT subscription_batch_idx UNIQUE (sub_batch)
);

-- The parent of every event table.  Per queue: pgq.event_N inherits it
-- (and owns the id sequence default), pgq.event_N_0 .. _K inherit that.
CREATE TABLE IF NOT EXISTS pgq.event_template (
	ev_id     bigint NOT NULL,
	ev_time   timestamptz NOT NULL DEFAULT pg_catalog.now(),
	ev_txid   bigint NOT NULL DEFAULT pg_catalog.txid_current(),
	ev_owner  integer,
	ev_retry  integer,
	ev_type   text,
	ev_data   text,
	ev_extra1 text,
	ev_extra2 text,
	ev_extra3 text,
	ev_extra4 text
);

CREATE TABLE IF NOT EXISTS pgq.retry_queue (
	ev_retry_after timestamptz NOT NULL,
	ev_queue       integer NOT NULL REFERENCES pgq.queue (queue_id),
	ev_id          bigint NOT NULL,
	ev_time        timestamptz NOT NULL,
	ev_txid        bigint,
	ev_owner       integer NOT NULL,
	ev_retry       integer,
	ev_type        text,
	ev_data        text,
	ev_extra1      text,
	ev_extra2      text,
	ev_extra3      text,
	ev_extra4      text,
	CONSTRAINT rq_pkey PRIMARY KEY (ev_owner, ev_id)
);
CREATE INDEX IF NOT EXISTS rq_retry_idx ON pgq.retry_queue (ev_retry_after);

-- Brings the tables of an older install up to this schema; safe to run
-- at any time (each install runs it).  From PgQ's history: a nullable
-- sub_last_tick, the three roles, queue_extra_maint.  From ours: the
-- first schema stored xid8 and pg_snapshot; both text forms are the same
-- numbers, so the values are kept.  ev_txid is altered on the parent,
-- which rewrites every event table and its txid index (small tables:
-- they are truncated at each rotation).  Queued events and consumer
-- positions stay.  Returns how many changes it made.
CREATE OR REPLACE FUNCTION pgq.upgrade_schema()
RETURNS integer LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	cnt integer := 0;
BEGIN
	PERFORM 1 FROM pg_attribute
	 WHERE attrelid = 'pgq.subscription'::regclass AND attname = 'sub_last_tick' AND attnotnull;
	IF FOUND THEN
		ALTER TABLE pgq.subscription ALTER COLUMN sub_last_tick DROP NOT NULL;
		cnt := cnt + 1;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgq_reader') THEN
		CREATE ROLE pgq_reader NOLOGIN;
		cnt := cnt + 1;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgq_writer') THEN
		CREATE ROLE pgq_writer NOLOGIN;
		cnt := cnt + 1;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgq_admin') THEN
		CREATE ROLE pgq_admin NOLOGIN IN ROLE pgq_reader, pgq_writer;
		cnt := cnt + 1;
	END IF;
	PERFORM 1 FROM pg_attribute
	 WHERE attrelid = 'pgq.queue'::regclass AND attname = 'queue_extra_maint' AND NOT attisdropped;
	IF NOT FOUND THEN
		ALTER TABLE pgq.queue ADD COLUMN queue_extra_maint text[];
		cnt := cnt + 1;
	END IF;
	IF (SELECT atttypid FROM pg_attribute
	     WHERE attrelid = 'pgq.tick'::regclass AND attname = 'tick_snapshot')
	   = 'pg_snapshot'::regtype THEN
		ALTER TABLE pgq.tick
			ALTER COLUMN tick_snapshot DROP DEFAULT,
			ALTER COLUMN tick_snapshot TYPE txid_snapshot USING tick_snapshot::text::txid_snapshot,
			ALTER COLUMN tick_snapshot SET DEFAULT txid_current_snapshot();
		cnt := cnt + 1;
	END IF;
	IF (SELECT atttypid FROM pg_attribute
	     WHERE attrelid = 'pgq.queue'::regclass AND attname = 'queue_switch_step1')
	   = 'xid8'::regtype THEN
		ALTER TABLE pgq.queue
			ALTER COLUMN queue_switch_step1 DROP DEFAULT,
			ALTER COLUMN queue_switch_step1 TYPE bigint USING queue_switch_step1::text::bigint,
			ALTER COLUMN queue_switch_step1 SET DEFAULT txid_current(),
			ALTER COLUMN queue_switch_step2 DROP DEFAULT,
			ALTER COLUMN queue_switch_step2 TYPE bigint USING queue_switch_step2::text::bigint,
			ALTER COLUMN queue_switch_step2 SET DEFAULT txid_current();
		cnt := cnt + 1;
	END IF;
	IF (SELECT atttypid FROM pg_attribute
	     WHERE attrelid = 'pgq.event_template'::regclass AND attname = 'ev_txid')
	   = 'xid8'::regtype THEN
		ALTER TABLE pgq.event_template
			ALTER COLUMN ev_txid DROP DEFAULT,
			ALTER COLUMN ev_txid TYPE bigint USING ev_txid::text::bigint,
			ALTER COLUMN ev_txid SET DEFAULT txid_current();
		cnt := cnt + 1;
	END IF;
	RETURN cnt;
END
$$;

-- (a DO block: the install prints nothing)
DO $up$ BEGIN PERFORM pgq.upgrade_schema(); END $up$;

-- Readers may look at the bookkeeping (pgq status tools do); nobody but
-- the functions writes it.
REVOKE ALL ON pgq.consumer, pgq.queue, pgq.tick, pgq.subscription,
	pgq.event_template, pgq.retry_queue FROM PUBLIC;
GRANT SELECT ON pgq.consumer, pgq.queue, pgq.tick, pgq.subscription
	TO pgq_reader, pgq_writer, pgq_admin;
GRANT SELECT ON pgq.event_template TO pgq_reader;
GRANT SELECT ON pgq.retry_queue TO pgq_admin;
