#!/usr/bin/env bats
# CREATE EXTENSION pgq picks the C fast path where the server can load
# pgq_c, and PL/pgSQL where it cannot.  As in t/112, a second server runs
# from a private copy of the installation (the system's share directory
# holds Debian's pgq extension); pgq_c.so is found through
# dynamic_library_path.

load helper

setup_file() {
	find_module pgq_c || return 0
	local so=$MODULE_SO
	pg_start
	local share pkglib inst f
	share=$(pg_config --sharedir)
	pkglib=$(pg_config --pkglibdir)
	inst="$TEST_DIR/inst"
	mkdir -p "$inst$TEST_PGBIN" "$inst$share/extension" "$(dirname "$inst$pkglib")" "$TEST_DIR/lib"
	cp "$TEST_PGBIN/postgres" "$inst$TEST_PGBIN/postgres"
	for f in "$share"/*; do
		[ "$(basename "$f")" = extension ] || ln -s "$f" "$inst$share/"
	done
	for f in "$share"/extension/*; do
		case $(basename "$f") in pgq.control|pgq--*|pgq_coop.control|pgq_coop--*) continue ;; esac
		ln -s "$f" "$inst$share/extension/"
	done
	[ -e "$inst$pkglib" ] || ln -s "$pkglib" "$inst$pkglib"
	VERSION=$(sed -n 's/^VERSION *= *//p' "$TOP/Makefile")
	"$TOP/sql/build-ext" pgq "$SKYTOOLS_SQLDIR/pgq.sql" "$VERSION" "$inst$share/extension"
	cp "$so" "$TEST_DIR/lib/"
	chmod -R a+rX "$inst" "$TEST_DIR/lib"
	as_pg "$TEST_PGBIN/initdb" -D "$TEST_DIR/extdata" -U postgres -A trust -E UTF8 \
		--locale=C.UTF-8 --no-sync >"$TEST_DIR/extinit.log" 2>&1
	cat >>"$TEST_DIR/extdata/postgresql.conf" <<-CONF
	listen_addresses = ''
	unix_socket_directories = '$TEST_DIR'
	port = 5433
	fsync = off
	dynamic_library_path = '$TEST_DIR/lib:\$libdir'
	CONF
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/extdata" -p "$inst$TEST_PGBIN/postgres" \
		-l "$TEST_DIR/extserver.log" -w -t 60 start >/dev/null
}

setup() { skip_file; }

esql() {
	psql -XAtq -v ON_ERROR_STOP=1 -p 5433 -d "$1" -c "$2"
}

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
