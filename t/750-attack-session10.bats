#!/usr/bin/env bats
# Attacks on session 10's targets.

load helper
load 25x-cascade

setup_file() {
	pg_start
}

none_marked() { ! has_marked "$1"; }

teardown() {
	sessions_stop
	cascade_workers_stop
	# what a failed test left running (by pid, of this file's marks)
	for p in $(marked_pids hup-stop) $(marked_pids many-starts) $(marked_pids many-reloads); do
		kill "$p" 2>/dev/null || :
	done
}

# A row trigger that skips the table's own writes is named zzz_ and the
# queue's trigger name.  For a queue of 50 to 52 bytes that is over 63
# bytes, and the server cuts it: check looked for the whole name,
# found nothing, and said the trigger was missing.
@test "check: the skipping row trigger of a queue whose trigger name the server cuts is found" {
	q=$(printf 'm%.0s' $(seq 52))
	new_db r1 none
	cascade_ini r1
	sed -i "s/^queue_name = q\$/queue_name = $q/" "$(ini r1)"
	londiste "$(ini r1)" create-root r1
	sql r1 "CREATE TABLE t1 (id int PRIMARY KEY, v text)"
	londiste "$(ini r1)" add-table t1 --trigger-flags=S
	[ "$(sql r1 "SELECT count(*) FROM pg_trigger WHERE tgrelid = 't1'::regclass AND tgname LIKE 'zzz\\_%'")" = 1 ]
	run --separate-stderr londiste "$(ini r1)" check
	[ "$status" -eq 0 ] || { echo "$output $stderr" >&2; false; }
	# gone, it is made again under the name it had
	sql r1 "DO \$\$ BEGIN EXECUTE format('DROP TRIGGER %I ON t1', (SELECT tgname FROM pg_trigger
		WHERE tgrelid = 't1'::regclass AND tgname LIKE 'zzz\\_%')); END \$\$"
	run --separate-stderr londiste "$(ini r1)" check
	[ "$status" -eq 1 ]
	londiste "$(ini r1)" add-table t1 --trigger-flags=S
	[ "$(sql r1 "SELECT count(*) FROM pg_trigger WHERE tgrelid = 't1'::regclass AND tgname LIKE 'zzz\\_%'")" = 1 ]
	run --separate-stderr londiste "$(ini r1)" check
	[ "$status" -eq 0 ] || { echo "$output $stderr" >&2; false; }
}

# A hangup that comes while the worker ends ran the reload trap after
# the run directory was gone: the redirection to the restart mark
# failed, and the shell left its cleanup there, pidfile and all.
@test "worker: hangups that keep coming while it stops leave no pidfile and no process" {
	new_db r1 none
	cascade_ini r1
	londiste "$(ini r1)" create-root r1
	SKYTOOLS_TEST_MARK=hup-stop worker_start r1
	pid=$(cat "$BATS_TEST_TMPDIR/r1.pid")
	kill -INT "$pid"
	while kill -HUP "$pid" 2>/dev/null; do :; done
	wait_for none_marked hup-stop
	[ ! -e "$BATS_TEST_TMPDIR/r1.pid" ]
	[ "$(grep -c "cannot create" "$BATS_TEST_TMPDIR/r1.log")" = 0 ]
}

# Each start checked the pidfile, then started: starts that came
# together all found none, and each ran a worker of its own, only the
# last of them in the pidfile (the others could not be stopped).
@test "worker: starts that come together run one worker" {
	new_db r1 none
	cascade_ini r1
	londiste "$(ini r1)" create-root r1
	for i in 1 2 3 4; do
		SKYTOOLS_TEST_MARK=many-starts worker_start r1 3>&- &
		eval "p$i=\$!"
	done
	# (each says started, already running, or that its daemon ended)
	for i in 1 2 3 4; do eval "wait \$p$i" || :; done
	wait_for test -s "$BATS_TEST_TMPDIR/r1.pid"
	worker_stop r1
	wait_for none_marked many-starts
	[ ! -e "$BATS_TEST_TMPDIR/r1.pid" ]
}

# The same for pgqadm's ticker: reloads that came together each
# stopped the one ticker, then each started one.
@test "pgqadm: reloads that come together leave one ticker, which -s stops" {
	new_db tk
	cat >"$BATS_TEST_TMPDIR/tk.ini" <<-INI
	[pgqadm]
	job_name = tk
	db = host=$TEST_DIR dbname=tk
	pidfile = $BATS_TEST_TMPDIR/tk.pid
	logfile = $BATS_TEST_TMPDIR/tk.log
	INI
	SKYTOOLS_TEST_MARK=many-reloads pgqadm "$BATS_TEST_TMPDIR/tk.ini" ticker -d
	for i in 1 2 3 4; do
		SKYTOOLS_TEST_MARK=many-reloads pgqadm "$BATS_TEST_TMPDIR/tk.ini" -r 3>&- &
		eval "p$i=\$!"
	done
	# (each restarts it, or finds it stopped by another)
	for i in 1 2 3 4; do eval "wait \$p$i" || :; done
	run --separate-stderr pgqadm "$BATS_TEST_TMPDIR/tk.ini" -s
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
	wait_for none_marked many-reloads
	[ ! -e "$BATS_TEST_TMPDIR/tk.pid" ]
}

# ticker_waits DB: a session of DB waits for a lock in pgq.ticker().
ticker_waits() {
	[ "$(sql "$1" "SELECT count(*) FROM pg_stat_activity
		WHERE query LIKE '%pgq.ticker()%' AND wait_event_type = 'Lock'")" -ge 1 ]
}

# The ticker reads every queue's event sequence in its first look.  A
# queue dropped by a transaction that ended while the ticker waited for
# that sequence failed the whole round with "could not open relation
# with OID", every other queue's tick with it (pgqd and pgq-tick logged
# it at each drop).
@test "ticker: a queue dropped while the ticker waits for it does not fail the round" {
	new_db dq
	sql dq "SELECT pgq.create_queue('keep'); SELECT pgq.register_consumer('keep', 'c');
		SELECT pgq.create_queue('gone')" >/dev/null
	sql dq "SELECT pgq.insert_event('keep', 't', 'e1')" >/dev/null
	session 7 dq
	echo "BEGIN; SELECT pgq.drop_queue('gone'); SELECT 'dropping';" >&7
	wait_for said 7 dropping
	session 8 dq
	echo "SELECT pgq.force_tick('keep'); SELECT 'forced'; SELECT count(*) FROM pgq.ticker(); SELECT 'ticked';" >&8
	wait_for said 8 forced
	wait_for ticker_waits dq
	echo "COMMIT;" >&7
	wait_for said 8 ticked
	# (the second session's psql holds the first one's pipe too)
	end_session 8
	end_session 7
	[ "$(grep -c ERROR "$BATS_TEST_TMPDIR/session.8.out")" = 0 ] || { cat "$BATS_TEST_TMPDIR/session.8.out" >&2; false; }
	[ "$(sql dq "SELECT count(*) FROM pgq.get_batch_events(pgq.next_batch('keep', 'c'))")" = 1 ]
}
