-- Londiste 3 (the cascade): londiste 3.8's tables and API by name and
-- signature, beside the Skytools 2 provider/subscriber tables above.
--
-- table_info is the set's registry: every table the root replicates has
-- a row on every node (global_add_table, from the londiste.add-table
-- event), `local` when this node replicates it too.  The copy state of
-- a local table on a branch or leaf is NOT kept here but in
-- londiste.subscriber_table (queue_name = the cascade queue), the one
-- state machine londiste-copy and londiste-apply drive; get_table_list
-- derives merge_state from it and local_set_table_state maps back.
--
-- Events the root inserts into the queue (as londiste 3 does):
--   londiste.add-table     ev_data table name
--   londiste.remove-table  ev_data table name
--   londiste.update-seq    ev_data value, ev_extra1 sequence name
--   londiste.remove-seq    ev_data sequence name
--   EXECUTE                ev_data SQL, ev_extra1 file name,
--                          ev_extra2 urlencoded attributes
--
-- pgq_node is needed only by the functions (at call time): a Skytools 2
-- subscriber installs this file without it.  The foreign keys to
-- pgq_node.node_info come with the first install that finds it.

CREATE OR REPLACE FUNCTION londiste.skytools_c_version()
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$ SELECT '0.1.0'::text $$;

-- merge_state: NULL (not copied), in-copy, catching-up, wanna-sync:T,
-- do-sync:T, ok; see get_table_list for the local tables of a non-root.
CREATE TABLE IF NOT EXISTS londiste.table_info (
	nr              serial NOT NULL,
	queue_name      text NOT NULL,
	table_name      text NOT NULL,
	local           boolean NOT NULL DEFAULT false,
	merge_state     text,
	custom_snapshot text,
	dropped_ddl     text,
	table_attrs     text,
	dest_table      text,
	PRIMARY KEY (queue_name, table_name),
	CONSTRAINT table_info_check
		CHECK (dropped_ddl IS NULL OR merge_state IN ('in-copy', 'catching-up'))
);

CREATE TABLE IF NOT EXISTS londiste.seq_info (
	nr          serial NOT NULL,
	queue_name  text NOT NULL,
	seq_name    text NOT NULL,
	local       boolean NOT NULL DEFAULT false,
	last_value  int8 NOT NULL,
	PRIMARY KEY (queue_name, seq_name)
);

-- One row per EXECUTE file: a file runs once per node, whichever queue
-- brings it (the key is the file alone, as in londiste 3.8).
CREATE TABLE IF NOT EXISTS londiste.applied_execute (
	queue_name    text NOT NULL,
	execute_file  text NOT NULL,
	execute_time  timestamptz NOT NULL DEFAULT now(),
	execute_sql   text NOT NULL,
	execute_attrs text,
	PRIMARY KEY (execute_file)
);

CREATE TABLE IF NOT EXISTS londiste.pending_fkeys (
	from_table text NOT NULL,
	to_table   text NOT NULL,
	fkey_name  text NOT NULL,
	fkey_def   text NOT NULL,
	PRIMARY KEY (from_table, fkey_name)
);

DO $fk$
BEGIN
	IF to_regclass('pgq_node.node_info') IS NULL THEN
		RETURN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
			WHERE conrelid = 'londiste.table_info'::pg_catalog.regclass
			  AND conname = 'table_info_queue_name_fkey') THEN
		ALTER TABLE londiste.table_info ADD CONSTRAINT table_info_queue_name_fkey
			FOREIGN KEY (queue_name) REFERENCES pgq_node.node_info (queue_name)
			ON DELETE CASCADE;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
			WHERE conrelid = 'londiste.seq_info'::pg_catalog.regclass
			  AND conname = 'seq_info_queue_name_fkey') THEN
		ALTER TABLE londiste.seq_info ADD CONSTRAINT seq_info_queue_name_fkey
			FOREIGN KEY (queue_name) REFERENCES pgq_node.node_info (queue_name)
			ON DELETE CASCADE;
	END IF;
END
$fk$;

-- The original's roles: londiste_writer (setup tool, replay) is a
-- pgq_admin, londiste_reader (a node below reading the table list) a
-- pgq_reader.  Roles are per cluster: made once, members only where
-- PgQ's roles exist.
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'londiste_writer') THEN
		CREATE ROLE londiste_writer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'londiste_reader') THEN
		CREATE ROLE londiste_reader NOLOGIN;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgq_admin')
	   AND NOT pg_catalog.pg_has_role('londiste_writer', 'pgq_admin', 'MEMBER') THEN
		GRANT pgq_admin TO londiste_writer;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgq_reader')
	   AND NOT pg_catalog.pg_has_role('londiste_reader', 'pgq_reader', 'MEMBER') THEN
		GRANT pgq_reader TO londiste_reader;
	END IF;
END
$roles$;

-- Names as londiste 3 writes them: the first dot separates the schema,
-- no dot means public.
CREATE OR REPLACE FUNCTION londiste.make_fqname(i_name text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT CASE WHEN strpos(i_name, '.') > 0 THEN i_name ELSE 'public.' || i_name END
$$;

CREATE OR REPLACE FUNCTION londiste.split_fqname(i_fqname text,
	OUT schema_part text, OUT name_part text)
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT CASE WHEN strpos(i_fqname, '.') > 0
			THEN left(i_fqname, strpos(i_fqname, '.') - 1) ELSE 'public' END,
	       CASE WHEN strpos(i_fqname, '.') > 0
			THEN substr(i_fqname, strpos(i_fqname, '.') + 1) ELSE i_fqname END
$$;

CREATE OR REPLACE FUNCTION londiste.quote_fqname(i_name text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT quote_ident(s.schema_part) || '.' || quote_ident(s.name_part)
	  FROM londiste.split_fqname(i_name) s
$$;

-- The first dot separates the schema; when that finds nothing, a schema
-- name with dots in it is tried too (the shortest first, londiste._rel),
-- so that every name pgq.logutriga writes is found.
CREATE OR REPLACE FUNCTION londiste.find_rel_oid(i_fqname text, i_kind text)
RETURNS oid LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT londiste._rel(londiste.make_fqname(i_fqname), i_kind)
$$;

-- A partitioned table is a table here too (londiste 3.8 predates them).
CREATE OR REPLACE FUNCTION londiste.find_table_oid(tbl text)
RETURNS oid LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT coalesce(londiste.find_rel_oid(tbl, 'r'), londiste.find_rel_oid(tbl, 'p'))
$$;

CREATE OR REPLACE FUNCTION londiste.find_seq_oid(seq text)
RETURNS oid LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT londiste.find_rel_oid(seq, 'S')
$$;

-- 'k' for a primary key column, 'v' for the others, in column order.
CREATE OR REPLACE FUNCTION londiste.find_column_types(tbl text)
RETURNS text LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT coalesce(string_agg(CASE WHEN EXISTS (
			SELECT 1 FROM pg_index i
			 WHERE i.indrelid = a.attrelid AND i.indisprimary
			   AND a.attnum = ANY (i.indkey)) THEN 'k' ELSE 'v' END, '' ORDER BY a.attnum), '')
	  FROM pg_attribute a
	 WHERE a.attrelid = londiste.find_table_oid(tbl) AND a.attnum > 0 AND NOT a.attisdropped
$$;

CREATE OR REPLACE FUNCTION londiste.is_replica_func(func_oid oid)
RETURNS boolean LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT EXISTS (SELECT 1 FROM pg_proc f JOIN pg_namespace n ON n.oid = f.pronamespace
		WHERE f.oid = func_oid AND n.nspname = 'pgq'
		  AND f.proname IN ('sqltriga', 'logutriga', 'jsontriga'))
$$;

-- The API level (the original reports its extension's version; the
-- original replay compares it with 3.7 to pick its fkey restore).
CREATE OR REPLACE FUNCTION londiste.version()
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$ SELECT '3.8'::text $$;

-- Brings tables of an older install up to this layout (re-running the
-- install does it too); returns 0 as the original does.
CREATE OR REPLACE FUNCTION londiste.upgrade_schema()
RETURNS int4 LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
BEGIN
	ALTER TABLE londiste.table_info ADD COLUMN IF NOT EXISTS dest_table text;
	ALTER TABLE londiste.applied_execute ADD COLUMN IF NOT EXISTS execute_attrs text;
	RETURN 0;
END $$;

-- Whole-node helper of the original replay: only the three values, so
-- SECURITY DEFINER lends no more than switching replica mode.
CREATE OR REPLACE FUNCTION londiste.set_session_replication_role(val text, is_local bool)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, londiste, pg_temp AS $$
BEGIN
	IF val NOT IN ('origin', 'replica', 'local') THEN
		RAISE EXCEPTION 'bad value for session_replication_role';
	END IF;
	PERFORM set_config('session_replication_role', val, coalesce(is_local, false));
END $$;
