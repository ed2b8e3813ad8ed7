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

@test "the loop survives a server restart under a steady producer: every event handled once" {
	for f in $(pgq_flavours); do
		db="cons_$f"
		make_queue "$db" q4 c1
		out="$BATS_TEST_TMPDIR/restart.$f"
		done_ids="$BATS_TEST_TMPDIR/restart-batches.$f"
		: >"$done_ids"
		# The command acts on a batch only after its end record (a batch
		# cut by the restart is not handled) and skips a batch id it
		# already handled: a restart between its success and
		# pgq-finish-batch hands the same batch out again.
		cat >"$BATS_TEST_TMPDIR/handle" <<-'SH'
		#!/bin/sh
		t=$(mktemp) || exit 3
		cat >"$t"
		tail -n 1 "$t" | grep -q '^end' || { rm -f "$t"; exit 3; }
		id=$(head -n 1 "$t" | cut -f2)
		if ! grep -qx "$id" "$2"; then
			grep '^event' "$t" | cut -f2,7 >>"$1"
			echo "$id" >>"$2"
		fi
		rm -f "$t"
		SH
		chmod +x "$BATS_TEST_TMPDIR/handle"
		pgq-consumer -d "$db" --retry-delay 0.2 q4 c1 \
			"$BATS_TEST_TMPDIR/handle" "$out" "$done_ids" 2>"$out.err" &
		pid=$!
		# The producer retries what the restart interrupts; an insert
		# whose commit was lost with the connection may come twice (with
		# another ev_id), so "none missing" is checked on the payloads.
		n=40
		(
			for i in $(seq 1 "$n"); do
				until printf 't\tv%s\n' "$i" | pgq-insert -d "$db" q4 2>/dev/null; do sleep 0.1; done
				until tick "$db" q4 2>/dev/null; do sleep 0.1; done
			done
		) &
		producer=$!
		wait_for sh -c "[ \$(cat '$out' 2>/dev/null | wc -l) -ge 3 ]"
		# The server stays down until the consumer has noticed: a quick
		# restart may fall between two of its connections and go unseen.
		as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_PGDATA" -m fast -w -t 60 stop >/dev/null
		wait_for grep -Eq 'reconnecting in|retrying in' "$out.err"
		as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_PGDATA" -l "$TEST_DIR/server.log" -w -t 60 start >/dev/null
		wait "$producer"
		wait_for sh -c "[ \$(cut -f2 '$out' | sort -u | wc -l) -ge $n ]"
		kill -TERM "$pid"
		st=0
		wait "$pid" || st=$?
		[ "$st" -eq 0 ] || { cat "$out.err"; false; }
		# the restart did reach the consumer (the wait for a batch
		# reconnects by itself; a stage that failed is retried)
		grep -Eq 'reconnecting in|retrying in' "$out.err" || { cat "$out.err"; false; }
		# no event handled twice, none missing
		[ -z "$(cut -f1 "$out" | sort | uniq -d)" ] || { sort "$out"; false; }
		[ "$(cut -f2 "$out" | sort -u)" = "$(seq 1 "$n" | sed 's/^/v/' | sort)" ]
	done
}
