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

# l3 NODE ARGS...: the original londiste command on NODE's config,
# its polls' sleeps capped (t/original-py/usercustomize.py).
l3() {
	local n=$1
	shift
	# fd 3 closed: a daemon holding it would keep bats waiting
	PYTHONPATH="$BATS_TEST_DIRNAME/original-py${PYTHONPATH:+:$PYTHONPATH}" \
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

# A tree shared by the tests of a file that only add to it or restore
# what they change: built by the first test on it, kept while they
# pass, built again by the next one after a failure.  Its configs,
# pidfiles and logs are in one directory of the file, which becomes the
# test's $BATS_TEST_TMPDIR (so ini, cascade_ini, l3_ini and the rest
# find them); a test on another tree calls tree_stop first.
#
# on_tree BUILD...: this test runs on the file's shared tree; BUILD
# (a function that returns non-zero on any failed step: it runs in a
# condition, where errexit is off) builds it unless it is up.
on_tree() {
	local d=$BATS_FILE_TMPDIR/tree
	on_shared_tree=1
	if [ ! -f "$d/built" ]; then
		tree_stop
		mkdir "$d" || return 1
	fi
	BATS_TEST_TMPDIR=$d
	[ -f "$d/built" ] && return 0
	"$@" || { echo "on_tree: $1 failed" >&2; return 1; }
	touch "$d/built"
}

# tree_stop: the shared tree's workers, the original's processes and
# pgqd stopped, its directory removed (teardown_file, and a test that
# builds nodes of its own: they may reuse the tree's names).
tree_stop() {
	local d=$BATS_FILE_TMPDIR/tree f
	[ -d "$d" ] || return 0
	(
		BATS_TEST_TMPDIR=$d
		for f in "$d"/*.ini; do
			[ -f "$f" ] && [ "$(head -n 1 "$f")" = '[londiste3]' ] &&
				worker_stop "$(basename "$f" .ini)"
		done
		l3_stop
	)
	rm -rf "$d"
}

# tree_teardown: a teardown's for a test on the shared tree: nothing
# when it passed; else every log's tail and the tree stopped, so that
# the next test builds it afresh.
tree_teardown() {
	[ -n "${BATS_TEST_COMPLETED:-}" ] && return 0
	l3_teardown
	tree_stop
}
