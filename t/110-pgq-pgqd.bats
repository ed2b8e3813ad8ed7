#!/usr/bin/env bats
# Interop: Debian's pgqd (the original C ticker daemon) ticks and
# maintains our schema.

load helper

setup_file() {
	command -v pgqd >/dev/null || skip "pgqd is not installed"
	pg_start
	new_db pgqd
	cat >"$TEST_DIR/pgqd.ini" <<-INI
	[pgqd]
	base_connstr = host=$TEST_DIR port=$PGPORT user=postgres
	database_list = pgqd
	logfile = $TEST_DIR/pgqd.log
	pidfile = $TEST_DIR/pgqd.pid
	ticker_period = 0.2
	maint_period = 1
	retry_period = 1
	check_period = 1
	INI
	pgqd -v "$TEST_DIR/pgqd.ini" >"$TEST_DIR/pgqd.out" 2>&1 &
	echo $! >"$TEST_DIR/pgqd.daemon"
}

teardown_file() {
	if [ -f "$TEST_DIR/pgqd.daemon" ]; then
		kill "$(cat "$TEST_DIR/pgqd.daemon")" 2>/dev/null || true
		wait "$(cat "$TEST_DIR/pgqd.daemon")" 2>/dev/null || true
	fi
	pg_stop
}

last_tick() { sql pgqd "SELECT last_tick_id FROM pgq.get_queue_info('$1')"; }
tick_after() { [ "$(last_tick "$1")" -gt "$2" ]; }
cur_table_is() { [ "$(sql pgqd "SELECT queue_cur_table FROM pgq.queue WHERE queue_name = '$1'")" = "$2" ]; }
retry_empty() { [ "$(sql pgqd "SELECT count(*) FROM pgq.retry_queue")" = 0 ]; }
# Consume one batch if there is one, appending its events to FILE;
# true once FILE has an event.
consume_into() {
	local b
	b=$(sql pgqd "SELECT pgq.next_batch('$1', '$2')")
	if [ -n "$b" ]; then
		sql pgqd "SELECT ev_data, ev_retry FROM pgq.get_batch_events($b)" >>"$3"
		sql pgqd "SELECT pgq.finish_batch($b)" >/dev/null
	fi
	[ -s "$3" ]
}
batch_ready() { [ -n "$(sql pgqd "SELECT pgq.next_batch('$1', '$2')")" ]; }

@test "pgqd accepts our pgq.version() and ticks our queues" {
	sql pgqd "SELECT pgq.create_queue('dq')" >/dev/null
	sql pgqd "SELECT pgq.set_queue_config('dq', 'ticker_max_count', '1')" >/dev/null
	sql pgqd "SELECT pgq.register_consumer('dq', 'c')" >/dev/null
	t0=$(last_tick dq)
	sql pgqd "SELECT pgq.insert_event('dq', 't', 'ticked by pgqd')" >/dev/null
	wait_for tick_after dq "$t0"
	b=$(sql pgqd "SELECT pgq.next_batch('dq', 'c')")
	run sql pgqd "SELECT ev_data FROM pgq.get_batch_events($b)"
	[ "$output" = "ticked by pgqd" ]
	sql pgqd "SELECT pgq.finish_batch($b)" >/dev/null
	! grep -qi "bad pgq version" "$TEST_DIR/pgqd.log"
}

@test "pgqd returns retried events" {
	sql pgqd "SELECT pgq.create_queue('rq')" >/dev/null
	sql pgqd "SELECT pgq.set_queue_config('rq', 'ticker_max_count', '1')" >/dev/null
	sql pgqd "SELECT pgq.register_consumer('rq', 'c')" >/dev/null
	sql pgqd "SELECT pgq.insert_event('rq', 't', 'retry me')" >/dev/null
	wait_for batch_ready rq c
	b=$(sql pgqd "SELECT pgq.next_batch('rq', 'c')")
	sql pgqd "SELECT pgq.event_retry($b, ev_id, 0) FROM pgq.get_batch_events($b)" >/dev/null
	sql pgqd "SELECT pgq.finish_batch($b)" >/dev/null
	sql pgqd "SELECT pgq.set_queue_config('rq', 'ticker_idle_period', '1 second')" >/dev/null
	wait_for retry_empty
	# a tick may come before the retry's transaction commits: read
	# batches until the event is back
	wait_for consume_into rq c "$TEST_DIR/rq.events"
	grep -qx "retry me|1" "$TEST_DIR/rq.events"
}

@test "pgqd rotates the event tables" {
	sql pgqd "SELECT pgq.create_queue('tq')" >/dev/null
	sql pgqd "SELECT pgq.insert_event('tq', 't', 'old')" >/dev/null
	old=$(sql pgqd "SELECT pgq.current_event_table('tq')")
	sql pgqd "SELECT pgq.set_queue_config('tq', 'rotation_period', '0')" >/dev/null
	# pgqd runs maintenance about every 20 s whatever maint_period says
	wait_for cur_table_is tq 1
	[ "$(sql pgqd "SELECT pgq.current_event_table('tq')")" != "$old" ]
	run sql pgqd "SELECT queue_switch_step2 IS NOT NULL FROM pgq.queue WHERE queue_name = 'tq'"
	[ "$output" = t ]
	grep -q "maint_rotate_tables_step1" "$TEST_DIR/pgqd.log"
}
