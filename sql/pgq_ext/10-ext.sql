-- pgq_ext: a consumer's progress kept in its target database, so that
-- what it writes there and the batch (or event, or tick) it finished
-- commit together.  Skytools 3's pgq_ext 3.3 API by name, signature and
-- result; python3-pgq's RemoteConsumer and SerialConsumer use it.
-- Written for Skytools in C.
--
-- It needs no PgQ in this database: the target is usually another one.
-- Every key is (consumer, subconsumer); the two-argument forms are
-- subconsumer ''.  Like sql/pgq, every statement may run again over an
-- installed copy (psql -f is also the upgrade path).

-- Never take over another pgq_ext: a migrating user's target holds the
-- original's, whose tables are these, and which keeps working as it is.
DO $guard$
BEGIN
	IF to_regclass('pgq_ext.completed_batch') IS NOT NULL
	   AND to_regprocedure('pgq_ext.skytools_c_version()') IS NULL THEN
		RAISE EXCEPTION 'schema pgq_ext holds another pgq_ext implementation; it serves as it is (or drop it first: DROP EXTENSION pgq_ext or DROP SCHEMA pgq_ext CASCADE)'
			USING ERRCODE = '55000';
	END IF;
END
$guard$;

-- The consumers that write into the target run as pgq_writer (the
-- original's grants); the role is cluster-wide and PgQ's install may
-- never have run in this cluster.
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgq_writer') THEN
		CREATE ROLE pgq_writer NOLOGIN;
	END IF;
END
$roles$;

CREATE SCHEMA IF NOT EXISTS pgq_ext;

CREATE TABLE IF NOT EXISTS pgq_ext.completed_tick (
	consumer_id text NOT NULL,
	subconsumer_id text NOT NULL,
	last_tick_id bigint NOT NULL,
	PRIMARY KEY (consumer_id, subconsumer_id)
);

CREATE TABLE IF NOT EXISTS pgq_ext.completed_batch (
	consumer_id text NOT NULL,
	subconsumer_id text NOT NULL,
	last_batch_id bigint NOT NULL,
	PRIMARY KEY (consumer_id, subconsumer_id)
);

-- The events done of the batch in progress (partial_batch): a consumer
-- that commits per event skips those a retry of the batch brings again.
CREATE TABLE IF NOT EXISTS pgq_ext.completed_event (
	consumer_id text NOT NULL,
	subconsumer_id text NOT NULL,
	batch_id bigint NOT NULL,
	event_id bigint NOT NULL,
	PRIMARY KEY (consumer_id, subconsumer_id, batch_id, event_id)
);

CREATE TABLE IF NOT EXISTS pgq_ext.partial_batch (
	consumer_id text NOT NULL,
	subconsumer_id text NOT NULL,
	cur_batch_id bigint NOT NULL,
	PRIMARY KEY (consumer_id, subconsumer_id)
);

CREATE OR REPLACE FUNCTION pgq_ext.skytools_c_version()
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $$ SELECT '0.1.0'::text $$;

CREATE OR REPLACE FUNCTION pgq_ext.version()
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $$ SELECT '3.3'::text $$;

-- The original adds subconsumer_id to the tables of its versions
-- before 3 and returns how many it changed; these tables were made with
-- it (and the guard above keeps out any other), so that is none.
CREATE OR REPLACE FUNCTION pgq_ext.upgrade_schema()
RETURNS integer LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $$ SELECT 0 $$;

-- True when the consumer's last batch done is this one.  Only the last
-- is kept: a consumer asks about the batch it holds, never an older one.
CREATE OR REPLACE FUNCTION pgq_ext.is_batch_done(a_consumer text, a_subconsumer text,
	a_batch_id bigint)
RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce((SELECT b.last_batch_id = a_batch_id FROM pgq_ext.completed_batch b
	                  WHERE b.consumer_id = a_consumer AND b.subconsumer_id = a_subconsumer),
	                false)
$$;

CREATE OR REPLACE FUNCTION pgq_ext.is_batch_done(a_consumer text, a_batch_id bigint)
RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT pgq_ext.is_batch_done(a_consumer, '', a_batch_id)
$$;

-- False when it was done already; a batch id of 0 or less is recorded
-- as nothing (true, as the original).
CREATE OR REPLACE FUNCTION pgq_ext.set_batch_done(a_consumer text, a_subconsumer text,
	a_batch_id bigint)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF pgq_ext.is_batch_done(a_consumer, a_subconsumer, a_batch_id) THEN
		RETURN false;
	END IF;
	IF a_batch_id > 0 THEN
		INSERT INTO pgq_ext.completed_batch AS b (consumer_id, subconsumer_id, last_batch_id)
		VALUES (a_consumer, a_subconsumer, a_batch_id)
		ON CONFLICT (consumer_id, subconsumer_id)
		DO UPDATE SET last_batch_id = excluded.last_batch_id;
	END IF;
	RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION pgq_ext.set_batch_done(a_consumer text, a_batch_id bigint)
RETURNS boolean LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT pgq_ext.set_batch_done(a_consumer, '', a_batch_id)
$$;

CREATE OR REPLACE FUNCTION pgq_ext.is_event_done(a_consumer text, a_subconsumer text,
	a_batch_id bigint, a_event_id bigint)
RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
	SELECT EXISTS (SELECT 1 FROM pgq_ext.completed_event e
	                WHERE e.consumer_id = a_consumer AND e.subconsumer_id = a_subconsumer
	                  AND e.batch_id = a_batch_id AND e.event_id = a_event_id)
$$;

CREATE OR REPLACE FUNCTION pgq_ext.is_event_done(a_consumer text, a_batch_id bigint,
	a_event_id bigint)
RETURNS boolean LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT pgq_ext.is_event_done(a_consumer, '', a_batch_id, a_event_id)
$$;

-- False when it was done already.  The first event of another batch
-- forgets the events of the one before: a consumer starts a new batch
-- only once the queue has finished the old one, so those cannot come
-- again.
CREATE OR REPLACE FUNCTION pgq_ext.set_event_done(a_consumer text, a_subconsumer text,
	a_batch_id bigint, a_event_id bigint)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	prev bigint;
BEGIN
	IF pgq_ext.is_event_done(a_consumer, a_subconsumer, a_batch_id, a_event_id) THEN
		RETURN false;
	END IF;
	SELECT p.cur_batch_id INTO prev FROM pgq_ext.partial_batch p
	 WHERE p.consumer_id = a_consumer AND p.subconsumer_id = a_subconsumer
	   FOR UPDATE;
	IF NOT FOUND THEN
		INSERT INTO pgq_ext.partial_batch (consumer_id, subconsumer_id, cur_batch_id)
		VALUES (a_consumer, a_subconsumer, a_batch_id);
	ELSIF prev <> a_batch_id THEN
		DELETE FROM pgq_ext.completed_event e
		 WHERE e.consumer_id = a_consumer AND e.subconsumer_id = a_subconsumer
		   AND e.batch_id = prev;
		UPDATE pgq_ext.partial_batch p SET cur_batch_id = a_batch_id
		 WHERE p.consumer_id = a_consumer AND p.subconsumer_id = a_subconsumer;
	END IF;
	INSERT INTO pgq_ext.completed_event (consumer_id, subconsumer_id, batch_id, event_id)
	VALUES (a_consumer, a_subconsumer, a_batch_id, a_event_id);
	RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION pgq_ext.set_event_done(a_consumer text, a_batch_id bigint,
	a_event_id bigint)
RETURNS boolean LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT pgq_ext.set_event_done(a_consumer, '', a_batch_id, a_event_id)
$$;

-- NULL when nothing is recorded.
CREATE OR REPLACE FUNCTION pgq_ext.get_last_tick(a_consumer text, a_subconsumer text)
RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
	SELECT t.last_tick_id FROM pgq_ext.completed_tick t
	 WHERE t.consumer_id = a_consumer AND t.subconsumer_id = a_subconsumer
$$;

CREATE OR REPLACE FUNCTION pgq_ext.get_last_tick(a_consumer text)
RETURNS bigint LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
	SELECT pgq_ext.get_last_tick(a_consumer, '')
$$;

-- A NULL tick forgets the consumer's; returns 1.
CREATE OR REPLACE FUNCTION pgq_ext.set_last_tick(a_consumer text, a_subconsumer text,
	a_tick_id bigint)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF a_tick_id IS NULL THEN
		DELETE FROM pgq_ext.completed_tick t
		 WHERE t.consumer_id = a_consumer AND t.subconsumer_id = a_subconsumer;
	ELSE
		INSERT INTO pgq_ext.completed_tick AS t (consumer_id, subconsumer_id, last_tick_id)
		VALUES (a_consumer, a_subconsumer, a_tick_id)
		ON CONFLICT (consumer_id, subconsumer_id)
		DO UPDATE SET last_tick_id = excluded.last_tick_id;
	END IF;
	RETURN 1;
END
$$;

CREATE OR REPLACE FUNCTION pgq_ext.set_last_tick(a_consumer text, a_tick_id bigint)
RETURNS integer LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT pgq_ext.set_last_tick(a_consumer, '', a_tick_id)
$$;

-- The original's grants: version() to everyone, the rest to
-- pgq_writer; nothing else to PUBLIC (the SECURITY DEFINER functions
-- write the tables as their owner).
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgq_ext FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA pgq_ext FROM PUBLIC;
GRANT USAGE ON SCHEMA pgq_ext TO PUBLIC;
GRANT EXECUTE ON FUNCTION pgq_ext.version(), pgq_ext.skytools_c_version() TO PUBLIC;
GRANT EXECUTE ON FUNCTION
	pgq_ext.upgrade_schema(),
	pgq_ext.is_batch_done(text, text, bigint), pgq_ext.is_batch_done(text, bigint),
	pgq_ext.set_batch_done(text, text, bigint), pgq_ext.set_batch_done(text, bigint),
	pgq_ext.is_event_done(text, text, bigint, bigint), pgq_ext.is_event_done(text, bigint, bigint),
	pgq_ext.set_event_done(text, text, bigint, bigint), pgq_ext.set_event_done(text, bigint, bigint),
	pgq_ext.get_last_tick(text, text), pgq_ext.get_last_tick(text),
	pgq_ext.set_last_tick(text, text, bigint), pgq_ext.set_last_tick(text, bigint)
TO pgq_writer;
