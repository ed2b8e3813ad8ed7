#!/usr/bin/env bats
# sql/pgq_ext: a consumer's completed batch, events and tick kept in its
# target database (Skytools 3's pgq_ext 3.3 API; python3-pgq's
# RemoteConsumer and SerialConsumer use it, t/113).

load helper
load 1xx-extension

setup_file() {
	pg_start
	new_db ext none
	install_ext ext
	sql ext "CREATE ROLE ext_w LOGIN IN ROLE pgq_writer; CREATE ROLE ext_nobody LOGIN" >/dev/null
}

install_ext() {
	psql -XAq -v ON_ERROR_STOP=1 -d "$1" -f "$SKYTOOLS_SQLDIR/pgq_ext.sql"
}

as() {
	local u=$1
	shift
	psql -XAtq -v ON_ERROR_STOP=1 -U "$u" -d ext -c "$*"
}

# calls [-U ROLE] CALL...: each CALL in a statement of its own, as a
# client makes them (a statement does not see its own changes in the
# functions that read), the answers joined by |
calls() {
	local u=postgres c out=
	[ "$1" != -U ] || { u=$2; shift 2; }
	for c; do
		out="$out${out:+|}$(psql -XAtq -v ON_ERROR_STOP=1 -U "$u" -d ext -c "SELECT $c")" || return 1
	done
	printf '%s\n' "$out"
}

@test "pgq_ext: installs where there is no PgQ, again silently over itself, and says what it is" {
	[ "$(sql ext "SELECT to_regnamespace('pgq') IS NULL")" = t ]
	sql ext "SELECT pgq_ext.set_batch_done('keep', 7)" >/dev/null
	run install_ext ext
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ "$(sql ext "SELECT pgq_ext.version(), pgq_ext.upgrade_schema(), pgq_ext.is_batch_done('keep', 7)")" = "3.3|0|t" ]
}

# The calls and answers of the original's own regression test, which
# its clients rely on.
@test "pgq_ext: batch, event and tick tracking answer as the original's" {
	run calls "pgq_ext.is_batch_done('c', 1)" "pgq_ext.set_batch_done('c', 1)" \
		"pgq_ext.is_batch_done('c', 1)" "pgq_ext.set_batch_done('c', 1)" \
		"pgq_ext.is_batch_done('c', 2)" "pgq_ext.set_batch_done('c', 2)"
	[ "$output" = "f|t|t|f|f|t" ]
	# only the last batch is remembered
	[ "$(sql ext "SELECT pgq_ext.is_batch_done('c', 1)")" = f ]
	run calls "pgq_ext.is_batch_done('c', 3)" "pgq_ext.is_event_done('c', 3, 101)" \
		"pgq_ext.set_event_done('c', 3, 101)" "pgq_ext.is_event_done('c', 3, 101)" \
		"pgq_ext.set_event_done('c', 3, 101)" "pgq_ext.set_batch_done('c', 3)"
	[ "$output" = "f|f|t|t|f|t" ]
	[ "$(sql ext "SELECT consumer_id || '/' || subconsumer_id || '/' || batch_id || '/' || event_id
		FROM pgq_ext.completed_event")" = "c//3/101" ]
	# the first event of the next batch forgets the last batch's events
	[ "$(sql ext "SELECT pgq_ext.set_event_done('c', 4, 7)")" = t ]
	[ "$(sql ext "SELECT string_agg(batch_id || '/' || event_id, ' ') FROM pgq_ext.completed_event")" = "4/7" ]
	run calls "pgq_ext.get_last_tick('c') IS NULL" "pgq_ext.set_last_tick('c', 1)" \
		"pgq_ext.get_last_tick('c')" "pgq_ext.set_last_tick('c', 2)" "pgq_ext.get_last_tick('c')" \
		"pgq_ext.set_last_tick('c', NULL)" "pgq_ext.get_last_tick('c') IS NULL"
	[ "$output" = "t|1|1|1|2|1|t" ]
	# a batch id of 0 records nothing, as the original's
	[ "$(calls "pgq_ext.set_batch_done('z', 0)" "pgq_ext.is_batch_done('z', 0)")" = "t|f" ]
}

@test "pgq_ext: subconsumers are kept apart; the two-argument forms are subconsumer ''" {
	sql ext "SELECT pgq_ext.set_batch_done('s', 'a', 10), pgq_ext.set_batch_done('s', 'b', 20),
		pgq_ext.set_last_tick('s', 'a', 5), pgq_ext.set_event_done('s', 'b', 20, 1)" >/dev/null
	run sql ext "SELECT pgq_ext.is_batch_done('s', 'a', 10), pgq_ext.is_batch_done('s', 'b', 10),
		pgq_ext.is_batch_done('s', 10), pgq_ext.get_last_tick('s', 'a'),
		pgq_ext.get_last_tick('s') IS NULL, pgq_ext.is_event_done('s', 'b', 20, 1),
		pgq_ext.is_event_done('s', 'a', 20, 1)"
	[ "$output" = "t|f|f|5|t|t|f" ]
	sql ext "SELECT pgq_ext.set_batch_done('s', 30)" >/dev/null
	[ "$(sql ext "SELECT pgq_ext.is_batch_done('s', '', 30), pgq_ext.is_batch_done('s', 'a', 10)")" = "t|t" ]
}

@test "pgq_ext: pgq_writer tracks, a role without it reads and writes nothing, version() is everyone's" {
	[ "$(calls -U ext_w "pgq_ext.set_batch_done('w', 1)" "pgq_ext.set_last_tick('w', 3)" \
		"pgq_ext.set_event_done('w', 1, 2)" "pgq_ext.get_last_tick('w')")" = "t|1|t|3" ]
	[ "$(as ext_nobody "SELECT pgq_ext.version()")" = 3.3 ]
	for call in "pgq_ext.set_batch_done('w', 2)" "pgq_ext.is_batch_done('w', 1)" \
	    "pgq_ext.set_last_tick('w', NULL)" "pgq_ext.set_last_tick('w', '', NULL)"; do
		run --separate-stderr as ext_nobody "SELECT $call"
		[ "$status" -ne 0 ]
		[[ "$stderr" == *"permission denied for function"* ]]
	done
	run --separate-stderr as ext_nobody "DELETE FROM pgq_ext.completed_tick"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"permission denied for table completed_tick"* ]]
	[ "$(sql ext "SELECT pgq_ext.get_last_tick('w'), pgq_ext.is_batch_done('w', 1)")" = "3|t" ]
}

@test "pgq_ext: a database holding another pgq_ext is refused, and keeps it" {
	new_db other none
	sql other "CREATE SCHEMA pgq_ext;
		CREATE TABLE pgq_ext.completed_batch (consumer_id text, subconsumer_id text, last_batch_id bigint);
		CREATE FUNCTION pgq_ext.is_batch_done(text, bigint) RETURNS boolean LANGUAGE sql AS 'SELECT true'" >/dev/null
	run --separate-stderr install_ext other
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"schema pgq_ext holds another pgq_ext implementation"* ]]
	[ "$(sql other "SELECT pgq_ext.is_batch_done('x', 1), to_regprocedure('pgq_ext.set_last_tick(text,bigint)') IS NULL")" = "t|t" ]
}

@test "CREATE EXTENSION pgq_ext from build-ext's files: no PgQ needed, positions dumped with it" {
	ext_server pgq_ext
	esql postgres "CREATE DATABASE e"
	esql e "CREATE EXTENSION pgq_ext"
	[ "$(esql e "SELECT extversion FROM pg_extension WHERE extname = 'pgq_ext'")" = "$VERSION" ]
	esql e "SELECT pgq_ext.set_last_tick('dumped', 42)" >/dev/null
	run pg_dump -p 5433 -d e --data-only -t pgq_ext.completed_tick
	[ "$status" -eq 0 ]
	[[ "$output" == *"dumped		42"* ]]
	esql e "DROP EXTENSION pgq_ext"
	[ "$(esql e "SELECT to_regnamespace('pgq_ext') IS NULL")" = t ]
}
