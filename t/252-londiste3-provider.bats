#!/usr/bin/env bats
# londiste(1) with a [londiste3] config: a leaf moved between providers,
# and a branch's worker killed mid-run; nothing lost or applied twice.
# Every node is a database of this file's cluster (t/260 spreads a
# cascade over clusters).  t/250 to t/254 are one family split in files
# that run at once: the helpers they share are in t/25x-cascade.bash.

load helper
load 25x-cascade

teardown() { cascade_workers_stop; }

@test "londiste3: change-provider moves a leaf to the root, and back; nothing lost or twice" {
	need_node_mode
	running_tree_t1
	sql r1 "INSERT INTO t1 SELECT g, 'a' FROM generate_series(1, 100) g"
	londiste "$(ini l1)" change-provider --provider=r1
	[ "$(sql l1 "SELECT provider_node FROM pgq_node.get_node_info('q')")" = r1 ]
	[ "$(sql b1 "SELECT count(*) FROM pgq_node.get_subscriber_info('q') WHERE node_name = 'l1'")" = 0 ]
	# back to b1, whose worker is stopped meanwhile: l1 is at a tick b1
	# does not have yet, which change-provider waits for
	worker_stop b1
	sql r1 "INSERT INTO t1 SELECT g, 'b' FROM generate_series(101, 200) g"
	b1_tick=$(node_tick b1)
	l1_past() { [ "$(node_tick l1)" -gt "$b1_tick" ]; }
	wait_for l1_past
	londiste "$(ini l1)" change-provider --provider=b1 >"$BATS_TEST_TMPDIR/cp.out" 2>&1 &
	cp_pid=$!
	wait_for grep -q "waiting for b1 to reach tick" "$BATS_TEST_TMPDIR/cp.out"
	worker_start b1
	wait "$cp_pid" || { cat "$BATS_TEST_TMPDIR/cp.out" >&2; false; }
	[ "$(sql l1 "SELECT provider_node FROM pgq_node.get_node_info('q')")" = b1 ]
	[ "$(sql l1 "SELECT paused FROM pgq_node.get_consumer_state('q', 'l1_w')")" = f ]
	sql r1 "INSERT INTO t1 SELECT g, 'c' FROM generate_series(201, 300) g"
	wait_for caught_up l1 r1
	wait_for all_equal t1 b1 l1
	[ "$(sql l1 "SELECT count(*) FROM t1")" = 300 ]
}

@test "londiste3: a worker killed mid-run (-k, SIGKILL of the branch's stages) loses and duplicates nothing" {
	need_node_mode
	running_tree_t1
	for n in b1 l1; do londiste "$(ini $n)" wait-sync; done
	for round in 1 2 3; do
		sql r1 "INSERT INTO t1 SELECT g, 'r$round' FROM generate_series($round * 1000, $round * 1000 + 499) g"
		londiste "$(ini b1)" -k
		sql r1 "INSERT INTO t1 SELECT g, 'r$round' FROM generate_series($round * 1000 + 500, $round * 1000 + 999) g"
		worker_start b1
	done
	sql r1 "INSERT INTO t1 VALUES (1, 'end')"
	for n in b1 l1; do
		wait_for caught_up $n r1
	done
	wait_for all_equal t1 b1 l1
	[ "$(sql l1 "SELECT count(*) FROM t1")" = 3001 ]
	# the branch's queue holds each event once
	pfx=$(sql b1 "SELECT queue_data_pfx FROM pgq.queue WHERE queue_name = 'q'")
	[ "$(sql b1 "SELECT count(*) - count(DISTINCT ev_id) FROM $pfx")" = 0 ]
}
