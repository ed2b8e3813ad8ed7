#!/usr/bin/env bats
# londiste(1) [londiste3] switchover from an original londiste 3 root,
# whose worker it pauses first (the original's stops for good once its
# node is no root): killed before the promotion (SIGTERM, and Ctrl-C's
# SIGINT, to its process group), it resumes that worker, and the old
# root takes writes as before.  Every node is a database of this file's
# cluster; the original's are named o_*.

load helper
load 25x-cascade
load 27x-original

setup() {
	need_original
	need_node_mode
}

teardown() {
	[ -z "${holder_pid:-}" ] || { exec 8>&-; wait "$holder_pid" || :; }
	holder_pid=
	l3_teardown b1
}

# o_root_b1: the original's root o_root (its ticker and worker) with
# t1 in the set, and our branch b1 below it replicating t1.
o_root_b1() {
	local n
	for n in o_root b1; do
		new_db $n none &&
			sql $n "CREATE TABLE t1 (id int PRIMARY KEY, v text)" >/dev/null || return 1
	done
	l3_ini o_root
	l3 o_root create-root o_root "$(loc o_root)" &&
		pgqd_start o_root &&
		l3 o_root worker -d &&
		l3 o_root add-table public.t1 || return 1
	cascade_ini b1
	londiste "$(ini b1)" create-branch b1 --provider="$(loc o_root)" &&
		worker_start b1 &&
		wait_for londiste "$(ini b1)" add-table public.t1 &&
		wait_for is_ok b1 public.t1
}

# hold_queue_row: a session on o_root holds its pgq.queue row, which
# demote_root's step 1 updates (to stop inserts): a switchover stops
# there, after it paused the old root's worker and before it changed
# anything.  (Not pgq_node.node_info's row, which demote_root locks
# first: the original's root worker locks it too, in root_check_seqs,
# and would never see the pause.)
hold_queue_row() {
	rm -f "$BATS_TEST_TMPDIR/hold"
	mkfifo "$BATS_TEST_TMPDIR/hold"
	psql -XAtq -d o_root <"$BATS_TEST_TMPDIR/hold" >/dev/null 3>&- &
	holder_pid=$!
	exec 8>"$BATS_TEST_TMPDIR/hold"
	echo "BEGIN; SELECT 1 FROM pgq.queue WHERE queue_name = 'q' FOR NO KEY UPDATE;" >&8
	wait_for holding
}
holding() {
	[ "$(sql o_root "SELECT count(*) FROM pg_stat_activity
		WHERE datname = 'o_root' AND state = 'idle in transaction' AND query LIKE '%FOR NO KEY UPDATE%'")" = 1 ]
}
release_queue_row() {
	echo "COMMIT;" >&8
	exec 8>&-
	wait "$holder_pid"
	holder_pid=
}

# at_demote: the switchover's demote_root waits for the held row.
at_demote() {
	[ "$(sql o_root "SELECT count(*) FROM pg_stat_activity
		WHERE datname = 'o_root' AND wait_event_type = 'Lock' AND query LIKE '%demote_root%'")" = 1 ]
}

@test "londiste3 switchover killed (SIGTERM, SIGINT) after it paused an original londiste 3 root: the root's worker is resumed, writes go on" {
	o_root_b1
	n=0
	for sig in TERM INT; do
		hold_queue_row
		# its own process group, as a terminal's job is; SIGINT not
		# ignored, as it is for a background job of a script
		perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die' setsid \
			londiste "$(ini b1)" switchover >"$BATS_TEST_TMPDIR/sw.out" 2>&1 3>&- &
		sw_pid=$!
		wait_for at_demote || { cat "$BATS_TEST_TMPDIR/sw.out"; false; }
		grep -q "node o_root paused" "$BATS_TEST_TMPDIR/sw.out"
		kill -"$sig" -- -"$sw_pid"
		st=0
		wait "$sw_pid" || st=$?
		release_queue_row
		cat "$BATS_TEST_TMPDIR/sw.out"
		[ "$st" != 0 ]
		[ "$(sql o_root "SELECT paused FROM pgq_node.get_consumer_state('q', 'o_root_w')")" = f ]
		grep -q "ended before b1 was promoted: resuming the worker of o_root" "$BATS_TEST_TMPDIR/sw.out"
		[ "$(sql o_root "SELECT node_type FROM pgq_node.get_node_info('q')")" = root ]
		# the demotion's step 1, killed while it waited, did not
		# stop the inserts once it got the row
		[ "$(sql o_root "SELECT queue_disable_insert FROM pgq.queue WHERE queue_name = 'q'")" = f ]
		! grep -q "writes to o_root stay stopped" "$BATS_TEST_TMPDIR/sw.out" || false
		[ "$(sql b1 "SELECT node_type || ' ' || provider_node FROM pgq_node.get_node_info('q')")" = "branch o_root" ]
		kill -0 "$(cat "$BATS_TEST_TMPDIR/o_root.pid")"
		n=$((n + 1))
		sql o_root "INSERT INTO t1 VALUES ($n, '$sig')"
		wait_for rows_are b1 "$n $((n * (n + 1) / 2))"
	done
	# and, not killed, it switches
	run --separate-stderr londiste "$(ini b1)" switchover
	[ "$status" -eq 0 ] || { echo "switchover: $stderr" >&2; false; }
	[ "$(sql b1 "SELECT node_type FROM pgq_node.get_node_info('q')")" = root ]
	[ "$(sql o_root "SELECT paused FROM pgq_node.get_consumer_state('q', 'o_root_w')")" = f ]
}
