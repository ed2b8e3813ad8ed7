#!/usr/bin/env bats
# Attacks on session 10's targets.

load helper
load 25x-cascade

setup_file() {
	pg_start
}

none_marked() { ! has_marked "$1"; }

teardown() {
	cascade_workers_stop
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
	! grep -q "cannot create" "$BATS_TEST_TMPDIR/r1.log"
}
