-- Queues: create, drop, configure.

CREATE OR REPLACE FUNCTION pgq.version()
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pgq, pg_temp AS $$ SELECT '3.5.1'::text $$;

-- Lets our C programs tell this implementation from the original PgQ
-- (they use NOTIFY wake-ups only when it is present).
CREATE OR REPLACE FUNCTION pgq.skytools_c_version()
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pgq, pg_temp AS $$ SELECT '0.1.0'::text $$;

-- Wake the queue's waiting consumers.  They LISTEN on the queue name,
-- which the server cuts to 63 bytes on a character boundary, so the
-- NOTIFY goes to the name cut the same way (queues that share such a
-- prefix only wake each other for nothing: waiters look before acting).
CREATE OR REPLACE FUNCTION pgq._wake(i_queue text, i_msg text)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	chan text := i_queue;
BEGIN
	WHILE octet_length(chan) > 63 LOOP
		chan := left(chan, -1);
	END LOOP;
	PERFORM pg_notify(chan, i_msg);
END
$$;

-- The lock every change of a queue's tick chain or tables takes, so
-- that ticks are made one at a time and in snapshot order.
CREATE OR REPLACE FUNCTION pgq._lock_queue(i_queue_name text)
RETURNS pgq.queue LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	q pgq.queue;
BEGIN
	SELECT * INTO q FROM pgq.queue WHERE queue_name = i_queue_name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'No such event queue: %', i_queue_name
			USING ERRCODE = 'P0002';
	END IF;
	RETURN q;
END
$$;

-- Insert one tick; the caller holds the queue's row lock.  The snapshot
-- is taken by this statement, after the lock, so it contains every
-- earlier tick's.
CREATE OR REPLACE FUNCTION pgq._make_tick(i_queue pgq.queue, i_tick_id bigint,
	i_time timestamptz, i_event_seq bigint)
RETURNS bigint LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	prev_xmax bigint;
	new_xmax bigint;
BEGIN
	SELECT txid_snapshot_xmax(tick_snapshot) INTO prev_xmax
	  FROM pgq.tick WHERE tick_queue = i_queue.queue_id
	 ORDER BY tick_id DESC LIMIT 1;
	INSERT INTO pgq.tick (tick_queue, tick_id, tick_time, tick_event_seq)
	VALUES (i_queue.queue_id, i_tick_id, i_time, i_event_seq)
	RETURNING txid_snapshot_xmax(tick_snapshot) INTO new_xmax;
	-- A snapshot older than the last tick's would hand events out twice
	-- (REPEATABLE READ ticker transactions could do that).
	IF prev_xmax IS NOT NULL AND new_xmax < prev_xmax THEN
		RAISE EXCEPTION 'tick snapshot older than the last tick of queue %: use READ COMMITTED',
			i_queue.queue_name USING ERRCODE = '40001';
	END IF;
	PERFORM pgq._wake(i_queue.queue_name, 'tick ' || i_tick_id);
	RETURN i_tick_id;
END
$$;

CREATE OR REPLACE FUNCTION pgq._seq_last(i_seq text)
RETURNS bigint LANGUAGE sql STABLE
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT coalesce(pg_sequence_last_value(i_seq::regclass), 0)
$$;

CREATE OR REPLACE FUNCTION pgq.create_queue(i_queue_name text)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp
SET client_min_messages = warning AS $$
DECLARE
	q pgq.queue;
	qid integer;
	pfx text;
	tbl text;
	i integer;
	n integer;
BEGIN
	IF i_queue_name IS NULL OR i_queue_name = '' THEN
		RAISE EXCEPTION 'Invalid queue name' USING ERRCODE = '22023';
	END IF;
	PERFORM 1 FROM pgq.queue WHERE queue_name = i_queue_name;
	IF FOUND THEN
		RETURN 0;
	END IF;
	qid := nextval(pg_get_serial_sequence('pgq.queue', 'queue_id'));
	pfx := 'pgq.event_' || qid;
	INSERT INTO pgq.queue (queue_id, queue_name, queue_data_pfx, queue_event_seq, queue_tick_seq)
	VALUES (qid, i_queue_name, pfx, pfx || '_id_seq', pfx || '_tick_seq')
	RETURNING queue_ntables INTO n;

	EXECUTE 'CREATE SEQUENCE ' || pfx || '_id_seq';
	EXECUTE 'CREATE SEQUENCE ' || pfx || '_tick_seq';
	EXECUTE 'CREATE TABLE ' || pfx || ' (ev_id bigint NOT NULL DEFAULT nextval('
		|| quote_literal(pfx || '_id_seq') || ')) INHERITS (pgq.event_template)';
	EXECUTE 'REVOKE ALL ON ' || pfx || ', ' || pfx || '_id_seq, ' || pfx || '_tick_seq FROM PUBLIC';
	EXECUTE 'GRANT SELECT ON ' || pfx || ' TO pgq_reader';
	-- readers see the sequences' positions (ticker lag, pending counts)
	EXECUTE 'GRANT SELECT ON ' || pfx || '_id_seq, ' || pfx || '_tick_seq TO pgq_reader, pgq_writer';
	FOR i IN 0 .. n - 1 LOOP
		tbl := pfx || '_' || i;
		EXECUTE 'CREATE TABLE ' || tbl || ' () INHERITS (' || pfx || ')';
		EXECUTE 'CREATE INDEX ' || 'event_' || qid || '_' || i || '_txid_idx ON ' || tbl || ' (ev_txid)';
		EXECUTE 'REVOKE ALL ON ' || tbl || ' FROM PUBLIC';
		EXECUTE 'GRANT SELECT ON ' || tbl || ' TO pgq_reader';
	END LOOP;

	q := pgq._lock_queue(i_queue_name);
	PERFORM pgq._make_tick(q, nextval(q.queue_tick_seq), now(), pgq._seq_last(q.queue_event_seq));
	RETURN 1;
END
$$;

CREATE OR REPLACE FUNCTION pgq.drop_queue(x_queue_name text, x_force boolean)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	q pgq.queue;
	i integer;
BEGIN
	q := pgq._lock_queue(x_queue_name);
	IF NOT coalesce(x_force, false) THEN
		PERFORM 1 FROM pgq.subscription WHERE sub_queue = q.queue_id;
		IF FOUND THEN
			RAISE EXCEPTION 'cannot drop queue %: consumers still attached', x_queue_name
				USING ERRCODE = '55006';
		END IF;
	END IF;
	DELETE FROM pgq.retry_queue WHERE ev_queue = q.queue_id;
	DELETE FROM pgq.subscription WHERE sub_queue = q.queue_id;
	DELETE FROM pgq.tick WHERE tick_queue = q.queue_id;
	DELETE FROM pgq.queue WHERE queue_id = q.queue_id;
	FOR i IN 0 .. q.queue_ntables - 1 LOOP
		EXECUTE 'DROP TABLE IF EXISTS ' || q.queue_data_pfx || '_' || i;
	END LOOP;
	EXECUTE 'DROP TABLE IF EXISTS ' || q.queue_data_pfx;
	EXECUTE 'DROP SEQUENCE IF EXISTS ' || q.queue_event_seq;
	EXECUTE 'DROP SEQUENCE IF EXISTS ' || q.queue_tick_seq;
	RETURN 1;
END
$$;

CREATE OR REPLACE FUNCTION pgq.drop_queue(x_queue_name text)
RETURNS integer LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT pgq.drop_queue(x_queue_name, false)
$$;

-- Parameter names are accepted with and without the queue_ prefix.
CREATE OR REPLACE FUNCTION pgq.set_queue_config(x_queue_name text, x_param_name text, x_param_value text)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	col text;
	typ text;
BEGIN
	col := lower(x_param_name);
	IF col NOT LIKE 'queue\_%' THEN
		col := 'queue_' || col;
	END IF;
	typ := CASE col
		WHEN 'queue_ticker_max_count' THEN 'integer'
		WHEN 'queue_ticker_max_lag' THEN 'interval'
		WHEN 'queue_ticker_idle_period' THEN 'interval'
		WHEN 'queue_rotation_period' THEN 'interval'
		WHEN 'queue_ticker_paused' THEN 'boolean'
		WHEN 'queue_external_ticker' THEN 'boolean'
		WHEN 'queue_disable_insert' THEN 'boolean'
		WHEN 'queue_per_tx_limit' THEN 'integer'
	END;
	IF typ IS NULL THEN
		RAISE EXCEPTION 'cannot change parameter "%"', x_param_name USING ERRCODE = '22023';
	END IF;
	IF x_param_value IS NULL AND col <> 'queue_per_tx_limit' THEN
		RAISE EXCEPTION 'parameter "%" cannot be NULL', x_param_name USING ERRCODE = '22004';
	END IF;
	PERFORM pgq._lock_queue(x_queue_name);
	EXECUTE format('UPDATE pgq.queue SET %I = $1::%s WHERE queue_name = $2', col, typ)
		USING x_param_value, x_queue_name;
	RETURN 1;
END
$$;

CREATE OR REPLACE FUNCTION pgq.current_event_table(x_queue_name text)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	res text;
	disabled boolean;
BEGIN
	SELECT queue_data_pfx || '_' || queue_cur_table, queue_disable_insert INTO res, disabled
	  FROM pgq.queue WHERE queue_name = x_queue_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'No such event queue: %', x_queue_name USING ERRCODE = 'P0002';
	END IF;
	-- the table is for writing into (pgq.bulk_insert_events, COPY):
	-- refused where pgq.insert_event is, as in PgQ, and with PgQ's
	-- SQLSTATE (P0001), which pgq-insert reports as a refusal (2)
	IF disabled AND current_setting('session_replication_role') <> 'replica' THEN
		RAISE EXCEPTION 'Insert into queue % disallowed', x_queue_name;
	END IF;
	RETURN res;
END
$$;

CREATE OR REPLACE FUNCTION pgq.quote_fqname(i_name text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pgq, pg_temp AS $$
	SELECT CASE WHEN position('.' IN i_name) > 0
		THEN pg_catalog.quote_ident(split_part(i_name, '.', 1)) || '.'
		     || pg_catalog.quote_ident(substr(i_name, position('.' IN i_name) + 1))
		ELSE 'public.' || pg_catalog.quote_ident(i_name) END
$$;

-- seq_getval/seq_setval take a sequence name as the caller writes it,
-- so an unqualified name must be found through the caller's
-- search_path.  The text-to-regclass cast is therefore made in SQL
-- functions without a SET clause and with nothing else unqualified
-- (security invoker: the caller's own rights, on the caller's own
-- resolution); the work on the found OID is done by functions that pin
-- search_path.  These two must never get a SET search_path clause.
CREATE OR REPLACE FUNCTION pgq._seq_getval(i_seq pg_catalog.regclass)
RETURNS bigint LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	res bigint;
BEGIN
	IF (SELECT relkind FROM pg_class WHERE oid = i_seq) IS DISTINCT FROM 'S' THEN
		RAISE EXCEPTION '"%" is not a sequence', i_seq USING ERRCODE = '42809';
	END IF;
	EXECUTE 'SELECT last_value FROM ' || i_seq::oid::regclass::text INTO res;
	RETURN res;
END
$$;

CREATE OR REPLACE FUNCTION pgq.seq_getval(i_seq_name text)
RETURNS bigint LANGUAGE sql STRICT AS $$
	SELECT pgq._seq_getval(CAST(i_seq_name AS pg_catalog.regclass))
$$;

-- Never moves a sequence backwards: a replica's sequence only follows
-- the provider forward.
CREATE OR REPLACE FUNCTION pgq._seq_setval(i_seq pg_catalog.regclass, i_new_value bigint)
RETURNS bigint LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	cur bigint;
BEGIN
	cur := pgq._seq_getval(i_seq);
	IF i_new_value > cur THEN
		PERFORM setval(i_seq, i_new_value);
		RETURN i_new_value;
	END IF;
	RETURN cur;
END
$$;

CREATE OR REPLACE FUNCTION pgq.seq_setval(i_seq_name text, i_new_value bigint)
RETURNS bigint LANGUAGE sql STRICT AS $$
	SELECT pgq._seq_setval(CAST(i_seq_name AS pg_catalog.regclass), i_new_value)
$$;

-- Copies the privileges on one table to another (CREATE TABLE LIKE
-- copies none), as PgQ does for a queue's event tables.
CREATE OR REPLACE FUNCTION pgq._grant_perms_from(src_schema text, src_table text,
	dst_schema text, dst_table text)
RETURNS integer LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	g record;
BEGIN
	FOR g IN
		SELECT a.privilege_type, a.is_grantable,
		       CASE WHEN a.grantee = 0 THEN 'PUBLIC'
		            ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS grantee
		  FROM pg_class c
		  JOIN pg_namespace n ON n.oid = c.relnamespace,
		       aclexplode(c.relacl) a
		 WHERE n.nspname = src_schema AND c.relname = src_table
		 ORDER BY 3, 1
	LOOP
		EXECUTE format('GRANT %s ON %I.%I TO %s%s', g.privilege_type, dst_schema, dst_table,
			g.grantee, CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;
	RETURN 1;
END
$$;

-- Gives a queue's event tables the privileges of pgq.event_template and
-- its sequences those create_queue gives them (after a restore, or when
-- the template's grants were changed).  Returns 1.
CREATE OR REPLACE FUNCTION pgq.grant_perms(x_queue_name text)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	q pgq.queue;
	scm text;
	tbl text;
	i integer;
BEGIN
	SELECT * INTO q FROM pgq.queue WHERE queue_name = x_queue_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'Queue not found' USING ERRCODE = 'P0002';
	END IF;
	IF position('.' IN q.queue_data_pfx) > 0 THEN
		scm := split_part(q.queue_data_pfx, '.', 1);
		tbl := substr(q.queue_data_pfx, position('.' IN q.queue_data_pfx) + 1);
	ELSE
		scm := 'public';
		tbl := q.queue_data_pfx;
	END IF;
	EXECUTE 'GRANT SELECT ON ' || pgq.quote_fqname(q.queue_tick_seq) || ', '
		|| pgq.quote_fqname(q.queue_event_seq) || ' TO pgq_reader, pgq_writer';
	EXECUTE 'GRANT USAGE ON ' || pgq.quote_fqname(q.queue_event_seq) || ' TO pgq_admin';
	PERFORM pgq._grant_perms_from('pgq', 'event_template', scm, tbl);
	FOR i IN 0 .. q.queue_ntables - 1 LOOP
		PERFORM pgq._grant_perms_from('pgq', 'event_template', scm, tbl || '_' || i);
	END LOOP;
	RETURN 1;
END
$$;

-- Storage settings for a queue's event tables, as PgQ sets them: full
-- pages (rows are only inserted) and no autovacuum (the tables are
-- truncated, never updated; anti-wraparound vacuum still runs).
-- Returns 1, or 0 for an unknown queue.
CREATE OR REPLACE FUNCTION pgq.tune_storage(i_queue_name text)
RETURNS integer LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	q pgq.queue;
	i integer;
BEGIN
	SELECT * INTO q FROM pgq.queue WHERE queue_name = i_queue_name;
	IF NOT FOUND THEN
		RETURN 0;
	END IF;
	FOR i IN 0 .. q.queue_ntables - 1 LOOP
		EXECUTE 'ALTER TABLE ' || q.queue_data_pfx || '_' || i
			|| ' SET (fillfactor = 100, autovacuum_enabled = off, toast.autovacuum_enabled = off)';
	END LOOP;
	RETURN 1;
END
$$;
