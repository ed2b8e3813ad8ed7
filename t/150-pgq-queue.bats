#!/usr/bin/env bats
# pgq-create-queue, pgq-drop-queue, pgq-config.
load helper

flavours() {
	have_debian_pgq && echo debian
	[ -f "$SKYTOOLS_SQLDIR/pgq.sql" ] && echo ours
	return 0
}

setup_file() {
	pg_start
	for f in $(flavours); do new_db "q_$f" "$f"; done
	new_db q_none none
}

queue_exists() {
	[ "$(sql "$1" "SELECT count(*) FROM pgq.get_queue_info('$2')")" -eq 1 ]
}

@test "basic checks" {
	basic_checks pgq-create-queue
	basic_checks pgq-drop-queue
	basic_checks pgq-config
}

@test "pgq-create-queue creates a queue, again is no error (both flavours)" {
	[ -n "$(flavours)" ]
	for f in $(flavours); do
		run --separate-stderr pgq-create-queue -d "dbname=q_$f" cq
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		[ -z "$output" ]
		queue_exists "q_$f" cq
		run --separate-stderr pgq-create-queue -d "dbname=q_$f" cq
		[ "$status" -eq 0 ]
	done
}

@test "queue names with quotes, spaces, dots and non-ASCII work" {
	for f in $(flavours); do
		name="it's a.queue ä"
		pgq-create-queue -d "dbname=q_$f" "$name"
		[ "$(sql "q_$f" "SELECT count(*) FROM pgq.get_queue_info('it''s a.queue ä')")" -eq 1 ]
		pgq-config -d "dbname=q_$f" "$name" ticker_max_count=7
		run --separate-stderr pgq-config -d "dbname=q_$f" "$name"
		[ "$status" -eq 0 ]
		[[ "$output" == *$'ticker_max_count\t7'* ]]
		pgq-drop-queue -d "dbname=q_$f" "$name"
		[ "$(sql "q_$f" "SELECT count(*) FROM pgq.get_queue_info('it''s a.queue ä')")" -eq 0 ]
	done
}

@test "pgq-create-queue: unreachable server exits 3, database without PgQ exits 2" {
	run --separate-stderr pgq-create-queue -d "host=$TEST_DIR/nonexistent password=s3cret" q
	[ "$status" -eq 3 ]
	[[ "$stderr" != *s3cret* ]]
	run --separate-stderr pgq-create-queue -d dbname=q_none q
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-create-queue -d dbname=q_none ''
	[ "$status" -eq 2 ]
}

@test "pgq-drop-queue drops a queue; a missing queue exits 2" {
	for f in $(flavours); do
		pgq-create-queue -d "dbname=q_$f" dq
		run --separate-stderr pgq-drop-queue -d "dbname=q_$f" dq
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		! queue_exists "q_$f" dq || false
		run --separate-stderr pgq-drop-queue -d "dbname=q_$f" dq
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"no such queue"* ]]
	done
}

@test "pgq-drop-queue refuses a queue with consumers (4) unless --force" {
	for f in $(flavours); do
		pgq-create-queue -d "dbname=q_$f" fq
		sql "q_$f" "SELECT pgq.register_consumer('fq', 'c1')" >/dev/null
		run --separate-stderr pgq-drop-queue -d "dbname=q_$f" fq
		[ "$status" -eq 4 ]
		[[ "$stderr" == *"--force"* ]]
		queue_exists "q_$f" fq
		run --separate-stderr pgq-drop-queue -d "dbname=q_$f" --force fq
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		! queue_exists "q_$f" fq || false
	done
}

@test "pgq-drop-queue: unreachable server exits 3" {
	run --separate-stderr pgq-drop-queue -d "host=$TEST_DIR/nonexistent" q
	[ "$status" -eq 3 ]
}

@test "pgq-config prints the settings as TSV with a header" {
	for f in $(flavours); do
		pgq-create-queue -d "dbname=q_$f" sq
		run --separate-stderr pgq-config -d "dbname=q_$f" sq
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		[ "${lines[0]}" = $'key\tvalue' ]
		[[ "$output" == *$'ticker_max_count\t500'* ]]
		[[ "$output" == *$'ticker_paused\tf'* ]]
		[[ "$output" == *$'external_ticker\tf'* ]]
		[ "${#lines[@]}" -eq 7 ]
	done
}

@test "pgq-config sets several keys at once, and its output can be fed back" {
	for f in $(flavours); do
		pgq-create-queue -d "dbname=q_$f" kq
		run --separate-stderr pgq-config -d "dbname=q_$f" kq \
			ticker_max_count=42 ticker_max_lag='5 seconds' ticker_paused=true
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		run --separate-stderr pgq-config -d "dbname=q_$f" kq
		[[ "$output" == *$'ticker_max_count\t42'* ]]
		[[ "$output" == *$'ticker_max_lag\t00:00:05'* ]]
		[[ "$output" == *$'ticker_paused\tt'* ]]
		# the printed values are accepted as input
		pgq-create-queue -d "dbname=q_$f" kq2
		pairs=$(pgq-config -d "dbname=q_$f" kq | tail -n +2 | tr '\t' '=')
		while IFS= read -r p; do
			pgq-config -d "dbname=q_$f" kq2 "$p"
		done <<<"$pairs"
		[ "$(pgq-config -d "dbname=q_$f" kq2)" = "$(pgq-config -d "dbname=q_$f" kq)" ]
	done
}

@test "pgq-config: Skytools' long names (queue_...) and the set-only keys" {
	for f in $(flavours); do
		pgq-create-queue -d "dbname=q_$f" lq
		run --separate-stderr pgq-config -d "dbname=q_$f" lq \
			queue_ticker_max_lag=10 queue_ticker_max_count=11 \
			queue_ticker_idle_period='2 min' queue_rotation_period='3 hours' \
			queue_external_ticker=false ticker_paused=false
		[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
		[ "$(sql "q_$f" "SELECT queue_ticker_max_lag || ' ' || queue_ticker_max_count || ' ' ||
			queue_ticker_idle_period || ' ' || queue_rotation_period
			FROM pgq.queue WHERE queue_name = 'lq'")" = "00:00:10 11 00:02:00 03:00:00" ]
		run --separate-stderr pgq-config -d "dbname=q_$f" lq queue_=1
		[ "$status" -eq 2 ]
		run --separate-stderr pgq-config -d "dbname=q_$f" lq queue_max_retry=1
		[ "$status" -eq 2 ]
		# disable_insert and per_tx_limit: our set_queue_config takes
		# them, the original's refuses them.
		run --separate-stderr pgq-config -d "dbname=q_$f" lq \
			queue_disable_insert=true queue_per_tx_limit=5 per_tx_limit=6 disable_insert=false
		if [ "$f" = ours ]; then
			[ "$status" -eq 0 ] || { echo "$f: $stderr"; false; }
			[ "$(sql "q_$f" "SELECT queue_disable_insert || ' ' || queue_per_tx_limit
				FROM pgq.queue WHERE queue_name = 'lq'")" = "false 6" ]
		else
			[ "$status" -eq 2 ]
		fi
	done
}

@test "pgq-config: bad pairs exit 2 and change nothing" {
	for f in $(flavours); do
		pgq-create-queue -d "dbname=q_$f" bq
		before=$(pgq-config -d "dbname=q_$f" bq)
		run --separate-stderr pgq-config -d "dbname=q_$f" bq ticker_max_count=9 novalue
		[ "$status" -eq 2 ]
		[[ "$stderr" == *novalue* ]]
		run --separate-stderr pgq-config -d "dbname=q_$f" bq ticker_max_count=9 no_such_key=1
		[ "$status" -eq 2 ]
		[[ "$stderr" == *no_such_key* ]]
		# a value the server rejects rolls back the earlier pairs
		run --separate-stderr pgq-config -d "dbname=q_$f" bq ticker_max_count=9 ticker_max_lag=bogus
		[ "$status" -eq 2 ]
		[ "$(pgq-config -d "dbname=q_$f" bq)" = "$before" ]
	done
}

@test "pgq-config: a missing queue exits 2, unreachable server 3" {
	for f in $(flavours); do
		run --separate-stderr pgq-config -d "dbname=q_$f" nosuch
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"no such queue"* ]]
		run --separate-stderr pgq-config -d "dbname=q_$f" nosuch ticker_max_count=1
		[ "$status" -eq 2 ]
	done
	run --separate-stderr pgq-config -d "host=$TEST_DIR/nonexistent" q
	[ "$status" -eq 3 ]
}
