# The original londiste 3 in our tests: Debian's python3-londiste, its
# pgq, pgq_node and londiste extensions and pgqd, beside our nodes.
# Loaded after helper and 25x-cascade (ini, loc).

# need_original: skip the test where the original is not installed.
need_original() {
	[ -x /usr/bin/londiste ] && /usr/bin/python3 -c 'import londiste' 2>/dev/null ||
		skip "Debian's python3-londiste is not installed"
	command -v pgqd >/dev/null || skip "pgqd is not installed"
	local share
	share=$(pg_config --sharedir)
	[ -f "$share/extension/pgq_node.control" ] && [ -f "$share/extension/londiste.control" ] &&
		have_debian_pgq || skip "Debian's pgq, pgq_node and londiste extensions are not installed"
}

# l3 NODE ARGS...: the original londiste command on NODE's config.
l3() {
	local n=$1
	shift
	# fd 3 closed: a daemon holding it would keep bats waiting
	timeout 120 /usr/bin/python3 /usr/bin/londiste "$(ini "$n")" "$@" 3>&-
}

# l3_ini NODE [DB]: a config of the original for a node in database DB
# (default NODE).
l3_ini() {
	cat >"$(ini "$1")" <<-INI
	[londiste]
	job_name = $1_w
	db = $(loc "${2:-$1}")
	queue_name = q
	logfile = $BATS_TEST_TMPDIR/$1.log
	pidfile = $BATS_TEST_TMPDIR/$1.pid
	loop_delay = 0.2
	INI
}

# pgqd_start DB...: the original's ticker on the databases.
pgqd_start() {
	local dbs
	dbs=$(printf '%s, ' "$@")
	cat >"$BATS_TEST_TMPDIR/pgqd.ini" <<-INI
	[pgqd]
	base_connstr = host=$TEST_DIR
	initial_database = $1
	database_list = ${dbs%, }
	syslog = 0
	logfile = $BATS_TEST_TMPDIR/pgqd.log
	pidfile = $BATS_TEST_TMPDIR/pgqd.pid
	ticker_period = 0.1
	maint_period = 30
	retry_period = 1
	INI
	pgqd -d "$BATS_TEST_TMPDIR/pgqd.ini" 3>&- && wait_for test -s "$BATS_TEST_TMPDIR/pgqd.pid"
}

# l3_stop: the original's workers, copy processes and pgqd, by their
# pidfiles (the original's nodes are named o_*).
l3_stop() {
	local f
	for f in "$BATS_TEST_TMPDIR"/o_*.pid "$BATS_TEST_TMPDIR"/pgqd.pid; do
		[ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	return 0
}

# l3_teardown NODE...: a teardown's: the workers of our nodes that have
# a config, the original's processes, and on failure every log's tail.
l3_teardown() {
	local n f
	for n; do
		[ -f "$BATS_TEST_TMPDIR/$n.ini" ] && worker_stop "$n"
	done
	l3_stop
	if [ -z "${BATS_TEST_COMPLETED:-}" ]; then
		for f in "$BATS_TEST_TMPDIR"/*.log; do
			[ -f "$f" ] && { echo "== $f"; tail -n 25 "$f"; }
		done
	fi
	return 0
}

# state DB TABLE: the table's merge_state on the node.
state() {
	sql "$1" "SELECT coalesce(merge_state, 'null') FROM londiste.get_table_list('q') WHERE table_name = '$2'"
}

is_ok() { [ "$(state "$1" "$2")" = ok ]; }

# same DB1 DB2 TABLE: the table holds the same rows in both.
same() {
	local q="SELECT coalesce(string_agg(md5(x::text), '' ORDER BY id), '') FROM $3 x"
	[ "$(sql "$1" "$q")" = "$(sql "$2" "$q")" ]
}
