-- Producing events.
--
-- insert_event is the hot path (every replicated row goes through it):
-- one indexed lookup of the queue row, nextval, and one INSERT into the
-- current table (ev_time and ev_txid from column defaults).  The
-- dynamic INSERT is planned on every call; that is most of its cost.
--
-- queue_per_tx_limit caps the events one transaction inserts through
-- insert_event, as in PgQ.  The count lives in a transaction-local
-- setting named after the queue id (pgq_c.c keeps the same one), so it
-- ends with the transaction and a rolled-back savepoint takes its
-- events back out of it.

-- A queue whose ticker_max_lag is 0 asks for a tick as soon as it has
-- an event: its inserts NOTIFY the channel pgq_ticker, on which
-- pgq-tick --loop waits, so the tick follows the producer's commit
-- instead of the next ticker interval.  pg_notify sends one
-- notification per transaction however many events it inserts (equal
-- notifications of a transaction are sent once), at commit and never
-- for a rolled-back transaction or savepoint.  The payload is empty:
-- any login may LISTEN, and the ticker trusts nothing a NOTIFY says (it
-- runs pgq.ticker(), which ticks only what its settings call for).
-- Queues at the defaults send nothing: the notification makes every
-- committing transaction that sends one wait for the others (the
-- server queues notifications in commit order).  A queue with an
-- external ticker has no use for it.

-- The C fast path's trigger on pgq.queue (90-c-fastpath.sql) goes with
-- it: a re-install that falls back to PL/pgSQL must not leave a trigger
-- whose library may no longer load.
DROP TRIGGER IF EXISTS pgq_c_queue_changed ON pgq.queue;

CREATE OR REPLACE FUNCTION pgq._tx_limit_count(i_queue_id integer, i_queue_name text, i_limit integer)
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	var text := 'skytools_pgq.tx_events_' || i_queue_id;
	n integer;
BEGIN
	n := coalesce(nullif(current_setting(var, true), ''), '0')::integer + 1;
	IF n > i_limit THEN
		RAISE EXCEPTION 'Queue ''%'' allows max % events from one TX', i_queue_name, i_limit
			USING ERRCODE = '54000';
	END IF;
	PERFORM set_config(var, n::text, true);
END
$$;

-- Event types that a cascade node acts on as its replication user
-- (EXECUTE runs SQL, pgq.* moves providers and watermarks, londiste.*
-- changes the set) go in only from a superuser or a member of
-- pgq_admin, not from every pgq_writer.  The session's user decides:
-- the insert functions run as their owner.
CREATE OR REPLACE FUNCTION pgq._check_event_type(i_ev_type text)
RETURNS void LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF (i_ev_type = 'EXECUTE' OR i_ev_type LIKE 'pgq.%' OR i_ev_type LIKE 'londiste.%')
	   AND NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = session_user AND r.rolsuper)
	   AND NOT EXISTS (SELECT 1 FROM pg_roles a WHERE a.rolname = 'pgq_admin'
	                    AND pg_has_role(session_user, a.oid, 'USAGE')) THEN
		RAISE EXCEPTION 'event type % is reserved to superusers and members of pgq_admin', i_ev_type
			USING ERRCODE = 'insufficient_privilege';
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION pgq.insert_event(queue_name text, ev_type text, ev_data text,
	ev_extra1 text, ev_extra2 text, ev_extra3 text, ev_extra4 text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	tbl text;
	seq text;
	disabled boolean;
	qid integer;
	lim integer;
	wake boolean;
	id bigint;
BEGIN
	IF $2 = 'EXECUTE' OR $2 LIKE 'pgq.%' OR $2 LIKE 'londiste.%' THEN
		PERFORM pgq._check_event_type($2);
	END IF;
	SELECT q.queue_data_pfx || '_' || q.queue_cur_table, q.queue_event_seq, q.queue_disable_insert,
	       q.queue_id, q.queue_per_tx_limit,
	       q.queue_ticker_max_lag <= '0' AND NOT q.queue_external_ticker
	  INTO tbl, seq, disabled, qid, lim, wake
	  FROM pgq.queue q WHERE q.queue_name = $1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'No such event queue: %', $1 USING ERRCODE = 'P0002';
	END IF;
	IF disabled AND current_setting('session_replication_role') <> 'replica' THEN
		RAISE EXCEPTION 'Insert into queue % disallowed', $1 USING ERRCODE = '55000';
	END IF;
	IF lim IS NOT NULL THEN
		PERFORM pgq._tx_limit_count(qid, $1, lim);
	END IF;
	id := nextval(seq);
	EXECUTE 'INSERT INTO ' || tbl
		|| ' (ev_id, ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4)'
		|| ' VALUES ($1, $2, $3, $4, $5, $6, $7)'
		USING id, $2, $3, $4, $5, $6, $7;
	IF wake THEN
		PERFORM pg_notify('pgq_ticker', '');
	END IF;
	RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION pgq.insert_event(queue_name text, ev_type text, ev_data text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	tbl text;
	seq text;
	disabled boolean;
	qid integer;
	lim integer;
	wake boolean;
	id bigint;
BEGIN
	IF $2 = 'EXECUTE' OR $2 LIKE 'pgq.%' OR $2 LIKE 'londiste.%' THEN
		PERFORM pgq._check_event_type($2);
	END IF;
	SELECT q.queue_data_pfx || '_' || q.queue_cur_table, q.queue_event_seq, q.queue_disable_insert,
	       q.queue_id, q.queue_per_tx_limit,
	       q.queue_ticker_max_lag <= '0' AND NOT q.queue_external_ticker
	  INTO tbl, seq, disabled, qid, lim, wake
	  FROM pgq.queue q WHERE q.queue_name = $1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'No such event queue: %', $1 USING ERRCODE = 'P0002';
	END IF;
	IF disabled AND current_setting('session_replication_role') <> 'replica' THEN
		RAISE EXCEPTION 'Insert into queue % disallowed', $1 USING ERRCODE = '55000';
	END IF;
	IF lim IS NOT NULL THEN
		PERFORM pgq._tx_limit_count(qid, $1, lim);
	END IF;
	id := nextval(seq);
	EXECUTE 'INSERT INTO ' || tbl || ' (ev_id, ev_type, ev_data) VALUES ($1, $2, $3)'
		USING id, $2, $3;
	IF wake THEN
		PERFORM pg_notify('pgq_ticker', '');
	END IF;
	RETURN id;
END
$$;

-- Full control over the stored row: used to re-insert retried events
-- (same ev_id, ev_owner set to the subscription that asked for the
-- retry) and by queue movers.
CREATE OR REPLACE FUNCTION pgq.insert_event_raw(queue_name text, ev_id bigint,
	ev_time timestamptz, ev_owner integer, ev_retry integer, ev_type text, ev_data text,
	ev_extra1 text, ev_extra2 text, ev_extra3 text, ev_extra4 text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgq, pg_temp AS $$
DECLARE
	q record;
	id bigint;
BEGIN
	IF $6 = 'EXECUTE' OR $6 LIKE 'pgq.%' OR $6 LIKE 'londiste.%' THEN
		PERFORM pgq._check_event_type($6);
	END IF;
	SELECT x.queue_data_pfx || '_' || x.queue_cur_table AS tbl, x.queue_disable_insert AS disabled,
	       x.queue_event_seq AS seq,
	       x.queue_ticker_max_lag <= '0' AND NOT x.queue_external_ticker AS wake
	  INTO q FROM pgq.queue x WHERE x.queue_name = $1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'No such event queue: %', $1 USING ERRCODE = 'P0002';
	END IF;
	IF q.disabled AND current_setting('session_replication_role') <> 'replica' THEN
		RAISE EXCEPTION 'Insert into queue % disallowed', $1 USING ERRCODE = '55000';
	END IF;
	id := coalesce($2, nextval(q.seq));
	EXECUTE 'INSERT INTO ' || q.tbl
		|| ' (ev_id, ev_time, ev_owner, ev_retry, ev_type, ev_data,'
		|| ' ev_extra1, ev_extra2, ev_extra3, ev_extra4)'
		|| ' VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)'
		USING id, coalesce($3, now()), $4, $5, $6, $7, $8, $9, $10, $11;
	IF q.wake THEN
		PERFORM pg_notify('pgq_ticker', '');
	END IF;
	RETURN id;
END
$$;
