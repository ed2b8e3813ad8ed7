-- Least privilege: nothing is executable by PUBLIC but the version and
-- status functions; pgq_reader consumes, pgq_writer produces, pgq_admin
-- (a member of both) manages queues and runs the ticker and maintenance.
-- The SECURITY DEFINER functions do the table writes.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgq FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	pgq.version(),
	pgq.skytools_c_version(),
	pgq.quote_fqname(text),
	pgq.seq_getval(text),
	pgq._seq_getval(regclass),
	pgq.get_queue_info(),
	pgq.get_queue_info(text),
	pgq.get_consumer_info(),
	pgq.get_consumer_info(text),
	pgq.get_consumer_info(text, text)
TO PUBLIC;

GRANT EXECUTE ON FUNCTION
	pgq.register_consumer(text, text),
	pgq.register_consumer_at(text, text, bigint),
	pgq.unregister_consumer(text, text),
	pgq.next_batch(text, text),
	pgq.next_batch_info(text, text),
	pgq.next_batch_custom(text, text, interval, integer, interval),
	pgq.get_batch_events(bigint),
	pgq.get_batch_cursor(bigint, text, integer),
	pgq.get_batch_cursor(bigint, text, integer, text),
	pgq.get_batch_info(bigint),
	pgq.batch_event_sql(bigint),
	pgq.batch_event_tables(bigint),
	pgq.find_tick_helper(integer, bigint, timestamptz, bigint, bigint, interval),
	pgq.event_retry(bigint, bigint, integer),
	pgq.event_retry(bigint, bigint, timestamptz),
	pgq.batch_retry(bigint, integer),
	pgq.finish_batch(bigint),
	pgq.force_tick(text)
TO pgq_reader;

GRANT EXECUTE ON FUNCTION
	pgq.insert_event(text, text, text),
	pgq.insert_event(text, text, text, text, text, text, text),
	pgq.current_event_table(text),
	pgq.logutriga(),
	pgq.sqltriga(),
	pgq.jsontriga(),
	pgq._urlenc(text),
	pgq._row_values_sql(text[]),
	pgq._table_name(oid),
	pgq._row_expr(text, record),
	pgq._row_event(text, text[], oid, text, record, record),
	pgq._trigger(text, text, text, text, text[], oid, record, record),
	pgq._pkey_columns(oid),
	pgq._trigger_args(text[], oid, text, boolean),
	pgq._table_columns(oid),
	pgq._only_ignored_changed(text[], text[], text[], text[], text[], text[]),
	pgq._urlenc_row(text[], text[], text[]),
	pgq._sql_data(text, text[], text[], text[], text[], text[], text),
	pgq._json_row(text[], oid[], text[], text[]),
	pgq._json_type(text, oid, text[]),
	pgq._truncate_event(text, text[], oid)
TO pgq_writer;

GRANT EXECUTE ON FUNCTION
	pgq.create_queue(text),
	pgq.drop_queue(text),
	pgq.drop_queue(text, boolean),
	pgq.set_queue_config(text, text, text),
	pgq.insert_event_raw(text, bigint, timestamptz, integer, integer, text, text, text, text, text, text),
	pgq.event_retry_raw(text, text, timestamptz, bigint, timestamptz, integer, text, text, text, text, text, text),
	pgq.ticker(),
	pgq.ticker(text),
	pgq.ticker(text, bigint, timestamptz, bigint),
	pgq.maint_operations(),
	pgq.maint_retry_events(),
	pgq.maint_rotate_tables_step1(text),
	pgq.maint_rotate_tables_step2(),
	pgq.maint_tables_to_vacuum(),
	pgq.seq_setval(text, bigint),
	pgq._seq_setval(regclass, bigint),
	pgq.upgrade_schema(),
	pgq.grant_perms(text),
	pgq._grant_perms_from(text, text, text, text),
	pgq.tune_storage(text)
TO pgq_admin;
