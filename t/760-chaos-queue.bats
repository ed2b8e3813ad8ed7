#!/usr/bin/env bats
# Queue under fire: two consumers built from the pipes read one queue
# while a producer keeps inserting numbered events and, round after
# round, a random stage of either pipeline, the ticker, or one of the
# pipelines' connections is killed.  Each pipeline is restarted by a
# supervising loop, as the porcelain does.
#   A: next-batch | events | t/chaos/record | finish-batch: sees every
#      event at least once.
#   B: next-batch | events | londiste-apply | finish-batch, recording
#      each batch with its effects: sees every event exactly once.
# CHAOS_ROUNDS rounds (10; `make chaos` runs 200).

load helper
load 200-londiste

ROUNDS=${CHAOS_ROUNDS:-10}

setup_file() {
	pg_start
	new_db qc
	lon_db sink none
	sql qc "SELECT pgq.create_queue('q')" >/dev/null
	sql qc "SELECT pgq.register_consumer('q', 'a')" >/dev/null
	sql qc "SELECT pgq.register_consumer('q', 'b')" >/dev/null
	sql qc "SELECT pgq.set_queue_config('q', 'ticker_max_lag', '0.2')" >/dev/null
	sql qc "SELECT pgq.set_queue_config('q', 'ticker_idle_period', '0.5')" >/dev/null
	sql sink "CREATE TABLE ev (n bigint PRIMARY KEY)"
	sql sink "SELECT londiste.subscriber_add_table('q', 'ev')" >/dev/null
	sql sink "UPDATE londiste.subscriber_table SET state = 'ok'"
}

teardown() {
	touch "$BATS_FILE_TMPDIR/stop" "$BATS_FILE_TMPDIR/stop.producer"
	for f in producer a b tick; do
		[ -f "$BATS_FILE_TMPDIR/$f.pid" ] || continue
		kill "$(cat "$BATS_FILE_TMPDIR/$f.pid")" 2>/dev/null
	done
	for p in $(stage_pids); do kill -9 "$p" 2>/dev/null || :; done
	# by pid: a bare wait would also wait for bats' time-limit watchdog
	for f in producer a b tick; do
		[ -f "$BATS_FILE_TMPDIR/$f.pid" ] || continue
		wait "$(cat "$BATS_FILE_TMPDIR/$f.pid")" 2>/dev/null
	done
	return 0
}

D="host=$BATS_FILE_TMPDIR"	# replaced in each test by the cluster's

# The stages of both pipelines: the supervisors are started with this
# file's mark, which every process they start inherits.
MARK="t760-$$"
stage_pids() {
	local n
	for n in pgq-next-batch pgq-events londiste-apply pgq-finish-batch record; do
		marked_pids "$MARK" "$n"
	done
}

producer() {
	"$TOP/t/chaos/produce" "$BATS_FILE_TMPDIR/stop.producer" "$D dbname=qc" q \
		"$BATS_FILE_TMPDIR/produced" 3>&- &
	echo $! > "$BATS_FILE_TMPDIR/producer.pid"
}

# supervise NAME CONSUMER STAGE...: see t/chaos/supervise.
supervise() {
	local name=$1 cons=$2
	shift 2
	# (its pid list, which a SIGKILL leaves, goes where bats removes it)
	TMPDIR=$BATS_FILE_TMPDIR SKYTOOLS_TEST_MARK=$MARK "$TOP/t/chaos/supervise" "$BATS_FILE_TMPDIR/stop" \
		"$D dbname=qc" q "$cons" "$@" 2>>"$BATS_FILE_TMPDIR/$name.log" 3>&- &
	echo $! > "$BATS_FILE_TMPDIR/$name.pid"
}

start_ticker() {
	pgq-tick -d "$D dbname=qc" --loop --interval 50 2>>"$BATS_FILE_TMPDIR/tick.log" &
	echo $! > "$BATS_FILE_TMPDIR/tick.pid"
}

caught_up() {
	local want got_a got_b
	want=$(cat "$BATS_FILE_TMPDIR/produced")
	got_a=$(cut -d= -f2 "$BATS_FILE_TMPDIR/seen.a" | sort -un | wc -l)
	got_b=$(sql sink "SELECT count(*) FROM ev")
	[ "$got_a" -ge "$want" ] && [ "$got_b" -ge "$want" ]
}

@test "queue under fire: $ROUNDS rounds, A sees every event, B exactly once" {
	D="host=$TEST_DIR"
	: > "$BATS_FILE_TMPDIR/seen.a"
	start_ticker
	producer
	# A's recorder notes each event's data, and reports the batch done
	# after its end record.
	supervise a a "$TOP/t/chaos/record" "$BATS_FILE_TMPDIR/seen.a"
	supervise b b londiste-apply -d "$D dbname=sink" --consumer b
	declare -A did=()
	for r in $(seq 1 "$ROUNDS"); do
		sleep "0.$((RANDOM % 10))"
		case $((RANDOM % 4)) in
		0|1)	p=$(stage_pids | shuf -n 1)
			[ -n "$p" ] && kill -9 "$p" 2>/dev/null || :
			what="kill stage" ;;
		2)	sql postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE application_name IN ('pgq-next-batch', 'pgq-events',
				'londiste-apply', 'pgq-finish-batch')
				ORDER BY random() LIMIT 1" >/dev/null || :
			what="terminate backend" ;;
		3)	kill -9 "$(cat "$BATS_FILE_TMPDIR/tick.pid")" 2>/dev/null
			wait "$(cat "$BATS_FILE_TMPDIR/tick.pid")" 2>/dev/null || :
			start_ticker
			what="kill ticker" ;;
		esac
		did[$what]=$(( ${did[$what]:-0} + 1 ))
	done
	touch "$BATS_FILE_TMPDIR/stop.producer"
	wait "$(cat "$BATS_FILE_TMPDIR/producer.pid")" 2>/dev/null || :
	# what the producer committed is what the queue holds
	want=$(sql qc "SELECT count(*) FROM pgq.event_1")
	echo "$want" > "$BATS_FILE_TMPDIR/produced"
	wait_for caught_up || {
		sql qc "SELECT * FROM pgq.get_consumer_info()" >&2
		tail -n 5 "$BATS_FILE_TMPDIR/a.log" "$BATS_FILE_TMPDIR/b.log" >&2
		ps -eo pid,args | grep -E "$TEST_DIR|t/chaos/record" | grep -v grep >&2
		false
	}
	[ "$want" -gt 0 ]
	sql qc "SELECT substr(ev_data, 3) FROM pgq.event_1" | sort > "$BATS_FILE_TMPDIR/q.n"
	cut -d= -f2 "$BATS_FILE_TMPDIR/seen.a" | sort > "$BATS_FILE_TMPDIR/a.n"
	sql sink "SELECT n FROM ev" | sort > "$BATS_FILE_TMPDIR/b.n"
	a_lost=$(sort -u "$BATS_FILE_TMPDIR/a.n" | comm -23 "$BATS_FILE_TMPDIR/q.n" - | wc -l)
	a_redelivered=$(( $(wc -l < "$BATS_FILE_TMPDIR/a.n") - $(sort -u "$BATS_FILE_TMPDIR/a.n" | wc -l) ))
	b_lost=$(comm -23 "$BATS_FILE_TMPDIR/q.n" "$BATS_FILE_TMPDIR/b.n" | wc -l)
	b_dup=$(( $(uniq -d "$BATS_FILE_TMPDIR/b.n" | wc -l) + $(grep -c 'duplicate key' "$BATS_FILE_TMPDIR/b.log" || :) ))
	echo "chaos queue: $ROUNDS rounds ($(for k in "${!did[@]}"; do printf '%s %s, ' "$k" "${did[$k]}"; done | sed 's/, $//')); $want events; A lost $a_lost (redelivered $a_redelivered), B lost $b_lost, duplicated $b_dup" >&3
	[ "$a_lost" -eq 0 ]
	[ "$b_lost" -eq 0 ]
	[ "$b_dup" -eq 0 ]
	[ "$(wc -l < "$BATS_FILE_TMPDIR/b.n")" -eq "$want" ]
}
