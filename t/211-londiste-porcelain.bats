#!/usr/bin/env bats
# sh/londiste as an operator meets it: arguments read before anything
# changes, subscriber add's options, set-up mistakes named with their
# fix, the replay supervisor's view of each stage, the daemon's log, the
# ticker in status.

load helper
load 200-londiste

# The databases a test starts from, built once: prov_bare and sub_bare
# hold tables t1, t2 and t3 and nothing else; prov_inst and sub_inst
# are the same with both sides installed (`provider install`, londiste
# on the subscriber as `subscriber install` loads it) and queue q made
# to tick fast once a ticker runs.  A test clones the pair it needs
# into prov and sub (bare or installed), as fresh as built anew.
setup_file() {
	pg_start || return 1
	new_db prov_bare none && new_db sub_bare none || return 1
	for db in prov_bare sub_bare; do
		sql $db "CREATE TABLE t1 (id int PRIMARY KEY, v text)" &&
		sql $db "CREATE TABLE t2 (id int PRIMARY KEY, v text)" &&
		sql $db "CREATE TABLE t3 (id int PRIMARY KEY, v text)" || return 1
	done
	sql postgres "CREATE DATABASE prov_inst TEMPLATE prov_bare" >/dev/null &&
	sql postgres "CREATE DATABASE sub_inst TEMPLATE sub_bare" >/dev/null || return 1
	printf '[londiste]\njob_name = tpl\nprovider_db = host=%s dbname=prov_inst\nsubscriber_db = host=%s dbname=sub_inst\npgq_queue_name = q\n' \
		"$TEST_DIR" "$TEST_DIR" >"$BATS_FILE_TMPDIR/tpl.ini"
	londiste "$BATS_FILE_TMPDIR/tpl.ini" provider install &&
	psql -XAq -v ON_ERROR_STOP=1 -d sub_inst -f "$SKYTOOLS_SQLDIR/londiste.sql" >/dev/null &&
	sql prov_inst "SELECT pgq.set_queue_config('q', 'ticker_max_lag', '0.1')" >/dev/null &&
	sql prov_inst "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '0.3')" >/dev/null
}

# pair KIND: prov and sub afresh, clones of prov_KIND and sub_KIND.
pair() {
	local db
	for db in prov sub; do
		sql postgres "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null &&
		sql postgres "CREATE DATABASE $db TEMPLATE ${db}_$1" >/dev/null || return 1
	done
}

setup() {
	cat > "$BATS_TEST_TMPDIR/l.ini" <<-INI
	[londiste]
	job_name = job_$BATS_TEST_NUMBER
	provider_db = host=$TEST_DIR dbname=prov
	subscriber_db = host=$TEST_DIR dbname=sub
	pgq_queue_name = q
	logfile = $BATS_TEST_TMPDIR/%(job_name)s.log
	pidfile = $BATS_TEST_TMPDIR/%(job_name)s.pid
	loop_delay = 0.2
	INI
	INI=$BATS_TEST_TMPDIR/l.ini
	LOG=$BATS_TEST_TMPDIR/job_$BATS_TEST_NUMBER.log
}

# bare: prov and sub with tables t1, t2, t3 and nothing installed.
bare() { pair bare; }

# installed: the same, both sides set up (this test's consumer
# registered, the rest of `subscriber install` is in the template),
# queue ticking fast once a ticker runs.
installed() {
	pair inst &&
	sql prov "SELECT pgq.register_consumer('q', 'job_$BATS_TEST_NUMBER')" >/dev/null
}

ticker() {
	pgq-tick -d "host=$TEST_DIR dbname=prov" --loop --interval 50 2>"$BATS_TEST_TMPDIR/tick.log" &
	echo $! > "$BATS_TEST_TMPDIR/tick.pid"
}

teardown() {
	# a failed test may leave the lock holder's fifo open
	exec 8>&-
	londiste "$INI" stop 2>/dev/null || :
	if [ -f "$BATS_TEST_TMPDIR/tick.pid" ]; then
		kill "$(cat "$BATS_TEST_TMPDIR/tick.pid")" 2>/dev/null
		# by pid: a bare wait would also wait for bats' time-limit watchdog
		wait "$(cat "$BATS_TEST_TMPDIR/tick.pid")" 2>/dev/null || :
	fi
}

sub_tables() { londiste "$INI" subscriber tables; }

table_state() {
	[ "$(sql sub "SELECT state FROM londiste.subscriber_table WHERE table_name = 'public.$1'")" = "$2" ]
}

log_has() { grep -q -- "$1" "$LOG" 2>/dev/null; }

log_count_at_least() { [ "$(grep -c -- "$1" "$LOG" 2>/dev/null)" -ge "$2" ]; }

@test "londiste subscriber add: a bad option changes nothing; --skip-truncate keeps the subscriber's rows" {
	installed
	londiste "$INI" provider add t1 t2
	sql prov "INSERT INTO t1 SELECT g, 'p' FROM generate_series(1, 10) g"
	sql sub "INSERT INTO t1 VALUES (1000, 'mine')"
	for opt in --bogus -x --skip-truncat; do
		run --separate-stderr londiste "$INI" subscriber add t1 "$opt"
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"$opt"* ]]
		[ -z "$(sub_tables)" ]
	done
	# one unknown table: none of the list is added
	run --separate-stderr londiste "$INI" subscriber add t1 no_such_table
	[ "$status" -eq 2 ]
	[ -z "$(sub_tables)" ]
	londiste "$INI" subscriber add t1 --skip-truncate
	[ "$(sub_tables)" = "$(printf 'public.t1\tnew')" ]
	ticker
	londiste "$INI" replay --daemon
	wait_for table_state t1 ok
	[ "$(sql sub "SELECT count(*) FROM t1")" = 11 ]
	[ "$(sql sub "SELECT v FROM t1 WHERE id = 1000")" = mine ]
	wait_for log_has "copied public.t1: 10 rows in"
}

@test "londiste subscriber add --expect-sync: no copy, replay applies from now on" {
	installed
	sql prov "INSERT INTO t1 VALUES (1, 'old')"
	sql sub "INSERT INTO t1 VALUES (1, 'old'), (2, 'only here')"
	londiste "$INI" provider add t1
	londiste "$INI" subscriber add --expect-sync t1
	[ "$(sub_tables)" = "$(printf 'public.t1\tok')" ]
	ticker
	londiste "$INI" replay --daemon
	sql prov "INSERT INTO t1 VALUES (3, 'new')"
	has_3() { [ "$(sql sub "SELECT count(*) FROM t1 WHERE id = 3")" = 1 ]; }
	wait_for has_3
	[ "$(sql sub "SELECT v FROM t1 WHERE id = 2")" = "only here" ]
	! grep -q "copy public.t1" "$LOG"
}

@test "londiste subscriber add --all and --force" {
	installed
	londiste "$INI" provider add t1 t2
	londiste "$INI" subscriber add t1
	run --separate-stderr londiste "$INI" subscriber add --all t1
	[ "$status" -eq 2 ]
	londiste "$INI" subscriber add --all
	[ "$(sub_tables | cut -f1)" = "$(printf 'public.t1\npublic.t2')" ]
	run --separate-stderr londiste "$INI" subscriber add --all
	[ "$status" -eq 0 ]
	# t3 is not replicated by the provider: refused unless --force
	londiste "$INI" subscriber remove t1 t2
	run --separate-stderr londiste "$INI" subscriber add t1 t3
	[ "$status" -eq 2 ]
	[[ "$stderr" == *public.t3* ]]
	[[ "$stderr" == *"provider add"* ]]
	[[ "$stderr" == *--force* ]]
	[ -z "$(sub_tables)" ]
	londiste "$INI" subscriber add --force t3
	[ "$(sub_tables)" = "$(printf 'public.t3\tnew')" ]
	# the other verbs take no options either
	run --separate-stderr londiste "$INI" subscriber remove t3 --force
	[ "$status" -eq 2 ]
	[ "$(sub_tables)" = "$(printf 'public.t3\tnew')" ]
	run --separate-stderr londiste "$INI" provider add t3 --whatever
	[ "$status" -eq 2 ]
	[ "$(londiste "$INI" provider tables)" = "$(printf 'public.t1\npublic.t2')" ]
	run --separate-stderr londiste "$INI" subscriber tables extra
	[ "$status" -eq 2 ]
}

@test "londiste: missing set-up is exit 2 with the command that fixes it; unknown verb and key" {
	bare
	# no PgQ, no londiste anywhere: replay must not loop
	run --separate-stderr timeout 60 londiste "$INI" replay
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"run: londiste $INI provider install"* ]]
	for verb in status compare "provider tables" "subscriber add t1" "subscriber install"; do
		# shellcheck disable=SC2086
		run --separate-stderr londiste "$INI" $verb
		[ "$status" -eq 2 ] || { echo "$verb: $status $stderr" >&2; false; }
		[[ "$stderr" == *"provider install"* ]]
		[[ "$stderr" != *LINE* ]]
	done
	londiste "$INI" provider install
	for verb in status compare replay "subscriber tables"; do
		# shellcheck disable=SC2086
		run --separate-stderr timeout 60 londiste "$INI" $verb
		[ "$status" -eq 2 ] || { echo "$verb: $status $stderr" >&2; false; }
		[[ "$stderr" == *"run: londiste $INI subscriber install"* ]]
		[[ "$stderr" != *LINE* ]]
	done
	# a consumer that is not registered
	londiste "$INI" subscriber install
	sql prov "SELECT pgq.unregister_consumer('q', 'job_$BATS_TEST_NUMBER')" >/dev/null
	run --separate-stderr londiste "$INI" status
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"not registered"*"subscriber install"* ]]
	run --separate-stderr londiste "$INI" frobnicate
	[ "$status" -eq 2 ]
	[[ "$stderr" == *frobnicate* ]]
	[[ "$stderr" == *replay* ]]
	printf 'no_such_key = 1\n' >> "$INI"
	run --separate-stderr londiste "$INI" provider tables
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"unknown key no_such_key"* ]]
}

@test "londiste provider install refuses a database that holds Londiste 3" {
	bare
	sql prov "CREATE EXTENSION pgq"
	sql prov "CREATE EXTENSION pgq_node"
	sql prov "CREATE EXTENSION londiste"
	before=$(sql prov "SELECT count(*) FROM pg_proc WHERE pronamespace = 'londiste'::regnamespace")
	run --separate-stderr londiste "$INI" provider install
	[ "$status" -eq 4 ]
	[[ "$stderr" == *"Londiste 3"* ]]
	[ "$(sql prov "SELECT count(*) FROM pg_proc WHERE pronamespace = 'londiste'::regnamespace")" = "$before" ]
	[ "$(sql prov "SELECT to_regclass('londiste.provider_table') IS NULL")" = t ]
	sql sub "CREATE EXTENSION pgq"
	sql sub "CREATE EXTENSION pgq_node"
	sql sub "CREATE EXTENSION londiste"
	run --separate-stderr londiste "$INI" subscriber install
	[ "$status" -eq 4 ]
}

@test "londiste replay: a stage's status 2 stops replay, naming the stage" {
	installed
	londiste "$INI" provider add t1
	londiste "$INI" subscriber add --expect-sync t1
	sql prov "SELECT pgq.insert_event('q', 'X:id', 'id=1', 'public.t1', NULL, NULL, NULL)" >/dev/null
	ticker
	run --separate-stderr timeout 60 londiste "$INI" replay
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"londiste-apply: "*"unsupported event type X:id"* ]]
	[[ "$stderr" == *"londiste-apply exited with status 2"* ]]
	[[ "$stderr" != *restarting* ]]
}

@test "londiste replay: status 3 restarts with a growing delay; the daemon's log has one stamped line per event" {
	installed
	londiste "$INI" provider add t1
	londiste "$INI" subscriber add --expect-sync t1
	sql sub "INSERT INTO t1 VALUES (5, 'in the way')"
	sql prov "INSERT INTO t1 VALUES (5, 'x')"
	ticker
	londiste "$INI" replay --daemon
	wait_for log_count_at_least "restarting in" 4
	londiste "$INI" stop
	grep "restarting in" "$LOG" > "$BATS_TEST_TMPDIR/restarts"
	# the failing stage and its status, never the last stage's
	! grep -v "londiste-apply exited with status 3" "$BATS_TEST_TMPDIR/restarts" || false
	[ "$(sed -n 's/.*restarting in \([0-9.]*\) s$/\1/p' "$BATS_TEST_TMPDIR/restarts" | head -4 | tr '\n' ' ')" = "0.2 0.4 0.8 1.6 " ]
	# one line per event, each with a timestamp, no shell noise
	! grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} UTC ' "$LOG" || false
	! grep -q Terminated "$LOG" || false
	[ "$(grep -c "replay of queue q as job_$BATS_TEST_NUMBER started" "$LOG")" = 1 ]
}

@test "londiste replay: a failing copy is retried with a growing delay; status 2 of a copy stops replay" {
	installed
	sql prov "INSERT INTO t2 VALUES (1, 'a')"
	londiste "$INI" provider add t2
	londiste "$INI" subscriber add t2
	# a lock that the copy's TRUNCATE waits for longer than lock_timeout:
	# status 3, until the lock goes
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	psql -XAq -d sub < "$BATS_TEST_TMPDIR/fifo" >/dev/null &
	psql_pid=$!
	exec 8>"$BATS_TEST_TMPDIR/fifo"
	echo "BEGIN; LOCK TABLE t2 IN ACCESS SHARE MODE;" >&8
	locked() { [ "$(sql sub "SELECT count(*) FROM pg_locks WHERE relation = 't2'::regclass AND granted")" = 1 ]; }
	wait_for locked
	ticker 8>&-
	# (the daemon must not hold the fifo open: psql ends at its EOF)
	PGOPTIONS='-c lock_timeout=100' londiste "$INI" replay --daemon 8>&-
	wait_for log_count_at_least "copying again in" 3 || { cat "$LOG" >&2; false; }
	echo "COMMIT;" >&8
	exec 8>&-
	wait "$psql_pid"
	wait_for table_state t2 ok
	londiste "$INI" stop
	[ "$(sed -n 's/.*copying again in \([0-9.]*\) s$/\1/p' "$LOG" | head -3 | tr '\n' ' ')" = "0.2 0.4 0.8 " ]
	grep -q "copy of public.t2 failed: londiste-copy exited with status 3" "$LOG"

	# a table the provider does not replicate can never be copied
	londiste "$INI" subscriber remove t2
	londiste "$INI" subscriber add --force t3
	run --separate-stderr timeout 60 londiste "$INI" replay
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"londiste-copy of public.t3 exited with status 2"* ]]
}

@test "londiste status: ticker lag, and a warning when no ticker runs" {
	installed
	ticker
	run --separate-stderr londiste "$INI" status
	[ "$status" -eq 0 ]
	[[ "$output" == *ticker_lag* ]]
	[[ "$stderr" != *warning* ]]
	kill "$(cat "$BATS_TEST_TMPDIR/tick.pid")"
	wait "$(cat "$BATS_TEST_TMPDIR/tick.pid")" || :
	rm "$BATS_TEST_TMPDIR/tick.pid"
	sql prov "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '0.1')" >/dev/null
	status_warns() {
		londiste "$INI" status 2>&1 >/dev/null | grep -q "warning: no tick on queue q.*ticker"
	}
	wait_for status_warns
}

@test "londiste compare, repair: replay not running: exit 3 at once, no tick, no lock" {
	installed
	londiste "$INI" provider add t1
	londiste "$INI" subscriber add --expect-sync t1
	before=$(sql prov "SELECT count(*) FROM pgq.tick")
	for verb in compare repair; do
		run --separate-stderr londiste "$INI" $verb t1
		[ "$status" -eq 3 ]
		[[ "$stderr" == *"replay is not running: start it with \`londiste $INI replay --daemon\`; $verb needs it"* ]]
	done
	[ "$(sql prov "SELECT count(*) FROM pgq.tick")" = "$before" ]
}

@test "londiste replay stuck on a conflict: status shows the last error, compare says so, a fix on the subscriber unsticks it" {
	installed
	echo "lock_timeout = 0.5" >> "$INI"
	londiste "$INI" provider add t1
	londiste "$INI" subscriber add --expect-sync t1
	sql sub "INSERT INTO t1 VALUES (5000, 'in the way')"
	sql prov "INSERT INTO t1 VALUES (5000, 'x')"
	ticker
	londiste "$INI" replay --daemon
	wait_for log_count_at_least "restarting in" 2
	status_err() { londiste "$INI" status | grep "^last_error	"; }
	run status_err
	[ "$status" -eq 0 ]
	[[ "$output" == *" UTC: londiste-apply: "*"duplicate key"*"restarts since)" ]]
	run --separate-stderr londiste "$INI" compare t1
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"replay is stuck since"*"duplicate key"* ]]
	[[ "$stderr" != *"is replay running"* ]]
	sql sub "DELETE FROM t1 WHERE id = 5000"
	applied() { [ "$(sql sub "SELECT v FROM t1 WHERE id = 5000")" = x ]; }
	wait_for applied
	no_err() { ! londiste "$INI" status | grep -q "^last_error"; }
	wait_for no_err
	londiste "$INI" stop
	# one stamp per line, and every line names its program
	! grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} UTC [a-z-]+: ' "$LOG" || false
	! grep -E ' UTC [0-9]{4}-[0-9]{2}-[0-9]{2} ' "$LOG"
}

@test "londiste: a config without [londiste] or [londiste3] is named as such" {
	cat > "$BATS_TEST_TMPDIR/l3.ini" <<-INI
	[londiste4]
	job_name = l3
	INI
	run --separate-stderr londiste "$BATS_TEST_TMPDIR/l3.ini" status
	[ "$status" -eq 2 ]
	[ "$stderr" = "londiste: $BATS_TEST_TMPDIR/l3.ini: no [londiste] or [londiste3] section" ]
}

@test "londiste replay --daemon: back once the daemon wrote its pidfile; a daemon that ends at once is exit 3, naming the log" {
	installed
	run --separate-stderr londiste "$INI" replay --daemon
	[ "$status" -eq 0 ]
	# it says what it started and where it logs
	[[ "$stderr" == *"replay started as pid $(cat "$BATS_TEST_TMPDIR/job_$BATS_TEST_NUMBER.pid"), logging to $LOG" ]]
	# no wait: status right after the start finds it running
	run --separate-stderr londiste "$INI" status
	[[ "$output" == *"running (pid"* ]] || { echo "$output" >&2; false; }
	londiste "$INI" stop
	# the daemon cannot write its pidfile (a directory where its
	# temporary file goes): it ends before it runs
	mkdir "$BATS_TEST_TMPDIR/job_$BATS_TEST_NUMBER.pid.tmp"
	run --separate-stderr londiste "$INI" replay --daemon
	[ "$status" -eq 3 ] || { echo "status $status: $stderr" >&2; false; }
	[[ "$stderr" == *"the daemon ended at once: see $LOG"* ]]
	grep -q "cannot write" "$LOG"
}
