-- Provider side: tables and sequences a queue replicates.

-- The longest prefix of a text that fits in a number of bytes, cut at a
-- character boundary as the server cuts a too-long identifier.
CREATE OR REPLACE FUNCTION londiste._clip(i_text text, i_bytes int)
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	n int := least(length(i_text), i_bytes);
BEGIN
	WHILE octet_length(left(i_text, n)) > i_bytes LOOP
		n := n - 1;
	END LOOP;
	RETURN left(i_text, n);
END $$;

-- The name of a queue's row or TRUNCATE trigger on a table; every lookup
-- by name goes through here.  Up to 52 bytes of queue name the names are
-- the ones earlier versions created (the server cut the TRUNCATE one to
-- 63 bytes, which kept it apart from the row one), so installed triggers
-- are still found.  Past that both would be cut to the same 63 bytes, so
-- a longer name gives a cut of the queue name plus a hash of all of it,
-- keeping two queues with a common prefix apart too.
CREATE OR REPLACE FUNCTION londiste.trigger_name(i_queue text, i_truncate boolean)
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT CASE WHEN octet_length(i_queue) <= 52
		THEN londiste._clip('_londiste_' || i_queue
			|| CASE WHEN i_truncate THEN '_truncate' ELSE '' END, 63)
		ELSE '_londiste_' || londiste._clip(i_queue, 35) || '_'
			|| left(md5(i_queue), 8)
			|| CASE WHEN i_truncate THEN '_truncate' ELSE '' END
	END
$$;

-- The name a row trigger has once it skips the table's own writes
-- (--trigger-flags=S): zzz_ first, so that it fires after the other
-- BEFORE triggers, cut as the server cuts a name, so that a lookup
-- finds the trigger as it was made.
CREATE OR REPLACE FUNCTION londiste._skip_name(i_trigger text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT londiste._clip('zzz_' || i_trigger, 63)
$$;

CREATE OR REPLACE FUNCTION londiste.drop_triggers(i_queue text, i_rel regclass)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	tg text;
BEGIN
	FOR tg IN SELECT tgname FROM pg_trigger WHERE tgrelid = i_rel
		   AND tgname IN (londiste.trigger_name(i_queue, false),
				  londiste.trigger_name(i_queue, true))
	LOOP
		EXECUTE format('DROP TRIGGER %I ON %s', tg, i_rel);
	END LOOP;
END $$;

-- Register a table and install its triggers: a row trigger writing
-- pgq.logutriga events (I/U/D with the primary key in ev_type) and a
-- statement trigger for TRUNCATE (ev_type R).  Returns the canonical name.
CREATE OR REPLACE FUNCTION londiste.provider_add_table(i_queue text, i_table text)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	tbl text;
	rel regclass;
BEGIN
	PERFORM 1 FROM pgq.queue WHERE queue_name = i_queue;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such queue: %', i_queue USING ERRCODE = 'undefined_object';
	END IF;
	tbl := londiste.find_table(i_table);
	rel := londiste.rel_oid(tbl);
	IF londiste.pkey_columns(rel) IS NULL THEN
		RAISE EXCEPTION 'table % has no primary key', tbl
			USING ERRCODE = 'invalid_table_definition';
	END IF;
	PERFORM 1 FROM londiste.provider_table
	 WHERE queue_name = i_queue AND table_name = tbl;
	IF FOUND THEN
		RETURN tbl;
	END IF;
	PERFORM londiste.drop_triggers(i_queue, rel);
	EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s '
		'FOR EACH ROW EXECUTE FUNCTION pgq.logutriga(%L)',
		londiste.trigger_name(i_queue, false), rel, i_queue);
	EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %s '
		'FOR EACH STATEMENT EXECUTE FUNCTION pgq.logutriga(%L)',
		londiste.trigger_name(i_queue, true), rel, i_queue);
	INSERT INTO londiste.provider_table (queue_name, table_name)
	VALUES (i_queue, tbl);
	RETURN tbl;
END $$;

CREATE OR REPLACE FUNCTION londiste.provider_remove_table(i_queue text, i_table text)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	tbl text;
	rel regclass;
BEGIN
	SELECT table_name INTO tbl FROM londiste.provider_table
	 WHERE queue_name = i_queue AND table_name = i_table;
	IF tbl IS NULL THEN
		BEGIN
			tbl := londiste.find_table(i_table);
		EXCEPTION WHEN undefined_table THEN
			tbl := i_table;
		END;
	END IF;
	DELETE FROM londiste.provider_table WHERE queue_name = i_queue AND table_name = tbl;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table % is not replicated by queue %', i_table, i_queue
			USING ERRCODE = 'undefined_object';
	END IF;
	rel := londiste.rel_oid(tbl);
	IF rel IS NOT NULL THEN
		PERFORM londiste.drop_triggers(i_queue, rel);
	END IF;
	RETURN tbl;
END $$;

CREATE OR REPLACE FUNCTION londiste.provider_add_seq(i_queue text, i_seq text)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	seq text;
BEGIN
	PERFORM 1 FROM pgq.queue WHERE queue_name = i_queue;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such queue: %', i_queue USING ERRCODE = 'undefined_object';
	END IF;
	seq := londiste.find_seq(i_seq);
	INSERT INTO londiste.provider_seq (queue_name, seq_name)
	VALUES (i_queue, seq) ON CONFLICT DO NOTHING;
	RETURN seq;
END $$;

CREATE OR REPLACE FUNCTION londiste.provider_remove_seq(i_queue text, i_seq text)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	seq text;
BEGIN
	DELETE FROM londiste.provider_seq WHERE queue_name = i_queue AND seq_name = i_seq
	RETURNING seq_name INTO seq;
	IF seq IS NULL THEN
		BEGIN
			seq := londiste.find_seq(i_seq);
		EXCEPTION WHEN undefined_table THEN
			seq := i_seq;
		END;
		DELETE FROM londiste.provider_seq WHERE queue_name = i_queue AND seq_name = seq
		RETURNING seq_name INTO seq;
	END IF;
	IF seq IS NULL THEN
		RAISE EXCEPTION 'sequence % is not replicated by queue %', i_seq, i_queue
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN seq;
END $$;

-- Send the value of every registered sequence that changed since it was
-- last sent (ev_type SEQ, ev_data the value, ev_extra1 the sequence).
-- pgq.maint_operations() lists this function, so the ticker runs it.
CREATE OR REPLACE FUNCTION londiste.periodic_maintenance()
RETURNS integer LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	r record;
	rel regclass;
	v bigint;
	called boolean;
	n integer := 0;
BEGIN
	FOR r IN SELECT s.queue_name, s.seq_name, s.last_value
		   FROM londiste.provider_seq s
		   JOIN pgq.queue q ON q.queue_name = s.queue_name
		  ORDER BY 1, 2 FOR UPDATE OF s SKIP LOCKED
	LOOP
		rel := londiste.rel_oid(r.seq_name);
		CONTINUE WHEN rel IS NULL;
		EXECUTE format('SELECT last_value, is_called FROM %s', rel) INTO v, called;
		CONTINUE WHEN NOT called OR v IS NOT DISTINCT FROM r.last_value;
		PERFORM pgq.insert_event(r.queue_name, 'SEQ', v::text, r.seq_name,
					 NULL, NULL, NULL);
		UPDATE londiste.provider_seq SET last_value = v
		 WHERE queue_name = r.queue_name AND seq_name = r.seq_name;
		n := n + 1;
	END LOOP;
	-- Londiste 3's part: EXECUTE records older than 3 months go.
	IF to_regclass('londiste.applied_execute') IS NOT NULL THEN
		DELETE FROM londiste.applied_execute WHERE execute_time < now() - interval '3 months';
	END IF;
	RETURN n;
END $$;

-- A tick made now, after the caller's lock or snapshot: compare, repair
-- and copy use it as their point in the stream.
CREATE OR REPLACE FUNCTION londiste.force_tick(i_queue text)
RETURNS bigint LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	t bigint;
	i integer;
	top bigint;
BEGIN
	-- A cascade branch's queue is ticked by its worker with the
	-- provider's ticks: wait for the next one instead (each query of
	-- the loop sees the ticks committed since).
	IF EXISTS (SELECT 1 FROM pgq.queue WHERE queue_name = i_queue AND queue_external_ticker) THEN
		SELECT max(k.tick_id) INTO top FROM pgq.tick k JOIN pgq.queue q ON q.queue_id = k.tick_queue
		 WHERE q.queue_name = i_queue;
		FOR i IN 1 .. 6000 LOOP
			SELECT max(k.tick_id) INTO t FROM pgq.tick k JOIN pgq.queue q ON q.queue_id = k.tick_queue
			 WHERE q.queue_name = i_queue;
			IF t > top THEN
				RETURN t;
			END IF;
			PERFORM pg_sleep(0.01);
		END LOOP;
		RAISE EXCEPTION 'queue %: no tick from its external ticker (is the worker running?)', i_queue
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	-- A ticker running at the same moment may take the forced tick
	-- itself, and then ours finds nothing to do: try again.
	FOR i IN 1 .. 200 LOOP
		IF to_regprocedure('pgq.force_tick(text)') IS NOT NULL THEN
			PERFORM pgq.force_tick(i_queue);
		END IF;
		t := pgq.ticker(i_queue);
		IF t IS NOT NULL THEN
			RETURN t;
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
	RAISE EXCEPTION 'queue %: the ticker made no tick', i_queue
		USING ERRCODE = 'object_not_in_prerequisite_state';
END $$;
