#!/usr/bin/env bats
# Migrating from londiste 3 one node at a time: the original londiste 3
# (Debian's python3-londiste, its pgq, pgq_node and londiste extensions,
# pgqd) and our nodes in one cascade.  Every node is a database of this
# file's cluster.

load helper
load 25x-cascade
load 27x-original

setup() {
	need_original
}

teardown() {
	if [ -n "${on_shared_tree:-}" ]; then
		tree_teardown
	else
		l3_teardown b1 l1 r1
	fi
}

teardown_file() {
	tree_stop
	pg_stop
}

# l3_on NODE: a config of the original for our node NODE (its job name).
l3_on() {
	l3_ini "${1}x" "$1"
	sed -i "s/^job_name = .*/job_name = $1_w/" "$(ini "${1}x")"
}

# l3_checks NODE...: the original's tables, status and compare on the
# nodes' configs succeed.
l3_checks() {
	local n
	for n; do
		run --separate-stderr l3 "$n" tables
		[ "$status" -eq 0 ] || { echo "$n tables: $stderr" >&2; return 1; }
		[[ "$output" == *public.t* ]] || { echo "$n tables: $output" >&2; return 1; }
		run --separate-stderr l3 "$n" status
		[ "$status" -eq 0 ] || { echo "$n status: $stderr" >&2; return 1; }
	done
}

has_rows() { [ "$(sql "$1" "SELECT count(*) FROM $2")" = "$3" ]; }

# orig_root_t1: databases o_root, b1 and l1 with table t1 (50 rows on
# o_root), o_root made the original londiste 3's root of queue q.
orig_root_t1() {
	local n
	for n in o_root b1 l1; do
		new_db "$n" none
		sql "$n" "CREATE TABLE t1 (id int PRIMARY KEY, v text)" >/dev/null
	done
	sql o_root "INSERT INTO t1 SELECT g, 'before ' || g FROM generate_series(1, 50) g" >/dev/null
	l3_ini o_root o_root
	run --separate-stderr l3 o_root create-root o_root "$(loc o_root)"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; return 1; }
}

# orig_tree: orig_root_t1 with the original's ticker and worker, t1
# in its set, our branch b1 below it and our leaf l1 below b1, their
# workers, t1 copied to both.
orig_tree() {
	orig_root_t1 || return 1
	[ "$(sql o_root "SELECT extversion FROM pg_extension WHERE extname = 'pgq_node'")" != "" ] || return 1
	sql o_root "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '1 second')" >/dev/null &&
	pgqd_start o_root &&
	l3 o_root worker -d || return 1
	run --separate-stderr l3 o_root add-table public.t1
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; return 1; }

	cascade_ini b1
	run --separate-stderr londiste "$(ini b1)" create-branch b1 --provider="$(loc o_root)"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; return 1; }
	[ "$(sql o_root "SELECT string_agg(node_name, ',') FROM pgq_node.get_subscriber_info('q')")" = b1 ] || return 1
	worker_start b1 &&
	wait_for londiste "$(ini b1)" add-table public.t1 &&
	wait_for is_ok b1 public.t1 || return 1

	cascade_ini l1
	run --separate-stderr londiste "$(ini l1)" create-leaf l1 --provider="$(loc b1)"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; return 1; }
	worker_start l1 &&
	wait_for londiste "$(ini l1)" add-table public.t1 &&
	wait_for is_ok l1 public.t1
}

# The first two tests share orig_tree (tests on it: on_tree): each
# writes rows of ids of its own, neither changes the topology, and the
# second, the last on it, leaves l1 one row short for its compare.
@test "migration: an original londiste 3 root feeds our branch and our leaf" {
	on_tree orig_tree

	sql o_root "INSERT INTO t1 SELECT g, 'after ' || g FROM generate_series(51, 250) g;
		UPDATE t1 SET v = 'updated' WHERE id % 7 = 0; DELETE FROM t1 WHERE id % 11 = 0" >/dev/null
	want=$(sql o_root "SELECT count(*) FROM t1")
	wait_for has_rows b1 t1 "$want"
	wait_for has_rows l1 t1 "$want"
	# wait for the last change too (the count is reached before the updates are)
	wait_for same o_root b1 t1
	wait_for same o_root l1 t1
	run --separate-stderr londiste "$(ini l1)" compare
	[ "$status" -eq 0 ] || { echo "$output $stderr" >&2; false; }
	run --separate-stderr londiste "$(ini b1)" compare
	[ "$status" -eq 0 ] || { echo "$output $stderr" >&2; false; }
	# the original command on our nodes
	l3_on b1
	l3_on l1
	l3_checks b1x l1x
	run --separate-stderr l3 l1x status
	[[ "$output" == *"o_root (root)"* ]]
	[[ "$output" == *"b1 (branch)"* ]]
	[[ "$output" == *"l1 (leaf)"* ]]
	# compare on our branch against the original root (the leaf's: below)
	run --separate-stderr l3 b1x compare
	[ "$status" -eq 0 ] || { echo "b1x compare: $output $stderr" >&2; false; }
}

@test "migration: the original londiste command's compare on our leaf below our branch" {
	# Its branch path pauses the branch's worker (b1_w), takes the
	# branch's newest tick and waits until the leaf has applied a later
	# one: our paused branch still passes the ticks of its provider that
	# change nothing (an idle root ticks every ticker_idle_period).
	on_tree orig_tree
	sql o_root "INSERT INTO t1 SELECT g, 'after ' || g FROM generate_series(251, 320) g;
		DELETE FROM t1 WHERE id > 250 AND id % 9 = 0" >/dev/null
	wait_for same o_root l1 t1
	l3_on l1
	run --separate-stderr l3 l1x compare
	[ "$status" -eq 0 ] || { echo "l1x compare: $output $stderr" >&2; false; }
	[[ "$stderr" == *"Pausing upstream worker: b1_w"* ]]
	# it resumed the branch; changes flow again
	[ "$(sql b1 "SELECT worker_paused FROM pgq_node.get_node_info('q')")" = f ]
	sql o_root "INSERT INTO t1 VALUES (1000, 'later')" >/dev/null
	wait_for same o_root l1 t1
	# a difference is reported as one (exit 1)
	sql l1 "SET session_replication_role = replica; DELETE FROM t1 WHERE id = 1000" >/dev/null
	run --separate-stderr l3 l1x compare
	[ "$status" -eq 1 ]
}

@test "migration: our root feeds an original londiste 3 leaf" {
	tree_stop
	for n in r1 o_leaf; do
		new_db "$n" none
		sql "$n" "CREATE TABLE t2 (id int PRIMARY KEY, v text)" >/dev/null
	done
	sql r1 "INSERT INTO t2 SELECT g, 'before ' || g FROM generate_series(1, 50) g" >/dev/null
	cascade_ini r1
	londiste "$(ini r1)" create-root r1
	sql r1 "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '1 second')" >/dev/null
	worker_start r1
	londiste "$(ini r1)" add-table public.t2

	l3_ini o_leaf o_leaf
	run --separate-stderr l3 o_leaf create-leaf o_leaf "$(loc o_leaf)" --provider="$(loc r1)"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[ "$(sql r1 "SELECT string_agg(node_name, ',') FROM pgq_node.get_subscriber_info('q')")" = o_leaf ]
	l3 o_leaf worker -d
	run --separate-stderr l3 o_leaf add-table public.t2
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	wait_for is_ok o_leaf public.t2
	sql r1 "INSERT INTO t2 SELECT g, 'after ' || g FROM generate_series(51, 250) g;
		UPDATE t2 SET v = 'updated' WHERE id % 7 = 0; DELETE FROM t2 WHERE id % 11 = 0" >/dev/null
	want=$(sql r1 "SELECT count(*) FROM t2")
	wait_for has_rows o_leaf t2 "$want"
	wait_for same r1 o_leaf t2
	# the original command on our root; its compare on the leaf reads our root
	l3_on r1
	l3_checks r1x o_leaf
	run --separate-stderr l3 r1x status
	[[ "$output" == *"r1 (root)"* ]]
	[[ "$output" == *"o_leaf (leaf)"* ]]
	run --separate-stderr l3 o_leaf compare
	[ "$status" -eq 0 ] || { echo "o_leaf compare: $output $stderr" >&2; false; }
}
