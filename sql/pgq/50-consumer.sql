-- Consumers and batches.

CREATE OR REPLACE FUNCTION pgq.register_consumer_at(x_queue_name text, x_consumer_name text, x_tick_pos bigint)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	q pgq.queue;
	cid integer;
	s pgq.subscription;
BEGIN
	IF x_consumer_name IS NULL OR x_consumer_name = '' THEN
		RAISE EXCEPTION 'Invalid consumer name' USING ERRCODE = '22023';
	END IF;
	PERFORM 1 FROM pgq.queue WHERE queue_name = x_queue_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'No such event queue: %', x_queue_name USING ERRCODE = 'P0002';
	END IF;
	-- serializes with rotation, which deletes old ticks
	q := pgq._lock_queue(x_queue_name);
	PERFORM 1 FROM pgq.tick WHERE tick_queue = q.queue_id AND tick_id = x_tick_pos;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'cannot reposition, tick not found: %', x_tick_pos USING ERRCODE = 'P0002';
	END IF;
	INSERT INTO pgq.consumer (co_name) VALUES (x_consumer_name) ON CONFLICT (co_name) DO NOTHING;
	SELECT co_id INTO cid FROM pgq.consumer WHERE co_name = x_consumer_name;
	SELECT * INTO s FROM pgq.subscription
	 WHERE sub_queue = q.queue_id AND sub_consumer = cid FOR UPDATE;
	IF FOUND THEN
		IF s.sub_main IS NOT NULL THEN
			RAISE EXCEPTION '% is a cooperative subconsumer', x_consumer_name USING ERRCODE = '55000';
		END IF;
		-- an open batch is dropped, as in PgQ: the clients that keep
		-- their position elsewhere (python3-pgq's SerialConsumer
		-- --rewind, LocalConsumer after a crash between its tracking
		-- file and finish_batch, CascadedConsumer --rewind) reposition
		-- a consumer whose batch is still open; a late finish_batch of
		-- it then finds no batch
		UPDATE pgq.subscription
		   SET sub_last_tick = x_tick_pos, sub_batch = NULL, sub_next_tick = NULL,
		       sub_active = now()
		 WHERE sub_id = s.sub_id;
		RETURN 0;
	END IF;
	INSERT INTO pgq.subscription (sub_queue, sub_consumer, sub_last_tick)
	VALUES (q.queue_id, cid, x_tick_pos);
	RETURN 1;
END
$$;

-- A new consumer starts at the queue's last tick: its first batch holds
-- the events committed after that tick.
CREATE OR REPLACE FUNCTION pgq.register_consumer(x_queue_name text, x_consumer_id text)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	qid integer;
	last_tick bigint;
BEGIN
	SELECT queue_id INTO qid FROM pgq.queue WHERE queue_name = x_queue_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'No such event queue: %', x_queue_name USING ERRCODE = 'P0002';
	END IF;
	PERFORM 1 FROM pgq.subscription s JOIN pgq.consumer c ON c.co_id = s.sub_consumer
	 WHERE s.sub_queue = qid AND c.co_name = x_consumer_id;
	IF FOUND THEN
		RETURN 0;
	END IF;
	PERFORM pgq._lock_queue(x_queue_name);
	SELECT max(tick_id) INTO last_tick FROM pgq.tick WHERE tick_queue = qid;
	RETURN pgq.register_consumer_at(x_queue_name, x_consumer_id, last_tick);
END
$$;

-- Also removes the consumer's cooperative subconsumers and pending
-- retries.  Returns how many subscriptions were removed.
CREATE OR REPLACE FUNCTION pgq.unregister_consumer(x_queue_name text, x_consumer_name text)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	qid integer;
	cid integer;
	n integer;
BEGIN
	SELECT queue_id INTO qid FROM pgq.queue WHERE queue_name = x_queue_name;
	SELECT co_id INTO cid FROM pgq.consumer WHERE co_name = x_consumer_name;
	IF qid IS NULL OR cid IS NULL THEN
		RETURN 0;
	END IF;
	PERFORM 1 FROM pgq.subscription
	 WHERE sub_queue = qid AND (sub_consumer = cid OR sub_main = cid) FOR UPDATE;
	DELETE FROM pgq.retry_queue r USING pgq.subscription s
	 WHERE s.sub_queue = qid AND (s.sub_consumer = cid OR s.sub_main = cid)
	   AND r.ev_owner = s.sub_id;
	DELETE FROM pgq.subscription WHERE sub_queue = qid AND (sub_consumer = cid OR sub_main = cid);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-- Batch allocation.  An open batch is returned again until it is
-- finished.  Otherwise the next batch ends at the first later tick that
-- is at least min_lag old and, when min_count / min_interval are given,
-- holds at least min_count events or spans min_interval; when no tick
-- qualifies, all columns are NULL.
CREATE OR REPLACE FUNCTION pgq.next_batch_custom(i_queue_name text, i_consumer_name text,
	i_min_lag interval, i_min_count integer, i_min_interval interval,
	OUT batch_id bigint, OUT cur_tick_id bigint, OUT prev_tick_id bigint,
	OUT cur_tick_time timestamptz, OUT prev_tick_time timestamptz,
	OUT cur_tick_event_seq bigint, OUT prev_tick_event_seq bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	s record;
	prev record;
	nxt record;
BEGIN
	SELECT sb.sub_id, sb.sub_queue, sb.sub_last_tick, sb.sub_batch, sb.sub_next_tick, sb.sub_main
	  INTO s
	  FROM pgq.queue q
	  JOIN pgq.subscription sb ON sb.sub_queue = q.queue_id
	  JOIN pgq.consumer c ON c.co_id = sb.sub_consumer
	 WHERE q.queue_name = i_queue_name AND c.co_name = i_consumer_name
	   FOR UPDATE OF sb;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'Not subscriber to queue: %/%', i_queue_name, i_consumer_name
			USING ERRCODE = 'P0002';
	END IF;
	IF s.sub_main IS NOT NULL AND s.sub_batch IS NULL THEN
		RAISE EXCEPTION '% is a cooperative subconsumer: use pgq_coop.next_batch', i_consumer_name
			USING ERRCODE = '55000';
	END IF;
	SELECT t.tick_id, t.tick_time, t.tick_event_seq INTO prev
	  FROM pgq.tick t WHERE t.tick_queue = s.sub_queue AND t.tick_id = s.sub_last_tick;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'consumer %: last tick % of queue % is gone', i_consumer_name,
			s.sub_last_tick, i_queue_name USING ERRCODE = 'XX000';
	END IF;

	IF s.sub_batch IS NOT NULL THEN
		SELECT t.tick_id, t.tick_time, t.tick_event_seq INTO nxt
		  FROM pgq.tick t WHERE t.tick_queue = s.sub_queue AND t.tick_id = s.sub_next_tick;
		batch_id := s.sub_batch;
	ELSE
		SELECT t.tick_id, t.tick_time, t.tick_event_seq INTO nxt
		  FROM pgq.tick t
		 WHERE t.tick_queue = s.sub_queue AND t.tick_id > s.sub_last_tick
		   AND (i_min_lag IS NULL OR t.tick_time <= now() - i_min_lag)
		   AND ((i_min_count IS NULL AND i_min_interval IS NULL)
		        OR t.tick_event_seq - prev.tick_event_seq >= i_min_count
		        OR t.tick_time - prev.tick_time >= i_min_interval)
		 ORDER BY t.tick_id LIMIT 1;
		IF NOT FOUND THEN
			RETURN;
		END IF;
		batch_id := nextval('pgq.batch_id_seq');
		UPDATE pgq.subscription
		   SET sub_batch = batch_id, sub_next_tick = nxt.tick_id, sub_active = now()
		 WHERE sub_id = s.sub_id;
		-- The ticker commits its ticks without waiting for the WAL
		-- flush: this commit's flush makes the batch's tick durable
		-- before the consumer can act on it, also for a consumer whose
		-- session commits without waiting (else a crash could take
		-- the tick back, and the next one would cover the same events
		-- under another tick id).
		IF current_setting('synchronous_commit') IN ('off', 'local') THEN
			PERFORM set_config('synchronous_commit', 'on', true);
		END IF;
	END IF;
	cur_tick_id := nxt.tick_id;
	cur_tick_time := nxt.tick_time;
	cur_tick_event_seq := nxt.tick_event_seq;
	prev_tick_id := prev.tick_id;
	prev_tick_time := prev.tick_time;
	prev_tick_event_seq := prev.tick_event_seq;
END
$$;

-- PgQ's helper for next_batch_custom, kept for callers of the original:
-- the tick that ends the next batch after prev_tick when it must hold
-- min_count events or span min_interval.  The queue's last tick is taken
-- when it qualifies and is not more than twice past the limit;
-- otherwise the first tick that reaches the limit.  All NULL when no
-- later tick qualifies.
CREATE OR REPLACE FUNCTION pgq.find_tick_helper(i_queue_id integer, i_prev_tick_id bigint,
	i_prev_tick_time timestamptz, i_prev_tick_seq bigint, i_min_count bigint,
	i_min_interval interval,
	OUT next_tick_id bigint, OUT next_tick_time timestamptz, OUT next_tick_seq bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	t record;
	ok boolean := false;
	too_far boolean := false;
BEGIN
	SELECT tick_id, tick_time, tick_event_seq INTO t
	  FROM pgq.tick
	 WHERE tick_queue = i_queue_id AND tick_id > i_prev_tick_id
	 ORDER BY tick_queue DESC, tick_id DESC LIMIT 1;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	IF i_min_count IS NOT NULL THEN
		ok := ok OR t.tick_event_seq - i_prev_tick_seq >= i_min_count;
		too_far := too_far OR t.tick_event_seq - i_prev_tick_seq > i_min_count * 2;
	END IF;
	IF i_min_interval IS NOT NULL THEN
		ok := ok OR t.tick_time - i_prev_tick_time >= i_min_interval;
		too_far := too_far OR t.tick_time - i_prev_tick_time > i_min_interval * 2;
	END IF;
	IF too_far THEN
		SELECT tick_id, tick_time, tick_event_seq INTO t
		  FROM pgq.tick
		 WHERE tick_queue = i_queue_id AND tick_id > i_prev_tick_id
		   AND ((i_min_count IS NOT NULL AND tick_event_seq - i_prev_tick_seq >= i_min_count)
		        OR (i_min_interval IS NOT NULL AND tick_time - i_prev_tick_time >= i_min_interval))
		 ORDER BY tick_queue, tick_id LIMIT 1;
		ok := true;
	END IF;
	IF ok THEN
		next_tick_id := t.tick_id;
		next_tick_time := t.tick_time;
		next_tick_seq := t.tick_event_seq;
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION pgq.next_batch_info(i_queue_name text, i_consumer_name text,
	OUT batch_id bigint, OUT cur_tick_id bigint, OUT prev_tick_id bigint,
	OUT cur_tick_time timestamptz, OUT prev_tick_time timestamptz,
	OUT cur_tick_event_seq bigint, OUT prev_tick_event_seq bigint)
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT * FROM pgq.next_batch_custom(i_queue_name, i_consumer_name, NULL, NULL, NULL)
$$;

CREATE OR REPLACE FUNCTION pgq.next_batch(i_queue_name text, i_consumer_name text)
RETURNS bigint LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT batch_id FROM pgq.next_batch_custom(i_queue_name, i_consumer_name, NULL, NULL, NULL)
$$;

-- Wakes `pgq-next-batch --follow` of the same consumer group with
-- NOTIFY <queue name>, 'finish <batch_id>'.
CREATE OR REPLACE FUNCTION pgq.finish_batch(x_batch_id bigint)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	qid integer;
	qname text;
BEGIN
	UPDATE pgq.subscription
	   SET sub_active = now(),
	       sub_last_tick = CASE WHEN sub_main IS NULL THEN sub_next_tick END,
	       sub_next_tick = NULL,
	       sub_batch = NULL
	 WHERE sub_batch = x_batch_id
	RETURNING sub_queue INTO qid;
	IF NOT FOUND THEN
		RAISE WARNING 'finish_batch: batch % not found', x_batch_id;
		RETURN 0;
	END IF;
	SELECT queue_name INTO qname FROM pgq.queue WHERE queue_id = qid;
	PERFORM pgq._wake(qname, 'finish ' || x_batch_id);
	RETURN 1;
END
$$;
