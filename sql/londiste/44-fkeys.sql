-- Londiste 3: foreign keys dropped for a copy and restored once both
-- tables are in sync.

-- Every foreign key from or to the table.
CREATE OR REPLACE FUNCTION londiste.find_table_fkeys(i_table_name text)
RETURNS SETOF londiste.pending_fkeys LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT n1.nspname || '.' || t1.relname, n2.nspname || '.' || t2.relname,
	       c.conname::text,
	       format('alter table only %I.%I add constraint %I %s', n1.nspname, t1.relname,
		      c.conname, pg_get_constraintdef(c.oid))
	  FROM pg_constraint c
	  JOIN pg_class t1 ON t1.oid = c.conrelid JOIN pg_namespace n1 ON n1.oid = t1.relnamespace
	  JOIN pg_class t2 ON t2.oid = c.confrelid JOIN pg_namespace n2 ON n2.oid = t2.relnamespace
	 WHERE c.contype = 'f'
	   AND londiste.find_table_oid(i_table_name) IN (c.conrelid, c.confrelid)
	 ORDER BY 1, 2, 3
$$;

CREATE OR REPLACE FUNCTION londiste.get_table_pending_fkeys(i_table_name text)
RETURNS SETOF londiste.pending_fkeys LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT * FROM londiste.pending_fkeys
	 WHERE from_table = i_table_name OR to_table = i_table_name
	 ORDER BY 1, 2, 3
$$;

-- The local registrations of a table (by its name here): how many,
-- how many of them in the queue, how many in sync.
CREATE OR REPLACE FUNCTION londiste._fkey_table_state(i_queue_name text, i_table text,
	OUT total int8, OUT matching int8, OUT ok int8)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT count(*),
	       count(*) FILTER (WHERE i.queue_name = i_queue_name),
	       count(*) FILTER (WHERE l.merge_state = 'ok' AND i.custom_snapshot IS NULL)
	  FROM londiste.table_info i
	  CROSS JOIN LATERAL (SELECT londiste._merge_state(i.queue_name, i.table_name,
			i.local, i.merge_state) AS merge_state) l
	 WHERE coalesce(i.dest_table, i.table_name) = i_table AND i.local
$$;

-- Dropped keys whose both tables are local and in sync here, for the
-- queue that owns them (with several queues: a root's one, then a
-- branch's, then the first by name).
CREATE OR REPLACE FUNCTION londiste.get_valid_pending_fkeys(i_queue_name text)
RETURNS SETOF londiste.pending_fkeys LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	fk londiste.pending_fkeys;
	f record;
	t record;
	owner text;
BEGIN
	FOR fk IN SELECT * FROM londiste.pending_fkeys ORDER BY from_table, to_table, fkey_name LOOP
		SELECT * INTO f FROM londiste._fkey_table_state(i_queue_name, fk.from_table);
		SELECT * INTO t FROM londiste._fkey_table_state(i_queue_name, fk.to_table);
		CONTINUE WHEN f.total = 0 OR t.total = 0 OR f.ok < f.total OR t.ok < t.total
			OR (f.matching = 0 AND t.matching = 0);
		SELECT coalesce(min(CASE WHEN c.node_type = 'root' THEN i.queue_name END),
				min(CASE WHEN c.node_type = 'branch' THEN c.queue_name END),
				min(i.queue_name))
		  INTO owner
		  FROM londiste.table_info i
		  JOIN pgq_node.node_info n ON n.queue_name = i.queue_name
		  LEFT JOIN pgq_node.node_info c ON c.queue_name = n.combined_queue
		 WHERE coalesce(i.dest_table, i.table_name) IN (fk.to_table, fk.from_table) AND i.local;
		IF owner = i_queue_name THEN
			RETURN NEXT fk;
		END IF;
	END LOOP;
END $$;

-- Drop one key, keeping its definition in pending_fkeys: 1, or 0 when
-- there is no such key.
CREATE OR REPLACE FUNCTION londiste.drop_table_fkey(i_from_table text, i_fkey_name text)
RETURNS integer LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	fk record;
BEGIN
	SELECT * INTO fk FROM londiste.find_table_fkeys(i_from_table) k
	 WHERE k.fkey_name = i_fkey_name AND k.from_table = i_from_table;
	IF NOT FOUND THEN
		RETURN 0;
	END IF;
	INSERT INTO londiste.pending_fkeys VALUES (fk.from_table, fk.to_table, i_fkey_name, fk.fkey_def);
	EXECUTE format('alter table only %s drop constraint %I',
		londiste.quoted_name(fk.from_table), i_fkey_name);
	RETURN 1;
END $$;

-- Restore a dropped key: '' when done (or unknown).  i_lazy: return the
-- statement to run instead, first the key NOT VALID, then its
-- validation, and '' once it is valid.
DROP FUNCTION IF EXISTS londiste.restore_table_fkey(text, text);
CREATE OR REPLACE FUNCTION londiste.restore_table_fkey(i_from_table text, i_fkey_name text,
	i_lazy boolean DEFAULT false)
RETURNS text LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	fk record;
	valid boolean;
BEGIN
	SELECT * INTO fk FROM londiste.pending_fkeys
	 WHERE fkey_name = i_fkey_name AND from_table = i_from_table FOR UPDATE;
	IF NOT FOUND THEN
		RETURN '';
	END IF;
	IF i_lazy THEN
		SELECT c.convalidated INTO valid FROM pg_constraint c
		 WHERE c.contype = 'f' AND c.conrelid = londiste.find_table_oid(i_from_table)
		   AND c.conname = i_fkey_name;
		IF NOT FOUND THEN
			RETURN fk.fkey_def || ' not valid';
		ELSIF NOT valid THEN
			RETURN format('alter table only %s validate constraint %I',
				londiste.quoted_name(fk.from_table), fk.fkey_name);
		END IF;
	ELSE
		EXECUTE fk.fkey_def;
	END IF;
	DELETE FROM londiste.pending_fkeys WHERE fkey_name = fk.fkey_name AND from_table = fk.from_table;
	RETURN '';
END $$;
