-- The C fast path: where the pgq_c module (server/pgq_c.c) can be
-- loaded, the event insert and the row triggers become its C functions;
-- elsewhere (no module installed, managed PostgreSQL, no superuser) the
-- PL/pgSQL versions above stay.  Both write byte-identical events.
--
-- The library is named without a directory so that the server looks it
-- up through dynamic_library_path ($libdir by default, where
-- `make install` puts it).  CREATE OR REPLACE keeps each function's
-- grants; SECURITY DEFINER and the pinned search_path are repeated
-- because replacing resets them (the C code qualifies every name anyway;
-- the pinned path also keeps its saved plans from being re-planned for
-- each caller's search_path).  If any
-- statement fails, the block's subtransaction undoes all of them, so the
-- two implementations are never mixed.
DO $cfast$
BEGIN
	CREATE OR REPLACE FUNCTION pgq.insert_event(queue_name text, ev_type text, ev_data text,
		ev_extra1 text, ev_extra2 text, ev_extra3 text, ev_extra4 text)
	RETURNS bigint LANGUAGE c SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS 'pgq_c', 'pgq_c_insert_event';
	CREATE OR REPLACE FUNCTION pgq.insert_event(queue_name text, ev_type text, ev_data text)
	RETURNS bigint LANGUAGE c SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS 'pgq_c', 'pgq_c_insert_event';
	CREATE OR REPLACE FUNCTION pgq.insert_event_raw(queue_name text, ev_id bigint,
		ev_time timestamptz, ev_owner integer, ev_retry integer, ev_type text, ev_data text,
		ev_extra1 text, ev_extra2 text, ev_extra3 text, ev_extra4 text)
	RETURNS bigint LANGUAGE c SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS 'pgq_c', 'pgq_c_insert_event_raw';
	CREATE OR REPLACE FUNCTION pgq.logutriga()
	RETURNS trigger LANGUAGE c AS 'pgq_c', 'pgq_c_logutriga';
	CREATE OR REPLACE FUNCTION pgq.sqltriga()
	RETURNS trigger LANGUAGE c AS 'pgq_c', 'pgq_c_sqltriga';
	CREATE OR REPLACE FUNCTION pgq.jsontriga()
	RETURNS trigger LANGUAGE c AS 'pgq_c', 'pgq_c_jsontriga';
	-- The C insert keeps a queue's row for the rest of a transaction;
	-- a change of pgq.queue by that same transaction must drop it
	-- (pgq_c.c, QueueInfo).  ALWAYS: also under replica role.
	CREATE OR REPLACE FUNCTION pgq._c_queue_changed()
	RETURNS trigger LANGUAGE c AS 'pgq_c', 'pgq_c_queue_changed';
	CREATE TRIGGER pgq_c_queue_changed
		AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pgq.queue
		FOR EACH STATEMENT EXECUTE FUNCTION pgq._c_queue_changed();
	ALTER TABLE pgq.queue ENABLE ALWAYS TRIGGER pgq_c_queue_changed;
EXCEPTION WHEN OTHERS THEN
	-- keep PL/pgSQL; pgqadm install reports which one is in place
	NULL;
END
$cfast$;
