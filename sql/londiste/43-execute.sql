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

-- EXECUTE attributes, as londiste 3 takes them from the head of a file:
-- lines "--*-- Key: value, value" (a line ending in ',' goes on in the
-- next "--*--" line) before the first line that is not a comment.
-- Keys: Local-Table, Local-Sequence, Local-Destination, Need-Table,
-- Need-Sequence, Need-Function, Need-Schema, Need-View.  The result is
-- what the root puts into ev_extra2: key=v1,v2 urlencoded, keys lower
-- case in the order they first appear, '' for a file without them.
CREATE OR REPLACE FUNCTION londiste.execute_attrs(i_sql text)
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	ln text;
	k text;
	v text;
	cont_key text;
	keys text[] := '{}';
	vals text[] := '{}';
	i int;
BEGIN
	FOREACH ln IN ARRAY regexp_split_to_array(i_sql, E'\r?\n') LOOP
		ln := btrim(ln, E' \t\r');
		CONTINUE WHEN ln = '';
		EXIT WHEN NOT starts_with(ln, '--');
		CONTINUE WHEN NOT starts_with(ln, '--*--');
		ln := btrim(substr(ln, 6), E' \t');
		CONTINUE WHEN ln = '';
		IF cont_key IS NOT NULL THEN
			k := cont_key;
			v := ln;
		ELSIF strpos(ln, ':') = 0 THEN
			CONTINUE;
		ELSE
			k := lower(btrim(split_part(ln, ':', 1)));
			v := substr(ln, strpos(ln, ':') + 1);
			IF k NOT IN ('local-table', 'local-sequence', 'local-destination',
				     'need-table', 'need-sequence', 'need-function',
				     'need-schema', 'need-view') THEN
				RAISE EXCEPTION 'EXECUTE attributes: invalid key: %', btrim(split_part(ln, ':', 1))
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		END IF;
		i := array_position(keys, k);
		IF i IS NULL THEN
			keys := keys || k;
			vals := vals || ''::text;
			i := cardinality(keys);
		END IF;
		SELECT concat_ws(',', nullif(vals[i], ''), nullif(string_agg(btrim(x), ','), ''))
		  INTO v
		  FROM unnest(string_to_array(v, ',')) x WHERE btrim(x) <> '';
		vals[i] := v;
		cont_key := CASE WHEN right(ln, 1) = ',' THEN k END;
	END LOOP;
	RETURN coalesce((SELECT string_agg(pgq._urlenc(keys[j]) || '=' || pgq._urlenc(vals[j]), '&' ORDER BY j)
			   FROM generate_subscripts(keys, 1) j), '');
END $$;

-- application/x-www-form-urlencoded back to text ('+' is a space, %XX a
-- byte of the database encoding).
CREATE OR REPLACE FUNCTION londiste._urldec(s text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(convert_from(string_agg(CASE WHEN m[1] IS NOT NULL THEN decode(m[1], 'hex')
			ELSE convert_to(m[2], current_setting('server_encoding')) END, ''::bytea ORDER BY n),
		current_setting('server_encoding')), '')
	  FROM regexp_matches(replace(s, '+', ' '), '%([0-9A-Fa-f]{2})|([^%]+|%)', 'g')
	       WITH ORDINALITY AS x(m, n)
$$;

-- The script of an EXECUTE event as this node runs it, or NULL when it
-- is not for this node, decided as londiste 3 does from its attributes
-- (i_attrs, urlencoded as ev_extra2 carries them): without attributes
-- it runs everywhere; each value names an object (no schema: public)
-- that is tested here -- Local-Table and Local-Sequence: replicated on
-- this node; Local-Destination: replicated and its table here exists;
-- Need-Table, -Sequence, -View, -Schema: exists; Need-Function
-- name(nargs): a function of that many arguments exists.  All found:
-- it runs, with each @name@ of a Local-* value replaced by the quoted
-- name of the table here (dest_table); none found: it does not run;
-- some of both: an error, as in londiste 3.  One difference: the
-- original qualifies a Need-Schema name too (public.name), so that it
-- never matches; here it is the schema's name.
CREATE OR REPLACE FUNCTION londiste.execute_local_sql(i_queue_name text, i_attrs text,
	i_sql text)
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	a record;
	fq text;
	sch text;
	nm text;
	nargs int;
	ok boolean;
	good text[] := '{}';
	miss text[] := '{}';
	local_name text;
	res text := i_sql;
BEGIN
	FOR a IN
		SELECT londiste._urldec(split_part(kv, '=', 1)) AS k, btrim(v) AS v, o
		  FROM unnest(string_to_array(coalesce(i_attrs, ''), '&')) WITH ORDINALITY AS p(kv, o),
		       unnest(string_to_array(londiste._urldec(substr(kv, strpos(kv, '=') + 1)), ',')) v
		 WHERE kv <> '' AND strpos(kv, '=') > 0
		 ORDER BY array_position(ARRAY['local-table', 'local-sequence', 'local-destination',
			'need-table', 'need-sequence', 'need-function', 'need-schema', 'need-view'],
			lower(londiste._urldec(split_part(kv, '=', 1)))), o
	LOOP
		CONTINUE WHEN a.v = '';
		fq := CASE WHEN strpos(a.v, '.') = 0 THEN 'public.' || a.v ELSE a.v END;
		sch := split_part(fq, '.', 1);
		nm := substr(fq, strpos(fq, '.') + 1);
		local_name := NULL;
		CASE lower(a.k)
		WHEN 'local-table', 'local-destination' THEN
			SELECT coalesce(t.dest_table, t.table_name) INTO local_name
			  FROM londiste.table_info t
			 WHERE t.queue_name = i_queue_name AND t.local AND t.table_name = fq;
			ok := local_name IS NOT NULL;
			IF ok AND lower(a.k) = 'local-destination' THEN
				ok := EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
					WHERE c.relkind = 'r'
					  AND n.nspname = split_part(local_name, '.', 1)
					  AND c.relname = substr(local_name, strpos(local_name, '.') + 1));
			END IF;
		WHEN 'local-sequence' THEN
			SELECT s.seq_name INTO local_name FROM londiste.seq_info s
			 WHERE s.queue_name = i_queue_name AND s.local AND s.seq_name = fq;
			ok := local_name IS NOT NULL;
		WHEN 'need-table', 'need-sequence', 'need-view' THEN
			ok := EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname = sch AND c.relname = nm
				  AND c.relkind = CASE lower(a.k) WHEN 'need-table' THEN 'r'
					WHEN 'need-sequence' THEN 'S' ELSE 'v' END::"char");
		WHEN 'need-schema' THEN
			ok := EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = a.v);
		WHEN 'need-function' THEN
			nargs := 0;
			IF strpos(nm, '(') > 1 AND strpos(nm, ')') > 0 THEN
				nargs := substr(nm, strpos(nm, '(') + 1,
					strpos(nm, ')') - strpos(nm, '(') - 1)::int;
				nm := left(nm, strpos(nm, '(') - 1);
			END IF;
			ok := EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
				WHERE n.nspname = sch AND p.proname = nm AND p.pronargs = nargs);
		ELSE
			RAISE EXCEPTION 'EXECUTE attributes: invalid key: %', a.k
				USING ERRCODE = 'invalid_parameter_value';
		END CASE;
		IF ok THEN
			good := good || a.v;
			IF local_name IS NOT NULL THEN
				res := replace(res, '@' || a.v || '@',
					quote_ident(split_part(local_name, '.', 1)) || '.'
					|| quote_ident(substr(local_name, strpos(local_name, '.') + 1)));
			END IF;
		ELSE
			miss := miss || a.v;
		END IF;
	END LOOP;
	IF cardinality(good) > 0 AND cardinality(miss) > 0 THEN
		RAISE EXCEPTION 'SQL only partially matches local setup: matches=% misses=%', good, miss;
	END IF;
	RETURN CASE WHEN cardinality(miss) > 0 THEN NULL ELSE res END;
END $$;
