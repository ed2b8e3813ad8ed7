#!/usr/bin/env bats
# Attacks on session 8's changes.

load helper
load 25x-cascade

setup_file() {
	pg_start || return 1
	new_db q || return 1
	install_drain q
}

teardown() {
	sessions_stop
	[ ! -f "$BATS_TEST_TMPDIR/takeover.pid" ] || kill -TERM -- "-$(cat "$BATS_TEST_TMPDIR/takeover.pid")" 2>/dev/null || :
	if [ -f "$BATS_TEST_TMPDIR/r3.ini" ]; then
		[ ! -f "$BATS_TEST_TMPDIR/r3.ini.orig" ] || cp "$BATS_TEST_TMPDIR/r3.ini.orig" "$BATS_TEST_TMPDIR/r3.ini"
		worker_stop r3
	fi
}

# A REPEATABLE READ ticker whose snapshot predates a tick another
# session made cannot see that tick: it made its own with the older
# snapshot, after it, and the events between the two snapshots were in
# the batch before and again in the one after.
@test "ticker: a REPEATABLE READ caller that cannot see the last tick makes none" {
	sql q "SELECT pgq.create_queue('rr'); SELECT pgq.register_consumer('rr', 'c')" >/dev/null
	session 7 q
	echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 'began';" >&7
	wait_for said 7 began
	sql q "SELECT pgq.insert_event('rr', 't', 'e1')" >/dev/null
	tick q rr
	echo "SELECT pgq.force_tick('rr'); SELECT pgq.ticker('rr'); COMMIT; SELECT 'done';" >&7
	wait_for said 7 done
	end_session 7
	tick q rr
	run sql q "SELECT * FROM t.drain('rr', 'c')"
	[ "$output" = e1 ]
	grep -q "use READ COMMITTED" "$BATS_TEST_TMPDIR/session.7.out"
}

# The external ticker's form (a cascaded queue copying its provider's
# ticks) had the same gap: its checks read the last tick through the
# caller's snapshot.
@test "external ticker: a REPEATABLE READ caller that cannot see the last tick makes none" {
	sql q "SELECT pgq.create_queue('rx');
		UPDATE pgq.queue SET queue_external_ticker = true WHERE queue_name = 'rx';
		SELECT pgq.ticker('rx', 10, now(), 5)" >/dev/null
	session 8 q
	echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 'began';" >&8
	wait_for said 8 began
	sql q "SELECT pgq.ticker('rx', 11, now(), 6)" >/dev/null
	echo "SELECT pgq.ticker('rx', 12, now(), 7); COMMIT; SELECT 'done';" >&8
	wait_for said 8 done
	end_session 8
	grep -q "use READ COMMITTED" "$BATS_TEST_TMPDIR/session.8.out"
	[ "$(sql q "SELECT string_agg(tick_id::text, ' ' ORDER BY tick_id) FROM pgq.tick
		WHERE tick_queue = (SELECT queue_id FROM pgq.queue WHERE queue_name = 'rx')")" = "1 10 11" ]
	# read committed: the next tick goes on
	sql q "SELECT pgq.ticker('rx', 12, now(), 7)" >/dev/null
}

# The ticker looks at its queues without their locks: a queue dropped
# between that look and its late-commit query failed the whole round
# (every queue's tick) with "relation does not exist".
@test "ticker: the late-commit query of a queue dropped since the look finds nothing, and the round goes on" {
	run sql q "SELECT pgq._unticked_events('pgq.\"no such events\"', '1:1:')"
	[ "$status" -eq 0 ]
	[ "$output" = f ]
}

# Step 1 of a switchover stops the writes to the old root.  With our
# worker there (not paused) a switchover ended before the promotion
# (here SIGTERM to its process group while it waits for the new root's
# worker, which does not run) left them stopped and said nothing.
@test "takeover ended before the promotion: says that writes to the old root stay stopped" {
	local n pid st=0
	for n in r1 b1; do new_db $n none && cascade_ini $n; done
	londiste "$(ini r1)" create-root r1
	londiste "$(ini b1)" create-branch b1 --provider="$(loc r1)"
	: >"$BATS_TEST_TMPDIR/takeover.err"
	setsid londiste "$(ini b1)" takeover r1 2>"$BATS_TEST_TMPDIR/takeover.err" &
	pid=$!
	echo "$pid" >"$BATS_TEST_TMPDIR/takeover.pid"
	wait_for grep -q "waiting for node b1 to apply" "$BATS_TEST_TMPDIR/takeover.err"
	kill -TERM -- "-$pid"
	# (not "run wait": run's subshell cannot wait for this shell's
	# child, it returned at once and the grep below raced the trap)
	wait "$pid" || st=$?
	rm "$BATS_TEST_TMPDIR/takeover.pid"
	cat "$BATS_TEST_TMPDIR/takeover.err"
	[ "$st" = 143 ]
	[ "$(sql r1 "SELECT queue_disable_insert FROM pgq.queue WHERE queue_name = 'q'")" = t ]
	grep -q "writes to r1 stay stopped (its demotion began): run switchover again to finish it" \
		"$BATS_TEST_TMPDIR/takeover.err"
}

gone() { ! alive "$1"; }

# r3_reloaded: r3's worker kept its settings or started with new ones.
r3_reloaded() {
	grep -q "keeping the old settings" "$BATS_TEST_TMPDIR/r3.log" ||
		[ "$(grep -c "worker r3_w of node r3 started" "$BATS_TEST_TMPDIR/r3.log")" -ge 2 ]
}

# A SIGHUP (systemd's reload) with the pidfile edited moved the running
# worker to the new file: its config's -s said "not running", a second
# worker -d started on the node, and the old file stayed at its end.
@test "worker reload: a config with another pidfile keeps the old settings" {
	local pid
	new_db r3 none && cascade_ini r3
	londiste "$(ini r3)" create-root r3
	worker_start r3
	wait_for grep -q "worker r3_w of node r3 started" "$BATS_TEST_TMPDIR/r3.log"
	pid=$(cat "$BATS_TEST_TMPDIR/r3.pid")
	cp "$(ini r3)" "$BATS_TEST_TMPDIR/r3.ini.orig"
	sed -i "s|^pidfile = .*|pidfile = $BATS_TEST_TMPDIR/r3-moved.pid|" "$(ini r3)"
	kill -HUP "$pid"
	wait_for r3_reloaded
	cat "$BATS_TEST_TMPDIR/r3.log"
	grep -q "pidfile $BATS_TEST_TMPDIR/r3-moved.pid is not the running worker's" "$BATS_TEST_TMPDIR/r3.log"
	cp "$BATS_TEST_TMPDIR/r3.ini.orig" "$(ini r3)"
	londiste "$(ini r3)" -s
	[ ! -e "$BATS_TEST_TMPDIR/r3.pid" ]
	wait_for gone "$pid"
}
