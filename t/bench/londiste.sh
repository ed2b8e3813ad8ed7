# londiste.sh: the two Londiste set-ups that w-londiste.sh and
# w-copy.sh share, made once per run.
#
# Ours: provider lo_prov (our PgQ and londiste SQL), subscriber lo_sub,
# queue bq, consumer "bench", sh/londiste with a Skytools 2 style ini,
# pgq-tick --loop (defaults) ticking the provider all along.
# Reference: londiste 3 (Debian's python3-londiste, pgq_node and
# londiste extensions) root l3_prov and leaf l3_sub on queue bq, the
# root's worker running all along, pgqd (defaults) ticking both.
# Both queues tick at least every second (ticker_idle_period).
# The replay (sh/londiste replay; londiste 3's leaf worker) runs only
# while measured.

L3=/usr/bin/londiste

lon_table() {
	q "$1" "CREATE TABLE $2 (id int PRIMARY KEY, n int NOT NULL, name text, ts timestamptz)"
}

lon_setup() {
	[ -n "${LON_READY:-}" ] && return 0
	LON_READY=1
	new_db lo_prov none
	new_db lo_sub none
	new_db l3_prov none
	new_db l3_sub none
	for db in lo_prov lo_sub l3_prov l3_sub; do
		lon_table "$db" bt
		lon_table "$db" ct
		lon_table "$db" mt
	done
	cat >"$BENCH_DIR/lo.ini" <<-INI
	[londiste]
	job_name = bench
	provider_db = host=$PGHOST dbname=lo_prov
	subscriber_db = host=$PGHOST dbname=lo_sub
	pgq_queue_name = bq
	logfile = $OUT/lo.log
	pidfile = $BENCH_DIR/lo.pid
	INI
	LO_INI=$BENCH_DIR/lo.ini
	londiste "$LO_INI" provider install >/dev/null || die "londiste provider install"
	londiste "$LO_INI" subscriber install >/dev/null || die "londiste subscriber install"
	londiste "$LO_INI" provider add bt || die "londiste provider add"
	londiste "$LO_INI" subscriber add bt || die "londiste subscriber add"
	# An idle queue ticks once a minute, and a copy waits for a tick on
	# both systems: tick every second, as a queue with traffic does.
	q lo_prov "SELECT pgq.set_queue_config('bq', 'ticker_idle_period', '1 second')" >/dev/null
	pgq-tick -d dbname=lo_prov --loop 2>>"$OUT/lo-tick.log" &
	LO_TICK=$!
	bg "$LO_TICK"

	for n in root leaf; do
		db=l3_prov
		[ $n = leaf ] && db=l3_sub
		cat >"$BENCH_DIR/l3-$n.ini" <<-INI
		[londiste]
		job_name = l3_$n
		db = host=$PGHOST dbname=$db
		queue_name = bq
		logfile = $OUT/l3-$n.log
		pidfile = $BENCH_DIR/l3-$n.pid
		INI
	done
	L3_ROOT=$BENCH_DIR/l3-root.ini
	L3_LEAF=$BENCH_DIR/l3-leaf.ini
	{
		$L3 "$L3_ROOT" create-root root "host=$PGHOST dbname=l3_prov" &&
		$L3 "$L3_LEAF" create-leaf leaf "host=$PGHOST dbname=l3_sub" \
			--provider="host=$PGHOST dbname=l3_prov" &&
		$L3 "$L3_ROOT" worker -d &&
		$L3 "$L3_ROOT" add-table bt &&
		$L3 "$L3_LEAF" add-table bt
	} >>"$OUT/l3-setup.log" 2>&1 || die "londiste 3 set-up failed, see $OUT/l3-setup.log"
	q l3_prov "SELECT pgq.set_queue_config('bq', 'ticker_idle_period', '1 second')" >/dev/null
	cat >"$BENCH_DIR/pgqd.ini" <<-INI
	[pgqd]
	base_connstr = host=$PGHOST
	initial_database = l3_prov
	database_list = l3_prov, l3_sub
	syslog = 0
	logfile = $OUT/l3-pgqd.log
	INI
	pgqd "$BENCH_DIR/pgqd.ini" 2>>"$OUT/l3-pgqd.log" &
	L3_TICK=$!
	bg "$L3_TICK"

	# the empty tables reach ok through the replay
	replay_start ours
	wait_until 120 lon_state ours bt ok
	replay_stop ours
	replay_start ref
	wait_until 120 lon_state ref bt ok
	replay_stop ref
}

lon_teardown() {
	[ -n "${LON_READY:-}" ] || return 0
	kill "$LO_TICK" "$L3_TICK" 2>/dev/null
	$L3 "$L3_ROOT" stop >/dev/null 2>&1
	wait "$LO_TICK" "$L3_TICK" 2>/dev/null
	LON_READY=
}

replay_start() {
	if [ "$1" = ours ]; then
		setsid londiste "$LO_INI" replay 2>>"$OUT/lo-replay.log" &
	else
		setsid $L3 "$L3_LEAF" worker >>"$OUT/l3-leaf.out" 2>&1 &
	fi
	REPLAY_PID=$!
	bg "-$REPLAY_PID"
}

replay_stop() {
	kill -TERM "-$REPLAY_PID" 2>/dev/null
	wait "$REPLAY_PID" 2>/dev/null
	# the pipeline's stages and londiste 3's copy processes
	sleep 0.5
	kill -KILL "-$REPLAY_PID" 2>/dev/null
	REPLAY_PID=
}

# lon_state SIDE TABLE STATE: is the table in that state on the subscriber?
lon_state() {
	if [ "$1" = ours ]; then
		_st=$(q lo_sub "SELECT state FROM londiste.subscriber_table WHERE table_name = 'public.$2'")
	else
		_st=$(q l3_sub "SELECT merge_state FROM londiste.get_table_list('bq') WHERE table_name = 'public.$2'")
	fi
	[ "$_st" = "$3" ]
}

lon_tick() {
	case $1 in ours) _db=lo_prov ;; ref) _db=l3_prov ;; esac
	q "$_db" "SELECT pgq.force_tick('bq')" >/dev/null
	q "$_db" "SELECT pgq.ticker('bq')" >/dev/null
}
