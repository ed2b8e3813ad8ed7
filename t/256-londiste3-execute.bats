#!/usr/bin/env bats
# londiste(1) execute on a Londiste 3 cascade: londiste 3's EXECUTE
# attributes (--*-- Local-Table: ...) decide on each node whether a file
# runs there; a node created after an execute; stepping over an EXECUTE
# that stops a node's replay.

load helper
load 25x-cascade
load 27x-original

teardown() {
	# the shared tree's workers stay up for the next test (unless this
	# one failed)
	shared_tree_teardown r1 b1 l1 l2 l3
	# the original's worker and pgqd, by their pidfiles
	l3_stop
}

teardown_file() {
	shared_tree_drop
	pg_stop
}

has_col() { [ "$(sql "$1" "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass('$2') AND attname = '$3' AND NOT attisdropped")" = 1 ]; }
recorded() { [ "$(sql "$1" "SELECT count(*) FROM londiste.applied_execute WHERE execute_file = '$2'")" = 1 ]; }

# attrs_of FILE: londiste.execute_attrs of the file's text, in x1.
attrs_of() {
	printf '%s\n' "SELECT londiste.execute_attrs(:'s')" |
		psql -XAtq -v ON_ERROR_STOP=1 -v s="$(cat "$1")" -d x1
}

@test "londiste3 execute: attributes read from the file's head as londiste 3 reads them, urlencoded as it writes them" {
	new_db x1
	psql -XAq -v ON_ERROR_STOP=1 -d x1 -f "$SKYTOOLS_SQLDIR/pgq_node.sql" >/dev/null
	psql -XAq -v ON_ERROR_STOP=1 -d x1 -f "$SKYTOOLS_SQLDIR/londiste.sql" >/dev/null
	cat >"$BATS_TEST_TMPDIR/a.sql" <<-'EOF'

	 --
	--*-- Local-Table: foo ,
	--
	--*-- bar ,
	--*--
	--*-- zoo
	--*--
	--*-- Local-Sequence: goo
	--*--
	--

	create table fooza ();
	--*-- Need-Table: not.read
	EOF
	run attrs_of "$BATS_TEST_TMPDIR/a.sql"
	[ "$output" = "local-table=foo%2cbar%2czoo&local-sequence=goo" ]
	[ "$(sql x1 "SELECT londiste.execute_attrs('create table x ();')")" = "" ]
	run sql x1 "SELECT londiste.execute_attrs('--*-- Local-Tabel: x')"
	[ "$status" -ne 0 ]
	[[ "$output" == *"invalid key: Local-Tabel"* ]]
	# the original's parser reads ours back as the same attributes
	if python3 -c 'import londiste.exec_attrs' 2>/dev/null; then
		ours=$(attrs_of "$BATS_TEST_TMPDIR/a.sql")
		run python3 -c '
import sys
from londiste.exec_attrs import ExecAttrs
a = ExecAttrs(sql=open(sys.argv[1]).read())
b = ExecAttrs(urlenc=sys.argv[2])
print(a.to_sql() == b.to_sql(), a.to_sql())' "$BATS_TEST_TMPDIR/a.sql" "$ours"
		[ "${lines[0]}" = "True --*-- Local-Table: foo, bar, zoo" ]
	fi
	# and ours reads the original's (upper case hex) back
	[ "$(sql x1 "SELECT londiste._urldec('foo%2Cbar+x%2c%zz')")" = "foo,bar x,%zz" ]
}

# t2_synced: l1 copied t2 (into its own name there) and replays it.
t2_synced() {
	[ "$(sql l1 "SELECT merge_state FROM londiste.get_table_list('q') WHERE table_name = 'public.t2'")" = ok ]
}

# exec_tree: r1 -> b1 -> l1, l2 with their workers; t1 and t2 in the
# set, t1 replicated on b1 and l1, t2 on b1 and on l1 as t2_l1; l2 has a
# t1 of its own that it does not replicate.  Built once and shared by
# the tests up to the stuck replay: each one adds a table of its own, an
# execute that changes nothing the others look at, or (the stuck replay)
# puts t1 of b1 back in sync; the leaf l3 a test adds below b1 stays a
# member with its worker stopped, which holds no one back.
exec_tree() {
	shared_tree exec "r1 b1 l1 l2" exec_tree_build
}
exec_tree_build() {
	local n
	cascade_tree r1 b1 l1 l2 || return 1
	for n in r1 b1 l1 l2; do worker_start $n || return 1; done
	sql r1 "CREATE TABLE t1 (id int PRIMARY KEY, v text); CREATE TABLE t2 (id int PRIMARY KEY)" &&
	sql l2 "CREATE TABLE t1 (id int PRIMARY KEY, v text)" &&
	londiste "$(ini r1)" add-table t1 t2 &&
	wait_for londiste "$(ini b1)" add-table t1 t2 --create &&
	wait_for londiste "$(ini l1)" add-table t1 --create &&
	londiste "$(ini l1)" add-table t2 --create --dest-table=t2_l1 &&
	wait_for t2_synced
}

@test "londiste3 execute: Local-Table runs where the table is replicated (@name@ is its name there), is recorded but skipped elsewhere" {
	need_node_mode
	exec_tree
	cat >"$BATS_TEST_TMPDIR/x1.sql" <<-'EOF'
	--*-- Local-Table: public.t1
	ALTER TABLE @public.t1@ ADD COLUMN x int;
	EOF
	cat >"$BATS_TEST_TMPDIR/x2.sql" <<-'EOF'
	--*-- Local-Table: t2
	ALTER TABLE @t2@ ADD COLUMN y int;
	EOF
	run --separate-stderr londiste "$(ini r1)" execute "$BATS_TEST_TMPDIR/x1.sql" "$BATS_TEST_TMPDIR/x2.sql"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$stderr" == *"executed x1.sql"* ]]
	sql r1 "INSERT INTO t1 VALUES (1, 'a', 10)"
	for n in b1 l1 l2; do
		wait_for caught_up $n r1 || { tail -n 20 "$BATS_TEST_TMPDIR/$n.log" >&2; false; }
		wait_for recorded $n x2.sql
	done
	has_col r1 t1 x
	has_col b1 t1 x
	has_col l1 t1 x
	run has_col l2 t1 x
	[ "$status" -ne 0 ]
	has_col b1 t2 y
	has_col l1 t2_l1 y
	wait_for all_equal t1 b1 l1
	# the attributes travelled in ev_extra2 as the original writes them
	for n in r1 b1 l1 l2; do
		[ "$(sql $n "SELECT execute_attrs FROM londiste.applied_execute WHERE execute_file = 'x1.sql'")" = "local-table=public.t1" ]
	done
	# a Need-Table that is nowhere: recorded on the root, run nowhere
	cat >"$BATS_TEST_TMPDIR/x3.sql" <<-'EOF'
	-- Need-Table is tested by existence, not replication
	--*-- Need-Table: public.nosuch
	CREATE TABLE made_by_x3 ();
	EOF
	sql l2 "CREATE TABLE nosuch ()"
	run --separate-stderr londiste "$(ini r1)" execute "$BATS_TEST_TMPDIR/x3.sql"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"not for this node"* ]]
	for n in l1 l2; do
		wait_for recorded $n x3.sql || { tail -n 20 "$BATS_TEST_TMPDIR/$n.log" >&2; false; }
	done
	[ "$(sql r1 "SELECT to_regclass('made_by_x3') IS NULL")" = t ]
	[ "$(sql l1 "SELECT to_regclass('made_by_x3') IS NULL")" = t ]
	[ "$(sql l2 "SELECT to_regclass('made_by_x3') IS NOT NULL")" = t ]
}

@test "londiste3 execute: a bad key or a partial match is refused on the root and nothing runs" {
	need_node_mode
	# r1 with t1 in its set
	exec_tree
	before=$(sql r1 "SELECT count(*) FROM londiste.applied_execute")
	printf -- '--*-- Local-Tables: t1\nCREATE TABLE y1 ();\n' >"$BATS_TEST_TMPDIR/y1.sql"
	printf 'CREATE TABLE y0 ();\n' >"$BATS_TEST_TMPDIR/y0.sql"
	run --separate-stderr londiste "$(ini r1)" execute "$BATS_TEST_TMPDIR/y0.sql" "$BATS_TEST_TMPDIR/y1.sql"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"invalid key"* ]]
	[ "$(sql r1 "SELECT to_regclass('y0') IS NULL AND to_regclass('y1') IS NULL")" = t ]
	printf -- '--*-- Local-Table: t1, t9\nCREATE TABLE y2 ();\n' >"$BATS_TEST_TMPDIR/y2.sql"
	run --separate-stderr londiste "$(ini r1)" execute "$BATS_TEST_TMPDIR/y2.sql"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"partially matches"* ]]
	[ "$(sql r1 "SELECT count(*) FROM londiste.applied_execute WHERE execute_file IN ('y0.sql', 'y1.sql', 'y2.sql')")" = 0 ]
	[ "$(sql r1 "SELECT count(*) FROM londiste.applied_execute")" = "$before" ]
}

@test "londiste3 execute: a leaf made after an execute replays it; Local-Table skips it there, add-table --create then syncs" {
	need_node_mode
	# r1 -> b1 with their workers, t3 (a table of this test's) in the set
	exec_tree
	sql r1 "CREATE TABLE t3 (id int PRIMARY KEY, v text)"
	sql r1 "INSERT INTO t3 SELECT g, 'a' FROM generate_series(1, 10) g"
	londiste "$(ini r1)" add-table t3
	wait_for londiste "$(ini b1)" add-table t3 --create
	printf -- '--*-- Local-Table: public.t3\nALTER TABLE @public.t3@ ADD COLUMN x int DEFAULT 7;\n' \
		>"$BATS_TEST_TMPDIR/z1.sql"
	londiste "$(ini r1)" execute "$BATS_TEST_TMPDIR/z1.sql"
	wait_for has_col b1 t3 x
	new_db l3 none
	cascade_ini l3
	londiste "$(ini l3)" create-leaf l3 --provider="$(loc b1)"
	worker_start l3
	wait_for caught_up l3 r1
	# the leaf saw the EXECUTE (from the global watermark on) and skipped it
	recorded l3 z1.sql
	londiste "$(ini l3)" add-table t3 --create
	has_col l3 t3 x
	sql r1 "INSERT INTO t3 VALUES (11, 'b', 8)"
	londiste "$(ini l3)" wait-sync
	wait_for caught_up l3 r1
	wait_for all_equal t3 l3
	no_error l3
}

@test "londiste3 stuck replay: a row that collides with one written on the node; resync steps over it" {
	need_node_mode
	# r1 -> b1 with their workers, t1 in the set and in sync on b1 (ids
	# 5 to 7 are this test's; it leaves t1 of b1 in sync, as it found it)
	exec_tree
	londiste "$(ini b1)" wait-sync
	sql b1 "SET session_replication_role = replica; INSERT INTO t1 VALUES (5, 'mine')"
	sql r1 "INSERT INTO t1 VALUES (5, 'root'), (6, 'root')"
	wait_for has_error b1
	londiste "$(ini b1)" resync t1
	londiste "$(ini b1)" wait-sync
	sql r1 "INSERT INTO t1 VALUES (7, 'root')"
	wait_for caught_up b1 r1
	wait_for all_equal t1 b1
	wait_for no_error b1
}

@test "londiste3 execute: an EXECUTE that stops a new leaf shows in status; the operator steps over it (applied_execute, worker -r)" {
	need_node_mode
	# a tree of its own: its EXECUTE without attributes would run on
	# every node of the shared one, and on every leaf made after it
	shared_tree_drop
	cascade_tree r1 b1
	for n in r1 b1; do worker_start $n; done
	sql r1 "CREATE TABLE t1 (id int PRIMARY KEY, v text)"
	londiste "$(ini r1)" add-table t1
	wait_for londiste "$(ini b1)" add-table t1 --create
	# no attributes: it runs on every node, as in londiste 3
	printf 'ALTER TABLE public.t1 ADD COLUMN x int;\n' >"$BATS_TEST_TMPDIR/bad.sql"
	londiste "$(ini r1)" execute "$BATS_TEST_TMPDIR/bad.sql"
	wait_for has_col b1 t1 x
	# a leaf made now replays it, and has no t1 yet
	new_db l3 none
	cascade_ini l3
	londiste "$(ini l3)" create-leaf l3 --provider="$(loc b1)"
	worker_start l3
	wait_for has_error l3
	run --separate-stderr londiste "$(ini r1)" status
	[[ "$output" == *"l3 (leaf)"*"Error: "*"t1"* ]] || { echo "$output" >&2; false; }
	# the documented way over it: record the file as applied, retry now
	sql l3 "INSERT INTO londiste.applied_execute (queue_name, execute_file, execute_sql)
		VALUES ('q', 'bad.sql', '')"
	londiste "$(ini l3)" worker -r
	sql r1 "INSERT INTO t1 VALUES (1, 'a', 1)"
	wait_for caught_up l3 r1
	wait_for no_error l3
	londiste "$(ini l3)" add-table t1 --create
	londiste "$(ini l3)" wait-sync
	wait_for all_equal t1 l3
}

# --- with the original londiste 3 (Debian's python3-londiste) ----------

merge_ok() { [ "$(sql "$1" "SELECT merge_state FROM londiste.get_table_list('q') WHERE table_name = '$2'")" = ok ]; }

@test "londiste3 execute: our root's attributes reach an original londiste 3 leaf, which decides as we do" {
	need_original
	shared_tree_drop
	for n in r1 o_leaf; do
		new_db "$n" none
		sql "$n" "CREATE TABLE t2 (id int PRIMARY KEY, v text)"
	done
	sql r1 "CREATE TABLE t3 (id int PRIMARY KEY)"
	cascade_ini r1
	londiste "$(ini r1)" create-root r1
	sql r1 "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '1 second')" >/dev/null
	worker_start r1
	londiste "$(ini r1)" add-table t2 t3
	l3_ini o_leaf
	l3 o_leaf create-leaf o_leaf "$(loc o_leaf)" --provider="$(loc r1)"
	l3 o_leaf worker -d
	l3 o_leaf add-table public.t2
	wait_for merge_ok o_leaf public.t2 || { l3_stop; false; }
	printf -- '--*-- Local-Table: public.t2\nALTER TABLE @public.t2@ ADD COLUMN x int;\n' >"$BATS_TEST_TMPDIR/e1.sql"
	printf -- '--*-- Local-Table: public.t3\nCREATE TABLE public.made_by_e2 ();\n' >"$BATS_TEST_TMPDIR/e2.sql"
	londiste "$(ini r1)" execute "$BATS_TEST_TMPDIR/e1.sql" "$BATS_TEST_TMPDIR/e2.sql"
	wait_for recorded o_leaf e2.sql || { l3_stop; tail -n 20 "$BATS_TEST_TMPDIR/o_leaf.log" >&2; false; }
	l3_stop
	has_col r1 t2 x
	has_col o_leaf t2 x
	[ "$(sql r1 "SELECT to_regclass('public.made_by_e2') IS NOT NULL")" = t ]
	[ "$(sql o_leaf "SELECT to_regclass('public.made_by_e2') IS NULL")" = t ]
}

@test "londiste3 execute: an original londiste 3 root's attributes reach our leaf, which decides as it does" {
	need_original
	shared_tree_drop
	for n in o_root l1; do
		new_db "$n" none
		sql "$n" "CREATE TABLE t1 (id int PRIMARY KEY, v text)"
	done
	sql o_root "CREATE TABLE t4 (id int PRIMARY KEY)"
	l3_ini o_root
	l3 o_root create-root o_root "$(loc o_root)"
	sql o_root "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '1 second')" >/dev/null
	pgqd_start o_root
	l3 o_root worker -d
	l3 o_root add-table public.t1 public.t4
	cascade_ini l1
	londiste "$(ini l1)" create-leaf l1 --provider="$(loc o_root)"
	worker_start l1
	wait_for londiste "$(ini l1)" add-table public.t1 || { l3_stop; false; }
	wait_for merge_ok l1 public.t1 || { l3_stop; false; }
	printf -- '--*-- Local-Table: public.t1\nALTER TABLE @public.t1@ ADD COLUMN x int;\n' >"$BATS_TEST_TMPDIR/f1.sql"
	printf -- '--*-- Local-Table: public.t4\nCREATE TABLE public.made_by_f2 ();\n' >"$BATS_TEST_TMPDIR/f2.sql"
	l3 o_root execute "$BATS_TEST_TMPDIR/f1.sql" "$BATS_TEST_TMPDIR/f2.sql" || { l3_stop; false; }
	wait_for recorded l1 f2.sql || { l3_stop; tail -n 20 "$BATS_TEST_TMPDIR/l1.log" >&2; false; }
	l3_stop
	has_col o_root t1 x
	has_col l1 t1 x
	[ "$(sql o_root "SELECT to_regclass('public.made_by_f2') IS NOT NULL")" = t ]
	[ "$(sql l1 "SELECT to_regclass('public.made_by_f2') IS NULL")" = t ]
	# the attributes as the original wrote them
	[ "$(sql l1 "SELECT execute_attrs FROM londiste.applied_execute WHERE execute_file = 'f1.sql'")" = "local-table=public.t1" ]
}
