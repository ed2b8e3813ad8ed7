#!/usr/bin/env bats
# pgq-register, pgq-unregister.
load helper

flavours() {
	have_debian_pgq && echo debian
	[ -f "$SKYTOOLS_SQLDIR/pgq.sql" ] && echo ours
	return 0
}

setup_file() {
	pg_start
	for f in $(flavours); do
		new_db "r_$f" "$f"
		sql "r_$f" "SELECT pgq.create_queue('q')" >/dev/null
	done
}

registered() {
	[ "$(sql "$1" "SELECT count(*) FROM pgq.get_consumer_info('q', '$2')")" -eq 1 ]
}

@test "basic checks" {
	basic_checks pgq-register
	basic_checks pgq-unregister
}

@test "pgq-register / pgq-unregister: normal path, both idempotent-safe (both flavours)" {
	[ -n "$(flavours)" ]
	for f in $(flavours); do
		run --separate-stderr pgq-register -d "dbname=r_$f" q c1
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		[ -z "$output" ]
		registered "r_$f" c1
		run --separate-stderr pgq-register -d "dbname=r_$f" q c1
		[ "$status" -eq 0 ]
		run --separate-stderr pgq-unregister -d "dbname=r_$f" q c1
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		! registered "r_$f" c1 || false
	done
}

@test "consumer names with quotes, spaces and non-ASCII work" {
	for f in $(flavours); do
		pgq-register -d "dbname=r_$f" q "o'k c ü"
		[ "$(sql "r_$f" "SELECT count(*) FROM pgq.get_consumer_info('q', 'o''k c ü')")" -eq 1 ]
		pgq-unregister -d "dbname=r_$f" q "o'k c ü"
	done
}

@test "pgq-register --at places (and moves) the consumer at a tick" {
	for f in $(flavours); do
		first=$(sql "r_$f" "SELECT last_tick_id FROM pgq.get_queue_info('q')")
		sql "r_$f" "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '0')" >/dev/null
		sql "r_$f" "SELECT pgq.set_queue_config('q', 'ticker_max_lag', '0')" >/dev/null
		sql "r_$f" "SELECT pgq.ticker('q')" >/dev/null
		sql "r_$f" "SELECT pgq.ticker('q')" >/dev/null
		pgq-register -d "dbname=r_$f" q atc
		[ "$(sql "r_$f" "SELECT last_tick FROM pgq.get_consumer_info('q', 'atc')")" -gt "$first" ]
		run --separate-stderr pgq-register -d "dbname=r_$f" --at "$first" q atc
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		[ "$(sql "r_$f" "SELECT last_tick FROM pgq.get_consumer_info('q', 'atc')")" -eq "$first" ]
		# an open batch is dropped, as the man page says
		[ -n "$(sql "r_$f" "SELECT pgq.next_batch('q', 'atc')")" ]
		run --separate-stderr pgq-register -d "dbname=r_$f" --at "$first" q atc
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		[ "$(sql "r_$f" "SELECT last_tick || ' ' || (current_batch IS NULL) FROM pgq.get_consumer_info('q', 'atc')")" = "$first true" ]
		pgq-unregister -d "dbname=r_$f" q atc
	done
}

@test "pgq-register: missing queue, unknown tick, bad options exit 2" {
	for f in $(flavours); do
		run --separate-stderr pgq-register -d "dbname=r_$f" nosuch c
		[ "$status" -eq 2 ]
		run --separate-stderr pgq-register -d "dbname=r_$f" --at 999999 q c
		[ "$status" -eq 2 ]
	done
	run --separate-stderr pgq-register --at abc q c
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-register --at 1 --subconsumer s q c
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-register q
	[ "$status" -eq 2 ]
}

@test "pgq-unregister: missing queue or consumer exits 2" {
	for f in $(flavours); do
		run --separate-stderr pgq-unregister -d "dbname=r_$f" nosuch c
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"no such queue"* ]]
		run --separate-stderr pgq-unregister -d "dbname=r_$f" q nobody
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"not registered"* ]]
	done
}

@test "unreachable server exits 3" {
	run --separate-stderr pgq-register -d "host=$TEST_DIR/nonexistent" q c
	[ "$status" -eq 3 ]
	run --separate-stderr pgq-unregister -d "host=$TEST_DIR/nonexistent" q c
	[ "$status" -eq 3 ]
}

@test "--subconsumer registers and unregisters a pgq_coop subconsumer (ours)" {
	[ -f "$SKYTOOLS_SQLDIR/pgq_coop.sql" ] || skip "build/sql/pgq_coop.sql not built"
	run --separate-stderr pgq-register -d dbname=r_ours --subconsumer s1 q cc
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(sql r_ours "SELECT count(*) FROM pgq.get_consumer_info('q', 'cc.s1')")" -eq 1 ]
	run --separate-stderr pgq-unregister -d dbname=r_ours --subconsumer s1 q cc
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(sql r_ours "SELECT count(*) FROM pgq.get_consumer_info('q', 'cc.s1')")" -eq 0 ]
	run --separate-stderr pgq-unregister -d dbname=r_ours --subconsumer s1 q cc
	[ "$status" -eq 2 ]
}

@test "--subconsumer without pgq_coop exits 2" {
	have_debian_pgq || skip "Debian's PgQ is not installed"
	run --separate-stderr pgq-register -d dbname=r_debian --subconsumer s1 q cc
	[ "$status" -eq 2 ]
}
