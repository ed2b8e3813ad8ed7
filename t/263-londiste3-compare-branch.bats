#!/usr/bin/env bats
# londiste(1) compare and repair on a node below a branch while a writer
# keeps writing on the root: the point of the stream is taken at the
# root (lock and tick there), never by locking the branch, whose worker
# must bring it to that tick.
#
# The tests share one tree, built by the first that needs it
# (shared_tree): root r1 in a cluster of its own (the last test stops
# it), branch b1 and leaf l1 in this file's cluster, t1 and t2 in sync
# on every node.  Each test adds the nodes only it uses (b2 -> l2, l3),
# changes rows only on those or on l1 (and repairs them), and stops its
# writer with the tree caught up, so that a test run alone (bats -f)
# builds what it needs and none depends on another's success.

load helper
load 25x-cascade

# The tree outlives a test: its configs, pidfiles and logs are the
# file's.
nodes() { printf '%s/nodes' "$BATS_FILE_TMPDIR"; }
ini() { printf '%s/%s.ini' "$(nodes)" "$1"; }
worker_start() { londiste "$(ini "$1")" worker -d; }
worker_stop() { londiste "$(ini "$1")" -s 2>/dev/null || :; }

# rloc: the root's database, in the cluster rootc (port 5433).
rloc() { printf 'host=%s port=5433 dbname=r1' "$TEST_DIR"; }

# node_ini NODE [KEY=VALUE...]: the node's config (25x-cascade's, in
# the file's directory), with a lock timeout that a loaded test machine
# meets (it bounds the waits, it is no measure of speed).
node_ini() {
	mkdir -p "$(nodes)" &&
	(BATS_TEST_TMPDIR=$(nodes) && cascade_ini "$@" lock_timeout=60)
}

teardown() {
	writer_stop
	return 0
}

teardown_file() {
	local f
	for f in "$(nodes)"/*.ini; do
		[ -f "$f" ] && worker_stop "$(basename "$f" .ini)"
	done
	pg_stop
}

# two_writer: on r1, in a transaction each, inserts ids past the
# highest one into t1 and bumps a row of t2 (ids 1 to 20), about twenty
# transactions a second, until writer_stop cancels it; a transaction
# that fails is skipped.  One session for all: a psql and a backend
# started for each transaction cost more than the rest of the test.
# The shared writer (25x-cascade) writes t1 only, to whichever of its
# databases takes it; this one keeps t2 changing too, for compare to
# see both.
two_writer() {
	local base
	base=$(sql "$(rloc)" "SELECT coalesce(max(id), 0) FROM t1") || return 1
	echo "$base" >"$BATS_TEST_TMPDIR/writer-base"
	sql "$(rloc) application_name=t263_writer" "DO \$\$
	DECLARE
		n int := 0;
	BEGIN
		LOOP
			n := n + 1;
			BEGIN
				INSERT INTO t1 VALUES ($base + n, 'w');
				UPDATE t2 SET v = v + 1 WHERE id = n % 20 + 1;
			EXCEPTION WHEN others THEN
				NULL;
			END;
			COMMIT;
			PERFORM pg_sleep(0.05);
		END LOOP;
	END \$\$"
}

# writer_last: the writer's transactions so far (the highest id it
# wrote); writer_stop: cancel it, and wait for it.  Both override
# 25x-cascade's, which a writer that notes its own count serves.
writer_last() {
	local base
	base=$(cat "$BATS_TEST_TMPDIR/writer-base" 2>/dev/null) || { echo 0; return; }
	sql "$(rloc)" "SELECT coalesce(max(id), $base) - $base FROM t1"
}
writer_stop() {
	[ -n "${writer_pid:-}" ] || return 0
	wait_for writer_cancelled
	wait "$writer_pid" || :
	writer_pid=
}
writer_cancelled() {
	sql "$(rloc)" "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
		WHERE application_name = 't263_writer'" >/dev/null 2>&1
	! kill -0 "$writer_pid" 2>/dev/null
}

# The root is no database of this cluster: its rows and ticks are read
# at rloc (all_equal and caught_up name it r1).
dump_rows() {
	local db=$1
	[ "$db" = r1 ] && db=$(rloc)
	psql -XAtq -d "$db" -c "COPY (SELECT * FROM $2 ORDER BY 1) TO STDOUT"
}
root_top() {
	sql "$(rloc)" "SELECT max(tick_id) FROM pgq.tick t JOIN pgq.queue q ON q.queue_id = t.tick_queue WHERE q.queue_name = 'q'"
}

# join_set TABLES NODE...: TABLES (one word: "t1 t2") created on each
# node in turn, in sync.
join_set() {
	local n tables=$1
	shift
	for n; do
		wait_for londiste "$(ini "$n")" add-table $tables --create || return 1
		londiste "$(ini "$n")" wait-sync || return 1
	done
}

# shared_tree: r1 (cluster rootc) -> b1 -> l1 with their workers; t1
# (empty) and t2 (ids 1 to 20 bumped by the writer, 100 left alone) in
# the set and in sync on b1 and l1.  Built once; a half-built one (a
# failed attempt) is stopped and built again.
shared_tree() {
	local n
	[ -f "$(nodes)/tree-ok" ] && return 0
	for n in r1 b1 l1; do
		[ -f "$(ini "$n")" ] && worker_stop "$n"
	done
	[ -f "$TEST_DIR/rootc/postmaster.pid" ] || second_cluster rootc 5433 || return 1
	sql "port=5433 dbname=postgres" "DROP DATABASE IF EXISTS r1 WITH (FORCE)" >/dev/null &&
		sql "port=5433 dbname=postgres" "CREATE DATABASE r1" >/dev/null || return 1
	node_ini r1 "db=$(rloc)" "public_node_location=$(rloc)" || return 1
	for n in b1 l1; do
		new_db "$n" none && node_ini "$n" || return 1
	done
	londiste "$(ini r1)" create-root r1 &&
		londiste "$(ini b1)" create-branch b1 --provider="$(rloc)" &&
		londiste "$(ini l1)" create-leaf l1 --provider="$(loc b1)" || return 1
	for n in r1 b1 l1; do worker_start $n || return 1; done
	sql "$(rloc)" "CREATE TABLE t1 (id int PRIMARY KEY, v text);
		CREATE TABLE t2 (id int PRIMARY KEY, v int);
		INSERT INTO t2 SELECT g, 0 FROM generate_series(1, 20) g;
		INSERT INTO t2 VALUES (100, 7)" >/dev/null &&
		londiste "$(ini r1)" add-table t1 t2 &&
		join_set "t1 t2" b1 l1 &&
		touch "$(nodes)/tree-ok"
}

# new_node NODE TYPE PROVIDER TABLES: NODE joins the shared tree below
# PROVIDER with its worker and TABLES in sync (a test's own node, made
# again when an earlier attempt left one).
new_node() {
	[ -f "$(ini "$1")" ] && worker_stop "$1"
	new_db "$1" none && node_ini "$1" &&
		londiste "$(ini "$1")" create-"$2" "$1" --provider="$(loc "$3")" &&
		worker_start "$1" &&
		join_set "$4" "$1"
}
@test "londiste3 compare and repair on a leaf below a branch while the root takes writes" {
	need_node_mode
	shared_tree
	writer_bg two_writer
	wait_for writer_past 20
	wait_for rows_present l1
	compare_equal l1
	# the branch's own provider is the root: the point is taken there too
	compare_equal b1
	# a row of t2 changed by hand on the leaf (one the writer leaves
	# alone); t1 stays as replay makes it
	sql l1 "SET session_replication_role = replica; UPDATE t2 SET v = -5 WHERE id = 100"
	# londiste 3's --count-only counts: the changed value goes unseen
	run --separate-stderr londiste "$(ini l1)" compare --count-only t2
	[ "$status" -eq 0 ] || { echo "status $status: $output $stderr" >&2; false; }
	[ "$output" = $'public.t2\t21\t21\t-\t-\tequal' ]
	run --separate-stderr londiste "$(ini l1)" repair --count-only t2
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"unknown option --count-only"* ]]
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
	shared_tree
	# b2 and its leaf l2 are this test's: r1 -> b1 -> b2 -> l2
	new_node b2 branch b1 "t1 t2"
	new_node l2 leaf b2 "t1 t2"
	writer_bg two_writer
	wait_for writer_past 20
	wait_for rows_present l2
	compare_equal l2
	compare_equal b2
	sql l2 "SET session_replication_role = replica; DELETE FROM t2 WHERE id = 100"
	run --separate-stderr londiste "$(ini l2)" repair --apply t2
	[ "$status" -eq 1 ] || { echo "status $status: $output $stderr" >&2; false; }
	[ "$(sql l2 "SELECT v FROM t2 WHERE id = 100")" = 7 ]
	compare_equal l2
	kill -0 "$writer_pid"
	writer_stop
	wait_for caught_up l2 r1
	wait_for all_equal t1 b1 b2 l2
	wait_for all_equal t2 b1 b2 l2
}

# Stops the root for good: the file's last test.
@test "londiste3 compare and repair below a branch: the root down is exit 3 naming it" {
	need_node_mode
	shared_tree
	# a leaf of its own below b1, with t1 only: one table to compare and
	# repair
	new_node l3 leaf b1 t1
	run --separate-stderr londiste "$(ini l3)" compare
	[ "$status" -eq 0 ] || { echo "status $status: $output $stderr" >&2; false; }
	worker_stop r1
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/rootc" -m immediate -w stop >/dev/null
	for verb in compare repair; do
		run --separate-stderr londiste "$(ini l3)" $verb
		[ "$status" -eq 3 ] || { echo "$verb: status $status: $output $stderr" >&2; false; }
		[[ "$stderr" == *"cannot reach node r1 of queue q (the provider of b1"*"port=5433 dbname=r1"* ]] ||
			{ echo "$verb: $stderr" >&2; false; }
		# one line per table, that says it all
		[ "$(printf '%s\n' "$stderr" | grep -c 'cannot reach')" = 1 ]
	done
}
