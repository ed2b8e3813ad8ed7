#!/usr/bin/env bats
# sh/londiste end to end: replay pipeline with our PgQ, copy during
# replay, kills under load, compare and repair.

load helper
load 200-londiste

# Our PgQ once it has pgq.logutriga, else Debian's.
flavour() {
	if grep -q 'FUNCTION pgq.logutriga' "$SKYTOOLS_SQLDIR/pgq.sql" 2>/dev/null; then
		echo ours
	else
		echo debian
	fi
}

# What every test starts from, built once: two databases with PgQ,
# londiste, t1 and t2, the provider installed and its queue made quick
# to tick.  Each test replicates between clones of them (prov, sub), as
# fresh as a new pair but without loading PgQ and londiste again.
setup_file() {
	pg_start || return 1
	lon_db prov_tpl "${LONDISTE_PROVIDER_PGQ:-$(flavour)}" && lon_db sub_tpl none || return 1
	for db in prov_tpl sub_tpl; do
		sql $db "CREATE TABLE t1 (id int PRIMARY KEY, v text)" &&
		sql $db "CREATE TABLE t2 (a int, b text, v text, PRIMARY KEY (a, b))" || return 1
	done
	printf '[londiste]\njob_name = tpl\nprovider_db = host=%s dbname=prov_tpl\nsubscriber_db = host=%s dbname=sub_tpl\npgq_queue_name = londiste.replika\n' \
		"$TEST_DIR" "$TEST_DIR" >"$BATS_FILE_TMPDIR/tpl.ini"
	londiste "$BATS_FILE_TMPDIR/tpl.ini" provider install || return 1
	sql prov_tpl "SELECT pgq.set_queue_config('londiste.replika', 'ticker_max_lag', '0.2')" >/dev/null &&
	sql prov_tpl "SELECT pgq.set_queue_config('londiste.replika', 'ticker_idle_period', '0.5')" >/dev/null
}

# clone DB: DB afresh, a copy of DB_tpl.
clone() {
	sql postgres "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null &&
	sql postgres "CREATE DATABASE $1 TEMPLATE $1_tpl" >/dev/null
}

setup() {
	clone prov
	clone sub
	cat > "$BATS_TEST_TMPDIR/l.ini" <<-INI
	[londiste]
	job_name = job_$BATS_TEST_NUMBER
	provider_db = host=$TEST_DIR dbname=prov
	subscriber_db = host=$TEST_DIR dbname=sub
	pgq_queue_name = londiste.replika
	logfile = $BATS_TEST_TMPDIR/%(job_name)s.log
	pidfile = $BATS_TEST_TMPDIR/%(job_name)s.pid
	loop_delay = 0.2
	lock_timeout = 30
	parallel_copies = 2
	INI
	INI=$BATS_TEST_TMPDIR/l.ini
	# replay started with it carries it into every process it starts
	MARK="t210-$BATS_TEST_NUMBER-$$-$RANDOM"
	# what `subscriber install` adds to the provider installed above
	sql prov "SELECT pgq.register_consumer('londiste.replika', 'job_$BATS_TEST_NUMBER')" >/dev/null
	pgq-tick -d dbname=prov --loop --interval 50 --maint-interval 1 2>"$BATS_TEST_TMPDIR/tick.log" &
	echo $! > "$BATS_TEST_TMPDIR/tick.pid"
}

teardown() {
	londiste "$INI" stop 2>/dev/null || :
	stop_writer
	kill "$(cat "$BATS_TEST_TMPDIR/tick.pid")" 2>/dev/null || :
	# by pid: a bare wait would also wait for bats' time-limit watchdog
	wait "$(cat "$BATS_TEST_TMPDIR/tick.pid")" 2>/dev/null || :
}

# writer TABLE: insert, update and delete rows of t1 until stop_writer.
writer() {
	(
		i=$1
		while [ ! -f "$BATS_TEST_TMPDIR/stop" ]; do
			psql -XAq -d prov -c "INSERT INTO t1 SELECT g, 'w' || g FROM generate_series($i, $i + 49) g" \
				-c "UPDATE t1 SET v = 'u' WHERE id = $i + 3" \
				-c "DELETE FROM t1 WHERE id = $i + 7" 2>/dev/null || :
			i=$((i + 50))
			# steady, not all the CPU there is (t/25x-cascade.bash)
			sleep 0.03
		done
	) &
	echo $! > "$BATS_TEST_TMPDIR/writer.pid"
}

stop_writer() {
	[ -f "$BATS_TEST_TMPDIR/writer.pid" ] || return 0
	touch "$BATS_TEST_TMPDIR/stop"
	wait "$(cat "$BATS_TEST_TMPDIR/writer.pid")" 2>/dev/null || :
	rm -f "$BATS_TEST_TMPDIR/writer.pid"
}

table_state() {
	[ "$(sql sub "SELECT state FROM londiste.subscriber_table WHERE table_name = 'public.$1'")" = "$2" ]
}

rows_above() {
	[ "$(sql sub "SELECT count(*) FROM $1")" -gt "$2" ]
}

seq_is() {
	[ "$(sql sub "SELECT last_value FROM $1")" = "$2" ]
}

table_ok() {
	[ "$(sql sub "SELECT state FROM londiste.subscriber_table WHERE table_name = 'public.$1'")" = ok ]
}

compare_equal() {
	londiste "$INI" compare "$@" >"$BATS_TEST_TMPDIR/cmp" 2>&1
}

# hold_lock TABLE: a session of sub (fd 8, pid $psql_pid) holds a lock
# on TABLE that a copy's TRUNCATE waits for, until fd 8 is closed.
hold_lock() {
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	psql -XAq -d sub < "$BATS_TEST_TMPDIR/fifo" >/dev/null &
	psql_pid=$!
	exec 8>"$BATS_TEST_TMPDIR/fifo"
	echo "BEGIN; LOCK TABLE $1 IN ACCESS SHARE MODE;" >&8
}

# stage_pids MARK PROG...: the pids of marked_pids MARK PROG for each
# PROG, from one look at /proc, with no process started per pid
# (marked_pids starts a few for each of a daemon's dozen processes: over
# a second a look while the writer and the pipeline keep both cores
# busy).  A stage's argv[0] is its program (run_stage execs it), a
# shell's the script it runs, as argv0 says.
stage_pids() {
	local mark=$1 e p a b n
	shift
	for e in $(grep -lzxF "SKYTOOLS_TEST_MARK=$mark" /proc/[0-9]*/environ 2>/dev/null); do
		p=${e%/environ}
		p=${p#/proc/}
		a= b=
		{ IFS= read -r -d '' a && IFS= read -r -d '' b; } 2>/dev/null <"/proc/$p/cmdline" || :
		case $a in
		sh|*/sh|bash|*/bash|dash|*/dash) case $b in ''|-*) ;; *) a=$b ;; esac ;;
		esac
		for n; do [ "${a##*/}" != "$n" ] || echo "$p"; done
	done
	return 0
}

# has_stage MARK PROG: has_marked MARK PROG, as quickly.
has_stage() { [ -n "$(stage_pids "$@")" ]; }

# applied: the last tick replay applied on the subscriber;
# applied_past TICK: a later one.
applied() {
	sql sub "SELECT coalesce(max(last_tick), 0) FROM londiste.completed
		WHERE consumer_name = 'job_$BATS_TEST_NUMBER'"
}
applied_past() { [ "$(applied)" -gt "$1" ]; }

# new_stage MARK PROG: a PROG of the mark runs that is not one of $gone
# (the pids of the pipeline the last round killed): the pipeline the
# supervisor started again.
new_stage() {
	local p
	for p in $(stage_pids "$1" "$2"); do
		case " $gone " in *" $p "*) ;; *) return 0 ;; esac
	done
	return 1
}

@test "londiste: usage, help, bad config" {
	run --separate-stderr londiste
	[ "$status" -eq 2 ]
	[[ "$stderr" == *usage:* ]]
	run --separate-stderr londiste --help
	[ "$status" -eq 0 ]
	run --separate-stderr londiste "$INI" no-such-verb
	[ "$status" -eq 2 ]
	run --separate-stderr londiste "$BATS_TEST_TMPDIR/none.ini" status
	[ "$status" -eq 2 ]
	printf '[londiste]\njob_name = x\n' > "$BATS_TEST_TMPDIR/bad.ini"
	run --separate-stderr londiste "$BATS_TEST_TMPDIR/bad.ini" status
	[ "$status" -eq 2 ]
	[[ "$stderr" == *provider_db* ]]
	# a queue missing on the provider ends replay; retrying cannot help
	sed 's/^pgq_queue_name = .*/pgq_queue_name = no.such.queue/' "$INI" > "$BATS_TEST_TMPDIR/nq.ini"
	run --separate-stderr londiste "$BATS_TEST_TMPDIR/nq.ini" replay
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"queue no.such.queue does not exist"* ]]
}

@test "londiste: provider and subscriber registry verbs" {
	sql prov "CREATE SEQUENCE s1"
	sql sub "CREATE SEQUENCE s1"
	londiste "$INI" provider add t1 t2
	londiste "$INI" provider add-seq s1
	run --separate-stderr londiste "$INI" provider tables
	[ "$output" = "$(printf 'public.t1\npublic.t2')" ]
	run --separate-stderr londiste "$INI" provider seqs
	[ "$output" = public.s1 ]
	londiste "$INI" subscriber add t1
	run --separate-stderr londiste "$INI" subscriber missing
	[ "$output" = public.t2 ]
	run --separate-stderr londiste "$INI" subscriber tables
	[ "$output" = "$(printf 'public.t1\tnew')" ]
	londiste "$INI" subscriber add-seq s1
	run --separate-stderr londiste "$INI" subscriber seqs
	[ "$output" = public.s1 ]
	run --separate-stderr londiste "$INI" provider add no_such_table
	[ "$status" -eq 2 ]
	londiste "$INI" provider remove t2
	[ "$(sql prov "SELECT count(*) FROM pg_trigger WHERE tgrelid = 't2'::regclass")" = 0 ]
	[ "$(sql prov "SELECT count(*) FROM pg_trigger WHERE tgrelid = 't1'::regclass")" = 2 ]
	londiste "$INI" subscriber remove t1
	londiste "$INI" subscriber remove-seq s1
	londiste "$INI" provider remove-seq s1
	run --separate-stderr londiste "$INI" subscriber tables
	[ -z "$output" ]
	# install again keeps the state
	londiste "$INI" provider add t1
	londiste "$INI" provider install
	londiste "$INI" subscriber install
	run --separate-stderr londiste "$INI" provider tables
	[ "$output" = public.t1 ]
}

@test "londiste: replay copies, replicates, compare equal; sequences; stop" {
	sql prov "INSERT INTO t1 SELECT g, 'pre' FROM generate_series(1, 1000) g"
	sql prov "CREATE SEQUENCE s1"
	sql sub "CREATE SEQUENCE s1"
	londiste "$INI" provider add t1
	londiste "$INI" provider add-seq s1
	londiste "$INI" subscriber add t1
	londiste "$INI" subscriber add-seq s1
	londiste "$INI" replay --daemon
	wait_for table_ok t1
	sql prov "INSERT INTO t1 VALUES (5000, E'a\\tb'), (5001, NULL)"
	sql prov "UPDATE t1 SET v = 'x' WHERE id < 10"
	sql prov "DELETE FROM t1 WHERE id BETWEEN 10 AND 20"
	sql prov "SELECT nextval('s1') FROM generate_series(1, 7)" >/dev/null
	wait_for compare_equal
	grep -q "public.t1.*equal" "$BATS_TEST_TMPDIR/cmp"
	wait_for seq_is s1 7
	run --separate-stderr londiste "$INI" status
	[ "$status" -eq 0 ]
	[[ "$output" == *running* ]]
	[[ "$output" == *public.t1*ok* ]]
	londiste "$INI" stop
	[ ! -f "$BATS_TEST_TMPDIR/job_$BATS_TEST_NUMBER.pid" ]
	run --separate-stderr londiste "$INI" stop
	[ "$status" -eq 1 ]
}

@test "londiste: a table added during replay under load joins without loss; the other kept moving" {
	londiste "$INI" provider add t1
	londiste "$INI" subscriber add t1
	londiste "$INI" replay --daemon
	wait_for table_ok t1
	writer 1
	sql prov "INSERT INTO t2 SELECT g, 'k' || g, 'v' FROM generate_series(1, 20000) g"
	londiste "$INI" provider add t2
	# hold the copy back: its TRUNCATE waits for this lock
	hold_lock t2
	londiste "$INI" subscriber add t2
	wait_for table_state t2 in-copy
	sql prov "UPDATE t2 SET v = 'during copy' WHERE a <= 100"
	sql prov "INSERT INTO t2 VALUES (0, 'new', 'during copy')"
	n=$(sql sub "SELECT count(*) FROM t1")
	wait_for rows_above t1 "$((n + 200))"
	[ "$(sql sub "SELECT state FROM londiste.subscriber_table WHERE table_name = 'public.t2'")" = in-copy ]
	echo "COMMIT;" >&8
	exec 8>&-
	wait "$psql_pid"
	wait_for table_ok t2
	sql prov "DELETE FROM t2 WHERE a BETWEEN 200 AND 300"
	stop_writer
	wait_for compare_equal
	grep -q "public.t1.*equal" "$BATS_TEST_TMPDIR/cmp"
	grep -q "public.t2.*equal" "$BATS_TEST_TMPDIR/cmp"
	[ "$(sql sub "SELECT count(*) FROM t2 WHERE v = 'during copy'")" = 101 ]
}

@test "londiste: SIGKILL of apply, events or the whole pipeline under load loses nothing" {
	londiste "$INI" provider add t1
	londiste "$INI" subscriber add t1
	SKYTOOLS_TEST_MARK=$MARK londiste "$INI" replay --daemon
	wait_for table_ok t1
	writer 1
	gone=
	for i in $(seq 1 12); do
		case $((i % 3)) in
		0) stage=londiste-apply ;;
		1) stage=pgq-events ;;
		2) stage=pgq-next-batch ;;
		esac
		# each round kills a pipeline started after the last kill, once
		# it has applied a batch (a restart that applied none makes the
		# supervisor wait twice as long before the next)
		wait_for new_stage "$MARK" "$stage"
		t0=$(applied)
		wait_for applied_past "$t0"
		sleep 0.$((RANDOM % 5))
		gone=$(stage_pids "$MARK" pgq-next-batch pgq-events londiste-apply pgq-finish-batch | tr "\n" " ")
		for pid in $(stage_pids "$MARK" "$stage"); do kill -9 "$pid" 2>/dev/null || :; done
		if [ $((i % 3)) = 2 ]; then
			# and the rest of the pipeline with it
			for pid in $(stage_pids "$MARK" pgq-events londiste-apply pgq-finish-batch); do
				kill -9 "$pid" 2>/dev/null || :
			done
		fi
	done
	stop_writer
	wait_for compare_equal
	grep -q "public.t1.*equal" "$BATS_TEST_TMPDIR/cmp"
	[ "$(sql sub 'SELECT count(*) FROM t1')" = "$(sql prov 'SELECT count(*) FROM t1')" ]
}

@test "londiste: compare finds a row changed behind replay's back; repair fixes it" {
	sql prov "INSERT INTO t2 SELECT g, 'k' || g, 'v' FROM generate_series(1, 500) g"
	londiste "$INI" provider add t2
	londiste "$INI" subscriber add t2
	londiste "$INI" replay --daemon
	wait_for table_ok t2
	wait_for compare_equal
	sql sub "UPDATE t2 SET v = 'changed' WHERE a = 7"
	sql sub "DELETE FROM t2 WHERE a = 8"
	sql sub "INSERT INTO t2 VALUES (9999, 'extra', E'x\\ty''z')"
	run --separate-stderr londiste "$INI" compare t2
	[ "$status" -eq 1 ]
	[[ "$output" == *public.t2*differ* ]]
	run --separate-stderr londiste "$INI" repair t2
	[ "$status" -eq 1 ]
	[[ "$output" == *"UPDATE public.t2 SET v = 'v' WHERE a = '7' AND b = 'k7'"* ]]
	[[ "$output" == *"INSERT INTO public.t2 (a,b,v) VALUES ('8','k8','v')"* ]]
	[[ "$output" == *"DELETE FROM public.t2 WHERE a = '9999' AND b = 'extra'"* ]]
	# the printed SQL is valid: run it through psql on a copy
	run --separate-stderr londiste "$INI" compare t2
	[ "$status" -eq 1 ]
	run --separate-stderr londiste "$INI" repair t2 --apply
	[ "$status" -eq 1 ]
	run --separate-stderr londiste "$INI" compare t2
	[ "$status" -eq 0 ]
	[[ "$output" == *public.t2*equal* ]]
	run --separate-stderr londiste "$INI" repair
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

# Nothing of this test's replay is left: no wrapper, copier or watchdog
# (forks of sh/londiste), no stage or copy: nothing that carries the
# mark the daemon was started with.
replay_gone() {
	[ -z "$(marked_pids "$MARK")" ] &&
	# nor the copier's look, in the server
	[ "$(sql sub "SELECT count(*) FROM pg_stat_activity
		WHERE query LIKE '%londiste.tables_to_copy%' AND pid <> pg_backend_pid()")" = 0 ]
}

@test "londiste: SIGKILL of replay --daemon leaves no copier, copy or stage behind" {
	sql prov "INSERT INTO t2 SELECT g, 'k' || g, 'v' FROM generate_series(1, 100) g"
	londiste "$INI" provider add t1 t2
	londiste "$INI" subscriber add t1
	SKYTOOLS_TEST_MARK=$MARK londiste "$INI" replay --daemon
	wait_for table_ok t1
	# a copy in progress when the daemon dies: its TRUNCATE waits for this lock
	hold_lock t2
	londiste "$INI" subscriber add t2
	wait_for has_stage "$MARK" londiste-copy
	pid=$(cat "$BATS_TEST_TMPDIR/job_$BATS_TEST_NUMBER.pid")
	kill -0 "$pid"
	has_stage "$MARK" londiste-apply
	kill -9 "$pid"
	wait_for replay_gone
	# the watchdog says what it did
	log=$BATS_TEST_TMPDIR/job_$BATS_TEST_NUMBER.log
	wait_for grep -q "replay supervisor (pid $pid): cleaned up" "$log"
	grep -q "replay supervisor (pid $pid) is gone" "$log"
	echo "ROLLBACK;" >&8
	exec 8>&-
	wait "$psql_pid" || :
	# and replay starts again from there
	londiste "$INI" replay --daemon
	wait_for table_ok t2
	sql prov "INSERT INTO t1 VALUES (1, 'after')"
	wait_for compare_equal
}

@test "londiste: SIGHUP does not stop replay --daemon" {
	londiste "$INI" provider add t1
	londiste "$INI" subscriber add t1
	londiste "$INI" replay --daemon
	wait_for table_ok t1
	pid=$(cat "$BATS_TEST_TMPDIR/job_$BATS_TEST_NUMBER.pid")
	kill -HUP "$pid"
	sql prov "INSERT INTO t1 VALUES (1, 'after the hangup')"
	wait_for compare_equal
	kill -0 "$pid"
	londiste "$INI" stop
}
