#!/usr/bin/env bats
# londiste(1) compare and repair on a node below a branch while a writer
# keeps writing on the root: the point of the stream is taken at the
# root (lock and tick there), never by locking the branch, whose worker
# must bring it to that tick.  Every node is a database of this file's
# cluster, except the root of the last test (a cluster of its own, that
# it stops).

load helper
load 25x-cascade

teardown() {
	local n
	writer_stop
	for n in r1 b1 b2 l1; do
		[ -f "$BATS_TEST_TMPDIR/$n.ini" ] && worker_stop "$n"
	done
	return 0
}

# node_ini NODE [KEY=VALUE...]: the node's config, with a lock timeout
# that a loaded test machine meets (it bounds the waits, it is no
# measure of speed).
node_ini() {
	cascade_ini "$@" lock_timeout=60
}

# two_writer: on r1, inserts ids 1, 2, ... into t1 and bumps a row of
# t2 (ids 1 to 20) in the same transaction, until the file stop-writer
# exists; the number of transactions done in writer-last.  The shared
# writer (25x-cascade) writes t1 only, to whichever of its databases
# takes it; this one keeps t2 changing too, for compare to see both.
two_writer() {
	local n=0
	while [ ! -f "$BATS_TEST_TMPDIR/stop-writer" ]; do
		n=$((n + 1))
		sql r1 "INSERT INTO t1 VALUES ($n, 'w'); UPDATE t2 SET v = v + 1 WHERE id = $((n % 20 + 1))" \
			>/dev/null 2>&1 || sleep 0.05
		echo "$n" >"$BATS_TEST_TMPDIR/writer-last.tmp" &&
			mv "$BATS_TEST_TMPDIR/writer-last.tmp" "$BATS_TEST_TMPDIR/writer-last"
	done
}

# tables_on_root: t1 (empty) and t2 (ids 1 to 20 bumped by the writer,
# 100 left alone) in the set.
tables_on_root() {
	sql r1 "CREATE TABLE t1 (id int PRIMARY KEY, v text);
		CREATE TABLE t2 (id int PRIMARY KEY, v int);
		INSERT INTO t2 SELECT g, 0 FROM generate_series(1, 20) g;
		INSERT INTO t2 VALUES (100, 7)" >/dev/null &&
	londiste "$(ini r1)" add-table t1 t2
}

# join_set NODE...: t1 and t2 created on each node in turn, in sync.
join_set() {
	local n
	for n; do
		wait_for londiste "$(ini "$n")" add-table t1 t2 --create || return 1
		londiste "$(ini "$n")" wait-sync || return 1
	done
}

@test "londiste3 compare and repair on a leaf below a branch while the root takes writes" {
	need_node_mode
	new_db r1 none; new_db b1 none; new_db l1 none
	for n in r1 b1 l1; do node_ini $n; done
	londiste "$(ini r1)" create-root r1
	londiste "$(ini b1)" create-branch b1 --provider="$(loc r1)"
	londiste "$(ini l1)" create-leaf l1 --provider="$(loc b1)"
	for n in r1 b1 l1; do worker_start $n; done
	tables_on_root
	join_set b1 l1
	writer_bg two_writer
	wait_for writer_past 20
	wait_for rows_present l1
	compare_equal l1
	# the branch's own provider is the root: the point is taken there too
	compare_equal b1
	# a row of t2 changed by hand on the leaf (one the writer leaves
	# alone); t1 stays as replay makes it
	sql l1 "SET session_replication_role = replica; UPDATE t2 SET v = -5 WHERE id = 100"
	t2_repaired l1 1
	[ "$(sql l1 "SELECT v FROM t2 WHERE id = 100")" = 7 ]
	before=$(writer_last)
	compare_equal l1
	# the writer was never stopped: it goes on writing
	wait_for writer_past "$before"
	kill -0 "$writer_pid"
	writer_stop
	wait_for caught_up l1 r1
	wait_for all_equal t1 b1 l1
	wait_for all_equal t2 b1 l1
}

# rows_present NODE: the writer's rows reach the node.
rows_present() { [ "$(sql "$1" "SELECT count(*) FROM t1")" -gt 0 ]; }

@test "londiste3 compare and repair below two branches (root -> branch -> branch -> leaf) while the root takes writes" {
	need_node_mode
	for n in r1 b1 b2 l1; do new_db $n none; node_ini $n; done
	londiste "$(ini r1)" create-root r1
	londiste "$(ini b1)" create-branch b1 --provider="$(loc r1)"
	londiste "$(ini b2)" create-branch b2 --provider="$(loc b1)"
	londiste "$(ini l1)" create-leaf l1 --provider="$(loc b2)"
	for n in r1 b1 b2 l1; do worker_start $n; done
	tables_on_root
	join_set b1 b2 l1
	writer_bg two_writer
	wait_for writer_past 20
	wait_for rows_present l1
	compare_equal l1
	compare_equal b2
	sql l1 "SET session_replication_role = replica; DELETE FROM t2 WHERE id = 100"
	run --separate-stderr londiste "$(ini l1)" repair --apply t2
	[ "$status" -eq 1 ] || { echo "status $status: $output $stderr" >&2; false; }
	[ "$(sql l1 "SELECT v FROM t2 WHERE id = 100")" = 7 ]
	compare_equal l1
	kill -0 "$writer_pid"
	writer_stop
	wait_for caught_up l1 r1
	wait_for all_equal t1 b1 b2 l1
	wait_for all_equal t2 b1 b2 l1
}

@test "londiste3 compare and repair below a branch: the root down is exit 3 naming it" {
	need_node_mode
	second_cluster rootc 5433
	new_db b1 none; new_db l1 none
	psql -XAtq -p 5433 -d postgres -c "CREATE DATABASE r1" >/dev/null
	rloc="host=$TEST_DIR port=5433 dbname=r1"
	node_ini r1 "db=$rloc" "public_node_location=$rloc"
	for n in b1 l1; do node_ini $n; done
	londiste "$(ini r1)" create-root r1
	londiste "$(ini b1)" create-branch b1 --provider="$rloc"
	londiste "$(ini l1)" create-leaf l1 --provider="$(loc b1)"
	for n in r1 b1 l1; do worker_start $n; done
	psql -XAtq -p 5433 -d r1 -c "CREATE TABLE t1 (id int PRIMARY KEY, v text);
		INSERT INTO t1 SELECT g, 'a' FROM generate_series(1, 10) g" >/dev/null
	londiste "$(ini r1)" add-table t1
	join_set_t1() {
		wait_for londiste "$(ini "$1")" add-table t1 --create &&
			londiste "$(ini "$1")" wait-sync
	}
	join_set_t1 b1
	join_set_t1 l1
	run --separate-stderr londiste "$(ini l1)" compare
	[ "$status" -eq 0 ] || { echo "status $status: $output $stderr" >&2; false; }
	worker_stop r1
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/rootc" -m immediate -w stop >/dev/null
	for verb in compare repair; do
		run --separate-stderr londiste "$(ini l1)" $verb
		[ "$status" -eq 3 ] || { echo "$verb: status $status: $output $stderr" >&2; false; }
		[[ "$stderr" == *"cannot reach node r1 of queue q (the provider of b1"*"port=5433 dbname=r1"* ]] ||
			{ echo "$verb: $stderr" >&2; false; }
		# one line per table, that says it all
		[ "$(printf '%s\n' "$stderr" | grep -c 'cannot reach')" = 1 ]
	done
}
