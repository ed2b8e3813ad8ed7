-- Ticks.  A tick records a snapshot; a batch is the events whose
-- transactions are visible in one tick's snapshot and not in the
-- previous one's.  Every new tick is announced with
-- NOTIFY <queue name>, 'tick <tick_id>'.

-- Whether the event tables under i_pfx hold committed events that the
-- snapshot i_snap does not see: events of transactions that were
-- running when it was taken or began after it, and have ended since.
-- Only the ended ones are looked up (the ones running at i_snap, and
-- the ranges of xids between i_snap's xmax and now that the current
-- snapshot's running ones split), each through the ev_txid index: the
-- uncommitted rows of a transaction still running are never read,
-- however many it has inserted, and a transaction that began after
-- i_snap is found although i_snap's xmin equals its xmax.
CREATE OR REPLACE FUNCTION pgq._unticked_events(i_pfx text, i_snap txid_snapshot)
RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	cur txid_snapshot := txid_current_snapshot();
	res boolean;
BEGIN
	EXECUTE 'SELECT EXISTS (SELECT 1 FROM ' || i_pfx || ' WHERE ev_txid = ANY ($1))'
		|| ' OR EXISTS (SELECT 1 FROM (SELECT x + 1 AS lo, lead(x) OVER (ORDER BY x) AS hi'
		|| '   FROM unnest($2) x) r'
		|| '   WHERE r.lo < r.hi AND EXISTS (SELECT 1 FROM ' || i_pfx
		|| '     WHERE ev_txid >= r.lo AND ev_txid < r.hi))'
		INTO res
		USING ARRAY(SELECT x FROM txid_snapshot_xip(i_snap) x
		             WHERE txid_visible_in_snapshot(x, cur)),
		      ARRAY(SELECT txid_snapshot_xmax(i_snap) - 1
		            UNION SELECT x FROM txid_snapshot_xip(cur) x
		                   WHERE x >= txid_snapshot_xmax(i_snap)
		            UNION SELECT txid_snapshot_xmax(cur));
	RETURN res;
END
$$;

-- Tick when enough events (ticker_max_count), when events are waiting
-- longer than ticker_max_lag, or when idle for ticker_idle_period.
-- Events are counted by the event sequence, which an insert moves
-- before it commits: a tick made between the two records the sequence
-- but not the event, and the sequence says nothing is new when the
-- event commits.  PgQ leaves such an event for the next one or the idle
-- tick (a minute by default: a cascade's add-table or EXECUTE made
-- during a tick sat there that long).  Here, once ticker_max_lag has
-- passed, the event tables are asked, through their ev_txid index,
-- whether a transaction the last tick did not see has committed events
-- since.  That tick's xmin equal to its xmax does not mean nothing was
-- running: a transaction whose xid is the newest is in no snapshot's
-- list.
CREATE OR REPLACE FUNCTION pgq._tick_if_needed(i_queue_name text)
RETURNS bigint LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	q pgq.queue;
	last_seq bigint;
	last_time timestamptz;
	last_snap txid_snapshot;
	cur_seq bigint;
BEGIN
	q := pgq._lock_queue(i_queue_name);
	IF q.queue_external_ticker THEN
		RAISE EXCEPTION 'queue % has an external tick source', i_queue_name
			USING ERRCODE = '55000';
	END IF;
	IF q.queue_ticker_paused THEN
		RETURN NULL;
	END IF;
	SELECT tick_event_seq, tick_time INTO last_seq, last_time
	  FROM pgq.tick WHERE tick_queue = q.queue_id
	 ORDER BY tick_id DESC LIMIT 1;
	cur_seq := pgq._seq_last(q.queue_event_seq);
	IF last_seq IS NULL
	   OR cur_seq - last_seq >= q.queue_ticker_max_count
	   OR (cur_seq <> last_seq AND now() - last_time >= q.queue_ticker_max_lag)
	   OR now() - last_time >= q.queue_ticker_idle_period
	THEN
		RETURN pgq._make_tick(q, nextval(q.queue_tick_seq), now(), cur_seq);
	END IF;
	IF cur_seq = last_seq AND now() - last_time >= q.queue_ticker_max_lag THEN
		SELECT tick_snapshot INTO last_snap
		  FROM pgq.tick WHERE tick_queue = q.queue_id
		 ORDER BY tick_id DESC LIMIT 1;
		IF pgq._unticked_events(q.queue_data_pfx, last_snap) THEN
			RETURN pgq._make_tick(q, nextval(q.queue_tick_seq), now(), cur_seq);
		END IF;
	END IF;
	RETURN NULL;
END
$$;

-- Returns the new tick's id, or NULL when no tick was needed.
CREATE OR REPLACE FUNCTION pgq.ticker(i_queue_name text)
RETURNS bigint LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT pgq._tick_if_needed(i_queue_name)
$$;

-- Ticks every queue that needs it (not paused, no external ticker);
-- returns how many ticks were made.
CREATE OR REPLACE FUNCTION pgq.ticker()
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	qname text;
	n bigint := 0;
BEGIN
	FOR qname IN
		SELECT queue_name FROM pgq.queue
		 WHERE NOT queue_external_ticker AND NOT queue_ticker_paused
		 ORDER BY queue_id
	LOOP
		IF pgq._tick_if_needed(qname) IS NOT NULL THEN
			n := n + 1;
		END IF;
	END LOOP;
	RETURN n;
END
$$;

-- A snapshot in which the calling transaction counts as committed.
-- PostgreSQL leaves a transaction's own xid out of its snapshots' xip
-- list, and it is usually at or past their xmax: the events a
-- transaction inserted are invisible in a tick it makes itself, and
-- would land in the batch after it.  The xids between xmax and ours
-- were running when the snapshot was taken (xmax is one past the
-- newest completed xid), so they go into xip; every later tick sees
-- all of this one's committed xids too, so no event is in two batches.
CREATE OR REPLACE FUNCTION pgq._snapshot_with_own(i_snap txid_snapshot)
RETURNS txid_snapshot LANGUAGE sql STABLE
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT CASE WHEN me IS NULL OR txid_visible_in_snapshot(me, i_snap) THEN i_snap
	ELSE (SELECT (coalesce(min(x), mx) || ':' || mx || ':'
	              || coalesce(string_agg(x::text, ',' ORDER BY x), ''))::txid_snapshot
	        FROM (SELECT x FROM txid_snapshot_xip(i_snap) x WHERE x <> me
	              UNION SELECT generate_series(txid_snapshot_xmax(i_snap), me - 1)) xs(x))
	END
	  FROM (SELECT txid_current_if_assigned() AS me,
	               greatest(txid_snapshot_xmax(i_snap), txid_current_if_assigned() + 1) AS mx) m
$$;

-- External ticker (a cascaded queue copies its source's ticks).  The
-- tick counts the calling transaction as committed (see above), so a
-- worker that copies a batch's events and ticks in one transaction
-- makes the same batch here.  The event sequence never moves back: a
-- batch's highest ev_id can be below an earlier tick's, and the
-- queue's statistics subtract them.
CREATE OR REPLACE FUNCTION pgq.ticker(i_queue_name text, i_tick_id bigint,
	i_orig_timestamp timestamptz, i_event_seq bigint)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	q pgq.queue;
	last record;
	seq bigint;
BEGIN
	q := pgq._lock_queue(i_queue_name);
	SELECT t.tick_id, t.tick_event_seq INTO last FROM pgq.tick t
	 WHERE t.tick_queue = q.queue_id ORDER BY t.tick_id DESC LIMIT 1;
	IF last.tick_id IS NOT NULL AND i_tick_id <= last.tick_id THEN
		RAISE EXCEPTION 'tick % is not after the last tick % of queue %',
			i_tick_id, last.tick_id, i_queue_name USING ERRCODE = '22023';
	END IF;
	seq := greatest(i_event_seq, last.tick_event_seq);
	PERFORM setval(q.queue_tick_seq, i_tick_id);
	IF seq > pgq._seq_last(q.queue_event_seq) THEN
		PERFORM setval(q.queue_event_seq, seq);
	END IF;
	PERFORM pgq._make_tick(q, i_tick_id, coalesce(i_orig_timestamp, now()), seq);
	UPDATE pgq.tick t SET tick_snapshot = pgq._snapshot_with_own(t.tick_snapshot)
	 WHERE t.tick_queue = q.queue_id AND t.tick_id = i_tick_id;
	RETURN i_tick_id;
END
$$;

-- Makes the next ticker() call tick by simulating ticker_max_count
-- events; returns the current last tick.  (PgQ semantics: the ticker
-- runs in its own transaction, so callers loop until the tick appears.)
CREATE OR REPLACE FUNCTION pgq.force_tick(i_queue_name text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	q pgq.queue;
	last_id bigint;
	last_seq bigint;
BEGIN
	SELECT * INTO q FROM pgq.queue WHERE queue_name = i_queue_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'No such event queue: %', i_queue_name USING ERRCODE = 'P0002';
	END IF;
	SELECT tick_id, tick_event_seq INTO last_id, last_seq
	  FROM pgq.tick WHERE tick_queue = q.queue_id
	 ORDER BY tick_id DESC LIMIT 1;
	IF pgq._seq_last(q.queue_event_seq) - coalesce(last_seq, 0) < q.queue_ticker_max_count THEN
		PERFORM setval(q.queue_event_seq,
			greatest(pgq._seq_last(q.queue_event_seq), coalesce(last_seq, 0))
			+ q.queue_ticker_max_count + 1);
	END IF;
	RETURN last_id;
END
$$;
