-- Maintenance: retries, table rotation, what to vacuum.  pgqd (or
-- pgq-tick --maint) calls these through maint_operations().

-- Moves retries that are due back into their queues (same ev_id,
-- ev_owner = the subscription that asked).  At most 10000 per call;
-- returns how many were moved, so callers loop while it is positive.
CREATE OR REPLACE FUNCTION pgq.maint_retry_events()
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	r record;
	n integer := 0;
BEGIN
	FOR r IN
		WITH due AS (
			SELECT ctid FROM pgq.retry_queue
			 WHERE ev_retry_after <= now()
			 ORDER BY ev_retry_after
			 LIMIT 10000
			   FOR UPDATE SKIP LOCKED
		)
		DELETE FROM pgq.retry_queue rq USING due
		 WHERE rq.ctid = due.ctid
		RETURNING rq.*
	LOOP
		-- The event keeps its id, but the sequence still counts it, so
		-- that the ticker sees new events and ticks soon.
		PERFORM pgq.insert_event_raw(q.queue_name, r.ev_id, r.ev_time, r.ev_owner, r.ev_retry,
			r.ev_type, r.ev_data, r.ev_extra1, r.ev_extra2, r.ev_extra3, r.ev_extra4),
			nextval(q.queue_event_seq)
		   FROM pgq.queue q WHERE q.queue_id = r.ev_queue;
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;

-- Rotation, step 1: when rotation_period has passed, switch inserts to
-- the next table and empty it first.  As in PgQ, a queue rotates only
-- when every consumer's position is past the moment the previous
-- rotation became visible (queue_switch_step2): then no open or future
-- batch needs more than the current table and the one before it, which
-- is what batch_event_tables relies on.  Besides, the table to empty
-- must hold no txid that a consumer's last snapshot could still miss,
-- and it is locked first so that no transaction still writing to it is
-- missed.  Returns 0 whatever it did, as PgQ does: maintenance daemons
-- (pgqd, pgq-tick) call a function again at once while it returns 1.
CREATE OR REPLACE FUNCTION pgq.maint_rotate_tables_step1(i_queue_name text)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	q pgq.queue;
	nxt integer;
	tbl text;
	min_xmin bigint;
	max_txid bigint;
	min_tick bigint;
BEGIN
	SELECT * INTO q FROM pgq.queue
	 WHERE queue_name = i_queue_name
	   AND queue_switch_step2 IS NOT NULL
	   AND queue_switch_time + queue_rotation_period < now()
	   FOR UPDATE;
	IF NOT FOUND THEN
		RETURN 0;
	END IF;
	IF txid_current() < q.queue_switch_step1 THEN
		RAISE EXCEPTION 'queue % maint failure: step1=%, current=%',
			i_queue_name, q.queue_switch_step1, txid_current() USING ERRCODE = 'XX000';
	END IF;
	nxt := (q.queue_cur_table + 1) % q.queue_ntables;
	tbl := q.queue_data_pfx || '_' || nxt;

	SELECT min(txid_snapshot_xmin(t.tick_snapshot)), min(s.sub_last_tick)
	  INTO min_xmin, min_tick
	  FROM pgq.subscription s
	  JOIN pgq.tick t ON t.tick_queue = s.sub_queue AND t.tick_id = s.sub_last_tick
	 WHERE s.sub_queue = q.queue_id;
	IF min_xmin IS NOT NULL AND min_xmin <= q.queue_switch_step2 THEN
		RETURN 0;
	END IF;

	BEGIN
		-- A consumer reading the table holds a lock; waiting for it
		-- would stall the ticker, which needs the queue row.
		EXECUTE 'LOCK TABLE ' || tbl || ' IN ACCESS EXCLUSIVE MODE NOWAIT';
	EXCEPTION WHEN lock_not_available THEN
		RETURN 0;
	END;
	EXECUTE 'SELECT max(ev_txid) FROM ' || tbl INTO max_txid;
	IF max_txid IS NOT NULL AND min_xmin IS NOT NULL AND max_txid >= min_xmin THEN
		RETURN 0;
	END IF;
	EXECUTE 'TRUNCATE ' || tbl;
	UPDATE pgq.queue
	   SET queue_cur_table = nxt,
	       queue_switch_time = now(),
	       queue_switch_step1 = txid_current(),
	       queue_switch_step2 = NULL
	 WHERE queue_id = q.queue_id;

	-- Ticks before every consumer's position are no longer needed;
	-- without consumers keep only the last one.
	IF min_tick IS NULL THEN
		SELECT max(tick_id) INTO min_tick FROM pgq.tick WHERE tick_queue = q.queue_id;
	END IF;
	DELETE FROM pgq.tick WHERE tick_queue = q.queue_id AND tick_id < min_tick;
	RETURN 0;
END
$$;

-- Rotation, step 2, in a later transaction than step 1: records that
-- the switch is committed.  Returns 0, as PgQ (see step 1).
CREATE OR REPLACE FUNCTION pgq.maint_rotate_tables_step2()
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
BEGIN
	UPDATE pgq.queue SET queue_switch_step2 = txid_current()
	 WHERE queue_switch_step2 IS NULL;
	RETURN 0;
END
$$;

-- The small, often-updated bookkeeping tables, of PgQ and of the
-- schemas built on it, for a server without autovacuum; with
-- autovacuum on, none (as PgQ: autovacuum handles them).
CREATE OR REPLACE FUNCTION pgq.maint_tables_to_vacuum()
RETURNS SETOF text LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
BEGIN
	IF current_setting('autovacuum')::boolean THEN
		RETURN;
	END IF;
	RETURN QUERY
		SELECT n.nspname || '.' || c.relname
		  FROM unnest(ARRAY['pgq', 'pgq', 'pgq', 'pgq', 'pgq',
		                    'pgq_ext', 'pgq_ext', 'pgq_ext', 'pgq_ext',
		                    'pgq_node', 'londiste', 'txid', 'londiste'],
		              ARRAY['subscription', 'consumer', 'queue', 'tick', 'retry_queue',
		                    'completed_tick', 'completed_batch', 'completed_event', 'partial_batch',
		                    'local_state', 'seq_info', 'epoch', 'completed'])
		       WITH ORDINALITY AS w(scm, tbl, k)
		  JOIN pg_namespace n ON n.nspname = w.scm
		  JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.tbl
		 ORDER BY w.k;
END
$$;

-- What a maintenance daemon should call: (function, argument) rows,
-- each in its own transaction; func_name 'vacuum' means VACUUM func_arg.
-- The order and the hooks are PgQ's.
CREATE OR REPLACE FUNCTION pgq.maint_operations(OUT func_name text, OUT func_arg text)
RETURNS SETOF record LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	nrot integer := 0;
	qname text;
	x text;
BEGIN
	FOR qname IN
		SELECT queue_name FROM pgq.queue
		 WHERE queue_switch_step2 IS NOT NULL
		   AND queue_switch_time + queue_rotation_period < now()
		 ORDER BY queue_name
	LOOP
		func_name := 'pgq.maint_rotate_tables_step1';
		func_arg := qname;
		nrot := nrot + 1;
		RETURN NEXT;
	END LOOP;
	IF nrot = 0 THEN
		SELECT count(*) INTO nrot FROM pgq.queue WHERE queue_switch_step2 IS NULL;
	END IF;
	IF nrot > 0 THEN
		func_name := 'pgq.maint_rotate_tables_step2';
		func_arg := NULL;
		RETURN NEXT;
	END IF;
	FOR qname, x IN
		SELECT queue_name, unnest(queue_extra_maint) FROM pgq.queue ORDER BY queue_name
	LOOP
		func_name := x;
		func_arg := qname;
		RETURN NEXT;
	END LOOP;
	FOR x IN SELECT pgq.maint_tables_to_vacuum() LOOP
		func_name := 'vacuum';
		func_arg := x;
		RETURN NEXT;
	END LOOP;
	-- The hooks of the schemas built on PgQ: the cascade's watermark and
	-- Londiste's sequence check on root nodes, then Londiste's periodic
	-- work.  Their tables are looked up only when the function exists.
	PERFORM 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	 WHERE n.nspname = 'pgq_node' AND p.proname = 'maint_watermark';
	IF FOUND THEN
		func_name := 'pgq_node.maint_watermark';
		FOR func_arg IN
			EXECUTE 'SELECT n.queue_name FROM pgq_node.node_info n'
				' WHERE n.node_type OPERATOR(pg_catalog.=) ''root'' ORDER BY 1'
		LOOP
			RETURN NEXT;
		END LOOP;
	END IF;
	PERFORM 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	 WHERE n.nspname = 'londiste' AND p.proname = 'root_check_seqs';
	-- (a Skytools 2 londiste has the function but may lack pgq_node)
	IF FOUND AND to_regclass('pgq_node.node_info') IS NOT NULL THEN
		func_name := 'londiste.root_check_seqs';
		FOR func_arg IN
			EXECUTE 'SELECT DISTINCT s.queue_name FROM londiste.seq_info s, pgq_node.node_info n'
				' WHERE s.local AND n.node_type OPERATOR(pg_catalog.=) ''root'''
				' AND n.queue_name OPERATOR(pg_catalog.=) s.queue_name ORDER BY 1'
		LOOP
			RETURN NEXT;
		END LOOP;
	END IF;
	PERFORM 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	 WHERE n.nspname = 'londiste' AND p.proname = 'periodic_maintenance';
	IF FOUND THEN
		func_name := 'londiste.periodic_maintenance';
		func_arg := NULL;
		RETURN NEXT;
	END IF;
END
$$;
