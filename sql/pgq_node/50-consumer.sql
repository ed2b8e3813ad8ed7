-- Subscriber side: every cascaded consumer writing into this node (the
-- node's worker and plain ones) keeps its position here, committed in
-- the same transaction as its writes.

-- Returns 200, 201 (already registered: provider and position are
-- reset to the given ones), 404 (the queue is no node here).
CREATE OR REPLACE FUNCTION pgq_node.register_consumer(i_queue_name text,
	i_consumer_name text, i_provider_node text, i_custom_tick_id bigint,
	OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
BEGIN
	PERFORM 1 FROM pgq_node.node_info n WHERE n.queue_name = i_queue_name FOR UPDATE;
	IF NOT FOUND THEN
		ret_code := 404;
		ret_note := 'Unknown queue: ' || i_queue_name;
		RETURN;
	END IF;
	UPDATE pgq_node.local_state s
	   SET provider_node = i_provider_node, last_tick_id = i_custom_tick_id
	 WHERE s.queue_name = i_queue_name AND s.consumer_name = i_consumer_name;
	IF FOUND THEN
		ret_code := 201;
		ret_note := 'Consumer already registered: ' || i_queue_name || '/' || i_consumer_name;
		RETURN;
	END IF;
	INSERT INTO pgq_node.local_state (queue_name, consumer_name, provider_node, last_tick_id)
	VALUES (i_queue_name, i_consumer_name, i_provider_node, i_custom_tick_id);
	ret_code := 200;
	ret_note := 'Consumer ' || i_consumer_name || ' registered on queue ' || i_queue_name;
END
$$;

-- Returns 200 (also when it was not registered), 404 (no node).
CREATE OR REPLACE FUNCTION pgq_node.unregister_consumer(i_queue_name text,
	i_consumer_name text, OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
BEGIN
	PERFORM 1 FROM pgq_node.node_info n WHERE n.queue_name = i_queue_name FOR UPDATE;
	IF NOT FOUND THEN
		ret_code := 404;
		ret_note := 'Unknown queue: ' || i_queue_name;
		RETURN;
	END IF;
	DELETE FROM pgq_node.local_state s
	 WHERE s.queue_name = i_queue_name AND s.consumer_name = i_consumer_name;
	ret_code := 200;
	ret_note := 'Consumer ' || i_consumer_name || ' unregistered from ' || i_queue_name;
END
$$;

CREATE OR REPLACE FUNCTION pgq_node.get_consumer_info(i_queue_name text,
	OUT consumer_name text, OUT provider_node text, OUT last_tick_id bigint,
	OUT paused boolean, OUT uptodate boolean, OUT cur_error text)
RETURNS SETOF record LANGUAGE sql STABLE
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
	SELECT s.consumer_name, s.provider_node, s.last_tick_id, s.paused, s.uptodate, s.cur_error
	  FROM pgq_node.local_state s
	 WHERE s.queue_name = i_queue_name
	 ORDER BY s.consumer_name
$$;

-- The lookups of get_consumer_state and get_worker_state: the node,
-- the consumer (i_worker: the node's worker, else i_consumer_name) and
-- its provider's location.  ret_code 100 (ret_note NULL), or 404 with
-- what is missing; what was found before that is filled in.
CREATE OR REPLACE FUNCTION pgq_node._consumer_state(i_queue_name text,
	i_consumer_name text, i_worker boolean, OUT ret_code integer, OUT ret_note text,
	OUT node_type text, OUT node_name text, OUT worker_name text, OUT combined_queue text,
	OUT completed_tick bigint, OUT provider_node text, OUT provider_location text,
	OUT paused boolean, OUT uptodate boolean, OUT cur_error text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
DECLARE
	consumer text;
BEGIN
	ret_code := 404;
	SELECT n.node_type, n.node_name, n.worker_name, n.combined_queue
	  INTO node_type, node_name, worker_name, combined_queue
	  FROM pgq_node.node_info n WHERE n.queue_name = i_queue_name;
	IF NOT FOUND THEN
		ret_note := 'Unknown queue: ' || i_queue_name;
		RETURN;
	END IF;
	consumer := CASE WHEN i_worker THEN worker_name ELSE i_consumer_name END;
	SELECT s.last_tick_id, s.provider_node, s.paused, s.uptodate, s.cur_error
	  INTO completed_tick, provider_node, paused, uptodate, cur_error
	  FROM pgq_node.local_state s
	 WHERE s.queue_name = i_queue_name AND s.consumer_name = consumer;
	IF NOT FOUND THEN
		ret_note := 'Unknown consumer: ' || i_queue_name || '/' || consumer;
		RETURN;
	END IF;
	SELECT l.node_location INTO provider_location
	  FROM pgq_node.node_location l
	 WHERE l.queue_name = i_queue_name AND l.node_name = provider_node;
	IF NOT FOUND THEN
		ret_note := 'Unknown provider node: ' || i_queue_name || '/' || provider_node;
		RETURN;
	END IF;
	ret_code := 100;
END
$$;

-- ret_code 100, or 404 when the node, the consumer or its provider's
-- location is missing.
CREATE OR REPLACE FUNCTION pgq_node.get_consumer_state(i_queue_name text,
	i_consumer_name text, OUT ret_code integer, OUT ret_note text,
	OUT node_type text, OUT node_name text, OUT completed_tick bigint,
	OUT provider_node text, OUT provider_location text, OUT paused boolean,
	OUT uptodate boolean, OUT cur_error text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
	SELECT c.ret_code, CASE WHEN c.ret_code = 100 THEN 'Ok' ELSE c.ret_note END,
	       c.node_type, c.node_name, c.completed_tick, c.provider_node, c.provider_location,
	       c.paused, c.uptodate, c.cur_error
	  FROM pgq_node._consumer_state(i_queue_name, i_consumer_name, false) c
$$;

-- Returns 200, 404 (no such consumer, or the new provider's location
-- is unknown).  The consumer sees uptodate false and reconnects.
CREATE OR REPLACE FUNCTION pgq_node.change_consumer_provider(i_queue_name text,
	i_consumer_name text, i_new_provider text, OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
BEGIN
	ret_code := 404;
	PERFORM 1 FROM pgq_node.node_location l
	 WHERE l.queue_name = i_queue_name AND l.node_name = i_new_provider;
	IF NOT FOUND THEN
		ret_note := 'New node not found: ' || i_new_provider;
		RETURN;
	END IF;
	UPDATE pgq_node.local_state s SET provider_node = i_new_provider, uptodate = false
	 WHERE s.queue_name = i_queue_name AND s.consumer_name = i_consumer_name;
	IF NOT FOUND THEN
		ret_note := 'Unknown consumer: ' || i_queue_name || '/' || i_consumer_name;
		RETURN;
	END IF;
	ret_code := 200;
	ret_note := 'Consumer provider node set to : ' || i_new_provider;
END
$$;

-- The consumer says it has seen the latest change.  200 or 404.
CREATE OR REPLACE FUNCTION pgq_node.set_consumer_uptodate(i_queue_name text,
	i_consumer_name text, i_uptodate boolean, OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
BEGIN
	UPDATE pgq_node.local_state s SET uptodate = i_uptodate
	 WHERE s.queue_name = i_queue_name AND s.consumer_name = i_consumer_name;
	IF NOT FOUND THEN
		ret_code := 404;
		ret_note := 'Consumer not known: ' || i_queue_name || '/' || i_consumer_name;
		RETURN;
	END IF;
	ret_code := 200;
	ret_note := 'Consumer uptodate = ' || i_uptodate::integer::text;
END
$$;

-- Pauses or resumes a consumer (it is no longer up to date, so it
-- notices).  200, 201 (already in that state), 404.
CREATE OR REPLACE FUNCTION pgq_node.set_consumer_paused(i_queue_name text,
	i_consumer_name text, i_paused boolean, OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
DECLARE
	was boolean;
	word text := CASE WHEN i_paused THEN 'paused' ELSE 'resumed' END;
BEGIN
	SELECT s.paused INTO was FROM pgq_node.local_state s
	 WHERE s.queue_name = i_queue_name AND s.consumer_name = i_consumer_name FOR UPDATE;
	IF NOT FOUND THEN
		ret_code := 404;
		ret_note := 'Unknown consumer: ' || i_consumer_name;
	ELSIF was = i_paused THEN
		ret_code := 201;
		ret_note := 'Consumer ' || i_consumer_name || ' already ' || word;
	ELSE
		UPDATE pgq_node.local_state s SET paused = i_paused, uptodate = false
		 WHERE s.queue_name = i_queue_name AND s.consumer_name = i_consumer_name;
		ret_code := 200;
		ret_note := 'Consumer ' || i_consumer_name || ' tagged as ' || word;
	END IF;
END
$$;

-- Records the tick the consumer committed here (in the transaction of
-- its writes) and clears its error.  100, or 404 when unknown.
CREATE OR REPLACE FUNCTION pgq_node.set_consumer_completed(i_queue_name text,
	i_consumer_name text, i_tick_id bigint, OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
BEGIN
	UPDATE pgq_node.local_state s SET last_tick_id = i_tick_id, cur_error = NULL
	 WHERE s.queue_name = i_queue_name AND s.consumer_name = i_consumer_name;
	IF NOT FOUND THEN
		ret_code := 404;
		ret_note := 'Consumer not known: ' || i_queue_name || '/' || i_consumer_name;
		RETURN;
	END IF;
	ret_code := 100;
	ret_note := 'Consumer ' || i_consumer_name || ' completed tick = ' || i_tick_id::text;
END
$$;

-- Stores why the consumer's last batch failed (NULL clears it, and
-- the note is NULL then, as in the original).  100, or 101 when the
-- consumer is unknown (ignored).
CREATE OR REPLACE FUNCTION pgq_node.set_consumer_error(i_queue_name text,
	i_consumer_name text, i_error_msg text, OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
BEGIN
	UPDATE pgq_node.local_state s SET cur_error = i_error_msg
	 WHERE s.queue_name = i_queue_name AND s.consumer_name = i_consumer_name;
	IF NOT FOUND THEN
		ret_code := 101;
		ret_note := 'Consumer not known, ignoring: ' || i_queue_name || '/' || i_consumer_name;
		RETURN;
	END IF;
	ret_code := 100;
	ret_note := 'Consumer ' || i_consumer_name || ' error = ' || i_error_msg;
END
$$;
