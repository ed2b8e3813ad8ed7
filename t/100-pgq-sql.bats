#!/usr/bin/env bats
# sql/pgq: the queue semantics, driven by SQL against our schema.

load helper

setup_file() {
	pg_start
	new_db q
	install_drain q
}

# Make a tick now: force_tick makes the ticker's conditions true.
# Prints the new tick id.
tick() {
	psql -XAtq -v ON_ERROR_STOP=1 -d "${2:-q}" -c "SELECT pgq.force_tick('$1')" \
		-c "SELECT pgq.ticker('$1')" | tail -n 1
}

# Print the ev_data of every batch ready for CONSUMER, finishing each.
drain() {
	sql q "SELECT * FROM t.drain('$1', '$2')"
}

# A psql session driven through a fifo, for transactions that must stay
# open while the test does something else.  Output goes to $TEST_DIR/$1.out.
session_open() {
	mkfifo "$TEST_DIR/$1.in"
	PGAPPNAME=$1 psql -XAtq -d q <"$TEST_DIR/$1.in" >"$TEST_DIR/$1.out" 2>&1 &
	echo $! >"$TEST_DIR/$1.pid"
	exec {SESSION_FD}>"$TEST_DIR/$1.in"
}
session_send() { echo "$1" >&"$SESSION_FD"; }
session_close() {
	exec {SESSION_FD}>&-
	wait "$(cat "$TEST_DIR/$1.pid")"
}
idle_in_tx() {
	[ "$(sql q "SELECT count(*) FROM pg_stat_activity
	            WHERE application_name = '$1' AND state = 'idle in transaction'")" = 1 ]
}

@test "install: version, marker function, roles" {
	run sql q "SELECT pgq.version(), pgq.skytools_c_version() IS NOT NULL"
	[ "$output" = "3.5.1|t" ]
	run sql q "SELECT count(*) FROM pg_roles WHERE rolname IN ('pgq_reader', 'pgq_writer', 'pgq_admin')"
	[ "$output" = 3 ]
	run sql q "SELECT pgq_coop.version()"
	[ "$output" = "3.5.1" ]
}

@test "every SECURITY DEFINER function pins search_path" {
	run sql q "SELECT p.oid::regprocedure FROM pg_proc p
	           WHERE p.pronamespace IN ('pgq'::regnamespace, 'pgq_coop'::regnamespace)
	             AND p.prosecdef
	             AND NOT coalesce(array_to_string(p.proconfig, ' ') LIKE '%search_path=%', false)"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# and there are some
	run sql q "SELECT count(*) > 20 FROM pg_proc WHERE pronamespace = 'pgq'::regnamespace AND prosecdef"
	[ "$output" = t ]
}

@test "create_queue: new 1, existing 0, empty name refused" {
	run sql q "SELECT pgq.create_queue('cq')"
	[ "$output" = 1 ]
	run sql q "SELECT pgq.create_queue('cq')"
	[ "$output" = 0 ]
	run --separate-stderr sql q "SELECT pgq.create_queue('')"
	[ "$status" -ne 0 ]
	run sql q "SELECT pgq.current_event_table('cq') LIKE 'pgq.event_%'"
	[ "$output" = t ]
}

@test "several queues, producers and consumers: each consumer sees every event once" {
	sql q "SELECT pgq.create_queue('qa'), pgq.create_queue('qb')" >/dev/null
	for c in c1 c2 c3; do
		sql q "SELECT pgq.register_consumer('qa', '$c'), pgq.register_consumer('qb', '$c')" >/dev/null
	done
	# three producers in parallel, each 100 events in 10 transactions,
	# while the ticker runs
	pids=
	for p in 1 2 3; do
		(for t in $(seq 1 10); do
			sql q "SELECT count(pgq.insert_event(CASE WHEN i % 2 = 0 THEN 'qa' ELSE 'qb' END,
			        'x', 'p$p-t$t-' || i)) FROM generate_series(1, 10) i" >/dev/null || exit 1
		done) &
		pids="$pids $!"
	done
	for i in $(seq 1 5); do tick qa >/dev/null; tick qb >/dev/null; done
	# by pid: a bare wait would also wait for bats' time-limit watchdog
	for p in $pids; do wait "$p"; done
	tick qa >/dev/null; tick qb >/dev/null
	for c in c1 c2 c3; do
		drain qa "$c" >"$TEST_DIR/qa.$c"
		drain qb "$c" >"$TEST_DIR/qb.$c"
		[ "$(wc -l <"$TEST_DIR/qa.$c")" -eq 150 ]
		[ "$(wc -l <"$TEST_DIR/qb.$c")" -eq 150 ]
		[ -z "$(sort "$TEST_DIR/qa.$c" | uniq -d)" ]
		[ -z "$(sort "$TEST_DIR/qb.$c" | uniq -d)" ]
		# no event of one queue in the other
		! grep -q -- '-[13579]$' "$TEST_DIR/qa.$c" || false
		! grep -q -- '-[02468]$' "$TEST_DIR/qb.$c" || false
	done
	cmp <(sort "$TEST_DIR/qa.c1") <(sort "$TEST_DIR/qa.c3")
	# nothing left
	run drain qa c2
	[ -z "$output" ]
}

@test "next_batch returns the same batch until finish_batch" {
	sql q "SELECT pgq.create_queue('same')" >/dev/null
	sql q "SELECT pgq.register_consumer('same', 'c')" >/dev/null
	sql q "SELECT pgq.insert_event('same', 't', 'one')" >/dev/null
	tick same >/dev/null
	b1=$(sql q "SELECT pgq.next_batch('same', 'c')")
	[ -n "$b1" ]
	sql q "SELECT pgq.insert_event('same', 't', 'two')" >/dev/null
	tick same >/dev/null
	b2=$(sql q "SELECT pgq.next_batch('same', 'c')")
	[ "$b1" = "$b2" ]
	run sql q "SELECT ev_data FROM pgq.get_batch_events($b1)"
	[ "$output" = one ]
	run sql q "SELECT pgq.finish_batch($b1)"
	[ "$output" = 1 ]
	# finishing again: 0 and a warning
	run --separate-stderr sql q "SELECT pgq.finish_batch($b1)"
	[ "$output" = 0 ]
	[[ "$stderr" == *"not found"* ]]
	b3=$(sql q "SELECT pgq.next_batch('same', 'c')")
	[ "$b3" != "$b1" ]
	run sql q "SELECT ev_data FROM pgq.get_batch_events($b3)"
	[ "$output" = two ]
	sql q "SELECT pgq.finish_batch($b3)" >/dev/null
	# no further tick: no batch
	run sql q "SELECT pgq.next_batch('same', 'c') IS NULL"
	[ "$output" = t ]
}

@test "a transaction that commits after a tick lands in a later batch, once" {
	sql q "SELECT pgq.create_queue('late')" >/dev/null
	sql q "SELECT pgq.register_consumer('late', 'c')" >/dev/null
	session_open slow
	session_send "BEGIN; SELECT pgq.insert_event('late', 't', 'slow');"
	wait_for idle_in_tx slow
	sql q "SELECT pgq.insert_event('late', 't', 'fast')" >/dev/null
	tick late >/dev/null
	run drain late c
	[ "$output" = fast ]
	session_send "COMMIT;"
	session_close slow
	tick late >/dev/null
	run drain late c
	[ "$output" = slow ]
	tick late >/dev/null
	run drain late c
	[ -z "$output" ]
}

@test "an event committed after a tick that counted it is ticked once ticker_max_lag passed, not at the idle tick" {
	sql q "SELECT pgq.create_queue('lagq')" >/dev/null
	sql q "SELECT pgq.set_queue_config('lagq', 'ticker_max_lag', '0.1 second');
		SELECT pgq.set_queue_config('lagq', 'ticker_idle_period', '1 hour')" >/dev/null
	sql q "SELECT pgq.register_consumer('lagq', 'c')" >/dev/null
	session_open slow2
	session_send "BEGIN; SELECT pgq.insert_event('lagq', 't', 'slow');"
	wait_for idle_in_tx slow2
	# the ticker's own condition (the sequence moved, max_lag passed)
	# makes a tick while the insert is not committed yet
	ticks() { [ "$(sql q "SELECT pgq.ticker('lagq') IS NOT NULL")" = t ]; }
	wait_for ticks
	run drain lagq c
	[ -z "$output" ]
	session_send "COMMIT;"
	session_close slow2
	# the sequence says nothing is new; the event tables say otherwise
	wait_for ticks
	run drain lagq c
	[ "$output" = slow ]
	# and nothing more once max_lag passed again: no tick while nothing
	# waits
	past_lag() { [ "$(sql q "SELECT now() - max(tick_time) > '0.1 second' FROM pgq.tick
		WHERE tick_queue = (SELECT queue_id FROM pgq.queue WHERE queue_name = 'lagq')")" = t ]; }
	wait_for past_lag
	[ "$(sql q "SELECT pgq.ticker('lagq') IS NULL")" = t ]
}

@test "a ticker session that looked in vain while an insert ran ticks it once it commits" {
	sql q "SELECT pgq.create_queue('lagq3')" >/dev/null
	sql q "SELECT pgq.set_queue_config('lagq3', 'ticker_max_lag', '0.1 second');
		SELECT pgq.set_queue_config('lagq3', 'ticker_idle_period', '1 hour')" >/dev/null
	sql q "SELECT pgq.register_consumer('lagq3', 'c')" >/dev/null
	qid=$(sql q "SELECT queue_id FROM pgq.queue WHERE queue_name = 'lagq3'")
	session_open slow3
	session_send "BEGIN; SELECT pgq.insert_event('lagq3', 't', 'slow');"
	wait_for idle_in_tx slow3
	ticks() { [ "$(sql q "SELECT pgq.ticker('lagq3') IS NOT NULL")" = t ]; }
	wait_for ticks
	past_lag() { [ "$(sql q "SELECT now() - max(tick_time) > '0.1 second' FROM pgq.tick
		WHERE tick_queue = $qid")" = t ]; }
	wait_for past_lag
	# one ticker session, as pgqd keeps: its look finds nothing (the
	# insert runs) and is remembered
	mkfifo "$TEST_DIR/tk.in"
	# (without the other session's fifo: it would never see its end)
	(exec {SESSION_FD}>&-; exec psql -XAtq -d q <"$TEST_DIR/tk.in" >"$TEST_DIR/tk.out" 2>&1) &
	tk_pid=$!
	exec {TK}>"$TEST_DIR/tk.in"
	echo "SELECT 'look1', pgq.ticker('lagq3') IS NULL,
		current_setting('pgq.ticker_look_$qid', true) IS NOT NULL;" >&"$TK"
	wait_for grep -q '^look1|' "$TEST_DIR/tk.out"
	grep -qx 'look1|t|t' "$TEST_DIR/tk.out"
	session_send "COMMIT;"
	session_close slow3
	echo "SELECT 'look2', pgq.ticker('lagq3') IS NOT NULL;" >&"$TK"
	wait_for grep -q '^look2|' "$TEST_DIR/tk.out"
	grep -qx 'look2|t' "$TEST_DIR/tk.out"
	exec {TK}>&-
	wait "$tk_pid"
	run drain lagq3 c
	[ "$output" = slow ]
}

@test "a consumer registered later starts at the queue's last tick" {
	sql q "SELECT pgq.create_queue('reg')" >/dev/null
	sql q "SELECT pgq.register_consumer('reg', 'early')" >/dev/null
	sql q "SELECT pgq.insert_event('reg', 't', 'before')" >/dev/null
	tick reg >/dev/null
	sql q "SELECT pgq.insert_event('reg', 't', 'between')" >/dev/null
	run sql q "SELECT pgq.register_consumer('reg', 'late')"
	[ "$output" = 1 ]
	run sql q "SELECT pgq.register_consumer('reg', 'late')"
	[ "$output" = 0 ]
	sql q "SELECT pgq.insert_event('reg', 't', 'after')" >/dev/null
	tick reg >/dev/null
	run drain reg late
	[ "${lines[*]}" = "between after" ]
	run drain reg early
	[ "${lines[*]}" = "before between after" ]
}

@test "register_consumer_at, unregister_consumer, errors for unknown names" {
	sql q "SELECT pgq.create_queue('at')" >/dev/null
	t1=$(tick at)
	sql q "SELECT pgq.insert_event('at', 't', 'e1')" >/dev/null
	tick at >/dev/null
	run sql q "SELECT pgq.register_consumer_at('at', 'c', $t1)"
	[ "$output" = 1 ]
	run drain at c
	[ "$output" = e1 ]
	run sql q "SELECT pgq.register_consumer_at('at', 'c', $t1)"
	[ "$output" = 0 ]
	run drain at c
	[ "$output" = e1 ]
	# an open batch is dropped, as in PgQ: a late finish_batch finds none
	sql q "SELECT pgq.register_consumer_at('at', 'c', $t1)" >/dev/null
	b=$(sql q "SELECT pgq.next_batch('at', 'c')")
	[ -n "$b" ]
	run sql q "SELECT pgq.register_consumer_at('at', 'c', $t1)"
	[ "$output" = 0 ]
	run sql q "SELECT pgq.finish_batch($b)"
	[ "${lines[-1]}" = 0 ]
	run drain at c
	[ "$output" = e1 ]
	run --separate-stderr sql q "SELECT pgq.register_consumer_at('at', 'c', 999999)"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"tick not found"* ]]
	run --separate-stderr sql q "SELECT pgq.register_consumer('nosuch', 'c')"
	[ "$status" -ne 0 ]
	run --separate-stderr sql q "SELECT pgq.insert_event('nosuch', 't', 'd')"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"No such event queue"* ]]
	run --separate-stderr sql q "SELECT pgq.next_batch('at', 'nobody')"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"Not subscriber"* ]]
	run sql q "SELECT pgq.unregister_consumer('at', 'c')"
	[ "$output" = 1 ]
	run sql q "SELECT pgq.unregister_consumer('at', 'c')"
	[ "$output" = 0 ]
}

@test "next_batch_custom: min_count and min_lag" {
	sql q "SELECT pgq.create_queue('cust')" >/dev/null
	sql q "SELECT pgq.register_consumer('cust', 'c')" >/dev/null
	for i in 1 2 3; do
		sql q "SELECT pgq.insert_event('cust', 't', 'e$i')" >/dev/null
		sql q "SELECT pgq.ticker('cust', pgq.seq_getval(queue_tick_seq) + 1, now(), pgq.seq_getval(queue_event_seq)) FROM pgq.queue WHERE queue_name = 'cust'" >/dev/null
	done
	# far more events than exist: no batch
	run sql q "SELECT batch_id IS NULL FROM pgq.next_batch_custom('cust', 'c', NULL, 1000000, NULL)"
	[ "$output" = t ]
	# a lag nothing is old enough for: no batch
	run sql q "SELECT batch_id IS NULL FROM pgq.next_batch_custom('cust', 'c', '1 hour', NULL, NULL)"
	[ "$output" = t ]
	# at least two events: the batch spans two ticks
	b=$(sql q "SELECT batch_id FROM pgq.next_batch_custom('cust', 'c', NULL, 2, NULL)")
	run sql q "SELECT ev_data FROM pgq.get_batch_events($b)"
	[ "${lines[*]}" = "e1 e2" ]
	run sql q "SELECT tick_id - prev_tick_id, seq_end - seq_start FROM pgq.get_batch_info($b)"
	[ "$output" = "2|2" ]
	sql q "SELECT pgq.finish_batch($b)" >/dev/null
	run drain cust c
	[ "$output" = e3 ]
}

@test "retried events come back after their delay, in a later batch, for that consumer only" {
	sql q "SELECT pgq.create_queue('rt')" >/dev/null
	sql q "SELECT pgq.register_consumer('rt', 'a'), pgq.register_consumer('rt', 'b')" >/dev/null
	sql q "SELECT pgq.insert_event('rt', 't', 'r1'), pgq.insert_event('rt', 't', 'r2')" >/dev/null
	tick rt >/dev/null
	b=$(sql q "SELECT pgq.next_batch('rt', 'a')")
	id=$(sql q "SELECT ev_id FROM pgq.get_batch_events($b) WHERE ev_data = 'r1'")
	run sql q "SELECT pgq.event_retry($b, $id, 3600)"
	[ "$output" = 1 ]
	run sql q "SELECT pgq.event_retry($b, $id, 3600)"
	[ "$output" = 0 ]
	run --separate-stderr sql q "SELECT pgq.event_retry($b, 987654321, 1)"
	[ "$status" -ne 0 ]
	sql q "SELECT pgq.finish_batch($b)" >/dev/null
	drain rt b >/dev/null
	# not due yet
	run sql q "SELECT pgq.maint_retry_events()"
	[ "$output" = 0 ]
	sql q "UPDATE pgq.retry_queue SET ev_retry_after = now() - interval '1 second'"
	run sql q "SELECT pgq.maint_retry_events()"
	[ "$output" = 1 ]
	tick rt >/dev/null
	b=$(sql q "SELECT pgq.next_batch('rt', 'a')")
	run sql q "SELECT ev_id, ev_retry, ev_data FROM pgq.get_batch_events($b)"
	[ "$output" = "$id|1|r1" ]
	sql q "SELECT pgq.finish_batch($b)" >/dev/null
	run drain rt b
	[ -z "$output" ]
	# batch_retry puts the whole batch aside
	sql q "SELECT pgq.insert_event('rt', 't', 'w1'), pgq.insert_event('rt', 't', 'w2')" >/dev/null
	tick rt >/dev/null
	b=$(sql q "SELECT pgq.next_batch('rt', 'a')")
	run sql q "SELECT pgq.batch_retry($b, 0)"
	[ "$output" = 2 ]
	sql q "SELECT pgq.finish_batch($b)" >/dev/null
	run sql q "SELECT pgq.maint_retry_events()"
	[ "$output" = 2 ]
	tick rt >/dev/null
	run drain rt a
	[ "${lines[*]}" = "w1 w2" ]
}

@test "get_batch_cursor: quick rows, then FETCH, with and without a filter" {
	sql q "SELECT pgq.create_queue('cur')" >/dev/null
	sql q "SELECT pgq.register_consumer('cur', 'c')" >/dev/null
	sql q "SELECT pgq.insert_event('cur', CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END, 'e' || i)
	       FROM generate_series(1, 10) i" >/dev/null
	tick cur >/dev/null
	b=$(sql q "SELECT pgq.next_batch('cur', 'c')")
	# quick rows print ev_data alone, fetched rows every column
	out=$(psql -XAtq -v ON_ERROR_STOP=1 -d q -c "BEGIN" \
		-c "SELECT ev_data FROM pgq.get_batch_cursor($b, 'c1', 3)" \
		-c "FETCH 100 FROM c1" -c "CLOSE c1" -c "COMMIT")
	got=$(echo "$out" | awk -F'|' '{ print (NF > 1 ? $6 : $1) }' | tr '\n' ' ')
	[ "$got" = "e1 e2 e3 e4 e5 e6 e7 e8 e9 e10 " ]
	out=$(psql -XAtq -v ON_ERROR_STOP=1 -d q -c "BEGIN" \
		-c "SELECT ev_data FROM pgq.get_batch_cursor($b, 'c2', 2, 'ev_type = ''even''')" \
		-c "FETCH 100 FROM c2" -c "COMMIT")
	got=$(echo "$out" | awk -F'|' '{ print (NF > 1 ? $6 : $1) }' | tr '\n' ' ')
	[ "$got" = "e2 e4 e6 e8 e10 " ]
	# a new queue: the current table and the one before it
	run sql q "SELECT count(*) FROM pgq.batch_event_tables($b)"
	[ "$output" = 2 ]
	run sql q "SELECT pgq.batch_event_sql($b) LIKE 'SELECT%'"
	[ "$output" = t ]
}

@test "the ticker NOTIFYs new ticks and finish_batch NOTIFYs finished batches" {
	sql q "SELECT pgq.create_queue('Nöt \"q\"')" >/dev/null
	sql q "SELECT pgq.register_consumer('Nöt \"q\"', 'c')" >/dev/null
	session_open listener
	session_send "LISTEN \"Nöt \"\"q\"\"\"; SELECT 'listening';"
	wait_for grep -q listening "$TEST_DIR/listener.out"
	t=$(tick 'Nöt "q"')
	b=$(sql q "SELECT pgq.next_batch('Nöt \"q\"', 'c')")
	sql q "SELECT pgq.finish_batch($b)" >/dev/null
	session_send "SELECT 'done';"
	session_close listener
	grep -q "payload \"tick $t\"" "$TEST_DIR/listener.out"
	grep -q "payload \"finish $b\"" "$TEST_DIR/listener.out"
}

@test "ticker conditions: idle queue does not tick, max_count and paused do" {
	sql q "SELECT pgq.create_queue('tc')" >/dev/null
	run sql q "SELECT pgq.ticker('tc') IS NULL"
	[ "$output" = t ]
	sql q "SELECT pgq.set_queue_config('tc', 'ticker_max_count', '3')" >/dev/null
	sql q "SELECT pgq.insert_event('tc', 't', 'x') FROM generate_series(1, 3)" >/dev/null
	run sql q "SELECT pgq.ticker('tc') IS NOT NULL"
	[ "$output" = t ]
	sql q "SELECT pgq.set_queue_config('tc', 'queue_ticker_paused', 'true')" >/dev/null
	sql q "SELECT pgq.insert_event('tc', 't', 'x') FROM generate_series(1, 3)" >/dev/null
	run sql q "SELECT pgq.ticker('tc') IS NULL"
	[ "$output" = t ]
	run sql q "SELECT pgq.ticker() >= 0"
	[ "$output" = t ]
	run --separate-stderr sql q "SELECT pgq.set_queue_config('tc', 'no_such_param', '1')"
	[ "$status" -ne 0 ]
	sql q "SELECT pgq.set_queue_config('tc', 'disable_insert', 'on')" >/dev/null
	run --separate-stderr sql q "SELECT pgq.insert_event('tc', 't', 'x')"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *disallowed* ]]
	run sql q "SELECT queue_ticker_max_count, queue_ticker_paused, queue_disable_insert
	           FROM pgq.queue WHERE queue_name = 'tc'"
	[ "$output" = "3|t|t" ]
}

@test "an idle ticker round takes no lock and no transaction id: a queue's lock holder does not stop it" {
	sql q "SELECT pgq.create_queue('idl')" >/dev/null
	sql q "SELECT pgq.set_queue_config('idl', 'ticker_idle_period', '1 hour')" >/dev/null
	session_open holder
	session_send "BEGIN; SELECT 1 FROM pgq.queue WHERE queue_name = 'idl' FOR UPDATE;"
	wait_for idle_in_tx holder
	# lock_timeout: the ticker used to lock every queue it looked at
	run sql q "SET lock_timeout = '10s'; BEGIN;
		SELECT pgq.ticker('idl') IS NULL, txid_current_if_assigned() IS NULL; COMMIT"
	session_send "COMMIT;"
	session_close holder
	[ "$status" -eq 0 ]
	[ "$output" = "t|t" ]
}

@test "a tick made while the ticker waited for the queue's lock is seen: no second tick for the same events" {
	sql q "SELECT pgq.create_queue('tw')" >/dev/null
	sql q "SELECT pgq.set_queue_config('tw', 'ticker_max_count', '1')" >/dev/null
	sql q "SELECT pgq.insert_event('tw', 't', 'x')" >/dev/null
	session_open first
	session_send "BEGIN; SELECT pgq.ticker('tw');"
	wait_for idle_in_tx first
	# the second ticker saw the queue needing a tick before the first
	# committed, and waits for its lock
	PGAPPNAME=second sql q "SELECT coalesce(pgq.ticker('tw'), 0)" >"$TEST_DIR/second.out" 2>&1 &
	local second=$!
	waits() {
		[ "$(sql q "SELECT count(*) FROM pg_stat_activity
		            WHERE application_name = 'second' AND wait_event_type = 'Lock'")" = 1 ]
	}
	wait_for waits
	session_send "COMMIT;"
	session_close first
	wait "$second"
	[ "$(cat "$TEST_DIR/second.out")" = 0 ]
	run sql q "SELECT count(*) FROM pgq.tick WHERE tick_queue = (SELECT queue_id FROM pgq.queue WHERE queue_name = 'tw')"
	[ "$output" = 2 ]
}

@test "a tick id taken without a tick does not stop the ticker" {
	sql q "SELECT pgq.create_queue('tr')" >/dev/null
	sql q "SELECT pgq.set_queue_config('tr', 'ticker_max_count', '1')" >/dev/null
	sql q "SELECT nextval(queue_tick_seq::regclass) FROM pgq.queue WHERE queue_name = 'tr'" >/dev/null
	for n in 1 2; do
		sql q "SELECT pgq.insert_event('tr', 't', 'x')" >/dev/null
		run sql q "SELECT pgq.ticker('tr') IS NOT NULL"
		[ "$output" = t ]
	done
	run sql q "SELECT count(*) FROM pgq.tick WHERE tick_queue = (SELECT queue_id FROM pgq.queue WHERE queue_name = 'tr')"
	[ "$output" = 3 ]
}

@test "info functions" {
	sql q "SELECT pgq.create_queue('inf')" >/dev/null
	sql q "SELECT pgq.register_consumer('inf', 'c')" >/dev/null
	sql q "SELECT pgq.insert_event('inf', 't', 'x')" >/dev/null
	tick inf >/dev/null
	b=$(sql q "SELECT pgq.next_batch('inf', 'c')")
	run sql q "SELECT queue_name, queue_ntables, queue_ticker_max_count, last_tick_id IS NOT NULL
	           FROM pgq.get_queue_info('inf')"
	[ "$output" = "inf|3|500|t" ]
	run sql q "SELECT count(*) > 0 FROM pgq.get_queue_info()"
	[ "$output" = t ]
	run sql q "SELECT consumer_name, current_batch FROM pgq.get_consumer_info('inf', 'c')"
	[ "$output" = "c|$b" ]
	run sql q "SELECT count(*) FROM pgq.get_consumer_info('inf')"
	[ "$output" = 1 ]
	run sql q "SELECT queue_name, consumer_name FROM pgq.get_batch_info($b)"
	[ "$output" = "inf|c" ]
}

@test "drop_queue refuses while consumers are attached unless forced" {
	sql q "SELECT pgq.create_queue('dq')" >/dev/null
	sql q "SELECT pgq.register_consumer('dq', 'c')" >/dev/null
	tbl=$(sql q "SELECT pgq.current_event_table('dq')")
	run --separate-stderr sql q "SELECT pgq.drop_queue('dq')"
	[ "$status" -ne 0 ]
	run sql q "SELECT pgq.drop_queue('dq', true)"
	[ "$output" = 1 ]
	run sql q "SELECT to_regclass('$tbl') IS NULL, count(*) FROM pgq.queue WHERE queue_name = 'dq'"
	[ "$output" = "t|0" ]
	run --separate-stderr sql q "SELECT pgq.drop_queue('dq')"
	[ "$status" -ne 0 ]
}

@test "maint_operations lists rotation, londiste hook and vacuum" {
	run sql q "SELECT func_name FROM pgq.maint_operations() WHERE func_name LIKE 'londiste%'"
	[ -z "$output" ]
	sql q "CREATE SCHEMA IF NOT EXISTS londiste;
	       CREATE FUNCTION londiste.periodic_maintenance() RETURNS integer LANGUAGE sql AS 'SELECT 0'"
	run sql q "SELECT func_name, coalesce(func_arg, '-') FROM pgq.maint_operations() WHERE func_name LIKE 'londiste%'"
	[ "$output" = "londiste.periodic_maintenance|-" ]
	sql q "DROP SCHEMA londiste CASCADE"
	# autovacuum is on: it looks after the bookkeeping tables
	run sql q "SELECT count(*) FROM pgq.maint_operations() WHERE func_name = 'vacuum'"
	[ "$output" = 0 ]
	sql q "SELECT pgq.create_queue('mo')" >/dev/null
	run sql q "SELECT count(*) FROM pgq.maint_operations() WHERE func_name = 'pgq.maint_rotate_tables_step1' AND func_arg = 'mo'"
	[ "$output" = 0 ]
	sql q "SELECT pgq.set_queue_config('mo', 'rotation_period', '0')" >/dev/null
	run sql q "SELECT count(*) FROM pgq.maint_operations() WHERE func_name = 'pgq.maint_rotate_tables_step1' AND func_arg = 'mo'"
	[ "$output" = 1 ]
}
