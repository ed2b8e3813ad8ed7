#!/usr/bin/env bats
# Attacks on the session's changes: the commit wake-up of the ticker,
# the direct insert's executor state kept for the transaction, the
# londiste check and EXECUTE attributes.  Each test is a problem that
# was found, and stays fixed.

load helper

setup_file() {
	pg_start || return 1
	sql postgres "CREATE ROLE atk_nobody LOGIN" >/dev/null
	new_db a
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
