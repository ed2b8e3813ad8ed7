-- The original's grants: pgq_reader reads node state and subscribes
-- nodes (a worker below registers itself here), pgq_writer also keeps
-- cascaded consumer positions, pgq_admin changes the node.  The
-- SECURITY DEFINER functions do the table writes for the first two.

REVOKE ALL ON pgq_node.node_location, pgq_node.node_info, pgq_node.local_state,
	pgq_node.subscriber_info FROM PUBLIC;
GRANT SELECT ON pgq_node.node_location, pgq_node.node_info, pgq_node.local_state,
	pgq_node.subscriber_info TO pgq_reader, pgq_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON pgq_node.node_location, pgq_node.node_info,
	pgq_node.local_state, pgq_node.subscriber_info TO pgq_admin;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgq_node FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	pgq_node.version(),
	pgq_node.skytools_c_version(),
	pgq_node.is_root_node(text),
	pgq_node.is_leaf_node(text),
	pgq_node._node_type(text)
TO PUBLIC;

GRANT EXECUTE ON FUNCTION
	pgq_node._queue_top(text),
	pgq_node._watermarks(text),
	pgq_node._consumer_state(text, text, boolean),
	pgq_node.get_consumer_info(text),
	pgq_node.get_consumer_state(text, text),
	pgq_node.get_queue_locations(text),
	pgq_node.get_node_info(text),
	pgq_node.get_subscriber_info(text),
	pgq_node.register_subscriber(text, text, text, bigint),
	pgq_node.unregister_subscriber(text, text),
	pgq_node.set_subscriber_watermark(text, text, bigint)
TO pgq_reader, pgq_writer, pgq_admin;

GRANT EXECUTE ON FUNCTION
	pgq_node.register_consumer(text, text, text, bigint),
	pgq_node.unregister_consumer(text, text),
	pgq_node.change_consumer_provider(text, text, text),
	pgq_node.set_consumer_uptodate(text, text, boolean),
	pgq_node.set_consumer_paused(text, text, boolean),
	pgq_node.set_consumer_completed(text, text, bigint),
	pgq_node.set_consumer_error(text, text, text)
TO pgq_writer, pgq_admin;

GRANT EXECUTE ON FUNCTION
	pgq_node.create_node(text, text, text, text, text, bigint, text),
	pgq_node.drop_node(text, text),
	pgq_node.demote_root(text, integer, text),
	pgq_node.promote_branch(text),
	pgq_node.set_node_attrs(text, text),
	pgq_node.get_worker_state(text),
	pgq_node.set_global_watermark(text, bigint),
	pgq_node.set_partition_watermark(text, text, bigint),
	pgq_node.register_location(text, text, text, boolean),
	pgq_node.unregister_location(text, text),
	pgq_node.upgrade_schema(),
	pgq_node.maint_watermark(text)
TO pgq_admin;
