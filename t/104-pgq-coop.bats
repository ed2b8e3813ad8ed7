#!/usr/bin/env bats
# sql/pgq_coop: cooperative subconsumers.

load helper

setup_file() {
	pg_start
	new_db coop
	sql coop "SELECT pgq.create_queue('cq')" >/dev/null
}

tick() {
	psql -XAtq -v ON_ERROR_STOP=1 -d coop -c "SELECT pgq.force_tick('$1')" \
		-c "SELECT pgq.ticker('$1')" | tail -n 1
}

@test "register and unregister subconsumers" {
	run sql coop "SELECT pgq_coop.register_subconsumer('cq', 'grp', 's1')"
	[ "$output" = 1 ]
	run sql coop "SELECT pgq_coop.register_subconsumer('cq', 'grp', 's1')"
	[ "$output" = 0 ]
	# the consumer itself is registered too
	run sql coop "SELECT count(*) FROM pgq.get_consumer_info('cq', 'grp')"
	[ "$output" = 1 ]
	run --separate-stderr sql coop "SELECT pgq_coop.next_batch('nosuchq', 'grp', 's1')"
	[ "$status" -ne 0 ]
	run --separate-stderr sql coop "SELECT pgq_coop.register_subconsumer('nosuchq', 'grp', 's1')"
	[ "$status" -ne 0 ]
	run sql coop "SELECT pgq_coop.unregister_subconsumer('cq', 'grp', 's1', 0)"
	[ "$output" = 1 ]
	run sql coop "SELECT pgq_coop.unregister_subconsumer('cq', 'grp', 's1', 0)"
	[ "$output" = 0 ]
}

@test "next_batch of an unknown consumer and subconsumer registers both and returns NULL" {
	sql coop "SELECT pgq.insert_event('cq', 't', 'before')" >/dev/null
	tick cq >/dev/null
	run sql coop "SELECT pgq_coop.next_batch('cq', 'fresh', 'one') IS NULL"
	[ "$output" = t ]
	run sql coop "SELECT count(*) FROM pgq.get_consumer_info('cq', 'fresh')"
	[ "$output" = 1 ]
	run sql coop "SELECT pgq_coop.register_subconsumer('cq', 'fresh', 'one')"
	[ "$output" = 0 ]
	# a new subconsumer of a known consumer too
	run sql coop "SELECT pgq_coop.next_batch('cq', 'fresh', 'two') IS NULL"
	[ "$output" = t ]
	run sql coop "SELECT pgq_coop.register_subconsumer('cq', 'fresh', 'two')"
	[ "$output" = 0 ]
	# they start at the last tick
	sql coop "SELECT pgq.insert_event('cq', 't', 'after')" >/dev/null
	tick cq >/dev/null
	b=$(sql coop "SELECT pgq_coop.next_batch('cq', 'fresh', 'two')")
	run sql coop "SELECT ev_data FROM pgq.get_batch_events($b)"
	[ "$output" = after ]
	sql coop "SELECT pgq_coop.finish_batch($b)" >/dev/null
	sql coop "SELECT pgq.unregister_consumer('cq', 'fresh')" >/dev/null
}

@test "each batch goes to exactly one subconsumer; every event once" {
	for s in a b c; do sql coop "SELECT pgq_coop.register_subconsumer('cq', 'g', '$s')" >/dev/null; done
	for i in $(seq 1 9); do
		sql coop "SELECT pgq.insert_event('cq', 't', 'e$i-' || n) FROM generate_series(1, 3) n" >/dev/null
		tick cq >/dev/null
	done
	: >"$TEST_DIR/batches"
	for round in 1 2 3 4; do
		for s in a b c; do
			b=$(sql coop "SELECT pgq_coop.next_batch('cq', 'g', '$s')")
			[ -n "$b" ] || continue
			# asking again returns the same batch
			[ "$(sql coop "SELECT pgq_coop.next_batch('cq', 'g', '$s')")" = "$b" ]
			echo "$b" >>"$TEST_DIR/batches"
			sql coop "SELECT ev_data FROM pgq.get_batch_events($b)" >>"$TEST_DIR/events.$s"
		done
		for s in a b c; do
			b=$(sql coop "SELECT current_batch FROM pgq.get_consumer_info('cq', 'g.$s')")
			[ -z "$b" ] || sql coop "SELECT pgq_coop.finish_batch($b)" >/dev/null
		done
	done
	[ "$(wc -l <"$TEST_DIR/batches")" -eq 9 ]
	[ -z "$(sort "$TEST_DIR/batches" | uniq -d)" ]
	cat "$TEST_DIR"/events.* >"$TEST_DIR/all"
	[ "$(wc -l <"$TEST_DIR/all")" -eq 27 ]
	[ -z "$(sort "$TEST_DIR/all" | uniq -d)" ]
	# the work was shared
	for s in a b c; do [ -s "$TEST_DIR/events.$s" ]; done
	run sql coop "SELECT pgq_coop.next_batch('cq', 'g', 'a') IS NULL"
	[ "$output" = t ]
}

@test "a dead subconsumer's batch is taken over after dead_interval" {
	for s in x y; do sql coop "SELECT pgq_coop.register_subconsumer('cq', 'd', '$s')" >/dev/null; done
	sql coop "SELECT pgq.insert_event('cq', 't', 'orphan')" >/dev/null
	tick cq >/dev/null
	bx=$(sql coop "SELECT pgq_coop.next_batch('cq', 'd', 'x')")
	[ -n "$bx" ]
	# x is alive: y gets nothing
	run sql coop "SELECT pgq_coop.next_batch('cq', 'd', 'y', '10 minutes') IS NULL"
	[ "$output" = t ]
	# x falls silent
	sql coop "UPDATE pgq.subscription s SET sub_active = now() - interval '1 hour'
	          FROM pgq.consumer c WHERE c.co_id = s.sub_consumer AND c.co_name = 'd.x'"
	run sql coop "SELECT pgq_coop.next_batch('cq', 'd', 'y') IS NULL"
	[ "$output" = t ]
	# as in pgq_coop: the same batch, and the dead one is unregistered
	by=$(sql coop "SELECT pgq_coop.next_batch('cq', 'd', 'y', '10 minutes')")
	[ "$by" = "$bx" ]
	run sql coop "SELECT ev_data FROM pgq.get_batch_events($by)"
	[ "$output" = orphan ]
	run sql coop "SELECT count(*) FROM pgq.subscription s JOIN pgq.consumer c ON c.co_id = s.sub_consumer
	              WHERE c.co_name = 'd.x'"
	[ "$output" = 0 ]
	run sql coop "SELECT pgq_coop.finish_batch($by)"
	[ "$output" = 1 ]
	# back from the dead: registered anew, with nothing to do
	run sql coop "SELECT pgq_coop.next_batch('cq', 'd', 'x') IS NULL"
	[ "$output" = t ]
}

@test "retried events come back to the group" {
	for s in p q; do sql coop "SELECT pgq_coop.register_subconsumer('cq', 'r', '$s')" >/dev/null; done
	sql coop "SELECT pgq.insert_event('cq', 't', 'again')" >/dev/null
	tick cq >/dev/null
	b=$(sql coop "SELECT pgq_coop.next_batch('cq', 'r', 'p')")
	sql coop "SELECT pgq.event_retry($b, ev_id, 0) FROM pgq.get_batch_events($b)" >/dev/null
	sql coop "SELECT pgq_coop.finish_batch($b)" >/dev/null
	run sql coop "SELECT pgq.maint_retry_events() >= 1"
	[ "$output" = t ]
	tick cq >/dev/null
	b=$(sql coop "SELECT pgq_coop.next_batch('cq', 'r', 'q')")
	run sql coop "SELECT ev_data, ev_retry FROM pgq.get_batch_events($b)"
	[ "$output" = "again|1" ]
	sql coop "SELECT pgq_coop.finish_batch($b)" >/dev/null
}

@test "unregister_subconsumer with an open batch: refused, or closed on request" {
	sql coop "SELECT pgq_coop.register_subconsumer('cq', 'u', 'only')" >/dev/null
	tick cq >/dev/null
	b=$(sql coop "SELECT pgq_coop.next_batch('cq', 'u', 'only')")
	[ -n "$b" ]
	run --separate-stderr sql coop "SELECT pgq_coop.unregister_subconsumer('cq', 'u', 'only', 0)"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"open batch"* ]]
	run sql coop "SELECT pgq_coop.unregister_subconsumer('cq', 'u', 'only', 1)"
	[ "$output" = 1 ]
	run --separate-stderr sql coop "SELECT pgq.get_batch_info($b)"
	[ "$status" -ne 0 ]
	# an idle subconsumer does not hold back rotation
	sql coop "SELECT pgq_coop.register_subconsumer('cq', 'u', 'idle')" >/dev/null
	run sql coop "SELECT count(*) FROM pgq.subscription WHERE sub_main IS NOT NULL AND sub_batch IS NULL AND sub_last_tick IS NOT NULL"
	[ "$output" = 0 ]
}
