#!/usr/bin/env bats
# londiste(1) [londiste3]: what status and node-status say of a worker
# that stopped for good or was killed (the node's error in pgq_node,
# cleared by the next batch applied; the pidfile on the node itself),
# and what a root worker says when its database goes away and comes
# back.  Every node is a database of this file's cluster.
#
# The tests share one tree r1 -> b1 -> l1 with t1 (shared_tree), built
# by the first that needs it: each test ends with every worker running
# again and no error on any node, as it found the tree, and the next
# test starts any worker a failed one left stopped.  The test that
# leaves a table behind (t2, whose copy failed once) runs last.

load helper
load 25x-cascade

# The tree outlives a test: its configs, pidfiles and logs are the
# file's.
nodes() { printf '%s/nodes' "$BATS_FILE_TMPDIR"; }
ini() { printf '%s/%s.ini' "$(nodes)" "$1"; }
log() { printf '%s/%s.log' "$(nodes)" "$1"; }
pidfile() { printf '%s/%s.pid' "$(nodes)" "$1"; }
worker_start() { londiste "$(ini "$1")" worker -d; }
worker_stop() { londiste "$(ini "$1")" -s 2>/dev/null || :; }
node_ini() {
	mkdir -p "$(nodes)" &&
	(BATS_TEST_TMPDIR=$(nodes) && cascade_ini "$@")
}

teardown() {
	sql postgres "ALTER DATABASE r1 WITH ALLOW_CONNECTIONS true" >/dev/null 2>&1
	return 0
}

teardown_file() { tree_teardown_file r1 b1 l1; }

running() {
	local pid
	pid=$(cat "$(pidfile "$1")" 2>/dev/null) && kill -0 "$pid" 2>/dev/null
}

# shared_tree: r1 -> b1 -> l1 with their workers running, t1 in the set
# and replicated on every node.  Built once (a half-built one, from a
# failed attempt, is stopped and built again); a worker that an earlier
# test left stopped is started.
shared_tree() {
	local n
	if [ -f "$(nodes)/tree-ok" ]; then
		for n in r1 b1 l1; do
			running "$n" || worker_start "$n" || return 1
		done
		return 0
	fi
	for n in r1 b1 l1; do
		[ -f "$(ini "$n")" ] && worker_stop "$n"
		new_db "$n" none && node_ini "$n" || return 1
	done
	londiste "$(ini r1)" create-root r1 &&
		londiste "$(ini b1)" create-branch b1 --provider="$(loc r1)" &&
		londiste "$(ini l1)" create-leaf l1 --provider="$(loc b1)" || return 1
	for n in r1 b1 l1; do worker_start $n || return 1; done
	sql r1 "CREATE TABLE t1 (id int PRIMARY KEY, v text)" &&
		londiste "$(ini r1)" add-table t1 || return 1
	for n in b1 l1; do
		wait_for londiste "$(ini $n)" add-table t1 --create || return 1
	done
	londiste "$(ini l1)" wait-sync || return 1
	sql r1 "INSERT INTO t1 VALUES (1, 'a')" >/dev/null || return 1
	wait_for all_equal t1 b1 l1 &&
		touch "$(nodes)/tree-ok"
}

# new_row: one more row in t1 on r1.
new_row() {
	sql r1 "INSERT INTO t1 SELECT max(id) + 1, 'b' FROM t1" >/dev/null
}

# log_mark NODE: remember the length of the node's log; log_new NODE:
# what it logged since.
log_mark() { wc -l <"$(log "$1")" >"$BATS_TEST_TMPDIR/$1.mark"; }
log_new() { tail -n +"$(($(cat "$BATS_TEST_TMPDIR/$1.mark") + 1))" "$(log "$1")"; }
log_has() { log_new "$1" | grep -q "$2"; }

gone() { ! alive "$1"; }

# status_has NODE TEXT: status on NODE prints TEXT.
status_has() {
	run --separate-stderr londiste "$(ini "$1")" status
	[ "$status" -eq 0 ] && [[ "$output" == *"$2"* ]] ||
		{ printf 'status on %s, looking for %s:\n%s\n%s\n' "$1" "$2" "$output" "$stderr" >&2; return 1; }
}

@test "londiste3 status: a worker killed with -9 leaves its error on the node until it applies a batch again" {
	need_node_mode
	shared_tree
	pid=$(cat "$(pidfile b1)")
	kill -9 "$pid"
	wait_for has_error b1
	status_has l1 "Error: worker stopped: its supervisor (pid $pid) was killed"
	wait_for test ! -e "$(pidfile b1)"
	run --separate-stderr londiste "$(ini b1)" node-status
	[ "$status" -eq 0 ]
	[[ "$output" == *"Worker: NOT RUNNING (no $(pidfile b1))"* ]]
	# status on the node itself says it too, under its own line
	status_has b1 "Worker: NOT RUNNING"
	worker_start b1
	new_row
	wait_for all_equal t1 b1 l1
	wait_for no_error b1
}

@test "londiste3 status: a root worker killed with -9 shows it until it runs again" {
	need_node_mode
	shared_tree
	wait_for grep -q "worker r1_w of node r1 started" "$(log r1)"
	pid=$(cat "$(pidfile r1)")
	kill -9 "$pid"
	wait_for has_error r1
	status_has b1 "Error: worker stopped: its supervisor (pid $pid) was killed"
	worker_start r1
	wait_for no_error r1
}

@test "londiste3 status: a root worker whose database is gone says so once, and when it is back" {
	need_node_mode
	shared_tree
	wait_for grep -q "worker r1_w of node r1 started" "$(log r1)"
	log_mark r1
	sql postgres "ALTER DATABASE r1 WITH ALLOW_CONNECTIONS false" >/dev/null
	sql postgres "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'r1'" >/dev/null
	wait_for log_has r1 "cannot read the state of this node: .*; waiting for its database"
	# the monitor looks again every loop_delay (0.2 s): a few looks
	sleep 1
	sql postgres "ALTER DATABASE r1 WITH ALLOW_CONNECTIONS true" >/dev/null
	wait_for log_has r1 "the database of this node answers again"
	[ "$(log_new r1 | grep -c "cannot read the state of this node")" = 1 ]
	[ "$(log_new r1 | grep -c "the database of this node answers again")" = 1 ]
	# and it works on: the branch gets a new table's row
	sql r1 "CREATE TABLE t3 (id int PRIMARY KEY, v text)" >/dev/null
	londiste "$(ini r1)" add-table t3
	wait_for londiste "$(ini b1)" add-table t3 --create
	sql r1 "INSERT INTO t3 VALUES (1, 'back')" >/dev/null
	wait_for all_equal t3 b1
	# the rest of the tree works on too
	new_row
	wait_for all_equal t1 b1 l1
	wait_for no_error b1
	wait_for no_error l1
}

# Leaves t2 in the set: the file's last test.
@test "londiste3 status: a copy that fails for good stops the worker; status on every node says why, node-status that it does not run" {
	need_node_mode
	shared_tree
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
	wait_for test -s "$(pidfile l1)"
	pid=$(cat "$(pidfile l1)")
	wait_for gone "$pid"
	# the daemon's log filter may write its last lines after the worker ended
	wait_for grep -q "worker stopped: londiste-copy of public.t2 exited with status 2" "$(log l1)"
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
	new_row
	wait_for all_equal t1 b1 l1
	wait_for no_error l1
	run --separate-stderr londiste "$(ini l1)" node-status
	[[ "$output" != *"Error: "* ]]
	[[ "$output" == *"Worker: running (pid "* ]]
}
