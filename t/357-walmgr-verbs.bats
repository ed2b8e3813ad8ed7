#!/usr/bin/env bats
# walmgr: the original Skytools' verbs.  An old cluster's
# archive_command and restore_command lines (walmgr wal-master.ini
# xarchive %p %f, walmgr wal-slave.ini xrestore %f %p) archive and
# restore; sync, syncdaemon, periodic, createslave, synch-standby,
# restore of a named set, zstd backups (also of a standby), the backup
# lock, -n, --init-master / --init-slave.  The tests run in order.
load helper
load 35x-walmgr

setup_file() {
	walmgr_setup || return 1
	cat > "$TEST_DIR/wal-master.ini" <<-INI
	[wal-master]
	job_name = wal-master
	master_db = host=$TEST_DIR port=5432 dbname=postgres
	master_data = $TEST_PGDATA
	walmgr_data = $TEST_DIR/walshipping
	compression = 1
	loop_delay = 0.2
	INI
	cat > "$TEST_DIR/wal-slave.ini" <<-INI
	[wal-slave]
	job_name = wal-slave
	walmgr_data = $TEST_DIR/walshipping
	slave_data = $TEST_DIR/slave
	primary_conninfo = host=$TEST_DIR port=5432 user=postgres application_name=walsby
	INI
	mkdir -p "$TEST_DIR/walshipping/wal" "$TEST_DIR/walshipping/base"
	pg_owns "$TEST_DIR"/wal-*.ini "$TEST_DIR/walshipping"
}

in_archive() { wal-fetch -A "$TEST_DIR/walshipping" "$1" - >/dev/null 2>&1; }


@test "walmgr internal verbs: operands checked, no-meaning verbs explained" {
	run --separate-stderr walmgr "$TEST_DIR/wal-master.ini" xarchive only-one
	[ "$status" -eq 2 ]
	run --separate-stderr walmgr "$TEST_DIR/wal-master.ini" xpartialsync f 0 10
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no partial segments"* ]]
	run --separate-stderr walmgr "$TEST_DIR/wal-master.ini" xrotate
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"not rotated"* ]]
	# -n must never make the server think a segment is archived.
	run --separate-stderr walmgr -n "$TEST_DIR/wal-master.ini" xarchive "$TEST_PGDATA/PG_VERSION" 000000010000000000000001
	[ "$status" -eq 2 ]
	[ -z "$(ls "$TEST_DIR/walshipping/wal")" ]
}

@test "walmgr xrestore: its own failures stop recovery (status above 125)" {
	run --separate-stderr walmgr "$TEST_DIR/nonexistent.ini" xrestore 000000010000000000000001 "$TEST_DIR/x"
	[ "$status" -gt 125 ]
	[[ "$stderr" == *"recovery stopped"* ]]
	run --separate-stderr walmgr "$TEST_DIR/wal-slave.ini" xrestore 000000010000000000000001
	[ "$status" -gt 125 ]
	run --separate-stderr walmgr "$TEST_DIR/wal-slave.ini" xrestore 000000010000000000000001 "$TEST_DIR/x"
	[ "$status" -eq 1 ]
}

@test "walmgr xarchive as archive_command: segments reach the archive" {
	cmd="$TEST_DIR/bin/walmgr $TEST_DIR/wal-master.ini xarchive %p %f"
	sql postgres "ALTER SYSTEM SET archive_mode = on"
	sql postgres "ALTER SYSTEM SET archive_command = '$cmd'"
	# A backup taken on a standby needs full-page writes.
	sql postgres "ALTER SYSTEM SET full_page_writes = on"
	pg_restart
	sql postgres "CREATE TABLE t (id int, phase text)"
	sql postgres "INSERT INTO t SELECT g, 'one' FROM generate_series(1, 1000) g"
	seg=$(sql postgres "SELECT pg_walfile_name(pg_switch_wal())")
	wait_for in_archive "$seg"
	[ -f "$TEST_DIR/walshipping/wal/$seg.zst" ]
	# Other content under an archived name is refused, as by wal-push
	# (the segment with one byte after its page header changed).
	wal-fetch -A "$TEST_DIR/walshipping" "$seg" "$TEST_DIR/other"
	b=$(od -An -tu1 -j 1000 -N 1 "$TEST_DIR/other" | tr -d ' ')
	printf "$(printf '\\%03o' $(( (b ^ 1) & 255 )))" |
		dd of="$TEST_DIR/other" bs=1 seek=1000 conv=notrunc status=none
	chmod 644 "$TEST_DIR/other"
	run --separate-stderr w wal-master.ini xarchive "$TEST_DIR/other" "$seg"
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"different content"* ]]
	# A file that is not the segment is bad input, before any compare.
	run --separate-stderr w wal-master.ini xarchive "$TEST_PGDATA/PG_VERSION" "$seg"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"not WAL segment $seg"* ]]
}

@test "walmgr sync: the current segment is archived when it returns" {
	run --separate-stderr walmgr "$TEST_DIR/wal-master.ini" sync
	[ "$status" -eq 0 ]
	sql postgres "INSERT INTO t SELECT g, 'sync' FROM generate_series(1, 10) g"
	seg=$(sql postgres "SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
	! in_archive "$seg" || false
	run --separate-stderr walmgr "$TEST_DIR/wal-master.ini" sync
	[ "$status" -eq 0 ]
	[ "$output" = "$seg" ]
	in_archive "$seg"
}

@test "walmgr syncdaemon: archives new WAL by itself, stops on SIGTERM with 0" {
	walmgr "$TEST_DIR/wal-master.ini" syncdaemon 2>"$TEST_DIR/syncdaemon.log" 3>&- &
	pid=$!
	sql postgres "INSERT INTO t SELECT g, 'daemon' FROM generate_series(1, 10) g"
	seg=$(sql postgres "SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
	wait_for in_archive "$seg"
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	cat "$TEST_DIR/syncdaemon.log"
	[ "$rc" -eq 0 ]
	grep -q "$seg archived" "$TEST_DIR/syncdaemon.log"
	grep -q stopped "$TEST_DIR/syncdaemon.log"
}

@test "walmgr syncdaemon: an unreachable master is retried, not fatal" {
	sed "s/port=5432/port=1/" "$TEST_DIR/wal-master.ini" > "$TEST_DIR/down.ini"
	walmgr "$TEST_DIR/down.ini" syncdaemon 2>"$TEST_DIR/down.log" 3>&- &
	pid=$!
	wait_for grep -q "2 in a row" "$TEST_DIR/down.log"
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	cat "$TEST_DIR/down.log"
	[ "$rc" -eq 0 ]
}

@test "walmgr backup (zstd): tar files, SHA256SUMS, a summary line; listbackups" {
	run --separate-stderr w wal-master.ini backup
	echo "$stderr"
	[ "$status" -eq 0 ]
	label=$output
	echo "$label" > "$TEST_DIR/label1"
	b="$TEST_DIR/walshipping/base/$label"
	[ -f "$b/base.tar.zst" ]
	[ -f "$b/pg_wal.tar.zst" ]
	[ -f "$b/backup_label" ]
	[ ! -e "$b/pg_wal.tar" ]
	(cd "$b" && sha256sum -c --quiet SHA256SUMS)
	[[ "$stderr" == *"base backup $label done: "*" MB of data, "*" MB stored (zstd), "*" s, "*" MB/s"* ]]
	run --separate-stderr w wal-master.ini listbackups
	[ "$status" -eq 0 ]
	[[ "$output" == *"base	$label	"*"	zstd	"* ]]
	sql postgres "INSERT INTO t SELECT g, 'after1' FROM generate_series(1, 100) g"
	w wal-master.ini sync
	run --separate-stderr w wal-master.ini check
	echo "$output $stderr"
	[ "$status" -eq 0 ]
}

@test "walmgr backup: progress on a terminal" {
	command -v script >/dev/null
	sleep 1	# a label of its own
	run as_pg script -qec "env PATH='$TEST_DIR/bin:$PATH' walmgr '$TEST_DIR/wal-master.ini' backup" /dev/null
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"kB (100%)"* ]]
	[[ "$output" == *"MB/s"* ]]
}

@test "walmgr xlock / xrelease: a held lock refuses a backup" {
	run --separate-stderr w wal-master.ini xlock
	[ "$status" -eq 0 ]
	run --separate-stderr w wal-master.ini xlock
	[ "$status" -eq 1 ]
	n=$(ls "$TEST_DIR/walshipping/base" | wc -l)
	run --separate-stderr w wal-master.ini backup
	[ "$status" -eq 3 ]
	[[ "$stderr" == *lock* ]]
	[ "$(ls "$TEST_DIR/walshipping/base" | wc -l)" -eq "$n" ]
	run --separate-stderr w wal-master.ini xrelease
	[ "$status" -eq 0 ]
	run --separate-stderr w wal-master.ini xlock
	[ "$status" -eq 0 ]
	w wal-master.ini xrelease
}

@test "walmgr -n: nothing changes" {
	n=$(ls "$TEST_DIR/walshipping/base" | wc -l)
	run --separate-stderr w wal-master.ini -n backup
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"not really"* ]]
	[ "$(ls "$TEST_DIR/walshipping/base" | wc -l)" -eq "$n" ]
	cmd=$(sql postgres 'SHOW archive_command')
	run --separate-stderr walmgr "$TEST_DIR/wal-master.ini" setup --not-really
	[ "$status" -eq 0 ]
	[ "$(sql postgres 'SHOW archive_command')" = "$cmd" ]
	run --separate-stderr walmgr --not-really "$TEST_DIR/wal-master.ini" stop
	[ "$status" -eq 0 ]
	grep -q "^archive_mode = 'on'" "$TEST_PGDATA/postgresql.auto.conf"
	run --separate-stderr w wal-slave.ini restore "$(cat "$TEST_DIR/label1")" "$TEST_DIR/nr" -n
	[ "$status" -eq 0 ]
	[ ! -e "$TEST_DIR/nr" ]
	before=$(ls "$TEST_DIR/walshipping/wal")
	run --separate-stderr w wal-master.ini -n xpurgewals
	[ "$status" -eq 0 ]
	[ -n "$output" ]
	[ "$(ls "$TEST_DIR/walshipping/wal")" = "$before" ]
}

@test "walmgr restore SET DEST with xrestore as restore_command: every archived row back" {
	label=$(cat "$TEST_DIR/label1")
	expect=$(sql postgres "SELECT count(*) FROM t")
	w wal-master.ini sync
	run --separate-stderr w wal-slave.ini restore "$label" "$TEST_DIR/r1" --no-archive
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"backup $label restored"* ]]
	# The old line, as an old recovery.conf had it, replaces ours.
	printf "restore_command = '%s'\n" "$TEST_DIR/bin/walmgr $TEST_DIR/wal-slave.ini xrestore %f %p" \
		>> "$TEST_DIR/r1/postgresql.auto.conf"
	start_copy "$TEST_DIR/r1" 5433
	wait_for q_is 5433 "SELECT pg_is_in_recovery()" f
	[ "$(psql -XAtq -p 5433 -d postgres -c 'SELECT count(*) FROM t')" = "$expect" ]
	grep -q "restored log file" "$TEST_DIR/r1.log"
	stop_copy "$TEST_DIR/r1"
	run --separate-stderr w wal-slave.ini restore no-such-set "$TEST_DIR/r2"
	[ "$status" -eq 1 ]
	[ ! -e "$TEST_DIR/r2" ]
}

@test "walmgr xrestore: a damaged segment stops recovery, it does not promote" {
	label=$(cat "$TEST_DIR/label1")
	run --separate-stderr w wal-slave.ini restore "$label" "$TEST_DIR/dmg" --no-archive
	[ "$status" -eq 0 ]
	printf "restore_command = '%s'\n" "$TEST_DIR/bin/walmgr $TEST_DIR/wal-slave.ini xrestore %f %p" \
		>> "$TEST_DIR/dmg/postgresql.auto.conf"
	# The newest segment: recovery reads every one up to it.
	next=$(ls "$TEST_DIR/walshipping/wal" | grep -v history | sed 's/\.zst$//' | tail -n 1)
	f="$TEST_DIR/walshipping/wal/$next.zst"
	cp "$f" "$TEST_DIR/saved"
	printf 'XXXX' | dd of="$f" bs=1 seek=100 conv=notrunc 2>/dev/null
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/dmg" -l "$TEST_DIR/dmg.log" -o "-p 5435 -k $TEST_DIR" -w -t 60 start \
		>/dev/null 2>&1 || true
	wait_for test ! -f "$TEST_DIR/dmg/postmaster.pid"
	cp "$TEST_DIR/saved" "$f"
	cat "$TEST_DIR/dmg.log"
	[ -f "$TEST_DIR/dmg/recovery.signal" ]
	grep -q "$next.*recovery stopped" "$TEST_DIR/dmg.log"
}

@test "walmgr createslave and synch-standby: a streaming standby, then synchronous" {
	run --separate-stderr w wal-slave.ini createslave
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ -f "$TEST_DIR/slave/standby.signal" ]
	[[ "$stderr" == *"pg_ctl -D $TEST_DIR/slave -o '-p "[0-9]*"' start"* ]]
	grep -q "^primary_conninfo = 'host=$TEST_DIR port=5432 user=postgres application_name=walsby'" \
		"$TEST_DIR/slave/postgresql.auto.conf"
	start_copy "$TEST_DIR/slave" 5434
	wait_for q_is 5432 "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'walsby' AND state = 'streaming'" 1
	run --separate-stderr w wal-master.ini synch-standby nosuch
	[ "$status" -eq 1 ]
	[ "$(sql postgres 'SHOW synchronous_standby_names')" = "" ]
	run --separate-stderr w wal-master.ini synch-standby 'FIRST 1 (walsby, nosuch)'
	[ "$status" -eq 0 ]
	wait_for q_is 5432 'SHOW synchronous_standby_names' 'FIRST 1 (walsby, nosuch)'
	sql postgres "INSERT INTO t SELECT g, 'synchronous' FROM generate_series(1, 10) g"
	[ "$(psql -XAtq -p 5434 -d postgres -c "SELECT count(*) FROM t WHERE phase = 'synchronous'")" = 10 ] ||
		wait_for q_is 5434 "SELECT count(*) FROM t WHERE phase = 'synchronous'" 10
	run --separate-stderr w wal-master.ini synch-standby
	[ "$status" -eq 0 ]
	wait_for q_is 5432 'SHOW synchronous_standby_names' ''
}

@test "walmgr backup from a standby (zstd); restore of that set" {
	sed "s/port=5432/port=5434/" "$TEST_DIR/wal-master.ini" > "$TEST_DIR/on-standby.ini"
	[ "$(id -u)" = 0 ] && chown postgres: "$TEST_DIR/on-standby.ini"
	sql postgres "CHECKPOINT"
	sql postgres "INSERT INTO t SELECT g, 'before-sb-backup' FROM generate_series(1, 10) g"
	wait_for q_is 5434 "SELECT count(*) FROM t WHERE phase = 'before-sb-backup'" 10
	sleep 1	# a label of its own
	run --separate-stderr w on-standby.ini backup
	echo "$stderr"
	[ "$status" -eq 0 ]
	label=$output
	grep -q '^BACKUP FROM: standby' "$TEST_DIR/walshipping/base/$label/backup_label"
	expect=$(sql postgres "SELECT count(*) FROM t")
	w wal-master.ini sync
	run --separate-stderr w wal-slave.ini restore "$label" "$TEST_DIR/r3" --no-archive
	[ "$status" -eq 0 ]
	start_copy "$TEST_DIR/r3" 5436
	wait_for q_is 5436 "SELECT pg_is_in_recovery()" f
	[ "$(psql -XAtq -p 5436 -d postgres -c 'SELECT count(*) FROM t')" = "$expect" ]
	stop_copy "$TEST_DIR/r3"
}

@test "walmgr xpurgewals: WAL older than the oldest backup goes, backups stay" {
	first=$(cat "$TEST_DIR/label1")
	old=$(ls "$TEST_DIR/walshipping/wal" | grep -v history | head -n 1)
	n=$(ls "$TEST_DIR/walshipping/base" | wc -l)
	run --separate-stderr w wal-master.ini xpurgewals
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == *"${old%.zst}"* ]]
	[ ! -e "$TEST_DIR/walshipping/wal/$old" ]
	[ "$(ls "$TEST_DIR/walshipping/base" | wc -l)" -eq "$n" ]
	run --separate-stderr wal-check -A "$TEST_DIR/walshipping" --backup "$first"
	[ "$status" -eq 0 ]
}

@test "walmgr cleanup: keep_backups_days, keep_wal_backups; the running standby's WAL stays" {
	cp "$TEST_DIR/wal-slave.ini" "$TEST_DIR/cleanup.ini"
	printf 'keep_backups = 1\nkeep_backups_days = 1\nkeep_wal_backups = 1\n' >> "$TEST_DIR/cleanup.ini"
	[ "$(id -u)" = 0 ] && chown postgres: "$TEST_DIR/cleanup.ini"
	need=$(psql -XAtq -p 5434 -d postgres -c "SELECT redo_wal_file FROM pg_control_checkpoint()")
	in_archive "$need"
	sleep 1	# a label of its own
	w wal-master.ini backup >/dev/null
	w wal-master.ini sync
	n=$(ls "$TEST_DIR/walshipping/base" | wc -l)
	[ "$n" -ge 3 ]
	run --separate-stderr w cleanup.ini cleanup
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"keeping WAL from $need"* ]]
	in_archive "$need"
	# Every backup is younger than a day: all stay.
	[ "$(ls "$TEST_DIR/walshipping/base" | wc -l)" -eq "$n" ]
	stop_copy "$TEST_DIR/slave"
	run --separate-stderr w cleanup.ini cleanup
	[ "$status" -eq 0 ]
	! in_archive "$need" || false
	[ "$(ls "$TEST_DIR/walshipping/base" | wc -l)" -eq "$n" ]
}

@test "walmgr periodic: runs periodic_command at most every command_interval" {
	cp "$TEST_DIR/wal-master.ini" "$TEST_DIR/periodic.ini"
	printf 'periodic_command = touch %s/ran\ncommand_interval = 3600\n' "$TEST_DIR" >> "$TEST_DIR/periodic.ini"
	run --separate-stderr walmgr "$TEST_DIR/periodic.ini" periodic
	[ "$status" -eq 0 ]
	[ -f "$TEST_DIR/ran" ]
	rm "$TEST_DIR/ran"
	run --separate-stderr walmgr "$TEST_DIR/periodic.ini" periodic
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"not run"* ]]
	[ ! -e "$TEST_DIR/ran" ]
	printf 'periodic_command = false\ncommand_interval = 0\n' >> "$TEST_DIR/periodic.ini"
	run --separate-stderr walmgr "$TEST_DIR/periodic.ini" periodic
	[ "$status" -eq 3 ]
	run --separate-stderr walmgr "$TEST_DIR/wal-slave.ini" periodic
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"not set"* ]]
}

@test "walmgr --init-master / --init-slave: a config file, never overwritten" {
	run --separate-stderr walmgr --init-master --archive "$TEST_DIR/walshipping" \
		--pgdata "$TEST_PGDATA" --config-dir "$TEST_DIR/conf" --master-db "host=$TEST_DIR dbname=postgres"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$TEST_DIR/conf/wal-master.ini" ]
	run --separate-stderr walmgr "$TEST_DIR/conf/wal-master.ini" listbackups
	[ "$status" -eq 0 ]
	[[ "$output" == *"$(cat "$TEST_DIR/label1")"* ]]
	run --separate-stderr walmgr --init-master --archive "$TEST_DIR/other" \
		--pgdata "$TEST_PGDATA" --config-dir "$TEST_DIR/conf"
	[ "$status" -eq 4 ]
	grep -q "walshipping" "$TEST_DIR/conf/wal-master.ini"
	run --separate-stderr walmgr --init-slave --archive "$TEST_DIR/walshipping" \
		--pgdata "$TEST_DIR/s2" --config-dir "$TEST_DIR/conf" --primary-conninfo "host=$TEST_DIR"
	[ "$status" -eq 0 ]
	grep -q "^standby_data = $TEST_DIR/s2$" "$TEST_DIR/conf/wal-slave.ini"
	run --separate-stderr walmgr --init-slave --archive host:/x --pgdata /x --config-dir "$TEST_DIR/c2"
	[ "$status" -eq 0 ]
	grep -qx 'archive = host:/x' "$TEST_DIR/c2/wal-slave.ini"
	run --separate-stderr walmgr --init-slave --archive rel/x --pgdata /x --config-dir "$TEST_DIR/c4"
	[ "$status" -eq 2 ]
	run --separate-stderr walmgr -n --init-slave --archive /x --pgdata /x --config-dir "$TEST_DIR/c3"
	[ "$status" -eq 0 ]
	[ ! -e "$TEST_DIR/c3" ]
}

@test "walmgr status: archiver and backups as TSV and as Prometheus text" {
	seg=$(w wal-master.ini sync)
	# sync returns once the archive has the segment; the server counts it
	# archived only after archive_command exited, and status reports that
	wait_for q_is 5432 "SELECT coalesce(last_archived_wal >= '$seg', false) FROM pg_stat_archiver" t
	run --separate-stderr w wal-master.ini status
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | wc -l)" -eq 2 ]
	[[ "$(echo "$output" | head -n 1)" == last_archived_wal*backups ]]
	row=$(echo "$output" | sed -n 2p)
	[ "$(echo "$row" | cut -f1)" = "$(sql postgres 'SELECT last_archived_wal FROM pg_stat_archiver')" ]
	[ "$(echo "$row" | cut -f5)" = 0 ]	# no lag
	[ "$(echo "$row" | cut -f7)" = 0 ]	# not failing
	[ "$(echo "$row" | cut -f13)" = "$(ls "$TEST_DIR/walshipping/base" | wc -l)" ]
	[[ "$(echo "$row" | cut -f12)" =~ ^[0-9]+$ ]]
	# Archiving fails: the archive's WAL directory is read-only.
	chmod 500 "$TEST_DIR/walshipping/wal"
	sql postgres "INSERT INTO t SELECT g, 'status' FROM generate_series(1, 10) g"
	sql postgres "SELECT pg_switch_wal()" >/dev/null
	wait_for q_is 5432 "SELECT failed_count > 0 FROM pg_stat_archiver" t
	run --separate-stderr w wal-master.ini status --prometheus
	chmod 700 "$TEST_DIR/walshipping/wal"
	echo "$output"
	[ "$status" -eq 0 ]
	echo "$output" | grep -qx 'walmgr_archive_failing{archive="'"$TEST_DIR"'/walshipping"} 1'
	echo "$output" | grep -Eq '^walmgr_archive_lag_segments\{[^}]*\} [1-9][0-9]*$'
	echo "$output" | grep -q '^# TYPE walmgr_failed_total counter$'
	# Every line a comment or a sample.
	! echo "$output" | grep -Ev '^(# (HELP|TYPE) walmgr_[a-z_]+ .+|walmgr_[a-z_]+\{archive="[^"]*"\} [0-9]+)$' || false
	run --separate-stderr w wal-master.ini status --bogus
	[ "$status" -eq 2 ]
	w wal-master.ini sync >/dev/null
}

@test "walmgr check and restore: a damaged compressed backup is found and refused" {
	label=$(cat "$TEST_DIR/label1")
	f="$TEST_DIR/walshipping/base/$label/base.tar.zst"
	printf 'XXXX' | dd of="$f" bs=1 seek=200 conv=notrunc 2>/dev/null
	run --separate-stderr w wal-master.ini check
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"base backup $label: damaged"* ]]
	run --separate-stderr w wal-slave.ini restore "$label" "$TEST_DIR/r4"
	[ "$status" -eq 4 ]
}
