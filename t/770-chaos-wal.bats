#!/usr/bin/env bats
# WAL archive under fire: wal-push killed at random instants never leaves
# a partial file under a final name; a full filesystem fails cleanly and
# works again once space is freed; a cluster archiving through wal-push
# while pushes are killed and the server crashes and restarts still
# gives wal-check without gaps, and a point-in-time restore from that
# archive has exactly the rows before the target.
# CHAOS_ROUNDS rounds (10; `make chaos` runs 200).

load helper
load 35x-walmgr

ROUNDS=${CHAOS_ROUNDS:-10}

setup_file() {
	walmgr_setup || return 1
	cat > "$TEST_DIR/walmgr.ini" <<-INI
	[walmgr]
	job_name = chaos
	master_db = host=$TEST_DIR port=5432 dbname=postgres
	master_data = $TEST_PGDATA
	archive = $TEST_DIR/archive
	keep_backups = 2
	compression = zstd
	INI
	pg_owns "$TEST_DIR/walmgr.ini"
}

teardown_file() {
	[ -n "${TEST_DIR:-}" ] && mountpoint -q "$TEST_DIR/small" 2>/dev/null && umount "$TEST_DIR/small"
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/pitr" -m immediate -w stop >/dev/null 2>&1 || :
	pg_stop
}

# The pushes below are 4 MiB files, and wal-check counts segments by the
# archived files' size: 1024 of them to a log file number.
segname() { printf '00000001%08X%08X' $(( $1 / 1024 )) $(( $1 % 1024 )); }

@test "wal-push killed at random instants: a final name holds the whole file or nothing" {
	A=$BATS_TEST_TMPDIR/a
	mkdir -p "$A"
	n=$((ROUNDS * 3)) midway=0 done_before=0
	for i in $(seq 1 "$n"); do
		name=$(segname "$i")
		wal_segment "$name" $((1 << 22)) > "$BATS_TEST_TMPDIR/seg"
		comp=none
		[ $((i % 2)) = 0 ] && comp=zstd
		wal-push -A "$A" -c "$comp" "$BATS_TEST_TMPDIR/seg" "$name" 2>/dev/null &
		pid=$!
		sleep "0.0$((RANDOM % 60))"
		kill -9 "$pid" 2>/dev/null || :
		wait "$pid" 2>/dev/null && done_before=$((done_before + 1)) || midway=$((midway + 1))
		# whatever is under the final name is whole
		if ls "$A/wal/$name" "$A/wal/$name.zst" >/dev/null 2>&1; then
			wal-fetch -A "$A" "$name" "$BATS_TEST_TMPDIR/back"
			cmp "$BATS_TEST_TMPDIR/seg" "$BATS_TEST_TMPDIR/back"
			rm -f "$BATS_TEST_TMPDIR/back"
		fi
		# the retry PostgreSQL would make succeeds
		wal-push -A "$A" -c "$comp" "$BATS_TEST_TMPDIR/seg" "$name"
		wal-fetch -A "$A" "$name" "$BATS_TEST_TMPDIR/back"
		cmp "$BATS_TEST_TMPDIR/seg" "$BATS_TEST_TMPDIR/back"
		rm -f "$BATS_TEST_TMPDIR/back"
	done
	run --separate-stderr wal-check -A "$A" --verify
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	left=$(find "$A" -name '.*tmp*' | wc -l)
	echo "chaos wal-push: $n pushes killed at random ($midway killed midway, $done_before done before the kill), every final name whole; temporary files left: $left" >&3
	[ "$left" -eq 0 ]
}

@test "wal-push on a full filesystem fails cleanly and works once space is freed" {
	mkdir -p "$TEST_DIR/small"
	mount -t tmpfs -o size=8m tmpfs "$TEST_DIR/small" 2>/dev/null ||
		skip "mount -t tmpfs is not permitted here"
	A=$TEST_DIR/small/a
	mkdir "$A"
	wal_segment 000000010000000000000001 16777216 > "$BATS_TEST_TMPDIR/seg"
	wal_segment 000000010000000000000002 > "$BATS_TEST_TMPDIR/small"
	for comp in none zstd; do
		run --separate-stderr wal-push -A "$A" -c "$comp" "$BATS_TEST_TMPDIR/seg" 000000010000000000000001
		[ "$status" -eq 3 ]
		[ "$(printf '%s\n' "$stderr" | grep -c .)" -eq 1 ]
		[[ "$stderr" == wal-push:* ]]
		[ -z "$(ls -A "$A/wal")" ]
	done
	# the space it took is given back: a small file still fits
	wal-push -A "$A" "$BATS_TEST_TMPDIR/small" 000000010000000000000002
	mount -o remount,size=64m "$TEST_DIR/small"
	wal-push -A "$A" "$BATS_TEST_TMPDIR/seg" 000000010000000000000001
	wal-fetch -A "$A" 000000010000000000000001 "$BATS_TEST_TMPDIR/back"
	cmp "$BATS_TEST_TMPDIR/seg" "$BATS_TEST_TMPDIR/back"
	umount "$TEST_DIR/small"
}


archived() {
	local seg=$1
	q_is 5432 "SELECT coalesce(last_archived_wal >= '$seg', false) FROM pg_stat_archiver" t
}

@test "a cluster archiving while pushes are killed and the server crashes: no gaps, PITR exact" {
	walmgr_pg setup 2>/dev/null
	pg_restart
	sql postgres "CREATE TABLE t (round int, phase text, x int)"
	run --separate-stderr walmgr_pg backup
	[ "$status" -eq 0 ]
	label=$output
	declare -A did=()
	target= target_round=$((ROUNDS / 2))
	for r in $(seq 1 "$ROUNDS"); do
		sql postgres "INSERT INTO t SELECT $r, 'data', g FROM generate_series(1, 2000) g"
		if [ "$r" = "$target_round" ]; then
			sql postgres "INSERT INTO t VALUES ($r, 'before', 0)"
			sleep 0.3
			target=$(sql postgres "SELECT clock_timestamp()")
			sleep 0.3
			sql postgres "INSERT INTO t VALUES ($r, 'after', 0)"
		fi
		sql postgres "SELECT pg_switch_wal()" >/dev/null
		sleep "0.$((RANDOM % 5))"
		case $((RANDOM % 3)) in
		0)	# the server's archive_command runs below the postmaster
			for p in $(descendants "$(head -n 1 "$TEST_PGDATA/postmaster.pid")"); do
				[ "$(argv0 "$p")" = "$TEST_DIR/bin/wal-push" ] && kill -9 "$p" 2>/dev/null || :
			done
			what="kill wal-push" ;;
		1)	sleep 0.3	# past the WAL writer, as synchronous_commit is off
			as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_PGDATA" -m immediate -w -t 60 restart \
				-l "$TEST_DIR/server.log" >/dev/null
			what="crash and restart" ;;
		2)	pg_restart
			what="fast restart" ;;
		esac
		did[$what]=$(( ${did[$what]:-0} + 1 ))
	done
	seg=$(sql postgres "SELECT pg_walfile_name(pg_switch_wal())")
	wait_for archived "$seg"
	run --separate-stderr wal-check -A "$TEST_DIR/archive" --backup "$label" --verify
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *missing* ]]
	run --separate-stderr walmgr_pg restore "$TEST_DIR/pitr" --target-time "$target"
	[ "$status" -eq 0 ]
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/pitr" -l "$TEST_DIR/pitr.log" \
		-o "-p 5433 -k $TEST_DIR" -w -t 120 start >/dev/null
	wait_for q_is 5433 'SELECT pg_is_in_recovery()' f
	want=$(sql postgres "SELECT count(*) FROM t WHERE round < $target_round OR (round = $target_round AND phase <> 'after')")
	got=$(psql -XAtq -p 5433 -d postgres -c "SELECT count(*) FROM t")
	after=$(psql -XAtq -p 5433 -d postgres -c "SELECT count(*) FROM t WHERE phase = 'after' OR round > $target_round")
	echo "chaos archive: $ROUNDS rounds ($(for k in "${!did[@]}"; do printf '%s %s, ' "$k" "${did[$k]}"; done | sed 's/, $//')); wal-check clean; PITR rows $got of $want expected, $after past the target" >&3
	[ "$got" = "$want" ]
	[ "$after" = 0 ]
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/pitr" -m fast -w stop >/dev/null
}
