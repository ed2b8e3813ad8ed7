# t/1xx-extension.bash: shared by the PgQ tests of the extension form
# (t/106, t/112, t/131) and of upgrades (t/105, t/112).
#
#   ext_server NAME...   a second server, on port 5433 beside this file's
#                        cluster, whose installation holds our builds of
#                        the extensions NAME... (sql/build-ext) instead
#                        of the system's: the system share directory may
#                        hold Debian's pgq and pgq_node, and PostgreSQL
#                        finds its share directory relative to its own
#                        executable, so the server runs from a private
#                        copy of the installation.  With EXT_MODULE set
#                        to a built .so, that module is on the server's
#                        dynamic_library_path.  Sets EXTDIR (the
#                        extension directory) and VERSION.
#   esql DB SQL          psql -XAtq on that server, stops on error
#   first_schema_types RUN DB
#                        give the PgQ in DB the column types of our first
#                        version (xid8, pg_snapshot), which an upgrade
#                        converts; RUN is sql or esql

ext_server() {
	local share pkglib inst f n skip=
	share=$(pg_config --sharedir)
	pkglib=$(pg_config --pkglibdir)
	inst="$TEST_DIR/inst"
	mkdir -p "$inst$TEST_PGBIN" "$inst$share/extension" "$(dirname "$inst$pkglib")" || return 1
	cp "$TEST_PGBIN/postgres" "$inst$TEST_PGBIN/postgres" || return 1
	for f in "$share"/*; do
		[ "$(basename "$f")" = extension ] || ln -s "$f" "$inst$share/"
	done
	for f in "$share"/extension/*; do
		skip=
		for n in "$@"; do
			case $(basename "$f") in "$n.control"|"$n--"*) skip=1 ;; esac
		done
		[ -n "$skip" ] || ln -s "$f" "$inst$share/extension/"
	done
	[ -e "$inst$pkglib" ] || ln -s "$pkglib" "$inst$pkglib"
	EXTDIR="$inst$share/extension"
	VERSION=$(sed -n 's/^VERSION *= *//p' "$TOP/Makefile")
	export EXTDIR VERSION
	for n in "$@"; do
		"$TOP/sql/build-ext" "$n" "$SKYTOOLS_SQLDIR/$n.sql" "$VERSION" "$EXTDIR" || return 1
	done
	if [ -n "${EXT_MODULE:-}" ]; then
		mkdir -p "$TEST_DIR/lib" && cp "$EXT_MODULE" "$TEST_DIR/lib/" || return 1
		chmod -R a+rX "$TEST_DIR/lib"
	fi
	chmod -R a+rX "$inst"
	as_pg "$TEST_PGBIN/initdb" -D "$TEST_DIR/extdata" -U postgres -A trust -E UTF8 \
		--locale=C.UTF-8 --no-sync >"$TEST_DIR/extinit.log" 2>&1 || return 1
	cat >>"$TEST_DIR/extdata/postgresql.conf" <<-CONF
	listen_addresses = ''
	unix_socket_directories = '$TEST_DIR'
	port = 5433
	fsync = off
	CONF
	[ -z "${EXT_MODULE:-}" ] ||
		echo "dynamic_library_path = '$TEST_DIR/lib:\$libdir'" >>"$TEST_DIR/extdata/postgresql.conf"
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/extdata" -p "$inst$TEST_PGBIN/postgres" \
		-l "$TEST_DIR/extserver.log" -w -t 60 start >/dev/null
}

esql() {
	psql -XAtq -v ON_ERROR_STOP=1 -p 5433 -d "$1" -c "$2"
}

first_schema_types() {
	"$1" "$2" "ALTER TABLE pgq.tick ALTER tick_snapshot DROP DEFAULT,
	             ALTER tick_snapshot TYPE pg_snapshot USING tick_snapshot::text::pg_snapshot,
	             ALTER tick_snapshot SET DEFAULT pg_current_snapshot();
	           ALTER TABLE pgq.queue ALTER queue_switch_step1 DROP DEFAULT,
	             ALTER queue_switch_step1 TYPE xid8 USING queue_switch_step1::text::xid8,
	             ALTER queue_switch_step2 DROP DEFAULT,
	             ALTER queue_switch_step2 TYPE xid8 USING queue_switch_step2::text::xid8;
	           ALTER TABLE pgq.event_template ALTER ev_txid DROP DEFAULT,
	             ALTER ev_txid TYPE xid8 USING ev_txid::text::xid8,
	             ALTER ev_txid SET DEFAULT pg_current_xact_id()"
}
