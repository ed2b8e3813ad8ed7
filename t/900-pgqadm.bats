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
	! kill -0 "$pid" 2>/dev/null
	[ ! -e "$HOME/pid/pgqadm_somedb.pid" ]
	grep -q stopping "$HOME/log/pgqadm_somedb.log"
	run --separate-stderr pgqadm "$INI" stop
	[ "$status" -eq 1 ]
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

@test "pgqadm install loads pgq and pgq_coop, again upgrades in place" {
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
