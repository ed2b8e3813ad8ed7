-- Londiste 3: sequences of the set.  The root publishes a value ahead of
-- the real one (londiste.update-seq); nodes below move their sequence
-- up to it, never back.

CREATE OR REPLACE FUNCTION londiste.get_seq_list(i_queue_name text,
	OUT seq_name text, OUT last_value int8, OUT local boolean)
RETURNS SETOF record LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT s.seq_name, s.last_value, s.local FROM londiste.seq_info s
	 WHERE s.queue_name = i_queue_name
	 ORDER BY s.nr, s.seq_name
$$;

-- Publish every local sequence whose real value came within i_buffer
-- (at least 10; default 10000) of the published one: the new published
-- value is real + 3 * buffer.  100 done, 402 not root, 404 no queue.
-- Made only where pgq_node is installed: PgQ's maint_operations (the
-- original's too, which pgqd runs) calls it for the root queues it finds
-- in pgq_node.node_info as soon as the function exists, so a Skytools 2
-- database without pgq_node must not have it.  An install run again
-- after pgq_node's adds it.
DO $do$
BEGIN
	IF to_regclass('pgq_node.node_info') IS NULL THEN
		RETURN;
	END IF;
	EXECUTE $f$
CREATE OR REPLACE FUNCTION londiste.root_check_seqs(i_queue_name text, i_buffer int8,
	OUT ret_code int4, OUT ret_note text)
LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pgq, pg_temp AS $$
DECLARE
	buf int8 := CASE WHEN i_buffer IS NULL OR i_buffer < 10 THEN 10000 ELSE i_buffer END;
	ntype text;
	s record;
	real_value int8;
	pub int8;
BEGIN
	SELECT n.node_type INTO ntype FROM pgq_node.node_info n
	 WHERE n.queue_name = i_queue_name FOR UPDATE;
	IF NOT FOUND THEN
		ret_code := 404; ret_note := 'Queue not found: ' || i_queue_name;
		RETURN;
	END IF;
	IF ntype <> 'root' THEN
		ret_code := 402; ret_note := 'Not a root node';
		RETURN;
	END IF;
	FOR s IN SELECT i.seq_name, i.last_value, londiste.find_seq_oid(i.seq_name) AS oid
		   FROM londiste.seq_info i
		  WHERE i.queue_name = i_queue_name AND i.local
		  ORDER BY i.nr
	LOOP
		CONTINUE WHEN s.oid IS NULL;
		EXECUTE 'SELECT last_value FROM ' || s.oid::regclass::text INTO real_value;
		IF real_value + buf >= s.last_value THEN
			pub := real_value + buf * 3;
			PERFORM pgq.insert_event(i_queue_name, 'londiste.update-seq', pub::text,
						 s.seq_name, NULL, NULL, NULL);
			UPDATE londiste.seq_info SET last_value = pub
			 WHERE queue_name = i_queue_name AND seq_name = s.seq_name;
		END IF;
	END LOOP;
	ret_code := 100; ret_note := 'Sequences updated';
END $$;
	$f$;
	EXECUTE $f$
CREATE OR REPLACE FUNCTION londiste.root_check_seqs(i_queue_name text,
	OUT ret_code int4, OUT ret_note text)
LANGUAGE sql
SET search_path = pg_catalog, londiste, pg_temp AS $$
	SELECT f.ret_code, f.ret_note FROM londiste.root_check_seqs(i_queue_name, 10000) f
$$;
	$f$;
END
$do$;

-- 200 added, 201 added before, 400 no such sequence here, 404 (not
-- root) the set has no such sequence.
CREATE OR REPLACE FUNCTION londiste.local_add_seq(i_queue_name text, i_seq_name text,
	OUT ret_code int4, OUT ret_note text)
LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pgq, pg_temp AS $$
DECLARE
	fq text := londiste.make_fqname(i_seq_name);
	rel oid := londiste.find_seq_oid(fq);
	s record;
BEGIN
	IF rel IS NULL THEN
		ret_code := 400; ret_note := 'Sequence not found: ' || fq;
		RETURN;
	END IF;
	SELECT i.local, i.last_value INTO s FROM londiste.seq_info i
	 WHERE i.queue_name = i_queue_name AND i.seq_name = fq FOR UPDATE;
	IF FOUND AND s.local THEN
		ret_code := 201; ret_note := 'Sequence already added: ' || fq;
		RETURN;
	END IF;
	IF pgq_node.is_root_node(i_queue_name) THEN
		IF FOUND THEN
			UPDATE londiste.seq_info SET local = true
			 WHERE queue_name = i_queue_name AND seq_name = fq;
		ELSE
			INSERT INTO londiste.seq_info (queue_name, seq_name, local, last_value)
			VALUES (i_queue_name, fq, true, 0);
		END IF;
		PERFORM londiste.root_check_seqs(i_queue_name);
	ELSE
		IF NOT FOUND THEN
			ret_code := 404; ret_note := 'Unknown sequence: ' || fq;
			RETURN;
		END IF;
		UPDATE londiste.seq_info SET local = true
		 WHERE queue_name = i_queue_name AND seq_name = fq;
		PERFORM pgq._seq_setval(rel::regclass, s.last_value);
	END IF;
	ret_code := 200; ret_note := 'Sequence added: ' || fq;
END $$;

-- On the root the set forgets it (londiste.remove-seq); elsewhere it is
-- no longer followed here.  200 ok, 404 not a local sequence.
CREATE OR REPLACE FUNCTION londiste.local_remove_seq(i_queue_name text, i_seq_name text,
	OUT ret_code int4, OUT ret_note text)
LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	fq text := londiste.make_fqname(i_seq_name);
BEGIN
	IF pgq_node.is_root_node(i_queue_name) THEN
		SELECT f.ret_code, f.ret_note INTO ret_code, ret_note
		  FROM londiste.global_remove_seq(i_queue_name, fq) f;
		RETURN;
	END IF;
	UPDATE londiste.seq_info SET local = false
	 WHERE queue_name = i_queue_name AND seq_name = fq AND local;
	IF NOT FOUND THEN
		ret_code := 404; ret_note := 'Sequence not found: ' || fq;
		RETURN;
	END IF;
	ret_code := 200; ret_note := 'Sequence removed: ' || fq;
END $$;

-- The worker applying londiste.update-seq on a branch or leaf.
-- 200 ok, 402 on the root, 404 no such set.
CREATE OR REPLACE FUNCTION londiste.global_update_seq(i_queue_name text, i_seq_name text,
	i_value int8, OUT ret_code int4, OUT ret_note text)
LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pgq, pg_temp AS $$
DECLARE
	ntype text;
	fq text := londiste.make_fqname(i_seq_name);
	s record;
	rel oid;
BEGIN
	SELECT n.node_type INTO ntype FROM pgq_node.node_info n WHERE n.queue_name = i_queue_name;
	IF NOT FOUND THEN
		ret_code := 404; ret_note := 'Set not found: ' || i_queue_name;
		RETURN;
	END IF;
	IF ntype = 'root' THEN
		ret_code := 402; ret_note := 'Must not run on root node';
		RETURN;
	END IF;
	SELECT i.last_value, i.local INTO s FROM londiste.seq_info i
	 WHERE i.queue_name = i_queue_name AND i.seq_name = fq FOR UPDATE;
	IF NOT FOUND THEN
		INSERT INTO londiste.seq_info (queue_name, seq_name, last_value)
		VALUES (i_queue_name, fq, i_value);
	ELSE
		UPDATE londiste.seq_info SET last_value = i_value
		 WHERE queue_name = i_queue_name AND seq_name = fq;
		rel := londiste.find_seq_oid(fq);
		IF s.local AND rel IS NOT NULL THEN
			PERFORM pgq._seq_setval(rel::regclass, i_value);
		END IF;
	END IF;
	ret_code := 200; ret_note := 'Sequence updated';
END $$;

-- 200 ok, 400 unknown.
CREATE OR REPLACE FUNCTION londiste.global_remove_seq(i_queue_name text, i_seq_name text,
	OUT ret_code int4, OUT ret_note text)
LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	fq text := londiste.make_fqname(i_seq_name);
BEGIN
	DELETE FROM londiste.seq_info WHERE queue_name = i_queue_name AND seq_name = fq;
	IF NOT FOUND THEN
		ret_code := 400; ret_note := 'Sequence not found: ' || fq;
		RETURN;
	END IF;
	IF pgq_node.is_root_node(i_queue_name) THEN
		PERFORM londiste.root_notify_change(i_queue_name, 'londiste.remove-seq', fq);
	END IF;
	ret_code := 200; ret_note := 'Sequence removed: ' || fq;
END $$;
