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
-- the next table and empty it first.  The next table is the oldest one;
-- it is emptied only when no consumer can still need its events: every
-- txid in it must be below the xmin of every consumer's last tick
-- snapshot (so it is committed-and-consumed or aborted).  The table is
-- locked first so that no transaction still writing to it is missed.
-- Returns 1 when the queue rotated, 0 when it is not time yet or a
-- consumer is still behind (the next call tries again).
CREATE OR REPLACE FUNCTION pgq.maint_rotate_tables_step1(i_queue_name text)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	q pgq.queue;
	nxt integer;
	tbl text;
	min_xmin xid8;
	max_txid xid8;
	min_tick bigint;
BEGIN
	q := pgq._lock_queue(i_queue_name);
	IF q.queue_switch_step2 IS NULL
	   OR now() - q.queue_switch_time < q.queue_rotation_period THEN
		RETURN 0;
	END IF;
	nxt := (q.queue_cur_table + 1) % q.queue_ntables;
	tbl := q.queue_data_pfx || '_' || nxt;

	SELECT min(pg_snapshot_xmin(t.tick_snapshot)), min(s.sub_last_tick)
	  INTO min_xmin, min_tick
	  FROM pgq.subscription s
	  JOIN pgq.tick t ON t.tick_queue = s.sub_queue AND t.tick_id = s.sub_last_tick
	 WHERE s.sub_queue = q.queue_id;

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
	       queue_switch_step1 = pg_current_xact_id(),
	       queue_switch_step2 = NULL
	 WHERE queue_id = q.queue_id;

	-- Ticks before every consumer's position are no longer needed;
	-- without consumers keep only the last one.
	IF min_tick IS NULL THEN
		SELECT max(tick_id) INTO min_tick FROM pgq.tick WHERE tick_queue = q.queue_id;
	END IF;
	DELETE FROM pgq.tick WHERE tick_queue = q.queue_id AND tick_id < min_tick;
	RETURN 1;
END
$$;

-- Rotation, step 2, in a later transaction than step 1: records that
-- the switch is committed.  Returns how many queues it completed.
CREATE OR REPLACE FUNCTION pgq.maint_rotate_tables_step2()
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	n integer;
BEGIN
	UPDATE pgq.queue SET queue_switch_step2 = pg_current_xact_id()
	 WHERE queue_switch_step2 IS NULL;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-- The small, often-updated bookkeeping tables.
CREATE OR REPLACE FUNCTION pgq.maint_tables_to_vacuum()
RETURNS SETOF text LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT unnest(ARRAY['pgq.subscription', 'pgq.consumer', 'pgq.queue',
		'pgq.tick', 'pgq.retry_queue'])
$$;

-- What a maintenance daemon should call: (function, argument) rows,
-- each in its own transaction; func_name 'vacuum' means VACUUM func_arg.
CREATE OR REPLACE FUNCTION pgq.maint_operations(OUT func_name text, OUT func_arg text)
RETURNS SETOF record LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	qname text;
	x text;
BEGIN
	FOR qname IN
		SELECT queue_name FROM pgq.queue
		 WHERE queue_switch_step2 IS NOT NULL
		   AND now() - queue_switch_time >= queue_rotation_period
		 ORDER BY queue_id
	LOOP
		func_name := 'pgq.maint_rotate_tables_step1';
		func_arg := qname;
		RETURN NEXT;
	END LOOP;
	func_name := 'pgq.maint_rotate_tables_step2';
	func_arg := NULL;
	RETURN NEXT;
	FOR qname, x IN
		SELECT queue_name, unnest(queue_extra_maint) FROM pgq.queue ORDER BY queue_id
	LOOP
		func_name := x;
		func_arg := qname;
		RETURN NEXT;
	END LOOP;
	IF to_regprocedure('londiste.periodic_maintenance()') IS NOT NULL THEN
		func_name := 'londiste.periodic_maintenance';
		func_arg := NULL;
		RETURN NEXT;
	END IF;
	FOR x IN SELECT pgq.maint_tables_to_vacuum() LOOP
		func_name := 'vacuum';
		func_arg := x;
		RETURN NEXT;
	END LOOP;
END
$$;
