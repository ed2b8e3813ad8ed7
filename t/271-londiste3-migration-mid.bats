#!/usr/bin/env bats
# Migrating from londiste 3 one node at a time, in the middle of the
# tree: an original londiste 3 branch between an original root and our
# leaf, and our branch between our root and an original leaf, each
# under a writer on the root.  Every node is a database of this file's
# cluster; the original's nodes are named o_*.

load helper
load 25x-cascade
load 27x-original

setup() {
	need_original
	need_node_mode
}

teardown() {
	local n f
	writer_stop
	for n in r1 b1 l1; do
		[ -f "$BATS_TEST_TMPDIR/$n.ini" ] && worker_stop "$n"
	done
	l3_stop
	if [ -z "${BATS_TEST_COMPLETED:-}" ]; then
		for f in "$BATS_TEST_TMPDIR"/*.log; do
			[ -f "$f" ] && { echo "== $f"; tail -n 25 "$f"; }
		done
	fi
	return 0
}

# writer_start DB: the writer (25x-cascade) on DB's t1, in the background.
writer_start() {
	rm -f "$BATS_TEST_TMPDIR/stop-writer" "$BATS_TEST_TMPDIR/writer-last"
	writer "$(loc "$1")" 3>&- &
	writer_pid=$!
}

writer_stop() {
	[ -n "${writer_pid:-}" ] || return 0
	touch "$BATS_TEST_TMPDIR/stop-writer"
	wait "$writer_pid" || :
	writer_pid=
}

writer_last() { cat "$BATS_TEST_TMPDIR/writer-last" 2>/dev/null || echo 0; }
writer_past() { [ "$(writer_last)" -gt "$1" ]; }

# state DB TABLE: the table's merge_state on the node.
state() {
	sql "$1" "SELECT coalesce(merge_state, 'null') FROM londiste.get_table_list('q') WHERE table_name = '$2'"
}

is_ok() { [ "$(state "$1" "$2")" = ok ]; }

# same DB1 DB2 TABLE: the table holds the same rows in both.
same() {
	local q="SELECT coalesce(string_agg(md5(x::text), '' ORDER BY id), '') FROM $3 x"
	[ "$(sql "$1" "$q")" = "$(sql "$2" "$q")" ]
}

# compare_equal NODE: our compare on the node: exit 0, t1 and t2 equal.
compare_equal() {
	run --separate-stderr londiste "$(ini "$1")" compare
	[ "$status" -eq 0 ] || { echo "$1 compare: status $status: $output $stderr" >&2; return 1; }
	[[ "$output" == *"public.t1	"*"	equal"* ]] || { echo "$1: $output" >&2; return 1; }
	[[ "$output" == *"public.t2	"*"	equal"* ]] || { echo "$1: $output" >&2; return 1; }
}

# two_tables DB: t1 (the writer's) and t2 (ids 1 to 20, left alone).
two_tables() {
	sql "$1" "CREATE TABLE t1 (id int PRIMARY KEY, v text);
		CREATE TABLE t2 (id int PRIMARY KEY, v int)" >/dev/null
}

@test "migration: an original londiste 3 branch between an original root and our leaf, under a writer" {
	for n in o_root o_branch l1; do
		new_db "$n" none
		two_tables "$n"
	done
	sql o_root "INSERT INTO t2 SELECT g, g FROM generate_series(1, 20) g" >/dev/null
	l3_ini o_root
	l3_ini o_branch
	run --separate-stderr l3 o_root create-root o_root "$(loc o_root)"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	sql o_root "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '1 second')" >/dev/null
	pgqd_start o_root
	l3 o_root worker -d
	run --separate-stderr l3 o_root add-table public.t1 public.t2
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	run --separate-stderr l3 o_branch create-branch o_branch "$(loc o_branch)" --provider="$(loc o_root)"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	l3 o_branch worker -d
	run --separate-stderr l3 o_branch add-table public.t1 public.t2
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	wait_for is_ok o_branch public.t1
	wait_for is_ok o_branch public.t2

	cascade_ini l1 lock_timeout=60
	run --separate-stderr londiste "$(ini l1)" create-leaf l1 --provider="$(loc o_branch)"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[ "$(sql o_branch "SELECT string_agg(node_name, ',') FROM pgq_node.get_subscriber_info('q')")" = l1 ]
	worker_start l1
	wait_for londiste "$(ini l1)" add-table public.t1 public.t2
	wait_for is_ok l1 public.t1
	wait_for is_ok l1 public.t2
	wait_for same o_root l1 t2

	writer_start o_root
	wait_for writer_past 20
	wait_for same o_branch l1 t1
	# our compare and repair on our leaf take the point at the original
	# root, up through the original branch, while the writer writes
	compare_equal l1
	sql l1 "SET session_replication_role = replica; UPDATE t2 SET v = -5 WHERE id = 7;
		DELETE FROM t2 WHERE id = 8" >/dev/null
	run --separate-stderr londiste "$(ini l1)" compare
	[ "$status" -eq 1 ] || { echo "status $status: $output $stderr" >&2; false; }
	[[ "$output" == *"public.t2	"*"	differ"* ]]
	[[ "$output" == *"public.t1	"*"	equal"* ]]
	run --separate-stderr londiste "$(ini l1)" repair --apply
	[ "$status" -eq 1 ] || { echo "status $status: $output $stderr" >&2; false; }
	[[ "$stderr" == *"table public.t2: 2 differences, repaired"* ]] || { echo "$stderr" >&2; false; }
	[ "$(sql l1 "SELECT v FROM t2 WHERE id = 7")" = 7 ]
	[ "$(sql l1 "SELECT v FROM t2 WHERE id = 8")" = 8 ]
	compare_equal l1
	before=$(writer_last)
	wait_for writer_past "$before"
	kill -0 "$writer_pid"

	# the original's status on its branch shows our leaf, and on our leaf
	# the whole tree
	run --separate-stderr l3 o_branch status
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == *"o_root (root)"* ]] || { echo "$output" >&2; false; }
	[[ "$output" == *"o_branch (branch)"* ]] || { echo "$output" >&2; false; }
	[[ "$output" == *"l1 (leaf)"* ]] || { echo "$output" >&2; false; }
	run --separate-stderr londiste "$(ini l1)" status
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == *o_branch* ]] || { echo "$output" >&2; false; }
	[[ "$output" == *l1* ]] || { echo "$output" >&2; false; }

	writer_stop
	wait_for same o_root l1 t1
	wait_for same o_root l1 t2
	[ "$(sql l1 "SELECT count(*) FROM t1")" = "$(sql o_root "SELECT count(*) FROM t1")" ]
}

@test "migration: an original londiste 3 leaf below our branch of our root, under a writer" {
	for n in r1 b1 o_leaf; do
		new_db "$n" none
		two_tables "$n"
	done
	sql r1 "INSERT INTO t2 SELECT g, g FROM generate_series(1, 20) g" >/dev/null
	cascade_ini r1
	cascade_ini b1
	londiste "$(ini r1)" create-root r1
	sql r1 "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '1 second')" >/dev/null
	londiste "$(ini b1)" create-branch b1 --provider="$(loc r1)"
	worker_start r1
	worker_start b1
	londiste "$(ini r1)" add-table public.t1 public.t2
	wait_for londiste "$(ini b1)" add-table public.t1 public.t2
	wait_for is_ok b1 public.t1
	wait_for is_ok b1 public.t2

	l3_ini o_leaf
	run --separate-stderr l3 o_leaf create-leaf o_leaf "$(loc o_leaf)" --provider="$(loc b1)"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[ "$(sql b1 "SELECT string_agg(node_name, ',') FROM pgq_node.get_subscriber_info('q')")" = o_leaf ]
	l3 o_leaf worker -d
	run --separate-stderr l3 o_leaf add-table public.t1 public.t2
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	wait_for is_ok o_leaf public.t1
	wait_for is_ok o_leaf public.t2
	wait_for same r1 o_leaf t2

	writer_start r1
	wait_for writer_past 20
	wait_for same b1 o_leaf t1
	before=$(writer_last)
	wait_for writer_past "$before"
	kill -0 "$writer_pid"

	# our status shows the original leaf, and the original's the tree
	run --separate-stderr londiste "$(ini r1)" status
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == *b1* ]] || { echo "$output" >&2; false; }
	[[ "$output" == *o_leaf* ]] || { echo "$output" >&2; false; }
	run --separate-stderr l3 o_leaf status
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == *"r1 (root)"* ]] || { echo "$output" >&2; false; }
	[[ "$output" == *"b1 (branch)"* ]] || { echo "$output" >&2; false; }
	[[ "$output" == *"o_leaf (leaf)"* ]] || { echo "$output" >&2; false; }

	writer_stop
	wait_for same r1 o_leaf t1
	[ "$(sql o_leaf "SELECT count(*) FROM t1")" = "$(sql r1 "SELECT count(*) FROM t1")" ]

	# The original's compare on its leaf, once the writer stopped: its
	# branch path pauses the branch's worker, takes the branch's newest
	# tick and waits until the leaf applied a LATER one.  A paused worker
	# must hold every batch that changes a table, so under a writer on
	# the root no later tick can come (the original's own worker passes
	# nothing at all while paused, not even an idle tick); our paused
	# branch passes the root's idle ticks, which change nothing.
	run --separate-stderr l3 o_leaf compare
	[ "$status" -eq 0 ] || { echo "o_leaf compare: $output $stderr" >&2; false; }
	[[ "$stderr" == *"Pausing upstream worker: b1_w"* ]] || { echo "$stderr" >&2; false; }
	[ "$(sql b1 "SELECT worker_paused FROM pgq_node.get_node_info('q')")" = f ]
	sql o_leaf "SET session_replication_role = replica; UPDATE t2 SET v = -5 WHERE id = 7" >/dev/null
	run --separate-stderr l3 o_leaf compare
	[ "$status" -eq 1 ] || { echo "o_leaf compare: $status $output $stderr" >&2; false; }
	[[ "$stderr" == *"public.t2: Results do not match"* ]] || { echo "$stderr" >&2; false; }
}

# rows_match DB1 DB2: t1 holds as many rows on both.
rows_match() { [ "$(sql "$1" "SELECT count(*) FROM t1")" = "$(sql "$2" "SELECT count(*) FROM t1")" ]; }

@test "migration: our leaf moves from an original londiste 3 branch to our branch and back (change-provider), under a writer" {
	for n in o_root o_branch b1 l1; do
		new_db "$n" none
		two_tables "$n"
	done
	sql o_root "INSERT INTO t2 SELECT g, g FROM generate_series(1, 20) g" >/dev/null
	l3_ini o_root
	l3_ini o_branch
	l3 o_root create-root o_root "$(loc o_root)" 2>/dev/null
	sql o_root "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '1 second')" >/dev/null
	pgqd_start o_root
	l3 o_root worker -d
	l3 o_root add-table public.t1 public.t2 2>/dev/null
	l3 o_branch create-branch o_branch "$(loc o_branch)" --provider="$(loc o_root)" 2>/dev/null
	l3 o_branch worker -d
	l3 o_branch add-table public.t1 public.t2 2>/dev/null
	cascade_ini b1 lock_timeout=60
	londiste "$(ini b1)" create-branch b1 --provider="$(loc o_root)"
	worker_start b1
	cascade_ini l1 lock_timeout=60
	londiste "$(ini l1)" create-leaf l1 --provider="$(loc o_branch)"
	worker_start l1
	wait_for londiste "$(ini b1)" add-table public.t1 public.t2
	wait_for londiste "$(ini l1)" add-table public.t1 public.t2
	for n in o_branch b1 l1; do
		wait_for is_ok $n public.t1
		wait_for is_ok $n public.t2
	done

	writer_start o_root
	wait_for writer_past 10
	run --separate-stderr londiste "$(ini l1)" change-provider --provider=b1
	[ "$status" -eq 0 ] || { echo "$output $stderr" >&2; false; }
	[ "$(sql l1 "SELECT provider_node FROM pgq_node.get_node_info('q')")" = b1 ]
	[ "$(sql o_branch "SELECT count(*) FROM pgq_node.get_subscriber_info('q') WHERE node_name = 'l1'")" = 0 ]
	[ "$(sql b1 "SELECT count(*) FROM pgq_node.get_subscriber_info('q') WHERE node_name = 'l1'")" = 1 ]
	before=$(writer_last)
	wait_for writer_past $((before + 10))
	wait_for same b1 l1 t1
	run --separate-stderr londiste "$(ini l1)" change-provider --provider=o_branch
	[ "$status" -eq 0 ] || { echo "$output $stderr" >&2; false; }
	[ "$(sql l1 "SELECT provider_node FROM pgq_node.get_node_info('q')")" = o_branch ]
	[ "$(sql b1 "SELECT count(*) FROM pgq_node.get_subscriber_info('q') WHERE node_name = 'l1'")" = 0 ]
	before=$(writer_last)
	wait_for writer_past $((before + 10))
	compare_equal l1
	kill -0 "$writer_pid"
	writer_stop
	for n in o_branch b1 l1; do
		wait_for same o_root $n t1
		rows_match o_root $n
	done
	wait_for no_error l1
	# the original status on its branch shows our leaf again
	run --separate-stderr l3 o_branch status
	[[ "$output" == *"l1 (leaf)"* ]] || { echo "$output" >&2; false; }
}

# all_rows DB LAST: t1 holds ids 1 to LAST once each (and the end row).
all_rows() {
	[ "$(sql "$1" "SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || max(id) FROM t1 WHERE id > 0")" = "$2 $2 $2" ]
}
has_end() { [ "$(sql "$1" "SELECT count(*) FROM t1 WHERE id = -1")" = 1 ]; }

@test "migration: switchover from an original londiste 3 root to our branch, and back with the original's takeover, under a writer" {
	for n in o_root b1; do
		new_db "$n" none
		two_tables "$n"
	done
	l3_ini o_root
	run --separate-stderr l3 o_root create-root o_root "$(loc o_root)"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	sql o_root "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '1 second')" >/dev/null
	pgqd_start o_root
	l3 o_root worker -d
	l3 o_root add-table public.t1 public.t2 2>/dev/null
	cascade_ini b1 lock_timeout=60
	londiste "$(ini b1)" create-branch b1 --provider="$(loc o_root)"
	worker_start b1
	wait_for londiste "$(ini b1)" add-table public.t1 public.t2
	wait_for is_ok b1 public.t1
	wait_for is_ok b1 public.t2

	rm -f "$BATS_TEST_TMPDIR/stop-writer" "$BATS_TEST_TMPDIR/writer-last"
	writer "$(loc o_root)" "$(loc b1)" 3>&- &
	writer_pid=$!
	wait_for writer_past 10
	run --separate-stderr londiste "$(ini b1)" switchover
	[ "$status" -eq 0 ] || { echo "switchover: $output $stderr" >&2; false; }
	[ "$(sql b1 "SELECT node_type FROM pgq_node.get_node_info('q')")" = root ]
	[ "$(sql o_root "SELECT node_type || ' ' || provider_node FROM pgq_node.get_node_info('q')")" = "branch b1" ]
	# the original's worker on the old root goes on, now as a branch
	t0=$(root_top b1)
	passed() { [ "$(node_tick o_root)" -gt "$t0" ]; }
	wait_for passed
	kill -0 "$(cat "$BATS_TEST_TMPDIR/o_root.pid")"
	before=$(writer_last)
	wait_for writer_past $((before + 20))
	run --separate-stderr l3 o_root takeover b1
	[ "$status" -eq 0 ] || { echo "takeover: $output $stderr" >&2; false; }
	[ "$(sql o_root "SELECT node_type FROM pgq_node.get_node_info('q')")" = root ]
	[ "$(sql b1 "SELECT node_type || ' ' || provider_node FROM pgq_node.get_node_info('q')")" = "branch o_root" ]
	before=$(writer_last)
	wait_for writer_past $((before + 20))
	writer_stop
	last=$(writer_last)
	sql o_root "INSERT INTO t1 VALUES (-1, 'end')" >/dev/null
	wait_for has_end b1
	for n in o_root b1; do
		all_rows $n "$last" || { echo "$n: $(sql $n "SELECT count(*), count(DISTINCT id), max(id) FROM t1 WHERE id > 0"), want $last" >&2; false; }
	done
	same o_root b1 t1
}

@test "migration: the original's takeover from our root by an original londiste 3 branch, and our switchover back, under a writer" {
	for n in r1 o_branch; do
		new_db "$n" none
		two_tables "$n"
	done
	cascade_ini r1 lock_timeout=60
	londiste "$(ini r1)" create-root r1
	sql r1 "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '1 second')" >/dev/null
	worker_start r1
	londiste "$(ini r1)" add-table public.t1 public.t2
	l3_ini o_branch
	run --separate-stderr l3 o_branch create-branch o_branch "$(loc o_branch)" --provider="$(loc r1)"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	# the original's ticker, for the time o_branch is the root
	pgqd_start o_branch
	l3 o_branch worker -d
	l3 o_branch add-table public.t1 public.t2 2>/dev/null
	wait_for is_ok o_branch public.t1
	wait_for is_ok o_branch public.t2

	rm -f "$BATS_TEST_TMPDIR/stop-writer" "$BATS_TEST_TMPDIR/writer-last"
	writer "$(loc r1)" "$(loc o_branch)" 3>&- &
	writer_pid=$!
	wait_for writer_past 10
	run --separate-stderr l3 o_branch takeover r1
	[ "$status" -eq 0 ] || { echo "takeover: $output $stderr" >&2; false; }
	[ "$(sql o_branch "SELECT node_type FROM pgq_node.get_node_info('q')")" = root ]
	[ "$(sql r1 "SELECT node_type || ' ' || provider_node FROM pgq_node.get_node_info('q')")" = "branch o_branch" ]
	# our worker on the old root goes on, now as a branch
	t0=$(root_top o_branch)
	passed() { [ "$(node_tick r1)" -gt "$t0" ]; }
	wait_for passed
	before=$(writer_last)
	wait_for writer_past $((before + 20))
	run --separate-stderr londiste "$(ini r1)" switchover
	[ "$status" -eq 0 ] || { echo "switchover: $output $stderr" >&2; false; }
	[ "$(sql r1 "SELECT node_type FROM pgq_node.get_node_info('q')")" = root ]
	[ "$(sql o_branch "SELECT node_type || ' ' || provider_node FROM pgq_node.get_node_info('q')")" = "branch r1" ]
	t0=$(root_top r1)
	passed() { [ "$(node_tick o_branch)" -gt "$t0" ]; }
	wait_for passed
	before=$(writer_last)
	wait_for writer_past $((before + 20))
	writer_stop
	last=$(writer_last)
	sql r1 "INSERT INTO t1 VALUES (-1, 'end')" >/dev/null
	wait_for has_end o_branch
	for n in r1 o_branch; do
		all_rows $n "$last" || { echo "$n: $(sql $n "SELECT count(*), count(DISTINCT id), max(id) FROM t1 WHERE id > 0"), want $last" >&2; false; }
	done
	same r1 o_branch t1
}
