# t/35x-walmgr.bash: set-up and helpers shared by the walmgr tests
# (t/35N-walmgr*.bats, t/770-chaos-wal.bats).

# walmgr_setup: a running server, and our WAL programs copied where it
# can read them: the server runs them as its own user.
walmgr_setup() {
	pg_start || return 1
	mkdir -p "$TEST_DIR/bin" &&
	cp "$SKYTOOLS_BUILD"/bin/wal-* "$TOP/sh/walmgr" "$TOP/sh/skytools-sh.lib" "$TEST_DIR/bin/" &&
	chmod 755 "$TEST_DIR/bin" "$TEST_DIR"/bin/*
}

# pg_owns PATH...: when the tests run as root, the copied programs and
# PATH... belong to the server's user, who reads and writes them.
pg_owns() {
	[ "$(id -u)" != 0 ] || chown -R postgres: "$TEST_DIR/bin" "$@"
}

# w INI VERB...: walmgr with $TEST_DIR/INI as the server's user, ours
# first in PATH.
w() {
	local ini=$1
	shift
	as_pg env PATH="$TEST_DIR/bin:$PATH" walmgr "$TEST_DIR/$ini" "$@"
}

# walmgr_pg VERB...: the same with walmgr.ini.
walmgr_pg() { w walmgr.ini "$@"; }

# q PORT SQL: the query's result on the server at PORT.
q() { psql -XAtq -p "$1" -d postgres -c "$2"; }

# q_is PORT SQL VALUE: the query on the server at PORT gives VALUE.
q_is() { [ "$(q "$1" "$2" 2>/dev/null)" = "$3" ]; }

# switch_and_wait [PORT]: close the current segment on the server at
# PORT (5432) and wait until it is archived.
switch_and_wait() {
	local port=${1:-5432} seg
	seg=$(q "$port" "SELECT pg_walfile_name(pg_switch_wal())")
	wait_for q_is "$port" \
		"SELECT coalesce(last_archived_wal >= '$seg', false) FROM pg_stat_archiver" t
}

# start_copy DIR PORT, stop_copy DIR: a copy of the cluster in DIR.
start_copy() {
	as_pg "$TEST_PGBIN/pg_ctl" -D "$1" -l "$1.log" -o "-p $2 -k $TEST_DIR" -w -t 60 start >/dev/null
}
stop_copy() {
	as_pg "$TEST_PGBIN/pg_ctl" -D "$1" -m fast -w -t 60 stop >/dev/null
}
