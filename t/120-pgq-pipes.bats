#!/usr/bin/env bats
# pgq-insert, pgq-next-batch, pgq-events, pgq-finish-batch: the pipe
# programs, against our PgQ and Debian's original PgQ.

load helper

setup_file() {
	pg_start
	for f in $(pgq_flavours); do new_db "pipes_$f" "$f"; done
}

# Tricky values, in producer input form (COPY text escaping).
tricky_input() {
	printf 'plain\thello\n'
	printf 'tab\ta\\tb\tx1\tx2\tx3\tx4\n'
	printf 'nl\tline1\\nline2\\r\n'
	printf 'bs\tback\\\\slash\n'
	printf 'utf8\t\xc3\xa9t\xc3\xa9 \xe2\x82\xac\n'
	printf 'null\t\\N\t\\N\textra2\n'
	printf 'sym\tk=v&x=%%41\n'
}

# Finish the consumer's open batch, if it has one.
finish_current() {
	local id
	id=$(pgq-next-batch -d "$1" "$2" "$3" | cut -f2) || return 0
	pgq-finish-batch -d "$1" "$id"
}

@test "basic checks" {
	basic_checks pgq-next-batch
	basic_checks pgq-insert
	for p in pgq-events pgq-finish-batch; do
		run --separate-stderr "$p" --help
		[ "$status" -eq 0 ] && [[ "$output" == usage:* ]]
		usage_is_synopsis "$p"
		run --separate-stderr "$p" --version
		[ "$status" -eq 0 ]
		run --separate-stderr "$p" --bogus
		[ "$status" -eq 2 ]
		run --separate-stderr "$p" not-a-number
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"not a batch id"* ]]
	done
}

@test "round trip of tricky values through insert, next-batch, events, finish" {
	for f in $(pgq_flavours); do
		db="pipes_$f"
		make_queue "$db" rt c1
		tricky_input | pgq-insert -d "$db" rt
		tick "$db" rt
		run --separate-stderr sh -c "pgq-next-batch -d $db rt c1 | pgq-events -d $db"
		[ "$status" -eq 0 ]
		[ "${lines[0]%%	*}" = batch ]
		# the event fields 5.. are exactly the input, padded with \N
		got=$(printf '%s\n' "$output" | awk -F'\t' '$1=="event"' | cut -f6-)
		want=$(tricky_input | awk -F'\t' 'BEGIN{OFS="\t"} {for(i=NF+1;i<=6;i++) $i="\\N"; print}')
		[ "$got" = "$want" ]
		[ "$(printf '%s\n' "$output" | tail -n 1 | cut -f1,3)" = "end	7" ]
		# still the same batch until it is finished
		b1=$(pgq-next-batch -d "$db" rt c1 | cut -f2)
		b2=$(pgq-next-batch -d "$db" rt c1 | cut -f2)
		[ "$b1" = "$b2" ]
		printf '%s\n' "$output" | pgq-finish-batch -d "$db"
		run --separate-stderr pgq-next-batch -d "$db" rt c1
		[ "$status" -eq 1 ]
		[ -z "$output" ]
	done
}

@test "pgq-events: by id, --raw, --json" {
	for f in $(pgq_flavours); do
		db="pipes_$f"
		make_queue "$db" ev c1
		tricky_input | pgq-insert -d "$db" ev
		tick "$db" ev
		id=$(pgq-next-batch -d "$db" ev c1 | cut -f2)
		run --separate-stderr pgq-events -d "$db" "$id"
		[ "$status" -eq 0 ]
		[ "${#lines[@]}" -eq 9 ]
		[ "$(printf '%s\n' "${lines[0]}" | cut -f1,2,7,8)" = "batch	$id	ev	c1" ]
		run --separate-stderr pgq-events -d "$db" --raw "$id"
		[ "$status" -eq 0 ]
		[ "${#lines[@]}" -eq 7 ]
		[ "$(printf '%s\n' "$output" | cut -f5 | tr '\n' ,)" = "plain,tab,nl,bs,utf8,null,sym," ]
		run --separate-stderr pgq-events -d "$db" --json "$id"
		[ "$status" -eq 0 ]
		printf '%s\n' "$output" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
assert rows[-1] == {"end": {"batch_id": int(sys.argv[1]), "event_count": 7}}, rows[-1]
rows = rows[:-1]
d = {r["ev_type"]: r for r in rows}
assert d["nl"]["ev_data"] == "line1\nline2\r"
assert d["tab"]["ev_extra4"] == "x4"
assert d["utf8"]["ev_data"] == "\u00e9t\u00e9 \u20ac"
assert d["null"]["ev_data"] is None and d["null"]["ev_extra2"] == "extra2"
assert isinstance(rows[0]["ev_id"], int)
' "$id"
		pgq-finish-batch -d "$db" "$id"
	done
}

@test "pgq-events: unknown batch, malformed input" {
	for f in $(pgq_flavours); do
		db="pipes_$f"
		run --separate-stderr pgq-events -d "$db" 999999
		[ "$status" -eq 2 ]
		run --separate-stderr sh -c "printf 'batch\t1\n' | pgq-events -d $db"
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"stdin line 1"* ]]
		run --separate-stderr sh -c "printf 'garbage\n' | pgq-events -d $db"
		[ "$status" -eq 2 ]
		# a cut last line: the writer died, not malformed input
		run --separate-stderr sh -c "printf 'batch\t1\t2\t1\tt\tt\tq\tc' | pgq-events -d $db"
		[ "$status" -eq 3 ]
		[[ "$stderr" == *"inside a line"* ]]
	done
}

@test "pgq-next-batch: unknown queue or consumer, lost server" {
	for f in $(pgq_flavours); do
		db="pipes_$f"
		make_queue "$db" nb c1
		run --separate-stderr pgq-next-batch -d "$db" no_such_queue c1
		[ "$status" -eq 2 ]
		run --separate-stderr pgq-next-batch -d "$db" nb no_such_consumer
		[ "$status" -eq 2 ]
		[ "${#stderr}" -gt 0 ]
	done
	run --separate-stderr pgq-next-batch -d "host=$TEST_DIR/nonexistent dbname=x password=sekrit" q c
	[ "$status" -eq 3 ]
	[[ "$stderr" == pgq-next-batch:* ]]
	[[ "$stderr" != *sekrit* ]]
	run --separate-stderr pgq-next-batch --min-count abc q c
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-next-batch --dead-interval 5 q c
	[ "$status" -eq 2 ]
}

@test "pgq-next-batch --wait blocks until a tick brings events" {
	for f in $(pgq_flavours); do
		db="pipes_$f"
		make_queue "$db" wq c1
		tick "$db" wq
		finish_current "$db" wq c1
		out="$BATS_TEST_TMPDIR/wait.$f"
		pgq-next-batch --wait -d "$db" wq c1 >"$out" &
		pid=$!
		sleep 0.3
		kill -0 "$pid"	# still waiting: nothing to hand out yet
		printf 't\tlate\n' | pgq-insert -d "$db" wq
		tick "$db" wq
		wait "$pid"
		[ "$(cut -f1,7,8 "$out")" = "batch	wq	c1" ]
		[ "$(pgq-events -d "$db" --raw "$(cut -f2 "$out")" | cut -f6)" = late ]
	done
}

@test "a --follow pipeline delivers every event once, back to back" {
	for f in $(pgq_flavours); do
		db="pipes_$f"
		make_queue "$db" fq c1
		out="$BATS_TEST_TMPDIR/follow.$f"
		( pid_to "$out.pid" pgq-next-batch --follow -d "$db" fq c1 | pgq-events -d "$db" |
		  tee "$out" | pgq-finish-batch -d "$db" ) &
		pid=$!
		for i in $(seq 1 20); do
			seq "$((i * 100 - 99))" "$((i * 100))" | sed 's/^/n\t/' | pgq-insert -d "$db" fq
			tick "$db" fq
		done
		wait_for sh -c "[ \$(grep -c '^event' '$out') -ge 2000 ]"
		# every event exactly once
		[ "$(grep '^event' "$out" | cut -f7 | sort -n | uniq | wc -l)" -eq 2000 ]
		[ "$(grep -c '^event' "$out")" -eq 2000 ]
		wait_for sh -c "pgq-next-batch -d $db fq c1 >/dev/null; [ \$? -eq 1 ]"
		# the first stage ends the pipeline: the others see EOF
		kill -TERM "$(cat "$out.pid")"
		wait "$pid"
	done
}

@test "pgq-next-batch --follow stops with 0 on SIGTERM and survives a killed connection" {
	for f in $(pgq_flavours); do
		db="pipes_$f"
		make_queue "$db" sq c1
		out="$BATS_TEST_TMPDIR/sig.$f"
		pgq-next-batch --follow -d "$db" sq c1 >"$out" 2>"$out.err" &
		pid=$!
		wait_for sh -c "[ \$(psql -XAtc \"select count(*) from pg_stat_activity where datname='$db' and application_name='pgq-next-batch'\") -eq 1 ]"
		sql postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname='$db' AND application_name='pgq-next-batch'" >/dev/null
		printf 't\tafter-kill\n' | pgq-insert -d "$db" sq
		tick "$db" sq
		wait_for grep -q '^batch' "$out"
		kill -TERM "$pid"
		st=0
		wait "$pid" || st=$?
		[ "$st" -eq 0 ]
		grep -q reconnect "$out.err"
	done
}

@test "pgq-next-batch exits when its reader has gone" {
	db="pipes_$(pgq_flavours | cut -d' ' -f1)"
	make_queue "$db" dq c1
	run sh -c "pgq-next-batch --follow -d $db dq c1 2>/dev/null | true; echo done"
	[ "$output" = done ]
}

@test "pgq-finish-batch finishes only batches whose end it read" {
	for f in $(pgq_flavours); do
		db="pipes_$f"
		make_queue "$db" fb c1
		printf 't\tx\n' | pgq-insert -d "$db" fb
		tick "$db" fb
		rec=$(pgq-next-batch -d "$db" fb c1)
		id=$(printf '%s\n' "$rec" | cut -f2)
		# truncated: batch record and an event, no end
		run --separate-stderr sh -c "pgq-events -d $db $id | head -n 2 | pgq-finish-batch -d $db"
		[ "$status" -eq 3 ]
		[ "$(pgq-next-batch -d "$db" fb c1 | cut -f2)" = "$id" ]
		# garbled: wrong count
		run --separate-stderr sh -c "printf '%s\nend\t$id\t5\n' '$rec' | pgq-finish-batch -d $db"
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"line 2"* ]]
		[ "$(pgq-next-batch -d "$db" fb c1 | cut -f2)" = "$id" ]
		# whole
		run --separate-stderr sh -c "pgq-events -d $db $id | pgq-finish-batch -d $db"
		[ "$status" -eq 0 ]
		run pgq-next-batch -d "$db" fb c1
		[ "$status" -eq 1 ]
		# again: one line, ours, not the server's warning as well
		run --separate-stderr pgq-finish-batch -d "$db" "$id"
		[ "$status" -eq 0 ]
		[ "$stderr" = "pgq-finish-batch: batch $id was not open (already finished?)" ]
	done
}

@test "pgq-insert: bad input commits nothing of the open chunk" {
	for f in $(pgq_flavours); do
		db="pipes_$f"
		make_queue "$db" bi c1
		count() { sql "$db" "SELECT count(*) FROM pgq.event_$(sql "$db" "SELECT queue_id FROM pgq.queue WHERE queue_name='bi'")"; }
		run --separate-stderr sh -c "printf 'a\tb\nc\td\nonlyonefield\n' | pgq-insert -d $db bi"
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"line 3"* ]]
		[ "$(count)" -eq 0 ]
		run --separate-stderr sh -c "printf 'a\tb\\\\q\n' | pgq-insert -d $db bi"
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"bad escape"* ]]
		run --separate-stderr sh -c "printf 'a\tb\n1\t2\t3\t4\t5\t6\t7\n' | pgq-insert -d $db bi"
		[ "$status" -eq 2 ]
		run --separate-stderr sh -c "printf 'a\tb\nno newline\tx' | pgq-insert -d $db bi"
		[ "$status" -eq 2 ]
		[ "$(count)" -eq 0 ]
		# a slow feed commits what came before the pause; --single-transaction does not
		run --separate-stderr sh -c "{ printf 'a\tb\n'; sleep 0.5; printf 'bad\n'; } | pgq-insert -d $db bi"
		[ "$status" -eq 2 ]
		[ "$(count)" -eq 1 ]
		run --separate-stderr sh -c "{ printf 'a\tb\n'; sleep 0.5; printf 'bad\n'; } | pgq-insert --single-transaction -d $db bi"
		[ "$status" -eq 2 ]
		[ "$(count)" -eq 1 ]
		run --separate-stderr sh -c "printf 'a\tb\n' | pgq-insert -d $db no_such_queue"
		[ "$status" -eq 2 ]
		run --separate-stderr pgq-insert --stream --single-transaction q
		[ "$status" -eq 2 ]
	done
}

@test "pgq-insert --stream moves a queue, batch by batch, and commits no partial batch" {
	for f in $(pgq_flavours); do
		db="pipes_$f"
		make_queue "$db" src mover
		make_queue "$db" dst reader
		tricky_input | pgq-insert -d "$db" src
		tick "$db" src
		# a truncated stream moves nothing
		id=$(pgq-next-batch -d "$db" src mover | cut -f2)
		run --separate-stderr sh -c "pgq-events -d $db $id | head -n 3 | pgq-insert --stream -d $db dst"
		[ "$status" -eq 3 ]
		tick "$db" dst
		run pgq-next-batch -d "$db" dst reader
		[ "$status" -eq 1 ] || [ "$(pgq-events --raw -d "$db" "$(echo "$output" | cut -f2)" | wc -l)" -eq 0 ]
		finish_current "$db" dst reader
		# the whole pipe
		pgq-next-batch -d "$db" src mover | pgq-events -d "$db" |
			pgq-insert --stream -d "$db" dst | pgq-finish-batch -d "$db"
		run pgq-next-batch -d "$db" src mover
		[ "$status" -eq 1 ]
		tick "$db" dst
		got=$(pgq-next-batch -d "$db" dst reader | pgq-events -d "$db" | awk -F'\t' '$1=="event"' | cut -f6-)
		want=$(tricky_input | awk -F'\t' 'BEGIN{OFS="\t"} {for(i=NF+1;i<=6;i++) $i="\\N"; print}')
		[ "$got" = "$want" ]
	done
}

@test "subconsumers share one consumer's stream (pgq_coop, ours only)" {
	db=pipes_ours
	[ -n "$(sql postgres "SELECT 1 FROM pg_database WHERE datname='$db'")" ] || new_db "$db" ours
	sql "$db" "SELECT pgq.create_queue('cq')" >/dev/null
	pgq-register -d "$db" --subconsumer s1 cq cc
	pgq-register -d "$db" --subconsumer s2 cq cc
	printf 't\tone\n' | pgq-insert -d "$db" cq
	tick "$db" cq
	run --separate-stderr pgq-next-batch -d "$db" --subconsumer s1 cq cc
	[ "$status" -eq 0 ]
	b1=$output
	[ "$(printf '%s\n' "$b1" | cut -f1,7,8)" = "batch	cq	cc.s1" ]
	# s1 holds the only batch: nothing for s2
	run --separate-stderr pgq-next-batch -d "$db" --subconsumer s2 cq cc
	[ "$status" -eq 1 ]
	[ "$(printf '%s\n' "$b1" | pgq-events -d "$db" | grep -c '^event')" -eq 1 ]
	printf '%s\n' "$b1" | pgq-events -d "$db" | pgq-finish-batch -d "$db"
	printf 't\ttwo\n' | pgq-insert -d "$db" cq
	tick "$db" cq
	run --separate-stderr pgq-next-batch -d "$db" --subconsumer s2 cq cc
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | pgq-events -d "$db" --raw | cut -f6)" = two ]
}

@test "pgq-next-batch --batch-events: one batch over the backlog's ticks; --register" {
	for f in $(pgq_flavours); do
		db="pipes_$f"
		make_queue "$db" be c1
		# a tick per event (force_tick would count extra events)
		sql "$db" "SELECT pgq.set_queue_config('be', 'ticker_max_count', '1')" >/dev/null
		t0=$(sql "$db" "SELECT last_tick FROM pgq.get_consumer_info('be', 'c1')")
		for i in 1 2 3 4 5; do
			printf 't\tv%s\n' "$i" | pgq-insert -d "$db" be
			sql "$db" "SELECT pgq.ticker('be')" >/dev/null
		done
		# at least 2 events, over several ticks (the original PgQ takes
		# up to twice as many)
		rec=$(pgq-next-batch --batch-events 2 -d "$db" be c1)
		[ "$(printf '%s\n' "$rec" | cut -f4)" = "$t0" ]
		[ "$(printf '%s\n' "$rec" | cut -f3)" -ge $((t0 + 2)) ]
		id=$(printf '%s\n' "$rec" | cut -f2)
		run --separate-stderr sh -c "pgq-events -d $db $id | grep -c '^event'"
		[ "$output" -ge 2 ] && [ "$output" -le 5 ]
		pgq-finish-batch -d "$db" "$id"
		# fewer wait than asked for: every tick there is, in one batch
		for i in 6 7; do
			printf 't\tv%s\n' "$i" | pgq-insert -d "$db" be
			sql "$db" "SELECT pgq.ticker('be')" >/dev/null
		done
		last=$(sql "$db" "SELECT last_tick_id FROM pgq.get_queue_info('be')")
		rec=$(pgq-next-batch --batch-events 1000 -d "$db" be c1)
		[ "$(printf '%s\n' "$rec" | cut -f3)" = "$last" ]
		id=$(printf '%s\n' "$rec" | cut -f2)
		run --separate-stderr sh -c "pgq-events -d $db $id | pgq-finish-batch -d $db"
		[ "$status" -eq 0 ]
		# nothing waits: no batch
		run pgq-next-batch --batch-events 1000 -d "$db" be c1
		[ "$status" -eq 1 ]
		# --register: a new consumer starts at the last tick
		run --separate-stderr pgq-next-batch -d "$db" be c2
		[ "$status" -eq 2 ]
		[ "$stderr" = "pgq-next-batch: next batch: Not subscriber to queue: be/c2 (register it with pgq-register, or run with --register)" ]
		run pgq-next-batch --register -d "$db" be c2
		[ "$status" -eq 1 ]
		[ "$(sql "$db" "SELECT last_tick FROM pgq.get_consumer_info('be', 'c2')")" = "$last" ]
		run pgq-next-batch --register -d "$db" be c2
		[ "$status" -eq 1 ]
	done
	run --separate-stderr pgq-next-batch --batch-events 10 --min-count 5 q c
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-next-batch --batch-events 0 q c
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-next-batch --register --subconsumer s q c
	[ "$status" -eq 2 ]
}

@test "pgq-insert: empty input still checks the queue and the database" {
	for f in $(pgq_flavours); do
		db="pipes_$f"
		run --separate-stderr pgq-insert -d "$db" no_such_queue </dev/null
		[ "$status" -eq 2 ] || { echo "$f: $status $stderr"; false; }
		[[ "$stderr" == pgq-insert:*no_such_queue* ]] || [[ "$stderr" == pgq-insert:*"queue"* ]]
		run --separate-stderr pgq-insert -d "$db" --stream no_such_queue </dev/null
		[ "$status" -eq 2 ]
		make_queue "$db" eq
		run --separate-stderr pgq-insert -d "$db" eq </dev/null
		[ "$status" -eq 0 ]
	done
	new_db pipes_nopgq none
	run --separate-stderr pgq-insert -d pipes_nopgq q </dev/null
	[ "$status" -eq 2 ] || { echo "$status $stderr"; false; }
}

@test "a JSON consumer finishes its batches: pgq-events --json end objects, pgq-finish-batch --ids" {
	for f in $(pgq_flavours); do
		db="pipes_$f"
		make_queue "$db" jq c1
		for i in 1 2 3; do
			printf 'n\t%s\n' "$i" | pgq-insert -d "$db" jq
			tick "$db" jq
		done
		out="$BATS_TEST_TMPDIR/json.$f"
		# handles each event, then hands on the id of each whole batch
		consumer='
import json, sys
for line in sys.stdin:
    o = json.loads(line)
    if "end" in o:
        print(o["end"]["batch_id"], flush=True)
    else:
        open(sys.argv[1], "a").write(o["ev_data"] + "\n")
'
		for b in 1 2 3; do
			pgq-next-batch -d "$db" jq c1 | pgq-events -d "$db" --json |
				python3 -c "$consumer" "$out" | pgq-finish-batch -d "$db" --ids
		done
		[ "$(tr '\n' , <"$out")" = "1,2,3," ]
		run pgq-next-batch -d "$db" jq c1
		[ "$status" -eq 1 ]
	done
	db="pipes_$(pgq_flavours | cut -d' ' -f1)"
	run --separate-stderr pgq-finish-batch -d "$db" --ids <<<"12x"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"stdin line 1: not a batch id"* ]]
	run --separate-stderr pgq-finish-batch -d "$db" --ids 5
	[ "$status" -eq 2 ]
}
