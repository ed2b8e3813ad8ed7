#!/usr/bin/env bats
# sql/pgq: pgq_reader, pgq_writer, pgq_admin; re-running the install.

load helper

setup_file() {
	pg_start
	new_db roles
	sql roles "CREATE ROLE w LOGIN IN ROLE pgq_writer;
	CREATE ROLE r LOGIN IN ROLE pgq_reader;
	CREATE ROLE a LOGIN IN ROLE pgq_admin;
	CREATE ROLE nobody LOGIN;
	GRANT CREATE ON SCHEMA public TO w;
	SELECT pgq.create_queue('rq');
	SELECT pgq.create_queue('rr');
	SELECT pgq.register_consumer('rq', 'setup');" >/dev/null
}

as() {
	local u=$1; shift
	psql -XAtq -v ON_ERROR_STOP=1 -U "$u" -d roles -c "$*"
}

acls() {
	sql roles "SELECT p.oid::regprocedure || '=' || coalesce(p.proacl::text, '') AS f
	           FROM pg_proc p WHERE pronamespace IN ('pgq'::regnamespace, 'pgq_coop'::regnamespace)
	           UNION ALL
	           SELECT c.oid::regclass || '=' || coalesce(c.relacl::text, '') FROM pg_class c
	           WHERE relnamespace = 'pgq'::regnamespace ORDER BY 1"
}

tick() {
	psql -XAtq -v ON_ERROR_STOP=1 -d roles -c "SELECT pgq.force_tick('$1')" \
		-c "SELECT pgq.ticker('$1')" | tail -n 1
}

@test "writer: inserts events, cannot consume, manage or touch tables" {
	run as w "SELECT pgq.insert_event('rq', 't', 'from w') > 0"
	[ "$output" = t ]
	run as w "SELECT pgq.current_event_table('rq') IS NOT NULL"
	[ "$output" = t ]
	for q in "SELECT pgq.register_consumer('rq', 'w')" \
	         "SELECT pgq.next_batch('rq', 'setup')" \
	         "SELECT pgq.create_queue('wq')" \
	         "SELECT pgq.drop_queue('rq', true)" \
	         "SELECT pgq.ticker()" \
	         "SELECT count(*) FROM pgq.event_template" \
	         "INSERT INTO pgq.event_1_0 (ev_id, ev_type) VALUES (1, 'x')" \
	         "UPDATE pgq.subscription SET sub_last_tick = 1"; do
		run --separate-stderr as w "$q"
		[ "$status" -ne 0 ] || { echo "writer could: $q" >&2; false; }
		[[ "$stderr" == *"permission denied"* ]]
	done
}

@test "writer: a table with logutriga queues the changes of a pgq_writer member" {
	as w "CREATE TABLE wt (a int PRIMARY KEY, b text);
	CREATE TRIGGER x AFTER INSERT ON wt FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('rq')"
	as w "INSERT INTO wt VALUES (1, 'x')"
	run sql roles "SELECT count(*) FROM pgq.event_template WHERE ev_type = 'I:a'"
	[ "$output" = 1 ]
}

@test "reader: consumes, cannot insert, create, drop or tick" {
	run as r "SELECT pgq.register_consumer('rr', 'r')"
	[ "$output" = 1 ]
	sql roles "SELECT pgq.insert_event('rr', 't', 'for r')" >/dev/null
	tick rr >/dev/null
	b=$(as r "SELECT pgq.next_batch('rr', 'r')")
	[ -n "$b" ]
	run as r "SELECT ev_data FROM pgq.get_batch_events($b)"
	[ "$output" = "for r" ]
	run psql -XAtq -v ON_ERROR_STOP=1 -U r -d roles -c "BEGIN" \
		-c "SELECT ev_data FROM pgq.get_batch_cursor($b, 'c', 10)" -c "COMMIT"
	[ "$output" = "for r" ]
	run as r "SELECT pgq.event_retry($b, (SELECT ev_id FROM pgq.get_batch_events($b)), 60)"
	[ "$output" = 1 ]
	run as r "SELECT pgq.finish_batch($b)"
	[ "$output" = 1 ]
	for q in "SELECT pgq.insert_event('rr', 't', 'x')" \
	         "SELECT pgq.create_queue('rq2')" \
	         "SELECT pgq.drop_queue('rr')" \
	         "SELECT pgq.drop_queue('rr', true)" \
	         "SELECT pgq.set_queue_config('rr', 'ticker_paused', 'on')" \
	         "SELECT pgq.ticker('rr')" \
	         "SELECT pgq.maint_retry_events()" \
	         "UPDATE pgq.subscription SET sub_last_tick = 1" \
	         "DELETE FROM pgq.retry_queue"; do
		run --separate-stderr as r "$q"
		[ "$status" -ne 0 ] || { echo "reader could: $q" >&2; false; }
		[[ "$stderr" == *"permission denied"* ]]
	done
}

@test "admin: creates, ticks, maintains, drops" {
	run as a "SELECT pgq.create_queue('aq')"
	[ "$output" = 1 ]
	run as a "SELECT pgq.set_queue_config('aq', 'rotation_period', '0')"
	[ "$output" = 1 ]
	run as a "SELECT pgq.ticker() >= 0"
	[ "$output" = t ]
	run as a "SELECT count(*) > 0 FROM pgq.maint_operations()"
	[ "$output" = t ]
	run as a "SELECT pgq.maint_rotate_tables_step1('aq')"
	[ "$output" = 0 ]
	run as a "SELECT queue_cur_table FROM pgq.queue WHERE queue_name = 'aq'"
	[ "$output" = 1 ]
	run as a "SELECT pgq.maint_retry_events() >= 0"
	[ "$output" = t ]
	run as a "SELECT pgq.insert_event('aq', 't', 'x') > 0"
	[ "$output" = t ]
	run as a "SELECT pgq.drop_queue('aq')"
	[ "$output" = 1 ]
}

@test "anyone: version and status only" {
	run as nobody "SELECT pgq.version(), count(*) >= 0 FROM pgq.get_queue_info()"
	[ "$output" = "3.5.1|t" ]
	run as nobody "SELECT count(*) >= 0 FROM pgq.get_consumer_info()"
	[ "$output" = t ]
	for q in "SELECT pgq.insert_event('rq', 't', 'x')" \
	         "SELECT pgq.next_batch('rq', 'setup')" \
	         "SELECT pgq.create_queue('nq')"; do
		run --separate-stderr as nobody "$q"
		[ "$status" -ne 0 ]
		[[ "$stderr" == *"permission denied"* ]]
	done
}

@test "re-running the install upgrades in place and keeps queued events" {
	sql roles "SELECT pgq.create_queue('keep')" >/dev/null
	sql roles "SELECT pgq.register_consumer('keep', 'c')" >/dev/null
	sql roles "SELECT pgq.insert_event('keep', 't', 'before-' || i) FROM generate_series(1, 5) i" >/dev/null
	tick keep >/dev/null
	sql roles "SELECT pgq.insert_event('keep', 't', 'pending')" >/dev/null
	b=$(sql roles "SELECT pgq.next_batch('keep', 'c')")
	acl=$(acls)
	run install_ours roles
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run install_ours roles
	[ "$status" -eq 0 ]
	[ "$(acls)" = "$acl" ]
	# the open batch is still open, with the same events
	[ "$(sql roles "SELECT pgq.next_batch('keep', 'c')")" = "$b" ]
	run sql roles "SELECT count(*) FROM pgq.get_batch_events($b)"
	[ "$output" = 5 ]
	sql roles "SELECT pgq.finish_batch($b)" >/dev/null
	tick keep >/dev/null
	b=$(sql roles "SELECT pgq.next_batch('keep', 'c')")
	run sql roles "SELECT ev_data FROM pgq.get_batch_events($b)"
	[ "$output" = pending ]
}

@test "the install refuses to overwrite another PgQ" {
	have_debian_pgq || skip "Debian's PgQ is not installed"
	new_db other debian
	sql other "SELECT pgq.create_queue('theirs')" >/dev/null
	run --separate-stderr install_ours other
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"another PgQ"* ]]
	run sql other "SELECT queue_name FROM pgq.queue"
	[ "$output" = theirs ]
	run sql other "SELECT to_regprocedure('pgq.skytools_c_version()') IS NULL"
	[ "$output" = t ]
}
