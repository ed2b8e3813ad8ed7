#!/usr/bin/env bats
# londiste(1) add-table --dest-table below the root: the set's table is
# replicated into another relation on the node.  Events name the set's
# table; the copy reads the provider's relation (its own dest_table when
# it has one) and writes the local one; replay, compare and repair work
# on the local one.

load helper
load 25x-cascade

teardown() { cascade_workers_stop; }

# rows NODE REL: the relation's rows, one per line.
rows() { psql -XAtq -d "$1" -c "COPY (SELECT * FROM $2 ORDER BY 1) TO STDOUT"; }
same_rows() { [ "$(rows r1 t2)" = "$(rows "$1" "$2")" ]; }
in_sync() {
	[ "$(sql "$1" "SELECT merge_state FROM londiste.get_table_list('q') WHERE table_name = 'public.t2'")" = ok ]
}

# r1 -> b1 -> l1 with their workers and rows in t2 before any node
# below has it; b1 holds t2 as t2_b, l1 (fed by b1) as s2.t2_l.  Built
# (the initial copies done) once and saved; each test starts from a
# fresh copy of the saved databases with the workers started again, so
# that what one test changes is gone for the next.
dest_tree() {
	local n
	saved_tree dest "r1 b1 l1" dest_tree_build || return 1
	for n in r1 b1 l1; do worker_start $n || return 1; done
}
dest_tree_build() {
	local n
	cascade_tree r1 b1 l1 || return 1
	for n in r1 b1 l1; do worker_start $n || return 1; done
	sql r1 "CREATE TABLE t2 (id int PRIMARY KEY, v text);
		INSERT INTO t2 SELECT g, 'r' || g FROM generate_series(1, 50) g" &&
	londiste "$(ini r1)" add-table t2 &&
	wait_for londiste "$(ini b1)" add-table t2 --create --dest-table=t2_b &&
	londiste "$(ini l1)" add-table t2 --create --dest-table=s2.t2_l &&
	wait_for in_sync b1 && wait_for in_sync l1 || {
		tail -n 20 "$BATS_TEST_TMPDIR/b1.log" "$BATS_TEST_TMPDIR/l1.log" >&2
		return 1
	}
}

@test "londiste3 add-table --dest-table on a branch and a leaf: initial copy, replay of inserts, updates, deletes and truncate, compare equal" {
	need_node_mode
	dest_tree
	# nothing is made under the set's name below the root
	[ "$(sql b1 "SELECT to_regclass('public.t2') IS NULL")" = t ]
	[ "$(sql l1 "SELECT to_regclass('public.t2') IS NULL")" = t ]
	wait_for in_sync b1 || { tail -n 20 "$BATS_TEST_TMPDIR/b1.log" >&2; false; }
	wait_for in_sync l1 || { tail -n 20 "$BATS_TEST_TMPDIR/l1.log" >&2; false; }
	[ "$(sql l1 "SELECT count(*) FROM s2.t2_l")" = 50 ]
	sql r1 "INSERT INTO t2 VALUES (51, 'new'); UPDATE t2 SET v = 'upd' WHERE id <= 10;
		DELETE FROM t2 WHERE id BETWEEN 20 AND 25"
	wait_for caught_up l1 r1
	wait_for same_rows l1 s2.t2_l
	wait_for same_rows b1 t2_b
	[ "$(sql l1 "SELECT count(*) FROM s2.t2_l")" = 45 ]
	no_error b1
	no_error l1
	for n in b1 l1; do
		run --separate-stderr londiste "$(ini $n)" compare
		[ "$status" -eq 0 ] || { echo "$n: $output $stderr" >&2; false; }
		[[ "$output" == "public.t2	45	45	"*"	equal" ]]
	done
	# repair finds the difference in the local relation and mends it
	sql l1 "SET session_replication_role = replica; DELETE FROM s2.t2_l WHERE id = 51;
		UPDATE s2.t2_l SET v = 'drift' WHERE id = 1"
	run --separate-stderr londiste "$(ini l1)" compare
	[ "$status" -eq 1 ]
	run --separate-stderr londiste "$(ini l1)" repair --apply
	[ "$status" -eq 1 ] || { echo "$output $stderr" >&2; false; }
	run --separate-stderr londiste "$(ini l1)" compare
	[ "$status" -eq 0 ]
	same_rows l1 s2.t2_l
	# truncate reaches the renamed tables too
	sql r1 "TRUNCATE t2; INSERT INTO t2 VALUES (1, 'after')"
	wait_for caught_up l1 r1
	wait_for same_rows l1 s2.t2_l
	wait_for same_rows b1 t2_b
}

@test "londiste3 add-table --dest-table: resync copies again into the local relation; the plumbing names the set's table" {
	need_node_mode
	dest_tree
	wait_for in_sync l1
	sql l1 "SET session_replication_role = replica; DELETE FROM s2.t2_l"
	londiste "$(ini l1)" resync t2
	wait_for in_sync l1
	sql r1 "INSERT INTO t2 VALUES (100, 'x')"
	wait_for caught_up l1 r1
	wait_for same_rows l1 s2.t2_l
	# the set's name given, bare and qualified
	run --separate-stderr londiste "$(ini l1)" compare t2
	[ "$status" -eq 0 ] || { echo "$output $stderr" >&2; false; }
	[[ "$output" == "public.t2	51	51	"*"	equal" ]]
	run --separate-stderr londiste "$(ini l1)" compare public.t2
	[ "$status" -eq 0 ]
	# a local relation that is gone is named in the message
	worker_stop l1
	sql l1 "DROP TABLE s2.t2_l"
	run --separate-stderr londiste "$(ini l1)" compare t2
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"public.t2 is registered (here as s2.t2_l) but s2.t2_l does not exist"* ]]
}

@test "londiste3 add-table --create below a branch that holds the table under another name; --create-full refuses the mismatch" {
	need_node_mode
	dest_tree
	wait_for in_sync b1
	# the first copy ends first: a remove-table and DROP during a copy
	# is a race of its own, not what this test is about
	wait_for in_sync l1
	# l1 takes the name from the set, the definition from b1's t2_b
	run --separate-stderr londiste "$(ini l1)" remove-table t2
	[ "$status" -eq 0 ]
	sql l1 "DROP TABLE s2.t2_l"
	run --separate-stderr londiste "$(ini l1)" add-table t2 --create-full
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"provider holds the table as public.t2_b"* ]]
	[ "$(sql l1 "SELECT to_regclass('public.t2') IS NULL")" = t ]
	run --separate-stderr londiste "$(ini l1)" add-table t2 --create
	[ "$status" -eq 0 ]
	# public is there already: no NOTICE saying so
	[[ "$stderr" != *NOTICE* ]]
	wait_for in_sync l1 || { cat "$BATS_TEST_TMPDIR/l1.log" >&2; false; }
	wait_for same_rows l1 t2
}
