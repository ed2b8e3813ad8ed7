-- Name resolution shared by provider and subscriber.

-- The canonical name (schema.relation, unquoted, as pgq.logutriga writes
-- it) of a relation of one of the given kinds.  Accepts the canonical
-- form itself, a bare name (schema public), or SQL syntax with quotes.
CREATE OR REPLACE FUNCTION londiste.find_rel(i_name text, i_kinds text)
RETURNS text LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	res text;
	oid_ oid;
BEGIN
	SELECT n.nspname || '.' || c.relname INTO res
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname || '.' || c.relname = i_name
	   AND strpos(i_kinds, c.relkind::text) > 0
	 LIMIT 1;
	IF res IS NOT NULL THEN
		RETURN res;
	END IF;
	SELECT n.nspname || '.' || c.relname INTO res
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = 'public' AND c.relname = i_name
	   AND strpos(i_kinds, c.relkind::text) > 0;
	IF res IS NOT NULL THEN
		RETURN res;
	END IF;
	BEGIN
		oid_ := to_regclass(i_name);
	EXCEPTION WHEN OTHERS THEN
		oid_ := NULL;
	END;
	SELECT n.nspname || '.' || c.relname INTO res
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = oid_ AND strpos(i_kinds, c.relkind::text) > 0;
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

-- The regclass of a canonical name (exact match only).
CREATE OR REPLACE FUNCTION londiste.rel_oid(i_name text)
RETURNS regclass LANGUAGE sql STABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT c.oid::regclass
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname || '.' || c.relname = i_name
	 LIMIT 1
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
	 WHERE n.nspname || '.' || c.relname = i_name
	 LIMIT 1
$$;
