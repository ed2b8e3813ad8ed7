#!/usr/bin/env bats
# Attacks on session 8's changes.

load helper

setup_file() {
	pg_start || return 1
	new_db q || return 1
	sql q "CREATE SCHEMA t;
	CREATE FUNCTION t.drain(i_queue text, i_consumer text) RETURNS SETOF text
	LANGUAGE plpgsql AS \$\$
	DECLARE b bigint; d text;
	BEGIN
		LOOP
			b := pgq.next_batch(i_queue, i_consumer);
			EXIT WHEN b IS NULL;
			FOR d IN SELECT ev_data FROM pgq.get_batch_events(b) LOOP
				RETURN NEXT d;
			END LOOP;
			PERFORM pgq.finish_batch(b);
		END LOOP;
	END \$\$" >/dev/null
}

teardown() {
	sessions_stop
}

# A REPEATABLE READ ticker whose snapshot predates a tick another
# session made cannot see that tick: it made its own with the older
# snapshot, after it, and the events between the two snapshots were in
# the batch before and again in the one after.
@test "ticker: a REPEATABLE READ caller that cannot see the last tick makes none" {
	sql q "SELECT pgq.create_queue('rr'); SELECT pgq.register_consumer('rr', 'c')" >/dev/null
	session 7 q
	echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 'began';" >&7
	wait_for said 7 began
	sql q "SELECT pgq.insert_event('rr', 't', 'e1')" >/dev/null
	tick q rr
	echo "SELECT pgq.force_tick('rr'); SELECT pgq.ticker('rr'); COMMIT; SELECT 'done';" >&7
	wait_for said 7 done
	end_session 7
	tick q rr
	run sql q "SELECT * FROM t.drain('rr', 'c')"
	[ "$output" = e1 ]
	grep -q "use READ COMMITTED" "$BATS_TEST_TMPDIR/session.7.out"
}
