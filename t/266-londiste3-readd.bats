#!/usr/bin/env bats
# londiste(1) [londiste3] add-table of a table already added: londiste
# 3's answer, and the replication triggers that went (dropped, disabled)
# made again; the worker's warning for columns that one side of a copy
# lacks, and such a copy (t/267 has londiste-copy's side of it).  Every node is a database of this file's cluster.

load helper
load 25x-cascade

# The tests share one tree r1 -> b1 -> l1 with its workers and t1 in
# sync on every node (shared_tree), built by the first that needs it.
# The first two change only t1's triggers (and make them again) and add
# t3; the last uses tables of its own (t5, t6, t7) on r1 -> b1 and
# leaves b1's worker stopped for good, so it runs last.  Configs,
# pidfiles and logs are the file's.
nodes() { printf '%s/nodes' "$BATS_FILE_TMPDIR"; }
ini() { printf '%s/%s.ini' "$(nodes)" "$1"; }
log() { printf '%s/%s.log' "$(nodes)" "$1"; }
worker_start() { londiste "$(ini "$1")" worker -d; }
worker_stop() { londiste "$(ini "$1")" -s 2>/dev/null || :; }

teardown_file() { tree_teardown_file r1 b1 l1; }

# shared_tree: r1 -> b1 -> l1 with their workers, t1 in the set and in
# sync on every node.  Built once; a half-built one (a failed attempt)
# is stopped and built again.
shared_tree() {
	local n
	[ -f "$(nodes)/tree-ok" ] && return 0
	mkdir -p "$(nodes)" || return 1
	for n in r1 b1 l1; do
		[ -f "$(ini "$n")" ] && worker_stop "$n"
	done
	(BATS_TEST_TMPDIR=$(nodes) && running_tree_t1) &&
		londiste "$(ini l1)" wait-sync &&
		touch "$(nodes)/tree-ok"
}

# check_clean NODE: londiste check finds no drift on NODE.
check_clean() {
	run --separate-stderr londiste "$(ini "$1")" check
	[ "$status" -eq 0 ] && [ -z "$output" ] ||
		{ printf 'check on %s: %s\n%s\n%s\n' "$1" "$status" "$output" "$stderr" >&2; return 1; }
}

@test "londiste3 add-table: again on the root says so, and makes a dropped or disabled trigger again; replication goes on" {
	need_node_mode
	shared_tree
	# as added: nothing to do
	run --separate-stderr londiste "$(ini r1)" add-table t1
	[ "$status" -eq 0 ]
	[ "$stderr" = "londiste: Table already added: public.t1" ]
	# dropped by hand (a restore without triggers does the same)
	sql r1 "DROP TRIGGER _londiste_q ON t1; ALTER TABLE t1 DISABLE TRIGGER _londiste_q_truncate" >/dev/null
	run --separate-stderr londiste "$(ini r1)" check
	[ "$status" -eq 1 ]
	sql r1 "INSERT INTO t1 VALUES (1, 'lost')" >/dev/null
	run --separate-stderr londiste "$(ini r1)" add-table t1
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"warning: Table already added: public.t1; its triggers were not as added:"* ]]
	[[ "$stderr" == *"_londiste_q made again"* ]]
	[[ "$stderr" == *"_londiste_q_truncate enabled again (was disabled)"* ]]
	[[ "$stderr" == *"compare the nodes below"* ]]
	check_clean r1
	sql r1 "INSERT INTO t1 VALUES (2, 'after')" >/dev/null
	has2() { [ "$(sql "$1" "SELECT count(*) FROM t1 WHERE id = 2")" = 1 ]; }
	wait_for has2 b1
	wait_for has2 l1
	# the row written meanwhile did not go: compare on the branch says so
	[ "$(sql b1 "SELECT count(*) FROM t1 WHERE id = 1")" = 0 ]
	# a trigger as added is left as it is, with its arguments
	sql r1 "DROP TRIGGER _londiste_q ON t1;
		CREATE TRIGGER _londiste_q AFTER INSERT ON t1 FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('q', 'ignore=v')" >/dev/null
	run --separate-stderr londiste "$(ini r1)" add-table t1
	[ "$stderr" = "londiste: Table already added: public.t1" ]
	[ "$(sql r1 "SELECT encode(tgargs, 'escape') FROM pg_trigger WHERE tgname = '_londiste_q'")" = 'q\000ignore=v\000' ]
}

@test "londiste3 add-table: again on a branch and a leaf makes their triggers again (deny on the leaf); --no-triggers tables get none" {
	need_node_mode
	shared_tree
	check_clean b1
	check_clean l1
	sql b1 "DROP TRIGGER _londiste_q ON t1" >/dev/null
	sql l1 "ALTER TABLE t1 ENABLE REPLICA TRIGGER _londiste_q; DROP TRIGGER _londiste_q_truncate ON t1" >/dev/null
	run --separate-stderr londiste "$(ini b1)" add-table t1
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"_londiste_q made again"* ]]
	[[ "$stderr" != *"compare the nodes below"* ]]
	check_clean b1
	run --separate-stderr londiste "$(ini l1)" add-table t1
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"_londiste_q_truncate made again"* ]]
	[[ "$stderr" == *"_londiste_q enabled again (was replica)"* ]]
	check_clean l1
	# the leaf's new TRUNCATE trigger denies, as the row one does
	run psql -XAtq -v ON_ERROR_STOP=1 -d l1 -c "TRUNCATE t1"
	[ "$status" -ne 0 ]
	# a table added without triggers stays without
	sql r1 "CREATE TABLE t3 (id int PRIMARY KEY)" >/dev/null
	londiste "$(ini r1)" add-table t3
	sql b1 "CREATE TABLE t3 (id int PRIMARY KEY)" >/dev/null
	wait_for londiste "$(ini b1)" add-table t3 --no-triggers
	run --separate-stderr londiste "$(ini b1)" add-table t3 --no-triggers
	[ "$status" -eq 0 ]
	[ "$stderr" = "londiste: Table already added: public.t3" ]
	[ "$(sql b1 "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.t3'::regclass AND NOT tgisinternal")" = 0 ]
	# other attributes than the first add-table's: refused, as londiste 3
	run --separate-stderr londiste "$(ini b1)" add-table t3
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"already added, but with different args"* ]]
}

# Leaves b1's worker stopped for good: the file's last test.
@test "londiste3 add-table: a copy between tables with other columns says which, in the worker's log" {
	need_node_mode
	shared_tree
	sql r1 "CREATE TABLE t5 (id int PRIMARY KEY, v text, extra int)" >/dev/null
	londiste "$(ini r1)" add-table t5
	sql r1 "INSERT INTO t5 VALUES (1, 'a', 7)" >/dev/null
	sql b1 "CREATE TABLE t5 (id int PRIMARY KEY, v text)" >/dev/null
	wait_for londiste "$(ini b1)" add-table t5
	wait_for grep -q "table public.t5: column(s) extra of the provider are not here" "$(log b1)"
	# the copy took the common columns; a change of a row then stops
	# the replay, as londiste 3's does, and says why
	londiste "$(ini b1)" wait-sync
	[ "$(sql b1 "SELECT v FROM t5 WHERE id = 1")" = a ]
	sql r1 "INSERT INTO t5 VALUES (2, 'b', 8)" >/dev/null
	wait_for has_error b1
	[[ "$(sql b1 "SELECT cur_error FROM pgq_node.local_state")" == *extra* ]]
	sql b1 "ALTER TABLE t5 ADD COLUMN extra int" >/dev/null
	wait_for no_error b1
	row2() { [ "$(sql b1 "SELECT extra FROM t5 WHERE id = 2")" = 8 ]; }
	wait_for row2
	# (what the copy left out stays so until a resync)
	[ -z "$(sql b1 "SELECT extra FROM t5 WHERE id = 1")" ]
	# a column only this side has: named too
	sql r1 "CREATE TABLE t6 (id int PRIMARY KEY)" >/dev/null
	londiste "$(ini r1)" add-table t6
	sql b1 "CREATE TABLE t6 (id int PRIMARY KEY, mine text, more int)" >/dev/null
	wait_for londiste "$(ini b1)" add-table t6
	wait_for grep -q "table public.t6: column(s) mine, more here are not on the provider" "$(log b1)"
	# they take their defaults, and the table is replicated
	sql r1 "INSERT INTO t6 VALUES (1)" >/dev/null
	londiste "$(ini b1)" wait-sync
	t6row() { [ "$(sql b1 "SELECT id, mine IS NULL FROM t6")" = "1|t" ]; }
	wait_for t6row
	run --separate-stderr londiste "$(ini b1)" compare t6
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\tequal\tcolumns: subscriber only: mine, more' ]]
	# one NOT NULL without a default: the copy fails for good, and
	# status says why
	sql r1 "CREATE TABLE t7 (id int PRIMARY KEY)" >/dev/null
	londiste "$(ini r1)" add-table t7
	sql b1 "CREATE TABLE t7 (id int PRIMARY KEY, must text NOT NULL)" >/dev/null
	wait_for londiste "$(ini b1)" add-table t7
	wait_for has_error b1
	[[ "$(sql b1 "SELECT cur_error FROM pgq_node.local_state")" == "worker stopped: londiste-copy: "*must*"NOT NULL without a default"* ]]
}
