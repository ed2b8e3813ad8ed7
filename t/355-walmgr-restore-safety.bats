#!/usr/bin/env bats
# A restore never ends early: PostgreSQL takes a restore_command status
# from 1 to 125 for "not in the archive", ends recovery there and
# promotes.  A damaged archived segment or an unreachable archive must
# stop recovery instead (wal-fetch --restore-command exits above 125),
# with the reason in the server log.  Also: restore targets are checked
# before anything is written, and times compare to the microsecond.
load helper
load 35x-walmgr

setup_file() {
	walmgr_setup || return 1
	cat > "$TEST_DIR/walmgr.ini" <<-INI
	[walmgr]
	master_db = host=$TEST_DIR port=5432 dbname=postgres
	archive = $TEST_DIR/archive
	INI
	pg_owns "$TEST_DIR/walmgr.ini"
	walmgr_pg setup 2>/dev/null && pg_restart || return 1
	# One backup, then three segments of 1,000 rows each.
	walmgr_pg backup >"$TEST_DIR/label" 2>/dev/null || return 1
	sql postgres "CREATE TABLE t (id int, batch int)"
	for b in 1 2 3; do
		sql postgres "INSERT INTO t SELECT g, $b FROM generate_series(1, 1000) g"
		seg=$(sql postgres "SELECT pg_walfile_name(pg_switch_wal())")
		echo "$seg" >> "$TEST_DIR/segs"
		wait_for q_is 5432 "SELECT coalesce(last_archived_wal >= '$seg', false) FROM pg_stat_archiver" t ||
			return 1
	done
}

# The copy in $1 was not promoted: recovery.signal is still there (the
# server removes it when recovery ends) and its control file is on
# timeline 1, in recovery or not yet started.
not_promoted() {
	local cd
	[ -f "$1/recovery.signal" ] || return 1
	cd=$(as_pg "$TEST_PGBIN/pg_controldata" "$1")
	echo "$cd" | grep -Eq "^Database cluster state: +(in archive recovery|in production|shut down)$" &&
		echo "$cd" | grep -Eq "^Latest checkpoint's TimeLineID: +1$"
}

# Start the copy in $1 on port $2; it is expected to stop by itself.
start_and_wait_for_stop() {
	as_pg "$TEST_PGBIN/pg_ctl" -D "$1" -l "$1.log" -o "-p $2 -k $TEST_DIR" -w -t 60 start \
		>/dev/null 2>&1 || true
	wait_for test ! -f "$1/postmaster.pid"
}

@test "restore: rows of every archived segment come back (control)" {
	run --separate-stderr walmgr_pg restore "$TEST_DIR/ok"
	[ "$status" -eq 0 ]
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/ok" -l "$TEST_DIR/ok.log" \
		-o "-p 5433 -k $TEST_DIR" -w -t 60 start >/dev/null
	wait_for q_is 5433 "SELECT pg_is_in_recovery()" f
	[ "$(psql -XAtq -p 5433 -d postgres -c 'SELECT count(*) FROM t')" = 3000 ]
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/ok" -m fast -w stop >/dev/null
	rm -rf "$TEST_DIR/ok"
}


@test "restore: a damaged segment stops recovery, it does not promote" {
	seg=$(sed -n 2p "$TEST_DIR/segs")
	f=$(ls "$TEST_DIR/archive/wal/$seg"*)
	cp "$f" "$TEST_DIR/saved"
	printf 'XXXX' | dd of="$f" bs=1 seek=5000 conv=notrunc 2>/dev/null
	run --separate-stderr walmgr_pg restore "$TEST_DIR/dmg"
	[ "$status" -eq 0 ]
	start_and_wait_for_stop "$TEST_DIR/dmg" 5434
	cp "$TEST_DIR/saved" "$f"
	cat "$TEST_DIR/dmg.log"
	not_promoted "$TEST_DIR/dmg"
	grep -q "wal-fetch: .*$seg.*damaged.*recovery stopped" "$TEST_DIR/dmg.log"
	grep -q 'could not restore file.*exit code 132' "$TEST_DIR/dmg.log"
}

@test "restore: an unreachable archive stops recovery, it does not promote" {
	run --separate-stderr walmgr_pg restore "$TEST_DIR/gone"
	[ "$status" -eq 0 ]
	# The archive's disk is not mounted: an empty mount point.
	mv "$TEST_DIR/archive" "$TEST_DIR/archive.away"
	mkdir "$TEST_DIR/archive"
	start_and_wait_for_stop "$TEST_DIR/gone" 5435
	rmdir "$TEST_DIR/archive"
	mv "$TEST_DIR/archive.away" "$TEST_DIR/archive"
	cat "$TEST_DIR/gone.log"
	not_promoted "$TEST_DIR/gone"
	grep -q "wal-fetch: .*archive unreachable.*recovery stopped" "$TEST_DIR/gone.log"
}

@test "restore: an unreadable archive stops recovery, it does not promote" {
	run --separate-stderr walmgr_pg restore "$TEST_DIR/unr"
	[ "$status" -eq 0 ]
	chmod 000 "$TEST_DIR/archive/wal"
	start_and_wait_for_stop "$TEST_DIR/unr" 5436
	chmod 700 "$TEST_DIR/archive/wal"
	cat "$TEST_DIR/unr.log"
	not_promoted "$TEST_DIR/unr"
	grep -q "wal-fetch: .*Permission denied.*recovery stopped" "$TEST_DIR/unr.log"
}

@test "restore: malformed targets exit 2 with one line and write nothing" {
	for t in "--target-time yesterday-ish" "--target-time 2026-13-01 00:00:00+00" \
		"--target-time 2026-12-01 25:00+00" "--target-lsn 0/XYZ" "--target-lsn 12345" \
		"--target-lsn 123456789/0" "--target-xid -5" "--target-xid 12ab" \
		"--target-xid 99999999999" "--target-name $(printf 'n%.0s' $(seq 1 64))"; do
		opt=${t%% *}
		val=${t#* }
		run --separate-stderr walmgr_pg restore "$TEST_DIR/bad" "$opt" "$val"
		echo "$t: $status $stderr"
		[ "$status" -eq 2 ]
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ "$stderr" == walmgr:* ]]
		[ ! -e "$TEST_DIR/bad" ]
	done
	run --separate-stderr walmgr_pg restore "$TEST_DIR/bad" --target-name ""
	[ "$status" -eq 2 ]
	[ ! -e "$TEST_DIR/bad" ]
}

@test "restore: --target-name writes recovery_target_name, quoted" {
	run --separate-stderr walmgr_pg restore "$TEST_DIR/named" --target-name "before 'it' \\ x"
	[ "$status" -eq 0 ]
	grep -qF "recovery_target_name = 'before ''it'' \\\\ x'" "$TEST_DIR/named/postgresql.auto.conf"
	[ "$(as_pg "$TEST_PGBIN/postgres" -D "$TEST_DIR/named" -C recovery_target_name)" = "before 'it' \\ x" ]
	rm -rf "$TEST_DIR/named"
}

@test "restore: a time target compares to the microsecond, in any zone" {
	label=$(cat "$TEST_DIR/label")
	m="$TEST_DIR/archive/base/$label/backup_manifest"
	orig=$(stat -c %y "$m")
	# The backup finished at .100000 of a second; targets in the same
	# second before and after it.
	touch -d "2030-01-01 00:00:00.100000 UTC" "$m"
	run --separate-stderr walmgr_pg restore "$TEST_DIR/us" --target-time "2030-01-01 00:00:00.5+00"
	touch -d "$orig" "$m"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"backup $label restored"* ]]
	grep -qF "recovery_target_time = '2030-01-01 00:00:00.500000+00'" "$TEST_DIR/us/postgresql.auto.conf"
	rm -rf "$TEST_DIR/us"
	touch -d "2030-01-01 00:00:00.100000 UTC" "$m"
	run --separate-stderr walmgr_pg restore "$TEST_DIR/us" --target-time "2030-01-01T02:00:00.5+02:00"
	touch -d "$orig" "$m"
	[ "$status" -eq 0 ]
	grep -qF "recovery_target_time = '2030-01-01 00:00:00.500000+00'" "$TEST_DIR/us/postgresql.auto.conf"
	rm -rf "$TEST_DIR/us"
	touch -d "2030-01-01 00:00:00.100000 UTC" "$m"
	run --separate-stderr walmgr_pg restore "$TEST_DIR/us" --target-time "2030-01-01 00:00:00.05+00"
	touch -d "$orig" "$m"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"no base backup precedes"* ]]
	[ ! -e "$TEST_DIR/us/PG_VERSION" ]
}

@test "restore: a backup without postgresql.conf (kept in /etc, as on Debian) restores" {
	label=$(cat "$TEST_DIR/label")
	b="$TEST_DIR/archive/base/$label"
	mv "$b/postgresql.conf" "$TEST_DIR/saved.conf"
	run --separate-stderr walmgr_pg restore "$TEST_DIR/etc" --target-xid 3000
	mv "$TEST_DIR/saved.conf" "$b/postgresql.conf"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ ! -e "$TEST_DIR/etc/postgresql.conf" ]
	grep -q "^recovery_target_xid = '3000'" "$TEST_DIR/etc/postgresql.auto.conf"
	rm -rf "$TEST_DIR/etc"
}
