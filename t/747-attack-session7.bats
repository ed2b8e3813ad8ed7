#!/usr/bin/env bats
# Attacks on session 7's changes.

load helper

setup_file() {
	pg_start || return 1
	new_db a
}

teardown() { sessions_stop; }

# idx_tuples DB QUEUE: index entries read so far from QUEUE's event
# tables (flushed by each psql's exit).
idx_tuples() {
	sql "$1" "SELECT coalesce(sum(s.idx_tup_read), 0) FROM pg_stat_all_indexes s
	          JOIN pgq.queue q ON s.relname LIKE 'event\_' || q.queue_id || '\_%'
	         WHERE q.queue_name = '$2' AND s.schemaname = 'pgq'"
}

# running_producer Q LATER: session 7 inserts 20000 events into Q and
# stays open; with LATER, a transaction that began after it commits
# before the tick, so that the tick lists it as running (else its xid
# is the newest, at the tick's xmax, in no list).  Then: while it runs
# the ticker reads none of its rows, however often it is called; at its
# commit one tick comes after ticker_max_lag (not the idle tick), then
# none, and the consumer gets each event once.
running_producer() {
	local q=$1 before after n
	make_queue a "$q" c
	sql a "SELECT pgq.set_queue_config('$q', 'ticker_idle_period', '1 hour'),
	              pgq.set_queue_config('$q', 'ticker_max_lag', '1 millisecond')" >/dev/null
	session 7 a
	echo "BEGIN; SELECT count(pgq.insert_event('$q', 'x', g::text)) FROM generate_series(1, 20000) g;
	      SELECT 'inserted';" >&7
	wait_for said 7 inserted
	[ -z "$2" ] || sql a "CREATE TEMP TABLE later (); INSERT INTO later DEFAULT VALUES" >/dev/null
	# the insert moved the sequence: this tick does not see the events
	[ -n "$(sql a "SELECT pgq.ticker('$q')")" ]
	if [ -n "$2" ]; then
		[ "$(sql a "SELECT txid_snapshot_xmin(tick_snapshot) < txid_snapshot_xmax(tick_snapshot)
		            FROM pgq.tick ORDER BY tick_time DESC, tick_id DESC LIMIT 1")" = t ]
	fi
	before=$(idx_tuples a "$q")
	for n in 1 2 3; do
		[ -z "$(sql a "SELECT pgq.ticker('$q')")" ]
	done
	after=$(idx_tuples a "$q")
	echo "index entries read: $before -> $after"
	[ $((after - before)) -lt 20000 ]
	echo "COMMIT; SELECT 'committed';" >&7
	wait_for said 7 committed
	end_session 7
	[ -n "$(sql a "SELECT pgq.ticker('$q')")" ]
	[ -z "$(sql a "SELECT pgq.ticker('$q')")" ]
	[ -z "$(sql a "SELECT pgq.ticker('$q')")" ]
	n=$(sql a "SELECT count(*) FROM pgq.get_batch_events(pgq.next_batch('$q', 'c'))")
	[ "$n" = 0 ]
	sql a "SELECT pgq.finish_batch(b) FROM pgq.next_batch('$q', 'c') b" >/dev/null
	n=$(sql a "SELECT count(DISTINCT ev_id) || '/' || count(*) FROM pgq.get_batch_events(pgq.next_batch('$q', 'c'))")
	[ "$n" = 20000/20000 ]
}

@test "ticker: the events of a transaction with the newest xid at the last tick come after ticker_max_lag" {
	running_producer newest ""
}

@test "ticker: the rows of a transaction running at the last tick are not read on each ticker call" {
	running_producer listed later
}
