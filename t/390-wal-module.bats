#!/usr/bin/env bats
# skytools_wal: the archive module (archive_library) built from wal-push's
# code.  A cluster archiving through it passes wal-push's checks: no gap
# (wal-check), same-content re-archive succeeds, other content is
# refused, a missing archive is retried, zstd, and point-in-time restore
# with wal-fetch.  The tests run in order on one cluster and archive.
load helper

setup_file() {
	find_module skytools_wal || return 0
	local so=$MODULE_SO
	pg_start || return 1
	mkdir -p "$TEST_DIR/lib" "$TEST_DIR/bin"
	cp "$so" "$TEST_DIR/lib/"
	cp "$SKYTOOLS_BUILD"/bin/wal-* "$TOP/sh/walmgr" "$TOP/sh/skytools-sh.lib" "$TEST_DIR/bin/"
	chmod 755 "$TEST_DIR/lib" "$TEST_DIR/bin" "$TEST_DIR"/bin/*
	chmod 644 "$TEST_DIR/lib/skytools_wal.so"
	cat > "$TEST_DIR/walmgr.ini" <<-INI
	[walmgr]
	master_db = host=$TEST_DIR port=5432 dbname=postgres
	master_data = $TEST_PGDATA
	archive = $TEST_DIR/arch ive
	keep_backups = 1
	compression = none
	INI
	# segments stay in pg_wal after archiving (the re-archive test
	# marks one .ready again)
	sql postgres "ALTER SYSTEM SET wal_keep_size = '1GB'" >/dev/null
	[ "$(id -u)" = 0 ] && chown -R postgres: "$TEST_DIR/bin" "$TEST_DIR/walmgr.ini"
	return 0
}

setup() { skip_file; }

walmgr_pg() {
	as_pg env PATH="$TEST_DIR/bin:$PATH" walmgr "$TEST_DIR/walmgr.ini" "$@"
}

q_is() {	# q_is PORT SQL VALUE
	[ "$(psql -XAtq -p "$1" -d postgres -c "$2")" = "$3" ]
}

# Close the current segment and wait until the module archived it.
switch_and_wait() {
	local seg
	seg=$(sql postgres "SELECT pg_walfile_name(pg_switch_wal())")
	wait_for q_is 5432 \
		"SELECT coalesce(last_archived_wal >= '$seg', false) FROM pg_stat_archiver" t
}

# Write a little WAL and close the segment: wakes the archiver, which
# sleeps up to a minute after three failures in a row.
nudge() {
	sql postgres "INSERT INTO t VALUES (0, 'nudge')"
	sql postgres "SELECT pg_switch_wal()" >/dev/null
}

failed_count() { sql postgres "SELECT failed_count FROM pg_stat_archiver"; }
failed_more() { [ "$(failed_count)" -gt "$1" ]; }
archiver_idle() {
	! ls "$TEST_PGDATA/pg_wal/archive_status" | grep -q '\.ready$'
}

@test "walmgr setup --library: refused where the server cannot load the module" {
	run --separate-stderr walmgr_pg setup --library
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"cannot load the archive module skytools_wal"* ]]
	[ "$(sql postgres 'SHOW archive_library')" = "" ]
	run --separate-stderr walmgr_pg setup --bogus
	[ "$status" -eq 2 ]
}

@test "walmgr setup --library: the cluster archives through the module, no gap" {
	sql postgres "ALTER SYSTEM SET dynamic_library_path = '$TEST_DIR/lib:\$libdir'" >/dev/null
	sql postgres "SELECT pg_reload_conf()" >/dev/null
	run --separate-stderr walmgr_pg setup --library
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"archive_library = skytools_wal"* ]]
	[[ "$stderr" == *restart* ]]
	pg_restart
	[ "$(sql postgres 'SHOW archive_library')" = skytools_wal ]
	[ "$(sql postgres 'SHOW archive_command')" = "" ]
	[ "$(sql postgres 'SHOW skytools_wal.archive')" = "$TEST_DIR/arch ive" ]
	sql postgres "CREATE TABLE t (id int, phase text)"
	for i in 1 2 3; do
		sql postgres "INSERT INTO t SELECT g, 'warmup' FROM generate_series(1, 1000) g"
		switch_and_wait
	done
	[ "$(stat -c %a "$TEST_DIR/arch ive/wal")" = 700 ]
	[ "$(failed_count)" = 0 ]
	run --separate-stderr wal-check -A "$TEST_DIR/arch ive"
	[ "$status" -eq 0 ]
	[[ "$output" == checked* ]]
	[[ "$output" != *missing* ]]
	# no temporary files left behind
	[ -z "$(ls -A "$TEST_DIR/arch ive/wal" | grep '^\.')" ]
}

@test "the module's files are wal-push's: wal-fetch restores them, wal-push accepts them as its own" {
	seg=$(sql postgres "SELECT last_archived_wal FROM pg_stat_archiver")
	run --separate-stderr wal-fetch -A "$TEST_DIR/arch ive" "$seg" "$TEST_DIR/fetched"
	[ "$status" -eq 0 ]
	[ "$(stat -c %s "$TEST_DIR/fetched")" -eq $((16 * 1024 * 1024)) ]
	# the segment is still in pg_wal (wal_keep_size): the same bytes
	cmp "$TEST_DIR/fetched" "$TEST_PGDATA/pg_wal/$seg"
	run --separate-stderr wal-push -A "$TEST_DIR/arch ive" "$TEST_DIR/fetched" "$seg"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"same content"* ]]
}

@test "re-archiving the same content succeeds (a segment marked .ready again)" {
	seg=$(sql postgres "SELECT last_archived_wal FROM pg_stat_archiver")
	st="$TEST_PGDATA/pg_wal/archive_status"
	[ -f "$st/$seg.done" ]
	before=$(failed_count)
	as_pg mv "$st/$seg.done" "$st/$seg.ready"
	# the archiver picks .ready files up on its next cycle; a switch wakes it
	sql postgres "INSERT INTO t VALUES (0, 'again')"
	switch_and_wait
	wait_for test -f "$st/$seg.done"
	[ "$(failed_count)" = "$before" ]
	grep -q "skytools_wal: $seg: already archived with the same content" "$TEST_DIR/server.log"
}

@test "other content under the name is refused and retried; archiving resumes when it is gone" {
	sql postgres "INSERT INTO t VALUES (0, 'planted')"
	seg=$(sql postgres "SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
	wal_segment "$seg" 16777216 > "$TEST_DIR/other"
	chmod 644 "$TEST_DIR/other"
	as_pg "$TEST_DIR/bin/wal-push" -A "$TEST_DIR/arch ive" "$TEST_DIR/other" "$seg"
	before=$(failed_count)
	sql postgres "SELECT pg_switch_wal()" >/dev/null
	wait_for failed_more "$before"
	[ "$(sql postgres "SELECT last_failed_wal FROM pg_stat_archiver")" = "$seg" ]
	grep -q "skytools_wal: .*$seg: already archived with different content" "$TEST_DIR/server.log"
	# the archived copy is left as is
	cmp <(head -c 16777216 "$TEST_DIR/arch ive/wal/$seg") "$TEST_DIR/other"
	rm "$TEST_DIR/arch ive/wal/$seg"
	nudge
	wait_for q_is 5432 "SELECT coalesce(last_archived_wal >= '$seg', false) FROM pg_stat_archiver" t
	run --separate-stderr wal-check -A "$TEST_DIR/arch ive"
	[ "$status" -eq 0 ]
}

@test "a missing archive directory is retried, never created" {
	# the last test's nudge segment may still be on its way: moving the
	# directory under it fails that copy with another message
	wait_for archiver_idle
	mv "$TEST_DIR/arch ive" "$TEST_DIR/unmounted"
	sql postgres "INSERT INTO t VALUES (0, 'gone')"
	seg=$(sql postgres "SELECT pg_walfile_name(pg_switch_wal())")
	wait_for grep -q "skytools_wal: archive $TEST_DIR/arch ive: No such file or directory" "$TEST_DIR/server.log"
	wait_for q_is 5432 "SELECT last_failed_wal FROM pg_stat_archiver" "$seg"
	[ ! -e "$TEST_DIR/arch ive" ]
	mv "$TEST_DIR/unmounted" "$TEST_DIR/arch ive"
	nudge
	wait_for q_is 5432 "SELECT coalesce(last_archived_wal >= '$seg', false) FROM pg_stat_archiver" t
	run --separate-stderr wal-check -A "$TEST_DIR/arch ive"
	[ "$status" -eq 0 ]
	[[ "$output" != *missing* ]]
}

@test "skytools_wal.compress = zstd writes .zst files wal-check verifies" {
	sql postgres "ALTER SYSTEM SET skytools_wal.compress = zstd" >/dev/null
	sql postgres "SELECT pg_reload_conf()" >/dev/null
	wait_for q_is 5432 "SHOW skytools_wal.compress" zstd
	sql postgres "INSERT INTO t SELECT g, 'zstd' FROM generate_series(1, 1000) g"
	switch_and_wait
	seg=$(sql postgres "SELECT last_archived_wal FROM pg_stat_archiver")
	[ -f "$TEST_DIR/arch ive/wal/$seg.zst" ]
	[ "$(stat -c %s "$TEST_DIR/arch ive/wal/$seg.zst")" -lt $((16 * 1024 * 1024)) ]
	run --separate-stderr wal-check -A "$TEST_DIR/arch ive" --verify
	[ "$status" -eq 0 ]
	run --separate-stderr psql -XAtq -d postgres -c "LOAD 'skytools_wal'" -c "SET skytools_wal.compress = bogus"
	[ "$status" -ne 0 ]
}

@test "point-in-time restore from the module's archive" {
	run --separate-stderr walmgr_pg backup
	[ "$status" -eq 0 ]
	sql postgres "INSERT INTO t SELECT g, 'before' FROM generate_series(1, 100) g"
	target=$(sql postgres "SELECT clock_timestamp()")
	sleep 0.1
	sql postgres "INSERT INTO t SELECT g, 'after' FROM generate_series(1, 100) g"
	switch_and_wait
	# --new-master: this copy replaces the master, so it keeps the
	# backup's archive settings and, once promoted, archives its new
	# timeline through the module, history file first.
	run --separate-stderr walmgr_pg restore "$TEST_DIR/pitr" --target-time "$target" --new-master
	[ "$status" -eq 0 ]
	! grep -q "^archive_mode = 'off'" "$TEST_DIR/pitr/postgresql.auto.conf" || false
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/pitr" -l "$TEST_DIR/pitr.log" \
		-o "-p 5433 -k $TEST_DIR" -w -t 60 start >/dev/null
	wait_for q_is 5433 'SELECT pg_is_in_recovery()' f
	[ "$(psql -XAtq -p 5433 -d postgres -c "SELECT count(*) FROM t WHERE phase = 'before'")" = 100 ]
	[ "$(psql -XAtq -p 5433 -d postgres -c "SELECT count(*) FROM t WHERE phase = 'after'")" = 0 ]
	[ "$(psql -XAtq -p 5433 -d postgres -c "SELECT count(*) FROM t WHERE phase = 'warmup'")" = 3000 ]
	wait_for sh -c 'ls "$1"/wal/00000002.history* >/dev/null 2>&1' _ "$TEST_DIR/arch ive"
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/pitr" -m fast -w stop >/dev/null
}

@test "walmgr stop resets archive_library" {
	run --separate-stderr walmgr_pg stop
	[ "$status" -eq 0 ]
	pg_restart
	[ "$(sql postgres 'SHOW archive_mode')" = off ]
	[ "$(sql postgres 'SHOW archive_library')" = "" ]
}

@test "the module never exits the server: no exit, err or errx to call" {
	so="$SKYTOOLS_BUILD/server/skytools_wal.so"
	[ -f "$so" ]
	run nm -D -u "$so"
	[ "$status" -eq 0 ]
	[[ "$output" == *errstart* ]]	# it does report, through ereport
	! echo "$output" | grep -Ew '(_?exit|_Exit|err|errx|verr|verrx|abort)(@.*)?$'
}
