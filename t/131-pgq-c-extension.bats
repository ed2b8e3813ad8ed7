#!/usr/bin/env bats
# CREATE EXTENSION pgq picks the C fast path where the server can load
# pgq_c, and PL/pgSQL where it cannot.  As in t/112, a second server runs
# from a private copy of the installation (the system's share directory
# holds Debian's pgq extension); pgq_c.so is found through
# dynamic_library_path.

load helper
load 1xx-extension

setup_file() {
	find_module pgq_c || return 0
	pg_start
	EXT_MODULE=$MODULE_SO ext_server pgq
}

setup() { skip_file; }

lang_of() {
	esql "$1" "SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
	           WHERE p.oid = '$2'::regprocedure"
}

@test "CREATE EXTENSION pgq: C triggers and insert where pgq_c loads; they work and belong to it" {
	esql postgres "CREATE DATABASE ec"
	esql ec "CREATE EXTENSION pgq"
	[ "$(lang_of ec 'pgq.logutriga()')" = c ]
	[ "$(lang_of ec 'pgq.insert_event(text,text,text)')" = c ]
	[ "$(lang_of ec 'pgq.insert_event_raw(text,bigint,timestamptz,integer,integer,text,text,text,text,text,text)')" = c ]
	run esql ec "SELECT count(*) FROM pg_depend d JOIN pg_extension x ON x.oid = d.refobjid
	             WHERE x.extname = 'pgq' AND d.deptype = 'e'
	               AND d.objid = 'pgq.logutriga()'::regprocedure"
	[ "$output" = 1 ]
	esql ec "SELECT pgq.create_queue('xq')" >/dev/null
	esql ec "CREATE TABLE t (id int PRIMARY KEY, v text);
	         CREATE TRIGGER l AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('xq')"
	esql ec "INSERT INTO t VALUES (1, 'via C')"
	run esql ec "SELECT ev_type, ev_data, ev_extra1 FROM pgq.event_template"
	[ "$output" = "I:id|id=1&v=via+C|public.t" ]
}

@test "CREATE EXTENSION pgq: PL/pgSQL where the module cannot be loaded" {
	esql postgres "CREATE DATABASE ep"
	PGOPTIONS="-c dynamic_library_path=\$libdir" esql ep "CREATE EXTENSION pgq"
	[ "$(lang_of ep 'pgq.logutriga()')" = plpgsql ]
	[ "$(lang_of ep 'pgq.insert_event(text,text,text)')" = plpgsql ]
	esql ep "SELECT pgq.create_queue('xq')" >/dev/null
	run esql ep "SELECT pgq.insert_event('xq', 't', 'via PL/pgSQL') > 0"
	[ "$output" = t ]
}
