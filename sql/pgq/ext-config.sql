-- Only inside CREATE EXTENSION (sql/build-ext appends it): pg_dump
-- dumps the contents of these tables and sequences, the queue state,
-- although the extension owns them.
SELECT pg_catalog.pg_extension_config_dump('pgq.queue', '');
SELECT pg_catalog.pg_extension_config_dump('pgq.consumer', '');
SELECT pg_catalog.pg_extension_config_dump('pgq.tick', '');
SELECT pg_catalog.pg_extension_config_dump('pgq.subscription', '');
SELECT pg_catalog.pg_extension_config_dump('pgq.retry_queue', '');
SELECT pg_catalog.pg_extension_config_dump('pgq.batch_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgq.queue_queue_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgq.consumer_co_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgq.subscription_sub_id_seq', '');
