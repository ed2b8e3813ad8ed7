#!/usr/bin/env bats
# Replication under fire: a writer inserts, updates and deletes on the
# provider while, round after round, one of these strikes: SIGKILL of a
# random stage of the replay pipeline, pg_terminate_backend() of one of
# its connections, a fast restart of the cluster (provider and
# subscriber are two databases of it), SIGKILL of the ticker, SIGKILL of
# the whole replay (porcelain and stages, then started again).  At the
# end londiste compare is equal on every table and every row the
# provider committed to the append-only log table is on the subscriber
# exactly once.  CHAOS_ROUNDS rounds (10; `make chaos` runs 200).

load helper
load 200-londiste

ROUNDS=${CHAOS_ROUNDS:-10}

setup_file() {
	pg_start
	lon_db prov ours
	lon_db sub none
	for db in prov sub; do
		sql $db "CREATE TABLE t1 (id int PRIMARY KEY, v text, n bigint)"
		sql $db "CREATE SEQUENCE rowno"
	done
	# The log keeps every row ever written.  Its key makes a batch
	# applied twice fail with a duplicate key (the apply's message lands
	# in the replay log, which is counted) rather than pass unseen.
	for db in prov sub; do
		sql $db "CREATE TABLE log (id bigint PRIMARY KEY, n bigint NOT NULL, v text)"
	done
}

setup() {
	INI=$BATS_FILE_TMPDIR/l.ini
	cat > "$INI" <<-INI
	[londiste]
	job_name = chaos
	provider_db = host=$TEST_DIR dbname=prov
	subscriber_db = host=$TEST_DIR dbname=sub
	pgq_queue_name = chaos.q
	logfile = $BATS_FILE_TMPDIR/replay.log
	pidfile = $BATS_FILE_TMPDIR/replay.pid
	loop_delay = 0.2
	lock_timeout = 30
	INI
}

teardown() {
	touch "$BATS_FILE_TMPDIR/stop"
	[ -f "$BATS_FILE_TMPDIR/writer.pid" ] && wait "$(cat "$BATS_FILE_TMPDIR/writer.pid")" 2>/dev/null
	londiste "$INI" stop 2>/dev/null || :
	stop_ticker
	kill_replay
}

start_ticker() {
	pgq-tick -d "host=$TEST_DIR dbname=prov" --loop --interval 50 --maint-interval 1 \
		2>>"$BATS_FILE_TMPDIR/tick.log" &
	echo $! > "$BATS_FILE_TMPDIR/tick.pid"
}

stop_ticker() {
	[ -f "$BATS_FILE_TMPDIR/tick.pid" ] || return 0
	kill "$(cat "$BATS_FILE_TMPDIR/tick.pid")" 2>/dev/null
	wait "$(cat "$BATS_FILE_TMPDIR/tick.pid")" 2>/dev/null
	rm -f "$BATS_FILE_TMPDIR/tick.pid"
}

# The replay is started with this file's mark, which every process it
# starts inherits: its forks and the stages of its pipeline.
MARK="t780-$$"
stage_pids() {
	local n
	for n in pgq-next-batch pgq-events londiste-apply pgq-finish-batch; do
		marked_pids "$MARK" "$n"
	done
}

kill_replay() {
	for p in $(marked_pids "$MARK" londiste); do kill -9 "$p" 2>/dev/null || :; done
	kill_stages
}

kill_stages() {
	for p in $(stage_pids); do kill -9 "$p" 2>/dev/null || :; done
	:
}

# writer: each transaction adds rows to log (n from the rowno sequence)
# and inserts, updates and deletes rows of t1.  Failures (the server
# restarting) are ignored: what was not committed is not expected.
writer() {
	(
		i=1
		while [ ! -f "$BATS_FILE_TMPDIR/stop" ]; do
			psql -XAq -d prov -c "BEGIN;
				INSERT INTO log SELECT n, n, 'r' || n FROM (SELECT nextval('rowno') n FROM generate_series(1, 20)) s;
				INSERT INTO t1 SELECT g, 'w', currval('rowno') FROM generate_series($i, $i + 9) g;
				UPDATE t1 SET v = 'u', n = currval('rowno') WHERE id = $i - 7;
				DELETE FROM t1 WHERE id = $i - 13;
				COMMIT;" >/dev/null 2>&1 || sleep 0.1
			# steady, not all the CPU there is (t/25x-cascade.bash)
			sleep 0.02
			i=$((i + 10))
		done
	) &
	echo $! > "$BATS_FILE_TMPDIR/writer.pid"
}

compare_equal() {
	londiste "$INI" compare >"$BATS_FILE_TMPDIR/cmp" 2>&1
}

tables_ok() {
	[ "$(sql sub "SELECT count(*) FROM londiste.subscriber_table WHERE state = 'ok'")" = 2 ]
}

replay_running() {
	londiste "$INI" status 2>/dev/null | grep -q '^replay.running'
}

# (status can miss a running replay while the cluster restarts: then the
# start says "already running", which is what this wants)
ensure_running() {
	replay_running || SKYTOOLS_TEST_MARK=$MARK londiste "$INI" replay --daemon \
		2>"$BATS_FILE_TMPDIR/start.err" || grep -q 'already running' "$BATS_FILE_TMPDIR/start.err"
	kill -0 "$(cat "$BATS_FILE_TMPDIR/tick.pid" 2>/dev/null)" 2>/dev/null || start_ticker
}

@test "replication under fire: $ROUNDS rounds, nothing lost, nothing duplicated" {
	londiste "$INI" provider install
	londiste "$INI" subscriber install
	sql prov "SELECT pgq.set_queue_config('chaos.q', 'ticker_max_lag', '0.2')" >/dev/null
	sql prov "SELECT pgq.set_queue_config('chaos.q', 'ticker_idle_period', '0.5')" >/dev/null
	sql prov "INSERT INTO t1 SELECT g, 'pre', 0 FROM generate_series(-1000, 0) g"
	londiste "$INI" provider add t1 log
	londiste "$INI" subscriber add t1 log
	start_ticker
	SKYTOOLS_TEST_MARK=$MARK londiste "$INI" replay --daemon
	writer
	declare -A did=()
	for r in $(seq 1 "$ROUNDS"); do
		sleep "0.$((RANDOM % 10))"
		act=$((RANDOM % 6))
		case $act in
		0|1)	# SIGKILL of one random stage
			p=$(stage_pids | shuf -n 1)
			[ -n "$p" ] && kill -9 "$p" 2>/dev/null || :
			what="kill stage" ;;
		2)	# one of the pipeline's connections
			sql postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE application_name IN ('pgq-next-batch', 'pgq-events',
				'londiste-apply', 'pgq-finish-batch')
				ORDER BY random() LIMIT 1" >/dev/null || :
			what="terminate backend" ;;
		3)	pg_restart
			what="restart cluster" ;;
		4)	kill -9 "$(cat "$BATS_FILE_TMPDIR/tick.pid")" 2>/dev/null
			wait "$(cat "$BATS_FILE_TMPDIR/tick.pid")" 2>/dev/null || :
			start_ticker
			what="kill ticker" ;;
		5)	# the whole replay, as kill -9 of its process group would
			# (its copier is a forked shell that outlives the daemon)
			kill_replay
			sleep 0.1
			rm -f "$BATS_FILE_TMPDIR/replay.pid"
			what="kill replay" ;;
		esac
		did[$what]=$(( ${did[$what]:-0} + 1 ))
		ensure_running
	done
	touch "$BATS_FILE_TMPDIR/stop"
	wait "$(cat "$BATS_FILE_TMPDIR/writer.pid")"
	ensure_running
	wait_for tables_ok
	# converged: equal on every table
	for i in $(seq 1 10); do
		wait_for compare_equal && break
	done
	cat "$BATS_FILE_TMPDIR/cmp"
	grep -q "public.t1.*equal" "$BATS_FILE_TMPDIR/cmp"
	grep -q "public.log.*equal" "$BATS_FILE_TMPDIR/cmp"
	# every row committed on the provider is on the subscriber exactly once
	sql prov "SELECT n FROM log ORDER BY n" > "$BATS_FILE_TMPDIR/prov.n"
	sql sub "SELECT n FROM log ORDER BY n" > "$BATS_FILE_TMPDIR/sub.n"
	lost=$(comm -23 "$BATS_FILE_TMPDIR/prov.n" "$BATS_FILE_TMPDIR/sub.n" | wc -l)
	dup=$(( $(uniq -d "$BATS_FILE_TMPDIR/sub.n" | wc -l) +
		$(grep -c 'duplicate key' "$BATS_FILE_TMPDIR/replay.log" || :) ))
	extra=$(comm -13 "$BATS_FILE_TMPDIR/prov.n" "$BATS_FILE_TMPDIR/sub.n" | sort -u | wc -l)
	rows=$(wc -l < "$BATS_FILE_TMPDIR/prov.n")
	t1rows=$(sql prov "SELECT count(*) FROM t1")
	summary="chaos replication: $ROUNDS rounds ($(for k in "${!did[@]}"; do printf '%s %s, ' "$k" "${did[$k]}"; done | sed 's/, $//')); log rows $rows, t1 rows $t1rows; lost $lost, duplicated $dup, extra $extra"
	echo "$summary" | tee "$BATS_FILE_TMPDIR/summary" >&3
	[ "$rows" -gt 0 ]
	[ "$lost" -eq 0 ]
	[ "$dup" -eq 0 ]
	[ "$extra" -eq 0 ]
}
