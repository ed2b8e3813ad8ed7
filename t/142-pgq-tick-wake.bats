#!/usr/bin/env bats
# The commit wake-up: an insert into a queue at ticker_max_lag 0
# notifies the channel pgq_ticker at its commit, and pgq-tick --loop
# ticks at once.  Database c has the C insert (pgq_c), database p the
# PL/pgSQL one; both must behave the same.

load helper

setup_file() {
	if pg_start_with_pgq_c; then
		FLAVOURS="c p"
	else
		[ -n "${SKIP_FILE:-}" ] || return 1
		unset SKIP_FILE
		pg_start || return 1
		FLAVOURS="p"
	fi
	export FLAVOURS
	sql postgres "CREATE ROLE wake_nobody LOGIN" >/dev/null
	for db in $FLAVOURS; do
		if [ "$db" = p ]; then
			PGOPTIONS="-c dynamic_library_path=\$libdir" new_db p
		else
			new_db c
			[ "$(sql c "SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
			            WHERE p.oid = 'pgq.insert_event(text,text,text)'::regprocedure")" = c ]
		fi
		sql "$db" "CREATE TABLE tbl (id int PRIMARY KEY, v text)" >/dev/null
	done
}

teardown() {
	if [ -n "${TICKER:-}" ]; then
		kill -TERM "$TICKER" 2>/dev/null || true
		wait "$TICKER" 2>/dev/null || true
		TICKER=
	fi
	return 0
}

# mkq DB QUEUE [KEY=VALUE...]: a fresh queue with consumer c and the
# given settings; ticker_idle_period is an hour, so that no tick comes
# from idleness during a test.
mkq() {
	local db=$1 q=$2 kv
	shift 2
	sql "$db" "SELECT pgq.drop_queue('$q', true) FROM pgq.queue WHERE queue_name = '$q'" >/dev/null &&
	make_queue "$db" "$q" c &&
	sql "$db" "SELECT pgq.set_queue_config('$q', 'ticker_idle_period', '1 hour')" >/dev/null ||
		return 1
	for kv in "$@"; do
		sql "$db" "SELECT pgq.set_queue_config('$q', '${kv%%=*}', '${kv#*=}')" >/dev/null ||
			return 1
	done
}

last_tick() {
	sql "$1" "SELECT last_tick_id FROM pgq.get_queue_info('$2')"
}

# True once queue $2 of database $1 has a tick after tick $3.
ticked_after() {
	[ "$(last_tick "$1" "$2")" -gt "$3" ]
}

# The ev_data of every event consumer c has not read yet on queue $2,
# batch by batch, each batch finished.
drain() {
	local db=$1 q=$2 b
	while b=$(sql "$db" "SELECT pgq.next_batch('$q', 'c')") && [ -n "$b" ]; do
		sql "$db" "SELECT ev_data FROM pgq.get_batch_events($b) ORDER BY ev_id" || return 1
		sql "$db" "SELECT pgq.finish_batch($b)" >/dev/null || return 1
	done
}

# pgq-tick --loop whose interval (10 minutes) never comes during a test:
# after its first pass, a tick can only come from a wake-up.  Returns
# once that first pass is done (queue "pass", ticked by every call of
# pgq.ticker(), has its first tick past the creation's).
start_ticker() {
	local db=$1 t0
	mkq "$db" pass ticker_idle_period=0 || return 1
	t0=$(last_tick "$db" pass)
	LOG="$BATS_TEST_TMPDIR/tick.log"
	pgq-tick --loop --interval 600000 --maint-interval 600 -d "dbname=$db" \
		2>"$LOG" 3>&- &
	TICKER=$!
	wait_for ticked_after "$db" pass "$t0" || { cat "$LOG"; return 1; }
}

# The notifications on pgq_ticker that a session LISTENing there gets
# while it runs the SQL of stdin: its own arrive when each of its
# transactions ends, so each shows as "N" right after the \echo marker
# of the step that sent it.
notified() {
	{ echo "LISTEN pgq_ticker;"; cat; } |
		psql -XAtq -v ON_ERROR_STOP=1 -d "$1" -f - 2>&1 |
		sed -e 's/^Asynchronous notification "pgq_ticker" received from server process with PID [0-9]*\.$/N/' |
		grep -v -e '^t$' -e '^[0-9]*$'
}

@test "pgq_ticker: a queue at ticker_max_lag 0 notifies once per transaction, at commit only; the default queue never" {
	for db in $FLAVOURS; do
		mkq "$db" qdef
		mkq "$db" qzero ticker_max_lag=0
		mkq "$db" qext ticker_max_lag=0 external_ticker=true
		sql "$db" "DROP TRIGGER IF EXISTS tg ON tbl; TRUNCATE tbl;
		           CREATE TRIGGER tg AFTER INSERT ON tbl FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('qzero')"
		run notified "$db" <<-'SQL'
		\echo default
		SELECT pgq.insert_event('qdef', 't', 'd') > 0;
		BEGIN;
		SELECT count(pgq.insert_event('qdef', 't', i::text)) FROM generate_series(1, 100) i;
		COMMIT;
		\echo zero
		SELECT pgq.insert_event('qzero', 't', 'd') > 0;
		\echo zero-100-in-one
		BEGIN;
		SELECT count(pgq.insert_event('qzero', 't', i::text)) FROM generate_series(1, 100) i;
		SELECT pgq.insert_event('qzero', 't', 'x', 'a', 'b', 'c', 'd') > 0;
		COMMIT;
		\echo rollback
		BEGIN;
		SELECT pgq.insert_event('qzero', 't', 'd') > 0;
		ROLLBACK;
		\echo savepoint-rolled-back
		BEGIN;
		SAVEPOINT a;
		SELECT pgq.insert_event('qzero', 't', 'd') > 0;
		ROLLBACK TO a;
		SELECT pgq.insert_event('qdef', 't', 'd') > 0;
		COMMIT;
		\echo savepoint-then-outer
		BEGIN;
		SAVEPOINT a;
		SELECT pgq.insert_event('qzero', 't', 'd') > 0;
		ROLLBACK TO a;
		RELEASE a;
		SELECT pgq.insert_event('qzero', 't', 'd') > 0;
		COMMIT;
		\echo raw
		SELECT pgq.insert_event_raw('qzero', NULL, NULL, NULL, NULL, 't', 'd', NULL, NULL, NULL, NULL) > 0;
		\echo trigger
		INSERT INTO tbl VALUES (1, 'x');
		\echo external
		SELECT pgq.insert_event('qext', 't', 'd') > 0;
		\echo end
		SQL
		echo "$db: $output"
		[ "$status" -eq 0 ]
		[ "$output" = "$(printf '%s\n' default zero N zero-100-in-one N rollback \
			savepoint-rolled-back savepoint-then-outer N raw N trigger N external end)" ]
	done
}

@test "pgq-tick --loop: an event of a ticker_max_lag 0 queue is ticked at its commit, long before the interval" {
	for db in $FLAVOURS; do
		mkq "$db" qzero ticker_max_lag=0
		mkq "$db" qdef
		start_ticker "$db"
		grep -q "connected" "$LOG"
		for n in 1 2 3; do
			t0=$(last_tick "$db" qzero)
			d0=$(last_tick "$db" qdef)
			sql "$db" "SELECT pgq.insert_event('qzero', 'lat', 'ev$n')" >/dev/null
			wait_for ticked_after "$db" qzero "$t0"
			run drain "$db" qzero
			[ "$status" -eq 0 ]
			[ "$output" = "ev$n" ]
			# the default queue had nothing, and got no tick
			[ "$(last_tick "$db" qdef)" = "$d0" ]
		done
		# a producer through a trigger wakes it too
		t0=$(last_tick "$db" qzero)
		sql "$db" "DROP TRIGGER IF EXISTS tg ON tbl; TRUNCATE tbl;
		           CREATE TRIGGER tg AFTER INSERT ON tbl FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('qzero');
		           INSERT INTO tbl VALUES (7, 'seven')"
		wait_for ticked_after "$db" qzero "$t0"
		run drain "$db" qzero
		[ "$output" = "id=7&v=seven" ]
		teardown
	done
}

@test "pgq-tick --loop: a NOTIFY on pgq_ticker from any login costs at most one early tick, never a wrong one" {
	for db in $FLAVOURS; do
		mkq "$db" qzero ticker_max_lag=0
		# pending events ask for a tick only after an hour here
		mkq "$db" qdef "ticker_max_lag=1 hour"
		start_ticker "$db"
		z0=$(last_tick "$db" qzero)
		d0=$(last_tick "$db" qdef)
		# an event that is not committed: the sequence moved, as while
		# a producer's transaction runs
		sql "$db" "BEGIN; SELECT pgq.insert_event('qzero', 't', 'gone'); SELECT pgq.insert_event('qdef', 't', 'gone'); ROLLBACK" >/dev/null
		# a plain login, no rights on PgQ, may notify the channel
		psql -XAtq -v ON_ERROR_STOP=1 -U wake_nobody -d "$db" -c "NOTIFY pgq_ticker"
		# the ticker wakes and calls pgq.ticker(): the queue at
		# max_lag 0 gets one (empty) tick, the default queue none
		wait_for ticked_after "$db" qzero "$z0"
		[ "$(last_tick "$db" qzero)" -eq $((z0 + 1)) ]
		# payloads are not taken as wake-ups, and are no way in
		psql -XAtq -v ON_ERROR_STOP=1 -U wake_nobody -d "$db" \
			-c "SELECT pg_notify('pgq_ticker', 'qdef'); NOTIFY pgq_ticker, 'tick 1'"
		# nothing to tick: more notifications change nothing
		psql -XAtq -v ON_ERROR_STOP=1 -U wake_nobody -d "$db" -c "NOTIFY pgq_ticker"
		# a real event after them is ticked once and read once
		sql "$db" "SELECT pgq.insert_event('qzero', 't', 'real')" >/dev/null
		wait_for ticked_after "$db" qzero "$((z0 + 1))"
		run drain "$db" qzero
		[ "$status" -eq 0 ]
		[ "$output" = "real" ]
		[ "$(last_tick "$db" qdef)" = "$d0" ]
		run drain "$db" qdef
		[ "$output" = "" ]
		teardown
	done
}

@test "pgq.ticker: an event in flight during a tick is ticked at its commit on a ticker_max_lag 0 queue" {
	db=${FLAVOURS%% *}
	mkq "$db" qzero ticker_max_lag=0
	mkq "$db" qdef
	fifo="$BATS_TEST_TMPDIR/in"
	mkfifo "$fifo"
	psql -XAtq -v ON_ERROR_STOP=1 -d "$db" <"$fifo" >"$BATS_TEST_TMPDIR/out" 2>&1 3>&- &
	producer=$!
	exec 4>"$fifo"
	echo "BEGIN; SELECT pgq.insert_event('qzero', 't', 'in flight'); SELECT pgq.insert_event('qdef', 't', 'in flight');" >&4
	wait_for grep -q . "$BATS_TEST_TMPDIR/out"
	# the sequence moved: the queue ticks, without the event; the
	# other one is made to
	[ -n "$(sql "$db" "SELECT pgq.ticker('qzero')")" ]
	z=$(last_tick "$db" qzero)
	tick "$db" qdef
	d=$(last_tick "$db" qdef)
	echo "COMMIT;" >&4
	exec 4>&-
	wait "$producer"
	# the sequence says nothing is new; the queue at max lag 0 looks
	# at its tables and ticks
	run sql "$db" "SELECT pgq.ticker('qzero')"
	[ "$output" -gt "$z" ]
	run drain "$db" qzero
	[ "$output" = "in flight" ]
	# and only once
	run sql "$db" "SELECT pgq.ticker('qzero')"
	[ -z "$output" ]
	# the other queue waits for its next event or idle tick, as in PgQ
	run sql "$db" "SELECT pgq.ticker('qdef')"
	[ -z "$output" ]
	[ "$(last_tick "$db" qdef)" = "$d" ]
}

@test "pgq_ticker: a transaction that inserted into a ticker_max_lag 0 queue cannot be prepared (pgq-config(1)); a default queue's can" {
	for db in $FLAVOURS; do
		mkq "$db" qdef2
		mkq "$db" qzero2 ticker_max_lag=0
		run sql "$db" "BEGIN; SELECT pgq.insert_event('qzero2', 't', 'd'); PREPARE TRANSACTION 'w_$db'"
		[ "$status" -ne 0 ]
		[[ "$output" == *"cannot PREPARE a transaction that has executed LISTEN, UNLISTEN, or NOTIFY"* ]]
		sql "$db" "BEGIN; SELECT pgq.insert_event('qdef2', 't', 'd'); PREPARE TRANSACTION 'd_$db'" >/dev/null
		sql "$db" "COMMIT PREPARED 'd_$db'"
	done
}
