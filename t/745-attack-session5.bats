#!/usr/bin/env bats
# Attacks on the session's changes: the commit wake-up of the ticker,
# the direct insert's executor state kept for the transaction, the
# londiste check and EXECUTE attributes.  Each test is a problem that
# was found, and stays fixed.

load helper

setup_file() {
	pg_start_with_pgq_c || { [ -n "${SKIP_FILE:-}" ] && return 0; return 1; }
	sql postgres "CREATE ROLE atk_nobody LOGIN" >/dev/null
	new_db a
	# database c: the C insert (pgq_c) is what its tests attack
	new_db c
	[ "$(sql c "SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
	            WHERE p.oid = 'pgq.insert_event(text,text,text)'::regprocedure")" = c ]
}

setup() {
	skip_file
}

teardown() {
	local p
	for p in ${KILL_PIDS:-}; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	KILL_PIDS=
	return 0
}

# Counts the changes of queue $2's switch time (its rotations) seen
# since ROT_LAST; true once ROT_N reaches $3.
rotations() {
	local cur
	cur=$(sql "$1" "SELECT queue_switch_time FROM pgq.queue WHERE queue_name = '$2'") || return 1
	if [ "$cur" != "$ROT_LAST" ]; then
		ROT_LAST=$cur
		ROT_N=$((ROT_N + 1))
	fi
	[ "$ROT_N" -ge "$3" ]
}

@test "pgq-tick --loop: wake-ups that keep coming (anyone's NOTIFY, a stream of commits) do not put the maintenance off for ever" {
	# Every tick takes longer than the wake-up gap and ends with a
	# notification on pgq_ticker, as under a stream of commits into a
	# ticker_max_lag 0 queue or a plain login's NOTIFY loop: a wake-up
	# is always due when a tick ends.
	sql a "SELECT pgq.create_queue('busy')" >/dev/null
	sql a "UPDATE pgq.queue SET queue_ticker_idle_period = '0' WHERE queue_name = 'busy'" >/dev/null
	sql a "CREATE FUNCTION public.slow_wake() RETURNS trigger LANGUAGE plpgsql AS
	       \$\$ BEGIN PERFORM pg_sleep(0.02); NOTIFY pgq_ticker; RETURN NULL; END \$\$;
	       CREATE TRIGGER slow_wake AFTER INSERT ON pgq.tick FOR EACH ROW EXECUTE FUNCTION public.slow_wake()" >/dev/null
	sql a "SELECT pgq.create_queue('rot')" >/dev/null
	sql a "UPDATE pgq.queue SET queue_rotation_period = '0' WHERE queue_name = 'rot'" >/dev/null
	pgq-tick --loop --interval 600000 --maint-interval 1 -d dbname=a \
		2>"$BATS_TEST_TMPDIR/tick.log" 3>&- &
	KILL_PIDS="$!"
	ROT_LAST=$(sql a "SELECT queue_switch_time FROM pgq.queue WHERE queue_name = 'rot'")
	ROT_N=0
	wait_for rotations a rot 2 || { cat "$BATS_TEST_TMPDIR/tick.log"; false; }
	sql a "DROP TRIGGER slow_wake ON pgq.tick" >/dev/null
}

# nest_fn SQL: defines public.nest_time(), the default of ev_time in
# queue nest's tables: a GRANT on the current table (an invalidation of
# it, where DDL would find it in use) and an event of its own; then
# runs SQL in the same session.
nest_fn() {
	psql -XAtq -v ON_ERROR_STOP=1 -d c -c "CREATE OR REPLACE FUNCTION public.nest_time() RETURNS timestamptz LANGUAGE plpgsql AS \$\$
	       BEGIN
	           IF coalesce(current_setting('atk.nested', true), '') = '' THEN
	               PERFORM set_config('atk.nested', 'y', true);
	               EXECUTE 'GRANT SELECT ON ' || (SELECT queue_data_pfx || '_' || queue_cur_table
	                   FROM pgq.queue WHERE queue_name = 'nest') || ' TO atk_nobody';
	               PERFORM pgq.insert_event('nest', 'inner', 'i');
	               PERFORM set_config('atk.nested', '', true);
	           END IF;
	           RETURN now();
	       END \$\$" -c "$1"
}

@test "pgq_c: an event inserted by an event table's default, after an invalidation of that table, leaves the outer event's other defaults intact" {
	sql c "SELECT pgq.create_queue('nest')" >/dev/null
	# the default of ev_time: a GRANT (an invalidation of the event
	# tables, no DDL that finds them in use) and an event of its own
	nest_fn "SELECT 1" >/dev/null
	pfx=$(sql c "SELECT queue_data_pfx FROM pgq.queue WHERE queue_name = 'nest'")
	for n in 0 1 2; do
		sql c "ALTER TABLE ${pfx}_$n ALTER COLUMN ev_time SET DEFAULT public.nest_time()" >/dev/null
	done
	# (defined again right before the insert, in its session: so the
	# freed defaults were found reused, without the fix)
	for n in 1 2 3; do
		nest_fn "SELECT pgq.insert_event('nest', 'outer', '$n')" >/dev/null
	done
	# each transaction: the outer event and the inner, both at its now()
	run sql c "SELECT ev_type || ' ' || ev_data || ' ' || (ev_time = (SELECT min(ev_time) FROM $pfx i WHERE i.ev_txid = e.ev_txid)
	                  AND ev_time > now() - interval '1 hour')::text
	             FROM $pfx e ORDER BY ev_id"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s\n' 'outer 1 true' 'inner i true' 'outer 2 true' 'inner i true' 'outer 3 true' 'inner i true')" ]
}

@test "pgq.next_batch: a batch handed out is on disk with its tick, also for a consumer whose session commits without waiting" {
	# a server that waits for commits, and whose WAL writer flushes
	# others' commits only every 10 s: an unflushed commit is lost by a
	# crash right after it
	extra_cluster sc 5441 "synchronous_commit = on" "wal_writer_delay = 10000" "autovacuum = off"
	export PGPORT=5441
	new_db s
	sql s "SELECT pgq.create_queue('q')" >/dev/null
	sql s "SELECT pgq.register_consumer('q', 'c')" >/dev/null
	sql s "SELECT pgq.insert_event('q', 't', 'one')" >/dev/null
	sql s "SELECT pgq.force_tick('q')" >/dev/null
	# the tick as pgq-tick makes it: its commit does not wait
	sql s "SELECT pg_catalog.set_config('synchronous_commit', 'off', true), pgq.ticker('q')" >/dev/null
	tick=$(PGOPTIONS="-c synchronous_commit=off" \
		psql -XAtq -v ON_ERROR_STOP=1 -d s -c "SELECT cur_tick_id FROM pgq.next_batch_info('q', 'c')")
	[ -n "$tick" ]
	# the consumer has the batch: a crash now must not take it back
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/sc" -m immediate -w stop >/dev/null
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/sc" -l "$TEST_DIR/server-sc.log" -w -t 60 start >/dev/null
	run sql s "SELECT count(*) FROM pgq.tick WHERE tick_id = $tick"
	[ "$output" = 1 ]
	run sql s "SELECT cur_tick_id FROM pgq.next_batch_info('q', 'c')"
	[ "$output" = "$tick" ]
	as_pg "$TEST_PGBIN/pg_ctl" -D "$TEST_DIR/sc" -m fast -w stop >/dev/null
}
