-- Information.

CREATE OR REPLACE FUNCTION pgq.get_queue_info(i_queue_name text,
	OUT queue_name text, OUT queue_ntables integer, OUT queue_cur_table integer,
	OUT queue_rotation_period interval, OUT queue_switch_time timestamptz,
	OUT queue_external_ticker boolean, OUT queue_ticker_paused boolean,
	OUT queue_ticker_max_count integer, OUT queue_ticker_max_lag interval,
	OUT queue_ticker_idle_period interval, OUT ticker_lag interval,
	OUT ev_per_sec double precision, OUT ev_new bigint, OUT last_tick_id bigint)
RETURNS SETOF record LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	q pgq.queue;
	last record;
	old record;
BEGIN
	FOR q IN
		SELECT * FROM pgq.queue x
		 WHERE i_queue_name IS NULL OR x.queue_name = i_queue_name
		 ORDER BY x.queue_name
	LOOP
		SELECT t.tick_id, t.tick_time, t.tick_event_seq INTO last
		  FROM pgq.tick t WHERE t.tick_queue = q.queue_id ORDER BY t.tick_id DESC LIMIT 1;
		-- the rate over about the last minute of ticks
		SELECT t.tick_time, t.tick_event_seq INTO old
		  FROM pgq.tick t WHERE t.tick_queue = q.queue_id
		   AND t.tick_time <= last.tick_time - interval '60 seconds'
		 ORDER BY t.tick_id DESC LIMIT 1;
		IF NOT FOUND THEN
			SELECT t.tick_time, t.tick_event_seq INTO old
			  FROM pgq.tick t WHERE t.tick_queue = q.queue_id ORDER BY t.tick_id LIMIT 1;
		END IF;
		queue_name := q.queue_name;
		queue_ntables := q.queue_ntables;
		queue_cur_table := q.queue_cur_table;
		queue_rotation_period := q.queue_rotation_period;
		queue_switch_time := q.queue_switch_time;
		queue_external_ticker := q.queue_external_ticker;
		queue_ticker_paused := q.queue_ticker_paused;
		queue_ticker_max_count := q.queue_ticker_max_count;
		queue_ticker_max_lag := q.queue_ticker_max_lag;
		queue_ticker_idle_period := q.queue_ticker_idle_period;
		ticker_lag := now() - last.tick_time;
		ev_per_sec := CASE WHEN last.tick_time > old.tick_time
			THEN (last.tick_event_seq - old.tick_event_seq)
			     / extract(epoch FROM last.tick_time - old.tick_time)::double precision END;
		ev_new := pgq._seq_last(q.queue_event_seq) - last.tick_event_seq;
		last_tick_id := last.tick_id;
		RETURN NEXT;
	END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION pgq.get_queue_info(
	OUT queue_name text, OUT queue_ntables integer, OUT queue_cur_table integer,
	OUT queue_rotation_period interval, OUT queue_switch_time timestamptz,
	OUT queue_external_ticker boolean, OUT queue_ticker_paused boolean,
	OUT queue_ticker_max_count integer, OUT queue_ticker_max_lag interval,
	OUT queue_ticker_idle_period interval, OUT ticker_lag interval,
	OUT ev_per_sec double precision, OUT ev_new bigint, OUT last_tick_id bigint)
RETURNS SETOF record LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT * FROM pgq.get_queue_info(NULL::text)
$$;

-- NULL arguments match every queue / consumer.  lag is the age of the
-- consumer's last finished tick, last_seen the time since it last
-- asked for or finished a batch, pending_events the events produced
-- since its last tick.
CREATE OR REPLACE FUNCTION pgq.get_consumer_info(i_queue_name text, i_consumer_name text,
	OUT queue_name text, OUT consumer_name text, OUT lag interval, OUT last_seen interval,
	OUT last_tick bigint, OUT current_batch bigint, OUT next_tick bigint,
	OUT pending_events bigint)
RETURNS SETOF record LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT q.queue_name, c.co_name,
	       now() - t.tick_time, now() - s.sub_active,
	       s.sub_last_tick, s.sub_batch, s.sub_next_tick,
	       pgq._seq_last(q.queue_event_seq) - t.tick_event_seq
	  FROM pgq.subscription s
	  JOIN pgq.queue q ON q.queue_id = s.sub_queue
	  JOIN pgq.consumer c ON c.co_id = s.sub_consumer
	  LEFT JOIN pgq.tick t ON t.tick_queue = s.sub_queue AND t.tick_id = s.sub_last_tick
	 WHERE (i_queue_name IS NULL OR q.queue_name = i_queue_name)
	   AND (i_consumer_name IS NULL OR c.co_name = i_consumer_name)
	 ORDER BY q.queue_name, c.co_name
$$;

CREATE OR REPLACE FUNCTION pgq.get_consumer_info(i_queue_name text,
	OUT queue_name text, OUT consumer_name text, OUT lag interval, OUT last_seen interval,
	OUT last_tick bigint, OUT current_batch bigint, OUT next_tick bigint,
	OUT pending_events bigint)
RETURNS SETOF record LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT * FROM pgq.get_consumer_info(i_queue_name, NULL::text)
$$;

CREATE OR REPLACE FUNCTION pgq.get_consumer_info(
	OUT queue_name text, OUT consumer_name text, OUT lag interval, OUT last_seen interval,
	OUT last_tick bigint, OUT current_batch bigint, OUT next_tick bigint,
	OUT pending_events bigint)
RETURNS SETOF record LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT * FROM pgq.get_consumer_info(NULL::text, NULL::text)
$$;

CREATE OR REPLACE FUNCTION pgq.get_batch_info(x_batch_id bigint,
	OUT queue_name text, OUT consumer_name text, OUT batch_start timestamptz,
	OUT batch_end timestamptz, OUT prev_tick_id bigint, OUT tick_id bigint,
	OUT lag interval, OUT seq_start bigint, OUT seq_end bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
BEGIN
	SELECT q.queue_name, c.co_name, tp.tick_time, tc.tick_time, s.sub_last_tick,
	       s.sub_next_tick, now() - tc.tick_time, tp.tick_event_seq, tc.tick_event_seq
	  INTO queue_name, consumer_name, batch_start, batch_end, prev_tick_id,
	       tick_id, lag, seq_start, seq_end
	  FROM pgq.subscription s
	  JOIN pgq.queue q ON q.queue_id = s.sub_queue
	  JOIN pgq.consumer c ON c.co_id = s.sub_consumer
	  LEFT JOIN pgq.tick tp ON tp.tick_queue = s.sub_queue AND tp.tick_id = s.sub_last_tick
	  LEFT JOIN pgq.tick tc ON tc.tick_queue = s.sub_queue AND tc.tick_id = s.sub_next_tick
	 WHERE s.sub_batch = x_batch_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'batch not found: %', x_batch_id USING ERRCODE = 'P0002';
	END IF;
END
$$;
