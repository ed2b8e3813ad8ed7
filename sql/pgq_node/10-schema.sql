-- pgq_node: the node map of a cascaded queue (Skytools 3's pgq_node
-- 3.5 API by name and signature), written for Skytools in C.
--
-- A cascaded queue has the same name on every node.  The root's queue
-- gets events from producers; a branch's queue is a copy (its worker
-- inserts the root's events and ticks with the root's tick ids); a leaf
-- keeps no copy.  Every node keeps the locations of all nodes, its own
-- type and worker, the position of each cascaded consumer that writes
-- into it (local_state), and the nodes that read from it
-- (subscriber_info).
--
-- Watermarks are PgQ consumers, so the ticks they point at are kept by
-- rotation: ".global_watermark" is the lowest tick every node has
-- processed (moved by the root, passed down in pgq.global-watermark
-- events), ".NODE.watermark" the lowest tick subscriber NODE and the
-- nodes below it still need.
--
-- Events the root inserts into the queue itself:
--   pgq.location-info        ev_data node name, extra1 queue name,
--                            extra2 location, extra3 dead flag
--   pgq.unregister-location  ev_data node name, extra1 queue name
--   pgq.global-watermark     ev_data tick id, extra1 queue name
--
-- Like sql/pgq, every statement may run again over an installed copy
-- (psql -f is also the upgrade path).  Requires sql/pgq (ours).

-- Never take over another pgq_node (the original's functions would be
-- replaced one by one, its extension left owning a mix).
DO $guard$
BEGIN
	IF to_regclass('pgq_node.node_info') IS NOT NULL
	   AND to_regprocedure('pgq_node.skytools_c_version()') IS NULL THEN
		RAISE EXCEPTION 'schema pgq_node holds another pgq_node implementation; drop it first (DROP EXTENSION pgq_node or DROP SCHEMA pgq_node CASCADE)'
			USING ERRCODE = '55000';
	END IF;
	IF to_regprocedure('pgq.skytools_c_version()') IS NULL THEN
		RAISE EXCEPTION 'pgq_node needs the PgQ of Skytools in C in schema pgq; install pgq.sql first'
			USING ERRCODE = '55000';
	END IF;
END
$guard$;

CREATE SCHEMA IF NOT EXISTS pgq_node;
GRANT USAGE ON SCHEMA pgq_node TO PUBLIC;

CREATE TABLE IF NOT EXISTS pgq_node.node_location (
	queue_name    text NOT NULL,
	node_name     text NOT NULL,
	node_location text NOT NULL,
	dead          boolean NOT NULL DEFAULT false,
	PRIMARY KEY (queue_name, node_name)
);

-- node_attrs: urlencoded settings for the worker (e.g. sync_watermark).
CREATE TABLE IF NOT EXISTS pgq_node.node_info (
	queue_name     text NOT NULL PRIMARY KEY,
	node_type      text NOT NULL,
	node_name      text NOT NULL,
	worker_name    text,
	combined_queue text,
	node_attrs     text,
	FOREIGN KEY (queue_name, node_name) REFERENCES pgq_node.node_location,
	CONSTRAINT node_info_type_ok CHECK (node_type IN ('root', 'branch', 'leaf')),
	-- every node has a worker; only a leaf may feed a combined queue
	CONSTRAINT node_info_worker_ok CHECK (worker_name IS NOT NULL
		AND (node_type = 'leaf' OR combined_queue IS NULL))
);

-- One row per cascaded consumer writing into this node (the worker
-- included): where it reads from and the last tick it committed here.
CREATE TABLE IF NOT EXISTS pgq_node.local_state (
	queue_name    text NOT NULL,
	consumer_name text NOT NULL,
	provider_node text NOT NULL,
	last_tick_id  bigint NOT NULL,
	cur_error     text,
	paused        boolean NOT NULL DEFAULT false,
	uptodate      boolean NOT NULL DEFAULT false,
	PRIMARY KEY (queue_name, consumer_name),
	FOREIGN KEY (queue_name) REFERENCES pgq_node.node_info,
	FOREIGN KEY (queue_name, provider_node) REFERENCES pgq_node.node_location
);

-- The nodes that read this node's queue: the PgQ consumer their worker
-- reads with, and the one holding their watermark.
CREATE TABLE IF NOT EXISTS pgq_node.subscriber_info (
	queue_name      text NOT NULL,
	subscriber_node text NOT NULL,
	worker_name     text NOT NULL,
	watermark_name  text NOT NULL,
	PRIMARY KEY (queue_name, subscriber_node),
	FOREIGN KEY (queue_name) REFERENCES pgq_node.node_info,
	FOREIGN KEY (queue_name, subscriber_node) REFERENCES pgq_node.node_location,
	FOREIGN KEY (worker_name) REFERENCES pgq.consumer (co_name),
	FOREIGN KEY (watermark_name) REFERENCES pgq.consumer (co_name)
);

-- Marks this implementation (the guard above looks for it).
CREATE OR REPLACE FUNCTION pgq_node.skytools_c_version()
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$ SELECT '0.1.0'::text $$;

-- The API level (the original reports its extension's version).
CREATE OR REPLACE FUNCTION pgq_node.version()
RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$ SELECT '3.5'::text $$;

-- Brings tables of an older install up to this layout; returns how
-- many changes it made.  (node_attrs came in 3.1.)
CREATE OR REPLACE FUNCTION pgq_node.upgrade_schema()
RETURNS integer LANGUAGE plpgsql
SET search_path = pg_catalog, pgq_node, pgq, pg_temp AS $$
DECLARE
	n integer := 0;
BEGIN
	PERFORM 1 FROM pg_attribute
	 WHERE attrelid = 'pgq_node.node_info'::regclass
	   AND attname = 'node_attrs' AND NOT attisdropped;
	IF NOT FOUND THEN
		ALTER TABLE pgq_node.node_info ADD COLUMN node_attrs text;
		n := n + 1;
	END IF;
	RETURN n;
END
$$;

-- (a DO block: the install prints nothing)
DO $up$ BEGIN PERFORM pgq_node.upgrade_schema(); END $up$;
