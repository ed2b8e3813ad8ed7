-- Londiste 3: EXECUTE, DDL files run once per node.  The setup tool on
-- the root and the worker elsewhere call execute_start at the start of
-- the transaction that runs the file and execute_finish at its end; the
-- root's execute_finish puts the EXECUTE event into the queue (ev_data
-- the SQL, ev_extra1 the file name, ev_extra2 the attributes).

-- 200 run it, 201 already applied here (skip), 401 not the root though
-- i_expect_root.  The insert also serialises two runs of one file.
CREATE OR REPLACE FUNCTION londiste.execute_start(i_queue_name text, i_file_name text,
	i_sql text, i_expect_root boolean, i_attrs text,
	OUT ret_code int4, OUT ret_note text)
LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
BEGIN
	IF i_expect_root AND NOT coalesce(pgq_node.is_root_node(i_queue_name), false) THEN
		ret_code := 401; ret_note := 'Node is not root node: ' || i_queue_name;
		RETURN;
	END IF;
	INSERT INTO londiste.applied_execute (queue_name, execute_file, execute_sql, execute_attrs)
	VALUES (i_queue_name, i_file_name, i_sql, i_attrs)
	ON CONFLICT DO NOTHING;
	IF NOT FOUND THEN
		ret_code := 201;
		ret_note := 'EXECUTE: "' || i_file_name || '" already applied, skipping';
		RETURN;
	END IF;
	ret_code := 200; ret_note := 'Executing: ' || i_file_name;
END $$;

CREATE OR REPLACE FUNCTION londiste.execute_start(i_queue_name text, i_file_name text,
	i_sql text, i_expect_root boolean, OUT ret_code int4, OUT ret_note text)
LANGUAGE sql
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT f.ret_code, f.ret_note
	  FROM londiste.execute_start(i_queue_name, i_file_name, i_sql, i_expect_root, NULL) f
$$;

-- 200 done, 404 no execute_start for the file.
CREATE OR REPLACE FUNCTION londiste.execute_finish(i_queue_name text, i_file_name text,
	OUT ret_code int4, OUT ret_note text)
LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, londiste, pgq, pg_temp AS $$
DECLARE
	e record;
BEGIN
	SELECT a.execute_sql, a.execute_attrs INTO e FROM londiste.applied_execute a
	 WHERE a.execute_file = i_file_name;
	IF NOT FOUND THEN
		ret_code := 404; ret_note := 'execute_file called without execute_start';
		RETURN;
	END IF;
	IF coalesce(pgq_node.is_root_node(i_queue_name), false) THEN
		PERFORM pgq.insert_event(i_queue_name, 'EXECUTE', e.execute_sql, i_file_name,
					 e.execute_attrs, NULL, NULL);
	END IF;
	ret_code := 200; ret_note := 'Execute finished: ' || i_file_name;
END $$;
