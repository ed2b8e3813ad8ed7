-- Londiste: table replication on top of PgQ.
--
-- Re-running this file upgrades an installation in place: every object
-- is created only when missing (tables) or replaced (functions), so the
-- replication state survives.

-- Never take over the original Londiste 3 (extension or plain install):
-- its functions would be replaced one by one under its extension.  Ours
-- is known by londiste.skytools_c_version().
DO $guard$
BEGIN
	IF (to_regclass('londiste.table_info') IS NOT NULL
	    OR EXISTS (SELECT 1 FROM pg_catalog.pg_extension e
		        JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
		       WHERE e.extname = 'londiste' AND e.extversion LIKE '3.%'))
	   AND to_regprocedure('londiste.skytools_c_version()') IS NULL THEN
		RAISE EXCEPTION 'schema londiste holds another Londiste (Londiste 3); drop it first (DROP EXTENSION londiste or DROP SCHEMA londiste CASCADE)'
			USING ERRCODE = '55000';
	END IF;
END
$guard$;

CREATE SCHEMA IF NOT EXISTS londiste;

-- Provider: what each queue replicates.  Names are stored as
-- pgq.logutriga writes them into ev_extra1 (schema.relation, unquoted),
-- so an event is matched to its table by plain text equality.
CREATE TABLE IF NOT EXISTS londiste.provider_table (
	queue_name	text NOT NULL,
	table_name	text NOT NULL,
	PRIMARY KEY (queue_name, table_name)
);

CREATE TABLE IF NOT EXISTS londiste.provider_seq (
	queue_name	text NOT NULL,
	seq_name	text NOT NULL,
	last_value	bigint,		-- the value last sent into the queue
	PRIMARY KEY (queue_name, seq_name)
);

-- Subscriber: state of each replicated table.
--   new          registered, not copied: its events are skipped
--   in-copy      londiste-copy runs: events wait in londiste.pending
--   catching-up  copied at provider snapshot `snapshot`: events of
--                transactions visible to it are already in the copy
--   ok           every event is applied
-- sync_tick is the first provider tick made after the copy's snapshot:
-- a batch starting at or after it holds nothing the copy saw.
CREATE TABLE IF NOT EXISTS londiste.subscriber_table (
	queue_name	text NOT NULL,
	table_name	text NOT NULL,
	state		text NOT NULL DEFAULT 'new'
			CHECK (state IN ('new', 'in-copy', 'catching-up', 'ok')),
	snapshot	pg_snapshot,
	sync_tick	bigint,
	PRIMARY KEY (queue_name, table_name)
);
-- Added with --skip-truncate: the copy keeps the subscriber's own rows.
ALTER TABLE londiste.subscriber_table
	ADD COLUMN IF NOT EXISTS skip_truncate boolean NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS londiste.subscriber_seq (
	queue_name	text NOT NULL,
	seq_name	text NOT NULL,
	PRIMARY KEY (queue_name, seq_name)
);

-- The last tick each consumer applied: written in the batch's own
-- transaction, so a batch delivered twice is recognised.
CREATE TABLE IF NOT EXISTS londiste.completed (
	queue_name	text NOT NULL,
	consumer_name	text NOT NULL,
	last_tick	bigint NOT NULL,
	PRIMARY KEY (queue_name, consumer_name)
);

-- Events that arrived while their table was being copied; applied (those
-- the copy's snapshot did not see) when the table turns catching-up.
CREATE TABLE IF NOT EXISTS londiste.pending (
	queue_name	text NOT NULL,
	table_name	text NOT NULL,
	seq		bigserial,
	ev_txid		bigint NOT NULL,
	ev_type		text NOT NULL,
	ev_data		text,
	PRIMARY KEY (queue_name, table_name, seq)
);
