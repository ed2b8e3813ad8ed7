#!/usr/bin/env bats
# londiste(1) [londiste3]: what status and node-status say of a worker
# that stopped for good or was killed (the node's error in pgq_node,
# cleared by the next batch applied; the pidfile on the node itself),
# and what a root worker says when its database goes away and comes
# back.  Every node is a database of this file's cluster.

load helper
load 25x-cascade

teardown() {
	cascade_workers_stop
	sql postgres "ALTER DATABASE r1 WITH ALLOW_CONNECTIONS true" >/dev/null 2>&1
	return 0
}

log() { printf '%s/%s.log' "$BATS_TEST_TMPDIR" "$1"; }

# r1 -> b1 -> l1 with their workers, t1 in the set and replicated on
# every node.
tree_t1() {
	running_tree_t1 || return 1
	londiste "$(ini l1)" wait-sync || return 1
	sql r1 "INSERT INTO t1 VALUES (1, 'a')" >/dev/null || return 1
	wait_for all_equal t1 b1 l1
}

gone() { ! kill -0 "$1" 2>/dev/null; }

# status_has NODE TEXT: status on NODE prints TEXT.
status_has() {
	run --separate-stderr londiste "$(ini "$1")" status
	[ "$status" -eq 0 ] && [[ "$output" == *"$2"* ]] ||
		{ printf 'status on %s, looking for %s:\n%s\n%s\n' "$1" "$2" "$output" "$stderr" >&2; return 1; }
}

@test "londiste3 status: a copy that fails for good stops the worker; status on every node says why, node-status that it does not run" {
	need_node_mode
	tree_t1
	sql r1 "CREATE TABLE t2 (id int PRIMARY KEY)" >/dev/null
	londiste "$(ini r1)" add-table t2
	sql b1 "CREATE TABLE t2 (id int PRIMARY KEY)" >/dev/null
	wait_for londiste "$(ini b1)" add-table t2
	knows_t2() { [ "$(sql l1 "SELECT count(*) FROM londiste.table_info WHERE table_name = 'public.t2'")" = 1 ]; }
	wait_for knows_t2
	worker_stop l1
	sql l1 "CREATE TABLE t2 (id int PRIMARY KEY)" >/dev/null
	londiste "$(ini l1)" add-table t2
	# registered, then gone: the copy can never succeed (status 2)
	sql l1 "DROP TABLE t2" >/dev/null
	worker_start l1
	wait_for test -s "$BATS_TEST_TMPDIR/l1.pid"
	pid=$(cat "$BATS_TEST_TMPDIR/l1.pid")
	wait_for gone "$pid"
	grep -q "worker stopped: londiste-copy of public.t2 exited with status 2" "$(log l1)"
	for n in r1 b1 l1; do
		status_has "$n" "Error: worker stopped: londiste-copy: "
	done
	status_has r1 "does not exist"
	run --separate-stderr londiste "$(ini l1)" node-status
	[ "$status" -eq 0 ]
	[[ "$output" == *"Error: worker stopped: "* ]]
	[[ "$output" == *"Worker: NOT RUNNING"* ]]
	# fixed and started again: the next batch applied clears it
	sql l1 "CREATE TABLE t2 (id int PRIMARY KEY)" >/dev/null
	worker_start l1
	sql r1 "INSERT INTO t1 VALUES (2, 'b')" >/dev/null
	wait_for all_equal t1 b1 l1
	wait_for no_error l1
	run --separate-stderr londiste "$(ini l1)" node-status
	[[ "$output" != *"Error: "* ]]
	[[ "$output" == *"Worker: running (pid "* ]]
}

@test "londiste3 status: a worker killed with -9 leaves its error on the node until it applies a batch again" {
	need_node_mode
	tree_t1
	pid=$(cat "$BATS_TEST_TMPDIR/b1.pid")
	kill -9 "$pid"
	wait_for has_error b1
	status_has l1 "Error: worker stopped: its supervisor (pid $pid) was killed"
	wait_for test ! -e "$BATS_TEST_TMPDIR/b1.pid"
	run --separate-stderr londiste "$(ini b1)" node-status
	[ "$status" -eq 0 ]
	[[ "$output" == *"Worker: NOT RUNNING (no $BATS_TEST_TMPDIR/b1.pid)"* ]]
	# status on the node itself says it too, under its own line
	status_has b1 "Worker: NOT RUNNING"
	worker_start b1
	sql r1 "INSERT INTO t1 VALUES (2, 'b')" >/dev/null
	wait_for all_equal t1 b1 l1
	wait_for no_error b1
}

@test "londiste3 status: a root worker killed with -9 shows it until it runs again" {
	need_node_mode
	cascade_tree r1 b1
	worker_start r1
	wait_for grep -q "worker r1_w of node r1 started" "$(log r1)"
	pid=$(cat "$BATS_TEST_TMPDIR/r1.pid")
	kill -9 "$pid"
	wait_for has_error r1
	status_has b1 "Error: worker stopped: its supervisor (pid $pid) was killed"
	worker_start r1
	wait_for no_error r1
}

@test "londiste3 status: a root worker whose database is gone says so once, and when it is back" {
	need_node_mode
	cascade_tree r1 b1
	worker_start r1
	wait_for grep -q "worker r1_w of node r1 started" "$(log r1)"
	sql postgres "ALTER DATABASE r1 WITH ALLOW_CONNECTIONS false" >/dev/null
	sql postgres "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'r1'" >/dev/null
	wait_for grep -q "cannot read the state of this node: .*; waiting for its database" "$(log r1)"
	# the monitor looks again every loop_delay (0.2 s): a few looks
	sleep 1
	sql postgres "ALTER DATABASE r1 WITH ALLOW_CONNECTIONS true" >/dev/null
	wait_for grep -q "the database of this node answers again" "$(log r1)"
	[ "$(grep -c "cannot read the state of this node" "$(log r1)")" = 1 ]
	[ "$(grep -c "the database of this node answers again" "$(log r1)")" = 1 ]
	# and it works on: the branch gets a new table's row
	sql r1 "CREATE TABLE t1 (id int PRIMARY KEY, v text)" >/dev/null
	londiste "$(ini r1)" add-table t1
	worker_start b1
	wait_for londiste "$(ini b1)" add-table t1 --create
	sql r1 "INSERT INTO t1 VALUES (1, 'back')" >/dev/null
	wait_for all_equal t1 b1
}
