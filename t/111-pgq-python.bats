#!/usr/bin/env bats
# Interop: Debian's python3-pgq Consumer reads our queues, with lazy
# (cursor) and full fetch.  Driver: t/py-consumer.py.

load helper

setup_file() {
	/usr/bin/python3 -c 'import pgq' 2>/dev/null || skip "python3-pgq is not installed"
	pg_start
	new_db py
}

tick() {
	psql -XAtq -v ON_ERROR_STOP=1 -d py -c "SELECT pgq.force_tick('$1')" \
		-c "SELECT pgq.ticker('$1')" | tail -n 1
}

consume() {
	# its job files (tempfile) go where bats removes them
	TMPDIR=$BATS_TEST_TMPDIR /usr/bin/python3 "$BATS_TEST_DIRNAME/py-consumer.py" \
		"host=$PGHOST port=$PGPORT user=postgres dbname=py" "$@" 2>>"$TEST_DIR/py.log"
}

@test "lazy and full fetch each get every event exactly once" {
	sql py "SELECT pgq.create_queue('pyq')" >/dev/null
	# registering with no batch ready processes nothing
	consume pyq lazy 300 "$TEST_DIR/lazy"
	consume pyq full 0 "$TEST_DIR/full"
	[ ! -s "$TEST_DIR/lazy" ] && [ ! -s "$TEST_DIR/full" ]
	# batches below, at and well above the fetch size
	for n in 5 300 1234; do
		sql py "SELECT pgq.insert_event('pyq', 'n$n', 'ev ' || i || ' äö&=') FROM generate_series(1, $n) i" >/dev/null
		tick pyq >/dev/null
	done
	consume pyq lazy 300 "$TEST_DIR/lazy"
	consume pyq full 0 "$TEST_DIR/full"
	total=$((5 + 300 + 1234))
	for f in lazy full; do
		[ "$(wc -l <"$TEST_DIR/$f")" -eq "$total" ]
		[ -z "$(cut -f2 "$TEST_DIR/$f" | sort | uniq -d)" ]
		[ "$(cut -f1 "$TEST_DIR/$f" | sort -u | wc -l)" -eq 3 ]
	done
	cmp <(cut -f2- "$TEST_DIR/lazy" | sort) <(cut -f2- "$TEST_DIR/full" | sort)
	grep -q "	n1234	ev 1234 äö&=$" "$TEST_DIR/lazy"
	# nothing left for either
	consume pyq lazy 300 "$TEST_DIR/lazy"
	[ "$(wc -l <"$TEST_DIR/lazy")" -eq "$total" ]
}

@test "events tagged for retry come back in a later batch" {
	sql py "SELECT pgq.create_queue('pyr')" >/dev/null
	consume pyr c 300 "$TEST_DIR/r" retry
	sql py "SELECT pgq.insert_event('pyr', CASE WHEN i % 3 = 0 THEN 'retry' ELSE 'ok' END, 'r' || i)
	        FROM generate_series(1, 30) i" >/dev/null
	tick pyr >/dev/null
	consume pyr c 300 "$TEST_DIR/r" retry
	[ "$(wc -l <"$TEST_DIR/r")" -eq 30 ]
	run sql py "SELECT count(*) FROM pgq.retry_queue"
	[ "$output" = 10 ]
	sql py "SELECT pgq.maint_retry_events()" >/dev/null
	tick pyr >/dev/null
	consume pyr c 300 "$TEST_DIR/r" retry
	[ "$(wc -l <"$TEST_DIR/r")" -eq 40 ]
	[ "$(grep -c '	retry	' "$TEST_DIR/r")" -eq 20 ]
}
