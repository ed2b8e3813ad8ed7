-- Londiste 3: tables of the set, their triggers and states.

-- The event that tells the nodes below about a change in the set.
CREATE OR REPLACE FUNCTION londiste.root_notify_change(i_queue_name text,
	i_ev_type text, i_ev_data text)
RETURNS integer LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pgq, pg_temp AS $$
BEGIN
	IF NOT pgq_node.is_root_node(i_queue_name) THEN
		RAISE EXCEPTION 'only root node can send events';
	END IF;
	PERFORM pgq.insert_event(i_queue_name, i_ev_type, i_ev_data);
	RETURN 1;
END $$;

-- The queue's row trigger and TRUNCATE trigger on a table, as londiste
-- 3.8 makes them: _londiste_QUEUE running pgq.logutriga('QUEUE', args...)
-- (AFTER INSERT OR UPDATE OR DELETE unless tgflags= says otherwise) and
-- _londiste_QUEUE_truncate running pgq.sqltriga('QUEUE').  i_trg_args:
--   tgflags=XYZ  B/A before/after, I/U/D events, Q/L/J sqltriga,
--                logutriga or jsontriga, S skip
--   skip         a BEFORE trigger that queues the change and skips it
--                (zzz_ prefix, so it fires after the other BEFORE ones)
--   no_triggers, virtual_table  none at all (ret_code 201)
--   expect_sync, skip_truncate, merge_all, no_merge  add-table flags,
--                not for the trigger
--   anything else (ev_extra4=..., backup, ignore=..., pkey=..., when=...)
--                goes to the trigger as is.
-- A renamed table (i_dest_table) gets ev_extra1=<set's name> so that its
-- events carry the name the set knows.  On a leaf the triggers also get
-- 'deny': the table changes only through replay.
-- 200 ok, 201 no trigger made, 403 AFTER trigger beside a SKIP one,
-- 405 more than one SKIP trigger.
CREATE OR REPLACE FUNCTION londiste.create_trigger(i_queue_name text,
	i_table_name text, i_trg_args text[], i_dest_table text, i_node_type text,
	OUT ret_code int4, OUT ret_note text, OUT trigger_name text)
LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pgq, pg_temp AS $$
DECLARE
	arg text;
	flags text := '';
	func text := 'pgq.logutriga';
	pos text := 'after';
	evs text[] := '{}';
	args text[] := ARRAY[i_queue_name];
	extra text[] := '{}';
	skip boolean := false;
	got_extra1 boolean := false;
	rel oid := londiste.find_table_oid(i_dest_table);
	qrel text := londiste.quoted_name(londiste.make_fqname(i_dest_table));
	skip_count int;
	skip_name text;
BEGIN
	FOREACH arg IN ARRAY coalesce(i_trg_args, '{}') LOOP
		IF arg LIKE 'tgflags=%' THEN
			flags := flags || upper(substr(arg, 9));
		ELSIF arg IN ('no_triggers', 'virtual_table') THEN
			ret_code := 201; ret_note := 'Trigger not created';
			RETURN;
		ELSIF lower(arg) = 'skip' THEN
			skip := true;
		ELSIF arg NOT IN ('expect_sync', 'skip_truncate', 'merge_all', 'no_merge') THEN
			got_extra1 := got_extra1 OR arg LIKE 'ev_extra1=%';
			args := args || arg;
		END IF;
	END LOOP;
	IF i_dest_table <> i_table_name AND NOT got_extra1 THEN
		args := args || ('ev_extra1=' || quote_literal(i_table_name));
	END IF;
	-- Later letters win, as in the original: A after B, L after Q after J... 
	IF strpos(flags, 'B') > 0 THEN pos := 'before'; END IF;
	IF strpos(flags, 'A') > 0 THEN pos := 'after'; END IF;
	IF strpos(flags, 'Q') > 0 THEN func := 'pgq.sqltriga'; END IF;
	IF strpos(flags, 'L') > 0 THEN func := 'pgq.logutriga'; END IF;
	IF strpos(flags, 'J') > 0 THEN func := 'pgq.jsontriga'; END IF;
	IF strpos(flags, 'I') > 0 THEN evs := evs || 'insert'::text; END IF;
	IF strpos(flags, 'U') > 0 THEN evs := evs || 'update'::text; END IF;
	IF strpos(flags, 'D') > 0 THEN evs := evs || 'delete'::text; END IF;
	IF strpos(flags, 'S') > 0 THEN skip := true; END IF;
	IF cardinality(evs) = 0 THEN
		evs := ARRAY['insert', 'update', 'delete'];
	END IF;

	IF i_node_type = 'leaf' THEN
		extra := ARRAY['deny'];
	END IF;

	trigger_name := londiste.trigger_name(i_queue_name, false);
	IF skip OR pos = 'after' THEN
		SELECT count(*), min(t.tgname) INTO skip_count, skip_name
		  FROM pg_trigger t
		 WHERE t.tgrelid = rel AND position('\000SKIP\000'::bytea IN t.tgargs) > 0;
	END IF;
	IF pos = 'after' AND skip_count > 0 THEN
		ret_code := 403; ret_note := 'AFTER trigger cannot work with SKIP trigger(s)';
		RETURN;
	END IF;
	IF skip THEN
		IF skip_count = 0 THEN
			trigger_name := londiste._skip_name(trigger_name);
			args := args || 'SKIP'::text;
		ELSIF skip_count = 1 THEN
			IF NOT starts_with(skip_name, 'zzz_') THEN
				EXECUTE format('ALTER TRIGGER %I ON %s RENAME TO %I',
					skip_name, qrel, londiste._skip_name(skip_name));
			END IF;
		ELSE
			ret_code := 405; ret_note := 'Multiple SKIP triggers';
			RETURN;
		END IF;
	END IF;

	-- Made again every time, as the original does: flags, function or
	-- arguments may have changed.
	args := args || extra;
	IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname = trigger_name) THEN
		EXECUTE format('DROP TRIGGER %I ON %s', trigger_name, qrel);
	END IF;
	EXECUTE format('CREATE TRIGGER %I %s %s ON %s FOR EACH ROW EXECUTE FUNCTION %s(%s)',
		trigger_name, pos, array_to_string(evs, ' or '), qrel, func,
		(SELECT string_agg(quote_literal(a), ', ' ORDER BY o)
		   FROM unnest(args) WITH ORDINALITY AS u(a, o)));

	PERFORM londiste.create_truncate_trigger(i_queue_name, i_dest_table, i_node_type);
	ret_code := 200; ret_note := 'OK';
END $$;

-- The queue's TRUNCATE trigger on the table when it has none (with
-- 'deny' on a leaf, as the row trigger).  True when it was made.
CREATE OR REPLACE FUNCTION londiste.create_truncate_trigger(i_queue_name text,
	i_dest_table text, i_node_type text)
RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pgq, pg_temp AS $$
DECLARE
	trunc_name text := londiste.trigger_name(i_queue_name, true);
	args text[] := ARRAY[i_queue_name];
BEGIN
	PERFORM 1 FROM pg_trigger
	 WHERE tgrelid = londiste.find_table_oid(i_dest_table) AND tgname = trunc_name;
	IF FOUND THEN
		RETURN false;
	END IF;
	IF i_node_type = 'leaf' THEN
		args := args || 'deny'::text;
	END IF;
	EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION pgq.sqltriga(%s)',
		trunc_name, londiste.quoted_name(londiste.make_fqname(i_dest_table)),
		(SELECT string_agg(quote_literal(a), ', ' ORDER BY o)
		   FROM unnest(args) WITH ORDINALITY AS u(a, o)));
	RETURN true;
END $$;

-- An added table whose replication triggers were dropped or disabled
-- since (by hand, by a restore that left them out) stops replicating
-- without a word; check shows it.  This makes them again: a missing row
-- trigger as create_trigger makes it from i_trg_args (the original
-- add-table's options: they are not kept), a missing TRUNCATE one, and
-- one that does not fire for the node's own writes (disabled, replica,
-- or always on a branch or leaf, where it would fire for the replay
-- too) enabled again.  An enabled row trigger is left as it is, with
-- its arguments.  Returns what it did ('' nothing), or raises the
-- refusal of create_trigger.
CREATE OR REPLACE FUNCTION londiste.restore_triggers(i_queue_name text,
	i_table_name text, i_trg_args text[], i_dest_table text, i_node_type text)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pgq, pg_temp AS $$
DECLARE
	rel oid := londiste.find_table_oid(i_dest_table);
	qrel text := londiste.quoted_name(londiste.make_fqname(i_dest_table));
	row_name text := londiste.trigger_name(i_queue_name, false);
	trunc_name text := londiste.trigger_name(i_queue_name, true);
	done text[] := '{}';
	tg record;
	made record;
BEGIN
	IF rel IS NULL THEN
		RETURN '';
	END IF;
	PERFORM 1 FROM pg_trigger t
	 WHERE t.tgrelid = rel AND t.tgname IN (row_name, londiste._skip_name(row_name));
	IF NOT FOUND THEN
		SELECT * INTO made
		  FROM londiste.create_trigger(i_queue_name, i_table_name, i_trg_args, i_dest_table, i_node_type);
		IF made.ret_code > 299 THEN
			RAISE EXCEPTION 'cannot make trigger % again: %', row_name, made.ret_note;
		END IF;
		IF made.ret_code = 200 THEN
			done := done || (made.trigger_name || ' made again');
		END IF;
	END IF;
	IF londiste.create_truncate_trigger(i_queue_name, i_dest_table, i_node_type) THEN
		done := done || (trunc_name || ' made again');
	END IF;
	FOR tg IN SELECT t.tgname, t.tgenabled FROM pg_trigger t
		   WHERE t.tgrelid = rel AND t.tgname IN (row_name, londiste._skip_name(row_name), trunc_name)
		     AND t.tgenabled <> 'O' AND NOT (t.tgenabled = 'A' AND i_node_type = 'root')
		   ORDER BY 1
	LOOP
		EXECUTE format('ALTER TABLE %s ENABLE TRIGGER %I', qrel, tg.tgname);
		done := done || (tg.tgname || ' enabled again (was '
			|| CASE tg.tgenabled WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'replica'
				ELSE 'always' END || ')');
	END LOOP;
	RETURN array_to_string(done, ', ');
END $$;

-- Every replication trigger of the queue on the table (found by trigger
-- function and first argument, whatever its name).
CREATE OR REPLACE FUNCTION londiste.drop_table_triggers(i_queue_name text, i_table_name text)
RETURNS void LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	dest text;
	rel oid;
	tg text;
BEGIN
	SELECT coalesce(t.dest_table, t.table_name) INTO dest FROM londiste.table_info t
	 WHERE t.queue_name = i_queue_name AND t.table_name = i_table_name;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	rel := londiste.find_table_oid(dest);
	IF rel IS NULL THEN
		RETURN;
	END IF;
	FOR tg IN SELECT t.tgname FROM pg_trigger t
		   WHERE t.tgrelid = rel AND londiste.is_replica_func(t.tgfoid)
		     AND t.tgnargs > 0
		     AND substring(t.tgargs FOR position('\000'::bytea IN t.tgargs) - 1)
			 = convert_to(i_queue_name, 'UTF8')
	LOOP
		EXECUTE format('DROP TRIGGER %I ON %s', tg, londiste.quoted_name(dest));
	END LOOP;
END $$;

CREATE OR REPLACE FUNCTION londiste.table_info_trigger()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM londiste.drop_table_triggers(OLD.queue_name, OLD.table_name);
	END IF;
	RETURN OLD;
END $$;

DROP TRIGGER IF EXISTS table_info_trigger_sync ON londiste.table_info;
CREATE TRIGGER table_info_trigger_sync BEFORE DELETE ON londiste.table_info
	FOR EACH ROW EXECUTE FUNCTION londiste.table_info_trigger();

-- The set learns of a table: on the root from local_add_table, elsewhere
-- from the worker applying londiste.add-table.  200 also when known.
CREATE OR REPLACE FUNCTION londiste.global_add_table(i_queue_name text, i_table_name text,
	OUT ret_code int4, OUT ret_note text)
LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	fq text := londiste.make_fqname(i_table_name);
	cq text;
BEGIN
	SELECT n.combined_queue INTO cq FROM pgq_node.node_info n
	 WHERE n.queue_name = i_queue_name FOR UPDATE;
	IF NOT FOUND THEN
		ret_code := 400; ret_note := 'No such queue: ' || i_queue_name;
		RETURN;
	END IF;
	INSERT INTO londiste.table_info (queue_name, table_name) VALUES (i_queue_name, fq)
	ON CONFLICT DO NOTHING;
	IF NOT FOUND THEN
		ret_code := 200; ret_note := 'Table already added: ' || fq;
		RETURN;
	END IF;
	ret_code := 200; ret_note := 'Table added: ' || i_table_name;
	IF cq IS NOT NULL THEN
		PERFORM londiste.global_add_table(cq, i_table_name);
	END IF;
END $$;

-- The set forgets a table (on a non-root its local registration goes
-- first).  400 when unknown.
CREATE OR REPLACE FUNCTION londiste.global_remove_table(i_queue_name text, i_table_name text,
	OUT ret_code int4, OUT ret_note text)
LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	fq text := londiste.make_fqname(i_table_name);
BEGIN
	IF NOT pgq_node.is_root_node(i_queue_name) THEN
		PERFORM londiste.local_remove_table(i_queue_name, fq);
	END IF;
	DELETE FROM londiste.table_info WHERE queue_name = i_queue_name AND table_name = fq;
	IF NOT FOUND THEN
		ret_code := 400; ret_note := 'Table not found: ' || fq;
		RETURN;
	END IF;
	ret_code := 200; ret_note := 'Table removed: ' || i_table_name;
END $$;

-- Register a table on this node.  On the root: into the set (event
-- londiste.add-table), state ok, triggers.  On a branch or leaf: the set
-- must have it (404 otherwise); it enters the copy state machine
-- (subscriber_table, state new, or ok with expect_sync).
-- 200 ok, 301 added but another AFTER row trigger fires first,
-- 400 no such set / no primary key, 404 no such table, 405 bad flags,
-- 410 added before with other attributes.
CREATE OR REPLACE FUNCTION londiste.local_add_table(i_queue_name text, i_table_name text,
	i_trg_args text[], i_table_attrs text, i_dest_table text,
	OUT ret_code int4, OUT ret_note text)
LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	arg text;
	attrs text := i_table_attrs;
	expect_sync boolean := false;
	merge_all boolean := false;
	no_merge boolean := false;
	virtual boolean := false;
	fq text := londiste.make_fqname(i_table_name);
	dest text := londiste.make_fqname(coalesce(i_dest_table, i_table_name));
	descr text;
	node record;
	tbl record;
	new_state text;
	tg record;
	first_tg text;
	fixed text;
BEGIN
	FOREACH arg IN ARRAY coalesce(i_trg_args, '{}') LOOP
		CASE arg
		WHEN 'expect_sync' THEN expect_sync := true;
		WHEN 'skip_truncate' THEN
			attrs := coalesce(attrs || '&skip_truncate=1', 'skip_truncate=1');
		WHEN 'merge_all' THEN merge_all := true;
		WHEN 'no_merge' THEN no_merge := true;
		WHEN 'virtual_table' THEN virtual := true; expect_sync := true;
		ELSE NULL;
		END CASE;
	END LOOP;
	IF merge_all AND no_merge THEN
		ret_code := 405; ret_note := 'Cannot use merge-all and no-merge together';
		RETURN;
	END IF;
	descr := CASE WHEN dest = fq THEN fq ELSE fq || '(' || dest || ')' END;

	IF NOT virtual THEN
		IF londiste.find_table_oid(dest) IS NULL THEN
			ret_code := 404; ret_note := 'Table does not exist: ' || descr;
			RETURN;
		END IF;
		IF strpos(londiste.find_column_types(dest), 'k') = 0 THEN
			ret_code := 400; ret_note := 'Primary key missing on table: ' || descr;
			RETURN;
		END IF;
	END IF;

	SELECT * INTO node FROM pgq_node.get_node_info(i_queue_name);
	IF node.ret_code >= 400 THEN
		ret_code := 400; ret_note := 'No such set: ' || i_queue_name;
		RETURN;
	END IF;

	SELECT t.merge_state, t.local, t.table_attrs, t.dest_table INTO tbl FROM londiste.table_info t
	 WHERE t.queue_name = i_queue_name AND t.table_name = fq FOR UPDATE;
	IF NOT FOUND THEN
		IF node.node_type <> 'root' THEN
			ret_code := 404; ret_note := 'Table not available on queue: ' || descr;
			RETURN;
		END IF;
		SELECT f.ret_code, f.ret_note INTO ret_code, ret_note
		  FROM londiste.global_add_table(i_queue_name, i_table_name) f;
		IF ret_code <> 200 THEN
			RETURN;
		END IF;
		SELECT t.merge_state, t.local, t.table_attrs, t.dest_table INTO tbl FROM londiste.table_info t
		 WHERE t.queue_name = i_queue_name AND t.table_name = fq FOR UPDATE;
	END IF;
	IF tbl.local THEN
		IF tbl.table_attrs IS DISTINCT FROM attrs THEN
			ret_code := 410;
			ret_note := 'Table ' || descr || ' already added, but with different args: '
				|| coalesce(tbl.table_attrs, '');
			RETURN;
		END IF;
		-- londiste 3 stops here; its triggers are made again too
		-- when they went (restore_triggers)
		ret_code := 200; ret_note := 'Table already added: ' || descr;
		IF strpos(coalesce(attrs, ''), 'no_triggers=1') = 0 AND NOT virtual
		   AND NOT 'no_triggers' = ANY (coalesce(i_trg_args, '{}')) THEN
			fixed := londiste.restore_triggers(i_queue_name, fq, i_trg_args,
				coalesce(tbl.dest_table, fq), node.node_type);
			IF fixed <> '' THEN
				ret_note := ret_note || '; its triggers were not as added: ' || fixed;
				IF node.node_type = 'root' THEN
					ret_note := ret_note || '; changes written meanwhile are not in'
						|| ' the queue: compare the nodes below';
				END IF;
			END IF;
		END IF;
		RETURN;
	END IF;

	IF node.node_type = 'root' THEN
		new_state := 'ok';
		PERFORM londiste.root_notify_change(i_queue_name, 'londiste.add-table', fq);
	ELSIF expect_sync OR (node.node_type = 'leaf' AND node.combined_type = 'branch') THEN
		new_state := 'ok';
	END IF;
	UPDATE londiste.table_info
	   SET local = true, merge_state = new_state,
	       table_attrs = coalesce(attrs, table_attrs),
	       dest_table = nullif(dest, fq)
	 WHERE queue_name = i_queue_name AND table_name = fq;
	IF node.node_type <> 'root' THEN
		-- The copy state machine: the worker applies the table's events
		-- once the copy is through (or at once when expect_sync).
		INSERT INTO londiste.subscriber_table (queue_name, table_name, state, skip_truncate)
		VALUES (i_queue_name, fq, coalesce(new_state, 'new'),
			strpos(coalesce(attrs, ''), 'skip_truncate=1') > 0)
		ON CONFLICT (queue_name, table_name) DO UPDATE
		   SET state = excluded.state, snapshot = NULL, sync_tick = NULL,
		       skip_truncate = excluded.skip_truncate;
	END IF;

	SELECT * INTO tg FROM londiste.create_trigger(i_queue_name, fq, i_trg_args, dest, node.node_type);
	IF tg.ret_code > 299 THEN
		ret_code := tg.ret_code;
		ret_note := 'Trigger creation failed for table ' || descr || ': ' || tg.ret_note;
		RETURN;
	ELSIF tg.ret_code = 201 THEN
		ret_code := 200; ret_note := 'Table added with no triggers: ' || descr;
		RETURN;
	END IF;

	-- Another per-row AFTER trigger that fires before ours would let
	-- replication see the rows in another order.
	SELECT t.tgname INTO first_tg FROM pg_trigger t
	 WHERE t.tgrelid = londiste.find_table_oid(dest) AND NOT t.tgisinternal
	   AND t.tgname < tg.trigger_name::name
	   AND (t.tgtype & 3) = 1
	   AND NOT londiste.is_replica_func(t.tgfoid)
	   AND NOT starts_with(t.tgname, '_londiste_')
	   AND right(t.tgname, 7) <> '_logger'
	 ORDER BY 1 LIMIT 1;
	IF first_tg IS NOT NULL THEN
		ret_code := 301;
		ret_note := 'Table added: ' || descr || ', but londiste trigger is not first: ' || first_tg;
		RETURN;
	END IF;
	ret_code := 200; ret_note := 'Table added: ' || descr;
END $$;

CREATE OR REPLACE FUNCTION londiste.local_add_table(i_queue_name text, i_table_name text,
	i_trg_args text[], i_table_attrs text, OUT ret_code int4, OUT ret_note text)
LANGUAGE sql
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT f.ret_code, f.ret_note
	  FROM londiste.local_add_table(i_queue_name, i_table_name, i_trg_args, i_table_attrs, NULL) f
$$;

CREATE OR REPLACE FUNCTION londiste.local_add_table(i_queue_name text, i_table_name text,
	i_trg_args text[], OUT ret_code int4, OUT ret_note text)
LANGUAGE sql
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT f.ret_code, f.ret_note
	  FROM londiste.local_add_table(i_queue_name, i_table_name, i_trg_args, NULL, NULL) f
$$;

CREATE OR REPLACE FUNCTION londiste.local_add_table(i_queue_name text, i_table_name text,
	OUT ret_code int4, OUT ret_note text)
LANGUAGE sql STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT f.ret_code, f.ret_note
	  FROM londiste.local_add_table(i_queue_name, i_table_name, NULL, NULL, NULL) f
$$;

-- Unregister locally: triggers go, the copy state goes.  On the root the
-- set forgets the table too (event londiste.remove-table).
-- 200 ok, 400 unknown or not local here.
CREATE OR REPLACE FUNCTION londiste.local_remove_table(i_queue_name text, i_table_name text,
	OUT ret_code int4, OUT ret_note text)
LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	fq text := londiste.make_fqname(i_table_name);
	tbl record;
	rel oid;
	seq text;
	is_root boolean := pgq_node.is_root_node(i_queue_name);
BEGIN
	SELECT t.local, t.dropped_ddl, coalesce(t.dest_table, t.table_name) AS dest INTO tbl
	  FROM londiste.table_info t
	 WHERE t.queue_name = i_queue_name AND t.table_name = fq FOR UPDATE;
	IF NOT FOUND THEN
		ret_code := 400; ret_note := 'Table not found: ' || fq;
		RETURN;
	END IF;
	IF tbl.local THEN
		-- The copy state first: a copy of the table that runs now holds
		-- a lock on it that the trigger drop waits for, and it sees the
		-- row deleted (locked) and rolls back instead of waiting for us
		-- in its turn (londiste-copy).
		DELETE FROM londiste.subscriber_table WHERE queue_name = i_queue_name AND table_name = fq;
		DELETE FROM londiste.pending WHERE queue_name = i_queue_name AND table_name = fq;
		PERFORM londiste.drop_table_triggers(i_queue_name, fq);
		rel := londiste.find_table_oid(tbl.dest);
		IF tbl.dropped_ddl IS NOT NULL THEN
			-- not in sync: emptied first, the indexes come back faster
			EXECUTE 'TRUNCATE ONLY ' || londiste.quoted_name(tbl.dest);
			EXECUTE tbl.dropped_ddl;
		END IF;
		UPDATE londiste.table_info
		   SET local = false, custom_snapshot = NULL, table_attrs = NULL,
		       dropped_ddl = NULL, merge_state = NULL, dest_table = NULL
		 WHERE queue_name = i_queue_name AND table_name = fq;
		-- the sequences of its serial columns go with it
		FOR seq IN SELECT sn.nspname || '.' || s.relname
			     FROM pg_attribute a
			     JOIN pg_depend d ON d.refobjid = a.attrelid AND d.refobjsubid = a.attnum
				  AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
			     JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
			     JOIN pg_namespace sn ON sn.oid = s.relnamespace
			    WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
			      AND a.atttypid IN ('int4'::regtype, 'int8'::regtype)
		LOOP
			PERFORM londiste.local_remove_seq(i_queue_name, seq);
		END LOOP;
	ELSIF NOT is_root THEN
		ret_code := 400; ret_note := 'Table not registered locally: ' || fq;
		RETURN;
	END IF;
	IF is_root THEN
		PERFORM londiste.global_remove_table(i_queue_name, fq);
		PERFORM londiste.root_notify_change(i_queue_name, 'londiste.remove-table', fq);
	END IF;
	ret_code := 200; ret_note := 'Table removed: ' || fq;
END $$;

-- New trigger arguments and handler attributes for a local table.
-- 200 ok, 400 no such set, 404 not a local table.
CREATE OR REPLACE FUNCTION londiste.local_change_handler(i_queue_name text, i_table_name text,
	i_trg_args text[], i_table_attrs text, OUT ret_code int4, OUT ret_note text)
LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	node record;
	dest text;
	descr text;
BEGIN
	SELECT * INTO node FROM pgq_node.get_node_info(i_queue_name);
	IF node.ret_code >= 400 THEN
		ret_code := 400; ret_note := 'No such set: ' || i_queue_name;
		RETURN;
	END IF;
	SELECT f.ret_code, f.ret_note INTO ret_code, ret_note
	  FROM londiste.local_set_table_attrs(i_queue_name, i_table_name, i_table_attrs) f;
	IF ret_code <> 200 THEN
		RETURN;
	END IF;
	SELECT coalesce(t.dest_table, i_table_name) INTO dest FROM londiste.table_info t
	 WHERE t.queue_name = i_queue_name AND t.table_name = i_table_name AND t.local;
	SELECT f.ret_code, f.ret_note INTO ret_code, ret_note
	  FROM londiste.create_trigger(i_queue_name, i_table_name, i_trg_args, dest, node.node_type) f;
	descr := CASE WHEN dest = i_table_name THEN i_table_name
		ELSE i_table_name || '(' || dest || ')' END;
	IF ret_code > 299 THEN
		ret_note := 'Trigger creation failed for table ' || descr || ': ' || ret_note;
	ELSIF ret_code = 201 THEN
		ret_code := 200; ret_note := 'Table handler updated with no triggers: ' || descr;
	ELSE
		ret_code := 200; ret_note := 'Handler changed for table: ' || descr;
	END IF;
END $$;

-- The copy state londiste 3 reports, from our state machine: on the
-- root a local table is ok; on other nodes subscriber_table's state
-- (new -> NULL), except the original copy's hand-over states
-- (wanna-sync:, do-sync:) that only table_info holds.
CREATE OR REPLACE FUNCTION londiste._merge_state(i_queue_name text, i_table_name text,
	i_local boolean, i_merge_state text)
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	st text;
BEGIN
	IF NOT i_local THEN
		RETURN i_merge_state;
	END IF;
	IF pgq_node.is_root_node(i_queue_name) THEN
		RETURN 'ok';
	END IF;
	IF i_merge_state LIKE 'wanna-sync:%' OR i_merge_state LIKE 'do-sync:%' THEN
		RETURN i_merge_state;
	END IF;
	SELECT s.state INTO st FROM londiste.subscriber_table s
	 WHERE s.queue_name = i_queue_name AND s.table_name = i_table_name;
	IF NOT FOUND THEN
		RETURN i_merge_state;
	END IF;
	RETURN nullif(st, 'new');
END $$;

-- Only one queue feeds a table here (no combined queues of partitions):
-- no copy needs to wait for another.
CREATE OR REPLACE FUNCTION londiste._coordinate_copy(i_queue_name text, i_table_name text,
	OUT copy_role text, OUT copy_pos int4)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT NULL::text, 0
$$;

CREATE OR REPLACE FUNCTION londiste.get_table_list(i_queue_name text,
	OUT table_name text, OUT local boolean, OUT merge_state text,
	OUT custom_snapshot text, OUT table_attrs text, OUT dropped_ddl text,
	OUT copy_role text, OUT copy_pos int4, OUT dest_table text)
RETURNS SETOF record LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT t.table_name, t.local,
	       londiste._merge_state(t.queue_name, t.table_name, t.local, t.merge_state),
	       CASE WHEN t.merge_state LIKE 'wanna-sync:%' OR t.merge_state LIKE 'do-sync:%'
		    THEN t.custom_snapshot
		    ELSE coalesce(t.custom_snapshot, s.snapshot::text) END,
	       t.table_attrs, t.dropped_ddl,
	       NULL::text, 0, t.dest_table
	  FROM londiste.table_info t
	  LEFT JOIN londiste.subscriber_table s
	    ON t.local AND s.queue_name = t.queue_name AND s.table_name = t.table_name
	 WHERE t.queue_name = i_queue_name
	 ORDER BY t.nr, t.table_name
$$;

-- On the root: tables and sequences not in the set; elsewhere: those of
-- the set not replicated here.
CREATE OR REPLACE FUNCTION londiste.local_show_missing(i_queue_name text,
	OUT obj_kind text, OUT obj_name text)
RETURNS SETOF record LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
BEGIN
	IF pgq_node.is_root_node(i_queue_name) THEN
		RETURN QUERY
		SELECT r.relkind::text, n.nspname || '.' || r.relname
		  FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace
		 WHERE r.relkind IN ('r', 'S')
		   AND n.nspname NOT IN ('pgq', 'pgq_ext', 'pgq_node', 'londiste', 'pg_catalog',
					 'information_schema')
		   AND n.nspname !~ '^pg_(toast|temp)'
		   AND NOT EXISTS (SELECT 1 FROM londiste.table_info t
				    WHERE t.queue_name = i_queue_name AND t.local
				      AND coalesce(t.dest_table, t.table_name) = n.nspname || '.' || r.relname)
		 ORDER BY 1, 2;
	ELSE
		RETURN QUERY
		SELECT 'S'::text, s.seq_name FROM londiste.seq_info s
		 WHERE s.queue_name = i_queue_name AND NOT s.local
		UNION ALL
		SELECT 'r'::text, t.table_name FROM londiste.table_info t
		 WHERE t.queue_name = i_queue_name AND NOT t.local
		 ORDER BY 1, 2;
	END IF;
END $$;

-- The original copy process sets merge_state; our state machine follows
-- (NULL -> new, in-copy, catching-up with the snapshot, ok).  The
-- hand-over states wanna-sync:/do-sync: stay in table_info alone.
-- 200 ok, 404 not a local table.
CREATE OR REPLACE FUNCTION londiste.local_set_table_state(i_queue_name text, i_table_name text,
	i_snapshot text, i_merge_state text, OUT ret_code int4, OUT ret_note text)
LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	fq text := londiste.make_fqname(i_table_name);
BEGIN
	UPDATE londiste.table_info SET custom_snapshot = i_snapshot, merge_state = i_merge_state
	 WHERE queue_name = i_queue_name AND table_name = fq AND local;
	IF NOT FOUND THEN
		ret_code := 404; ret_note := 'No such table: ' || fq;
		RETURN;
	END IF;
	IF i_merge_state IS NULL OR i_merge_state IN ('in-copy', 'catching-up', 'ok') THEN
		UPDATE londiste.subscriber_table
		   SET state = coalesce(i_merge_state, 'new'),
		       snapshot = CASE WHEN i_merge_state = 'catching-up'
				THEN i_snapshot::pg_snapshot END,
		       sync_tick = NULL
		 WHERE queue_name = i_queue_name AND table_name = fq;
	END IF;
	ret_code := 200;
	ret_note := 'Table ' || fq || ' state set to ' || coalesce(quote_literal(i_merge_state), 'NULL');
END $$;

CREATE OR REPLACE FUNCTION londiste.local_set_table_attrs(i_queue_name text, i_table_name text,
	i_table_attrs text, OUT ret_code int4, OUT ret_note text)
LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
BEGIN
	UPDATE londiste.table_info SET table_attrs = i_table_attrs
	 WHERE queue_name = i_queue_name AND table_name = i_table_name AND local;
	IF FOUND THEN
		ret_code := 200; ret_note := i_table_name || ': Table attributes stored';
	ELSE
		ret_code := 404; ret_note := 'no such local table: ' || i_table_name;
	END IF;
END $$;

CREATE OR REPLACE FUNCTION londiste.local_set_table_struct(i_queue_name text, i_table_name text,
	i_dropped_ddl text, OUT ret_code int4, OUT ret_note text)
LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
BEGIN
	UPDATE londiste.table_info SET dropped_ddl = i_dropped_ddl
	 WHERE queue_name = i_queue_name AND table_name = i_table_name AND local;
	IF FOUND THEN
		ret_code := 200; ret_note := 'Table struct stored';
	ELSE
		ret_code := 404; ret_note := 'no such local table: ' || i_table_name;
	END IF;
END $$;
