-- Londiste 3's grants, as the original gives them: everyone reads the
-- registry and calls the name helpers; londiste_reader (a node below)
-- reads the table and sequence lists; londiste_writer (setup tool and
-- replay) and pgq_admin manage the node.  The Skytools 2 functions keep
-- their default (PUBLIC) execute right.

GRANT USAGE ON SCHEMA londiste TO PUBLIC;
REVOKE ALL ON londiste.table_info, londiste.seq_info, londiste.pending_fkeys,
	londiste.applied_execute FROM PUBLIC;
GRANT SELECT ON londiste.table_info, londiste.seq_info, londiste.pending_fkeys,
	londiste.applied_execute TO PUBLIC, londiste_reader;
DO $g$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgq_admin') THEN
		GRANT SELECT, INSERT, UPDATE, DELETE ON londiste.table_info, londiste.seq_info,
			londiste.pending_fkeys, londiste.applied_execute TO pgq_admin;
	END IF;
END
$g$;
GRANT SELECT, INSERT, UPDATE, DELETE ON londiste.table_info, londiste.seq_info,
	londiste.pending_fkeys, londiste.applied_execute TO londiste_writer;
GRANT USAGE ON SEQUENCE londiste.table_info_nr_seq, londiste.seq_info_nr_seq TO londiste_writer;
-- The copy state of local tables on a non-root lives in subscriber_table.
GRANT SELECT ON londiste.subscriber_table TO londiste_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON londiste.subscriber_table, londiste.pending
	TO londiste_writer;

-- Each function: no right for PUBLIC, execute for the roles named.
DO $g$
DECLARE
	f text;
BEGIN
	FOREACH f IN ARRAY ARRAY[
		'londiste.get_seq_list(text)',
		'londiste.get_table_list(text)',
		'londiste._coordinate_copy(text, text)',
		'londiste._merge_state(text, text, boolean, text)'] LOOP
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO londiste_reader, londiste_writer', f);
	END LOOP;
	FOREACH f IN ARRAY ARRAY[
		'londiste.local_show_missing(text)',
		'londiste.local_add_seq(text, text)',
		'londiste.local_add_table(text, text, text[], text, text)',
		'londiste.local_add_table(text, text, text[], text)',
		'londiste.local_add_table(text, text, text[])',
		'londiste.local_add_table(text, text)',
		'londiste.local_change_handler(text, text, text[], text)',
		'londiste.local_remove_seq(text, text)',
		'londiste.local_remove_table(text, text)',
		'londiste.global_add_table(text, text)',
		'londiste.global_remove_table(text, text)',
		'londiste.global_update_seq(text, text, int8)',
		'londiste.global_remove_seq(text, text)',
		'londiste.get_table_pending_fkeys(text)',
		'londiste.get_valid_pending_fkeys(text)',
		'londiste._fkey_table_state(text, text)',
		'londiste.drop_table_fkey(text, text)',
		'londiste.restore_table_fkey(text, text, boolean)',
		'londiste.execute_start(text, text, text, boolean)',
		'londiste.execute_start(text, text, text, boolean, text)',
		'londiste.execute_finish(text, text)',
		'londiste.root_notify_change(text, text, text)',
		'londiste.local_set_table_state(text, text, text, text)',
		'londiste.local_set_table_attrs(text, text, text)',
		'londiste.local_set_table_struct(text, text, text)',
		'londiste.drop_table_triggers(text, text)',
		'londiste.table_info_trigger()',
		'londiste.create_trigger(text, text, text[], text, text)',
		'londiste.create_truncate_trigger(text, text, text)',
		'londiste.restore_triggers(text, text, text[], text, text)',
		'londiste.create_partition(text, text, text, text, timestamptz, text)',
		'londiste.is_obsolete_partition(text, interval, text)',
		'londiste.list_obsolete_partitions(text, interval, text)',
		'londiste.drop_obsolete_partitions(text, interval, text)',
		'londiste.set_session_replication_role(text, bool)',
		'londiste.upgrade_schema()'] LOOP
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO londiste_writer', f);
	END LOOP;
END
$g$;
-- PUBLIC keeps this one, as in the original.
GRANT EXECUTE ON FUNCTION londiste.periodic_maintenance() TO londiste_writer;

DO $g$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgq_admin') THEN
		GRANT EXECUTE ON FUNCTION londiste.periodic_maintenance() TO pgq_admin;
	END IF;
	-- root_check_seqs exists only beside pgq_node (42-seqs.sql)
	IF to_regprocedure('londiste.root_check_seqs(text)') IS NOT NULL THEN
		REVOKE ALL ON FUNCTION londiste.root_check_seqs(text),
			londiste.root_check_seqs(text, int8) FROM PUBLIC;
		GRANT EXECUTE ON FUNCTION londiste.root_check_seqs(text),
			londiste.root_check_seqs(text, int8) TO londiste_writer;
		IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgq_admin') THEN
			GRANT EXECUTE ON FUNCTION londiste.root_check_seqs(text),
				londiste.root_check_seqs(text, int8) TO pgq_admin;
		END IF;
	END IF;
END
$g$;
