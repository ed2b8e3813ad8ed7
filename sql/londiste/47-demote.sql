-- The londiste side of a root's demotion.  A root's tables are
-- replicated there by definition and have no row in
-- londiste.subscriber_table (the copy state machine); a root that
-- becomes a branch gets them in state ok, or its worker would skip
-- their events and its copier copy them again.  pgq_node.demote_root
-- calls this in the transaction of its step 3, so that every tool that
-- demotes a root (our londiste(1), the original's admin, plain SQL)
-- gets it.  Returns the number of tables registered.
CREATE OR REPLACE FUNCTION londiste.root_demoted(i_queue_name text)
RETURNS integer LANGUAGE plpgsql
SET search_path = pg_catalog, londiste, pg_temp AS $$
DECLARE
	tbl text;
	n integer := 0;
BEGIN
	FOR tbl IN
		SELECT t.table_name FROM londiste.table_info t
		 WHERE t.queue_name = i_queue_name AND t.local
		   AND NOT EXISTS (SELECT 1 FROM londiste.subscriber_table s
		                    WHERE s.queue_name = t.queue_name AND s.table_name = t.table_name)
		 ORDER BY t.table_name
	LOOP
		PERFORM londiste.subscriber_add_table(i_queue_name, tbl, false, true);
		n := n + 1;
	END LOOP;
	RETURN n;
END $$;

-- Only pgq_node.demote_root (SECURITY DEFINER) calls it.
REVOKE ALL ON FUNCTION londiste.root_demoted(text) FROM PUBLIC;
