# w-latency.sh: delivery latency, from the producer's commit to the
# consumer seeing the event, p50 and p99.  A producer commits one event
# at a time, about 20 a second (with jitter), and logs the time after
# each commit; the consumer logs when it reads each event.
#
# Ours: pgq-tick --loop, and the pipe consumer
#   pgq-next-batch --follow | pgq-events | (watch) | pgq-finish-batch.
# Reference: pgqd and a python3-pgq Consumer (work(), and a sleep of
# loop_delay when there was no batch, as skytools.DBScript loops).
#
# Settings: "default" is every default (ticker every second, queue
# ticker_max_lag 3 s, loop_delay 1 s).  "low" is the documented
# low-latency setting: the ticker every 10 ms (pgq-tick --interval 10;
# pgqd ticker_period = 0.01), queue ticker_max_lag 0 (tick as soon as
# there is an event), and for the Python consumer loop_delay 0.01.
# With our PgQ a queue at ticker_max_lag 0 also wakes pgq-tick at each
# producer's commit (NOTIFY pgq_ticker), so the 10 ms no longer add to
# our latency; Debian's PgQ and pgqd have no such wake-up.
# After the producer stops, each side has the same time to see the last
# events (8 s by default, 3 s at the low-latency setting) and stops
# waiting as soon as it has seen them all; events not seen by then are
# reported and left out.
# QUICK measures only the low-latency setting, 2 s of events: at the
# default settings every event waits about 1.5 s by design (the ticker's
# max lag, the consumer's loop_delay), on both sides.

lat_run() {
	_side=$1 _set=$2
	_tag="r$ROUND$_side$_set"
	case $_side in ours) _db=lat_ours ;; ref) _db=lat_deb ;; esac
	_lag=3
	[ "$_set" = low ] && _lag=0
	q "$_db" "SELECT pgq.set_queue_config('lq', 'ticker_max_lag', '$_lag')" >/dev/null
	rm -f "$OUT/lat.seen" "$OUT/lat.sent"
	if [ "$_side" = ours ]; then
		_iv=1000
		[ "$_set" = low ] && _iv=10
		pgq-tick -d "dbname=$_db" --loop --interval "$_iv" 2>>"$OUT/lat-tick.log" &
		_tick=$!
		bg "$_tick"
		# shellcheck disable=SC2016 # expanded by that shell
		setsid sh -c 'pgq-next-batch --follow -d "dbname=$1" lq lc |
			pgq-events -d "dbname=$1" | "$PY" "$2/pgq-py.py" watch "$3" |
			pgq-finish-batch -d "dbname=$1"' sh "$_db" "$BENCH" "$OUT/lat.seen" \
			2>>"$OUT/lat-consumer.log" &
		_cons=$!
		bg "-$_cons"
	else
		_period=1
		[ "$_set" = low ] && _period=0.01
		cat >"$OUT/pgqd.ini" <<-INI
		[pgqd]
		base_connstr = host=$PGHOST
		initial_database = $_db
		database_list = $_db
		syslog = 0
		logfile = $OUT/lat-pgqd.log
		ticker_period = $_period
		INI
		pgqd "$OUT/pgqd.ini" 2>>"$OUT/lat-pgqd.log" &
		_tick=$!
		bg "$_tick"
		_delay=1
		[ "$_set" = low ] && _delay=0.01
		setsid "$PY" "$BENCH/pgq-py.py" consume "dbname=$_db host=$PGHOST" lq lc "$_delay" \
			"$OUT/lat.seen" 2>>"$OUT/lat-consumer.log" &
		_cons=$!
		bg "-$_cons"
	fi
	sleep 1
	"$PY" "$BENCH/pgq-py.py" produce "dbname=$_db host=$PGHOST" lq 20 "$LAT_SECONDS" "$_tag" \
		"$OUT/lat.sent" || die "producer failed"
	# the last events need the ticker's max lag and a loop_delay at most;
	# both sides get the same bound, and stop as soon as all are seen
	_n=$(wc -l <"$OUT/lat.sent")
	_bound=8
	[ "$_set" = low ] && _bound=3
	_limit=$(($(date +%s) + _bound))
	while [ "$(date +%s)" -lt "$_limit" ] &&
	    [ "$(cut -f 1 "$OUT/lat.seen" 2>/dev/null | sort -u | wc -l)" -lt "$_n" ]; do
		sleep 0.1
	done
	kill -TERM "-$_cons" 2>/dev/null
	kill -TERM "$_tick" 2>/dev/null
	wait "$_cons" "$_tick" 2>/dev/null
	awk -F '\t' 'FNR == NR { sent[$1] = $2; next }
		($1 in sent) && !($1 in seen) { seen[$1] = 1; printf "%.3f\n", ($2 - sent[$1]) * 1000 }' \
		"$OUT/lat.sent" "$OUT/lat.seen" | sort -n >"$OUT/lat.ms"
	_got=$(wc -l <"$OUT/lat.ms")
	[ "$_got" = "$_n" ] || say "  latency $_side $_set: $_got of $_n events seen"
	[ "$_got" -gt 0 ] || die "latency: no event seen"
	rec "lat.$_set.p50" "$_side" "$(awk -v n="$_got" 'NR == int((n * 50 + 99) / 100) { print; exit }' "$OUT/lat.ms")"
	rec "lat.$_set.p99" "$_side" "$(awk -v n="$_got" 'NR == int((n * 99 + 99) / 100) { print; exit }' "$OUT/lat.ms")"
}

w_latency() {
	LAT_SECONDS=30
	[ "$QUICK" = 1 ] && LAT_SECONDS=2
	new_db lat_ours ours
	new_db lat_deb debian
	for db in lat_ours lat_deb; do
		q "$db" "SELECT pgq.create_queue('lq'), pgq.register_consumer('lq', 'lc')" >/dev/null
	done
	row lat.default.p50 "delivery latency p50, default settings, vs pgqd + python3-pgq" \
		ms lower ''
	row lat.default.p99 "delivery latency p99, default settings, vs pgqd + python3-pgq" \
		ms lower ''
	row lat.low.p50 "delivery latency p50, low-latency setting, vs pgqd + python3-pgq" \
		ms lower 'ours<=20'
	row lat.low.p99 "delivery latency p99, low-latency setting, vs pgqd + python3-pgq" \
		ms lower ''
	if [ "$QUICK" = 1 ]; then
		for k in p50 p99; do
			quick_skip "lat.default.$k" ours
			quick_skip "lat.default.$k" ref
		done
	fi
	ROUND=1
	# shellcheck disable=SC2153 # ROUNDS: set by t/bench/run
	while [ "$ROUND" -le "$ROUNDS" ]; do
		[ "$QUICK" = 1 ] || sides lat_run default
		sides lat_run low
		ROUND=$((ROUND + 1))
	done
}
