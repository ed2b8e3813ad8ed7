#!/usr/bin/env bats
# londiste-apply: long runs of updates and deletes of one table go as one
# statement over arrays of the run's values; they must act exactly as
# the rows applied one by one.

load helper
load 200-londiste

setup() {
	lon_pair prov sub debian
	for db in prov sub; do
		sql $db 'CREATE SCHEMA "My Sch.x"'
		sql $db 'CREATE TABLE "My Sch.x"."T a" ("Id" int, "b b" text, "v al" text, "x""q" text, la_ord int, PRIMARY KEY ("Id", "b b"))'
		sql $db 'CREATE TABLE t (id int PRIMARY KEY, v text)'
		sql $db 'CREATE TABLE k (a int, b text, PRIMARY KEY (a, b))'
	done
	lon_tables prov sub 'My Sch.x.T a' t k
	lon_skip prov
}

# apply: the next batch into $BATS_TEST_TMPDIR/s, applied to sub.
apply() {
	tick prov
	batch_stream prov > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s"
}

@test "londiste-apply runs: odd names and values, composite and key-only rows, NULLs" {
	sql prov "INSERT INTO \"My Sch.x\".\"T a\" SELECT g, 'k ' || g, 'v', 'x', g FROM generate_series(1, 60) g"
	sql prov "INSERT INTO k SELECT g, E'b\\t' || g FROM generate_series(1, 40) g"
	replay_once prov sub
	sql prov "UPDATE \"My Sch.x\".\"T a\" SET \"v al\" = CASE \"Id\" % 6
		WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'NULL'
		WHEN 3 THEN E'q\"uo\\\\te{,}\\t\\n\\r ' WHEN 4 THEN 'ünï €' ELSE ' a , b ' END,
		\"x\"\"q\" = '{\"a\":[1,2]}', la_ord = -\"Id\""
	sql prov "UPDATE k SET a = a"
	sql prov "DELETE FROM \"My Sch.x\".\"T a\" WHERE \"Id\" > 40"
	sql prov "DELETE FROM k WHERE a % 2 = 0"
	apply
	[ "$status" -eq 0 ]
	[ "$(dump prov '"My Sch.x"."T a"')" = "$(dump sub '"My Sch.x"."T a"')" ]
	[ "$(dump prov k)" = "$(dump sub k)" ]
	[ "$(sql sub 'SELECT count(*) FROM "My Sch.x"."T a" WHERE "v al" IS NULL')" = 6 ]
	[ "$(sql sub "SELECT count(*) FROM \"My Sch.x\".\"T a\" WHERE \"v al\" = 'NULL'")" = 7 ]
	[ "$(sql sub 'SELECT count(*) FROM k')" = 20 ]
}

@test "londiste-apply runs: an update or delete of a missing row fails the batch, naming the first" {
	sql prov "INSERT INTO t SELECT g, 'a' FROM generate_series(1, 50) g"
	replay_once prov sub
	sql sub "DELETE FROM t WHERE id IN (17, 45)"
	sql prov "UPDATE t SET v = 'b'"
	apply
	[ "$status" -eq 3 ]
	[ -z "$output" ]
	id=$(head -1 "$BATS_TEST_TMPDIR/s" | cut -f2)
	[[ "$stderr" == *"batch $id"* ]]
	[[ "$stderr" == *"public.t key (id=17): update of a missing row"* ]]
	[ "$(sql sub "SELECT count(*) FROM t WHERE v = 'b'")" = 0 ]
	[ "$(sql sub 'SELECT count(*) FROM londiste.completed WHERE last_tick > 0')" = 1 ]
	before=$(sql sub 'SELECT last_tick FROM londiste.completed')
	finish_batch prov

	sql prov "DELETE FROM t WHERE id > 20"
	apply
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"public.t key (id=45): delete of a missing row"* ]]
	[ "$(sql sub 'SELECT count(*) FROM t')" = 48 ]
	[ "$(sql sub 'SELECT last_tick FROM londiste.completed')" = "$before" ]
}

@test "londiste-apply runs: repeated keys: the last update wins, a second delete fails" {
	sql prov "INSERT INTO t SELECT g, 'a' FROM generate_series(1, 30) g"
	replay_once prov sub
	for i in 1 2 3 4 5; do
		sql prov "UPDATE t SET v = 'pass $i.' || id WHERE id <= 20"
	done
	sql prov "UPDATE t SET v = NULL WHERE id = 3"
	apply
	[ "$status" -eq 0 ]
	[ "$(dump prov t)" = "$(dump sub t)" ]
	[ "$(sql sub "SELECT v FROM t WHERE id = 7")" = "pass 5.7" ]
	finish_batch prov

	# a delete of one key twice in one run, as no provider sends it
	sql prov "DELETE FROM t WHERE id > 5"
	tick prov
	batch_stream prov > "$BATS_TEST_TMPDIR/s"
	awk -F'\t' -v OFS='\t' '$1 == "event" && ++n == 20 { d = $0 }
		$1 == "end" { print d; $3 = $3 + 1 } { print }' "$BATS_TEST_TMPDIR/s" > "$BATS_TEST_TMPDIR/twice"
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/twice"
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"public.t key (id=25): delete of a missing row"* ]]
	[ "$(sql sub 'SELECT count(*) FROM t')" = 30 ]
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 0 ]
	[ "$(dump prov t)" = "$(dump sub t)" ]
}

@test "londiste-apply runs: updates that only work in their order on a table with another unique index" {
	for db in prov sub; do
		sql $db "CREATE TABLE u (id int PRIMARY KEY, code int UNIQUE, v text)"
	done
	lon_tables prov sub u
	sql prov "INSERT INTO u SELECT g, g, 'a' FROM generate_series(1, 40) g"
	replay_once prov sub
	# each frees the code the next one takes; id 2 comes twice, so a
	# run applied by key order would move id 1 onto code 2 first
	sql prov "UPDATE u SET v = 'b' WHERE id > 20"
	sql prov "UPDATE u SET code = 100 WHERE id = 2"
	sql prov "UPDATE u SET code = 2 WHERE id = 1"
	sql prov "UPDATE u SET code = 101 WHERE id = 2"
	apply
	[ "$status" -eq 0 ]
	[ "$(dump prov u)" = "$(dump sub u)" ]
}

@test "londiste-apply runs: longer than one statement, several batches in one stream" {
	sql prov "INSERT INTO t SELECT g, 'a' FROM generate_series(1, 12000) g"
	replay_once prov sub
	sql prov "UPDATE t SET v = 'b' || id"
	sql prov "UPDATE t SET v = 'c' WHERE id BETWEEN 9990 AND 10010"
	tick prov
	batch_stream prov > "$BATS_TEST_TMPDIR/all"
	finish_batch prov
	sql prov "DELETE FROM t WHERE id % 3 = 0"
	sql prov "UPDATE t SET v = 'd' WHERE id < 100"
	tick prov
	batch_stream prov >> "$BATS_TEST_TMPDIR/all"
	finish_batch prov
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/all"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	[ "$(dump prov t)" = "$(dump sub t)" ]
}

@test "londiste-apply runs: bad values, a missing column, array columns" {
	for db in prov sub; do
		sql $db "CREATE TABLE a (id int PRIMARY KEY, arr int[], n text)"
	done
	sql sub "ALTER TABLE a ALTER n TYPE int USING n::int"
	lon_tables prov sub a
	sql prov "INSERT INTO a SELECT g, ARRAY[g, g + 1], g::text FROM generate_series(1, 30) g"
	replay_once prov sub
	# int[] values go one by one: unnest would take them apart
	sql prov "UPDATE a SET arr = ARRAY[[id, 0], [0, id]]"
	replay_once prov sub
	[ "$(dump prov a)" = "$(dump sub a)" ]

	sql prov "INSERT INTO t SELECT g, 'a' FROM generate_series(1, 30) g"
	replay_once prov sub
	sql sub "ALTER TABLE t ALTER v TYPE int USING 0"
	sql prov "UPDATE t SET v = CASE WHEN id = 25 THEN 'zz' ELSE '1' END"
	apply
	[ "$status" -eq 3 ]
	[[ "$stderr" == *public.t*zz* ]]
	[ "$(sql sub 'SELECT count(*) FROM t WHERE v = 1')" = 0 ]

	sql sub "ALTER TABLE t DROP COLUMN v"
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 3 ]
	[[ "$stderr" == *public.t*'"v"'* ]]
}

@test "londiste-apply runs: statistics that say the table is empty are renewed before a run" {
	# Emptied, analyzed while empty (pages kept), filled again: the
	# planner believes t has no rows, and with nested loops only would
	# rescan the run for every row of t.
	sql sub "ALTER TABLE t SET (autovacuum_enabled = off, vacuum_truncate = off)"
	sql prov "INSERT INTO t SELECT g, 'a' FROM generate_series(1, 3000) g"
	replay_once prov sub
	sql sub "DELETE FROM t"
	sql sub "VACUUM ANALYZE t"
	sql sub "INSERT INTO t SELECT g, 'a' FROM generate_series(1, 3000) g"
	[ "$(sql sub "SELECT reltuples FROM pg_class WHERE oid = 't'::regclass")" = 0 ]
	sql prov "UPDATE t SET v = 'b' WHERE id <= 2000"
	sql prov "DELETE FROM t WHERE id > 2500"
	apply
	[ "$status" -eq 0 ]
	[ "$(dump prov t)" = "$(dump sub t)" ]
	# renewed by the first run, inside the batch
	[ "$(sql sub "SELECT reltuples >= 2000 FROM pg_class WHERE oid = 't'::regclass")" = t ]
}
