#!/usr/bin/env bats
# londiste(1) [londiste3] worker: how it follows changes of its node's
# state (pause, promotion, demotion), what it says about them, a
# database that goes away, a pidfile left by a killed worker, and a node
# restored from a backup (worker --rewind, --reset).
# Every node is a database of this file's cluster.

load helper
load 25x-cascade

teardown() {
	local n
	for n in r1 b1 l1; do
		[ -f "$BATS_TEST_TMPDIR/$n.ini" ] && worker_stop "$n"
	done
	for n in l1; do
		sql postgres "ALTER DATABASE $n WITH ALLOW_CONNECTIONS true" >/dev/null 2>&1
	done
	sql postgres "DROP DATABASE IF EXISTS l1_backup" >/dev/null 2>&1
	return 0
}

ini() { printf '%s/%s.ini' "$BATS_TEST_TMPDIR" "$1"; }
log() { printf '%s/%s.log' "$BATS_TEST_TMPDIR" "$1"; }

need_node_mode() {
	londiste-apply --help | grep -q -- '--node' ||
		skip "londiste-apply has no --node (node mode) in this build"
}

# tree: r1 -> b1 -> l1, table t replicated on every node (the root's
# trigger; on the others the rows arrive by replay), workers running.
tree() {
	local n
	for n in r1 b1 l1; do
		new_db "$n" none && cascade_ini "$n" &&
			sql "$n" "CREATE TABLE t (id int PRIMARY KEY, v text)" >/dev/null || return 1
	done
	londiste "$(ini r1)" create-root r1 || return 1
	[ "$(sql r1 "SELECT ret_code FROM londiste.local_add_table('q', 'public.t')")" = 200 ] || return 1
	londiste "$(ini b1)" create-branch b1 --provider="$(loc r1)" || return 1
	londiste "$(ini l1)" create-leaf l1 --provider="$(loc b1)" || return 1
	for n in b1 l1; do
		[ "$(sql "$n" "SELECT ret_code FROM londiste.local_add_table('q', 'public.t', array['expect_sync'])")" = 200 ] ||
			return 1
	done
	for n in r1 b1 l1; do
		worker_start "$n" || return 1
	done
	for n in r1 b1 l1; do
		wait_for grep -q "worker ${n}_w of node $n started" "$(log "$n")" || return 1
	done
}

has_row() { [ "$(sql "$1" "SELECT count(*) FROM t WHERE id = $2")" = 1 ]; }
applied() { sql "$1" "SELECT worker_last_tick FROM pgq_node.get_node_info('q')"; }
past() { [ "$(applied "$1")" -gt "$2" ]; }

@test "londiste3 worker: a pidfile left by a worker killed with -9 does not stop the next start" {
	cascade_tree r1 b1 l1
	worker_start r1
	wait_for test -s "$BATS_TEST_TMPDIR/r1.pid"
	old=$(cat "$BATS_TEST_TMPDIR/r1.pid")
	kill -9 "$old"
	run --separate-stderr londiste "$(ini r1)" worker -d
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" != *"already running"* ]]
	new_pid() { [ -s "$BATS_TEST_TMPDIR/r1.pid" ] && [ "$(cat "$BATS_TEST_TMPDIR/r1.pid")" != "$old" ]; }
	wait_for new_pid
	kill -0 "$(cat "$BATS_TEST_TMPDIR/r1.pid")"
	# and -k then start: the same
	old=$(cat "$BATS_TEST_TMPDIR/r1.pid")
	londiste -k "$(ini r1)"
	run --separate-stderr londiste "$(ini r1)" worker -d
	[ "$status" -eq 0 ]
	# (the daemon writes its pidfile once it runs: teardown stops it)
	wait_for new_pid
}

@test "londiste3 worker: after a switchover each worker says what happened; no stage reports a failure" {
	need_node_mode
	tree
	londiste "$(ini b1)" switchover --target=b1
	wait_for grep -q "node promoted to root" "$(log b1)"
	wait_for grep -q "node demoted to branch, reading from b1" "$(log r1)"
	londiste "$(ini r1)" switchover --target=r1
	wait_for grep -q "node demoted to branch, reading from r1" "$(log b1)"
	wait_for grep -q "node promoted to root" "$(log r1)"
	sql r1 "INSERT INTO t VALUES (1, 'after')" >/dev/null
	wait_for has_row l1 1
	for n in r1 b1 l1; do
		grep -E 'closed|exited with status|restarting in' "$(log "$n")" && false
	done
	:
}

@test "londiste3 worker: a paused branch lets ticks without changes pass, holds the first change until resume" {
	need_node_mode
	tree
	# the set's own events (add-table on the root) are a change: they
	# pass before the pause, or the pause holds them and the leaf waits
	sql r1 "SELECT pgq.force_tick('q')" >/dev/null
	wait_for caught_up l1 r1
	londiste "$(ini b1)" pause
	[ "$(sql b1 "SELECT worker_paused AND worker_uptodate FROM pgq_node.get_node_info('q')")" = t ]
	# the branch's newest tick now; the leaf gets past it (what the
	# original's compare on l1 waits for)
	top=$(sql b1 "SELECT pgq.force_tick('q')")
	sql r1 "SELECT pgq.force_tick('q')" >/dev/null
	wait_for past l1 "$top" || { tail -n 30 "$(log b1)" "$(log l1)" "$(log r1)"; sql b1 "SELECT * FROM pgq_node.get_node_info('q')"; sql r1 "SELECT last_tick_id FROM pgq.get_queue_info('q')"; false; }
	# a change stops there
	sql r1 "INSERT INTO t VALUES (2, 'held')" >/dev/null
	wait_for grep -q "worker paused: the batch up to tick .* is held until resume" "$(log b1)"
	[ "$(sql b1 "SELECT count(*) FROM t")" = 0 ]
	[ "$(sql b1 "SELECT worker_paused FROM pgq_node.get_node_info('q')")" = t ]
	londiste "$(ini b1)" resume
	wait_for has_row b1 2
	wait_for has_row l1 2
}

@test "londiste3 worker: a node whose database is gone says so once, and goes on when it is back" {
	need_node_mode
	tree
	sql postgres "ALTER DATABASE l1 WITH ALLOW_CONNECTIONS false" >/dev/null
	sql postgres "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'l1'" >/dev/null
	wait_for grep -q "cannot read the state of this node: .*l1.*; waiting for its database" "$(log l1)"
	# the supervisor looks again after its growing delay: 0.2, 0.4, 0.8 s
	sleep 2
	[ "$(grep -c "cannot read the state of this node" "$(log l1)")" = 1 ]
	sql postgres "ALTER DATABASE l1 WITH ALLOW_CONNECTIONS true" >/dev/null
	wait_for grep -q "the database of this node answers again" "$(log l1)"
	sql r1 "INSERT INTO t VALUES (3, 'back')" >/dev/null
	wait_for has_row l1 3
}

@test "londiste3 worker: stopped (-s, -k) right after a state change, it leaves no process behind" {
	need_node_mode
	cascade_tree r1 b1
	# Every process the worker starts inherits the mark.
	mark="skytools-261-$$-$RANDOM"
	# a pause, then a resume: each wakes the supervisor, which restarts
	# the pipeline; the command returns once that is acknowledged
	for how in "pause -s" "resume -k"; do
		rm -f "$BATS_TEST_TMPDIR/b1.pid"
		SKYTOOLS_TEST_MARK=$mark londiste "$(ini b1)" worker -d
		wait_for test -s "$BATS_TEST_TMPDIR/b1.pid"
		londiste "$(ini b1)" "${how% *}"
		londiste "${how#* }" "$(ini b1)"
		left=$(for p in $(marked_pids "$mark"); do
			printf '%s %s\n' "$p" "$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline")"
		done)
		[ -z "$left" ] || { echo "after $how still running: $left"; false; }
	done
}

# restore_l1: database l1 as it was when l1_backup was taken from it (a
# restore from a backup: its position behind what b1 handed out since).
restore_l1() {
	sql postgres "DROP DATABASE l1 WITH (FORCE)" >/dev/null &&
		sql postgres "CREATE DATABASE l1 TEMPLATE l1_backup" >/dev/null
}

ids() { sql "$1" "SELECT string_agg(id::text, ' ' ORDER BY id) FROM t"; }

@test "londiste3 worker --rewind, --reset: a leaf restored from a backup stops at the gap; rewind applies the lost batches again, reset skips them" {
	need_node_mode
	tree
	sql r1 "INSERT INTO t VALUES (1, 'before')" >/dev/null
	wait_for has_row l1 1
	run --separate-stderr londiste "$(ini l1)" worker --rewind
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"runs (pid "*"stop it first"* ]]
	worker_stop l1
	sql postgres "CREATE DATABASE l1_backup TEMPLATE l1" >/dev/null
	worker_start l1
	sql r1 "INSERT INTO t VALUES (2, 'after'), (3, 'after')" >/dev/null
	wait_for has_row l1 3
	worker_stop l1
	restore_l1
	[ "$(ids l1)" = 1 ]
	: >"$(log l1)"
	worker_start l1
	pid=$(cat "$BATS_TEST_TMPDIR/l1.pid")
	# the gap stops the worker for good, saying what to do
	wait_for grep -q "a gap .*worker --rewind" "$(log l1)"
	wait_for not_alive "$pid"
	run --separate-stderr londiste "$(ini r1)" worker --rewind
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"r1 is the root"* ]]
	run --separate-stderr londiste "$(ini l1)" worker --rewind
	[ "$status" -eq 0 ] || { echo "status $status: $stderr" >&2; false; }
	[[ "$stderr" == *"hands l1_w the batches after tick "*" again"* ]]
	worker_start l1
	sql r1 "INSERT INTO t VALUES (4, 'later')" >/dev/null
	wait_for has_row l1 4
	[ "$(ids l1)" = "1 2 3 4" ]
	# at the provider's position: nothing to do
	worker_stop l1
	run --separate-stderr londiste "$(ini l1)" worker --rewind
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"nothing to do"* ]]
	# --reset: the same restore, skipped over; first --rewind where
	# the provider no longer has the node's tick (as after rotations)
	restore_l1
	t=$(applied l1)
	there=$(sql b1 "SELECT last_tick FROM pgq.get_consumer_info('q', 'l1_w')")
	sql b1 "DELETE FROM pgq.tick WHERE tick_id = $t" >/dev/null
	run --separate-stderr londiste "$(ini l1)" worker --rewind
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"cannot go back to tick $t"*"worker --reset skips"* ]]
	[ "$(sql b1 "SELECT last_tick FROM pgq.get_consumer_info('q', 'l1_w')")" = "$there" ]
	run --separate-stderr londiste "$(ini l1)" worker --reset
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"l1 skips from tick "*"compare and repair"* ]]
	worker_start l1
	sql r1 "INSERT INTO t VALUES (5, 'last')" >/dev/null
	wait_for has_row l1 5
	[ "$(ids l1)" = "1 5" ]
	# -d goes with a plain worker only
	run --separate-stderr londiste "$(ini l1)" -d worker --rewind
	[ "$status" -eq 2 ]
}
