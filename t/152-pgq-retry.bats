#!/usr/bin/env bats
# pgq-retry.
load helper

flavours() {
	have_debian_pgq && echo debian
	[ -f "$SKYTOOLS_SQLDIR/pgq.sql" ] && echo ours
	return 0
}

# Database $1 of flavour $2 with queue q, consumer c, three events and
# an open batch holding them: prints the batch id.
open_batch() {
	new_db "$1" "$2" >/dev/null &&
	sql "$1" "SELECT pgq.create_queue('q')" >/dev/null &&
	sql "$1" "SELECT pgq.register_consumer('q', 'c')" >/dev/null &&
	sql "$1" "SELECT pgq.insert_event('q', 't', 'e' || i) FROM generate_series(1, 3) i" >/dev/null &&
	sql "$1" "SELECT pgq.force_tick('q')" >/dev/null &&
	sql "$1" "SELECT pgq.ticker('q')" >/dev/null &&
	sql "$1" "SELECT pgq.next_batch('q', 'c')"
}

retried() {
	sql "$1" "SELECT count(*) FROM pgq.retry_queue"
}

ev_ids() {
	sql "$1" "SELECT ev_id FROM pgq.get_batch_events($2) ORDER BY ev_id"
}

@test "basic checks" {
	basic_checks pgq-retry
}

@test "pgq-retry: event ids as arguments (both flavours)" {
	[ -n "$(flavours)" ]
	for f in $(flavours); do
		b=$(open_batch "a_$f" "$f")
		[ -n "$b" ]
		ids=($(ev_ids "a_$f" "$b"))
		run --separate-stderr pgq-retry -d "dbname=a_$f" "$b" "${ids[0]}" "${ids[2]}"
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		[ -z "$output" ]
		[ "$(retried "a_$f")" -eq 2 ]
		# the delay is applied
		[ "$(sql "a_$f" "SELECT bool_and(ev_retry_after > now() + interval '50 seconds') FROM pgq.retry_queue")" = t ]
	done
}

@test "pgq-retry: event ids from stdin, --delay" {
	for f in $(flavours); do
		b=$(open_batch "s_$f" "$f")
		ev_ids "s_$f" "$b" | {
			run --separate-stderr pgq-retry -d "dbname=s_$f" --delay 0 "$b"
			[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		}
		[ "$(retried "s_$f")" -eq 3 ]
		[ "$(sql "s_$f" "SELECT bool_and(ev_retry_after <= now()) FROM pgq.retry_queue")" = t ]
	done
}

@test "pgq-retry --all retries the whole batch" {
	for f in $(flavours); do
		b=$(open_batch "w_$f" "$f")
		run --separate-stderr pgq-retry -d "dbname=w_$f" --all "$b"
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		[ "$(retried "w_$f")" -eq 3 ]
	done
}

@test "pgq-retry: a bad stdin line exits 2 naming the line, nothing retried" {
	b=$(open_batch bad debian)
	ids=($(ev_ids bad "$b"))
	run --separate-stderr pgq-retry -d dbname=bad "$b" <<<"${ids[0]}
x1"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"line 2"* ]]
	[ "$(retried bad)" -eq 0 ]
	run --separate-stderr pgq-retry -d dbname=bad "$b" </dev/null
	[ "$status" -eq 2 ]
}

@test "pgq-retry: an event not in the batch exits 2 and retries none" {
	for f in $(flavours); do
		b=$(open_batch "n_$f" "$f")
		ids=($(ev_ids "n_$f" "$b"))
		run --separate-stderr pgq-retry -d "dbname=n_$f" "$b" "${ids[0]}" 999999
		[ "$status" -eq 2 ]
		[ "$(retried "n_$f")" -eq 0 ]
	done
}

@test "pgq-retry: unknown batch exits 2, bad options exit 2, unreachable server 3" {
	b=$(open_batch u debian)
	run --separate-stderr pgq-retry -d dbname=u --all 999999
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-retry --all 1 2
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-retry --delay -5 1 2
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-retry abc 2
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-retry 1 abc
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-retry -d "host=$TEST_DIR/nonexistent" 1 2
	[ "$status" -eq 3 ]
}
