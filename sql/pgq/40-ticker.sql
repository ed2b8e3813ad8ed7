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
	-- nothing i_snap did not see has ended since: no query (an idle
	-- queue's usual case, once the caller remembers its last look)
	IF txid_snapshot_xmax(cur) = txid_snapshot_xmax(i_snap)
	   AND NOT EXISTS (SELECT 1 FROM txid_snapshot_xip(i_snap) x
	                    WHERE txid_visible_in_snapshot(x, cur)) THEN
		RETURN false;
	END IF;
	-- The ticker looks without the queue's lock: a queue dropped since
	-- its look has no tables left, and needs no tick.  (The block's
	-- subtransaction is paid only here, where the query costs more.)
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
	EXCEPTION WHEN undefined_table THEN
		RETURN false;
	END;
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
--
-- Ticks the queue i_queue_name, or with i_all every queue that is
-- neither paused nor externally ticked, and returns the new ticks' ids.
-- The round is one function, because its time went into calls: every
-- call of a function that pins search_path saves and restores it and
-- recomputes the namespace path, which cost more than the tick itself.
--
-- Every queue is first looked at without its lock, all in one
-- statement, so an idle round locks and writes nothing.  That statement
-- is planned on every round: pgq.tick grows by a row a tick between two
-- ANALYZEs, and a plan kept from when it was small reads all of it for
-- every queue.  A queue that needs a tick is then locked, and the tick
-- is made on what was looked at if its tick sequence is still at the
-- last tick seen: every tick's id is taken from that sequence (or set
-- into it, by the external ticker) under this lock, so no tick came
-- between.  Otherwise the last tick is read again under the lock and the
-- queue looked at anew.  The tick's snapshot is taken by its insert,
-- after the lock, so it contains every earlier tick's.
--
-- The look reads every queue's event sequence without the queue's lock:
-- a drop_queue that commits while the look waits for that sequence
-- leaves an OID that opens nothing (internal_error), and the whole
-- statement fails.  The round then starts again, in a new statement
-- that no longer sees the queue; what it ticked before is undone with
-- it (ticks, notifications, the looks remembered), so the new ticks'
-- ids are kept aside and returned once a round has got through.  One
-- subtransaction a round, not one a queue: an idle round over many
-- queues costs a few microseconds more, not a tenth.
CREATE OR REPLACE FUNCTION pgq._tick_queues(i_queue_name text, i_all boolean)
RETURNS SETOF bigint LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	r record;
	q pgq.queue;
	locked boolean;
	exact boolean;
	need boolean;
	last_id bigint;
	last_seq bigint;
	last_time timestamptz;
	last_snap txid_snapshot;
	cur_seq bigint;
	new_id bigint;
	new_xmax bigint;
	look text;
	look_snap txid_snapshot;
	now_snap txid_snapshot;
	ticks bigint[];
	seen boolean;
	tries integer := 0;
BEGIN
	<<round>>
	LOOP
		ticks := '{}';
		seen := false;
		BEGIN
			FOR r IN EXECUTE
				'SELECT qq AS q, t.tick_id, t.tick_event_seq, t.tick_time, t.tick_snapshot,
				        coalesce(pg_sequence_last_value(qq.queue_event_seq::regclass), 0) AS cur_seq
				   FROM pgq.queue qq
				   LEFT JOIN LATERAL (SELECT tk.tick_id, tk.tick_event_seq, tk.tick_time, tk.tick_snapshot
				                        FROM pgq.tick tk WHERE tk.tick_queue = qq.queue_id
				                       ORDER BY tk.tick_id DESC LIMIT 1) t ON true
				  WHERE CASE WHEN $1 THEN NOT qq.queue_external_ticker AND NOT qq.queue_ticker_paused
				             ELSE qq.queue_name = $2 END
				  ORDER BY qq.queue_id'
				USING i_all, i_queue_name
			LOOP
				seen := true;
				q := r.q;
				last_id := r.tick_id;
				last_seq := r.tick_event_seq;
				last_time := r.tick_time;
				last_snap := r.tick_snapshot;
				cur_seq := r.cur_seq;
				locked := false;
				exact := false;
				LOOP
					IF q.queue_external_ticker AND NOT i_all THEN
						RAISE EXCEPTION 'queue % has an external tick source', q.queue_name
							USING ERRCODE = '55000';
					END IF;
					EXIT WHEN q.queue_external_ticker OR q.queue_ticker_paused;
					need := last_id IS NULL
					   OR cur_seq - last_seq >= q.queue_ticker_max_count
					   OR (cur_seq <> last_seq AND now() - last_time >= q.queue_ticker_max_lag)
					   OR now() - last_time >= q.queue_ticker_idle_period;
					IF NOT need AND cur_seq = last_seq AND now() - last_time >= q.queue_ticker_max_lag THEN
						-- A look that found nothing is remembered for this
						-- session (a ticker keeps its connection), with the
						-- snapshot taken before it: the next round asks only
						-- about transactions that ended after that one, and
						-- on an idle database about none.  Kept per last tick;
						-- a rollback forgets it.
						look := current_setting('pgq.ticker_look_' || q.queue_id, true);
						look_snap := last_snap;
						IF look LIKE last_id || '/%' THEN
							look_snap := substr(look, length(last_id::text) + 2)::txid_snapshot;
						END IF;
						now_snap := txid_current_snapshot();
						need := pgq._unticked_events(q.queue_data_pfx, look_snap);
						IF NOT need AND now_snap::text <> look_snap::text THEN
							PERFORM set_config('pgq.ticker_look_' || q.queue_id,
								last_id || '/' || now_snap::text, false);
						END IF;
					END IF;
					EXIT WHEN NOT need;
					IF NOT locked THEN
						SELECT * INTO q FROM pgq.queue qq WHERE qq.queue_id = (r.q).queue_id FOR UPDATE;
						EXIT WHEN NOT FOUND;
						locked := true;
						CONTINUE WHEN q.queue_external_ticker OR q.queue_ticker_paused;
					END IF;
					IF NOT exact AND pg_sequence_last_value(q.queue_tick_seq::regclass)
					                 IS DISTINCT FROM last_id THEN
						SELECT tk.tick_id, tk.tick_event_seq, tk.tick_time, tk.tick_snapshot
						  INTO last_id, last_seq, last_time, last_snap
						  FROM pgq.tick tk WHERE tk.tick_queue = q.queue_id
						 ORDER BY tk.tick_id DESC LIMIT 1;
						-- A snapshot taken before that tick (REPEATABLE READ,
						-- SERIALIZABLE) does not see it: a tick made on it would
						-- be older than that one, and the events between the two
						-- would be in the batches before and after it.  A tick
						-- rolled back after its nextval looks the same here.
						IF pg_sequence_last_value(q.queue_tick_seq::regclass) IS DISTINCT FROM last_id
						   AND current_setting('transaction_isolation') <> 'read committed' THEN
							RAISE EXCEPTION 'tick snapshot older than the last tick of queue %: use READ COMMITTED',
								q.queue_name USING ERRCODE = '40001';
						END IF;
						cur_seq := coalesce(pg_sequence_last_value(q.queue_event_seq::regclass), 0);
						exact := true;
						CONTINUE;
					END IF;
					cur_seq := coalesce(pg_sequence_last_value(q.queue_event_seq::regclass), 0);
					new_id := nextval(q.queue_tick_seq::regclass);
					INSERT INTO pgq.tick (tick_queue, tick_id, tick_time, tick_event_seq)
					VALUES (q.queue_id, new_id, now(), cur_seq)
					RETURNING txid_snapshot_xmax(tick_snapshot) INTO new_xmax;
					-- _make_tick's check, with its message
					IF new_xmax < txid_snapshot_xmax(last_snap) THEN
						RAISE EXCEPTION 'tick snapshot older than the last tick of queue %: use READ COMMITTED',
							q.queue_name USING ERRCODE = '40001';
					END IF;
					IF octet_length(q.queue_name) <= 63 THEN
						PERFORM pg_notify(q.queue_name, 'tick ' || new_id);
					ELSE
						PERFORM pgq._wake(q.queue_name, 'tick ' || new_id);
					END IF;
					ticks := ticks || new_id;
					EXIT;
				END LOOP;
			END LOOP;
			EXIT round;
		EXCEPTION WHEN internal_error OR undefined_table THEN
			-- a queue dropped meanwhile (above); a cause that stays
			-- fails the third round
			tries := tries + 1;
			IF tries >= 3 THEN
				RAISE;
			END IF;
		END;
	END LOOP;
	IF NOT seen AND NOT i_all THEN
		RAISE EXCEPTION 'No such event queue: %', i_queue_name USING ERRCODE = 'P0002';
	END IF;
	RETURN QUERY SELECT unnest(ticks);
END
$$;

DROP FUNCTION IF EXISTS pgq._tick_if_needed(text);

-- Returns the new tick's id, or NULL when no tick was needed.
CREATE OR REPLACE FUNCTION pgq.ticker(i_queue_name text)
RETURNS bigint LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT max(t) FROM pgq._tick_queues(i_queue_name, false) t
$$;

-- Ticks every queue that needs it (not paused, no external ticker);
-- returns how many ticks were made.
CREATE OR REPLACE FUNCTION pgq.ticker()
RETURNS bigint LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT count(*) FROM pgq._tick_queues(NULL, true)
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
	-- A REPEATABLE READ or SERIALIZABLE snapshot taken before the last
	-- tick does not see it, and the checks here and in _make_tick would
	-- compare with the one before: a tick on that snapshot would hand
	-- the events between the two out twice.  The tick sequence is not
	-- transactional and an external ticker sets it to each tick's id.
	IF current_setting('transaction_isolation') <> 'read committed'
	   AND pgq._seq_last(q.queue_tick_seq) <> coalesce(last.tick_id, 0) THEN
		RAISE EXCEPTION 'tick snapshot older than the last tick of queue %: use READ COMMITTED',
			i_queue_name USING ERRCODE = '40001';
	END IF;
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
