#!/usr/bin/env bats
# Migrating from londiste 3, from the operator's side: the original's
# configs and command lines carried over as they are, the original
# londiste 3 (Debian's python3-londiste, its pgq, pgq_node and londiste
# extensions, pgqd) and ours on the same tree, each command run against
# the other's nodes.  Every node is a database of this file's cluster.

load helper
load 25x-cascade
load 27x-original

setup() {
	need_original
}

# Our leaf's config is the original's ([londiste], no [londiste3]):
# tree_stop, which knows our nodes by [londiste3], would leave its
# worker running.
teardown() {
	[ -n "${BATS_TEST_COMPLETED:-}" ] && return 0
	l3_teardown l1
	tree_stop
}

teardown_file() {
	if [ -f "$BATS_FILE_TMPDIR/tree/l1.ini" ]; then
		BATS_TEST_TMPDIR=$BATS_FILE_TMPDIR/tree worker_stop l1
	fi
	tree_stop
	pg_stop
}

# mig_tree: the original's root o_root (pgqd, its worker) with t1, the
# original's leaf o_leaf below it, and our leaf l1 below it too, run
# from a config in the original's format, unchanged but for its job
# and database; t1 in sync on both leaves.
mig_tree() {
	local n
	for n in o_root o_leaf l1; do
		new_db "$n" none &&
		sql "$n" "CREATE TABLE t1 (id int PRIMARY KEY, v text)" >/dev/null || return 1
	done
	sql o_root "INSERT INTO t1 SELECT g, 'before ' || g FROM generate_series(1, 50) g" >/dev/null
	l3_ini o_root
	run --separate-stderr l3 o_root create-root o_root "$(loc o_root)"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; return 1; }
	sql o_root "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '1 second')" >/dev/null &&
	pgqd_start o_root &&
	l3 o_root worker -d || return 1
	run --separate-stderr l3 o_root add-table public.t1
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; return 1; }

	l3_ini o_leaf
	run --separate-stderr l3 o_leaf create-leaf o_leaf "$(loc o_leaf)" --provider="$(loc o_root)"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; return 1; }
	l3 o_leaf worker -d || return 1
	run --separate-stderr l3 o_leaf add-table public.t1
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; return 1; }

	l3_ini l1
	run --separate-stderr londiste "$(ini l1)" create-leaf l1 "$(loc l1)" --provider="$(loc o_root)"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; return 1; }
	worker_start l1 || return 1
	run --separate-stderr londiste "$(ini l1)" add-table public.t1
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; return 1; }
	wait_for is_ok o_leaf public.t1 &&
	wait_for is_ok l1 public.t1
}

@test "migration ops: our verbs that only read answer on the original's nodes; the others still refuse them (4)" {
	on_tree mig_tree
	local v
	run --separate-stderr londiste "$(ini o_leaf)" status
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == *"Local node: o_leaf"* ]]
	[[ "$output" == *"o_root (root)"* ]]
	[[ "$output" == *"o_leaf (leaf)"* ]]
	[[ "$output" == *"l1 (leaf)"* ]]
	run --separate-stderr londiste "$(ini o_leaf)" members
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[ "$(printf '%s\n' "$output" | cut -f1 | tr '\n' ' ')" = "l1 o_leaf o_root " ]
	run --separate-stderr londiste "$(ini o_leaf)" node-status
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == "o_leaf (leaf)"* ]]
	[[ "$output" == *"Provider: o_root"* ]]
	run --separate-stderr londiste "$(ini o_root)" tables
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[ "$output" = "public.t1	ok" ]
	run --separate-stderr londiste "$(ini o_leaf)" tables
	[ "$output" = "public.t1	ok" ]
	for v in seqs missing fkeys; do
		run --separate-stderr londiste "$(ini o_leaf)" "$v"
		[ "$status" -eq 0 ] || { echo "$v: $stderr" >&2; false; }
		[ -z "$output" ]
	done
	# the same config names the same pidfile: ours does not start beside
	# the original's worker
	run --separate-stderr londiste "$(ini o_leaf)" worker -d
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"already running (pid $(cat "$BATS_TEST_TMPDIR/o_leaf.pid"))"* ]]
	# what would write there, or needs our SQL there, is refused before it starts
	for v in install "add-table public.t1" "resync public.t1" compare check; do
		# shellcheck disable=SC2086 # the verb and its argument
		run --separate-stderr londiste "$(ini o_leaf)" $v
		[ "$status" -eq 4 ] || { echo "$v: $status $stderr" >&2; false; }
		[[ "$stderr" == *"holds the original pgq"* ]]
	done
}

@test "migration ops: the original's members, node-status, seqs, missing and tables --names-only on our leaf's config; ours has --names-only too" {
	on_tree mig_tree
	run --separate-stderr l3 l1 members
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == *"l1 "*"o_leaf "*"o_root "* ]]
	run --separate-stderr l3 l1 node-status
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == "l1 (leaf)"* ]]
	[[ "$output" == *"Provider: o_root"* ]]
	run --separate-stderr l3 l1 tables --names-only
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[ "$output" = public.t1 ]
	# ours gives the same list for scripts
	run --separate-stderr londiste "$(ini l1)" tables --names-only
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[ "$output" = public.t1 ]
	run --separate-stderr l3 l1 seqs
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	run --separate-stderr l3 l1 missing
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
}

@test "migration ops: -s right after -r stops our worker (a stop during the reload was lost)" {
	on_tree mig_tree
	londiste "$(ini l1)" -r
	run --separate-stderr londiste "$(ini l1)" -s
	[ "$status" -eq 0 ] || { echo "$status $stderr" >&2; false; }
	[ ! -e "$BATS_TEST_TMPDIR/l1.pid" ]
	# back as it was for the next test, and replaying
	worker_start l1
	sql o_root "INSERT INTO t1 VALUES (1001, 'after the reload')" >/dev/null
	wait_for same o_root l1 t1
}

@test "migration ops: add-table and remove-table take the original's patterns, add-table --wait-sync" {
	on_tree mig_tree
	local n
	for n in o_root l1; do
		sql "$n" "CREATE TABLE t2 (id int PRIMARY KEY); CREATE TABLE t3 (id int PRIMARY KEY);
			CREATE TABLE u1 (id int PRIMARY KEY)" >/dev/null
	done
	sql o_root "INSERT INTO t3 SELECT generate_series(1, 20)" >/dev/null
	# the original's globbing on its root: t2 and t3, not u1
	run --separate-stderr l3 o_root add-table 't?'
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	londiste "$(ini l1)" wait-root
	# ours on its leaf: the set's tables the pattern matches (t1 is
	# there already), added, and in sync when it returns
	run --separate-stderr londiste "$(ini l1)" add-table 'public.t*' --wait-sync
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$stderr" == *"Table added: public.t2"* ]]
	[[ "$stderr" == *"Table added: public.t3"* ]]
	[[ "$stderr" != *public.t1* ]]
	run --separate-stderr londiste "$(ini l1)" tables
	[ "$output" = "public.t1	ok
public.t2	ok
public.t3	ok" ]
	same o_root l1 t3
	# a pattern that matches nothing adds nothing
	run --separate-stderr londiste "$(ini l1)" add-table 'u*'
	[ "$status" -eq 0 ]
	[ "$(sql l1 "SELECT count(*) FROM londiste.get_table_list('q') WHERE local")" = 3 ]
	# remove-table's over the tables replicated here (public when
	# no schema is named)
	run --separate-stderr londiste "$(ini l1)" remove-table '*3'
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[ "$stderr" = "londiste: Table removed: public.t3" ]
	run --separate-stderr londiste "$(ini l1)" tables --names-only
	[ "$output" = "public.t1
public.t2" ]
}

@test "migration ops: the original's documented keys: script keys pass quietly, those that change replication are named as not supported" {
	on_tree mig_tree
	local f=$BATS_TEST_TMPDIR/keys.ini
	cat "$(ini l1)" - >"$f" <<-'INI'
	parallel_copies = 2
	pgq_lazy_fetch = 300
	exception_sleep = 5
	exception_grace = 60
	exception_reset = 120
	exception_quiet = psycopg2.OperationalError
	sql_retry = 1
	sql_retry_max_count = 3
	logfmt_file = %%(asctime)s %%(message)s
	logdatefmt_console = %%H:%%M
	threaded_copy_tables = public.*
	threaded_copy_pool_size = 2
	remote_extra_connstr = sslmode=disable
	register_only_tables = public.t1
	local_only_drop_execute = 1
	INI
	# the original takes this file as it is
	run --separate-stderr l3 keys members
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	run --separate-stderr londiste "$f" members
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$stderr" != *"unknown key"* ]]
	[[ "$stderr" == *"register_only_tables is not supported"* ]]
	[[ "$stderr" == *"local_only_drop_execute is not supported"* ]]
	[ "${#stderr_lines[@]}" -eq 2 ]
}

@test "migration ops: an original leaf becomes ours in its own database with its config unchanged, and goes back" {
	on_tree mig_tree
	local f
	f=$(ini o_leaf)
	cp "$f" "$BATS_TEST_TMPDIR/o_leaf.ini.orig"
	# the original's worker stopped and its node dropped, then its
	# schemas: ours refuses to install over them
	l3 o_leaf -s
	wait_for test ! -e "$BATS_TEST_TMPDIR/o_leaf.pid"
	run --separate-stderr l3 o_leaf drop-node o_leaf
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	sql o_root "INSERT INTO t1 VALUES (2001, 'while no worker ran')" >/dev/null
	sql o_leaf "DROP EXTENSION londiste CASCADE; DROP EXTENSION pgq_node CASCADE;
		DROP EXTENSION pgq CASCADE" >/dev/null
	# ours with the same file
	run --separate-stderr londiste "$f" create-leaf o_leaf "$(loc o_leaf)" --provider="$(loc o_root)"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	londiste "$f" worker -d
	run --separate-stderr londiste "$f" add-table public.t1 --wait-sync
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	sql o_root "INSERT INTO t1 VALUES (2002, 'replayed by ours')" >/dev/null
	wait_for same o_root o_leaf t1
	run --separate-stderr l3 o_leaf status
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == *"o_leaf (leaf)"* ]]
	# and back to the original, the file still unchanged
	londiste "$f" -s
	run --separate-stderr londiste "$f" drop-node o_leaf
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	sql o_leaf "DROP SCHEMA londiste CASCADE; DROP SCHEMA pgq_node CASCADE; DROP SCHEMA pgq CASCADE" >/dev/null
	run --separate-stderr l3 o_leaf create-leaf o_leaf "$(loc o_leaf)" --provider="$(loc o_root)"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	l3 o_leaf worker -d
	run --separate-stderr l3 o_leaf add-table public.t1
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	sql o_root "INSERT INTO t1 VALUES (2003, 'replayed by the original again')" >/dev/null
	wait_for is_ok o_leaf public.t1
	wait_for same o_root o_leaf t1
	cmp "$f" "$BATS_TEST_TMPDIR/o_leaf.ini.orig"
}

@test "migration ops: --ini prints a node's config that ours and the original both take" {
	on_tree mig_tree
	local f=$BATS_TEST_TMPDIR/sample.ini
	run --separate-stderr londiste --ini
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = '[londiste]' ]
	londiste --ini | sed -e "s|^db = .*|db = $(loc l1)|" -e 's/^queue_name = .*/queue_name = q/' \
		-e "s|~/log|$BATS_TEST_TMPDIR|; s|~/pid|$BATS_TEST_TMPDIR|" >"$f"
	run --separate-stderr londiste "$f" members
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[ -z "$stderr" ]
	[[ "$output" == *o_root* ]]
	run --separate-stderr l3 sample members
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == *o_root* ]]
}

@test "migration ops: the original's -s (SIGINT) stops our worker, and -r (SIGHUP) reloads it" {
	on_tree mig_tree
	local pid
	pid=$(cat "$BATS_TEST_TMPDIR/l1.pid")
	run --separate-stderr l3 l1 -r
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	wait_for grep -q "reloading $(ini l1)" "$BATS_TEST_TMPDIR/l1.log"
	run --separate-stderr l3 l1 -s
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	# (the worker removes its pidfile just before it ends)
	wait_for not_alive "$pid"
	[ ! -e "$BATS_TEST_TMPDIR/l1.pid" ]
	worker_start l1
	sql o_root "INSERT INTO t1 VALUES (3001, 'after the original stopped ours')" >/dev/null
	wait_for same o_root l1 t1
}

started_twice() {
	[ "$(grep -c "worker l1_w of node l1 started" "$BATS_TEST_TMPDIR/l1-set.log")" -eq 2 ]
}

@test "migration ops: --set KEY=VALUE over the config's value, as Skytools' --set; the last wins; a daemon keeps it" {
	on_tree mig_tree
	run --separate-stderr londiste "$(ini l1)" --set queue_name=nosuch members
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no node of queue nosuch"* ]]
	run --separate-stderr londiste --set=queue_name=nosuch "$(ini l1)" --set QUEUE_NAME=q members
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$output" == *o_root* ]]
	run --separate-stderr londiste "$(ini l1)" --set loop_delay=fast members
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"not a number: fast"* ]]
	run --separate-stderr londiste "$(ini l1)" members --set
	[ "$status" -eq 2 ]
	run --separate-stderr londiste "$(ini l1)" --set novalue members
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--set takes KEY=VALUE"* ]]
	# a daemon keeps it, also when it reloads the file: this one's
	# loop_delay would stop it
	local f=$BATS_TEST_TMPDIR/l1b.ini
	sed 's/^loop_delay = .*/loop_delay = fast/' "$(ini l1)" >"$f"
	londiste "$(ini l1)" -s
	londiste "$f" --set loop_delay=0.2 --set "logfile=$BATS_TEST_TMPDIR/l1-set.log" worker -d
	wait_for grep -q "worker l1_w of node l1 started" "$BATS_TEST_TMPDIR/l1-set.log"
	londiste "$f" --set loop_delay=0.2 -r
	wait_for started_twice
	run --separate-stderr londiste "$f" --set loop_delay=0.2 -s
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	worker_start l1
}
