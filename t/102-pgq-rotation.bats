#!/usr/bin/env bats
# sql/pgq: event table rotation.

load helper

setup_file() {
	pg_start
	new_db rot
	install_drain rot
}

tick() {
	psql -XAtq -v ON_ERROR_STOP=1 -d rot -c "SELECT pgq.force_tick('$1')" \
		-c "SELECT pgq.ticker('$1')" | tail -n 1
}

# step1 and step2 in their own transactions, as pgqd does; prints
# step1's result (always 0, as PgQ's: 1 asks the daemon to call again
# at once) and the queue's current table after it.
rotate() {
	local r
	r=$(sql rot "SELECT pgq.maint_rotate_tables_step1('$1')") &&
	sql rot "SELECT pgq.maint_rotate_tables_step2()" >/dev/null &&
	echo "$r $(cur_table "$1")"
}

idle_in_tx() {
	[ "$(sql rot "SELECT count(*) FROM pg_stat_activity
	              WHERE application_name = '$1' AND state = 'idle in transaction'")" = 1 ]
}

cur_table() { sql rot "SELECT queue_cur_table FROM pgq.queue WHERE queue_name = '$1'"; }
count_events() { sql rot "SELECT count(*) FROM pgq.event_template e JOIN pgq.queue q ON e.tableoid::regclass::text LIKE q.queue_data_pfx || '\\_%' WHERE q.queue_name = '$1'"; }

@test "not before rotation_period" {
	sql rot "SELECT pgq.create_queue('early')" >/dev/null
	run rotate early
	[ "$output" = "0 0" ]
}

@test "a queue without consumers still rotates and truncates" {
	sql rot "SELECT pgq.create_queue('lonely')" >/dev/null
	sql rot "SELECT pgq.set_queue_config('lonely', 'rotation_period', '0')" >/dev/null
	sql rot "SELECT pgq.insert_event('lonely', 't', 'x') FROM generate_series(1, 10)" >/dev/null
	tick lonely >/dev/null
	[ "$(count_events lonely)" = 10 ]
	for want in 1 2 0; do
		run rotate lonely
		[ "$output" = "0 $want" ]
	done
	# the table with the 10 events is current again, emptied first
	[ "$(count_events lonely)" = 0 ]
	# step1 waits for step2
	run sql rot "SELECT pgq.maint_rotate_tables_step1('lonely')"
	[ "$output" = 0 ]
	[ "$(cur_table lonely)" = 1 ]
	run sql rot "SELECT pgq.maint_rotate_tables_step1('lonely')"
	[ "$output" = 0 ]
	[ "$(cur_table lonely)" = 1 ]
	sql rot "SELECT pgq.maint_rotate_tables_step2()" >/dev/null
}

@test "a queue rotates only when every consumer is past the last switch; nothing is lost" {
	sql rot "SELECT pgq.create_queue('busy')" >/dev/null
	sql rot "SELECT pgq.set_queue_config('busy', 'rotation_period', '0')" >/dev/null
	sql rot "SELECT pgq.register_consumer('busy', 'fast'), pgq.register_consumer('busy', 'slow')" >/dev/null
	n=0
	for round in 1 2 3 4 5 6 7; do
		sql rot "SELECT pgq.insert_event('busy', 't', 'r$round-' || i) FROM generate_series(1, 5) i" >/dev/null
		n=$((n + 5))
		tick busy >/dev/null
		sql rot "SELECT * FROM t.drain('busy', 'fast')" >>"$TEST_DIR/fast"
		rotate busy | cut -d' ' -f2 >>"$TEST_DIR/rotations"
	done
	# slow consumed nothing: it still sits at the creation tick
	[ "$(tr -d '\n' <"$TEST_DIR/rotations")" = 0000000 ]
	sql rot "SELECT * FROM t.drain('busy', 'slow')" >"$TEST_DIR/slow"
	# both are past the last switch now: one rotation, then the next
	# waits for both to pass this one
	run rotate busy
	[ "$output" = "0 1" ]
	sql rot "SELECT pgq.insert_event('busy', 't', 'after') " >/dev/null
	tick busy >/dev/null
	sql rot "SELECT * FROM t.drain('busy', 'fast')" >>"$TEST_DIR/fast"
	run rotate busy
	[ "$output" = "0 1" ]
	sql rot "SELECT * FROM t.drain('busy', 'slow')" >>"$TEST_DIR/slow"
	run rotate busy
	[ "$output" = "0 2" ]
	n=$((n + 1))
	[ "$(wc -l <"$TEST_DIR/slow")" -eq "$n" ]
	[ "$(wc -l <"$TEST_DIR/fast")" -eq "$n" ]
	[ -z "$(sort "$TEST_DIR/slow" | uniq -d)" ]
	cmp <(sort "$TEST_DIR/slow") <(sort "$TEST_DIR/fast")
}

@test "a transaction still writing to an old table is waited for and delivered" {
	sql rot "SELECT pgq.create_queue('open')" >/dev/null
	sql rot "SELECT pgq.set_queue_config('open', 'rotation_period', '0')" >/dev/null
	sql rot "SELECT pgq.register_consumer('open', 'c')" >/dev/null
	mkfifo "$TEST_DIR/s.in"
	PGAPPNAME=slowwriter psql -XAtq -d rot <"$TEST_DIR/s.in" >"$TEST_DIR/s.out" 2>&1 &
	pid=$!
	exec {fd}>"$TEST_DIR/s.in"
	echo "BEGIN; SELECT pgq.insert_event('open', 't', 'late');" >&"$fd"
	wait_for idle_in_tx slowwriter
	sql rot "SELECT pgq.insert_event('open', 't', 'early')" >/dev/null
	tick open >/dev/null
	run sql rot "SELECT * FROM t.drain('open', 'c')"
	[ "$output" = early ]
	tick open >/dev/null
	sql rot "SELECT * FROM t.drain('open', 'c')" >/dev/null
	run rotate open
	[ "$output" = "0 1" ]
	# c's position does not see the open transaction's end: no further
	# rotation, so the table it wrote to stays
	run rotate open
	[ "$output" = "0 1" ]
	echo "COMMIT;" >&"$fd"
	exec {fd}>&-
	wait "$pid"
	# committed now, but c has not seen it yet
	tick open >/dev/null
	run rotate open
	[ "$output" = "0 1" ]
	run sql rot "SELECT * FROM t.drain('open', 'c')"
	[ "$output" = late ]
	tick open >/dev/null
	sql rot "SELECT * FROM t.drain('open', 'c')" >/dev/null
	run rotate open
	[ "$output" = "0 2" ]
}

@test "old ticks are removed at rotation, consumers' positions are kept" {
	sql rot "SELECT pgq.create_queue('ticks')" >/dev/null
	sql rot "SELECT pgq.set_queue_config('ticks', 'rotation_period', '0')" >/dev/null
	sql rot "SELECT pgq.register_consumer('ticks', 'c')" >/dev/null
	for i in 1 2 3 4; do tick ticks >/dev/null; done
	last=$(sql rot "SELECT last_tick FROM pgq.get_consumer_info('ticks', 'c')")
	rotate ticks >/dev/null
	run sql rot "SELECT min(tick_id) = $last FROM pgq.tick t JOIN pgq.queue q ON q.queue_id = t.tick_queue WHERE q.queue_name = 'ticks'"
	[ "$output" = t ]
	sql rot "SELECT * FROM t.drain('ticks', 'c')" >/dev/null
	run sql rot "SELECT count(*) FROM pgq.get_consumer_info('ticks', 'c') WHERE current_batch IS NULL"
	[ "$output" = 1 ]
}
