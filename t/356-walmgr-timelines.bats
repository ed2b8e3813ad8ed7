#!/usr/bin/env bats
# walmgr across a point-in-time restore that becomes the new master:
# backup0 and backupA on timeline 1, a restore to a point between them
# promoted to timeline 2, backupB on timeline 2.  The newest timeline's
# history decides which backups are newest, never their LSNs alone; a
# backup of the promoted copy carries no restore-time settings into
# the next restore or standby; values with quotes and backslashes reach
# the server as written.  The tests build on each other's state.
load helper
load 35x-walmgr

setup_file() {
	walmgr_setup || return 1
	for port in 5432 5433; do
		cat > "$TEST_DIR/m$port.ini" <<-INI
		[walmgr]
		master_db = host=$TEST_DIR port=$port dbname=postgres
		archive = $TEST_DIR/archive
		keep_backups = 1
		INI
	done
	pg_owns "$TEST_DIR"/*.ini
	walmgr_at 5432 setup 2>/dev/null && pg_restart
}

walmgr_at() {	# walmgr_at PORT VERB...: with the ini whose master is at PORT
	local port=$1; shift
	w "m$port.ini" "$@"
}

@test "timelines: backup0, backupA on timeline 1, PITR between them promoted to timeline 2" {
	q 5432 "CREATE TABLE t (id int, phase text)"
	q 5432 "INSERT INTO t SELECT g, 'base' FROM generate_series(1, 100) g"
	run --separate-stderr walmgr_at 5432 backup
	[ "$status" -eq 0 ]
	echo "$output" > "$TEST_DIR/label0"
	q 5432 "INSERT INTO t SELECT g, 'kept' FROM generate_series(1, 100) g"
	target=$(q 5432 "SELECT clock_timestamp()")
	q 5432 "INSERT INTO t SELECT g, 'discarded' FROM generate_series(1, 100) g"
	switch_and_wait 5432
	# Fill segments so that backupA starts well past the fork.
	for i in 1 2 3; do
		q 5432 "INSERT INTO t SELECT g, 'discarded' FROM generate_series(1, 1000) g"
		switch_and_wait 5432
	done
	sleep 1	# distinct labels
	run --separate-stderr walmgr_at 5432 backup
	[ "$status" -eq 0 ]
	echo "$output" > "$TEST_DIR/labelA"
	switch_and_wait 5432
	run --separate-stderr walmgr_at 5432 restore "$TEST_DIR/pitr" --target-time "$target" --new-master
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"backup $(cat "$TEST_DIR/label0") restored"* ]]
	start_copy "$TEST_DIR/pitr" 5433
	wait_for q_is 5433 "SELECT pg_is_in_recovery()" f
	[ "$(q 5433 "SELECT count(*) FROM t WHERE phase = 'discarded'")" = 0 ]
	[ "$(q 5433 "SELECT count(*) FROM t WHERE phase = 'kept'")" = 100 ]
	# The promoted copy archives its new timeline, history file first.
	wait_for test -f "$TEST_DIR/archive/wal/00000002.history"
	# Its restore settings are gone from the file a backup copies.
	grep -q "walmgr: restore settings removed" "$TEST_DIR/pitr.log"
	! grep -Eq "^(restore_command|recovery_target_time|recovery_target_action)" \
		"$TEST_DIR/pitr/postgresql.auto.conf" || false
	grep -q "^archive_mode = 'on'" "$TEST_DIR/pitr/postgresql.auto.conf"
}

@test "timelines: backupB on timeline 2 is the newest, backupA is on an abandoned branch" {
	q 5433 "INSERT INTO t SELECT g, 'timeline 2' FROM generate_series(1, 100) g"
	sleep 1
	run --separate-stderr walmgr_at 5433 backup
	[ "$status" -eq 0 ]
	echo "$output" > "$TEST_DIR/labelB"
	switch_and_wait 5433
	run --separate-stderr wal-list -A "$TEST_DIR/archive" --backups
	[ "$status" -eq 0 ]
	echo "$output"
	[ "$(echo "$output" | sed 1d | cut -f1,6 | tr '\t\n' ': ')" = \
		"$(cat "$TEST_DIR/labelA"):f $(cat "$TEST_DIR/label0"):t $(cat "$TEST_DIR/labelB"):t " ]
	# backupA's start LSN is the highest, and it still is not the newest.
	lsnA=$(echo "$output" | awk -F '\t' -v l="$(cat "$TEST_DIR/labelA")" '$1 == l { print $3 }')
	lsnB=$(echo "$output" | awk -F '\t' -v l="$(cat "$TEST_DIR/labelB")" '$1 == l { print $3 }')
	[ "$(q 5432 "SELECT '$lsnA'::pg_lsn > '$lsnB'::pg_lsn")" = t ]
}

@test "timelines: restore SET of the abandoned branch replays along its own timeline" {
	labelA=$(cat "$TEST_DIR/labelA")
	run --separate-stderr walmgr_at 5432 restore "$labelA" "$TEST_DIR/ra" --no-archive
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"backup $labelA restored"* ]]
	grep -q "^recovery_target_timeline = 'current'" "$TEST_DIR/ra/postgresql.auto.conf"
	start_copy "$TEST_DIR/ra" 5435
	wait_for q_is 5435 "SELECT pg_is_in_recovery()" f
	[ "$(q 5435 "SELECT count(*) FROM t WHERE phase = 'discarded'")" = 3100 ]
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/ra" -m fast -w stop >/dev/null
}

@test "timelines: cleanup keeps backupB and timeline 2's WAL" {
	labelB=$(cat "$TEST_DIR/labelB")
	# check verifies every backup, the abandoned one too.
	echo x >> "$TEST_DIR/archive/base/$(cat "$TEST_DIR/labelA")/PG_VERSION"
	run --separate-stderr walmgr_at 5432 check
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"base backup $(cat "$TEST_DIR/labelA"): damaged"* ]]
	run --separate-stderr walmgr_at 5432 cleanup
	[ "$status" -eq 0 ]
	[ "$(ls "$TEST_DIR/archive/base")" = "$labelB" ]
	[ -f "$TEST_DIR/archive/wal/00000002.history" ]
	run --separate-stderr wal-check -A "$TEST_DIR/archive" --backup "$labelB"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"checked	00000002"* ]]
}

@test "timelines: restore takes backupB and brings back none of the discarded rows" {
	# --no-archive: this drill must not become timeline 3.
	run --separate-stderr walmgr_at 5432 restore "$TEST_DIR/r2" --no-archive
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"backup $(cat "$TEST_DIR/labelB") restored"* ]]
	# The backup is of the promoted copy: its restore settings are gone.
	! grep -Eq "^recovery_target_time[ =]" "$TEST_DIR/r2/postgresql.auto.conf" || false
	start_copy "$TEST_DIR/r2" 5434
	wait_for q_is 5434 "SELECT pg_is_in_recovery()" f
	[ "$(q 5434 "SELECT count(*) FROM t WHERE phase = 'discarded'")" = 0 ]
	[ "$(q 5434 "SELECT count(*) FROM t WHERE phase = 'timeline 2'")" = 100 ]
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/r2" -m fast -w stop >/dev/null
}

@test "timelines: a standby of the new master; primary_conninfo with quotes and backslashes" {
	# libpq reads application_name as  it's a\b  ; the server's config
	# reader must hand libpq the string exactly as written here.
	conninfo="host=$TEST_DIR port=5433 application_name='it\\'s a\\\\b'"
	printf 'standby_data = %s\nprimary_conninfo = %s\n' "$TEST_DIR/sb" "$conninfo" >> "$TEST_DIR/m5433.ini"
	run --separate-stderr walmgr_at 5433 standby
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$(as_pg "$TEST_PGBIN/postgres" -D "$TEST_DIR/sb" -C primary_conninfo)" = "$conninfo" ]
	! grep -Eq "^recovery_target_time[ =]" "$TEST_DIR/sb/postgresql.auto.conf" || false
	start_copy "$TEST_DIR/sb" 5435
	q 5433 "INSERT INTO t SELECT g, 'streamed' FROM generate_series(1, 10) g"
	wait_for q_is 5435 "SELECT count(*) FROM t WHERE phase = 'streamed'" 10 || { cat "$TEST_DIR/sb.log"; false; }
	wait_for q_is 5433 "SELECT application_name FROM pg_stat_replication" 'it'"'"'s a\b'
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/sb" -m fast -w stop >/dev/null
}

@test "timelines: an archive path with a quote and a backslash restores" {
	weird="$TEST_DIR/it's a\\dir"
	mkdir "$weird"
	cp -a "$TEST_DIR/archive" "$weird/archive"
	[ "$(id -u)" = 0 ] && chown -R postgres: "$weird"
	printf '[walmgr]\narchive = %s\n' "$weird/archive" > "$TEST_DIR/weird.ini"
	[ "$(id -u)" = 0 ] && chown postgres: "$TEST_DIR/weird.ini"
	run --separate-stderr as_pg env PATH="$TEST_DIR/bin:$PATH" walmgr "$TEST_DIR/weird.ini" restore "$TEST_DIR/r3" --no-archive
	echo "$stderr"
	[ "$status" -eq 0 ]
	start_copy "$TEST_DIR/r3" 5436
	wait_for q_is 5436 "SELECT pg_is_in_recovery()" f
	[ "$(q 5436 "SELECT count(*) FROM t WHERE phase = 'timeline 2'")" = 100 ]
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/r3" -m fast -w stop >/dev/null
}
