#!/usr/bin/env bats
# londiste-copy, londiste-compare, londiste-repair between tables whose
# columns differ: the columns both sides have, by name, as londiste 3.

load helper
load 200-londiste

setup() {
	lon_pair prov sub debian
	sql prov "CREATE TABLE t (id int PRIMARY KEY, v text, n int)"
	sql prov "INSERT INTO t SELECT g, 'v' || g, g FROM generate_series(1, 10) g"
	sql prov "SELECT londiste.provider_add_table('q', 't')" >/dev/null
}

# common DB: the columns both sides have, in one order.
common() {
	psql -XAtq -v ON_ERROR_STOP=1 -d "$1" -c "COPY (SELECT id, v, n FROM t ORDER BY id) TO STDOUT"
}

@test "londiste-copy: columns only here take their defaults, in another order; replay, compare and repair use the common ones" {
	sql sub "CREATE TABLE t (n int, note text DEFAULT 'here', id int PRIMARY KEY, v text, seen timestamptz)"
	sql sub "SELECT londiste.subscriber_add_table('q', 't')" >/dev/null
	run --separate-stderr londiste-copy -s prov -d sub --consumer c t
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'public.t\t10')" ]
	[ "$stderr" = "londiste-copy: table public.t: column(s) note, seen here are not on the provider: they take their defaults" ]
	[ "$(common prov)" = "$(common sub)" ]
	[ "$(sql sub "SELECT count(*) FROM t WHERE note = 'here' AND seen IS NULL")" = 10 ]
	# replay of the rows' changes, which name their columns
	tick prov
	replay_pending prov sub
	[ "$(sql sub "SELECT state FROM londiste.subscriber_table")" = ok ]
	sql prov "INSERT INTO t VALUES (11, 'new', 11); UPDATE t SET v = 'upd', n = 33 WHERE id = 3; DELETE FROM t WHERE id = 4"
	tick prov
	replay_pending prov sub
	[ "$(common prov)" = "$(common sub)" ]
	[ "$(sql sub "SELECT note FROM t WHERE id = 11")" = here ]
	bg_replay
	run --separate-stderr londiste-compare -s prov -d sub --consumer c --lock-timeout 30 t
	[ "$status" -eq 0 ]
	[[ "$output" == "public.t"*$'\tequal\tcolumns: subscriber only: note, seen' ]]
	# a row missing here and one changed: repair inserts with the
	# common columns (the others take their defaults)
	sql sub "DELETE FROM t WHERE id = 6; UPDATE t SET v = 'x', note = 'mine' WHERE id = 5"
	run --separate-stderr londiste-compare -s prov -d sub --consumer c --lock-timeout 30 t
	[ "$status" -eq 1 ]
	[[ "$output" == *$'\tdiffer\tcolumns: subscriber only: note, seen' ]]
	londiste-repair -s prov -d sub --consumer c --lock-timeout 30 t > "$BATS_TEST_TMPDIR/fix.sql" 2>"$BATS_TEST_TMPDIR/err" || [ $? -eq 1 ]
	grep -q "column(s) note, seen here are not on the provider" "$BATS_TEST_TMPDIR/err"
	psql -XAq -v ON_ERROR_STOP=1 -d sub -f "$BATS_TEST_TMPDIR/fix.sql"
	run --separate-stderr londiste-compare -s prov -d sub --consumer c --lock-timeout 30 t
	bg_stop
	[ "$status" -eq 0 ]
	[ "$(common prov)" = "$(common sub)" ]
	[ "$(sql sub "SELECT id, note FROM t WHERE id IN (5, 6) ORDER BY id")" = "$(printf '5|mine\n6|here')" ]
}

@test "londiste-copy: a column only here, NOT NULL without a default: exit 2 naming it, nothing copied" {
	sql sub "CREATE TABLE t (id int PRIMARY KEY, v text, n int, must int NOT NULL, fine int NOT NULL DEFAULT 0)"
	sql sub "INSERT INTO t VALUES (99, 'mine', 0, 1)"
	sql sub "SELECT londiste.subscriber_add_table('q', 't')" >/dev/null
	before=$(sql sub "SELECT state FROM londiste.subscriber_table")
	run --separate-stderr londiste-copy -s prov -d sub --consumer c t
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[ "$stderr" = "londiste-copy: table public.t: column(s) must here are not on the provider and are NOT NULL without a default: nothing copied" ]
	[ "$(sql sub "SELECT id FROM t")" = 99 ]
	[ "$(sql sub "SELECT state FROM londiste.subscriber_table")" = "$before" ]
	# with a default it copies
	sql sub "ALTER TABLE t ALTER COLUMN must SET DEFAULT 7"
	run --separate-stderr londiste-copy -s prov -d sub --consumer c t
	[ "$status" -eq 0 ]
	[ "$(sql sub "SELECT count(*) FROM t WHERE must = 7 AND fine = 0")" = 10 ]
}

@test "londiste-copy: a column only the provider has is left out with a warning; replay of its changes fails until it is here" {
	sql prov "ALTER TABLE t ADD COLUMN extra int DEFAULT 5"
	sql sub "CREATE TABLE t (v text, id int PRIMARY KEY, n int)"
	sql sub "SELECT londiste.subscriber_add_table('q', 't')" >/dev/null
	run --separate-stderr londiste-copy -s prov -d sub --consumer c t
	[ "$status" -eq 0 ]
	[ "$stderr" = "londiste-copy: table public.t: column(s) extra of the provider are not here: left out of the copy (replay of the table's changes fails until they are here too)" ]
	[ "$(common prov)" = "$(common sub)" ]
	tick prov
	replay_pending prov sub
	[ "$(sql sub "SELECT state FROM londiste.subscriber_table")" = ok ]
	bg_replay
	run --separate-stderr londiste-compare -s prov -d sub --consumer c --lock-timeout 30 t
	bg_stop
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\tequal\tcolumns: provider only: extra' ]]
	# a change names the column: replay stops on it, as londiste 3's
	sql prov "INSERT INTO t VALUES (11, 'new', 11, 8)"
	tick prov
	run replay_pending prov sub
	[ "$status" -ne 0 ]
	[[ "$output" == *'"extra"'* ]]
	[ "$(sql sub "SELECT count(*) FROM t WHERE id = 11")" = 0 ]
	sql sub "ALTER TABLE t ADD COLUMN extra int"
	replay_pending prov sub
	[ "$(sql sub "SELECT extra FROM t WHERE id = 11")" = 8 ]
	# what the copy left out stays so until a resync
	[ -z "$(sql sub "SELECT extra FROM t WHERE id = 1")" ]
}

@test "londiste-repair: a key column only here: exit 2; londiste-copy: no column in common: exit 2" {
	sql sub "CREATE TABLE t (id int, v text, n int, k int DEFAULT 0, PRIMARY KEY (id, k))"
	sql sub "SELECT londiste.subscriber_add_table('q', 't')" >/dev/null
	londiste-copy -s prov -d sub --consumer c t >/dev/null 2>&1
	run --separate-stderr londiste-repair -s prov -d sub --consumer c --lock-timeout 0.5 t
	[ "$status" -eq 2 ]
	[ "$stderr" = "londiste-repair: table public.t: a key column is not on the provider (subscriber only: k)" ]
	sql sub "DROP TABLE t; CREATE TABLE t (other int PRIMARY KEY)"
	run --separate-stderr londiste-copy -s prov -d sub --consumer c t
	[ "$status" -eq 2 ]
	[ "$stderr" = "londiste-copy: table public.t has no column in common with the provider's" ]
}
