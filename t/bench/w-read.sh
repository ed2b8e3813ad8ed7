# w-read.sh: read one batch of 1M events.  pgq-events to /dev/null
# against Debian's python3-pgq Consumer with lazy fetch (a cursor, 300
# rows a fetch, its default) on Debian's PgQ, and against the floor:
# psql COPY of pgq.get_batch_events() on our PgQ.  Also the peak memory
# of pgq-events.  Every run reads its own consumer's copy of the batch.

read_setup() {
	_db=$1
	q "$_db" "SELECT pgq.create_queue('rq')" >/dev/null
	_r=1
	while [ "$_r" -le "$ROUNDS" ]; do
		q "$_db" "SELECT pgq.register_consumer('rq', 'c$_r'), pgq.register_consumer('rq', 'f$_r')" >/dev/null
		_r=$((_r + 1))
	done
	awk -v n="$READ_N" 'BEGIN {
		for (i = 1; i <= n; i++)
			printf "bench\t{\"id\": %d, \"name\": \"an event of a typical size\", \"n\": 42}\n", i
	}' | pgq-insert -d "dbname=$_db" rq || die "pgq-insert failed"
	q "$_db" "SELECT pgq.force_tick('rq')" >/dev/null
	q "$_db" "SELECT pgq.ticker('rq')" >/dev/null
	q "$_db" "VACUUM ANALYZE"
}

read_run() {
	case $1 in
	ours)
		_b=$(q r_ours "SELECT pgq.next_batch('rq', 'c$ROUND')")
		_t0=$(now_ns)
		/usr/bin/time -f %M -o "$OUT/time.out" \
			pgq-events -d dbname=r_ours "$_b" >"$OUT/read.out" || die "pgq-events failed"
		_t1=$(now_ns)
		_n=$(grep -c '^event' "$OUT/read.out")
		[ "$_n" = "$READ_N" ] || die "pgq-events: $_n events, not $READ_N"
		_s=$(awk -v a="$_t0" -v b="$_t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')
		rec read.py ours "$(rate "$READ_N" "$_s")"
		rec read.copy ours "$(rate "$READ_N" "$_s")"
		rec mem.events ours "$(awk '{ printf "%.1f", $1 / 1024 }' "$OUT/time.out")"
		q r_ours "SELECT pgq.finish_batch($_b)" >/dev/null
		;;
	ref)
		timed _s "$PY" "$BENCH/pgq-py.py" read "dbname=r_deb host=$PGHOST" rq "c$ROUND" 300 \
			>"$OUT/read.out"
		[ "$(cat "$OUT/read.out")" = "$READ_N" ] || die "python consumer: wrong event count"
		rec read.py ref "$(rate "$READ_N" "$_s")"
		_b=$(q r_ours "SELECT pgq.next_batch('rq', 'f$ROUND')")
		timed _s psql -XAq -v ON_ERROR_STOP=1 -d r_ours \
			-c "COPY (SELECT * FROM pgq.get_batch_events($_b)) TO STDOUT" >"$OUT/read.out"
		rec read.copy ref "$(rate "$READ_N" "$_s")"
		q r_ours "SELECT pgq.finish_batch($_b)" >/dev/null
		;;
	esac
	rm -f "$OUT/read.out"
}

w_read() {
	READ_N=1000000
	[ "$QUICK" = 1 ] && READ_N=50000
	new_db r_ours ours
	new_db r_deb debian
	read_setup r_ours
	read_setup r_deb
	row read.py "read one $READ_N-event batch: pgq-events vs python3-pgq Consumer, lazy fetch" \
		events/s higher 'ratio>=2.5'
	row read.copy "read one $READ_N-event batch: pgq-events vs psql COPY of get_batch_events()" \
		events/s higher 'ratio>=0.9'
	row mem.events "peak RSS of pgq-events, $READ_N-event batch" MB lower 'ours<20'
	rounds sides read_run
}
