#!/usr/bin/env bats
# londiste(1) with a [londiste3] config: Londiste 3 cascade nodes set up
# and administered through pgq_node, the root's worker, and the table
# verbs on the root.
# Every node is a database of this file's cluster (t/260 spreads a
# cascade over clusters).  t/250 to t/254 are one family split in files
# that run at once: the helpers they share are in t/25x-cascade.bash.

load helper
load 25x-cascade

teardown() { cascade_workers_stop; }

# plain_tree: r1 -> b1 -> l1 made (cascade_tree), no table, no worker.
# Made once and saved; each test starts from a fresh copy of the saved
# databases, as the nodes were before any worker ran.
plain_tree() { saved_tree plain "r1 b1 l1" cascade_tree r1 b1 l1; }

@test "londiste3: job_name defaults to the config file's name; %(config_name)s and %(config_dir)s as in Skytools 3" {
	new_db c9 none
	cascade_ini c9
	sed -i '/^job_name = /d' "$(ini c9)"
	run --separate-stderr londiste "$(ini c9)" create-root c9
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[ "$(sql c9 "SELECT worker_name FROM pgq_node.node_info")" = c9 ]
	new_db c10 none
	cascade_ini c10
	sed -i 's/^job_name = .*/job_name = %(config_name)s_x/; s|^logfile = .*|logfile = %(config_dir)s/%(job_name)s.log|' "$(ini c10)"
	run --separate-stderr londiste "$(ini c10)" create-root c10
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[ "$(sql c10 "SELECT worker_name FROM pgq_node.node_info")" = c10_x ]
	# consumer_name names the worker apart from the job
	new_db c11 none
	cascade_ini c11 consumer_name=c11_consumer
	run --separate-stderr londiste "$(ini c11)" create-root c11
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	[[ "$stderr" != *"unknown key consumer_name"* ]]
	[ "$(sql c11 "SELECT worker_name FROM pgq_node.node_info")" = c11_consumer ]
}

@test "londiste3: config mistakes exit 2 before anything is done" {
	new_db c1 none
	cascade_ini c1
	sed -i '/^db = /d' "$(ini c1)"
	run --separate-stderr londiste "$(ini c1)" create-root c1
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"[londiste3] db is not set"* ]]
	cascade_ini c1 ticker=sometimes
	run --separate-stderr londiste "$(ini c1)" members
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"ticker must be external or internal"* ]]
	cascade_ini c1 loop_delay=fast
	run --separate-stderr londiste "$(ini c1)" members
	[ "$status" -eq 2 ]
	cascade_ini c1 no_such_key=1
	run --separate-stderr londiste "$(ini c1)" members
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"unknown key no_such_key in [londiste3] (ignored)"* ]]
	[[ "$stderr" == *"no node of queue q"* ]]
	# the keys of every Skytools script's config pass without a word
	cascade_ini c1 exception_sleep=20 connection_lifetime=1200 skylog_locations=x log_count=3 use_skylog=0
	run --separate-stderr londiste "$(ini c1)" members
	[[ "$stderr" != *"unknown key"* ]]
	# nothing was installed
	[ "$(sql c1 "SELECT count(*) FROM pg_namespace WHERE nspname IN ('pgq', 'pgq_node', 'londiste')")" = 0 ]
	run --separate-stderr londiste "$(ini c1)" no-such-verb
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"unknown verb 'no-such-verb'"* ]]
	run --separate-stderr londiste "$(ini c1)" create-root
	[ "$status" -eq 2 ]
	sed -i '/^public_node_location/d' "$(ini c1)"
	run --separate-stderr londiste "$(ini c1)" create-root c1
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"public location is given neither"* ]]
	run --separate-stderr londiste "$(ini c1)" create-root c1 "$(loc c1)" --bogus
	[ "$status" -eq 2 ]
	[ "$(sql c1 "SELECT count(*) FROM pg_namespace WHERE nspname IN ('pgq', 'pgq_node', 'londiste')")" = 0 ]
}

@test "londiste3: a [londiste] section with db (and no provider_db) is a cascade node too" {
	new_db r1 none
	cascade_ini r1
	sed -i 's/^\[londiste3\]/[londiste]/' "$(ini r1)"
	londiste "$(ini r1)" create-root r1
	[ "$(sql r1 "SELECT node_type FROM pgq_node.get_node_info('q')")" = root ]
}

@test "londiste3: create-root installs pgq, pgq_node and londiste and makes the root; again is a no-op" {
	new_db r1 none
	cascade_ini r1
	run --separate-stderr londiste "$(ini r1)" create-root r1
	[ "$status" -eq 0 ]
	[ "$(sql r1 "SELECT node_type || ' ' || node_name || ' ' || worker_name FROM pgq_node.get_node_info('q')")" = "root r1 r1_w" ]
	[ "$(sql r1 "SELECT count(*) FROM pgq.get_queue_info() WHERE queue_name = 'q'")" = 1 ]
	[ "$(sql r1 "SELECT to_regclass('londiste.completed') IS NOT NULL")" = t ]
	run --separate-stderr londiste "$(ini r1)" create-root r1
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"already initialized as root"* ]]
	# node_name and public_node_location may come from the config
	new_db r2 none
	cascade_ini r2 node_name=rootnode
	londiste "$(ini r2)" create-root
	[ "$(sql r2 "SELECT node_name FROM pgq_node.get_node_info('q')")" = rootnode ]
}

@test "londiste3: a database with the original PgQ is refused with exit 4" {
	have_debian_pgq || skip "Debian's PgQ is not installed"
	new_db d1 debian
	cascade_ini d1
	run --separate-stderr londiste "$(ini d1)" create-root d1
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"holds the original pgq"* ]]
	[ "$(sql d1 "SELECT count(*) FROM pg_namespace WHERE nspname IN ('pgq_node', 'londiste')")" = 0 ]
}

@test "londiste3: a public location that reaches another database is refused" {
	new_db r1 none
	new_db other none
	cascade_ini r1 "public_node_location=$(loc other)"
	run --separate-stderr londiste "$(ini r1)" create-root r1
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"reaches another database"* ]]
	[ "$(sql r1 "SELECT count(*) FROM pgq_node.node_info")" = 0 ]
	londiste "$(ini r1)" create-root r1 --nocheck
}

@test "londiste3: the root's worker ticks (ticker = internal), publishes the global watermark, and acknowledges pause and resume" {
	plain_tree
	cascade_ini r1 global_wm_publish_period=1
	worker_start r1
	wait_for test -s "$BATS_TEST_TMPDIR/r1.pid"
	t0=$(root_top r1)
	ticked() { [ "$(root_top r1)" -gt "$t0" ]; }
	wait_for ticked
	has_wm() {
		[ "$(sql r1 "SELECT count(*) > 1 FROM $(sql r1 "SELECT queue_data_pfx FROM pgq.queue WHERE queue_name = 'q'") WHERE ev_type = 'pgq.global-watermark'")" = t ]
	}
	wait_for has_wm
	run --separate-stderr londiste "$(ini r1)" pause
	[ "$status" -eq 0 ]
	[ "$(sql r1 "SELECT worker_paused AND worker_uptodate FROM pgq_node.get_node_info('q')")" = t ]
	run --separate-stderr londiste "$(ini r1)" node-status
	[[ "$output" == *PAUSED* ]]
	londiste "$(ini r1)" resume
	[ "$(sql r1 "SELECT NOT worker_paused AND worker_uptodate FROM pgq_node.get_node_info('q')")" = t ]
	# a second daemon is refused while the first runs
	run --separate-stderr londiste "$(ini r1)" -d worker
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"already running"* ]]
	londiste -s "$(ini r1)"
	[ ! -f "$BATS_TEST_TMPDIR/r1.pid" ]
	grep -q 'worker stopped' "$BATS_TEST_TMPDIR/r1.log"
}

@test "londiste3: -r makes the worker read its config again and restart its helpers, same pid" {
	plain_tree
	# started with SIGHUP ignored, as under nohup: the daemon takes it back
	(trap '' HUP; worker_start r1)
	wait_for grep -q 'worker r1_w of node r1 started' "$BATS_TEST_TMPDIR/r1.log"
	pid=$(cat "$BATS_TEST_TMPDIR/r1.pid")
	# a mistake in the file: -r refuses it; a SIGHUP (systemd's
	# reload) reaches the worker, which says so and goes on with the
	# old settings
	sed -i '/^db = /d' "$(ini r1)"
	run --separate-stderr londiste -r "$(ini r1)"
	[ "$status" -eq 2 ]
	kill -HUP "$pid"
	wait_for grep -q "db is not set; keeping the old settings" "$BATS_TEST_TMPDIR/r1.log"
	kill -0 "$pid"
	# two edits, each followed by -r at once: the second edit is read
	# (a -r that came while the first reload ran was lost once)
	cascade_ini r1 global_wm_publish_period=3600
	londiste -r "$(ini r1)"
	cascade_ini r1 global_wm_publish_period=1
	londiste -r "$(ini r1)"
	wait_for grep -q "reloading" "$BATS_TEST_TMPDIR/r1.log"
	wm_events() {
		sql r1 "SELECT count(*) FROM $(sql r1 "SELECT queue_data_pfx FROM pgq.queue WHERE queue_name = 'q'") WHERE ev_type = 'pgq.global-watermark'"
	}
	n0=$(wm_events)
	more_wm() { [ "$(wm_events)" -gt "$((n0 + 1))" ]; }
	wait_for more_wm
	[ "$(cat "$BATS_TEST_TMPDIR/r1.pid")" = "$pid" ]
	kill -0 "$pid"
	# -r goes with the worker only
	run --separate-stderr londiste -r "$(ini r1)" members
	[ "$status" -eq 2 ]
}

# worker -d returns once the daemon wrote its pidfile, so -s or -r at
# once must find a worker that handles them (one that was still without
# its traps died of the signal: -r killed it, -s left its pidfile).
@test "londiste3: -s and -r the moment worker -d returned reach the worker" {
	plain_tree
	worker_start r1
	pid=$(cat "$BATS_TEST_TMPDIR/r1.pid")
	run --separate-stderr londiste "$(ini r1)" -s
	[ "$status" -eq 0 ] || { echo "$stderr"; cat "$BATS_TEST_TMPDIR/r1.log"; false; }
	[ ! -e "$BATS_TEST_TMPDIR/r1.pid" ]
	! alive "$pid" || false
	grep -q 'londiste: worker stopped$' "$BATS_TEST_TMPDIR/r1.log" || { cat "$BATS_TEST_TMPDIR/r1.log"; false; }
	worker_start r1
	pid=$(cat "$BATS_TEST_TMPDIR/r1.pid")
	londiste -r "$(ini r1)"
	reloaded_or_gone() { grep -q "reloading $(ini r1)" "$BATS_TEST_TMPDIR/r1.log" || ! alive "$pid"; }
	wait_for reloaded_or_gone
	alive "$pid" || { cat "$BATS_TEST_TMPDIR/r1.log"; false; }
	[ "$(cat "$BATS_TEST_TMPDIR/r1.pid")" = "$pid" ]
}

# A reload that took another db or queue_name moved the running worker
# to another node under the same pidfile: the first node's worker
# looked stopped, and a start of the other node's found this one.
@test "londiste3: -r refuses a change of db, queue_name or job_name: the worker keeps its node" {
	plain_tree
	worker_start r1
	wait_for grep -q 'worker r1_w of node r1 started' "$BATS_TEST_TMPDIR/r1.log"
	pid=$(cat "$BATS_TEST_TMPDIR/r1.pid")
	cp "$(ini r1)" "$BATS_TEST_TMPDIR/r1.ini.orig"
	for edit in "db = host=$TEST_DIR dbname=b1 password=sekrit|db" \
		"queue_name = q2|queue_name" "job_name = other_w|consumer (job_name, consumer_name)"; do
		cp "$BATS_TEST_TMPDIR/r1.ini.orig" "$(ini r1)"
		sed -i "s|^${edit%% =*} = .*|${edit%|*}|" "$(ini r1)"
		kill -HUP "$pid"
		wait_for grep -qF "${edit#*|} is not the running worker's; keeping the old settings" \
			"$BATS_TEST_TMPDIR/r1.log"
	done
	! grep -q sekrit "$BATS_TEST_TMPDIR/r1.log" || false
	[ "$(grep -c 'worker .* started' "$BATS_TEST_TMPDIR/r1.log")" = 1 ]
	# the same worker, still on r1: a reload of its own config works
	cp "$BATS_TEST_TMPDIR/r1.ini.orig" "$(ini r1)"
	kill -HUP "$pid"
	started_twice() { [ "$(grep -c 'worker r1_w of node r1 started' "$BATS_TEST_TMPDIR/r1.log")" = 2 ]; }
	wait_for started_twice
	[ "$(cat "$BATS_TEST_TMPDIR/r1.pid")" = "$pid" ]
	! grep -q 'node b1' "$BATS_TEST_TMPDIR/r1.log"
}

@test "londiste3: replay, Skytools 2's verb that the systemd unit runs, is the worker in the foreground" {
	plain_tree
	londiste "$(ini r1)" replay 2>"$BATS_TEST_TMPDIR/fg.err" 3>&- &
	pid=$!
	wait_for grep -q 'worker r1_w of node r1 started' "$BATS_TEST_TMPDIR/fg.err"
	[ "$(cat "$BATS_TEST_TMPDIR/r1.pid")" = "$pid" ]
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || { cat "$BATS_TEST_TMPDIR/fg.err"; false; }
	[ ! -e "$BATS_TEST_TMPDIR/r1.pid" ]
}

@test "londiste3: -k kills the worker; what it started goes too" {
	plain_tree
	export SKYTOOLS_TEST_MARK=k$BATS_TEST_NUMBER
	worker_start r1
	wait_for has_marked "$SKYTOOLS_TEST_MARK" pgq-tick
	londiste "$(ini r1)" worker -k
	gone() { ! has_marked "$SKYTOOLS_TEST_MARK" pgq-tick && ! has_marked "$SKYTOOLS_TEST_MARK" psql; }
	wait_for gone
	run --separate-stderr londiste "$(ini r1)" -s
	[ "$status" -eq 1 ]
	unset SKYTOOLS_TEST_MARK
}

@test "londiste3: verbs not done yet say so with exit 2" {
	plain_tree
	for v in rename-node; do
		run --separate-stderr londiste "$(ini b1)" $v
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"$v: not implemented"* ]]
	done
	# a leaf cannot become the root
	run --separate-stderr londiste "$(ini l1)" takeover r1 --dead-root
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"only a branch"* ]]
	[ "$(sql r1 "SELECT dead FROM pgq_node.get_queue_locations('q') WHERE node_name = 'r1'")" = f ]
}

@test "londiste3: table verbs on the root: add-table, tables, missing, add-seq, execute once" {
	plain_tree
	sql r1 "CREATE TABLE t1 (id int PRIMARY KEY, v text); CREATE TABLE t2 (id int PRIMARY KEY); CREATE SEQUENCE s1"
	run --separate-stderr londiste "$(ini r1)" missing
	[[ "$output" == *"public.t1"* ]]
	# one unknown table: nothing is added
	run --separate-stderr londiste "$(ini r1)" add-table t1 nosuch
	[ "$status" -eq 2 ]
	no_output londiste "$(ini r1)" tables
	run --separate-stderr londiste "$(ini r1)" add-table t1 --bogus
	[ "$status" -eq 2 ]
	londiste "$(ini r1)" add-table t1 t2
	[ "$(londiste "$(ini r1)" tables | tr '\t\n' ' ')" = "public.t1 ok public.t2 ok " ]
	londiste "$(ini r1)" add-seq s1
	[ "$(londiste "$(ini r1)" seqs | cut -f1)" = public.s1 ]
	londiste "$(ini r1)" remove-table t2
	[ "$(londiste "$(ini r1)" tables | cut -f1)" = public.t1 ]
	printf 'CREATE TABLE t3 (id int PRIMARY KEY);\n' >"$BATS_TEST_TMPDIR/t3.sql"
	londiste "$(ini r1)" execute "$BATS_TEST_TMPDIR/t3.sql"
	run --separate-stderr londiste "$(ini r1)" execute "$BATS_TEST_TMPDIR/t3.sql"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"skipped"* ]]
	[ "$(sql r1 "SELECT count(*) FROM pg_class WHERE relname = 't3'")" = 1 ]
	# a file that fails leaves nothing behind
	printf 'CREATE TABLE t4 (id int);\nSELECT 1/0;\n' >"$BATS_TEST_TMPDIR/t4.sql"
	run --separate-stderr londiste "$(ini r1)" execute "$BATS_TEST_TMPDIR/t4.sql"
	[ "$status" -ne 0 ]
	[ "$(sql r1 "SELECT count(*) FROM pg_class WHERE relname = 't4'")" = 0 ]
	[ "$(sql r1 "SELECT count(*) FROM londiste.applied_execute WHERE execute_file = 't4.sql'")" = 0 ]
	# only the root runs files
	run --separate-stderr londiste "$(ini b1)" execute "$BATS_TEST_TMPDIR/t3.sql"
	[ "$status" -eq 2 ]
	# the branch needs the table in the set of its provider
	run --separate-stderr londiste "$(ini b1)" add-table t9 --create
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"not in the set on the provider"* ]]
	# in the set, but no worker has brought it to the branch yet:
	# refused before --create makes the table (a retry then works)
	run --separate-stderr londiste "$(ini b1)" add-table t1 --create
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"does not know table public.t1 yet"* ]]
	[ "$(sql b1 "SELECT to_regclass('public.t1') IS NULL")" = t ]
}

@test "londiste3: the original londiste command reads our nodes (status, tables)" {
	need_node_mode
	command -v python3 >/dev/null && [ -x /usr/bin/londiste ] || skip "python3-londiste is not installed"
	plain_tree
	sql r1 "CREATE TABLE t1 (id int PRIMARY KEY, v text)"
	londiste "$(ini r1)" add-table t1
	# python3-londiste's form: [londiste] with db, which ours reads too
	sed 's/^\[londiste3\]/[londiste]/' "$(ini r1)" >"$BATS_TEST_TMPDIR/r1p.ini"
	[ "$(londiste "$BATS_TEST_TMPDIR/r1p.ini" tables)" = "public.t1	ok" ]
	run /usr/bin/londiste "$BATS_TEST_TMPDIR/r1p.ini" tables
	[ "$status" -eq 0 ]
	[[ "$output" == *public.t1* ]]
	run /usr/bin/londiste "$BATS_TEST_TMPDIR/r1p.ini" status
	[ "$status" -eq 0 ]
	[[ "$output" == *"r1 (root)"* ]]
	[[ "$output" == *"b1 (branch)"* ]]
	[[ "$output" == *"l1 (leaf)"* ]]
}
