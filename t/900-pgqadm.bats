#!/usr/bin/env bats
# pgqadm, the PgQ admin porcelain.
load helper

have_ours() {
	[ -f "$SKYTOOLS_SQLDIR/pgq.sql" ] && [ -f "$SKYTOOLS_SQLDIR/pgq_coop.sql" ]
}

setup_file() {
	pg_start
	if have_debian_pgq; then new_db somedb debian; fi
}

setup() {
	export HOME="$BATS_TEST_TMPDIR/home"
	mkdir -p "$HOME"
	# Skytools 2's example pgqadm.ini, as shipped (database renamed).
	INI="$BATS_TEST_TMPDIR/pgqadm.ini"
	cat >"$INI" <<-'INI'

	[pgqadm]

	job_name = pgqadm_somedb

	db = dbname=somedb

	# how often to run maintenance [minutes]
	maint_delay_min = 5

	# how often to check for activity [secs]
	loop_delay = 0.1

	logfile = ~/log/%(job_name)s.log
	pidfile = ~/pid/%(job_name)s.pid

	use_skylog = 0

	INI
}

teardown() {
	local p
	p=$(cat "$HOME/pid/pgqadm_somedb.pid" 2>/dev/null) || p=
	# only a real pid: kill 0 or -1 would hit the test run itself
	if [[ "$p" =~ ^[1-9][0-9]*$ ]] && [ "$p" -gt 1 ]; then
		kill -KILL "$p" 2>/dev/null || true
	fi
	if [ -n "${TICKER:-}" ]; then kill -KILL "$TICKER" 2>/dev/null || true; fi
	if [ -n "${REAPER:-}" ]; then
		kill "$REAPER" 2>/dev/null || true
		wait "$REAPER" 2>/dev/null || true
	fi
	for f in "$BATS_TEST_TMPDIR"/*.pid; do
		if [ -f "$f" ]; then kill -KILL "$(cat "$f")" 2>/dev/null || true; fi
	done
	return 0
}

last_tick() {
	sql "$1" "SELECT last_tick_id FROM pgq.get_queue_info('$2')"
}

ticked() {
	[ "$(last_tick "$1" "$2")" -ge $(($3 + $4)) ]
}

@test "pgqadm: basic checks" {
	basic_checks pgqadm
	run --separate-stderr pgqadm "$INI"
	[ "$status" -eq 2 ]
	run --separate-stderr pgqadm "$INI" no-such-verb
	[ "$status" -eq 2 ]
	[[ "$stderr" == *usage:* ]]
	run --separate-stderr pgqadm -d
	[ "$status" -eq 2 ]
}

@test "pgqadm is shellcheck clean" {
	command -v shellcheck >/dev/null || skip "shellcheck not installed"
	shellcheck -s sh "$TOP/sh/pgqadm"
}

@test "pgqadm with Skytools 2's example ini: create, register, status, config" {
	have_debian_pgq || skip "Debian's PgQ is not installed"
	run --separate-stderr pgqadm "$INI" create iq
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	# use_skylog is a known key: no warning
	[[ "$stderr" != *unknown* ]]
	run --separate-stderr pgqadm "$INI" register iq ic
	[ "$status" -eq 0 ]
	run --separate-stderr pgqadm "$INI" status
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == queue$'\t'* ]]
	[[ "$output" == *iq*ic* ]]
	run --separate-stderr pgqadm "$INI" config iq ticker_max_count=11
	[ "$status" -eq 0 ]
	run --separate-stderr pgqadm "$INI" config iq
	[[ "$output" == *$'ticker_max_count\t11'* ]]
	run --separate-stderr pgqadm "$INI" config
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = $'queue\tkey\tvalue' ]
	[[ "$output" == *$'iq\tticker_max_count\t11'* ]]
	run --separate-stderr pgqadm "$INI" unregister iq ic
	[ "$status" -eq 0 ]
	run --separate-stderr pgqadm "$INI" drop iq
	[ "$status" -eq 0 ]
	[ "$(sql somedb "SELECT count(*) FROM pgq.get_queue_info('iq')")" -eq 0 ]
}

@test "pgqadm -d CONNINFO works without a config file" {
	have_debian_pgq || skip "Debian's PgQ is not installed"
	pgqadm -d dbname=somedb create dq1 dq2
	[ "$(sql somedb "SELECT count(*) FROM pgq.get_queue_info() WHERE queue_name IN ('dq1', 'dq2')")" -eq 2 ]
	pgqadm -d dbname=somedb register dq1 c
	run --separate-stderr pgqadm -d dbname=somedb drop dq1
	[ "$status" -eq 4 ]
	pgqadm --dbname=dbname=somedb drop --force dq1 dq2
	[ "$(sql somedb "SELECT count(*) FROM pgq.get_queue_info() WHERE queue_name IN ('dq1', 'dq2')")" -eq 0 ]
}

@test "pgqadm: plumbing failures pass their status through" {
	have_debian_pgq || skip "Debian's PgQ is not installed"
	run --separate-stderr pgqadm "$INI" drop nosuch
	[ "$status" -eq 2 ]
	run --separate-stderr pgqadm "$INI" unregister nosuch c
	[ "$status" -eq 2 ]
	run --separate-stderr pgqadm -d "host=$TEST_DIR/nonexistent" status
	[ "$status" -eq 3 ]
}

@test "pgqadm ticker --daemon with pidfile and logfile, stop" {
	have_debian_pgq || skip "Debian's PgQ is not installed"
	pgqadm "$INI" create tq
	sql somedb "SELECT pgq.set_queue_config('tq', 'ticker_max_lag', '0')" >/dev/null
	sql somedb "SELECT pgq.set_queue_config('tq', 'ticker_idle_period', '0')" >/dev/null
	t0=$(last_tick somedb tq)
	run --separate-stderr pgqadm "$INI" ticker --daemon
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ -s "$HOME/pid/pgqadm_somedb.pid" ]
	pid=$(cat "$HOME/pid/pgqadm_somedb.pid")
	kill -0 "$pid"
	wait_for ticked somedb tq "$t0" 3
	wait_for grep -q connected "$HOME/log/pgqadm_somedb.log"
	# loop_delay 0.1 and maint_delay_min 5 reach the ticker
	grep -q "tick every 100 ms, maintenance every 300000 ms" "$HOME/log/pgqadm_somedb.log"
	# a second one is refused
	run --separate-stderr pgqadm "$INI" ticker --daemon
	[ "$status" -eq 4 ]
	run --separate-stderr pgqadm "$INI" stop
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	! alive "$pid" || false
	[ ! -e "$HOME/pid/pgqadm_somedb.pid" ]
	grep -q stopping "$HOME/log/pgqadm_somedb.log"
	run --separate-stderr pgqadm "$INI" stop
	[ "$status" -eq 1 ]
}

# pgqadm ticker --daemon leaves the ticker to whoever adopts orphans:
# PID 1 of a container may reap it seconds later (2 s on the machines
# the tests run on) or never.
@test "pgqadm stop: a ticker that ended is stopped even when nobody reaps it" {
	have_debian_pgq || skip "Debian's PgQ is not installed"
	# a subreaper that never waits: it adopts the ticker once pgqadm
	# exited, and leaves it a zombie when it ends
	python3 -c '
import ctypes, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
subprocess.run(sys.argv[1:], check=True)
time.sleep(600)' pgqadm "$INI" ticker --daemon >/dev/null 2>&1 3>&- &
	REAPER=$!
	wait_for test -s "$HOME/pid/pgqadm_somedb.pid"
	pid=$(cat "$HOME/pid/pgqadm_somedb.pid")
	# (its signal handlers are set by then)
	wait_for grep -q connected "$HOME/log/pgqadm_somedb.log"
	run --separate-stderr timeout 30 pgqadm "$INI" stop
	[ "$status" -eq 0 ] || { echo "status $status: $stderr"; false; }
	! alive "$pid" || false
	grep -q stopping "$HOME/log/pgqadm_somedb.log"
	[ ! -e "$HOME/pid/pgqadm_somedb.pid" ]
}

@test "a pidfile of 0, -1, 1, junk or another program's pid is no running daemon" {
	mkdir -p "$HOME/pid"
	pf="$HOME/pid/pgqadm_somedb.pid"
	sleep 600 &
	other=$!
	cat >"$BATS_TEST_TMPDIR/l.ini" <<-INI
	[londiste]
	job_name = lj
	provider_db = dbname=somedb
	subscriber_db = dbname=somedb
	pgq_queue_name = lq
	pidfile = $BATS_TEST_TMPDIR/lj.pid
	INI
	for v in 0 -1 1 abc "" 007 "$other" "$other $other" 99999999999999999999; do
		printf '%s\n' "$v" >"$pf"
		run --separate-stderr pgqadm "$INI" stop
		[ "$status" -eq 1 ] || { echo "pgqadm, pidfile '$v': $status $stderr"; false; }
		[[ "$stderr" == *"not running"* ]]
		printf '%s\n' "$v" >"$BATS_TEST_TMPDIR/lj.pid"
		run --separate-stderr londiste "$BATS_TEST_TMPDIR/l.ini" stop
		[ "$status" -eq 1 ] || { echo "londiste, pidfile '$v': $status $stderr"; false; }
		[[ "$stderr" == *"not running"* ]]
		kill -0 "$other"
	done
	# a ticker is started over a stale pidfile
	have_debian_pgq || { kill "$other"; wait "$other" || :; skip "Debian's PgQ is not installed"; }
	printf -- '-1\n' >"$pf"
	run --separate-stderr pgqadm "$INI" ticker --daemon
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	run --separate-stderr pgqadm "$INI" stop
	[ "$status" -eq 0 ]
	kill "$other"
	wait "$other" || :
}

@test "wrappers: a malformed connection string is a usage error (2), also where psql would run" {
	for v in install config status "create q"; do
		# shellcheck disable=SC2086
		run --separate-stderr pgqadm -d "password=s3cret foo=bar" $v
		[ "$status" -eq 2 ] || { echo "pgqadm $v: $status $stderr"; false; }
		[[ "$stderr" == "pgqadm: invalid connection string"* ]]
		[[ "$stderr" != *s3cret* ]]
	done
	cat >"$BATS_TEST_TMPDIR/l.ini" <<-INI
	[londiste]
	job_name = lj
	provider_db = dbname=somedb
	subscriber_db = postgresql://u:s3cret@[::1/x
	pgq_queue_name = lq
	INI
	run --separate-stderr londiste "$BATS_TEST_TMPDIR/l.ini" status
	[ "$status" -eq 2 ] || { echo "londiste: $status $stderr"; false; }
	[[ "$stderr" == "londiste: invalid connection string"* ]]
	[[ "$stderr" != *s3cret* ]]
}

@test "pgqadm ticker in the foreground stops on SIGTERM with 0" {
	have_debian_pgq || skip "Debian's PgQ is not installed"
	pgqadm -d dbname=somedb create fq
	sql somedb "SELECT pgq.set_queue_config('fq', 'ticker_max_lag', '0')" >/dev/null
	sql somedb "SELECT pgq.set_queue_config('fq', 'ticker_idle_period', '0')" >/dev/null
	t0=$(last_tick somedb fq)
	pgqadm -d dbname=somedb ticker 2>"$BATS_TEST_TMPDIR/log" 3>&- &
	TICKER=$!
	wait_for ticked somedb fq "$t0" 2
	kill -TERM "$TICKER"
	st=0; wait "$TICKER" || st=$?
	TICKER=
	[ "$st" -eq 0 ]
}

@test "pgqadm: bad config files exit 2" {
	run --separate-stderr pgqadm "$BATS_TEST_TMPDIR/missing.ini" status
	[ "$status" -eq 2 ]
	printf '[pgqadm]\njob_name = x\n' >"$BATS_TEST_TMPDIR/nodb.ini"
	run --separate-stderr pgqadm "$BATS_TEST_TMPDIR/nodb.ini" status
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no db"* ]]
	printf '[pgqadm]\ndb = dbname=somedb\nloop_delay = soon\n' >"$BATS_TEST_TMPDIR/bad.ini"
	run --separate-stderr pgqadm "$BATS_TEST_TMPDIR/bad.ini" ticker
	[ "$status" -eq 2 ]
	[[ "$stderr" == *loop_delay* ]]
	printf '[pgqadm]\ndb = dbname=somedb\nlogfile = %%(nosuch)s.log\n' >"$BATS_TEST_TMPDIR/ref.ini"
	run --separate-stderr pgqadm "$BATS_TEST_TMPDIR/ref.ini" status
	[ "$status" -eq 2 ]
	run --separate-stderr pgqadm -d dbname=somedb ticker --daemon
	[ "$status" -eq 2 ]
	run --separate-stderr pgqadm -d dbname=somedb stop
	[ "$status" -eq 2 ]
}

@test "pgqadm install loads pgq, pgq_coop and pgq_node, again upgrades in place" {
	have_ours || skip "build/sql/pgq.sql not built"
	new_db inst none
	printf '[pgqadm]\ndb = dbname=inst\n' >"$BATS_TEST_TMPDIR/inst.ini"
	run --separate-stderr pgqadm "$BATS_TEST_TMPDIR/inst.ini" install
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	pgqadm "$BATS_TEST_TMPDIR/inst.ini" create keep
	sql inst "SELECT pgq.insert_event('keep', 't', 'still here')" >/dev/null
	run --separate-stderr pgqadm "$BATS_TEST_TMPDIR/inst.ini" install
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(sql inst "SELECT count(*) FROM pgq.get_queue_info('keep')")" -eq 1 ]
	[ "$(sql inst "SELECT to_regprocedure('pgq_coop.next_batch(text,text,text)') IS NOT NULL")" = t ]
	[ "$(sql inst "SELECT to_regprocedure('pgq_node.get_node_info(text)') IS NOT NULL")" = t ]
}

@test "pgqadm install refuses a database with PgQ as an extension (4)" {
	have_debian_pgq || skip "Debian's PgQ is not installed"
	have_ours || skip "build/sql/pgq.sql not built"
	run --separate-stderr pgqadm "$INI" install
	[ "$status" -eq 4 ]
	[[ "$stderr" == *EXTENSION* ]]
}

@test "pgqadm install: missing SQL files exit 2, unreachable database 3" {
	SKYTOOLS_SQLDIR="$BATS_TEST_TMPDIR/nosql" run --separate-stderr pgqadm "$INI" install
	[ "$status" -eq 2 ]
	have_ours || skip "build/sql/pgq.sql not built"
	run --separate-stderr pgqadm -d "host=$TEST_DIR/nonexistent" install
	[ "$status" -eq 3 ]
}

# A database of ours with a queue that ticks at every ticker call.
tick_db() {
	new_db "$1" ours &&
	sql "$1" "SELECT pgq.create_queue('q')" >/dev/null &&
	sql "$1" "SELECT pgq.set_queue_config('q', 'ticker_max_lag', '0')" >/dev/null &&
	sql "$1" "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '0')" >/dev/null
}

# An ini for database $1 in $BATS_TEST_TMPDIR/$1.ini, extra lines from stdin.
sky_ini() {
	{
		printf '[pgqadm]\ndb = dbname=%s\nloop_delay = 0.05\n' "$1"
		printf 'logfile = %s/%s.log\npidfile = %s/%s.pid\n' \
			"$BATS_TEST_TMPDIR" "$1" "$BATS_TEST_TMPDIR" "$1"
		cat
	} >"$BATS_TEST_TMPDIR/$1.ini"
}

stop_pidfile() {
	if [ -f "$1" ]; then kill -KILL "$(cat "$1")" 2>/dev/null || true; fi
}

@test "pgqadm -d CONFIG.ini ticker (Skytools' quick start) daemonizes; -s stops it" {
	have_ours || skip "build/sql/pgq.sql not built"
	tick_db sky1
	sky_ini sky1 </dev/null
	t0=$(last_tick sky1 q)
	# The old reading of -d (a conninfo) ran a ticker in the foreground
	# for ever: the timeout makes that a failure, not a hang.
	run --separate-stderr timeout 60 pgqadm -d "$BATS_TEST_TMPDIR/sky1.ini" ticker
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	pid=$(cat "$BATS_TEST_TMPDIR/sky1.pid")
	kill -0 "$pid"
	wait_for ticked sky1 q "$t0" 3
	run --separate-stderr pgqadm -s "$BATS_TEST_TMPDIR/sky1.ini"
	[ "$status" -eq 0 ] || { stop_pidfile "$BATS_TEST_TMPDIR/sky1.pid"; echo "$stderr"; false; }
	! alive "$pid" || false
	[ ! -e "$BATS_TEST_TMPDIR/sky1.pid" ]
	run --separate-stderr pgqadm -s "$BATS_TEST_TMPDIR/sky1.ini" ticker
	[ "$status" -eq 1 ]
	# a conninfo after -d is still one; a missing .ini is a missing file
	run --separate-stderr pgqadm -d dbname=sky1 config q
	[ "$status" -eq 0 ]
	run --separate-stderr timeout 60 pgqadm -d "$BATS_TEST_TMPDIR/nosuch.ini" ticker
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"nosuch.ini: cannot read"* ]]
	# -d goes with the ticker only
	run --separate-stderr pgqadm -d "$BATS_TEST_TMPDIR/sky1.ini" status
	[ "$status" -eq 2 ]
	run --separate-stderr pgqadm -s -d dbname=sky1
	[ "$status" -eq 2 ]
}

@test "pgqadm switches after the config file; -q, -v, -k and -r" {
	have_ours || skip "build/sql/pgq.sql not built"
	tick_db sky2
	sky_ini sky2 </dev/null
	ini=$BATS_TEST_TMPDIR/sky2.ini
	run --separate-stderr pgqadm -q -v "$ini" -d ticker
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ -z "$stderr" ]
	pid=$(cat "$BATS_TEST_TMPDIR/sky2.pid")
	wait_for grep -q 'tick every 50 ms' "$BATS_TEST_TMPDIR/sky2.log"
	# -r: the ticker reads the config file again
	printf 'maint_delay = 7\n' >>"$ini"
	run --separate-stderr pgqadm --reload "$ini"
	[ "$status" -eq 0 ] || { stop_pidfile "$BATS_TEST_TMPDIR/sky2.pid"; echo "$stderr"; false; }
	pid2=$(cat "$BATS_TEST_TMPDIR/sky2.pid")
	[ "$pid2" != "$pid" ]
	! alive "$pid" || false
	wait_for grep -q 'maintenance every 7000 ms' "$BATS_TEST_TMPDIR/sky2.log"
	# -k: gone at once
	run --separate-stderr pgqadm "$ini" -k
	[ "$status" -eq 0 ] || { stop_pidfile "$BATS_TEST_TMPDIR/sky2.pid"; false; }
	wait_for not_alive "$pid2"
	[ ! -e "$BATS_TEST_TMPDIR/sky2.pid" ]
	run --separate-stderr pgqadm -k "$ini"
	[ "$status" -eq 1 ]
	run --separate-stderr pgqadm -r "$ini"
	[ "$status" -eq 1 ]
	run --separate-stderr pgqadm -s "$ini" status
	[ "$status" -eq 2 ]
}

@test "pgqadm --ini prints a sample config that works" {
	have_ours || skip "build/sql/pgq.sql not built"
	run --separate-stderr pgqadm --ini
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = '[pgqadm]' ]
	new_db somedb_ours ours
	pgqadm --ini | sed 's/dbname=somedb/dbname=somedb_ours/' >"$BATS_TEST_TMPDIR/sample.ini"
	run --separate-stderr pgqadm "$BATS_TEST_TMPDIR/sample.ini" status
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ -z "$stderr" ]
}

@test "pgqadm config takes Skytools' long setting names" {
	have_ours || skip "build/sql/pgq.sql not built"
	tick_db sky3
	sky_ini sky3 </dev/null
	run --separate-stderr pgqadm "$BATS_TEST_TMPDIR/sky3.ini" config q \
		queue_ticker_max_lag=10 queue_ticker_max_count=12 queue_ticker_idle_period=30 \
		queue_rotation_period='1 hour' queue_external_ticker=false \
		queue_disable_insert=false queue_per_tx_limit=100
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(sql sky3 "SELECT queue_ticker_max_lag || ' ' || queue_ticker_max_count || ' ' ||
		queue_ticker_idle_period || ' ' || queue_rotation_period || ' ' || queue_per_tx_limit
		FROM pgq.queue WHERE queue_name = 'q'")" = "00:00:10 12 00:00:30 01:00:00 100" ]
}

@test "pgqadm: Skytools keys: maint_delay honoured, documented ones ignored quietly" {
	have_ours || skip "build/sql/pgq.sql not built"
	tick_db sky4
	sky_ini sky4 <<-'EOF'
	maint_delay_min = 5
	maint_delay = 9
	connection_lifetime = 1200
	queue_refresh_period = 30
	ticker_log_delay = 300
	log_size = 1000000
	log_count = 3
	use_skylog = 0
	no_such_key = 1
	EOF
	run --separate-stderr pgqadm "$BATS_TEST_TMPDIR/sky4.ini" ticker --daemon
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "${#stderr_lines[@]}" -eq 2 ]
	[[ "${stderr_lines[0]}" == *"unknown key no_such_key"* ]]
	wait_for grep -q 'maintenance every 9000 ms' "$BATS_TEST_TMPDIR/sky4.log" ||
		{ stop_pidfile "$BATS_TEST_TMPDIR/sky4.pid"; false; }
	pgqadm "$BATS_TEST_TMPDIR/sky4.ini" stop
	printf '[pgqadm]\ndb = dbname=sky4\nmaint_delay = soon\n' >"$BATS_TEST_TMPDIR/bad.ini"
	run --separate-stderr pgqadm "$BATS_TEST_TMPDIR/bad.ini" ticker
	[ "$status" -eq 2 ]
	[[ "$stderr" == *maint_delay* ]]
}

# pgqd's config file, for the databases listed in $2 (may be empty).
pgqd_ini() {
	cat >"$BATS_TEST_TMPDIR/$1.ini" <<-EOF
	[pgqd]
	logfile = $BATS_TEST_TMPDIR/$1.log
	pidfile = $BATS_TEST_TMPDIR/$1.pid
	base_connstr = host=$PGHOST port=$PGPORT
	initial_database = postgres
	database_list = $2
	ticker_period = 0.05
	maint_period = 120
	retry_period = 30
	check_period = 0.2
	syslog = 0
	syslog_ident = pgqd
	EOF
}

@test "pgqadm with pgqd.ini ticks every database of database_list" {
	have_ours || skip "build/sql/pgq.sql not built"
	tick_db pgqd_a
	tick_db pgqd_b
	tick_db pgqd_c
	pgqd_ini pgqd2 "pgqd_a, pgqd_b"
	ta=$(last_tick pgqd_a q); tb=$(last_tick pgqd_b q); tc=$(last_tick pgqd_c q)
	# pgqd's own command line: -d and the file, no verb
	run --separate-stderr pgqadm -d "$BATS_TEST_TMPDIR/pgqd2.ini"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	# the [pgqd] keys are known: no warning, only the start
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == *"ticker pgqd2 started"* ]]
	wait_for ticked pgqd_a q "$ta" 3
	wait_for ticked pgqd_b q "$tb" 3
	# retry_period 30 < maint_period 120: maintenance every 30 s
	grep -q 'starting: 2 databases, tick every 50 ms, maintenance every 30000 ms' \
		"$BATS_TEST_TMPDIR/pgqd2.log"
	run --separate-stderr pgqadm -s "$BATS_TEST_TMPDIR/pgqd2.ini"
	[ "$status" -eq 0 ] || { stop_pidfile "$BATS_TEST_TMPDIR/pgqd2.pid"; false; }
	[ "$(last_tick pgqd_c q)" -eq "$tc" ]
	run --separate-stderr pgqadm "$BATS_TEST_TMPDIR/pgqd2.ini" status
	[ "$status" -eq 2 ]
}

@test "pgqadm with pgqd.ini and no database_list ticks every database with PgQ, new ones too" {
	have_ours || skip "build/sql/pgq.sql not built"
	tick_db pgqd_all1
	pgqd_ini pgqdall ""
	pgqadm "$BATS_TEST_TMPDIR/pgqdall.ini" ticker 2>"$BATS_TEST_TMPDIR/fg.log" 3>&- &
	TICKER=$!
	t1=$(last_tick pgqd_all1 q)
	wait_for ticked pgqd_all1 q "$t1" 3
	# check_period 0.2 (maintenance every 30 s) finds a new database
	tick_db pgqd_all2
	t2=$(last_tick pgqd_all2 q)
	wait_for ticked pgqd_all2 q "$t2" 3
	kill -TERM "$TICKER"
	st=0; wait "$TICKER" || st=$?
	TICKER=
	[ "$st" -eq 0 ]
	! grep -q unknown "$BATS_TEST_TMPDIR/fg.log"
}
