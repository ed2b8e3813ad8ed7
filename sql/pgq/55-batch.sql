-- Reading a batch and retrying its events.

-- The subscription that holds a batch, with the subscription id that
-- owns its retried events (a cooperative subconsumer shares its main
-- consumer's).
CREATE OR REPLACE FUNCTION pgq._batch_sub(x_batch_id bigint,
	OUT sub_id integer, OUT owner_id integer, OUT queue_id integer,
	OUT last_tick bigint, OUT next_tick bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	main integer;
BEGIN
	SELECT s.sub_id, s.sub_queue, s.sub_last_tick, s.sub_next_tick, s.sub_main
	  INTO sub_id, queue_id, last_tick, next_tick, main
	  FROM pgq.subscription s WHERE s.sub_batch = x_batch_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'batch not found: %', x_batch_id USING ERRCODE = 'P0002';
	END IF;
	owner_id := sub_id;
	IF main IS NOT NULL THEN
		SELECT m.sub_id INTO owner_id FROM pgq.subscription m
		 WHERE m.sub_queue = queue_id AND m.sub_consumer = main;
	END IF;
END
$$;

-- The event tables a batch's events can be in, as PgQ finds them: the
-- current table, the one before it, or both, from where the batch's
-- snapshots lie against the last rotation (queue_switch_step1: inserts
-- moved to the current table; step2: that move was visible to every
-- later transaction).  Rotation waits until every consumer is past
-- step2, so no batch reaches further back.
CREATE OR REPLACE FUNCTION pgq.batch_event_tables(x_batch_id bigint)
RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	b record;
	q pgq.queue;
	tx_min bigint;
	tx_max bigint;
BEGIN
	b := pgq._batch_sub(x_batch_id);
	SELECT * INTO q FROM pgq.queue WHERE queue_id = b.queue_id;
	SELECT txid_snapshot_xmin(tick_snapshot) INTO tx_min
	  FROM pgq.tick WHERE tick_queue = b.queue_id AND tick_id = b.last_tick;
	SELECT txid_snapshot_xmax(tick_snapshot) INTO tx_max
	  FROM pgq.tick WHERE tick_queue = b.queue_id AND tick_id = b.next_tick;
	IF tx_min IS NULL OR tx_max IS NULL THEN
		RAISE EXCEPTION 'batch %: ticks % / % are gone', x_batch_id, b.last_tick, b.next_tick
			USING ERRCODE = 'XX000';
	END IF;
	-- the previous table, unless every event is past the switch
	IF tx_max < q.queue_switch_step1
	   OR q.queue_switch_step2 IS NULL OR tx_min <= q.queue_switch_step2 THEN
		RETURN NEXT q.queue_data_pfx || '_'
			|| ((q.queue_cur_table + q.queue_ntables - 1) % q.queue_ntables);
	END IF;
	-- the current table, unless every event is before the switch
	IF NOT tx_max < q.queue_switch_step1 THEN
		RETURN NEXT q.queue_data_pfx || '_' || q.queue_cur_table;
	END IF;
END
$$;

-- The query that returns a batch's events, ordered by ev_id.  An event
-- belongs to the batch when its transaction is visible in the batch's
-- last snapshot and not in the first; those txids are either at or past
-- the first snapshot's xmax or in its in-progress list, which is what
-- lets the txid index find them.
CREATE OR REPLACE FUNCTION pgq.batch_event_sql(x_batch_id bigint)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	b record;
	sp txid_snapshot;
	sc txid_snapshot;
	xip text;
	nxip integer;
	cond text;
	tbl text;
	res text := '';
BEGIN
	b := pgq._batch_sub(x_batch_id);
	SELECT tick_snapshot INTO sp FROM pgq.tick WHERE tick_queue = b.queue_id AND tick_id = b.last_tick;
	SELECT tick_snapshot INTO sc FROM pgq.tick WHERE tick_queue = b.queue_id AND tick_id = b.next_tick;
	IF sp IS NULL OR sc IS NULL THEN
		RAISE EXCEPTION 'batch %: ticks % / % are gone', x_batch_id, b.last_tick, b.next_tick
			USING ERRCODE = 'XX000';
	END IF;
	SELECT string_agg(x::text, ',' ORDER BY x), count(*)
	  INTO xip, nxip FROM txid_snapshot_xip(sp) x;
	IF nxip = 0 THEN
		cond := format('ev.ev_txid >= %s AND ev.ev_txid < %s',
			txid_snapshot_xmax(sp), txid_snapshot_xmax(sc));
	ELSIF nxip <= 100 THEN
		cond := format('((ev.ev_txid >= %s AND ev.ev_txid < %s)'
			' OR ev.ev_txid IN (%s))',
			txid_snapshot_xmax(sp), txid_snapshot_xmax(sc), xip);
	ELSE
		cond := format('ev.ev_txid >= %s AND ev.ev_txid < %s',
			txid_snapshot_xmin(sp), txid_snapshot_xmax(sc));
	END IF;
	cond := cond || format(' AND pg_catalog.txid_visible_in_snapshot(ev.ev_txid, %L::pg_catalog.txid_snapshot)'
		' AND NOT pg_catalog.txid_visible_in_snapshot(ev.ev_txid, %L::pg_catalog.txid_snapshot)'
		' AND (ev.ev_owner IS NULL OR ev.ev_owner = %s)', sc, sp, b.owner_id);
	FOR tbl IN SELECT pgq.batch_event_tables(x_batch_id) LOOP
		IF res <> '' THEN
			res := res || ' UNION ALL ';
		END IF;
		res := res || 'SELECT ev.ev_id, ev.ev_time, ev.ev_txid, ev.ev_retry,'
			' ev.ev_type, ev.ev_data, ev.ev_extra1, ev.ev_extra2, ev.ev_extra3, ev.ev_extra4'
			' FROM ' || tbl || ' ev WHERE ' || cond;
	END LOOP;
	RETURN res || ' ORDER BY 1';
END
$$;

CREATE OR REPLACE FUNCTION pgq.get_batch_events(x_batch_id bigint,
	OUT ev_id bigint, OUT ev_time timestamptz, OUT ev_txid bigint, OUT ev_retry integer,
	OUT ev_type text, OUT ev_data text, OUT ev_extra1 text, OUT ev_extra2 text,
	OUT ev_extra3 text, OUT ev_extra4 text)
RETURNS SETOF record LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
BEGIN
	RETURN QUERY EXECUTE pgq.batch_event_sql(x_batch_id);
END
$$;

-- Opens cursor i_cursor_name over the batch (optionally filtered by
-- i_extra_where, an expression over the event columns) and returns its
-- first i_quick_limit rows; the caller FETCHes the rest and CLOSEs it.
-- SECURITY INVOKER: i_extra_where is the caller's SQL and must run with
-- the caller's rights (readers may read the event tables anyway).
CREATE OR REPLACE FUNCTION pgq.get_batch_cursor(i_batch_id bigint, i_cursor_name text,
	i_quick_limit integer, i_extra_where text,
	OUT ev_id bigint, OUT ev_time timestamptz, OUT ev_txid bigint, OUT ev_retry integer,
	OUT ev_type text, OUT ev_data text, OUT ev_extra1 text, OUT ev_extra2 text,
	OUT ev_extra3 text, OUT ev_extra4 text)
RETURNS SETOF record LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	q text;
	c refcursor;
	i integer;
BEGIN
	q := pgq.batch_event_sql(i_batch_id);
	IF i_extra_where IS NOT NULL AND i_extra_where <> '' THEN
		q := 'SELECT * FROM (' || q || ') ev WHERE (' || i_extra_where || ') ORDER BY 1';
	END IF;
	c := i_cursor_name;
	OPEN c NO SCROLL FOR EXECUTE q;
	FOR i IN 1 .. coalesce(i_quick_limit, 0) LOOP
		FETCH c INTO ev_id, ev_time, ev_txid, ev_retry, ev_type, ev_data,
			ev_extra1, ev_extra2, ev_extra3, ev_extra4;
		EXIT WHEN NOT FOUND;
		RETURN NEXT;
	END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION pgq.get_batch_cursor(i_batch_id bigint, i_cursor_name text,
	i_quick_limit integer,
	OUT ev_id bigint, OUT ev_time timestamptz, OUT ev_txid bigint, OUT ev_retry integer,
	OUT ev_type text, OUT ev_data text, OUT ev_extra1 text, OUT ev_extra2 text,
	OUT ev_extra3 text, OUT ev_extra4 text)
RETURNS SETOF record LANGUAGE sql SECURITY INVOKER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT * FROM pgq.get_batch_cursor(i_batch_id, i_cursor_name, i_quick_limit, NULL)
$$;

-- Put one event of an open batch aside until i_retry_time; the retry
-- maintenance puts it back into the queue for this consumer only.
-- Returns 1, or 0 when it is already waiting for a retry.
CREATE OR REPLACE FUNCTION pgq.event_retry(x_batch_id bigint, x_event_id bigint, x_retry_time timestamptz)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	b record;
	n integer;
BEGIN
	b := pgq._batch_sub(x_batch_id);
	EXECUTE 'INSERT INTO pgq.retry_queue (ev_retry_after, ev_queue, ev_id, ev_time, ev_txid,'
		' ev_owner, ev_retry, ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4)'
		' SELECT $1, $2, b.ev_id, b.ev_time, b.ev_txid, $3, coalesce(b.ev_retry, 0) + 1,'
		' b.ev_type, b.ev_data, b.ev_extra1, b.ev_extra2, b.ev_extra3, b.ev_extra4'
		' FROM (' || pgq.batch_event_sql(x_batch_id) || ') b WHERE b.ev_id = $4'
		' ON CONFLICT (ev_owner, ev_id) DO NOTHING'
		USING x_retry_time, b.queue_id, b.owner_id, x_event_id;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n = 0 THEN
		PERFORM 1 FROM pgq.retry_queue WHERE ev_owner = b.owner_id AND ev_id = x_event_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'event % not found in batch %', x_event_id, x_batch_id
				USING ERRCODE = 'P0002';
		END IF;
	END IF;
	RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION pgq.event_retry(x_batch_id bigint, x_event_id bigint, x_retry_seconds integer)
RETURNS integer LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT pgq.event_retry(x_batch_id, x_event_id, now() + make_interval(secs => x_retry_seconds))
$$;

-- Every event of the batch; returns how many were put aside.
CREATE OR REPLACE FUNCTION pgq.batch_retry(i_batch_id bigint, i_retry_seconds integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	b record;
	n integer;
BEGIN
	b := pgq._batch_sub(i_batch_id);
	EXECUTE 'INSERT INTO pgq.retry_queue (ev_retry_after, ev_queue, ev_id, ev_time, ev_txid,'
		' ev_owner, ev_retry, ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4)'
		' SELECT $1, $2, b.ev_id, b.ev_time, b.ev_txid, $3, coalesce(b.ev_retry, 0) + 1,'
		' b.ev_type, b.ev_data, b.ev_extra1, b.ev_extra2, b.ev_extra3, b.ev_extra4'
		' FROM (' || pgq.batch_event_sql(i_batch_id) || ') b'
		' ON CONFLICT (ev_owner, ev_id) DO NOTHING'
		USING now() + make_interval(secs => i_retry_seconds), b.queue_id, b.owner_id;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION pgq.event_retry_raw(x_queue text, x_consumer text,
	x_retry_after timestamptz, x_ev_id bigint, x_ev_time timestamptz, x_ev_retry integer,
	x_ev_type text, x_ev_data text, x_ev_extra1 text, x_ev_extra2 text,
	x_ev_extra3 text, x_ev_extra4 text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	qid integer;
	sid integer;
	id bigint;
BEGIN
	SELECT s.sub_queue, s.sub_id INTO qid, sid
	  FROM pgq.subscription s
	  JOIN pgq.queue q ON q.queue_id = s.sub_queue
	  JOIN pgq.consumer c ON c.co_id = s.sub_consumer
	 WHERE q.queue_name = x_queue AND c.co_name = x_consumer;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'Not subscriber to queue: %/%', x_queue, x_consumer USING ERRCODE = 'P0002';
	END IF;
	id := coalesce(x_ev_id, nextval((SELECT queue_event_seq FROM pgq.queue WHERE queue_id = qid)));
	INSERT INTO pgq.retry_queue (ev_retry_after, ev_queue, ev_id, ev_time, ev_owner, ev_retry,
		ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4)
	VALUES (x_retry_after, qid, id, coalesce(x_ev_time, now()), sid, x_ev_retry,
		x_ev_type, x_ev_data, x_ev_extra1, x_ev_extra2, x_ev_extra3, x_ev_extra4);
	RETURN id;
END
$$;
