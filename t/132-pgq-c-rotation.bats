#!/usr/bin/env bats
# pgq_c's insert keeps a queue's row for the rest of a transaction
# (pgq_c.c, QueueInfo).  Rotations while several sessions insert must
# lose and duplicate nothing, and a session whose cache is warm must see
# every change of the queue made elsewhere or by itself.

load helper

setup_file() {
	pg_start_with_pgq_c || { [ -n "${SKIP_FILE:-}" ] && return 0; return 1; }
	new_db c
	sql c "CREATE SCHEMA t;
	CREATE TABLE t.rot (n integer NOT NULL);
	INSERT INTO t.rot VALUES (0);
	CREATE TABLE t.src (k text PRIMARY KEY);
	-- Waits (outside any timing: until the maintenance loop says so)
	-- for the queue to have rotated n times.
	CREATE FUNCTION t.wait_rot(i_n integer) RETURNS void LANGUAGE plpgsql AS \$\$
	BEGIN
		WHILE (SELECT n FROM t.rot) < i_n LOOP
			PERFORM pg_sleep(0.01);
		END LOOP;
	END \$\$"
}

setup() { skip_file; }

lang() {
	sql c "SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
	        WHERE p.oid = 'pgq.insert_event(text,text,text)'::regprocedure"
}

# One writer's script: STAGES stages of small transactions, each event's
# data being its writer and number; committed ones go to $2.ok.  Between
# stages it waits for the next rotation, half of the time inside an open
# transaction that inserted before the rotation and goes on after it.
# The writer 'trg' inserts through pgq.logutriga on t.src instead.
writer_script() {
	local w=$1 out=$2 stage i n=0 ins
	: >"$out.ok"
	for stage in $(seq 1 "$STAGES"); do
		for i in $(seq 1 12); do
			n=$((n + 1))
			if [ "$w" = trg ]; then
				ins() { echo "INSERT INTO t.src VALUES ('$w-$1');"; }
			else
				ins() { echo "SELECT pgq.insert_event('rq', 'e', '$w-$1');"; }
			fi
			case $((i % 4)) in
			0)	# rolled back: must never show up
				echo "BEGIN;"; ins "$n-x"; ins "$n-y"; echo "ROLLBACK;" ;;
			1)	# a savepoint rolled back around the first insert
				echo "BEGIN; SAVEPOINT s;"; ins "$n-x"; echo "ROLLBACK TO SAVEPOINT s;"
				ins "$n-a"; ins "$n-b"; echo "COMMIT;"
				echo "$w-$n-a" >>"$out.ok"; echo "$w-$n-b" >>"$out.ok" ;;
			*)
				echo "BEGIN;"; ins "$n-a"; ins "$n-b"; ins "$n-c"; echo "COMMIT;"
				printf '%s\n' "$w-$n-a" "$w-$n-b" "$w-$n-c" >>"$out.ok" ;;
			esac
		done
		if [ $((stage % 2)) = 0 ]; then
			echo "BEGIN;"; ins "$stage-open-1"
			echo "SELECT t.wait_rot($stage);"
			ins "$stage-open-2"; echo "COMMIT;"
			printf '%s\n' "$w-$stage-open-1" "$w-$stage-open-2" >>"$out.ok"
		else
			echo "SELECT t.wait_rot($stage);"
		fi
	done
}

# Tick, consume every batch of consumer k, rotate: one pass of what
# pgqd and a consumer do, each step in its own transaction.
maint_pass() {
	psql -XAtq -v ON_ERROR_STOP=1 -d c -c "SELECT pgq.force_tick('rq')" \
		-c "SELECT pgq.ticker('rq')" >/dev/null
	psql -XAtq -v ON_ERROR_STOP=1 -d c <<-'SQL' >>"$TEST_DIR/got"
	DO $$
	DECLARE b bigint;
	BEGIN
		LOOP
			b := pgq.next_batch('rq', 'k');
			EXIT WHEN b IS NULL;
			INSERT INTO t.got SELECT ev_type, ev_data FROM pgq.get_batch_events(b);
			PERFORM pgq.finish_batch(b);
		END LOOP;
	END $$;
	SQL
	sql c "SELECT pgq.maint_rotate_tables_step1('rq')" >/dev/null
	sql c "SELECT pgq.maint_rotate_tables_step2()" >/dev/null
}

@test "concurrent small transactions while the queue rotates: every event once" {
	[ "$(lang)" = c ]
	STAGES=8
	sql c "SELECT pgq.create_queue('rq')" >/dev/null
	sql c "SELECT pgq.set_queue_config('rq', 'rotation_period', '0')" >/dev/null
	sql c "SELECT pgq.register_consumer('rq', 'k')" >/dev/null
	sql c "CREATE TABLE t.got (ev_type text, ev_data text)" >/dev/null
	sql c "CREATE TRIGGER q AFTER INSERT ON t.src FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('rq')" >/dev/null
	local w pids=() last cur rot=0 idle=0
	for w in w1 w2 trg; do
		writer_script "$w" "$TEST_DIR/$w" >"$TEST_DIR/$w.sql"
		psql -XAtq -v ON_ERROR_STOP=1 -d c -f "$TEST_DIR/$w.sql" >"$TEST_DIR/$w.log" 2>&1 &
		pids+=($!)
	done
	last=$(sql c "SELECT queue_cur_table FROM pgq.queue WHERE queue_name = 'rq'")
	# until every writer is done.  Each pass ticks and consumes all, so
	# the next one can rotate unless a transaction is still open; only
	# writers that wait for a rotation stay open long.  A stale table in
	# a cache stops rotations (its events block the truncate) and then
	# the writers: a bound on passes (not on time) fails that run.
	while [ "$idle" -lt 300 ]; do
		idle=$((idle + 1))
		maint_pass
		cur=$(sql c "SELECT queue_cur_table FROM pgq.queue WHERE queue_name = 'rq'")
		if [ "$cur" != "$last" ]; then
			rot=$((rot + 1))
			idle=0
			last=$cur
			sql c "UPDATE t.rot SET n = $rot" >/dev/null
		fi
		local alive=0
		for p in "${pids[@]}"; do
			kill -0 "$p" 2>/dev/null && alive=1
		done
		[ "$alive" = 1 ] || break
	done
	for p in "${pids[@]}"; do
		kill -0 "$p" 2>/dev/null && { kill "$p" 2>/dev/null || :; }
		wait "$p"
	done
	[ "$rot" -ge "$STAGES" ]
	# the last events: a tick after them, then two more passes so that
	# the batch holding them is consumed
	for pass in 1 2 3; do
		maint_pass
	done
	sql c "SELECT ev_data FROM t.got WHERE ev_type = 'e'" >"$TEST_DIR/got.e"
	sql c "SELECT substr(ev_data, 3) FROM t.got WHERE ev_type <> 'e'" >"$TEST_DIR/got.trg"
	# exactly once: no duplicate, nothing missing, nothing rolled back
	[ -z "$(sort "$TEST_DIR/got.e" "$TEST_DIR/got.trg" | uniq -d)" ]
	cmp <(sort "$TEST_DIR/w1.ok" "$TEST_DIR/w2.ok") <(sort "$TEST_DIR/got.e")
	cmp <(sort "$TEST_DIR/trg.ok") <(sort "$TEST_DIR/got.trg")
	[ "$(wc -l <"$TEST_DIR/got.e")" -gt 0 ]
}

# One session (psql reading a FIFO) whose cache is warm; others change
# the queue between its transactions, or it changes the queue itself.
start_session() {
	mkfifo "$TEST_DIR/s.in"
	psql -XAtq -v VERBOSITY=terse -d c <"$TEST_DIR/s.in" >"$TEST_DIR/s.out" 2>&1 &
	SPID=$!
	exec {SFD}>"$TEST_DIR/s.in"
}

# Runs SQL in the session and waits for it: the marker goes to s.out
# after the statements before it.
in_session() {
	local m="done-$RANDOM$RANDOM"
	printf '%s\n\\echo %s\n' "$1" "$m" >&"$SFD"
	wait_for grep -qx "$m" "$TEST_DIR/s.out"
}

events_of() {
	sql c "SELECT string_agg(e.ev_data, ',' ORDER BY e.ev_id) FROM pgq.event_template e
	         JOIN pgq.queue q ON e.tableoid::regclass::text = q.queue_data_pfx || '_' || q.queue_cur_table
	        WHERE q.queue_name = '$1'"
}

@test "a warm cache sees a queue dropped and made again, disabled, limited, rotated" {
	[ "$(lang)" = c ]
	sql c "SELECT pgq.create_queue('dq')" >/dev/null
	start_session
	in_session "SELECT pgq.insert_event('dq', 't', 'one');"
	in_session "BEGIN; SELECT pgq.insert_event('dq', 't', 'two');"
	# another session: drop and create again, between two transactions
	in_session "COMMIT;"
	sql c "SELECT pgq.drop_queue('dq'); SELECT pgq.create_queue('dq')" >/dev/null
	[ "$(events_of dq)" = "" ]
	in_session "SELECT pgq.insert_event('dq', 't', 'three');"
	[ "$(events_of dq)" = three ]
	# disabled elsewhere: refused in the session's next transaction
	sql c "SELECT pgq.set_queue_config('dq', 'disable_insert', '1')" >/dev/null
	in_session "SELECT pgq.insert_event('dq', 't', 'four');"
	grep -q "Insert into queue dq disallowed" "$TEST_DIR/s.out"
	sql c "SELECT pgq.set_queue_config('dq', 'disable_insert', '0')" >/dev/null
	# a per-transaction limit set elsewhere
	sql c "SELECT pgq.set_queue_config('dq', 'per_tx_limit', '1')" >/dev/null
	in_session "SELECT pgq.insert_event('dq', 't', 'five'), pgq.insert_event('dq', 't', 'six');"
	grep -q "Queue 'dq' allows max 1 events from one TX" "$TEST_DIR/s.out"
	sql c "UPDATE pgq.queue SET queue_per_tx_limit = NULL WHERE queue_name = 'dq'" >/dev/null
	# rotated elsewhere: the session's next transaction writes to the new table
	sql c "SELECT pgq.set_queue_config('dq', 'rotation_period', '0')" >/dev/null
	sql c "SELECT pgq.maint_rotate_tables_step1('dq')" >/dev/null
	[ "$(events_of dq)" = "" ]
	in_session "SELECT pgq.insert_event('dq', 't', 'seven');"
	[ "$(events_of dq)" = seven ]
	# changes by the session's own transaction, after its cache is warm
	in_session "BEGIN; SELECT pgq.insert_event('dq', 't', 'eight');
		SELECT pgq.drop_queue('dq'); SELECT pgq.create_queue('dq');
		SELECT pgq.insert_event('dq', 't', 'nine'); COMMIT;"
	[ "$(events_of dq)" = nine ]
	sql c "SELECT pgq.set_queue_config('dq', 'rotation_period', '0')" >/dev/null
	in_session "BEGIN; SELECT pgq.insert_event('dq', 't', 'ten');
		SELECT pgq.maint_rotate_tables_step2();
		SELECT pgq.maint_rotate_tables_step1('dq');
		SELECT pgq.insert_event('dq', 't', 'eleven'); COMMIT;"
	[ "$(events_of dq)" = eleven ]
	in_session "BEGIN; SELECT pgq.insert_event('dq', 't', 'twelve');
		SELECT pgq.set_queue_config('dq', 'disable_insert', '1');
		SELECT pgq.insert_event('dq', 't', 'thirteen'); COMMIT;"
	[ "$(events_of dq)" = eleven ]
	grep -c "Insert into queue dq disallowed" "$TEST_DIR/s.out" | grep -qx 2
	# the same under session_replication_role = replica, where a plain
	# trigger would not fire
	sql c "SELECT pgq.set_queue_config('dq', 'disable_insert', '0')" >/dev/null
	in_session "SET session_replication_role = replica;
		BEGIN; SELECT pgq.insert_event('dq', 't', 'fourteen');
		SELECT pgq.drop_queue('dq'); SELECT pgq.create_queue('dq');
		SELECT pgq.insert_event('dq', 't', 'fifteen'); COMMIT;"
	[ "$(events_of dq)" = fifteen ]
	exec {SFD}>&-
	wait "$SPID"
	rm -f "$TEST_DIR/s.in"
	! grep -q "relation .* does not exist" "$TEST_DIR/s.out"
}
