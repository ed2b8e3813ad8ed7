#!/usr/bin/env bats
# pgq-tick, one pass (the cron mode): ticks, maintenance, failures.
load helper

flavours() {
	have_debian_pgq && echo debian
	[ -f "$SKYTOOLS_SQLDIR/pgq.sql" ] && echo ours
	return 0
}

# A database with queue q that ticks on every call of pgq.ticker().
tickdb() {
	new_db "$1" "$2" &&
	sql "$1" "SELECT pgq.create_queue('q')" >/dev/null &&
	sql "$1" "SELECT pgq.set_queue_config('q', 'ticker_max_lag', '0')" >/dev/null &&
	sql "$1" "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '0')" >/dev/null
}

last_tick() {
	sql "$1" "SELECT last_tick_id FROM pgq.get_queue_info('${2:-q}')"
}

@test "pgq-tick: --help, --version, bad options" {
	run --separate-stderr pgq-tick --help
	[ "$status" -eq 0 ]
	[[ "$output" == usage:* ]]
	run --separate-stderr pgq-tick --version
	[ "$status" -eq 0 ]
	[[ "$output" == "pgq-tick "* ]]
	usage_is_synopsis pgq-tick
	run --separate-stderr pgq-tick --no-such-option
	[ "$status" -eq 2 ]
	[[ "$stderr" == *usage:* ]]
	run --separate-stderr pgq-tick extra-operand
	[ "$status" -eq 2 ]
	[[ "$stderr" == *usage:* ]]
	run --separate-stderr pgq-tick --interval 0
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-tick --interval abc
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-tick --maint-interval -1
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-tick --maint-interval 0
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-tick --all-databases -d dbname=a -d dbname=b
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-tick -d "host='unterminated"
	[ "$status" -eq 2 ]
}

@test "pgq-tick: one pass ticks a queue (both flavours)" {
	for f in $(flavours); do
		tickdb "t_$f" "$f"
		before=$(last_tick "t_$f")
		run --separate-stderr pgq-tick -d "dbname=t_$f"
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		[ -z "$output" ]
		after=$(last_tick "t_$f")
		[ "$after" -gt "$before" ] || { echo "$f: $before -> $after"; false; }
	done
	[ -n "$(flavours)" ]
}

@test "pgq-tick: without -d serves the PG* environment's database" {
	tickdb t_env debian
	before=$(last_tick t_env)
	PGDATABASE=t_env run --separate-stderr pgq-tick
	[ "$status" -eq 0 ]
	[ "$(last_tick t_env)" -gt "$before" ]
}

@test "pgq-tick: several -d are all served" {
	tickdb t_a debian
	tickdb t_b debian
	tickdb t_c debian
	a=$(last_tick t_a); b=$(last_tick t_b); c=$(last_tick t_c)
	run --separate-stderr pgq-tick -d dbname=t_a -d "postgresql:///t_b?host=$PGHOST" -d t_c
	[ "$status" -eq 0 ]
	[ "$(last_tick t_a)" -gt "$a" ]
	[ "$(last_tick t_b)" -gt "$b" ]
	[ "$(last_tick t_c)" -gt "$c" ]
}

@test "pgq-tick: maintenance moves retry events back into the queue" {
	for f in $(flavours); do
		tickdb "r_$f" "$f"
		sql "r_$f" "SELECT pgq.register_consumer('q', 'c')" >/dev/null
		sql "r_$f" "SELECT pgq.insert_event('q', 't', 'd')" >/dev/null
		pgq-tick -d "dbname=r_$f"
		batch=$(sql "r_$f" "SELECT pgq.next_batch('q', 'c')")
		[ -n "$batch" ]
		ev=$(sql "r_$f" "SELECT ev_id FROM pgq.get_batch_events($batch)")
		sql "r_$f" "SELECT pgq.event_retry($batch, $ev, 0)" >/dev/null
		sql "r_$f" "SELECT pgq.finish_batch($batch)" >/dev/null
		[ "$(sql "r_$f" "SELECT count(*) FROM pgq.retry_queue")" -eq 1 ]
		run --separate-stderr pgq-tick -d "dbname=r_$f"
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		[ "$(sql "r_$f" "SELECT count(*) FROM pgq.retry_queue")" -eq 0 ]
	done
}

@test "pgq-tick: maintenance rotates event tables when their period is over" {
	for f in $(flavours); do
		tickdb "rot_$f" "$f"
		sql "rot_$f" "SELECT pgq.set_queue_config('q', 'rotation_period', '0')" >/dev/null
		cur=$(sql "rot_$f" "SELECT queue_cur_table FROM pgq.get_queue_info('q')")
		run --separate-stderr pgq-tick -d "dbname=rot_$f"
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		now=$(sql "rot_$f" "SELECT queue_cur_table FROM pgq.get_queue_info('q')")
		[ "$now" != "$cur" ] || { echo "$f: still table $cur"; false; }
	done
}

@test "pgq-tick: maintenance vacuums pgq's tables when autovacuum is off" {
	tickdb t_vac debian
	sql postgres "ALTER SYSTEM SET autovacuum = off" >/dev/null
	sql postgres "SELECT pg_reload_conf()" >/dev/null
	wait_for test "$(sql t_vac "SHOW autovacuum")" = off
	run --separate-stderr pgq-tick -d dbname=t_vac
	sql postgres "ALTER SYSTEM RESET autovacuum" >/dev/null
	sql postgres "SELECT pg_reload_conf()" >/dev/null
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(sql t_vac "SELECT last_vacuum IS NOT NULL FROM pg_stat_all_tables WHERE relid = 'pgq.tick'::regclass")" = t ]
}

@test "pgq-tick: --all-databases ticks every database with PgQ and skips the rest" {
	tickdb all_a debian
	tickdb all_b debian
	new_db all_none none
	a=$(last_tick all_a); b=$(last_tick all_b)
	run --separate-stderr pgq-tick --all-databases
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(last_tick all_a)" -gt "$a" ]
	[ "$(last_tick all_b)" -gt "$b" ]
	# -d names the database the list is read from
	a=$(last_tick all_a)
	run --separate-stderr pgq-tick --all-databases -d dbname=all_none
	[ "$status" -eq 0 ]
	[ "$(last_tick all_a)" -gt "$a" ]
}

@test "pgq-tick: an unreachable database exits 3, masks the password, still ticks the others" {
	tickdb t_ok debian
	before=$(last_tick t_ok)
	run --separate-stderr pgq-tick -d "host=$TEST_DIR/nonexistent dbname=x password=s3cret" -d dbname=t_ok
	[ "$status" -eq 3 ]
	[[ "$stderr" == *nonexistent* ]]
	[[ "$stderr" != *s3cret* ]]
	[ "$(last_tick t_ok)" -gt "$before" ]
}

@test "pgq-tick: a database without PgQ exits 2" {
	new_db t_nopgq none
	run --separate-stderr pgq-tick -d dbname=t_nopgq
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no PgQ"* ]]
}

@test "pgq-tick: --all-databases with an unreachable listing database exits 3" {
	run --separate-stderr pgq-tick --all-databases -d "host=$TEST_DIR/nonexistent"
	[ "$status" -eq 3 ]
}
