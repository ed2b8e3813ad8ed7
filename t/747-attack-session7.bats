#!/usr/bin/env bats
# Attacks on session 7's changes.

load helper
load 25x-cascade

setup_file() {
	pg_start || return 1
	new_db a
}

# The change-provider tests share one tree r1 -> b1 -> l1 with t1
# (t1_tree), built by the first of them that runs: each adds a node
# without a worker (l2 below b1, b2 below r1), which holds no one back,
# writes ids of its own into t1, and leaves l1 reading from b1.
teardown() {
	shared_tree_teardown r1 b1 l1 l2 b2
	sessions_stop
}

teardown_file() {
	shared_tree_drop
	pg_stop
}

t1_tree() { shared_tree t1 "r1 b1 l1" running_tree_t1; }

# idx_tuples DB QUEUE: index entries read so far from QUEUE's event
# tables (flushed by each psql's exit).
idx_tuples() {
	sql "$1" "SELECT coalesce(sum(s.idx_tup_read), 0) FROM pg_stat_all_indexes s
	          JOIN pgq.queue q ON s.relname LIKE 'event\_' || q.queue_id || '\_%'
	         WHERE q.queue_name = '$2' AND s.schemaname = 'pgq'"
}

# running_producer Q LATER: session 7 inserts 20000 events into Q and
# stays open; with LATER, a transaction that began after it commits
# before the tick, so that the tick lists it as running (else its xid
# is the newest, at the tick's xmax, in no list).  Then: while it runs
# the ticker reads none of its rows, however often it is called; at its
# commit one tick comes after ticker_max_lag (not the idle tick), then
# none, and the consumer gets each event once.
running_producer() {
	local q=$1 before after n
	make_queue a "$q" c
	sql a "SELECT pgq.set_queue_config('$q', 'ticker_idle_period', '1 hour'),
	              pgq.set_queue_config('$q', 'ticker_max_lag', '1 millisecond')" >/dev/null
	session 7 a
	echo "BEGIN; SELECT count(pgq.insert_event('$q', 'x', g::text)) FROM generate_series(1, 20000) g;
	      SELECT 'inserted';" >&7
	wait_for said 7 inserted
	[ -z "$2" ] || sql a "CREATE TEMP TABLE later (); INSERT INTO later DEFAULT VALUES" >/dev/null
	# the insert moved the sequence: this tick does not see the events
	[ -n "$(sql a "SELECT pgq.ticker('$q')")" ]
	if [ -n "$2" ]; then
		[ "$(sql a "SELECT txid_snapshot_xmin(tick_snapshot) < txid_snapshot_xmax(tick_snapshot)
		            FROM pgq.tick ORDER BY tick_time DESC, tick_id DESC LIMIT 1")" = t ]
	fi
	before=$(idx_tuples a "$q")
	for n in 1 2 3; do
		[ -z "$(sql a "SELECT pgq.ticker('$q')")" ]
	done
	after=$(idx_tuples a "$q")
	echo "index entries read: $before -> $after"
	[ $((after - before)) -lt 20000 ]
	echo "COMMIT; SELECT 'committed';" >&7
	wait_for said 7 committed
	end_session 7
	[ -n "$(sql a "SELECT pgq.ticker('$q')")" ]
	[ -z "$(sql a "SELECT pgq.ticker('$q')")" ]
	[ -z "$(sql a "SELECT pgq.ticker('$q')")" ]
	n=$(sql a "SELECT count(*) FROM pgq.get_batch_events(pgq.next_batch('$q', 'c'))")
	[ "$n" = 0 ]
	sql a "SELECT pgq.finish_batch(b) FROM pgq.next_batch('$q', 'c') b" >/dev/null
	n=$(sql a "SELECT count(DISTINCT ev_id) || '/' || count(*) FROM pgq.get_batch_events(pgq.next_batch('$q', 'c'))")
	[ "$n" = 20000/20000 ]
}

@test "ticker: the events of a transaction with the newest xid at the last tick come after ticker_max_lag" {
	running_producer newest ""
}

@test "ticker: the rows of a transaction running at the last tick are not read on each ticker call" {
	running_producer listed later
}

# l1_knows NODE: NODE is in l1's map (which comes through the queue)
l1_knows() {
	[ "$(sql l1 "SELECT count(*) FROM pgq_node.get_queue_locations('q') WHERE node_name = '$1'")" = 1 ]
}

l1_reads_b1() {
	[ "$(sql l1 "SELECT provider_node FROM pgq_node.get_node_info('q')")" = b1 ]
	[ "$(sql l1 "SELECT paused FROM pgq_node.get_consumer_state('q', 'l1_w')")" = f ]
}

@test "change-provider: a leaf as the new provider is refused at once, the node goes on reading" {
	need_node_mode
	t1_tree
	new_db l2 none && cascade_ini l2
	londiste "$(ini l2)" create-leaf l2 --provider="$(loc b1)"
	wait_for l1_knows l2
	run --separate-stderr timeout 60 londiste "$(ini l1)" change-provider --provider=l2
	echo "$status: $stderr"
	[ "$status" = 2 ]
	l1_reads_b1
	sql r1 "INSERT INTO t1 VALUES (101, 'after')"
	wait_for caught_up l1 r1
	wait_for all_equal t1 b1 l1
}

@test "change-provider: ended while it waits for a new provider that does not move, the node goes on reading from the old one" {
	need_node_mode
	t1_tree
	new_db b2 none && cascade_ini b2
	londiste "$(ini b2)" create-branch b2 --provider="$(loc r1)"
	wait_for l1_knows b2
	# b2 has no worker: it never gets to l1's tick
	sql r1 "INSERT INTO t1 SELECT g, 'a' FROM generate_series(1, 10) g"
	wait_for caught_up l1 r1
	londiste "$(ini l1)" change-provider --provider=b2 >"$BATS_TEST_TMPDIR/cp.out" 2>&1 &
	cp_pid=$!
	wait_for grep -q "waiting for b2 to reach tick" "$BATS_TEST_TMPDIR/cp.out" || { cat "$BATS_TEST_TMPDIR/cp.out"; false; }
	grep "Ctrl-C" "$BATS_TEST_TMPDIR/cp.out"
	kill -TERM "$cp_pid"
	st=0
	wait "$cp_pid" || st=$?
	cat "$BATS_TEST_TMPDIR/cp.out"
	[ "$st" != 0 ]
	l1_reads_b1
	sql r1 "INSERT INTO t1 SELECT g, 'b' FROM generate_series(11, 20) g"
	wait_for caught_up l1 r1
	wait_for all_equal t1 b1 l1
}

@test "change-provider: an unknown node is refused (status 2) before the node is paused" {
	need_node_mode
	t1_tree
	run --separate-stderr timeout 60 londiste "$(ini l1)" change-provider --provider=nosuch
	echo "$status: $stderr"
	[ "$status" = 2 ]
	[ "$stderr" = "londiste: unknown node: nosuch" ]
	l1_reads_b1
}

@test "remove-table, resync: a table whose name ends in 'state set to NULL' or holds a newline is named as it is" {
	# a root of its own, in the shared tree's r1
	shared_tree_drop
	new_db r1 none && cascade_ini r1
	londiste "$(ini r1)" create-root r1
	sql r1 'CREATE TABLE "x state set to NULL" (id int PRIMARY KEY)'
	sql r1 "CREATE TABLE \"a
b\" (id int PRIMARY KEY)"
	londiste "$(ini r1)" add-table 'x state set to NULL' "a
b"
	run --separate-stderr londiste "$(ini r1)" remove-table 'x state set to NULL' "a
b"
	echo "$status: $stderr"
	[ "$status" = 0 ]
	[[ "$stderr" != *"copied again"* ]]
	[ "$(printf '%s\n' "$stderr" | grep -c '^londiste: Table removed: ')" = 2 ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" = 2 ]
}

@test "londiste-compare, londiste-repair: a lock timeout below a millisecond or nan is refused as such" {
	for tool in londiste-compare londiste-repair; do
		run --separate-stderr "$tool" -t 0.0004 -s x --consumer c
		[ "$status" = 2 ]
		[ "$stderr" = "$tool: lock timeout must be at least 0.001 seconds: 0.0004" ]
		run --separate-stderr "$tool" -t nan -s x --consumer c
		[ "$status" = 2 ]
		[ "$stderr" = "$tool: lock timeout is not a number of seconds: nan" ]
	done
}
