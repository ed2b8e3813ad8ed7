#!/usr/bin/env bats
# CREATE EXTENSION pgq / pgq_coop from the files sql/build-ext writes
# (what `make install-pg` puts into pg_config --sharedir/extension).  The
# system share directory holds Debian's pgq.control, so the test runs a
# second server from a private copy of the installation: PostgreSQL
# finds its share directory relative to its own executable.

load helper
load 1xx-extension
load 730-search-path

setup_file() {
	pg_start
	ext_server pgq pgq_coop pgq_node londiste
}

@test "build-ext writes a control file and a versioned script" {
	grep -q "^default_version = '$VERSION'" "$EXTDIR/pgq.control"
	grep -q "^requires = 'pgq'" "$EXTDIR/pgq_coop.control"
	[ -s "$EXTDIR/pgq--$VERSION.sql" ]
	! grep -q '^BEGIN;' "$EXTDIR/pgq--$VERSION.sql" || false
	! grep -q '^COMMIT;' "$EXTDIR/pgq--$VERSION.sql" || false
	run "$TOP/sql/build-ext" pgq
	[ "$status" -eq 2 ]
	run "$TOP/sql/build-ext" pgq /nonexistent "$VERSION" "$TEST_DIR/x"
	[ "$status" -eq 2 ]
}

@test "CREATE EXTENSION pgq and pgq_coop give our PgQ, which works" {
	esql postgres "CREATE DATABASE e"
	esql e "CREATE EXTENSION pgq_coop CASCADE"
	run esql e "SELECT extname, extversion FROM pg_extension WHERE extname LIKE 'pgq%' ORDER BY 1"
	[ "${lines[0]}" = "pgq|$VERSION" ]
	[ "${lines[1]}" = "pgq_coop|$VERSION" ]
	run esql e "SELECT pgq.skytools_c_version() IS NOT NULL, pgq.version()"
	[ "$output" = "t|3.5.1" ]
	esql e "SELECT pgq.create_queue('xq')" >/dev/null
	esql e "SELECT pgq.register_consumer('xq', 'c')" >/dev/null
	esql e "SELECT pgq.insert_event('xq', 't', 'via extension')" >/dev/null
	esql e "SELECT pgq.force_tick('xq')" >/dev/null
	esql e "SELECT pgq.ticker('xq')" >/dev/null
	b=$(esql e "SELECT pgq.next_batch('xq', 'c')")
	run esql e "SELECT ev_data FROM pgq.get_batch_events($b)"
	[ "$output" = "via extension" ]
	# the schema's objects belong to the extension, queue tables do not
	run esql e "SELECT count(*) FROM pg_depend d JOIN pg_extension x ON x.oid = d.refobjid
	            WHERE x.extname = 'pgq' AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'"
	[ "$output" -gt 50 ]
	esql e "DROP EXTENSION pgq_coop"
	esql e "DROP EXTENSION pgq CASCADE"
	run esql e "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgq%'"
	[ "$output" = 0 ]
}

@test "pg_dump of an extension database keeps the queue state" {
	esql postgres "CREATE DATABASE d"
	esql d "CREATE EXTENSION pgq"
	esql d "SELECT pgq.create_queue('dumped')" >/dev/null
	esql d "SELECT pgq.register_consumer('dumped', 'c')" >/dev/null
	esql d "SELECT pgq.insert_event('dumped', 't', 'kept')" >/dev/null
	"$TEST_PGBIN/pg_dump" -p 5433 -d d -f "$TEST_DIR/d.sql"
	esql postgres "CREATE DATABASE d2"
	psql -XAtq -v ON_ERROR_STOP=1 -p 5433 -d d2 -f "$TEST_DIR/d.sql" >/dev/null
	esql d2 "SELECT pgq.force_tick('dumped')" >/dev/null
	esql d2 "SELECT pgq.ticker('dumped')" >/dev/null
	b=$(esql d2 "SELECT pgq.next_batch('dumped', 'c')")
	run esql d2 "SELECT ev_data FROM pgq.get_batch_events($b)"
	[ "$output" = kept ]
}

@test "ALTER EXTENSION pgq UPDATE from an earlier version converts the first schema's types, keeping the queue" {
	# an earlier version: this body, installed as 0.0.9 and given the
	# first schema's types (xid8, pg_snapshot)
	"$TOP/sql/build-ext" pgq "$SKYTOOLS_SQLDIR/pgq.sql" 0.0.9 "$TEST_DIR/old"
	cp "$TEST_DIR/old/pgq--0.0.9.sql" "$EXTDIR/"
	"$TOP/sql/build-ext" pgq "$SKYTOOLS_SQLDIR/pgq.sql" "$VERSION" "$EXTDIR" 0.0.9 "$VERSION"
	[ ! -e "$EXTDIR/pgq--$VERSION--$VERSION.sql" ]
	grep -q '^\\echo Use "ALTER EXTENSION pgq UPDATE"' "$EXTDIR/pgq--0.0.9--$VERSION.sql"
	chmod -R a+rX "$EXTDIR"
	esql postgres "CREATE DATABASE u"
	esql u "CREATE EXTENSION pgq VERSION '0.0.9'"
	esql u "SELECT pgq.create_queue('uq')" >/dev/null
	esql u "SELECT pgq.register_consumer('uq', 'c')" >/dev/null
	esql u "SELECT pgq.insert_event('uq', 't', 'pending')" >/dev/null
	first_schema_types esql u
	esql u "ALTER EXTENSION pgq UPDATE"
	run esql u "SELECT extversion FROM pg_extension WHERE extname = 'pgq'"
	[ "$output" = "$VERSION" ]
	run esql u "SELECT string_agg(format_type(atttypid, NULL), ' ' ORDER BY attrelid::regclass::text, attname)
	            FROM pg_attribute WHERE attname IN ('tick_snapshot', 'queue_switch_step1', 'queue_switch_step2', 'ev_txid')
	              AND attrelid IN ('pgq.tick'::regclass, 'pgq.queue'::regclass, 'pgq.event_template'::regclass)"
	[ "$output" = "bigint bigint bigint txid_snapshot" ]
	esql u "SELECT pgq.force_tick('uq')" >/dev/null
	esql u "SELECT pgq.ticker('uq')" >/dev/null
	b=$(esql u "SELECT pgq.next_batch('uq', 'c')")
	run esql u "SELECT ev_data FROM pgq.get_batch_events($b)"
	[ "$output" = pending ]
}

@test "extensions: search_path pinned as in the plain install, no superuser through a temporary domain" {
	esql postgres "CREATE DATABASE sp"
	esql sp "CREATE EXTENSION pgq_coop CASCADE; CREATE EXTENSION pgq_node; CREATE EXTENSION londiste"
	esql sp "SELECT pgq.create_queue('q'); SELECT pgq.register_consumer('q', 'c')" >/dev/null
	run sp_unsafe_secdef -p 5433 -d sp
	[ "$status" -eq 0 ]
	[ -z "$output" ] || { echo "not pinned safely: $output" >&2; false; }
	run sp_unpinned -p 5433 -d sp
	[ "$status" -eq 0 ]
	[ -z "$output" ] || { echo "not pinned: $output" >&2; false; }
	esql sp "CREATE TABLE public.sp_trap (who text, what text);
		GRANT INSERT, SELECT ON public.sp_trap TO PUBLIC; CREATE ROLE mallory LOGIN"
	sp_temp_domain_trap mallory -p 5433 -d sp -- "${SP_PUBLIC_CALLS[@]}"
	[ "$(esql sp "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'")" = f ]
	run esql sp "SELECT who FROM public.sp_trap WHERE who <> 'mallory'"
	[ -z "$output" ] || { echo "ran as $output" >&2; false; }
	sp_temp_domain_trap mallory -p 5433 -d sp -- "SELECT 'x'::text"
	[ "$(esql sp "SELECT count(*) FROM public.sp_trap WHERE who = 'mallory'")" -gt 0 ]
}

@test "CREATE EXTENSION londiste: ours with londiste 3's API, its state dumped; refuses the original's schema" {
	esql postgres "CREATE DATABASE l3e"
	esql l3e "CREATE EXTENSION pgq; CREATE EXTENSION pgq_node; CREATE EXTENSION londiste"
	[ "$(esql l3e "SELECT londiste.skytools_c_version() IS NOT NULL, londiste.version()")" = "t|3.8" ]
	esql l3e "SELECT * FROM pgq_node.register_location('xq', 'n', 'dbname=l3e', false);
	          SELECT * FROM pgq_node.create_node('xq', 'root', 'n', 'w', NULL, NULL, NULL);
	          CREATE TABLE t (id int PRIMARY KEY)" >/dev/null
	[ "$(esql l3e "SELECT ret_code FROM londiste.local_add_table('xq', 't')")" = 200 ]
	# root_check_seqs (made only beside pgq_node) belongs to the extension too
	[ "$(esql l3e "SELECT count(*) FROM pg_depend d JOIN pg_extension x ON x.oid = d.refobjid
	            WHERE x.extname = 'londiste' AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
	              AND d.objid = 'londiste.root_check_seqs(text)'::regprocedure")" = 1 ]
	run pg_dump -p 5433 -d l3e --data-only -t londiste.table_info
	[ "$status" -eq 0 ]
	[[ "$output" == *"xq	public.t	t	ok"* ]]
	# a schema londiste of the original (plain install) is not taken over
	esql postgres "CREATE DATABASE l3o"
	esql l3o "CREATE EXTENSION pgq; CREATE SCHEMA londiste; CREATE TABLE londiste.table_info (queue_name text)"
	run esql l3o "CREATE EXTENSION londiste"
	[ "$status" -ne 0 ]
	[[ "$output" == *"holds another Londiste"* ]]
	[ "$(esql l3o "SELECT count(*) FROM pg_extension WHERE extname = 'londiste'")" = 0 ]
}
