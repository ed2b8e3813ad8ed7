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
	writer_stop
	l3_teardown r1 b1 l1
}

# two_tables DB: t1 (the writer's) and t2 (ids 1 to 20, left alone).
two_tables() {
	sql "$1" "CREATE TABLE t1 (id int PRIMARY KEY, v text);
		CREATE TABLE t2 (id int PRIMARY KEY, v int)" >/dev/null
}

# nodes_two_tables NODE...: a fresh database for each node, with
# two_tables.
nodes_two_tables() {
	local n
	for n; do
		new_db "$n" none && two_tables "$n" || return 1
	done
}

# l3_ok NODE ARGS...: the original's command exits 0.
l3_ok() {
	run --separate-stderr l3 "$@"
	[ "$status" -eq 0 ] || { echo "l3 $*: status $status: $stderr" >&2; return 1; }
}

# o_root_up: the original's root o_root, its ticker and worker, t1 and
# t2 in the set.
o_root_up() {
	l3_ini o_root
	l3_ok o_root create-root o_root "$(loc o_root)" || return 1
	sql o_root "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '1 second')" >/dev/null &&
	pgqd_start o_root &&
	l3 o_root worker -d &&
	l3_ok o_root add-table public.t1 public.t2
}

# o_branch_up PROVIDER: the original's branch o_branch below PROVIDER,
# its worker, t1 and t2 added.
o_branch_up() {
	l3_ini o_branch
	l3_ok o_branch create-branch o_branch "$(loc o_branch)" --provider="$(loc "$1")" &&
	l3 o_branch worker -d &&
	l3_ok o_branch add-table public.t1 public.t2
}

@test "migration: an original londiste 3 branch between an original root and our leaf, under a writer" {
	nodes_two_tables o_root o_branch l1
	sql o_root "INSERT INTO t2 SELECT g, g FROM generate_series(1, 20) g" >/dev/null
	o_root_up
	o_branch_up o_root
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

	writer_bg writer "$(loc o_root)"
	wait_for writer_past 20
	wait_for same o_branch l1 t1
	# our compare and repair on our leaf take the point at the original
	# root, up through the original branch, while the writer writes
	compare_equal l1
	sql l1 "SET session_replication_role = replica; UPDATE t2 SET v = -5 WHERE id = 7;
		DELETE FROM t2 WHERE id = 8" >/dev/null
	t2_repaired l1 2
	[ "$(sql l1 "SELECT v FROM t2 WHERE id = 7")" = 7 ]
	[ "$(sql l1 "SELECT v FROM t2 WHERE id = 8")" = 8 ]
	compare_equal l1
	writer_more 0
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
	nodes_two_tables r1 b1 o_leaf
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

	writer_bg writer "$(loc r1)"
	wait_for writer_past 20
	wait_for same b1 o_leaf t1
	writer_more 0
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

# ticked_to NEW NODE: NEW has applied NODE's last tick.
ticked_to() { [ "$(node_tick "$1")" -ge "$(node_tick "$2")" ]; }

@test "migration: our leaf moves from an original londiste 3 branch to our branch and back (change-provider), under a writer" {
	nodes_two_tables o_root o_branch b1 l1
	sql o_root "INSERT INTO t2 SELECT g, g FROM generate_series(1, 20) g" >/dev/null
	o_root_up
	o_branch_up o_root
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

	writer_bg writer "$(loc o_root)"
	wait_for writer_past 10
	# a new provider must have the leaf's tick to take it over (else
	# "cannot reposition"): wait for it, not for luck
	wait_for ticked_to b1 l1
	run --separate-stderr londiste "$(ini l1)" change-provider --provider=b1
	[ "$status" -eq 0 ] || { echo "$output $stderr" >&2; false; }
	[ "$(sql l1 "SELECT provider_node FROM pgq_node.get_node_info('q')")" = b1 ]
	[ "$(sql o_branch "SELECT count(*) FROM pgq_node.get_subscriber_info('q') WHERE node_name = 'l1'")" = 0 ]
	[ "$(sql b1 "SELECT count(*) FROM pgq_node.get_subscriber_info('q') WHERE node_name = 'l1'")" = 1 ]
	writer_more 10
	wait_for same b1 l1 t1
	wait_for ticked_to o_branch l1
	run --separate-stderr londiste "$(ini l1)" change-provider --provider=o_branch
	[ "$status" -eq 0 ] || { echo "$output $stderr" >&2; false; }
	[ "$(sql l1 "SELECT provider_node FROM pgq_node.get_node_info('q')")" = o_branch ]
	[ "$(sql b1 "SELECT count(*) FROM pgq_node.get_subscriber_info('q') WHERE node_name = 'l1'")" = 0 ]
	writer_more 10
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

# now_root NEW OLD: NEW is the root, OLD a branch of it.
now_root() {
	[ "$(sql "$1" "SELECT node_type FROM pgq_node.get_node_info('q')")" = root ] &&
	[ "$(sql "$2" "SELECT node_type || ' ' || provider_node FROM pgq_node.get_node_info('q')")" = "branch $1" ]
}

# follows OLD NEW: OLD's worker, a branch now, applies a tick of NEW's
# newer than NEW's newest now.
follows() {
	local t0
	t0=$(root_top "$2")
	wait_for ticked_past "$1" "$t0"
}
ticked_past() { [ "$(node_tick "$1")" -gt "$2" ]; }

# writer_end_rows ROOT OTHER: the writer stopped and an end row on ROOT
# replayed to OTHER, every id the writer wrote is on both once, and
# t1 is the same on both.
writer_end_rows() {
	local last n
	writer_stop
	last=$(writer_last)
	sql "$1" "INSERT INTO t1 VALUES (-1, 'end')" >/dev/null || return 1
	wait_for has_end "$2" || return 1
	for n in "$1" "$2"; do
		all_rows "$n" "$last" || { echo "$n: $(sql "$n" "SELECT count(*), count(DISTINCT id), max(id) FROM t1 WHERE id > 0"), want $last" >&2; return 1; }
	done
	same "$1" "$2" t1
}

# all_rows DB LAST: t1 holds ids 1 to LAST once each (and the end row).
all_rows() {
	[ "$(sql "$1" "SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || max(id) FROM t1 WHERE id > 0")" = "$2 $2 $2" ]
}
has_end() { [ "$(sql "$1" "SELECT count(*) FROM t1 WHERE id = -1")" = 1 ]; }

@test "migration: switchover from an original londiste 3 root to our branch, and back with the original's takeover, under a writer" {
	nodes_two_tables o_root b1
	o_root_up
	cascade_ini b1 lock_timeout=60
	londiste "$(ini b1)" create-branch b1 --provider="$(loc o_root)"
	worker_start b1
	wait_for londiste "$(ini b1)" add-table public.t1 public.t2
	wait_for is_ok b1 public.t1
	wait_for is_ok b1 public.t2

	writer_bg writer "$(loc o_root)" "$(loc b1)"
	wait_for writer_past 10
	run --separate-stderr londiste "$(ini b1)" switchover
	[ "$status" -eq 0 ] || { echo "switchover: $output $stderr" >&2; false; }
	now_root b1 o_root
	# the original's worker on the old root goes on, now as a branch
	follows o_root b1
	kill -0 "$(cat "$BATS_TEST_TMPDIR/o_root.pid")"
	writer_more 20
	run --separate-stderr l3 o_root takeover b1
	[ "$status" -eq 0 ] || { echo "takeover: $output $stderr" >&2; false; }
	now_root o_root b1
	writer_more 20
	writer_end_rows o_root b1
}

@test "migration: the original's takeover from our root by an original londiste 3 branch, and our switchover back, under a writer" {
	nodes_two_tables r1 o_branch
	cascade_ini r1 lock_timeout=60
	londiste "$(ini r1)" create-root r1
	sql r1 "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '1 second')" >/dev/null
	worker_start r1
	londiste "$(ini r1)" add-table public.t1 public.t2
	o_branch_up r1
	# the original's ticker, for the time o_branch is the root
	pgqd_start o_branch
	wait_for is_ok o_branch public.t1
	wait_for is_ok o_branch public.t2

	writer_bg writer "$(loc r1)" "$(loc o_branch)"
	wait_for writer_past 10
	run --separate-stderr l3 o_branch takeover r1
	[ "$status" -eq 0 ] || { echo "takeover: $output $stderr" >&2; false; }
	now_root o_branch r1
	# our worker on the old root goes on, now as a branch
	follows r1 o_branch
	writer_more 20
	run --separate-stderr londiste "$(ini r1)" switchover
	[ "$status" -eq 0 ] || { echo "switchover: $output $stderr" >&2; false; }
	now_root r1 o_branch
	follows o_branch r1
	writer_more 20
	writer_end_rows r1 o_branch
}
