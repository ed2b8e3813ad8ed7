#!/usr/bin/env bats
# pgq-tick --loop: the ticker daemon.
load helper

tickdb() {
	new_db "$1" "${2:-debian}" &&
	sql "$1" "SELECT pgq.create_queue('q')" >/dev/null &&
	sql "$1" "SELECT pgq.set_queue_config('q', 'ticker_max_lag', '0')" >/dev/null &&
	sql "$1" "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '0')" >/dev/null
}

last_tick() {
	sql "$1" "SELECT last_tick_id FROM pgq.get_queue_info('q')"
}

# True once database $1 has ticked at least $2 times past tick $3.
ticked() {
	[ "$(last_tick "$1")" -ge $(($3 + $2)) ]
}

no_ticker_sessions() {
	[ "$(sql postgres "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgq-tick'")" -eq 0 ]
}

retry_queue_empty() {
	[ "$(sql "$1" "SELECT count(*) FROM pgq.retry_queue")" -eq 0 ]
}

start_ticker() {
	LOG="$BATS_TEST_TMPDIR/tick.log"
	pgq-tick --loop "$@" 2>"$LOG" 3>&- &
	TICKER=$!
}

# SIGTERM, and the exit status in $STOPPED.
stop_ticker() {
	STOPPED=0
	kill -TERM "$TICKER"
	wait "$TICKER" || STOPPED=$?
	TICKER=
}

teardown() {
	if [ -n "${TICKER:-}" ]; then kill -KILL "$TICKER" 2>/dev/null || true; fi
	if [ -n "${HANG:-}" ]; then
		kill -KILL "$HANG" 2>/dev/null || true
		wait "$HANG" 2>/dev/null || true
	fi
	return 0
}

@test "pgq-tick --loop: keeps ticking, stops on SIGTERM with status 0" {
	tickdb l_run
	t0=$(last_tick l_run)
	start_ticker --interval 50 -d dbname=l_run
	wait_for ticked l_run 3 "$t0"
	stop_ticker
	[ "$STOPPED" -eq 0 ] || { cat "$LOG"; false; }
	grep -q "stopping" "$LOG"
	# log lines carry a timestamp
	grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} UTC pgq-tick: ' "$LOG"
	# stopped means stopped: no connection left behind
	wait_for no_ticker_sessions
}

@test "pgq-tick --loop: SIGINT stops it too" {
	tickdb l_int
	start_ticker --interval 50 -d dbname=l_int
	wait_for grep -q connected "$LOG"
	kill -INT "$TICKER"
	st=0; wait "$TICKER" || st=$?
	TICKER=
	[ "$st" -eq 0 ]
}

@test "pgq-tick --loop: SIGHUP is ignored, it keeps ticking" {
	tickdb l_hup
	start_ticker --interval 50 -d dbname=l_hup
	wait_for grep -q connected "$LOG"
	kill -HUP "$TICKER"
	t0=$(last_tick l_hup)
	wait_for ticked l_hup 2 "$t0"
	kill -0 "$TICKER"
	stop_ticker
	[ "$STOPPED" -eq 0 ] || { cat "$LOG"; false; }
}

@test "pgq-next-batch --follow: SIGHUP is ignored" {
	new_db l_nbhup debian
	make_queue l_nbhup q c1
	out="$BATS_TEST_TMPDIR/follow"
	pgq-next-batch --follow -d dbname=l_nbhup q c1 >"$out" 2>"$out.err" &
	pid=$!
	wait_for sh -c "[ \$(psql -XAtc \"select count(*) from pg_stat_activity where datname='l_nbhup' and application_name='pgq-next-batch'\") -eq 1 ]"
	kill -HUP "$pid"
	printf 't\tafter-hup\n' | pgq-insert -d dbname=l_nbhup q
	tick l_nbhup q
	wait_for grep -q '^batch' "$out"
	kill -TERM "$pid"
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 0 ] || { cat "$out.err"; false; }
}

@test "pgq-tick --loop: reconnects after its backend is terminated" {
	tickdb l_re
	start_ticker --interval 50 -d dbname=l_re
	wait_for grep -q connected "$LOG"
	sql postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgq-tick' AND datname = 'l_re'" >/dev/null
	wait_for grep -q "connected again" "$LOG"
	grep -q "lost connection" "$LOG"
	t0=$(last_tick l_re)
	wait_for ticked l_re 2 "$t0"
	stop_ticker
	[ "$STOPPED" -eq 0 ]
}

@test "pgq-tick --loop: a dead and a hanging database do not stop the others" {
	tickdb l_ok
	# A "server" that accepts connections and never answers.
	mkdir -p "$TEST_DIR/hang"
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(16)
held = []
while True:
    held.append(s.accept()[0])
' "$TEST_DIR/hang/.s.PGSQL.5432" 3>&- &
	HANG=$!
	wait_for test -S "$TEST_DIR/hang/.s.PGSQL.5432"
	t0=$(last_tick l_ok)
	start_ticker --interval 50 -d "host=$TEST_DIR/hang dbname=x" \
		-d "host=$TEST_DIR/nonexistent dbname=y password=s3cret" -d dbname=l_ok
	wait_for ticked l_ok 5 "$t0"
	wait_for grep -q nonexistent "$LOG"
	stop_ticker
	[ "$STOPPED" -eq 0 ]
	! grep -q s3cret "$LOG"
}

@test "pgq-tick --loop --all-databases: notices a database created after start" {
	tickdb l_first
	start_ticker --all-databases --interval 50 --maint-interval 0.2
	t0=$(last_tick l_first)
	wait_for ticked l_first 2 "$t0"
	tickdb l_later
	t1=$(last_tick l_later)
	wait_for ticked l_later 2 "$t1"
	# and a database that gets PgQ later
	new_db l_plain none
	sleep 0.5
	install_debian l_plain
	sql l_plain "SELECT pgq.create_queue('q')" >/dev/null
	sql l_plain "SELECT pgq.set_queue_config('q', 'ticker_max_lag', '0')" >/dev/null
	sql l_plain "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '0')" >/dev/null
	t2=$(last_tick l_plain)
	wait_for ticked l_plain 2 "$t2"
	stop_ticker
	[ "$STOPPED" -eq 0 ]
}

@test "pgq-tick --loop --all-databases --check-interval: lists databases apart from maintenance" {
	tickdb l_chk1
	# Maintenance once an hour: only the check interval can find l_chk2.
	start_ticker --all-databases --interval 50 --maint-interval 3600 --check-interval 0.2
	t0=$(last_tick l_chk1)
	wait_for ticked l_chk1 2 "$t0"
	tickdb l_chk2
	t1=$(last_tick l_chk2)
	wait_for ticked l_chk2 2 "$t1"
	stop_ticker
	[ "$STOPPED" -eq 0 ]
	run --separate-stderr pgq-tick --all-databases --check-interval 0
	[ "$status" -eq 2 ]
}

@test "pgq-tick --loop: runs maintenance periodically" {
	tickdb l_maint
	sql l_maint "SELECT pgq.register_consumer('q', 'c')" >/dev/null
	sql l_maint "SELECT pgq.insert_event('q', 't', 'd')" >/dev/null
	pgq-tick -d dbname=l_maint
	batch=$(sql l_maint "SELECT pgq.next_batch('q', 'c')")
	ev=$(sql l_maint "SELECT ev_id FROM pgq.get_batch_events($batch)")
	start_ticker --interval 50 --maint-interval 0.2 -d dbname=l_maint
	wait_for grep -q connected "$LOG"
	sql l_maint "SELECT pgq.event_retry($batch, $ev, 0)" >/dev/null
	sql l_maint "SELECT pgq.finish_batch($batch)" >/dev/null
	wait_for retry_queue_empty l_maint
	stop_ticker
	[ "$STOPPED" -eq 0 ]
}
