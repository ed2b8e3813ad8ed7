# w-ticker.sh: pgq.ticker() over 100 queues, our PL/pgSQL against
# Debian PgQ's.  Idle: no events, so no queue needs a tick.  With
# events: each pgbench transaction first inserts one event into every
# queue, and the queues tick on every event (ticker_max_count 1), so each
# ticker() call makes 100 ticks.  The rate is that of the ticker()
# statement alone (pgbench -r).  A run lasts 10 s; in QUICK mode a
# number of calls instead, a few tenths of a second here.

ticker_run() {
	_side=$1 _kind=$2
	case $_side in ours) _db=t_ours ;; ref) _db=t_deb ;; esac
	_max=500
	[ "$_kind" = ev ] && _max=1
	psql -XAtq -v ON_ERROR_STOP=1 -d "$_db" \
		-c "SELECT count(pgq.set_queue_config('tq' || g, 'ticker_max_count', '$_max'))
		    FROM generate_series(1, 100) g" \
		-c "VACUUM ANALYZE pgq.queue, pgq.tick" >/dev/null || die "$_db: cannot set up the queues"
	[ "$QUICK" = 1 ] || q "$_db" CHECKPOINT
	_len="-T $TICK_SECONDS"
	[ "$QUICK" = 1 ] && _len="-t $([ "$_kind" = ev ] && echo 50 || echo 100)"
	# shellcheck disable=SC2086 # an option and its value
	pgbench -n -r $_len -f "$OUT/tick-$_kind.sql" "$_db" \
		>"$OUT/pgbench.out" 2>&1 || { cat "$OUT/pgbench.out" >&2; die "pgbench failed"; }
	_ms=$(awk '/SELECT pgq.ticker\(\)/ { print $1; exit }' "$OUT/pgbench.out")
	[ -n "$_ms" ] || { cat "$OUT/pgbench.out" >&2; die "no ticker latency"; }
	rec "ticker.$_kind" "$_side" "$(awk -v ms="$_ms" 'BEGIN { printf "%.1f", 1000 / ms }')"
}

ticker_round() {
	sides ticker_run idle
	sides ticker_run ev
}

w_ticker() {
	TICK_SECONDS=10
	new_db t_ours ours
	new_db t_deb debian
	# both sides' queues at once: 200 queues' tables are most of the
	# workload's time in QUICK
	_tp=
	for db in t_ours t_deb; do
		q "$db" "SELECT count(pgq.create_queue('tq' || g)) FROM generate_series(1, 100) g" \
			>/dev/null &
		_tp="$_tp $!"
	done
	for _p in $_tp; do
		wait "$_p" || die "cannot create the ticker's queues"
	done
	printf 'SELECT pgq.ticker();\n' >"$OUT/tick-idle.sql"
	printf "SELECT pgq.insert_event('tq' || g, 'bench', 'x') FROM generate_series(1, 100) g;\nSELECT pgq.ticker();\n" \
		>"$OUT/tick-ev.sql"
	row ticker.idle "pgq.ticker() over 100 idle queues vs Debian PgQ" calls/s higher 'ratio>=1.0'
	row ticker.ev "pgq.ticker() over 100 queues with events (100 ticks a call) vs Debian PgQ" \
		calls/s higher 'ratio>=1.0'
	rounds ticker_round
}
