#!/usr/bin/env bats
# walmgr as a new user follows walmgr(1): a point-in-time copy started
# beside the master does not take over its archive; restore with the
# original's wal-slave.ini builds a standby; notes on keys of the
# original are shown once per change of the file; errors name the
# section used; unknown verbs are named; boot of a stopped standby says
# so.  The tests build on each other's state (one master, one archive).
load helper
load 35x-walmgr

setup_file() {
	walmgr_setup || return 1
	cat > "$TEST_DIR/wal-master.ini" <<-INI
	[wal-master]
	master_db = host=$TEST_DIR port=5432 dbname=postgres
	master_data = $TEST_PGDATA
	slave = localhost
	walmgr_data = $TEST_DIR/walshipping
	completed_wals = %(walmgr_data)s/logs.complete
	INI
	cat > "$TEST_DIR/wal-slave.ini" <<-INI
	[wal-slave]
	slave_data = $TEST_DIR/slave
	walmgr_data = $TEST_DIR/walshipping
	archive_command = /bin/false
	INI
	pg_owns "$TEST_DIR"/*.ini
	w wal-master.ini setup 2>/dev/null && pg_restart
}


@test "unknown or missing verb: walmgr and pgqadm name the verbs, exit 2" {
	run --separate-stderr w wal-master.ini bogus
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"walmgr: unknown verb 'bogus'; verbs: setup "*restore*standby* ]]
	[[ "$stderr" == *"usage: walmgr"* ]]
	run --separate-stderr w wal-master.ini
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"walmgr: no verb; verbs: setup "* ]]
	printf '[pgqadm]\ndb = dbname=postgres\n' > "$TEST_DIR/pgqadm.ini"
	run --separate-stderr pgqadm "$TEST_DIR/pgqadm.ini" bogus
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"pgqadm: unknown verb 'bogus'; verbs: install ticker "* ]]
	run --separate-stderr pgqadm "$TEST_DIR/pgqadm.ini"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"pgqadm: no verb; verbs: install "* ]]
}

@test "errors name the section used: [wal-master]" {
	run --separate-stderr w wal-master.ini cleanup
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"[wal-master] neither keep_backups nor keep_backups_days is set"* ]]
	[[ "$stderr" != *"[walmgr]"* ]]
}

@test "notes on keys of the original: once per change of the file, not on every run" {
	rm -f "$TEST_DIR/.wal-master.ini.walmgr-notes"
	run --separate-stderr w wal-master.ini listbackups
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"completed_wals ignored"* ]]
	[[ "$stderr" == *"slave = localhost not used: the archive is $TEST_DIR/walshipping"* ]]
	run --separate-stderr w wal-master.ini listbackups
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	# An edit of the file shows them again.
	echo "keep_backups = 5" >> "$TEST_DIR/wal-master.ini"
	run --separate-stderr w wal-master.ini listbackups
	[[ "$stderr" == *"completed_wals ignored"* ]]
	run --separate-stderr w wal-slave.ini listbackups
	[[ "$stderr" == *"[wal-slave] archive_command not used"* ]]
}

@test "a point-in-time copy beside the master does not take over its archive" {
	q 5432 "CREATE TABLE t (id int, phase text)"
	q 5432 "INSERT INTO t SELECT g, 'before' FROM generate_series(1, 100) g"
	run --separate-stderr w wal-master.ini backup
	[ "$status" -eq 0 ]
	target=$(q 5432 "SELECT clock_timestamp()")
	q 5432 "INSERT INTO t SELECT g, 'after' FROM generate_series(1, 100) g"
	switch_and_wait 5432
	run --separate-stderr w wal-master.ini restore "$TEST_DIR/pitr" --target-time "$target"
	[ "$status" -eq 0 ]
	# The closing message says which mode and how to start it on this host.
	[[ "$stderr" == *"copy: archive_mode = off"* ]]
	[[ "$stderr" == *"--new-master"* ]]
	[[ "$stderr" == *"pg_ctl -D $TEST_DIR/pitr -o '-p "[0-9]*"' start"* ]]
	start_copy "$TEST_DIR/pitr" 5545
	wait_for q_is 5545 "SELECT pg_is_in_recovery()" f
	[ "$(q 5545 "SELECT count(*) FROM t")" = 100 ]
	[ "$(q 5545 "SHOW archive_mode")" = off ]
	q 5545 "INSERT INTO t VALUES (0, 'copy')"
	q 5545 "SELECT pg_switch_wal()" >/dev/null
	# The setting outlives promotion and a restart; the restore settings do not.
	stop_copy "$TEST_DIR/pitr"
	start_copy "$TEST_DIR/pitr" 5545
	[ "$(q 5545 "SHOW archive_mode")" = off ]
	! grep -Eq "^(restore_command|recovery_target_time)" "$TEST_DIR/pitr/postgresql.auto.conf" || false
	stop_copy "$TEST_DIR/pitr"
	# Timeline 2 never reached the archive: the master's next backup
	# is live and is the one restore takes.
	! ls "$TEST_DIR/walshipping/wal" | grep -q history || false
	sleep 1	# a distinct backup label
	run --separate-stderr w wal-master.ini backup
	[ "$status" -eq 0 ]
	label=$output
	run wal-list -A "$TEST_DIR/walshipping" --backups
	[ "$(printf '%s\n' "$output" | awk -F '\t' -v l="$label" '$1 == l { print $6 }')" = t ]
	switch_and_wait 5432
	run --separate-stderr w wal-master.ini restore "$TEST_DIR/r2" --no-archive
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"backup $label restored"* ]]
	rm -rf "$TEST_DIR/r2"
}

@test "restore: --new-master and --no-archive together is a usage error" {
	run --separate-stderr w wal-master.ini restore "$TEST_DIR/r3" --new-master --no-archive
	[ "$status" -eq 2 ]
	[ ! -e "$TEST_DIR/r3" ]
}

@test "wal-slave.ini restore without a destination builds a standby following the archive" {
	run --separate-stderr w wal-slave.ini restore
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"a standby in $TEST_DIR/slave"* ]]
	[ -f "$TEST_DIR/slave/standby.signal" ]
	[ ! -e "$TEST_DIR/slave/recovery.signal" ]
	start_copy "$TEST_DIR/slave" 5546
	q 5432 "INSERT INTO t SELECT g, 'later' FROM generate_series(1, 10) g"
	switch_and_wait 5432
	wait_for q_is 5546 "SELECT count(*) FROM t WHERE phase = 'later'" 10
	[ "$(q 5546 "SELECT pg_is_in_recovery()")" = t ]
	stop_copy "$TEST_DIR/slave"
}

@test "boot of a standby that is not running says so" {
	run --separate-stderr w wal-slave.ini boot
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"the standby in $TEST_DIR/slave is not running; start it first"* ]]
	[[ "$stderr" != *"pg_ctl:"* ]]
}
