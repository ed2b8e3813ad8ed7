#!/usr/bin/env bats
# A node copies a table from its provider only once the provider's own
# copy of it is whole: a leaf whose branch is still copying the table
# (or has not added it yet) waits and tries again, as londiste 3's copy
# does ("not in sync yet on provider"); before, it took the branch's
# rows as they were (none) and turned the table ok with rows missing,
# or stopped its worker for good.

load helper
load 25x-cascade

# The tests share one tree r1 -> b1 -> l1 with its workers (shared_tree),
# built by the first that needs it; each test replicates a table of its
# own (t1, t2), so none sees another's copies.  Its configs, pidfiles
# and logs are the file's.
nodes() { printf '%s/nodes' "$BATS_FILE_TMPDIR"; }
ini() { printf '%s/%s.ini' "$(nodes)" "$1"; }
worker_start() { londiste "$(ini "$1")" worker -d; }
worker_stop() { londiste "$(ini "$1")" -s 2>/dev/null || :; }

teardown() {
	eval "exec 7>&-" 2>/dev/null || :
	sessions_stop
}

teardown_file() { tree_teardown_file r1 b1 l1; }

logged_in() { grep -q "$2" "$(nodes)/$1.log"; }

# in_set NODE TABLE: the set's add-table of TABLE reached the node.
in_set() {
	[ "$(sql "$1" "SELECT count(*) FROM londiste.table_info WHERE table_name = 'public.$2'")" = 1 ]
}

# state_is NODE TABLE STATE: TABLE's copy state on the node.
state_is() {
	[ "$(sql "$1" "SELECT merge_state FROM londiste.get_table_list('q') WHERE table_name = 'public.$2'")" = "$3" ]
}

# copy_waits DB: a copy's session in DB waits for a lock.
copy_waits() {
	[ "$(sql "$1" "SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'londiste-copy' AND wait_event_type = 'Lock'")" -ge 1 ]
}

worker_alive() { kill -0 "$(cat "$(nodes)/$1.pid")"; }

# shared_tree: r1 -> b1 -> l1 with their workers, no table yet.  Built
# once; a half-built one (a failed attempt) is stopped and built again.
shared_tree() {
	local n
	[ -f "$(nodes)/tree-ok" ] && return 0
	mkdir -p "$(nodes)" || return 1
	for n in r1 b1 l1; do
		[ -f "$(ini "$n")" ] && worker_stop "$n"
	done
	(BATS_TEST_TMPDIR=$(nodes) && cascade_tree r1 b1 l1) || return 1
	for n in r1 b1 l1; do worker_start $n || return 1; done
	touch "$(nodes)/tree-ok"
}

# tree_with TABLE: the shared tree, TABLE (1000 rows) on the root and in
# the set, created by hand below.
tree_with() {
	local n
	shared_tree || return 1
	sql r1 "CREATE TABLE $1 (id int PRIMARY KEY, v text);
		INSERT INTO $1 SELECT g, 'r' FROM generate_series(1, 1000) g" >/dev/null || return 1
	for n in b1 l1; do sql $n "CREATE TABLE $1 (id int PRIMARY KEY, v text)" || return 1; done
	londiste "$(ini r1)" add-table "$1" >/dev/null || return 1
	wait_for in_set l1 "$1"
}

@test "cascade: a leaf's copy waits until its branch's copy of the table is done, then takes every row" {
	need_node_mode
	tree_with t1
	# the branch's copy waits for a lock on the root's table
	session 7 r1
	echo "BEGIN; LOCK TABLE t1 IN ACCESS EXCLUSIVE MODE; SELECT 'locked';" >&7
	wait_for said 7 locked
	londiste "$(ini b1)" add-table t1
	wait_for copy_waits r1
	londiste "$(ini l1)" add-table t1
	wait_for logged_in l1 "table public.t1 is not in sync on the provider yet (its state there: in-copy)"
	[ "$(sql l1 "SELECT count(*) FROM t1")" = 0 ]
	! state_is l1 t1 ok || false
	worker_alive l1
	echo "COMMIT;" >&7
	end_session 7
	wait_for state_is b1 t1 ok
	wait_for state_is l1 t1 ok
	[ "$(sql l1 "SELECT count(*) FROM t1")" = 1000 ]
	sql r1 "INSERT INTO t1 VALUES (1001, 'after')"
	wait_for all_equal t1 b1 l1
	run --separate-stderr londiste "$(ini l1)" compare
	[ "$status" -eq 0 ] || { echo "status $status: $output $stderr" >&2; false; }
	[[ "$output" == *"public.t1	"*"	equal"* ]]
}

@test "cascade: a leaf that adds a table before its branch does waits for the branch, its worker goes on" {
	need_node_mode
	tree_with t2
	londiste "$(ini l1)" add-table t2
	wait_for logged_in l1 "table public.t2 is in the set of queue q but the provider does not replicate it (yet): add-table there first"
	worker_alive l1
	! logged_in l1 "worker stopped" || false
	londiste "$(ini b1)" add-table t2
	wait_for state_is l1 t2 ok
	sql r1 "INSERT INTO t2 VALUES (1001, 'after')"
	wait_for all_equal t2 b1 l1
}
