-- Provider side: the nodes that read this node's queue.

-- Registers the remote node's worker as a PgQ consumer at
-- i_custom_tick_id (NULL: the global watermark) and its watermark
-- consumer at the global watermark.  Returns 200 and the global
-- watermark; 404 when the queue is no node here, 401 on a leaf.
CREATE OR REPLACE FUNCTION pgq_node.register_subscriber(i_queue_name text,
	i_remote_node_name text, i_remote_worker_name text, i_custom_tick_id bigint,
	OUT ret_code integer, OUT ret_note text, OUT global_watermark bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
DECLARE
	this_type text;
	wm_name text := '.' || i_remote_node_name || '.watermark';
BEGIN
	SELECT n.node_type INTO this_type FROM pgq_node.node_info n
	 WHERE n.queue_name = i_queue_name FOR UPDATE;
	IF NOT FOUND THEN
		ret_code := 404;
		ret_note := 'Unknown queue: ' || i_queue_name;
		RETURN;
	END IF;
	SELECT c.last_tick INTO global_watermark
	  FROM pgq.get_consumer_info(i_queue_name, '.global_watermark') c;
	IF this_type NOT IN ('root', 'branch') THEN
		ret_code := 401;
		ret_note := 'Cannot subscribe to ' || this_type || ' node';
		RETURN;
	END IF;
	PERFORM pgq.register_consumer_at(i_queue_name, wm_name, global_watermark);
	PERFORM pgq.register_consumer_at(i_queue_name, i_remote_worker_name,
		coalesce(i_custom_tick_id, global_watermark));
	INSERT INTO pgq_node.subscriber_info (queue_name, subscriber_node, worker_name, watermark_name)
	VALUES (i_queue_name, i_remote_node_name, i_remote_worker_name, wm_name);
	ret_code := 200;
	ret_note := 'Subscriber registered: ' || i_remote_node_name;
END
$$;

-- Returns 200, or 304 when the node is no subscriber here.
CREATE OR REPLACE FUNCTION pgq_node.unregister_subscriber(i_queue_name text,
	i_remote_node_name text, OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
DECLARE
	sub pgq_node.subscriber_info;
BEGIN
	DELETE FROM pgq_node.subscriber_info s
	 WHERE s.queue_name = i_queue_name AND s.subscriber_node = i_remote_node_name
	RETURNING * INTO sub;
	IF NOT FOUND THEN
		ret_code := 304;
		ret_note := 'Subscriber not found';
		RETURN;
	END IF;
	PERFORM pgq.unregister_consumer(i_queue_name, sub.watermark_name);
	PERFORM pgq.unregister_consumer(i_queue_name, sub.worker_name);
	ret_code := 200;
	ret_note := 'Subscriber unregistered: ' || i_remote_node_name;
END
$$;

-- A subscriber's worker reports the lowest tick its node and the nodes
-- below still need.  Returns 200, 100 (unchanged), 404 (not
-- subscribed), 405 (backwards).
CREATE OR REPLACE FUNCTION pgq_node.set_subscriber_watermark(i_queue_name text,
	i_node_name text, i_watermark bigint, OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
DECLARE
	wm_name text := '.' || i_node_name || '.watermark';
	cur bigint;
BEGIN
	SELECT c.last_tick INTO cur FROM pgq.get_consumer_info(i_queue_name, wm_name) c;
	IF NOT FOUND THEN
		ret_code := 404;
		ret_note := 'node ' || i_node_name || ' not subscribed to queue ' || i_queue_name;
		RETURN;
	END IF;
	IF i_watermark < cur THEN
		ret_code := 405;
		ret_note := 'watermark must not be moved backwards';
		RETURN;
	ELSIF i_watermark = cur THEN
		ret_code := 100;
		ret_note := 'watermark already set';
		RETURN;
	END IF;
	PERFORM pgq.register_consumer_at(i_queue_name, wm_name, i_watermark);
	ret_code := 200;
	ret_note := wm_name || ' set to ' || i_watermark::text;
END
$$;

-- node_watermark: the subscriber's watermark tick.  The node's own
-- worker state is the authority; this list may lag an admin change.
CREATE OR REPLACE FUNCTION pgq_node.get_subscriber_info(i_queue_name text,
	OUT node_name text, OUT worker_name text, OUT node_watermark bigint)
RETURNS SETOF record LANGUAGE sql STABLE
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
	SELECT s.subscriber_node, s.worker_name,
	       (SELECT c.last_tick FROM pgq.get_consumer_info(i_queue_name, s.watermark_name) c)
	  FROM pgq_node.subscriber_info s
	 WHERE s.queue_name = i_queue_name
	 ORDER BY s.subscriber_node
$$;
