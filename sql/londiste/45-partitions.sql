-- Londiste 3: helpers of the partitioning handlers (inheritance children
-- named PARENT_YYYY[_MM[_DD[_HH]]]), as londiste 3.8 offers them.

-- The name suffix of a period's partitions: to_char format and pattern.
CREATE OR REPLACE FUNCTION londiste._part_suffix(i_period text, OUT dfmt text, OUT expr text)
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, londiste, pg_temp AS $$
BEGIN
	CASE
	WHEN i_period IN ('year', 'yearly') THEN
		dfmt := '_YYYY'; expr := '_[0-9]{4}';
	WHEN i_period IN ('month', 'monthly') THEN
		dfmt := '_YYYY_MM'; expr := '_[0-9]{4}_[0-9]{2}';
	WHEN i_period IN ('day', 'daily') THEN
		dfmt := '_YYYY_MM_DD'; expr := '_[0-9]{4}_[0-9]{2}_[0-9]{2}';
	WHEN i_period IN ('hour', 'hourly') THEN
		dfmt := '_YYYY_MM_DD_HH24'; expr := '_[0-9]{4}_[0-9]{2}_[0-9]{2}_[0-9]{2}';
	ELSE
		RAISE EXCEPTION 'not supported i_partition_period: %', i_period;
	END CASE;
END $$;

-- The first occurrence of i_from in i_text replaced.
CREATE OR REPLACE FUNCTION londiste._replace_first(i_text text, i_from text, i_to text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT CASE WHEN strpos(i_text, i_from) = 0 THEN i_text
		ELSE left(i_text, strpos(i_text, i_from) - 1) || i_to
			|| substr(i_text, strpos(i_text, i_from) + length(i_from)) END
$$;

-- Make partition i_part of i_table unless it exists: 1 made, 0 there
-- already.  The child inherits the parent and copies (LIKE ... INCLUDING
-- ALL) its defaults, constraints, indexes, storage and comments, then
-- gets the parent's owner, grants, triggers and rules, and a check of
-- i_part_field within the period of i_part_time (when a field is given).
-- i_pkeys is accepted for the original's signature: the primary key
-- comes with the indexes.  One creation at a time (table_info lock), DML
-- not blocked.
CREATE OR REPLACE FUNCTION londiste.create_partition(i_table text, i_part text,
	i_pkeys text, i_part_field text, i_part_time timestamptz, i_part_period text)
RETURNS int LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	parent oid;
	fq_table text;
	fq_part text;
	p record;
	owner name;
	part_start timestamptz;
	g record;
	tg record;
	r record;
	stmt text;
	mode text;
BEGIN
	IF i_table IS NULL OR i_part IS NULL THEN
		RAISE EXCEPTION 'need table and part';
	END IF;
	fq_table := londiste.quote_fqname(i_table);
	fq_part := londiste.quote_fqname(i_part);
	LOCK TABLE londiste.table_info IN SHARE UPDATE EXCLUSIVE MODE;
	parent := londiste.find_table_oid(londiste.make_fqname(i_table));
	IF parent IS NULL THEN
		RAISE EXCEPTION 'relation "%" does not exist', i_table USING ERRCODE = 'undefined_table';
	END IF;
	SELECT * INTO p FROM londiste.split_fqname(i_part);
	PERFORM 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = p.schema_part AND c.relname = p.name_part;
	IF FOUND THEN
		RETURN 0;
	END IF;

	EXECUTE format('CREATE TABLE %s (LIKE %s INCLUDING ALL) INHERITS (%s)', fq_part, fq_table, fq_table);
	SELECT c.relowner::regrole::name INTO owner FROM pg_class c WHERE c.oid = parent;
	IF owner <> current_user THEN
		EXECUTE format('ALTER TABLE %s OWNER TO %I', fq_part, owner);
	END IF;

	IF i_part_field <> '' THEN
		part_start := date_trunc(i_part_period, i_part_time);
		EXECUTE format('ALTER TABLE %s ADD CHECK (%I >= %L AND %I < %L)', fq_part,
			i_part_field, to_char(part_start, 'YYYY-MM-DD HH24:MI:SS'),
			i_part_field, to_char(part_start + ('1 ' || i_part_period)::interval,
					      'YYYY-MM-DD HH24:MI:SS'));
	END IF;

	FOR g IN SELECT a.grantee, a.privilege_type, a.is_grantable
		   FROM pg_class c, aclexplode(c.relacl) a
		  WHERE c.oid = parent AND a.grantee <> c.relowner
	LOOP
		EXECUTE format('GRANT %s ON %s TO %s%s', g.privilege_type, fq_part,
			CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(g.grantee::regrole::text) END,
			CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;

	-- pg_get_triggerdef and pg_get_ruledef qualify the parent as
	-- fq_table here (search_path is pg_catalog alone).
	FOR tg IN SELECT t.tgname, t.tgenabled, pg_get_triggerdef(t.oid) AS def
		    FROM pg_trigger t WHERE t.tgrelid = parent AND NOT t.tgisinternal
	LOOP
		stmt := londiste._replace_first(tg.def, ' ON ' || fq_table || ' ', ' ON ' || fq_part || ' ');
		IF stmt = tg.def THEN
			RAISE EXCEPTION 'Failed to reconstruct the trigger: %', stmt;
		END IF;
		EXECUTE stmt;
		mode := CASE tg.tgenabled WHEN 'O' THEN NULL WHEN 'D' THEN 'DISABLE'
			WHEN 'A' THEN 'ENABLE ALWAYS' WHEN 'R' THEN 'ENABLE REPLICA' END;
		IF mode IS NOT NULL THEN
			EXECUTE format('ALTER TABLE %s %s TRIGGER %I', fq_part, mode, tg.tgname);
		END IF;
	END LOOP;

	FOR r IN SELECT w.rulename, w.ev_enabled, pg_get_ruledef(w.oid) AS def
		   FROM pg_rewrite w WHERE w.ev_class = parent AND w.rulename <> '_RETURN'
	LOOP
		stmt := londiste._replace_first(r.def, ' TO ' || fq_table || ' ', ' TO ' || fq_part || ' ');
		IF stmt = r.def THEN
			RAISE EXCEPTION 'failed to find original table name';
		END IF;
		EXECUTE stmt;
		mode := CASE r.ev_enabled WHEN 'O' THEN NULL WHEN 'D' THEN 'DISABLE'
			WHEN 'A' THEN 'ENABLE ALWAYS' WHEN 'R' THEN 'ENABLE REPLICA' END;
		IF mode IS NOT NULL THEN
			EXECUTE format('ALTER TABLE %s %s RULE %I', fq_part, mode, r.rulename);
		END IF;
	END LOOP;
	RETURN 1;
END $$;

-- Whether a partition's name lies before the retention period: NULL
-- when the name has no date suffix of the period.
CREATE OR REPLACE FUNCTION londiste.is_obsolete_partition(i_partition_table text,
	i_retention_period interval, i_partition_period text)
RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	s record := londiste._part_suffix(i_partition_period);
	base text := substring(i_partition_table FROM '^(.+)' || s.expr || '$');
BEGIN
	IF base IS NULL THEN
		RETURN NULL;
	END IF;
	RETURN i_partition_table < base || to_char(now() - i_retention_period, s.dfmt);
END $$;

-- The partitions of a parent (same schema, name PARENT + date suffix)
-- older than the retention period, quoted, by name.
CREATE OR REPLACE FUNCTION londiste.list_obsolete_partitions(i_parent_table text,
	i_retention_period interval, i_partition_period text)
RETURNS SETOF text LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	s record := londiste._part_suffix(i_partition_period);
	p record := londiste.split_fqname(i_parent_table);
BEGIN
	RETURN QUERY
	SELECT format('%I.%I', t.schemaname, t.tablename)
	  FROM pg_tables t
	 WHERE t.schemaname = p.schema_part
	   AND starts_with(t.tablename, p.name_part)
	   AND substr(t.tablename, length(p.name_part) + 1) ~ ('^' || s.expr || '$')
	   AND t.tablename < p.name_part || to_char(now() - i_retention_period, s.dfmt)
	 ORDER BY 1;
END $$;

CREATE OR REPLACE FUNCTION londiste.drop_obsolete_partitions(i_parent_table text,
	i_retention_period interval, i_partition_period text)
RETURNS SETOF text LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	part text;
BEGIN
	FOR part IN SELECT londiste.list_obsolete_partitions(i_parent_table, i_retention_period,
							       i_partition_period)
	LOOP
		EXECUTE 'DROP TABLE ' || part;
		RETURN NEXT part;
	END LOOP;
END $$;
