#!/usr/bin/env bats
# londiste-copy, londiste-compare, londiste-repair: options and failures.

load helper
load 200-londiste

setup() {
	lon_pair prov sub debian
	for db in prov sub; do
		sql $db "CREATE TABLE t (id int PRIMARY KEY, v text)"
		sql $db "CREATE TABLE nokey (v text)"
	done
	sql prov "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g"
	sql prov "SELECT londiste.provider_add_table('q', 't')" >/dev/null
	sql sub "SELECT londiste.subscriber_add_table('q', 't')" >/dev/null
}

# The background replays of the tests below end also when a test fails.
teardown() {
	bg_stop
}

@test "londiste tools: basic checks" {
	basic_checks londiste-copy
	basic_checks londiste-compare
	basic_checks londiste-repair
}

@test "londiste-copy: copies, --where, catching-up; unknown table exit 2" {
	run --separate-stderr londiste-copy -s prov -d sub --consumer c --where 'id <= 10' t
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'public.t\t10')" ]
	[ "$(sql sub "SELECT state FROM londiste.subscriber_table")" = catching-up ]
	run --separate-stderr londiste-copy -s prov -d sub --consumer c t
	[ "$output" = "$(printf 'public.t\t100')" ]
	[ "$(dump prov t)" = "$(dump sub t)" ]
	run --separate-stderr londiste-copy -s prov -d sub --consumer c no_such
	[ "$status" -eq 2 ]
	run --separate-stderr londiste-copy -s prov -d sub --consumer c nokey
	[ "$status" -eq 2 ]
	run --separate-stderr londiste-copy -s "host=/nonexistent" -d sub --consumer c t
	[ "$status" -eq 3 ]
}

@test "londiste-copy: not replicated on the provider: exit 2" {
	sql prov "SELECT londiste.provider_remove_table('q', 't')" >/dev/null
	run --separate-stderr londiste-copy -s prov -d sub --consumer c t
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"not replicated"* ]]
}

# The session of the test's writer holds its lock on t in prov (the
# replay's lock on t is in sub's database).
writer_holds_t() {
	[ "$(sql prov "SELECT count(*) FROM pg_locks WHERE relation = 't'::regclass
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND mode = 'RowExclusiveLock' AND granted")" = 1 ]
}

@test "londiste-compare, londiste-repair: replay not running, lock timeout: exit 3" {
	londiste-copy -s prov -d sub --consumer c t >/dev/null
	run --separate-stderr londiste-compare -s prov -d sub --consumer c --lock-timeout 0.5 t
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"did not apply"* ]]
	run --separate-stderr londiste-repair -s prov -d sub --consumer c --lock-timeout 0.5 t
	[ "$status" -eq 3 ]
	[[ "$stderr" != *"is replay running"* ]]
	# a writer holds the provider table; replay keeps up (in well under the
	# timeout), so only the lock waits
	bg_replay
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	psql -XAq -d prov < "$BATS_TEST_TMPDIR/fifo" >/dev/null &
	exec 8>"$BATS_TEST_TMPDIR/fifo"
	echo "BEGIN; LOCK TABLE t IN ROW EXCLUSIVE MODE;" >&8
	wait_for writer_holds_t
	run --separate-stderr londiste-compare -s prov -d sub --consumer c --lock-timeout 10 t
	echo "COMMIT;" >&8
	exec 8>&-
	bg_stop
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"lock "*" on the provider: "* ]]
	run --separate-stderr londiste-compare -s prov -d sub --consumer c --lock-timeout x t
	[ "$status" -eq 2 ]
	# 0 is no limit for lock_timeout: refused, not a failure at once
	for tool in londiste-compare londiste-repair; do
		run --separate-stderr $tool -s prov -d sub --consumer c -t 0 t
		[ "$status" -eq 2 ]
		[ "$stderr" = "$tool: lock timeout must be at least 0.001 seconds: 0" ]
	done
	run --separate-stderr londiste-repair -s prov -d sub --consumer c no_such
	[ "$status" -eq 2 ]
}

@test "londiste-compare, londiste-repair: a lock timeout that is not a plain number of seconds: exit 2" {
	# strtod would take the blank, the sign, the exponent and hex
	for tool in londiste-compare londiste-repair; do
		for t in " 1" "1 " "+1" "1e1" "0x10" "." "1.2.3"; do
			run --separate-stderr $tool -s prov -d sub --consumer c -t "$t" t
			[ "$status" -eq 2 ] || { echo "$tool -t '$t': $status $stderr" >&2; false; }
			# (bats drops the message's trailing blank)
			[[ "$stderr" == "$tool: lock timeout is not a number of seconds: "* ]]
		done
	done
}

@test "londiste-compare, londiste-repair: waiting for a stopped replay blocks no provider writer" {
	londiste-copy -s prov -d sub --consumer c t >/dev/null
	for tool in londiste-compare londiste-repair; do
		before=$(sql prov "SELECT count(*) FROM pgq.tick")
		$tool -s prov -d sub --consumer c --lock-timeout 600 t >/dev/null 2>&1 &
		pid=$!
		# its first tick is made: it waits for the subscriber now
		while [ "$(sql prov "SELECT count(*) FROM pgq.tick")" = "$before" ]; do sleep 0.05; done
		run sql prov "SET lock_timeout = '5s'; INSERT INTO t VALUES (1000 + $pid, 'w')"
		kill "$pid"
		wait "$pid" || :
		[ "$status" -eq 0 ]
	done
}

@test "londiste-compare, londiste-repair: at a replayed point; repair SQL runs in psql" {
	londiste-copy -s prov -d sub --consumer c t >/dev/null
	replay_once prov sub
	# the compare's tick gets applied by a replay in the background
	bg_replay
	run --separate-stderr londiste-compare -s prov -d sub --consumer c --lock-timeout 30 t
	[ "$status" -eq 0 ]
	[[ "$output" == *equal ]]
	sql sub "UPDATE t SET v = E'new\\\\line''s' WHERE id = 3"
	sql sub "DELETE FROM t WHERE id = 4"
	run --separate-stderr londiste-compare -s prov -d sub --consumer c --lock-timeout 30
	[ "$status" -eq 1 ]
	[[ "$output" == *differ ]]
	londiste-repair -s prov -d sub --consumer c --lock-timeout 30 t > "$BATS_TEST_TMPDIR/fix.sql" || [ $? -eq 1 ]
	psql -XAq -v ON_ERROR_STOP=1 -d sub -f "$BATS_TEST_TMPDIR/fix.sql"
	run --separate-stderr londiste-compare -s prov -d sub --consumer c --lock-timeout 30 t
	[ "$status" -eq 0 ]
	bg_stop
}

# londiste 3's --count-only: no hash is read, so a changed value goes
# unseen, and a missing row does not.
@test "londiste-compare --count-only: counts only, hashes '-'; a changed row unseen, a missing one found" {
	londiste-copy -s prov -d sub --consumer c t >/dev/null
	replay_once prov sub
	bg_replay
	sql sub "UPDATE t SET v = 'changed' WHERE id = 3"
	run --separate-stderr londiste-compare -s prov -d sub --consumer c --lock-timeout 30 --count-only t
	[ "$status" -eq 0 ]
	[ "$output" = $'public.t\t100\t100\t-\t-\tequal' ]
	run --separate-stderr londiste-compare -s prov -d sub --consumer c --lock-timeout 30 t
	[ "$status" -eq 1 ]
	sql sub "DELETE FROM t WHERE id = 4"
	run --separate-stderr londiste-compare -s prov -d sub --consumer c --lock-timeout 30 --count-only
	bg_stop
	[ "$status" -eq 1 ]
	[ "$output" = $'public.t\t100\t99\t-\t-\tdiffer' ]
}

@test "londiste-compare: a column on one side only: the common columns compared, the others named" {
	londiste-copy -s prov -d sub --consumer c t >/dev/null
	replay_once prov sub
	bg_replay
	sql prov "ALTER TABLE t ADD COLUMN extra int DEFAULT 1"
	run --separate-stderr londiste-compare -s prov -d sub --consumer c --lock-timeout 30 t
	[ "$status" -eq 0 ]
	[[ "$output" == "public.t"*$'\tequal\tcolumns: provider only: extra' ]]
	sql prov "ALTER TABLE t DROP COLUMN extra"
	sql prov "ALTER TABLE t DROP COLUMN v"
	sql sub "ALTER TABLE t ADD COLUMN \"we ird\" int"
	sql sub "UPDATE t SET v = 'x' WHERE id = 1"
	run --separate-stderr londiste-compare -s prov -d sub --consumer c --lock-timeout 30 t
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\tequal\tcolumns: subscriber only: v, "we ird"' ]]
	sql sub "DELETE FROM t WHERE id = 1"
	run --separate-stderr londiste-compare -s prov -d sub --consumer c --lock-timeout 30 t
	bg_stop
	[ "$status" -eq 1 ]
	[[ "$output" == *$'\tdiffer\tcolumns: subscriber only: v, "we ird"' ]]
}
