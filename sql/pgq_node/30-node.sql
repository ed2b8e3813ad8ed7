-- This node: create and drop it, describe it, change its type.

-- The newest tick of the local queue (NULL without a queue or tick).
CREATE OR REPLACE FUNCTION pgq_node._queue_top(i_queue_name text)
RETURNS bigint LANGUAGE sql STABLE
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
	SELECT max(t.tick_id)
	  FROM pgq.tick t JOIN pgq.queue q ON q.queue_id = t.tick_queue
	 WHERE q.queue_name = i_queue_name
$$;

-- The watermarks of a root or branch: global is the .global_watermark
-- consumer's tick, local the lowest tick any other consumer of the
-- queue still needs (the queue's top when nobody reads it).
CREATE OR REPLACE FUNCTION pgq_node._watermarks(i_queue_name text,
	OUT local_watermark bigint, OUT global_watermark bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
	SELECT coalesce(min(c.last_tick) FILTER (WHERE c.consumer_name <> '.global_watermark'),
	                pgq_node._queue_top(i_queue_name)),
	       min(c.last_tick) FILTER (WHERE c.consumer_name = '.global_watermark')
	  FROM pgq.get_consumer_info(i_queue_name) c
$$;

-- i_node_type root: creates the queue (no provider, watermark or
-- combined queue allowed).  branch: creates the queue as a copy (no
-- local inserts, ticks come from the worker) starting at the provider's
-- global watermark.  leaf: no queue; i_combined_queue, when given, is a
-- local queue the worker merges into.  Registers the worker as the
-- node's cascaded consumer.  Returns 200, or 401 (already a node, bad
-- arguments).
CREATE OR REPLACE FUNCTION pgq_node.create_node(i_queue_name text,
	i_node_type text, i_node_name text, i_worker_name text,
	i_provider_name text, i_global_watermark bigint, i_combined_queue text,
	OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
DECLARE
	wm bigint;
	provider text;
BEGIN
	ret_code := 401;
	PERFORM 1 FROM pgq_node.node_info n WHERE n.queue_name = i_queue_name;
	IF FOUND THEN
		ret_note := 'Node already initialized';
		RETURN;
	END IF;
	IF i_node_type = 'root' THEN
		IF i_provider_name IS NOT NULL OR i_global_watermark IS NOT NULL
		   OR i_combined_queue IS NOT NULL THEN
			ret_note := 'unexpected args for ' || i_node_type;
			RETURN;
		END IF;
		PERFORM pgq.create_queue(i_queue_name);
		PERFORM pgq.register_consumer(i_queue_name, '.global_watermark');
		SELECT c.last_tick INTO wm
		  FROM pgq.get_consumer_info(i_queue_name, '.global_watermark') c;
		provider := i_node_name;
	ELSIF i_node_type = 'branch' THEN
		IF i_provider_name IS NULL THEN
			ret_note := 'provider not set for ' || i_node_type;
			RETURN;
		END IF;
		IF i_global_watermark IS NULL THEN
			ret_note := 'global watermark not set for ' || i_node_type;
			RETURN;
		END IF;
		PERFORM pgq.create_queue(i_queue_name);
		UPDATE pgq.queue
		   SET queue_external_ticker = true, queue_disable_insert = true
		 WHERE queue_name = i_queue_name;
		-- the copy starts at the provider's watermark tick, so that
		-- the worker's first batch has a start tick here
		IF i_global_watermark > coalesce(pgq_node._queue_top(i_queue_name), 0) THEN
			PERFORM pgq.ticker(i_queue_name, i_global_watermark, now(), 1);
		END IF;
		PERFORM pgq.register_consumer_at(i_queue_name, '.global_watermark', i_global_watermark);
		wm := i_global_watermark;
		provider := i_provider_name;
	ELSIF i_node_type = 'leaf' THEN
		IF i_combined_queue IS NOT NULL THEN
			PERFORM 1 FROM pgq.queue q WHERE q.queue_name = i_combined_queue;
			IF NOT FOUND THEN
				ret_note := 'non-existing queue on leaf side: ' || i_combined_queue;
				RETURN;
			END IF;
		END IF;
		wm := i_global_watermark;
		provider := i_provider_name;
	ELSE
		ret_note := 'bad node type: ' || coalesce(i_node_type, 'NULL');
		RETURN;
	END IF;

	INSERT INTO pgq_node.node_info (queue_name, node_type, node_name, worker_name, combined_queue)
	VALUES (i_queue_name, i_node_type, i_node_name, i_worker_name, i_combined_queue);
	SELECT r.ret_code, r.ret_note INTO ret_code, ret_note
	  FROM pgq_node.register_consumer(i_queue_name, i_worker_name, provider, wm) r;
	IF ret_code <> 200 THEN
		RETURN;
	END IF;
	ret_code := 200;
	ret_note := 'Node "' || i_node_name || '" initialized for queue "' || i_queue_name
		|| '" with type "' || i_node_type || '"';
END
$$;

-- On the node itself (i_node_name is this node, or no node is left
-- for the queue): removes its state, its queue and the other nodes'
-- locations.  On any other node: forgets i_node_name, refusing (405)
-- when it is this node's provider.  Returns 200.
CREATE OR REPLACE FUNCTION pgq_node.drop_node(i_queue_name text, i_node_name text,
	OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
DECLARE
	is_local boolean := true;
	is_provider boolean := false;
BEGIN
	SELECT n.node_name = i_node_name, coalesce(s.provider_node = i_node_name, false)
	  INTO is_local, is_provider
	  FROM pgq_node.node_info n
	  LEFT JOIN pgq_node.local_state s
	    ON s.queue_name = n.queue_name AND s.consumer_name = n.worker_name
	 WHERE n.queue_name = i_queue_name
	   FOR UPDATE OF n;
	IF NOT FOUND THEN
		-- clean up what a half-done create or drop left
		is_local := true;
		is_provider := false;
	END IF;
	IF is_local THEN
		DELETE FROM pgq_node.subscriber_info s WHERE s.queue_name = i_queue_name;
		DELETE FROM pgq_node.local_state s WHERE s.queue_name = i_queue_name;
		DELETE FROM pgq_node.node_info n WHERE n.queue_name = i_queue_name;
		IF EXISTS (SELECT 1 FROM pgq.queue q WHERE q.queue_name = i_queue_name) THEN
			PERFORM pgq.drop_queue(i_queue_name, true);
		END IF;
		DELETE FROM pgq_node.node_location l
		 WHERE l.queue_name = i_queue_name AND l.node_name <> i_node_name;
	ELSIF is_provider THEN
		ret_code := 405;
		ret_note := 'Cannot drop provider node: ' || i_node_name;
		RETURN;
	ELSE
		PERFORM pgq_node.unregister_subscriber(i_queue_name, i_node_name);
	END IF;
	-- drops the location (a root also tells the nodes below)
	PERFORM pgq_node.unregister_location(i_queue_name, i_node_name);
	ret_code := 200;
	ret_note := 'Node dropped: ' || i_node_name;
END
$$;

-- ret_code 100 when the queue is a node here, else 404.  On root and
-- branch the watermarks come from the local queue; on a leaf the local
-- watermark is the worker's last tick.  worker_last_tick on the root is
-- its queue's newest tick.  target_for: the local queues that name this
-- one as their combined queue.
CREATE OR REPLACE FUNCTION pgq_node.get_node_info(i_queue_name text,
	OUT ret_code integer, OUT ret_note text, OUT node_type text, OUT node_name text,
	OUT global_watermark bigint, OUT local_watermark bigint,
	OUT provider_node text, OUT provider_location text,
	OUT combined_queue text, OUT combined_type text,
	OUT worker_name text, OUT worker_paused boolean, OUT worker_uptodate boolean,
	OUT worker_last_tick bigint, OUT node_attrs text, OUT target_for text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
BEGIN
	SELECT 100, 'Ok', n.node_type, n.node_name, w.provider_node, l.node_location,
	       c.queue_name, c.node_type, n.worker_name, w.paused, w.uptodate,
	       w.last_tick_id, n.node_attrs
	  INTO ret_code, ret_note, node_type, node_name, provider_node, provider_location,
	       combined_queue, combined_type, worker_name, worker_paused, worker_uptodate,
	       worker_last_tick, node_attrs
	  FROM pgq_node.node_info n
	  LEFT JOIN pgq_node.node_info c ON c.queue_name = n.combined_queue
	  LEFT JOIN pgq_node.local_state w
	    ON w.queue_name = n.queue_name AND w.consumer_name = n.worker_name
	  LEFT JOIN pgq_node.node_location l
	    ON l.queue_name = w.queue_name AND l.node_name = w.provider_node
	 WHERE n.queue_name = i_queue_name;
	IF NOT FOUND THEN
		ret_code := 404;
		ret_note := 'Unknown queue: ' || i_queue_name;
		RETURN;
	END IF;
	IF node_type IN ('root', 'branch') THEN
		SELECT m.local_watermark, m.global_watermark INTO local_watermark, global_watermark
		  FROM pgq_node._watermarks(i_queue_name) m;
		SELECT array_agg(t.queue_name ORDER BY t.queue_name) INTO target_for
		  FROM pgq_node.node_info t WHERE t.combined_queue = i_queue_name;
	ELSE
		local_watermark := worker_last_tick;
	END IF;
	IF node_type = 'root' THEN
		worker_last_tick := pgq_node._queue_top(i_queue_name);
	END IF;
END
$$;

-- The node's type; raises when the queue is no node here.
CREATE OR REPLACE FUNCTION pgq_node._node_type(i_queue_name text)
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
DECLARE
	t text;
BEGIN
	SELECT n.node_type INTO t FROM pgq_node.node_info n WHERE n.queue_name = i_queue_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'queue does not exist: %', i_queue_name USING ERRCODE = 'P0002';
	END IF;
	RETURN t;
END
$$;

-- Raises when the queue is no node here.
CREATE OR REPLACE FUNCTION pgq_node.is_root_node(i_queue_name text)
RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
	SELECT pgq_node._node_type(i_queue_name) = 'root'
$$;

CREATE OR REPLACE FUNCTION pgq_node.is_leaf_node(i_queue_name text)
RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
	SELECT pgq_node._node_type(i_queue_name) = 'leaf'
$$;

-- Returns 200, or 404 when the queue is no node here.
CREATE OR REPLACE FUNCTION pgq_node.set_node_attrs(i_queue_name text, i_node_attrs text,
	OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
BEGIN
	UPDATE pgq_node.node_info n SET node_attrs = i_node_attrs
	 WHERE n.queue_name = i_queue_name;
	IF NOT FOUND THEN
		ret_code := 404;
		ret_note := 'Node not found';
		RETURN;
	END IF;
	ret_code := 200;
	ret_note := 'Node attributes updated';
END
$$;

-- Turns a branch into the root: its queue takes inserts and its own
-- ticker again, continuing after the last copied tick, and its worker
-- reads from the node itself.  Returns 200, 404 (no node), 301 (not a
-- branch).
CREATE OR REPLACE FUNCTION pgq_node.promote_branch(i_queue_name text,
	OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
DECLARE
	this pgq_node.node_info;
	top bigint;
BEGIN
	SELECT * INTO this FROM pgq_node.node_info n WHERE n.queue_name = i_queue_name FOR UPDATE;
	IF NOT FOUND THEN
		ret_code := 404;
		ret_note := 'Node not initialized for queue: ' || i_queue_name;
		RETURN;
	END IF;
	IF this.node_type <> 'branch' THEN
		ret_code := 301;
		ret_note := 'Node not branch';
		RETURN;
	END IF;
	UPDATE pgq.queue
	   SET queue_disable_insert = false, queue_external_ticker = false
	 WHERE queue_name = i_queue_name;
	top := pgq_node._queue_top(i_queue_name);
	-- the local ticker must continue after the copied ticks
	PERFORM pgq.seq_setval(q.queue_tick_seq, top)
	   FROM pgq.queue q WHERE q.queue_name = i_queue_name;
	UPDATE pgq_node.node_info n SET node_type = 'root' WHERE n.queue_name = i_queue_name;
	UPDATE pgq_node.local_state s
	   SET provider_node = this.node_name, last_tick_id = top, uptodate = false
	 WHERE s.queue_name = i_queue_name AND s.consumer_name = this.worker_name;
	ret_code := 200;
	ret_note := 'Branch node promoted to root';
END
$$;

-- Turns the root into a branch, in three steps called in order, each
-- in its own transaction: 1 stops inserts and the local ticker; 2 waits
-- for the writers already inside the queue and makes a last tick
-- (returned in last_tick); 3 makes the node a branch whose worker
-- reads from i_new_provider after that tick.  Returns 200, 404 (no
-- node), 301 (not root); raises on steps out of order.
CREATE OR REPLACE FUNCTION pgq_node.demote_root(i_queue_name text, i_step integer,
	i_new_provider text, OUT ret_code integer, OUT ret_note text, OUT last_tick bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
DECLARE
	this pgq_node.node_info;
	q pgq.queue;
BEGIN
	SELECT * INTO this FROM pgq_node.node_info n WHERE n.queue_name = i_queue_name FOR UPDATE;
	IF NOT FOUND THEN
		ret_code := 404;
		ret_note := 'Node not initialized for queue: ' || i_queue_name;
		RETURN;
	END IF;
	IF this.node_type <> 'root' THEN
		ret_code := 301;
		ret_note := 'Node not root';
		RETURN;
	END IF;
	SELECT * INTO q FROM pgq.queue x WHERE x.queue_name = i_queue_name;
	IF i_step > 1 AND NOT (q.queue_disable_insert AND q.queue_external_ticker) THEN
		RAISE EXCEPTION 'steps in wrong order' USING ERRCODE = '55000';
	END IF;
	IF i_step = 1 THEN
		UPDATE pgq.queue x
		   SET queue_disable_insert = true, queue_external_ticker = true
		 WHERE x.queue_name = i_queue_name;
		IF NOT FOUND THEN
			ret_code := 404;
			ret_note := 'Huh, no queue?: ' || i_queue_name;
			RETURN;
		END IF;
		ret_code := 200;
		ret_note := 'Step 1: Writing disabled for: ' || i_queue_name;
	ELSIF i_step = 2 THEN
		-- an insert that passed the check before step 1 holds a lock
		-- on the event tables; wait for it, so the last tick covers it
		EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE', q.queue_data_pfx::regclass);
		last_tick := nextval(q.queue_tick_seq);
		PERFORM pgq.ticker(i_queue_name, last_tick, now(), nextval(q.queue_event_seq));
		ret_code := 200;
		ret_note := 'Step 2: Inserted last tick: ' || i_queue_name;
	ELSIF i_step = 3 THEN
		last_tick := pgq_node._queue_top(i_queue_name);
		UPDATE pgq_node.node_info n SET node_type = 'branch' WHERE n.queue_name = i_queue_name;
		UPDATE pgq_node.local_state s
		   SET provider_node = i_new_provider, last_tick_id = last_tick, uptodate = false
		 WHERE s.queue_name = i_queue_name AND s.consumer_name = this.worker_name;
		-- londiste, when installed, keeps the root's tables replicated
		-- here (whoever demotes: our londiste(1), the original's admin)
		IF to_regprocedure('londiste.root_demoted(text)') IS NOT NULL THEN
			EXECUTE 'SELECT londiste.root_demoted($1)' USING i_queue_name;
		END IF;
		ret_code := 200;
		ret_note := 'Step 3: Demoted root to branch: ' || i_queue_name;
	ELSE
		RAISE EXCEPTION 'incorrect step number' USING ERRCODE = '22023';
	END IF;
END
$$;

-- What the node's worker needs each round.  ret_code 100, or 404 when
-- the node, its worker, its provider's location or its combined queue's
-- node is missing.
CREATE OR REPLACE FUNCTION pgq_node.get_worker_state(i_queue_name text,
	OUT ret_code integer, OUT ret_note text, OUT node_type text, OUT node_name text,
	OUT completed_tick bigint, OUT provider_node text, OUT provider_location text,
	OUT paused boolean, OUT uptodate boolean, OUT cur_error text,
	OUT worker_name text, OUT global_watermark bigint, OUT local_watermark bigint,
	OUT local_queue_top bigint, OUT combined_queue text, OUT combined_type text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
BEGIN
	SELECT c.ret_code, c.ret_note, c.node_type, c.node_name, c.worker_name, c.combined_queue,
	       c.completed_tick, c.provider_node, c.provider_location, c.paused, c.uptodate, c.cur_error
	  INTO ret_code, ret_note, node_type, node_name, worker_name, combined_queue,
	       completed_tick, provider_node, provider_location, paused, uptodate, cur_error
	  FROM pgq_node._consumer_state(i_queue_name, NULL, true) c;
	IF ret_code <> 100 THEN
		RETURN;
	END IF;
	ret_code := 404;
	IF combined_queue IS NOT NULL THEN
		SELECT n.node_type INTO combined_type
		  FROM pgq_node.node_info n WHERE n.queue_name = get_worker_state.combined_queue;
		IF NOT FOUND THEN
			ret_note := 'Combined queue node not found: ' || combined_queue;
			RETURN;
		END IF;
	END IF;
	IF node_type IN ('root', 'branch') THEN
		SELECT m.local_watermark, m.global_watermark INTO local_watermark, global_watermark
		  FROM pgq_node._watermarks(i_queue_name) m;
		local_queue_top := pgq_node._queue_top(i_queue_name);
	ELSE
		local_watermark := completed_tick;
	END IF;
	ret_code := 100;
	ret_note := 'Ok';
END
$$;

-- Root: moves .global_watermark to i_watermark (NULL: to the local
-- watermark) and announces it in a pgq.global-watermark event.  Branch:
-- moves it when the tick exists here (an old batch may carry a tick
-- already rotated away: 200, skipped).  Leaf: 100, nothing to do.
-- 404 when the queue is no node here, 500 for NULL on a branch.
CREATE OR REPLACE FUNCTION pgq_node.set_global_watermark(i_queue_name text,
	i_watermark bigint, OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
DECLARE
	this pgq_node.node_info;
	wm bigint := i_watermark;
BEGIN
	SELECT * INTO this FROM pgq_node.node_info n WHERE n.queue_name = i_queue_name FOR UPDATE;
	IF NOT FOUND THEN
		ret_code := 404;
		ret_note := 'Queue ' || i_queue_name || ' not found';
		RETURN;
	END IF;
	IF this.node_type = 'root' THEN
		IF wm IS NULL THEN
			SELECT m.local_watermark INTO wm FROM pgq_node._watermarks(i_queue_name) m;
			IF wm IS NULL THEN
				RAISE EXCEPTION 'queue % has no local watermark', i_queue_name USING ERRCODE = '55000';
			END IF;
		END IF;
		PERFORM pgq.register_consumer_at(i_queue_name, '.global_watermark', wm);
		PERFORM pgq.insert_event(i_queue_name, 'pgq.global-watermark', wm::text,
			i_queue_name, NULL, NULL, NULL);
		-- the root's worker reads nothing; keep its position current
		UPDATE pgq_node.local_state s SET last_tick_id = wm
		 WHERE s.queue_name = i_queue_name AND s.consumer_name = this.worker_name;
	ELSIF this.node_type = 'branch' THEN
		IF wm IS NULL THEN
			ret_code := 500;
			ret_note := 'bad usage: wm=null on branch node';
			RETURN;
		END IF;
		PERFORM 1 FROM pgq.tick t JOIN pgq.queue q ON q.queue_id = t.tick_queue
		 WHERE q.queue_name = i_queue_name AND t.tick_id = wm;
		IF NOT FOUND THEN
			ret_code := 200;
			ret_note := 'Skipping global watermark update to ' || wm::text;
			RETURN;
		END IF;
		PERFORM pgq.register_consumer_at(i_queue_name, '.global_watermark', wm);
	ELSE
		ret_code := 100;
		ret_note := 'Ignoring global watermark in leaf';
		RETURN;
	END IF;
	ret_code := 200;
	ret_note := 'Global watermark set to ' || wm::text;
END
$$;

-- On a combined branch: moves the worker of merge-leaf queue
-- i_part_queue_name to the partition tick that came in a combined
-- batch.  Returns 200, 201 (no such leaf feeding this combined
-- branch), 401 (its worker is not registered).
CREATE OR REPLACE FUNCTION pgq_node.set_partition_watermark(i_combined_queue_name text,
	i_part_queue_name text, i_watermark bigint, OUT ret_code integer, OUT ret_note text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
DECLARE
	wname text;
BEGIN
	SELECT p.worker_name INTO wname
	  FROM pgq_node.node_info p
	  JOIN pgq_node.node_info c ON c.queue_name = p.combined_queue
	 WHERE p.queue_name = i_part_queue_name AND p.node_type = 'leaf'
	   AND c.queue_name = i_combined_queue_name AND c.node_type = 'branch';
	IF NOT FOUND THEN
		ret_code := 201;
		ret_note := 'Part-queue does not exist';
		RETURN;
	END IF;
	UPDATE pgq_node.local_state s SET last_tick_id = i_watermark
	 WHERE s.queue_name = i_part_queue_name AND s.consumer_name = wname;
	IF NOT FOUND THEN
		ret_code := 401;
		ret_note := 'Worker registration not found';
		RETURN;
	END IF;
	ret_code := 200;
	ret_note := 'Ok';
END
$$;

-- For pgqd's maintenance round: on the root, publishes the global
-- watermark when it is 5 minutes old or more.  Returns 0 (pgqd calls it
-- once per round).  Not on a root whose demotion began (demote_root
-- step 1: its queue takes no event): the event would be refused, and
-- the ticker said so every round for as long as the switchover stayed
-- unfinished; the new root publishes its own.
CREATE OR REPLACE FUNCTION pgq_node.maint_watermark(i_queue_name text)
RETURNS integer LANGUAGE plpgsql
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
DECLARE
	age interval;
BEGIN
	PERFORM 1 FROM pgq_node.node_info n
	 WHERE n.queue_name = i_queue_name AND n.node_type = 'root' FOR UPDATE;
	IF NOT FOUND THEN
		RETURN 0;
	END IF;
	IF EXISTS (SELECT 1 FROM pgq.queue q WHERE q.queue_name = i_queue_name
	            AND q.queue_disable_insert) THEN
		RETURN 0;
	END IF;
	SELECT c.lag INTO age FROM pgq.get_consumer_info(i_queue_name, '.global_watermark') c;
	IF age >= interval '5 minutes' THEN
		PERFORM pgq_node.set_global_watermark(i_queue_name, NULL);
	END IF;
	RETURN 0;
END
$$;
