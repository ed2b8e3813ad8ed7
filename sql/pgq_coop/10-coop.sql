-- pgq_coop: several subconsumers share one consumer's stream of
-- batches; each batch goes to exactly one of them.
--
-- A subconsumer is a pgq.subscription row of its own (consumer name
-- "consumer.subconsumer", sub_main = the consumer's co_id).  Taking a
-- batch allocates it on the main subscription, advances the main
-- position at once and moves the open batch to the subconsumer's row;
-- finishing it clears the row again.  Retried events stay owned by the
-- main subscription, so any subconsumer may get them back.
--
-- Requires sql/pgq (ours): it relies on pgq.subscription.sub_main.

CREATE SCHEMA IF NOT EXISTS pgq_coop;
GRANT USAGE ON SCHEMA pgq_coop TO pgq_reader, pgq_admin;

CREATE OR REPLACE FUNCTION pgq_coop.version()
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pgq, pg_temp AS $$ SELECT '3.5.1'::text $$;

CREATE OR REPLACE FUNCTION pgq_coop._sub_name(i_consumer_name text, i_subconsumer_name text)
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT i_consumer_name || '.' || i_subconsumer_name
$$;

-- Registers the consumer too when needed.  Returns 1 for a new
-- subconsumer, 0 when it was registered already.
CREATE OR REPLACE FUNCTION pgq_coop.register_subconsumer(i_queue_name text,
	i_consumer_name text, i_subconsumer_name text)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	main pgq.subscription;
	sub pgq.subscription;
	cid integer;
BEGIN
	IF i_subconsumer_name IS NULL OR i_subconsumer_name = '' THEN
		RAISE EXCEPTION 'Invalid subconsumer name' USING ERRCODE = '22023';
	END IF;
	PERFORM pgq.register_consumer(i_queue_name, i_consumer_name);
	SELECT s.* INTO main FROM pgq.subscription s
	  JOIN pgq.queue q ON q.queue_id = s.sub_queue
	  JOIN pgq.consumer c ON c.co_id = s.sub_consumer
	 WHERE q.queue_name = i_queue_name AND c.co_name = i_consumer_name
	   FOR UPDATE OF s;
	IF main.sub_main IS NOT NULL THEN
		RAISE EXCEPTION '% is itself a subconsumer', i_consumer_name USING ERRCODE = '55000';
	END IF;
	INSERT INTO pgq.consumer (co_name)
	VALUES (pgq_coop._sub_name(i_consumer_name, i_subconsumer_name))
	ON CONFLICT (co_name) DO NOTHING;
	SELECT co_id INTO cid FROM pgq.consumer
	 WHERE co_name = pgq_coop._sub_name(i_consumer_name, i_subconsumer_name);
	SELECT * INTO sub FROM pgq.subscription
	 WHERE sub_queue = main.sub_queue AND sub_consumer = cid;
	IF FOUND THEN
		IF sub.sub_main IS DISTINCT FROM main.sub_consumer THEN
			RAISE EXCEPTION 'consumer name % already in use', pgq_coop._sub_name(i_consumer_name, i_subconsumer_name)
				USING ERRCODE = '55000';
		END IF;
		RETURN 0;
	END IF;
	INSERT INTO pgq.subscription (sub_queue, sub_consumer, sub_last_tick, sub_main)
	VALUES (main.sub_queue, cid, NULL, main.sub_consumer);
	RETURN 1;
END
$$;

-- i_batch_handling: 0 refuses when the subconsumer holds a batch, 1
-- closes that batch (its events are not delivered to the consumer
-- again).  Returns 1 when unregistered, 0 when it was not registered.
CREATE OR REPLACE FUNCTION pgq_coop.unregister_subconsumer(i_queue_name text,
	i_consumer_name text, i_subconsumer_name text, i_batch_handling integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	sub pgq.subscription;
BEGIN
	SELECT s.* INTO sub FROM pgq.subscription s
	  JOIN pgq.queue q ON q.queue_id = s.sub_queue
	  JOIN pgq.consumer c ON c.co_id = s.sub_consumer
	  JOIN pgq.consumer m ON m.co_id = s.sub_main
	 WHERE q.queue_name = i_queue_name
	   AND m.co_name = i_consumer_name
	   AND c.co_name = pgq_coop._sub_name(i_consumer_name, i_subconsumer_name)
	   FOR UPDATE OF s;
	IF NOT FOUND THEN
		RETURN 0;
	END IF;
	IF sub.sub_batch IS NOT NULL AND coalesce(i_batch_handling, 0) <> 1 THEN
		RAISE EXCEPTION 'subconsumer %.% has an open batch %', i_consumer_name,
			i_subconsumer_name, sub.sub_batch USING ERRCODE = '55000';
	END IF;
	DELETE FROM pgq.subscription WHERE sub_id = sub.sub_id;
	RETURN 1;
END
$$;

-- The subconsumer's open batch if it has one; else, with
-- i_dead_interval, the batch of a subconsumer silent for that long
-- (the same batch, and the silent one is unregistered, as in
-- pgq_coop); else the consumer's next batch.  NULL when there is none.
-- An unknown consumer or subconsumer is registered first (as in
-- pgq_coop), so the first call of a new one returns NULL: it starts at
-- the queue's last tick.
CREATE OR REPLACE FUNCTION pgq_coop.next_batch_custom(i_queue_name text,
	i_consumer_name text, i_subconsumer_name text, i_min_lag interval,
	i_min_count integer, i_min_interval interval, i_dead_interval interval)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	main pgq.subscription;
	sub pgq.subscription;
	dead pgq.subscription;
	b record;
BEGIN
	SELECT s.* INTO main FROM pgq.subscription s
	  JOIN pgq.queue q ON q.queue_id = s.sub_queue
	  JOIN pgq.consumer c ON c.co_id = s.sub_consumer
	 WHERE q.queue_name = i_queue_name AND c.co_name = i_consumer_name
	   AND s.sub_main IS NULL
	   FOR UPDATE OF s;
	IF NOT FOUND THEN
		PERFORM pgq_coop.register_subconsumer(i_queue_name, i_consumer_name, i_subconsumer_name);
		SELECT s.* INTO main FROM pgq.subscription s
		  JOIN pgq.queue q ON q.queue_id = s.sub_queue
		  JOIN pgq.consumer c ON c.co_id = s.sub_consumer
		 WHERE q.queue_name = i_queue_name AND c.co_name = i_consumer_name
		   AND s.sub_main IS NULL
		   FOR UPDATE OF s;
	END IF;
	SELECT s.* INTO sub FROM pgq.subscription s
	  JOIN pgq.consumer c ON c.co_id = s.sub_consumer
	 WHERE s.sub_queue = main.sub_queue AND s.sub_main = main.sub_consumer
	   AND c.co_name = pgq_coop._sub_name(i_consumer_name, i_subconsumer_name)
	   FOR UPDATE OF s;
	IF NOT FOUND THEN
		PERFORM pgq_coop.register_subconsumer(i_queue_name, i_consumer_name, i_subconsumer_name);
		SELECT s.* INTO sub FROM pgq.subscription s
		  JOIN pgq.consumer c ON c.co_id = s.sub_consumer
		 WHERE s.sub_queue = main.sub_queue AND s.sub_main = main.sub_consumer
		   AND c.co_name = pgq_coop._sub_name(i_consumer_name, i_subconsumer_name)
		   FOR UPDATE OF s;
	END IF;
	IF sub.sub_batch IS NOT NULL THEN
		UPDATE pgq.subscription SET sub_active = now() WHERE sub_id = sub.sub_id;
		RETURN sub.sub_batch;
	END IF;

	IF i_dead_interval IS NOT NULL THEN
		SELECT * INTO dead FROM pgq.subscription
		 WHERE sub_queue = main.sub_queue AND sub_main = main.sub_consumer
		   AND sub_batch IS NOT NULL AND sub_active < now() - i_dead_interval
		 ORDER BY sub_active LIMIT 1
		   FOR UPDATE SKIP LOCKED;
		IF FOUND THEN
			-- its retries belong to the main subscription and stay
			DELETE FROM pgq.subscription WHERE sub_id = dead.sub_id;
			UPDATE pgq.subscription
			   SET sub_batch = dead.sub_batch, sub_last_tick = dead.sub_last_tick,
			       sub_next_tick = dead.sub_next_tick, sub_active = now()
			 WHERE sub_id = sub.sub_id;
			RETURN dead.sub_batch;
		END IF;
	END IF;

	SELECT * INTO b FROM pgq.next_batch_custom(i_queue_name, i_consumer_name,
		i_min_lag, i_min_count, i_min_interval);
	IF b.batch_id IS NULL THEN
		RETURN NULL;
	END IF;
	UPDATE pgq.subscription
	   SET sub_batch = NULL, sub_last_tick = b.cur_tick_id, sub_next_tick = NULL,
	       sub_active = now()
	 WHERE sub_id = main.sub_id;
	UPDATE pgq.subscription
	   SET sub_batch = b.batch_id, sub_last_tick = b.prev_tick_id,
	       sub_next_tick = b.cur_tick_id, sub_active = now()
	 WHERE sub_id = sub.sub_id;
	RETURN b.batch_id;
END
$$;

CREATE OR REPLACE FUNCTION pgq_coop.next_batch_custom(i_queue_name text,
	i_consumer_name text, i_subconsumer_name text, i_min_lag interval,
	i_min_count integer, i_min_interval interval)
RETURNS bigint LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT pgq_coop.next_batch_custom(i_queue_name, i_consumer_name, i_subconsumer_name,
		i_min_lag, i_min_count, i_min_interval, NULL)
$$;

CREATE OR REPLACE FUNCTION pgq_coop.next_batch(i_queue_name text,
	i_consumer_name text, i_subconsumer_name text, i_dead_interval interval)
RETURNS bigint LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT pgq_coop.next_batch_custom(i_queue_name, i_consumer_name, i_subconsumer_name,
		NULL, NULL, NULL, i_dead_interval)
$$;

CREATE OR REPLACE FUNCTION pgq_coop.next_batch(i_queue_name text,
	i_consumer_name text, i_subconsumer_name text)
RETURNS bigint LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT pgq_coop.next_batch_custom(i_queue_name, i_consumer_name, i_subconsumer_name,
		NULL, NULL, NULL, NULL)
$$;

CREATE OR REPLACE FUNCTION pgq_coop.finish_batch(i_batch_id bigint)
RETURNS integer LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT pgq.finish_batch(i_batch_id)
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgq_coop FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgq_coop.version() TO PUBLIC;
GRANT EXECUTE ON FUNCTION
	pgq_coop.register_subconsumer(text, text, text),
	pgq_coop.unregister_subconsumer(text, text, text, integer),
	pgq_coop.next_batch(text, text, text),
	pgq_coop.next_batch(text, text, text, interval),
	pgq_coop.next_batch_custom(text, text, text, interval, integer, interval),
	pgq_coop.next_batch_custom(text, text, text, interval, integer, interval, interval),
	pgq_coop.finish_batch(bigint)
TO pgq_reader;
