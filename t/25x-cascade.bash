# t/25x-cascade.bash: helpers for the Londiste 3 cascade tests
# (t/25N-londiste3-*.bats, t/26N, t/270, t/271, t/746, t/785): [londiste3] configs and
# nodes.  A file may define a helper of the same name after loading
# this one: its own wins.

# cascade_ini NODE [KEY=VALUE...]: $BATS_TEST_TMPDIR/NODE.ini for a node
# in database NODE of this file's cluster, queue q, job NODE_w.
cascade_ini() {
	local node=$1 kv
	shift
	{
		printf '[londiste3]\n'
		printf 'job_name = %s_w\n' "$node"
		printf 'db = host=%s dbname=%s\n' "$TEST_DIR" "$node"
		printf 'queue_name = q\n'
		printf 'public_node_location = host=%s dbname=%s\n' "$TEST_DIR" "$node"
		printf 'pidfile = %s/%s.pid\n' "$BATS_TEST_TMPDIR" "$node"
		printf 'logfile = %s/%s.log\n' "$BATS_TEST_TMPDIR" "$node"
		printf 'loop_delay = 0.2\n'
		printf 'ticker = internal\n'
		printf 'ticker_period = 0.1\n'
		for kv in "$@"; do
			printf '%s = %s\n' "${kv%%=*}" "${kv#*=}"
		done
	} >"$BATS_TEST_TMPDIR/$node.ini"
}

loc() { printf 'host=%s dbname=%s' "$TEST_DIR" "$1"; }

# ini NODE: the node's config file.
ini() { printf '%s/%s.ini' "$BATS_TEST_TMPDIR" "$1"; }

# The pipeline of a branch or leaf needs londiste-apply's node mode.
need_node_mode() {
	londiste-apply --help | grep -q -- '--node' ||
		skip "londiste-apply has no --node (node mode) in this build"
}

# cascade_tree ROOT BRANCH LEAF...: fresh databases, nodes created.
cascade_tree() {
	local root=$1 branch=$2 n
	shift 2
	for n in "$root" "$branch" "$@"; do
		new_db "$n" none && cascade_ini "$n" || return 1
	done
	londiste "$BATS_TEST_TMPDIR/$root.ini" create-root "$root" || return 1
	londiste "$BATS_TEST_TMPDIR/$branch.ini" create-branch "$branch" \
		--provider="$(loc "$root")" || return 1
	for n; do
		londiste "$BATS_TEST_TMPDIR/$n.ini" create-leaf "$n" \
			--provider="$(loc "$branch")" || return 1
	done
}

# worker_start NODE: the node's worker as a daemon.
worker_start() {
	londiste "$BATS_TEST_TMPDIR/$1.ini" worker -d
}

worker_stop() {
	londiste "$BATS_TEST_TMPDIR/$1.ini" -s 2>/dev/null || :
}

# cascade_workers_stop: the workers of nodes r1, b1, l1 and l2 that have
# a config (a test's teardown).
cascade_workers_stop() {
	local n
	for n in r1 b1 l1 l2; do
		[ -f "$BATS_TEST_TMPDIR/$n.ini" ] && worker_stop "$n"
	done
	return 0
}

# node_tick DB: the last tick the node's worker applied.
node_tick() {
	sql "$1" "SELECT worker_last_tick FROM pgq_node.get_node_info('q')"
}

# root_top DB: the root's newest tick.
root_top() {
	sql "$1" "SELECT max(tick_id) FROM pgq.tick t JOIN pgq.queue q ON q.queue_id = t.tick_queue WHERE q.queue_name = 'q'"
}

# caught_up NODE ROOT: NODE has applied the root's newest tick.
caught_up() {
	local want have
	want=$(root_top "$2")
	have=$(node_tick "$1")
	[ -n "$have" ] && [ "$have" -ge "$want" ]
}

# second_cluster NAME PORT: another cluster in $TEST_DIR/NAME, its socket
# in $TEST_DIR with port PORT (teardown_file stops it with the first).
second_cluster() {
	extra_cluster "$1" "$2" "max_connections = 60"
}

# writer DB...: inserts ids 1, 2, ... into t1, each into the first of
# the DBs that takes it (the root), retrying while none does; stops when
# $BATS_TEST_TMPDIR/stop-writer exists and notes the last id written.
# A pause after each insert keeps it steady (about 20 a second) instead
# of taking what CPU there is: unpaced it took a third of a core at
# load, and more on a quiet machine, from the other test files.
writer() {
	local i=0 db
	while [ ! -f "$BATS_TEST_TMPDIR/stop-writer" ]; do
		i=$((i + 1))
		until for db; do
			psql -XAtq -v ON_ERROR_STOP=1 -d "$db" -c "INSERT INTO t1 VALUES ($i, 'w')" \
				>/dev/null 2>&1 && break
			false
		done; do
			sleep 0.05
		done
		echo "$i" >"$BATS_TEST_TMPDIR/writer-last.tmp" &&
			mv "$BATS_TEST_TMPDIR/writer-last.tmp" "$BATS_TEST_TMPDIR/writer-last"
		sleep 0.03
	done
}

# writer_bg CMD...: a writer (the one above, or a test's own, such as
# t/263's two_writer) in the background, fd 3 closed so that bats does
# not wait for it; writer_stop asks it to stop through stop-writer and
# waits for it.  writer_last: the last number it noted (0 before any);
# writer_past N: it noted more than N; writer_more N: wait until it
# wrote N more than now.
writer_bg() {
	rm -f "$BATS_TEST_TMPDIR/stop-writer" "$BATS_TEST_TMPDIR/writer-last"
	"$@" 3>&- &
	writer_pid=$!
}

writer_stop() {
	[ -n "${writer_pid:-}" ] || return 0
	touch "$BATS_TEST_TMPDIR/stop-writer"
	wait "$writer_pid" || :
	writer_pid=
}

writer_last() { cat "$BATS_TEST_TMPDIR/writer-last" 2>/dev/null || echo 0; }
writer_past() { [ "$(writer_last)" -gt "$1" ]; }
writer_more() {
	local before
	before=$(writer_last)
	wait_for writer_past $((before + $1))
}

# compare_equal NODE: our compare on the node exits 0 with t1 and t2
# equal.
compare_equal() {
	run --separate-stderr londiste "$(ini "$1")" compare
	[ "$status" -eq 0 ] || { echo "$1 compare: status $status: $output $stderr" >&2; return 1; }
	[[ "$output" == *"public.t1	"*"	equal"* ]] || { echo "$1: $output" >&2; return 1; }
	[[ "$output" == *"public.t2	"*"	equal"* ]] || { echo "$1: $output" >&2; return 1; }
}

# t2_repaired NODE N: our compare on the node finds t2 differing and t1
# equal (exit 1), and repair --apply mends N differences in t2.
t2_repaired() {
	run --separate-stderr londiste "$(ini "$1")" compare
	[ "$status" -eq 1 ] || { echo "$1 compare: status $status: $output $stderr" >&2; return 1; }
	[[ "$output" == *"public.t2	"*"	differ"* ]] || { echo "$1: $output" >&2; return 1; }
	[[ "$output" == *"public.t1	"*"	equal"* ]] || { echo "$1: $output" >&2; return 1; }
	run --separate-stderr londiste "$(ini "$1")" repair --apply
	[ "$status" -eq 1 ] || { echo "$1 repair: status $status: $output $stderr" >&2; return 1; }
	[[ "$stderr" == *"table public.t2: $2 differences, repaired"* ]] || { echo "$1 repair: $stderr" >&2; return 1; }
}

# branch_t2: r1 -> b1 with workers, t1 in sync on b1, t2 (2000 rows)
# in r1's set and created empty on b1, not yet added there.
branch_t2() {
	local n
	cascade_tree r1 b1 || return 1
	for n in r1 b1; do worker_start $n || return 1; done
	sql r1 "CREATE TABLE t1 (id int PRIMARY KEY, v text);
		CREATE TABLE t2 (id int PRIMARY KEY, v text);
		INSERT INTO t2 SELECT g, 'r' || g FROM generate_series(1, 2000) g" &&
	londiste "$(ini r1)" add-table t1 t2 &&
	wait_for londiste "$(ini b1)" add-table t1 --create &&
	sql b1 "CREATE TABLE t2 (id int PRIMARY KEY, v text)"
}

# tree_teardown_file NODE...: the teardown_file of a file whose tests
# share a tree: the workers of the nodes that have a config, then the
# clusters.
tree_teardown_file() {
	local n
	for n; do
		[ -f "$(ini "$n")" ] && worker_stop "$n"
	done
	pg_stop
}

# running_tree_t1: r1 -> b1 -> l1 with their workers, t1 in the set and
# added on every node.
running_tree_t1() {
	local n
	cascade_tree r1 b1 l1 || return 1
	for n in r1 b1 l1; do worker_start $n || return 1; done
	sql r1 "CREATE TABLE t1 (id int PRIMARY KEY, v text)" &&
		londiste "$(ini r1)" add-table t1 || return 1
	for n in b1 l1; do
		wait_for londiste "$(ini $n)" add-table t1 --create || return 1
	done
}

# all_equal TABLE NODE...: the same rows on every node as on r1.
all_equal() {
	local t=$1 n ref
	shift
	ref=$(dump_rows r1 "$t")
	for n; do
		[ "$(dump_rows "$n" "$t")" = "$ref" ] || return 1
	done
}
dump_rows() { psql -XAtq -d "$1" -c "COPY (SELECT * FROM $2 ORDER BY 1) TO STDOUT"; }

# rows_are NODE "COUNT SUM": t1's row count and sum of ids on NODE.
rows_are() { [ "$(sql "$1" "SELECT count(*) || ' ' || sum(id) FROM t1")" = "$2" ]; }

# has_error / no_error NODE: the node's worker reports an error, or none.
has_error() { [ -n "$(sql "$1" "SELECT cur_error FROM pgq_node.local_state WHERE cur_error IS NOT NULL")" ]; }
no_error() { [ "$(sql "$1" "SELECT count(*) FROM pgq_node.local_state WHERE cur_error IS NOT NULL")" = 0 ]; }

# Shared trees: a tree that several tests of a file use, built by the
# first of them that runs and kept running for the next ones, which only
# read it or leave it as they found it (a file orders its tests so that
# one that changes it for good runs last on it).  Its configs, pidfiles
# and logs live in $BATS_FILE_TMPDIR/shared-NAME and are linked into each
# test's $BATS_TEST_TMPDIR, so that ini, worker_stop and a log's tail work
# as for a test's own nodes.  A test that fails drops the tree
# (shared_tree_teardown), so that the next one builds it afresh instead
# of failing on what the failed one left.
#
# shared_tree NAME "NODE..." BUILD [ARG...]: the tree NAME with the given
# nodes, built with BUILD ARG... (run with $BATS_TEST_TMPDIR the tree's
# directory; it must chain its steps with && or || return 1, as it runs
# where set -e does not apply) unless it is up already.  Another shared
# tree that is up is dropped first.
shared_tree() {
	local name=$1 nodes=$2 dir n
	shift 2
	dir=$BATS_FILE_TMPDIR/shared-$name
	if [ ! -f "$dir/built" ]; then
		shared_tree_drop
		rm -rf "$dir" && mkdir -p "$dir" &&
			printf '%s\n%s\n' "$name" "$nodes" >"$BATS_FILE_TMPDIR/shared-up" || return 1
		BATS_TEST_TMPDIR=$dir "$@" || {
			echo "building the shared tree $name ($*) failed" >&2
			return 1
		}
		touch "$dir/built"
	fi
	for n in $nodes; do
		ln -sf "$dir/$n.ini" "$BATS_TEST_TMPDIR/$n.ini" &&
			ln -sf "$dir/$n.log" "$BATS_TEST_TMPDIR/$n.log" || return 1
	done
}

# shared_tree_drop: the workers of the shared tree that is up stopped;
# the next shared_tree builds afresh.  A test that makes databases of
# the same names calls it first.
shared_tree_drop() {
	local up=$BATS_FILE_TMPDIR/shared-up name nodes n
	[ -f "$up" ] || return 0
	{ read -r name; read -r nodes; } <"$up"
	for n in $nodes; do
		[ -f "$BATS_FILE_TMPDIR/shared-$name/$n.ini" ] &&
			londiste "$BATS_FILE_TMPDIR/shared-$name/$n.ini" -s 2>/dev/null
	done
	rm -f "$up" "$BATS_FILE_TMPDIR/shared-$name/built"
	return 0
}

# own_workers_stop NODE...: the workers of the nodes whose config is the
# test's own (not a shared tree's), for a teardown.
own_workers_stop() {
	local n
	for n; do
		[ -f "$BATS_TEST_TMPDIR/$n.ini" ] && [ ! -L "$BATS_TEST_TMPDIR/$n.ini" ] && worker_stop "$n"
	done
	return 0
}

# shared_tree_teardown NODE...: a teardown's: own_workers_stop NODE...,
# and the shared tree dropped when the test failed.
shared_tree_teardown() {
	own_workers_stop "$@"
	[ -n "${BATS_TEST_COMPLETED:-}" ] || shared_tree_drop
}

# Saved trees: a tree built once, its workers stopped and each node's
# database kept as a template, then restored for each test that starts
# from it: a copy of a few small databases instead of making the nodes,
# adding the tables and copying them again.  A node's whole state (pgq,
# pgq_node, londiste, ticks and positions) is in its database and comes
# back as it was saved; txids are the cluster's, so the saved snapshots
# stay in the past of the restored nodes as they were of the originals.
#
# saved_tree NAME "NODE..." BUILD [ARG...]: the nodes' databases as
# BUILD ARG... left them (built and saved the first time, restored from
# NAME_NODE afterwards), the test's configs written (cascade_ini) and no
# worker running.  BUILD must chain its steps with && or || return 1.
saved_tree() {
	local name=$1 nodes=$2 n
	shift 2
	if [ -f "$BATS_FILE_TMPDIR/saved-$name" ]; then
		for n in $nodes; do
			sql postgres "DROP DATABASE IF EXISTS \"$n\" WITH (FORCE)" >/dev/null &&
				sql postgres "CREATE DATABASE \"$n\" TEMPLATE \"${name}_$n\"" >/dev/null &&
				cascade_ini "$n" || return 1
		done
		return 0
	fi
	"$@" || { echo "building the tree $name ($*) failed" >&2; return 1; }
	for n in $nodes; do worker_stop "$n"; done
	# a stopped worker's backends may still be ending: the copy, which
	# needs the database to itself, is retried until they are gone
	for n in $nodes; do
		sql postgres "DROP DATABASE IF EXISTS \"${name}_$n\"" >/dev/null &&
			wait_for sql postgres "CREATE DATABASE \"${name}_$n\" TEMPLATE \"$n\"" >/dev/null || {
			echo "saving the tree $name: node $n failed" >&2
			return 1
		}
	done
	touch "$BATS_FILE_TMPDIR/saved-$name"
}
