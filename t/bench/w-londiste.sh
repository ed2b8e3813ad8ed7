# w-londiste.sh: Londiste end to end, 200k rows inserted, then updated,
# then deleted, 1,000 rows per transaction, on a table of four columns.
# Source-side cost: the rate of those writes on the provider with the
# replication trigger (our pgq.logutriga, C from pgq_c; londiste 3's is
# Debian PgQ's C logutriga).  Replay: the writes are made while the
# replay is stopped (the ticker runs, so the backlog is cut into ticks
# as in production; the ticks of each side are in notes.tsv), then the
# replay is started and timed until the subscriber holds the result:
# the rate at which a backlog is applied, start-up included.  Before
# each step both sides get the same treatment: VACUUM ANALYZE of the
# table on provider and subscriber, and a CHECKPOINT.  Also the peak
# memory of londiste-apply on one batch of 1M insert events.
#
# Settings are in londiste.sh.

# shellcheck source=t/bench/londiste.sh
. "$BENCH/londiste.sh"

lon_done() {
	case $1 in ours) _db=lo_sub ;; ref) _db=l3_sub ;; esac
	case $2 in
	insert) _c="SELECT count(*) = $LON_N FROM bt" ;;
	update) _c="SELECT count(*) = $LON_N FROM bt WHERE n = id + 1" ;;
	delete) _c="SELECT count(*) = 0 FROM bt" ;;
	esac
	# Looked at by the server every 50 ms for up to 5 s: one psql start
	# per look would add its own start-up, under load 0.1-0.5 s, to
	# whichever side finishes first.
	[ "$(q "$_db" "DO \$\$ DECLARE ok bool; BEGIN
		FOR i IN 1..100 LOOP
			$_c INTO ok;
			EXIT WHEN ok;
			PERFORM pg_sleep(0.05);
		END LOOP; END \$\$; $_c")" = t ] && return 0
	replay_alive "$1" || die "the $1 replay died (see $OUT/lo-replay.log, $OUT/l3-leaf.log)"
	return 1
}

lon_run() {
	_side=$1
	case $_side in
	ours) _pdb=lo_prov _sdb=lo_sub _log=$OUT/lo-replay.log ;;
	ref) _pdb=l3_prov _sdb=l3_sub _log=$OUT/l3-leaf.log ;;
	esac
	for op in insert update delete; do
		if [ "$QUICK" = 0 ]; then
			q "$_pdb" "VACUUM ANALYZE bt"
			q "$_sdb" "VACUUM ANALYZE bt"
			q postgres CHECKPOINT
		fi
		_k0=$(lon_tick "$_side")
		timed _s qf "$_pdb" "$OUT/lon-$op.sql"
		# shellcheck disable=SC2154 # _s: set by timed
		rec "lsrc.$op" "$_side" "$(rate "$LON_N" "$_s")"
		_k1=$(lon_tick "$_side")
		case $_k0,$_k1 in *[!0-9,]*|,*|*,) die "$_pdb: cannot tick queue bq" ;; esac
		# the first tick is the one made above, the last is ours
		printf 'ticks\t%s\tround %s %s: %s ticks\n' "$_side" "$ROUND" "$op" \
			$((_k1 - _k0 - 1)) >>"$OUT/notes.tsv"
		[ "$QUICK" = 1 ] || q postgres CHECKPOINT
		_t0=$(now_ns)
		replay_start "$_side"
		wait_for "$LON_WAIT" "$_side replay of $LON_N ${op%e}ed rows unfinished (see $_log)" \
			lon_done "$_side" "$op"
		_t1=$(now_ns)
		replay_stop "$_side"
		rec "lon.$op" "$_side" "$(awk -v a="$_t0" -v b="$_t1" -v n="$LON_N" \
			'BEGIN { printf "%.1f", n / ((b - a) / 1e9) }')"
	done
}

# londiste-apply's memory on one batch of MEM_N insert events.  The
# events are made by pgq-insert in pgq.logutriga's format (the trigger
# would take long and is measured above), into a queue of their own.
lon_mem() {
	q lo_prov "SELECT pgq.create_queue('mq'), pgq.register_consumer('mq', 'mem')" >/dev/null
	# one batch: the ticker running for bq must not cut mq while it fills
	q lo_prov "SELECT pgq.set_queue_config('mq', 'ticker_max_count', '1000000000'),
		pgq.set_queue_config('mq', 'ticker_max_lag', '1 day'),
		pgq.set_queue_config('mq', 'ticker_idle_period', '1 day')" >/dev/null
	q lo_sub "SELECT londiste.subscriber_add_table('mq', 'public.mt')" >/dev/null
	q lo_sub "UPDATE londiste.subscriber_table SET state = 'ok' WHERE queue_name = 'mq'"
	awk -v n="$MEM_N" 'BEGIN {
		for (i = 1; i <= n; i++)
			printf "I:id\tid=%d&n=%d&name=row+%d&ts=2024-01-01+00%%3A00%%3A00%%2B00\tpublic.mt\n", i, i, i
	}' | pgq-insert -d dbname=lo_prov mq || die "pgq-insert failed"
	psql -XAtq -v ON_ERROR_STOP=1 -d lo_prov -c "SELECT pgq.force_tick('mq')" \
		-c "SELECT pgq.ticker('mq')" >/dev/null || die "lo_prov: cannot tick mq"
	pgq-next-batch -d dbname=lo_prov mq mem |
		pgq-events -d dbname=lo_prov >"$BENCH_DIR/apply.stream" || die "pgq-events failed"
	/usr/bin/time -f %M -o "$OUT/time.out" londiste-apply -d dbname=lo_sub --consumer mem \
		<"$BENCH_DIR/apply.stream" >"$BENCH_DIR/apply.out" || die "londiste-apply failed"
	pgq-finish-batch -d dbname=lo_prov <"$BENCH_DIR/apply.out" || die "pgq-finish-batch failed"
	_n=$(q lo_sub "SELECT count(*) FROM mt")
	[ "$_n" = "$MEM_N" ] || die "londiste-apply: $_n rows in mt, not $MEM_N"
	rec mem.apply ours "$(awk '{ printf "%.1f", $1 / 1024 }' "$OUT/time.out")"
	rm -f "$BENCH_DIR/apply.stream" "$BENCH_DIR/apply.out"
}

w_londiste() {
	LON_N=200000
	MEM_N=1000000
	[ "$QUICK" = 1 ] && LON_N=5000 MEM_N=50000
	# londiste 3 replays some thousands of rows a second: 200 is a failure
	LON_WAIT=$((LON_N / 200 + 120))
	for op in insert update delete; do
		rows_sql "$LON_N" "$op" "$OUT/lon-$op.sql"
	done
	for op in insert update delete; do
		row "lon.$op" "Londiste replay of $LON_N ${op%e}ed rows (1,000 a txn) vs londiste 3 + pgqd" \
			rows/s higher "ratio>=$([ $op = insert ] && echo 5.0 || echo 4.0)"
	done
	for op in insert update delete; do
		row "lsrc.$op" "source side: $LON_N rows ${op%e}ed with the replication trigger vs londiste 3's" \
			rows/s higher 'ratio>=1.0'
	done
	row mem.apply "peak RSS of londiste-apply, one batch of $MEM_N insert events" MB lower 'ours<20'
	lon_setup
	rounds sides lon_run
	lon_mem
}
