#!/usr/bin/env bats
# wal-push --async: further ready segments pushed in parallel, recorded
# in a spool; the same guarantees as one push per call.  The server
# tests run in order and build on each other's state (one archive, one
# master).
load helper

setup_file() {
	pg_start || return 1
	mkdir -p "$TEST_DIR/bin"
	cp "$SKYTOOLS_BUILD"/bin/wal-* "$TOP/sh/walmgr" "$TOP/sh/skytools-sh.lib" "$TEST_DIR/bin/"
	chmod 755 "$TEST_DIR/bin" "$TEST_DIR"/bin/*
	cat > "$TEST_DIR/walmgr.ini" <<-INI
	[walmgr]
	master_db = host=$TEST_DIR port=5432 dbname=postgres
	master_data = $TEST_PGDATA
	archive = $TEST_DIR/arch
	archive_async = 4
	INI
	[ "$(id -u)" = 0 ] && chown -R postgres: "$TEST_DIR/bin" "$TEST_DIR/walmgr.ini"
	return 0
}

setup() {
	F="$BATS_TEST_TMPDIR/f"
	mkdir -p "$F/pg_wal/archive_status" "$F/arch"
}

walmgr_pg() {
	as_pg env PATH="$TEST_DIR/bin:$PATH" walmgr "$TEST_DIR/walmgr.ini" "$@"
}

q_is() {	# q_is PORT SQL VALUE
	[ "$(psql -XAtq -p "$1" -d postgres -c "$2")" = "$3" ]
}

archived_upto() {	# wait until the server at 5432 archived segment $1
	wait_for q_is 5432 \
		"SELECT coalesce(last_archived_wal >= '$1', false) FROM pg_stat_archiver" t
}

burst() {	# $1 small writes, each closing its segment; prints the last name
	local i seg
	for i in $(seq 1 "$1"); do
		sql postgres "INSERT INTO t SELECT g, 'burst' FROM generate_series(1, 10) g" >/dev/null
		seg=$(sql postgres "SELECT pg_walfile_name(pg_switch_wal())")
	done
	echo "$seg"
}

# Every spool entry names a segment the archive holds with the content
# of the file in pg_wal (a fake server directory).
spool_true() {	# spool_true DIR
	local e
	for e in $(ls "$F/spool" 2>/dev/null); do
		wal-fetch -A "$F/arch" "$e" "$F/out" || return 1
		cmp "$F/pg_wal/$e" "$F/out" || return 1
	done
}

seg() { printf '0000000100000000000000%02X' "$1"; }

ready() {	# ready FIRST LAST [BYTES]: fake ready segments FIRST..LAST
	local i
	for i in $(seq "$1" "$2"); do
		wal_segment "$(seg "$i")" "${3:-1048576}" > "$F/pg_wal/$(seg "$i")"
		touch "$F/pg_wal/archive_status/$(seg "$i").ready"
	done
}

@test "wal-push --async: usage errors" {
	ready 1 1
	cd "$F"
	run --separate-stderr wal-push -A arch --async "pg_wal/$(seg 1)" "$(seg 1)"
	[ "$status" -eq 2 ]
	run --separate-stderr wal-push -A arch --spool spool "pg_wal/$(seg 1)" "$(seg 1)"
	[ "$status" -eq 2 ]
	run --separate-stderr wal-push -A arch --async --spool spool --stdin 3 "$(seg 1)" </dev/null
	[ "$status" -eq 2 ]
	run --separate-stderr wal-push -A arch --async --spool spool --jobs 0 "pg_wal/$(seg 1)" "$(seg 1)"
	[ "$status" -eq 2 ]
	run --separate-stderr wal-push -A arch --async --spool spool --jobs 65 "pg_wal/$(seg 1)" "$(seg 1)"
	[ "$status" -eq 2 ]
	[ ! -e arch/wal ] && [ ! -e spool ]
	# A spool that cannot be made: a failure a retry may fix, nothing
	# pushed.
	touch notadir
	run --separate-stderr wal-push -A arch --async --spool notadir/spool "pg_wal/$(seg 1)" "$(seg 1)"
	[ "$status" -eq 3 ]
	[[ "$stderr" == "wal-push: notadir/spool: "* ]]
	[ ! -e "arch/wal/$(seg 1)" ]
	run --separate-stderr wal-push --help
	[[ "$output" == *--async* ]]
}

@test "wal-push --async: the next ready segments go along, archive_status is only read" {
	ready 1 6
	# Not a segment, and older than the named one: never pushed by a call
	# for another name.
	touch "$F/pg_wal/archive_status/00000002.history.ready"
	printf 'x' > "$F/pg_wal/00000002.history"
	cd "$F"
	before=$(ls -l --time-style=full-iso pg_wal/archive_status)
	run --separate-stderr wal-push -A arch --async --spool spool --jobs 3 "pg_wal/$(seg 2)" "$(seg 2)"
	[ "$status" -eq 0 ]
	[ "$(ls arch/wal)" = "$(printf '%s\n' "$(seg 2)" "$(seg 3)" "$(seg 4)")" ]
	[ "$(ls spool)" = "$(ls arch/wal)" ]
	spool_true
	[ "$(ls -l --time-style=full-iso pg_wal/archive_status)" = "$before" ]
	# Recorded: the archive is only asked whether it holds the file, the
	# source is not read again (PostgreSQL never changes or removes a
	# ready segment; gone here to prove it).
	rm "pg_wal/$(seg 3)"
	run --separate-stderr wal-push -A arch --async --spool spool --jobs 3 "pg_wal/$(seg 3)" "$(seg 3)"
	[ "$status" -eq 0 ]
	# Entries before the named segment are cleaned.
	[ ! -e "spool/$(seg 2)" ]
	[ -e "spool/$(seg 4)" ]
	[ "$(ls arch/wal | wc -l)" -eq 3 ]
	[ "$(ls -l --time-style=full-iso pg_wal/archive_status)" = "$before" ]
}

@test "wal-push --async: a spool entry without its archived file is pushed again" {
	ready 1 3
	cd "$F"
	wal-push -A arch --async --spool spool --jobs 3 "pg_wal/$(seg 1)" "$(seg 1)"
	[ -e "spool/$(seg 2)" ]
	rm "arch/wal/$(seg 2)"
	run --separate-stderr wal-push -A arch --async --spool spool --jobs 1 "pg_wal/$(seg 2)" "$(seg 2)"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"not in the archive"* ]]
	wal-fetch -A arch "$(seg 2)" out
	cmp "pg_wal/$(seg 2)" out
}

@test "wal-push --async: a failed push records nothing and fails only its own segment" {
	ready 1 4
	cd "$F"
	mkdir -p arch/wal
	printf 'damaged' > "arch/wal/$(seg 3)"
	# Another segment's failure: the named one still succeeds.
	run --separate-stderr wal-push -A arch --async --spool spool --jobs 4 "pg_wal/$(seg 1)" "$(seg 1)"
	[ "$status" -eq 0 ]
	[ ! -e "spool/$(seg 3)" ]
	[ -e "spool/$(seg 4)" ]
	[ "$(cat "arch/wal/$(seg 3)")" = damaged ]
	spool_true
	# The named segment's failure: its status, whatever the others did.
	run --separate-stderr wal-push -A arch --async --spool spool --jobs 4 "pg_wal/$(seg 3)" "$(seg 3)"
	[ "$status" -eq 4 ]
	[ ! -e "spool/$(seg 3)" ]
	# Repaired: the retry archives it.
	rm "arch/wal/$(seg 3)"
	run --separate-stderr wal-push -A arch --async --spool spool --jobs 4 "pg_wal/$(seg 3)" "$(seg 3)"
	[ "$status" -eq 0 ]
	spool_true
}

@test "wal-push --async: a ready file that is not a segment is refused by its own call only" {
	ready 1 3
	head -c 100000 /dev/urandom > "$F/pg_wal/$(seg 2)"
	cd "$F"
	run --separate-stderr wal-push -A arch --async --spool spool --jobs 3 "pg_wal/$(seg 1)" "$(seg 1)"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"not WAL segment $(seg 2): 100000 bytes"* ]]
	[ "$(ls arch/wal)" = "$(printf '%s\n' "$(seg 1)" "$(seg 3)")" ]
	[ ! -e "spool/$(seg 2)" ]
	run --separate-stderr wal-push -A arch --async --spool spool --jobs 3 "pg_wal/$(seg 2)" "$(seg 2)"
	[ "$status" -eq 2 ]
	[ ! -e "arch/wal/$(seg 2)" ] && [ ! -e "spool/$(seg 2)" ]
}

@test "wal-push --async: SIGKILL of the pusher and its children at random points loses nothing" {
	ready 1 24 2097152
	cd "$F"
	for n in $(seq 1 2 23); do
		setsid wal-push -A arch --async --spool spool --jobs 4 \
			"pg_wal/$(seg "$n")" "$(seg "$n")" 2>/dev/null &
		pid=$!
		sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
		kill -9 -- "-$pid" 2>/dev/null || true
		wait "$pid" || true
		# Nothing recorded that the archive lacks or holds otherwise.
		spool_true
		# The server's retry of the same name, then the next one in
		# order as it acknowledges them.
		for m in "$n" "$((n + 1))"; do
			run --separate-stderr wal-push -A arch --async --spool spool --jobs 4 \
				"pg_wal/$(seg "$m")" "$(seg "$m")"
			[ "$status" -eq 0 ]
			wal-fetch -A arch "$(seg "$m")" out
			cmp "pg_wal/$(seg "$m")" out
		done
	done
	[ "$(ls arch/wal | wc -l)" -eq 24 ]
	run --separate-stderr wal-check -A arch
	[ "$status" -eq 0 ]
}

@test "walmgr archive_async: bad values, --library and a remote archive are refused" {
	sed 's/^archive_async = .*/archive_async = 65/' "$TEST_DIR/walmgr.ini" > "$F/bad.ini"
	run --separate-stderr walmgr "$F/bad.ini" setup
	[ "$status" -eq 2 ]
	[[ "$stderr" == *archive_async* ]]
	run --separate-stderr walmgr "$TEST_DIR/walmgr.ini" setup --library
	[ "$status" -eq 2 ]
	[[ "$stderr" == *archive_async* ]]
	sed "s|^archive = .*|archive = otherhost:$TEST_DIR/arch|" "$TEST_DIR/walmgr.ini" > "$F/remote.ini"
	run --separate-stderr walmgr "$F/remote.ini" setup
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"archive_async needs a local archive"* ]]
	[ "$(sql postgres 'SHOW archive_mode')" = off ]
}

@test "walmgr setup with archive_async: the async archive_command" {
	run --separate-stderr walmgr_pg setup
	[ "$status" -eq 0 ]
	pg_restart
	cmd=$(sql postgres 'SHOW archive_command')
	[[ "$cmd" == *"$TEST_DIR/bin/wal-push"*"'--async' '--spool' 'walmgr_spool' '--jobs' '4' %p %f" ]]
	sql postgres "CREATE TABLE t (id int, phase text)"
	run --separate-stderr walmgr_pg backup
	[ "$status" -eq 0 ]
}

@test "async archiving: a burst, every segment archived once, wal-check clean" {
	last=$(burst 30)
	archived_upto "$last"
	[ "$(sql postgres 'SELECT failed_count FROM pg_stat_archiver')" = 0 ]
	[ -z "$(ls "$TEST_DIR/arch/wal" | sed 's/\.zst$//' | sort | uniq -d)" ]
	run --separate-stderr wal-check -A "$TEST_DIR/arch"
	[ "$status" -eq 0 ]
	[[ "$output" != *missing* ]]
	[ -d "$TEST_PGDATA/walmgr_spool" ]
	for e in $(ls "$TEST_PGDATA/walmgr_spool"); do
		[ -e "$TEST_DIR/arch/wal/$e" ]
	done
}

@test "async archiving: a damaged archived copy makes the server retry, no false success" {
	# The segment being written now: its push will meet a damaged copy.
	bad=$(sql postgres "SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
	as_pg sh -c "printf damaged > '$TEST_DIR/arch/wal/$bad'"
	last=$(burst 8)
	wait_for q_is 5432 "SELECT last_failed_wal FROM pg_stat_archiver" "$bad"
	# The server still waits for it, and the spool never says it is done.
	wait_for q_is 5432 "SELECT failed_count >= 2 FROM pg_stat_archiver" t
	q_is 5432 "SELECT coalesce(last_archived_wal < '$bad', true) FROM pg_stat_archiver" t
	[ ! -e "$TEST_PGDATA/walmgr_spool/$bad" ]
	[ "$(cat "$TEST_DIR/arch/wal/$bad")" = damaged ]
	[ -e "$TEST_PGDATA/pg_wal/archive_status/$bad.ready" ]
	for e in $(ls "$TEST_PGDATA/walmgr_spool"); do
		[ -e "$TEST_DIR/arch/wal/$e" ]
	done
	# Repaired: the server's retry archives it and the rest (a new
	# segment wakes the archiver, which waits a minute after three
	# failures in a row).
	rm "$TEST_DIR/arch/wal/$bad"
	last=$(burst 1)
	archived_upto "$last"
	run --separate-stderr wal-check -A "$TEST_DIR/arch"
	[ "$status" -eq 0 ]
	[[ "$output" != *missing* ]]
}

@test "async archiving: SIGKILL of the server's pushers at random points loses nothing" {
	for k in $(seq 1 6); do
		last=$(burst 3)
		sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
		# The archiver is restarted by the postmaster after a command
		# killed by a signal: look it up each time.
		archiver=$(sql postgres "SELECT pid FROM pg_stat_activity WHERE backend_type = 'archiver'")
		[ -n "$archiver" ] || continue
		for p in $(descendants "$archiver"); do
			a=$(argv0 "$p") || continue
			[ "${a##*/}" = wal-push ] && kill -9 "$p" 2>/dev/null || true
		done
	done
	last=$(burst 1)
	archived_upto "$last"
	[ -z "$(ls "$TEST_DIR/arch/wal" | sed 's/\.zst$//' | sort | uniq -d)" ]
	for e in $(ls "$TEST_PGDATA/walmgr_spool"); do
		[ -e "$TEST_DIR/arch/wal/$e" ]
	done
	run --separate-stderr wal-check -A "$TEST_DIR/arch"
	[ "$status" -eq 0 ]
	[[ "$output" != *missing* ]]
}

@test "async archiving: point-in-time restore is exact" {
	burst_rows=$(sql postgres "SELECT count(*) FROM t WHERE phase = 'burst'")
	sql postgres "INSERT INTO t SELECT g, 'before' FROM generate_series(1, 100) g"
	target=$(sql postgres "SELECT clock_timestamp()")
	sleep 0.1
	sql postgres "INSERT INTO t SELECT g, 'after' FROM generate_series(1, 100) g"
	last=$(burst 5)
	archived_upto "$last"
	run --separate-stderr walmgr_pg restore "$TEST_DIR/pitr" --target-time "$target" --pause
	[ "$status" -eq 0 ]
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/pitr" -l "$TEST_DIR/pitr.log" \
		-o "-p 5433 -k $TEST_DIR" -w -t 60 start >/dev/null
	wait_for q_is 5433 'SELECT pg_get_wal_replay_pause_state()' paused
	[ "$(psql -XAtq -p 5433 -d postgres -c "SELECT count(*) FROM t WHERE phase = 'before'")" = 100 ]
	[ "$(psql -XAtq -p 5433 -d postgres -c "SELECT count(*) FROM t WHERE phase = 'after'")" = 0 ]
	[ "$(psql -XAtq -p 5433 -d postgres -c "SELECT count(*) FROM t WHERE phase = 'burst'")" = "$burst_rows" ]
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/pitr" -m fast -w stop >/dev/null
}
