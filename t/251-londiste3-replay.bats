#!/usr/bin/env bats
# londiste(1) with a [londiste3] config: a cascade root -> branch ->
# leaves replaying while a table joins the set, and a worker's failure
# shown on every node.
# Every node is a database of this file's cluster (t/260 spreads a
# cascade over clusters).  t/250 to t/254 are one family split in files
# that run at once: the helpers they share are in t/25x-cascade.bash.

load helper
load 25x-cascade

teardown() { cascade_workers_stop; }

@test "londiste3: root -> branch -> two leaves: tables added on the root while the cascade runs reach every node, equal" {
	need_node_mode
	cascade_tree r1 b1 l1 l2
	for n in r1 b1 l1 l2; do worker_start $n; done
	sql r1 "CREATE TABLE t1 (id int PRIMARY KEY, v text)"
	sql r1 "INSERT INTO t1 SELECT g, 'before' FROM generate_series(1, 500) g"
	londiste "$(ini r1)" add-table t1
	sql r1 "INSERT INTO t1 SELECT g, 'after' FROM generate_series(501, 1000) g"
	in_set() { londiste "$(ini $1)" add-table t1 --create 2>/dev/null; }
	wait_for in_set b1
	wait_for in_set l1
	# --create-full: the definition with its indexes
	sql r1 "CREATE INDEX t1_v ON t1 (v)"
	wait_for in_set l2
	sql r1 "UPDATE t1 SET v = 'upd' WHERE id % 7 = 0; DELETE FROM t1 WHERE id % 11 = 0"
	for n in b1 l1 l2; do
		londiste "$(ini $n)" wait-sync
	done
	sql r1 "INSERT INTO t1 VALUES (5000, 'last')"
	for n in b1 l1 l2; do
		wait_for caught_up $n r1
	done
	wait_for all_equal t1 b1 l1 l2
	[ "$(sql l1 "SELECT v FROM t1 WHERE id = 5000")" = last ]
	# compare on every node against its provider
	for n in b1 l1 l2; do
		londiste "$(ini $n)" compare
	done
	# the root has none: the message says where to run it instead
	run --separate-stderr londiste "$(ini r1)" compare
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"run compare on a branch or a leaf"* ]]
	# (a leaf's table takes changes only from replay: its trigger denies
	# others)
	run sql l2 "UPDATE t1 SET v = 'drift' WHERE id = 3"
	[ "$status" -ne 0 ]
	sql l2 "SET session_replication_role = replica; UPDATE t1 SET v = 'drift' WHERE id = 3"
	run --separate-stderr londiste "$(ini l2)" compare
	[ "$status" -eq 1 ]
	# the node map reached every node through the queue
	[ "$(londiste "$(ini l1)" members | cut -f1 | tr '\n' ' ')" = "b1 l1 l2 r1 " ]
	run --separate-stderr londiste "$(ini l2)" status
	[[ "$output" == *"Tables: 1/1 ok"* ]]
}

@test "londiste3: a worker's failure shows in status on every node, and goes with the next applied batch" {
	need_node_mode
	cascade_tree r1 b1
	for n in r1 b1; do worker_start $n; done
	sql r1 "CREATE TABLE t1 (id int PRIMARY KEY, v text)"
	londiste "$(ini r1)" add-table t1
	sql b1 "CREATE TABLE t1 (id int PRIMARY KEY, v text CHECK (v <> 'bad'))"
	wait_for londiste "$(ini b1)" add-table t1
	londiste "$(ini b1)" wait-sync
	sql r1 "INSERT INTO t1 VALUES (1, 'bad')"
	wait_for has_error b1
	for n in r1 b1; do
		run --separate-stderr londiste "$(ini $n)" status
		[[ "$output" == *"Error: "*"t1_v_check"* ]] || { echo "$output" >&2; false; }
	done
	sql b1 "ALTER TABLE t1 DROP CONSTRAINT t1_v_check"
	wait_for no_error b1
	wait_for all_equal t1 r1 b1
}
