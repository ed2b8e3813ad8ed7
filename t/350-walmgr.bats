#!/usr/bin/env bats
# walmgr on a real cluster: archiving, base backup, point-in-time restore,
# standby, promotion, cleanup, check.  The tests run in order and build on
# each other's state (one archive, one master).
load helper
load 35x-walmgr

setup_file() {
	walmgr_setup || return 1
	# The archive path has a space on purpose.
	cat > "$TEST_DIR/walmgr.ini" <<-INI
	[walmgr]
	job_name = test
	master_db = host=$TEST_DIR port=5432 dbname=postgres
	master_data = $TEST_PGDATA
	archive = $TEST_DIR/arch ive
	keep_backups = 1
	compression = zstd
	standby_data = %(job_name)s-standby-is-replaced-below
	INI
	sed -i "s|^standby_data = .*|standby_data = $TEST_DIR/standby|" "$TEST_DIR/walmgr.ini"
	pg_owns "$TEST_DIR/walmgr.ini"
}

@test "walmgr: usage and help" {
	run --separate-stderr walmgr
	[ "$status" -eq 2 ]
	[[ "$stderr" == *usage:* ]]
	run --separate-stderr walmgr --help
	[ "$status" -eq 0 ]
	[[ "$output" == *usage:* ]]
	run --separate-stderr walmgr "$TEST_DIR/walmgr.ini" no-such-verb
	[ "$status" -eq 2 ]
	run --separate-stderr walmgr "$TEST_DIR/nonexistent.ini" check
	[ "$status" -eq 2 ]
}

@test "walmgr setup: archive_command set, restart requested, archiving works" {
	run --separate-stderr walmgr_pg setup
	[ "$status" -eq 0 ]
	[[ "$stderr" == *restart* ]]
	# A backup before the restart: the WAL after it never reaches the archive.
	run --separate-stderr as_pg env PATH="$TEST_DIR/bin:$PATH" walmgr -n "$TEST_DIR/walmgr.ini" backup
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"archive_mode is off until a restart"* ]]
	pg_restart
	run --separate-stderr as_pg env PATH="$TEST_DIR/bin:$PATH" walmgr -n "$TEST_DIR/walmgr.ini" backup
	[ "$status" -eq 0 ]
	[[ "$stderr" != *"archive_mode is off"* ]]
	[ "$(sql postgres 'SHOW archive_mode')" = on ]
	[[ "$(sql postgres 'SHOW archive_command')" == *"$TEST_DIR/bin/wal-push"* ]]
	sql postgres "CREATE TABLE t (id int, phase text)"
	for i in 1 2 3; do
		sql postgres "INSERT INTO t SELECT g, 'warmup' FROM generate_series(1, 1000) g"
		switch_and_wait
	done
	[ "$(stat -c %a "$TEST_DIR/arch ive/wal")" = 700 ]
	run --separate-stderr wal-check -A "$TEST_DIR/arch ive"
	[ "$status" -eq 0 ]
	[[ "$output" == checked* ]]
	[[ "$output" != *missing* ]]
}

@test "walmgr backup and listbackups" {
	run --separate-stderr walmgr_pg backup
	[ "$status" -eq 0 ]
	label=$output
	[ -f "$TEST_DIR/arch ive/base/$label/backup_manifest" ]
	run --separate-stderr walmgr_pg listbackups
	[ "$status" -eq 0 ]
	[[ "$output" == *"base	$label	1	"* ]]
	switch_and_wait
	run --separate-stderr wal-check -A "$TEST_DIR/arch ive" --backup "$label" --verify
	[ "$status" -eq 0 ]
}

@test "walmgr restore: point in time shows exactly the rows before the target" {
	sql postgres "INSERT INTO t SELECT g, 'before' FROM generate_series(1, 100) g"
	target=$(sql postgres "SELECT clock_timestamp()")
	sleep 0.1
	sql postgres "INSERT INTO t SELECT g, 'after' FROM generate_series(1, 100) g"
	switch_and_wait
	# --pause: a copy to look at is not promoted, so it does not start
	# a timeline of its own in the archive.
	run --separate-stderr walmgr_pg restore "$TEST_DIR/pitr" --target-time "$target" --pause
	[ "$status" -eq 0 ]
	[ -f "$TEST_DIR/pitr/recovery.signal" ]
	start_copy "$TEST_DIR/pitr" 5433
	wait_for q_is 5433 'SELECT pg_get_wal_replay_pause_state()' paused
	[ "$(psql -XAtq -p 5433 -d postgres -c "SELECT count(*) FROM t WHERE phase = 'before'")" = 100 ]
	[ "$(psql -XAtq -p 5433 -d postgres -c "SELECT count(*) FROM t WHERE phase = 'after'")" = 0 ]
	[ "$(psql -XAtq -p 5433 -d postgres -c "SELECT count(*) FROM t WHERE phase = 'warmup'")" = 3000 ]
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/pitr" -m fast -w stop >/dev/null
}

@test "walmgr restore: a target before every backup is refused" {
	run --separate-stderr walmgr_pg restore "$TEST_DIR/early" --target-time "2001-01-01 00:00:00+00"
	[ "$status" -eq 1 ]
	[ ! -e "$TEST_DIR/early/PG_VERSION" ]
	mkdir -p "$TEST_DIR/full"
	touch "$TEST_DIR/full/x"
	run --separate-stderr walmgr_pg restore "$TEST_DIR/full"
	[ "$status" -eq 2 ]
}

@test "walmgr standby: replays WAL archived later; pause, continue, boot" {
	run --separate-stderr walmgr_pg standby
	[ "$status" -eq 0 ]
	[ -f "$TEST_DIR/standby/standby.signal" ]
	# How to start it beside the master: on a port of its own.
	[[ "$stderr" == *"pg_ctl -D $TEST_DIR/standby -o '-p "[0-9]*"' start"* ]]
	[[ "$stderr" != *"set standby_data"* ]]
	# Built elsewhere, it is not the one boot, pause and continue find.
	run --separate-stderr walmgr_pg standby "$TEST_DIR/standby2"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"set standby_data = $TEST_DIR/standby2 in"* ]]
	rm -rf "$TEST_DIR/standby2"
	start_copy "$TEST_DIR/standby" 5434
	sql postgres "INSERT INTO t SELECT g, 'later' FROM generate_series(1, 50) g"
	switch_and_wait
	wait_for q_is 5434 "SELECT count(*) FROM t WHERE phase = 'later'" 50
	run --separate-stderr walmgr_pg pause
	[ "$status" -eq 0 ]
	[ "$(psql -XAtq -p 5434 -d postgres -c 'SELECT pg_is_wal_replay_paused()')" = t ]
	run --separate-stderr walmgr_pg continue
	[ "$status" -eq 0 ]
	[ "$(psql -XAtq -p 5434 -d postgres -c 'SELECT pg_is_wal_replay_paused()')" = f ]
	run --separate-stderr walmgr_pg boot
	[ "$status" -eq 0 ]
	wait_for q_is 5434 'SELECT pg_is_in_recovery()' f
	# Booted, the standby forgets the settings walmgr gave it.
	! grep -Eq '^(restore_command|primary_conninfo|recovery_target_timeline)' \
		"$TEST_DIR/standby/postgresql.auto.conf" || false
	psql -XAtq -p 5434 -d postgres -c "INSERT INTO t VALUES (1, 'promoted')"
	[ "$(psql -XAtq -p 5434 -d postgres -c "SELECT count(*) FROM t WHERE phase = 'promoted'")" = 1 ]
	# The promoted server archives on timeline 2; wal-check follows it.
	switch_and_wait 5434
	[ -f "$TEST_DIR/arch ive/wal/00000002.history.zst" ]
	run --separate-stderr wal-check -A "$TEST_DIR/arch ive" --verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"	00000002"* ]]
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/standby" -m fast -w stop >/dev/null
}

@test "walmgr cleanup keeps the newest backup and the WAL it needs" {
	# After boot the promoted standby is the master of the newest
	# timeline: back it up, as one would after a failover.
	start_copy "$TEST_DIR/standby" 5434
	sed "s/port=5432/port=5434/" "$TEST_DIR/walmgr.ini" > "$TEST_DIR/new-master.ini"
	[ "$(id -u)" = 0 ] && chown postgres: "$TEST_DIR/new-master.ini"
	sleep 1	# a distinct backup label
	run --separate-stderr as_pg env PATH="$TEST_DIR/bin:$PATH" walmgr "$TEST_DIR/new-master.ini" backup
	[ "$status" -eq 0 ]
	second=$output
	switch_and_wait 5434
	[ "$(ls "$TEST_DIR/arch ive/base" | wc -l)" -eq 2 ]
	run --separate-stderr walmgr_pg cleanup
	[ "$status" -eq 0 ]
	[[ "$output" == *base* ]]
	[ "$(ls "$TEST_DIR/arch ive/base")" = "$second" ]
	[ -f "$TEST_DIR/arch ive/wal/00000002.history.zst" ]
	run --separate-stderr wal-check -A "$TEST_DIR/arch ive" --backup "$second"
	echo "$output $stderr"; ls "$TEST_DIR/arch ive/wal"
	[ "$status" -eq 0 ]
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/standby" -m fast -w stop >/dev/null
}

@test "walmgr check: clean archive passes, a damaged file fails" {
	run --separate-stderr walmgr_pg check
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	f=$(ls "$TEST_DIR/arch ive/wal" | grep -v history | tail -n 1)
	printf 'XXXX' | dd of="$TEST_DIR/arch ive/wal/$f" bs=1 seek=100 conv=notrunc 2>/dev/null
	run --separate-stderr walmgr_pg check
	[ "$status" -eq 1 ]
	[[ "$output" == *"damaged	$f"* ]]
}

@test "walmgr: unknown config keys warn, they do not fail" {
	cp "$TEST_DIR/walmgr.ini" "$TEST_DIR/extra.ini"
	printf 'no_such_key = /etc/x.ini\n' >> "$TEST_DIR/extra.ini"
	run --separate-stderr walmgr "$TEST_DIR/extra.ini" listbackups
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"no_such_key: unknown key"* ]]
	printf '[walmgr]\nmaster_db = x\n' > "$TEST_DIR/noarch.ini"
	run --separate-stderr walmgr "$TEST_DIR/noarch.ini" check
	[ "$status" -eq 2 ]
}

@test "walmgr: the original Skytools' wal-master.ini and wal-slave.ini, ~ in paths" {
	home="$TEST_DIR/home"
	mkdir -p "$home"
	cat > "$TEST_DIR/wal-master.ini" <<-INI
	[wal-master]
	job_name             = wal-master
	logfile              = ~/%(job_name)s.log
	use_skylog           = 1
	master_db            = host=$TEST_DIR port=5432 dbname=postgres
	master_data          = $TEST_PGDATA
	master_bin           = $TEST_PGBIN
	walmgr_data          = ~/walshipping
	completed_wals       = %(walmgr_data)s/logs.complete
	compression          = 0
	keep_symlinks        = 1
	INI
	cat > "$TEST_DIR/wal-slave.ini" <<-INI
	[wal-slave]
	job_name             = wal-standby
	slave_data           = ~/slave
	slave_bin            = $TEST_PGBIN
	walmgr_data          = ~/walshipping
	backup_datadir       = yes
	primary_conninfo     = host=$TEST_DIR port=5432 user=postgres
	INI
	[ "$(id -u)" = 0 ] && chown -R postgres: "$home" "$TEST_DIR"/wal-*.ini
	w() { local ini=$1; shift; as_pg env HOME="$home" PATH="$TEST_DIR/bin:$PATH" walmgr "$ini" "$@"; }
	run --separate-stderr w "$TEST_DIR/wal-master.ini" setup
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"completed_wals ignored"* ]]
	[[ "$stderr" != *"unknown key"* ]]
	[[ "$(sql postgres 'SHOW archive_command')" == *"$home/walshipping"* ]]
	# The archiver takes the new command on its own schedule after the
	# reload: a segment switched at once may still go to the old archive.
	# Switch (after a commit, so there is WAL to close) until one lands.
	wal_lands() {
		sql postgres "SELECT txid_current()" >/dev/null &&
			sql postgres "SELECT pg_switch_wal()" >/dev/null &&
			sleep 0.5 && [ -n "$(ls -A "$home/walshipping/wal" 2>/dev/null)" ]
	}
	wait_for wal_lands
	run --separate-stderr w "$TEST_DIR/wal-master.ini" backup
	[ "$status" -eq 0 ]
	[ -f "$home/walshipping/base/$output/backup_manifest" ]
	[ -s "$home/wal-master.log" ]
	run --separate-stderr w "$TEST_DIR/wal-slave.ini" standby
	[ "$status" -eq 0 ]
	[ -f "$home/slave/standby.signal" ]
	grep -q "^primary_conninfo = 'host=$TEST_DIR port=5432 user=postgres'" "$home/slave/postgresql.auto.conf"
	run --separate-stderr w "$TEST_DIR/wal-slave.ini" restore "$home/r"
	[ "$status" -eq 0 ]
	[ -f "$home/r/recovery.signal" ]
	grep -qF "''-A'' ''$home/walshipping''" "$home/r/postgresql.auto.conf"
}
