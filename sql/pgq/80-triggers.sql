-- Row-change triggers: logutriga (url-encoded rows, Londiste's format),
-- sqltriga (SQL fragments) and jsontriga (JSON).
--
-- Trigger arguments: the queue name first, then any of
--   SKIP          in a BEFORE trigger: queue the event, skip the change
--   deny          refuse every change (a read-only replica table)
--   backup        U events carry the old row in ev_extra2
--   ignore=a,b    columns left out of the event; an UPDATE that changes
--                 only these queues nothing
--   pkey=a,b      key columns when the table has no primary key
--   when=EXPR     queue only rows for which EXPR (over the columns) is true
--   ev_type=EXPR, ev_data=EXPR, ev_extra1..4=EXPR
--                 override that event field with EXPR
-- (EXPR runs with search_path pg_catalog, pgq, pg_temp, as all of this
-- file: objects in public cannot stand in for what it calls.)
-- ev_extra1 is the table as schema.table, unquoted, exactly as the
-- original PgQ writes it (Londiste matches it by text equality; a dot
-- inside a name makes it ambiguous there, as in PgQ).  TRUNCATE (a
-- statement trigger) queues ev_type 'R'.
--
-- As in PgQ: logutriga and jsontriga refuse an UPDATE or DELETE on a
-- table without a key (no primary key and no pkey=), since the event
-- could not say which row changed; the deprecated columns _pgq_ev_type,
-- _pgq_ev_data and _pgq_ev_extra1 .. 4 give the event field of that
-- name (before any ev_*=EXPR) and are left out of the row data; and
-- with session_replication_role 'local' the triggers queue nothing (in
-- 'replica' PostgreSQL fires only triggers enabled for replicas, which
-- then queue as usual).

-- application/x-www-form-urlencoded, lower-case hex, in the database
-- encoding: letters, digits, '_', '.', '-' pass, space is '+'.
CREATE OR REPLACE FUNCTION pgq._urlenc(s text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN s ~ '^[A-Za-z0-9_.-]*$' THEN s ELSE
		(SELECT string_agg(CASE
			WHEN c ~ '^[A-Za-z0-9_.-]$' THEN c
			WHEN c = ' ' THEN '+'
			ELSE regexp_replace(encode(convert_to(c, current_setting('server_encoding')), 'hex'),
				'(..)', '%\1', 'g') END, '' ORDER BY n)
		   FROM regexp_split_to_table(s, '') WITH ORDINALITY AS x(c, n))
	END
$$;

-- The text form of each of a row's columns (the type's output function,
-- as format's %s gives it: a ::text cast spells booleans differently),
-- NULL for NULL.  Asked of the row itself, column by column: parsing the
-- row's text form cannot tell a leading NULL from an empty first field.
-- The query is built once per trigger call and run for NEW and OLD.
DROP FUNCTION IF EXISTS pgq._row_values(text);
DROP FUNCTION IF EXISTS pgq._row_values(record, text[]);
CREATE OR REPLACE FUNCTION pgq._row_values_sql(i_cols text[])
RETURNS text LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp AS $$
	SELECT 'SELECT ARRAY[' ||
		string_agg(format('CASE WHEN num_nulls(%1$I) = 0 THEN format(''%%s'', %1$I) END', c),
			', ' ORDER BY k) ||
		']::text[] FROM (SELECT ($1).*) _row'
	  FROM unnest(i_cols) WITH ORDINALITY AS u(c, k)
$$;

CREATE OR REPLACE FUNCTION pgq._table_name(i_relid oid)
RETURNS text LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp AS $$
	SELECT n.nspname || '.' || c.relname
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = i_relid
$$;

-- Evaluate a trigger argument's expression over one row.
CREATE OR REPLACE FUNCTION pgq._row_expr(i_expr text, i_row record)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	res text;
BEGIN
	EXECUTE 'SELECT (' || i_expr || ')::text FROM (SELECT ($1).*) _row' INTO res USING i_row;
	RETURN res;
END
$$;

-- The primary key's columns in index order, '{}' for none.
CREATE OR REPLACE FUNCTION pgq._pkey_columns(i_relid oid)
RETURNS text[] LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(array_agg(a.attname::text ORDER BY array_position(x.indkey::int2[], a.attnum)), '{}')
	  FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = ANY (x.indkey)
	 WHERE x.indrelid = i_relid AND x.indisprimary
$$;

-- A trigger's arguments (TG_ARGV): the queue name, then the options
-- above.  A statement trigger (i_row false) honours only deny and pkey=
-- and passes over the rest.  ov_fields[i] is the event field (1 ev_type,
-- 2 ev_data, 3 .. 6 ev_extra1 .. 4) that the expression ov_exprs[i] sets.
CREATE OR REPLACE FUNCTION pgq._trigger_args(i_args text[], i_relid oid, i_op text, i_row boolean,
	OUT queue text, OUT skip boolean, OUT backup boolean, OUT ignore text[], OUT pkey text[],
	OUT when_expr text, OUT ov_fields integer[], OUT ov_exprs text[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	arg text;
BEGIN
	-- TG_ARGV counts from 0
	i_args := ARRAY(SELECT unnest(i_args));
	queue := i_args[1];
	IF queue IS NULL THEN
		RAISE EXCEPTION 'pgq trigger on %: queue name argument missing', pgq._table_name(i_relid);
	END IF;
	skip := false;
	backup := false;
	ignore := '{}';
	ov_fields := '{}';
	ov_exprs := '{}';
	FOREACH arg IN ARRAY i_args[2:] LOOP
		IF arg = 'deny' THEN
			RAISE EXCEPTION 'Table ''%'' to queue ''%'': change not allowed (%)',
				pgq._table_name(i_relid), queue, i_op USING ERRCODE = '42501';
		ELSIF arg LIKE 'pkey=%' THEN
			pkey := string_to_array(substr(arg, 6), ',');
		ELSIF NOT i_row THEN
			CONTINUE;
		ELSIF arg = 'SKIP' THEN
			skip := true;
		ELSIF arg = 'backup' THEN
			backup := true;
		ELSIF arg LIKE 'ignore=%' THEN
			ignore := string_to_array(substr(arg, 8), ',');
		ELSIF arg LIKE 'when=%' THEN
			when_expr := substr(arg, 6);
		ELSIF arg ~ '^(ev_type|ev_data|ev_extra[1-4])=' THEN
			ov_fields := ov_fields || array_position(
				ARRAY['ev_type', 'ev_data', 'ev_extra1', 'ev_extra2', 'ev_extra3', 'ev_extra4'],
				split_part(arg, '=', 1));
			ov_exprs := ov_exprs || substr(arg, position('=' IN arg) + 1);
		ELSE
			RAISE EXCEPTION 'pgq trigger on %: unknown argument "%"', pgq._table_name(i_relid), arg
				USING ERRCODE = '22023';
		END IF;
	END LOOP;
	IF pkey IS NULL THEN
		pkey := pgq._pkey_columns(i_relid);
	END IF;
END
$$;

-- The table's columns and their types, in order, and which of them are
-- the deprecated _pgq_ev_* columns (an unknown one is an error).
CREATE OR REPLACE FUNCTION pgq._table_columns(i_relid oid, OUT cols text[], OUT types oid[], OUT magic text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	m text;
BEGIN
	SELECT array_agg(a.attname::text ORDER BY a.attnum), array_agg(a.atttypid ORDER BY a.attnum)
	  INTO cols, types
	  FROM pg_attribute a WHERE a.attrelid = i_relid AND a.attnum > 0 AND NOT a.attisdropped;
	magic := ARRAY(SELECT c FROM unnest(cols) c WHERE c LIKE '\_pgq\_ev\_%');
	FOREACH m IN ARRAY magic LOOP
		IF NOT m IN ('_pgq_ev_type', '_pgq_ev_data', '_pgq_ev_extra1', '_pgq_ev_extra2',
		             '_pgq_ev_extra3', '_pgq_ev_extra4') THEN
			RAISE EXCEPTION 'Unknown magic column: %', m USING ERRCODE = '22023';
		END IF;
	END LOOP;
END
$$;

-- An UPDATE: refuses a change of the key; true when only ignored
-- columns changed, which tells nothing.
CREATE OR REPLACE FUNCTION pgq._only_ignored_changed(i_cols text[], i_nv text[], i_ov text[],
	i_pkey text[], i_leave_out text[], i_ignore text[])
RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	changed boolean := false;
	anydiff boolean := false;
BEGIN
	FOR i IN 1 .. coalesce(array_length(i_cols, 1), 0) LOOP
		IF i_nv[i] IS DISTINCT FROM i_ov[i] THEN
			anydiff := true;
			IF i_cols[i] = ANY (i_pkey) THEN
				RAISE EXCEPTION 'primary key update not allowed' USING ERRCODE = '0A000';
			END IF;
			IF NOT i_cols[i] = ANY (i_leave_out) THEN
				changed := true;
			END IF;
		END IF;
	END LOOP;
	RETURN NOT changed AND coalesce(array_length(i_ignore, 1), 0) > 0 AND anydiff;
END
$$;

-- logutriga's row: col=val pairs joined by '&', a NULL value the bare
-- name; NULL when every column is left out.
CREATE OR REPLACE FUNCTION pgq._urlenc_row(i_cols text[], i_vals text[], i_leave_out text[])
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT string_agg(pgq._urlenc(i_cols[k]) || coalesce('=' || pgq._urlenc(i_vals[k]), ''), '&' ORDER BY k)
	  FROM generate_subscripts(i_cols, 1) k
	 WHERE NOT i_cols[k] = ANY (i_leave_out)
$$;

-- sqltriga's ev_data: "(cols) values (vals)", "k=v and ...", or
-- "a=v,... where k=v and ...".
CREATE OR REPLACE FUNCTION pgq._sql_data(i_op text, i_cols text[], i_nv text[], i_ov text[],
	i_pkey text[], i_leave_out text[], i_table text)
RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	res text;
	setc text;
BEGIN
	IF i_op <> 'I' AND coalesce(array_length(i_pkey, 1), 0) = 0 THEN
		RAISE EXCEPTION 'pgq.sqltriga: table % has no primary key (give pkey=)',
			i_table USING ERRCODE = '55000';
	END IF;
	IF i_op = 'I' THEN
		SELECT '(' || string_agg(quote_ident(i_cols[k]), ',' ORDER BY k) || ') values ('
		       || string_agg(coalesce(quote_literal(i_nv[k]), 'null'), ',' ORDER BY k) || ')'
		  INTO res
		  FROM generate_subscripts(i_cols, 1) k WHERE NOT i_cols[k] = ANY (i_leave_out);
		RETURN res;
	END IF;
	SELECT string_agg(quote_ident(i_cols[k]) || '=' || quote_literal(i_ov[k]), ' and ' ORDER BY k)
	  INTO res
	  FROM generate_subscripts(i_cols, 1) k WHERE i_cols[k] = ANY (i_pkey);
	IF i_op = 'D' THEN
		RETURN res;
	END IF;
	SELECT string_agg(quote_ident(i_cols[k]) || '=' || coalesce(quote_literal(i_nv[k]), 'null'), ',' ORDER BY k)
	  INTO setc
	  FROM generate_subscripts(i_cols, 1) k
	 WHERE NOT i_cols[k] = ANY (i_leave_out) AND i_nv[k] IS DISTINCT FROM i_ov[k];
	IF setc IS NULL THEN
		-- nothing changed: a no-op assignment keeps the SQL valid
		setc := quote_ident(i_pkey[1]) || '=' || quote_literal(i_nv[array_position(i_cols, i_pkey[1])]);
	END IF;
	RETURN setc || ' where ' || res;
END
$$;

-- The work of all three row triggers.  Returns true when the change
-- itself is to be skipped (SKIP).
CREATE OR REPLACE FUNCTION pgq._row_event(i_format text, i_args text[], i_relid oid,
	i_op text, i_new record, i_old record)
RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	op text := left(i_op, 1);
	a record;
	t record;
	row_r record;
	values_sql text;
	nv text[];
	ov text[];
	v text[];
	leave_out text[];
	ev text[];	-- ev_type, ev_data, ev_extra1 .. ev_extra4
BEGIN
	SELECT * INTO a FROM pgq._trigger_args(i_args, i_relid, i_op, true);
	IF op <> 'I' AND i_format <> 'sql' AND coalesce(array_length(a.pkey, 1), 0) = 0 THEN
		RAISE EXCEPTION 'Update/Delete on table without pkey' USING ERRCODE = '55000';
	END IF;
	row_r := CASE WHEN op = 'D' THEN i_old ELSE i_new END;
	IF a.when_expr IS NOT NULL AND NOT coalesce(pgq._row_expr(a.when_expr, row_r)::boolean, false) THEN
		RETURN false;
	END IF;

	SELECT * INTO t FROM pgq._table_columns(i_relid);
	leave_out := a.ignore || t.magic;
	values_sql := pgq._row_values_sql(t.cols);
	IF op <> 'D' THEN EXECUTE values_sql INTO nv USING i_new; END IF;
	IF op <> 'I' THEN EXECUTE values_sql INTO ov USING i_old; END IF;
	IF op = 'U' AND pgq._only_ignored_changed(t.cols, nv, ov, a.pkey, leave_out, a.ignore) THEN
		RETURN false;
	END IF;
	v := CASE WHEN op = 'D' THEN ov ELSE nv END;

	ev := ARRAY[NULL, NULL, pgq._table_name(i_relid), NULL, NULL, NULL];
	IF i_format = 'urlenc' THEN
		ev[1] := op || ':' || array_to_string(a.pkey, ',');
		ev[2] := pgq._urlenc_row(t.cols, v, leave_out);
		IF op = 'U' AND a.backup THEN
			ev[4] := pgq._urlenc_row(t.cols, ov, leave_out);
		END IF;
	ELSIF i_format = 'sql' THEN
		ev[1] := op;
		ev[2] := pgq._sql_data(op, t.cols, nv, ov, a.pkey, leave_out, ev[3]);
	ELSE
		ev[1] := pgq._json_type(CASE op WHEN 'I' THEN 'INSERT' WHEN 'U' THEN 'UPDATE' ELSE 'DELETE' END,
			i_relid, a.pkey);
		ev[2] := pgq._json_row(t.cols, t.types, v, leave_out);
		IF op = 'U' AND a.backup THEN
			ev[4] := pgq._json_row(t.cols, t.types, ov, leave_out);
		END IF;
	END IF;

	-- the _pgq_ev_* columns, then the ev_*=EXPR arguments
	FOR i IN 1 .. coalesce(array_length(t.cols, 1), 0) LOOP
		IF t.cols[i] = ANY (t.magic) THEN
			ev[array_position(ARRAY['_pgq_ev_type', '_pgq_ev_data', '_pgq_ev_extra1',
				'_pgq_ev_extra2', '_pgq_ev_extra3', '_pgq_ev_extra4'], t.cols[i])] := v[i];
		END IF;
	END LOOP;
	FOR i IN 1 .. coalesce(array_length(a.ov_fields, 1), 0) LOOP
		ev[a.ov_fields[i]] := pgq._row_expr(a.ov_exprs[i], row_r);
	END LOOP;

	PERFORM pgq.insert_event(a.queue, ev[1], ev[2], ev[3], ev[4], ev[5], ev[6]);
	RETURN a.skip;
END
$$;

-- Numbers (integers) and booleans as JSON values, timestamps in JSON's
-- ISO form, everything else as the string of its text form.
CREATE OR REPLACE FUNCTION pgq._json_row(i_cols text[], i_types oid[], i_vals text[], i_ignore text[])
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT '{' || coalesce(string_agg(to_json(i_cols[k])::text || ':' || CASE
		WHEN i_vals[k] IS NULL THEN 'null'
		WHEN i_types[k] IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN i_vals[k]::json
		WHEN i_types[k] = 'bool'::regtype THEN to_json(i_vals[k]::boolean)
		WHEN i_types[k] = 'timestamptz'::regtype THEN to_json(i_vals[k]::timestamptz)
		WHEN i_types[k] = 'timestamp'::regtype THEN to_json(i_vals[k]::timestamp)
		ELSE to_json(i_vals[k]) END::text, ',' ORDER BY k), '') || '}'
	  FROM generate_subscripts(i_cols, 1) k
	 WHERE NOT i_cols[k] = ANY (i_ignore)
$$;

CREATE OR REPLACE FUNCTION pgq._json_type(i_op text, i_relid oid, i_pkey text[])
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT '{"op":' || to_json(i_op)::text || ',"table":[' || to_json(n.nspname::text)::text
	       || ',' || to_json(c.relname::text)::text || '],"pkey":' || array_to_json(i_pkey)::text || '}'
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = i_relid
$$;

CREATE OR REPLACE FUNCTION pgq._truncate_event(i_format text, i_args text[], i_relid oid)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	a record;
BEGIN
	SELECT * INTO a FROM pgq._trigger_args(i_args, i_relid, 'TRUNCATE', false);
	IF i_format = 'json' THEN
		PERFORM pgq.insert_event(a.queue, pgq._json_type('TRUNCATE', i_relid, a.pkey),
			'{}', pgq._table_name(i_relid), NULL, NULL, NULL);
	ELSE
		PERFORM pgq.insert_event(a.queue, 'R', '', pgq._table_name(i_relid), NULL, NULL, NULL);
	END IF;
END
$$;

-- The body of the three triggers: queues the event, and says whether
-- the trigger returns NULL (a statement trigger, or SKIP in a BEFORE
-- trigger) rather than the row.
CREATE OR REPLACE FUNCTION pgq._trigger(i_format text, i_level text, i_when text, i_op text,
	i_args text[], i_relid oid, i_new record, i_old record)
RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
BEGIN
	IF current_setting('session_replication_role') = 'local' THEN
		RETURN i_level = 'STATEMENT';
	END IF;
	IF i_level = 'STATEMENT' THEN
		PERFORM pgq._truncate_event(i_format, i_args, i_relid);
		RETURN true;
	END IF;
	RETURN pgq._row_event(i_format, i_args, i_relid, i_op, i_new, i_old) AND i_when = 'BEFORE';
END
$$;

CREATE OR REPLACE FUNCTION pgq.logutriga()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF pgq._trigger('urlenc', TG_LEVEL, TG_WHEN, TG_OP, TG_ARGV, TG_RELID, NEW, OLD) THEN
		RETURN NULL;
	END IF;
	RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE OR REPLACE FUNCTION pgq.sqltriga()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF pgq._trigger('sql', TG_LEVEL, TG_WHEN, TG_OP, TG_ARGV, TG_RELID, NEW, OLD) THEN
		RETURN NULL;
	END IF;
	RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE OR REPLACE FUNCTION pgq.jsontriga()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF pgq._trigger('json', TG_LEVEL, TG_WHEN, TG_OP, TG_ARGV, TG_RELID, NEW, OLD) THEN
		RETURN NULL;
	END IF;
	RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
