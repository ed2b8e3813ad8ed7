# w-bulk.sh: bulk produce of 1M events.  pgq-insert (COPY into our
# queue) against pgq.insert_event() over generate_series on Debian's PgQ,
# and against the floor: psql's COPY of the same file into a clone of
# the event table (same columns, defaults and indexes, no queue logic).
# Also the peak memory of pgq-insert.

bulk_run() {
	case $1 in
	ours)
		bulk_queue b_ours
		_t0=$(now_ns)
		/usr/bin/time -f %M -o "$OUT/time.out" \
			pgq-insert -d dbname=b_ours bq <"$OUT/bulk.txt" || die "pgq-insert failed"
		_t1=$(now_ns)
		_s=$(awk -v a="$_t0" -v b="$_t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')
		[ "$(q b_ours "SELECT count(*) FROM pgq.event_template")" = "$BULK_N" ] ||
			die "pgq-insert: wrong event count"
		rec bulk.sql ours "$(rate "$BULK_N" "$_s")"
		rec bulk.copy ours "$(rate "$BULK_N" "$_s")"
		rec mem.insert ours "$(awk '{ printf "%.1f", $1 / 1024 }' "$OUT/time.out")"
		;;
	ref)
		bulk_queue b_deb
		timed _s q b_deb "SELECT count(pgq.insert_event('bq', 'bench',
			'{\"id\": ' || g || ', \"name\": \"an event of a typical size\", \"n\": 42}'))
			FROM generate_series(1, $BULK_N) g" >/dev/null
		rec bulk.sql ref "$(rate "$BULK_N" "$_s")"
		q b_ours "DROP TABLE IF EXISTS bench_clone"
		q b_ours "CREATE TABLE bench_clone (LIKE $(q b_ours "SELECT pgq.current_event_table('bq')") INCLUDING ALL)"
		[ "$QUICK" = 1 ] || q b_ours CHECKPOINT
		timed _s psql -XAq -v ON_ERROR_STOP=1 -d b_ours \
			-c "\\copy bench_clone (ev_type, ev_data) FROM '$OUT/bulk.txt'"
		rec bulk.copy ref "$(rate "$BULK_N" "$_s")"
		q b_ours "DROP TABLE bench_clone"
		;;
	esac
}

bulk_queue() {
	q "$1" "SELECT pgq.drop_queue(queue_name) FROM pgq.queue WHERE queue_name = 'bq'" >/dev/null
	q "$1" "SELECT pgq.create_queue('bq')" >/dev/null
	[ "$QUICK" = 1 ] || q "$1" CHECKPOINT
}

w_bulk() {
	BULK_N=1000000
	[ "$QUICK" = 1 ] && BULK_N=50000
	new_db b_ours ours
	new_db b_deb debian
	awk -v n="$BULK_N" 'BEGIN {
		for (i = 1; i <= n; i++)
			printf "bench\t{\"id\": %d, \"name\": \"an event of a typical size\", \"n\": 42}\n", i
	}' >"$OUT/bulk.txt"
	row bulk.sql "bulk produce $BULK_N events: pgq-insert vs insert_event() from generate_series (Debian PgQ)" \
		events/s higher 'ratio>=3.0'
	row bulk.copy "bulk produce $BULK_N events: pgq-insert vs psql COPY into an event-table clone" \
		events/s higher 'ratio>=0.8'
	row mem.insert "peak RSS of pgq-insert, $BULK_N events" MB lower 'ours<20'
	rounds sides bulk_run
	rm -f "$OUT/bulk.txt"
}
