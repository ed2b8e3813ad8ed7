-- The node map: where every node of a cascaded queue lives.  The root
-- announces changes in its queue, so the workers below copy them.

-- A NULL location keeps the known one (marking a node dead); an
-- unknown node with a NULL location is not added.  Returns 200.
CREATE OR REPLACE FUNCTION pgq_node.register_location(i_queue_name text,
	i_node_name text, i_node_location text, i_dead boolean,
	OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
DECLARE
	this_type text;
BEGIN
	-- serializes map changes on this node with node changes
	SELECT n.node_type INTO this_type FROM pgq_node.node_info n
	 WHERE n.queue_name = i_queue_name FOR UPDATE;
	UPDATE pgq_node.node_location l
	   SET node_location = coalesce(i_node_location, l.node_location), dead = i_dead
	 WHERE l.queue_name = i_queue_name AND l.node_name = i_node_name;
	IF NOT FOUND AND i_node_location IS NOT NULL THEN
		INSERT INTO pgq_node.node_location (queue_name, node_name, node_location, dead)
		VALUES (i_queue_name, i_node_name, i_node_location, i_dead);
	END IF;
	IF this_type = 'root' THEN
		PERFORM pgq.insert_event(i_queue_name, 'pgq.location-info', i_node_name,
			i_queue_name, i_node_location, i_dead::text, NULL);
	END IF;
	ret_code := 200;
	ret_note := 'Location registered';
END
$$;

-- Forgets a node (and its subscription here, if any).  Returns 200,
-- 301 when the location was not known, 403 for this node's own
-- location or its worker's provider.
CREATE OR REPLACE FUNCTION pgq_node.unregister_location(i_queue_name text,
	i_node_name text, OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
DECLARE
	this record;
BEGIN
	SELECT n.node_name, n.node_type, s.provider_node INTO this
	  FROM pgq_node.node_info n
	  LEFT JOIN pgq_node.local_state s
	    ON s.queue_name = n.queue_name AND s.consumer_name = n.worker_name
	 WHERE n.queue_name = i_queue_name;
	IF FOUND AND this.node_name = i_node_name THEN
		ret_code := 403;
		ret_note := 'Cannot drop node''s own location';
		RETURN;
	END IF;
	IF FOUND AND this.provider_node = i_node_name THEN
		ret_code := 403;
		ret_note := 'Cannot drop location of node''s parent';
		RETURN;
	END IF;
	-- a subscription left behind by an unfinished change goes too
	PERFORM pgq_node.unregister_subscriber(i_queue_name, i_node_name);
	DELETE FROM pgq_node.node_location l
	 WHERE l.queue_name = i_queue_name AND l.node_name = i_node_name;
	IF FOUND THEN
		ret_code := 200;
		ret_note := 'Ok';
	ELSE
		ret_code := 301;
		ret_note := 'Location not found: ' || i_queue_name || '/' || i_node_name;
	END IF;
	IF this.node_type = 'root' THEN
		PERFORM pgq.insert_event(i_queue_name, 'pgq.unregister-location', i_node_name,
			i_queue_name, NULL, NULL, NULL);
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION pgq_node.get_queue_locations(i_queue_name text,
	OUT node_name text, OUT node_location text, OUT dead boolean)
RETURNS SETOF record LANGUAGE sql STABLE
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
	SELECT l.node_name, l.node_location, l.dead
	  FROM pgq_node.node_location l
	 WHERE l.queue_name = i_queue_name
	 ORDER BY l.node_name
$$;
