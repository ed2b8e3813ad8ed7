-- Only inside CREATE EXTENSION (sql/build-ext appends it): pg_dump
-- dumps the replication state although the extension owns its tables:
-- Londiste 3's registry (as the original marks it) and the copy states,
-- applied ticks and pending events beside it.
SELECT pg_catalog.pg_extension_config_dump('londiste.table_info', '');
SELECT pg_catalog.pg_extension_config_dump('londiste.seq_info', '');
SELECT pg_catalog.pg_extension_config_dump('londiste.applied_execute', '');
SELECT pg_catalog.pg_extension_config_dump('londiste.pending_fkeys', '');
SELECT pg_catalog.pg_extension_config_dump('londiste.table_info_nr_seq', '');
SELECT pg_catalog.pg_extension_config_dump('londiste.seq_info_nr_seq', '');
SELECT pg_catalog.pg_extension_config_dump('londiste.provider_table', '');
SELECT pg_catalog.pg_extension_config_dump('londiste.provider_seq', '');
SELECT pg_catalog.pg_extension_config_dump('londiste.subscriber_table', '');
SELECT pg_catalog.pg_extension_config_dump('londiste.subscriber_seq', '');
SELECT pg_catalog.pg_extension_config_dump('londiste.completed', '');
SELECT pg_catalog.pg_extension_config_dump('londiste.pending', '');
SELECT pg_catalog.pg_extension_config_dump('londiste.pending_seq_seq', '');
