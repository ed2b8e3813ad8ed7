#!/usr/bin/env bats
# londiste-apply: batches from hand-made streams (Debian's PgQ as provider).

load helper
load 200-londiste

setup() {
	lon_pair prov sub debian
	for db in prov sub; do
		sql $db 'CREATE SCHEMA "My Sch.x"'
		sql $db 'CREATE TABLE "My Sch.x"."T a" ("Id" int, "b b" int, "v al" text, "x""q" text, PRIMARY KEY ("Id", "b b"))'
		sql $db 'CREATE TABLE t (id int PRIMARY KEY, v text)'
	done
	lon_tables prov sub 'My Sch.x.T a' t
	lon_skip prov
}

@test "londiste-apply: basic checks" {
	basic_checks londiste-apply
	run --separate-stderr londiste-apply -d sub
	[ "$status" -eq 2 ]
}

@test "londiste-apply: inserts, updates, deletes, truncate; odd values and names" {
	sql prov "INSERT INTO t SELECT g, 'r' || g FROM generate_series(1, 100) g"
	sql prov "UPDATE t SET v = 'u' || id WHERE id % 3 = 0"
	sql prov "DELETE FROM t WHERE id % 5 = 0"
	sql prov "INSERT INTO \"My Sch.x\".\"T a\" VALUES
		(1, 1, NULL, ''), (1, 2, '', NULL),
		(2, 1, E'tab\\there\\nnew\\\\line\\r', 'a&b=c%d+e f'),
		(3, 1, 'ünïcödé €', E'''quote\"'), (4, 1, 'x', 'y')"
	sql prov "UPDATE \"My Sch.x\".\"T a\" SET \"v al\" = 'changed' WHERE \"Id\" = 4"
	sql prov "DELETE FROM \"My Sch.x\".\"T a\" WHERE \"Id\" = 3"
	tick prov
	batch_stream prov > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(head -1 "$BATS_TEST_TMPDIR/s")" ]
	[[ "${lines[1]}" == end*0 ]]
	[ "$(dump prov t)" = "$(dump sub t)" ]
	[ "$(dump prov '"My Sch.x"."T a"')" = "$(dump sub '"My Sch.x"."T a"')" ]
	[ "$(sql sub 'SELECT count(*) FROM "My Sch.x"."T a" WHERE "v al" IS NULL')" = 1 ]
	finish_batch prov

	sql prov "TRUNCATE t"
	sql prov "INSERT INTO t VALUES (7, 'after truncate')"
	replay_once prov sub
	[ "$(dump sub t)" = "$(printf '7\tafter truncate')" ]
}

@test "londiste-apply: a batch applied before is skipped and re-emitted" {
	sql prov "INSERT INTO t VALUES (1, 'a')"
	tick prov
	batch_stream prov > "$BATS_TEST_TMPDIR/s"
	londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s" >/dev/null
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[ "$(sql sub 'SELECT count(*) FROM t')" = 1 ]
}

@test "londiste-apply: a failing event rolls back the batch, exit 3 naming table, key, batch" {
	sql prov "INSERT INTO t SELECT g, 'x' FROM generate_series(1, 50) g"
	sql sub "INSERT INTO t VALUES (40, 'in the way')"
	tick prov
	batch_stream prov > "$BATS_TEST_TMPDIR/s"
	id=$(head -1 "$BATS_TEST_TMPDIR/s" | cut -f2)
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 3 ]
	[ -z "$output" ]
	[[ "$stderr" == *"batch $id"* ]]
	[[ "$stderr" == *public.t* ]]
	[[ "$stderr" == *40* ]]
	[ "$(sql sub 'SELECT count(*) FROM t')" = 1 ]
	[ "$(sql sub 'SELECT last_tick FROM londiste.completed')" != "$(head -1 "$BATS_TEST_TMPDIR/s" | cut -f3)" ]
}

@test "londiste-apply: update or delete of a missing row, unknown column: exit 3" {
	sql prov "INSERT INTO t VALUES (1, 'a'), (2, 'b')"
	replay_once prov sub
	sql sub "DELETE FROM t WHERE id = 1"
	sql prov "UPDATE t SET v = 'c' WHERE id = 1"
	tick prov
	batch_stream prov > "$BATS_TEST_TMPDIR/s"
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"public.t key (id=1)"*missing* ]]

	sql sub "INSERT INTO t VALUES (1, 'a')"
	sql sub "ALTER TABLE t DROP COLUMN v"
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 3 ]
	[[ "$stderr" == *public.t* ]]
}

@test "londiste-apply: a truncated or garbled stream commits nothing" {
	sql prov "INSERT INTO t SELECT g, 'x' FROM generate_series(1, 30) g"
	tick prov
	batch_stream prov > "$BATS_TEST_TMPDIR/s"
	head -n -1 "$BATS_TEST_TMPDIR/s" > "$BATS_TEST_TMPDIR/cut"
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/cut"
	[ "$status" -eq 3 ]
	[ -z "$output" ]
	[ "$(sql sub 'SELECT count(*) FROM t')" = 0 ]

	sed '5s/\t/ /' "$BATS_TEST_TMPDIR/s" > "$BATS_TEST_TMPDIR/bad"
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/bad"
	[ "$status" -eq 2 ]
	[ "$(sql sub 'SELECT count(*) FROM t')" = 0 ]

	head -c -3 "$BATS_TEST_TMPDIR/s" > "$BATS_TEST_TMPDIR/partial"
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/partial"
	[ "$status" -ne 0 ]
	[ "$(sql sub 'SELECT count(*) FROM t')" = 0 ]

	# bad url-encoding inside a well-framed stream
	sed '3s/v=x/v=%zz/' "$BATS_TEST_TMPDIR/s" > "$BATS_TEST_TMPDIR/enc"
	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/enc"
	[ "$status" -eq 2 ]
	[ "$(sql sub 'SELECT count(*) FROM t')" = 0 ]

	run --separate-stderr londiste-apply -d sub --consumer c < "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 0 ]
	[ "$(sql sub 'SELECT count(*) FROM t')" = 30 ]
}

@test "londiste-apply: sequences replicate and never move backwards" {
	sql prov "CREATE SEQUENCE s1"
	sql sub "CREATE SEQUENCE s1"
	sql prov "SELECT londiste.provider_add_seq('q', 's1')" >/dev/null
	sql sub "SELECT londiste.subscriber_add_seq('q', 's1')" >/dev/null
	sql prov "SELECT nextval('s1') FROM generate_series(1, 42)" >/dev/null
	[ "$(sql prov 'SELECT londiste.periodic_maintenance()')" = 1 ]
	[ "$(sql prov 'SELECT londiste.periodic_maintenance()')" = 0 ]
	replay_once prov sub
	[ "$(sql sub 'SELECT last_value FROM s1')" = 42 ]
	sql sub "SELECT setval('s1', 100)" >/dev/null
	sql prov "SELECT nextval('s1')" >/dev/null
	sql prov 'SELECT londiste.periodic_maintenance()' >/dev/null
	replay_once prov sub
	[ "$(sql sub 'SELECT last_value FROM s1')" = 100 ]
}

@test "londiste-apply: the ticker's maintenance sends sequences (maint_operations)" {
	sql prov "CREATE SEQUENCE s2"
	sql prov "SELECT londiste.provider_add_seq('q', 's2')" >/dev/null
	run sql prov "SELECT func_name FROM pgq.maint_operations() WHERE func_name LIKE 'londiste%'"
	[[ "$output" == *londiste.periodic_maintenance* ]]
}

@test "londiste-apply: catching-up applies only what the copy did not see, then turns ok" {
	sql sub "UPDATE londiste.subscriber_table SET state = 'new' WHERE table_name = 'public.t'"
	sql prov "INSERT INTO t VALUES (1, 'skipped while new')"
	replay_once prov sub
	[ "$(sql sub 'SELECT count(*) FROM t')" = 0 ]

	# in-copy: events wait in londiste.pending
	sql sub "UPDATE londiste.subscriber_table SET state = 'in-copy' WHERE table_name = 'public.t'"
	sql prov "INSERT INTO t VALUES (2, 'seen by copy')"
	snap=$(sql prov "SELECT pg_current_snapshot()")
	sql prov "INSERT INTO t VALUES (3, 'after copy')"
	replay_once prov sub
	[ "$(sql sub 'SELECT count(*) FROM londiste.pending')" = 2 ]
	[ "$(sql sub 'SELECT count(*) FROM t')" = 0 ]

	# the copy commits: rows up to its snapshot, catching-up
	sql sub "INSERT INTO t VALUES (1, 'skipped while new'), (2, 'seen by copy')"
	synctick=$(( $(sql prov "SELECT max(tick_id) FROM pgq.tick") + 2 ))
	sql sub "UPDATE londiste.subscriber_table SET state = 'catching-up', snapshot = '$snap', sync_tick = $synctick WHERE table_name = 'public.t'"
	sql prov "INSERT INTO t VALUES (4, 'later')"
	replay_once prov sub
	[ "$(sql sub 'SELECT string_agg(id::text, $$,$$ ORDER BY id) FROM t')" = 1,2,3,4 ]
	[ "$(sql sub 'SELECT count(*) FROM londiste.pending')" = 0 ]
	[ "$(sql sub "SELECT state FROM londiste.subscriber_table WHERE table_name = 'public.t'")" = catching-up ]
	replay_once prov sub
	replay_once prov sub
	[ "$(sql sub "SELECT state FROM londiste.subscriber_table WHERE table_name = 'public.t'")" = ok ]
}

@test "londiste-apply: long runs of inserts go by COPY, mixed with updates" {
	sql prov "INSERT INTO t SELECT g, 'r' || g FROM generate_series(1, 5000) g"
	sql prov "UPDATE t SET v = 'u' WHERE id BETWEEN 10 AND 20"
	sql prov "INSERT INTO t SELECT g, E'x\\ty' FROM generate_series(5001, 5100) g"
	sql prov "DELETE FROM t WHERE id > 5050"
	replay_once prov sub
	[ "$(dump prov t)" = "$(dump sub t)" ]
}
