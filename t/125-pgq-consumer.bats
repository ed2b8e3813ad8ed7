#!/usr/bin/env bats
# pgq-consumer: one command run per batch, finish on success, retry on
# failure, stop on SIGTERM.

load helper

setup_file() {
	pg_start
	for f in $(pgq_flavours); do new_db "cons_$f" "$f"; done
}

@test "basic checks" {
	basic_checks pgq-consumer
	run --separate-stderr pgq-consumer q c
	[ "$status" -eq 2 ]
	run --separate-stderr pgq-consumer --retry-delay x q c cat
	[ "$status" -eq 2 ]
}

@test "--once: one batch to the command, finished on success; 1 when none" {
	for f in $(pgq_flavours); do
		db="cons_$f"
		make_queue "$db" q1 c1
		printf 'a\tone\nb\ttwo\n' | pgq-insert -d "$db" q1
		tick "$db" q1
		out="$BATS_TEST_TMPDIR/once.$f"
		run --separate-stderr pgq-consumer --once -d "$db" q1 c1 sh -c "cat > '$out'"
		[ "$status" -eq 0 ]
		[ "$(head -n 1 "$out" | cut -f1,7,8)" = "batch	q1	c1" ]
		[ "$(grep '^event' "$out" | cut -f7 | tr '\n' ,)" = "one,two," ]
		[ "$(tail -n 1 "$out" | cut -f1,3)" = "end	2" ]
		run --separate-stderr pgq-consumer --once -d "$db" q1 c1 cat
		[ "$status" -eq 1 ]
	done
}

@test "a failing command leaves the batch for the next run" {
	for f in $(pgq_flavours); do
		db="cons_$f"
		make_queue "$db" q2 c1
		printf 'a\tx\n' | pgq-insert -d "$db" q2
		tick "$db" q2
		id=$(pgq-next-batch -d "$db" q2 c1 | cut -f2)
		run --separate-stderr pgq-consumer --once -d "$db" q2 c1 sh -c 'cat >/dev/null; exit 7'
		[ "$status" -eq 3 ]
		[[ "$stderr" == *"status 7"*"batch $id"* ]]
		# it exits at once: no retry announced
		[[ "$stderr" != *retrying* ]]
		[ "$(pgq-next-batch -d "$db" q2 c1 | cut -f2)" = "$id" ]
		run --separate-stderr pgq-consumer --once -d "$db" q2 c1 cat
		[ "$status" -eq 0 ]
		run pgq-next-batch -d "$db" q2 c1
		[ "$status" -eq 1 ]
	done
}

@test "--once: a lost server is exit 3 at once, without a retry message" {
	run --separate-stderr pgq-consumer --once -d "host=$TEST_DIR/nonexistent dbname=x" q c cat
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"pgq-next-batch failed (status 3)"* ]]
	[[ "$stderr" != *retrying* ]]
}

@test "unknown queue is a usage failure" {
	for f in $(pgq_flavours); do
		run --separate-stderr pgq-consumer --once -d "cons_$f" no_such_q c1 cat
		[ "$status" -eq 2 ]
	done
}

@test "the loop retries a failed batch, sees every event once, and stops on SIGTERM" {
	for f in $(pgq_flavours); do
		db="cons_$f"
		make_queue "$db" q3 c1
		out="$BATS_TEST_TMPDIR/loop.$f"
		flag="$BATS_TEST_TMPDIR/fail.$f"
		touch "$flag"
		# fails once (while the flag exists), then appends events
		cmd="if [ -f '$flag' ]; then rm -f '$flag'; exit 5; fi; grep '^event' >> '$out'"
		pgq-consumer -d "$db" --retry-delay 0.2 q3 c1 sh -c "$cmd" 2>"$out.err" &
		pid=$!
		for i in 1 2 3; do
			printf 't\tv%s\n' "$i" | pgq-insert -d "$db" q3
			tick "$db" q3
		done
		wait_for sh -c "[ \$(cat '$out' 2>/dev/null | wc -l) -ge 3 ]"
		[ "$(cut -f7 "$out" | sort | tr '\n' ,)" = "v1,v2,v3," ]
		grep -q 'status 5' "$out.err"
		kill -TERM "$pid"
		st=0
		wait "$pid" || st=$?
		[ "$st" -eq 0 ]
	done
}
