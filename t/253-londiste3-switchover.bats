#!/usr/bin/env bats
# londiste(1) with a [londiste3] config: switchover under a steady
# writer, and takeover of a dead root.
# Every node is a database of this file's cluster, but for the dead
# root of the takeover, which has a cluster of its own.  t/250 to t/254 are one family split in files
# that run at once: the helpers they share are in t/25x-cascade.bash.

load helper
load 25x-cascade

teardown() {
	# a monitor a test stopped would never end
	[ -z "${stopped_pid:-}" ] || kill -CONT "$stopped_pid" 2>/dev/null || :
	stopped_pid=
	cascade_workers_stop
}

# compare_t1 NODE: our compare on the node finds t1 equal (exit 0).
compare_t1() {
	run --separate-stderr londiste "$(ini "$1")" compare
	[ "$status" -eq 0 ] || { echo "$1 compare: status $status: $output $stderr" >&2; return 1; }
	[[ "$output" == *"public.t1	"*"	equal"* ]] || { echo "$1: $output" >&2; return 1; }
}

@test "londiste3: switchover to the branch and back under a steady writer: nothing lost, nothing twice" {
	need_node_mode
	cascade_tree r1 b1 l1
	for n in r1 b1 l1; do worker_start $n; done
	for n in r1 b1 l1; do sql $n "CREATE TABLE t1 (id int PRIMARY KEY, v text)"; done
	londiste "$(ini r1)" add-table t1
	for n in b1 l1; do
		wait_for londiste "$(ini $n)" add-table t1 --expect-sync
	done
	writer r1 b1 &
	wpid=$!
	wait_for test -s "$BATS_TEST_TMPDIR/writer-last"
	londiste "$(ini b1)" switchover
	[ "$(sql b1 "SELECT node_type FROM pgq_node.get_node_info('q')")" = root ]
	[ "$(sql r1 "SELECT node_type || ' ' || provider_node FROM pgq_node.get_node_info('q')")" = "branch b1" ]
	# an operator compares right after the switchover, the writer on
	for n in l1 r1; do compare_t1 $n; done
	n0=$(cat "$BATS_TEST_TMPDIR/writer-last")
	more() { [ "$(cat "$BATS_TEST_TMPDIR/writer-last")" -gt "$((n0 + 20))" ]; }
	wait_for more
	londiste "$(ini r1)" switchover
	[ "$(sql r1 "SELECT node_type FROM pgq_node.get_node_info('q')")" = root ]
	for n in l1 b1; do compare_t1 $n; done
	n0=$(cat "$BATS_TEST_TMPDIR/writer-last")
	wait_for more
	touch "$BATS_TEST_TMPDIR/stop-writer"
	wait "$wpid"
	last=$(cat "$BATS_TEST_TMPDIR/writer-last")
	sql r1 "INSERT INTO t1 VALUES (-1, 'end')"
	# events come in order: once the last row is there, all are
	has_end() { [ "$(sql "$1" "SELECT count(*) FROM t1 WHERE id = -1")" = 1 ]; }
	for n in b1 l1; do
		wait_for has_end $n
	done
	for n in r1 b1 l1; do
		got=$(sql $n "SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || max(id) FROM t1 WHERE id > 0")
		[ "$got" = "$last $last $last" ] || { echo "$n: $got, want $last" >&2; tail -n 30 "$BATS_TEST_TMPDIR/$n.log" >&2; sql $n "SELECT * FROM pgq_node.local_state" >&2; sql r1 "SELECT * FROM pgq.get_consumer_info()" >&2; false; }
	done
	all_equal t1 b1 l1
}

@test "londiste3: switchover again finishes one that was killed after the promotion (two roots), nothing lost" {
	need_node_mode
	cascade_tree r1 b1
	for n in r1 b1; do worker_start $n; done
	for n in r1 b1; do sql $n "CREATE TABLE t1 (id int PRIMARY KEY, v text)"; done
	londiste "$(ini r1)" add-table t1
	wait_for londiste "$(ini b1)" add-table t1 --expect-sync
	sql r1 "INSERT INTO t1 VALUES (1, 'before')"
	# the steps a switchover had made when it was killed: the old
	# root's demotion up to its last tick, the branch promoted
	[ "$(sql r1 "SELECT ret_code FROM pgq_node.demote_root('q', 1, 'b1')")" = 200 ]
	last=$(sql r1 "SELECT last_tick FROM pgq_node.demote_root('q', 2, 'b1')")
	at_last() { [ "$(node_tick b1)" -ge "$last" ]; }
	wait_for at_last
	[ "$(sql b1 "SELECT ret_code FROM pgq_node.promote_branch('q')")" = 200 ]
	[ "$(sql r1 "SELECT node_type FROM pgq_node.get_node_info('q')")" = root ]
	run --separate-stderr londiste "$(ini b1)" switchover
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$stderr" == *"node r1 is a root too: a switchover to b1 was interrupted"* ]]
	[ "$(sql r1 "SELECT node_type || ' ' || provider_node FROM pgq_node.get_node_info('q')")" = "branch b1" ]
	sql b1 "INSERT INTO t1 VALUES (2, 'after')"
	has2() { [ "$(sql r1 "SELECT count(*) FROM t1")" = 2 ]; }
	wait_for has2
	all_equal t1 b1
	# and once more: nothing left to finish
	run --separate-stderr londiste "$(ini b1)" switchover
	[ "$status" -eq 0 ]
	[[ "$stderr" != *"a root too"* ]]
}

@test "londiste3: takeover --dead-root: the branch becomes the root, the leaves follow, writes go on" {
	need_node_mode
	second_cluster rootc 5433
	new_db b1 none; new_db l1 none; new_db l2 none
	psql -XAtq -p 5433 -d postgres -c "CREATE DATABASE r1" >/dev/null
	rloc="host=$TEST_DIR port=5433 dbname=r1"
	cascade_ini r1 "db=$rloc" "public_node_location=$rloc"
	for n in b1 l1 l2; do cascade_ini $n; done
	londiste "$(ini r1)" create-root r1
	londiste "$(ini b1)" create-branch b1 --provider="$rloc"
	londiste "$(ini l1)" create-leaf l1 --provider="$(loc b1)"
	# l2 reads from the root itself: it must move below the new root
	londiste "$(ini l2)" create-leaf l2 --provider="$rloc"
	for n in r1 b1 l1 l2; do worker_start $n; done
	psql -XAtq -p 5433 -d r1 -c "CREATE TABLE t1 (id int PRIMARY KEY, v text)"
	for n in b1 l1 l2; do sql $n "CREATE TABLE t1 (id int PRIMARY KEY, v text)"; done
	londiste "$(ini r1)" add-table t1
	for n in b1 l1 l2; do
		wait_for londiste "$(ini $n)" add-table t1 --expect-sync
	done
	psql -XAtq -p 5433 -d r1 -c "INSERT INTO t1 SELECT g, 'a' FROM generate_series(1, 100) g"
	for n in b1 l2; do
		wait_for rows_are $n "100 5050"
	done
	worker_stop r1
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/rootc" -m immediate -w stop >/dev/null
	run --separate-stderr londiste "$(ini b1)" takeover r1 --dead-root
	[ "$status" -eq 0 ]
	[[ "$output" == *"takeover	b1	from	r1	last_tick	"* ]]
	[ "$(sql b1 "SELECT node_type FROM pgq_node.get_node_info('q')")" = root ]
	[ "$(sql l2 "SELECT provider_node FROM pgq_node.get_node_info('q')")" = b1 ]
	[ "$(sql b1 "SELECT dead FROM pgq_node.get_queue_locations('q') WHERE node_name = 'r1'")" = t ]
	# the dead root's position is kept (resurrect's gravestone)
	[ "$(sql b1 "SELECT count(*) FROM pgq.get_consumer_info('q', 'r1.gravestone')")" = 1 ]
	sql b1 "INSERT INTO t1 SELECT g, 'b' FROM generate_series(101, 200) g"
	for n in l1 l2; do
		wait_for caught_up $n b1
		wait_for rows_are $n "200 20100"
	done
}

# A TERM to the command's pid alone (kill PID; systemd's KillMode=mixed
# or process) waited for the look it was in: a psql that the trap could
# not end, here held by a lock for as long as the test holds it.
@test "londiste3: switchover ends at once on a SIGTERM to its pid alone, and its wait with it" {
	need_node_mode
	cascade_tree r1 b1
	worker_start r1
	# b1's worker is not running: the switchover waits for it
	: >"$BATS_TEST_TMPDIR/sw.err"
	londiste "$(ini b1)" switchover 2>"$BATS_TEST_TMPDIR/sw.err" 3>&- &
	pid=$!
	wait_for grep -q "waiting for node b1 to apply tick" "$BATS_TEST_TMPDIR/sw.err"
	session 8 b1
	echo "BEGIN; LOCK TABLE pgq_node.node_info IN ACCESS EXCLUSIVE MODE; SELECT 'locked';" >&8
	wait_for said 8 locked
	looking() {
		[ "$(sql postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = 'b1'
			AND wait_event_type = 'Lock' AND query LIKE '%worker_last_tick%'")" = 1 ]
	}
	wait_for looking
	kill -TERM "$pid"
	# (a zombie until waited for; the old code waited for the lock)
	exited() { case $(ps -o stat= -p "$1") in Z*|'') true ;; *) false ;; esac; }
	wait_for exited "$pid" || { end_session 8; false; }
	# the server ends the look's backend once its client is gone
	not_looking() { ! looking; }
	wait_for not_looking || { end_session 8; false; }
	end_session 8
	st=0
	wait "$pid" || st=$?
	cat "$BATS_TEST_TMPDIR/sw.err"
	[ "$st" = 143 ]
	grep -q "writes to r1 stay stopped (its demotion began): run switchover again to finish it" \
		"$BATS_TEST_TMPDIR/sw.err"
}

# Right after a change of its node's state (a switchover, a new
# provider) a worker restarts its pipeline and then says so (uptodate);
# compare's waits (lock_timeout) are for a replay that runs, and that
# restart, seconds on a loaded machine, used them up: a compare right
# after a switchover exited 3 now and then.  Here the worker's monitor,
# which says it, is held stopped for as long as the test wants.
@test "londiste3: compare right after a change of the node's state waits for its worker to take it" {
	need_node_mode
	cascade_tree r1 b1
	worker_start r1
	mark="skytools-253-$$-$RANDOM"
	SKYTOOLS_TEST_MARK=$mark londiste "$(ini b1)" worker -d
	sql r1 "CREATE TABLE t1 (id int PRIMARY KEY, v text); INSERT INTO t1 VALUES (1, 'a')" >/dev/null
	londiste "$(ini r1)" add-table t1
	wait_for londiste "$(ini b1)" add-table t1 --create
	synced() { [ "$(sql b1 "SELECT merge_state FROM londiste.get_table_list('q') WHERE table_name = 'public.t1'")" = ok ]; }
	wait_for synced
	compare_t1 b1
	# the monitor: the parent of the psql that looks at the state
	monitor_psql() {
		local p
		for p in $(marked_pids "$mark" psql); do
			grep -qF mon.sql "/proc/$p/cmdline" 2>/dev/null && { echo "$p"; return 0; }
		done
		return 1
	}
	wait_for monitor_psql
	stopped_pid=$(awk '{ sub(/.*\) /, ""); print $2 }' "/proc/$(monitor_psql)/stat")
	kill -STOP "$stopped_pid"
	sql b1 "SELECT ret_code FROM pgq_node.set_consumer_uptodate('q', 'b1_w', false)" >/dev/null
	: >"$BATS_TEST_TMPDIR/cmp.err"
	londiste "$(ini b1)" compare >"$BATS_TEST_TMPDIR/cmp.out" 2>"$BATS_TEST_TMPDIR/cmp.err" 3>&- &
	pid=$!
	wait_for grep -q "waiting for the worker of b1 to restart with the node's new state" \
		"$BATS_TEST_TMPDIR/cmp.err"
	kill -CONT "$stopped_pid"
	stopped_pid=
	st=0
	wait "$pid" || st=$?
	cat "$BATS_TEST_TMPDIR/cmp.err"
	[ "$st" = 0 ]
	grep -q "public.t1	.*	equal" "$BATS_TEST_TMPDIR/cmp.out"
	[ "$(sql b1 "SELECT worker_uptodate FROM pgq_node.get_node_info('q')")" = t ]
}
