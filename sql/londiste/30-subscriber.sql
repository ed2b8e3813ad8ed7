-- Subscriber side: table states, sequences, applied ticks.

-- i_skip_truncate: the copy adds to the rows the table has instead of
-- emptying it first.  i_expect_sync: the table already holds what the
-- provider has; no copy, replay applies its events from now on.
-- A table registered before keeps its state and settings.
CREATE OR REPLACE FUNCTION londiste.subscriber_add_table(i_queue text, i_table text,
	i_skip_truncate boolean, i_expect_sync boolean)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	tbl text;
BEGIN
	tbl := londiste.find_table(i_table);
	IF londiste.pkey_columns(londiste.rel_oid(tbl)) IS NULL THEN
		RAISE EXCEPTION 'table % has no primary key', tbl
			USING ERRCODE = 'invalid_table_definition';
	END IF;
	INSERT INTO londiste.subscriber_table (queue_name, table_name, state, skip_truncate)
	VALUES (i_queue, tbl, CASE WHEN i_expect_sync THEN 'ok' ELSE 'new' END,
		coalesce(i_skip_truncate, false))
	ON CONFLICT DO NOTHING;
	RETURN tbl;
END $$;

CREATE OR REPLACE FUNCTION londiste.subscriber_add_table(i_queue text, i_table text)
RETURNS text LANGUAGE sql
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT londiste.subscriber_add_table(i_queue, i_table, false, false)
$$;

-- The registered name for a user-given one, or an error.
CREATE OR REPLACE FUNCTION londiste.subscriber_table_name(i_queue text, i_table text)
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	tbl text;
BEGIN
	SELECT table_name INTO tbl FROM londiste.subscriber_table
	 WHERE queue_name = i_queue AND table_name = i_table;
	IF tbl IS NULL THEN
		BEGIN
			tbl := londiste.find_table(i_table);
		EXCEPTION WHEN undefined_table THEN
			tbl := i_table;
		END;
		PERFORM 1 FROM londiste.subscriber_table
		 WHERE queue_name = i_queue AND table_name = tbl;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'table % is not registered for queue %', i_table, i_queue
				USING ERRCODE = 'undefined_object';
		END IF;
	END IF;
	RETURN tbl;
END $$;

CREATE OR REPLACE FUNCTION londiste.subscriber_remove_table(i_queue text, i_table text)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	tbl text := londiste.subscriber_table_name(i_queue, i_table);
BEGIN
	DELETE FROM londiste.subscriber_table WHERE queue_name = i_queue AND table_name = tbl;
	DELETE FROM londiste.pending WHERE queue_name = i_queue AND table_name = tbl;
	RETURN tbl;
END $$;

-- Back to `new`: the next copy starts over.
CREATE OR REPLACE FUNCTION londiste.subscriber_resync_table(i_queue text, i_table text)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	tbl text := londiste.subscriber_table_name(i_queue, i_table);
BEGIN
	UPDATE londiste.subscriber_table
	   SET state = 'new', snapshot = NULL, sync_tick = NULL
	 WHERE queue_name = i_queue AND table_name = tbl;
	DELETE FROM londiste.pending WHERE queue_name = i_queue AND table_name = tbl;
	RETURN tbl;
END $$;

CREATE OR REPLACE FUNCTION londiste.subscriber_add_seq(i_queue text, i_seq text)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	seq text := londiste.find_seq(i_seq);
BEGIN
	INSERT INTO londiste.subscriber_seq (queue_name, seq_name)
	VALUES (i_queue, seq) ON CONFLICT DO NOTHING;
	RETURN seq;
END $$;

CREATE OR REPLACE FUNCTION londiste.subscriber_remove_seq(i_queue text, i_seq text)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	seq text;
BEGIN
	DELETE FROM londiste.subscriber_seq WHERE queue_name = i_queue AND seq_name = i_seq
	RETURNING seq_name INTO seq;
	IF seq IS NULL THEN
		BEGIN
			seq := londiste.find_seq(i_seq);
		EXCEPTION WHEN undefined_table THEN
			seq := i_seq;
		END;
		DELETE FROM londiste.subscriber_seq WHERE queue_name = i_queue AND seq_name = seq
		RETURNING seq_name INTO seq;
	END IF;
	IF seq IS NULL THEN
		RAISE EXCEPTION 'sequence % is not registered for queue %', i_seq, i_queue
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN seq;
END $$;

-- Start of a copy.  The UPDATE waits for the batch londiste-apply has in
-- flight (it holds the state rows FOR SHARE), so every batch that skipped
-- this table's events committed before the copy takes its snapshot.
CREATE OR REPLACE FUNCTION londiste.copy_begin(i_queue text, i_table text)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	tbl text := londiste.subscriber_table_name(i_queue, i_table);
BEGIN
	UPDATE londiste.subscriber_table
	   SET state = 'in-copy', snapshot = NULL, sync_tick = NULL
	 WHERE queue_name = i_queue AND table_name = tbl;
	-- Everything pending so far is older than the coming snapshot.
	DELETE FROM londiste.pending WHERE queue_name = i_queue AND table_name = tbl;
	RETURN tbl;
END $$;

-- End of a copy, in the copy's transaction.
CREATE OR REPLACE FUNCTION londiste.copy_done(i_queue text, i_table text,
	i_snapshot pg_snapshot, i_sync_tick bigint)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
BEGIN
	UPDATE londiste.subscriber_table
	   SET state = 'catching-up', snapshot = i_snapshot, sync_tick = i_sync_tick
	 WHERE queue_name = i_queue AND table_name = i_table AND state = 'in-copy';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table % of queue % is no longer in copy (removed or resynced meanwhile)',
			i_table, i_queue USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
END $$;

-- End of catch-up, in the batch londiste-apply commits once the batch
-- starts past the copy's sync tick: nothing later can be in the copy.
CREATE OR REPLACE FUNCTION londiste.copy_caught_up(i_queue text, i_table text)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
BEGIN
	UPDATE londiste.subscriber_table
	   SET state = 'ok', snapshot = NULL, sync_tick = NULL
	 WHERE queue_name = i_queue AND table_name = i_table AND state = 'catching-up';
END $$;

-- The tables replay has to copy, at most i_limit, those a killed copy left
-- in-copy first.  When there are none it looks again every 50 ms for up to
-- i_wait: a table added during replay is copied at once, without a client
-- polling (each look is a new snapshot, as the function is volatile).
CREATE OR REPLACE FUNCTION londiste.tables_to_copy(i_queue text, i_limit integer,
	i_wait interval)
RETURNS SETOF text LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	stop timestamptz := clock_timestamp() + coalesce(i_wait, '0');
BEGIN
	LOOP
		RETURN QUERY SELECT t.table_name FROM londiste.subscriber_table t
			WHERE t.queue_name = i_queue AND t.state IN ('new', 'in-copy')
			ORDER BY t.state DESC, t.table_name LIMIT i_limit;
		IF FOUND OR clock_timestamp() >= stop THEN
			RETURN;
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
END $$;

-- Set a sequence from the provider's value, never backwards; unregistered
-- sequences are ignored.
CREATE OR REPLACE FUNCTION londiste.apply_seq(i_queue text, i_seq text, i_value bigint)
RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	rel regclass;
	v bigint;
	called boolean;
BEGIN
	PERFORM 1 FROM londiste.subscriber_seq WHERE queue_name = i_queue AND seq_name = i_seq;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	rel := londiste.rel_oid(i_seq);
	IF rel IS NULL THEN
		RAISE EXCEPTION 'sequence % is registered but does not exist', i_seq
			USING ERRCODE = 'undefined_table';
	END IF;
	EXECUTE format('SELECT last_value, is_called FROM %s', rel) INTO v, called;
	IF i_value > v OR (i_value = v AND NOT called) THEN
		PERFORM setval(rel, i_value, true);
		RETURN true;
	END IF;
	RETURN false;
END $$;

-- Tables of a queue with their state, for `londiste ... tables` and status.
CREATE OR REPLACE FUNCTION londiste.subscriber_tables(i_queue text,
	OUT table_name text, OUT state text, OUT pending bigint)
RETURNS SETOF record LANGUAGE sql STABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT t.table_name, t.state,
	       (SELECT count(*) FROM londiste.pending p
		 WHERE p.queue_name = t.queue_name AND p.table_name = t.table_name)
	  FROM londiste.subscriber_table t
	 WHERE t.queue_name = i_queue
	 ORDER BY t.table_name
$$;

CREATE OR REPLACE FUNCTION londiste.version()
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$ SELECT '0.1.0'::text $$;
