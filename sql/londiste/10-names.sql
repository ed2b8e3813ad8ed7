-- Name resolution shared by provider and subscriber.

-- The relation a canonical name (schema.relation, unquoted, as
-- pgq.logutriga writes it) stands for, among the given kinds.  A dot in
-- a schema or relation name makes the text ambiguous ("a.b.c" is schema
-- a, relation "b.c" or schema "a.b", relation c): the match with the
-- shortest schema name wins, which is the split at the first dot
-- whenever that relation exists (as the original Skytools splits), and
-- never a relation of another kind, so a later object cannot take over
-- a replicated table's name.
CREATE OR REPLACE FUNCTION londiste._rel(i_name text, i_kinds text)
RETURNS oid LANGUAGE sql STABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT c.oid
	  FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid
	 WHERE starts_with(i_name, n.nspname || '.')
	   AND c.relname = substr(i_name, length(n.nspname) + 2)
	   AND strpos(i_kinds, c.relkind::text) > 0
	 ORDER BY length(n.nspname)
	 LIMIT 1
$$;

-- The canonical name of a relation of one of the given kinds.  Accepts
-- the canonical form itself, a bare name without a dot (schema public),
-- or SQL syntax with quotes (schema public when not given).  The
-- caller's search_path plays no part.
CREATE OR REPLACE FUNCTION londiste.find_rel(i_name text, i_kinds text)
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	res text;
	oid_ oid;
	parts text[];
BEGIN
	oid_ := londiste._rel(i_name, i_kinds);
	IF oid_ IS NULL AND strpos(i_name, '.') = 0 THEN
		oid_ := londiste._rel('public.' || i_name, i_kinds);
	END IF;
	IF oid_ IS NULL THEN
		BEGIN
			parts := parse_ident(i_name);
		EXCEPTION WHEN OTHERS THEN
			parts := NULL;
		END;
		IF cardinality(parts) = 1 THEN
			parts := ARRAY['public'] || parts;
		END IF;
		SELECT c.oid INTO oid_
		  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE cardinality(parts) = 2 AND n.nspname = parts[1] AND c.relname = parts[2]
		   AND strpos(i_kinds, c.relkind::text) > 0;
	END IF;
	SELECT n.nspname || '.' || c.relname INTO res
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = oid_;
	IF res IS NULL THEN
		RAISE EXCEPTION 'no such %: %',
			CASE WHEN i_kinds = 'S' THEN 'sequence' ELSE 'table' END, i_name
			USING ERRCODE = 'undefined_table';
	END IF;
	RETURN res;
END $$;

CREATE OR REPLACE FUNCTION londiste.find_table(i_name text)
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$ SELECT londiste.find_rel(i_name, 'rp') $$;

CREATE OR REPLACE FUNCTION londiste.find_seq(i_name text)
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$ SELECT londiste.find_rel(i_name, 'S') $$;

-- The table or sequence of a canonical name (exact match only).
CREATE OR REPLACE FUNCTION londiste.rel_oid(i_name text)
RETURNS regclass LANGUAGE sql STABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT londiste._rel(i_name, 'rpS')::regclass
$$;

-- Primary key columns of a table, in key order.
CREATE OR REPLACE FUNCTION londiste.pkey_columns(i_oid regclass)
RETURNS text[] LANGUAGE sql STABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT array_agg(a.attname::text ORDER BY k.ord)
	  FROM pg_index i
	  CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
	  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
	 WHERE i.indrelid = i_oid AND i.indisprimary
$$;

-- Replicated columns of a table, in table order (no dropped or generated ones).
CREATE OR REPLACE FUNCTION londiste.table_columns(i_oid regclass)
RETURNS text[] LANGUAGE sql STABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT array_agg(a.attname::text ORDER BY a.attnum)
	  FROM pg_attribute a
	 WHERE a.attrelid = i_oid AND a.attnum > 0 AND NOT a.attisdropped
	   AND a.attgenerated = ''
$$;

-- A canonical name quoted for SQL, schema always spelled out.
CREATE OR REPLACE FUNCTION londiste.quoted_name(i_name text)
RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT format('%I.%I', n.nspname, c.relname)
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = londiste._rel(i_name, 'rpS')
$$;
