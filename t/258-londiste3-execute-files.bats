#!/usr/bin/env bats
# londiste(1) execute on the root with files of any size and content:
# the file's text is a value from start to end (never an argument, never
# psql's own input), and runs on the root as it runs on the nodes.

load helper
load 25x-cascade

teardown() { cascade_workers_stop; }

recorded() { [ "$(sql "$1" "SELECT count(*) FROM londiste.applied_execute WHERE execute_file = '$2'")" = 1 ]; }
exec_md5() { sql "$1" "SELECT md5(execute_sql) FROM londiste.applied_execute WHERE execute_file = '$2'"; }

# r1 -> b1 with their workers.
exec_pair() {
	cascade_tree r1 b1
	for n in r1 b1; do worker_start $n; done
}

@test "londiste3 execute: a 1 MB file of DDL and comments runs on the root and on the branch, its text kept byte for byte" {
	need_node_mode
	exec_pair
	local f=$BATS_TEST_TMPDIR/big.sql
	{
		echo "CREATE TABLE big1 (id int PRIMARY KEY, v text);"
		awk 'BEGIN { for (i = 1; i <= 14000; i++) {
			printf "-- comment %05d: some words to make the file big, more than an argument may be\n", i
			if (i % 1750 == 0) printf "ALTER TABLE big1 ADD COLUMN c%d int;\n", i } }'
		echo "INSERT INTO big1 (id, v) VALUES (1, 'end');"
		printf '\n\n'
	} >"$f"
	[ "$(wc -c <"$f")" -gt 1000000 ]
	run --separate-stderr londiste "$(ini r1)" execute "$f"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$stderr" == *"executed big.sql"* ]]
	[ "$(sql r1 "SELECT count(*) FROM pg_attribute WHERE attrelid = 'big1'::regclass AND attnum > 0 AND attname LIKE 'c%'")" = 8 ]
	# the text as the file holds it, trailing newlines too
	[ "$(exec_md5 r1 big.sql)" = "$(md5sum <"$f" | cut -d' ' -f1)" ]
	wait_for recorded b1 big.sql || { tail -n 20 "$BATS_TEST_TMPDIR/b1.log" >&2; false; }
	[ "$(exec_md5 b1 big.sql)" = "$(md5sum <"$f" | cut -d' ' -f1)" ]
	[ "$(sql b1 "SELECT v FROM big1")" = end ]
	# run again: skipped
	run --separate-stderr londiste "$(ini r1)" execute "$f"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"executed before"* ]]
}

@test "londiste3 execute: quotes, backslashes, psql variables and meta-commands in a file are the server's text, never psql's" {
	need_node_mode
	exec_pair
	local f=$BATS_TEST_TMPDIR/hostile.sql m=$BATS_TEST_TMPDIR/marker
	# shellcheck disable=SC2016 # literally
	{
		echo "CREATE TABLE hostile (id int PRIMARY KEY, v text);"
		echo "INSERT INTO hostile VALUES (1, 'it''s \\ a\\\\b :q :''fn'' :\"q\" \` \$\$ \"');"
		echo "INSERT INTO hostile VALUES (2, \$x\$ \\! touch $m \$x\$);"
		echo "INSERT INTO hostile VALUES (3, E'tab\\there'); -- \\! touch $m"
		echo "/* \\gexec :sqltext \\set sqltext x */ INSERT INTO hostile VALUES (4, 'four');"
	} >"$f"
	run --separate-stderr londiste "$(ini r1)" execute "$f"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	wait_for recorded b1 hostile.sql
	want=$(printf '%s\n' "it's \\ a\\\\b :q :'fn' :\"q\" \` \$\$ \"" " \\! touch $m " $'tab\there' four)
	[ "$(sql r1 "SELECT v FROM hostile ORDER BY id")" = "$want" ]
	wait_for caught_up b1 r1
	[ "$(sql b1 "SELECT v FROM hostile ORDER BY id")" = "$want" ]
	[ ! -e "$m" ]
	# a meta-command outside any quote is SQL for the server, which
	# refuses it: nothing runs, nothing is recorded, no shell command
	printf 'CREATE TABLE made_by_meta ();\n\\! touch %s\n' "$m" >"$BATS_TEST_TMPDIR/meta.sql"
	run --separate-stderr londiste "$(ini r1)" execute "$BATS_TEST_TMPDIR/meta.sql"
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"execute meta.sql"*"syntax error"* ]]
	[ ! -e "$m" ]
	[ "$(sql r1 "SELECT to_regclass('made_by_meta') IS NULL")" = t ]
	run recorded r1 meta.sql
	[ "$status" -ne 0 ]
	# a COMMIT inside a file cannot end the root's transaction halfway
	printf 'CREATE TABLE made_by_commit ();\nCOMMIT;\n' >"$BATS_TEST_TMPDIR/commit.sql"
	run --separate-stderr londiste "$(ini r1)" execute "$BATS_TEST_TMPDIR/commit.sql"
	[ "$status" -eq 3 ]
	[ "$(sql r1 "SELECT to_regclass('made_by_commit') IS NULL")" = t ]
	run recorded r1 commit.sql
	[ "$status" -ne 0 ]
	# a NUL byte would cut the text short: refused before anything runs
	printf 'CREATE TABLE made_by_nul ();\n-- \000\n' >"$BATS_TEST_TMPDIR/nul.sql"
	run --separate-stderr londiste "$(ini r1)" execute "$BATS_TEST_TMPDIR/nul.sql"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"NUL byte"* ]]
	[ "$(sql r1 "SELECT to_regclass('made_by_nul') IS NULL")" = t ]
	# a file name with a quote
	printf 'CREATE TABLE made_by_quote ();\n' >"$BATS_TEST_TMPDIR/it's.sql"
	londiste "$(ini r1)" execute "$BATS_TEST_TMPDIR/it's.sql"
	[ "$(sql r1 "SELECT to_regclass('made_by_quote') IS NOT NULL")" = t ]
	recorded r1 "it''s.sql"
}
