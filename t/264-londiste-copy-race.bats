#!/usr/bin/env bats
# A table's copy against remove-table and DROP TABLE on the subscriber:
# whatever the order, replay of the other tables goes on, and nothing of
# a copy whose table left is kept.  Each race is made deterministic by a
# session that holds a lock the copy waits for at a known step; the test
# waits for the copy to be waiting there (pg_stat_activity), not for a
# time.

load helper
load 200-londiste
load 25x-cascade

# pair_ini FILE PROV SUB: a [londiste] config of the pair PROV -> SUB,
# its log and pidfile beside FILE.
pair_ini() {
	cat > "$1" <<-INI
	[londiste]
	job_name = job
	provider_db = host=$TEST_DIR dbname=$2
	subscriber_db = host=$TEST_DIR dbname=$3
	pgq_queue_name = londiste.replika
	logfile = ${1%/*}/job.log
	pidfile = ${1%/*}/job.pid
	loop_delay = 0.2
	INI
}

# The Skytools 2 pair, made once: templates prov_tpl (PgQ and londiste
# installed, queue londiste.replika, t1 empty and t2 with 2000 rows, both
# in the provider's set) and sub_tpl (londiste installed, consumer job
# registered on the queue, t1 and t2 empty).  Each test copies them
# (CREATE DATABASE ... TEMPLATE), which costs a fraction of installing
# them again, and starts from the same fresh pair.
setup_file() {
	local tpl db
	pg_start || return 1
	tpl=$BATS_FILE_TMPDIR/tpl.ini
	pair_ini "$tpl" prov_tpl sub_tpl
	lon_db prov_tpl ours && lon_db sub_tpl none || return 1
	for db in prov_tpl sub_tpl; do
		sql $db "CREATE TABLE t1 (id int PRIMARY KEY, v text);
			CREATE TABLE t2 (id int PRIMARY KEY, v text)" || return 1
	done
	sql prov_tpl "INSERT INTO t2 SELECT g, 'p' || g FROM generate_series(1, 2000) g" &&
		londiste "$tpl" provider install &&
		londiste "$tpl" subscriber install || return 1
	sql prov_tpl "SELECT pgq.set_queue_config('londiste.replika', 'ticker_max_lag', '0.2')" >/dev/null &&
		sql prov_tpl "SELECT pgq.set_queue_config('londiste.replika', 'ticker_idle_period', '0.5')" >/dev/null &&
		londiste "$tpl" provider add t1 t2
}

# The pair prov -> sub (copies of the templates) with replay running and
# t1 in sync; the cascade tests build their own nodes.
setup() {
	local db
	case $BATS_TEST_DESCRIPTION in
	cascade:*) return 0 ;;
	esac
	for db in prov sub; do
		sql postgres "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
		sql postgres "CREATE DATABASE $db TEMPLATE ${db}_tpl" >/dev/null
	done
	INI=$BATS_TEST_TMPDIR/l.ini
	LOG=$BATS_TEST_TMPDIR/job.log
	pair_ini "$INI" prov sub
	pgq-tick -d dbname=prov --loop --interval 50 --maint-interval 1 2>"$BATS_TEST_TMPDIR/tick.log" &
	echo $! > "$BATS_TEST_TMPDIR/tick.pid"
	londiste "$INI" subscriber add t1
	londiste "$INI" replay --daemon
	wait_for table_state t1 ok
}

teardown() {
	[ -z "${INI:-}" ] || londiste "$INI" stop 2>/dev/null || :
	cascade_workers_stop
	for s in 7 8; do
		eval "exec $s>&-" 2>/dev/null || :
	done
	sessions_stop
	if [ -f "$BATS_TEST_TMPDIR/tick.pid" ]; then
		kill "$(cat "$BATS_TEST_TMPDIR/tick.pid")" 2>/dev/null || :
		wait "$(cat "$BATS_TEST_TMPDIR/tick.pid")" 2>/dev/null || :
	fi
	return 0
}

table_state() {
	[ "$(sql sub "SELECT state FROM londiste.subscriber_table WHERE table_name = 'public.$1'")" = "$2" ]
}

# drop_waits: a DROP TABLE of the subscriber waits for a lock.
drop_waits() {
	[ "$(sql sub "SELECT count(*) FROM pg_stat_activity
		WHERE query LIKE 'DROP TABLE%' AND wait_event_type = 'Lock'")" = 1 ]
}

logged() { grep -q "$1" "$LOG"; }
logged_in() { grep -q "$2" "$BATS_TEST_TMPDIR/$1.log"; }

# replay_goes_on: replay still runs and applies t1's new rows.
replay_goes_on() {
	run --separate-stderr londiste "$INI" status
	[ "$status" -eq 0 ]
	[[ "$output" == *"running (pid"* ]]
	sql prov "INSERT INTO t1 SELECT g, 'after' FROM generate_series(1, 50) g"
	wait_for t1_has 50
}

not_running() {
	londiste "$INI" status 2>/dev/null | grep -q 'not running'
}
replay_running() {
	londiste "$INI" status 2>/dev/null | grep -q 'running (pid'
}

t1_has() {
	[ "$(sql sub "SELECT count(*) FROM t1 WHERE v = 'after'")" = "$1" ]
}

t2_gone() {
	[ "$(sql sub "SELECT count(*) FROM londiste.subscriber_table WHERE table_name = 'public.t2'")" = 0 ] &&
		[ -z "$(sql sub "SELECT to_regclass('public.t2')")" ]
}

# lock_t2 FD DB: session FD of DB holds t2 in ACCESS EXCLUSIVE mode,
# until COMMIT is written to FD.
lock_t2() {
	session "$1" "$2"
	echo "BEGIN; LOCK TABLE t2 IN ACCESS EXCLUSIVE MODE; SELECT 'locked';" >&"$1"
	wait_for said "$1" locked
}

# drop_waits_for_copy: a DROP TABLE t2 on sub waits for the copy, which
# waits for session 7; once that commits, both finish.
drop_waits_for_copy() {
	psql -XAtq -d sub -c 'DROP TABLE t2' > "$BATS_TEST_TMPDIR/drop.out" 2>&1 &
	drop_pid=$!
	wait_for drop_waits || return 1
	echo "COMMIT;" >&7
	end_session 7
	wait "$drop_pid"
}

# copy_dropped_t2_gone: the copy of t2 was dropped, not failed, t2 left
# the subscriber, and replay goes on.
copy_dropped_t2_gone() {
	wait_for logged 'copy of public.t2 dropped' || return 1
	t2_gone || return 1
	! logged 'copy of public.t2 failed' || return 1
	replay_goes_on
}

@test "remove-table and DROP after the copy began, before it locked the table: copy dropped (exit 1), replay goes on" {
	# the copy begins (in-copy committed), then waits for this lock
	lock_t2 8 sub
	londiste "$INI" subscriber add t2
	wait_for table_state t2 in-copy
	wait_for copy_waits sub
	londiste "$INI" subscriber remove t2
	echo "DROP TABLE t2; COMMIT; SELECT 'dropped';" >&8
	wait_for said 8 dropped
	end_session 8
	wait_for logged 'copy of public.t2 dropped'
	grep -q 'table public.t2 was removed meanwhile: nothing copied' "$LOG"
	copy_dropped_t2_gone
}

@test "remove-table and DROP while the copy makes its tick (after copy_begin, before the COPY): DROP waits, copy dropped" {
	# The copy's tick waits for the queue's row, after copy_begin
	# committed and before any row is copied (the ticker waits too).
	session 7 prov
	echo "BEGIN; SELECT 1 FROM pgq.queue WHERE queue_name = 'londiste.replika' FOR UPDATE; SELECT 'locked';" >&7
	wait_for said 7 locked
	londiste "$INI" subscriber add t2
	wait_for table_state t2 in-copy
	wait_for copy_waits prov
	londiste "$INI" subscriber remove t2
	# the copy holds the table: the DROP waits for it
	drop_waits_for_copy
	copy_dropped_t2_gone
}

@test "remove-table and DROP during the COPY: DROP waits for the copy, which rolls back (exit 1)" {
	# the copy's COPY out of the provider waits for this lock
	lock_t2 7 prov
	londiste "$INI" subscriber add t2
	wait_for copy_waits prov
	londiste "$INI" subscriber remove t2
	drop_waits_for_copy
	copy_dropped_t2_gone
}

@test "remove-table during the COPY: the copy rolls back, the table keeps the rows it had" {
	sql sub "INSERT INTO t2 VALUES (-1, 'own'), (-2, 'own'), (-3, 'own')"
	lock_t2 7 prov
	londiste "$INI" subscriber add t2
	wait_for copy_waits prov
	londiste "$INI" subscriber remove t2
	echo "COMMIT;" >&7
	end_session 7
	wait_for logged 'copy of public.t2 dropped'
	[ "$(sql sub "SELECT string_agg(id::text || v, ',' ORDER BY id) FROM t2")" = "-3own,-2own,-1own" ]
	[ "$(sql sub "SELECT count(*) FROM londiste.subscriber_table WHERE table_name = 'public.t2'")" = 0 ]
	! logged 'copy of public.t2 failed' || false
	replay_goes_on
}

@test "DROP without remove-table after the copy began: replay stops with status 2 naming the table; remove-table and a restart go on" {
	lock_t2 8 sub
	londiste "$INI" subscriber add t2
	wait_for table_state t2 in-copy
	wait_for copy_waits sub
	echo "DROP TABLE t2; COMMIT; SELECT 'dropped';" >&8
	wait_for said 8 dropped
	end_session 8
	wait_for logged 'copy of public.t2 failed: londiste-copy exited with status 2'
	grep -q 'table public.t2 is registered but public.t2 does not exist' "$LOG"
	# the supervisor stopped: a restart cannot help until the set is fixed
	wait_for not_running
	# (by its registered name: the relation is gone)
	londiste "$INI" subscriber remove public.t2
	londiste "$INI" replay --daemon
	# --daemon returns before the daemon wrote its pidfile
	wait_for replay_running
	replay_goes_on
}

# remove_waits_or_done DB: remove-table (local_remove_table) waits for a
# lock in DB, or has finished.
remove_waits_or_done() {
	! kill -0 "$rm_pid" 2>/dev/null ||
		[ "$(sql "$1" "SELECT count(*) FROM pg_stat_activity
			WHERE query LIKE '%local_remove_table%' AND wait_event_type = 'Lock'")" = 1 ]
}

b1_state() {
	[ "$(sql b1 "SELECT merge_state FROM londiste.get_table_list('q') WHERE table_name = 'public.$1'")" = "$2" ]
}

@test "cascade: remove-table on a branch during the copy: the copy rolls back (exit 1), remove-table and the worker go on" {
	need_node_mode
	branch_t2
	wait_for b1_state t1 ok
	# the copy's COPY out of the root waits for this lock
	lock_t2 7 r1
	wait_for londiste "$(ini b1)" add-table t2
	wait_for copy_waits r1
	# the trigger drop waits for the copy's lock; the copy sees the
	# row deleted and rolls back instead of waiting for remove-table
	londiste "$(ini b1)" remove-table t2 > "$BATS_TEST_TMPDIR/rm.out" 2>&1 &
	rm_pid=$!
	wait_for remove_waits_or_done b1
	echo "COMMIT;" >&7
	end_session 7
	wait "$rm_pid"
	# it said why it waited, and what it did
	grep -q 'remove-table: waiting for the running copy of public.t2' "$BATS_TEST_TMPDIR/rm.out"
	grep -q 'Table removed: public.t2' "$BATS_TEST_TMPDIR/rm.out"
	wait_for logged_in b1 'copy of public.t2 dropped'
	! grep -q 'copied public.t2' "$BATS_TEST_TMPDIR/b1.log" || false
	[ "$(sql b1 "SELECT count(*) FROM t2")" = 0 ]
	[ "$(sql b1 "SELECT count(*) FROM londiste.subscriber_table WHERE table_name = 'public.t2'")" = 0 ]
	sql r1 "INSERT INTO t1 SELECT g, 'after' FROM generate_series(1, 50) g"
	b1_after() { [ "$(sql b1 "SELECT count(*) FROM t1 WHERE v = 'after'")" = 50 ]; }
	wait_for b1_after
	no_error b1
}

t2_rows() {
	[ "$(sql sub "SELECT count(*) FROM t2")" = "$1" ]
}

@test "resync during the COPY: the copy rolls back (exit 1), the next one brings the table in sync" {
	sql sub "INSERT INTO t2 VALUES (-1, 'own')"
	lock_t2 7 prov
	londiste "$INI" subscriber add t2
	wait_for copy_waits prov
	londiste "$INI" subscriber resync t2
	echo "COMMIT;" >&7
	end_session 7
	wait_for logged 'copy of public.t2 dropped'
	grep -q 'table public.t2 was resynced or copied again meanwhile: nothing copied' "$LOG"
	# the supervisor logs the copy once its process has ended, which
	# may be after the table turned ok
	wait_for logged 'copied public.t2: 2000 rows'
	wait_for table_state t2 ok
	t2_rows 2000
	! logged 'copy of public.t2 failed' || false
	replay_goes_on
}

@test "kill -9 of the copy during its COPY: nothing of it stays, the table is copied again" {
	londiste "$INI" stop
	SKYTOOLS_TEST_MARK=t264-$$ londiste "$INI" replay --daemon
	sql sub "INSERT INTO t2 VALUES (-1, 'own')"
	lock_t2 7 prov
	londiste "$INI" subscriber add t2
	wait_for copy_waits prov
	wait_for has_marked "t264-$$" londiste-copy
	for pid in $(marked_pids "t264-$$" londiste-copy); do kill -9 "$pid"; done
	# the copy's transaction is gone with it: its TRUNCATE too
	wait_for logged 'copy of public.t2 failed: londiste-copy exited with status 137'
	[ "$(sql sub "SELECT state FROM londiste.subscriber_table WHERE table_name = 'public.t2'")" = in-copy ]
	# the copier tries again and waits for the lock again, beside the
	# killed copy's session (it notices its client gone only then)
	wait_for copy_waits prov 2
	echo "COMMIT;" >&7
	end_session 7
	wait_for table_state t2 ok
	t2_rows 2000
	replay_goes_on
}

@test "londiste-copy by hand (no --if-registered): a table removed during the COPY is exit 2, rolled back" {
	londiste "$INI" stop
	sql sub "INSERT INTO t2 VALUES (-1, 'own')"
	sql sub "SELECT londiste.subscriber_add_table('londiste.replika', 't2')" >/dev/null
	lock_t2 7 prov
	londiste-copy -s "dbname=prov" -d "dbname=sub" --consumer job t2 \
		> "$BATS_TEST_TMPDIR/copy.out" 2> "$BATS_TEST_TMPDIR/copy.err" &
	copy_pid=$!
	wait_for copy_waits prov
	sql sub "SELECT londiste.subscriber_remove_table('londiste.replika', 'public.t2')" >/dev/null
	echo "COMMIT;" >&7
	end_session 7
	st=0
	wait "$copy_pid" || st=$?
	[ "$st" -eq 2 ]
	grep -q 'table public.t2 was removed meanwhile: nothing copied' "$BATS_TEST_TMPDIR/copy.err"
	[ ! -s "$BATS_TEST_TMPDIR/copy.out" ]
	[ "$(sql sub "SELECT string_agg(id::text || v, ',') FROM t2")" = "-1own" ]
}
