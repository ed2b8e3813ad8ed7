#!/usr/bin/env bats
# sql/pgq: behaviours where tools written for the original PgQ 3.5 rely
# on its exact semantics (what its functions return, which tables a
# batch reads, the stored types, the maintenance hooks).

load helper
load 1xx-extension

setup_file() {
	pg_start
	new_db k
}

tick() {
	psql -XAtq -v ON_ERROR_STOP=1 -d k -c "SELECT pgq.force_tick('$1')" \
		-c "SELECT pgq.ticker('$1')" | tail -n 1
}

pfx() { sql k "SELECT queue_data_pfx FROM pgq.queue WHERE queue_name = '$1'"; }

# step1 and step2 in their own transactions, as a maintenance daemon
# calls them.
rotate() {
	sql k "SELECT pgq.maint_rotate_tables_step1('$1')" >/dev/null &&
	sql k "SELECT pgq.maint_rotate_tables_step2()" >/dev/null
}

autovacuum_is() { [ "$(sql k "SHOW autovacuum")" = "$1" ]; }

@test "seq_getval, seq_setval: an unqualified name is the caller's (search_path)" {
	sql k "CREATE SCHEMA app; CREATE SEQUENCE app.s START 42; SELECT nextval('app.s')" >/dev/null
	run sql k "SET search_path = app, public; SELECT pgq.seq_getval('s')"
	[ "$status" -eq 0 ]
	[ "$output" = 42 ]
	run sql k "SET search_path = app; SELECT pgq.seq_setval('s', 100)"
	[ "$output" = 100 ]
	# never backwards
	run sql k "SET search_path = app; SELECT pgq.seq_setval('s', 7)"
	[ "$output" = 100 ]
	run sql k "SELECT pgq.seq_getval('app.s'), last_value FROM app.s"
	[ "$output" = "100|100" ]
	# PgQ's own sequences are not found through the function's path
	run --separate-stderr sql k "SET search_path = public; SELECT pgq.seq_getval('batch_id_seq')"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *'"batch_id_seq" does not exist'* ]]
	# a name resolving to something that is not a sequence is refused
	sql k "CREATE TABLE app.notseq (last_value bigint); INSERT INTO app.notseq VALUES (5)"
	run --separate-stderr sql k "SET search_path = app; SELECT pgq.seq_setval('notseq', 9)"
	[ "$status" -ne 0 ]
	run --separate-stderr sql k "SET search_path = app; SELECT pgq.seq_getval('notseq')"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *'"app.notseq" is not a sequence'* ]]
}

@test "maint_tables_to_vacuum: none while autovacuum is on, the bookkeeping tables when off" {
	run sql k "SELECT count(*) FROM pgq.maint_tables_to_vacuum()"
	[ "$output" = 0 ]
	run sql k "SELECT count(*) FROM pgq.maint_operations() WHERE func_name = 'vacuum'"
	[ "$output" = 0 ]
	psql -XAtq -d postgres -c "ALTER SYSTEM SET autovacuum = off" -c "SELECT pg_reload_conf()" >/dev/null
	wait_for autovacuum_is off
	run sql k "SELECT string_agg(t, ' ') FROM pgq.maint_tables_to_vacuum() t"
	psql -XAtq -d postgres -c "ALTER SYSTEM RESET autovacuum" -c "SELECT pg_reload_conf()" >/dev/null
	[ "$output" = "pgq.subscription pgq.consumer pgq.queue pgq.tick pgq.retry_queue" ]
	wait_for autovacuum_is on
}

@test "batch_event_tables: only the tables the batch can touch, from the rotation state" {
	sql k "SELECT pgq.create_queue('bt')" >/dev/null
	sql k "SELECT pgq.set_queue_config('bt', 'rotation_period', '0')" >/dev/null
	sql k "SELECT pgq.register_consumer('bt', 'c')" >/dev/null
	p=$(pfx bt)
	sql k "SELECT pgq.insert_event('bt', 't', 'a')" >/dev/null
	tick bt >/dev/null
	# the first batch starts before the queue's creation was visible
	b=$(sql k "SELECT pgq.next_batch('bt', 'c')")
	run sql k "SELECT * FROM pgq.batch_event_tables($b)"
	[ "$output" = "${p}_2"$'\n'"${p}_0" ]
	sql k "SELECT pgq.finish_batch($b)" >/dev/null
	sql k "SELECT pgq.insert_event('bt', 't', 'b')" >/dev/null
	tick bt >/dev/null
	b=$(sql k "SELECT pgq.next_batch('bt', 'c')")
	run sql k "SELECT * FROM pgq.batch_event_tables($b)"
	[ "$output" = "${p}_0" ]
	# rotated while the batch is open: all of it is before the switch
	rotate bt
	[ "$(sql k "SELECT queue_cur_table FROM pgq.queue WHERE queue_name = 'bt'")" = 1 ]
	run sql k "SELECT * FROM pgq.batch_event_tables($b)"
	[ "$output" = "${p}_0" ]
	run sql k "SELECT ev_data FROM pgq.get_batch_events($b)"
	[ "$output" = b ]
	sql k "SELECT pgq.finish_batch($b)" >/dev/null
	# the batch across the switch reads both, the one after only the new
	sql k "SELECT pgq.insert_event('bt', 't', 'c')" >/dev/null
	tick bt >/dev/null
	b=$(sql k "SELECT pgq.next_batch('bt', 'c')")
	run sql k "SELECT * FROM pgq.batch_event_tables($b)"
	[ "$output" = "${p}_0"$'\n'"${p}_1" ]
	run sql k "SELECT ev_data FROM pgq.get_batch_events($b)"
	[ "$output" = c ]
	sql k "SELECT pgq.finish_batch($b)" >/dev/null
	sql k "SELECT pgq.insert_event('bt', 't', 'd')" >/dev/null
	tick bt >/dev/null
	b=$(sql k "SELECT pgq.next_batch('bt', 'c')")
	run sql k "SELECT * FROM pgq.batch_event_tables($b)"
	[ "$output" = "${p}_1" ]
	run sql k "SELECT ev_data FROM pgq.get_batch_events($b)"
	[ "$output" = d ]
}

@test "maint_rotate_tables_step1/step2 return 0, also when they rotated" {
	sql k "SELECT pgq.create_queue('rz')" >/dev/null
	sql k "SELECT pgq.set_queue_config('rz', 'rotation_period', '0')" >/dev/null
	run sql k "SELECT pgq.maint_rotate_tables_step1('rz')"
	[ "$output" = 0 ]
	[ "$(sql k "SELECT queue_cur_table FROM pgq.queue WHERE queue_name = 'rz'")" = 1 ]
	run sql k "SELECT pgq.maint_rotate_tables_step2()"
	[ "$output" = 0 ]
	[ "$(sql k "SELECT count(*) FROM pgq.queue WHERE queue_switch_step2 IS NULL")" = 0 ]
	run sql k "SELECT pgq.maint_rotate_tables_step1('no such queue')"
	[ "$output" = 0 ]
}

@test "upgrade_schema, grant_perms, _grant_perms_from, tune_storage, find_tick_helper" {
	run sql k "SELECT pgq.upgrade_schema()"
	[ "$output" = 0 ]
	sql k "ALTER TABLE pgq.subscription ALTER COLUMN sub_last_tick SET NOT NULL"
	run sql k "SELECT pgq.upgrade_schema()"
	[ "$output" = 1 ]
	run sql k "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'pgq.subscription'::regclass AND attname = 'sub_last_tick'"
	[ "$output" = f ]

	sql k "SELECT pgq.create_queue('gp')" >/dev/null
	p=$(pfx gp)
	sql k "CREATE ROLE gp_audit; GRANT SELECT ON pgq.event_template TO gp_audit WITH GRANT OPTION;
	       REVOKE SELECT ON ${p}_1 FROM pgq_reader"
	run sql k "SELECT pgq.grant_perms('gp')"
	[ "$output" = 1 ]
	run sql k "SELECT string_agg(has_table_privilege('pgq_reader', t, 'SELECT')::text
	                             || has_table_privilege('gp_audit', t, 'SELECT WITH GRANT OPTION')::text, ' ')
	           FROM unnest(ARRAY['$p', '${p}_0', '${p}_1', '${p}_2']) t"
	[ "$output" = "truetrue truetrue truetrue truetrue" ]
	run --separate-stderr sql k "SELECT pgq.grant_perms('nosuch')"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"Queue not found"* ]]
	sql k "CREATE TABLE public.gsrc (a int); CREATE TABLE public.gdst (a int);
	       GRANT INSERT ON public.gsrc TO gp_audit"
	run sql k "SELECT pgq._grant_perms_from('public', 'gsrc', 'public', 'gdst'),
	                  has_table_privilege('gp_audit', 'public.gdst', 'INSERT')"
	[ "$output" = "1|t" ]

	run sql k "SELECT pgq.tune_storage('gp'), pgq.tune_storage('nosuch')"
	[ "$output" = "1|0" ]
	run sql k "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE oid = '${p}_2'::regclass"
	[ "$output" = "fillfactor=100,autovacuum_enabled=off" ]

	# ticks at event counts 0, 5, 10, 15, 20
	q=$(sql k "SELECT queue_id FROM pgq.queue WHERE queue_name = 'gp'")
	for i in 1 2 3 4; do
		sql k "SELECT pgq.insert_event('gp', 't', 'x') FROM generate_series(1, 5)" >/dev/null
		sql k "SELECT pgq.ticker('gp', (SELECT max(tick_id) + 1 FROM pgq.tick WHERE tick_queue = $q),
		                         now(), pgq.seq_getval('$p' || '_id_seq'))" >/dev/null
	done
	t0=$(sql k "SELECT tick_id || ',' || quote_literal(tick_time) || ',' || tick_event_seq
	            FROM pgq.tick WHERE tick_queue = $q ORDER BY tick_id LIMIT 1")
	first=$(sql k "SELECT min(tick_id) FROM pgq.tick WHERE tick_queue = $q")
	# the last tick when it is not more than twice past the limit ...
	run sql k "SELECT next_tick_id - $first, next_tick_seq FROM pgq.find_tick_helper($q, $t0, 12, NULL)"
	[ "$output" = "4|20" ]
	# ... else the first tick that reaches it
	run sql k "SELECT next_tick_id - $first, next_tick_seq FROM pgq.find_tick_helper($q, $t0, 5, NULL)"
	[ "$output" = "1|5" ]
	run sql k "SELECT next_tick_id IS NULL FROM pgq.find_tick_helper($q, $t0, 30, NULL)"
	[ "$output" = t ]
	run sql k "SELECT next_tick_id - $first FROM pgq.find_tick_helper($q, $t0, NULL, '0')"
	[ "$output" = 1 ]
	run sql k "SELECT next_tick_id - $first FROM pgq.find_tick_helper($q, $t0, NULL, '1 day')"
	[ "$output" = "" ]
	run sql k "SELECT has_function_privilege('pgq_reader',
	               'pgq.find_tick_helper(int4, int8, timestamptz, int8, int8, interval)', 'EXECUTE'),
	           has_function_privilege('pgq_admin', 'pgq.tune_storage(text)', 'EXECUTE'),
	           has_function_privilege('pgq_reader', 'pgq.grant_perms(text)', 'EXECUTE')"
	[ "$output" = "t|t|f" ]
}

@test "stored types are PgQ's: txid functions and bigint comparisons work on them" {
	sql k "SELECT pgq.create_queue('ty')" >/dev/null
	sql k "SELECT pgq.insert_event('ty', 't', 'x')" >/dev/null
	tick ty >/dev/null
	p=$(pfx ty)
	run sql k "SELECT count(*) FROM ${p} e, pgq.tick t, pgq.queue q
	           WHERE q.queue_name = 'ty' AND t.tick_queue = q.queue_id
	             AND txid_visible_in_snapshot(e.ev_txid, t.tick_snapshot)
	             AND e.ev_txid >= 1 AND e.ev_txid IN (e.ev_txid, 0)
	             AND q.queue_switch_step1 <= txid_current()
	             AND txid_snapshot_xmin(t.tick_snapshot) <= q.queue_switch_step2 + 1000000"
	[ "$output" = 1 ]
	run sql k "SELECT pg_typeof(tick_snapshot)::text FROM pgq.tick LIMIT 1"
	[ "$output" = txid_snapshot ]
}

@test "re-install converts a first-version schema (xid8, pg_snapshot) in place, keeping the queue" {
	new_db old
	sql old "SELECT pgq.create_queue('uq')" >/dev/null
	sql old "SELECT pgq.register_consumer('uq', 'c')" >/dev/null
	sql old "SELECT pgq.insert_event('uq', 't', 'before')" >/dev/null
	psql -XAtq -v ON_ERROR_STOP=1 -d old -c "SELECT pgq.force_tick('uq')" -c "SELECT pgq.ticker('uq')" >/dev/null
	sql old "SELECT pgq.insert_event('uq', 't', 'pending')" >/dev/null
	b=$(sql old "SELECT pgq.next_batch('uq', 'c')")
	[ "$(sql old "SELECT ev_data FROM pgq.get_batch_events($b)")" = before ]
	sql old "SELECT pgq.finish_batch($b)" >/dev/null
	snap=$(sql old "SELECT string_agg(tick_snapshot::text, ' ' ORDER BY tick_id) FROM pgq.tick")
	# the types of the first version
	first_schema_types sql old
	install_ours old
	run sql old "SELECT string_agg(format_type(atttypid, NULL), ' ' ORDER BY attrelid::regclass::text, attname)
	             FROM pg_attribute WHERE attname IN ('tick_snapshot', 'queue_switch_step1', 'queue_switch_step2', 'ev_txid')
	               AND attrelid IN ('pgq.tick'::regclass, 'pgq.queue'::regclass, 'pgq.event_template'::regclass)"
	[ "$output" = "bigint bigint bigint txid_snapshot" ]
	[ "$(sql old "SELECT string_agg(tick_snapshot::text, ' ' ORDER BY tick_id) FROM pgq.tick")" = "$snap" ]
	[ "$(sql old "SELECT count(*) FROM pgq.event_template WHERE ev_txid > 0")" = 2 ]
	# the queue goes on: the pending event comes, once
	sql old "SELECT pgq.insert_event('uq', 't', 'after')" >/dev/null
	psql -XAtq -v ON_ERROR_STOP=1 -d old -c "SELECT pgq.force_tick('uq')" -c "SELECT pgq.ticker('uq')" >/dev/null
	b=$(sql old "SELECT pgq.next_batch('uq', 'c')")
	run sql old "SELECT string_agg(ev_data, ' ' ORDER BY ev_id) FROM pgq.get_batch_events($b)"
	[ "$output" = "pending after" ]
}

@test "maint_operations: the hooks of pgq_node and londiste, in PgQ's order" {
	sql k "CREATE SCHEMA pgq_node;
	       CREATE TABLE pgq_node.node_info (queue_name text, node_type text);
	       CREATE FUNCTION pgq_node.maint_watermark(text) RETURNS integer LANGUAGE sql AS 'SELECT 0';
	       INSERT INTO pgq_node.node_info VALUES ('qa', 'root'), ('qb', 'leaf'), ('qc', 'root');
	       CREATE SCHEMA londiste;
	       CREATE TABLE londiste.seq_info (queue_name text, seq_name text, local boolean);
	       CREATE FUNCTION londiste.root_check_seqs(text) RETURNS integer LANGUAGE sql AS 'SELECT 0';
	       CREATE FUNCTION londiste.periodic_maintenance() RETURNS integer LANGUAGE sql AS 'SELECT 0';
	       INSERT INTO londiste.seq_info VALUES ('qa', 's1', true), ('qa', 's2', true),
	         ('qb', 's1', true), ('qc', 's1', false)"
	sql k "SELECT pgq.create_queue('hk')" >/dev/null
	sql k "UPDATE pgq.queue SET queue_extra_maint = ARRAY['x.extra'] WHERE queue_name = 'hk'"
	run sql k "SELECT func_name || ':' || coalesce(func_arg, '-') FROM pgq.maint_operations()
	           WHERE func_name NOT LIKE 'pgq.maint_rotate%'"
	sql k "DROP SCHEMA pgq_node CASCADE; DROP SCHEMA londiste CASCADE"
	sql k "UPDATE pgq.queue SET queue_extra_maint = NULL WHERE queue_name = 'hk'"
	[ "${lines[0]}" = "x.extra:hk" ]
	[ "${lines[1]}" = "pgq_node.maint_watermark:qa" ]
	[ "${lines[2]}" = "pgq_node.maint_watermark:qc" ]
	[ "${lines[3]}" = "londiste.root_check_seqs:qa" ]
	[ "${lines[4]}" = "londiste.periodic_maintenance:-" ]
	[ "${#lines[@]}" -eq 5 ]
}

# The events queued so far, oldest first, as ev_type|ev_data|ev_extra1|
# ev_extra2|ev_extra3|ev_extra4; then empties the queue's tables.
events() {
	sql k "SELECT ev_type, ev_data, ev_extra1, ev_extra2, ev_extra3, ev_extra4
	       FROM pgq.event_template e JOIN pgq.queue q
	         ON e.tableoid::regclass::text LIKE q.queue_data_pfx || '\\_%'
	       WHERE q.queue_name = '$1' ORDER BY ev_id" &&
	sql k "TRUNCATE $(pfx "$1")" >/dev/null
}

@test "queue_per_tx_limit: insert_event refuses more events from one transaction" {
	sql k "SELECT pgq.create_queue('lim')" >/dev/null
	sql k "SELECT pgq.set_queue_config('lim', 'per_tx_limit', '3')" >/dev/null
	run sql k "SELECT count(pgq.insert_event('lim', 't', i::text)) FROM generate_series(1, 3) i"
	[ "$output" = 3 ]
	run --separate-stderr sql k "SELECT count(pgq.insert_event('lim', 't', 'x', NULL, NULL, NULL, NULL))
	                             FROM generate_series(1, 4) i"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"Queue 'lim' allows max 3 events from one TX"* ]]
	# a rolled-back savepoint gives its events back
	run sql k "BEGIN; SELECT pgq.insert_event('lim', 't', 'a') > 0, pgq.insert_event('lim', 't', 'b') > 0;
	           SAVEPOINT s; SELECT pgq.insert_event('lim', 't', 'gone') > 0; ROLLBACK TO s;
	           SELECT pgq.insert_event('lim', 't', 'c') > 0; COMMIT"
	[ "$status" -eq 0 ]
	# retries and movers (the raw insert) are not counted
	run sql k "SELECT count(pgq.insert_event_raw('lim', NULL, NULL, NULL, NULL, 't', 'r', NULL, NULL, NULL, NULL))
	           FROM generate_series(1, 5)"
	[ "$output" = 5 ]
	run sql k "SELECT string_agg(ev_data, ' ' ORDER BY ev_id) FROM $(pfx lim)_0"
	[ "$output" = "1 2 3 a b c r r r r r" ]
	sql k "SELECT pgq.set_queue_config('lim', 'per_tx_limit', NULL)" >/dev/null
	run sql k "SELECT count(pgq.insert_event('lim', 't', 'x')) FROM generate_series(1, 10)"
	[ "$output" = 10 ]
}

@test "logutriga, jsontriga: UPDATE and DELETE on a table without a key are refused, INSERT works" {
	sql k "SELECT pgq.create_queue('tq')" >/dev/null
	sql k "CREATE TABLE nopk (a int, b text);
	       CREATE TRIGGER l AFTER INSERT OR UPDATE OR DELETE ON nopk FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('tq');
	       CREATE TABLE nopk_j (a int, b text);
	       CREATE TRIGGER j AFTER INSERT OR UPDATE OR DELETE ON nopk_j FOR EACH ROW EXECUTE FUNCTION pgq.jsontriga('tq')"
	sql k "INSERT INTO nopk VALUES (1, 'x'); INSERT INTO nopk_j VALUES (1, 'x')"
	for stmt in "UPDATE nopk SET b = 'y'" "DELETE FROM nopk" "UPDATE nopk_j SET b = 'y'" "DELETE FROM nopk_j"; do
		run --separate-stderr sql k "$stmt"
		[ "$status" -ne 0 ]
		[[ "$stderr" == *"Update/Delete on table without pkey"* ]]
	done
	# pkey= names the key
	sql k "DROP TRIGGER l ON nopk; CREATE TRIGGER l AFTER INSERT OR UPDATE OR DELETE ON nopk
	       FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('tq', 'pkey=a')"
	sql k "UPDATE nopk SET b = 'y'"
	run events tq
	[ "${lines[0]}" = 'I:|a=1&b=x|public.nopk|||' ]
	[ "${lines[1]}" = '{"op":"INSERT","table":["public","nopk_j"],"pkey":[]}|{"a":1,"b":"x"}|public.nopk_j|||' ]
	[ "${lines[2]}" = 'U:a|a=1&b=y|public.nopk|||' ]
	[ "${#lines[@]}" -eq 3 ]
}

@test "session_replication_role: 'local' silences the triggers, 'replica' fires those enabled for it" {
	sql k "SELECT pgq.create_queue('rq')" >/dev/null
	sql k "CREATE TABLE rr (id int PRIMARY KEY, v text);
	       CREATE TRIGGER l AFTER INSERT OR UPDATE OR DELETE ON rr FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('rq');
	       CREATE TRIGGER t AFTER TRUNCATE ON rr FOR EACH STATEMENT EXECUTE FUNCTION pgq.logutriga('rq');
	       CREATE TRIGGER s BEFORE INSERT ON rr FOR EACH ROW EXECUTE FUNCTION pgq.jsontriga('rq', 'SKIP')"
	sql k "SET session_replication_role = local;
	       INSERT INTO rr VALUES (1, 'a'); UPDATE rr SET v = 'b'; DELETE FROM rr; INSERT INTO rr VALUES (2, 'c');
	       TRUNCATE rr; INSERT INTO rr VALUES (3, 'd')"
	# the changes happened (SKIP too: the trigger is off), nothing queued
	run sql k "SELECT string_agg(id || v, ' ') FROM rr"
	[ "$output" = 3d ]
	run events rq
	[ -z "$output" ]
	sql k "ALTER TABLE rr ENABLE ALWAYS TRIGGER l"
	sql k "SET session_replication_role = replica; UPDATE rr SET v = 'e'"
	sql k "SET session_replication_role = origin; UPDATE rr SET v = 'f'"
	run events rq
	[ "${lines[0]}" = 'U:id|id=3&v=e|public.rr|||' ]
	[ "${lines[1]}" = 'U:id|id=3&v=f|public.rr|||' ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "the deprecated _pgq_ev_* columns give the event fields and stay out of the row" {
	sql k "SELECT pgq.create_queue('mq')" >/dev/null
	sql k "CREATE TABLE mc (id int PRIMARY KEY, v text, _pgq_ev_type text, _pgq_ev_extra1 text,
	         _pgq_ev_extra3 text, _pgq_ev_extra4 text);
	       CREATE TRIGGER l AFTER INSERT OR UPDATE OR DELETE ON mc FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('mq');
	       CREATE TABLE mj (id int PRIMARY KEY, _pgq_ev_data text, v text);
	       CREATE TRIGGER j AFTER INSERT ON mj FOR EACH ROW EXECUTE FUNCTION pgq.jsontriga('mq', 'ev_extra4=v');
	       CREATE TABLE ms (id int PRIMARY KEY, _pgq_ev_extra2 text, v text);
	       CREATE TRIGGER s AFTER INSERT ON ms FOR EACH ROW EXECUTE FUNCTION pgq.sqltriga('mq')"
	sql k "INSERT INTO mc VALUES (1, 'a', 'mytype', 'my.table', NULL, 'x4');
	       UPDATE mc SET v = 'b', _pgq_ev_type = 'other';
	       DELETE FROM mc;
	       INSERT INTO mj VALUES (1, 'raw data', 'vv');
	       INSERT INTO ms VALUES (1, 'e2', 'w')"
	run events mq
	[ "${lines[0]}" = 'mytype|id=1&v=a|my.table|||x4' ]
	[ "${lines[1]}" = 'other|id=1&v=b|my.table|||x4' ]
	[ "${lines[2]}" = 'other|id=1&v=b|my.table|||x4' ]
	[ "${lines[3]}" = '{"op":"INSERT","table":["public","mj"],"pkey":["id"]}|raw data|public.mj|||vv' ]
	[ "${lines[4]}" = "I|(id,v) values ('1','w')|public.ms|e2||" ]
	[ "${#lines[@]}" -eq 5 ]
	sql k "CREATE TABLE mbad (id int PRIMARY KEY, _pgq_ev_bogus text);
	       CREATE TRIGGER l AFTER INSERT ON mbad FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('mq')"
	run --separate-stderr sql k "INSERT INTO mbad VALUES (1, 'x')"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"Unknown magic column: _pgq_ev_bogus"* ]]
}
